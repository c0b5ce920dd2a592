"""Integration: whatever an origin sends, levee relays it right or answers 502, and stays up.
The response-framing table of RFC 9112 6.3 end to end with a scripted origin (raw sockets):
bodies delimited by the close (HTTP/1.0 origins, unknown codings), interim 1xx responses,
204/304/HEAD, bad Content-Length, resets and stalls mid-body; each with the cache off and on."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

BODY = b"hello, close-delimited world"


def script(target):
    path = target.split("?")[0]
    if path == "/eof":  # HTTP/1.1, no length: the body ends with the connection
        return [b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n" + BODY, "close"]
    if path == "/eof-private":
        return [b"HTTP/1.1 200 OK\r\nCache-Control: private\r\n\r\n" + BODY, "close"]
    if path == "/http10":
        return [b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY, "close"]
    if path == "/eof-slow":  # the body in three pieces, then the close
        return [b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\nab", ("sleep", 0.05),
                b"cd", ("sleep", 0.05), b"ef", "close"]
    if path == "/103":
        return [b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nCache-Control: max-age=60\r\n\r\nok"]
    if path == "/103-apart":
        return [b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n", ("sleep", 0.1),
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    if path == "/100":  # an unsolicited 100 Continue, then the answer
        return [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    if path == "/1xx-many":
        return [b"HTTP/1.1 102 Processing\r\n\r\n" * 3 +
                b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"]
    if path == "/204":
        return [b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"]
    if path == "/304":
        return [b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"]
    if path == "/gzip-te":  # a coding levee does not decode: relayed, ends with the close
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nCache-Control: max-age=60\r\n\r\n"
                b"\x1f\x8bnot-really-gzip", "close"]
    if path == "/bad-cl":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello"]
    if path == "/two-cl":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"]
    if path == "/cl-te":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n"]
    if path == "/garbage":
        return [b"NOT HTTP AT ALL\r\n\r\n"]
    if path == "/reset-mid":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=60\r\n\r\n"
                b"0123456789", ("sleep", 0.05), "reset"]
    if path == "/close-mid-chunked":
        return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=60"
                b"\r\n\r\n5\r\nhello\r\n", "close"]
    if path == "/stall-mid":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", ("sleep", 3)]
    if path == "/ok":
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    return [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]


class Framing(lt.LvTestCase):
    """The cache off (cache.size unset), as shipped."""
    cache = False

    @classmethod
    def setUpClass(cls):
        cls.origin = lt.ScriptedOrigin(script)
        svc = {"name": "o", "upstreams": [cls.origin.hostport], "read_timeout_ms": 1000}
        extra = {"cache": {"size": "8m"}} if cls.cache else None
        cfg = lt.make_config([svc], workers=2, extra=extra)
        cls.start_levee(lambda: lt.Levee.from_config(cfg))

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()
        cls.origin.stop()

    def path(self, p):
        # Each class has its own cache: one name per class keeps counts apart.
        return p + ("?c=1" if self.cache else "?c=0")

    def test_close_delimited_rechunked_for_http11_keepalive(self):
        with lt.HttpConn(self.levee.addr) as c:
            for _ in range(3):
                r = c.request("GET", self.path("/eof"))
                self.assertStatus(r, 200)
                self.assertEqual(r.body, BODY)
                self.assertTrue(r.complete)
                if not self.cache:
                    self.assertTrue(r.chunked, r)
            self.assertFalse(c.eof, "a re-framed body must not cost the client its connection")
        self.assertTrue(self.levee.alive())

    def test_close_delimited_to_http10_client(self):
        s = socket.create_connection(self.levee.addr, timeout=5)
        s.sendall(b"GET " + self.path("/http10").encode() + b" HTTP/1.0\r\nHost: a\r\n\r\n")
        data = lt.read_until_eof(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertTrue(data.endswith(BODY), data[-100:])
        self.assertNotIn(b"chunked", data.lower())

    def test_http10_origin_many_times(self):
        for _ in range(5):
            r = lt.get(self.levee.addr, self.path("/http10"))
            self.assertStatus(r, 200)
            self.assertEqual(r.body, BODY)

    def test_close_delimited_in_pieces(self):
        for _ in range(2):
            r = lt.get(self.levee.addr, self.path("/eof-slow"))
            self.assertStatus(r, 200)
            self.assertEqual(r.body, b"abcdef")

    def test_private_close_delimited(self):
        for _ in range(2):
            r = lt.get(self.levee.addr, self.path("/eof-private"))
            self.assertStatus(r, 200)
            self.assertEqual(r.body, BODY)

    def test_103_relayed_then_final(self):
        for p in ("/103", "/103-apart"):
            t0 = time.monotonic()
            r = lt.get(self.levee.addr, self.path(p), timeout=5)
            self.assertLess(time.monotonic() - t0, 2.0, "%s: the final response waited" % p)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, b"ok")
            self.assertEqual(r.interim, [103], p)

    def test_103_not_sent_to_http10_client(self):
        s = socket.create_connection(self.levee.addr, timeout=5)
        s.sendall(b"GET " + self.path("/103").encode() + b" HTTP/1.0\r\nHost: a\r\n\r\n")
        data = lt.read_until_eof(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertNotIn(b"103", data.split(b"\r\n")[0])
        self.assertTrue(data.endswith(b"ok"))

    def test_unsolicited_100_dropped(self):
        r = lt.get(self.levee.addr, self.path("/100"), timeout=5)
        self.assertStatus(r, 200)
        self.assertEqual(r.interim, [])
        self.assertEqual(r.body, b"ok")

    def test_many_interim_then_chunked(self):
        r = lt.get(self.levee.addr, self.path("/1xx-many"), timeout=5)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"ok")
        self.assertEqual(r.interim, [102, 102, 102, 103])

    def test_204_and_304_have_no_body(self):
        with lt.HttpConn(self.levee.addr) as c:
            r = c.request("GET", self.path("/204"))
            self.assertStatus(r, 204)
            self.assertEqual(r.body, b"")
            r = c.request("GET", self.path("/304"))
            self.assertStatus(r, 304)
            r = c.request("GET", self.path("/ok"))
            self.assertStatus(r, 200)
            self.assertEqual(r.body, b"ok")

    def test_head_of_close_delimited(self):
        with lt.HttpConn(self.levee.addr) as c:
            r = c.request("HEAD", self.path("/ok"))
            self.assertStatus(r, 200)
            r = c.request("GET", self.path("/ok"))
            self.assertEqual(r.body, b"ok")

    def test_unknown_coding_relayed_until_close(self):
        for _ in range(2):
            s = socket.create_connection(self.levee.addr, timeout=5)
            s.sendall(b"GET " + self.path("/gzip-te").encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            data = lt.read_until_eof(s)
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertIn(b"transfer-encoding: gzip", head.lower())
            self.assertNotIn(b"chunked", head.lower())
            self.assertIn(b"connection: close", head.lower())
            self.assertEqual(body, b"\x1f\x8bnot-really-gzip")

    def test_unknown_coding_to_http10_is_502(self):
        s = socket.create_connection(self.levee.addr, timeout=5)
        s.sendall(b"GET " + self.path("/gzip-te").encode() + b"&v=10 HTTP/1.0\r\nHost: a\r\n\r\n")
        data = lt.read_until_eof(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 502"), data[:100])

    def test_bad_lengths_are_502(self):
        for p in ("/bad-cl", "/two-cl", "/cl-te", "/garbage"):
            r = lt.get(self.levee.addr, self.path(p), timeout=5)
            self.assertStatus(r, 502, p)
        self.assertTrue(self.levee.alive())

    def test_reset_mid_body_cuts_client_and_stores_nothing(self):
        for _ in range(2):
            with lt.HttpConn(self.levee.addr, timeout=5) as c:
                try:
                    r = c.request("GET", self.path("/reset-mid"))
                    self.assertFalse(r.complete, "a cut body passed off as complete")
                except lt.ConnectionClosedEarly:
                    pass
        self.assertEqual(self.origin.count(self.path("/reset-mid")), 2,
                         "a cut response was stored")

    def test_close_mid_chunked_cuts_client(self):
        with lt.HttpConn(self.levee.addr, timeout=5) as c:
            r = c.request("GET", self.path("/close-mid-chunked"))
            self.assertFalse(r.complete)
        r = lt.get(self.levee.addr, self.path("/ok"))
        self.assertStatus(r, 200)

    def test_stall_mid_body_times_out(self):
        t0 = time.monotonic()
        with lt.HttpConn(self.levee.addr, timeout=10) as c:
            r = c.request("GET", self.path("/stall-mid"))
            self.assertFalse(r.complete)
        self.assertLess(time.monotonic() - t0, 3.0, "read_timeout_ms (1 s) not applied mid-body")

    def test_alive_after_all(self):
        r = lt.get(self.levee.addr, self.path("/ok"))
        self.assertStatus(r, 200)


class FramingCached(Framing):
    """The same with the response cache on: close-delimited bodies are stored whole."""
    cache = True

    def test_close_delimited_stored_and_served(self):
        p = "/eof?stored=1"
        for _ in range(3):
            r = lt.get(self.levee.addr, p)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, BODY)
        self.assertEqual(self.origin.count(p), 1, "a close-delimited body was not stored")

    def test_unknown_coding_not_stored(self):
        p = "/gzip-te?stored=1"
        for _ in range(2):
            s = socket.create_connection(self.levee.addr, timeout=5)
            s.sendall(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            lt.read_until_eof(s)
            s.close()
        self.assertEqual(self.origin.count(p), 2)

    def test_103_not_stored_final_is(self):
        p = "/103?stored=1"
        for _ in range(2):
            r = lt.get(self.levee.addr, p)
            self.assertStatus(r, 200)
        self.assertEqual(self.origin.count(p), 1)


if __name__ == "__main__":
    lt.main()


class HostRules(lt.LvTestCase):
    """RFC 9112 3.2: an invalid Host is 400 (never forwarded); an absolute-form target's
    authority replaces the client's Host on the way to the origin."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.start_levee(lambda: lt.Levee.quick([cls.backend]), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def raw(self, data):
        s = socket.create_connection(self.levee.addr, timeout=5)
        s.sendall(data)
        out = lt.read_until_eof(s)
        s.close()
        return out

    def test_invalid_host_is_400(self):
        before = self.backend.stats()["requests"]
        for host in (b"bad host", b"a/b", b"a@b", b"[::1", b"a:80x", b"a\"b", b"a%zz"):
            data = self.raw(b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), (host, data[:80]))
        self.assertEqual(self.backend.stats()["requests"], before, "a bad Host was forwarded")

    def test_valid_hosts_pass(self):
        for host in (b"example.com", b"example.com:8080", b"[::1]:80", b"127.0.0.1", b"a-b_c~d",
                     b"xn--bcher-kva.example", b""):
            with lt.HttpConn(self.levee.addr) as c:
                c.send(b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
                self.assertStatus(c.read_response(), 200, host)

    def test_absolute_form_authority_replaces_host(self):
        with lt.HttpConn(self.levee.addr) as c:
            c.send(b"GET http://shop.example:8080/echo HTTP/1.1\r\nHost: other.example\r\n\r\n")
            r = c.read_response()
        self.assertStatus(r, 200)
        hosts = [v for k, v in r.json()["headers"] if k.lower() == "host"]
        self.assertEqual(hosts, ["shop.example:8080"])
