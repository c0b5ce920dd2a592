#!/usr/bin/env python3
"""tests/integration/test_contrib_monitoring.py: the monitoring files in contrib/ agree with a
running levee: contrib/grafana/levee.json is a valid dashboard with one row per concern
(traffic, guard, cache, replication) and contrib/prometheus/levee-rules.yml passes `promtool
check rules` (Debian's prometheus package; skipped without it); every metric family either
queries exists on the union of two /metrics: a levee with the cache and its second tier
(cache.l2, a real Redis), faults, routes and host checks on, and a `levee replicate` of its
region reading a peer region's Redis (its own --metrics: Prometheus scrapes both). Skips
without redis-server.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402
import replkit  # noqa: E402
from test_admin import parse_prometheus  # noqa: E402

GRAFANA = os.path.join(lt.SOURCE_DIR, "contrib", "grafana", "levee.json")
RULES = os.path.join(lt.SOURCE_DIR, "contrib", "prometheus", "levee-rules.yml")
METRIC = re.compile(r"\blevee_[a-z0-9_]+")


def families_in(exprs):
    """Metric family names an expression list uses (histogram suffixes folded)."""
    names = set()
    for e in exprs:
        for n in METRIC.findall(e):
            names.add(re.sub(r"_(bucket|sum|count)$", "", n))
    return names


@unittest.skipUnless(rediskit.have_redis(), "redis-server missing")
class Monitoring(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.redis_local = rediskit.RedisServer("redis-b")
        cls.redis_peer = rediskit.RedisServer("redis-a")
        cfg = {
            "workers": 1,
            "listen": ["127.0.0.1:0"],
            "admin": {"listen": "127.0.0.1:0", "token": "t"},
            "region": "b",
            "cache": {"size": "1MB", "l2": {"url": cls.redis_local.url()}},
            "services": [{"name": "api", "upstreams": [cls.backend.hostport],
                          "health_check": {"path": "/"}}],
            "routes": [{"path": "/play", "service": "api", "name": "play"},
                       {"path": "/", "service": "api"}],
        }
        cls.start_levee(lambda: lt.Levee.from_config(lt.to_yaml(cfg) + "\n", name="mon.yaml"),
                        backends=[cls.backend])
        assert lt.get(cls.levee.addr, "/x").status == 200  # per-request families get samples
        cls.repl = replkit.Replicator("b", cls.redis_local, {"a": cls.redis_peer})
        cls.served = (set(parse_prometheus(cls.levee.admin("/metrics").body.decode()))
                      | set(parse_prometheus(cls.repl.metrics())))

    @classmethod
    def tearDownClass(cls):
        cls.repl.stop()
        cls.stop_levee()
        cls.redis_local.stop()
        cls.redis_peer.stop()

    def test_grafana_dashboard_valid_and_its_metrics_exist(self):
        with open(GRAFANA, encoding="utf-8") as f:
            dash = json.load(f)
        self.assertEqual(dash["title"], "levee")
        rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
        self.assertEqual(rows, ["Traffic", "Guard", "Cache", "Replication"])
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertTrue(exprs)
        for p in dash["panels"]:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
        used = families_in(exprs + [v["query"]["query"] for v in dash["templating"]["list"]
                                    if isinstance(v.get("query"), dict)])
        self.assertEqual(used - self.served, set(),
                         "queried by contrib/grafana/levee.json, absent from /metrics")

    def test_alert_rules_check_and_their_metrics_exist(self):
        with open(RULES, encoding="utf-8") as f:
            text = f.read()
        for alert in ("LeveeSheddingSustained", "LeveeBreakerOpen", "LeveeGoodputBelowOffered",
                      "LeveeReplicationLag", "LeveeReplicationBacklogGrowing", "LeveeL2Down"):
            self.assertIn("alert: " + alert, text)
        exprs = re.findall(r"expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))", text)
        used = families_in(["".join(e) for e in exprs])
        self.assertEqual(used - self.served, set(),
                         "queried by contrib/prometheus/levee-rules.yml, absent from /metrics")
        self.assertTrue({"levee_replicate_lag_seconds", "levee_cache_l2_workers_up"} <= used)
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool missing (Debian package prometheus; scripts/deps.sh)")
        p = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS: 6 rules found", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
