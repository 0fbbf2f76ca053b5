#!/usr/bin/env bash
# Runs every test (unit and integration) registered with ctest and ends with a
# one-line summary: "tests: N passed, N failed". Integration tests start their
# own PostgreSQL, Redis and foohut-api processes on loopback, and the
# Kubernetes ones their own control plane (scripts/k8s-testbed.sh).
set -uo pipefail
build_dir=${1:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The Kubernetes tests' control plane: built once per machine (minutes), then
# cached (scripts/k8s-testbed.sh). A failed build fails the run: those tests
# are never skipped.
if ! bash "$(dirname "$0")/k8s-testbed.sh" build; then
  echo "tests: 0 passed, 1 failed (the Kubernetes test control plane did not build)"
  exit 1
fi

# The trace backend (Jaeger v2 from the Go module proxy): built once per
# machine (about 4 minutes), then cached (scripts/jaeger.sh).
if ! bash "$(dirname "$0")/jaeger.sh" build; then
  echo "tests: 0 passed, 1 failed (Jaeger did not build)"
  exit 1
fi

# moto's server (AWS's APIs for the AWS clients' tests, PyPI): installed once
# per machine (under a minute), then cached (scripts/moto.sh).
if ! bash "$(dirname "$0")/moto.sh" build; then
  echo "tests: 0 passed, 1 failed (moto did not install)"
  exit 1
fi

# The secret scanner (detect-secrets, PyPI): installed once per machine.
if ! bash "$(dirname "$0")/secret-scan.sh" build; then
  echo "tests: 0 passed, 1 failed (detect-secrets did not install)"
  exit 1
fi

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
