#!/usr/bin/env bash
# The F1 demo: real PostgreSQL, Redis and one foohut-api on loopback, a few
# real requests through it, then a clean stop. Every process it starts is
# stopped by PID on exit, also on Ctrl-C or failure.
set -euo pipefail
build_dir=${1:-build}
bin="$build_dir/bin"
. "$(dirname "$0")/local-stack.sh"
trap stack_stop EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; echo; }

step "Validate the spec"
show "$bin/hut" validate -f foohut.yaml

step "Start PostgreSQL 15 and Redis 7 on loopback (state in $stack_state)"
stack_start_services "$bin"
echo "FOOHUT_DATABASE_URL=$FOOHUT_DATABASE_URL"
echo "FOOHUT_REDIS_URL=$FOOHUT_REDIS_URL"

step "Apply database migrations"
show "$bin/foohut-api" migrate up

step "Start foohut-api v1.0.0"
keys="$stack_state/jwt-keys.json"
printf '{"active_kid": "demo-1", "keys": {"demo-1": "%s"}}\n' \
  "$(head -c 32 /dev/urandom | base64 -w0)" >"$keys"
chmod 600 "$keys"
port=$(stack_free_port)
stack_start_api "$bin" "$port" FOOHUT_VERSION=1.0.0 FOOHUT_ENV=staging FOOHUT_JWT_KEYS_FILE="$keys"
base="http://127.0.0.1:$port"
echo "listening on $base"

req() {  # req METHOD PATH [BODY] [TOKEN]: prints the body and the status
  local args=(-s -w '\n-> HTTP %{http_code}\n' -X "$1" "$base$2" -H 'Content-Type: application/json')
  [ -n "${3:-}" ] && args+=(-d "$3")
  [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
  printf '$ curl -X %s %s %s\n' "$1" "$2" "${3:-}"
  curl "${args[@]}"
  echo
}

step "Requests"
req GET /healthz
req GET /readyz
req POST /api/v1/signup '{"email": "ada@foohut.com", "password": "correct horse battery"}'
token=$(curl -fs -X POST "$base/api/v1/login" -H 'Content-Type: application/json' \
  -d '{"email": "ada@foohut.com", "password": "correct horse battery"}' | jq -r .token)
echo "login -> token ${token:0:24}..."
echo
page=$(curl -fs -X POST "$base/api/v1/pages" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" \
  -d '{"title": "Deploying Foohut", "body": "Canary releases watch error rates before promotion."}')
echo "created page: $page"
id=$(jq -r .id <<<"$page")
echo
req GET "/api/v1/pages/$id"
echo "Read it again with a W3C traceparent: answered from the Redis cache, trace id kept:"
printf '$ curl -i -H "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" /api/v1/pages/%s\n' "$id"
curl -si "$base/api/v1/pages/$id" \
  -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' |
  grep -iE '^(HTTP|traceparent|x-request-id|x-cache)'
echo
req GET "/api/v1/pages?q=canary"
req POST /api/v1/pages '{"title": "no token"}'
req POST /api/v1/signup '{not json'
printf '$ curl %s/metrics | grep foohut_\n' "$base"
curl -fs "$base/metrics" | grep -E '^foohut_' || true

step "Stop foohut-api with SIGTERM (graceful shutdown)"
kill -TERM "$stack_api_pid"
code=0
wait "$stack_api_pid" || code=$?
stack_api_pid=""
echo "foohut-api exited with code $code"
echo "Its last log lines (JSON):"
tail -n 3 "$stack_state/api.log"

stack_stop
step "Demo finished: PostgreSQL, Redis and foohut-api stopped"
[ "$code" -eq 0 ]
