"""Integration: the core proxy path. Keep-alive and pipelining, header rules (hop-by-hop,
Via, X-Forwarded-For, X-Request-Id, Host), bodies both ways (content-length and chunked),
balancing (round robin, least outstanding), routing by host and path, the admin endpoints."""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

HOP_BY_HOP = ["connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
              "transfer-encoding"]


def backends_answering(test, addr, n):
    """The X-Backend of n GET /echo sent one after another on one connection (each must be 200)."""
    seen = []
    with lt.HttpConn(addr) as c:
        for _ in range(n):
            r = c.request("GET", "/echo")
            test.assertStatus(r, 200)
            seen.append(r.header("X-Backend"))
    return seen


class QuickModeProxy(lt.LvTestCase):
    """levee proxy --to ONE backend, one worker."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.start_levee(lambda: lt.Levee.quick([cls.backend], workers=1), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def conn(self):
        return lt.HttpConn(self.levee.addr)

    def test_simple_get(self):
        r = lt.get(self.levee.addr, "/echo?x=1")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("X-Backend"), "A")
        j = r.json()
        self.assertEqual(j["method"], "GET")
        self.assertEqual(j["target"], "/echo?x=1")
        self.assertTrue(r.complete)

    def test_keepalive_sequential(self):
        with self.conn() as c:
            for i in range(5):
                r = c.request("GET", "/echo?i=%d" % i)
                self.assertStatus(r, 200, "request %d on one connection:" % i)
                self.assertEqual(r.json()["target"], "/echo?i=%d" % i)
                self.assertNotIn("close", (r.header("Connection") or "").lower())

    def test_pipelining_in_order(self):
        with self.conn() as c:
            c.send(b"".join(lt.HttpConn.build("GET", "/echo?p=%d" % i) for i in range(3)))
            for i in range(3):
                r = c.read_response()
                self.assertStatus(r, 200, "pipelined response %d:" % i)
                self.assertEqual(r.json()["target"], "/echo?p=%d" % i, "out of order")
            # the connection still works afterwards
            self.assertStatus(c.request("GET", "/echo?after=1"), 200)

    def test_pipelining_mixed_bodies(self):
        # a POST with a body between two GETs, all in one write
        body = b"0123456789" * 1000
        data = (lt.HttpConn.build("GET", "/echo?p=0")
                + lt.HttpConn.build("POST", "/echo?p=1", body=body)
                + lt.HttpConn.build("GET", "/slow?ms=50")
                + lt.HttpConn.build("GET", "/echo?p=3"))
        with self.conn() as c:
            c.send(data)
            r0, r1, r2, r3 = [c.read_response() for _ in range(4)]
        self.assertEqual(r0.json()["target"], "/echo?p=0")
        self.assertEqual(r1.json()["body_sha256"], lt.sha256(body))
        self.assertEqual(r2.body, b"slow\n")
        self.assertEqual(r3.json()["target"], "/echo?p=3")

    def test_request_hop_by_hop_removed(self):
        hdrs = [("Connection", "keep-alive, X-Drop-Me"), ("X-Drop-Me", "secret"),
                ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X-T"),
                ("Upgrade", "websocket"), ("Proxy-Connection", "keep-alive"),
                ("X-Keep-Me", "yes")]
        r = lt.get(self.levee.addr, "/echo", headers=hdrs)
        self.assertStatus(r, 200)
        seen = {k.lower() for k, _ in r.json()["headers"]}
        for h in HOP_BY_HOP + ["x-drop-me"]:
            if h == "connection":
                continue  # levee may send its own Connection header upstream
            self.assertNotIn(h, seen, "hop-by-hop header %s reached the backend" % h)
        conn_vals = [v.lower() for k, v in r.json()["headers"] if k.lower() == "connection"]
        for v in conn_vals:
            self.assertNotIn("x-drop-me", v, "client's Connection header forwarded as is")
        self.assertIn("x-keep-me", seen)

    def test_request_via_xff_request_id_host(self):
        r = lt.get(self.levee.addr, "/echo", host="Example.TEST:8080")
        self.assertStatus(r, 200)
        hs = r.json()["headers"]
        get = lambda n: [v for k, v in hs if k.lower() == n]  # noqa: E731
        self.assertEqual(get("host"), ["Example.TEST:8080"], "Host must be kept as sent")
        via = get("via")
        self.assertEqual(len(via), 1, "one Via header expected, got %r" % hs)
        self.assertIn("levee", via[0])
        self.assertRegex(via[0], r"^1\.1 ")
        xff = get("x-forwarded-for")
        self.assertEqual(xff, ["127.0.0.1"], "X-Forwarded-For: %r" % hs)
        rid = get("x-request-id")
        self.assertEqual(len(rid), 1, "X-Request-Id missing: %r" % hs)
        self.assertRegex(rid[0], r"^[\x21-\x7e]{8,200}$")

    def test_xff_appended(self):
        r = lt.get(self.levee.addr, "/echo", headers=[("X-Forwarded-For", "203.0.113.7")])
        vals = [v for k, v in r.json()["headers"] if k.lower() == "x-forwarded-for"]
        self.assertEqual(len(vals), 1, vals)
        self.assertRegex(vals[0], r"^203\.0\.113\.7,\s*127\.0\.0\.1$")

    def test_via_appended(self):
        r = lt.get(self.levee.addr, "/echo", headers=[("Via", "1.0 upstream-cache")])
        vals = [v for k, v in r.json()["headers"] if k.lower() == "via"]
        joined = ", ".join(vals)
        self.assertIn("1.0 upstream-cache", joined)
        self.assertIn("levee", joined)

    def test_request_id_kept(self):
        r = lt.get(self.levee.addr, "/echo", headers=[("X-Request-Id", "abc-123-client")])
        vals = [v for k, v in r.json()["headers"] if k.lower() == "x-request-id"]
        self.assertEqual(vals, ["abc-123-client"])

    def test_request_id_unique(self):
        ids = set()
        with self.conn() as c:
            for _ in range(5):
                j = c.request("GET", "/echo").json()
                ids.update(v for k, v in j["headers"] if k.lower() == "x-request-id")
        self.assertEqual(len(ids), 5, "generated request ids are not unique: %r" % ids)

    def test_response_hop_by_hop_removed(self):
        r = lt.get(self.levee.addr, "/hop")
        self.assertStatus(r, 200)
        names = {k.lower() for k, _ in r.headers}
        for h in ("keep-alive", "proxy-connection", "upgrade", "trailer", "te", "x-secret-hop"):
            self.assertNotIn(h, names, "response hop-by-hop header %s reached the client" % h)
        for v in r.header_all("connection"):
            self.assertNotIn("x-secret-hop", v.lower())
        self.assertEqual(r.header("X-End-To-End"), "kept")
        self.assertEqual(r.body, b"hop\n")

    def test_response_via(self):
        r = lt.get(self.levee.addr, "/echo")
        self.assertIn("levee", " ".join(r.header_all("via")), "no Via on the response: %r" % r)

    def test_post_content_length(self):
        body = os.urandom(200000)
        r = lt.http_request(self.levee.addr, "POST", "/echo", body=body)
        self.assertStatus(r, 200)
        j = r.json()
        self.assertEqual((j["body_len"], j["body_sha256"]), (len(body), lt.sha256(body)))
        self.assertEqual(j["method"], "POST")

    def test_post_chunked_request(self):
        body = os.urandom(150001)
        wire = lt.chunked_body(body, [1, 17, 4096, 65536, 3])
        with self.conn() as c:
            r = c.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                          body=wire)
            self.assertStatus(r, 200)
            j = r.json()
            self.assertEqual((j["body_len"], j["body_sha256"]), (len(body), lt.sha256(body)))
            # the keep-alive connection carries on after a chunked body
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_post_chunked_with_extension_and_trailer(self):
        body = b"hello chunked world"
        wire = b"5;ext=1\r\nhello\r\ne\r\n chunked world\r\n0\r\nX-Trailer: t\r\n\r\n"
        with self.conn() as c:
            r = c.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                          body=wire)
            self.assertStatus(r, 200)
            self.assertEqual(r.json()["body_sha256"], lt.sha256(body))
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_chunked_request_slow_pieces(self):
        # chunk framing split across many small writes
        body = b"abcdefghij" * 50
        wire = lt.chunked_body(body, [7, 100])
        head = lt.HttpConn.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
        with self.conn() as c:
            c.send(head)
            for i in range(0, len(wire), 13):
                c.send(wire[i:i + 13])
                time.sleep(0.002)
            r = c.read_response()
        self.assertEqual(r.json()["body_sha256"], lt.sha256(body))

    def test_chunked_response(self):
        pc = lt.PatternChecker()
        with self.conn() as c:
            r = c.request("GET", "/bytes?n=1000003&chunked=1", sink=pc)
            self.assertStatus(r, 200)
            self.assertTrue(r.complete)
            self.assertEqual((pc.offset, pc.bad_at), (1000003, None))
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_content_length_response(self):
        pc = lt.PatternChecker()
        with self.conn() as c:
            r = c.request("GET", "/bytes?n=1000003", sink=pc)
            self.assertStatus(r, 200)
            self.assertEqual(r.header("Content-Length"), "1000003")
            self.assertEqual((pc.offset, pc.bad_at), (1000003, None))
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_empty_chunked_response(self):
        with self.conn() as c:
            r = c.request("GET", "/bytes?n=0&chunked=1")
            self.assertStatus(r, 200)
            self.assertEqual(r.body, b"")
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_head_then_get(self):
        with self.conn() as c:
            r = c.request("HEAD", "/bytes?n=100")
            self.assertStatus(r, 200)
            self.assertEqual(r.header("Content-Length"), "100")
            r = c.request("GET", "/echo?after-head=1")
            self.assertStatus(r, 200, "request after HEAD on the same connection:")
            self.assertEqual(r.json()["target"], "/echo?after-head=1")

    def test_204_then_get(self):
        with self.conn() as c:
            self.assertStatus(c.request("GET", "/status?code=204"), 204)
            self.assertStatus(c.request("GET", "/echo"), 200)

    def test_upstream_status_passed_through(self):
        for code in (201, 404, 500, 503):
            r = lt.get(self.levee.addr, "/status?code=%d" % code)
            self.assertStatus(r, code)
            self.assertEqual(r.body, b"status %d\n" % code)

    def test_http10_without_host(self):
        with self.conn() as c:
            c.send(b"GET /echo HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertStatus(r, 200)
            self.assertClosed(c, 5, "HTTP/1.0 without keep-alive")

    def test_connection_close_honoured(self):
        with self.conn() as c:
            r = c.request("GET", "/echo", headers=[("Connection", "close")])
            self.assertStatus(r, 200)
            self.assertClosed(c, 5, "Connection: close")

    def test_admin_endpoints(self):
        r = self.levee.admin("/health")
        self.assertStatus(r, 200)
        lt.get(self.levee.addr, "/echo")
        r = self.levee.admin("/metrics")
        self.assertStatus(r, 200)
        text = r.body.decode()
        self.assertRegex(text, r"(?m)^# TYPE \w+ (counter|gauge|histogram)")
        self.assertRegex(text, r'(?m)^\w+\{[^}]*service="default"[^}]*\} \d')
        r = self.levee.admin("/status")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json(), dict)


class QuickModeCache(lt.LvTestCase):
    """levee proxy --cache SIZE turns the response cache on; a bad SIZE exits 2."""

    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.start_levee(lambda: lt.Levee.quick([cls.backend], workers=1,
                                               extra_args=["--cache", "1MB"]),
                        backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_serves_requests(self):
        for i in range(2):
            r = lt.get(self.levee.addr, "/echo?cache=1")
            self.assertStatus(r, 200, "request %d:" % i)
            self.assertEqual(r.json()["target"], "/echo?cache=1")

    def test_bad_size_exits_2(self):
        p = subprocess.run([lt.LEVEE, "proxy", "--listen", "127.0.0.1:0",
                            "--to", self.backend.hostport, "--cache", "nonsense"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                           env=lt.asan_env())
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, err)
        self.assertEqual(err, 'levee proxy: --cache: "nonsense" is not a size like 256MB\n')


class RoundRobin(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = lt.Backend("A"), lt.Backend("B")
        cls.start_levee(lambda: lt.Levee.quick([cls.a, cls.b], workers=1), backends=[cls.a, cls.b])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_alternates(self):
        seq = backends_answering(self, self.levee.addr, 8)
        self.assertEqual(sorted(set(seq)), ["A", "B"], seq)
        for x, y in zip(seq, seq[1:]):
            self.assertNotEqual(x, y, "round robin does not alternate: %s" % seq)

    def test_upstream_keepalive_reused(self):
        before = self.a.stats()["connections"] + self.b.stats()["connections"]
        with lt.HttpConn(self.levee.addr) as c:
            for _ in range(10):
                self.assertStatus(c.request("GET", "/echo"), 200)
        after = self.a.stats()["connections"] + self.b.stats()["connections"]
        self.assertLessEqual(after - before, 2,
                             "10 requests opened %d upstream connections" % (after - before))


class LeastOutstanding(lt.LvTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = lt.Backend("A"), lt.Backend("B")
        cfg = lt.make_config([{"name": "lo", "upstreams": [cls.a.hostport, cls.b.hostport],
                               "balance": "least_outstanding"}], workers=cls.WORKERS)
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.a, cls.b])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_slow_request_steers_others_away(self):
        result = {}

        def slow():
            try:
                result["r"] = lt.get(self.levee.addr, "/slow?ms=2500", timeout=15)
            except Exception as e:  # reported below
                result["e"] = e

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        stats = {}

        def slow_seen(_):
            stats["a"], stats["b"] = self.a.stats(), self.b.stats()
            return any(s["paths"].get("/slow") for s in stats.values())

        lt.Backend.wait_stat(self.a, slow_seen, 5, "the slow request in flight")
        busy = "A" if stats["a"]["paths"].get("/slow") else "B"
        other = "B" if busy == "A" else "A"
        seen = backends_answering(self, self.levee.addr, 6)
        # New connections too: with several workers they land on any of them, and each must
        # count the slow request another worker sent.
        for _ in range(6):
            seen += backends_answering(self, self.levee.addr, 1)
        t.join(15)
        self.assertEqual(seen, [other] * 12,
                         "with %s busy on a slow request, least_outstanding sent: %s"
                         % (busy, seen))
        self.assertNotIn("e", result, result.get("e"))
        self.assertStatus(result["r"], 200)


class LeastOutstandingAcrossWorkers(LeastOutstanding):
    """The same with two workers: the count of requests in flight to a host is every worker's
    (with one count per worker, two one-worker hosts behind a limit of two got half their
    capacity in test_score at 1054705)."""

    WORKERS = 2


class Routing(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.app, cls.api, cls.static = lt.Backend("app"), lt.Backend("api"), lt.Backend("static")
        cfg = lt.make_config(
            [{"name": "app", "upstreams": [cls.app.hostport]},
             {"name": "api", "upstreams": [cls.api.hostport]},
             {"name": "static", "upstreams": [cls.static.hostport]}],
            routes=[{"host": "api.example.test", "path": "/", "service": "api"},
                    {"path": "/static/", "service": "static"},
                    {"path": "/app/", "service": "app"},
                    {"path": "/app/static/", "service": "static"}])
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.app, cls.api, cls.static])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def which(self, path, host="www.example.test"):
        r = lt.get(self.levee.addr, path, host=host)
        return r.status, r.header("X-Backend")

    def test_path_prefix(self):
        self.assertEqual(self.which("/app/x"), (200, "app"))
        self.assertEqual(self.which("/static/logo.png"), (200, "static"))

    def test_longest_prefix_wins(self):
        self.assertEqual(self.which("/app/static/a.css"), (200, "static"))

    def test_host_route(self):
        self.assertEqual(self.which("/anything", host="api.example.test"), (200, "api"))
        self.assertEqual(self.which("/static/x", host="API.Example.Test:8443"), (200, "api"))

    def test_unrouted_404(self):
        before = sum(b.stats()["requests"] for b in (self.app, self.api, self.static))
        with lt.HttpConn(self.levee.addr) as c:
            r = c.request("GET", "/nowhere", host="www.example.test")
            self.assertStatus(r, 404)
            self.assertTrue(r.complete)
        self.assertEqual(self.which("/app/ok"), (200, "app"))
        after = sum(b.stats()["requests"] for b in (self.app, self.api, self.static))
        self.assertEqual(after - before, 1, "the unrouted request reached a backend")


if __name__ == "__main__":
    lt.main()
