#!/usr/bin/env bash
# tests/fuzz_proxy_60s.sh: the CI hook of fuzz/fuzz_proxy.c (ctest fuzz_proxy_60s, label fuzz).
# Whatever compiler the calling build uses (scripts/test.sh: gcc, which cannot link libFuzzer),
# it configures a clang fuzz build of its own in build/fuzz, builds only fuzz_proxy, and runs it
# for LV_FUZZ_PROXY_SECONDS (default 60) on a scratch copy of fuzz/corpus/proxy (never writing
# into the checked-in corpus). Fails on any crash; a failed run's log, crash inputs and the
# inputs it found stay in the scratch dir.
#
#   tests/fuzz_proxy_60s.sh                          # 60 s
#   LV_FUZZ_PROXY_SECONDS=600 tests/fuzz_proxy_60s.sh
#   LV_FUZZ_BUILD_DIR=/tmp/fz LV_FUZZ_SCRATCH=/tmp/fz-run tests/fuzz_proxy_60s.sh
#
# Exit: 0 clean, 1 a crash (or the fuzzer failed), 2 configure/build failed, 4 skipped (no
# clang; ctest shows it as skipped).
set -u

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${LV_FUZZ_PROXY_SECONDS:-60}"
build="${LV_FUZZ_BUILD_DIR:-$root/build/fuzz}"
scratch="${LV_FUZZ_SCRATCH:-$root/build/fuzz-scratch/proxy-$(date +%Y%m%d-%H%M%S)-$$}"
jobs="${LV_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz_proxy: clang not found, skipped"
    exit 4
fi
mkdir -p "$scratch/corpus" "$scratch/crashes"
echo "fuzz_proxy: build $build, scratch $scratch"
if ! cmake -S "$root" -B "$build" -DLV_FUZZ=ON -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$scratch/cmake.log" 2>&1; then
    echo "fuzz_proxy: cmake configure failed:" >&2
    tail -20 "$scratch/cmake.log" >&2
    exit 2
fi
if ! cmake --build "$build" --target fuzz_proxy -j"$jobs" >"$scratch/build.log" 2>&1; then
    echo "fuzz_proxy: build failed:" >&2
    tail -30 "$scratch/build.log" >&2
    exit 2
fi

cp "$root"/fuzz/corpus/proxy/* "$scratch/corpus/"
opts=()
while read -r line; do
    case "$line" in "" | "#"*) continue ;; esac
    opts+=("$line")
done <"$root/fuzz/fuzz_proxy.options"
opts+=("-dict=$root/fuzz/fuzz_proxy.dict")

# Our own sanitizer options: the caller's (scripts/test.sh sets detect_leaks=1) do not apply to
# a process whose server threads outlive every input.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1"
echo "fuzz_proxy: running ${seconds}s on a copy of fuzz/corpus/proxy"
timeout -k 10 $((seconds + 300)) "$build/fuzz_proxy" -max_total_time="$seconds" \
    -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$scratch/crashes/" ${opts[@]+"${opts[@]}"} "$scratch/corpus" \
    >"$scratch/log.txt" 2>&1
rc=$?

n_crash=$(find "$scratch/crashes" -type f | wc -l)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log.txt")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$scratch/log.txt")
echo "fuzz_proxy: exit=$rc execs=${execs:-?} exec/s=${rate:-?} crashes=$n_crash"
# UBSan reports do not stop a fuzz build: list them, they are findings too.
grep -E "runtime error:" "$scratch/log.txt" | sort -u | sed 's/^/fuzz_proxy: ubsan: /'
if [ "$rc" -ne 0 ] || [ "$n_crash" -ne 0 ]; then
    grep -m1 -B2 -A30 -E "ERROR: AddressSanitizer|ERROR: libFuzzer|comp=assert" \
        "$scratch/log.txt" >&2
    echo "fuzz_proxy: FAILED; log, crash inputs in $scratch;" \
        "reproduce with $build/fuzz_proxy <crash file>" >&2
    exit 1
fi
rm -rf "$scratch"
exit 0
