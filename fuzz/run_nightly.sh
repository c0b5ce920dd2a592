#!/usr/bin/env bash
# fuzz/run_nightly.sh: builds the fuzz preset and runs every fuzz/fuzz_<thing>.c target for
# FUZZ_SECONDS (default 600) on fuzz/corpus/<thing>/. New inputs go to a scratch dir (never
# into the checked-in corpus); crashes are copied there too. Exits non-zero on any crash.
# A target's own libFuzzer flags, if any, are in fuzz/fuzz_<thing>.options (one per line, #
# comments), e.g. -detect_leaks=0 for fuzz_proxy, whose levee threads live across inputs; its
# dictionary, if any, in fuzz/fuzz_<thing>.dict.
#
#   FUZZ_SECONDS=120 fuzz/run_nightly.sh          # shorter run
#   FUZZ_SCRATCH=/tmp/levee-fuzz fuzz/run_nightly.sh
#   FUZZ_JOBS=2                                   # build parallelism (default 2)
set -u

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${FUZZ_SECONDS:-600}"
jobs="${FUZZ_JOBS:-2}"
build="$root/build/fuzz"
scratch="${FUZZ_SCRATCH:-$root/build/fuzz-scratch/$(date +%Y%m%d-%H%M%S)}"

mkdir -p "$scratch"
echo "fuzz: building in $build (scratch: $scratch)"
if ! cmake -S "$root" -B "$build" -DLV_FUZZ=ON -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$scratch/cmake.log" 2>&1; then
    echo "fuzz: cmake configure failed, see $scratch/cmake.log" >&2
    exit 2
fi

targets=()
for src in "$root"/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    targets+=("$(basename "$src" .c)")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no fuzz/fuzz_*.c targets" >&2
    exit 2
fi
if ! cmake --build "$build" --target "${targets[@]}" -j"$jobs" >"$scratch/build.log" 2>&1; then
    echo "fuzz: build failed, see $scratch/build.log" >&2
    exit 2
fi

failed=0
for t in "${targets[@]}"; do
    thing="${t#fuzz_}"
    seeds="$root/fuzz/corpus/$thing"
    work="$scratch/$thing"
    mkdir -p "$work/new" "$work/crashes" "$seeds"
    opts=()
    if [ -f "$here/$t.options" ]; then
        while read -r line; do
            case "$line" in "" | "#"*) continue ;; esac
            opts+=("$line")
        done <"$here/$t.options"
    fi
    [ -f "$here/$t.dict" ] && opts+=("-dict=$here/$t.dict")
    echo "fuzz: $t for ${seconds}s on $seeds ${opts[*]}"
    # The first corpus dir receives new inputs: keep it in scratch, seeds read-only.
    "$build/$t" -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/crashes/" ${opts[@]+"${opts[@]}"} \
        "$work/new" "$seeds" >"$work/log.txt" 2>&1
    rc=$?
    n_new=$(find "$work/new" -type f | wc -l)
    n_crash=$(find "$work/crashes" -type f | wc -l)
    echo "fuzz: $t exit=$rc new_inputs=$n_new crashes=$n_crash log=$work/log.txt"
    if [ "$rc" -ne 0 ] || [ "$n_crash" -ne 0 ]; then
        failed=1
        grep -m1 -E "ERROR: |runtime error|deadly signal" "$work/log.txt" || true
        echo "fuzz: reproduce with $build/$t <file in $work/crashes>; make it a unit test" >&2
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED (findings in $scratch)" >&2
    exit 1
fi
echo "fuzz: all targets clean (new inputs in $scratch/*/new: review and minimise with -merge=1)"
exit 0
