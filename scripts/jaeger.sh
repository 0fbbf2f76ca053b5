#!/bin/bash
# Jaeger, the trace backend of `hut up` and the tests (docs/traces.md).
#
#   scripts/jaeger.sh build   build it once into the cache (minutes; ~1 GB of Go caches, deleted)
#   scripts/jaeger.sh bin     print the path of the binary (building it if needed)
#
# Jaeger v2 (an OpenTelemetry Collector distribution: OTLP in, in-memory
# storage, the query API and UI) from the Go module proxy, by exact version,
# into ~/.cache/hut/jaeger/<version>/bin; only the binary is kept.
set -euo pipefail

JAEGER=v1.75.0   # the Go module's version of the Jaeger v2 release; cmd/jaeger is v2
CACHE=${HUT_JAEGER_CACHE:-$HOME/.cache/hut/jaeger}/$JAEGER
BIN=$CACHE/bin

log() { echo "jaeger: $*" >&2; }
die() { log "$*"; exit 1; }

build() {
  [ -x "$BIN/jaeger" ] && return
  # shellcheck source=scripts/go-toolchain.sh
  . "$(dirname "$0")/go-toolchain.sh"
  ensure_go  # a toolchain from the proxy when the machine's Go is too old
  local start=$SECONDS
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hut-jaeger-build.XXXXXX")
  # the Go caches (~1 GB) live only as long as the build
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
  export GOMODCACHE=$WORK/gomod GOCACHE=$WORK/gocache GOPATH=$WORK/gopath
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  log "building github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER"
  mkdir -p "$WORK/mod" "$BIN"
  cd "$WORK/mod"
  go mod init hut.local/jaeger > /dev/null 2>&1
  go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER" > /dev/null
  go build -trimpath -ldflags='-s -w' -o "$BIN/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  mv "$BIN/jaeger.tmp" "$BIN/jaeger"
  log "built in $((SECONDS - start)) s into $BIN"
}

case ${1:-} in
  build) build ;;
  bin) build; echo "$BIN/jaeger" ;;
  *) echo "usage: $0 build|bin" >&2; exit 64 ;;
esac
