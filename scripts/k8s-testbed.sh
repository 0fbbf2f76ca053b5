#!/bin/bash
# A real Kubernetes control plane on loopback for tests and the demo.
#
#   scripts/k8s-testbed.sh build      build what is missing into the cache
#   scripts/k8s-testbed.sh up DIR     build if needed, start it with its state in DIR,
#                                     write DIR/kubeconfig (cluster-admin)
#   scripts/k8s-testbed.sh down DIR   stop everything `up DIR` started
#   scripts/k8s-testbed.sh restart-apiserver DIR   stop kube-apiserver, start it again (tests)
#   scripts/k8s-testbed.sh bin        print the cache's bin folder
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (plays the
# nodes and the kubelets' pod status), kubectl and helm, and an upstream
# Prometheus and promtool (Debian's 2.42 is built without Kubernetes service
# discovery), are built from the Go
# module proxy once, by exact version, into ~/.cache/hut/k8s/<version>/bin; only the
# binaries are kept (the Go caches of a build reach ~7 GB and are deleted). The
# Gateway API CRDs of a pinned release are kept beside them; `up` installs them and
# hut's own (k8s/charts/hut/crds). TLS with a per-DIR CA,
# token authentication, RBAC on; ports are picked free per DIR.
set -euo pipefail

K8S=1.37.2       # its go.mod says go 1.26.0
ETCD=3.7.3       # the etcd client k8s 1.37 uses
KWOK=v0.7.0
HELM=v4.3.2
GATEWAY_API=v1.6.3
PROMETHEUS=v0.316.0  # Prometheus 3.16's Go module version; kept out of VERSION: built beside the rest
VERSION="k8s-$K8S-etcd-$ETCD-kwok-$KWOK-helm-$HELM-gw-$GATEWAY_API"
CACHE=${HUT_K8S_CACHE:-$HOME/.cache/hut/k8s}/$VERSION
BIN=$CACHE/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGES=$ROOT/testing/k8s/kwok-stages.yaml
TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm prometheus promtool)

log() { echo "k8s-testbed: $*" >&2; }
die() { log "$*"; exit 1; }

built() {
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
  [ -f "$CACHE/gateway-api/standard-install.yaml" ]
}

# ---------------------------------------------------------------------------
# build

# Modules whose go.mod replaces siblings with local paths cannot be `go install`ed;
# a wrapper module requiring them (and pinning those siblings) builds them.
wrapper() {  # DIR
  local dir=$1
  mkdir -p "$dir"
  printf 'module hut.testbed/wrap\n\ngo 1.26\n\ngodebug default=go1.26\n' > "$dir/go.mod"
}

build_etcd() {
  [ -x "$BIN/etcd" ] && return
  log "building etcd v$ETCD"
  local w=$WORK/etcd-wrap; wrapper "$w"; cd "$w"
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD"
  go build -trimpath -ldflags='-s -w' -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_kubernetes() {
  local missing=()
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$BIN/$c" ] || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "building ${missing[*]} v$K8S"
  local w=$WORK/k8s-wrap; wrapper "$w"; cd "$w"
  local minor=${K8S#1.}  # 37.2: the staging modules are v0.37.2
  go mod download -json "k8s.io/kubernetes@v$K8S" > /dev/null
  local kmod=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/v$K8S.mod
  {
    printf '\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S"
    # each staging module k8s.io/kubernetes replaces with ./staging/..., except the
    # two unpublished sample-* ones nothing needs
    sed -n '/^replace (/,/^)/p' "$kmod" | awk '/=> \.\/staging/ {print $1}' | grep -v sample- |
      while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "$minor"; done
    printf ')\n'
  } >> go.mod
  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@v$K8S"); done
  go get -tool "${pkgs[@]}"
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S"
  ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S"
  for c in "${missing[@]}"; do
    log "  go build $c"
    go build -trimpath -ldflags="$ld" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$BIN/$c.tmp" "$BIN/$c"
  done
}

build_plain() {  # NAME MODULE@VERSION
  [ -x "$BIN/$1" ] && return
  log "building $1 ($2)"
  cd "$WORK"
  GOBIN=$BIN go install -trimpath -ldflags='-s -w' "$2"
}

fetch_gateway_api() {
  [ -f "$CACHE/gateway-api/standard-install.yaml" ] && return
  log "fetching Gateway API $GATEWAY_API CRDs"
  cd "$WORK"
  local dir
  dir=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$CACHE/gateway-api"
  local f out=$CACHE/gateway-api/standard-install.yaml.tmp
  : > "$out"
  for f in "$dir"/config/crd/standard/*.yaml; do
    printf -- '---\n' >> "$out"; cat "$f" >> "$out"
  done
  [ -s "$out" ] || die "no CRDs under $dir/config/crd/standard"
  mv "$out" "$CACHE/gateway-api/standard-install.yaml"
}

# ensure_go: a Go >= 1.26 on PATH (scripts/go-toolchain.sh)
# shellcheck source=scripts/go-toolchain.sh
. "$ROOT/scripts/go-toolchain.sh"

build() {
  built && return
  ensure_go
  mkdir -p "$BIN"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hut-k8s-build.XXXXXX")
  # the Go caches live only as long as the build
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
  export GOMODCACHE=$WORK/gomod GOCACHE=$WORK/gocache GOPATH=$WORK/gopath
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  local start=$SECONDS
  build_etcd
  build_kubernetes
  build_plain kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  build_plain helm "helm.sh/helm/v4/cmd/helm@$HELM"
  build_plain prometheus "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS"
  build_plain promtool "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS"
  fetch_gateway_api
  log "built in $((SECONDS - start)) s into $CACHE"
}

# ---------------------------------------------------------------------------
# up / down

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pki() {  # DIR
  local p=$1/pki
  [ -f "$p/tokens.csv" ] && return
  mkdir -p "$p"; chmod 700 "$p"
  (
    cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt \
      -subj /CN=hut-testbed-ca 2> /dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj /CN=kube-apiserver 2> /dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > ext.cnf
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile ext.cnf -out apiserver.crt 2> /dev/null
    openssl genrsa -out sa.key 2048 2> /dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2> /dev/null
    local admin kcm sched
    admin=$(openssl rand -hex 16); kcm=$(openssl rand -hex 16); sched=$(openssl rand -hex 16)
    printf '%s\n' "$admin,admin,admin-uid,\"system:masters\"" \
      "$kcm,system:kube-controller-manager,kcm-uid" \
      "$sched,system:kube-scheduler,sched-uid" > tokens.csv
    printf '%s' "$admin" > admin.token; printf '%s' "$kcm" > kcm.token; printf '%s' "$sched" > sched.token
    chmod 600 ./*.key ./*.token tokens.csv
  )
}

kubeconfig() {  # DIR USER TOKEN_FILE OUT
  cat > "$4" << EOF
apiVersion: v1
kind: Config
clusters:
- name: hut-testbed
  cluster:
    server: https://127.0.0.1:$(cat "$1/apiserver.port")
    certificate-authority: $1/pki/ca.crt
users:
- name: $2
  user:
    token: $(cat "$3")
contexts:
- name: hut-testbed
  context: {cluster: hut-testbed, user: $2}
current-context: hut-testbed
EOF
  chmod 600 "$4"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2> /dev/null; }

wait_for() {  # WHAT SECONDS PIDFILE CMD...
  local what=$1 secs=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" > /dev/null 2>&1; do
    alive "$pidfile" || die "$what exited; see ${pidfile%.pid}.log"
    [ $SECONDS -lt $deadline ] || die "$what not ready after $secs s; see ${pidfile%.pid}.log"
    sleep 0.1
  done
}

start() {  # NAME DIR CMD...   (stays in DIR's process group; the pid file is the handle)
  local name=$1 dir=$2; shift 2
  # setsid: a Ctrl-C of the caller does not take the control plane half down
  setsid "$@" > "$dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/$name.pid"
}

start_apiserver() {  # DIR: kube-apiserver on DIR's ports and certificates; waits until ready
  local dir=$1 p=$1/pki etcd_port api_port admin_token
  etcd_port=$(cat "$dir/etcd.port"); api_port=$(cat "$dir/apiserver.port")
  start kube-apiserver "$dir" "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --secure-port="$api_port" --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --token-auth-file="$p/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range=10.0.0.0/16 --cert-dir="$dir/apiserver-certs" --profiling=false
  admin_token=$(cat "$p/admin.token")
  wait_for kube-apiserver 90 "$dir/kube-apiserver.pid" curl -sf --cacert "$p/ca.crt" \
    -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$api_port/readyz"
}

restart_apiserver() {  # DIR: stops kube-apiserver and starts it again on the same port
  local dir=$1 pid
  pid=$(cat "$dir/kube-apiserver.pid")
  kill "$pid" 2> /dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2> /dev/null || true
  start_apiserver "$dir"
}

up() {  # DIR
  local dir
  mkdir -p "$1"; dir=$(cd "$1" && pwd)
  if alive "$dir/kube-apiserver.pid"; then log "already up in $dir"; return; fi
  build
  pki "$dir"
  local p=$dir/pki etcd_port peer_port api_port kcm_port sched_port kwok_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  kcm_port=$(free_port); sched_port=$(free_port); kwok_port=$(free_port)
  echo "$api_port" > "$dir/apiserver.port"

  start etcd "$dir" "$BIN/etcd" --name testbed --data-dir "$dir/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "testbed=http://127.0.0.1:$peer_port" --listen-metrics-urls "" --log-level warn
  wait_for etcd 30 "$dir/etcd.pid" curl -sf "http://127.0.0.1:$etcd_port/health"

  echo "$etcd_port" > "$dir/etcd.port"
  start_apiserver "$dir"

  kubeconfig "$dir" admin "$p/admin.token" "$dir/kubeconfig"
  kubeconfig "$dir" system:kube-controller-manager "$p/kcm.token" "$dir/kcm.kubeconfig"
  kubeconfig "$dir" system:kube-scheduler "$p/sched.token" "$dir/sched.kubeconfig"

  start kube-controller-manager "$dir" "$BIN/kube-controller-manager" --kubeconfig="$dir/kcm.kubeconfig" \
    --authentication-kubeconfig="$dir/kcm.kubeconfig" --authorization-kubeconfig="$dir/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$p/sa.key" \
    --root-ca-file="$p/ca.crt" --service-cluster-ip-range=10.0.0.0/16 --cert-dir="$dir/kcm-certs"
  start kube-scheduler "$dir" "$BIN/kube-scheduler" --kubeconfig="$dir/sched.kubeconfig" \
    --authentication-kubeconfig="$dir/sched.kubeconfig" --authorization-kubeconfig="$dir/sched.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false
  wait_for kube-controller-manager 60 "$dir/kube-controller-manager.pid" \
    curl -sfk "https://127.0.0.1:$kcm_port/healthz"
  wait_for kube-scheduler 60 "$dir/kube-scheduler.pid" curl -sfk "https://127.0.0.1:$sched_port/healthz"
  start kwok "$dir" "$BIN/kwok" --kubeconfig="$dir/kubeconfig" --config="$STAGES" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --cidr=10.244.0.0/16 \
    --node-ip=10.0.1.1 --node-lease-duration-seconds=40 --server-address="127.0.0.1:$kwok_port"

  local k=("$BIN/kubectl" --kubeconfig="$dir/kubeconfig")
  "${k[@]}" apply --server-side -f "$CACHE/gateway-api/standard-install.yaml" > /dev/null
  # hut's own CRDs, as its chart installs them (the runtime needs ServiceScale)
  "${k[@]}" apply --server-side -f "$ROOT/k8s/charts/hut/crds/" > /dev/null
  local n
  for n in 1 2 3; do
    "${k[@]}" apply -f - > /dev/null << EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$n, kubernetes.io/os: linux, type: kwok}
spec: {}
status:
  allocatable: {cpu: "128", memory: 512Gi, pods: "1000"}
  capacity: {cpu: "128", memory: 512Gi, pods: "1000"}
EOF
  done
  wait_for "kwok nodes" 60 "$dir/kwok.pid" bash -c \
    "'$BIN/kubectl' --kubeconfig='$dir/kubeconfig' wait --for=condition=Ready node --all --timeout=1s"
  # the CRDs are served once Established
  "${k[@]}" wait --for=condition=Established crd --all --timeout=60s > /dev/null
  log "up in $dir (https://127.0.0.1:$api_port), KUBECONFIG=$dir/kubeconfig"
}

down() {  # DIR
  local dir=$1 n pid
  [ -d "$dir" ] || return 0
  for n in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$dir/$n.pid" ] || continue
    pid=$(cat "$dir/$n.pid")
    if kill -0 "$pid" 2> /dev/null; then
      kill "$pid" 2> /dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.05; done
      kill -9 "$pid" 2> /dev/null || true
    fi
    rm -f "$dir/$n.pid"
  done
}

case "${1:-}" in
  build) build ;;
  built) built ;;
  bin) echo "$BIN" ;;
  up) [ -n "${2:-}" ] || die "usage: $0 up DIR"; up "$2" ;;
  down) [ -n "${2:-}" ] || die "usage: $0 down DIR"; down "$2" ;;
  restart-apiserver) [ -n "${2:-}" ] || die "usage: $0 restart-apiserver DIR"; restart_apiserver "$(cd "$2" && pwd)" ;;
  *) die "usage: $0 build|built|bin|up DIR|down DIR|restart-apiserver DIR" ;;
esac
