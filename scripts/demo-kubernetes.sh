#!/usr/bin/env bash
# `make demo`'s Kubernetes part: Foohut's production as hut runs it on a
# cluster. It starts the test control plane (scripts/k8s-testbed.sh: a real
# kube-apiserver, etcd, controller-manager and scheduler; kwok plays the
# nodes and the pods, so no container runs), applies foohut's namespace,
# network policies and backend chart, and runs `hut server --env production`
# on it (spec: scripts/demo-kubernetes.yaml). Then: a first deploy and a
# rolling update of 3 pods, a never-ready version rolled back automatically,
# a canary at 10 % through the HTTPRoute analysed on real metrics and
# promoted, and `kubectl rollout undo` seen and followed by hut. The canary's
# metrics come from real foohut-api processes on this machine standing in for
# the pods of revisions 2 and 4, scraped by a real Prometheus (kwok's pods
# serve nothing). Everything it starts it stops at exit.
#
# Usage: scripts/demo-kubernetes.sh [BUILD_DIR]. Exit status 0 when every
# step ended as expected.
set -uo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
bin=$(cd "$build_dir/bin" && pwd)
hut="$bin/hut"
spec=$root/scripts/demo-kubernetes.yaml
ns=foohut-production
work=$(mktemp -d /tmp/hut-demo-k8s-XXXXXX)
pids=()
server_pid=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null; done
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  bash scripts/k8s-testbed.sh down "$work/cluster" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping..."; exit 130' INT TERM

step "Kubernetes: a real control plane on loopback (kwok plays the nodes and pods: no container runs)"
if ! bash scripts/k8s-testbed.sh built >/dev/null 2>&1; then
  echo "  building Kubernetes from the Go module proxy once (about 9 minutes; cached in ~/.cache/hut/k8s)"
fi
start=$(now)
bash scripts/k8s-testbed.sh up "$work/cluster" >"$work/testbed.log" 2>&1 || {
  echo "the test control plane did not start:" >&2
  tail -20 "$work/testbed.log" >&2
  exit 1
}
export KUBECONFIG=$work/cluster/kubeconfig
PATH=$(bash scripts/k8s-testbed.sh bin):$PATH
echo "  up in $(secs "$start" "$(now)") s: $(kubectl get --raw /version | python3 -c 'import json,sys; print("Kubernetes", json.load(sys.stdin)["gitVersion"])'), nodes: $(kubectl get nodes -o name | tr '\n' ' ')"

step "Foohut's manifests and chart: namespace, network policies, the backend chart (production values)"
kubectl apply -f k8s/base/namespace.yaml -f k8s/base/network-policies.yaml | sed 's/^/  /'
mkdir -p "$work/charts" "$work/helm"
cp -r k8s/charts/foohut-common k8s/charts/foohut-backend "$work/charts/"
export HELM_CONFIG_HOME=$work/helm/config HELM_CACHE_HOME=$work/helm/cache HELM_DATA_HOME=$work/helm/data
helm dependency build --skip-refresh "$work/charts/foohut-backend" >/dev/null || exit 1
# Its HPA scales ServiceScale foohut-backend, hut's (k8s/charts/hut/crds): hut
# carries that count into the Deployments, rollouts included.
echo "\$ helm install foohut-backend k8s/charts/foohut-backend -n $ns -f k8s/values/production.yaml"
helm install foohut-backend "$work/charts/foohut-backend" -n "$ns" -f k8s/values/production.yaml \
  >/dev/null || exit 1
kubectl -n "$ns" get service,configmap,poddisruptionbudget,httproute,hpa -l app.kubernetes.io/name=foohut-backend \
  | sed 's/^/  /'

step "The canary's metrics: foohut-api processes standing in for the pods of revisions 2 and 4, Prometheus scraping them"
targets=""
for revision in 2 4; do
  port=$(free_port)
  PORT=$port FOOHUT_LOG_LEVEL=WARN "$bin/foohut-api" serve --static "$root/web" >/dev/null 2>&1 &
  pids+=($!)
  "$bin/hut-load" --port "$port" --rate 50 --target /index.html >/dev/null 2>&1 &
  pids+=($!)
  targets+="      - targets: ['127.0.0.1:$port']
        labels: {namespace: $ns, service: backend, revision: '$revision', pod: foohut-backend-metrics-r$revision}
"
done
prometheus_port=$(free_port)
mkdir -p "$work/prometheus"
cat >"$work/prometheus/prometheus.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: pods
    static_configs:
$targets
EOF
prometheus --config.file="$work/prometheus/prometheus.yml" --storage.tsdb.path="$work/prometheus/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$work/prometheus/log" 2>&1 &
pids+=($!)
echo "  Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:$prometheus_port, 2 targets, 50 req/s each"

step "hut server --env production --kubeconfig ... --prometheus ..."
api_port=$(free_port)
export HUT_ADDR=127.0.0.1:$api_port HUT_TOKEN_FILE=$work/state/admin-token
"$hut" server -f "$spec" --env production --kubeconfig "$KUBECONFIG" \
  --prometheus "http://127.0.0.1:$prometheus_port" --state "$work/state" --listen "$HUT_ADDR" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  "$hut" rollout history backend >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "hut server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
echo "  driving namespace $ns at $HUT_ADDR (log: hut's JSON on stderr)"

results=()
unexpected=0
# run LABEL EXPECTED_EXIT HUT-ARGUMENTS...: as in scripts/demo.sh.
run() {
  local label=$1 expected=$2
  shift 2
  step "$label"
  echo "\$ hut $*"
  local start code outcome
  start=$(now)
  "$hut" "$@"
  code=$?
  case $code in
    0) outcome="succeeded" ;;
    2) outcome="rolled back automatically" ;;
    *) outcome="error (exit $code)" ;;
  esac
  results+=("$(printf '  %-44s %-27s %6s s' "$label" "$outcome" "$(secs "$start" "$(now)")")")
  [ "$code" -eq "$expected" ] || unexpected=1
}
pods() { kubectl -n "$ns" get deployments,pods -L hut.foohut.dev/revision | sed 's/^/  /'; }

run "v1 (first deployment, 3 pods)" 0 deploy backend v1 --strategy rolling --wait
run "v2 (rolling update, one pod at a time)" 0 deploy backend v2 --strategy rolling --wait
pods
run "never-ready-v3: pods never turn ready" 2 deploy backend never-ready-v3 --strategy rolling --wait

step "v4 as a canary: 10 % through the HTTPRoute, analysed against v2 on Prometheus"
echo "\$ hut deploy backend v4"
start=$(now)
"$hut" deploy backend v4 >/dev/null || unexpected=1
for _ in $(seq 1 100); do
  weights=$(kubectl -n "$ns" get httproute foohut-backend \
    -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}' 2>/dev/null)
  case $weights in *foohut-backend-r4=10*) break ;; esac
  sleep 0.2
done
echo "  HTTPRoute foohut-backend: $weights"
"$hut" rollout status backend --watch
code=$?
results+=("$(printf '  %-44s %-27s %6s s' "v4 canary at 10 %, promoted by the analysis" \
  "$([ $code -eq 0 ] && echo succeeded || echo "exit $code")" "$(secs "$start" "$(now)")")")
[ "$code" -eq 0 ] || unexpected=1
# After the rollback window Deployment foohut-backend takes revision 4 over
# from foohut-backend-r4 (docs/kubernetes.md, "Hand-over").
echo "  waiting for the rollback window to end and foohut-backend to take revision 4 over"
for _ in $(seq 1 300); do
  [ "$(kubectl -n "$ns" get deployments -o name | wc -l)" = 1 ] &&
    [ "$(kubectl -n "$ns" get deployment foohut-backend \
      -o jsonpath='{.spec.template.metadata.labels.hut\.foohut\.dev/revision}')" = 4 ] && break
  sleep 0.2
done
pods

step "The ADR's manual rollback: kubectl rollout undo deployment/foohut-backend -n $ns"
start=$(now)
kubectl -n "$ns" rollout undo deployment/foohut-backend | sed 's/^/  /'
seen=""
for _ in $(seq 1 300); do
  seen=$("$hut" rollout status backend -o json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin).get("rollout", {})
if "out of band" in r.get("reason", ""): print(r["reason"])' 2>/dev/null)
  [ -n "$seen" ] && break
  sleep 0.2
done
if [ -n "$seen" ]; then
  echo "  hut: $seen"
  outcome="seen and followed"
else
  outcome="not seen"
  unexpected=1
fi
results+=("$(printf '  %-44s %-27s %6s s' "kubectl rollout undo (out of band)" "$outcome" "$(secs "$start" "$(now)")")")
pods

step "Autoscaling: the HPA's count, set here by hand on ServiceScale foohut-backend (kwok's pods have no CPU metrics)"
echo "\$ kubectl -n $ns scale servicescale/foohut-backend --replicas=5"
start=$(now)
kubectl -n "$ns" scale servicescale/foohut-backend --replicas=5 | sed 's/^/  /'
outcome="not reached"
for _ in $(seq 1 300); do
  [ "$(kubectl -n "$ns" get deployment foohut-backend -o jsonpath='{.status.readyReplicas}')" = 5 ] &&
    [ "$(kubectl -n "$ns" get servicescale foohut-backend -o jsonpath='{.status.replicas}')" = 5 ] &&
    { outcome="5 pods, set by hut"; break; }
  sleep 0.2
done
[ "$outcome" = "not reached" ] && unexpected=1
results+=("$(printf '  %-44s %-27s %6s s' "ServiceScale to 5 (as the HPA writes it)" "$outcome" "$(secs "$start" "$(now)")")")
kubectl -n "$ns" get servicescale,hpa | sed 's/^/  /'

step "What happened"
"$hut" rollout history backend
echo
"$hut" rollout status backend

step "Summary (Kubernetes)"
printf '  %-44s %-27s %8s\n' "rollout" "result" "time"
printf '%s\n' "${results[@]}"
echo "  (kwok played the pods: no container ran; the API server, etcd, the Deployment"
echo "  controller and the scheduler were real, as was the canary's Prometheus)"
if [ "$unexpected" -ne 0 ]; then
  echo "  something did not go as expected (hut server's log follows)"
  tail -30 "$work/server.log"
fi
exit "$unexpected"
