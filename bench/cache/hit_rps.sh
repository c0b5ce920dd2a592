#!/usr/bin/env bash
# bench/cache/hit_rps.sh: cache-hit requests/s, levee vs nginx proxy_cache vs HAProxy cache
# (issue 5 target: levee's cache-hit rate at least nginx proxy_cache's, one worker each).
#
#   bench/cache/hit_rps.sh [-d SECONDS] [-r ROUNDS] [-x SETUPS] [-c CONNS] [-o FILE] [-P]
#
# Backend: levee-sim (bench/cache/conf/hit-sim.yaml) with /tiny (10 bytes) and /16k (16,384
# bytes), both Cache-Control: max-age=86400. Each proxy (one worker) is warmed up (two GETs
# per path, then 1 s of wrk), after which every request is a hit: the sim's per-path count
# is read around every measured run and must not move. wrk -t1 -cCONNS -dDURs (keep-alive,
# closed loop), interleaved rounds (levee, nginx, haproxy, levee, ...), median per setup.
# Pinning as bench/proxy/run.sh: the proxy on CPU 0, wrk and the backend on CPU 1.
# Writes a Markdown report to stdout and to bench/cache/results/hit-rps.md.
#
# Setups: levee (cache 256 MB, guard on: the default), levee-noguard (same, --no-guard),
# nginx (proxy_cache, cache files on /dev/shm; variant NGINX_TUNE), nginx-VARIANT (the same with
# that variant, to compare variants in one run), haproxy (cache section).
# Environment: DUR (10), R (3), CONNS (50), SETUPS (levee,nginx,haproxy), PATHS (/tiny,/16k),
# PIN (1), BIN (build-cacheC), NGINX_TUNE (nginx variant: base | sendfile | ofc |
# sendfile+ofc; default ofc, see README), MAX_LOAD (3), KEEP (0), OUT.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DUR=${DUR:-10}
R=${R:-3}
CONNS=${CONNS:-50}
SETUPS=${SETUPS:-levee,nginx,haproxy}
PATHS=${PATHS:-/tiny,/16k}
PIN=${PIN:-1}
BIN=${BIN:-$ROOT/build-cacheC}
NGINX_TUNE=${NGINX_TUNE:-ofc}
MAX_LOAD=${MAX_LOAD:-3}
KEEP=${KEEP:-0}
OUT=${OUT:-$HERE/results/hit-rps.md}
ARGS="$*"

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while getopts "d:r:x:c:o:Pkh" opt; do
    case $opt in
        d) DUR=$OPTARG ;; r) R=$OPTARG ;; x) SETUPS=$OPTARG ;; c) CONNS=$OPTARG ;;
        o) OUT=$OPTARG ;; P) PIN=0 ;; k) KEEP=1 ;;
        h) usage; exit 0 ;; *) usage; exit 2 ;;
    esac
done
log() { echo "# $*" >&2; }

for tool in nginx haproxy wrk python3 taskset curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (run scripts/deps.sh)" >&2; exit 1; }
done
for b in levee levee-sim; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b (cmake -S . -B build-cacheC -DCMAKE_BUILD_TYPE=RelWithDebInfo && make -C build-cacheC -j2 levee levee-sim levee-load)" >&2; exit 1; }
done
tune_of() { # VARIANT: sets TUNE (extra http{} lines of nginx)
    case $1 in
        base) TUNE='    # (variant base: sendfile off, no open_file_cache)' ;;
        sendfile) TUNE='    sendfile on;                  # variant sendfile' ;;
        ofc) TUNE='    open_file_cache max=1000 inactive=60s;   # variant ofc: keep cache files open' ;;
        sendfile+ofc) TUNE='    sendfile on;                  # variant sendfile+ofc\n    open_file_cache max=1000 inactive=60s;   # keep cache files open (applies to proxy_cache files)' ;;
        *) echo "nginx variant: base | sendfile | ofc | sendfile+ofc" >&2; return 1 ;;
    esac
}
tune_of "$NGINX_TUNE" || exit 2

LEVEE_MODE=none
if "$BIN/levee" proxy --help 2>&1 | grep -q -- '--cache'; then LEVEE_MODE=quick
elif "$BIN/levee" --config-doc 2>&1 | grep -q 'cache\.size'; then LEVEE_MODE=yaml; fi

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d /tmp/levee-hit-rps.XXXXXX)
chmod 755 "$WORK"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then CACHE_DIR=$(mktemp -d /dev/shm/levee-hit-rps-nginx.XXXXXX); else CACHE_DIR=$WORK/nginx-cache; mkdir -p "$CACHE_DIR"; fi
chmod 777 "$CACHE_DIR"
RAW=$WORK/raw.tsv
: >"$RAW"
PIDS=()
stop_pid() {
    local p=$1 q keep=() i
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
    if [ "$KEEP" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$PIN" = 1 ]; then PIN_PROXY=(taskset -c 0); PIN_LOAD=(taskset -c 1); else PIN_PROXY=(); PIN_LOAD=(); fi
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL PID
    local i
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_load() {
    local i
    for i in $(seq 1 40); do
        python3 -c "import sys; sys.exit(0 if float('$(cut -d' ' -f1 /proc/loadavg)') <= $MAX_LOAD else 1)" && return 0
        [ "$i" = 1 ] && log "load average $(loadavg) > $MAX_LOAD: waiting (up to 10 min)"
        sleep 15
    done
    log "load average still $(loadavg) after 10 min: running anyway"
}
busy_others() { # processes above 10 % CPU, as bench/proxy records them
    top -bn2 -d0.5 -w 200 | awk '/^top -/ {n++} n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 10 {printf "%s(%s%%) ", $12, $9}'
}
sim_count() { # PATH: the sim's received count for the path
    curl -fsS "http://127.0.0.1:$BPORT/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['paths'].get('$1',{}).get('received',0))"
}
fill() {
    sed -e "s#@DIR@#$WORK#g" -e "s#@PROXY_PORT@#$PPORT#g" -e "s#@PORT@#$PPORT#g" -e "s#@BACKEND_PORT@#$BPORT#g" \
        -e "s#@ADMIN@#${ADMIN:-127.0.0.1:0}#g" -e "s#@CACHE_DIR@#$CACHE_DIR/$PPORT#g" -e "s#@GUARD@#${GUARDV:-true}#g" "$1" \
        | sed -e "s|@TUNE@|$TUNE|"
}

echo -e "load\tstart\t-\t-\t$(loadavg)\t$(busy_others)" >>"$RAW"

# ---------------------------------------------------------------- backend (CPU 1)
BPORT=$(freeport)
"${PIN_LOAD[@]}" "$BIN/levee-sim" -c "$HERE/conf/hit-sim.yaml" --listen 127.0.0.1:$BPORT --log-level warn 2>"$WORK/sim.log" &
SIM_PID=$!; PIDS+=("$SIM_PID")
wait_http "http://127.0.0.1:$BPORT/health" $SIM_PID || { cat "$WORK/sim.log" >&2; exit 1; }
IFS=, read -r -a PATH_LIST <<<"$PATHS"
for path in "${PATH_LIST[@]}"; do curl -fsS -o "$WORK/ref${path//\//_}" "http://127.0.0.1:$BPORT$path"; done
log "backend levee-sim on 127.0.0.1:$BPORT (pid $SIM_PID)"

# ---------------------------------------------------------------- proxies (CPU 0)
declare -A PORT_OF PID_OF ADMIN_OF
RUNNING=()
start_proxy() { # NAME
    local name=$1
    PPORT=$(freeport); ADMIN=127.0.0.1:$(freeport); GUARDV=true
    case $name in
        nginx|nginx-*)
            if [ $name = nginx ]; then tune_of "$NGINX_TUNE"; else tune_of "${name#nginx-}" || return 1; fi
            mkdir -p "$CACHE_DIR/$PPORT"; chmod 777 "$CACHE_DIR/$PPORT"
            fill "$HERE/conf/hit-nginx.conf.tmpl" | sed 's/\\n/\n/g' >"$WORK/nginx-$PPORT.conf"
            nginx -t -q -p "$WORK" -c "$WORK/nginx-$PPORT.conf" -g 'daemon off;' 2>"$WORK/nginx-t.log" || { cat "$WORK/nginx-t.log" >&2; return 1; }
            CMD=(nginx -p "$WORK" -c "$WORK/nginx-$PPORT.conf" -g "daemon off;") ;;
        haproxy)
            fill "$HERE/conf/hit-haproxy.cfg.tmpl" >"$WORK/haproxy-$PPORT.cfg"
            CMD=(haproxy -db -f "$WORK/haproxy-$PPORT.cfg") ;;
        levee|levee-noguard)
            if [ $LEVEE_MODE = quick ]; then
                CMD=("$BIN/levee" proxy --listen 127.0.0.1:$PPORT --to 127.0.0.1:$BPORT --workers 1 --admin $ADMIN --cache 256MB --log-level warn)
                [ $name = levee-noguard ] && CMD+=(--no-guard)
            else
                [ $name = levee-noguard ] && GUARDV=false
                fill "$HERE/conf/hit-levee.yaml.tmpl" >"$WORK/levee-$PPORT.yaml"
                CMD=("$BIN/levee" -c "$WORK/levee-$PPORT.yaml")
            fi ;;
    esac
    echo -e "cmd\t$name\t-\t-\t${CMD[*]}\t" >>"$RAW"
    "${PIN_PROXY[@]}" "${CMD[@]}" >"$WORK/$name.out" 2>&1 &
    PID_OF[$name]=$!; PORT_OF[$name]=$PPORT; ADMIN_OF[$name]=$ADMIN; PIDS+=("${PID_OF[$name]}")
    wait_http "http://127.0.0.1:$PPORT/health" "${PID_OF[$name]}" || { tail -20 "$WORK/$name.out" >&2; return 1; }
}
check_hits() { # NAME: two GETs per path; the second must not reach the backend; bodies must be right
    local name=$1 port=${PORT_OF[$1]} path b0 b1 ok=1 i
    for path in "${PATH_LIST[@]}"; do
        b0=$(sim_count "$path")
        for i in 1 2; do
            curl -sS -D "$WORK/h-$name$i" -o "$WORK/b-$name$i" "http://127.0.0.1:$port$path"
            cmp -s "$WORK/b-$name$i" "$WORK/ref${path//\//_}" || { log "$name $path: WRONG BODY (answer $i)"; ok=0; }
        done
        b1=$(sim_count "$path")
        echo -e "check\t$name\t$path\t-\t$((b1 - b0))\t$(tr -d '\r' <"$WORK/h-${name}2" | grep -iE '^(HTTP|age|cache-control|content-length|x-cache)' | paste -sd';' -)" >>"$RAW"
        if [ $((b1 - b0)) -gt 1 ]; then log "$name $path: the backend saw $((b1 - b0)) requests for 2 GETs: NOT CACHING"; ok=0; fi
    done
    [ $ok = 1 ]
}

IFS=, read -r -a SETUP_LIST <<<"$SETUPS"
for s in "${SETUP_LIST[@]}"; do
    if [[ $s == levee* && $LEVEE_MODE == none ]]; then
        log "$s skipped: this levee has no cache option"; echo -e "note\t$s\t-\t-\tskipped: no cache option in $BIN/levee\t" >>"$RAW"; continue
    fi
    if ! start_proxy "$s"; then echo -e "note\t$s\t-\t-\tdid not start\t" >>"$RAW"; continue; fi
    if ! check_hits "$s"; then echo -e "note\t$s\t-\t-\tfailed the cache check (see check rows)\t" >>"$RAW"; fi
    RUNNING+=("$s")
    log "$s on 127.0.0.1:${PORT_OF[$s]} (pid ${PID_OF[$s]})"
done
[ ${#RUNNING[@]} -gt 0 ] || { echo "nothing to measure" >&2; exit 1; }

proxy_pids() { # NAME: the processes that do the work (nginx: the worker; else the process)
    local pid=${PID_OF[$1]} kids
    if [[ $1 == nginx* ]]; then
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' | paste -sd' ' -)
        echo "${kids:-$pid}"
    else
        echo "$pid"
    fi
}
cpu_ticks() { # PIDS...: user + system CPU time, in clock ticks, of these processes (all threads)
    local p t=0 f
    for p in "$@"; do
        f=$(cut -d')' -f2- /proc/"$p"/stat 2>/dev/null) || continue
        t=$((t + $(awk '{print $12 + $13}' <<<"$f")))
    done
    echo $t
}
HZ=$(getconf CLK_TCK)
run_wrk() { # NAME PATH SECONDS ROUND
    local f="$WORK/wrk-$1-${2#/}-$4.txt" b0 b1 rps non2xx errs p50 p99 c0 c1 nreq pids
    b0=$(sim_count "$2")
    pids=$(proxy_pids "$1")
    c0=$(cpu_ticks $pids)
    "${PIN_LOAD[@]}" timeout $(($3 + 30)) wrk -t1 -c"$CONNS" -d"$3"s --latency "http://127.0.0.1:${PORT_OF[$1]}$2" >"$f" 2>&1 || true
    c1=$(cpu_ticks $pids)
    b1=$(sim_count "$2")
    nreq=$(awk '/requests in/ {print $1}' "$f")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$f")
    errs=$(awk -F'Socket errors: ' '/Socket errors:/ {print $2}' "$f")
    p50=$(awk '/^ +50%/ {print $2}' "$f")
    p99=$(awk '/^ +99%/ {print $2}' "$f")
    echo -e "rps\t$1\t$2\t$4\t${rps:-0}\tnon2xx=${non2xx:-0};errors=${errs:-none};p50=${p50:-?};p99=${p99:-?};backend=$((b1 - b0));load=$(loadavg | tr ' ' ',');requests=${nreq:-0};cpu_s=$(python3 -c "print(($c1 - $c0) / $HZ)")" >>"$RAW"
    log "rps $1 $2 round $4: ${rps:-FAILED} req/s (backend requests $((b1 - b0)), non2xx=${non2xx:-0}, errors=${errs:-none}, p50=${p50:-?}, p99=${p99:-?}, load $(loadavg))"
}
for path in "${PATH_LIST[@]}"; do
    for s in "${RUNNING[@]}"; do run_wrk "$s" "$path" 1 warmup >/dev/null; done
    sed -i '/\twarmup\t/d' "$RAW"
    for ((r = 1; r <= R; r++)); do
        wait_load
        echo -e "load\tround\t$path\t$r\t$(loadavg)\t$(busy_others)" >>"$RAW"
        for s in "${RUNNING[@]}"; do
            if ! kill -0 "${PID_OF[$s]}" 2>/dev/null; then
                log "$s (pid ${PID_OF[$s]}) has exited!"; echo -e "note\t$s\t$path\t$r\tprocess exited\t" >>"$RAW"; continue
            fi
            run_wrk "$s" "$path" "$DUR" "$r"
        done
    done
done
# After the runs: one more GET per path through each proxy, body compared with the backend's.
for s in "${RUNNING[@]}"; do
    for path in "${PATH_LIST[@]}"; do
        code=$(curl -sS -o "$WORK/final-$s" -w '%{http_code}' "http://127.0.0.1:${PORT_OF[$s]}$path" 2>/dev/null || echo 000)
        cmp -s "$WORK/final-$s" "$WORK/ref${path//\//_}" && ok=same || ok=DIFFERENT
        echo -e "final\t$s\t$path\t-\tstatus $code, body $ok\t" >>"$RAW"
        [ "$ok" = same ] && [ "$code" = 200 ] || log "$s $path after the runs: status $code, body $ok"
    done
done
for s in "${RUNNING[@]}"; do
    if [[ $s == levee* ]]; then
        adm=${ADMIN_OF[$s]}
        curl -fsS --max-time 5 "http://$adm/metrics" 2>/dev/null | grep -i cache | grep -v '^#' | sed "s/^/metrics\t$s\t-\t-\t/" >>"$RAW" || true
    fi
    kill -0 "${PID_OF[$s]}" 2>/dev/null || echo -e "note\t$s\t-\t-\texited before the end\t" >>"$RAW"
    stop_pid "${PID_OF[$s]}"
done
echo -e "load\tend\t-\t-\t$(loadavg)\t$(busy_others)" >>"$RAW"
# Raw files next to the report: the rows, wrk's outputs, the filled configs.
RAWDIR=$(dirname "$OUT")/raw/$(basename "$OUT" .md)
rm -rf "$RAWDIR"; mkdir -p "$RAWDIR"
cp "$RAW" "$WORK"/wrk-*.txt "$RAWDIR"/ 2>/dev/null || true
cp "$WORK"/*.conf "$WORK"/*.cfg "$WORK"/*.yaml "$RAWDIR"/ 2>/dev/null || true

mkdir -p "$(dirname "$OUT")"
LEVEE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(cd "$ROOT" && git status --porcelain -- src 2>/dev/null | wc -l)
[ "$DIRTY" -gt 0 ] && LEVEE_REV="$LEVEE_REV + $DIRTY uncommitted paths under src/"
LEVEE_REV="$LEVEE_REV, binary built $(date -u -r "$BIN/levee" '+%Y-%m-%d %H:%M UTC') ($LEVEE_MODE mode)"
CMDLINE="DUR=$DUR R=$R CONNS=$CONNS PIN=$PIN NGINX_TUNE=$NGINX_TUNE SETUPS=$SETUPS bench/cache/hit_rps.sh${ARGS:+ $ARGS}"
DUR=$DUR python3 - "$RAW" "$CMDLINE" "$LEVEE_REV" "$(nginx -v 2>&1 | sed 's/.*nginx\///')" "$(haproxy -v | head -1 | awk '{print $3}')" <<'PY' | tee "$OUT"
import sys, statistics, datetime, platform, collections
raw, cmd, rev, ngv, hav = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(raw)]
rps = collections.defaultdict(list)
extra = collections.defaultdict(list)
for r in rows:
    if r[0] == "rps":
        rps[(r[1], r[2])].append(float(r[4]))
        extra[(r[1], r[2])].append(dict(kv.split("=", 1) for kv in r[5].split(";")))
setups = list(dict.fromkeys(r[1] for r in rows if r[0] == "rps"))
paths = list(dict.fromkeys(r[2] for r in rows if r[0] == "rps"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Cache-hit requests/s: levee vs nginx proxy_cache vs HAProxy cache\n")
print("Run of %s, `%s`; levee %s; nginx %s, HAProxy %s; %s, %d CPUs (%s).\n" % (
    datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), cmd, rev, ngv, hav, cpu,
    __import__("os").cpu_count(), platform.release()))
print("| path | " + " | ".join(setups) + " | levee / nginx | target (levee ≥ nginx) |")
print("|---|" + "---|" * (len(setups) + 2))
verdicts = []
for p in paths:
    cells = []
    med = {}
    for s in setups:
        v = rps.get((s, p), [])
        if not v:
            cells.append("-"); continue
        med[s] = statistics.median(v)
        cells.append("**{:,.0f}** ({})".format(med[s], ", ".join("{:,.0f}".format(x) for x in v)))
    ratio = med["levee"] / med["nginx"] if "levee" in med and "nginx" in med and med["nginx"] else None
    met = ("yes" if ratio >= 1 else "**no**") if ratio is not None else "not measured"
    verdicts.append((p, ratio, met))
    print("| %s | %s | %s | %s |" % (p, " | ".join(cells), "%.2f" % ratio if ratio else "-", met))
print("\nMedian of the rounds in bold, every round in brackets (interleaved: %s, ...).\n" % ", ".join(setups))
print("Proxy CPU time per request (user + system, from /proc, all rounds; less sensitive to the other load on the machine than requests/s):\n")
print("| path | " + " | ".join(setups) + " | levee / nginx |")
print("|---|" + "---|" * (len(setups) + 1))
for p in paths:
    us = {}
    for s in setups:
        ex = extra.get((s, p), [])
        n = sum(int(e.get("requests", 0)) for e in ex)
        c = sum(float(e.get("cpu_s", 0)) for e in ex)
        if n:
            us[s] = 1e6 * c / n
    print("| %s | %s | %s |" % (p, " | ".join("%.1f µs" % us[s] if s in us else "-" for s in setups),
          "%.2f" % (us["levee"] / us["nginx"]) if "levee" in us and "nginx" in us and us["nginx"] else "-"))
print("")
print("| path | setup | p50 / p99 latency (each round) | proxy CPU use, % of one core (each round) | non-2xx | socket errors | backend requests during the runs |")
print("|---|---|---|---|---|---|---|")
dur = float(__import__("os").environ.get("DUR", "10"))
for p in paths:
    for s in setups:
        ex = extra.get((s, p), [])
        if not ex: continue
        print("| %s | %s | %s | %s | %s | %s | %s |" % (p, s, ", ".join("%s / %s" % (e["p50"], e["p99"]) for e in ex),
              ", ".join("%.0f" % (100 * float(e.get("cpu_s", 0)) / dur) for e in ex),
              sum(int(e["non2xx"]) for e in ex), "; ".join(sorted(set(e["errors"] for e in ex))),
              sum(int(e["backend"]) for e in ex)))
print("\nChecks before the runs (two GETs per path through each proxy; backend requests they caused, head of the second answer):\n")
for r in rows:
    if r[0] == "check":
        print("- %s %s: backend +%s; %s" % (r[1], r[2], r[4], r[5]))
fin = [r for r in rows if r[0] == "final"]
if fin:
    print("\nAfter the runs, one GET per path through each proxy: " + "; ".join("%s %s %s" % (r[1], r[2], r[4]) for r in fin) + ".")
notes = [r for r in rows if r[0] == "note"]
for r in notes:
    print("- NOTE %s %s %s: %s" % (r[1], r[2], r[3], r[4]))
print("\nLoad average (1/5/15 min) and processes above 10 % CPU:\n")
for r in rows:
    if r[0] == "load":
        print("- %s %s %s: %s %s" % (r[1], r[2] if r[2] != "-" else "", ("round " + r[3]) if r[3] != "-" else "", r[4], r[5] if len(r) > 5 else ""))
mets = [r for r in rows if r[0] == "metrics"]
if mets:
    print("\nlevee's cache metrics at the end (all rounds and warm-ups):\n")
    for r in mets:
        print("- %s: `%s`" % (r[1], r[4]))
for r in rows:
    if r[0] == "cmd":
        print("- command %s: `%s`" % (r[1], r[4]))
PY
log "report written to $OUT"
