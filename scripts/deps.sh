#!/bin/sh
# scripts/deps.sh: installs every Debian package levee needs to build, test and benchmark.
# Idempotent: installs only what is missing. Needs root (or sudo) on Debian 12.
set -eu

# chromium: the integration tests' headless-browser checks (wait page, levee-load report);
# without it they are skipped, not failed. libsqlite3-dev: levee-load's run history.
# libssl-dev: TLS (OpenSSL 3); openssl: the TLS tests make their certificates with it.
PKGS="build-essential gcc clang make cmake pkg-config curl ca-certificates python3
libuv1-dev node-llhttp libyaml-dev libsqlite3-dev libcmocka-dev libclang-rt-14-dev libssl-dev openssl
nginx haproxy wrk valgrind procps iproute2 clang-format chromium"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$(echo "$missing" | tr -d ' ')" ]; then
    echo "deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# Debian starts packaged daemons on install; the tests start their own.
for svc in nginx haproxy; do
    if command -v service >/dev/null 2>&1; then $SUDO service $svc stop >/dev/null 2>&1 || true; fi
done
