#!/usr/bin/env bash
# bench/soak/run.sh: the soak bench: levee for a long time at 2x the backend's capacity with
# F5 users; is its memory flat, are its descriptors flat, is nothing left open afterwards?
#
#   bench/soak/run.sh [--mode guarded|plain|both] [--minutes N] [--sequential]
#                     [--build DIR] [--interval S]
#
# --mode      guarded: levee quick mode with every default (the guard on); plain: the same
#             with --no-guard; both (default): the two side by side, each with its own
#             levee-sim, levee and levee-load on its own free 127.0.0.1 ports (the hour
#             costs one hour, not two; they share the machine's cores: see README.md).
# --minutes   minutes of load (default 60); --minutes 2 is a quick check.
# --sequential  with --mode both, one mode after the other instead (twice the wall time,
#             no sharing of cores between the two).
# --build     directory with levee, levee-sim, levee-load (default: $LEVEE_BUILD, else
#             build/release; built there with CMAKE_BUILD_TYPE=Release if missing).
#             TOOLS_BUILD=DIR takes levee-sim and levee-load from elsewhere (e.g. levee from
#             an ASan build, the tools from the release build).
# --interval  seconds between samples (default 5).
#
# Each mode: levee-sim (4 workers x 10 ms, exp, thrash 0.001: C = 400 requests/s, as in
# bench/overload), levee in front of it (`levee proxy`, default worker count), levee-load at
# 800 users/s of one request each (2 C) for the whole run: patience ~2 s (log-normal, p99
# 6 s), F5 with probability 0.8 (up to 4 tries), half of the users obey Retry-After. Every
# interval: levee's VmRSS, open descriptors, TCP sockets (ss), /metrics, levee-load's
# progress. After the load: waits until levee's descriptors are back to the baseline taken
# before the load (at most SETTLE_S), then SIGTERM, expects exit 0. Then analyze.py writes
#   bench/soak/results/soak-<mode>.{csv,json}, soak.html   and   results/raw/<mode>/
#
# Environment: LEVEE_BUILD (as --build), TOOLS_BUILD (above), RATE (users/s, 800), JOURNEY
# (/play), SIM_DIST (exp), SIM_THRASH (0.001), SETTLE_S (120: longer than levee's 60 s
# keep-alive idle timeouts), OUT_DIR (results dir), KEEP=1 (keep the work dir in /tmp),
# LEVEE_REV (what levee is, for the report; default git HEAD).
# Exit: 0 every check passed; 3 the run completed but a check failed (RSS drift over 5 %,
# something left open, levee's exit status not 0); 1 the run itself failed; 2 bad usage.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() { sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

MODE=both
MINUTES=60
SEQUENTIAL=0
BUILD=${LEVEE_BUILD:-$ROOT/build/release}
INTERVAL=5
while [ $# -gt 0 ]; do
    case $1 in
        --mode) MODE=${2:?--mode needs guarded, plain or both}; shift 2 ;;
        --mode=*) MODE=${1#*=}; shift ;;
        --minutes) MINUTES=${2:?--minutes needs a number}; shift 2 ;;
        --minutes=*) MINUTES=${1#*=}; shift ;;
        --sequential) SEQUENTIAL=1; shift ;;
        --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
        --build=*) BUILD=${1#*=}; shift ;;
        --interval) INTERVAL=${2:?--interval needs seconds}; shift 2 ;;
        --interval=*) INTERVAL=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case $MODE in
    guarded|plain) MODES=$MODE ;;
    both) MODES="guarded plain" ;;
    *) echo "run.sh: --mode is guarded, plain or both, not '$MODE'" >&2; exit 2 ;;
esac
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --minutes must be a whole number >= 1" >&2; exit 2; }
[[ $INTERVAL =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --interval must be whole seconds >= 1" >&2; exit 2; }
for tool in curl python3 ss; do
    command -v $tool >/dev/null || { echo "run.sh: missing $tool (scripts/deps.sh)" >&2; exit 1; }
done

RATE=${RATE:-800}
JOURNEY=${JOURNEY:-/play}
SIM_WORKERS=4
SIM_SERVICE_MS=10
SIM_DIST=${SIM_DIST:-exp}
SIM_THRASH=${SIM_THRASH:-0.001}
CAP=$((SIM_WORKERS * 1000 / SIM_SERVICE_MS))
SETTLE_S=${SETTLE_S:-120}
DURATION_S=$((MINUTES * 60))

# --- binaries ------------------------------------------------------------------------------
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TOOLS=${TOOLS_BUILD:-$BUILD}
case $TOOLS in /*) ;; *) TOOLS=$PWD/$TOOLS ;; esac
if [ ! -x "$BUILD/levee" ] || [ ! -x "$TOOLS/levee-sim" ] || [ ! -x "$TOOLS/levee-load" ]; then
    [ "$TOOLS" = "$BUILD" ] || { echo "run.sh: missing $BUILD/levee or the tools in $TOOLS" >&2; exit 1; }
    echo "# building release binaries in $BUILD" >&2
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target levee levee-sim levee-load >/dev/null
fi

OUT_DIR=${OUT_DIR:-$HERE/results}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/levee-soak.XXXXXX)
if [ -z "${LEVEE_REV:-}" ]; then
    LEVEE_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(cd "$ROOT" && git status --porcelain -- src 2>/dev/null | wc -l)
    [ "$dirty" -gt 0 ] && LEVEE_REV="$LEVEE_REV + $dirty uncommitted paths under src/"
fi
LEVEE_REV="$LEVEE_REV, binary $BUILD/levee built $(date -r "$BUILD/levee" '+%Y-%m-%d %H:%M')"

freeport() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
elapsed() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

# --- one mode, run in a subshell of its own (so that two can run side by side) ------------
# Writes $OUT_DIR/soak-$mode.csv and $OUT_DIR/raw/$mode/; exit 0 when the run completed (the
# checks are judged by analyze.py), 1 when it failed.
run_mode() {
    local mode=$1
    local w=$WORK/$mode raw=$OUT_DIR/raw/$mode csv=$OUT_DIR/soak-$mode.csv
    local tag="[$mode]"
    mkdir -p "$w" "$raw"
    rm -f "$raw"/*
    PIDS=() # this subshell's own processes, stopped by PID on exit
    forget() { local q keep=(); for q in "${PIDS[@]:-}"; do [ "$q" = "$1" ] || keep+=("$q"); done; PIDS=("${keep[@]:-}"); }
    stop_pid() { # PID: TERM, then KILL after 5 s
        local p=$1 i
        forget "$p"
        kill -TERM "$p" 2>/dev/null || return 0
        for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    }
    mode_cleanup() {
        local p
        for p in "${PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
        return 0 # (an EXIT trap's failing last command would become the exit status under set -e)
    }
    trap mode_cleanup EXIT
    trap 'exit 130' INT TERM
    fail() { echo "run.sh: $tag $*" >&2; exit 1; }

    local sport pport aport
    sport=$(freeport); pport=$(freeport); aport=$(freeport)
    while [ "$pport" = "$sport" ]; do pport=$(freeport); done
    while [ "$aport" = "$sport" ] || [ "$aport" = "$pport" ]; do aport=$(freeport); done
    local admin=127.0.0.1:$aport

    "$TOOLS/levee-sim" --listen 127.0.0.1:$sport --workers $SIM_WORKERS \
        --service-ms $SIM_SERVICE_MS --dist "$SIM_DIST" --thrash "$SIM_THRASH" \
        --log-level warn 2>"$w/sim.log" &
    local sim=$!; PIDS+=("$sim")
    local i
    for i in $(seq 1 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$sport/health" 2>/dev/null && break
        kill -0 $sim 2>/dev/null || { cat "$w/sim.log" >&2; fail "levee-sim exited"; }
        [ "$i" = 100 ] && fail "levee-sim did not answer on :$sport"
        sleep 0.1
    done

    # Shipped defaults: quick mode, no --workers (one per core), every guard setting at its
    # default; plain is the same with the guard off.
    local noguard=(); [ "$mode" = plain ] && noguard=(--no-guard)
    "$BUILD/levee" proxy --listen 127.0.0.1:$pport --to 127.0.0.1:$sport --admin "$admin" \
        --log-level warn "${noguard[@]}" 2>"$w/levee.log" &
    local lv=$!; PIDS+=("$lv")
    # Ready: the admin answers and the proxy port listens. No request goes through levee
    # before the baseline, so that it holds no pooled upstream connection yet.
    for i in $(seq 1 100); do
        if curl -fsS -o /dev/null --max-time 1 "http://$admin/health" 2>/dev/null &&
            [ -n "$(ss -Htln "sport = :$pport" 2>/dev/null)" ]; then break; fi
        kill -0 $lv 2>/dev/null || { cat "$w/levee.log" >&2; fail "levee exited"; }
        [ "$i" = 100 ] && { cat "$w/levee.log" >&2; fail "levee did not get ready"; }
        sleep 0.1
    done
    sleep 1

    # One sample: a CSV row. levee's TCP sockets are those of `ss -tane` whose inode is one of
    # its descriptors: listen, client (local port the proxy's), upstream (peer port the sim's),
    # other; close_wait counts the non-listening ones in CLOSE-WAIT. (No `ss -p`: it reads
    # every descriptor of every process, tens of thousands here, and made samples late.)
    local t0=$EPOCHREALTIME
    local cols="t_s,phase,rss_kb,hwm_kb,threads,fds,tcp_listen,tcp_client,tcp_upstream,tcp_other,tcp_close_wait"
    cols+=",conns_open,accepted,conns_refused,requests,req_2xx,req_4xx,req_5xx,up_in_flight,up_connects,up_reuses"
    cols+=",up_errors,up_timeouts,guard_limit,guard_queue,load_offered_per_s,load_req_per_s"
    cols+=",load_goodput_per_s,load_open,sample_ms"
    echo "$cols" >"$csv"
    local ROW
    sample() { # PHASE; sets ROW, appends it to the CSV
        local t t1 st rss hwm thr links fds tcp met prog
        t1=$EPOCHREALTIME
        t=$(elapsed "$t0")
        st=$(cat /proc/$lv/status 2>/dev/null) || return 1
        rss=$(awk '/^VmRSS:/ {print $2}' <<<"$st")
        hwm=$(awk '/^VmHWM:/ {print $2}' <<<"$st")
        thr=$(awk '/^Threads:/ {print $2}' <<<"$st")
        links=$(find /proc/$lv/fd -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null) || true
        fds=$(grep -c . <<<"$links") || true
        tcp=$({ sed -n 's/^socket:\[\([0-9]*\)\]$/S \1/p' <<<"$links"; ss -Htane 2>/dev/null; } |
            awk -v pp=":$pport" -v sp=":$sport" '
            $1 == "S" { mine[$2] = 1; next }
            {
                ino = ""
                for (i = 6; i <= NF; i++) if (substr($i, 1, 4) == "ino:") { ino = substr($i, 5); break }
                if (!(ino in mine)) next
                if ($1 == "LISTEN") { l++; next }
                if (substr($4, length($4) - length(pp) + 1) == pp) c++
                else if (substr($5, length($5) - length(sp) + 1) == sp) u++
                else o++
                if ($1 == "CLOSE-WAIT") cw++
            }
            END { printf "%d,%d,%d,%d,%d", l, c, u, o, cw }') || true
        met=$(curl -fsS --max-time 2 "http://$admin/metrics" 2>/dev/null | awk '
            function v() { return $NF + 0 }
            /^levee_connections_open / { co = v(); seen = 1 }
            /^levee_connections_accepted_total / { ca = v() }
            /^levee_connections_refused_total / { cf = v() }
            /^levee_requests_total\{/ { rq += v(); if (/code="2xx"/) r2 += v();
                else if (/code="4xx"/) r4 += v(); else if (/code="5xx"/) r5 += v() }
            /^levee_upstream_in_flight\{/ { uf += v() }
            /^levee_upstream_connects_total\{/ { uc += v() }
            /^levee_upstream_reuses_total\{/ { ur += v() }
            /^levee_upstream_errors_total\{/ { ue += v() }
            /^levee_upstream_timeouts_total\{/ { ut += v() }
            /^levee_guard_limit\{/ { gl += v() }
            /^levee_guard_queue_length\{/ { gq += v() }
            END { if (!seen) { print ",,,,,,,,,,,,,"; exit }
                  printf "%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f",
                      co, ca, cf, rq, r2, r4, r5, uf, uc, ur, ue, ut, gl, gq }') || true
        [ -n "$met" ] || met=",,,,,,,,,,,,,"
        prog=",,,"
        if [ "$1" = load ] && [ -s "$w/load.err" ]; then
            prog=$(tail -c 400 "$w/load.err" | tr '\r' '\n' | grep 'levee-load t=' | tail -n 1 |
                awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] + 0 }
                       printf "%d,%d,%d,%d", f["offered"], f["req"], f["goodput"], f["open"] }') || true
            [ -n "$prog" ] || prog=",,,"
        fi
        ROW="$t,$1,$rss,$hwm,$thr,$fds,$tcp,$met,$prog,$(elapsed "$t1" | awk '{ printf "%.0f", $1 * 1000 }')"
        echo "$ROW" >>"$csv"
    }
    field() { cut -d, -f"$1" <<<"$ROW"; } # 3 rss, 6 fds, 8 client, 9 upstream, 10 other, 15 requests, 28 goodput

    sample start || fail "levee is gone"
    local base_fds base_rss
    base_fds=$(field 6); base_rss=$(field 3)
    ls -l /proc/$lv/fd >"$raw/fds-baseline.txt" 2>/dev/null || true

    # The load: a constant rate for the whole run, F5 users as in the overload scenarios.
    cat >"$w/soak.yaml" <<EOF
label: soak-$mode
target: http://127.0.0.1:$pport/
duration_s: $DURATION_S
capacity: $CAP
seed: 1
profile:
  - plateau: {rate: $RATE, for_s: $DURATION_S}
users:
  journey: [$(sed 's/,/, /g' <<<"$JOURNEY")]
  patience_ms: {dist: lognormal, mean: 2000, p99: 6000}
  think_ms: {dist: exp, mean: 300}
  f5_probability: 0.8
  max_tries: 4
  retry_delay_ms: {dist: lognormal, mean: 800, p99: 3000}
  obey_retry_after: 0.5
EOF
    cp "$w/soak.yaml" "$raw/load.yaml"
    echo "# $tag levee :$pport (admin :$aport, pid $lv) -> levee-sim :$sport; baseline" \
        "rss $((base_rss / 1024)) MiB, $base_fds fds; $RATE users/s for $MINUTES min" >&2
    t0=$EPOCHREALTIME
    timeout $((DURATION_S + 180)) "$TOOLS/levee-load" "$w/soak.yaml" --label "soak-$mode" \
        --json "$raw/load.json" >"$raw/load.txt" 2>"$w/load.err" &
    local ld=$!; PIDS+=("$ld")

    local next now minute=0 rss60="" lv_dead=0 prev_t=0 prev_req=0
    while kill -0 $ld 2>/dev/null; do
        # The next multiple of the interval: a late sample delays the next, never crowds them.
        now=$(elapsed "$t0")
        next=$(awk -v t="$now" -v i="$INTERVAL" 'BEGIN { printf "%d", (int(t / i) + 1) * i }')
        sleep "$(awk -v n="$next" -v t="$now" 'BEGIN { d = n - t; print (d > 0 ? d : 0) }')"
        kill -0 $lv 2>/dev/null || { lv_dead=1; break; }
        kill -0 $ld 2>/dev/null || break
        sample load || { lv_dead=1; break; }
        [ -z "$rss60" ] && [ "$next" -ge 60 ] && rss60=$(field 3)
        if [ $((next / 60)) -gt "$minute" ]; then
            minute=$((next / 60))
            local rss dr="" rps
            rss=$(field 3)
            [ -n "$rss60" ] && dr=$(awk -v a="$rss" -v b="$rss60" 'BEGIN { printf " (%+.1f %% vs minute 1)", 100 * (a - b) / b }')
            rps=$(awk -v r="$(field 15)" -v pr="$prev_req" -v t="$(field 1)" -v pt="$prev_t" \
                'BEGIN { printf "%.0f", (r != "" && t > pt) ? (r - pr) / (t - pt) : 0 }')
            echo "# $tag $minute/$MINUTES min: rss $(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }') MiB$dr," \
                "fds $(field 6), tcp client $(field 8) upstream $(field 9)," \
                "levee answers $rps/s, goodput $(field 28)/s (last second)" >&2
            prev_t=$(field 1); prev_req=$(field 15); [ -n "$prev_req" ] || prev_req=0
        fi
    done
    if [ "$lv_dead" = 1 ] || ! kill -0 $lv 2>/dev/null; then
        cp "$w/levee.log" "$raw/levee.log" 2>/dev/null || true
        local rc=0; wait $lv 2>/dev/null || rc=$?
        printf 'levee_died\t%s\n' "$rc" >"$raw/meta.tsv"
        fail "levee died during the load (status $rc); log: $raw/levee.log"
    fi
    local load_rc=0
    wait $ld || load_rc=$?
    forget $ld
    local t_load_end
    t_load_end=$(elapsed "$t0")
    [ "$load_rc" = 0 ] || { cp "$w/load.err" "$raw/load.err"; fail "levee-load failed (exit $load_rc)"; }

    # Settle: nothing but the listeners should stay open. Idle keep-alive connections (client
    # 60 s, upstream pool 60 s) and plain's upstream reads of abandoned requests (read
    # timeout 30 s) close by themselves; wait for them, at most SETTLE_S.
    local settled="" fds5="" s_start=$EPOCHREALTIME s_el
    while :; do
        sleep 2
        kill -0 $lv 2>/dev/null || fail "levee died after the load"
        sample settle || fail "levee is gone"
        s_el=$(elapsed "$s_start")
        [ -z "$fds5" ] && awk -v e="$s_el" 'BEGIN { exit !(e >= 5) }' && fds5=$(field 6)
        if [ "$(field 6)" -le "$base_fds" ] && [ "$(field 8)" = 0 ] && [ "$(field 9)" = 0 ] &&
            [ "$(field 10)" = 0 ]; then
            settled=$s_el; [ -z "$fds5" ] && fds5=$(field 6); break
        fi
        awk -v e="$s_el" -v m="$SETTLE_S" 'BEGIN { exit !(e >= m) }' && break
    done
    local settle_row=$ROW
    ls -l /proc/$lv/fd >"$raw/fds-end.txt" 2>/dev/null || true
    ss -Htanp 2>/dev/null | grep "pid=$lv," >"$raw/tcp-end.txt" || true
    if [ -n "$settled" ]; then
        echo "# $tag load over at $t_load_end s; back to the baseline ($base_fds fds, no connection) after ${settled} s" >&2
    else
        echo "# $tag load over at $t_load_end s; NOT back to the baseline after $SETTLE_S s: $(field 6) fds (baseline $base_fds), tcp client $(field 8) upstream $(field 9) other $(field 10)" >&2
    fi
    curl -fsS --max-time 5 "http://$admin/metrics" >"$raw/metrics-end.txt" 2>/dev/null || true
    curl -fsS --max-time 5 "http://$admin/status" >"$raw/status-end.json" 2>/dev/null || true
    curl -fsS --max-time 5 "http://127.0.0.1:$sport/stats" >"$raw/sim.json" 2>/dev/null || true

    # Stop: SIGTERM, exit 0 expected (drain_ms is 10 s; give it 30).
    forget $lv
    kill -TERM $lv
    local exit_rc="" stop_start=$EPOCHREALTIME
    for i in $(seq 1 300); do kill -0 $lv 2>/dev/null || break; sleep 0.1; done
    if kill -0 $lv 2>/dev/null; then
        kill -KILL $lv 2>/dev/null || true
        wait $lv 2>/dev/null || true
        exit_rc=timeout
    else
        exit_rc=0; wait $lv || exit_rc=$?
    fi
    local stop_s
    stop_s=$(elapsed "$stop_start")
    echo "# $tag SIGTERM: exit status $exit_rc after $stop_s s" >&2
    stop_pid $sim
    cp "$w/levee.log" "$raw/levee.log"
    cp "$w/sim.log" "$raw/sim.log"
    tail -n 5 "$w/load.err" | tr '\r' '\n' | tail -n 5 >"$raw/load.progress-tail.txt" || true

    {
        printf 'mode\t%s\n' "$mode"
        printf 'minutes\t%s\n' "$MINUTES"
        printf 'interval_s\t%s\n' "$INTERVAL"
        printf 'rate_users_per_s\t%s\n' "$RATE"
        printf 'journey\t%s\n' "$JOURNEY"
        printf 'capacity\t%s\n' "$CAP"
        printf 'sim\t%s\n' "levee-sim --workers $SIM_WORKERS --service-ms $SIM_SERVICE_MS --dist $SIM_DIST --thrash $SIM_THRASH"
        printf 'levee\t%s\n' "levee proxy --listen 127.0.0.1:PORT --to 127.0.0.1:SIM --admin 127.0.0.1:ADMIN --log-level warn${noguard:+ ${noguard[*]}}"
        printf 'levee_rev\t%s\n' "$LEVEE_REV"
        printf 'side_by_side\t%s\n' "$SIDE_BY_SIDE"
        printf 'baseline_fds\t%s\n' "$base_fds"
        printf 'baseline_rss_kb\t%s\n' "$base_rss"
        printf 'load_end_s\t%s\n' "$t_load_end"
        printf 'fds_5s_after_load\t%s\n' "$fds5"
        printf 'settled_after_s\t%s\n' "$settled"
        printf 'settle_max_s\t%s\n' "$SETTLE_S"
        printf 'settle_row\t%s\n' "$settle_row"
        printf 'exit_status\t%s\n' "$exit_rc"
        printf 'stop_s\t%s\n' "$stop_s"
        printf 'log_errors\t%s\n' "$(grep -c 'level=error' "$w/levee.log" || true)"
        printf 'date\t%s\n' "$DATE"
    } >"$raw/meta.tsv"
    return 0
}

DATE=$(date '+%Y-%m-%d %H:%M')
SIDE_BY_SIDE=0
[ "$MODE" = both ] && [ "$SEQUENTIAL" = 0 ] && SIDE_BY_SIDE=1
echo "# soak bench: $MODES, $MINUTES min at $RATE users/s ($JOURNEY; C = $CAP requests/s)," \
    "$([ $SIDE_BY_SIDE = 1 ] && echo 'side by side' || echo 'one at a time'), levee $LEVEE_REV;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

RUNS=()
cleanup() {
    local p
    for p in "${RUNS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${RUNS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] && echo "# work dir kept: $WORK" >&2 || rm -rf "$WORK"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0
if [ $SIDE_BY_SIDE = 1 ]; then
    for m in $MODES; do (run_mode "$m") & RUNS+=("$!"); done
    for p in "${RUNS[@]}"; do wait "$p" || failed=1; done
    RUNS=()
else
    for m in $MODES; do
        (run_mode "$m") & RUNS=("$!")
        wait "${RUNS[0]}" || failed=1
        RUNS=()
    done
fi

set +e
python3 "$HERE/analyze.py" --results "$OUT_DIR" --modes "${MODES// /,}"
rc=$?
set -e
[ "$failed" = 1 ] && exit 1
exit $rc
