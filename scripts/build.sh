#!/bin/sh
# scripts/build.sh: installs what building and running need (scripts/deps.sh run) and builds
# the release binaries into build/release.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh run
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j"$(nproc)"
