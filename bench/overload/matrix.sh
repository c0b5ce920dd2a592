#!/usr/bin/env bash
# bench/overload/matrix.sh: the overload bench as a matrix (issue 12): levee with its shipped
# defaults against nginx and HAProxy told the backend's parallelism, one dimension at a time.
#
#   bench/overload/matrix.sh [--cells LIST] [--dry-run] [--quick]
#
# Around a base cell (levee's shipped workers, sim thrash 0.001, exponential service times,
# 20 users per source address, the 5x peak) each row changes one dimension: levee workers
# {1}; thrash {0, 1, 2}; dist {fixed, lognormal}; users/address {1, 1000}; scenario
# {calm-0.8x, peak-2x, peak-10x, drop-2x-and-back, drop-4x-and-back, f5-storm}; plus, when
# `hostname -I` has an IPv4 address, one-address (every user on that one address, peak-2x,
# levee and plain only). Setups per cell: levee, nginx, haproxy (f5-storm: plain too, the
# reference for duplicate work). Each cell runs bench/overload/run.sh with OUT_DIR
# results/matrix/<cell>/ and the cell's scenario, generated into that directory from
# SIM_WORKERS (K, default 4) and SIM_SERVICE_MS (default 10): C = K x 1000 / SIM_SERVICE_MS.
# HAProxy's queue timeout is 500 ms here (HAPROXY_QUEUE_MS), nginx gets max_conns=K. Then
# matrix_report.py writes results/matrix.md and results/matrix.html.
#
#   --cells LIST   comma-separated cell names (see --dry-run), e.g. base,thrash-2
#   --dry-run      list the cells, their settings and the time estimate; run nothing
#   --quick        the smoke: base and drop-2x-and-back (2 cells, ~5 min)
# Environment: BIN, LOAD_MAX, LEVEE_REV as run.sh; SIM_WORKERS, SIM_SERVICE_MS.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE/results/matrix
K=${SIM_WORKERS:-4}
SVC=${SIM_SERVICE_MS:-10}
CAP=$((K * 1000 / SVC))
U=$((CAP / 2))            # users/s at 1x C: two requests per user

CELLS=""; DRY=0
while [ $# -gt 0 ]; do
    case $1 in
        --cells) CELLS=${2:?--cells needs a list}; shift 2 ;;
        --cells=*) CELLS=${1#*=}; shift ;;
        --dry-run) DRY=1; shift ;;
        --quick) CELLS=base,drop-2x-and-back; shift ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "matrix.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# --- the cells: name dimension value levee-workers thrash dist users/address scenario setups
# ("-" for levee workers: the shipped default, no --workers flag)
ONE_ADDR=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+(\.[0-9]+){3}$' || true)
ALL="base               base            -          - 0.001 exp       20   peak-5x           levee,nginx,haproxy
workers-1          levee-workers   1          1 0.001 exp       20   peak-5x           levee,nginx,haproxy
thrash-0           thrash          0          - 0     exp       20   peak-5x           levee,nginx,haproxy
thrash-1           thrash          1          - 1     exp       20   peak-5x           levee,nginx,haproxy
thrash-2           thrash          2          - 2     exp       20   peak-5x           levee,nginx,haproxy
dist-fixed         dist            fixed      - 0.001 fixed     20   peak-5x           levee,nginx,haproxy
dist-lognormal     dist            lognormal  - 0.001 lognormal 20   peak-5x           levee,nginx,haproxy
upa-1              users/address   1          - 0.001 exp       1    peak-5x           levee,nginx,haproxy
upa-1000           users/address   1000       - 0.001 exp       1000 peak-5x           levee,nginx,haproxy
calm-0.8x          scenario        calm-0.8x  - 0.001 exp       20   calm-0.8x         levee,nginx,haproxy
peak-2x            scenario        peak-2x    - 0.001 exp       20   peak-2x           levee,nginx,haproxy
peak-10x           scenario        peak-10x   - 0.001 exp       20   peak-10x          levee,nginx,haproxy
drop-2x-and-back   scenario        drop-2x    - 0.001 exp       20   drop-2x-and-back  levee,nginx,haproxy
drop-4x-and-back   scenario        drop-4x    - 0.001 exp       20   drop-4x-and-back  levee,nginx,haproxy
f5-storm           scenario        f5-storm   - 0.001 exp       20   f5-storm          levee,nginx,haproxy,plain"
[ -n "$ONE_ADDR" ] && ALL="$ALL
one-address        users/address   all        - 0.001 exp       1    peak-2x           levee,plain"

# --- scenarios, generated for C (rates in users/s: U = C / 2) ------------------------------
users_block() { # patience etc. as bench/overload/short/kickoff.yaml
    cat <<EOF
users:
  journey: [/home, /play]
  patience_ms: {dist: lognormal, mean: 2000, p99: 6000}
  think_ms: {dist: exp, mean: 300}
  f5_probability: 0.8
  max_tries: 4
  retry_delay_ms: {dist: lognormal, mean: 800, p99: 3000}
  obey_retry_after: 0.5
EOF
}
scenario() { # NAME: the YAML on stdout; its "# run.sh:" line tells run.sh what to measure
    local n=$1 x
    case $n in
        peak-*x)
            x=${n#peak-}; x=${x%x}
            printf '# %s: 0.5 C for 5 s, ramp to %s C in 4 s, hold 15 s, back to 0.5 C in 3 s, 3 s more.\n' "$n" "$x"
            printf '# run.sh: peak 9:24\nlabel: %s\ntarget: http://127.0.0.1:9000/\nduration_s: 30\ndrain_s: 8\ncapacity: %d\nseed: 1\n' "$n" $CAP
            printf 'profile:\n  - plateau: {rate: %d, for_s: 5}\n  - ramp: {to: %d, for_s: 4}\n' $((U / 2)) $((x * U))
            printf '  - plateau: {rate: %d, for_s: 15}\n  - ramp: {to: %d, for_s: 3}\n  - plateau: {rate: %d, for_s: 3}\n' \
                $((x * U)) $((U / 2)) $((U / 2))
            users_block ;;
        calm-0.8x)
            printf '# calm-0.8x: 0.8 C for 30 s: nothing should be refused.\n'
            printf '# run.sh: peak 3:30\nlabel: %s\ntarget: http://127.0.0.1:9000/\nduration_s: 30\ndrain_s: 8\ncapacity: %d\nseed: 1\n' "$n" $CAP
            printf 'profile:\n  - plateau: {rate: %d, for_s: 30}\n' $((U * 8 / 10))
            users_block ;;
        drop-*x-and-back)
            x=${n#drop-}; x=${x%x-and-back}
            local k2=$((K / x > 0 ? K / x : 1))
            printf '# %s: 0.85 C; at t = 10 s the sim keeps %d of its %d workers, at 25 s all again.\n' "$n" $k2 $K
            printf '# run.sh: peak 10:25 recover after-drop t_event 10 t_back 25\n'
            printf 'label: %s\ntarget: http://127.0.0.1:9000/\nduration_s: 40\ndrain_s: 8\ncapacity: %d\nseed: 1\n' "$n" $CAP
            printf 'profile:\n  - plateau: {rate: %d, for_s: 40}\n' $((U * 85 / 100))
            users_block
            printf 'events:\n  - {at_s: 10, post: "http://127.0.0.1:9000/control/workers?n=%d", capacity: %d}\n' \
                $k2 $((k2 * 1000 / SVC))
            printf '  - {at_s: 25, post: "http://127.0.0.1:9000/control/workers?n=%d", capacity: %d}\n' $K $CAP ;;
        f5-storm) # bench/overload/short/f5-storm.yaml at this C
            printf '# f5-storm: 0.8 C; the backend stalls for 10 s at t = 8 s, then recovers.\n'
            printf '# run.sh: peak 18:30 recover after-stall t_event 18 base 2:8\n'
            printf 'label: f5-storm\ntarget: http://127.0.0.1:9000/\nduration_s: 30\ndrain_s: 8\ncapacity: %d\nseed: 1\n' $CAP
            printf 'profile:\n  - plateau: {rate: %d, for_s: 30}\n' $((U * 8 / 10))
            printf 'users:\n  journey: [/home, /play]\n  patience_ms: {dist: exp, mean: 1500}\n  f5_probability: 0.9\n'
            printf '  max_tries: 5\n  retry_delay_ms: {dist: exp, mean: 400}\n  obey_retry_after: 0.3\n'
            printf 'events:\n  - {at_s: 8, post: "http://127.0.0.1:9000/control/stall?ms=10000", capacity: 0}\n'
            printf '  - {at_s: 18, capacity: %d}\n' $CAP ;;
        *) echo "matrix.sh: no scenario $n" >&2; return 2 ;;
    esac
}
seconds() { # SCENARIO SETUPS: estimated wall time (load + drain + start/stop per setup)
    local d=30; case $1 in drop-*) d=40 ;; esac
    echo $(((d + 10) * $(echo "${2//,/ }" | wc -w) + 5))
}

# --- select ---------------------------------------------------------------------------------
SEL=$(echo "$ALL" | awk -v want=",$CELLS," 'want == ",," || index(want, "," $1 ",")')
if [ -n "$CELLS" ]; then
    for c in ${CELLS//,/ }; do
        echo "$ALL" | awk -v c="$c" '$1 == c {f=1} END {exit !f}' ||
            { echo "matrix.sh: no cell '$c' (see --dry-run)" >&2; exit 2; }
    done
fi
total=0; ncells=0
while read -r name dim val lw th dist upa scen setups; do
    total=$((total + $(seconds "$scen" "$setups"))); ncells=$((ncells + 1))
done <<<"$SEL"
echo "# overload matrix: $ncells cells, sim ${K}x${SVC}ms (C = $CAP/s), estimated $((total / 60)) min $((total % 60)) s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
if [ "$DRY" = 1 ]; then
    printf '%-18s %-14s %-10s %-8s %-6s %-10s %-5s %-17s %s\n' cell dimension value workers thrash dist u/addr scenario setups
    echo "$SEL" | while read -r name dim val lw th dist upa scen setups; do
        printf '%-18s %-14s %-10s %-8s %-6s %-10s %-5s %-17s %s (~%d s)\n' "$name" "$dim" "$val" \
            "$([ "$lw" = - ] && echo default || echo "$lw")" "$th" "$dist" "$upa" "$scen" "$setups" \
            "$(seconds "$scen" "$setups")"
    done
    exit 0
fi

# --- run ------------------------------------------------------------------------------------
mkdir -p "$OUT"
i=0; t0=$(date +%s)
while read -r name dim val lw th dist upa scen setups; do
    i=$((i + 1))
    dir=$OUT/$name
    rm -rf "$dir"; mkdir -p "$dir"
    scenario "$scen" >"$dir/$scen.yaml"
    printf '{"cell": "%s", "dimension": "%s", "value": "%s", "levee_workers": "%s", "thrash": %s, "dist": "%s", "users_per_address": "%s", "scenario": "%s", "setups": "%s", "capacity": %d, "sim_workers": %d, "sim_service_ms": %d, "one_address": "%s"}\n' \
        "$name" "$dim" "$val" "$([ "$lw" = - ] && echo default || echo "$lw")" "$th" "$dist" \
        "$([ "$name" = one-address ] && echo all || echo "$upa")" "$scen" "$setups" $CAP $K $SVC \
        "$([ "$name" = one-address ] && echo "$ONE_ADDR")" >"$dir/cell.json"
    echo "# === [$i/$ncells] cell $name ($dim = $val): $scen, setups $setups, $(( $(date +%s) - t0 )) s elapsed" >&2
    env_args=(SIM_WORKERS=$K SIM_SERVICE_MS=$SVC SIM_THRASH=$th SIM_DIST=$dist
              USERS_PER_ADDR=$upa HAPROXY_QUEUE_MS=${HAPROXY_QUEUE_MS:-500} OUT_DIR=$dir TAG=$scen)
    [ "$lw" != - ] && env_args+=(LEVEE_WORKERS=$lw)
    [ "$name" = one-address ] && env_args+=(ONE_ADDRESS=$ONE_ADDR)
    # run.sh's whole output in run.log; its progress lines ("# [n/N] ...") shown as they come.
    env -u LEVEE_WORKERS "${env_args[@]}" "$HERE/run.sh" "$dir/$scen.yaml" --setups "$setups" 2>&1 |
        tee "$dir/run.log" | { grep --line-buffered '^# \[' || true; } | sed -u 's/^/#   /' >&2
    if [ "${PIPESTATUS[0]}" != 0 ]; then
        echo "# cell $name FAILED; the end of $dir/run.log:" >&2; tail -5 "$dir/run.log" >&2
    fi
done <<<"$SEL"
echo "# matrix done in $(( $(date +%s) - t0 )) s" >&2
python3 "$HERE/matrix_report.py" "$OUT" --md "$HERE/results/matrix.md" --html "$HERE/results/matrix.html"
