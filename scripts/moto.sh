#!/bin/bash
# moto's server mode (PyPI moto[server]): AWS's APIs (S3, Secrets Manager,
# RDS, STS…) on loopback, for the tests of hut's AWS clients (docs/aws.md).
#
#   scripts/moto.sh build   create its virtualenv once into the cache
#   scripts/moto.sh bin     print the path of moto_server (building it if needed)
#
# By exact version into ~/.cache/hut/moto/<version>/ (scripts/python-tool.sh).
set -euo pipefail

MOTO=5.1.22
CACHE=${HUT_MOTO_CACHE:-$HOME/.cache/hut/moto}/$MOTO
BIN=$CACHE/venv/bin

# shellcheck source=scripts/python-tool.sh
. "$(dirname "$0")/python-tool.sh"

build() {
  python_tool_install "$CACHE" "moto[server]==$MOTO"
  "$BIN/moto_server" --help > /dev/null
}

case ${1:-} in
  build) build ;;
  bin) build; echo "$BIN/moto_server" ;;
  *) echo "usage: $0 build|bin" >&2; exit 64 ;;
esac
