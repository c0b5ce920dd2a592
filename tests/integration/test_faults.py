#!/usr/bin/env python3
"""tests/integration/test_faults.py: injected faults (docs/faults.md) through a real levee.

Each kind's effect is measured against the fixture backend and its own counts: latency added
(and the backend still reached), a share aborted within a binomial bound (the backend reached
by exactly the rest), resets as 502 without reaching the backend, a blackhole held until the
service's read timeout (504), a bandwidth cap on a 60 KB body, a host marked down (its share
goes to the other host, nobody fails), a fault on one named route only, the end by itself
after its duration (and the audit lines), DELETE, 401 without the token; faults from the
config (and their end when a reload drops them); the X-Levee-Fault test header, only when
enabled; the breaker and the fallback seeing an abort fault as the backend's failure.
"""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

TOKEN = "fault-token"


def post_fault(lv, spec, token=TOKEN):
    h = [("Content-Type", "application/json")]
    if token is not None:
        h.append(("Authorization", "Bearer " + token))
    return lt.http_request(lv.admin_addr, "POST", "/faults", headers=h,
                           body=json.dumps(spec).encode())


def delete_fault(lv, fid, token=TOKEN):
    h = [("Authorization", "Bearer " + token)] if token else []
    return lt.http_request(lv.admin_addr, "DELETE", "/faults/%d" % fid, headers=h)


def timed_get(lv, target, headers=None, timeout=10.0):
    t0 = time.monotonic()
    r = lt.get(lv.addr, target, headers=headers, timeout=timeout)
    return r, time.monotonic() - t0


def injected(lv, service, kind):
    text = lv.admin("/metrics").body.decode()
    want = 'levee_faults_injected_total{service="%s",kind="%s"} ' % (service, kind)
    for line in text.splitlines():
        if line.startswith(want):
            return int(line.split()[-1])
    raise AssertionError("no %s in /metrics" % want)


def fault_config(a, b, extra_services=(), extra=None, faults=None):
    # The breaker would open on the injected failures and answer the next tests' requests
    # (its own test is below): here it never opens.
    services = [{"name": "app", "upstreams": [a.hostport, b.hostport], "read_timeout_ms": 600,
                 "balance": "round_robin", "breaker": {"min_requests": 1000000}}]
    services += list(extra_services)
    routes = [{"path": "/slowpath", "service": "app", "name": "slowpath"},
              {"path": "/", "service": "app"}]
    ex = {"admin": {"listen": "127.0.0.1:0", "token": TOKEN}}
    if faults is not None:
        ex["faults"] = faults
    if extra:
        ex.update(extra)
    return lt.make_config(services, routes=routes, workers=2, extra=ex)


class FaultKinds(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = lt.Backend("A")
        cls.b = lt.Backend("B")
        cls.start_levee(lambda: lt.Levee.from_config(fault_config(cls.a, cls.b),
                                                     name="faults.yaml"),
                        backends=[cls.a, cls.b])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def tearDown(self):
        r = self.levee.admin("/faults")
        for f in r.json()["faults"]:
            delete_fault(self.levee, f["id"])

    def backend_requests(self):
        return self.a.stats()["requests"] + self.b.stats()["requests"]

    def test_latency_is_added_and_the_backend_still_answers(self):
        r, calm = timed_get(self.levee, "/echo")
        self.assertStatus(r, 200)
        r = post_fault(self.levee, {"service": "app", "kind": "latency", "ms": 300,
                                    "duration_ms": 30000})
        self.assertStatus(r, 201)
        fid = r.json()["id"]
        before = self.backend_requests()
        for _ in range(3):
            r, took = timed_get(self.levee, "/echo")
            self.assertStatus(r, 200)
            self.assertGreaterEqual(took, 0.29, "latency not added")
            self.assertLess(took, 0.29 + 2.0 + calm)
        self.assertEqual(self.backend_requests() - before, 3)
        listed = self.levee.admin("/faults").json()["faults"]
        self.assertEqual([f["id"] for f in listed], [fid])
        self.assertEqual(listed[0]["injected"], 3)
        self.assertStatus(delete_fault(self.levee, fid), 200)
        r, took = timed_get(self.levee, "/echo")
        self.assertLess(took, 0.25, "still delayed after DELETE")

    def test_a_streaming_body_is_never_held(self):
        # Over limits.body_buffer_bytes (64 KiB) the body streams: holding the request would
        # lose the bytes that arrive meanwhile, so latency passes it by; a small body waits.
        self.assertStatus(post_fault(self.levee, {"service": "app", "kind": "latency", "ms": 300,
                                                  "duration_ms": 30000}), 201)
        big = lt.pattern_bytes(0, 200000)
        r = lt.http_request(self.levee.addr, "PUT", "/echo", body=big)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["body_len"], len(big))
        self.assertEqual(r.json()["body_sha256"], lt.sha256(big))
        t0 = time.monotonic()
        r = lt.http_request(self.levee.addr, "PUT", "/echo", body=b"small")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["body_len"], 5)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    def test_abort_share_within_a_binomial_bound(self):
        n, share = 400, 0.5
        r = post_fault(self.levee, {"service": "app", "kind": "abort", "status": 503,
                                    "share": share, "duration_ms": 60000})
        self.assertStatus(r, 201)
        before = self.backend_requests()
        aborted = ok = 0
        with lt.HttpConn(self.levee.addr) as c:
            for _ in range(n):
                resp = c.request("GET", "/echo")
                if resp.status == 503 and resp.header("x-levee-fault") == "abort":
                    aborted += 1
                elif resp.status == 200:
                    ok += 1
        self.assertEqual(aborted + ok, n)
        sd = (n * share * (1 - share)) ** 0.5
        self.assertLess(abs(aborted - n * share), 5 * sd, "aborted %d of %d" % (aborted, n))
        self.assertEqual(self.backend_requests() - before, ok, "aborted requests reached it")
        self.assertEqual(injected(self.levee, "app", "abort"), aborted)

    def test_reset_is_a_502_and_reaches_no_backend(self):
        self.assertStatus(post_fault(self.levee, {"service": "app", "kind": "reset",
                                                  "duration_ms": 60000}), 201)
        before = self.backend_requests()
        for _ in range(5):
            self.assertStatus(lt.get(self.levee.addr, "/echo"), 502)
        self.assertEqual(self.backend_requests(), before)

    def test_blackhole_holds_until_the_read_timeout(self):
        self.assertStatus(post_fault(self.levee, {"service": "app", "kind": "blackhole",
                                                  "duration_ms": 60000}), 201)
        before = self.backend_requests()
        r, took = timed_get(self.levee, "/echo")
        self.assertStatus(r, 504)
        self.assertGreaterEqual(took, 0.55)
        self.assertLess(took, 3.0)
        # A client that gives up first: its connection goes, levee stays well.
        c = lt.HttpConn(self.levee.addr)
        c.send(b"GET /echo HTTP/1.1\r\nHost: levee.test\r\n\r\n")
        time.sleep(0.1)
        c.close()
        self.assertEqual(self.backend_requests(), before)
        time.sleep(0.8)
        self.assertTrue(self.levee.alive())

    def test_blackhole_that_ends_first_lets_the_request_on(self):
        # The fault ends (300 ms) before the read timeout (600 ms): the held request goes on.
        self.assertStatus(post_fault(self.levee, {"service": "app", "kind": "blackhole",
                                                  "duration_ms": 300}), 201)
        before = self.backend_requests()
        r, took = timed_get(self.levee, "/echo")
        self.assertStatus(r, 200)
        self.assertGreaterEqual(took, 0.2)
        self.assertLess(took, 0.55)
        self.assertEqual(self.backend_requests(), before + 1)

    def test_bandwidth_cap(self):
        n = 60000
        r, calm = timed_get(self.levee, "/bytes?n=%d" % n)
        self.assertStatus(r, 200)
        self.assertStatus(post_fault(self.levee, {"service": "app", "kind": "bandwidth",
                                                  "bytes_per_s": 20000,
                                                  "duration_ms": 60000}), 201)
        r, took = timed_get(self.levee, "/bytes?n=%d" % n, timeout=20)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, lt.pattern_bytes(0, n))
        # Every read of up to 16 KiB waits its bytes / 20,000 s before the next: >= 2.1 s.
        self.assertGreaterEqual(took, 1.5, "not capped (calm run: %.2f s)" % calm)
        self.assertLess(took, 10)

    def test_host_down_sends_its_share_elsewhere(self):
        r = post_fault(self.levee, {"service": "app", "kind": "host_down",
                                    "host": self.a.hostport, "duration_ms": 60000})
        self.assertStatus(r, 201)
        time.sleep(0.05)
        a_before = self.a.stats()["requests"]
        statuses = [lt.get(self.levee.addr, "/echo").status for _ in range(20)]
        self.assertEqual(statuses, [200] * 20)
        self.assertEqual(self.a.stats()["requests"], a_before, "a host marked down was reached")
        self.assertGreater(injected(self.levee, "app", "host_down"), 0)

    def test_route_fault_spares_the_other_routes(self):
        self.assertStatus(post_fault(self.levee, {"route": "slowpath", "kind": "abort",
                                                  "status": 500, "duration_ms": 60000}), 201)
        self.assertStatus(lt.get(self.levee.addr, "/slowpath/x"), 500)
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)

    def test_ends_by_itself_and_audits(self):
        mark = self.levee.log_mark()
        r = post_fault(self.levee, {"service": "app", "kind": "abort", "status": 500,
                                    "duration_ms": 800})
        self.assertStatus(r, 201)
        fid = r.json()["id"]
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 500)
        time.sleep(0.9)
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)
        self.levee.wait_log(r'msg="fault ended" id=%d .*reason=expired' % fid, 3, start=mark)
        self.assertEqual(self.levee.admin("/faults").json()["faults"], [])
        lines = self.levee.stderr_lines()[mark:]
        self.assertTrue(any('msg="fault started" id=%d service=app kind=abort' % fid in line
                            and "origin=api" in line for line in lines), lines[-5:])

    def test_writes_need_the_token(self):
        r = post_fault(self.levee, {"service": "app", "kind": "reset", "duration_ms": 1000},
                       token=None)
        self.assertStatus(r, 401)
        r = post_fault(self.levee, {"service": "app", "kind": "reset", "duration_ms": 1000},
                       token="wrong")
        self.assertStatus(r, 401)
        self.assertEqual(self.levee.admin("/faults").json()["faults"], [])
        self.assertStatus(lt.get(self.levee.addr, "/echo"), 200)
        r = post_fault(self.levee, {"service": "nope", "kind": "reset", "duration_ms": 1000})
        self.assertStatus(r, 404)
        r = post_fault(self.levee, {"service": "app", "kind": "reset"})
        self.assertStatus(r, 400)


class FaultsFromConfigAndHeader(lt.LvTestCase):
    def setUp(self):
        self.a = lt.Backend("A")
        self.b = lt.Backend("B")

    def tearDown(self):
        lv = self.__dict__.get("lv")
        if lv:
            lv.stop(check=True)
        self.a.stop()
        self.b.stop()

    def test_config_fault_starts_and_a_reload_ends_it(self):
        faults = [{"service": "app", "kind": "abort", "status": 418, "duration_ms": 600000}]
        self.lv = lt.Levee.from_config(fault_config(self.a, self.b, faults=faults),
                                       name="faults-cfg.yaml")
        self.assertStatus(lt.get(self.lv.addr, "/echo"), 418)
        listed = self.lv.admin("/faults").json()["faults"]
        self.assertEqual([(f["kind"], f["origin"]) for f in listed], [("abort", "config")])
        # A reload that keeps it does not restart it; one that drops it ends it.
        mark = self.lv.log_mark()
        self.lv.signal(signal.SIGHUP)
        self.lv.wait_log(r"msg=reloaded\b", 10, start=mark)
        self.assertEqual([f["id"] for f in self.lv.admin("/faults").json()["faults"]],
                         [listed[0]["id"]])
        lt.write_file(os.path.basename(self.lv.config_path), fault_config(self.a, self.b))
        mark = self.lv.log_mark()
        self.lv.signal(signal.SIGHUP)
        self.lv.wait_log(r"msg=reloaded\b", 10, start=mark)
        self.lv.wait_log(r'msg="fault ended" id=%d .*reason=config' % listed[0]["id"], 5,
                         start=mark)
        self.assertStatus(lt.get(self.lv.addr, "/echo"), 200)

    def test_header_trigger_only_when_enabled(self):
        hdr = [("X-Levee-Fault", "abort 429")]
        self.lv = lt.Levee.from_config(fault_config(self.a, self.b), name="faults-off.yaml")
        self.assertStatus(lt.get(self.lv.addr, "/echo", headers=hdr), 200)
        self.lv.stop(check=True)
        extra = {"faults_header": {"enabled": True, "allow": ["127.0.0.0/8"]}}
        self.lv = lt.Levee.from_config(fault_config(self.a, self.b, extra=extra),
                                       name="faults-on.yaml")
        self.assertStatus(lt.get(self.lv.addr, "/echo", headers=hdr), 429)
        r, took = timed_get(self.lv, "/echo", headers=[("X-Levee-Fault", "latency 250")])
        self.assertStatus(r, 200)
        self.assertGreaterEqual(took, 0.24)
        self.lv.stop(check=True)
        extra = {"faults_header": {"enabled": True, "allow": ["10.0.0.0/8"]}}
        self.lv = lt.Levee.from_config(fault_config(self.a, self.b, extra=extra),
                                       name="faults-other.yaml")
        self.assertStatus(lt.get(self.lv.addr, "/echo", headers=hdr), 200)

    def test_the_breaker_and_the_fallback_see_an_abort_fault(self):
        svc = {"name": "app", "upstreams": [self.a.hostport], "read_timeout_ms": 600,
               "breaker": {"min_requests": 10, "error_percent": 50, "cooldown_ms": 60000},
               "fallback": {"body": "fallback\n"}}
        cfg = lt.make_config([svc], workers=1,
                             extra={"admin": {"listen": "127.0.0.1:0", "token": TOKEN}})
        self.lv = lt.Levee.from_config(cfg, name="faults-breaker.yaml")
        self.assertStatus(post_fault(self.lv, {"service": "app", "kind": "abort", "status": 500,
                                               "duration_ms": 60000}), 201)
        bodies = [lt.get(self.lv.addr, "/echo").body for _ in range(30)]
        self.assertIn(b"fault injected\n", bodies)
        self.assertEqual(bodies[-1], b"fallback\n", "the breaker did not open on the faults")


if __name__ == "__main__":
    lt.main()
