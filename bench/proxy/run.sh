#!/usr/bin/env bash
# bench/proxy/run.sh: levee vs nginx 1.22 vs HAProxy 2.6, one worker each, same backend.
#
# Three parts (issue 2, "Speed and memory"):
#   rps    requests/s with wrk (keep-alive), /tiny and /16k, interleaved rounds
#   instr  user-space instructions per proxied request (valgrind --tool=callgrind)
#   mem    resident memory per idle keep-alive client connection
# Writes a Markdown report to stdout and to bench/proxy/results/latest.md.
# See bench/proxy/README.md for the method and the configs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DUR=${DUR:-10}            # seconds per wrk run
R=${R:-3}                 # interleaved rounds
CONNS=${CONNS:-50}        # wrk connections
PARTS=${PARTS:-rps,instr,mem}
PROXIES=${PROXIES:-levee,nginx,haproxy}
PATHS=${PATHS:-/tiny,/16k}
N=${N:-20000}             # requests counted under callgrind
NCONN=${NCONN:-10}        # connections for those requests
WARM=${WARM:-1000}        # warm-up requests per path under callgrind (in baseline too)
IDLE=${IDLE:-9000}        # idle keep-alive connections for the memory part
PIN=${PIN:-1}             # 1: proxy on CPU 0, wrk + backend on CPU 1
LEVEE=${LEVEE:-$ROOT/build/release/levee}
# The bare proxy is measured, like nginx and HAProxy configured without limits; GUARD=on
# measures levee with its overload guard (the default in production) instead.
GUARD=${GUARD:-off}
# CACHE=on gives levee a 64 MB cache (quick mode); with PATHS=/cached (a response the backend
# marks fresh for a day) the measured requests are cache hits. nginx and HAProxy do not cache.
CACHE=${CACHE:-off}
# L2=on (with CACHE=on) starts a redis-server and gives levee a second tier in it (--l2): the
# measured hits are then L1 hits with the second tier configured, the cost asked of it is none.
L2=${L2:-off}
LEVEE_MODE=${LEVEE_MODE:-auto}   # auto | quick | yaml
OUT=${OUT:-$HERE/results/latest.md}
KEEP=${KEEP:-0}           # 1: keep the work dir (logs, callgrind files)
# WATCHERS=N (quick mode): each rps round also runs levee with N dashboard watchers (GET /events)
# open and reading, right after (or, every other round, before) the run without; the report
# compares the two ("Dashboard watchers").
WATCHERS=${WATCHERS:-0}

usage() {
    cat <<EOF
usage: bench/proxy/run.sh [options]
  -d SECONDS   wrk duration per run (DUR, default 10)
  -r ROUNDS    interleaved rounds (R, default 3)
  -p PARTS     comma list of rps,instr,mem (PARTS, default all)
  -x PROXIES   comma list of levee,nginx,haproxy (PROXIES, default all)
  -n N         requests counted under callgrind (N, default 20000)
  -m M         idle connections for the memory part (IDLE, default 9000)
  -c CONNS     wrk connections (CONNS, default 50)
  -l PATH      levee binary (LEVEE, default build/release/levee)
  -o FILE      report file (OUT, default bench/proxy/results/latest.md)
  -P           no CPU pinning (PIN=0)
  -k           keep the work directory (KEEP=1)
  -w N         rps part: also measure levee with N dashboard watchers open (WATCHERS, default 0)
Build levee first: scripts/build.sh (release build in build/release)
EOF
}

while getopts "d:r:p:x:n:m:c:l:o:w:Pkh" opt; do
    case $opt in
        d) DUR=$OPTARG ;; r) R=$OPTARG ;; p) PARTS=$OPTARG ;; x) PROXIES=$OPTARG ;;
        n) N=$OPTARG ;; m) IDLE=$OPTARG ;; c) CONNS=$OPTARG ;; l) LEVEE=$OPTARG ;;
        o) OUT=$OPTARG ;; w) WATCHERS=$OPTARG ;; P) PIN=0 ;; k) KEEP=1 ;;
        h) usage; exit 0 ;; *) usage; exit 2 ;;
    esac
done

has() { [[ ",$1," == *",$2,"* ]]; }
log() { echo "# $*" >&2; }

for tool in nginx haproxy wrk valgrind callgrind_annotate python3 taskset; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (run scripts/deps.sh)" >&2; exit 1; }
done

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/levee-bench-proxy.XXXXXX)
chmod 755 "$WORK"
RAW=$WORK/raw.tsv
: >"$RAW"
# Other load on this shared machine skews requests/s (not instruction counts): record it.
other_load() {
    echo -e "load\t$1\t-\t-\t$(cut -d' ' -f1-3 /proc/loadavg)\t$(top -bn2 -d0.5 -w 200 | awk '/^top -/ {n++} n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 10 {printf "%s(%s%%) ", $12, $9}')" >>"$RAW"
}
other_load start
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.3
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ $KEEP == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $L2 == on ]]; then
    REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$WORK" --logfile "$WORK/redis.log" &
    PIDS+=($!)
    log "redis-server for the second tier on 127.0.0.1:$REDIS_PORT"
fi

if [[ $PIN == 1 ]]; then
    PIN_PROXY=(taskset -c 0); PIN_LOAD=(taskset -c 1)
else
    PIN_PROXY=(); PIN_LOAD=()
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # PORT TIMEOUT_S [PID]: wait until something accepts on 127.0.0.1:PORT
    local port=$1 t=$2 pid=${3:-} i
    for ((i = 0; i < t * 10; i++)); do
        if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

forget_pid() { # remove a pid from PIDS
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

stop_pid() { # PID SIGNAL TIMEOUT_S: signal, wait; SIGKILL after the timeout. Returns 1 if killed.
    local pid=$1 sig=$2 t=$3 i rc=0
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        rc=1
    fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    return $rc
}

fill() { # TEMPLATE OUT: substitute @DIR@ @PROXY_PORT@ @BACKEND_PORT@
    sed -e "s|@DIR@|$WORK|g" -e "s|@PROXY_PORT@|${PPORT:-0}|g" -e "s|@BACKEND_PORT@|$BPORT|g" "$1" >"$2"
}

# ---------------------------------------------------------------- backend
BPORT=$(free_port)
mkdir -p "$WORK/www"
printf '%s' "$(head -c 16384 /dev/zero | tr '\0' 'x')" >"$WORK/www/16k"
chmod 644 "$WORK/www/16k"
chmod 755 "$WORK/www"
fill "$HERE/conf/backend-nginx.conf.in" "$WORK/backend.conf"
"${PIN_LOAD[@]}" nginx -p "$WORK" -c "$WORK/backend.conf" >"$WORK/backend.out" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
wait_port "$BPORT" 10 "$BACKEND_PID" || { cat "$WORK/backend.out" "$WORK/backend-error.log" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$BPORT/tiny" >/dev/null
[[ $(curl -fsS "http://127.0.0.1:$BPORT/16k" | wc -c) == 16384 ]]
log "backend nginx on 127.0.0.1:$BPORT (pid $BACKEND_PID)"

# ---------------------------------------------------------------- levee mode
LEVEE_OK=1
if has "$PROXIES" levee; then
    if [[ ! -x $LEVEE ]]; then
        log "levee binary not found: $LEVEE"; LEVEE_OK=0
    elif [[ $LEVEE_MODE == auto ]]; then
        if "$LEVEE" proxy --help 2>&1 | grep -q -- --listen; then LEVEE_MODE=quick; else LEVEE_MODE=yaml; fi
    fi
    log "levee: $LEVEE (mode $LEVEE_MODE)"
fi

# proxy_cmd NAME PORT VALGRIND(0|1): sets CMD (array) and STOPSIG
proxy_cmd() {
    local name=$1 port=$2 vg=$3
    PPORT=$port
    case $name in
        nginx)
            fill "$HERE/conf/nginx-proxy.conf.in" "$WORK/nginx-proxy-$port.conf"
            if [[ $vg == 1 ]]; then
                CMD=(nginx -p "$WORK" -c "$WORK/nginx-proxy-$port.conf" -g "daemon off; master_process off;")
            else
                CMD=(nginx -p "$WORK" -c "$WORK/nginx-proxy-$port.conf" -g "daemon off;")
            fi
            STOPSIG=QUIT ;;
        haproxy)
            fill "$HERE/conf/haproxy.cfg.in" "$WORK/haproxy-$port.cfg"
            CMD=(haproxy -db -f "$WORK/haproxy-$port.cfg")
            STOPSIG=USR1 ;;
        levee)
            if [[ $LEVEE_MODE == quick ]]; then
                CMD=("$LEVEE" proxy --listen "127.0.0.1:$port" --to "127.0.0.1:$BPORT" --workers 1 --admin "127.0.0.1:${LEVEE_ADMIN_PORT:-0}")
                [[ $GUARD == off ]] && CMD+=(--no-guard)
                [[ $CACHE == on ]] && CMD+=(--cache 64MB)
                [[ $CACHE == on && $L2 == on ]] && CMD+=(--l2 "redis://127.0.0.1:$REDIS_PORT")
            else
                fill "$HERE/conf/levee.yaml.in" "$WORK/levee-$port.yaml"
                CMD=("$LEVEE" -c "$WORK/levee-$port.yaml")
            fi
            STOPSIG=TERM ;;
    esac
}

# start_proxy NAME [callgrind-out-file]: sets PROXY_PID, PROXY_PORT
start_proxy() {
    local name=$1 cg=${2:-} port
    port=$(free_port)
    proxy_cmd "$name" "$port" "$([[ -n $cg ]] && echo 1 || echo 0)"
    if [[ -n $cg ]]; then
        valgrind --tool=callgrind --callgrind-out-file="$cg" "${CMD[@]}" >"$WORK/$name-$port.out" 2>&1 &
    else
        "${PIN_PROXY[@]}" "${CMD[@]}" >"$WORK/$name-$port.out" 2>&1 &
    fi
    PROXY_PID=$!
    PROXY_PORT=$port
    PIDS+=("$PROXY_PID")
    if ! wait_port "$port" "$([[ -n $cg ]] && echo 60 || echo 10)" "$PROXY_PID"; then
        log "$name did not start on 127.0.0.1:$port; its output:"
        tail -20 "$WORK/$name-$port.out" >&2
        stop_pid "$PROXY_PID" KILL 1 || true
        return 1
    fi
    # one real request through it
    if ! curl -fsS -m 30 -o /dev/null "http://127.0.0.1:$port/tiny"; then
        log "$name on 127.0.0.1:$port does not proxy /tiny"
        tail -20 "$WORK/$name-$port.out" >&2
        stop_pid "$PROXY_PID" KILL 1 || true
        return 1
    fi
}

proxy_pids() { # PID NAME: the processes whose RSS counts (the nginx worker; else the process)
    local pid=$1 name=$2 kids
    if [[ $name == nginx ]]; then
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' | paste -sd, -)
        echo "${kids:-$pid}"
    else
        echo "$pid"
    fi
}

IFS=, read -r -a PROXY_LIST <<<"$PROXIES"
IFS=, read -r -a PATH_LIST <<<"$PATHS"
ACTIVE=()
for p in "${PROXY_LIST[@]}"; do
    if [[ $p == levee && $LEVEE_OK == 0 ]]; then echo -e "note\tlevee\t-\t-\tbinary missing\t" >>"$RAW"; continue; fi
    ACTIVE+=("$p")
done

declare -A PORT_OF PID_OF

# ---------------------------------------------------------------- part 1: requests/s
if has "$PARTS" rps; then
    RUNNING=()
    if [[ $WATCHERS -gt 0 ]]; then
        if [[ $LEVEE_MODE == quick ]]; then LEVEE_ADMIN_PORT=$(free_port); else log "WATCHERS needs quick mode: ignored"; fi
    fi
    for p in "${ACTIVE[@]}"; do
        if start_proxy "$p"; then
            PORT_OF[$p]=$PROXY_PORT; PID_OF[$p]=$PROXY_PID; RUNNING+=("$p")
            log "$p on 127.0.0.1:$PROXY_PORT (pid $PROXY_PID)"
        else
            echo -e "note\t$p\t-\t-\tdid not start (rps)\t" >>"$RAW"
        fi
    done
    cpu_ticks() { # PID: user + system clock ticks of the whole process (every thread)
        awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
    }
    run_wrk() { # NAME PORT PATH SECONDS ROUND
        local f="$WORK/wrk-$1-${3#/}-$5.txt" rps non2xx errs pid=${PID_OF[${1%%+*}]:-} t0=0 t1=0 n cpu=
        [[ -n $pid ]] && t0=$(cpu_ticks "$pid")
        "${PIN_LOAD[@]}" timeout $(($4 + 30)) wrk -t1 -c"$CONNS" -d"$4"s --latency "http://127.0.0.1:$2$3" >"$f" 2>&1 || true
        # The proxy's CPU time per request: what neighbours on a shared machine change least.
        if [[ -n $pid ]]; then
            t1=$(cpu_ticks "$pid")
            n=$(awk '/ requests in / {print $1}' "$f")
            [[ -n $n && $n -gt 0 ]] && cpu=$(python3 -c "print(round(($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $n, 2))")
        fi
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
        non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
        errs=$(awk -F'Socket errors: ' '/Socket errors:/ {print $2}' "$f")
        p50=$(awk '/^ +50%/ {print $2}' "$f")
        p99=$(awk '/^ +99%/ {print $2}' "$f")
        echo -e "rps\t$1\t$3\t$5\t${rps:-0}\tnon2xx=${non2xx:-0};errors=${errs:-none};p50=${p50:-?};p99=${p99:-?};cpu_us=${cpu:-?}" >>"$RAW"
        log "rps $1 $3 round $5: ${rps:-FAILED} req/s (non2xx=${non2xx:-0}, errors=${errs:-none}, p50=${p50:-?}, p99=${p99:-?}, cpu_us/req=${cpu:-?})"
    }
    # with_watchers NAME PORT PATH SECONDS ROUND: one run with $WATCHERS dashboard watchers open
    with_watchers() {
        local wpid ready
        "${PIN_LOAD[@]}" python3 "$HERE/watchers.py" "$LEVEE_ADMIN_PORT" "$WATCHERS" >"$WORK/watchers-$5.out" 2>&1 &
        wpid=$!
        PIDS+=("$wpid")
        for ((ready = 0; ready < 100; ready++)); do
            grep -q '^ready' "$WORK/watchers-$5.out" 2>/dev/null && break
            sleep 0.1
        done
        grep -q '^ready' "$WORK/watchers-$5.out" || log "watchers not ready: $(cat "$WORK/watchers-$5.out")"
        run_wrk "levee+${WATCHERS}w" "$2" "$3" "$4" "$5"
        stop_pid "$wpid" TERM 5 || true
        log "watchers round $5: $(tail -1 "$WORK/watchers-$5.out")"
    }
    # direct to the backend, for reference (is the backend a bottleneck?)
    for path in "${PATH_LIST[@]}"; do run_wrk backend-direct "$BPORT" "$path" "$DUR" 0; done
    for path in "${PATH_LIST[@]}"; do
        for p in "${RUNNING[@]}"; do run_wrk "$p" "${PORT_OF[$p]}" "$path" 1 warmup >/dev/null; done
        sed -i '/\twarmup\t/d' "$RAW"
        for ((r = 1; r <= R; r++)); do
            for p in "${RUNNING[@]}"; do
                if ! kill -0 "${PID_OF[$p]}" 2>/dev/null; then
                    log "$p (pid ${PID_OF[$p]}) has exited!"
                    echo -e "note\t$p\t$path\t$r\tprocess exited during the rps part\t" >>"$RAW"
                    continue
                fi
                if [[ $p == levee && $WATCHERS -gt 0 && $LEVEE_MODE == quick ]]; then
                    # Alternate the order, so that neither side always runs on a warmer machine.
                    if ((r % 2)); then
                        run_wrk "$p" "${PORT_OF[$p]}" "$path" "$DUR" "$r"
                        with_watchers "$p" "${PORT_OF[$p]}" "$path" "$DUR" "$r"
                    else
                        with_watchers "$p" "${PORT_OF[$p]}" "$path" "$DUR" "$r"
                        run_wrk "$p" "${PORT_OF[$p]}" "$path" "$DUR" "$r"
                    fi
                else
                    run_wrk "$p" "${PORT_OF[$p]}" "$path" "$DUR" "$r"
                fi
            done
        done
    done
    for p in "${RUNNING[@]}"; do
        if kill -0 "${PID_OF[$p]}" 2>/dev/null; then
            echo -e "rss_after_rps\t$p\t-\t-\t$(python3 -c "
import sys
t=0
for p in sys.argv[1].split(','):
    t+=int([l for l in open(f'/proc/{p}/status') if l.startswith('VmRSS')][0].split()[1])
print(t)" "$(proxy_pids "${PID_OF[$p]}" "$p")")\t" >>"$RAW"
        fi
        stop_pid "${PID_OF[$p]}" TERM 10 || true
    done
fi

# ---------------------------------------------------------------- part 2: instructions per request
if has "$PARTS" instr; then
    [[ $WATCHERS -gt 0 && $LEVEE_MODE == quick && -z ${LEVEE_ADMIN_PORT:-} ]] && LEVEE_ADMIN_PORT=$(free_port)
    cg_total() { awk '/^(totals|summary):/ {print $2; exit}' "$1"; }
    cg_run() { # NAME LABEL REQ_PATH(or "") [WATCHERS]: one valgrind run; sets CG_TOTAL (instructions)
        local name=$1 label=$2 mpath=$3 nw=${4:-0} cg="$WORK/callgrind.$1.$2" path ok=1 stopsig wpid=
        CG_TOTAL=
        start_proxy "$name" "$cg" || return 1
        for path in "${PATH_LIST[@]}"; do
            "${PIN_LOAD[@]}" timeout 300 python3 "$HERE/nreq.py" 127.0.0.1 "$PROXY_PORT" "$path" "$WARM" "$NCONN" >>"$WORK/nreq.log" 2>&1 || ok=0
        done
        if ((nw > 0)); then # dashboard watchers open during the measured requests only
            python3 "$HERE/watchers.py" "$LEVEE_ADMIN_PORT" "$nw" >"$WORK/watchers-cg-$label.out" 2>&1 &
            wpid=$!
            PIDS+=("$wpid")
            for ((i = 0; i < 300; i++)); do grep -q '^ready' "$WORK/watchers-cg-$label.out" && break; sleep 0.1; done
        fi
        if [[ -n $mpath ]]; then
            "${PIN_LOAD[@]}" timeout 600 python3 "$HERE/nreq.py" 127.0.0.1 "$PROXY_PORT" "$mpath" "$N" "$NCONN" \
                >"$WORK/nreq-$name-$label.log" 2>&1 || ok=0
            log "callgrind $name $mpath: $(cat "$WORK/nreq-$name-$label.log")"
        fi
        [[ -n $wpid ]] && { stop_pid "$wpid" TERM 5 || true; log "watchers ($label): $(tail -1 "$WORK/watchers-cg-$label.out")"; }
        sleep 0.5
        stopsig=$STOPSIG
        if ! stop_pid "$PROXY_PID" "$stopsig" 120; then
            log "$name did not stop on SIG$stopsig within 120 s under valgrind (killed)"; ok=0
        fi
        [[ -s $cg ]] || { log "no callgrind output for $name $label"; return 1; }
        [[ $ok == 1 ]] || { log "requests failed for $name $label; see $WORK"; return 1; }
        CG_TOTAL=$(cg_total "$cg")
        [[ -n $CG_TOTAL ]]
    }
    for p in "${ACTIVE[@]}"; do
        # The baseline run is: start, the curl check, a warm-up of $WARM requests per path, and the
        # shutdown. Each measured run is the same plus exactly N requests for one path.
        if ! cg_run "$p" base ""; then
            echo -e "note\t$p\t-\t-\tcallgrind baseline failed\t" >>"$RAW"; continue
        fi
        base=$CG_TOTAL
        log "callgrind $p baseline: $base instructions"
        for path in "${PATH_LIST[@]}"; do
            if cg_run "$p" "${path#/}" "$path"; then
                tot=$CG_TOTAL
                per=$(python3 -c "print(round(($tot - $base) / $N))")
                echo -e "instr\t$p\t$path\t-\t$per\ttotal=$tot;base=$base;n=$N" >>"$RAW"
                log "instr $p $path: $per instructions/request"
                callgrind_annotate --inclusive=no "$WORK/callgrind.$p.${path#/}" 2>/dev/null \
                    | head -80 >"$WORK/annotate-$p-${path#/}.txt" || true
            else
                echo -e "note\t$p\t$path\t-\tcallgrind run failed\t" >>"$RAW"
            fi
            # The same measured requests with $WATCHERS dashboard watchers open: the admin
            # thread's work for them, per request.
            if [[ $p == levee && $WATCHERS -gt 0 && $LEVEE_MODE == quick ]] &&
                cg_run "$p" "${path#/}-w" "$path" "$WATCHERS"; then
                tot=$CG_TOTAL
                per=$(python3 -c "print(round(($tot - $base) / $N))")
                echo -e "instr\tlevee+${WATCHERS}w\t$path\t-\t$per\ttotal=$tot;base=$base;n=$N" >>"$RAW"
                log "instr levee+${WATCHERS}w $path: $per instructions/request"
            fi
        done
    done
fi

# ---------------------------------------------------------------- part 3: memory per idle connection
if has "$PARTS" mem; then
    for p in "${ACTIVE[@]}"; do
        if ! start_proxy "$p"; then echo -e "note\t$p\t-\t-\tdid not start (mem)\t" >>"$RAW"; continue; fi
        pids=$(proxy_pids "$PROXY_PID" "$p")
        line=$("${PIN_LOAD[@]}" timeout 300 python3 "$HERE/idle.py" 127.0.0.1 "$PROXY_PORT" /tiny "$IDLE" "$pids" 2>"$WORK/idle-$p.err" || true)
        log "mem $p: ${line:-FAILED $(head -3 "$WORK/idle-$p.err")}"
        per=$(sed -n 's/.*kib_per_conn=\([0-9.na-]*\).*/\1/p' <<<"$line")
        echo -e "mem\t$p\t/tiny\t-\t${per:-nan}\t$(tr ' ' ';' <<<"$line")" >>"$RAW"
        if ! kill -0 "$PROXY_PID" 2>/dev/null; then
            echo -e "note\t$p\t-\t-\texited during the memory part\t" >>"$RAW"
        fi
        stop_pid "$PROXY_PID" TERM 10 || true
    done
fi

# ---------------------------------------------------------------- report
other_load end
mkdir -p "$(dirname "$OUT")"
ANN_DIR=$WORK
export DUR R CONNS N NCONN WARM IDLE PIN LEVEE LEVEE_MODE PARTS WATCHERS
CMDLINE="DUR=$DUR R=$R N=$N IDLE=$IDLE PIN=$PIN WATCHERS=$WATCHERS bench/proxy/run.sh $*"
python3 "$HERE/report.py" "$RAW" "$ANN_DIR" "$CMDLINE" "$BPORT" | tee "$OUT"
log "report written to $OUT"
