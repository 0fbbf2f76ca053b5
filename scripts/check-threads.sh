#!/usr/bin/env bash
# Thread checks (STYLE.md rule 12), run by .ci/run after `make test`:
#   1. builds the whole tree with clang, -Wthread-safety -Werror=thread-safety
#      (clang's analysis of ABSL_GUARDED_BY & co.; other warnings stay
#      warnings) and -fsanitize=thread, in one build: $BUILD_DIR (build-tsan);
#   2. runs the unit tests (ctest label "unit") and the integration tests
#      listed in TSAN_INTEGRATION under ThreadSanitizer; any report fails the
#      test (halt_on_error), and so the script.
# Debian's abseil is not TSan-instrumented: testing/tsan_absl.cc (linked in
# with -DHUT_TSAN=ON) tells TSan what absl::Mutex and CondVar synchronize;
# scripts/tsan.supp suppresses reports from inside uninstrumented libraries.
# The heaviest integration tests (hut_up_e2e_test, foohut_api_integration_test,
# store_suite_test with PostgreSQL) are left to `make test`.
#
# Time, measured here (2 cores): the build from nothing 6 min 24 s, the tests
# under TSan 59 s; the script prints both. Benchmarks (bench/) are not built:
# they replace operator new, as TSan does.
# Usage: scripts/check-threads.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-tsan}
jobs=${JOBS:-$(nproc)}
TSAN_INTEGRATION=${TSAN_INTEGRATION:-"rollout_e2e_test|local_test"}

bash scripts/install-deps.sh
start=$(date +%s)
# Configured every time, so that a reused folder has these flags.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DHUT_TSAN=ON \
  "-DCMAKE_CXX_FLAGS=-Wthread-safety -Werror=thread-safety" >/dev/null
cmake --build "$build_dir" -j "$jobs"
built=$(date +%s)
echo "check-threads: built with -Wthread-safety and TSan in $((built - start)) s"

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -L unit || status=1
if [ -n "$TSAN_INTEGRATION" ]; then
  ctest --test-dir "$build_dir" --output-on-failure -R "^($TSAN_INTEGRATION)\$" || status=1
fi
echo "check-threads: tests under TSan in $(($(date +%s) - built)) s"
exit "$status"
