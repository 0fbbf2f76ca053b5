#!/bin/bash
# Tests k8s/: lints and renders the charts, checks the renders against
# foohut.yaml (check-values.py) and the container security rules (check-pods.py),
# validates every object with the API server (server-side dry run), installs
# the hut chart, checks its RBAC with `kubectl auth can-i`, and runs hut
# under the chart's ServiceAccount (HUT_BIN, default build/bin/hut).
#
#   k8s/test-charts.sh [KUBECONFIG_DIR]
#
# KUBECONFIG_DIR/kubeconfig: cluster-admin of a running control plane with the
# Gateway API CRDs, e.g. `scripts/k8s-testbed.sh up DIR`; without it, the
# script starts a testbed of its own and stops it at exit. helm and kubectl come
# from PATH, the testbed's bin folder first. Nothing in the work tree is
# written: the charts' dependencies are built in a scratch copy.
set -euo pipefail

[ $# -le 1 ] || { echo "usage: $0 [KUBECONFIG_DIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K8S=$ROOT/k8s
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-charts.XXXXXX")
OWN_TESTBED=
cleanup() {
  if [ -n "$OWN_TESTBED" ]; then
    bash "$ROOT/scripts/k8s-testbed.sh" down "$OWN_TESTBED" > /dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ $# -eq 1 ]; then
  export KUBECONFIG=$1/kubeconfig
else
  # no control plane given: a testbed of its own, stopped at exit
  OWN_TESTBED=$WORK/testbed
  bash "$ROOT/scripts/k8s-testbed.sh" up "$OWN_TESTBED" > "$WORK/testbed.log" 2>&1 ||
    { cat "$WORK/testbed.log" >&2; exit 1; }
  export KUBECONFIG=$OWN_TESTBED/kubeconfig
fi
[ -f "$KUBECONFIG" ] || { echo "test-charts: no $KUBECONFIG" >&2; exit 2; }
PATH=$(bash "$ROOT/scripts/k8s-testbed.sh" bin):$PATH
for t in helm kubectl python3; do
  command -v "$t" > /dev/null || { echo "test-charts: $t not found" >&2; exit 2; }
done
python3 -c 'import yaml' 2> /dev/null ||
  { echo "test-charts: PyYAML is missing (apt-get install python3-yaml)" >&2; exit 2; }

# helm's repositories and caches: scratch ones, so that nothing is fetched or kept
export HELM_CONFIG_HOME=$WORK/helm/config HELM_CACHE_HOME=$WORK/helm/cache HELM_DATA_HOME=$WORK/helm/data
RENDERS=$WORK/renders
mkdir -p "$RENDERS"

ENVS=(staging production)
APPS=(foohut-backend foohut-frontend)
HUT_SA=system:serviceaccount:hut-system:hut
ROLE_ARN=arn:aws:iam::123456789012:role/hut-production   # an example, for the IRSA check
# An app chart's variants (check-values.py knows what each must render).
declare -A VARIANT=(
  [default]=""
  [workload]="--set workload.render=true --set router.kind=alb"
  [replicas]="--set router.kind=replicas"
)

PASSED=() FAILED=()
# step NAME CMD...: runs CMD, its output kept in $WORK/NAME.log and shown on
# failure. In a background subshell: under `if`, bash would ignore set -e in CMD.
step() {
  local name=$1; shift
  ( set -e; "$@" ) > "$WORK/$name.log" 2>&1 &
  if wait $!; then
    PASSED+=("$name"); printf 'PASS  %s\n' "$name"
  else
    FAILED+=("$name"); printf 'FAIL  %s\n' "$name"; sed 's/^/      /' "$WORK/$name.log"
  fi
}

namespace_of() { echo "foohut-$1"; }  # check-values.py checks these against foohut.yaml

# 0. The library chart, vendored into each chart's charts/ in the scratch copy
#    (file:// only: offline). The monitoring chart is monitoring/ itself; the
#    copy keeps its path to the library chart.
CHARTS=$WORK/k8s/charts
MONITORING=$WORK/monitoring
# The monitoring chart's settings that have no default: examples.
MONITORING_SET=(--set logs.opensearch.host=search-foohut-production.us-east-1.es.amazonaws.com)
deps() {
  mkdir -p "$WORK/k8s"
  cp -r "$K8S/charts" "$CHARTS"
  cp -r "$ROOT/monitoring" "$MONITORING"
  local c
  for c in "${APPS[@]}" hut; do helm dependency build --skip-refresh "$CHARTS/$c"; done
  helm dependency build --skip-refresh "$MONITORING"
}

# 1. Lint: clean means no [WARNING] or [ERROR] (an [INFO] such as "icon is
#    recommended" is fine).
lint_one() {  # CHART ARGS...
  local out rc=0
  out=$(helm lint --strict "$@" 2>&1) || rc=$?
  echo "$out"
  [ $rc -eq 0 ] && ! grep -qE '\[(WARNING|ERROR)\]' <<< "$out"
}
lint() {
  local c e v
  lint_one "$CHARTS/foohut-common"
  for c in "${APPS[@]}"; do
    for e in "${ENVS[@]}"; do
      for v in "${!VARIANT[@]}"; do
        # shellcheck disable=SC2086  # the variant's flags split on purpose
        lint_one "$CHARTS/$c" -f "$K8S/values/$e.yaml" ${VARIANT[$v]}
      done
    done
  done
  lint_one "$CHARTS/hut"
  lint_one "$CHARTS/hut" --set environment=staging --set 'managedNamespaces={foohut-staging}'
  lint_one "$MONITORING" -f "$K8S/values/production.yaml" "${MONITORING_SET[@]}"
}

# 2. Render every chart for every environment, as CHART_ENV_VARIANT.yaml.
render() {
  local c e v
  for c in "${APPS[@]}"; do
    for e in "${ENVS[@]}"; do
      for v in "${!VARIANT[@]}"; do
        # shellcheck disable=SC2086
        helm template "$c" "$CHARTS/$c" -n "$(namespace_of "$e")" -f "$K8S/values/$e.yaml" \
          ${VARIANT[$v]} > "$RENDERS/${c}_${e}_$v.yaml"
      done
    done
  done
  helm template hut "$CHARTS/hut" -n hut-system --set serviceAccount.roleArn=$ROLE_ARN \
    > "$RENDERS/hut_production_default.yaml"
  helm template hut "$CHARTS/hut" -n hut-system --set environment=staging \
    --set 'managedNamespaces={foohut-staging}' > "$RENDERS/hut_staging_default.yaml"
  # Production only: staging runs on the local runtime (foohut.yaml), whose
  # Prometheus `hut up` configures itself; the chart says so.
  helm template monitoring "$MONITORING" -n foohut-monitoring -f "$K8S/values/production.yaml" \
    "${MONITORING_SET[@]}" > "$RENDERS/monitoring_production_default.yaml"
  local out
  if out=$(helm template monitoring "$MONITORING" -f "$K8S/values/staging.yaml" "${MONITORING_SET[@]}" 2>&1) ||
     ! grep -q "monitoring/prometheus/staging.yml is missing" <<< "$out"; then
    echo "monitoring for staging: want a clear failure (no generated configuration), got:"; echo "$out" | tail -3
    return 1
  fi
  grep -q "eks.amazonaws.com/role-arn: \"$ROLE_ARN\"" "$RENDERS/hut_production_default.yaml" ||
    { echo "hut: the ServiceAccount lacks the IRSA annotation $ROLE_ARN"; return 1; }
  ls "$RENDERS"
}

# 5. Real namespaces (from base/namespace.yaml), then a server-side dry run of
#    every object. The namespaces warn on PodSecurity "restricted": any such
#    warning about a pod template fails too.
dry_run() {
  kubectl apply -f "$K8S/base/namespace.yaml"
  local f bad=0 out
  for f in "$RENDERS"/*.yaml "$K8S"/base/*.yaml; do
    if ! out=$(kubectl apply --dry-run=server -f "$f" 2>&1); then
      echo "$f:"; echo "$out"; bad=1; continue
    fi
    echo "$out"
    if grep -q 'would violate PodSecurity' <<< "$out"; then echo "$f: PodSecurity warning"; bad=1; fi
  done
  return $bad
}

# The token Alertmanager presents to hut's webhook: one value, a Secret in
# each chart's namespace (docs/kubernetes.md, "Alerts").
alert_token() {
  local token ns
  token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  for ns in hut-system foohut-monitoring; do
    kubectl -n $ns create secret generic hut-alertmanager-token --from-literal=token="$token" \
      --dry-run=client -o yaml | kubectl apply -f -
  done
}

# 6. hut for real: installed, its pod admitted (PodSecurity enforce) and
#    ready, behind its Service.
install_hut() {
  helm upgrade --install hut "$CHARTS/hut" -n hut-system --set serviceAccount.roleArn=$ROLE_ARN
  kubectl -n hut-system rollout status deployment/hut --timeout=120s
  [ "$(kubectl -n hut-system get sa hut -o jsonpath='{.metadata.annotations.eks\.amazonaws\.com/role-arn}')" = "$ROLE_ARN" ]
  # the Service Alertmanager's webhook names has the pod behind it
  local ip
  for _ in $(seq 1 100); do
    ip=$(kubectl -n hut-system get endpoints hut -o jsonpath='{.subsets[0].addresses[0].ip}' 2> /dev/null) || true
    [ -n "$ip" ] && break
    sleep 0.2
  done
  [ -n "$ip" ] || { echo "Service hut-system/hut has no ready endpoint"; kubectl -n hut-system get endpoints hut -o yaml; return 1; }
  echo "Service hut-system/hut -> $ip:$(kubectl -n hut-system get endpoints hut -o jsonpath='{.subsets[0].ports[0].port}')"
}

# The brief's rules, one GROUP/RESOURCE VERB per line: the live Role must be
# exactly these.
EXPECTED_RULES="
apps/deployments get list watch create patch delete
apps/replicasets get list watch patch delete
/pods get list watch
/services get list watch create patch delete
gateway.networking.k8s.io/httproutes get list watch create patch
networking.k8s.io/ingresses get list watch patch
/events create patch
/secrets get create patch
/configmaps get create patch
hut.foohut.dev/servicescales get list watch create patch
hut.foohut.dev/servicescales/status patch"

triples() {  # stdin: lines "GROUP/RESOURCE VERB..." -> sorted "GROUP/RESOURCE VERB"
  awk 'NF { for (i = 2; i <= NF; i++) print $1, $i }' | sort
}

can() {  # yes|no VERB RESOURCE [FLAGS...]
  local want=$1; shift
  local got
  got=$(kubectl auth can-i "$@" --as=$HUT_SA 2> /dev/null) || true
  if [ "$got" = "$want" ]; then
    echo "ok    can-i $* -> $got"
  else
    echo "WRONG can-i $* -> ${got:-error}, want $want"; return 1
  fi
}

rbac() {
  local bad=0 live group res verb ns sub
  live=$(kubectl -n foohut-production get role hut -o json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["rules"]:
    assert not r.get("resourceNames") and not r.get("nonResourceURLs"), r
    for g in r["apiGroups"]:
        for res in r["resources"]:
            print(f"{g}/{res}", *r["verbs"])')
  if ! diff <(triples <<< "$EXPECTED_RULES") <(triples <<< "$live"); then
    echo "Role hut in foohut-production is not exactly the expected rules (diff above: < expected, > live)"
    bad=1
  fi
  # every verb of the Role, allowed in foohut-production; denied where hut has no Role
  while read -r res verb; do
    group=${res%%/*}; res=${res#*/}
    sub=()  # RESOURCE/SUBRESOURCE
    [[ $res == */* ]] && { sub=(--subresource="${res#*/}"); res=${res%%/*}; }
    [ -n "$group" ] && res=$res.$group
    can yes "$verb" "$res" "${sub[@]}" -n foohut-production || bad=1
    for ns in foohut-staging default kube-system; do can no "$verb" "$res" "${sub[@]}" -n $ns || bad=1; done
  done < <(triples <<< "$EXPECTED_RULES")
  can yes get namespace/foohut-production || bad=1
  # what the Role does not grant
  local denied=(
    "update deployments.apps -n foohut-production"
    "patch deployments.apps --subresource=scale -n foohut-production"
    "delete pods -n foohut-production"
    "create pods -n foohut-production"
    "create pods --subresource=exec -n foohut-production"
    "list secrets -n foohut-production"
    "list secrets -A"
    "watch secrets -n foohut-production"
    "delete secrets -n foohut-production"
    "update secrets -n foohut-production"
    "list configmaps -n foohut-production"
    "delete configmaps -n foohut-production"
    "update services -n foohut-production"
    "create replicasets.apps -n foohut-production"
    "delete httproutes.gateway.networking.k8s.io -n foohut-production"
    "create ingresses.networking.k8s.io -n foohut-production"
    "patch servicescales.hut.foohut.dev --subresource=scale -n foohut-production"
    "delete servicescales.hut.foohut.dev -n foohut-production"
    "delete events -n foohut-production"
    "create rolebindings.rbac.authorization.k8s.io -n foohut-production"
    "escalate roles.rbac.authorization.k8s.io -n foohut-production"
    "list deployments.apps -A"
    "list namespaces"
    "get namespace/kube-system"
    "delete namespace/foohut-production"
    "create namespaces"
  )
  local d
  for d in "${denied[@]}"; do
    # shellcheck disable=SC2086
    can no $d || bad=1
  done
  return $bad
}

# The monitoring chart for real: every pod admitted (restricted, and
#    privileged for Fluent Bit alone) and ready, and each ServiceAccount able
#    to do what its server needs and nothing more. (No storage class here:
#    Prometheus on an emptyDir.)
install_monitoring() {
  helm upgrade --install monitoring "$MONITORING" -n foohut-monitoring -f "$K8S/values/production.yaml" \
    "${MONITORING_SET[@]}" --set prometheus.storage.size= --set alertmanager.storage.size=
  kubectl -n foohut-monitoring rollout status statefulset/prometheus --timeout=120s
  kubectl -n foohut-monitoring rollout status statefulset/alertmanager --timeout=120s
  kubectl -n foohut-monitoring rollout status deployment/grafana --timeout=120s
  kubectl -n foohut-monitoring rollout status deployment/otel-collector --timeout=120s
  kubectl -n foohut-logging rollout status daemonset/fluent-bit --timeout=120s
  local bad=0 sa=system:serviceaccount:foohut-monitoring line got
  while read -r line; do
    [ -n "$line" ] || continue
    # shellcheck disable=SC2086  # WANT AS VERB RESOURCE FLAGS...
    set -- $line
    local want=$1 as=$2; shift 2
    got=$(kubectl auth can-i "$@" --as="$as" 2> /dev/null) || true
    if [ "$got" = "$want" ]; then echo "ok    $as can-i $* -> $got"; else
      echo "WRONG $as can-i $* -> ${got:-error}, want $want"; bad=1; fi
  done <<EOF_RULES
yes $sa:prometheus list pods -n foohut-production
yes $sa:prometheus watch pods -n hut-system
no $sa:prometheus list pods -n foohut-staging
no $sa:prometheus list pods -A
no $sa:prometheus get secrets -n foohut-production
no $sa:prometheus get configmaps -n foohut-production
no $sa:otel-collector list pods -n foohut-production
no $sa:grafana list pods -n foohut-production
no $sa:default list pods -n foohut-monitoring
no $sa:default get secrets -n foohut-monitoring
yes system:serviceaccount:foohut-logging:fluent-bit list pods -A
yes system:serviceaccount:foohut-logging:fluent-bit get namespaces
no system:serviceaccount:foohut-logging:fluent-bit get secrets -A
no system:serviceaccount:foohut-logging:fluent-bit create pods -n foohut-production
EOF_RULES
  return $bad
}

# hut itself under the chart's ServiceAccount and Role: a first deploy, a
# rolling update (a second Deployment, the route's weights, the hand-over and
# the deletes) and a never-ready version rolled back, with nothing forbidden.
HUT=${HUT_BIN:-$ROOT/build/bin/hut}
hut_under_role() {
  [ -x "$HUT" ] || { echo "no hut binary at $HUT (set HUT_BIN)"; return 1; }
  local dir=$WORK/hut-sa server ca port pid code
  mkdir -p "$dir"
  server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  KUBECONFIG=$dir/kubeconfig kubectl config set-cluster testbed --server="$server" \
    --certificate-authority="$ca" --embed-certs > /dev/null
  KUBECONFIG=$dir/kubeconfig kubectl config set-credentials hut \
    --token="$(kubectl -n hut-system create token hut --duration=10m)" > /dev/null
  KUBECONFIG=$dir/kubeconfig kubectl config set-context hut --cluster=testbed --user=hut > /dev/null
  KUBECONFIG=$dir/kubeconfig kubectl config use-context hut > /dev/null
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export HUT_ADDR=127.0.0.1:$port HUT_TOKEN_FILE=$dir/state/admin-token
  "$HUT" server -f "$ROOT/scripts/demo-kubernetes.yaml" --env production \
    --kubeconfig "$dir/kubeconfig" --state "$dir/state" --listen "$HUT_ADDR" > "$dir/server.log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064 # the pid now: the trap runs after this function
  trap "kill $pid 2> /dev/null; wait $pid 2> /dev/null" EXIT
  for _ in $(seq 1 300); do
    "$HUT" rollout history backend > /dev/null 2>&1 && break
    kill -0 $pid 2> /dev/null || { cat "$dir/server.log"; return 1; }
    sleep 0.1
  done
  "$HUT" deploy backend v1 --strategy rolling --wait
  "$HUT" deploy backend v2 --strategy rolling --wait
  code=0; "$HUT" deploy backend never-ready-v3 --strategy rolling --wait || code=$?
  [ $code -eq 2 ] || { echo "never-ready-v3: exit $code, want 2 (rolled back)"; return 1; }
  [ "$(kubectl -n foohut-production get deployments -o name)" = deployment.apps/foohut-backend ]
  if grep -i forbidden "$dir/server.log"; then echo "hut was refused something (above)"; return 1; fi
  echo "hut under ServiceAccount hut-system/hut: 3 rollouts as expected, nothing forbidden"
}

echo "test-charts: $(helm version --short), kubectl $(kubectl version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), API server $(kubectl get --raw /version | python3 -c 'import json,sys; print(json.load(sys.stdin)["gitVersion"])')"
step deps deps
if [ ${#FAILED[@]} -eq 0 ]; then
  step lint lint
  step render render
fi
if [[ " ${PASSED[*]} " == *" render "* ]]; then
  step check-values python3 "$K8S/check-values.py" --spec "$ROOT/foohut.yaml" "$RENDERS"
  step check-pods python3 "$K8S/check-pods.py" "$RENDERS"
  step dry-run dry_run
  step alert-token alert_token
  step install-hut install_hut
  if [[ " ${PASSED[*]} " == *" install-hut "* ]]; then
    step rbac rbac
    step hut-under-role hut_under_role
  fi
  helm uninstall hut -n hut-system --wait > /dev/null 2>&1 || true
  step install-monitoring install_monitoring
  helm uninstall monitoring -n foohut-monitoring --wait > /dev/null 2>&1 || true
fi

# the checks' own summary lines
for s in check-values check-pods; do
  [ -f "$WORK/$s.log" ] && tail -1 "$WORK/$s.log" | sed 's/^/      /'
done
[ -f "$WORK/rbac.log" ] && echo "      rbac: $(grep -c '^ok' "$WORK/rbac.log") can-i answers as expected, $(grep -c '^WRONG' "$WORK/rbac.log") wrong"
[ -f "$WORK/install-monitoring.log" ] && echo "      monitoring: $(grep -c '^ok' "$WORK/install-monitoring.log") can-i answers as expected, $(grep -c '^WRONG' "$WORK/install-monitoring.log") wrong"
[ -f "$WORK/hut-under-role.log" ] && tail -1 "$WORK/hut-under-role.log" | sed 's/^/      /'
echo "test-charts: ${#PASSED[@]} passed (${PASSED[*]}), ${#FAILED[@]} failed${FAILED:+ (${FAILED[*]})}"
[ ${#FAILED[@]} -eq 0 ]
