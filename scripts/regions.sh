#!/bin/sh
# scripts/regions.sh: a rehearsal anyone can run: two regions on loopback, replication between
# them, a purge, a Redis outage; prints the figures and writes out/regions.html (regions.py).
set -eu
cd "$(dirname "$0")/.."
BUILD=build/release
./scripts/deps.sh run
command -v redis-server >/dev/null 2>&1 || ./scripts/deps.sh test # redis-server is in that set
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target levee levee-sim >/dev/null
exec python3 scripts/regions.py --build "$BUILD" "$@"
