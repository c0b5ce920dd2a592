"""Integration: hosts that fail leave the rotation. One of two hosts refusing connections or
black-holed (SYNs unanswered): requests are still answered (a failed connect goes to the other
host, outlier detection ejects the bad one, logged once, on /status and /metrics); active
health checks take a host out and bring it back; every upstream failure is logged with its
kind and request id, rate-limited."""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

N = 400  # requests at low load; the target is >= 99.5 % answered 200
# A black-holed host holds one request at a time (least_outstanding counts its hung connect for
# every worker), so it fails once per connect_timeout_ms (1 s): 5 failures in a row, the
# default ejection, take 5 s of load.
N_HOLE = 800


def host_state(lv, service, addr):
    st = lv.admin("/status").json()
    for s in st["services"]:
        if s["name"] == service:
            for h in s["hosts"]:
                if h["addr"] == addr:
                    return h
    raise AssertionError("no host %s in /status" % addr)


def metric(lv, name, labels):
    text = lv.admin("/metrics").body.decode()
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and want in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s{%s} in /metrics" % (name, want))


class OneHostBad(lt.LvTestCase):
    """Shipped defaults except the addresses: two workers, no retry tuning."""

    def run_low_load(self, bad, n=N, **service):
        good = lt.Backend("A")
        cfg = lt.make_config([dict({"name": "s", "upstreams": [good.hostport, bad]}, **service)],
                             workers=2)
        lv = lt.Levee.from_config(cfg)
        try:
            # Open loop at 100 requests/s, each a new connection (a new user): requests keep
            # arriving while the first ones wait on the dead host, as they would in production.
            ok, t0, lock, seen = 0, time.monotonic(), threading.Lock(), {}

            def one(i):
                nonlocal ok
                time.sleep(max(0.0, t0 + i / 100.0 - time.monotonic()))
                try:
                    r = lt.get(lv.addr, "/x%d" % i, timeout=10)
                    what = r.status
                except (OSError, lt.ConnectionClosedEarly) as e:
                    what = type(e).__name__
                with lock:
                    ok += what == 200
                    seen[what] = seen.get(what, 0) + 1
            threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            took = time.monotonic() - t0
            sys.stderr.write("\n  %s: %d of %d answered 200 (%.2f %%) in %.1f s: %s\n"
                             % (bad, ok, n, 100.0 * ok / n, took, seen))
            self.assertGreaterEqual(ok / n, 0.995, "%d of %d answered 200 with %s: %s"
                                    % (ok, n, bad, seen))
            h = host_state(lv, "s", bad)
            sys.stderr.write("  %s: %s\n" % (bad, h))
            self.assertEqual(h["state"], "ejected", h)
            self.assertGreaterEqual(metric(lv, "levee_upstream_host_ejections_total",
                                           {"host": bad}), 1)
            self.assertEqual(metric(lv, "levee_upstream_host_up", {"host": bad}), 0)
            self.assertEqual(metric(lv, "levee_upstream_host_up", {"host": good.hostport}), 1)
            lv.wait_log(r'msg="host ejected" service=s host=%s' % bad, timeout=5)
            self.stalls = metric(lv, "levee_upstream_connect_stalls_total", {"service": "s"})
            return ok, took, lv
        finally:
            lv.stop()
            good.stop()

    def test_refusing_host(self):
        ok, took, lv = self.run_low_load("127.0.0.1:%d" % lt.dead_port())
        text = "\n".join(lv.stderr_lines())
        self.assertIn("kind=connect", text)

    def test_black_holed_host(self):
        hole = lt.BlackHole()
        try:
            if lt.try_connect(("127.0.0.1", hole.port), timeout=0.5) != "timeout":
                self.skipTest("this kernel answers SYNs to a full accept queue")
            ok, took, lv = self.run_low_load(hole.hostport, N_HOLE)
            self.assertIn("kind=connect_timeout", "\n".join(lv.stderr_lines()))
            self.assertLess(took, 30, "%.1f s for %d requests" % (took, N_HOLE))
        finally:
            hole.stop()

    def test_black_holed_host_holds_no_slot(self):
        """A hung connect gives its concurrency slot back at a tenth of connect_timeout_ms:
        with the limit pinned at 3, connects to the hole held for the whole second would fill
        it and the queue would refuse requests the good host could serve."""
        hole = lt.BlackHole()
        try:
            if lt.try_connect(("127.0.0.1", hole.port), timeout=0.5) != "timeout":
                self.skipTest("this kernel answers SYNs to a full accept queue")
            ok, took, lv = self.run_low_load(hole.hostport, N_HOLE,
                                             limit={"initial": 3, "min": 3, "max": 3})
            self.assertGreaterEqual(self.stalls, 1)
        finally:
            hole.stop()


class ActiveChecks(lt.LvTestCase):
    def test_check_takes_host_out_and_back(self):
        a = lt.Backend("A")
        health = [200]  # what B's /healthz answers; the test flips it

        def script_b(target):
            if target == "/healthz":
                return [b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % health[0]]
            return [b"HTTP/1.1 200 OK\r\nX-Backend: B\r\nContent-Length: 0\r\n\r\n"]
        b = lt.ScriptedOrigin(script_b)
        cfg = lt.make_config([{
            "name": "s", "upstreams": [a.hostport, b.hostport],
            "health_check": {"path": "/healthz", "interval_ms": 100, "unhealthy": 2,
                             "healthy": 2}}], workers=2)
        lv = lt.Levee.from_config(cfg)
        try:
            lt.wait_for(lambda: metric(lv, "levee_upstream_host_checks_total",
                                       {"host": b.hostport, "result": "ok"}) >= 2,
                        what="checks")
            self.assertEqual(host_state(lv, "s", b.hostport)["state"], "up")
            mark = lv.log_mark()
            health[0] = 503
            lv.wait_log(r'msg="host down" service=s host=%s reason="status 503"' % b.hostport,
                        timeout=10, start=mark)
            self.assertEqual(host_state(lv, "s", b.hostport)["state"], "down")
            self.assertEqual(host_state(lv, "s", a.hostport)["state"], "up")
            seen = set()
            for i in range(40):
                r = lt.get(lv.addr, "/echo")
                self.assertStatus(r, 200)
                seen.add(r.header("X-Backend"))
            self.assertEqual(seen, {"A"}, "a host down by health checks still took requests")
            mark = lv.log_mark()
            health[0] = 200
            lv.wait_log(r'msg="host up" service=s host=%s' % b.hostport, timeout=10, start=mark)
            seen = set()
            for i in range(40):
                seen.add(lt.get(lv.addr, "/echo").header("X-Backend"))
            self.assertEqual(seen, {"A", "B"})
            # A reload keeps checking (and keeps what was learned).
            lv.signal(1)
            lv.wait_log(r"msg=reloaded", timeout=10)
            n = metric(lv, "levee_upstream_host_checks_total", {"host": b.hostport,
                                                                 "result": "ok"})
            lt.wait_for(lambda: metric(lv, "levee_upstream_host_checks_total",
                                       {"host": b.hostport, "result": "ok"}) > n + 2,
                        what="checks after the reload")
        finally:
            lv.stop()
            a.stop()
            b.stop()

    def test_all_hosts_down_still_tried(self):
        a = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [a.hostport],
                               "health_check": {"path": "/status?code=500", "interval_ms": 100,
                                                "unhealthy": 1}}])
        lv = lt.Levee.from_config(cfg)
        try:
            lv.wait_log(r'msg="host down"', timeout=10)
            # The only host is down: it is asked anyway (a guess beats a certain 502).
            self.assertStatus(lt.get(lv.addr, "/echo"), 200)
        finally:
            lv.stop()
            a.stop()


class FailureLog(lt.LvTestCase):
    def test_each_kind_logged_with_request_id(self):
        def script(target):
            if target.startswith("/garbage"):
                return [b"NOT HTTP\r\n\r\n"]
            if target.startswith("/reset"):
                return ["reset"]
            if target.startswith("/hang"):
                return [("sleep", 2)]
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
        origin = lt.ScriptedOrigin(script)
        # No guard: its breaker would stop the flood below before it reached the origin.
        cfg = lt.make_config([{"name": "s", "upstreams": [origin.hostport],
                               "read_timeout_ms": 300, "guard": False}])
        lv = lt.Levee.from_config(cfg)
        try:
            for path, kind in (("/garbage", "bad_response"), ("/reset", "(reset|closed)"),
                               ("/hang", "read_timeout")):
                r = lt.get(lv.addr, path, headers=[("X-Request-Id", "rid-" + path[1:])])
                self.assertIn(r.status, (502, 504))
                lv.wait_log(r'msg="upstream failed" service=s host=%s kind=%s .*req=rid-%s'
                            % (origin.hostport, kind, path[1:]), timeout=5)
            # A flood of failures is rate-limited: at most a few lines a second.
            mark = lv.log_mark()
            for i in range(60):
                lt.get(lv.addr, "/garbage%d" % i)
            lines = [ln for ln in lv.stderr_lines()[mark:] if "upstream failed" in ln]
            self.assertLess(len(lines), 30, "%d lines for 60 failures" % len(lines))
            self.assertGreater(len(lines), 0)
            # Nothing is hidden: every line says how many were left out before it, and the
            # next failure's line carries the count of the flood.
            time.sleep(1.1)
            mark2 = lv.log_mark()
            lt.get(lv.addr, "/garbage-after")
            lv.wait_log(r'msg="upstream failed".*req=\S+ suppressed=\d+', timeout=5, start=mark2)
            sup = [int(re.search(r"suppressed=(\d+)", ln).group(1))
                   for ln in lv.stderr_lines()[mark:] if "upstream failed" in ln]
            self.assertEqual(len(sup) + sum(sup), 61, "lines and suppressed counts %s for 61 "
                             "failures" % sup)
        finally:
            lv.stop()
            origin.stop()


if __name__ == "__main__":
    lt.main()
