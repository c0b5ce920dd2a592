"""tests/integration/test_metrics_doc.py: docs/metrics.md lists every family that a running
levee (quick mode, cache on with a second tier in a real Redis) serves on /metrics: name, type, labels and help, in the order
served. The file is written from the scrape, so it cannot drift: LV_UPDATE_DOCS=1 rewrites it.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402
from test_admin import parse_prometheus  # noqa: E402

DOC = os.path.join(lt.SOURCE_DIR, "docs", "metrics.md")
HELP_LINE = re.compile(r"^# HELP (\S+) (.*)$", re.M)
# Labels whose values depend on the config, the build or the traffic: named, values not listed.
FREE_LABELS = {("*", "service"), ("*", "le"), ("*", "version"), ("*", "host"),
               ("levee_requests_total", "method"), ("levee_requests_total", "code")}

HEAD = """\
# Metrics

`GET /metrics` on the admin listener (`admin.listen`, default `127.0.0.1:9901`) serves these
families in the Prometheus text format (version 0.0.4). Per-service families have one series
per configured service (label `service`), zeros included, so `rate()` works from the first
scrape; the `levee_cache_*` families appear only when the cache is on (`cache.size`), the
`levee_cache_l2_*` ones only with a second tier (`cache.l2.url`).
The `levee_upstream_host_*` families have one series per configured upstream host (label
`host`, as written in `services[].upstreams`).
Counters are summed over the worker threads; gauges say how they combine in their help.

Generated from a running levee by `tests/integration/test_metrics_doc.py` (run it with
`LV_UPDATE_DOCS=1` to rewrite this file); do not edit by hand.

| family | type | labels (values) | meaning |
|---|---|---|---|
"""


# What each value of levee_guard_decisions_total means (the test checks that the scrape's
# values and these rows are the same set).
DECISIONS = [
    ("admitted", "took a concurrency slot at once"),
    ("queued", "waited in the guard's queue (then served, or one of the three `dropped_*`)"),
    ("dropped_wait", "left the queue after waiting longer than allowed (CoDel); answered 503"),
    ("dropped_deadline", "left the queue when its deadline passed; answered 503"),
    ("dropped_client_gone", "its client closed while it waited; it never reached the backend"),
    ("shed", "refused at once: queue full, or sheddable while the queue stands; 503"),
    ("storm_blocked", "the same client (`guard.client_id` header or cookie, else the id in "
                      "its `lv_retry` cookie; never an address) repeating the same request "
                      "under pressure, when it would have to wait for a slot; 429"),
    ("premature_blocked", "carried the `lv_retry` cookie of its own refusal back before that "
                          "refusal's `Retry-After`, under pressure, when it would have to wait "
                          "for a slot; 429"),
    ("orphaned", "its client closed (FIN or reset) while the backend worked on it; the slot "
                 "stays taken until the backend answers"),
    ("joined", "a GET that took over the answer of the same client's abandoned identical "
               "request (an F5 press): no second slot, no second piece of work"),
    ("join_resent", "joined, but the answer was meant for one person (`Set-Cookie`, "
                    "`Cache-Control: private` or `no-store`): sent to the backend on its own"),
    ("breaker_rejected", "the circuit breaker was open: failed fast (stale copy, fallback or "
                         "503)"),
    ("fallback", "the flag was off (or auto under pressure): the fallback was sent"),
    ("retry_denied", "a retry of levee's own to another host that the retry budget refused"),
]


def decisions_table():
    return ("\n## Guard decisions\n\n| `decision` | meaning |\n|---|---|\n" +
            "".join("| `%s` | %s |\n" % d for d in DECISIONS))


def render(text):
    """The Markdown page for one /metrics scrape."""
    fams = parse_prometheus(text)
    helps = dict(HELP_LINE.findall(text))
    rows = []
    for name, fam in fams.items():
        labels = {}  # label -> its values in order of appearance
        for _, sample_labels, _ in fam["samples"]:
            for label, value in sample_labels.items():
                values = labels.setdefault(label, [])
                if value not in values:
                    values.append(value)
        cell = ", ".join("`%s`" % label if {("*", label), (name, label)} & FREE_LABELS else
                         "`%s` (%s)" % (label, " ".join(labels[label]))
                         for label in labels) or "—"
        rows.append("| `%s` | %s | %s | %s |\n" % (name, fam["type"], cell,
                                                  helps.get(name, "").replace("|", "\\|")))
    return HEAD + "".join(rows) + decisions_table()


class MetricsDoc(lt.LvTestCase):
    @unittest.skipUnless(rediskit.have_redis(), "redis-server not installed (scripts/deps.sh)")
    def test_docs_metrics_md_lists_every_family(self):
        sim = lt.LeveeSim()
        self.addCleanup(sim.stop)
        redis = rediskit.RedisServer("redis-doc")
        self.addCleanup(redis.stop)
        lv = lt.Levee.quick([sim.hostport], extra_args=["--cache", "1MB", "--l2", redis.url()])
        self.addCleanup(lv.stop)
        # One request through, so that per-request families have their label sets.
        self.assertEqual(lt.get(lv.addr, "/doc").status, 200)
        r = lv.admin("/metrics")
        self.assertEqual(r.status, 200)
        want = render(r.body.decode())
        self.assertIn("levee_guard_decisions_total", want)
        self.assertIn("levee_cache_requests_total", want)
        self.assertIn("levee_cache_l2_lookups_total", want)
        scraped = {lab["decision"] for _, lab, _ in
                   parse_prometheus(r.body.decode())["levee_guard_decisions_total"]["samples"]}
        self.assertEqual(scraped, {d for d, _ in DECISIONS},
                         "the decisions table below the families is out of date")
        have = None
        if os.path.exists(DOC):
            with open(DOC, encoding="utf-8") as f:
                have = f.read()
        if have != want and os.environ.get("LV_UPDATE_DOCS"):
            with open(DOC, "w", encoding="utf-8") as f:
                f.write(want)
            have = want
        self.assertEqual(have, want, "docs/metrics.md is stale: run this test with "
                         "LV_UPDATE_DOCS=1 to rewrite it")


if __name__ == "__main__":
    unittest.main()
