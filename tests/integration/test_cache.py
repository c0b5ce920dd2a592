#!/usr/bin/env python3
"""tests/integration/test_cache.py: the response cache (issue 5) end to end.

Real processes on 127.0.0.1: levee (YAML config written here, or quick mode with --cache) in
front of levee-sim (tools/sim). Every assertion that matters is on counts: the sim's per-path
`received` in /stats says exactly what reached the origin, levee's GET /cache and /metrics say
what the cache decided. Concurrency is made deterministic with the sim's stall
(POST /control/stall): while the sim holds its workers, a request that reached it is counted
but not answered, so "N requests arrived at levee, exactly one reached the origin" can be
checked before anything is released. Timing only appears as a generous upper bound on
something that should take a fraction of it, or as waits for a stored response to become
stale (freshness is in whole seconds, so those waits are computed for the worst rounding).

  1. coalescing: 1,000 concurrent requests for one key -> 1 upstream request, 1,000 full bodies
  2. uncacheable answer (private) with 49 waiters: released at once, 50 upstream requests; the
     key is then remembered as pass (the next burst is not coalesced); cache.lock_timeout_ms
     and cache.pass_ttl_ms themselves (class LockAndPassTimeouts)
  3. the leader's client (and one waiter) disconnect while others wait: the fill goes on
  4. Vary (secondary keys); HEAD from a stored GET; single ranges (206 / 416) and ranges on a
     miss; client conditionals (304 from the cache); client Cache-Control ignored (F5);
     pipelined hits and misses in order
  5. Age, the origin's Date and Via on answers from the cache
  6. storability: private, no-store, Set-Cookie, Expires, s-maxage, Authorization (and public)
  7. revalidation with 304; stale-if-error (then the error once the window is over);
     stale-while-revalidate: one background refresh under a burst of 200
  8. purge by url (every variant), prefix, tag (Surrogate-Key, Cache-Tag); admin token;
     GET /cache, /metrics
  9. routes[].cache: false; routes[].cache_key cookie:segment; quick mode --cache
 10. the guard: breaker open and a shed request answered with a stale copy
     (stale-if-error, services[].cache.serve_stale_ms); an origin that is gone (refused) or
     times out
 11. what requests that cannot fill do: a client's conditional on a miss, Authorization,
     an unsafe method (invalidation), waiters for another Vary variant
"""

import email.utils
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

TOKEN = "cache-test-token"
HOST = "levee.test"  # lvtest's default Host header


def sim_body(n):
    """The body levee-sim sends for body_bytes n (tools/sim/server.c)."""
    return bytes(10 if i % 64 == 63 else 97 + i % 26 for i in range(n))


def send_burst(addr, target, n, headers=None, timeout=30):
    """Opens n connections and sends one request on each (all in flight at once)."""
    conns = []
    try:
        for _ in range(n):
            c = lt.HttpConn(addr, timeout=timeout)
            conns.append(c)
            c.send(lt.HttpConn.build("GET", target, headers))
    except Exception:
        for c in conns:
            c.close()
        raise
    return conns


def read_all(conns, timeout=30):
    """Reads one response per connection (then closes it): [Response or exception name]."""
    out = []
    for c in conns:
        try:
            out.append(c.read_response(timeout=timeout))
        except (lt.ConnectionClosedEarly, TimeoutError, OSError, AssertionError) as e:
            out.append(type(e).__name__)
        finally:
            c.close()
    return out


def summary(resps):
    """{status or exception: count} of read_all's result."""
    d = {}
    for r in resps:
        k = r if isinstance(r, str) else r.status
        d[k] = d.get(k, 0) + 1
    return d


def admin_write(lv, method, target, token=TOKEN):
    hdrs = [("Authorization", "Bearer " + token)] if token is not None else []
    return lt.http_request(lv.admin_addr, method, target, headers=hdrs, timeout=10)


def purge(lv, **param):
    (k, v), = param.items()
    return admin_write(lv, "POST", "/cache/purge?%s=%s" % (k, urllib.parse.quote(v, safe="")))


def cache_json(lv):
    r = lv.admin("/cache")
    assert r.status == 200, r
    return r.json()


def metric(lv, name, result=None):
    """One sample of levee's /metrics (0 when absent)."""
    r = lv.admin("/metrics")
    assert r.status == 200, r
    want = name + ('{result="%s"}' % result if result else "") + " "
    for line in r.body.decode().split("\n"):
        if line.startswith(want):
            return int(float(line[len(want):]))
    return 0


def age(resp):
    a = resp.header("Age")
    return int(a) if a is not None else None


def http_date_s(s):
    """Seconds since the epoch of an IMF-fixdate."""
    return int(email.utils.parsedate_to_datetime(s).timestamp())


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


# --------------------------------------------------------------------------------------
# one levee (2 workers: flights are shared between workers) in front of one sim

# Every path is cacheable (max-age=300, an automatic ETag) unless listed otherwise.
SIM_CONFIG = """\
workers: 256
default:
  dist: fixed
  service_ms: 2
  cacheable: true
  max_age_s: 300
paths:
  /hot: {body_bytes: 20000}
  /ld: {body_bytes: 300000}
  /rg: {body_bytes: 1000}
  /vary: {vary: Accept-Encoding}
  /pv: {vary: Accept-Encoding}
  /bug/cond: {etag: '"cm1"'}
  /bug/vary: {vary: Accept-Encoding}
  /reval: {max_age_s: 3, etag: '"r1"', body_bytes: 5000}
  /sie: {cache_control: "max-age=1, stale-if-error=5"}
  /swr: {cache_control: "max-age=5, stale-while-revalidate=60", body_bytes: 3000}
  /private: {cacheable: false, cache_control: private}
  /st/private: {cache_control: "private, max-age=300"}
  /st/nostore: {cache_control: "no-store, max-age=300"}
  /st/cookie: {headers: {Set-Cookie: "sid=42; Path=/"}}
  /st/public: {cache_control: "public, max-age=300"}
  /st/smaxage: {cache_control: "s-maxage=300, max-age=0"}
  /st/expires: {cacheable: false, headers: {Expires: "Fri, 01 Jan 2100 00:00:00 GMT"}}
  /st/expired: {cacheable: false, headers: {Expires: "Thu, 01 Jan 1998 00:00:00 GMT"}}
  /st/badexpires: {cacheable: false, headers: {Expires: "0"}}
  /tg/1: {headers: {Surrogate-Key: "red blue"}}
  /tg/2: {headers: {Surrogate-Key: "blue"}}
  /tg/3: {headers: {Cache-Tag: "green, red"}}
"""


class CacheCase(lt.LvTestCase):
    LOCK_TIMEOUT_MS = 20000

    @classmethod
    def setUpClass(cls):
        cls.sim = lt.LeveeSim(config=SIM_CONFIG)
        svc = {"name": "app", "upstreams": [cls.sim.hostport], "guard": False}
        routes = [{"path": "/nc/", "service": "app", "cache": False},
                  {"path": "/seg/", "service": "app", "cache_key": "cookie:segment"},
                  {"path": "/", "service": "app"}]
        cfg = lt.make_config([svc], routes=routes, workers=2, extra={
            "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
            "cache": {"size": "64m", "lock_timeout_ms": cls.LOCK_TIMEOUT_MS}})
        cls.start_levee(lambda: lt.Levee.from_config(cfg, name="cache.yaml"), backends=[cls.sim])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    # ---- helpers ----
    def get(self, target, headers=None, method="GET", host=HOST):
        return lt.http_request(self.levee.addr, method, target, headers=headers, host=host,
                               timeout=15)

    def count(self, path):
        return self.sim.path_stat(path)

    def stall(self):
        self.sim.control("stall", ms=60000)
        self.addCleanup(self.unstall)

    def unstall(self):
        self.sim.control("stall", ms=0)

    def wait_received(self, path, n, timeout=15):
        return self.sim.wait_stat(lambda st: self.sim.path_stat(path, st=st) >= n, timeout,
                                  "%s received >= %d at the sim" % (path, n))

    def wait_coalesced(self, n, timeout=20):
        return lt.wait_for(lambda: cache_json(self.levee)["coalesced"] >= n, timeout,
                           what="/cache coalesced >= %d" % n)

    def stalled_flight(self, path, n_followers, timeout=20):
        """Stalls the sim, sends a leader for path, then n_followers coalesced behind it.
        Returns (/cache before, leader conns, follower conns); closes them if a wait fails."""
        before = cache_json(self.levee)
        self.stall()
        leader = send_burst(self.levee.addr, path, 1)
        followers = []
        try:
            self.wait_received(path, 1)
            followers = send_burst(self.levee.addr, path, n_followers)
            self.wait_coalesced(before["coalesced"] + n_followers, timeout=timeout)
        except BaseException:
            for c in leader + followers:
                c.close()
            raise
        return before, leader, followers

    def assertOk(self, r, body, msg=""):
        self.assertStatus(r, 200, msg)
        self.assertTrue(r.complete, "%s incomplete: %r" % (msg, r))
        self.assertEqual(r.body, body, "%s body differs (%d bytes)" % (msg, len(r.body)))

    # ---- 1. coalescing ----
    def test_coalesce_1000_concurrent_requests_into_one_upstream_request(self):
        n = 1000
        body = sim_body(20000)
        # The leader first, so that "which one leads" is known; the others while the sim
        # holds it.
        before, leader, followers = self.stalled_flight("/hot", n - 1, timeout=30)
        conns = leader + followers
        try:
            self.assertEqual(self.count("/hot"), 1, "a follower reached the origin")
            self.unstall()
            resps = read_all(conns, timeout=60)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: n})
        bad = [i for i, r in enumerate(resps) if not r.complete or r.body != body]
        self.assertEqual(bad, [], "responses with a wrong or cut body")
        self.assertEqual(self.count("/hot"), 1, "upstream requests for 1,000 concurrent misses")
        after = cache_json(self.levee)
        self.assertEqual(after["coalesced"] - before["coalesced"], n - 1, after)
        self.assertEqual(after["misses"] - before["misses"], 1, after)
        # and it is stored: the next one is a hit
        r = self.get("/hot")
        self.assertOk(r, body)
        self.assertIsNotNone(age(r), "a hit carries Age")
        self.assertEqual(self.count("/hot"), 1)

    def test_uncacheable_answer_releases_waiters_at_once_then_key_is_pass(self):
        n = 50
        body = sim_body(64)
        _, leader, followers = self.stalled_flight("/private", n - 1)
        conns = leader + followers
        try:
            self.assertEqual(self.count("/private"), 1)
            t0 = time.monotonic()
            self.unstall()
            resps = read_all(conns, timeout=30)
            took = time.monotonic() - t0
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: n})
        self.assertTrue(all(r.complete and r.body == body for r in resps))
        self.assertEqual(self.count("/private"), n, "each waiter goes to the origin itself")
        # Released together when the leader's head said "private", not one by one and not at
        # the lock timeout (20 s here).
        self.assertLess(took, 2.5, "the %d waiters took %.2fs after the origin answered "
                        "(lock timeout %d ms)" % (n - 1, took, self.LOCK_TIMEOUT_MS))

        # Within cache.pass_ttl_ms (10 s) the key is pass: a new burst reaches the origin at
        # once, all of it while the sim is still stalled (nobody waits for anybody).
        coalesced = cache_json(self.levee)["coalesced"]
        self.sim.control("stall", ms=60000)
        conns = send_burst(self.levee.addr, "/private", n)
        try:
            self.wait_received("/private", 2 * n, timeout=10)
            self.assertEqual(cache_json(self.levee)["coalesced"], coalesced,
                             "requests for a pass key were coalesced")
            self.unstall()
            resps = read_all(conns, timeout=30)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: n})
        self.assertEqual(self.count("/private"), 2 * n)
        self.assertGreaterEqual(metric(self.levee, "levee_cache_responses_total",
                                       "not_stored"), 1)

    def test_leader_disconnect_while_others_wait_fill_goes_on(self):
        body = sim_body(300000)
        _, leader, followers = self.stalled_flight("/ld", 4)
        try:
            open_before = self.levee.admin("/status").json()["connections_open"]
            lt.rst_close(leader[0])
            lt.rst_close(followers.pop())  # and one of the waiters leaves too
            # levee noticed both have gone before the origin answers
            lt.wait_for(lambda: self.levee.admin("/status").json()["connections_open"]
                        <= open_before - 2, 10, what="levee to notice the two closes")
            self.unstall()
            resps = read_all(followers, timeout=30)
        finally:
            for c in followers:
                c.close()
        self.assertEqual(summary(resps), {200: 3})
        for r in resps:
            self.assertTrue(r.complete, r)
            self.assertEqual(len(r.body), len(body))
            self.assertTrue(r.body == body, "a follower's body differs")
        self.assertEqual(self.count("/ld"), 1, "the followers' request was sent again")
        # The fill completed: stored.
        self.assertOk(self.get("/ld"), body, "after the fill:")
        self.assertEqual(self.count("/ld"), 1)

    def test_pipelined_hits_and_misses_answer_in_order(self):
        body = sim_body(64)
        with lt.HttpConn(self.levee.addr, timeout=15) as c:
            c.send(b"".join([lt.HttpConn.build("GET", "/pl/1"), lt.HttpConn.build("GET", "/pl/1"),
                             lt.HttpConn.build("GET", "/pl/2"), lt.HttpConn.build("HEAD", "/pl/1"),
                             lt.HttpConn.build("GET", "/pl/2", [("Range", "bytes=0-3")]),
                             lt.HttpConn.build("GET", "/pl/1")]))
            rs = [c.read_response(method=m) for m in
                  ("GET", "GET", "GET", "HEAD", "GET", "GET")]
        self.assertEqual([r.status for r in rs], [200, 200, 200, 200, 206, 200])
        self.assertEqual([r.body for r in rs], [body, body, body, b"", body[:4], body])
        self.assertEqual([age(r) is not None for r in rs],
                         [False, True, False, True, True, True], "which came from the cache")
        self.assertEqual((self.count("/pl/1"), self.count("/pl/2")), (1, 1))

    # ---- 4. HTTP semantics on stored responses ----
    def test_vary_keeps_one_variant_per_accept_encoding(self):
        gz = [("Accept-Encoding", "gzip")]
        br = [("Accept-Encoding", "br")]
        r = self.get("/vary", gz)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertEqual(self.count("/vary"), 1)
        self.assertStatus(self.get("/vary", br), 200)
        self.assertEqual(self.count("/vary"), 2, "a second Accept-Encoding is a second variant")
        for i in range(3):
            self.assertStatus(self.get("/vary", gz), 200)
            self.assertStatus(self.get("/vary", br), 200)
        self.assertEqual(self.count("/vary"), 2, "repeats of either variant must be hits")
        self.assertIsNotNone(age(self.get("/vary", br)))
        # no Accept-Encoding at all is a third variant
        self.assertStatus(self.get("/vary"), 200)
        self.assertEqual(self.count("/vary"), 3)
        self.assertStatus(self.get("/vary"), 200)
        self.assertEqual(self.count("/vary"), 3)

    def test_head_is_answered_from_a_stored_get(self):
        r = self.get("/hd")
        self.assertOk(r, sim_body(64))
        r = self.get("/hd", method="HEAD")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Length"), "64")
        self.assertIsNotNone(age(r), "HEAD from the cache carries Age")
        self.assertEqual(self.count("/hd"), 1, "HEAD went to the origin despite a stored GET")
        # A HEAD on a miss goes to the origin and does not fill: the next GET is a miss.
        self.assertStatus(self.get("/hd2", method="HEAD"), 200)
        self.assertEqual(self.count("/hd2"), 1)
        self.assertOk(self.get("/hd2"), sim_body(64))
        self.assertEqual(self.count("/hd2"), 2)

    def test_range_206_and_416_from_a_complete_stored_response(self):
        body = sim_body(1000)
        self.assertOk(self.get("/rg"), body)
        r = self.get("/rg", [("Range", "bytes=10-19")])
        self.assertStatus(r, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 10-19/1000")
        self.assertEqual(r.header_all("Content-Length"), ["10"])
        self.assertEqual(r.body, body[10:20])
        self.assertIsNotNone(age(r))
        r = self.get("/rg", [("Range", "bytes=-5")])
        self.assertStatus(r, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 995-999/1000")
        self.assertEqual(r.body, body[-5:])
        r = self.get("/rg", [("Range", "bytes=990-5000")])
        self.assertStatus(r, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 990-999/1000")
        self.assertEqual(r.body, body[990:])
        r = self.get("/rg", [("Range", "bytes=1000-1010")])
        self.assertStatus(r, 416)
        self.assertEqual(r.header("Content-Range"), "bytes */1000")
        self.assertEqual(r.header_all("Content-Length"), ["0"])
        self.assertEqual(r.body, b"")
        self.assertEqual(self.count("/rg"), 1, "ranges of a stored response reached the origin")
        # A range on a miss goes to the origin as it is (the sim ignores Range: 200), and does
        # not fill the cache.
        r = self.get("/rg2", [("Range", "bytes=0-9")])
        self.assertStatus(r, 200)
        self.assertEqual(self.count("/rg2"), 1)
        self.assertStatus(self.get("/rg2"), 200)
        self.assertEqual(self.count("/rg2"), 2)

    def test_client_conditionals_get_304_from_the_cache(self):
        r = self.get("/cd")
        self.assertOk(r, sim_body(64))
        etag, lm = r.header("ETag"), r.header("Last-Modified")
        self.assertTrue(etag and lm, r)
        sim_304 = self.sim.stats()["status"].get("304", 0)
        for hdrs in ([("If-None-Match", etag)], [("If-None-Match", 'W/"x", ' + etag)],
                     [("If-None-Match", "*")], [("If-Modified-Since", lm)]):
            r = self.get("/cd", hdrs)
            self.assertStatus(r, 304, "%r:" % hdrs)
            self.assertEqual(r.body, b"")
            self.assertEqual(r.header("ETag"), etag)
        r = self.get("/cd", [("If-None-Match", '"other"')])
        self.assertOk(r, sim_body(64), "non-matching If-None-Match:")
        # F5 (max-age=0) and Ctrl-F5 (no-cache) are answered from the cache too.
        for cc in ("max-age=0", "no-cache"):
            r = self.get("/cd", [("Cache-Control", cc), ("Pragma", "no-cache")])
            self.assertOk(r, sim_body(64), "Cache-Control: %s:" % cc)
        self.assertEqual(self.count("/cd"), 1)
        self.assertEqual(self.sim.stats()["status"].get("304", 0), sim_304,
                         "the 304s came from the origin, not the cache")
        self.assertGreaterEqual(metric(self.levee, "levee_cache_requests_total", "not_modified"),
                                4)

    def test_hit_carries_age_origin_date_and_via(self):
        r1 = self.get("/hdrs")
        self.assertStatus(r1, 200)
        date = r1.header("Date")
        self.assertIsNotNone(date)
        time.sleep(2.1)  # whole seconds: Age is at least 2 now
        r2 = self.get("/hdrs")
        self.assertOk(r2, sim_body(64))
        self.assertEqual(self.count("/hdrs"), 1)
        self.assertEqual(r2.header_all("Date"), [date], "the origin's Date, once")
        self.assertGreaterEqual(age(r2), 2)
        self.assertLessEqual(age(r2), 10)
        self.assertEqual(len(r2.header_all("Age")), 1)
        self.assertEqual(r2.header_all("Via"), ["1.1 levee"])

    # ---- 6. what is not stored ----
    def test_storability_private_no_store_set_cookie_authorization(self):
        for path in ("/st/private", "/st/nostore", "/st/cookie"):
            for i in range(2):
                self.assertStatus(self.get(path), 200, path)
            self.assertEqual(self.count(path), 2, "%s was stored" % path)
        # Freshness from Expires (no Cache-Control, no validator); s-maxage wins over max-age
        # in a shared cache; an Expires in the past or invalid means already stale.
        for path, stored in (("/st/expires", True), ("/st/smaxage", True),
                             ("/st/expired", False), ("/st/badexpires", False)):
            for i in range(2):
                self.assertStatus(self.get(path), 200, path)
            self.assertEqual(self.count(path), 1 if stored else 2,
                             "%s should%s be stored" % (path, "" if stored else " not"))
        # Authorization: a max-age response to it is not stored (RFC 9111 3.5) ...
        auth = [("Authorization", "Bearer user-1")]
        for i in range(2):
            self.assertStatus(self.get("/st/auth", auth), 200)
        self.assertEqual(self.count("/st/auth"), 2, "a response to Authorization was stored")
        # ... nor served from what others stored
        self.assertStatus(self.get("/st/auth2"), 200)
        self.assertStatus(self.get("/st/auth2", auth), 200)
        self.assertEqual(self.count("/st/auth2"), 2,
                         "a stored response answered a request with Authorization")
        # ... unless the origin says public
        for i in range(2):
            self.assertStatus(self.get("/st/public", auth), 200)
        self.assertEqual(self.count("/st/public"), 1, "public response to Authorization")

    # ---- 7. revalidation and stale serving ----
    def test_stale_entry_revalidated_with_304(self):
        # max-age=3, ETag "r1". (Whole-second clocks: a hit 1 s after the response may
        # already show Age 2, so the checks below leave a second of slack either way.)
        body = sim_body(5000)
        r = self.get("/reval")
        t0 = time.monotonic()  # waits count from the response: so does Age
        self.assertOk(r, body)
        self.assertEqual(r.header("ETag"), '"r1"')
        date0 = r.header("Date")
        r = self.get("/reval")
        self.assertOk(r, body, "fresh hit:")
        self.assertEqual(self.count("/reval"), 1)
        sim_304 = self.sim.stats()["status"].get("304", 0)
        sleep_until(t0 + 3.1)  # Age >= 3: stale now
        r = self.get("/reval")
        self.assertOk(r, body, "after revalidation:")
        self.assertEqual(self.count("/reval"), 2, "one conditional request to the origin")
        self.assertEqual(self.sim.stats()["status"].get("304", 0), sim_304 + 1,
                         "the origin did not answer 304: levee sent no validator")
        self.assertLessEqual(age(r), 1, "Age after the 304 refreshed the entry (it was >= 3)")
        self.assertGreaterEqual(http_date_s(r.header("Date")), http_date_s(date0) + 3,
                                "Date not taken from the 304")
        r = self.get("/reval")
        self.assertOk(r, body, "hit after the refresh:")
        self.assertEqual(self.count("/reval"), 2)
        self.assertGreaterEqual(metric(self.levee, "levee_cache_revalidations_total",
                                       "not_modified"), 1)

    def test_stale_if_error_serves_stale_then_the_error_after_the_window(self):
        # Cache-Control: max-age=1, stale-if-error=5. Whole-second clocks (Age may be one
        # more than the time elapsed, rounded up): at 1.1..3.9 s the copy is stale by at most
        # 4 s (inside the window); from 6.05 s on, by at least 5 s (outside).
        body = sim_body(64)
        t_sent = time.monotonic()
        self.assertOk(self.get("/sie"), body)
        t0 = time.monotonic()
        self.addCleanup(self.sim.control, "fail", path="/sie", rate=0)
        self.sim.control("fail", path="/sie", rate=1, status=503)
        before = cache_json(self.levee)["stale_served"]["error"]
        sleep_until(t0 + 1.3)
        r = self.get("/sie")
        self.assertLess(time.monotonic() - t_sent, 3.9, "the machine is too slow for this "
                        "window")
        self.assertOk(r, body, "origin 503 within stale-if-error:")
        self.assertEqual(self.count("/sie"), 2, "levee did not try the origin first")
        self.assertEqual(cache_json(self.levee)["stale_served"]["error"], before + 1)
        sleep_until(t0 + 6.2)
        r = self.get("/sie")
        self.assertStatus(r, 503, "past the stale-if-error window:")
        self.assertEqual(self.count("/sie"), 3)
        # the origin heals: a fresh copy again
        self.sim.control("fail", path="/sie", rate=0)
        self.assertOk(self.get("/sie"), body)
        self.assertEqual(self.count("/sie"), 4)

    def test_stale_while_revalidate_one_background_refresh_for_a_burst(self):
        # max-age=5, stale-while-revalidate=60 (5 s: after the refresh, the entry is fresh
        # for the check below even with a second of rounding and a slow machine)
        n = 200
        body = sim_body(3000)
        self.assertOk(self.get("/swr"), body)
        sleep_until(time.monotonic() + 5.1)
        before = cache_json(self.levee)["stale_served"]["swr"]
        reval_before = metric(self.levee, "levee_cache_revalidations_total", "not_modified")
        # The origin holds every request: the burst is answered from the stale copy at once.
        self.stall()
        conns = send_burst(self.levee.addr, "/swr", n)
        resps = read_all(conns, timeout=20)
        self.assertEqual(summary(resps), {200: n})
        self.assertTrue(all(r.complete and r.body == body for r in resps))
        self.assertTrue(all(age(r) >= 5 for r in resps), "a stale answer has Age >= 5")
        self.assertEqual(cache_json(self.levee)["stale_served"]["swr"] - before, n)
        self.wait_received("/swr", 2)
        time.sleep(0.3)  # any extra refresh would have reached the sim by now
        self.assertEqual(self.count("/swr"), 2, "exactly one background refresh")
        self.unstall()
        lt.wait_for(lambda: metric(self.levee, "levee_cache_revalidations_total",
                                   "not_modified") > reval_before, 10,
                    what="the background refresh's 304 to refresh the entry")
        r = self.get("/swr")
        self.assertOk(r, body, "after the refresh:")
        self.assertLessEqual(age(r), 2, "Age after the refresh (it was >= 5)")
        self.assertEqual(self.count("/swr"), 2)

    # ---- 8. purge and the admin API ----
    def test_purge_by_url_prefix_and_tag(self):
        lv = self.levee
        paths = ["/pu/a", "/pu/b", "/pz/c", "/pu/q?id=1&c=2", "/tg/1", "/tg/2", "/tg/3"]
        for p in paths:
            self.assertStatus(self.get(p), 200, p)
            self.assertStatus(self.get(p), 200, p)

        def counts():
            st = self.sim.stats()
            return {p: self.sim.path_stat(p.split("?")[0], st=st) for p in
                    ["/pu/a", "/pu/b", "/pz/c", "/pu/q", "/tg/1", "/tg/2", "/tg/3"]}

        def refetch_all():
            for p in paths:
                self.assertStatus(self.get(p), 200, p)

        self.assertEqual(set(counts().values()), {1}, counts())
        # writes need the token
        self.assertStatus(admin_write(lv, "POST", "/cache/purge?url=x", token=None), 401)
        self.assertStatus(admin_write(lv, "POST", "/cache/purge?url=x", token="wrong"), 401)
        self.assertStatus(admin_write(lv, "POST", "/cache/purge"), 400)
        self.assertStatus(admin_write(lv, "POST", "/cache/purge?url=a&tag=b"), 400)

        purged0 = cache_json(lv)["purged"]
        r = purge(lv, url="http://%s/pu/a" % HOST)
        self.assertStatus(r, 200, "purge url:")
        self.assertEqual(r.json(), {"purged": 1})
        refetch_all()
        self.assertEqual(counts(), {"/pu/a": 2, "/pu/b": 1, "/pz/c": 1, "/pu/q": 1,
                                    "/tg/1": 1, "/tg/2": 1, "/tg/3": 1})
        # a URL with a query, '&' percent-encoded; the host is case-insensitive
        r = purge(lv, url="http://LEVEE.test/pu/q?id=1&c=2")
        self.assertEqual(r.json(), {"purged": 1}, r)
        refetch_all()
        self.assertEqual(counts()["/pu/q"], 2)

        r = purge(lv, prefix="%s/pu/" % HOST)
        self.assertStatus(r, 200, "purge prefix:")
        self.assertEqual(r.json(), {"purged": 3})
        refetch_all()
        self.assertEqual(counts(), {"/pu/a": 3, "/pu/b": 2, "/pz/c": 1, "/pu/q": 3,
                                    "/tg/1": 1, "/tg/2": 1, "/tg/3": 1})

        r = purge(lv, tag="red")  # Surrogate-Key "red blue" and Cache-Tag "green, red"
        self.assertStatus(r, 200, "purge tag:")
        self.assertEqual(r.json(), {"purged": 2})
        refetch_all()
        self.assertEqual(counts(), {"/pu/a": 3, "/pu/b": 2, "/pz/c": 1, "/pu/q": 3,
                                    "/tg/1": 2, "/tg/2": 1, "/tg/3": 2})
        r = admin_write(lv, "DELETE", "/cache?tag=blue")
        self.assertStatus(r, 200, "DELETE /cache?tag=:")
        self.assertEqual(r.json(), {"purged": 2})
        r = purge(lv, tag="green")
        self.assertEqual(r.json(), {"purged": 1})
        refetch_all()
        self.assertEqual(counts(), {"/pu/a": 3, "/pu/b": 2, "/pz/c": 1, "/pu/q": 3,
                                    "/tg/1": 3, "/tg/2": 2, "/tg/3": 3})
        self.assertEqual(purge(lv, url="http://%s/nothing-here" % HOST).json(), {"purged": 0})
        self.assertEqual(cache_json(lv)["purged"] - purged0, 1 + 1 + 3 + 2 + 2 + 1)

    def test_purge_url_removes_every_variant(self):
        lv = self.levee
        gz, br = [("Accept-Encoding", "gzip")], [("Accept-Encoding", "br")]
        sa, sb = [("Cookie", "segment=a")], [("Cookie", "segment=b")]
        for hdrs in (gz, br, gz, br):
            self.assertStatus(self.get("/pv", hdrs), 200)
        for hdrs in (sa, sb, sa, sb):
            self.assertStatus(self.get("/seg/pv", hdrs), 200)
        self.assertEqual((self.count("/pv"), self.count("/seg/pv")), (2, 2))
        r = purge(lv, url="http://%s/pv" % HOST)
        self.assertStatus(r, 200)
        self.assertGreaterEqual(r.json()["purged"], 2, "both Vary variants: %r" % r.json())
        r = purge(lv, url="%s/seg/pv" % HOST)  # without the scheme
        self.assertStatus(r, 200)
        self.assertGreaterEqual(r.json()["purged"], 2, "both segments: %r" % r.json())
        for hdrs in (gz, br, gz, br):
            self.assertStatus(self.get("/pv", hdrs), 200)
        for hdrs in (sa, sb, sa, sb):
            self.assertStatus(self.get("/seg/pv", hdrs), 200)
        self.assertEqual((self.count("/pv"), self.count("/seg/pv")), (4, 4),
                         "a variant survived the purge of its URL")

    def test_cache_json_and_metrics(self):
        self.assertStatus(self.get("/stats-probe"), 200)
        self.assertStatus(self.get("/stats-probe"), 200)
        j = cache_json(self.levee)
        for k in ("max_bytes", "bytes", "entries", "hits", "misses", "hit_ratio",
                  "stale_served", "coalesced", "evictions", "purged"):
            self.assertIn(k, j)
        self.assertEqual(j["max_bytes"], 64 << 20)
        self.assertGreaterEqual(j["entries"], 1)
        self.assertGreater(j["bytes"], 0)
        self.assertGreaterEqual(j["hits"], 1)
        self.assertAlmostEqual(j["hit_ratio"], j["hits"] / (j["hits"] + j["misses"]), places=4)
        self.assertEqual(set(j["stale_served"]), {"swr", "error", "refused"})
        m = self.levee.admin("/metrics").body.decode()
        for res in ("hit", "miss", "pass", "stale_swr", "stale_error", "stale_refused",
                    "coalesced", "not_modified"):
            self.assertIn('levee_cache_requests_total{result="%s"} ' % res, m)
        self.assertGreaterEqual(metric(self.levee, "levee_cache_entries"), 1)
        st = self.levee.admin("/status").json()
        self.assertIn("cache", st)

    # ---- 11. requests that cannot fill, and what they must not break ----

    def test_client_conditional_on_a_miss_fills_and_gets_its_304(self):
        """A client's If-None-Match on a miss is not sent upstream (the fill needs the whole
        response): the response is stored and the client gets its 304 from the entry; the
        plain GETs that follow are hits, not passes."""
        r = self.get("/bug/cond", [("If-None-Match", '"cm1"')])
        self.assertStatus(r, 304)
        self.assertEqual(self.count("/bug/cond"), 1)
        for i in range(3):
            self.assertOk(self.get("/bug/cond"), sim_body(64))
        self.assertEqual(self.count("/bug/cond"), 1, "GET after a conditional miss: stored?")

    def test_request_with_authorization_does_not_make_the_key_pass_for_everyone(self):
        """A request with Authorization on a miss goes to the origin without leading a fill
        (RFC 9111 3.5: whether its answer may be stored is a property of the request), so
        one logged-in user does not make a public page uncacheable for all."""
        self.assertStatus(self.get("/bug/auth", [("Authorization", "Bearer u1")]), 200)
        self.assertEqual(self.count("/bug/auth"), 1)
        for i in range(3):
            self.assertOk(self.get("/bug/auth"), sim_body(64))
        self.assertEqual(self.count("/bug/auth"), 2, "anonymous GETs after one with "
                         "Authorization: stored?")

    def test_unsafe_method_invalidates_the_stored_response(self):
        """RFC 9111 4.4: a non-error response to an unsafe method (POST, PUT, DELETE, ...)
        invalidates the stored response for the target URI."""
        for i in range(2):
            self.assertOk(self.get("/bug/inv"), sim_body(64))
        self.assertEqual(self.count("/bug/inv"), 1)
        r = lt.http_request(self.levee.addr, "POST", "/bug/inv", body=b"x=1", timeout=15)
        self.assertStatus(r, 200)
        self.assertEqual(self.count("/bug/inv"), 2)
        self.assertOk(self.get("/bug/inv"), sim_body(64))
        self.assertEqual(self.count("/bug/inv"), 3, "GET after a POST to the same URL was "
                         "answered from the cache")

    def test_waiters_for_another_vary_variant_are_coalesced_again(self):
        """Concurrent misses join one flight per primary key, before Vary is known. When the
        leader's response varies (gzip stored), the waiters that want another variant (br)
        lead or follow one more flight for it: one upstream request per variant, and the br
        variant is stored."""
        gz, br = [("Accept-Encoding", "gzip")], [("Accept-Encoding", "br")]
        before = cache_json(self.levee)["coalesced"]
        self.stall()
        conns = send_burst(self.levee.addr, "/bug/vary", 1, headers=gz)
        self.wait_received("/bug/vary", 1)
        conns += send_burst(self.levee.addr, "/bug/vary", 5, headers=br)
        conns += send_burst(self.levee.addr, "/bug/vary", 5, headers=gz)
        try:
            self.wait_coalesced(before + 10)
            self.unstall()
            resps = read_all(conns, timeout=30)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: 11})
        self.assertOk(self.get("/bug/vary", br), sim_body(64))
        self.assertEqual(self.count("/bug/vary"), 2, "upstream requests for 2 variants (the "
                         "last br request should have been a hit)")

    # ---- 9. per-route settings ----
    def test_route_with_cache_false_never_caches(self):
        for i in range(3):
            self.assertOk(self.get("/nc/page"), sim_body(64))
        self.assertEqual(self.count("/nc/page"), 3)

    def test_cache_key_cookie_segment_shares_per_segment(self):
        a1 = [("Cookie", "segment=gold; uid=1")]
        a2 = [("Cookie", "uid=2; segment=gold")]
        b1 = [("Cookie", "uid=3; segment=silver")]
        self.assertStatus(self.get("/seg/home", a1), 200)
        self.assertEqual(self.count("/seg/home"), 1)
        self.assertStatus(self.get("/seg/home", a2), 200)
        self.assertEqual(self.count("/seg/home"), 1, "same segment, another user: shared")
        self.assertStatus(self.get("/seg/home", b1), 200)
        self.assertEqual(self.count("/seg/home"), 2, "another segment shared an entry")
        self.assertStatus(self.get("/seg/home", b1), 200)
        self.assertStatus(self.get("/seg/home", a1), 200)
        self.assertEqual(self.count("/seg/home"), 2)
        self.assertStatus(self.get("/seg/home"), 200)  # no segment at all: its own entry
        self.assertEqual(self.count("/seg/home"), 3)
        # other routes ignore the cookie: one entry for both
        self.assertStatus(self.get("/noseg", a1), 200)
        self.assertStatus(self.get("/noseg", b1), 200)
        self.assertEqual(self.count("/noseg"), 1)
        # the host is part of the key, case-insensitively
        self.assertStatus(self.get("/noseg", a1, host="LEVEE.TEST"), 200)
        self.assertEqual(self.count("/noseg"), 1)
        self.assertStatus(self.get("/noseg", a1, host="other.test"), 200)
        self.assertEqual(self.count("/noseg"), 2)


# --------------------------------------------------------------------------------------


class QuickModeCache(lt.LvTestCase):
    def test_quick_mode_cache_flag(self):
        sim = lt.LeveeSim(config=SIM_CONFIG)
        self.addCleanup(sim.stop)
        lv = lt.Levee.quick([sim.hostport], workers=1, extra_args=("--cache", "64MB"))
        self.addCleanup(lv.stop)
        for i in range(3):
            self.assertStatus(lt.get(lv.addr, "/q"), 200)
        self.assertEqual(sim.path_stat("/q"), 1, "--cache 64MB did not cache")
        self.assertEqual(cache_json(lv)["max_bytes"], 64 << 20)
        lv.stop(check=True)
        # without --cache: off, and /cache answers 404
        lv2 = lt.Levee.quick([sim.hostport], workers=1)
        self.addCleanup(lv2.stop)
        for i in range(2):
            self.assertStatus(lt.get(lv2.addr, "/q2"), 200)
        self.assertEqual(sim.path_stat("/q2"), 2)
        self.assertStatus(lv2.admin("/cache"), 404)

    def test_range_on_a_miss_reaches_the_origin_as_is(self):
        be = lt.Backend("R")
        self.addCleanup(be.stop)
        lv = lt.Levee.quick([be], workers=1, extra_args=("--cache", "64MB"))
        self.addCleanup(lv.stop)
        r = lt.get(lv.addr, "/echo?r=1", headers=[("Range", "bytes=0-9")])
        self.assertStatus(r, 200)
        sent = [v for k, v in r.json()["headers"] if k.lower() == "range"]
        self.assertEqual(sent, ["bytes=0-9"])


class LockAndPassTimeouts(lt.LvTestCase):
    """cache.lock_timeout_ms 1000 and cache.pass_ttl_ms 600: both ends of the waiting."""

    @classmethod
    def setUpClass(cls):
        cls.sim = lt.LeveeSim(config=SIM_CONFIG)
        svc = {"name": "app", "upstreams": [cls.sim.hostport], "guard": False}
        cfg = lt.make_config([svc], workers=2, extra={
            "cache": {"size": "16m", "lock_timeout_ms": 1000, "pass_ttl_ms": 600}})
        cls.start_levee(lambda: lt.Levee.from_config(cfg, name="lock.yaml"), backends=[cls.sim])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def stall(self):
        self.sim.control("stall", ms=60000)
        self.addCleanup(self.sim.control, "stall", ms=0)

    def lead_and_follow(self, path, n_followers):
        """Stalled sim: one leader at the sim, n followers joined its flight."""
        coalesced = cache_json(self.levee)["coalesced"]
        received = self.sim.path_stat(path)
        leader = send_burst(self.levee.addr, path, 1)
        self.sim.wait_stat(lambda st: self.sim.path_stat(path, st=st) > received, 10,
                           "the leader at the sim")
        followers = send_burst(self.levee.addr, path, n_followers)
        lt.wait_for(lambda: cache_json(self.levee)["coalesced"] >= coalesced + n_followers,
                    10, what="%d followers waiting" % n_followers)
        return leader + followers

    def test_followers_go_to_the_origin_after_lock_timeout(self):
        self.stall()
        timeouts = metric(self.levee, "levee_cache_coalesce_timeouts_total")
        conns = self.lead_and_follow("/lt", 3)
        try:
            # The leader is held; after 1 s each follower asks the origin itself.
            self.sim.wait_stat(lambda st: self.sim.path_stat("/lt", st=st) == 4, 10,
                               "the 3 followers at the sim after the lock timeout")
            self.assertEqual(metric(self.levee, "levee_cache_coalesce_timeouts_total"),
                             timeouts + 3)
            self.sim.control("stall", ms=0)
            resps = read_all(conns, timeout=15)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: 4})
        self.assertTrue(all(r.body == sim_body(64) for r in resps))

    def test_pass_is_forgotten_after_pass_ttl(self):
        self.assertStatus(lt.get(self.levee.addr, "/private"), 200)  # remembered as pass
        coalesced = cache_json(self.levee)["coalesced"]
        conns = send_burst(self.levee.addr, "/private", 3)
        self.assertEqual(summary(read_all(conns)), {200: 3})
        self.assertEqual(cache_json(self.levee)["coalesced"], coalesced)
        time.sleep(0.8)  # past pass_ttl_ms: misses are coalesced again
        self.stall()
        conns = self.lead_and_follow("/private", 3)
        try:
            self.sim.control("stall", ms=0)
            resps = read_all(conns, timeout=15)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(summary(resps), {200: 4})
        self.assertEqual(self.sim.path_stat("/private"), 1 + 3 + 4)


# --------------------------------------------------------------------------------------
# the guard's refusals and a dead origin answered with stale copies

GUARD_SIM = """\
workers: 8
default:
  dist: fixed
  service_ms: 2
  cacheable: true
  max_age_s: 300
paths:
  /b/s: {cache_control: "max-age=1, stale-if-error=60"}
  /r/t: {max_age_s: 1}
  /r/slow: {service_ms: 4000, cacheable: false}
  /d/s: {cache_control: "max-age=1, stale-if-error=60"}
  /t/s: {cache_control: "max-age=1, stale-if-error=60"}
"""


class GuardStale(lt.LvTestCase):
    """Service b: a breaker that opens after 5 failures; service r: one slot, no queue (a
    second request is shed), serve_stale_ms 60 s; service d: its origin goes away; service t:
    300 ms read timeout (the sim is stalled)."""

    @classmethod
    def setUpClass(cls):
        cls.sim = lt.LeveeSim(config=GUARD_SIM)
        cls.sim_d = lt.LeveeSim(config=GUARD_SIM)
        services = [
            {"name": "b", "upstreams": [cls.sim.hostport],
             "breaker": {"min_requests": 5, "error_percent": 50, "cooldown_ms": 30000,
                         "window_ms": 30000, "probes": 1}},
            {"name": "r", "upstreams": [cls.sim.hostport],
             "limit": {"initial": 1, "min": 1, "max": 1}, "queue": {"max": 0},
             "cache": {"serve_stale_ms": 60000}},
            {"name": "d", "upstreams": [cls.sim_d.hostport], "guard": False},
            {"name": "t", "upstreams": [cls.sim.hostport], "guard": False,
             "read_timeout_ms": 300},
        ]
        routes = [{"path": "/b/", "service": "b"}, {"path": "/r/", "service": "r"},
                  {"path": "/d/", "service": "d"}, {"path": "/t/", "service": "t"}]
        cfg = lt.make_config(services, routes=routes, workers=1,
                             extra={"cache": {"size": "16m"}})
        cls.start_levee(lambda: lt.Levee.from_config(cfg, name="guard-cache.yaml"),
                        backends=[cls.sim, cls.sim_d])
        # Store the three responses now; they are stale (max-age=1) 1.1 s later.
        for p in ("/b/s", "/r/t", "/d/s", "/t/s"):
            r = lt.get(cls.levee.addr, p)
            assert r.status == 200, r
        cls.primed = time.monotonic()
        cls.sim_d.stop()  # service d's origin is gone: connections are refused

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def setUp(self):
        super().setUp()
        sleep_until(self.primed + 1.1)

    def stale_counts(self):
        return cache_json(self.levee)["stale_served"]

    def test_open_breaker_answers_with_stale_copy(self):
        lv, sim = self.levee, self.sim
        sim.control("fail", path="/b/x", rate=1, status=500)
        # min_requests 5 counts the priming request too: it opens after 4 or 5 failures.
        for i in range(5):
            if lt.guard_status(lv, "b")["breaker"] == "open":
                break
            self.assertStatus(lt.get(lv.addr, "/b/x"), 500, "failure %d:" % i)
        self.assertEqual(lt.guard_status(lv, "b")["breaker"], "open")
        failures = sim.path_stat("/b/x")
        self.assertStatus(lt.get(lv.addr, "/b/x"), 503, "open breaker, nothing stored:")
        self.assertEqual(sim.path_stat("/b/x"), failures)
        before = self.stale_counts()
        r = lt.get(lv.addr, "/b/s")
        self.assertStatus(r, 200, "open breaker, stale copy stored:")
        self.assertEqual(r.body, sim_body(64))
        self.assertGreaterEqual(age(r), 1)
        self.assertEqual(sim.path_stat("/b/s"), 1, "an open breaker let a request through")
        self.assertEqual(self.stale_counts()["refused"], before["refused"] + 1)
        self.assertGreaterEqual(lt.guard_decisions(lv, "b").get("breaker_rejected", 0), 2)

    def test_shed_request_answered_with_stale_copy_by_serve_stale_ms(self):
        # /r/t has max-age=1 and no stale-if-error: only serve_stale_ms allows it.
        lv, sim = self.levee, self.sim
        slow = lt.HttpConn(lv.addr, timeout=20)
        self.addCleanup(slow.close)
        slow.send(lt.HttpConn.build("GET", "/r/slow"))
        sim.wait_stat(lambda st: sim.path_stat("/r/slow", st=st) == 1, 10,
                      "the slow request holding service r's one slot")
        before = self.stale_counts()
        r = lt.get(lv.addr, "/r/t")
        self.assertStatus(r, 200, "shed, with a stale copy within serve_stale_ms:")
        self.assertEqual(r.body, sim_body(64))
        self.assertEqual(sim.path_stat("/r/t"), 1, "the shed request reached the origin")
        self.assertEqual(self.stale_counts()["refused"], before["refused"] + 1)
        self.assertStatus(lt.get(lv.addr, "/r/other"), 503, "shed, nothing stored:")
        self.assertStatus(slow.read_response(timeout=15), 200, "the slow request")

    def test_origin_refusing_connections_answered_with_stale_copy(self):
        before = self.stale_counts()
        r = lt.get(self.levee.addr, "/d/s")
        self.assertStatus(r, 200, "origin gone, within stale-if-error:")
        self.assertEqual(r.body, sim_body(64))
        self.assertEqual(self.stale_counts()["error"], before["error"] + 1)
        self.assertStatus(lt.get(self.levee.addr, "/d/other"), 502, "origin gone, not stored:")


    def test_origin_timeout_answered_with_stale_copy(self):
        self.sim.control("stall", ms=60000)
        self.addCleanup(self.sim.control, "stall", ms=0)
        before = self.stale_counts()
        t0 = time.monotonic()
        r = lt.get(self.levee.addr, "/t/s")
        self.assertStatus(r, 200, "origin times out, within stale-if-error:")
        self.assertEqual(r.body, sim_body(64))
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(self.stale_counts()["error"], before["error"] + 1)
        self.assertStatus(lt.get(self.levee.addr, "/t/other"), 504, "timeout, not stored:")


if __name__ == "__main__":
    lt.main()
