#!/usr/bin/env bash
# Runs every benchmark (by hand: `make bench`). Figures go to docs/ and notes.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
bash bench/foohut_api_wrk.sh "$build_dir"
bash bench/rollout_bench.sh "$build_dir"
bash bench/canary_bench.sh "$build_dir"
# The control plane's canary work for 1 to 1,000 canaries at once.
"$build_dir/bin/canary_controller_bench"
# Canary judges compared on the same simulated runs (docs/analysis.md).
"$build_dir/bin/judges_bench"
# KubernetesRuntime with 1,000 services on the test control plane (minutes).
"$build_dir/bin/kubernetes_bench"
# The central log store: ingestion rate and query times over 10 M lines (minutes, ~5 GB of scratch).
"$build_dir/bin/log_store_bench" --lines 10000000
# What metrics and tracing cost foohut-api (paired wrk runs, a real Jaeger).
bash bench/telemetry_cost.sh "$build_dir"
