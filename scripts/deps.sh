#!/bin/sh
# scripts/deps.sh: installs the Debian packages levee needs, by set, and only those missing.
# Idempotent. Needs root (or sudo) on Debian 12. Usage: scripts/deps.sh [SET...]
#   run      build and run levee, levee-sim and levee-load (scripts/quickstart.sh, build.sh)
#   test     the test suite and the benches (scripts/test.sh): run + package + the rest
#   package  build the .deb (scripts/package.sh)
# No SET: every set. nginx, haproxy (the benches' peers) and redis-server are never started
# by their install, and are left stopped and disabled at boot: tests and benches start their own.
set -eu

# python3: scripts/rehearsal.sh and the tests. iproute2 (ss): who holds a port.
# libhiredis-dev, libzstd-dev: the second cache tier and replication (linked in, off by default).
# libssl-dev: TLS (OpenSSL 3).
RUN_PKGS="build-essential gcc make cmake pkg-config curl ca-certificates python3
libuv1-dev node-llhttp libyaml-dev libsqlite3-dev libhiredis-dev libzstd-dev libssl-dev iproute2
procps"
# dpkg-dev: dpkg-shlibdeps, for the .deb's Depends.
PACKAGE_PKGS="dpkg-dev"
# chromium: the integration tests' headless-browser checks (wait page, levee-load report);
# without it they are skipped, not failed. clang, libclang-rt-14-dev: the fuzz targets and
# LeakSanitizer. groff-base: test_man_pages renders the man pages. util-linux: prlimit.
# redis-server: the second tier's and the replicator's tests start their own. nodejs: runs
# playwright-core for the dashboard's browser test (scripts/browser_deps.sh installs it).
# prometheus: promtool checks contrib/prometheus/levee-rules.yml. openssl: the TLS tests make
# their certificates with it.
TEST_PKGS="clang libclang-rt-14-dev libcmocka-dev clang-format valgrind groff-base util-linux
nginx haproxy wrk chromium redis-server nodejs prometheus openssl"
# Packaged daemons that Debian would start (and enable) on install.
DAEMONS="nginx haproxy redis-server prometheus"

[ $# -gt 0 ] || set -- run test package
want=""
for set_name in "$@"; do
    case "$set_name" in
    run) want="$want $RUN_PKGS" ;;
    package) want="$want $PACKAGE_PKGS" ;;
    test) want="$want $RUN_PKGS $PACKAGE_PKGS $TEST_PKGS" ;;
    *)
        echo "deps: unknown set \"$set_name\" (run, test or package)" >&2
        exit 2
        ;;
    esac
done

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$(echo "$missing" | tr -d ' ')" ]; then
    echo "deps ($*): all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
new_daemons=""
for d in $DAEMONS; do
    case " $missing " in *" $d "*) new_daemons="$new_daemons $d" ;; esac
done

# policy-rc.d answers 101 ("not allowed") to invoke-rc.d and deb-systemd-invoke: the daemons
# installed here never start, not even once. One that exists already (containers have one)
# is left as it is.
POLICY=/usr/sbin/policy-rc.d
made_policy=""
cleanup() { [ -z "$made_policy" ] || $SUDO rm -f "$POLICY"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$new_daemons" ] && [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# scripts/deps.sh: no daemon starts while it installs packages\nexit 101\n' |
        $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    made_policy=1
fi

echo "deps ($*): installing $(echo $missing | wc -w) packages:$missing"
echo "deps: apt-get update"
$SUDO apt-get update -q
echo "deps: apt-get install (downloads, then unpacks and sets up each package)"
# -q (not -qq): apt prints each download and each package it unpacks and sets up.
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 $missing

# Stopped, and disabled at boot: with systemd, `systemctl disable`; without it (a container,
# a chroot) its links are removed all the same, and update-rc.d disables the SysV script.
for d in $new_daemons; do
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl stop "$d" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        $SUDO service "$d" stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable "$d" >/dev/null 2>&1 || true
    fi
    if [ -e "/etc/init.d/$d" ] && command -v update-rc.d >/dev/null 2>&1; then
        $SUDO update-rc.d "$d" disable >/dev/null 2>&1 || true
    fi
    echo "deps: $d installed for the tests and benches: stopped, disabled at boot"
done
echo "deps ($*): done"
