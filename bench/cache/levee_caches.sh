#!/usr/bin/env bash
# bench/cache/levee_caches.sh [BIN]: does this levee build cache? Starts levee-sim (one
# cacheable path /hot, max-age 60) and levee with a 256 MB cache in front of it, sends two
# GET /hot through levee and reads the sim's count for /hot.
# Exit 0: the sim saw 1 request (levee cached). 1: it saw 2 (no caching). 2: levee has no cache
# option or did not start. BIN: dir with levee and levee-sim (default build-cacheC).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-${BIN:-$ROOT/build-cacheC}}
WORK=$(mktemp -d /tmp/levee-caches.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { local i; for i in $(seq 1 50); do curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.1; done; return 1; }

SPORT=$(freeport); PPORT=$(freeport); ADMIN=127.0.0.1:$(freeport)
sed -e 's/^\( *max_age_s:\).*/\1 60/' -e 's/^\( *service_ms:\).*/\1 5/' "$HERE/conf/hot-item-sim.yaml" >"$WORK/sim.yaml"
"$BIN/levee-sim" -c "$WORK/sim.yaml" --listen 127.0.0.1:$SPORT --log-level warn 2>"$WORK/sim.log" &
PIDS+=($!)
up "http://127.0.0.1:$SPORT/health" $! || { echo "levee-sim did not start" >&2; exit 2; }
if "$BIN/levee" proxy --help 2>&1 | grep -q -- '--cache'; then
    MODE=quick
    "$BIN/levee" proxy --listen 127.0.0.1:$PPORT --to 127.0.0.1:$SPORT --workers 1 --admin $ADMIN \
        --cache 256MB --log-level warn 2>"$WORK/levee.log" &
elif "$BIN/levee" --config-doc 2>&1 | grep -q 'cache\.size'; then
    MODE=yaml
    sed -e "s#@PORT@#$PPORT#g" -e "s#@SIM_PORT@#$SPORT#g" -e "s#@ADMIN@#$ADMIN#g" \
        "$HERE/conf/hot-item-levee.yaml.tmpl" >"$WORK/levee.yaml"
    "$BIN/levee" -c "$WORK/levee.yaml" 2>"$WORK/levee.log" &
else
    echo "levee ($BIN/levee, built $(date -r "$BIN/levee" '+%H:%M')): no cache option (no 'proxy --cache', no cache.size)" >&2
    exit 2
fi
LPID=$!; PIDS+=($LPID)
up "http://127.0.0.1:$PPORT/health" $LPID || { echo "levee ($MODE mode) did not start:" >&2; cat "$WORK/levee.log" >&2; exit 2; }
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$SPORT/control/reset"
for i in 1 2; do
    curl -sS -D "$WORK/h$i" -o "$WORK/b$i" "http://127.0.0.1:$PPORT/hot"
done
n=$(curl -fsS "http://127.0.0.1:$SPORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/hot",{}).get("received",0))')
same=$(cmp -s "$WORK/b1" "$WORK/b2" && echo same || echo DIFFERENT)
echo "levee ($MODE mode, built $(date -r "$BIN/levee" '+%H:%M')): 2 requests for /hot, the sim received $n; bodies $same; second answer's head:" >&2
tr -d '\r' <"$WORK/h2" | sed 's/^/  /' >&2
[ "$n" = 1 ] && [ "$same" = same ]
