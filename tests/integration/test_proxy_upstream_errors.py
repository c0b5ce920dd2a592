"""Integration: upstream failures. Connect refused -> fast 502 with Retry-After; no answer
within read_timeout_ms -> 504; an upstream that dies mid-response -> the client's connection
is cut (never a fake complete response); a connect failure on one host is retried on the
next for idempotent requests only; stale pooled upstream connections are survived."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402


class UpstreamDown(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_levee(lambda: lt.Levee.quick(["127.0.0.1:%d" % lt.dead_port()], workers=1))

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_502_fast_with_retry_after(self):
        t0 = time.monotonic()
        r = lt.get(self.levee.addr, "/x")
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 502)
        self.assertLess(elapsed, 1.0, "502 took %.2fs" % elapsed)
        self.assertIsNotNone(r.header("Retry-After"), "502 without Retry-After: %r" % r)
        self.assertRegex(r.header("Retry-After"), r"^\d+$")
        self.assertTrue(r.complete)
        self.assertGreater(len(r.body), 0, "502 with an empty body")
        self.assertLess(len(r.body), 4096)

    def test_502_keeps_client_connection_usable_or_closes_cleanly(self):
        with lt.HttpConn(self.levee.addr) as c:
            self.assertStatus(c.request("GET", "/a"), 502)
            if not c.eof:
                try:
                    r = c.request("GET", "/b", timeout=5)
                except (lt.ConnectionClosedEarly, ConnectionError):
                    return  # closed after the 502: allowed
                self.assertStatus(r, 502)

    def test_post_502(self):
        r = lt.http_request(self.levee.addr, "POST", "/x", body=b"payload")
        self.assertStatus(r, 502)


class UpstreamTimeout(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "t", "upstreams": [cls.backend.hostport],
                               "read_timeout_ms": 300}])
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_504_after_read_timeout(self):
        t0 = time.monotonic()
        r = lt.get(self.levee.addr, "/hang", timeout=10)
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 504)
        self.assertGreaterEqual(elapsed, 0.25, "504 before read_timeout_ms (%.2fs)" % elapsed)
        self.assertLess(elapsed, 2.0, "504 took %.2fs with read_timeout_ms: 300" % elapsed)
        self.assertTrue(r.complete)
        self.assertGreater(len(r.body), 0)

    def test_fast_enough_is_not_timeout(self):
        r = lt.get(self.levee.addr, "/slow?ms=100")
        self.assertStatus(r, 200)

    def test_slow_body_is_not_a_timeout(self):
        # read_timeout_ms is about the wait for response bytes, not the whole transfer:
        # a 20 MiB body that keeps flowing must not be cut at 300 ms.
        pc = lt.PatternChecker()
        with lt.HttpConn(self.levee.addr, timeout=30, rcvbuf=65536) as c:
            c.send(lt.HttpConn.build("GET", "/bytes?n=%d" % (20 << 20)))
            got = 0
            end = time.monotonic() + 1.0
            while time.monotonic() < end:  # read slowly for a second
                data = c.sock.recv(65536)
                if not data:
                    break
                c.buf += data
                got += len(data)
                time.sleep(0.05)
            r = c.read_response(sink=pc, timeout=30)
        self.assertStatus(r, 200)
        self.assertTrue(r.complete, "response cut: %r" % r)

    def test_504_then_next_request_ok(self):
        r = lt.get(self.levee.addr, "/hang", timeout=10)
        self.assertStatus(r, 504)
        r = lt.get(self.levee.addr, "/echo")
        self.assertStatus(r, 200)


class UpstreamDiesMidResponse(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.start_levee(lambda: lt.Levee.quick([cls.backend], workers=1), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def check_cut(self, target):
        with lt.HttpConn(self.levee.addr, timeout=10) as c:
            c.send(lt.HttpConn.build("GET", target))
            try:
                r = c.read_response(timeout=10)
            except lt.ConnectionClosedEarly:
                return  # closed before any head: acceptable
            if r.status == 502:
                return  # levee noticed before sending the head: acceptable
            self.assertStatus(r, 200)
            self.assertFalse(r.complete, "levee turned a cut upstream response into a complete "
                             "one: %r" % r)
            self.assertTrue(c.wait_closed(5), "client connection left open after a cut response")

    def test_content_length_cut(self):
        self.check_cut("/close-mid")

    def test_chunked_cut(self):
        self.check_cut("/close-mid?chunked=1")

    def test_service_recovers_after_cut(self):
        self.check_cut("/close-mid")
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)


class RetryOnConnectFailure(lt.LvTestCase):
    """Two hosts, the first refuses connections: GETs, and POSTs whose body was read whole, go
    to the other host; a POST whose body streams cannot be sent again (502)."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("live")
        # Outlier detection off: the dead host must stay in rotation for POSTs to meet it
        # (tests/integration/test_upstream_health.py covers ejection).
        cfg = lt.make_config([{"name": "s", "upstreams": ["127.0.0.1:%d" % lt.dead_port(),
                                                          cls.backend.hostport],
                               "outlier": {"consecutive_failures": 0}}])
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_get_retried(self):
        before = self.backend.stats()["methods"].get("GET", 0)
        for i in range(6):
            r = lt.get(self.levee.addr, "/echo?i=%d" % i)
            self.assertStatus(r, 200, "GET %d (one of the two hosts refuses connections):" % i)
            self.assertEqual(r.header("X-Backend"), "live")
        after = self.backend.stats()["methods"].get("GET", 0)
        self.assertEqual(after - before, 6, "each GET must reach the live host exactly once")

    def test_post_with_a_whole_body_goes_to_the_live_host(self):
        # A connect that failed sent nothing, and the body was read whole before admission
        # (limits.body_buffer_bytes): the POST goes to the other host, once.
        before = self.backend.stats()["methods"].get("POST", 0)
        for i in range(6):
            r = lt.http_request(self.levee.addr, "POST", "/echo?i=%d" % i, body=b"once")
            self.assertStatus(r, 200)
        after = self.backend.stats()["methods"].get("POST", 0)
        self.assertEqual(after - before, 6, "each POST must reach the live host exactly once")

    def test_streamed_post_not_retried(self):
        # A body larger than the buffer streams once admitted: it cannot be sent again.
        body = lt.pattern_bytes(0, 256 * 1024)
        before = self.backend.stats()["methods"].get("POST", 0)
        statuses = []
        for i in range(6):
            r = lt.http_request(self.levee.addr, "POST", "/echo?i=%d" % i, body=body)
            statuses.append(r.status)
        after = self.backend.stats()["methods"].get("POST", 0)
        self.assertTrue(set(statuses) <= {200, 502}, statuses)
        self.assertIn(502, statuses, "no streamed POST was refused: either they were retried on "
                      "the other host or the dead host was never tried: %s" % statuses)
        self.assertEqual(after - before, statuses.count(200),
                         "the backend saw %d POSTs for %s" % (after - before, statuses))

    def test_metrics_count_retries(self):
        for i in range(4):
            lt.get(self.levee.addr, "/echo")
        text = self.levee.admin("/metrics").body.decode()
        self.assertRegex(text, r"(?m)^\w*retr\w*(\{[^}]*\})? [1-9]",
                         "no non-zero retry counter in /metrics")


class StalePooledConnection(lt.LvTestCase):
    """The backend closes idle keep-alive connections after 200 ms (as real servers do);
    the next request after a pause must still succeed."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A", idle_close_ms=200)
        cls.start_levee(lambda: lt.Levee.quick([cls.backend], workers=1), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_request_after_upstream_idle_close(self):
        for i in range(4):
            r = lt.get(self.levee.addr, "/echo?i=%d" % i)
            self.assertStatus(r, 200, "request %d after the backend closed its idle side:" % i)
            time.sleep(0.5)

    def test_post_after_upstream_idle_close(self):
        for i in range(3):
            r = lt.http_request(self.levee.addr, "POST", "/echo", body=b"p%d" % i)
            self.assertStatus(r, 200, "POST %d on a (possibly) stale pooled connection:" % i)
            time.sleep(0.5)

    def test_upstream_connection_close_response(self):
        # The backend answers with Connection: close and closes; the next request must work.
        for i in range(3):
            self.assertStatus(lt.get(self.levee.addr, "/status?code=200&close=1"), 200)
            self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)


if __name__ == "__main__":
    lt.main()
