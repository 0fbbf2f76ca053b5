# Sourced by the demo and the benchmarks: start and stop PostgreSQL, Redis and
# foohut-api on loopback. Every process started here is stopped by PID in
# stack_stop, which the caller installs as its EXIT trap.
#
#   . scripts/local-stack.sh; trap stack_stop EXIT
#   stack_start_services BIN_DIR    # sets FOOHUT_DATABASE_URL, FOOHUT_REDIS_URL
#   stack_start_api BIN_DIR PORT [VAR=VALUE...]   # waits until /readyz answers 200
#   id=$(stack_seed_page BASE_URL)  # a user and one page through the API; prints its id

stack_state=$(mktemp -d /tmp/hut-stack-XXXXXX)
chmod 755 "$stack_state"  # PostgreSQL runs as "postgres" and must reach its folder
stack_services_pid=""
stack_api_pid=""

stack_stop() {
  if [ -n "$stack_api_pid" ]; then
    kill "$stack_api_pid" 2>/dev/null && wait "$stack_api_pid" 2>/dev/null
    stack_api_pid=""
  fi
  if [ -n "$stack_services_pid" ]; then
    kill "$stack_services_pid" 2>/dev/null && wait "$stack_services_pid" 2>/dev/null
    stack_services_pid=""
  fi
  rm -rf "$stack_state"
}

# A loopback TCP port nobody listens on.
stack_free_port() {
  local p
  while true; do
    p=$(shuf -i 20000-32000 -n 1)
    [ -z "$(ss -Htln "sport = :$p")" ] && { echo "$p"; return; }
  done
}

stack_start_services() {
  "$1/hut-dev-services" "$stack_state" >/dev/null &
  stack_services_pid=$!
  for _ in $(seq 1 300); do [ -f "$stack_state/env" ] && break; sleep 0.1; done
  if [ ! -f "$stack_state/env" ]; then
    echo "PostgreSQL and Redis did not start" >&2
    return 1
  fi
  set -a
  . "$stack_state/env"
  set +a
}

stack_start_api() {
  local bin=$1 port=$2
  shift 2
  env PORT="$port" "$@" "$bin/foohut-api" serve >"$stack_state/api.log" 2>&1 &
  stack_api_pid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "foohut-api did not become ready; its log:" >&2
  cat "$stack_state/api.log" >&2
  return 1
}

stack_seed_page() {
  local base=$1 token
  curl -fs -X POST "$base/api/v1/signup" -H 'Content-Type: application/json' \
    -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' >/dev/null  # pragma: allowlist secret (the benchmark's user)
  token=$(curl -fs -X POST "$base/api/v1/login" -H 'Content-Type: application/json' \
    -d '{"email": "bench@foohut.com", "password": "benchmark-password"}' | jq -r .token)  # pragma: allowlist secret (the benchmark's user)
  curl -fs -X POST "$base/api/v1/pages" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" \
    -d '{"title": "Benchmark page", "body": "A page read many times."}' | jq -r .id
}
