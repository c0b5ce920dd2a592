#!/usr/bin/env python3
"""tests/integration/test_load_tls.py: levee-load over HTTPS.

levee-load runs for a few seconds against levee with a TLS listener (a certificate of a
throw-away CA made with the openssl command) in front of levee-sim: every user does its own
handshake, the requests succeed and the figures of the JSON summary add up against the sim's
count; the certificate is verified against --tls-ca (by name for localhost, by address for
127.0.0.1), refused without it (tls_handshake errors, one log line saying why), and accepted
with --tls-insecure; a plain HTTP port fails every handshake. Python 3 stdlib only."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadkit as lk  # noqa: E402
import lvtest as lt  # noqa: E402
from test_tls import HAVE_OPENSSL, Certs  # noqa: E402


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class LoadOverTls(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(lk.SIM, os.X_OK) or not os.access(lk.LOAD, os.X_OK):
            raise unittest.SkipTest("levee-sim or levee-load not built")
        cls.certs = Certs()
        cls.cert, cls.key = cls.certs.leaf("load", ["localhost", "127.0.0.1"])
        cls.sim = lk.Sim(8, 1, lt.tmpdir())
        cls.lv = lt.Levee.quick(["127.0.0.1:%d" % cls.sim.port], workers=2,
                                extra_args=["--tls-cert", cls.cert, "--tls-key", cls.key])
        cls.port = cls.lv.addr[1]

    @classmethod
    def tearDownClass(cls):
        cls.lv.stop(check=True)
        cls.sim.stop()

    def load(self, name, host, args):
        js = os.path.join(lt.tmpdir(), name)
        p = lk.run_load(["--target", "https://%s:%d/" % (host, self.port), "--json", js,
                         "--quiet"] + args, env=lt.asan_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(js) as f:
            return json.load(f), p

    def test_requests_succeed_and_figures_add_up(self):
        before = self.sim.stats()["processed"]
        j, _ = self.load("tls.json", "localhost", [
            "--tls-ca", self.certs.ca[0], "--rate", "100", "--duration", "3",
            "--journey", "/a,/b"])
        self.assertGreater(j["offered_users"], 200)
        self.assertEqual(j["users_ok"], j["offered_users"])
        self.assertEqual(j["errors"]["tls_handshake"], 0)
        self.assertEqual(sum(j["errors"].values()), 0)
        # Two steps a user, on one keep-alive connection: every request answered 200.
        self.assertEqual(j["requests"], 2 * j["offered_users"])
        self.assertEqual(j["goodput"], j["requests"])
        self.assertEqual(self.sim.stats()["processed"] - before, j["requests"])
        self.assertGreater(j["latency_ms"]["p50"], 0)

    def test_verified_by_address_refused_without_ca_and_insecure(self):
        j, _ = self.load("tls-ip.json", "127.0.0.1", [
            "--tls-ca", self.certs.ca[0], "--rate", "50", "--duration", "1"])
        self.assertEqual(j["users_ok"], j["offered_users"])
        # The system's CAs do not know the test CA: every handshake fails, counted and said.
        j, p = self.load("tls-bad.json", "localhost", ["--rate", "50", "--duration", "1"])
        self.assertGreater(j["errors"]["tls_handshake"], 0)
        self.assertEqual(j["goodput"], 0)
        self.assertIn("event=tls_handshake_failed", p.stderr)
        self.assertIn("kind=verify", p.stderr)
        # Another CA's certificate for the name: refused too.
        j, _ = self.load("tls-other.json", "localhost", [
            "--tls-ca", self.certs.other_ca[0], "--rate", "20", "--duration", "1"])
        self.assertEqual(j["goodput"], 0)
        self.assertEqual(j["errors"]["tls_handshake"], j["offered_users"])
        j, _ = self.load("tls-insecure.json", "localhost", [
            "--tls-insecure", "--rate", "50", "--duration", "1"])
        self.assertEqual(j["users_ok"], j["offered_users"])

    def test_tls_to_a_plain_port(self):
        js = os.path.join(lt.tmpdir(), "tls-plain.json")
        p = lk.run_load(["--target", "https://127.0.0.1:%d/" % self.sim.port, "--tls-insecure",
                         "--rate", "20", "--duration", "1", "--json", js, "--quiet"],
                        env=lt.asan_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(js) as f:
            j = json.load(f)
        self.assertEqual(j["goodput"], 0)
        self.assertEqual(j["errors"]["tls_handshake"], j["offered_users"])
        self.assertIn("kind=protocol", p.stderr)


if __name__ == "__main__":
    lt.main()
