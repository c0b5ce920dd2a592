#!/usr/bin/env python3
"""tests/integration/test_load.py: levee-load against real servers on 127.0.0.1.

Counts match what the server received; every request carries X-Attempt (1 for a first try,
2+ for a retry) and the retries the server saw are the retries levee-load counted; every retry
carries X-Retry (f5, or obeyed for a Retry-After wait; a retry after a timeout is f5) and
levee-sim counts them apart; users come from their own 127.x.y.z, or N to an address with
--users-per-address N; a stalled server does not slow arrivals (open loop); the JSON
summary has its fields; the HTML report has SVG charts (and Chromium draws them when
/usr/bin/chromium is installed). Python 3 stdlib only."""
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

BUILD = os.environ.get("LV_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("LV_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LOAD = os.path.join(BUILD, "levee-load")
SIM = os.path.join(BUILD, "levee-sim")


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.count += 1
            srv.clients.add(self.client_address[0])
            if "sid=u" in (self.headers.get("Cookie") or ""):
                srv.with_cookie += 1
            att = self.headers.get("X-Attempt")
            srv.attempts[att] = srv.attempts.get(att, 0) + 1
            kind = (att, self.headers.get("X-Retry"))
            srv.retry_kinds[kind] = srv.retry_kinds.get(kind, 0) + 1
        if srv.refuse_first and att == "1":
            # A first try is refused (half the users obey Retry-After: 0, the others press F5).
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "sid=u%d; Path=/" % srv.count)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, refuse_first=False):
        super().__init__(("127.0.0.1", 0), Counting)
        self.lock = threading.Lock()
        self.count = 0
        self.with_cookie = 0
        self.clients = set()  # source addresses seen
        self.attempts = {}  # X-Attempt value (None: absent) -> requests
        self.retry_kinds = {}  # (X-Attempt, X-Retry) values (None: absent) -> requests
        self.refuse_first = refuse_first


class Stalled:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def sim_control(port, what):
    """POST /control/WHAT to levee-sim on port."""
    urllib.request.urlopen(urllib.request.Request(
        "http://127.0.0.1:%d/control/%s" % (port, what), method="POST"), timeout=5).read()


def run_load(args, timeout=60):
    p = subprocess.run([LOAD] + args, capture_output=True, text=True, timeout=timeout)
    return p


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lv-load-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def test_counts_match_server_and_outputs(self):
        srv = Server()
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            port = srv.server_address[1]
            js, html = self.out("a.json"), self.out("a.html")
            p = run_load(["--target", "http://127.0.0.1:%d/home" % port, "--rate", "50",
                          "--duration", "2", "--journey", "/home,/play", "--json", js,
                          "--html", html, "--label", "python"])
            self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
            time.sleep(0.2)
            with open(js) as f:
                j = json.load(f)
            self.assertEqual(j["requests"], srv.count, p.stdout)
            self.assertGreater(j["requests"], 0)
            # The second step sends the cookie the first one set.
            self.assertEqual(srv.with_cookie, j["requests"] // 2)
            # No retries: every request is a first try, marked as such.
            self.assertEqual(j["retries"], 0)
            self.assertEqual(srv.attempts, {"1": j["requests"]})
            for k in ("offered_users_per_s", "requests_per_s", "retries_per_s", "goodput_per_s",
                      "user_success_rate", "latency_ms", "status", "errors", "per_second"):
                self.assertIn(k, j)
            for q in ("p50", "p90", "p99", "p999", "max"):
                self.assertIn(q, j["latency_ms"])
            self.assertEqual(j["user_success_rate"], 1.0)
            self.assertEqual(j["status"].get("200"), j["requests"])
            self.assertTrue(j["per_second"])
            for k in ("offered_users_per_s", "requests_per_s", "retries_per_s", "goodput_per_s",
                      "user_success_rate", "latency_ms", "status", "errors"):
                self.assertIn(k, j["per_second"][0])
            with open(html) as f:
                doc = f.read()
            self.assertIn("<svg", doc)
            self.assertIn("<polyline", doc)
            self.check_chromium(html)
            # The report subcommand reads summaries back.
            rep = self.out("r.html")
            p = run_load(["report", "--out", rep, js, js])
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(rep) as f:
                self.assertIn("goodput against offered load", f.read())
        finally:
            srv.shutdown()
            srv.server_close()

    def test_users_per_address(self):
        # Against a loopback target each user has its own 127.x.y.z; with
        # --users-per-address N, N consecutive users share one.
        for per in (1, 10):
            srv = Server()
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            try:
                js = self.out("u%d.json" % per)
                p = run_load(["--target", "http://127.0.0.1:%d/" % srv.server_address[1],
                              "--rate", "40", "--duration", "2", "--users-per-address",
                              str(per), "--json", js, "--quiet"])
                self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
                time.sleep(0.2)
                with open(js) as f:
                    users = json.load(f)["offered_users"]
                self.assertGreater(users, 20)
                self.assertEqual(len(srv.clients), (users + per - 1) // per, sorted(srv.clients))
                self.assertIn("127.0.0.1", srv.clients)
            finally:
                srv.shutdown()
                srv.server_close()
        p = run_load(["--users-per-address", "0"])
        self.assertEqual(p.returncode, 2)

    def test_attempt_header_marks_retries(self):
        srv = Server(refuse_first=True)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            port = srv.server_address[1]
            js = self.out("att.json")
            p = run_load(["--target", "http://127.0.0.1:%d/" % port, "--rate", "40",
                          "--duration", "2", "--journey", "/home,/play", "--f5", "1",
                          "--obey-retry-after", "0.5", "--patience-ms", "2000", "--json", js,
                          "--quiet"])
            self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
            time.sleep(0.2)
            with open(js) as f:
                j = json.load(f)
            self.assertEqual(j["requests"], srv.count)
            self.assertGreater(j["retries_f5"], 0)
            self.assertGreater(j["retries_obeyed"], 0)
            self.assertNotIn(None, srv.attempts)
            retried = sum(n for a, n in srv.attempts.items() if int(a) >= 2)
            self.assertEqual(retried, j["retries"], srv.attempts)
            self.assertEqual(srv.attempts["1"], j["requests"] - j["retries"])
            # Each step is refused once, then served: only attempts 1 and 2.
            self.assertEqual(set(srv.attempts), {"1", "2"}, srv.attempts)
            # First tries carry no X-Retry; every retry says its kind, as levee-load counted it.
            self.assertEqual(srv.retry_kinds, {("1", None): j["requests"] - j["retries"],
                                               ("2", "f5"): j["retries_f5"],
                                               ("2", "obeyed"): j["retries_obeyed"]})
            self.assertEqual(j["user_success_rate"], 1.0)
        finally:
            srv.shutdown()
            srv.server_close()

    def test_stalled_server_does_not_slow_arrivals(self):
        st = Stalled()
        try:
            js = self.out("s.json")
            t0 = time.monotonic()
            p = run_load(["--target", "http://127.0.0.1:%d/" % st.port, "--rate", "200",
                          "--duration", "3", "--patience-ms", "1000", "--json", js, "--quiet"])
            elapsed = time.monotonic() - t0
            self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
            with open(js) as f:
                j = json.load(f)
            self.assertGreater(j["offered_users"], 600 * 0.85)
            self.assertLess(j["offered_users"], 600 * 1.15)
            self.assertEqual(j["goodput"], 0)
            self.assertEqual(j["errors"]["timeout"], j["offered_users"])
            self.assertLess(elapsed, 3 + 1 + 3)
        finally:
            st.close()

    def test_connection_refused_is_counted(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        js = self.out("r.json")
        p = run_load(["--target", "http://127.0.0.1:%d/" % port, "--rate", "20", "--duration",
                      "1", "--json", js, "--quiet"])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(js) as f:
            j = json.load(f)
        self.assertEqual(j["errors"]["connect_refused"], j["offered_users"])
        self.assertEqual(j["requests"], 0)

    def test_bad_scenario_exits_2_with_position(self):
        path = self.out("bad.yaml")
        with open(path, "w") as f:
            f.write("target: http://127.0.0.1:1/\nusers:\n  patience: 5\n")
        p = run_load([path])
        self.assertEqual(p.returncode, 2)
        self.assertIn("bad.yaml:3:3: users.patience: unknown key", p.stderr)

    def test_shipped_scenarios_parse(self):
        d = os.path.join(SOURCE, "bench", "scenarios")
        if not os.path.isdir(d):
            self.skipTest("no bench/scenarios")
        for name in sorted(os.listdir(d)):
            if name.endswith(".yaml"):
                # --duration 0.001 with an unreachable target: parse and validate only.
                p = run_load([os.path.join(d, name), "--target", "http://127.0.0.1:1/",
                              "--duration", "0.001", "--drain", "0", "--quiet"])
                self.assertEqual(p.returncode, 0, name + ": " + p.stderr)

    def test_against_levee_sim(self):
        if not os.access(SIM, os.X_OK):
            self.skipTest("levee-sim not built")
        sim = subprocess.Popen([SIM, "--listen", "127.0.0.1:0", "--workers", "8", "--service-ms",
                                "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = None
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and port is None:
                line = sim.stdout.readline()
                for tok in line.replace("=", " ").split():
                    if tok.startswith("127.0.0.1:") and tok.split(":")[1].isdigit():
                        port = int(tok.split(":")[1])
            if port is None:
                self.skipTest("levee-sim did not print its address")
            j, stats = self.run_against_sim(port, "sim.json", ["--rate", "100", "--duration", "2"])
            self.assertEqual(stats["processed"], j["requests"])
            self.assertEqual(stats["retries_received"], 0)
            # Half the answers fail: F5 retries reach the sim, which counts them by X-Attempt.
            for ctl in ("reset", "fail?rate=0.5&status=503"):
                sim_control(port, ctl)
            j, stats = self.run_against_sim(port, "sim-fail.json", [
                "--rate", "100", "--duration", "2", "--journey", "/a,/b", "--f5", "1"])
            self.assertGreater(j["retries"], 0)
            self.assertEqual(stats["received"], j["requests"])
            self.assertEqual(stats["retries_received"], j["retries"])
            # Straight to the sim, every retry follows a try that reached it: all duplicates.
            self.assertEqual(stats["duplicates_received"], j["retries"])
            self.assertEqual(stats["paths"]["/a"]["retries_received"]
                             + stats["paths"]["/b"]["retries_received"], j["retries"])
            # A 503 without Retry-After: every retry is an F5 press, and says so.
            self.assertEqual(stats["retries_f5_received"], j["retries_f5"])
            self.assertEqual(stats["retries_obeyed_received"], 0)
            self.assertEqual(j["retries_f5"], j["retries"])
            self.assertEqual(stats["paths"]["/a"]["retries_f5_received"]
                             + stats["paths"]["/b"]["retries_f5_received"], j["retries"])
            # The sim stalls: users whose patience runs out press F5, sent as X-Retry: f5.
            for ctl in ("reset", "fail?rate=0", "stall?ms=1500"):
                sim_control(port, ctl)
            j, stats = self.run_against_sim(port, "sim-stall.json", [
                "--rate", "40", "--duration", "1", "--patience-ms", "300", "--f5", "1"])
            self.assertGreater(j["errors"].get("timeout", 0), 0)
            self.assertGreater(j["retries_f5"], 0)
            self.assertEqual(j["retries_obeyed"], 0)
            self.assertEqual(stats["retries_received"], j["retries"])
            self.assertEqual(stats["retries_f5_received"], j["retries_f5"])
            self.assertEqual(stats["retries_obeyed_received"], 0)
        finally:
            sim.terminate()
            try:
                sim.wait(5)
            except subprocess.TimeoutExpired:
                sim.kill()

    def run_against_sim(self, port, name, args):
        """Runs levee-load against levee-sim on port; returns its JSON summary and the sim's
        /stats afterwards."""
        js = self.out(name)
        p = run_load(["--target", "http://127.0.0.1:%d/" % port, "--json", js, "--quiet"] + args)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(js) as f:
            j = json.load(f)
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=5) as r:
            return j, json.load(r)

    def check_chromium(self, html):
        chromium = "/usr/bin/chromium"
        if not os.access(chromium, os.X_OK):
            print("skip: chromium check (install chromium to run it)", file=sys.stderr)
            return
        prof = tempfile.mkdtemp(prefix="lv-chromium-")
        try:
            p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-quic", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--user-data-dir=" + prof, "--dump-dom",
                                "file://" + html], capture_output=True, text=True, timeout=60)
            dom = p.stdout
            self.assertGreaterEqual(dom.count("<svg"), 3, p.stderr[-2000:])
            self.assertIn("<polyline", dom)
        finally:
            shutil.rmtree(prof, ignore_errors=True)


if __name__ == "__main__":
    if not os.access(LOAD, os.X_OK):
        print("levee-load not built in %s" % BUILD, file=sys.stderr)
        sys.exit(1)
    unittest.main()
