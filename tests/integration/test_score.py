#!/usr/bin/env python3
"""tests/integration/test_score.py: `levee-load score --short` against a real levee in front of
two levee-sim hosts (capacity given, 100 requests/s in all, so the battery is light on CI).

The same service scores higher with a breaker, a fallback, stale serving, a criticality and a
deadline than without them: the configuration part and the users-under-faults part both go
up, and the total by at least 10 points. The JSON has every part (points within 0..max, a
figure), every phase with per-second goodput; the HTML page has the score, the parts and one
SVG per phase, and Chromium draws it. Without the admin token the fault phases are left out
and said to be. Bad usage exits 2.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit  # noqa: E402
import lvtest as lt  # noqa: E402

TOKEN = "score-token"


def load_bin():
    return os.path.join(lt.BUILD_DIR, "levee-load")


def config(sims, protected):
    svc = {"name": "app", "upstreams": [s.hostport for s in sims]}
    extra = {"admin": {"listen": "127.0.0.1:0", "token": TOKEN}}
    routes = [{"path": "/", "service": "app"}]
    if protected:
        routes.insert(0, {"path": "/recs", "service": "app", "criticality": "sheddable"})
        svc.update({"deadline_ms": 3000,
                    "breaker": {"window_ms": 2000, "min_requests": 10, "error_percent": 30,
                                "cooldown_ms": 1000},
                    "fallback": {"body": "back soon\n"},
                    "cache": {"serve_stale_ms": 60000}})
        extra["cache"] = {"size": "4m"}
    else:
        svc["breaker"] = {"error_percent": 100}
    return lt.make_config([svc], routes=routes, workers=2, extra=extra)


def run_score(lv, out_dir, name, token=TOKEN, db="history.db", timeout=300):
    js = os.path.join(out_dir, name + ".json")
    html = os.path.join(out_dir, name + ".html")
    cmd = [load_bin(), "score", "--target", "http://%s:%d/" % lv.addr,
           "--admin", "http://%s:%d" % lv.admin_addr, "--short", "--capacity", "100",
           "--json", js, "--html", html, "--quiet", "--region", "test-region",
           "--history", os.path.join(out_dir, db)]
    if token:
        cmd += ["--token", token]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p, js, html


class Score(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        # Two hosts of one worker x 20 ms each: 100 requests/s in all.
        cls.sims = [lt.LeveeSim(["--workers", "1", "--service-ms", "20", "--dist", "exp"])
                    for _ in range(2)]
        cls.out = tempfile.mkdtemp(prefix="lv-score-")

    @classmethod
    def tearDownClass(cls):
        for s in cls.sims:
            s.stop()
        shutil.rmtree(cls.out, ignore_errors=True)

    def battery(self, protected, name, token=TOKEN, db="history.db"):
        lv = lt.Levee.from_config(config(self.sims, protected), name=name + ".yaml")
        try:
            p, js, html = run_score(lv, self.out, name, token, db)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        finally:
            lv.stop(check=True)
        with open(js) as f:
            return json.load(f), p.stdout, html

    def check_result(self, res):
        names = [p["name"] for p in res["parts"]]
        self.assertEqual(names, ["goodput at 2x", "goodput at 5x", "p99 at the peaks",
                                 "stall recovery", "users under faults", "added latency",
                                 "capacity drop", "configuration"])
        for p in res["parts"]:
            self.assertGreaterEqual(p["points"], 0, p)
            self.assertLessEqual(p["points"], p["max"] + 1e-9, p)
            self.assertTrue(p["figure"], p)
        got = sum(p["points"] for p in res["parts"])
        most = sum(p["max"] for p in res["parts"])
        self.assertAlmostEqual(res["score"], 100 * got / most, delta=0.01)
        phases = [ph["name"] for ph in res["phases"]]
        self.assertEqual(phases, ["calm", "peak-2x", "peak-5x", "latency", "capacity-drop",
                                  "stall", "error-burst"])
        for ph in res["phases"]:
            self.assertGreater(len(ph["goodput_by_second"]), 0, ph)

    def test_protection_scores_higher(self):
        prot, out_prot, html = self.battery(True, "protected")
        bare, out_bare, _ = self.battery(False, "bare")
        self.check_result(bare)
        self.check_result(prot)
        part = lambda res, n: next(p for p in res["parts"] if p["name"] == n)  # noqa: E731
        self.assertEqual(part(prot, "configuration")["points"], 20, part(prot, "configuration"))
        self.assertLess(part(bare, "configuration")["points"], 5, part(bare, "configuration"))
        self.assertGreater(part(prot, "users under faults")["points"],
                           part(bare, "users under faults")["points"],
                           (part(prot, "users under faults"), part(bare, "users under faults")))
        self.assertGreaterEqual(prot["score"], bare["score"] + 10,
                                "protected %.1f vs bare %.1f\n%s\n%s"
                                % (prot["score"], bare["score"], out_prot, out_bare))
        self.assertIn("score %.0f / 100" % prot["score"], out_prot)
        with open(html) as f:
            page = f.read()
        self.assertIn(">%.0f / 100<" % prot["score"], page)
        self.assertEqual(page.count("<svg"), len(prot["phases"]))
        self.check_chromium(html, len(prot["phases"]))
        # Both are in the history, and the newer (bare) one is a regression of the score.
        db = os.path.join(self.out, "history.db")
        p = subprocess.run([load_bin(), "history", "--db", db, "--region", "test-region"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        runs = [line for line in p.stdout.split("\n")[1:]
                if line[:4].isdigit() and " score " in line]
        self.assertEqual(len(runs), 2, p.stdout)
        self.assertTrue(all("score-short" in line and "test-region" in line for line in runs),
                        runs)
        p = subprocess.run([load_bin(), "history", "--db", db, "--max-score-drop", "5"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)

    def test_without_token_the_fault_phases_are_left_out(self):
        res, out, _ = self.battery(False, "notoken", token=None, db="notoken.db")
        self.assertEqual([ph["name"] for ph in res["phases"]], ["calm", "peak-2x", "peak-5x"])
        for p in res["parts"]:
            if p["name"] in ("stall recovery", "users under faults", "added latency",
                             "capacity drop"):
                self.assertEqual(p["max"], 0, p)
        self.assertIn("n/a", out)

    def test_bad_usage(self):
        p = subprocess.run([load_bin(), "score", "--target", "http://127.0.0.1:1/"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = subprocess.run([load_bin(), "score", "--target", "ftp://x", "--admin",
                            "http://127.0.0.1:1"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = subprocess.run([load_bin(), "score", "--target", "http://127.0.0.1:1/", "--admin",
                            "http://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("admin", p.stderr)

    def check_chromium(self, html, n_svg):
        got = loadkit.chromium_render(html)
        if got is None:
            print("skip: chromium check (install chromium to run it)", file=sys.stderr)
            return
        dom, console = got
        self.assertEqual(dom.count("<svg"), n_svg, dom[-2000:])
        self.assertIn('id="parts"', dom)
        self.assertIn("<polyline", dom)
        self.assertEqual(console, [])


if __name__ == "__main__":
    lt.main()
