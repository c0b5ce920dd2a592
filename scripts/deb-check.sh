#!/usr/bin/env bash
# scripts/deb-check.sh: checks on a fresh Debian 12 root (debootstrap --variant=minbase, made
# once and cached), slower than the test suite, run by hand before a release. Needs root.
#
#   scripts/deb-check.sh package   (default) installs out/levee_*.deb (scripts/package.sh makes
#       it if missing) with apt, which fetches its dependencies from Debian; then, as systemd
#       would run the installed unit (ExecStartPre, ExecStart with NOTIFY_SOCKET, as a user
#       with no privileges and no_new_privs, ExecReload, stop), checks READY=1, proxies a
#       request with the installed example config to the installed levee-sim, RELOADING=1 and
#       READY=1 around the reload, STOPPING=1 and exit 0 on SIGTERM. The service runs in a
#       network namespace of its own, so the config's fixed ports never meet this machine's.
#   scripts/deb-check.sh readme    the README's commands from a fresh root: `deps.sh run`
#       installs only the run set (no nginx, haproxy, chromium, cmocka), quickstart.sh builds
#       and runs its rehearsal; `deps.sh test` then installs the rest, with nginx and haproxy
#       never started and left disabled; `test.sh -L unit` passes (LV_DEB_CHECK_FULL=1: the
#       whole test.sh). Uses the committed tree (git archive HEAD).
#
# The base root is cached in $LV_DEB_CHECK_CACHE (default /var/cache/levee-deb-check); each run
# unpacks a new copy under /var/tmp and removes it after (LV_DEB_CHECK_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-package}
COMMIT=$(git rev-parse --short HEAD)
SUITE=bookworm
CACHE=${LV_DEB_CHECK_CACHE:-/var/cache/levee-deb-check}
BASE=$CACHE/$SUITE-minbase.tar.gz

say() { echo "deb-check: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts, unshare)"
case "$MODE" in package | readme) ;; *) die "usage: $0 [package|readme]" ;; esac

# The Debian mirror this machine's apt uses (deb822 or one-line sources).
mirror() {
    local m
    m=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v security | head -1 || true)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
        /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list*"
    echo "$m"
}

if [ ! -s "$BASE" ]; then
    command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y -q debootstrap; }
    tmp=$(mktemp -d /var/tmp/levee-debootstrap.XXXXXX)
    say "debootstrap --variant=minbase $SUITE (once; cached in $BASE)"
    debootstrap --variant=minbase "$SUITE" "$tmp" "$(mirror)" >"$tmp.log" 2>&1 ||
        { tail -20 "$tmp.log" >&2; die "debootstrap"; }
    mkdir -p "$CACHE"
    tar -C "$tmp" -czf "$BASE.part" . && mv "$BASE.part" "$BASE"
    rm -rf "$tmp" "$tmp.log"
fi

ROOT=$(mktemp -d /var/tmp/levee-deb-check.XXXXXX)
cleanup() {
    local m
    for m in "$ROOT/dev" "$ROOT/proc"; do mountpoint -q "$m" && umount -l "$m"; done
    if [ "${LV_DEB_CHECK_KEEP:-}" = 1 ]; then say "root kept in $ROOT"; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
tar -C "$ROOT" -xzf "$BASE"
say "fresh $SUITE root in $ROOT ($(du -smx "$ROOT" | cut -f1) MB, $(chroot "$ROOT" dpkg-query -W | wc -l) packages)"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# Runs "$@" in a network namespace of its own, loopback up: fixed ports are free there.
in_netns() {
    unshare --net sh -c 'ip link set lo up && exec "$@"' sh "$@"
}

check_package() {
    local deb
    deb=$(ls -t out/levee_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$deb" ]; then
        say "no out/levee_*.deb: scripts/package.sh"
        ./scripts/package.sh >/dev/null
        deb=$(ls -t out/levee_*.deb | head -1)
    fi
    say "installing $deb ($(dpkg-deb -f "$deb" Version)) with apt"
    cp "$deb" "$ROOT/tmp/"
    in_root apt-get update -q >/dev/null
    in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" curl |
        grep -E '^(Get|Unpacking|Setting up)' >&2
    in_root dpkg-query -W -f='${Status}\n' levee | grep -qx 'install ok installed' ||
        die "levee is not installed"
    in_root levee --version >&2
    for f in /usr/sbin/levee /usr/bin/levee-sim /usr/bin/levee-load /etc/levee/levee.yaml \
        /usr/lib/systemd/system/levee.service /usr/share/man/man8/levee.8 \
        /usr/share/man/man5/levee.yaml.5; do
        [ -e "$ROOT$f" ] || die "$f is missing"
    done
    [ -L "$ROOT/etc/systemd/system/multi-user.target.wants/levee.service" ] ||
        die "levee.service is not enabled at boot"
    say "installed: binaries, unit (enabled at boot), man pages, /etc/levee/levee.yaml"
    in_netns python3 - "$ROOT" <<'PY'
import os, re, shlex, signal, socket, struct, subprocess, sys, time
root = sys.argv[1]
unit = {}
for line in open(root + "/usr/lib/systemd/system/levee.service"):
    m = re.match(r"^(\w+)=(.*)$", line.strip())
    if m:
        unit.setdefault(m.group(1), m.group(2))
def fail(msg):
    print("deb-check: FAILED: " + msg, file=sys.stderr)
    sys.exit(1)
def in_root(argv, user=True, **kw):
    # As the unit's DynamicUser: an unprivileged uid, no_new_privs.
    pre = ["chroot"] + (["--userspec=61875:61875"] if user else []) + [root]
    if user:
        pre += ["setpriv", "--no-new-privs"]
    return subprocess.Popen(pre + argv, **kw)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
name = "levee-deb-check-%d" % os.getpid()
sock.bind("\0" + name)
def recv(key, pid, timeout=30):
    sock.settimeout(timeout)
    try:
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        fail("no %s=1 within %ss" % (key, timeout))
    sender = struct.unpack("iII", anc[0][2][:12])[0] if anc else None
    got = dict(l.split("=", 1) for l in data.decode().split("\n") if l)
    if got.get(key) != "1" or sender != pid:
        fail("expected %s=1 from pid %d, got %r from pid %s" % (key, pid, got, sender))
    print("deb-check: %s=1 from levee (STATUS=%s)" % (key, got.get("STATUS", "")), file=sys.stderr)
sim = in_root(["levee-sim", "--listen", "127.0.0.1:9000", "--workers", "2", "--service-ms", "1",
               "--log-level", "warn"])
pre = subprocess.run(["chroot", "--userspec=61875:61875", root] + shlex.split(unit["ExecStartPre"]),
                     capture_output=True, text=True, timeout=30)
if pre.returncode != 0:
    fail("ExecStartPre: " + pre.stdout + pre.stderr)
print("deb-check: ExecStartPre: " + pre.stdout.strip(), file=sys.stderr)
log = open(root + "/tmp/levee.log", "w")
lv = in_root(["env", "NOTIFY_SOCKET=@" + name] + shlex.split(unit["ExecStart"]),
             stdout=subprocess.DEVNULL, stderr=log)
try:
    recv("READY", lv.pid)
    out = subprocess.run(["chroot", root, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                          "--max-time", "10", "http://127.0.0.1:8080/hello"],
                         capture_output=True, text=True, timeout=30)
    if out.stdout != "200":
        fail("GET http://127.0.0.1:8080/hello through levee: %r %s" % (out.stdout, out.stderr))
    print("deb-check: GET /hello through the installed levee to levee-sim: 200", file=sys.stderr)
    reload = unit["ExecReload"].replace("$MAINPID", str(lv.pid))
    subprocess.run(shlex.split(reload), check=True)
    recv("RELOADING", lv.pid)
    recv("READY", lv.pid)
    lv.send_signal(signal.SIGTERM)
    recv("STOPPING", lv.pid)
    rc = lv.wait(timeout=30)
    if rc != 0:
        fail("levee exited %d after SIGTERM" % rc)
    print("deb-check: stopped, exit 0", file=sys.stderr)
finally:
    for p in (lv, sim):
        if p.poll() is None:
            p.kill()
            p.wait()
    log.close()
    if "--keep-log" not in sys.argv:
        sys.stderr.write(open(root + "/tmp/levee.log").read()[-3000:] if lv.returncode else "")
PY
    say "package: PASSED ($deb, tree at $COMMIT$(git diff --quiet HEAD || echo ' + uncommitted changes'), $(date -u +%FT%TZ))"
}

check_readme() {
    mkdir -p "$ROOT/src/levee"
    git archive HEAD | tar -x -C "$ROOT/src/levee"
    local before after
    before=$(in_root dpkg-query -W | wc -l)
    say "scripts/deps.sh run (quickstart's installs)"
    in_root sh -c 'cd /src/levee && ./scripts/deps.sh run' >&2
    after=$(in_root dpkg-query -W | wc -l)
    for p in nginx haproxy chromium libcmocka-dev clang; do
        in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' &&
            die "deps.sh run installed $p"
    done
    say "run set: $((after - before)) packages; none of the test set"
    say "quickstart.sh (QUICKSTART_SECONDS=0), in a network namespace of its own"
    in_netns chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        QUICKSTART_SECONDS=0 sh -c 'cd /src/levee && ./scripts/quickstart.sh' >&2 ||
        die "quickstart.sh"
    say "scripts/deps.sh test"
    in_root sh -c 'cd /src/levee && ./scripts/deps.sh test' >&2
    say "test set: $(($(in_root dpkg-query -W | wc -l) - after)) more packages"
    for d in nginx haproxy; do
        for pid in $(pgrep -x "$d" || true); do
            [ "$(readlink "/proc/$pid/root")" = "$ROOT" ] && die "$d is running (pid $pid)"
        done
        ls "$ROOT"/etc/rc[2-5].d/S*"$d" >/dev/null 2>&1 && die "$d is enabled (SysV links)"
        [ -e "$ROOT/etc/systemd/system/multi-user.target.wants/$d.service" ] &&
            die "$d is enabled (systemd link)"
    done
    say "nginx and haproxy: installed, not running, not enabled at boot"
    local args=(-L unit)
    [ "${LV_DEB_CHECK_FULL:-}" = 1 ] && args=()
    say "scripts/test.sh ${args[*]}"
    in_netns chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        sh -c 'cd /src/levee && ./scripts/test.sh "$@"' sh "${args[@]}" >"$ROOT/tmp/test.log" 2>&1 ||
        { tail -40 "$ROOT/tmp/test.log" >&2; die "test.sh"; }
    grep -E 'tests passed|tests failed' "$ROOT/tmp/test.log" >&2
    say "readme: PASSED (git archive $COMMIT, $(date -u +%FT%TZ))"
}

"check_$MODE"
