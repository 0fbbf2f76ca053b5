#!/usr/bin/env bash
# Rolling deployments on the local platform, measured (F2). Brings up staging
# from foohut.yaml (3 backend replicas, the ADR's 2 s health checks) with its
# state in a temporary folder, keeps 300 req/s on the backend through HAProxy,
# and reports:
#   - time from `hut deploy` to 100 % on the new version, and requests sent /
#     failed during each rollout (ROUNDS rollouts);
#   - for a broken release (never ready): time to detect it, time from the
#     decision to roll back to the rollback's end, and requests sent / failed;
#   - latency added by the load-balancer hop: the same open-loop load through
#     HAProxy and straight to one replica, alternated, P50 / P99.
# Needs ports 8080 and 8081 free (foohut.yaml's). Run by hand: bench/run.sh.
set -uo pipefail
build_dir=${1:-build}
rounds=${ROUNDS:-3}
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_setup bench

now() { date +%s.%N; }

start_load() {  # start_load PORT RATE JSON
  "$bin/hut-load" --port "$1" --rate "$2" --target /healthz --target '/api/v1/pages?q=canary' \
    --json "$3" >/dev/null 2>&1 &
  load_pid=$!
  sleep 0.5
}

hut_up foohut.yaml
"$bin/hut" deploy backend 0.9.0 --wait >/dev/null || { echo "first deploy failed"; exit 1; }

echo "# Rolling deployments, 3 replicas, staging policies (maxSurge 1, maxUnavailable 0, checks every 2s)"
echo
echo "| rollout | result | deploy -> 100 % new (s) | requests sent | failed |"
echo "|---|---|---|---|---|"
times=()
for i in $(seq 1 "$rounds"); do
  version="1.$i.0"
  start_load 8080 300 "$work/load-$i.json"
  t0=$(now)
  "$bin/hut" deploy backend "$version" --wait >/dev/null
  code=$?
  t1=$(now)
  stop_load
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  times+=("$dt")
  echo "| backend $version | exit $code | $dt | $(jq .sent "$work/load-$i.json") | $(jq .failed "$work/load-$i.json") |"
done
echo
echo "median deploy -> 100 %: $(printf '%s\n' "${times[@]}" | median) s over $rounds rollouts"

echo
echo "# Automatic rollback of a release that never becomes ready (FOOHUT_FAULTS=unready)"
echo
echo "| rollout | result | deploy -> rollback decided (s) | rollback decided -> done (s) | total (s) | requests sent | failed |"
echo "|---|---|---|---|---|---|---|"
for i in $(seq 1 "$rounds"); do
  version="9.$i.0-broken"
  start_load 8080 300 "$work/broken-$i.json"
  t0=$(now)
  "$bin/hut" deploy backend "$version" --set FOOHUT_FAULTS=unready --wait >/dev/null
  code=$?
  t1=$(now)
  stop_load
  rollout=$(api "/api/v1/services/backend/rollout" | jq .rollout)
  id=$(jq .id <<<"$rollout")
  events=$(api "/api/v1/events?service=backend&limit=1000" | jq --argjson id "$id" '[.events[] | select(.rollout_id == $id)]')
  started=$(jq -r '[.[] | select(.type == "rollout.started")][0].at' <<<"$events")
  # A rollback whose previous revision still serves in full ends on the tick
  # that decides it: progressing -> rolled-back.
  decided=$(jq -r '[.[] | select(.type == "rollout.rolling-back" or .type == "rollout.rolled-back")][0].at' <<<"$events")
  done_at=$(jq -r '[.[] | select(.type == "rollout.rolled-back")][0].at' <<<"$events")
  echo "| backend $version | exit $code | $(between "$started" "$decided") | $(between "$decided" "$done_at") | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') | $(jq .sent "$work/broken-$i.json") | $(jq .failed "$work/broken-$i.json") |"
done

echo
echo "# Latency added by the load-balancer hop (open loop, 500 req/s, 15 s each, alternated)"
echo
replica=$(api "/api/v1/services/backend/rollout" | jq -r '[.replicas[] | select(.in_load_balancer)][0].address')
replica_port=${replica##*:}
echo "| round | via HAProxy P50 (ms) | P99 (ms) | direct P50 (ms) | P99 (ms) |"
echo "|---|---|---|---|---|"
lb50=(); lb99=(); d50=(); d99=()
for i in $(seq 1 "$rounds"); do
  "$bin/hut-load" --port 8080 --rate 500 --duration 15s --target /healthz --json "$work/lb-$i.json" >/dev/null
  "$bin/hut-load" --port "$replica_port" --rate 500 --duration 15s --target /healthz --json "$work/direct-$i.json" >/dev/null
  lb50+=("$(jq .p50_ms "$work/lb-$i.json")"); lb99+=("$(jq .p99_ms "$work/lb-$i.json")")
  d50+=("$(jq .p50_ms "$work/direct-$i.json")"); d99+=("$(jq .p99_ms "$work/direct-$i.json")")
  printf '| %d | %.2f | %.2f | %.2f | %.2f |\n' "$i" "${lb50[-1]}" "${lb99[-1]}" "${d50[-1]}" "${d99[-1]}"
done
m_lb50=$(printf '%s\n' "${lb50[@]}" | median); m_lb99=$(printf '%s\n' "${lb99[@]}" | median)
m_d50=$(printf '%s\n' "${d50[@]}" | median); m_d99=$(printf '%s\n' "${d99[@]}" | median)
printf '| median | %.2f | %.2f | %.2f | %.2f |\n' "$m_lb50" "$m_lb99" "$m_d50" "$m_d99"
echo
awk -v a="$m_lb50" -v b="$m_d50" -v c="$m_lb99" -v d="$m_d99" \
  'BEGIN { printf "added by the hop: P50 %+.2f ms, P99 %+.2f ms (medians)\n", a - b, c - d }'
