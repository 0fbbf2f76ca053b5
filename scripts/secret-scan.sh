#!/bin/bash
# Scans every file of the repository for secrets (keys, tokens, passwords,
# private keys, high-entropy strings) with Yelp's detect-secrets (PyPI,
# pinned, installed once into ~/.cache/hut/detect-secrets/<version>/).
# Exit 1 and each finding (file, line, kind) when anything is found. A
# deliberate exception (a published test vector, a fixture) carries the
# comment `pragma: allowlist secret` on its line, with the reason beside it.
#
#   scripts/secret-scan.sh [build]
set -euo pipefail

VERSION=1.5.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${HUT_DETECT_SECRETS_CACHE:-$HOME/.cache/hut/detect-secrets}/$VERSION
BIN=$CACHE/venv/bin

build() {
  [ -f "$CACHE/installed" ] && return
  mkdir -p "$(dirname "$CACHE")"
  exec 9> "$CACHE.lock"
  flock 9
  [ -f "$CACHE/installed" ] && return
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hut-detect-secrets.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  echo "secret-scan: installing detect-secrets==$VERSION into $CACHE" >&2
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  python3 -m venv "$CACHE/venv"
  PIP_CACHE_DIR=$WORK "$BIN/pip" install --quiet --disable-pip-version-check "detect-secrets==$VERSION"
  touch "$CACHE/installed"
}

build
[ "${1:-}" = build ] && exit 0
cd "$ROOT"
# The repository's files: git's list in a clone, else everything but builds.
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t files < <(git ls-files)
else
  mapfile -t files < <(find . -type f -not -path './build*' -not -path './.git/*' | sed 's|^\./||')
fi
out=$("$BIN/detect-secrets" scan "${files[@]}")
python3 - "$out" <<'PY'
import json, sys
results = json.loads(sys.argv[1])["results"]
n = 0
for path, found in sorted(results.items()):
    for f in found:
        n += 1
        print(f"secret-scan: {path}:{f['line_number']}: {f['type']}")
print(f"secret-scan: {n} possible secrets in the repository" if n else "secret-scan: nothing found")
sys.exit(1 if n else 0)
PY
