#!/usr/bin/env bash
# The main job: Foohut on this machine, as staging runs it. `hut up` starts
# PostgreSQL, Redis, HAProxy and the control plane; the demo deploys v1 of
# both services (3 replicas each), puts steady load on them through the load
# balancer, rolls the backend out to v2, then rolls out a broken v3 that never
# becomes ready and is rolled back automatically; then a v4 canary promoted by
# hand and undone inside its rollback window, and a v5 canary answering 20 %
# errors that the analysis rolls back in seconds. It prints a summary with the
# failed-request count. Then the Kubernetes part (scripts/demo-kubernetes.sh:
# production on a real test control plane; DEMO_KUBERNETES=0 skips it). Then
# it keeps running with the URLs shown until Ctrl-C (DEMO_EXIT=1: it stops
# after the summaries, for scripts).
#
# Exit status: 0 when every rollout ended as expected and no request failed
# but the bad canary's.
set -uo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
bin=$(cd "$build_dir/bin" && pwd)
hut="$bin/hut"
spec=foohut.yaml
env=staging
work=$(mktemp -d /tmp/hut-demo-XXXXXX)
up_pid=""
load_pids=()

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

stop_all() {
  for pid in "${load_pids[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  load_pids=()
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    "$hut" down >/dev/null 2>&1 || kill -TERM "$up_pid" 2>/dev/null
    wait "$up_pid" 2>/dev/null
  fi
  up_pid=""
  rm -rf "$work"
}
trap stop_all EXIT
trap 'echo; echo "stopping..."; exit 0' INT TERM

step "Validate the spec"
echo "\$ hut validate -f $spec"
"$hut" validate -f "$spec" || exit 1

# The trace backend: built once per machine (about 4 minutes), then cached.
bash "$(dirname "$0")/jaeger.sh" build || exit 1

for port in 7480 8080 8081 9090 9093 16686 4318; do
  if [ -n "$(ss -Htln "sport = :$port")" ]; then
    echo "port $port is in use; the demo needs 7480 (hut), 8080 (backend), 8081 (frontend)," \
      "9090 (Prometheus), 9093 (Alertmanager), 16686 and 4318 (Jaeger)." >&2
    echo "Is a hut already running? Stop it with: $hut down" >&2
    exit 1
  fi
done

step "Bring up $env on this machine: hut up --env $env"
"$hut" up -f "$spec" --env "$env" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 600); do
  "$hut" rollout history backend >/dev/null 2>&1 && break
  if ! kill -0 "$up_pid" 2>/dev/null; then
    echo "hut up exited:" >&2
    cat "$work/up.log" >&2
    exit 1
  fi
  sleep 0.2
done
sed -n '1,/^Ready/p' "$work/up.log"

results=()
# run LABEL EXPECTED_EXIT HUT-ARGUMENTS...: one hut command that follows a
# rollout to its end; its outcome and time go into the summary.
run() {
  local label=$1 expected=$2
  shift 2
  step "$label"
  echo "\$ hut $*"
  local start end code
  start=$(now)
  "$hut" "$@"
  code=$?
  end=$(now)
  local outcome
  case $code in
    0) outcome="succeeded" ;;
    2) outcome="rolled back automatically" ;;
    *) outcome="error (exit $code)" ;;
  esac
  results+=("$(printf '  %-44s %-27s %6s s' "$label" "$outcome" "$(secs "$start" "$end")")")
  [ "$code" -eq "$expected" ] || unexpected=1
}
deploy() {
  local label=$1 expected=$2
  shift 2
  run "$label" "$expected" deploy "$@" --wait
}
unexpected=0

deploy "backend 1.0.0 (first deployment)" 0 backend 1.0.0
deploy "frontend 1.0.0 (first deployment)" 0 frontend 1.0.0

step "Steady load through the load balancer: 200 req/s on backend, 100 req/s on frontend"
"$bin/hut-load" --port 8080 --rate 200 --target '/api/v1/pages?q=canary' --target '/api/v1/pages?q=demo' \
  --count-header X-Foohut-Version --json "$work/backend.json" >"$work/backend.txt" 2>&1 &
load_pids+=($!)
"$bin/hut-load" --port 8081 --rate 100 --target / --target /app.js --target /style.css \
  --count-header X-Foohut-Version --json "$work/frontend.json" >"$work/frontend.txt" 2>&1 &
load_pids+=($!)
sleep 2

deploy "backend 2.0.0 (rolling update)" 0 backend 2.0.0
deploy "frontend 2.0.0 (rolling update)" 0 frontend 2.0.0
deploy "backend 3.0.0, broken: never becomes ready" 2 backend 3.0.0 --set FOOHUT_FAULTS=unready

step "backend 4.0.0 as a canary: 10 % of the traffic, analysed against 2.0.0"
echo "\$ hut deploy backend 4.0.0 --strategy canary"
"$hut" deploy backend 4.0.0 --strategy canary || unexpected=1
sleep 12
echo "\$ hut rollout status backend"
"$hut" rollout status backend | sed -n '1,/^Finished/p'
run "backend 4.0.0 canary, promoted by hand" 0 rollout promote backend --wait
run "backend undo inside the rollback window" 0 rollout undo backend --wait
deploy "backend 5.0.0 canary, 20 % errors" 2 backend 5.0.0 --strategy canary \
  --set FOOHUT_FAULTS=errors=0.2

sleep 2
for pid in "${load_pids[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
load_pids=()

step "What happened"
"$hut" rollout history backend
echo
"$hut" rollout status backend

step "Summary"
printf '  %-44s %-27s %8s\n' "rollout" "result" "time"
printf '%s\n' "${results[@]}"
echo
failed_total=0
for svc in backend frontend; do
  f="$work/$svc.json"
  if [ ! -s "$f" ]; then
    echo "  load on $svc: no report (see $work/$svc.txt)"
    unexpected=1
    continue
  fi
  versions=$(jq -r '.by_header | to_entries | map("\(.key): \(.value)") | join(", ")' "$f")
  printf '  load on %-9s %6d requests, %d failed (P50 %.1f ms, P99 %.1f ms); answered by %s\n' \
    "$svc" "$(jq .sent "$f")" "$(jq .failed "$f")" "$(jq .p50_ms "$f")" "$(jq .p99_ms "$f")" \
    "$versions"
  # The 5.0.0 canary answers 20 % of its API requests with 500 until it is
  # rolled back: those are the only failures there may be.
  canary=$(jq '.by_header["5.0.0"] // 0' "$f")
  failed=$(jq .failed "$f")
  if [ "$failed" -gt "$canary" ]; then
    echo "  $svc: $failed failed requests, more than the $canary the bad canary answered" >&2
    unexpected=1
  fi
  failed_total=$((failed_total + failed))
  canary_total=$((${canary_total:-0} + canary))
  if [ "$(jq '.by_header["3.0.0"] // 0' "$f")" != 0 ]; then
    echo "  the broken 3.0.0 answered requests on $svc" >&2
    unexpected=1
  fi
done
echo
echo "  failed requests during the whole demo: $failed_total, all while the bad 5.0.0 canary served"
echo "  (it answered $canary_total requests, 10 % of the backend's traffic, before hut rolled it back)"
# What the environment's Prometheus (hut up's, from the rules hut generated)
# saw of each service over the last minute.
prom() {
  curl -s --max-time 3 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}
echo
echo "  Prometheus (http://127.0.0.1:9090), the last minute of the replicas running now"
echo "  (a replica that has stopped, such as the rolled-back canary, no longer counts):"
for svc in backend frontend; do
  rate=$(prom "service:http_requests:rate1m{service=\"$svc\"}")
  errors=$(prom "service:http_error_ratio:rate1m{service=\"$svc\"}")
  p99=$(prom "service:http_request_duration_seconds:p99_1m{service=\"$svc\"}")
  if [ -z "$rate" ]; then
    echo "    $svc: no data"
    continue
  fi
  LC_ALL=C printf '    %-9s %7.1f req/s, %5.2f %% errors, P99 %.1f ms\n' "$svc" "$rate" \
    "$(awk -v e="${errors:-0}" 'BEGIN { print e * 100 }')" \
    "$(awk -v p="${p99:-0}" 'BEGIN { print p * 1000 }')"
done
firing=$(curl -s --max-time 3 http://127.0.0.1:9090/api/v1/alerts |
  jq -r '[.data.alerts[] | select(.state == "firing") | "\(.labels.alertname) (\(.labels.severity), \(.labels.service // .labels.instance))"] | join(", ")' 2>/dev/null)
echo "    alerts firing: ${firing:-none}"

# One request, followed: its spans in Jaeger and its lines in the log store.
trace=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
curl -s -o /dev/null -H "traceparent: 00-$trace-b7ad6b7169203331-01" \
  "http://127.0.0.1:8080/api/v1/pages?q=canary"
echo
echo "  One request through the load balancer (GET /api/v1/pages?q=canary, trace $trace):"
shown=0
for _ in $(seq 1 30); do
  if out=$("$hut" trace "$trace" 2>&1) && grep -q "SELECT pages" <<<"$out"; then
    sed 's/^/    /' <<<"$out"
    shown=1
    break
  fi
  sleep 0.2
done
[ "$shown" = 1 ] || { echo "    no trace: $out"; unexpected=1; }
echo "    (the same request's lines: $hut logs backend --trace $trace; the UI: http://127.0.0.1:16686/trace/$trace)"
if [ "$unexpected" -ne 0 ]; then
  echo "  something did not go as expected (hut's log: .hut/logs/hut.log)"
fi

if [ "${DEMO_KUBERNETES:-1}" = 1 ]; then
  bash scripts/demo-kubernetes.sh "$build_dir" || unexpected=1
fi

if [ "${DEMO_EXIT:-0}" = 1 ]; then
  step "Stopping (DEMO_EXIT=1): hut down"
  "$hut" down
  wait "$up_pid" 2>/dev/null
  up_pid=""
  exit "$unexpected"
fi

step "Foohut keeps running"
echo "  web front end   http://127.0.0.1:8081/"
echo "  API             http://127.0.0.1:8080/api/v1/pages?q=canary"
echo "  hut             $hut rollout status backend   |   $hut rollout history frontend"
echo "  prometheus      http://127.0.0.1:9090/alerts"
echo "  jaeger          http://127.0.0.1:16686/"
echo "  logs            $hut logs backend --since 10m   (files: .hut/logs/)"
echo "Press Ctrl-C to stop everything."
wait "$up_pid"
