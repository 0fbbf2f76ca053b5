#!/usr/bin/env bash
# Benchmark: what metrics and tracing cost foohut-api (F7 goal: under 5 %).
# Three foohut-api processes on the same PostgreSQL and Redis: everything
# off (FOOHUT_METRICS=off, no OTLP endpoint), metrics only, and as hut up
# runs it (metrics on, every request traced to a real Jaeger). Each round
# runs each in turn on GET /api/v1/pages/{id} (a Redis hit: a server span
# and a cache span per request): wrk as fast as it goes, then hut-load at a
# fixed rate, with foohut-api's own CPU time per request from /proc.
#
#   bench/telemetry_cost.sh [BUILD_DIR] [ROUNDS] [DURATION] [CONNECTIONS]
set -euo pipefail
build_dir=${1:-build}
rounds=${2:-5}
duration=${3:-5s}
connections=${4:-20}
bin="$build_dir/bin"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/local-stack.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  stack_stop
}
trap cleanup EXIT

stack_start_services "$bin"
"$bin/foohut-api" migrate up >/dev/null

jaeger=$(bash "$here/../scripts/jaeger.sh" bin)
query=$(stack_free_port); otlp=$(stack_free_port); health=$(stack_free_port)
cat > "$stack_state/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}
  telemetry: {metrics: {level: none}, logs: {level: warn}}
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: "127.0.0.1:$health"}}
  jaeger_query: {storage: {traces: memstore}, http: {endpoint: "127.0.0.1:$query"}, grpc: {endpoint: "127.0.0.1:0"}}
  jaeger_storage: {backends: {memstore: {memory: {max_traces: 100000}}}}
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:$otlp"}}}
processors:
  batch: {timeout: 200ms}
exporters:
  jaeger_storage_exporter: {trace_storage: memstore}
YAML
"$jaeger" --config="file:$stack_state/jaeger.yaml" >"$stack_state/jaeger.log" 2>&1 &
jaeger_pid=$!
pids+=("$jaeger_pid")
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$health/status" >/dev/null && break; sleep 0.1; done

start_api() {  # PORT VAR=VALUE...
  local port=$1; shift
  env PORT="$port" FOOHUT_ENV=development FOOHUT_LOG_LEVEL=WARN "$@" "$bin/foohut-api" serve \
    >"$stack_state/api-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "foohut-api on $port did not become ready" >&2; cat "$stack_state/api-$port.log" >&2; exit 1
}
# The variants: nothing; metrics only; metrics and every request traced (hut up's).
names=(off metrics metrics+traces)
ports=()
for n in "${names[@]}"; do ports+=("$(stack_free_port)"); done
start_api "${ports[0]}" FOOHUT_METRICS=off
start_api "${ports[1]}" FOOHUT_METRICS=on
start_api "${ports[2]}" FOOHUT_METRICS=on OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$otlp/v1/traces" \
  OTEL_SERVICE_NAME=backend
api_pid() { ss -Htlnp "sport = :$1" | sed -E 's/.*pid=([0-9]+).*/\1/' | head -1; }

base="http://127.0.0.1:${ports[0]}"
id=$(stack_seed_page "$base")

# Closed loop (wrk, as fast as it goes): "RPS P99_MS". On 2 cores Jaeger's
# own work competes with foohut-api's here.
wrk_run() {
  local out
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$1/api/v1/pages/$id")
  awk '/Requests\/sec/ {rps = $2}
       $1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; p99 = v}
       END {printf "%s %.3f\n", rps, p99}' <<<"$out"
}
# Open loop at a fixed rate (hut-load): foohut-api's own CPU per request
# (from /proc, its threads only), the P99, and Jaeger's CPU per request
# meanwhile (it shares these 2 cores): "CPU_US P99_MS JAEGER_CPU_US".
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rate_run() {
  local pid t0 t1 j0 j1 hz
  hz=$(getconf CLK_TCK)
  pid=$(api_pid "$1"); t0=$(ticks "$pid"); j0=$(ticks "$jaeger_pid")
  "$bin/hut-load" --port "$1" --rate "$rate" --duration "$duration" --workers 32 \
    --target "/api/v1/pages/$id" --json "$stack_state/load.json" >/dev/null
  t1=$(ticks "$pid"); j1=$(ticks "$jaeger_pid")
  jq -r --argjson cpu "$(( (t1 - t0) * 1000000 / hz ))" --argjson jcpu "$(( (j1 - j0) * 1000000 / hz ))" \
    '"\($cpu / .ok) \(.p99_ms) \($jcpu / .ok)"' "$stack_state/load.json"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

rate=${RATE:-2000}
echo "foohut-api GET /api/v1/pages/{id} (a Redis hit), $rounds rounds, the variants in turn (nproc=$(nproc)):"
echo "  wrk -t2 -c$connections -d$duration (closed loop), and hut-load at $rate req/s for $duration (open loop)"
printf '%-6s %-16s %10s %9s %13s %9s %13s\n' round variant "wrk req/s" "wrk P99" "CPU/request" "P99@rate" "Jaeger CPU"
for r in $(seq 1 "$rounds"); do
  order=(0 1 2); [ $((r % 2)) -eq 0 ] && order=(2 1 0)  # neither end always gets the warmer machine
  for i in "${order[@]}"; do
    w=$(wrk_run "${ports[$i]}"); c=$(rate_run "${ports[$i]}")
    echo "$w $c" >> "$stack_state/v$i"
    # shellcheck disable=SC2086  # "a b" and "a b c" split into their fields on purpose
    printf '%-6s %-16s %10s %6s ms %10.1f us %6.2f ms %10.1f us\n' "$r" "${names[$i]}" $w $c
  done
done
echo
printf '%-16s %10s %9s %13s %9s %13s\n' "median of" "wrk req/s" "wrk P99" "CPU/request" "P99@rate" "Jaeger CPU"
for i in 0 1 2; do
  m=()
  for f in 1 2 3 4 5; do m+=("$(cut -d' ' -f$f "$stack_state/v$i" | median)"); done
  printf '%-16s %10s %6s ms %10.1f us %6.2f ms %10.1f us\n' "${names[$i]}" "${m[@]}"
  eval "med_$i=(${m[*]})"
done
# shellcheck disable=SC2154  # med_N set by eval above
awk -v a="${med_0[0]}" -v b="${med_1[0]}" -v c="${med_2[0]}" -v x="${med_0[2]}" -v y="${med_1[2]}" -v z="${med_2[2]}" 'BEGIN {
  printf "metrics:          wrk throughput %+.1f %%, CPU per request %+.1f %%\n", (b - a) / a * 100, (y - x) / x * 100
  printf "metrics + traces: wrk throughput %+.1f %%, CPU per request %+.1f %%\n", (c - a) / a * 100, (z - x) / x * 100 }'
spans=$(curl -fs "http://127.0.0.1:${ports[2]}/metrics" | grep '^foohut_trace_spans_total' | tr '\n' ' ')
echo "exporter: $spans"
