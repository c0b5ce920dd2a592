"""tests/integration/test_replicate.py: `levee replicate` between real redis-server processes.

Region a's stream (lv:ev:a in a's Redis) is fed with events built here (replkit.event); the
replicator of region b applies them to b's Redis. Asserted on b's keys, on the L1-drop messages
(lv:l1:b) and on the replicator's counters: set, meta, invalidation, purges (url, prefix, tag),
idempotency (replays, reordering), the own-region loop guard, malformed entries, a SIGKILL in
the middle of a stream, two regions replicating both ways without echo, --status, and either
Redis stopped and started again.
"""

import os
import signal
import subprocess
import threading
import time
import unittest

import lvtest
import rediskit
from replkit import Replicator, Subscriber, event, now_us, status_cli, tombstone, value, xadd

TOMB_TTL = 30000


def cut_replicator_connections(r):
    """CLIENT KILL of every connection but this one and the test's publisher."""
    me = r.call("CLIENT", "ID")
    n = 0
    for line in r.call("CLIENT", "LIST").decode().splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if int(f["id"]) != me and f.get("name") != "publisher":
            n += r.call("CLIENT", "KILL", "ID", f["id"])
    return n


@unittest.skipUnless(rediskit.have_redis(), "redis-server not installed")
class ReplicateBasics(lvtest.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ra = rediskit.RedisServer("a")
        cls.rb = rediskit.RedisServer("b")
        cls.a = cls.ra.client()
        cls.b = cls.rb.client()
        cls.rep = Replicator("b", cls.rb, {"a": cls.ra},
                             extra=["--tombstone-ttl", str(TOMB_TTL), "--batch", "64"])
        cls.rep.wait_log(r'msg="peer redis connected"')

    @classmethod
    def tearDownClass(cls):
        rc = cls.rep.stop()
        cls.ra.stop()
        cls.rb.stop()
        assert rc == 0, "replicator exit code %r:\n%s" % (rc, cls.rep.tail())

    def setUp(self):
        self.sub = Subscriber(self.rb, "lv:l1:b")

    def tearDown(self):
        self.sub.close()

    def wait_key(self, key, want, timeout=5.0):
        return lvtest.wait_for(lambda: self.b.call("GET", key) == want, timeout=timeout,
                               what="%s == %r (now %r)" % (key, want[:40], None))

    def drops(self, n):
        got = self.sub.until(lambda g: len(g) >= n)
        self.assertGreaterEqual(len(got), n, got)
        return got

    def test_set_with_tags(self):
        v = now_us()
        val = value(v, b"hello")
        before = self.rep.peer("a")
        xadd(self.a, "a", event("set", "a", "h.test/set", v, ttl=60000, val=val,
                                tags=("t1", "t2")))
        self.wait_key("lv:c:h.test/set", val)
        self.assertEqual(set(self.b.call("SMEMBERS", "lv:t:t1")), {b"h.test/set"})
        self.assertEqual(set(self.b.call("SMEMBERS", "lv:t:t2")), {b"h.test/set"})
        ttl = self.b.call("PTTL", "lv:c:h.test/set")
        self.assertTrue(55000 < ttl <= 60000, ttl)
        self.assertEqual(self.drops(1), [b"replicate\nkey\nh.test/set"])
        p = self.rep.wait_peer("a", lambda p: p["applied"] > before["applied"])
        self.assertEqual(p["failed"], before["failed"])
        self.assertGreaterEqual(p["value_bytes"] - before["value_bytes"], len(val))
        self.assertEqual(sum(p["lag_buckets"]) - sum(before["lag_buckets"]), 1)

    def test_meta_only_leaves_a_tombstone(self):
        v = now_us()
        xadd(self.a, "a", event("meta", "a", "h.test/big", v, ttl=20000, val=b"x" * 10))
        self.wait_key("lv:c:h.test/big", tombstone(v))
        self.assertTrue(15000 < self.b.call("PTTL", "lv:c:h.test/big") <= 20000)
        self.assertEqual(self.drops(1), [b"replicate\nkey\nh.test/big"])

    def test_invalidate_newer_wins_older_is_stale(self):
        v = now_us()
        self.b.call("FCALL", "lv_set", 1, "lv:c:h.test/inv", value(v - 1000), 60000)
        xadd(self.a, "a", event("invalidate", "a", "h.test/inv", v))
        self.wait_key("lv:c:h.test/inv", tombstone(v))
        ttl = self.b.call("PTTL", "lv:c:h.test/inv")
        self.assertTrue(TOMB_TTL - 5000 < ttl <= TOMB_TTL, ttl)
        self.assertEqual(self.drops(1), [b"replicate\nkey\nh.test/inv"])
        # An older set after the invalidation changes nothing and drops no L1 copy.
        before = self.rep.peer("a")
        xadd(self.a, "a", event("set", "a", "h.test/inv", v - 500, ttl=60000,
                                val=value(v - 500)))
        self.rep.wait_peer("a", lambda p: p["stale"] == before["stale"] + 1)
        self.assertEqual(self.b.call("GET", "lv:c:h.test/inv"), tombstone(v))
        self.assertEqual(self.sub.until(lambda g: False, timeout=0.5), [])

    def test_purge_url_prefix_tag(self):
        old = now_us() - 10000
        for k in ("p.test/u", "p.test/u\x1ever1", "p.test/u\x1fgz", "p.test/uu",
                  "p.test/dir/1", "p.test/dir/2", "p.test/other", "p.test/t1", "p.test/t2"):
            tags = ("promo",) if k in ("p.test/t1", "p.test/t2") else ()
            self.b.call("FCALL", "lv_set", 1, "lv:c:" + k, value(old), 60000, *tags)
        v = now_us()
        before = self.rep.peer("a")
        xadd(self.a, "a", event("url", "a", "p.test/u", v))
        xadd(self.a, "a", event("prefix", "a", "p.test/dir/", v))
        xadd(self.a, "a", event("tag", "a", "promo", v))
        for k in ("p.test/u", "p.test/u\x1ever1", "p.test/u\x1fgz", "p.test/dir/1",
                  "p.test/dir/2", "p.test/t1", "p.test/t2"):
            self.wait_key("lv:c:" + k, tombstone(v))
        for k in ("p.test/uu", "p.test/other"):
            self.assertEqual(self.b.call("GET", "lv:c:" + k), value(old), k)
        self.assertEqual(self.b.call("EXISTS", "lv:t:promo"), 0)
        self.assertEqual(self.drops(3), [b"replicate\nurl\np.test/u",
                                         b"replicate\nprefix\np.test/dir/",
                                         b"replicate\ntag\npromo"])
        p = self.rep.wait_peer("a", lambda p: p["applied"] == before["applied"] + 3)
        self.assertEqual(p["purged_keys"] - before["purged_keys"], 7)

    def test_stale_tag_purge_keeps_newer_members(self):
        # Regression (l2_script 89ff341): a tag purge older than a tagged value emptied the tag's
        # whole set, so the next, newer purge of that tag no longer found the value.
        v = now_us()
        self.b.call("FCALL", "lv_set", 1, "lv:c:g.test/new", value(v), 60000, "sale")
        self.b.call("FCALL", "lv_set", 1, "lv:c:g.test/old", value(v - 5000), 60000, "sale")
        xadd(self.a, "a", event("tag", "a", "sale", v - 1000))
        self.wait_key("lv:c:g.test/old", tombstone(v - 1000))
        self.assertEqual(self.b.call("GET", "lv:c:g.test/new"), value(v))
        self.assertEqual(self.b.call("SMEMBERS", "lv:t:sale"), [b"g.test/new"])
        xadd(self.a, "a", event("tag", "a", "sale", v + 1000))
        self.wait_key("lv:c:g.test/new", tombstone(v + 1000))
        self.assertEqual(self.b.call("EXISTS", "lv:t:sale"), 0)

    def test_set_refuses_a_version_that_is_not_digits(self):
        # Regression (l2_script 89ff341): lv_set took any 16 bytes as a version; letters sort
        # after digits, so such a value would have won over every later write.
        with self.assertRaises(rediskit.RedisError):
            self.b.call("FCALL", "lv_set", 1, "lv:c:g.test/x", b"LVL210zzzzzzzzzzzzzzzz", 1000)

    def test_replayed_and_reordered_events_are_idempotent(self):
        v = now_us()
        new, old = value(v, b"new"), value(v - 2000, b"old")
        before = self.rep.peer("a")
        # newer first, then the older one, then the newer one again (a replay)
        xadd(self.a, "a", event("set", "a", "h.test/idem", v, ttl=60000, val=new))
        xadd(self.a, "a", event("set", "a", "h.test/idem", v - 2000, ttl=60000, val=old))
        xadd(self.a, "a", event("set", "a", "h.test/idem", v, ttl=60000, val=new))
        xadd(self.a, "a", event("invalidate", "a", "h.test/idem", v - 1000))
        p = self.rep.wait_peer("a", lambda p: p["applied"] + p["stale"]
                               >= before["applied"] + before["stale"] + 4)
        self.assertEqual(self.b.call("GET", "lv:c:h.test/idem"), new)
        self.assertEqual(p["applied"] - before["applied"], 1)
        self.assertEqual(p["stale"] - before["stale"], 3)
        self.assertEqual(self.drops(1), [b"replicate\nkey\nh.test/idem"])
        self.assertEqual(self.sub.until(lambda g: False, timeout=0.3), [])

    def test_own_region_events_are_skipped(self):
        v = now_us()
        before = self.rep.peer("a")
        xadd(self.a, "a", event("set", "b", "h.test/own", v, ttl=60000, val=value(v)))
        self.rep.wait_peer("a", lambda p: p["own_region"] == before["own_region"] + 1)
        self.assertIsNone(self.b.call("GET", "lv:c:h.test/own"))

    def test_malformed_entries_are_counted_and_acknowledged(self):
        v = now_us()
        before = self.rep.peer("a")
        xadd(self.a, "a", ["t", "set", "r", "a", "k", "h.test/bad"])            # no v
        xadd(self.a, "a", ["t", "nope", "r", "a", "k", "x", "v", b"%016d" % v])  # unknown type
        # the value's header says another version than v
        xadd(self.a, "a", event("set", "a", "h.test/bad", v, ttl=60000, val=value(v + 1)))
        xadd(self.a, "a", event("set", "a", "h.test/bad", v, ttl=60000, val=b"not a value"))
        # expired on the way: a TTL of 1 s, written 5 s ago
        xadd(self.a, "a", event("set", "a", "h.test/old", v - 5000000, ttl=1000,
                                val=value(v - 5000000)))
        p = self.rep.wait_peer("a", lambda p: p["failed"] == before["failed"] + 4
                               and p["expired"] == before["expired"] + 1)
        self.assertIsNone(self.b.call("GET", "lv:c:h.test/bad"))
        self.assertIsNone(self.b.call("GET", "lv:c:h.test/old"))
        self.rep.wait_peer("a", lambda p: p["pending"] == 0 and p["group_lag"] == 0)

    def test_metrics_exposition(self):
        text = self.rep.metrics()
        for name in ("levee_replicate_read_total{peer=\"a\"}",
                     "levee_replicate_lag_seconds_bucket{peer=\"a\",le=\"0.1\"}",
                     "levee_replicate_lag_seconds_bucket{peer=\"a\",le=\"+Inf\"}",
                     "levee_replicate_pending{peer=\"a\"}", "levee_replicate_peer_up{peer=\"a\"} 1",
                     "levee_replicate_info{region=\"b\"} 1"):
            self.assertIn(name, text)

    def test_status_command(self):
        v = now_us()
        xadd(self.a, "a", event("set", "a", "h.test/st", v, ttl=60000, val=value(v)))
        self.wait_key("lv:c:h.test/st", value(v))
        # the counters reach the local Redis within a second
        rows = lvtest.wait_for(
            lambda: (lambda r: r if r[0] == 0 and int(r[1]["a"]["applied"]) >= 1
                     and r[1]["a"]["pending"] == "0" else None)(
                status_cli("b", self.rb)), timeout=5, what="--status")
        rc, peers, text = rows
        row = peers["a"]
        self.assertEqual(row["replicator"], "running", text)
        self.assertEqual(row["peer_redis"], "up", text)
        self.assertEqual(row["peer_up"], "1", text)
        self.assertEqual(int(row["stream_length"]), self.a.call("XLEN", "lv:ev:a"))
        for k in ("lag_p50_ms", "lag_p99_ms", "read", "stale", "own_region", "failed", "bytes",
                  "value_bytes", "group_lag", "consumers"):
            self.assertIn(k, row)
        self.assertGreater(float(row["lag_p99_ms"]), 0)
        # a region nobody replicates into has no state: exit 1
        rc, peers, text = status_cli("zz", self.rb)
        self.assertEqual(rc, 1, text)


@unittest.skipUnless(rediskit.have_redis(), "redis-server not installed")
class ReplicateFailures(lvtest.LvTestCase):
    def setUp(self):
        self.ra = rediskit.RedisServer("fa")
        self.rb = rediskit.RedisServer("fb")
        self.a = self.ra.client()
        self.b = self.rb.client()
        self.reps = []

    def tearDown(self):
        for rep in self.reps:
            rep.stop()
        self.ra.stop()
        self.rb.stop()

    def replicator(self, region, local, peers, **kw):
        rep = Replicator(region, local, peers, **kw)
        self.reps.append(rep)
        return rep

    def test_sigkill_mid_stream_loses_nothing(self):
        n = 3000
        v0 = now_us()
        done = threading.Event()

        def publish():
            a = self.ra.client()
            for i in range(0, n, 50):
                a.pipeline([["XADD", "lv:ev:a", "*"] + event(
                    "set", "a", "k.test/%d" % j, v0 + j, ttl=120000, val=value(v0 + j, b"%d" % j))
                    for j in range(i, min(n, i + 50))])
                time.sleep(0.04)  # ~2.5 s in all: the kills land in the middle
            a.close()
            done.set()

        rep = self.replicator("b", self.rb, {"a": self.ra}, extra=["--batch", "100"])
        t = threading.Thread(target=publish)
        t.start()
        kills = during = 0
        for _ in range(3):
            lvtest.wait_for(lambda: rep.peer("a")["applied"] > 200, timeout=10, what="applying")
            during += not done.is_set()
            rep.proc.send_signal(signal.SIGKILL)
            rep.proc.wait(timeout=10)
            kills += 1
            rep.start()
        t.join(timeout=60)
        self.assertTrue(done.is_set())
        self.assertGreaterEqual(during, 2, "the SIGKILLs should land while events arrive")
        lvtest.wait_for(lambda: rep.peer("a")["pending"] == 0 and rep.peer("a")["group_lag"] == 0,
                        timeout=20, what="backlog drained")
        keys = set()
        cursor = b"0"
        while True:
            cursor, found = self.b.call("SCAN", cursor, "MATCH", "lv:c:k.test/*", "COUNT", 1000)
            keys.update(found)
            if cursor == b"0":
                break
        self.assertEqual(len(keys), n, "published %d, found %d after %d SIGKILLs"
                         % (n, len(keys), kills))
        for j in (0, n // 2, n - 1):
            self.assertEqual(self.b.call("GET", "lv:c:k.test/%d" % j), value(v0 + j, b"%d" % j))
        self.assertEqual(self.a.call("XLEN", "lv:ev:b"), 0)

    def test_connections_cut_mid_stream_lose_nothing(self):
        # Connections cut while batches are in flight (a read sent ahead, acknowledgements not
        # yet answered): on the peer's side and on the local side, in turns.
        n = 4000
        v0 = now_us()
        rep = self.replicator("b", self.rb, {"a": self.ra}, extra=["--batch", "50"])

        def publish():
            a = self.ra.client()
            a.call("CLIENT", "SETNAME", "publisher")
            for i in range(0, n, 100):
                a.pipeline([["XADD", "lv:ev:a", "*"] + event(
                    "set", "a", "c.test/%d" % j, v0 + j, ttl=120000, val=value(v0 + j))
                    for j in range(i, min(n, i + 100))])
                time.sleep(0.03)
            a.close()

        t = threading.Thread(target=publish)
        t.start()
        cuts = 0
        while t.is_alive() and cuts < 8:
            time.sleep(0.25)
            cuts += cut_replicator_connections(self.a if cuts % 2 == 0 else self.b) > 0
        t.join(timeout=60)
        self.assertGreaterEqual(cuts, 4)
        lvtest.wait_for(lambda: rep.peer("a")["pending"] == 0 and rep.peer("a")["group_lag"] == 0
                        and rep.peer("a")["local_up"] == 1, timeout=20, what="backlog drained")
        keys, cursor = set(), b"0"
        while True:
            cursor, found = self.b.call("SCAN", cursor, "MATCH", "lv:c:c.test/*", "COUNT", 1000)
            keys.update(found)
            if cursor == b"0":
                break
        self.assertEqual(len(keys), n, "published %d, found %d after %d cuts" % (n, len(keys),
                                                                               cuts))
        self.assertGreaterEqual(rep.peer("a")["reconnects"], 2)

    def test_config_file(self):
        path = os.path.join(lvtest.tmpdir(), "replicate.yaml")
        with open(path, "w") as f:
            f.write("# levee replicate -c\nregion: b\nlocal: %s\npeers:\n  a: %s\n"
                    "batch: 64\ntombstone_ttl_ms: 5000\n" % (self.rb.url(), self.ra.url()))
        rep = self.replicator("b", None, {}, args=["-c", path, "--batch", "32"])
        v = now_us()
        xadd(self.a, "a", event("invalidate", "a", "cf.test/1", v))
        lvtest.wait_for(lambda: self.b.call("GET", "lv:c:cf.test/1") == tombstone(v))
        self.assertLessEqual(self.b.call("PTTL", "lv:c:cf.test/1"), 5000)
        self.assertIn('msg="replicator started" region=b', rep.tail())
        # every mistake, each with its place
        with open(path, "w") as f:
            f.write("region: B\nlocal: %s\npeers:\n  a: nowhere\nbatch: 0\ncolour: red\n"
                    % self.rb.url())
        p = subprocess.run([lvtest.LEVEE, "replicate", "-c", path], capture_output=True,
                           timeout=10)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, err)
        for want in (":1:9: region: \"B\" is not", ":4:6: peers: \"a=nowhere\"",
                     ":5:8: batch: \"0\" is not a number", ":6:1: colour: unknown setting"):
            self.assertIn(path + want, err)

    def test_two_regions_no_echo(self):
        rb_rep = self.replicator("b", self.rb, {"a": self.ra})
        ra_rep = self.replicator("a", self.ra, {"b": self.rb})
        v = now_us()
        xadd(self.a, "a", event("set", "a", "x.test/from-a", v, ttl=60000, val=value(v)))
        xadd(self.b, "b", event("set", "b", "x.test/from-b", v + 1, ttl=60000,
                                val=value(v + 1)))
        # what the levee of each region would hold, and what each replicator brings over
        lvtest.wait_for(lambda: self.b.call("GET", "lv:c:x.test/from-a") == value(v),
                        what="a -> b")
        lvtest.wait_for(lambda: self.a.call("GET", "lv:c:x.test/from-b") == value(v + 1),
                        what="b -> a")
        time.sleep(1.5)  # time for any echo to show
        self.assertEqual(self.a.call("XLEN", "lv:ev:a"), 1)
        self.assertEqual(self.b.call("XLEN", "lv:ev:b"), 1)
        self.assertEqual(rb_rep.peer("a")["applied"], 1)
        self.assertEqual(ra_rep.peer("b")["applied"], 1)
        # an event that came back to its own region (a misbehaving writer) is not applied
        xadd(self.b, "b", event("set", "a", "x.test/echo", v + 2, ttl=60000, val=value(v + 2)))
        ra_rep.wait_peer("b", lambda p: p["own_region"] == 1)
        self.assertIsNone(self.a.call("GET", "lv:c:x.test/echo"))

    def test_peer_redis_down_and_back(self):
        rep = self.replicator("b", self.rb, {"a": self.ra})
        rep.wait_log(r'msg="peer redis connected"')
        v = now_us()
        xadd(self.a, "a", event("set", "a", "d.test/1", v, ttl=60000, val=value(v)))
        lvtest.wait_for(lambda: self.b.call("GET", "lv:c:d.test/1") == value(v))
        self.ra.stop()
        self.assertTrue(rep.wait_log(r'msg="peer redis down" peer=a', timeout=10), rep.tail())
        rep.wait_peer("a", lambda p: p["peer_up"] == 0)
        rows = lvtest.wait_for(lambda: (lambda r: r if r[1].get("a", {}).get("peer_up") == "0"
                                        else None)(status_cli("b", self.rb, {"a": self.ra})),
                               timeout=5, what="--status with the peer down")
        self.assertEqual(rows[1]["a"]["peer_redis"], "down", rows[2])
        self.assertEqual(rows[1]["a"]["stream_length"], "-1", rows[2])
        self.assertEqual(rows[1]["a"]["replicator"], "running", rows[2])
        time.sleep(1)
        self.ra.start()  # same port, empty (no persistence): the group is made again
        self.assertTrue(rep.wait_log(r'msg="peer redis back" peer=a', timeout=15), rep.tail())
        self.a = self.ra.client()
        v2 = now_us()
        xadd(self.a, "a", event("set", "a", "d.test/2", v2, ttl=60000, val=value(v2)))
        lvtest.wait_for(lambda: self.b.call("GET", "lv:c:d.test/2") == value(v2), timeout=10,
                        what="replication after the peer came back")
        p = rep.peer("a")
        self.assertEqual(p["peer_up"], 1)
        self.assertGreaterEqual(p["reconnects"], 1)

    def test_local_redis_down_and_back(self):
        rep = self.replicator("b", self.rb, {"a": self.ra})
        rep.wait_log(r'msg="local redis connected"')
        self.rb.stop()
        v = now_us()
        xadd(self.a, "a", event("set", "a", "l.test/1", v, ttl=60000, val=value(v)))
        self.assertTrue(rep.wait_log(r'msg="local redis down" peer=a', timeout=10), rep.tail())
        time.sleep(1)
        self.rb.start()  # empty: the function library is loaded again on connect
        self.assertTrue(rep.wait_log(r'msg="local redis back" peer=a', timeout=15), rep.tail())
        self.b = self.rb.client()
        lvtest.wait_for(lambda: self.b.call("GET", "lv:c:l.test/1") == value(v), timeout=10,
                        what="the event written while the local Redis was down")
        rep.wait_peer("a", lambda p: p["pending"] == 0, what="nothing pending")


if __name__ == "__main__":
    lvtest.main()
