#!/usr/bin/env bash
# Canary deployments on the local platform, measured (F3). Brings up staging
# from foohut.yaml (3 backend replicas, the ADR's 2 s health checks) with the
# canary policy of production (10 %, ADR triggers, hut's comparison) but a
# HOLD-long analysis (default 30s) and no rollback window, so that rounds
# follow one another; keeps 300 req/s on the backend through HAProxy (the
# canary's 10 % is 30 req/s), and reports per round:
#   - a canary answering 20 % errors (baseline ~0 %): canary analysing ->
#     rollback verdict, verdict -> canary weight 0 in HAProxy, requests the
#     canary answered and requests that failed;
#   - a canary 3x slower than its baseline (60 ms vs 20 ms added, P99 far
#     under 2 s): analysing -> rollback verdict;
#   - a healthy canary: deploy -> promoted, and whether it was rolled back;
#   - the control plane's CPU (the `hut up` process: API, reconcile loops,
#     HAProxy stats, scrapes, analysis) while a canary is analysed, against
#     the same time with the same load and no rollout.
# Needs ports 8080 and 8081 free (foohut.yaml's). Run by hand: bench/run.sh.
set -uo pipefail
build_dir=${1:-build}
rounds=${ROUNDS:-5}
hold=${HOLD:-30s}
cd "$(dirname "$0")/.."
repo=$(pwd)
source bench/lib.sh
bench_setup canary-bench

start_load() {  # start_load JSON
  "$bin/hut-load" --port 8080 --rate 300 --target '/api/v1/pages?q=canary' \
    --count-header X-Foohut-Version --json "$1" >/dev/null 2>&1 &
  load_pid=$!
  sleep 0.5
}

# The events of the backend's latest rollout.
rollout_events() {
  local id
  id=$(api "/api/v1/services/backend/rollout" | jq .rollout.id)
  api "/api/v1/events?service=backend&limit=1000" | jq --argjson id "$id" '[.events[] | select(.rollout_id == $id)]'
}
first_at() { jq -r --arg t "$2" '[.[] | select(.type == $t)][0].at // empty' <<<"$1"; }

# The backend's latest rollback, from its events: sets `detected` (analysing
# -> rollback verdict, s), `zeroed` (verdict -> canary weight 0, s) and
# `rule` (the rule that fired); "-" for what did not happen.
read_rollback() {
  local events analysing verdict zero
  events=$(rollout_events)
  analysing=$(first_at "$events" rollout.analysing)
  verdict=$(first_at "$events" analysis.rollback)
  zero=$(jq -r '[.[] | select(.type == "replica.weight" and .data.weight == 0)][0].at // empty' <<<"$events")
  rule=$(jq -r '[.[] | select(.type == "analysis.rollback")][0].data.rule // "-"' <<<"$events")
  detected=-; zeroed=-
  [ -n "$analysing" ] && [ -n "$verdict" ] && detected=$(between "$analysing" "$verdict" 3)
  [ -n "$verdict" ] && [ -n "$zero" ] && zeroed=$(between "$verdict" "$zero" 3)
}

# foohut.yaml with absolute paths, the hold shortened and no rollback window.
sed -e "s|build/bin/foohut-api|$bin/foohut-api|" -e "s|--static, web/|--static, $repo/web/|" \
  -e "s|analysis: 5m |analysis: $hold |" -e "s|rollback_window: 5m |rollback_window: 0s |" \
  foohut.yaml >"$work/foohut.yaml"
grep -q "analysis: $hold" "$work/foohut.yaml" || { echo "could not set the hold in foohut.yaml"; exit 1; }

hut_up "$work/foohut.yaml"
"$bin/hut" deploy backend 0.9.0 --wait >/dev/null || { echo "first deploy failed"; exit 1; }

echo "# Canary at 20 % errors, 30 req/s of 300 (3 replicas + 1 canary at 10 %, 1 s scrapes)"
echo
echo "| round | result | analysing -> rollback verdict (s) | verdict -> canary weight 0 (s) | answered by the canary | failed | rule |"
echo "|---|---|---|---|---|---|---|"
detect=(); cut=()
for i in $(seq 1 "$rounds"); do
  version="5.$i.0-errors"
  start_load "$work/errors-$i.json"
  "$bin/hut" deploy backend "$version" --strategy canary --set FOOHUT_FAULTS=errors=0.2 --wait >/dev/null
  code=$?
  stop_load
  read_rollback
  [ "$detected" != - ] && detect+=("$detected")
  [ "$zeroed" != - ] && cut+=("$zeroed")
  echo "| $i | exit $code | $detected | $zeroed | $(jq --arg v "$version" '.by_header[$v] // 0' "$work/errors-$i.json") | $(jq .failed "$work/errors-$i.json") | $rule |"
done
echo
echo "median analysing -> rollback: $(printf '%s\n' "${detect[@]}" | median) s; median verdict -> weight 0: $(printf '%s\n' "${cut[@]}" | median) s"

echo
echo "# Canary 3x slower than its baseline (60 ms vs 20 ms added latency, P99 far under 2 s)"
echo
echo "| round | result | analysing -> rollback verdict (s) | rule |"
echo "|---|---|---|---|"
slow=()
for i in $(seq 1 "$rounds"); do
  "$bin/hut" deploy backend "6.$i.0-base" --strategy rolling --set FOOHUT_FAULTS=latency=20ms --wait >/dev/null \
    || { echo "baseline deploy failed"; exit 1; }
  start_load "$work/slow-$i.json"
  "$bin/hut" deploy backend "6.$i.1-slow" --strategy canary --set FOOHUT_FAULTS=latency=60ms --wait >/dev/null
  code=$?
  stop_load
  read_rollback
  [ "$detected" != - ] && slow+=("$detected")
  echo "| $i | exit $code | $detected | $rule |"
done
echo
echo "median analysing -> rollback: $(printf '%s\n' "${slow[@]}" | median) s"

echo
echo "# Healthy canary (same release as the baseline), $hold hold"
echo
echo "| round | result | deploy -> promoted (s) | requests | failed |"
echo "|---|---|---|---|---|"
false_rollbacks=0
"$bin/hut" deploy backend 7.0.0 --strategy rolling --wait >/dev/null || { echo "baseline deploy failed"; exit 1; }
for i in $(seq 1 "$rounds"); do
  start_load "$work/healthy-$i.json"
  t0=$(date +%s.%N)
  "$bin/hut" deploy backend "7.$i.1" --strategy canary --wait >/dev/null
  code=$?
  t1=$(date +%s.%N)
  stop_load
  [ "$code" -eq 2 ] && false_rollbacks=$((false_rollbacks + 1))
  echo "| $i | exit $code | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') | $(jq .sent "$work/healthy-$i.json") | $(jq .failed "$work/healthy-$i.json") |"
done
echo
echo "false rollbacks: $false_rollbacks of $rounds healthy canaries"

# CPU seconds (user + system) the hut up process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$up_pid/stat"; }
echo
echo "# Control-plane CPU: $hold with 300 req/s and no rollout, then a $hold canary hold"
echo
start_load "$work/idle.json"
c0=$(cpu); t0=$(date +%s.%N)
sleep "${hold%s}"
c1=$(cpu); t1=$(date +%s.%N)
"$bin/hut" deploy backend 7.9.1 --strategy canary --wait >/dev/null
c2=$(cpu); t2=$(date +%s.%N)
stop_load
awk -v c0="$c0" -v c1="$c1" -v c2="$c2" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
  idle = (c1 - c0) / (t1 - t0); canary = (c2 - c1) / (t2 - t1)
  printf "| | wall (s) | CPU (s) | CPU %% of a core |\n|---|---|---|---|\n"
  printf "| no rollout | %.1f | %.3f | %.2f %% |\n", t1 - t0, c1 - c0, 100 * idle
  printf "| canary analysed | %.1f | %.3f | %.2f %% |\n", t2 - t1, c2 - c1, 100 * canary
  printf "\nthe canary costs %.2f ms of CPU per second (one scrape and one analysis tick per second)\n", 1000 * (canary - idle) }'
