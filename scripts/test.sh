#!/bin/sh
# scripts/test.sh: installs what is missing (scripts/deps.sh test), builds levee with ASan+UBSan,
# runs every test (unit + integration + fuzz_proxy_60s, a 60 s run of the proxy fuzzer in its own
# clang build; -LE fuzz leaves it out) with ctest. Usage: scripts/test.sh [extra ctest args,
# e.g. -L unit]. The build is configured for /usr, as the .deb is (test_package builds one).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh test
# Without the npm packages the dashboard's browser test skips; say so rather than stop here.
./scripts/browser_deps.sh || echo "test.sh: npm ci in tests/browser failed: the dashboard's browser test will skip" >&2
BUILD=${LV_TEST_BUILD_DIR:-build/dev}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DLV_SANITIZE=ON -DCMAKE_INSTALL_PREFIX=/usr \
    >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$BUILD"
ctest --output-on-failure -j2 --timeout 600 "$@"
