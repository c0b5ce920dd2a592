#!/bin/sh
# bench/load_throughput.sh: how many requests/s levee-load sustains from one core.
# Usage: bench/load_throughput.sh [BUILD_DIR] [RATE_USERS] [SECONDS]
#   Runs against levee-sim (zero service time) from BUILD_DIR when it exists, else against
#   nginx with a `return 200` config in a temp dir. Users fetch 10 paths each on one
#   keep-alive connection, so requests/s = 10 x users/s. levee-load is pinned to CPU 0 and
#   the server to CPU 1 when taskset exists. Prints the achieved requests/s and the
#   scheduling lag (large lag means levee-load could not keep up). Only 127.0.0.1.
set -eu
BUILD=${1:-build}
USERS=${2:-2500}
SECS=${3:-10}
LOAD="$BUILD/levee-load"
SIM="$BUILD/levee-sim"
TMP=$(mktemp -d /tmp/lv-load-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    if [ -f "$TMP/nginx.pid" ]; then kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true; fi
    sleep 0.2
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
PIN0=""; PIN1=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then PIN0="taskset -c 0"; PIN1="taskset -c 1"; fi
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PORT=$(free_port)
if [ -x "$SIM" ] && [ "${LV_BENCH_SERVER:-sim}" = sim ]; then
    $PIN1 "$SIM" --listen "127.0.0.1:$PORT" --workers 64 --service-ms 0 --log-level warn &
    SERVER_PID=$!
    SERVER="levee-sim (64 workers, 0 ms)"
else
    mkdir -p "$TMP/logs"
    cat >"$TMP/nginx.conf" <<NGX
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $TMP; proxy_temp_path $TMP; fastcgi_temp_path $TMP;
    uwsgi_temp_path $TMP; scgi_temp_path $TMP;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$PORT; location / { return 200 "ok\n"; } }
}
NGX
    $PIN1 nginx -c "$TMP/nginx.conf" -p "$TMP" -g 'daemon off;' &
    SERVER_PID=$!
    SERVER="nginx (return 200)"
fi
i=0
until python3 -c "import socket;socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "server did not start" >&2; exit 1; }; sleep 0.1
done
J=/,/,/,/,/,/,/,/,/,/
$PIN0 "$LOAD" --target "http://127.0.0.1:$PORT/" --rate "$USERS" --duration "$SECS" \
    --journey "$J" --patience-ms 2000 --max-conns 20000 --quiet --json "$TMP/out.json" >/dev/null
python3 - "$TMP/out.json" "$SERVER" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("server: %s" % sys.argv[2])
print("levee-load: %.0f requests/s (offered %.0f users/s x 10), goodput %.0f/s, "
      "user success %.1f %%, p99 %.2f ms, schedule lag max %.1f ms, errors %s" % (
      j["requests_per_s"], j["offered_users_per_s"], j["goodput_per_s"],
      100 * (j["user_success_rate"] or 0), j["latency_ms"]["p99"], j["schedule_lag_ms_max"],
      {k: v for k, v in j["errors"].items() if v}))
PY
