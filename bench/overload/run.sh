#!/usr/bin/env bash
# bench/overload/run.sh: the overload comparison bench (issue 3).
#
#   bench/overload/run.sh SCENARIO [--setups direct,plain,nginx,haproxy,levee] [--short]
#
# SCENARIO is kickoff, f5-storm, capacity-drop, extended-peak or flash-crowd (10 C, no --short)
# (bench/scenarios/*.yaml; --short uses bench/overload/short/*.yaml, ~30 s each), or a path to
# a scenario file (FILE.yaml, tag FILE; its line "# run.sh: peak A:B [recover after-stall|
# after-drop] [t_event T] [t_back T] [base A:B]" says what to measure; bench/overload/matrix.sh
# writes such files). For each setup it starts a fresh levee-sim (4 workers x 10 ms,
# exponential service times, thrash, capacity 400 requests/s), the setup's proxy (levee with
# its shipped worker count, the others one worker) in front of it, runs levee-load
# with the scenario through it, reads the sim's /stats, stops both. plain is levee with
# --no-guard: the plain proxy. Then it writes
#   bench/overload/results/<scenario>[-short].{md,json,html}  and  raw/<scenario>[-short]/
# Method and configs: bench/overload/README.md. Everything listens on 127.0.0.1, on ports
# picked free at run time; every process started here is stopped on exit.
#
# Environment: BIN (dir with levee, levee-sim, levee-load; default build-overload, built if
# missing), SIM_WORKERS (the backend's parallelism K, default 4), SIM_SERVICE_MS (10; C =
# K x 1000 / SIM_SERVICE_MS), SIM_THRASH (default 0.001), SIM_DIST (exp: or fixed, lognormal),
# LEVEE_WORKERS (unset: levee's shipped default, one worker per core, no --workers flag; N:
# --workers N, for levee and plain), USERS_PER_ADDR (levee-load --users-per-address, default
# 1), NGINX_RATE (90 % of C: 360), NGINX_BURST (C / 10: 40), NGINX_CONN (0.16 s x C: 64),
# NGINX_MAX_CONNS (max_conns on nginx's upstream server, default K; 0: none, as before),
# HAPROXY_QUEUE_MS (1000), HAPROXY_RATE (90 % of C), TAG (results name for a scenario file),
# OUT_DIR (results dir), LOAD_MAX (unset: off; else before each setup wait, a minute at a
# time and at most LOAD_WAIT_S, default 600, while the 1-minute load average is above it),
# LEVEE_REV (what levee is, for the results; default: git HEAD and the uncommitted paths
# under src/),
# ONE_ADDRESS (a local non-loopback IPv4 address, e.g. from `hostname -I`: levee listens on
# it too and the users connect to it, all from that one source address, as people behind a
# NAT do; setups levee and plain only; ~28,000 source ports limit the run: TIME_WAIT piles
# up after ~20 s at 1,000 users/s).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() {
    sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

ONE_ADDRESS=${ONE_ADDRESS:-}
SCEN=""
SETUPS=direct,plain,nginx,haproxy,levee
SHORT=0
while [ $# -gt 0 ]; do
    case $1 in
        --setups) SETUPS=${2:?--setups needs a list}; shift 2 ;;
        --setups=*) SETUPS=${1#*=}; shift ;;
        --short) SHORT=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) [ -z "$SCEN" ] || { echo "run.sh: one scenario at a time" >&2; exit 2; }; SCEN=$1; shift ;;
    esac
done
[ -n "$SCEN" ] || { usage >&2; exit 2; }
if [ -n "$ONE_ADDRESS" ]; then
    case ,$SETUPS, in *,direct,*|*,nginx,*|*,haproxy,*)
        echo "run.sh: ONE_ADDRESS works with --setups levee,plain only" >&2; exit 2 ;; esac
fi

# --- the backend: capacity C = WORKERS * 1000 / SERVICE_MS -------------------------------
WORKERS=${SIM_WORKERS:-4}
SERVICE_MS=${SIM_SERVICE_MS:-10}
SIM_DIST=${SIM_DIST:-exp}
SIM_THRASH=${SIM_THRASH:-0.001}
CAP=$((WORKERS * 1000 / SERVICE_MS))
# What the peers are told (see README.md, "The setups"): derived from C and K unless set.
NGINX_RATE=${NGINX_RATE:-$((CAP * 9 / 10))}
NGINX_BURST=${NGINX_BURST:-$(( CAP / 10 > 1 ? CAP / 10 : 1 ))}
NGINX_CONN=${NGINX_CONN:-$(( CAP * 16 / 100 > WORKERS ? CAP * 16 / 100 : WORKERS ))}
NGINX_MAX_CONNS=${NGINX_MAX_CONNS:-$WORKERS}
HAPROXY_RATE=${HAPROXY_RATE:-$((CAP * 9 / 10))}
HAPROXY_QUEUE_MS=${HAPROXY_QUEUE_MS:-1000}
USERS_PER_ADDR=${USERS_PER_ADDR:-1}
LEVEE_WORKERS=${LEVEE_WORKERS:-}

# --- scenario: file, peak window [a,b) in seconds, recovery measurement ------------------
# RECOVER: none | after-stall (T = end of the stall, baseline window BASE) | after-drop (T =
# the capacity drop). See README.md, "What is measured".
RECOVER=none; T_EVENT=0; T_BACK=0; BASE=""
if [[ $SCEN == *.yaml ]]; then
    # A scenario file (matrix.sh's): what to measure is on its "# run.sh:" line.
    FILE=$(cd "$(dirname "$SCEN")" && pwd)/$(basename "$SCEN"); TAG=${TAG:-$(basename "$SCEN" .yaml)}
    SPEC=$(sed -n 's/^# run\.sh: *//p' "$FILE" | head -1)
    [ -n "$SPEC" ] || { echo "run.sh: $FILE has no '# run.sh: peak A:B ...' line" >&2; exit 2; }
    set -- $SPEC
    while [ $# -ge 2 ]; do
        case $1 in
            peak) PEAK=$2 ;; recover) RECOVER=$2 ;; t_event) T_EVENT=$2 ;; t_back) T_BACK=$2 ;;
            base) BASE=$2 ;; *) echo "run.sh: $FILE: unknown '# run.sh:' key $1" >&2; exit 2 ;;
        esac
        shift 2
    done
    [ -n "${PEAK:-}" ] || { echo "run.sh: $FILE: '# run.sh:' line without peak" >&2; exit 2; }
elif [ "$SHORT" = 1 ]; then
    FILE=$HERE/short/$SCEN.yaml; TAG=$SCEN-short
    case $SCEN in
        kickoff) PEAK=10:22 ;;
        f5-storm) PEAK=18:30; RECOVER=after-stall; T_EVENT=18; BASE=2:8 ;;
        capacity-drop) PEAK=10:30; RECOVER=after-drop; T_EVENT=10 ;;
        extended-peak) PEAK=5:25 ;;
        *) echo "run.sh: unknown scenario '$SCEN'" >&2; exit 2 ;;
    esac
else
    FILE=$ROOT/bench/scenarios/$SCEN.yaml; TAG=$SCEN
    case $SCEN in
        kickoff) PEAK=20:45 ;;
        f5-storm) PEAK=30:60; RECOVER=after-stall; T_EVENT=30; BASE=5:20 ;;
        capacity-drop) PEAK=30:90; RECOVER=after-drop; T_EVENT=30 ;;
        extended-peak) PEAK=15:135 ;;
        flash-crowd) PEAK=15:43 ;;
        *) echo "run.sh: unknown scenario '$SCEN'" >&2; exit 2 ;;
    esac
fi
[ -f "$FILE" ] || { echo "run.sh: missing scenario file $FILE" >&2; exit 2; }
DURATION=$(awk '/^duration_s:/ {print $2; exit}' "$FILE")

for s in ${SETUPS//,/ }; do
    case $s in direct|plain|nginx|haproxy|levee) ;; *) echo "run.sh: unknown setup '$s'" >&2; exit 2 ;; esac
done
for tool in curl python3; do
    command -v $tool >/dev/null || { echo "run.sh: missing $tool (scripts/deps.sh)" >&2; exit 1; }
done
case ",$SETUPS," in *,nginx,*) command -v nginx >/dev/null || { echo "run.sh: missing nginx" >&2; exit 1; } ;; esac
case ",$SETUPS," in *,haproxy,*) command -v haproxy >/dev/null || { echo "run.sh: missing haproxy" >&2; exit 1; } ;; esac

# --- binaries ------------------------------------------------------------------------------
BIN=${BIN:-$ROOT/build-overload}
if [ ! -x "$BIN/levee-sim" ] || [ ! -x "$BIN/levee-load" ] || [ ! -x "$BIN/levee" ]; then
    echo "# building release binaries in $BIN" >&2
    cmake -S "$ROOT" -B "$BIN" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BIN" -j2 --target levee levee-sim levee-load >/dev/null
fi

OUT_DIR=${OUT_DIR:-$HERE/results}
RAW=$OUT_DIR/raw/$TAG
mkdir -p "$RAW"
WORK=$(mktemp -d /tmp/levee-overload.XXXXXX)
chmod 755 "$WORK"

# --- process bookkeeping: every PID started here is stopped by PID on exit ---------------
PIDS=()
stop_pid() {
    local p=$1 i q keep=()
    # Forget it first: once reaped, its PID may be reused by someone else's process.
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
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() { # URL PID NAME LOG
    local i
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "run.sh: $3 exited; its log:" >&2; cat "$4" >&2; exit 1; }
        sleep 0.1
    done
    echo "run.sh: $3 did not answer on $1; its log:" >&2; cat "$4" >&2; exit 1
}
fill() { # TEMPLATE OUT
    sed -e "s#@DIR@#$WORK#g" -e "s#@PORT@#$PPORT#g" -e "s#@SIM_PORT@#$SPORT#g" \
        -e "s#@RATE@#$2#g" -e "s#@BURST@#$NGINX_BURST#g" -e "s#@CONN@#$NGINX_CONN#g" \
        -e "s#@MAXCONN@#$WORKERS#g" -e "s#@QUEUE_MS@#$HAPROXY_QUEUE_MS#g" \
        -e "s#@MAX_CONNS@#$([ "$NGINX_MAX_CONNS" -gt 0 ] && echo " max_conns=$NGINX_MAX_CONNS")#g" "$1"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_quiet() { # the machine is shared: let others' work (or our previous setup) settle
    [ -n "${LOAD_MAX:-}" ] || return 0
    local waited=0
    while awk -v m="$LOAD_MAX" '{exit !($1 > m)}' /proc/loadavg && [ $waited -lt "${LOAD_WAIT_S:-600}" ]; do
        echo "# load $(loadavg) above $LOAD_MAX: waiting 60 s (waited ${waited} s)" >&2
        sleep 60; waited=$((waited + 60))
    done
}

DATE=$(date '+%Y-%m-%d %H:%M')
if [ -z "${LEVEE_REV:-}" ]; then # or say it, e.g. for binaries built from a clean export
    LEVEE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    LEVEE_DIRTY=$(cd "$ROOT" && git status --porcelain -- src 2>/dev/null | wc -l)
    [ "$LEVEE_DIRTY" -gt 0 ] && LEVEE_REV="$LEVEE_REV + $LEVEE_DIRTY uncommitted paths under src/"
fi
LEVEE_REV="$LEVEE_REV, binary built $(date -r "$BIN/levee" '+%Y-%m-%d %H:%M')"
# levee (and plain) run with the shipped worker count unless LEVEE_WORKERS says otherwise.
LEVEE_WFLAG=(); [ -n "$LEVEE_WORKERS" ] && LEVEE_WFLAG=(--workers "$LEVEE_WORKERS")
LEVEE_REV="$LEVEE_REV, $([ -n "$LEVEE_WORKERS" ] && echo "--workers $LEVEE_WORKERS" || echo "shipped workers ($(nproc) cores)")"
# The knobs that differ from the defaults, for the results' command line.
KNOBS=""
for v in SIM_WORKERS SIM_SERVICE_MS SIM_DIST SIM_THRASH LEVEE_WORKERS USERS_PER_ADDR \
         NGINX_MAX_CONNS HAPROXY_QUEUE_MS ONE_ADDRESS; do
    [ -n "${!v:-}" ] && [ -n "$(printenv $v)" ] && KNOBS="$KNOBS$v=${!v} "
done
echo "# overload bench: $TAG ($FILE, ${DURATION}s), setups $SETUPS, sim ${WORKERS}x${SERVICE_MS}ms $SIM_DIST thrash $SIM_THRASH (C=$CAP/s), levee workers ${LEVEE_WORKERS:-default}, $USERS_PER_ADDR users/address, load $(loadavg)" >&2

META=$RAW/meta.tsv          # load average before/after each setup (read by analyze.py)
: >"$META"
n=0; total=$(echo "${SETUPS//,/ }" | wc -w)
for setup in ${SETUPS//,/ }; do
    n=$((n + 1))
    wait_quiet
    SPORT=$(freeport)
    # A fresh backend for every setup: no backlog, stall or worker change carries over.
    "$BIN/levee-sim" --listen 127.0.0.1:$SPORT --workers $WORKERS --service-ms $SERVICE_MS \
        --dist "$SIM_DIST" --thrash "$SIM_THRASH" --log-level warn 2>"$WORK/$setup-sim.log" &
    SIM_PID=$!; PIDS+=("$SIM_PID")
    wait_http "http://127.0.0.1:$SPORT/health" $SIM_PID levee-sim "$WORK/$setup-sim.log"

    PPID_=""; ADMIN=""
    case $setup in
        direct) PPORT=$SPORT ;;
        nginx)
            PPORT=$(freeport)
            fill "$HERE/nginx.conf.tmpl" "$NGINX_RATE" >"$WORK/nginx.conf"
            nginx -t -q -p "$WORK" -c "$WORK/nginx.conf" 2>"$WORK/nginx-t.log" || { cat "$WORK/nginx-t.log" >&2; exit 1; }
            nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx.log" &
            PPID_=$! ;;
        haproxy)
            PPORT=$(freeport)
            printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 27\r\n\r\nbusy, please retry shortly\n' >"$WORK/503.http"
            printf 'HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 27\r\n\r\nbusy, please retry shortly\n' >"$WORK/504.http"
            fill "$HERE/haproxy.cfg.tmpl" "$HAPROXY_RATE" >"$WORK/haproxy.cfg"
            haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/haproxy-c.log" 2>&1 || { cat "$WORK/haproxy-c.log" >&2; exit 1; }
            haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
            PPID_=$! ;;
        levee|plain)
            # Untuned: quick mode, the shipped worker count (one per core; LEVEE_WORKERS sets
            # --workers), every guard setting at its default; plain is the same binary with
            # the guard off (--no-guard): the plain proxy.
            PPORT=$(freeport)
            ADMIN=127.0.0.1:$(freeport)
            NOGUARD=(); [ "$setup" = plain ] && NOGUARD=(--no-guard)
            LISTEN=127.0.0.1:$PPORT; [ -n "$ONE_ADDRESS" ] && LISTEN=0.0.0.0:$PPORT
            "$BIN/levee" proxy --listen $LISTEN --to 127.0.0.1:$SPORT "${LEVEE_WFLAG[@]}" \
                --admin $ADMIN --log-level warn "${NOGUARD[@]}" 2>"$WORK/$setup.log" &
            PPID_=$! ;;
    esac
    if [ -n "$PPID_" ]; then
        PIDS+=("$PPID_")
        wait_http "http://127.0.0.1:$PPORT/health" "$PPID_" "$setup" "$WORK/$setup.log"
    fi
    # The readiness probes are not part of the run.
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$SPORT/control/reset"

    # Events (stall, workers) go to the sim itself, whatever the setup.
    sed "s#127\.0\.0\.1:9000#127.0.0.1:$SPORT#g" "$FILE" >"$WORK/$setup.yaml"
    L0=$(loadavg)
    echo "# [$n/$total] $TAG via $setup (sim :$SPORT, client -> :$PPORT), load $L0" >&2
    # levee's own view once a second (limit, in flight, queue, pressure, decisions):
    # raw/<setup>.status.log, "unix-time {/status}" per line, to explain what the users saw.
    POLL_PID=""
    if [ -n "$ADMIN" ]; then
        while :; do
            printf '%s %s\n' "$(date +%s.%N)" \
                "$(curl -fsS --max-time 1 "http://$ADMIN/status" 2>/dev/null | tr -d '\n')"
            sleep 1
        done >"$RAW/$setup.status.log" &
        POLL_PID=$!; PIDS+=("$POLL_PID")
    fi
    timeout $((DURATION + 60)) "$BIN/levee-load" "$WORK/$setup.yaml" \
        --target "http://${ONE_ADDRESS:-127.0.0.1}:$PPORT/" --label "$setup" \
        --users-per-address "$USERS_PER_ADDR" \
        --json "$RAW/$setup.load.json" >"$RAW/$setup.load.txt" || {
        echo "run.sh: levee-load failed for $setup (exit $?)" >&2; cat "$RAW/$setup.load.txt" >&2; exit 1; }
    [ -n "$POLL_PID" ] && stop_pid "$POLL_PID"
    curl -fsS --max-time 5 "http://127.0.0.1:$SPORT/stats" >"$RAW/$setup.sim.json"
    if [ -n "$ADMIN" ]; then
        curl -fsS --max-time 5 "http://$ADMIN/metrics" >"$RAW/$setup.metrics.txt" 2>/dev/null || true
    fi
    L1=$(loadavg)
    printf '%s\t%s\t%s\n' "$setup" "$L0" "$L1" >>"$META"
    gp=$(python3 -c "import json;d=json.load(open('$RAW/$setup.load.json'));print('goodput %.0f/s, user success %.1f %%' % (d['goodput_per_s'], 100*(d['user_success_rate'] or 0)))")
    echo "# [$n/$total] $setup done: $gp; load $L1" >&2
    [ -n "$PPID_" ] && stop_pid "$PPID_"
    stop_pid "$SIM_PID"
    [ -f "$WORK/$setup.log" ] && cp "$WORK/$setup.log" "$RAW/$setup.proxy.log" 2>/dev/null || true
    case $setup in nginx) cp "$WORK/nginx.conf" "$RAW/";; haproxy) cp "$WORK/haproxy.cfg" "$RAW/";; esac
done

python3 "$HERE/analyze.py" --scenario "$SCEN" --tag "$TAG" --file "${FILE#$ROOT/}" --raw "$RAW" \
    --out "$OUT_DIR/$TAG" --setups "$SETUPS" --capacity $CAP --peak "$PEAK" --recover "$RECOVER" \
    --t-event "$T_EVENT" --t-back "$T_BACK" --base "$BASE" --meta "$META" --date "$DATE" \
    --sim "levee-sim --workers $WORKERS --service-ms $SERVICE_MS --dist $SIM_DIST --thrash $SIM_THRASH" \
    --levee-rev "$LEVEE_REV" \
    --command "${KNOBS}bench/overload/run.sh ${SCEN#$ROOT/} --setups $SETUPS$([ "$SHORT" = 1 ] && echo ' --short')"
jsons=()
for s in ${SETUPS//,/ }; do jsons+=("$RAW/$s.load.json"); done
"$BIN/levee-load" report --out "$OUT_DIR/$TAG.html" "${jsons[@]}" >/dev/null
python3 "$HERE/analyze.py" --inject "$OUT_DIR/$TAG.html" --out "$OUT_DIR/$TAG" --raw "$RAW"
cat "$OUT_DIR/$TAG.md"
echo "# wrote $OUT_DIR/$TAG.md, $OUT_DIR/$TAG.json, $OUT_DIR/$TAG.html (raw: $RAW)" >&2
