#!/usr/bin/env bash
# Runs every test (unit and integration) registered with ctest and ends with a
# one-line summary: "tests: N passed, N failed". Integration tests start their
# own PostgreSQL, Redis and foohut-api processes on loopback, and the
# Kubernetes ones their own control plane (scripts/k8s-testbed.sh).
set -uo pipefail
build_dir=${1:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# What the tests need from outside Debian, built or installed once per machine
# into ~/.cache/hut and reused: the Kubernetes test control plane and Jaeger
# (Go, from the module proxy; minutes), moto's server and detect-secrets
# (PyPI; under a minute). A failure fails the run: those tests are never
# skipped.
for tool in k8s-testbed.sh jaeger.sh moto.sh secret-scan.sh; do
  if ! bash "$(dirname "$0")/$tool" build; then
    echo "tests: 0 passed, 1 failed (scripts/$tool build failed)"
    exit 1
  fi
done

ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
if [ -n "$summary" ]; then
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
  echo "tests: $((total - failed)) passed, $failed failed"
else
  echo "tests: 0 passed, 1 failed (ctest printed no summary)"
  status=1
fi
exit "$status"
