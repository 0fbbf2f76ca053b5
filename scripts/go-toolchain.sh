# Sourced by the scripts that build Go programs from the module proxy
# (k8s-testbed.sh, jaeger.sh); the caller defines log and die.
# A Go of at least $GO_MIN on PATH: the machine's, else Go's own toolchain
# module from the module proxy, cached next to the binaries' cache.
GO_TOOLCHAIN=1.26.8
GO_MIN=1.26
ensure_go() {
  local v
  if v=$(go env GOVERSION 2> /dev/null) && [ "$(printf '%s\n' "go$GO_MIN" "$v" | sort -V | head -1)" = "go$GO_MIN" ]; then
    return
  fi
  local root=${HUT_K8S_CACHE:-$HOME/.cache/hut/k8s}/go-$GO_TOOLCHAIN
  if [ ! -x "$root/bin/go" ]; then
    log "no Go >= $GO_MIN here: fetching go$GO_TOOLCHAIN from the module proxy"
    local zip; zip=$(mktemp "${TMPDIR:-/tmp}/go-toolchain.XXXXXX.zip")
    curl -fsSL -o "$zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_TOOLCHAIN.linux-amd64.zip" ||
      { rm -f "$zip"; die "could not fetch the Go toolchain"; }
    rm -rf "$root.tmp"; mkdir -p "$root.tmp"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$root.tmp"
    rm -f "$zip"
    # the module zip holds golang.org/toolchain@VERSION/ at its top
    mv "$root.tmp"/golang.org/toolchain@*/ "$root"; rm -rf "$root.tmp"
    chmod -R u+x "$root/bin" "$root/pkg/tool"
  fi
  export PATH=$root/bin:$PATH GOROOT=$root
}
