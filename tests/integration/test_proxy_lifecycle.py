"""Integration: the process life. `-t` config checks (exit codes, "file:line:col: key:
message"), --help/--version, SIGHUP reload (a bad file is refused and the old config keeps
serving; a good one applies to new requests), SIGTERM drain (in-flight requests finish, new
connections are refused, exit 0), and the access log."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

ERR_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<key>[\w.\[\]-]+): "
                      r"(?P<msg>\S.*)$")


def run_levee(args, timeout=20):
    return subprocess.run([lt.LEVEE] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=lt.asan_env())


class CommandLine(lt.LvTestCase):
    def test_help(self):
        p = run_levee(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        out = (p.stdout + p.stderr).decode()
        self.assertIn("-c", out)
        self.assertIn("proxy", out)

    def test_version(self):
        p = run_levee(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        self.assertRegex((p.stdout + p.stderr).decode(), r"levee.*\d+\.\d+\.\d+")

    def test_check_good_config(self):
        cfg = lt.make_config([{"name": "a", "upstreams": ["127.0.0.1:9"]}])
        path = lt.write_file("good.yaml", cfg)
        p = run_levee(["-t", "-c", path])
        self.assertEqual(p.returncode, 0, "levee -t on a good config: %s" % p.stderr.decode())

    def test_check_shipped_config(self):
        path = os.path.join(lt.SOURCE_DIR, "conf", "levee.yaml")
        if not os.path.exists(path):
            self.skipTest("no conf/levee.yaml yet")
        p = run_levee(["-t", "-c", path])
        self.assertEqual(p.returncode, 0, p.stderr.decode())

    def test_check_bad_config(self):
        text = ("workers: 1\n"                                  # line 1
                "listen: [\"127.0.0.1:0\"]\n"                   # line 2
                "limits:\n"                                     # line 3
                "  header_bytes: banana\n"                      # line 4
                "services:\n"                                   # line 5
                "  - name: a\n"                                 # line 6
                "    upstreams: [\"127.0.0.1:9\"]\n"            # line 7
                "    balance: sideways\n"                       # line 8
                "routes:\n"                                     # line 9
                "  - path: /\n"                                 # line 10
                "    service: a\n")                             # line 11
        path = lt.write_file("bad.yaml", text)
        p = run_levee(["-t", "-c", path])
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, "levee -t on a bad config: rc=%d\n%s"
                         % (p.returncode, err))
        found = {}
        for line in err.splitlines():
            m = ERR_LINE.match(line)
            if m:
                self.assertEqual(m.group("file"), path)
                found[int(m.group("line"))] = m
        self.assertIn(4, found, "no 'FILE:4:COL: KEY: MESSAGE' line for header_bytes:\n" + err)
        self.assertIn(8, found, "no 'FILE:8:COL: KEY: MESSAGE' line for balance (all problems "
                      "must be reported):\n" + err)
        self.assertIn("header_bytes", found[4].group("key"))
        self.assertIn("balance", found[8].group("key"))
        self.assertGreater(int(found[4].group("col")), 0)

    def test_check_unknown_key_and_bad_service(self):
        text = ("listen: [\"127.0.0.1:0\"]\n"
                "services:\n"
                "  - name: a\n"
                "    upstreams: [\"127.0.0.1:9\"]\n"
                "    colour: blue\n"
                "routes:\n"
                "  - path: /\n"
                "    service: nosuch\n")
        path = lt.write_file("bad2.yaml", text)
        p = run_levee(["-t", "-c", path])
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        lines = {int(m.group("line")) for m in map(ERR_LINE.match, err.splitlines()) if m}
        self.assertIn(5, lines, "unknown key not reported at line 5:\n" + err)
        self.assertIn(8, lines, "unknown service not reported at line 8:\n" + err)

    def test_check_missing_file(self):
        path = os.path.join(lt.tmpdir(), "does-not-exist.yaml")
        p = run_levee(["-t", "-c", path])
        self.assertEqual(p.returncode, 1)
        self.assertIn(path, p.stderr.decode())

    def test_run_bad_config_exits_1(self):
        path = lt.write_file("bad3.yaml", "workers: -3\n")
        p = run_levee(["-c", path])
        self.assertEqual(p.returncode, 1, p.stderr.decode())


class Reload(lt.LvTestCase):
    """levee -c FILE with route / -> A; then SIGHUP with a bad file, then with a good one."""

    def setUp(self):
        self.a, self.b = lt.Backend("A"), lt.Backend("B")
        self.levee = None
        try:
            self.levee = lt.Levee.from_config(self.config("A"), name="reload.yaml")
        except Exception:
            self.a.stop()
            self.b.stop()
            raise

    def tearDown(self):
        try:
            if self.levee:
                self.levee.stop(check=True)
        finally:
            self.a.stop()
            self.b.stop()

    def config(self, target):
        return lt.make_config([{"name": "A", "upstreams": [self.a.hostport]},
                               {"name": "B", "upstreams": [self.b.hostport]}],
                              routes=[{"path": "/", "service": target}])

    def served_by(self):
        r = lt.get(self.levee.addr, "/echo")
        self.assertStatus(r, 200)
        return r.header("X-Backend")

    def test_bad_file_keeps_old_config(self):
        self.assertEqual(self.served_by(), "A")
        with open(self.levee.config_path, "w") as f:
            f.write("workers: 1\nlisten: [\"127.0.0.1:0\"]\nservices: 12\nroutes: nope\n")
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r'comp=server\b.*msg="reload refused"', 10, start=mark)
        errs = [ln for ln in self.levee.stderr_lines()[mark:]
                if "level=error" in ln and "comp=config" in ln]
        self.assertTrue(errs, "no level=error comp=config lines before 'reload refused'")
        self.assertTrue(any(re.search(r'error="?%s:\d+:\d+: ' % re.escape(self.levee.config_path),
                                      ln) for ln in errs),
                        "config errors without FILE:LINE:COL: %s" % errs)
        self.assertTrue(self.levee.alive(), "levee died on a bad reload")
        for _ in range(3):
            self.assertEqual(self.served_by(), "A")
        self.assertStatus(self.levee.admin("/health"), 200)

    def test_good_file_switches_route(self):
        self.assertEqual(self.served_by(), "A")
        keep = lt.HttpConn(self.levee.addr)  # a client connection opened before the reload
        try:
            self.assertStatus(keep.request("GET", "/echo"), 200)
            with open(self.levee.config_path, "w") as f:
                f.write(self.config("B"))
            mark = self.levee.log_mark()
            self.levee.signal(signal.SIGHUP)
            self.levee.wait_log(r"comp=server\b.*msg=reloaded\b.*generation=\d+", 10, start=mark)
            for _ in range(3):
                self.assertEqual(self.served_by(), "B", "new requests after the reload")
            # the old connection is still usable
            r = keep.request("GET", "/echo")
            self.assertStatus(r, 200)
            self.assertIn(r.header("X-Backend"), ("A", "B"))
        finally:
            keep.close()

    def test_reload_with_request_in_flight(self):
        result = {}

        def slow():
            try:
                result["r"] = lt.get(self.levee.addr, "/slow?ms=1000", timeout=15)
            except Exception as e:
                result["e"] = e

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        self.a.wait_stat(lambda s: s["paths"].get("/slow"), 5, "slow request in flight")
        with open(self.levee.config_path, "w") as f:
            f.write(self.config("B"))
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r"msg=reloaded\b", 10, start=mark)
        self.assertEqual(self.served_by(), "B")
        t.join(15)
        self.assertNotIn("e", result, result.get("e"))
        self.assertStatus(result["r"], 200)
        self.assertEqual(result["r"].header("X-Backend"), "A")


    def test_reload_with_more_listeners_then_stop(self):
        """Regression: a reload whose file lists more listeners (kept for a restart) made the
        exit close listen sockets past the ones bound at start (ASan heap-buffer-overflow)."""
        cfg = self.config("A").replace('listen:\n  - "127.0.0.1:0"',
                                       'listen:\n  - "127.0.0.1:0"\n  - "127.0.0.1:0"\n'
                                       '  - "127.0.0.1:0"')
        self.assertIn('  - "127.0.0.1:0"\n  - "127.0.0.1:0"', cfg)
        with open(self.levee.config_path, "w") as f:
            f.write(cfg)
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r"msg=reloaded\b", 10, start=mark)
        self.assertEqual(self.served_by(), "A")
        # tearDown: stop(check=True), exit 0 with no sanitizer report


class Drain(lt.LvTestCase):
    def setUp(self):
        self.backend = lt.Backend("A")
        self.levee = None

    def tearDown(self):
        try:
            if self.levee and self.levee.alive():
                self.levee.stop()
        finally:
            self.backend.stop()

    def test_sigterm_drains_in_flight(self):
        self.levee = lt.Levee.quick([self.backend], workers=2)
        addr = self.levee.addr
        result = {}

        def slow():
            try:
                t0 = time.monotonic()
                result["r"] = lt.get(addr, "/slow?ms=1000", timeout=15)
                result["t"] = time.monotonic() - t0
            except Exception as e:
                result["e"] = e

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        self.backend.wait_stat(lambda s: s["paths"].get("/slow"), 5, "slow request in flight")
        t_term = time.monotonic()
        self.levee.signal(signal.SIGTERM)
        # New connections are refused soon after the SIGTERM, while the slow one is in flight.
        outcome = None
        while time.monotonic() - t_term < 0.8:
            outcome = lt.try_connect(addr, 0.5)
            if outcome == "refused":
                break
            time.sleep(0.02)
        refused_after = time.monotonic() - t_term
        t.join(15)
        rc = self.levee.wait_exit(15)
        self.assertNotIn("e", result, "in-flight request failed during drain: %r"
                         % result.get("e"))
        self.assertStatus(result["r"], 200, "in-flight request during drain:")
        self.assertEqual(result["r"].body, b"slow\n")
        self.assertEqual(outcome, "refused", "new connections still accepted %.2fs after "
                         "SIGTERM" % refused_after)
        self.assertEqual(rc, 0, "levee exit code after SIGTERM drain: %s" % rc)

    def test_sigterm_idle_exits_fast(self):
        self.levee = lt.Levee.quick([self.backend], workers=2)
        c = lt.HttpConn(self.levee.addr)  # an idle keep-alive client must not hold the exit
        try:
            self.assertStatus(c.request("GET", "/echo"), 200)
            t0 = time.monotonic()
            self.levee.signal(signal.SIGTERM)
            rc = self.levee.wait_exit(8)
            self.assertEqual(rc, 0, "exit code %s after SIGTERM (idle keep-alive client open)"
                             % rc)
            self.assertLess(time.monotonic() - t0, 8)
        finally:
            c.close()

    def test_drain_deadline(self):
        # A request longer than drain_ms is cut at the deadline, and levee still exits 0.
        cfg = lt.make_config([{"name": "d", "upstreams": [self.backend.hostport]}],
                             timeouts={"drain_ms": 500})
        self.levee = lt.Levee.from_config(cfg, name="drain.yaml")
        c = lt.HttpConn(self.levee.addr, timeout=15)
        try:
            c.send(lt.HttpConn.build("GET", "/slow?ms=5000"))
            self.backend.wait_stat(lambda s: s["paths"].get("/slow"), 5, "slow request")
            t0 = time.monotonic()
            self.levee.signal(signal.SIGTERM)
            rc = self.levee.wait_exit(8)
            elapsed = time.monotonic() - t0
            self.assertIsNotNone(rc, "levee still running 8 s after SIGTERM with drain_ms: 500")
            self.assertLess(elapsed, 4.0, "drain_ms: 500 but exit took %.1fs" % elapsed)
            self.assertEqual(rc, 0)
        finally:
            c.close()


class AccessLog(lt.LvTestCase):
    def test_lines_written(self):
        backend = lt.Backend("A")
        path = os.path.join(lt.tmpdir(), "access.log")
        lv = None
        try:
            lv = lt.Levee.quick([backend], workers=1, access_log=path)
            self.levee = lv
            r = lt.get(lv.addr, "/echo?al=1", headers=[("X-Request-Id", "itest-req-1")])
            self.assertStatus(r, 200)
            sent = len(r.raw_head) + 4 + r.body_len  # head, CRLF CRLF, body (not chunked)
            r = lt.get(lv.addr, "/status?code=404", headers=[("X-Request-Id", "itest-req-2")])
            self.assertStatus(r, 404)
            deadline = time.monotonic() + 5
            lines = []
            while time.monotonic() < deadline:  # flushed by a 1 s timer
                if os.path.exists(path):
                    with open(path) as f:
                        lines = f.read().splitlines()
                if sum(1 for ln in lines if "itest-req-" in ln) >= 2:
                    break
                time.sleep(0.1)
            l1 = [ln for ln in lines if "itest-req-1" in ln]
            l2 = [ln for ln in lines if "itest-req-2" in ln]
            self.assertEqual(len(l1), 1, "access log: %r" % lines)
            self.assertEqual(len(l2), 1, "access log: %r" % lines)
            self.assertRegex(l1[0], r"\bstatus=200\b")
            self.assertRegex(l2[0], r"\bstatus=404\b")
            self.assertIn("/echo?al=1", l1[0])
            self.assertRegex(l1[0], r"\bservice=\"?default\b")
            self.assertRegex(l1[0], r"\bbytes_out=%d\b" % sent)
        finally:
            try:
                if lv:
                    lv.stop(check=True)
            finally:
                backend.stop()


if __name__ == "__main__":
    lt.main()
