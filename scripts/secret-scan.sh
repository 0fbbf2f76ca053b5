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

# shellcheck source=scripts/python-tool.sh
. "$ROOT/scripts/python-tool.sh"
python_tool_install "$CACHE" "detect-secrets==$VERSION"
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
