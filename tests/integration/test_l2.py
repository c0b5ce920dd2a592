#!/usr/bin/env python3
"""tests/integration/test_l2.py: the second cache tier (issue 15) end to end.

Real processes on 127.0.0.1: a redis-server (rediskit.py), levee-sim as the origin, and two
levee instances of one region sharing that Redis (cache.l2). What reached the origin is the
sim's per-path `received`; what the tier did is levee's levee_cache_l2_* metrics and what Redis
holds (values, tombstones, the region's stream).

  1. a fill in one instance is an L2 hit in the other (the origin untouched), Vary variants,
     concurrent misses for a key cost one L2 lookup (the flight), tags indexed
  2. events on the region's stream: set with the value, metadata only above the threshold, not
     written to L2 above cache.l2.max_value_bytes
  3. invalidation by an unsafe method and admin purges (url, prefix, tag): tombstones, events,
     the sibling instance drops its L1 copy
  4. Redis stopped: every request answered, none slower than the origin makes it, the metric
     and the log say so, and say when it is back; Redis frozen (DEBUG SLEEP): lookups end at
     cache.l2.timeout_ms and the breaker opens; Redis full: writes fail, requests do not
"""

import os
import re
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402

TOKEN = "l2-test-token"
HOST = "levee.test"

SIM_CONFIG = """\
workers: 64
default:
  dist: fixed
  service_ms: 2
  cacheable: true
  max_age_s: 300
paths:
  /vary: {vary: Accept-Encoding}
  /big: {body_bytes: 20000}
  /tagged: {headers: {Surrogate-Key: "red blue"}}
"""


def metrics(lv):
    """{series: value} of levee's /metrics (series as written, labels included)."""
    r = lv.admin("/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().split("\n"):
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def l2(lv, result):
    return int(metrics(lv).get('levee_cache_l2_lookups_total{result="%s"}' % result, 0))


def m(lv, series):
    return int(metrics(lv).get(series, 0))


def levee_config(redis, sim, region="eu", extra_l2=None, workers=2):
    l2conf = {"url": redis.url()}
    l2conf.update(extra_l2 or {})
    svc = {"name": "app", "upstreams": [sim.hostport], "guard": False}
    return lt.make_config([svc], workers=workers, extra={
        "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
        "region": region,
        "cache": {"size": "64m", "l2": l2conf}})


def events(rc, region="eu"):
    """The region's stream as [{field: value}] (bytes)."""
    out = []
    for _id, fields in rc.call("XRANGE", "lv:ev:" + region, "-", "+"):
        out.append({fields[i].decode(): fields[i + 1] for i in range(0, len(fields), 2)})
    return out


def key_of(path):
    return "lv:c:%s%s" % (HOST, path)


class Base(lt.LvTestCase):
    def get(self, lv, target, headers=None, method="GET", timeout=15):
        return lt.http_request(lv.addr, method, target, headers=headers, host=HOST,
                               timeout=timeout)

    def admin_write(self, lv, method, target):
        return lt.http_request(lv.admin_addr, method, target,
                               headers=[("Authorization", "Bearer " + TOKEN)], timeout=10)


@unittest.skipUnless(rediskit.have_redis(), "redis-server not installed")
class TwoInstances(Base):
    """One region: levee A and B share one Redis and one origin."""

    @classmethod
    def setUpClass(cls):
        cls.redis = rediskit.RedisServer("redis-eu")
        cls.rc = cls.redis.client()
        cls.sim = lt.LeveeSim(config=SIM_CONFIG)
        extra = {"compress_min_bytes": 0, "event_value_max_bytes": "4k",
                 "max_value_bytes": "16k"}
        cls.a = lt.Levee.from_config(levee_config(cls.redis, cls.sim, extra_l2=extra),
                                     name="a.yaml")
        cls.b = lt.Levee.from_config(levee_config(cls.redis, cls.sim), name="b.yaml")
        for lv in (cls.a, cls.b):
            lt.wait_for(lambda lv=lv: m(lv, "levee_cache_l2_workers_up") == 2
                        and m(lv, "levee_cache_l2_subscribed") == 1, 10,
                        what="second tier up and subscribed")

    @classmethod
    def tearDownClass(cls):
        for lv in (cls.a, cls.b):
            lv.stop(check=True)
        cls.sim.stop()
        cls.rc.close()
        cls.redis.stop()

    def count(self, path):
        return self.sim.path_stat(path)

    def wait_key(self, path, timeout=5):
        return lt.wait_for(lambda: self.rc.call("GET", key_of(path)), timeout,
                           what="%s in the second tier" % path)

    def test_fill_in_one_instance_is_a_hit_in_the_other(self):
        r = self.get(self.a, "/fill")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.count("/fill"), 1)
        v = self.wait_key("/fill")
        self.assertTrue(v.startswith(b"LVL210"), v[:24])  # a value, not a tombstone
        ttl = self.rc.call("PTTL", key_of("/fill"))
        self.assertTrue(290000 < ttl <= 300000, ttl)  # freshness left (max-age=300)
        hits = l2(self.b, "hit")
        r2 = self.get(self.b, "/fill")
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, r.body)
        self.assertEqual(r2.header("ETag"), r.header("ETag"))
        self.assertEqual(self.count("/fill"), 1, "B answered from L2: the origin untouched")
        self.assertEqual(l2(self.b, "hit"), hits + 1)
        # Now in B's L1: no second lookup.
        self.get(self.b, "/fill")
        self.assertEqual(l2(self.b, "hit"), hits + 1)
        self.assertEqual(self.count("/fill"), 1)

    def test_vary_variants(self):
        gz = [("Accept-Encoding", "gzip")]
        self.assertEqual(self.get(self.a, "/vary", headers=gz).status, 200)
        self.assertEqual(self.count("/vary"), 1)
        self.wait_key("/vary")
        lt.wait_for(lambda: len(self.rc.call("KEYS", key_of("/vary") + "\x1f*")) == 1, 5,
                    what="the variant in L2")
        self.assertEqual(self.get(self.b, "/vary", headers=gz).status, 200)
        self.assertEqual(self.count("/vary"), 1, "same variant: from L2")
        self.assertEqual(self.get(self.b, "/vary", headers=[("Accept-Encoding", "br")]).status,
                         200)
        self.assertEqual(self.count("/vary"), 2, "another variant: from the origin")

    def test_concurrent_misses_cost_one_lookup(self):
        self.get(self.a, "/burst")
        self.wait_key("/burst")
        before = sum(l2(self.b, k) for k in ("hit", "miss", "timeout", "error"))
        conns = []
        for _ in range(40):
            c = lt.HttpConn(self.b.addr, timeout=15)
            c.send(lt.HttpConn.build("GET", "/burst", None))
            conns.append(c)
        statuses = []
        for c in conns:
            statuses.append(c.read_response(timeout=15).status)
            c.close()
        self.assertEqual(statuses, [200] * 40)
        self.assertEqual(self.count("/burst"), 1)
        after = sum(l2(self.b, k) for k in ("hit", "miss", "timeout", "error"))
        self.assertEqual(after - before, 1, "one lookup for 40 concurrent misses")

    def test_tags_are_indexed(self):
        self.get(self.a, "/tagged")
        self.wait_key("/tagged")
        for tag in ("red", "blue"):
            self.assertIn((HOST + "/tagged").encode(), self.rc.call("SMEMBERS", "lv:t:" + tag))

    def test_events_carry_small_values_and_metadata_of_large_ones(self):
        self.get(self.a, "/ev-small")
        self.get(self.a, "/big")
        lt.wait_for(lambda: any(e["k"] == (HOST + "/big").encode() for e in events(self.rc)),
                    5, what="the /big event")
        evs = {e["k"].decode(): e for e in events(self.rc)}
        small = evs[HOST + "/ev-small"]
        self.assertEqual(small["t"], b"set")
        self.assertEqual(small["r"], b"eu")
        self.assertEqual(len(small["v"]), 16)
        self.assertEqual(small["val"][:5], b"LVL21")
        self.assertEqual(int(small["n"]), len(small["val"]))
        big = evs[HOST + "/big"]
        self.assertEqual(big["t"], b"meta", "over event_value_max_bytes (4k): metadata only")
        self.assertNotIn("val", big)
        self.assertGreater(int(big["n"]), 20000)
        # Over max_value_bytes (16k, compression off in A): not in L2 at all.
        self.assertIsNone(self.rc.call("GET", key_of("/big")))
        self.assertGreaterEqual(m(self.a, "levee_cache_l2_too_large_total"), 1)

    def test_invalidation_reaches_l2_and_the_sibling(self):
        self.get(self.b, "/inv")  # B stores it (L1 + L2)
        self.wait_key("/inv")
        self.get(self.a, "/inv")  # A has it in L1 too (from L2)
        self.assertEqual(self.count("/inv"), 1)
        drops = m(self.b, "levee_cache_l2_drop_messages_total")
        r = self.get(self.a, "/inv", method="POST")
        self.assertEqual(r.status, 200)
        lt.wait_for(lambda: self.rc.call("GET", key_of("/inv")).startswith(b"LVL211"), 5,
                    what="a tombstone for /inv")
        self.assertTrue(any(e["t"] == b"invalidate" and e["k"] == (HOST + "/inv").encode()
                            for e in events(self.rc)))
        lt.wait_for(lambda: m(self.b, "levee_cache_l2_drop_messages_total") > drops, 5,
                    what="B told to drop")
        received = self.count("/inv")
        self.assertEqual(self.get(self.b, "/inv").status, 200)
        self.assertEqual(self.count("/inv"), received + 1, "B's copy was dropped")

    def test_admin_purges(self):
        for p in ("/pu/1", "/pu/2", "/pp/a", "/pp/b", "/tagged"):
            self.get(self.b, p)
            self.wait_key(p)
        # url
        r = self.admin_write(self.a, "POST", "/cache/purge?url=" +
                             urllib.parse.quote("http://%s/pu/1" % HOST, safe=""))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["l2_purged"], 1)
        self.assertTrue(self.rc.call("GET", key_of("/pu/1")).startswith(b"LVL211"))
        self.assertTrue(self.rc.call("GET", key_of("/pu/2")).startswith(b"LVL210"))
        # prefix
        r = self.admin_write(self.a, "POST", "/cache/purge?prefix=" +
                             urllib.parse.quote("%s/pp/" % HOST, safe=""))
        self.assertEqual(r.json()["l2_purged"], 2, r.json())
        # tag
        r = self.admin_write(self.a, "POST", "/cache/purge?tag=blue")
        self.assertEqual(r.json()["l2_purged"], 1, r.json())
        self.assertTrue(self.rc.call("GET", key_of("/tagged")).startswith(b"LVL211"))
        types = [e["t"] for e in events(self.rc)]
        for t in (b"url", b"prefix", b"tag"):
            self.assertIn(t, types)
        # B dropped its copies: the next requests reach the origin.
        lt.wait_for(lambda: m(self.b, "levee_cache_l2_dropped_total") >= 4, 5,
                    what="B dropped 4 copies")
        before = self.count("/pp/a")
        self.get(self.b, "/pp/a")
        self.assertEqual(self.count("/pp/a"), before + 1)


@unittest.skipUnless(rediskit.have_redis(), "redis-server not installed")
class RedisTrouble(Base):
    """Redis stopped, frozen, full: levee goes on without it."""

    def setUp(self):
        self.redis = rediskit.RedisServer("redis-%s" % self._testMethodName)
        self.sim = lt.LeveeSim(config=SIM_CONFIG)
        extra = {"timeout_ms": 5, "retry_ms": 300, "breaker_failures": 3}
        self.levee = lt.Levee.from_config(levee_config(self.redis, self.sim, extra_l2=extra),
                                          name="trouble.yaml")
        lt.wait_for(lambda: m(self.levee, "levee_cache_l2_workers_up") == 2, 10,
                    what="second tier up")

    def tearDown(self):
        self.levee.stop(check=True)
        self.sim.stop()
        self.redis.stop()

    def timed_gets(self, paths):
        worst = 0.0
        for p in paths:
            t0 = time.monotonic()
            r = self.get(self.levee, p)
            worst = max(worst, time.monotonic() - t0)
            self.assertEqual(r.status, 200, p)
        return worst

    def test_redis_stopped_and_back(self):
        mark = self.levee.log_mark()
        self.redis.stop()
        self.levee.wait_log(r'msg="second tier down', timeout=5, start=mark)
        lt.wait_for(lambda: m(self.levee, "levee_cache_l2_workers_up") == 0, 5,
                    what="workers_up 0")
        worst = self.timed_gets(["/down/%d" % i for i in range(20)])
        self.assertLess(worst, 1.0)
        self.assertGreaterEqual(l2(self.levee, "skipped"), 10)
        self.assertEqual(l2(self.levee, "timeout"), 0, "nothing waited on a Redis that is down")
        mark = self.levee.log_mark()
        self.redis.start()
        self.levee.wait_log(r'msg="second tier up"', timeout=5, start=mark)
        lt.wait_for(lambda: m(self.levee, "levee_cache_l2_workers_up") == 2, 5,
                    what="workers_up back to 2")
        self.get(self.levee, "/after")
        rc = self.redis.client()
        lt.wait_for(lambda: rc.call("GET", key_of("/after")), 5, what="writes resumed")
        rc.close()

    def test_frozen_redis_costs_at_most_the_timeout(self):
        def freeze():
            c = self.redis.client()
            try:
                c.call("DEBUG", "SLEEP", "1.5")
            finally:
                c.close()
        t = threading.Thread(target=freeze)
        t.start()
        time.sleep(0.1)
        mark = self.levee.log_mark()
        worst = self.timed_gets(["/frozen/%d" % i for i in range(12)])
        t.join()
        self.assertLess(worst, 0.5, "a frozen Redis costs a lookup its timeout, not 1.5 s")
        self.assertGreaterEqual(l2(self.levee, "timeout"), 3)
        self.assertGreaterEqual(m(self.levee, "levee_cache_l2_breaker_opens_total"), 1)
        self.assertGreaterEqual(l2(self.levee, "skipped"), 1, "the open breaker skips lookups")
        self.levee.wait_log(r'msg="second tier breaker open', timeout=5, start=mark)

    def test_full_redis_fails_writes_not_requests(self):
        rc = self.redis.client()
        rc.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
        rc.call("CONFIG", "SET", "maxmemory", "1")
        errors = m(self.levee, "levee_cache_l2_write_errors_total")
        worst = self.timed_gets(["/full/%d" % i for i in range(10)])
        self.assertLess(worst, 1.0)
        lt.wait_for(lambda: m(self.levee, "levee_cache_l2_write_errors_total") >= errors + 10,
                    5, what="the writes refused (OOM)")
        self.assertIsNone(rc.call("GET", key_of("/full/0")))
        rc.close()


if __name__ == "__main__":
    lt.start_watchdog()
    unittest.main()
