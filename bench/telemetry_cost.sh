#!/usr/bin/env bash
# Benchmark: what metrics and tracing cost foohut-api (F7 goal: under 5 %).
# Two foohut-api processes on the same PostgreSQL and Redis, one with
# everything off (FOOHUT_METRICS=off, no OTLP endpoint), one as hut up runs
# it (metrics on, every request traced to a real Jaeger); wrk against each
# in turn, ROUNDS times, on GET /api/v1/pages/{id} (a Redis hit: a server
# span and a cache span per request). Prints each round and the medians.
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
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$health/status" >/dev/null && break; sleep 0.1; done

start_api() {  # PORT VAR=VALUE...
  local port=$1; shift
  env PORT="$port" FOOHUT_ENV=development FOOHUT_LOG_LEVEL=WARN "$@" "$bin/foohut-api" serve \
    >"$stack_state/api-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "foohut-api on $port did not become ready" >&2; cat "$stack_state/api-$port.log" >&2; exit 1
}
off=$(stack_free_port); on=$(stack_free_port)
start_api "$off" FOOHUT_METRICS=off
start_api "$on" FOOHUT_METRICS=on OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$otlp/v1/traces" \
  OTEL_SERVICE_NAME=backend

base="http://127.0.0.1:$off"
curl -fs -X POST "$base/api/v1/signup" -H 'Content-Type: application/json' \
  -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' >/dev/null
token=$(curl -fs -X POST "$base/api/v1/login" -H 'Content-Type: application/json' \
  -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' | jq -r .token)
id=$(curl -fs -X POST "$base/api/v1/pages" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"title": "Benchmark page", "body": "A page read many times."}' | jq -r .id)

run() {  # PORT -> "RPS P99_MS"
  local out
  out=$(wrk -t2 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$1/api/v1/pages/$id")
  awk '/Requests\/sec/ {rps = $2}
       $1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms/, "", v)} else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; p99 = v}
       END {printf "%s %.3f\n", rps, p99}' <<<"$out"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "foohut-api GET /api/v1/pages/{id}: wrk -t2 -c$connections -d$duration, $rounds rounds, off and on in turn (nproc=$(nproc))"
printf '%-6s %14s %10s %14s %10s\n' round "off req/s" "off P99" "on req/s" "on P99"
: > "$stack_state/off"; : > "$stack_state/on"
for r in $(seq 1 "$rounds"); do
  # Alternate which goes first: neither always gets the warmer machine.
  if [ $((r % 2)) -eq 1 ]; then a=$(run "$off"); b=$(run "$on"); else b=$(run "$on"); a=$(run "$off"); fi
  echo "$a" >> "$stack_state/off"; echo "$b" >> "$stack_state/on"
  printf '%-6s %14s %8s ms %14s %8s ms\n' "$r" ${a% *} ${a#* } ${b% *} ${b#* }
done
off_rps=$(cut -d' ' -f1 "$stack_state/off" | median); on_rps=$(cut -d' ' -f1 "$stack_state/on" | median)
off_p99=$(cut -d' ' -f2 "$stack_state/off" | median); on_p99=$(cut -d' ' -f2 "$stack_state/on" | median)
printf '%-6s %14s %8s ms %14s %8s ms\n' median "$off_rps" "$off_p99" "$on_rps" "$on_p99"
awk -v a="$off_rps" -v b="$on_rps" -v c="$off_p99" -v d="$on_p99" \
  'BEGIN {printf "cost of metrics + tracing: throughput %+.1f %%, P99 %+.1f %%\n", (b - a) / a * 100, (d - c) / c * 100}'
spans=$(curl -fs "http://127.0.0.1:$on/metrics" | grep '^foohut_trace_spans_total' | tr '\n' ' ')
echo "exporter: $spans"
