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
. "$(dirname "$0")/../scripts/local-stack.sh"
trap stack_stop EXIT

stack_start_services "$bin"
"$bin/foohut-api" migrate up >/dev/null
port=$(stack_free_port)
stack_start_api "$bin" "$port" FOOHUT_ENV=development FOOHUT_LOG_LEVEL=WARN
base="http://127.0.0.1:$port"

id=$(stack_seed_page "$base")

echo "foohut-api on $base: wrk -t$threads -c$connections -d$duration (nproc=$(nproc))"
printf '%-28s %12s %10s %10s  %s\n' endpoint "requests/s" P50 P99 errors
for path in /healthz "/api/v1/pages/$id"; do
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$base$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
  printf '%-28s %12s %10s %10s  %s\n' "GET $path" "$rps" "$p50" "$p99" "${errors:-none}"
done
