# Sourced by the scripts that run a Python tool from PyPI (moto.sh,
# secret-scan.sh): installs it once, by exact version, into its own
# virtualenv in a cache outside the checkout.
#
#   python_tool_install CACHE REQUIREMENT   e.g. ~/.cache/hut/moto/5.1.22 'moto[server]==5.1.22'
#
# CACHE/venv holds it, CACHE/installed marks it complete; one install at a
# time (tests running in parallel may all ask); pip's downloads are deleted.

python_tool_install() {
  local cache=$1 requirement=$2 start=$SECONDS work
  [ -f "$cache/installed" ] && return
  mkdir -p "$(dirname "$cache")"
  exec 9> "$cache.lock"
  flock 9
  if [ ! -f "$cache/installed" ]; then
    echo "$(basename "$0"): installing $requirement into $cache" >&2
    work=$(mktemp -d "${TMPDIR:-/tmp}/hut-pip.XXXXXX")
    rm -rf "$cache"   # what an interrupted install left
    mkdir -p "$cache"
    python3 -m venv "$cache/venv" &&
      PIP_CACHE_DIR=$work "$cache/venv/bin/pip" install --quiet --disable-pip-version-check "$requirement"
    local rc=$?
    rm -rf "$work"
    [ $rc -eq 0 ] || { echo "$(basename "$0"): installing $requirement failed" >&2; exec 9>&-; return 1; }
    touch "$cache/installed"
    echo "$(basename "$0"): installed in $((SECONDS - start)) s" >&2
  fi
  exec 9>&-
}
