#!/usr/bin/env python3
"""tests/integration/test_load_schedule.py: `levee-load schedule` with real processes.

`schedule FILE --once` with `* * * * *` lines runs short rehearsals against levee-sim as child
levee-load processes, one after the other, and the history then holds them; a line not due
runs nothing; a bad file exits 2 with FILE:LINE:COL; --dry-run prints due times; the daemon
runs a line at the next minute and stops on SIGTERM; contrib/rehearsals.cron is due when
contrib/systemd/levee-rehearsal.timer fires, and systemd-analyze verify accepts the units
(skipped without systemd-analyze). Python 3 stdlib only."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit  # noqa: E402

SCENARIO = """\
label: sched
duration_s: 1
capacity: 100
profile:
  - plateau: {rate: 20, for_s: 1}
users:
  patience_ms: 2000
"""


def schedule(args, env=None, timeout=120):
    return loadkit.run_load(["schedule"] + args, env=env, timeout=timeout)


def clean_env():
    return {k: v for k, v in os.environ.items() if k != "LEVEE_LOAD_HISTORY"}


class LoadScheduleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lv-load-schedule-")
        cls.sim = loadkit.Sim(4, 1, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        with open(os.path.join(self.dir, "sched.yaml"), "w") as f:
            f.write(SCENARIO)

    def write(self, text, name="r.cron"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def runs(self):
        return loadkit.history_runs(os.path.join(self.dir, "h.db"))

    def test_once_runs_due_lines_in_turn_into_the_history(self):
        # Relative scenario= and history= are taken from the file's directory, not the cwd.
        path = self.write("# two regions, due every minute\n"
                          "* * * * *  region=eu-west target=%s scenario=sched.yaml history=h.db\n"
                          "* * * * *  region=us-east target=%s scenario=sched.yaml history=h.db "
                          "--rate 30\n" % (self.sim.url, self.sim.url))
        p = schedule([path, "--once"], env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        rows = self.runs()
        self.assertEqual([r["region"] for r in rows], ["eu-west", "us-east"])
        for r, rate in zip(rows, (20, 30)):
            self.assertEqual(r["kind"], "rehearsal")
            self.assertEqual(r["scenario"], "sched")
            self.assertEqual(r["target"], self.sim.url)
            self.assertAlmostEqual(r["offered_per_s"], rate, delta=rate * 0.5)
            self.assertAlmostEqual(r["goodput_share"], r["goodput_per_s"] / 100, delta=1e-6)
        # The levee-sim received the requests of both runs.
        self.assertGreater(self.sim.stats()["received"], 0)
        # One line per start and end, never two rehearsals at once.
        events = re.findall(r'msg="rehearsal (started|ended)" line=(\d+)', p.stderr)
        self.assertEqual(events, [("started", "2"), ("ended", "2"), ("started", "3"),
                                  ("ended", "3")], p.stderr)
        self.assertEqual(len(re.findall(r"rehearsal ended.* exit=0 ", p.stderr)), 2, p.stderr)
        pids = re.findall(r"rehearsal started.* pid=(\d+)", p.stderr)
        self.assertEqual(len(set(pids)), 2)
        self.assertIn("region=us-east", p.stderr)
        # Each child printed its summary, recorded where history= said.
        self.assertEqual(p.stdout.count("history: " + os.path.join(self.dir, "h.db")), 2)

    def test_once_with_nothing_due(self):
        minute = (time.localtime().tm_min + 30) % 60
        path = self.write("%d * * * * region=a target=%s scenario=sched.yaml history=h.db\n"
                          % (minute, self.sim.url))
        p = schedule([path, "--once"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('msg="nothing due"', p.stderr)
        self.assertNotIn("rehearsal started", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "h.db")))

    def test_once_failing_rehearsal_exits_1(self):
        # levee-load refuses this run (bad flag value): the schedule says so and exits 1.
        path = self.write("* * * * * region=a target=%s scenario=sched.yaml history=h.db "
                          "--rate -5\n" % self.sim.url)
        p = schedule([path, "--once"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r'msg="rehearsal ended" line=1 region=a exit=2 ')

    def test_bad_file_exits_2_with_positions(self):
        path = self.write("# a comment\n"
                          "0 25 * * * region=a target=%s scenario=sched.yaml history=h.db\n"
                          "0 10 * * * region=a target=%s scenario=missing.yaml history=h.db\n"
                          "0 10 * * * region=a target=%s scenario=sched.yaml\n"
                          % (self.sim.url, self.sim.url, self.sim.url))
        p = schedule([path, "--dry-run"], env=clean_env())
        self.assertEqual(p.returncode, 2)
        self.assertIn("%s:2:3: hour: 25 is not in 0-23" % path, p.stderr)
        self.assertRegex(p.stderr, re.escape(path) + r":3:\d+: scenario=.*missing.yaml: "
                         r"No such file")
        self.assertIn("%s:4:1: no history=DB and LEVEE_LOAD_HISTORY is not set" % path,
                      p.stderr)
        # With LEVEE_LOAD_HISTORY, a line without history= is fine.
        path = self.write("0 10 * * * region=a target=%s scenario=sched.yaml\n" % self.sim.url)
        p = schedule([path, "--dry-run"], env=dict(clean_env(), LEVEE_LOAD_HISTORY="x.db"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(schedule([]).returncode, 2)
        self.assertEqual(schedule([path, "--once", "--dry-run"]).returncode, 2)
        self.assertEqual(schedule(["/nonexistent.cron", "--once"]).returncode, 2)

    def test_score_battery_line(self):
        # scenario=score is the resilience battery, not a file; its flags follow on the line.
        path = self.write("0 10 * * wed region=a target=%s scenario=score history=h.db "
                          "--admin http://127.0.0.1:9901 --short\n" % self.sim.url)
        p = schedule([path, "--dry-run", "--count", "1"], env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("scenario=score", p.stdout)
        path = self.write("0 10 * * wed region=a target=%s scenario=scores history=h.db\n"
                          % self.sim.url)
        p = schedule([path, "--dry-run"], env=clean_env())
        self.assertEqual(p.returncode, 2)
        self.assertIn("scores: No such file", p.stderr)

    def test_dry_run_prints_next_due_times(self):
        path = self.write("30 23 31 12 *  region=a target=%s scenario=sched.yaml history=h.db\n"
                          "0 10 * * mon,wed,fri region=b target=%s scenario=sched.yaml "
                          "history=h.db\n" % (self.sim.url, self.sim.url))
        env = dict(os.environ, TZ="UTC")
        p = schedule([path, "--dry-run", "--count", "3", "--from", "2026-12-31T23:00"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), [
            "%s:1: 30 23 31 12 *  region=a target=%s scenario=sched.yaml history=h.db"
            % (path, self.sim.url),
            "  2026-12-31 23:30 Thu UTC", "  2027-12-31 23:30 Fri UTC",
            "  2028-12-31 23:30 Sun UTC",
            "%s:2: 0 10 * * mon,wed,fri region=b target=%s scenario=sched.yaml history=h.db"
            % (path, self.sim.url),
            "  2027-01-01 10:00 Fri UTC", "  2027-01-04 10:00 Mon UTC",
            "  2027-01-06 10:00 Wed UTC"])

    def test_daemon_runs_at_the_next_minute_and_stops_on_term(self):
        path = self.write("* * * * * region=d target=%s scenario=sched.yaml history=h.db\n"
                          % self.sim.url)
        log = os.path.join(self.dir, "daemon.log")
        with open(log, "w") as lf:
            proc = subprocess.Popen([loadkit.LOAD, "schedule", path], stdout=lf, stderr=lf,
                                    env=dict(os.environ, TZ="UTC"))
        try:
            deadline = time.monotonic() + 75  # the next minute, then a 1 s rehearsal
            text = ""
            while time.monotonic() < deadline and "rehearsal ended" not in text:
                time.sleep(0.5)
                with open(log) as f:
                    text = f.read()
            self.assertIn('msg="schedule started"', text)
            self.assertRegex(text, r'msg="rehearsal ended" line=1 region=d exit=0 ')
            # Started at the top of the minute it was due.
            m = re.search(r'ts=\S+T(\d\d:\d\d):(\d\d)\.\d+Z level=info comp=schedule '
                          r'msg="rehearsal started".* due=\S+T(\d\d:\d\d)\+0000', text)
            self.assertIsNotNone(m, text)
            self.assertEqual(m.group(1), m.group(3), text)
            self.assertLessEqual(int(m.group(2)), 1, text)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        self.assertEqual(code, 0)
        with open(log) as f:
            self.assertIn('msg="stopping" signal=15', f.read())
        self.assertEqual([r["region"] for r in self.runs()], ["d"])

    def test_contrib_schedule_matches_timer_and_units_verify(self):
        contrib = os.path.join(loadkit.SOURCE, "contrib")
        # The example, installed as /etc/levee does it: scenarios/ next to it.
        shutil.copytree(os.path.join(loadkit.SOURCE, "bench", "scenarios"),
                        os.path.join(self.dir, "scenarios"))
        path = os.path.join(self.dir, "rehearsals.cron")
        shutil.copy(os.path.join(contrib, "rehearsals.cron"), path)
        env = dict(clean_env(), TZ="UTC")
        p = schedule([path, "--dry-run", "--count", "6", "--from", "2026-12-07T00:00"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        times = re.findall(r"^  (\S+ \S+) (\w+) UTC$", p.stdout, re.M)
        self.assertGreater(len(times), 6)
        with open(os.path.join(contrib, "systemd", "levee-rehearsal.timer")) as f:
            timer = f.read()
        self.assertIn("OnCalendar=Mon,Wed,Fri *-*-* 10:00:00", timer)
        for when, day in times:  # every line is due when the timer fires
            self.assertTrue(when.endswith(" 10:00"), when)
            self.assertIn(day, ("Mon", "Wed", "Fri"))
        with open(os.path.join(contrib, "systemd", "levee-rehearsal.service")) as f:
            service = f.read()
        self.assertIn("ExecStart=/usr/local/bin/levee-load schedule /etc/levee/rehearsals.cron "
                      "--once\n", service)
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze not installed")
        # verify checks that ExecStart's program exists: point it at the one built here.
        units = os.path.join(self.dir, "units")
        os.mkdir(units)
        with open(os.path.join(units, "levee-rehearsal.service"), "w") as f:
            f.write(service.replace("/usr/local/bin/levee-load", os.path.abspath(loadkit.LOAD)))
        with open(os.path.join(units, "levee-rehearsal.timer"), "w") as f:
            f.write(timer)
        p = subprocess.run([analyze, "verify", "--man=no",
                            os.path.join(units, "levee-rehearsal.service"),
                            os.path.join(units, "levee-rehearsal.timer")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("levee-rehearsal", p.stdout + p.stderr)


if __name__ == "__main__":
    if not os.access(loadkit.LOAD, os.X_OK) or not os.access(loadkit.SIM, os.X_OK):
        print("levee-load or levee-sim not built in %s" % loadkit.BUILD, file=sys.stderr)
        sys.exit(1)
    unittest.main()
