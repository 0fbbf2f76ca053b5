#!/usr/bin/env bash
# Benchmark: foohut-api under wrk on loopback, against real PostgreSQL and Redis.
# Reports requests/s and P50/P99 latency for GET /healthz and
# GET /api/v1/pages/{id} (served from the Redis cache after the first read).
#
#   bench/foohut_api_wrk.sh [BUILD_DIR] [DURATION] [CONNECTIONS] [THREADS]
#
# Run by hand (make bench); never part of make test. Machines here are noisy:
# compare figures taken in one run, quote medians of several runs.
set -euo pipefail
build_dir=${1:-build}
duration=${2:-10s}
connections=${3:-50}
threads=${4:-2}
bin="$build_dir/bin"
state=$(mktemp -d /tmp/hut-bench-XXXXXX)
chmod 755 "$state"
services_pid=""
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  [ -n "$services_pid" ] && kill "$services_pid" 2>/dev/null && wait "$services_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

"$bin/hut-dev-services" "$state" >/dev/null &
services_pid=$!
for _ in $(seq 1 300); do [ -f "$state/env" ] && break; sleep 0.1; done
set -a; . "$state/env"; set +a
"$bin/foohut-api" migrate up >/dev/null

port=$(shuf -i 20000-32000 -n 1)
while [ -n "$(ss -Htln "sport = :$port")" ]; do port=$(shuf -i 20000-32000 -n 1); done
PORT=$port FOOHUT_ENV=development FOOHUT_LOG_LEVEL=WARN "$bin/foohut-api" serve \
  >"$state/api.log" 2>&1 &
api_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

curl -fs -X POST "$base/api/v1/signup" -H 'Content-Type: application/json' \
  -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' >/dev/null
token=$(curl -fs -X POST "$base/api/v1/login" -H 'Content-Type: application/json' \
  -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' | jq -r .token)
id=$(curl -fs -X POST "$base/api/v1/pages" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" \
  -d '{"title": "Benchmark page", "body": "A page read many times."}' | jq -r .id)

echo "foohut-api on $base: wrk -t$threads -c$connections -d$duration (nproc=$(nproc))"
printf '%-28s %12s %10s %10s %10s\n' endpoint "requests/s" P50 P99 errors
for path in /healthz "/api/v1/pages/$id"; do
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$base$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  printf '%-28s %12s %10s %10s %10s\n' "GET $path" "$rps" "$p50" "$p99" "${errors:-0}"
done
