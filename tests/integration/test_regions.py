#!/usr/bin/env python3
"""tests/integration/test_regions.py: scripts/regions.py, the two-region rehearsal, in a short
run with the test build: it exits 0 only when region b served every page region a served from
its second tier with its own origin untouched, a purge in a reached b, b's replicator caught up
after its Redis came back, and nothing failed; its figures and its HTML report (plots) are
checked, the report rendered in headless Chromium without a console message."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit  # noqa: E402
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402

SCRIPT = os.path.join(lt.SOURCE_DIR, "scripts", "regions.py")


@unittest.skipUnless(rediskit.have_redis(), "redis-server not installed")
class Regions(unittest.TestCase):
    def test_short_rehearsal(self):
        out = os.path.join(lt.tmpdir(), "regions.html")
        p = subprocess.run([sys.executable, SCRIPT, "--build", lt.BUILD_DIR, "--seconds", "4",
                            "--pages", "60", "--rate", "150", "--outage", "3", "--out", out],
                           capture_output=True, text=True, timeout=240, env=lt.asan_env())
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        fig = dict(re.findall(r"^regions: (.+?)\s{2,}(\S.*)$", p.stdout, re.M))
        served, answered = (int(x) for x in fig["pages region b fetched / answered 200"]
                            .split(" / "))
        self.assertGreater(served, 20)
        self.assertEqual(answered, served)
        self.assertEqual(int(fig["of them second-tier hits in b"]), served)
        self.assertEqual(int(fig["requests that reached b's origin for them"]), 0)
        self.assertIn('"l2_purged": 1', fig["purge in a: answer"])
        read, applied, stale, failed = (int(x) for x in fig[
            "events b's replicator read / applied / stale / failed"].split(" / "))
        self.assertGreaterEqual(applied, served)
        self.assertEqual(failed, 0)
        with open(out) as f:
            doc = f.read()
        self.assertEqual(doc.count("<svg"), 3)
        self.assertIn("polyline", doc)
        got = loadkit.chromium_render(out)
        if got is None:
            self.skipTest("chromium not installed")
        dom, console = got
        self.assertIn("Two regions", dom)
        self.assertEqual(console, [])


if __name__ == "__main__":
    lt.start_watchdog(300)
    unittest.main()
