#!/usr/bin/env python3
"""tests/integration/test_package.py: the .deb that `cpack -G DEB` makes from this build
(scripts/package.sh does the same from a release build) holds levee, levee-sim, levee-load,
the systemd unit, both man pages and the example config as a conffile, and works once
installed: `dpkg --root` puts it into a throwaway root (its maintainer scripts run there, under
DPKG_ROOT: the unit gets enabled in that root, never on this machine), then the installed
levee, started with the installed unit's ExecStart line and NOTIFY_SOCKET as systemd would,
runs the installed example config (its three addresses moved to free ports) in front of the
installed levee-sim and proxies a request; the unit's ExecReload reloads it. Removal and purge
take their files away again. Skipped where dpkg or cpack is missing (not Debian).

What it does not check: systemd itself running the unit (no systemd as PID 1 here; where
systemd-analyze is installed, `systemd-analyze verify` reads the unit), what the hardening
directives forbid at run time, and apt resolving the package's dependencies in a fresh Debian root
(scripts/deb-check.sh does that, outside the suite).
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
from test_sd_notify import Notifier, fields  # noqa: E402

TOOLS = ("cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps")


def cache_value(key):
    with open(os.path.join(lt.BUILD_DIR, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    return None


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)
    assert p.returncode == 0, "%s: exit %d\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


@unittest.skipUnless(all(shutil.which(t) for t in TOOLS),
                     "needs %s (Debian's cmake, dpkg, dpkg-dev)" % ", ".join(TOOLS))
class DebPackage(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lvtest-deb-", dir=lt.tmpdir())
        run(["cpack", "-G", "DEB", "-B", cls.tmp], cwd=lt.BUILD_DIR, timeout=240)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.tmp, debs[0])
        prefix = cache_value("CMAKE_INSTALL_PREFIX")
        # GNUInstallDirs: /usr keeps its configuration in /etc, any other prefix in PREFIX/etc.
        cls.sbin = prefix + "/sbin"
        cls.bin = prefix + "/bin"
        cls.etc = "/etc" if prefix == "/usr" else prefix + "/etc"
        cls.units = cache_value("LV_SYSTEMD_UNIT_DIR")
        cls.man = prefix + "/share/man"

    def test_contents_and_control(self):
        names = set(re.findall(r" \./(\S+)$", run(["dpkg-deb", "-c", self.deb]), re.M))
        for path in (self.sbin + "/levee", self.bin + "/levee-sim", self.bin + "/levee-load",
                     self.units + "/levee.service", self.man + "/man8/levee.8",
                     self.man + "/man5/levee.yaml.5", self.etc + "/levee/levee.yaml",
                     self.etc + "/logrotate.d/levee"):
            self.assertIn(path.lstrip("/"), names)
        self.assertEqual(run(["dpkg-deb", "-f", self.deb, "Package"]).strip(), "levee")
        depends = run(["dpkg-deb", "-f", self.deb, "Depends"])
        for lib in ("libuv1", "libyaml-0-2", "libsqlite3-0"):
            self.assertIn(lib, depends)
        ctrl = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "-e", self.deb, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), [self.etc + "/levee/levee.yaml",
                                                self.etc + "/logrotate.d/levee"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.access(os.path.join(ctrl, script), os.X_OK), script)

    def dpkg(self, root, *args):
        return run(["dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends"]
                   + list(args), env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))

    def test_install_run_as_the_unit_says_remove(self):
        root = os.path.join(self.tmp, "root")
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
            os.makedirs(os.path.join(root, d))
        open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
        host_wants = "/etc/systemd/system/multi-user.target.wants/levee.service"
        host_had = os.path.lexists(host_wants)
        self.dpkg(root, "-i", self.deb)
        R = lambda p: root + p  # noqa: E731  a path of the installed system, in the root

        # postinst enabled the unit at boot, in the root only. deb-systemd-helper finds units
        # in /lib and /usr/lib only: a build with another prefix (cmake's default /usr/local;
        # scripts/test.sh and scripts/package.sh say /usr) makes a package whose unit it skips.
        wants = R("/etc/systemd/system/multi-user.target.wants/levee.service")
        if self.units in ("/lib/systemd/system", "/usr/lib/systemd/system"):
            self.assertEqual(os.readlink(wants), self.units + "/levee.service")
        self.assertEqual(os.path.lexists(host_wants), host_had)

        # The unit, as systemd would read it: one value per key here.
        unit = {}
        with open(R(self.units + "/levee.service")) as f:
            for line in f:
                m = re.match(r"^(\w+)=(.*)$", line.strip())
                if m:
                    unit.setdefault(m.group(1), m.group(2))
        self.assertEqual(unit["Type"], "notify")
        # A successor started by SIGUSR2 sends MAINPID=: systemd must accept it from a child.
        self.assertEqual(unit["NotifyAccess"], "all")
        self.assertEqual(unit["ExecReload"], "/bin/kill -HUP $MAINPID")
        start = shlex.split(unit["ExecStart"])
        self.assertEqual(start, [self.sbin + "/levee", "-c", self.etc + "/levee/levee.yaml"])
        analyze = shutil.which("systemd-analyze")
        if analyze:  # every directive known to this systemd; the programs it names exist
            text = open(R(self.units + "/levee.service")).read()
            for p in (self.sbin + "/levee", self.etc + "/levee/"):
                text = text.replace(p, R(p))
            units = os.path.join(self.tmp, "units")
            os.makedirs(units, exist_ok=True)
            with open(os.path.join(units, "levee.service"), "w") as f:
                f.write(text)
            p = subprocess.run([analyze, "verify", "--man=no",
                                os.path.join(units, "levee.service")],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

        # ExecStartPre checks the installed config as it is.
        pre = shlex.split(unit["ExecStartPre"])
        out = run([R(pre[0])] + [R(a) if a.startswith("/") else a for a in pre[1:]],
                  env=lt.asan_env())
        self.assertIn(": ok (", out)

        sim = subprocess.Popen([R(self.bin + "/levee-sim"), "--listen", "127.0.0.1:0",
                                "--workers", "2", "--service-ms", "1"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=lt.asan_env())
        lt._children.append(sim)
        self.addCleanup(lt.stop_process, sim)
        sim_log = lt._LineReader(sim.stderr, os.path.join(self.tmp, "sim.stderr"))
        got = sim_log.wait_for(r"comp=sim msg=listening addr=\"?127\.0\.0\.1:(\d+)", 20)
        self.assertTrue(got, "levee-sim did not start")
        sim_port = got[1].group(1)

        # The installed example config, its fixed ports (8080, admin 9901, upstream 9000)
        # moved so that the suite's parallel tests and a running quickstart never collide.
        with open(R(self.etc + "/levee/levee.yaml")) as f:
            cfg = f.read()
        for old, new in (("127.0.0.1:8080", "127.0.0.1:0"), ("127.0.0.1:9901", "127.0.0.1:0"),
                         ("127.0.0.1:9000", "127.0.0.1:" + sim_port)):
            self.assertIn(old, cfg)
            cfg = cfg.replace(old, new)
        cfg_path = os.path.join(self.tmp, "levee.yaml")
        with open(cfg_path, "w") as f:
            f.write(cfg)

        n = Notifier(abstract=True)
        self.addCleanup(n.close)
        env = lt.asan_env()
        env["NOTIFY_SOCKET"] = n.env_value
        lv = lt.Levee(["-c", cfg_path], wait_ready=False, env=env, binary=R(start[0]))
        self.addCleanup(lv.stop)
        text, pid = n.recv(30)
        self.assertEqual((fields(text or "").get("READY"), pid), ("1", lv.pid), text)
        lv.wait_ready()
        r = lt.get(lv.addr, "/hello", timeout=10)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(lt.get(lv.admin_addr, "/health").status, 200)

        reload_cmd = unit["ExecReload"].replace("$MAINPID", str(lv.pid))
        run(shlex.split(reload_cmd))
        self.assertEqual(fields(n.recv(10)[0] or "").get("RELOADING"), "1")
        self.assertTrue(fields(n.recv(10)[0] or "").get("STATUS", "").startswith("reloaded"))
        self.assertEqual(lt.get(lv.addr, "/again", timeout=10).status, 200)
        lv.signal(signal.SIGTERM)
        self.assertEqual(fields(n.recv(10)[0] or "").get("STOPPING"), "1")
        self.assertEqual(lv.wait_exit(20), 0)

        # Remove keeps the conffiles; purge takes them and the unit's enablement away.
        self.dpkg(root, "-r", "levee")
        self.assertFalse(os.path.exists(R(self.sbin + "/levee")))
        self.assertTrue(os.path.exists(R(self.etc + "/levee/levee.yaml")))
        self.dpkg(root, "--purge", "levee")
        self.assertFalse(os.path.exists(R(self.etc + "/levee/levee.yaml")))
        self.assertFalse(os.path.lexists(wants))
        self.assertEqual(os.path.lexists(host_wants), host_had)


if __name__ == "__main__":
    lt.main()
