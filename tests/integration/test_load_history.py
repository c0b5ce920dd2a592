#!/usr/bin/env python3
"""tests/integration/test_load_history.py: levee-load's SQLite history, end to end.

Three real runs against levee-sim (1 worker x 10 ms = 100 requests/s) recorded with --history
(and LEVEE_LOAD_HISTORY): the rows hold the figures of each run's JSON summary, and
`levee-load history` lists them. Regressions exit 3: a newest goodput share below
--min-goodput-share (measured runs), a newest score more than --max-score-drop below the
median (score runs written through the history's C API by tests/fixtures/load_history_seed.c,
since no command measures scores yet). The --html page renders in headless Chromium with one
chart per series and no console message. Python 3 stdlib only (sqlite3 to read the file)."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit  # noqa: E402

SEED = os.path.join(loadkit.BUILD, "load-history-seed")

# Score runs for the regression test: a steady kickoff in eu-west, then a worse one.
SCORES = """\
kickoff eu-west 2026-11-02T10:00:00Z 82 100 api/goodput=40/50 api/latency=20/25 web/goodput=22/25
kickoff eu-west 2026-11-04T10:00:00Z 80 100 api/goodput=38/50 api/latency=21/25 web/goodput=21/25
kickoff eu-west 2026-11-06T10:00:00Z 84 100 api/goodput=41/50 api/latency=20/25 web/goodput=23/25
kickoff eu-west 2026-11-09T10:00:00Z 70 100 api/goodput=30/50 api/latency=18/25 web/goodput=22/25
kickoff us-east 2026-11-09T10:00:00Z 77 100 api/goodput=36/50 api/latency=20/25 web/goodput=21/25
"""


def history(args, env=None):
    return loadkit.run_load(["history"] + args, env=env)


def trend_rows(out):
    """The trend lines of `levee-load history`: (scenario, region, series) -> the rest."""
    rows = {}
    body = out.split("trends (", 1)[1].splitlines()[2:] if "trends (" in out else []
    for line in body:
        m = re.match(r"  (\S+)\s+(\S+)\s+(score: \S+|score|goodput share|p99 ms)\s+(.*)$", line)
        if m:
            rows[(m.group(1), m.group(2), m.group(3))] = m.group(4)
    return rows


class LoadHistoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lv-load-history-")
        cls.db = os.path.join(cls.tmp, "h.db")
        cls.sim = loadkit.Sim(1, 10, cls.tmp)
        cls.runs = []
        # Three rehearsals: two labelled eu-west (--history), one without a region (env).
        for i, rate in enumerate((40, 80, 300)):
            js = os.path.join(cls.tmp, "r%d.json" % i)
            args = ["--target", cls.sim.url, "--rate", str(rate), "--duration", "2",
                    "--capacity", "100", "--label", "smoke", "--quiet", "--json", js]
            env = None
            if i < 2:
                args += ["--history", cls.db, "--region", "eu-west"]
            else:
                env = dict(os.environ, LEVEE_LOAD_HISTORY=cls.db)
            p = loadkit.run_load(args, env=env)
            if p.returncode != 0:
                raise AssertionError(p.stderr + p.stdout)
            with open(js) as f:
                cls.runs.append(json.load(f))
            cls.stdout_last = p.stdout

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_runs_recorded_with_their_json_figures(self):
        self.assertIn("history: " + self.db, self.stdout_last)
        rows = loadkit.history_runs(self.db)
        self.assertEqual(len(rows), 3)
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 1)
        con.close()
        for row, j, region in zip(rows, self.runs, ("eu-west", "eu-west", "")):
            self.assertEqual(row["kind"], "rehearsal")
            self.assertEqual(row["scenario"], "smoke")
            self.assertEqual(row["region"], region)
            self.assertEqual(row["target"], self.sim.url)
            self.assertRegex(row["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            self.assertAlmostEqual(row["duration_s"], j["duration_s"], places=4)
            self.assertAlmostEqual(row["run_s"], j["run_s"], places=4)
            self.assertAlmostEqual(row["offered_per_s"], j["offered_users_per_s"], delta=1e-3)
            self.assertAlmostEqual(row["goodput_per_s"], j["goodput_per_s"], delta=1e-3)
            self.assertAlmostEqual(row["goodput_share"], j["goodput_per_s"] / 100, delta=1e-5)
            self.assertAlmostEqual(row["user_success"], j["user_success_rate"], delta=1e-5)
            self.assertAlmostEqual(row["p99_ms"], j["latency_ms"]["p99"], delta=1e-3)
            self.assertEqual(row["errors"], sum(j["errors"].values()))
            self.assertIsNone(row["score"])
        # The overloaded run timed users out: errors are really counted.
        self.assertGreater(rows[2]["errors"], 0)
        # Listed oldest first, with the same figures.
        p = history(["--db", self.db])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [ln for ln in p.stdout.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", ln)]
        self.assertEqual(len(lines), 3, p.stdout)
        for line, j in zip(lines, self.runs):
            cols = line.split()
            self.assertEqual(cols[1:3], ["rehearsal", "smoke"])
            self.assertAlmostEqual(float(cols[5]), j["goodput_per_s"], delta=0.051)
            self.assertAlmostEqual(float(cols[6]), j["goodput_per_s"], delta=0.051)  # share, %
            self.assertAlmostEqual(float(cols[8]), j["latency_ms"]["p99"], delta=0.0051)
        self.assertEqual(lines[2].split()[3], "-")  # no region
        # Filters: the region, and the newest run only.
        p = history(["--db", self.db, "--region", "eu-west"])
        self.assertEqual(len([ln for ln in p.stdout.splitlines() if " smoke " in ln
                              and ln[:4].isdigit()]), 2)
        p = history(["--db", self.db, "--last", "1"])
        lines = [ln for ln in p.stdout.splitlines() if ln[:4].isdigit()]
        self.assertEqual(len(lines), 1)
        self.assertIn(" - ", lines[0])
        # Trends per scenario + region: eu-west's newest against its previous run.
        t = trend_rows(history(["--db", self.db]).stdout)
        share = t[("smoke", "eu-west", "goodput share")]
        self.assertIn("median of 1", share)
        self.assertAlmostEqual(float(share.split()[0]), self.runs[1]["goodput_per_s"],
                               delta=0.051)
        self.assertIn("first run", t[("smoke", "-", "goodput share")])

    def test_goodput_share_below_minimum_exits_3(self):
        newest = self.runs[2]["goodput_per_s"] / 100  # the run without a region
        p = history(["--db", self.db, "--region", "", "--min-goodput-share",
                     "%.4f" % (newest + 0.05)])
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"regression: smoke \[no region\]: goodput share [0-9.]+ % "
                                   r"is below the minimum")
        p = history(["--db", self.db, "--region", "", "--min-goodput-share",
                     "%.4f" % max(newest - 0.05, 0)])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")

    def test_score_drop_exits_3(self):
        if not os.access(SEED, os.X_OK):
            self.fail("load-history-seed not built in %s" % loadkit.BUILD)
        db = os.path.join(self.tmp, "scores.db")
        s = subprocess.run([SEED, db], input=SCORES, capture_output=True, text=True, timeout=30)
        self.assertEqual(s.returncode, 0, s.stderr)
        self.assertEqual(len(s.stdout.split()), 5)
        # eu-west: 70 against the median 82 of 82, 80, 84: 14.6 % down; api 48 vs 60: 20 %.
        p = history(["--db", db, "--max-score-drop", "10"])
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("regression: kickoff [eu-west]: score 70.0 is 14.6 % below the median "
                      "82.0 of the 3 previous runs", p.stderr)
        self.assertIn("kickoff [eu-west] service api: score 48.0 is 20.0 %", p.stderr)
        self.assertNotIn("web", p.stderr)
        self.assertNotIn("us-east", p.stderr)  # one run: nothing to compare with
        self.assertEqual(p.stderr.count("regression:"), 2)
        t = trend_rows(p.stdout)
        self.assertIn("vs 82.0 (median of 3)", t[("kickoff", "eu-west", "score")])
        p = history(["--db", db, "--max-score-drop", "25"])  # both drops allowed
        self.assertEqual(p.returncode, 0, p.stderr)
        p = history(["--db", db, "--max-score-drop", "15"])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.count("regression:"), 1)  # api only
        # A better newest run ends the regression.
        s = subprocess.run([SEED, db], input="kickoff eu-west 2026-11-11T10:00:00Z 83 100 "
                           "api/goodput=41/50 api/latency=20/25 web/goodput=22/25\n",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(s.returncode, 0, s.stderr)
        p = history(["--db", db, "--max-score-drop", "10"])
        self.assertEqual(p.returncode, 0, p.stderr)
        # The parts are stored one row each.
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT COUNT(*) FROM parts").fetchone()[0], 6 * 3)
        con.close()

    def test_usage_errors(self):
        env = {k: v for k, v in os.environ.items() if k != "LEVEE_LOAD_HISTORY"}
        self.assertEqual(history([], env=env).returncode, 2)  # no --db, no env
        self.assertEqual(history(["--db", self.db, "--bogus", "1"]).returncode, 2)
        self.assertEqual(history(["--db", self.db, "--last", "0"]).returncode, 2)
        p = history(["--db", os.path.join(self.tmp, "missing.db")])
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "missing.db")))
        p = history(["--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("3 a regression", p.stdout)
        # A history that cannot be opened stops the run before it starts.
        p = loadkit.run_load(["--target", self.sim.url, "--rate", "10", "--duration", "1",
                              "--history", os.path.join(self.tmp, "no", "such", "dir.db")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("--history", p.stderr)
        self.assertNotIn("offered users", p.stdout)

    def test_html_page_in_chromium(self):
        db = os.path.join(self.tmp, "page.db")
        shutil.copy(self.db, db)
        s = subprocess.run([SEED, db], input=SCORES, capture_output=True, text=True, timeout=30)
        self.assertEqual(s.returncode, 0, s.stderr)
        page = os.path.join(self.tmp, "history.html")
        p = history(["--db", db, "--html", page, "--max-score-drop", "10"])
        self.assertEqual(p.returncode, 3, p.stderr)
        series = trend_rows(p.stdout)
        # smoke/eu-west: share, p99; smoke/-: share, p99; kickoff x 2 regions: score, api, web.
        self.assertEqual(len(series), 10, p.stdout)
        with open(page) as f:
            doc = f.read()
        self.assertNotIn("<script", doc)
        self.assertNotRegex(doc, r"(src|href)=\"(https?:)?//")
        charts = loadkit.figures(doc, "trend")
        self.assertEqual(len(charts), len(series))
        titles = [re.search(r'class="title">([^<]*)<', c).group(1) for c in charts]
        self.assertIn("kickoff, eu-west: score: api", titles)
        self.assertIn("smoke, no region: goodput share", titles)
        for c in charts:
            self.assertIn("started (UTC)", c)  # labelled axes
            self.assertRegex(c, r'text-anchor="middle" transform="rotate\(-90')
        # The regressions are marked in the trends table.
        self.assertEqual(doc.count('<tr class="regression">'), 2)
        self.assertIn("2 regressions.", doc)
        got = loadkit.chromium_render(page)
        if got is None:
            self.skipTest("chromium not installed (apt-get install -y chromium)")
        dom, console = got
        self.assertEqual(dom.count("<svg"), len(series))
        self.assertEqual(console, [])
        self.assertIn("kickoff, eu-west: score: api", dom)
        # The console check itself sees a page's errors.
        bad = os.path.join(self.tmp, "bad.html")
        with open(bad, "w") as f:
            f.write("<!DOCTYPE html><html><body><script>console.error('x')</script></body></html>")
        self.assertNotEqual(loadkit.chromium_render(bad)[1], [])


if __name__ == "__main__":
    if not os.access(loadkit.LOAD, os.X_OK) or not os.access(loadkit.SIM, os.X_OK):
        print("levee-load or levee-sim not built in %s" % loadkit.BUILD, file=sys.stderr)
        sys.exit(1)
    unittest.main()
