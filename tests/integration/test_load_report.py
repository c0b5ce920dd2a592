#!/usr/bin/env python3
"""tests/integration/test_load_report.py: levee-load's report gives the JSON's figures.

A run that needs a drain (300 users/s for 3 s against a levee-sim of 1 worker x 10 ms =
100 requests/s): the HTML table (parsed), the stdout summary and the JSON summary give the
same rates (over the run, drain included; offered users over the arrival window), and no
rate of goodput exceeds the backend's capacity. The single-run goodput-vs-offered chart draws
points, not a line; the latency charts of one page share one axis. Python 3 stdlib only."""
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit  # noqa: E402


def column(row, prefix):
    """The value of the column whose header starts with prefix."""
    for k, v in row.items():
        if k.startswith(prefix):
            return loadkit.num(v)
    raise AssertionError("no column %r in %s" % (prefix, list(row)))


def stdout_figures(out):
    """The rates of levee-load's end summary."""
    def rate(name):
        m = re.search(r"^  %s\s+\d+ \(([0-9.]+)/s\)" % name, out, re.M)
        assert m, "no %r line in: %s" % (name, out)
        return float(m.group(1))

    m = re.search(r"user success\s+([0-9.]+) %", out)
    lat = re.search(r"p50 ([0-9.]+) ms\s+p90 [0-9.]+\s+p99 ([0-9.]+)\s+p99.9 [0-9.]+\s+max "
                    r"([0-9.]+)", out)
    run = re.search(r"arrivals for ([0-9.]+) s, run ([0-9.]+) s", out)
    assert m and lat and run, out
    return {"offered": rate("offered users"), "requests": rate("requests"),
            "goodput": rate("goodput"), "success": float(m.group(1)),
            "p50": float(lat.group(1)), "p99": float(lat.group(2)), "max": float(lat.group(3)),
            "run_s": float(run.group(2))}


class LoadReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lv-load-report-")
        self.sim = loadkit.Sim(1, 10, self.tmp)

    def tearDown(self):
        self.sim.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def run_to_files(self, name, args):
        js, page = self.out(name + ".json"), self.out(name + ".html")
        p = loadkit.run_load(["--target", self.sim.url, "--capacity", "100", "--label", name,
                              "--quiet", "--json", js, "--html", page] + args)
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        with open(js) as f:
            j = json.load(f)
        with open(page) as f:
            doc = f.read()
        return j, doc, p.stdout

    def test_drain_run_html_stdout_json_agree(self):
        j, doc, out = self.run_to_files("drain", ["--rate", "300", "--duration", "3"])
        # The run needed a drain: its rates over the run differ from those over the window.
        self.assertGreater(j["run_s"], j["duration_s"], j)
        rows = loadkit.table_dicts(loadkit.html_tables(doc)[0])
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        so = stdout_figures(out)
        self.assertAlmostEqual(so["run_s"], j["run_s"], delta=0.051)
        pairs = [("offered", "offered users/s", j["offered_users_per_s"]),
                 ("requests", "requests/s", j["requests_per_s"]),
                 ("goodput", "goodput/s", j["goodput_per_s"]),
                 ("success", "user success", j["user_success_rate"] * 100),
                 ("p50", "p50", j["latency_ms"]["p50"]),
                 ("p99", "p99", j["latency_ms"]["p99"]),
                 ("max", "max", j["latency_ms"]["max"])]
        for key, head, want in pairs:
            self.assertAlmostEqual(column(row, head), want, delta=0.051,
                                   msg="HTML %s vs JSON" % head)
            self.assertAlmostEqual(so[key], want, delta=0.051, msg="stdout %s vs JSON" % key)
        self.assertAlmostEqual(column(row, "retries/s"), j["retries_per_s"], delta=0.051)
        self.assertAlmostEqual(column(row, "run"), j["run_s"], delta=0.051)
        # One worker x 10 ms cannot serve more than 100 answers a second, on any figure.
        self.assertLessEqual(j["goodput_per_s"], 100 * 1.05)
        self.assertLessEqual(column(row, "goodput/s"), 100 * 1.05)
        # Every request levee-load counted reached the backend.
        self.assertEqual(self.sim.stats()["received"], j["requests"])
        # The table says what each rate divides by.
        caption = re.search(r"<table><caption>(.*?)</caption>", doc, re.S)
        self.assertIsNotNone(caption)
        self.assertIn("goodput/s: per second of the run, drain included", caption.group(1))
        self.assertIn("Offered users/s: per second of the arrival window", caption.group(1))
        # The single run's goodput against offered load: points only, no line through time.
        go = loadkit.figures(doc, "goodput-offered")
        self.assertEqual(len(go), 1)
        self.assertNotIn("<polyline", go[0])
        self.assertGreater(go[0].count("<circle"), 3)
        # ... and `levee-load report` over the JSON gives the same table.
        rep = self.out("rep.html")
        p = loadkit.run_load(["report", "--out", rep, self.out("drain.json")])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(rep) as f:
            rrow = loadkit.table_dicts(loadkit.html_tables(f.read())[0])[0]
        for _, head, _ in pairs:
            self.assertAlmostEqual(column(rrow, head), column(row, head), delta=0.051, msg=head)

    def test_latency_charts_share_one_axis(self):
        # The fast run first: the slow one leaves a backlog in levee-sim's queue.
        fast, _, _ = self.run_to_files("fast", ["--rate", "20", "--duration", "2"])
        slow, _, _ = self.run_to_files("slow", ["--rate", "300", "--duration", "2"])
        # The runs' latencies are far apart, so separate axes would differ.
        self.assertGreater(slow["latency_ms"]["max"], 10 * fast["latency_ms"]["max"])
        rep = self.out("both.html")
        p = loadkit.run_load(["report", "--out", rep, self.out("slow.json"),
                              self.out("fast.json")])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(rep) as f:
            lat = loadkit.figures(f.read(), "latency")
        self.assertEqual(len(lat), 2)
        tops = [max(loadkit.y_ticks(svg)) for svg in lat]
        self.assertEqual(tops[0], tops[1])
        self.assertGreaterEqual(tops[0], slow["latency_ms"]["max"])


if __name__ == "__main__":
    if not os.access(loadkit.LOAD, os.X_OK) or not os.access(loadkit.SIM, os.X_OK):
        print("levee-load or levee-sim not built in %s" % loadkit.BUILD, file=sys.stderr)
        sys.exit(1)
    unittest.main()
