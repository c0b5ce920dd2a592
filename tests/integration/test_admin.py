#!/usr/bin/env python3
"""tests/integration/test_admin.py: the admin listener of a real `levee proxy` process.

Starts a tiny threaded backend and `levee proxy --listen 127.0.0.1:0 --to <backend>
--admin 127.0.0.1:0 --workers 2`, reads both bound addresses from levee's log, then checks
/health, /metrics (Prometheus text format 0.0.4, counters move by exactly N), /status (JSON)
and the 400/404/405 answers; with the cache off (no cache.size), /cache answers 404 and no
levee_cache_* family is written. Skips when the levee binary cannot run `proxy` yet.
"""
import http.client
import http.server
import json
import math
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

BUILD_DIR = os.environ.get("LV_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
LEVEE = os.path.join(BUILD_DIR, "levee")
START_DEADLINE_S = 10.0


def levee_supports_proxy():
    if not os.access(LEVEE, os.X_OK):
        return False, "no levee binary at %s" % LEVEE
    try:
        r = subprocess.run([LEVEE, "proxy", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, "levee proxy --help failed: %s" % e
    if r.returncode != 0:
        return False, "levee does not support `proxy` yet (exit %d)" % r.returncode
    # The placeholder main() exits 0 for anything: also require the help to name --admin.
    if b"--admin" not in r.stdout:
        return False, "levee proxy --help does not mention --admin yet"
    return True, ""


SUPPORTED, WHY_NOT = levee_supports_proxy()


class Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


# --- Prometheus text format 0.0.4 -----------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
SAMPLE_RE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (%s)(?: -?[0-9]+)?$"
                       % (NAME, LABEL, LABEL, VALUE))
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
LABEL_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Validates every line; returns {family: {"type", "samples": [(name, labels, value)]}}.
    Raises AssertionError with the offending line on any violation."""
    assert text.endswith("\n"), "exposition must end with a newline"
    families = {}
    seen_help, seen_type = set(), set()
    current = None  # family whose samples we are reading; families must be contiguous
    closed = set()
    for ln, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (ln, line)
        m = HELP_RE.match(line)
        if m:
            fam = m.group(1)
            assert fam not in seen_help, "HELP twice for %s (%s)" % (fam, where)
            seen_help.add(fam)
            continue
        m = TYPE_RE.match(line)
        if m:
            fam = m.group(1)
            assert fam not in seen_type, "TYPE twice for %s (%s)" % (fam, where)
            assert fam not in families, "TYPE after samples for %s (%s)" % (fam, where)
            seen_type.add(fam)
            families[fam] = {"type": m.group(2), "samples": []}
            if current is not None:
                closed.add(current)
            current = fam
            continue
        assert not line.startswith("#"), "unexpected comment (%s)" % where
        m = SAMPLE_RE.match(line)
        assert m, "not a valid sample line (%s)" % where
        name, labels_text, value = m.group(1), m.group(2) or "", m.group(3)
        fam = name
        if current and families[current]["type"] == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    fam = current
        assert fam == current, "sample of %s outside its family block (%s)" % (name, where)
        assert fam not in closed, "family %s is not contiguous (%s)" % (fam, where)
        labels = dict(LABEL_PAIR_RE.findall(labels_text))
        v = float(value.replace("Inf", "inf"))
        families[fam]["samples"].append((name, labels, v))
    for fam, f in families.items():
        if f["type"] == "counter":
            for name, labels, v in f["samples"]:
                assert v >= 0 and not math.isnan(v), "negative counter %s %s" % (name, labels)
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return families


def check_histogram(fam, samples):
    series = {}
    for name, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            assert "le" in labels, "bucket without le in %s" % fam
            s["buckets"].append((float(labels["le"].replace("Inf", "inf")), v))
        elif name == fam + "_sum":
            s["sum"] = v
        elif name == fam + "_count":
            s["count"] = v
    for key, s in series.items():
        les = [le for le, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert les, "histogram %s %s has no buckets" % (fam, key)
        assert les == sorted(les) and len(set(les)) == len(les), "le not increasing: %s" % les
        assert les[-1] == math.inf, "last bucket of %s %s is not +Inf" % (fam, key)
        assert all(a <= b for a, b in zip(counts, counts[1:])), "buckets not cumulative: %s" % counts
        assert s["count"] == counts[-1], "_count != +Inf bucket for %s %s" % (fam, key)
        assert s["sum"] is not None and s["sum"] >= 0, "missing _sum for %s %s" % (fam, key)


def sample_sum(families, fam, name=None, **want):
    total = 0.0
    for n, labels, v in families.get(fam, {"samples": []})["samples"]:
        if name is not None and n != name:
            continue
        if all(labels.get(k) == x for k, x in want.items()):
            total += v
    return total


# --- the levee process ------------------------------------------------------------------------


@unittest.skipUnless(SUPPORTED, WHY_NOT)
class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
        cls.backend.daemon_threads = True
        threading.Thread(target=cls.backend.serve_forever, daemon=True).start()
        backend_addr = "127.0.0.1:%d" % cls.backend.server_address[1]

        cls.log = tempfile.NamedTemporaryFile(prefix="levee-admin-", suffix=".log", delete=False)
        cls.proc = subprocess.Popen(
            [LEVEE, "proxy", "--listen", "127.0.0.1:0", "--to", backend_addr,
             "--admin", "127.0.0.1:0", "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=cls.log)
        try:
            cls.proxy_addr, cls.admin_addr = cls._wait_listening()
            cls._wait_healthy()
        except Exception:
            cls._teardown_process()
            raise

    @classmethod
    def _log_text(cls):
        with open(cls.log.name, "r", errors="replace") as f:
            return f.read()

    @classmethod
    def _wait_listening(cls):
        deadline = time.monotonic() + START_DEADLINE_S
        http_re = re.compile(r"comp=server .*msg=listening proto=http addr=(\S+)")
        admin_re = re.compile(r"comp=admin .*msg=listening proto=admin addr=(\S+)")
        while time.monotonic() < deadline:
            text = cls._log_text()
            h, a = http_re.search(text), admin_re.search(text)
            if h and a:
                return h.group(1), a.group(1)
            if cls.proc.poll() is not None:
                raise RuntimeError("levee exited with %s:\n%s" % (cls.proc.returncode, text))
            time.sleep(0.05)
        raise RuntimeError("levee did not log both listening lines in time:\n" + cls._log_text())

    @classmethod
    def _wait_healthy(cls):
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            try:
                status, _, _ = admin_get(cls.admin_addr, "/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("admin /health never answered 200:\n" + cls._log_text())

    @classmethod
    def _teardown_process(cls):
        if cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.backend.shutdown()
        cls.backend.server_close()

    @classmethod
    def tearDownClass(cls):
        cls._teardown_process()
        rc = cls.proc.returncode
        text = cls._log_text()
        # Keep the log when something went wrong (sanitizer report, crash, bad exit).
        if rc != 0 or "ERROR: AddressSanitizer" in text or "runtime error" in text:
            sys.stderr.write("levee exited %s; log kept at %s\n%s\n" % (rc, cls.log.name, text))
            raise AssertionError("levee did not exit cleanly after SIGTERM (exit %s)" % rc)
        os.unlink(cls.log.name)

    def metrics(self):
        status, headers, body = admin_get(self.admin_addr, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
                        headers.get("content-type"))
        return parse_prometheus(body.decode())

    def test_health_ok(self):
        status, headers, body = admin_get(self.admin_addr, "/health")
        self.assertEqual((status, body), (200, b"ok\n"))

    def test_metrics_valid_exposition(self):
        fams = self.metrics()
        expected = {
            "levee_build_info": "gauge",
            "levee_requests_total": "counter",
            "levee_request_duration_seconds": "histogram",
            "levee_upstream_connects_total": "counter",
            "levee_upstream_reuses_total": "counter",
            "levee_upstream_connect_errors_total": "counter",
            "levee_upstream_errors_total": "counter",
            "levee_upstream_timeouts_total": "counter",
            "levee_upstream_retries_total": "counter",
            "levee_upstream_in_flight": "gauge",
            "levee_connections_open": "gauge",
            "levee_connections_accepted_total": "counter",
            "levee_connections_refused_total": "counter",
            "levee_client_errors_total": "counter",
            "levee_requests_unrouted_total": "counter",
            "levee_client_bytes_total": "counter",
        }
        for fam, typ in expected.items():
            self.assertIn(fam, fams)
            self.assertEqual(fams[fam]["type"], typ, fam)
        self.assertEqual(sample_sum(fams, "levee_build_info"), 1)
        hist = fams["levee_request_duration_seconds"]["samples"]
        self.assertIn(("levee_request_duration_seconds_count", "default"),
                      [(n, l.get("service")) for n, l, _ in hist])
        codes = {l.get("code") for _, l, _ in fams["levee_client_errors_total"]["samples"]}
        self.assertEqual(codes, {"400", "408", "413", "414", "431", "other"})

    def test_requests_total_counts_exactly(self):
        n = 20
        before = self.metrics()
        conn = http.client.HTTPConnection(*split_addr(self.proxy_addr), timeout=10)
        for i in range(n):
            conn.request("GET", "/item/%d" % i)
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, b"hello"))
        conn.close()

        def delta(fams, fam, name=None, **labels):
            return sample_sum(fams, fam, name, **labels) - sample_sum(before, fam, name, **labels)

        # Counters are recorded when the response ends: allow a moment for the last one.
        deadline = time.monotonic() + 2
        while True:
            after = self.metrics()
            got = delta(after, "levee_requests_total", service="default", method="GET", code="2xx")
            if got >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(got, n)
        self.assertEqual(delta(after, "levee_requests_total", service="default"), n)
        self.assertEqual(delta(after, "levee_request_duration_seconds",
                               "levee_request_duration_seconds_count", service="default"), n)
        self.assertGreater(delta(after, "levee_client_bytes_total", direction="in"), 0)
        self.assertGreater(delta(after, "levee_client_bytes_total", direction="out"), 0)
        self.assertGreaterEqual(delta(after, "levee_connections_accepted_total"), 1)
        ups = (delta(after, "levee_upstream_connects_total", service="default")
               + delta(after, "levee_upstream_reuses_total", service="default"))
        self.assertEqual(ups, n)

    def test_status_json(self):
        status, headers, body = admin_get(self.admin_addr, "/status")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        doc = json.loads(body)
        for key in ("version", "pid", "uptime_s", "workers", "config", "reloads", "draining",
                    "connections_open", "services"):
            self.assertIn(key, doc)
        self.assertEqual(doc["pid"], self.proc.pid)
        self.assertEqual(doc["workers"], 2)
        self.assertIs(doc["draining"], False)
        self.assertIsInstance(doc["uptime_s"], int)
        names = [s["name"] for s in doc["services"]]
        self.assertIn("default", names)
        svc = doc["services"][names.index("default")]
        for key in ("criticality", "balance", "upstreams", "requests_total", "in_flight"):
            self.assertIn(key, svc)
        self.assertEqual(svc["upstreams"], ["127.0.0.1:%d" % self.backend.server_address[1]])

    def test_unknown_path_404(self):
        status, _, _ = admin_get(self.admin_addr, "/nope")
        self.assertEqual(status, 404)

    def test_cache_off_404_and_no_cache_families(self):
        # `levee proxy` runs without cache.size: the cache is off.
        status, _, body = admin_get(self.admin_addr, "/cache")
        self.assertEqual((status, body), (404, b"cache off: set cache.size\n"))
        conn = http.client.HTTPConnection(*split_addr(self.admin_addr), timeout=5)
        try:
            for method, path in (("POST", "/cache/purge?url=http%3A%2F%2Fa.example%2Fx"),
                                 ("DELETE", "/cache?tag=t")):
                conn.request(method, path, headers={"Authorization": "Bearer x"})
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 404, "%s %s" % (method, path))
        finally:
            conn.close()
        fams = self.metrics()
        self.assertEqual([f for f in fams if f.startswith("levee_cache_")], [])
        status, _, body = admin_get(self.admin_addr, "/status")
        self.assertEqual(status, 200)
        self.assertNotIn("cache", json.loads(body))

    def test_other_method_405(self):
        conn = http.client.HTTPConnection(*split_addr(self.admin_addr), timeout=5)
        conn.request("POST", "/metrics", body=b"x")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.getheader("Allow"), "GET")
        # The connection stays usable after a 405 (keep-alive).
        conn.request("GET", "/health")
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.read()), (200, b"ok\n"))
        conn.close()

    def test_bad_request_400_and_close(self):
        with socket.create_connection(split_addr(self.admin_addr), timeout=5) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            data = lt.read_until_eof(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:40])
        self.assertIn(b"Connection: close", data)

    def test_pipelined_requests_all_answered(self):
        with socket.create_connection(split_addr(self.admin_addr), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 19
                      + b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = lt.read_until_eof(s)
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 20)


def split_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def admin_get(addr, path):
    conn = http.client.HTTPConnection(*split_addr(addr), timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


class PrometheusParserSelfTest(unittest.TestCase):
    """The validator itself, so that a green run means something even before levee runs."""

    GOOD = ('# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"z"} 3\n'
            '# HELP h H.\n# TYPE h histogram\nh_bucket{s="a",le="0.1"} 1\n'
            'h_bucket{s="a",le="+Inf"} 2\nh_sum{s="a"} 0.5\nh_count{s="a"} 2\n')

    def test_accepts_valid_text(self):
        fams = parse_prometheus(self.GOOD)
        self.assertEqual(sample_sum(fams, "a_total", x="1"), 3)

    def test_rejects_decreasing_buckets(self):
        bad = self.GOOD.replace('le="+Inf"} 2', 'le="+Inf"} 0').replace("h_count{s=\"a\"} 2",
                                                                      "h_count{s=\"a\"} 0")
        self.assertRaises(AssertionError, parse_prometheus, bad)

    def test_rejects_duplicate_type_and_bad_lines(self):
        self.assertRaises(AssertionError, parse_prometheus, self.GOOD + "# TYPE a_total counter\n")
        self.assertRaises(AssertionError, parse_prometheus, self.GOOD + "bad line here\n")
        self.assertRaises(AssertionError, parse_prometheus, self.GOOD + 'a_total{x="1"} 4\n')


if __name__ == "__main__":
    unittest.main()
