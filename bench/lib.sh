# Shared by the benchmarks that bring staging up with `hut up` (sourced, not
# run): a temporary HOME and state folder, a random control-API port, cleanup
# on exit, and small helpers. Expects build_dir set and the repository as the
# current folder; sets bin, work, up_pid and load_pid.

bench_setup() {  # bench_setup NAME
  bin=$(cd "$build_dir/bin" && pwd)
  work=$(mktemp -d "/tmp/hut-$1-XXXXXX")
  chmod 755 "$work"
  export HOME=$work
  export HUT_ADDR=127.0.0.1:$(shuf -i 20000-32000 -n 1)
  up_pid=""
  load_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -n "$load_pid" ] && kill -INT "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
  if [ -n "$up_pid" ]; then
    "$bin/hut" down >/dev/null 2>&1 || kill -TERM "$up_pid"
    wait "$up_pid" 2>/dev/null
  fi
  rm -rf "$work"
}

# hut_up SPEC: `hut up --env staging` on SPEC, in the background; returns
# once its API answers, exits when it does not start.
hut_up() {
  # No Prometheus: the figures are hut's and the replicas' alone.
  "$bin/hut" up -f "$1" --env staging --state "$work/state" --prometheus-port off --alertmanager-port off --jaeger-port off \
    >"$work/up.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 600); do
    "$bin/hut" rollout history backend >/dev/null 2>&1 && return 0
    kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.log"; exit 1; }
    sleep 0.2
  done
  echo "hut up did not answer" >&2
  exit 1
}

stop_load() { kill -INT "$load_pid"; wait "$load_pid"; load_pid=""; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
api() { curl -fs -H "Authorization: Bearer $(cat "$work/state/admin-token")" "http://$HUT_ADDR$1"; }
# Seconds between two RFC 3339 timestamps: between T1 T2 [DECIMALS (2)].
between() { python3 -c 'import sys,datetime as d; f=lambda s: d.datetime.fromisoformat(s.replace("Z","+00:00")); print("%.*f" % (int(sys.argv[3]), (f(sys.argv[2])-f(sys.argv[1])).total_seconds()))' "$1" "$2" "${3:-2}"; }
