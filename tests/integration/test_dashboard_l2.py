#!/usr/bin/env python3
"""tests/integration/test_dashboard_l2.py: the dashboard's second tier and replication figures.

A real Redis per region (rediskit), levee with cache.l2 in region "b" and `levee replicate` of
region "b" reading region "a"'s stream: the snapshot has `l2` (its lookups move when requests go
through levee) and `replication` (peer "a", the replicator running, events applied per second
and their lag), every field as docs/dashboard.md lists them (both ways), and the history has
the second tier's series. Redis stopped: `replication.redis_up` turns false within a tick or
two, the admin keeps answering and the outage is logged once; Redis back: figures again.
Browser: headless Chromium (tests/browser/dashboard_l2.mjs) shows both sections with their
charts and the peer's figures (its screenshot goes to docs/dashboard-l2.png with
LV_UPDATE_DOCS=1). Skips without redis-server (and the browser part without
Chromium, node or tests/browser/node_modules).
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402
import replkit as rk  # noqa: E402
from test_dashboard import (BROWSER_DIR, CHROMIUM, Stream, browser_missing,  # noqa: E402
                            documented_fields, json_paths, leaves)


def traffic(levee, redis_a):
    """One round: 5 requests through levee (new paths: L1 misses, so L2 lookups) and 5 events
    on region a's stream for the replicator."""
    ra = rediskit.Redis(redis_a.port)
    try:
        for i in range(5):
            lt.get(levee.addr, "/p%d-%d" % (int(time.monotonic() * 1000), i))
            v = rk.now_us()
            rk.xadd(ra, "a", rk.event("set", "a", "h.test/k%d" % i, v, ttl=60000,
                                      val=rk.value(v)))
    finally:
        ra.close()


@unittest.skipUnless(rediskit.have_redis(), "redis-server missing")
class DashboardL2(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis_a = rediskit.RedisServer("redis-a")
        cls.redis_b = rediskit.RedisServer("redis-b")
        cls.sim = lt.LeveeSim(config="workers: 8\ndefault: {dist: fixed, service_ms: 1, "
                                     "cacheable: true, max_age_s: 300}\n")
        cfg = {
            "workers": 2,
            "listen": ["127.0.0.1:0"],
            "admin": {"listen": "127.0.0.1:0"},
            "region": "b",
            "cache": {"size": "4MB", "l2": {"url": cls.redis_b.url()}},
            "services": [{"name": "api", "upstreams": [cls.sim.hostport]}],
            "routes": [{"path": "/", "service": "api"}],
        }
        cls.start_levee(lambda: lt.Levee.from_config(lt.to_yaml(cfg) + "\n", name="dl2.yaml"),
                        backends=[cls.sim])
        cls.repl = rk.Replicator("b", cls.redis_b, {"a": cls.redis_a})

    @classmethod
    def tearDownClass(cls):
        cls.repl.stop()
        cls.stop_levee()
        cls.redis_a.stop()
        cls.redis_b.stop()

    def snapshots(self, pred, timeout=10.0):
        """Snapshots from a new stream until pred(snapshot) holds; (history, that snapshot)."""
        s = Stream(self.levee.admin_addr)
        try:
            name, hist = s.event()
            self.assertEqual(name, "history")
            deadline = time.monotonic() + timeout
            while True:
                _, snap = s.event()
                if pred(snap):
                    return hist, snap
                if time.monotonic() > deadline:
                    self.fail("no snapshot with the condition; last: %s" % snap)
        finally:
            s.close()

    def test_l2_and_replication_in_the_snapshot(self):
        stop = time.monotonic() + 6

        def busy(snap):
            traffic(self.levee, self.redis_a)  # while the snapshots come
            l2, rep = snap.get("l2"), snap.get("replication")
            return (time.monotonic() > stop or
                    l2 and sum(l2["lookups_per_s"].values()) > 0 and rep and rep["peers"]
                    and rep["peers"][0]["running"] and rep["peers"][0]["applied_per_s"] > 0)

        hist, snap = self.snapshots(busy, timeout=15)
        l2 = snap["l2"]
        self.assertEqual(l2["region"], "b")
        self.assertGreater(sum(l2["lookups_per_s"].values()), 0, snap)
        self.assertEqual((l2["workers"], l2["workers_up"]), (2, 2))
        self.assertTrue(l2["subscribed"])
        self.assertGreater(l2["events_published_per_s"], 0)  # levee's own fills
        rep = snap["replication"]
        self.assertTrue(rep["redis_up"])
        self.assertEqual([p["peer"] for p in rep["peers"]], ["a"])
        a = rep["peers"][0]
        self.assertTrue(a["running"], a)
        self.assertGreater(a["applied_per_s"], 0, a)
        self.assertGreaterEqual(a["lag_p99_ms"], a["lag_p50_ms"])
        self.assertGreaterEqual(a["lag_p50_ms"], 0)
        self.assertGreaterEqual(a["backlog"], 0)
        self.assertTrue(a["peer_up"] and a["local_up"])
        sys.stderr.write("\nreplication from a: %s\n" % a)

        doc = documented_fields("The snapshot")
        have = json_paths(snap)
        self.assertEqual(have - set(doc), set(), "snapshot fields missing from the docs")
        self.assertEqual(leaves(doc) - have - {"faults"}, set(),
                         "documented fields missing from a snapshot with everything on")
        hdoc = documented_fields("The history")
        hpaths = {p.replace("services.api", "services.<name>") for p in json_paths(hist)}
        self.assertEqual(hpaths - set(hdoc), set())
        self.assertEqual(leaves(hdoc) - hpaths, set())
        self.assertEqual(len(hist["l2"]["hit_ratio"]), hist["points"])

    def test_redis_down_skips_replication_figures(self):
        self.snapshots(lambda s: s["replication"]["redis_up"])
        mark = self.levee.log_mark()
        self.redis_b.stop()
        try:
            t0 = time.monotonic()
            _, snap = self.snapshots(lambda s: not s["replication"]["redis_up"])
            self.assertEqual(snap["replication"]["peers"], [])
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(self.levee.admin("/status").status, 200)
            self.levee.wait_log(r'msg="dashboard: replication state unreadable', start=mark)
            self.snapshots(lambda s: not s["replication"]["redis_up"])  # a few ticks more
            n = sum("replication state unreadable" in ln
                    for ln in self.levee.stderr_lines()[mark:])
            self.assertEqual(n, 1, "the outage is logged once")
        finally:
            self.redis_b.start()
        self.snapshots(lambda s: s["replication"]["redis_up"], timeout=15)
        self.levee.wait_log(r'msg="dashboard: replication state readable again"', start=mark)

    @unittest.skipIf(browser_missing(), browser_missing() or "")
    def test_sections_in_the_browser(self):
        done = threading.Event()

        def feed():
            while not done.is_set():
                traffic(self.levee, self.redis_a)
                time.sleep(0.1)

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        self.addCleanup(lambda: (done.set(), t.join(10)))
        shot = os.path.join(lt.tmpdir(), "dashboard-l2.png")
        admin = "http://%s:%d" % self.levee.admin_addr
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "dashboard_l2.mjs"), admin, "a",
                            shot], capture_output=True, text=True, timeout=90,
                           env=dict(os.environ, LV_CHROMIUM=CHROMIUM))
        self.assertEqual(p.returncode, 0, "dashboard_l2.mjs: %s\n%s" % (p.stdout,
                                                                       p.stderr[-3000:]))
        figures = json.loads(p.stdout.strip().splitlines()[-1])
        sys.stderr.write("\ndashboard L2 sections in the browser: %s\n" % figures)
        if os.environ.get("LV_UPDATE_DOCS"):
            shutil.copy(shot, os.path.join(lt.SOURCE_DIR, "docs", "dashboard-l2.png"))


if __name__ == "__main__":
    unittest.main()
