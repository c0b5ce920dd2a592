#!/usr/bin/env python3
"""tests/integration/test_score_tls.py: `levee-load score` and `levee-load schedule` against
an https target.

levee listens with TLS (a certificate of a throw-away CA made with the openssl command) in
front of two levee-sim hosts; its admin listener stays plain http. A short score battery
(capacity given, no token: calm, 2x and 5x only) with --tls-ca completes with every phase, a
score in its JSON and goodput in each phase, and levee counted the handshakes. Bad usage
exits 2 before any load: a TLS option with an http target, a CA file that is missing or holds
no certificate, an https admin URL (the plain run refuses the same). A schedule line with
tls_ca= (relative to the schedule file) runs once into the history with goodput; tls_ca= with
an http target, a missing tls_ca= file or --tls-ca given as a flag make a bad file (exit 2).
Python 3 stdlib only."""
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit as lk  # noqa: E402
import lvtest as lt  # noqa: E402
from test_tls import HAVE_OPENSSL, Certs  # noqa: E402

SCENARIO = """\
label: sched-tls
duration_s: 1
capacity: 100
profile:
  - plateau: {rate: 20, for_s: 1}
users:
  patience_ms: 2000
"""


def handshakes_ok(lv):
    text = lv.admin("/metrics").body.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith('levee_tls_handshakes_total{result="ok"'))


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class ScoreAndScheduleOverTls(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(lk.SIM, os.X_OK) or not os.access(lk.LOAD, os.X_OK):
            raise unittest.SkipTest("levee-sim or levee-load not built")
        cls.tmp = tempfile.mkdtemp(prefix="lv-score-tls-")
        cls.certs = Certs()
        cls.cert, cls.key = cls.certs.leaf("score", ["localhost", "127.0.0.1"])
        # Two hosts of one worker x 20 ms each: 100 requests/s in all.
        cls.sims = [lk.Sim(1, 20, tempfile.mkdtemp(dir=cls.tmp)) for _ in range(2)]
        cls.lv = lt.Levee.quick(["127.0.0.1:%d" % s.port for s in cls.sims], workers=2,
                                extra_args=["--tls-cert", cls.cert, "--tls-key", cls.key])
        cls.port = cls.lv.addr[1]
        cls.target = "https://localhost:%d/" % cls.port
        cls.admin = "http://%s:%d" % cls.lv.admin_addr

    @classmethod
    def tearDownClass(cls):
        cls.lv.stop(check=True)
        for s in cls.sims:
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_short_score_over_tls(self):
        js = os.path.join(self.tmp, "score-tls.json")
        before = handshakes_ok(self.lv)
        p = lk.run_load(["score", "--target", self.target, "--admin", self.admin,
                         "--tls-ca", self.certs.ca[0], "--short", "--capacity", "50",
                         "--json", js, "--quiet"], timeout=120, env=lt.asan_env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(js) as f:
            res = json.load(f)
        self.assertEqual(res["target"], self.target)
        self.assertEqual([ph["name"] for ph in res["phases"]], ["calm", "peak-2x", "peak-5x"])
        self.assertGreaterEqual(res["score"], 0)
        self.assertLessEqual(res["score"], 100)
        self.assertIn("score %.0f / 100" % res["score"], p.stdout)
        good = 0
        for ph in res["phases"]:
            # Handshakes that failed would leave a phase without a single good answer.
            self.assertGreater(ph["good"], 0, ph)
            self.assertGreater(ph["goodput_per_s"], 0, ph)
            good += ph["good"]
        # A full handshake per user, and one good answer at most per user (a one-step
        # journey): levee completed at least as many handshakes as there were good answers.
        self.assertGreaterEqual(handshakes_ok(self.lv) - before, good)
        self.assertNotIn("tls_handshake_failed", p.stderr)

    def test_bad_tls_usage_exits_2(self):
        empty = os.path.join(self.tmp, "empty.pem")
        open(empty, "w").close()
        missing = os.path.join(self.tmp, "missing.pem")
        plain = "http://127.0.0.1:%d/" % self.sims[0].port
        ca = self.certs.ca[0]
        cases = [
            (["--target", plain, "--tls-ca", ca], "--tls-ca: only for an https target"),
            (["--target", plain, "--tls-insecure"], "--tls-insecure: only for an https target"),
            (["--target", self.target, "--tls-ca", missing],
             "--tls-ca %s: No such file" % missing),
            (["--target", self.target, "--tls-ca", empty],
             "--tls-ca %s: no PEM certificate" % empty),
        ]
        for args, msg in cases:
            p = lk.run_load(["score", "--admin", self.admin, "--short", "--capacity", "50",
                             "--quiet"] + args, env=lt.asan_env())
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn("levee-load score: " + msg, p.stderr)
            self.assertNotIn("[1]", p.stderr)  # no phase started
            # The plain run checks the same, the same way.
            p = lk.run_load(args + ["--rate", "10", "--duration", "1", "--quiet"],
                            env=lt.asan_env())
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn("levee-load: " + msg, p.stderr)
            self.assertNotIn("offered users", p.stdout)
        p = lk.run_load(["score", "--target", self.target, "--tls-ca", ca, "--admin",
                         "https://%s:%d" % self.lv.admin_addr, "--capacity", "50"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--admin: levee's admin listener speaks plain http", p.stderr)
        p = lk.run_load(["score", "--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("--tls-ca FILE", p.stdout)
        self.assertIn("--tls-insecure", p.stdout)

    def schedule_dir(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        with open(os.path.join(d, "sched.yaml"), "w") as f:
            f.write(SCENARIO)
        os.makedirs(os.path.join(d, "certs"))
        shutil.copy(self.certs.ca[0], os.path.join(d, "certs", "ca.pem"))
        return d

    def test_schedule_line_with_tls_runs_once(self):
        d = self.schedule_dir()
        path = os.path.join(d, "r.cron")
        with open(path, "w") as f:
            f.write("* * * * * region=tls target=%s scenario=sched.yaml history=h.db "
                    "tls_ca=certs/ca.pem\n" % self.target)
        env = {k: v for k, v in lt.asan_env().items() if k != "LEVEE_LOAD_HISTORY"}
        before = handshakes_ok(self.lv)
        # From another directory: tls_ca= is the schedule file's, not the cwd's.
        p = lk.run_load(["schedule", path, "--once"], env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r'msg="rehearsal ended" line=1 region=tls exit=0 ')
        rows = lk.history_runs(os.path.join(d, "h.db"))
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["target"], self.target)
        self.assertEqual(rows[0]["region"], "tls")
        self.assertGreater(rows[0]["goodput_per_s"], 0, rows[0])
        self.assertGreater(handshakes_ok(self.lv) - before, 0)

    def test_schedule_bad_tls_lines_exit_2(self):
        d = self.schedule_dir()
        path = os.path.join(d, "bad.cron")
        plain = "http://127.0.0.1:%d/" % self.sims[0].port
        with open(path, "w") as f:
            f.write("0 10 * * * region=a target=%s scenario=sched.yaml history=h.db "
                    "tls_ca=certs/ca.pem\n"
                    "0 10 * * * region=a target=%s scenario=sched.yaml history=h.db "
                    "tls_ca=nope.pem\n"
                    "0 10 * * * region=a target=%s scenario=sched.yaml history=h.db "
                    "--tls-ca certs/ca.pem\n" % (plain, self.target, self.target))
        p = lk.run_load(["schedule", path, "--dry-run"])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertRegex(p.stderr, re.escape(path) + r":1:\d+: tls_ca=: only for an https "
                         r"target \(target=http://")
        self.assertRegex(p.stderr, re.escape(path) + r":2:\d+: tls_ca=.*nope.pem: No such file")
        self.assertRegex(p.stderr, re.escape(path) + r":3:\d+: --tls-ca: give it as tls_ca=")
        self.assertFalse(os.path.exists(os.path.join(d, "h.db")))
        p = lk.run_load(["schedule", "--help"])
        self.assertIn("tls_ca=FILE", p.stdout)


if __name__ == "__main__":
    lt.main()
