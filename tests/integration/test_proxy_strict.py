"""Integration: strictness. Every request-smuggling vector gets 400 and a closed connection,
and the backend never sees the request. 431/414/413 for oversize heads, targets and bodies;
408 for a slowloris client; idle keep-alive connections are closed; the connection cap
refuses politely (and never hangs)."""

import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

H = b"Host: levee.test\r\n"

# (name, raw bytes). Each must give 400 + close, and reach no backend.
VECTORS = [
    ("CL+TE", b"POST /echo HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE+CL", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("duplicate CL (different)", b"POST /echo HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("duplicate CL (same)", b"POST /echo HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("CL list", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello"),
    ("CL +5", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello"),
    ("CL 5 5", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5 5\r\n\r\nhello"),
    ("CL 0x5", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello"),
    ("CL -1", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\nhello"),
    ("CL empty", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\nhello"),
    ("TE gzip, chunked", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    ("TE chunked, chunked", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    ("TE twice", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE identity", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: identity\r\n\r\nhello"),
    ("TE chunked, identity", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("TE xchunked", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ("obs-fold", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n\r\n"),
    ("obs-fold tab", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: one\r\n\ttwo\r\n\r\n"),
    ("CTL 0x01 in value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n"),
    ("NUL in value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n"),
    ("CTL in name", b"GET /echo HTTP/1.1\r\n" + H + b"X\x01A: b\r\n\r\n"),
    ("space before colon", b"GET /echo HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n"),
    ("space in name", b"GET /echo HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n"),
    ("no colon", b"GET /echo HTTP/1.1\r\n" + H + b"X-A b\r\n\r\n"),
    ("request line: double space", b"GET  /echo HTTP/1.1\r\n" + H + b"\r\n"),
    ("request line: extra token", b"GET /echo HTTP/1.1 x\r\n" + H + b"\r\n"),
    ("request line: bad method", b"G(T /echo HTTP/1.1\r\n" + H + b"\r\n"),
    ("request line: bad version", b"GET /echo HTTQ/1.1\r\n" + H + b"\r\n"),
    ("request line: CTL in target", b"GET /ec\x01ho HTTP/1.1\r\n" + H + b"\r\n"),
    ("request line: space in target", b"GET /e cho HTTP/1.1\r\n" + H + b"\r\n"),
    ("HTTP/1.1 without Host", b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("two Host headers", b"GET /echo HTTP/1.1\r\n" + H + b"Host: other.test\r\n\r\n"),
    ("bare LF", b"GET /echo HTTP/1.1\nHost: levee.test\n\n"),
    ("bare LF in headers", b"GET /echo HTTP/1.1\r\nHost: levee.test\nX-A: b\r\n\r\n"),
    ("bare CR", b"GET /echo HTTP/1.1\r\nHost: levee.test\rX-A: b\r\n\r\n"),
]

# Body-level vectors: the head is fine, so levee may already have forwarded it; the backend
# must never get a complete request, and the client gets 400 + close.
BODY_VECTORS = [
    ("bad chunk size zz", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n"),
    ("chunk data without CRLF", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
    ("chunk size with space", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size LF only", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
]


class Strict(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [cls.backend.hostport]}],
                             limits={"header_bytes": 4096, "target_bytes": 1024,
                                     "body_bytes": 1024},
                             timeouts={"header_ms": 500, "keepalive_ms": 1000})
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def send_expect(self, raw, status, name, check_backend="requests"):
        before = self.backend.stats()
        with lt.HttpConn(self.levee.addr, timeout=10) as c:
            try:
                c.send(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                r = c.read_response(timeout=10)
            except lt.ConnectionClosedEarly as e:
                self.fail("%s: connection closed without a %d response (%s)" % (name, status, e))
            self.assertEqual(r.status, status, "%s: expected %d, got %r" % (name, status, r))
            self.assertTrue(c.wait_closed(5), "%s: connection not closed after %d"
                            % (name, status))
        after = self.backend.stats()
        if check_backend:
            self.assertEqual(after[check_backend], before[check_backend],
                             "%s: the backend saw the request (%s %d -> %d): %s"
                             % (name, check_backend, before[check_backend],
                                after[check_backend], after["last"][-1:]))
        return r

    def test_smuggling_vectors(self):
        for name, raw in VECTORS:
            with self.subTest(vector=name):
                self.send_expect(raw, 400, name)
        # levee still serves well-formed requests afterwards
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)

    def test_body_vectors(self):
        for name, raw in BODY_VECTORS:
            with self.subTest(vector=name):
                self.send_expect(raw, 400, name, check_backend="completed")

    def test_smuggled_second_request_not_forwarded(self):
        # A valid request followed on the same connection by a CL+TE one: the first gets its
        # 200, the second a 400, and the backend sees only the first.
        before = self.backend.stats()["requests"]
        raw = (lt.HttpConn.build("GET", "/echo?first=1") +
               b"POST /echo HTTP/1.1\r\n" + H +
               b"Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\n" + H + b"\r\n")
        with lt.HttpConn(self.levee.addr) as c:
            c.send(raw)
            r1 = c.read_response()
            self.assertStatus(r1, 200)
            r2 = c.read_response()
            self.assertStatus(r2, 400)
            self.assertClosed(c)
        after = self.backend.stats()
        self.assertEqual(after["requests"] - before, 1, after["last"][-3:])

    def test_431_large_headers(self):
        raw = (b"GET /echo HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 8000 + b"\r\n\r\n")
        self.send_expect(raw, 431, "8 KB header, header_bytes: 4096")

    def test_431_many_headers(self):
        raw = (b"GET /echo HTTP/1.1\r\n" + H +
               b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(200)) + b"\r\n")
        self.send_expect(raw, 431, "200 headers of 50 bytes, header_bytes: 4096")

    def test_headers_under_limit_ok(self):
        r = lt.get(self.levee.addr, "/echo", headers=[("X-Big", "a" * 2000)])
        self.assertStatus(r, 200)

    def test_414_long_target(self):
        raw = b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n" + H + b"\r\n"
        self.send_expect(raw, 414, "3000-byte target, target_bytes: 1024")

    def test_413_content_length(self):
        raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 2048\r\n\r\n" + b"x" * 2048)
        self.send_expect(raw, 413, "Content-Length 2048, body_bytes: 1024")

    def test_413_content_length_huge(self):
        raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 99999999999\r\n\r\n")
        self.send_expect(raw, 413, "Content-Length 99999999999, body_bytes: 1024")

    def test_413_chunked(self):
        raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" +
               lt.chunked_body(b"y" * 3000, [500]))
        self.send_expect(raw, 413, "chunked body of 3000, body_bytes: 1024",
                         check_backend="completed")

    def test_body_at_limit_ok(self):
        r = lt.http_request(self.levee.addr, "POST", "/echo", body=b"z" * 1024)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["body_len"], 1024)

    def test_408_slowloris(self):
        before = self.backend.stats()["requests"]
        payload = b"GET /echo HTTP/1.1\r\n" + H + b"X-Slow: " + b"s" * 200 + b"\r\n\r\n"
        with lt.HttpConn(self.levee.addr, timeout=10) as c:
            t0 = time.monotonic()
            answered = False
            for i in range(len(payload)):
                if time.monotonic() - t0 > 8:
                    break
                try:
                    c.send(payload[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    answered = True
                    break
                c.sock.settimeout(0.1)
                try:
                    data = c.sock.recv(65536)
                except (socket.timeout, TimeoutError):
                    continue
                except ConnectionResetError:
                    data = b""
                if data:
                    c.buf += data
                else:
                    c.eof = True
                answered = True
                break
            self.assertTrue(answered, "slowloris client not cut within %.1fs"
                            % (time.monotonic() - t0))
            elapsed = time.monotonic() - t0
            r = c.read_response(timeout=5)
            self.assertStatus(r, 408)
            self.assertGreaterEqual(elapsed, 0.4, "408 before header_ms: 500 (%.2fs)" % elapsed)
            self.assertLess(elapsed, 3.0, "408 took %.2fs with header_ms: 500" % elapsed)
            self.assertClosed(c)
        self.assertEqual(self.backend.stats()["requests"], before)

    def test_idle_keepalive_closed(self):
        with lt.HttpConn(self.levee.addr) as c:
            self.assertStatus(c.request("GET", "/echo"), 200)
            t0 = time.monotonic()
            self.assertTrue(c.wait_closed(6), "idle connection still open after 6 s "
                            "(keepalive_ms: 1000)")
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(elapsed, 0.3, "idle connection closed after only %.2fs"
                                    % elapsed)
            if c.buf:
                # a server may say goodbye with a 408; nothing else is acceptable
                self.assertTrue(bytes(c.buf).startswith(b"HTTP/1.1 408"), bytes(c.buf[:200]))

    def test_keepalive_timer_rearmed_by_activity(self):
        # requests every 0.4 s keep a connection with keepalive_ms: 1000 alive
        with lt.HttpConn(self.levee.addr) as c:
            for i in range(5):
                self.assertStatus(c.request("GET", "/echo?i=%d" % i), 200)
                time.sleep(0.4)

    def test_long_request_not_cut_by_header_timeout(self):
        # header_ms limits the head only: a slow backend (1 s > 500 ms) must still answer
        r = lt.get(self.levee.addr, "/slow?ms=1000", timeout=10)
        self.assertStatus(r, 200)


class ConnectionCap(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [cls.backend.hostport]}],
                             limits={"connections": 4})
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def served_conn(self, what):
        """A connection that got a 200; retried for a while, since levee may still be
        noticing that the previous test's connections closed."""
        deadline = time.monotonic() + 5
        while True:
            c = lt.HttpConn(self.levee.addr, timeout=5)
            try:
                r = c.request("GET", "/echo", timeout=5)
                if r.status == 200:
                    return c
            except (lt.ConnectionClosedEarly, ConnectionError):
                r = None
            c.close()
            self.assertLess(time.monotonic(), deadline, "%s: not served: %r" % (what, r))
            time.sleep(0.1)

    def test_fifth_connection_refused_politely(self):
        conns = []
        try:
            for i in range(4):
                conns.append(self.served_conn("connection %d of 4" % i))
            fifth = lt.HttpConn(self.levee.addr, timeout=5)
            conns.append(fifth)
            try:
                fifth.send(lt.HttpConn.build("GET", "/echo"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            t0 = time.monotonic()
            try:
                r = fifth.read_response(timeout=5)
                self.assertStatus(r, 503, "5th connection over limits.connections: 4:")
                self.assertTrue(fifth.wait_closed(5), "5th connection left open after its 503")
            except lt.ConnectionClosedEarly:
                pass  # closed at once: also fine
            except (TimeoutError, socket.timeout):
                self.fail("5th connection hangs (%.1fs without answer or close)"
                          % (time.monotonic() - t0))
            # the four are still served
            for c in conns[:4]:
                self.assertStatus(c.request("GET", "/echo"), 200)
            # freeing one makes room again (allow the close to be noticed)
            conns[0].close()
            conns.append(self.served_conn("after closing one of the 4 connections"))
        finally:
            for c in conns:
                c.close()

    def test_admin_not_counted(self):
        conns = []
        try:
            for i in range(4):
                conns.append(self.served_conn("connection %d of 4" % i))
            self.assertStatus(self.levee.admin("/health"), 200)
        finally:
            for c in conns:
                c.close()


NOFILE = 128


@unittest.skipUnless(shutil.which("prlimit"), "needs prlimit (util-linux)")
class OpenFilesCap(lt.LvTestCase):
    """A proxied connection holds two descriptors (client and upstream). With the open-files
    limit lower than limits.connections needs, levee must refuse with 503 before it runs out:
    past it, libuv accepts and closes every pending connection (a reset, no answer), the
    admin goes dark and upstream sockets fail."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.start_levee(lambda: lt.Levee.quick(
            [cls.backend], extra_args=["--no-guard"],
            prefix=["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE)]), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_every_connection_answered(self):
        conns, got = [], {}
        try:
            for _ in range(NOFILE):  # more than the limit can hold, with two each
                c = lt.HttpConn(self.levee.addr, timeout=10)
                conns.append(c)
                try:
                    c.send(lt.HttpConn.build("GET", "/slow?ms=2000"))
                except (BrokenPipeError, ConnectionResetError):
                    pass
            self.assertStatus(self.levee.admin("/health"), 200, "admin while full:")
            for c in conns:
                try:
                    k = c.read_response(timeout=10).status
                except (lt.ConnectionClosedEarly, ConnectionError) as e:
                    k = "closed without an answer (%s)" % type(e).__name__
                got[k] = got.get(k, 0) + 1
        finally:
            for c in conns:
                c.close()
        self.assertEqual(set(got) - {200, 503}, set(), "answers: %r" % got)
        self.assertGreater(got.get(503, 0), 0, "answers: %r" % got)
        self.assertGreater(got.get(200, 0), 0, "answers: %r" % got)
        self.levee.wait_log(r"limits\.connections is over what the open files limit allows")


if __name__ == "__main__":
    lt.main()
