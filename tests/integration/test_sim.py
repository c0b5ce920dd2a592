"""levee-sim integration: a real levee-sim on 127.0.0.1 (port 0), real HTTP clients.

Checks capacity (K workers x fixed service time), /stats counters, retries counted by
X-Attempt (and by kind, X-Retry), wasted work for a client that left, stall and workers
control, 304 on If-None-Match, cache_control and extra headers per path, injected failures,
clean TERM.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

BUILD = os.environ.get("LV_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SIM = os.path.join(BUILD, "levee-sim")

CONFIG = """\
workers: 2
default:
  dist: fixed
  service_ms: 50
paths:
  /cached:
    service_ms: 1
    cacheable: true
    etag: '"v7"'
    max_age_s: 30
    vary: Accept-Encoding
  /broken:
    service_ms: 1
    fail_rate: 1.0
    fail_status: 503
  /chunky:
    service_ms: 0
    chunked: true
    body_bytes: 1000
  /swr:
    service_ms: 1
    cacheable: true
    etag: '"s1"'
    cache_control: "max-age=1, stale-while-revalidate=30"
    headers:
      Surrogate-Key: "k1 k2"
      X-Extra: 'a "quoted" value'
  /priv:
    service_ms: 1
    cache_control: private
    headers: {Set-Cookie: "sid=1; Path=/"}
"""


class Sim:
    def __init__(self, args):
        self.tmp = tempfile.TemporaryDirectory(prefix="levee-sim-test-")
        cfg = os.path.join(self.tmp.name, "sim.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        self.log_path = os.path.join(self.tmp.name, "sim.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SIM, "-c", cfg, "--listen", "127.0.0.1:0"] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            with open(self.log_path, "rb") as f:
                m = re.search(rb"comp=sim msg=listening addr=127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise RuntimeError("levee-sim did not start: " + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def request(self, method, path, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def stats(self):
        status, _, body = self.request("GET", "/stats")
        assert status == 200
        return json.loads(body)

    def stop(self):
        """TERM, then KILL; returns the exit code."""
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log.close()
        return rc


class SimTest(unittest.TestCase):
    def setUp(self):
        self.sim = Sim([])

    def tearDown(self):
        rc = self.sim.stop()
        log = self.sim.read_log()
        self.sim.tmp.cleanup()
        self.assertEqual(rc, 0, "levee-sim exit code; log:\n" + log)
        self.assertNotIn("ERROR: AddressSanitizer", log)
        self.assertNotIn("runtime error", log)

    def wait_stats(self, pred, timeout=5):
        deadline = time.monotonic() + timeout
        st = self.sim.stats()
        while not pred(st) and time.monotonic() < deadline:
            time.sleep(0.02)
            st = self.sim.stats()
        return st

    def test_capacity_is_honoured(self):
        n = 20
        results = []

        def one():
            results.append(self.sim.request("GET", "/work")[0])

        threads = [threading.Thread(target=one) for _ in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertEqual(results, [200] * n)
        # 20 requests x 50 ms / 2 workers = 500 ms; generous bounds against machine noise
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLessEqual(elapsed, 3.0)
        st = self.sim.stats()
        self.assertEqual(st["processed"], n)
        self.assertEqual(st["received"], n)
        self.assertEqual(st["wasted"], 0)
        self.assertEqual(st["queue"], 0)
        self.assertEqual(st["in_flight"], 0)
        self.assertEqual(st["workers"], 2)
        self.assertAlmostEqual(st["capacity_per_s"], 40.0)
        self.assertGreaterEqual(st["max_queue"], 10)
        self.assertEqual(st["paths"]["/work"]["processed"], n)

    def test_retries_received_counts_x_attempt(self):
        # (X-Attempt, X-Retry, path); None: header absent. A retry (X-Attempt >= 2) is also
        # counted by its kind when X-Retry says f5 or obeyed (white space and case aside).
        cases = [(None, None, "/r"), ("1", "f5", "/r"), ("2", "f5", "/r"), ("3", "obeyed", "/r"),
                 ("17", " OBEYED ", "/q"), ("0", None, "/q"), ("x", "f5", "/q"),
                 ("2x", None, "/q"), (" 4 ", None, "/q"), ("6", "f5x", "/q"),
                 ("7", "obeyedobeyed", "/q")]
        for att, kind, path in cases:
            hdrs = {} if att is None else {"X-Attempt": att}
            if kind is not None:
                hdrs["X-Retry"] = kind
            self.assertEqual(self.sim.request("GET", path, hdrs)[0], 200)
        # Lower case names, several requests on one keep-alive connection: the attempt and the
        # kind of one request do not leak into the next; of repeated headers the last counts.
        s = socket.create_connection(("127.0.0.1", self.sim.port))
        s.settimeout(10)
        s.sendall(b"GET /q HTTP/1.1\r\nHost: x\r\nx-attempt: 5\r\nx-retry: f5\r\n\r\n"
                  b"GET /q HTTP/1.1\r\nHost: x\r\nx-attempt: 2\r\n\r\n"
                  b"GET /q HTTP/1.1\r\nHost: x\r\nX-Attempt: 3\r\nX-Retry: f5\r\n"
                  b"X-Retry: obeyed\r\n\r\n"
                  b"GET /q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = lt.read_until_eof(s)
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 4)
        # /health, /stats and /control are not simulated work: never counted.
        self.assertEqual(self.sim.request("GET", "/health", {"X-Attempt": "2",
                                                             "X-Retry": "f5"})[0], 200)
        st = self.sim.stats()
        self.assertEqual(st["received"], 15)
        # /r: 2 (f5), 3 (obeyed); /q: 17 (obeyed), " 4 ", 6, 7 (kinds not understood), then
        # on the connection 5 (f5), 2 (no kind), 3 (obeyed).
        self.assertEqual(st["retries_received"], 9)
        self.assertEqual(st["retries_f5_received"], 2)
        self.assertEqual(st["retries_obeyed_received"], 3)
        self.assertEqual(st["paths"]["/r"]["received"], 4)
        self.assertEqual(st["paths"]["/r"]["retries_received"], 2)
        self.assertEqual(st["paths"]["/r"]["retries_f5_received"], 1)
        self.assertEqual(st["paths"]["/r"]["retries_obeyed_received"], 1)
        self.assertEqual(st["paths"]["/q"]["retries_received"], 7)
        self.assertEqual(st["paths"]["/q"]["retries_f5_received"], 1)
        self.assertEqual(st["paths"]["/q"]["retries_obeyed_received"], 2)
        self.assertEqual(self.sim.request("POST", "/control/reset")[0], 200)
        st = self.sim.stats()
        for key in ("retries_received", "retries_f5_received", "retries_obeyed_received"):
            self.assertEqual(st[key], 0, key)
            self.assertEqual(st["paths"]["/q"][key], 0, key)
            self.assertEqual(st["paths"]["/r"][key], 0, key)

    def test_duplicates_received_counts_repeated_step_ids(self):
        cases = [("5", "/r"), ("5", "/r"), ("6", "/r"), ("5", "/q"), (" 7 ", "/q"),
                 ("7", "/q"), ("x7", "/q"), (None, "/q"), (None, "/q")]
        for sid, path in cases:
            hdrs = {} if sid is None else {"X-Step-Id": sid}
            self.assertEqual(self.sim.request("GET", path, hdrs)[0], 200)
        st = self.sim.stats()
        self.assertEqual(st["received"], 9)
        # 5 again on /r, 5 again on /q (ids are per user step, whatever the path), 7 again;
        # a bad or absent id never counts.
        self.assertEqual(st["duplicates_received"], 3)
        self.assertEqual(st["paths"]["/r"]["duplicates_received"], 1)
        self.assertEqual(st["paths"]["/q"]["duplicates_received"], 2)
        self.assertFalse(st["duplicates_saturated"])
        self.assertEqual(self.sim.request("POST", "/control/reset")[0], 200)
        self.assertEqual(self.sim.request("GET", "/r", {"X-Step-Id": "5"})[0], 200)
        st = self.sim.stats()
        self.assertEqual(st["duplicates_received"], 0, "reset forgets the ids seen")

    def test_client_that_left_is_wasted_work(self):
        s = socket.create_connection(("127.0.0.1", self.sim.port))
        s.sendall(b"GET /gone HTTP/1.1\r\nHost: sim\r\n\r\n")
        time.sleep(0.01)
        s.close()
        st = self.wait_stats(lambda st: st["processed"] >= 1)
        self.assertEqual(st["processed"], 1)
        self.assertEqual(st["wasted"], 1)
        self.assertEqual(st["paths"]["/gone"]["wasted"], 1)

    def test_pipelined_answers_in_order(self):
        s = socket.create_connection(("127.0.0.1", self.sim.port))
        s.settimeout(10)
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /cached HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = lt.read_until_eof(s)
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 3)
        i_a = data.index(b"X-Sim-Queue-Ms")
        i_h = data.index(b'{"ok":true}')
        i_c = data.index(b'ETag: "v7"')
        self.assertLess(i_a, i_h)
        self.assertLess(i_h, i_c)

    def test_stall_and_workers_control(self):
        status, _, body = self.sim.request("POST", "/control/stall?ms=400")
        self.assertEqual(status, 200, body)
        t0 = time.monotonic()
        status, hdrs, _ = self.sim.request("GET", "/s")
        elapsed = time.monotonic() - t0
        self.assertEqual(status, 200)
        self.assertGreaterEqual(elapsed, 0.3)  # held by the stall, then 50 ms of service
        self.assertGreaterEqual(int(hdrs["X-Sim-Queue-Ms"]), 250)
        # /health and /stats are never queued, even during a stall
        self.sim.request("POST", "/control/stall?ms=2000")
        t0 = time.monotonic()
        self.assertEqual(self.sim.request("GET", "/health")[0], 200)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.sim.request("POST", "/control/stall?ms=0")

        status, _, body = self.sim.request("POST", "/control/workers?n=10")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.sim.stats()["workers"], 10)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.sim.request("GET", "/w")[0])) for _ in range(10)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 10)
        self.assertLess(time.monotonic() - t0, 0.4)  # 10 slots: one round of 50 ms, not five
        self.assertEqual(self.sim.request("POST", "/control/workers?n=abc")[0], 400)
        self.assertEqual(self.sim.request("GET", "/control/workers?n=3")[0], 405)

    def test_stall_ended_early_starts_queued_requests(self):
        # Requests that arrived during a stall (queued, none in service) start as soon as
        # the stall is ended with ms=0, not at the next arrival.
        self.assertEqual(self.sim.request("POST", "/control/stall?ms=60000")[0], 200)
        results = []
        t = threading.Thread(target=lambda: results.append(self.sim.request("GET", "/q1")[0]))
        t.start()
        st = self.wait_stats(lambda st: st["received"] >= 1)
        self.assertEqual((st["received"], st["queue"]), (1, 1), st)
        t0 = time.monotonic()
        self.assertEqual(self.sim.request("POST", "/control/stall?ms=0")[0], 200)
        t.join(10)
        self.assertEqual(results, [200])
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_cacheable_path_answers_304(self):
        status, hdrs, body = self.sim.request("GET", "/cached")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["ETag"], '"v7"')
        self.assertEqual(hdrs["Cache-Control"], "max-age=30")
        self.assertEqual(hdrs["Vary"], "Accept-Encoding")
        self.assertIn("Last-Modified", hdrs)
        status, hdrs, body = self.sim.request("GET", "/cached", {"If-None-Match": 'W/"x", "v7"'})
        self.assertEqual(status, 304)
        self.assertEqual(body, b"")
        self.assertEqual(hdrs["ETag"], '"v7"')
        status, _, _ = self.sim.request("GET", "/cached", {"If-None-Match": '"other"'})
        self.assertEqual(status, 200)
        lm = self.sim.request("GET", "/cached")[1]["Last-Modified"]
        self.assertEqual(self.sim.request("GET", "/cached", {"If-Modified-Since": lm})[0], 304)
        self.assertEqual(self.sim.stats()["status"]["304"], 2)

    def test_cache_control_and_extra_headers(self):
        # cache_control replaces max-age=N on a cacheable path, on 200 and 304 alike.
        status, hdrs, _ = self.sim.request("GET", "/swr")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["Cache-Control"], "max-age=1, stale-while-revalidate=30")
        self.assertEqual(hdrs["ETag"], '"s1"')
        self.assertEqual(hdrs["Surrogate-Key"], "k1 k2")
        self.assertEqual(hdrs["X-Extra"], 'a "quoted" value')
        status, hdrs, body = self.sim.request("GET", "/swr", {"If-None-Match": '"s1"'})
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(hdrs["Cache-Control"], "max-age=1, stale-while-revalidate=30")
        self.assertEqual(hdrs["Surrogate-Key"], "k1 k2")
        # On a path that is not cacheable: Cache-Control alone (no validators, no 304).
        status, hdrs, _ = self.sim.request("GET", "/priv", {"If-None-Match": "*"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["Cache-Control"], "private")
        self.assertEqual(hdrs["Set-Cookie"], "sid=1; Path=/")
        self.assertNotIn("ETag", hdrs)
        self.assertNotIn("Last-Modified", hdrs)
        # Other paths get neither.
        _, hdrs, _ = self.sim.request("GET", "/work")
        self.assertNotIn("Cache-Control", hdrs)
        self.assertNotIn("Surrogate-Key", hdrs)
        self.assertNotIn("Set-Cookie", hdrs)

    def test_fail_rate_gives_configured_status(self):
        for _ in range(3):
            self.assertEqual(self.sim.request("GET", "/broken")[0], 503)
        status, _, body = self.sim.request("POST", "/control/fail?path=/x&rate=1.0&status=500")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.sim.request("GET", "/x")[0], 500)
        self.sim.request("POST", "/control/fail?path=/x&rate=0")
        self.assertEqual(self.sim.request("GET", "/x")[0], 200)
        st = self.sim.stats()
        self.assertEqual(st["status"]["503"], 3)
        self.assertEqual(st["status"]["500"], 1)

    def test_chunked_body_and_reset(self):
        status, hdrs, body = self.sim.request("GET", "/chunky")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("Transfer-Encoding"), "chunked")
        self.assertEqual(len(body), 1000)
        self.assertEqual(self.sim.request("POST", "/control/reset")[0], 200)
        st = self.sim.stats()
        self.assertEqual(st["processed"], 0)
        self.assertEqual(st["received"], 0)

    def test_bad_request_is_400(self):
        s = socket.create_connection(("127.0.0.1", self.sim.port))
        s.settimeout(10)
        s.sendall(b"NOT HTTP\r\n\r\n")
        data = s.recv(4096)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)


class SimCliTest(unittest.TestCase):
    def test_bad_config_exits_2_with_position(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "bad.yaml")
            with open(cfg, "w") as f:
                f.write("workers: 2\nwrokers: 3\n")
            p = subprocess.run([SIM, "-c", cfg], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn(b"bad.yaml:2:1: wrokers: unknown key", p.stderr)
            # headers: the sim's own framing headers cannot be replaced.
            with open(cfg, "w") as f:
                f.write("paths:\n  /x:\n    headers:\n      Content-Length: 5\n")
            p = subprocess.run([SIM, "-c", cfg], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2)
            self.assertIn(b"bad.yaml:4:7: paths./x.headers: 'Content-Length': not a header "
                          b"name levee-sim may add", p.stderr)

    def test_help_and_version(self):
        p = subprocess.run([SIM, "--help"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"--workers", p.stdout)
        p = subprocess.run([SIM, "--version"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith(b"levee-sim "))


if __name__ == "__main__":
    unittest.main()
