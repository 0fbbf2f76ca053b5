#!/usr/bin/env bash
# Installs every Debian package hut needs to build, test and run its demo.
# Idempotent: does nothing when all packages are present; runs `apt-get update`
# once, only when something is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config make
  # scripts/check-threads.sh: clang's -Wthread-safety and its TSan runtime
  clang libclang-rt-14-dev
  # libraries
  libboost-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libsodium-dev
  libsqlite3-dev libpqxx-dev libhiredis-dev prometheus-cpp-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the log store's cold archives; S3's XML answers
  libzstd-dev libpugixml-dev
  # scripts/moto.sh: moto's server (AWS's APIs for the tests) in a virtualenv
  python3-venv
  # the Kubernetes runtime's HTTPS client
  libcurl4-openssl-dev
  # scripts/k8s-testbed.sh: builds the test control plane (Go from the module proxy) and its PKI
  openssl python3 python3-yaml
  # servers and tools used by tests, the demo and benchmarks
  postgresql-15 redis-server haproxy wrk curl jq iproute2 bubblewrap util-linux procps
  # the canary analysis on Kubernetes reads Prometheus (tests run a real one);
  # `hut up` runs one with the exporters of the machine, PostgreSQL and Redis
  prometheus prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter
  # `hut up`'s Alertmanager, and amtool check-config of the generated configuration
  prometheus-alertmanager
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Package post-install scripts must not start system-wide servers: tests start
# their own on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
