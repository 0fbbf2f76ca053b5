#!/bin/bash
# moto's server mode (PyPI moto[server]): AWS's APIs (S3, Secrets Manager,
# RDS, STS…) on loopback, for the tests of hut's AWS clients (docs/aws.md).
#
#   scripts/moto.sh build   create its virtualenv once into the cache
#   scripts/moto.sh bin     print the path of moto_server (building it if needed)
#
# By exact version into ~/.cache/hut/moto/<version>/ (a Python venv, marked
# complete by the file `installed`); pip's download cache is a scratch folder,
# deleted.
set -euo pipefail

MOTO=5.1.22
CACHE=${HUT_MOTO_CACHE:-$HOME/.cache/hut/moto}/$MOTO
BIN=$CACHE/venv/bin

log() { echo "moto: $*" >&2; }

build() {
  [ -f "$CACHE/installed" ] && return
  # one install at a time (tests running in parallel may all ask)
  mkdir -p "$(dirname "$CACHE")"
  exec 9> "$CACHE.lock"
  flock 9
  [ -f "$CACHE/installed" ] && return
  local start=$SECONDS
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hut-moto-build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  log "installing moto[server]==$MOTO into $CACHE"
  rm -rf "$CACHE"   # what an interrupted install left
  mkdir -p "$CACHE"
  python3 -m venv "$CACHE/venv"
  PIP_CACHE_DIR=$WORK "$BIN/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO"
  "$BIN/moto_server" --help > /dev/null
  touch "$CACHE/installed"
  log "installed in $((SECONDS - start)) s"
}

case ${1:-} in
  build) build ;;
  bin) build; echo "$BIN/moto_server" ;;
  *) echo "usage: $0 build|bin" >&2; exit 64 ;;
esac
