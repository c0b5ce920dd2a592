#!/bin/sh
# scripts/package.sh: builds the Debian package from this tree: a release build in build/pkg
# (installed under /usr, configuration in /etc), then `cpack -G DEB`; writes
# out/levee_VERSION_ARCH.deb and prints its path. Installs what is missing first
# (scripts/deps.sh run package). Install the result with `apt install ./out/levee_*.deb`.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh run package
BUILD=${LV_PKG_BUILD_DIR:-build/pkg}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target levee levee-sim levee-load
rm -rf "$BUILD/cpack"
(cd "$BUILD" && cpack -G DEB -B cpack >/dev/null)
mkdir -p out
for deb in "$BUILD"/cpack/*.deb; do
    cp "$deb" out/
    echo "out/$(basename "$deb")"
done
