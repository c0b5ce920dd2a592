#!/usr/bin/env python3
"""tests/integration/test_flags.py: feature flags through the admin API of a real levee.

Starts `levee -c` with an admin token and guard.state_file in the test's temp dir, in front of
the fixture backend. Flips flags with PUT and POST, checks the refusals (401 wrong or missing
token, 403 no token configured, 404 unknown service, 400 bad state, 413 big body), then
restarts levee from the same config and checks that the flag survived (GET /flags, the state
file, /status, /metrics). Skips while GET /flags answers 404 (the flag table is not wired).
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

TOKEN = "t0ken-for-tests"


def flags_config(backend, state_file, token=TOKEN):
    admin = {"listen": "127.0.0.1:0"}
    if token:
        admin["token"] = token
    cfg = {
        "workers": 2,
        "listen": ["127.0.0.1:0"],
        "admin": admin,
        "guard": {"state_file": state_file},
        "services": [
            {"name": "playback", "upstreams": [backend.hostport], "criticality": "critical"},
            {"name": "recs", "upstreams": [backend.hostport], "criticality": "sheddable",
             "flag": "auto"},
        ],
        "routes": [{"path": "/recs", "service": "recs"}, {"path": "/", "service": "playback"}],
    }
    return lt.to_yaml(cfg) + "\n"


def admin_req(lv, method, target, token=None, body=None, headers=None):
    h = list(headers or [])
    if token is not None:
        h.append(("Authorization", "Bearer " + token))
    if body is not None:
        h.append(("Content-Type", "text/plain"))
    return lt.http_request(lv.admin_addr, method, target, headers=h,
                           body=body.encode() if isinstance(body, str) else body)


def flag_map(resp):
    return {f["service"]: (f["state"], f["overridden"]) for f in resp.json()["flags"]}


class FlagsApi(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cls.state_file = os.path.join(lt.tmpdir(), "flags-state.json")
        cls.config = flags_config(cls.backend, cls.state_file)
        try:
            cls.start_levee(lambda: lt.Levee.from_config(cls.config, name="flags.yaml"))
        except Exception:
            cls.backend.stop()
            raise
        r = cls.levee.admin("/flags")
        if r.status == 404:
            cls.stop_levee()
            cls.backend.stop()
            raise unittest.SkipTest("GET /flags answers 404: lv_flags_new is not wired yet")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_levee()
        finally:
            cls.backend.stop()

    def setUp(self):
        super().setUp()
        # Every test starts from the configured flags: put them back (override is kept).
        for svc, st in (("playback", "on"), ("recs", "auto")):
            self.assertStatus(admin_req(self.levee, "PUT", "/flags/" + svc, TOKEN, st), 200)

    def test_list_flags(self):
        r = self.levee.admin("/flags")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual({k: v[0] for k, v in flag_map(r).items()},
                         {"playback": "on", "recs": "auto"})

    def test_put_and_post_flip_a_flag(self):
        r = admin_req(self.levee, "PUT", "/flags/recs", TOKEN, "off\n")
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"service": "recs", "state": "off", "overridden": True})
        self.assertEqual(flag_map(self.levee.admin("/flags"))["recs"], ("off", True))
        r = admin_req(self.levee, "POST", "/flags/playback?state=auto", TOKEN)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["state"], "auto")
        r = self.levee.admin("/flags/playback")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["state"], "auto")
        with open(self.state_file) as f:
            self.assertEqual(json.load(f), {"flags": {"playback": "auto", "recs": "off"}})

    def test_refusals(self):
        lv = self.levee
        r = admin_req(lv, "PUT", "/flags/recs", None, "off")
        self.assertStatus(r, 401, "no Authorization:")
        self.assertTrue((r.header("WWW-Authenticate") or "").startswith("Bearer"))
        self.assertStatus(admin_req(lv, "PUT", "/flags/recs", "wrong", "off"), 401, "bad token:")
        self.assertStatus(admin_req(lv, "PUT", "/flags/recs", None, "off",
                                    headers=[("Authorization", "Basic " + TOKEN)]), 401)
        self.assertStatus(admin_req(lv, "PUT", "/flags/ghost", TOKEN, "off"), 404)
        self.assertStatus(admin_req(lv, "PUT", "/flags/recs", TOKEN, "sideways"), 400)
        self.assertStatus(admin_req(lv, "POST", "/flags/recs?state=", TOKEN), 400)
        r = admin_req(lv, "DELETE", "/flags/recs", TOKEN)
        self.assertStatus(r, 405)
        self.assertIn("PUT", r.header("Allow") or "")
        self.assertStatus(admin_req(lv, "PUT", "/flags/recs", TOKEN, "o" * 2000), 413)
        # Nothing above changed the flag.
        self.assertEqual(flag_map(lv.admin("/flags"))["recs"][0], "auto")

    def test_status_and_metrics_show_the_flag(self):
        self.assertStatus(admin_req(self.levee, "PUT", "/flags/recs", TOKEN, "off"), 200)
        st = self.levee.admin("/status").json()
        svc = {s["name"]: s for s in st["services"]}
        self.assertEqual(svc["recs"]["guard"]["flag"], "off")
        self.assertEqual(svc["playback"]["guard"]["flag"], "on")
        for key in ("limit", "in_flight", "queue_len", "pressure", "breaker", "admitted",
                    "queued", "shed", "dropped_wait", "dropped_deadline", "dropped_client_gone",
                    "storm_blocked", "premature_blocked", "breaker_rejected", "fallback_served"):
            self.assertIn(key, svc["recs"]["guard"])
        text = self.levee.admin("/metrics").body.decode()
        self.assertIn('levee_guard_flag{service="recs"} 1\n', text)
        self.assertIn('levee_guard_flag{service="playback"} 0\n', text)
        self.assertIn('levee_guard_decisions_total{service="recs",decision="admitted"}', text)

    def test_flag_survives_restart(self):
        self.assertStatus(admin_req(self.levee, "PUT", "/flags/recs", TOKEN, "off"), 200)
        self.levee.stop(check=True)
        type(self).levee = lt.Levee.from_config(self.config, name="flags.yaml")
        r = self.levee.admin("/flags")
        self.assertStatus(r, 200)
        self.assertEqual(flag_map(r)["recs"], ("off", True))
        self.assertEqual(flag_map(r)["playback"][0], "on")


class FlagsWithoutToken(lt.LvTestCase):
    def test_writes_disabled_403(self):
        backend = lt.Backend("B")
        try:
            state = os.path.join(lt.tmpdir(), "flags-notoken.json")
            lv = lt.Levee.from_config(flags_config(backend, state, token=None),
                                      name="flags-notoken.yaml")
            try:
                if lv.admin("/flags").status == 404:
                    self.skipTest("GET /flags answers 404: lv_flags_new is not wired yet")
                r = admin_req(lv, "PUT", "/flags/recs", TOKEN, "off")
                self.assertStatus(r, 403)
                self.assertIn(b"set admin.token", r.body)
                self.assertFalse(os.path.exists(state))
            finally:
                lv.stop(check=True)
        finally:
            backend.stop()


if __name__ == "__main__":
    lt.main()
