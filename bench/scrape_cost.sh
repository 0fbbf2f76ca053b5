#!/usr/bin/env bash
# Benchmark: what one replica costs Prometheus, and what being scraped costs
# the replica (F7). One foohut-api (metrics on, a few routes warmed so its
# histograms have series) on the local PostgreSQL and Redis.
#
#   1. the replica's side: N scrapes of /metrics one after another: bytes and
#      samples per scrape, and foohut-api's own CPU time per scrape (/proc);
#   2. Prometheus's side: Debian's Prometheus scraping K targets every second
#      for DURATION seconds, for each K in TARGETS. Every target is the same
#      replica under its own `replica` label (file_sd, as hut up writes it),
#      so K targets are K replicas' worth of series. Prometheus's CPU time and
#      resident memory, and its head series, per K; the per-target cost is the
#      slope between the smallest and the largest K.
#
#   bench/scrape_cost.sh [BUILD_DIR] [SCRAPES] [DURATION] [TARGETS]
#   (defaults: build 500 30 "1 10 50")
set -euo pipefail
build_dir=${1:-build}
scrapes=${2:-500}
duration=${3:-30}
read -r -a targets <<< "${4:-1 10 50}"
bin="$build_dir/bin"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/local-stack.sh"
prom_pid=""
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  stack_stop
}
trap cleanup EXIT
command -v prometheus >/dev/null || { echo "scrape_cost: prometheus not found (scripts/install-deps.sh)" >&2; exit 2; }

stack_start_services "$bin"
"$bin/foohut-api" migrate up >/dev/null
port=$(stack_free_port)
stack_start_api "$bin" "$port" FOOHUT_ENV=development FOOHUT_LOG_LEVEL=WARN FOOHUT_METRICS=on
base="http://127.0.0.1:$port"
id=$(stack_seed_page "$base")
for _ in $(seq 1 50); do
  curl -fs "$base/api/v1/pages/$id" >/dev/null
  curl -s -o /dev/null "$base/api/v1/pages/999999"  # a 404
done

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime

# 1. The replica's side.
curl -fs "$base/metrics" > "$stack_state/metrics.txt"
bytes=$(wc -c < "$stack_state/metrics.txt")
samples=$(grep -vc '^#' "$stack_state/metrics.txt")
# CPU per request on PATH, N requests one after another: "µs_cpu ms_wall".
per_request() {
  local before after start end
  before=$(cpu_ticks "$stack_api_pid"); start=$(date +%s.%N)
  for _ in $(seq 1 "$scrapes"); do curl -fs -o /dev/null "$base$1"; done
  end=$(date +%s.%N); after=$(cpu_ticks "$stack_api_pid")
  awk -v t="$((after - before))" -v hz="$ticks" -v n="$scrapes" -v s="$start" -v e="$end" \
    'BEGIN { printf "%.0f %.1f\n", t / hz / n * 1e6, (e - s) / n * 1000 }'
}
read -r scrape_us scrape_ms <<< "$(per_request /metrics)"
read -r health_us _ <<< "$(per_request /healthz)"
echo "replica: $samples samples, $bytes bytes per scrape"
echo "replica: $scrape_us µs CPU per scrape ($scrapes scrapes, $scrape_ms ms wall each with curl); a GET /healthz costs $health_us µs"

# 2. Prometheus's side, one fresh Prometheus per K.
prom_port=$(stack_free_port)
prom_query() {  # EXPR: the first sample's value
  curl -fs "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // "0"'
}
prom_self() {  # METRIC: the sum of Prometheus's own series named METRIC
  curl -fs "http://127.0.0.1:$prom_port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}
printf '%8s %12s %14s %12s %14s %12s\n' targets head_series samples/scrape cpu_s rss_MiB ms_cpu/scrape
declare -A cpu rss series
for k in "${targets[@]}"; do
  dir="$stack_state/prom-$k"
  mkdir -p "$dir"
  python3 - "$k" "127.0.0.1:$port" > "$dir/replicas.json" <<'PY'
import json, sys
k, addr = int(sys.argv[1]), sys.argv[2]
print(json.dumps([{"targets": [addr], "labels": {"environment": "bench", "service": "backend",
  "version": "1.0.0", "revision": "1", "replica": f"backend-{i}"}} for i in range(k)]))
PY
  cat > "$dir/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: replicas
    file_sd_configs: [{files: ["$dir/replicas.json"]}]
YAML
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$dir/log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 3  # past start-up and the first scrapes
  c0=$(cpu_ticks "$prom_pid")
  n0=$(prom_self prometheus_target_interval_length_seconds_count)
  sleep "$duration"
  c1=$(cpu_ticks "$prom_pid")
  n1=$(prom_self prometheus_target_interval_length_seconds_count)
  series[$k]=$(prom_self prometheus_tsdb_head_series)
  per_scrape=$(prom_query 'avg(scrape_samples_scraped)')
  rss[$k]=$(awk '/VmRSS/ { print $2 / 1024 }' "/proc/$prom_pid/status")
  cpu[$k]=$(awk -v t="$((c1 - c0))" -v hz="$ticks" 'BEGIN { print t / hz }')
  n=$(awk -v a="$n0" -v b="$n1" 'BEGIN { print b - a }')
  awk -v k="$k" -v s="${series[$k]}" -v p="$per_scrape" -v c="${cpu[$k]}" -v r="${rss[$k]}" -v n="$n" \
    'BEGIN { printf "%8d %12d %14d %12.2f %14.1f %12.3f\n", k, s, p, c, r, (n > 0 ? c / n * 1000 : 0) }'
  kill "$prom_pid"; wait "$prom_pid" 2>/dev/null || true
  prom_pid=""
done
lo=${targets[0]} hi=${targets[-1]}
if [ "$lo" != "$hi" ]; then
  awk -v lo="$lo" -v hi="$hi" -v clo="${cpu[$lo]}" -v chi="${cpu[$hi]}" -v rlo="${rss[$lo]}" \
    -v rhi="${rss[$hi]}" -v slo="${series[$lo]}" -v shi="${series[$hi]}" -v d="$duration" \
    'BEGIN { k = hi - lo;
      printf "per replica (slope %d..%d targets): %.0f series, %.2f ms Prometheus CPU per scrape, %.2f MiB resident\n",
        lo, hi, (shi - slo) / k, (chi - clo) / k / d * 1000, (rhi - rlo) / k }'
fi
