#!/usr/bin/env bash
# bench/cache/hot_item.sh: the hot-item bench of issue 5.
#
#   bench/cache/hot_item.sh [--setups nginx,nginx-lock,haproxy,levee] [--out results/hot-item]
#
# Thousands of users per second on ONE cacheable page (bench/scenarios/hot-item.yaml: 3,000
# users/s for 40 s, one GET /hot each) in front of a small slow backend (levee-sim with
# bench/cache/conf/hot-item-sim.yaml: 4 workers x 100 ms, /hot with Cache-Control:
# max-age=2). For each setup: a fresh sim, the proxy with its cache (one worker), levee-load,
# a poller of the sim's /stats (backend requests for /hot every 100 ms) and a prober that
# checks the answers through the proxy every 5 s. Then a table (results/hot-item.md, .json)
# and an HTML report with the plots (results/hot-item.html). Setups:
#   nginx       proxy_cache + proxy_cache_lock + revalidate + use_stale updating + background
#               update (a competent operator's settings for a hot page)
#   nginx-lock  proxy_cache + proxy_cache_lock + revalidate, no stale serving
#   haproxy     HAProxy 2.6 "cache" section (no coalescing)
#   levee       levee with cache.size 256m, everything else default (guard on)
#   direct      no proxy (reference: what the backend gets without a cache)
# Method and configs: bench/cache/README.md. Everything listens on 127.0.0.1 on ports picked
# free at run time; every process started here is stopped (by PID) on exit.
#
# Environment: BIN (dir with levee, levee-sim, levee-load; default build-cacheC), RATE (users/s,
# 3000), DURATION (s, 40), HOT_MAX_AGE (s, 2), HOT_SERVICE_MS (100), MAX_LOAD (3: wait up to
# 10 min for the 1-minute load average to fall under it before each setup), KEEP=1 (keep the
# work dir).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

SETUPS=nginx,nginx-lock,haproxy,levee
OUT=$HERE/results/hot-item
while [ $# -gt 0 ]; do
    case $1 in
        --setups) SETUPS=${2:?}; shift 2 ;;
        --setups=*) SETUPS=${1#*=}; shift ;;
        --out) OUT=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "hot_item.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac

BIN=${BIN:-$ROOT/build-cacheC}
RATE=${RATE:-3000}
DURATION=${DURATION:-40}
HOT_MAX_AGE=${HOT_MAX_AGE:-2}
HOT_SERVICE_MS=${HOT_SERVICE_MS:-100}
MAX_LOAD=${MAX_LOAD:-3}
SCEN=$ROOT/bench/scenarios/hot-item.yaml
SIMCONF=$HERE/conf/hot-item-sim.yaml

for s in ${SETUPS//,/ }; do
    case $s in direct|nginx|nginx-lock|haproxy|levee) ;; *) echo "hot_item.sh: unknown setup '$s'" >&2; exit 2 ;; esac
done
for tool in curl python3 nginx haproxy; do
    command -v $tool >/dev/null || { echo "hot_item.sh: missing $tool (scripts/deps.sh)" >&2; exit 1; }
done
for b in levee levee-sim levee-load; do
    [ -x "$BIN/$b" ] || { echo "hot_item.sh: missing $BIN/$b; build: cmake -S . -B build-cacheC -DCMAKE_BUILD_TYPE=RelWithDebInfo && make -C build-cacheC -j2 levee levee-sim levee-load" >&2; exit 1; }
done

# How levee is given its cache: quick mode --cache, else the YAML key cache.size.
LEVEE_MODE=none
if "$BIN/levee" proxy --help 2>&1 | grep -q -- '--cache'; then
    LEVEE_MODE=quick
elif "$BIN/levee" --config-doc 2>&1 | grep -q 'cache\.size'; then
    LEVEE_MODE=yaml
fi
case ",$SETUPS," in *,levee,*)
    if [ $LEVEE_MODE = none ]; then
        echo "hot_item.sh: this levee ($BIN/levee) has no cache option (neither 'levee proxy --cache' nor cache.size); drop levee from --setups or rebuild" >&2
        exit 1
    fi ;;
esac

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RAW=$(dirname "$OUT")/raw/$(basename "$OUT")
rm -rf "$RAW"; mkdir -p "$RAW"
WORK=$(mktemp -d /tmp/levee-hot-item.XXXXXX)
chmod 755 "$WORK"
# nginx's cache files live in memory (tmpfs) when /dev/shm exists, like levee's cache; the
# nginx worker (www-data/nobody) must be able to write there.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then CACHE_DIR=$(mktemp -d /dev/shm/levee-hot-item-nginx.XXXXXX); else CACHE_DIR=$WORK/nginx-cache; mkdir -p "$CACHE_DIR"; fi
chmod 777 "$CACHE_DIR"

PIDS=()
stop_pid() {
    local p=$1 i q keep=()
    for q in "${PIDS[@]:-}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]:-}")
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
    rm -rf "$CACHE_DIR"
    [ "${KEEP:-0}" = 1 ] && echo "# work dir kept: $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL PID NAME LOG
    local i
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "hot_item.sh: $3 exited; its log:" >&2; cat "$4" >&2; exit 1; }
        sleep 0.1
    done
    echo "hot_item.sh: $3 did not answer on $1; its log:" >&2; cat "$4" >&2; exit 1
}
load1() { cut -d' ' -f1 /proc/loadavg; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_load() { # wait up to 10 min for the 1-minute load average to fall to MAX_LOAD or below
    local i
    for i in $(seq 1 40); do
        python3 -c "import sys; sys.exit(0 if float('$(load1)') <= $MAX_LOAD else 1)" && return 0
        [ "$i" = 1 ] && echo "# load average $(loadavg) > $MAX_LOAD: waiting (up to 10 min)" >&2
        sleep 15
    done
    echo "# load average still $(loadavg) after 10 min: running anyway" >&2
}
fill() { # TEMPLATE: @DIR@ @PORT@ @SIM_PORT@ @ADMIN@ @CACHE_DIR@ @STALE@
    sed -e "s#@DIR@#$WORK#g" -e "s#@PORT@#$PPORT#g" -e "s#@SIM_PORT@#$SPORT#g" \
        -e "s#@ADMIN@#${ADMIN:-127.0.0.1:0}#g" -e "s#@CACHE_DIR@#$CACHE_DIR/$PPORT#g" \
        "$1" | sed -e "s|@STALE@|${STALE:-}|g"
}

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LEVEE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
LEVEE_DIRTY=$(cd "$ROOT" && git status --porcelain -- src 2>/dev/null | wc -l)
[ "$LEVEE_DIRTY" -gt 0 ] && LEVEE_REV="$LEVEE_REV + $LEVEE_DIRTY uncommitted paths under src/"
LEVEE_REV="$LEVEE_REV, binary built $(date -u -r "$BIN/levee" '+%Y-%m-%d %H:%M UTC') ($LEVEE_MODE mode)"
SIMDESC="levee-sim -c bench/cache/conf/hot-item-sim.yaml: 4 workers x ${HOT_SERVICE_MS} ms fixed, capacity $((4000 / HOT_SERVICE_MS))/s"
echo "# hot-item: $RATE users/s for $DURATION s on /hot (max-age $HOT_MAX_AGE s, service $HOT_SERVICE_MS ms), setups $SETUPS, load $(loadavg)" >&2

sed -e "s#^\( *max_age_s:\).*#\1 $HOT_MAX_AGE#" -e "s#^\( *service_ms:\).*#\1 $HOT_SERVICE_MS#" "$SIMCONF" >"$WORK/sim.yaml"
META=$RAW/meta.tsv
: >"$META"
n=0; total=$(echo "${SETUPS//,/ }" | wc -w)
for setup in ${SETUPS//,/ }; do
    n=$((n + 1))
    wait_load
    SPORT=$(freeport)
    "$BIN/levee-sim" -c "$WORK/sim.yaml" --listen 127.0.0.1:$SPORT --log-level warn 2>"$WORK/$setup-sim.log" &
    SIM_PID=$!; PIDS+=("$SIM_PID")
    wait_http "http://127.0.0.1:$SPORT/health" $SIM_PID levee-sim "$WORK/$setup-sim.log"

    PPID_=""; ADMIN=""; STALE=""
    PPORT=$(freeport)
    case $setup in
        direct) PPORT=$SPORT ;;
        nginx|nginx-lock)
            if [ $setup = nginx ]; then
                # Serve the stale copy while ONE request refreshes it, in the background.
                STALE='            proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;\n            proxy_cache_background_update on;'
            else
                STALE='            # (no proxy_cache_use_stale, no proxy_cache_background_update)'
            fi
            fill "$HERE/conf/hot-item-nginx.conf.tmpl" | sed 's/\\n/\n/g' >"$WORK/$setup.conf"
            mkdir -p "$CACHE_DIR/$PPORT"; chmod 777 "$CACHE_DIR/$PPORT"
            nginx -t -q -p "$WORK" -c "$WORK/$setup.conf" 2>"$WORK/nginx-t.log" || { cat "$WORK/nginx-t.log" >&2; exit 1; }
            nginx -p "$WORK" -c "$WORK/$setup.conf" -g 'daemon off;' 2>"$WORK/$setup.log" &
            PPID_=$! ;;
        haproxy)
            fill "$HERE/conf/hot-item-haproxy.cfg.tmpl" >"$WORK/haproxy.cfg"
            haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/haproxy-c.log" 2>&1 || { cat "$WORK/haproxy-c.log" >&2; exit 1; }
            haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
            PPID_=$! ;;
        levee)
            ADMIN=127.0.0.1:$(freeport)
            if [ $LEVEE_MODE = quick ]; then
                "$BIN/levee" proxy --listen 127.0.0.1:$PPORT --to 127.0.0.1:$SPORT --workers 1 \
                    --admin $ADMIN --cache 256MB --log-level warn 2>"$WORK/levee.log" &
                echo "levee proxy --listen 127.0.0.1:$PPORT --to 127.0.0.1:$SPORT --workers 1 --admin $ADMIN --cache 256MB --log-level warn" >"$RAW/levee.cmd"
            else
                fill "$HERE/conf/hot-item-levee.yaml.tmpl" >"$WORK/levee.yaml"
                "$BIN/levee" -c "$WORK/levee.yaml" 2>"$WORK/levee.log" &
                cp "$WORK/levee.yaml" "$RAW/"
            fi
            PPID_=$! ;;
    esac
    if [ -n "$PPID_" ]; then
        PIDS+=("$PPID_")
        wait_http "http://127.0.0.1:$PPORT/health" "$PPID_" "$setup" "$WORK/$setup.log"
    fi
    # Reference body (straight from the sim), then zero the sim's counters: the run starts cold.
    curl -fsS -o "$WORK/ref.body" "http://127.0.0.1:$SPORT/hot"
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$SPORT/control/reset"

    sed -e "s#http://127.0.0.1:9000/hot#http://127.0.0.1:$PPORT/hot#" \
        -e "s#^duration_s:.*#duration_s: $DURATION#" \
        -e "s#plateau: {rate: 3000, for_s: 40}#plateau: {rate: $RATE, for_s: $DURATION}#" "$SCEN" >"$WORK/$setup.yaml"
    L0=$(loadavg)
    echo "# [$n/$total] hot-item via $setup (sim :$SPORT, client -> :$PPORT), load $L0" >&2
    python3 "$HERE/hot_item.py" poll --port "$SPORT" --path /hot --out "$RAW/$setup.poll.tsv" &
    POLL_PID=$!; PIDS+=("$POLL_PID")
    for i in $(seq 1 100); do [ -s "$RAW/$setup.poll.tsv" ] && break; sleep 0.05; done   # first sample taken
    T0=$(date +%s.%N)
    python3 "$HERE/hot_item.py" probe --port "$PPORT" --path /hot --ref "$WORK/ref.body" --out "$RAW/$setup.probe.jsonl" &
    PROBE_PID=$!; PIDS+=("$PROBE_PID")
    rc=0
    timeout $((DURATION + 90)) "$BIN/levee-load" "$WORK/$setup.yaml" --label "$setup" \
        --json "$RAW/$setup.load.json" >"$RAW/$setup.load.txt" 2>"$WORK/$setup.load.err" || rc=$?
    stop_pid "$PROBE_PID"
    sleep 0.3
    stop_pid "$POLL_PID"
    [ $rc = 0 ] || { echo "hot_item.sh: levee-load failed for $setup (exit $rc)" >&2; cat "$RAW/$setup.load.txt" "$WORK/$setup.load.err" >&2; exit 1; }
    curl -fsS --max-time 5 "http://127.0.0.1:$SPORT/stats" >"$RAW/$setup.sim.json"
    if [ "$setup" = levee ]; then
        curl -fsS --max-time 5 "http://$ADMIN/metrics" >"$RAW/levee.metrics.txt" 2>/dev/null || true
    fi
    L1=$(loadavg)
    printf '%s\t%s\t%s\t%s\n' "$setup" "$L0" "$L1" "$T0" >>"$META"
    hot=$(python3 -c "import json;d=json.load(open('$RAW/$setup.sim.json'));print(d['paths'].get('/hot',{}).get('received',0))")
    gp=$(python3 -c "import json;d=json.load(open('$RAW/$setup.load.json'));print('goodput %.0f/s, user success %.1f %%, p99 %s ms' % (d['goodput_per_s'], 100*(d['user_success_rate'] or 0), d['latency_ms']['p99']))")
    echo "# [$n/$total] $setup done: backend requests for /hot $hot; $gp; load $L1" >&2
    if [ -n "$PPID_" ]; then
        kill -0 "$PPID_" 2>/dev/null || echo "# $setup exited during the run! see $RAW/$setup.proxy.log" >&2
        stop_pid "$PPID_"
    fi
    stop_pid "$SIM_PID"
    cp "$WORK/$setup.log" "$RAW/$setup.proxy.log" 2>/dev/null || true
    case $setup in nginx|nginx-lock) cp "$WORK/$setup.conf" "$RAW/";; haproxy) cp "$WORK/haproxy.cfg" "$RAW/";; esac
done

CMD="bench/cache/hot_item.sh --setups $SETUPS"
[ "$RATE" != 3000 ] || [ "$DURATION" != 40 ] || [ "$HOT_MAX_AGE" != 2 ] || [ "$HOT_SERVICE_MS" != 100 ] &&
    CMD="RATE=$RATE DURATION=$DURATION HOT_MAX_AGE=$HOT_MAX_AGE HOT_SERVICE_MS=$HOT_SERVICE_MS $CMD"
python3 "$HERE/hot_item.py" summarize --raw "$RAW" --setups "$SETUPS" --out "$OUT" --path /hot \
    --max-age "$HOT_MAX_AGE" --duration "$DURATION" --meta "$META" --date "$DATE" \
    --sim "$SIMDESC" --file bench/scenarios/hot-item.yaml --levee-rev "$LEVEE_REV" --command "$CMD"
jsons=()
for s in ${SETUPS//,/ }; do jsons+=("$RAW/$s.load.json"); done
"$BIN/levee-load" report --out "$OUT.html" "${jsons[@]}" >/dev/null
python3 "$HERE/hot_item.py" inject --html "$OUT.html" --out "$OUT" --raw "$RAW" --rate "$RATE"
echo "# wrote $OUT.md, $OUT.json, $OUT.html (raw: $RAW)" >&2
