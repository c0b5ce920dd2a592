"""Integration: request bodies are bounded before they take anything. A body up to
limits.body_buffer_bytes is read whole before the request takes a concurrency slot or waits in
the queue; slow bodies get 408 (timeouts.body_ms, timeouts.body_idle_ms) and hold no slot
meanwhile; requests with bodies wait in the queue like the others; a whole body may be sent
again to another host after a failed connect; Expect: 100-continue is answered by levee."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402


class SlowBodies(lt.LvTestCase):
    def test_40_slow_bodies_do_not_starve_gets(self):
        backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [backend.hostport]}], workers=2)
        lv = lt.Levee.from_config(cfg)
        slow = []
        stop = threading.Event()
        try:
            for _ in range(40):
                s = socket.create_connection(lv.addr, timeout=5)
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
                slow.append(s)

            def trickle():
                while not stop.is_set():
                    for s in slow:
                        try:
                            s.send(b"x")
                        except OSError:
                            pass
                    stop.wait(1.0)
            t = threading.Thread(target=trickle, daemon=True)
            t.start()
            time.sleep(0.5)
            ok = total = 0
            t_end = time.monotonic() + 6
            while time.monotonic() < t_end:
                r = lt.get(lv.addr, "/echo?g=%d" % total, timeout=5)
                total += 1
                ok += r.status == 200
            sys.stderr.write("\n  beside 40 slow bodies: %d of %d GETs answered 200\n"
                             % (ok, total))
            self.assertGreaterEqual(ok / total, 0.99, "%d of %d GETs answered 200" % (ok, total))
            self.assertGreater(total, 50)
            d = lt.guard_decisions(lv, "s")
            self.assertLessEqual(d["admitted"] + d["queued"], total,
                                 "slow bodies were admitted: %s" % d)
            self.assertEqual(backend.stats()["methods"].get("POST", 0), 0)
        finally:
            stop.set()
            for s in slow:
                s.close()
            lv.stop()
            backend.stop()

    def test_body_timeouts_answer_408(self):
        backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [backend.hostport]}],
                             timeouts={"body_ms": 1000, "body_idle_ms": 600})
        lv = lt.Levee.from_config(cfg)
        try:
            # Idle: three bytes, then nothing.
            s = socket.create_connection(lv.addr, timeout=5)
            t0 = time.monotonic()
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            data = lt.read_until_eof(s)
            s.close()
            took = time.monotonic() - t0
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:80])
            self.assertTrue(0.4 < took < 3, took)
            # Total: a byte every 300 ms never idles, but the buffered body is late.
            s = socket.create_connection(lv.addr, timeout=5)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            t0, got = time.monotonic(), b""
            s.settimeout(0.3)
            while time.monotonic() - t0 < 5:
                try:
                    s.send(b"y")
                    got += s.recv(4096)
                    if got:
                        break
                except (socket.timeout, TimeoutError):
                    pass
                except OSError:
                    break
            s.close()
            self.assertTrue(got.startswith(b"HTTP/1.1 408"), got[:80])
            self.assertLess(time.monotonic() - t0, 2.5)
            text = lv.admin("/metrics").body.decode()
            self.assertIn("levee_request_body_timeouts_total 2\n", text)
            self.assertEqual(backend.stats()["methods"].get("POST", 0), 0,
                             "a body that never completed reached the backend")
        finally:
            lv.stop()
            backend.stop()


class BodiesQueue(lt.LvTestCase):
    def test_25_concurrent_puts_are_queued_not_shed(self):
        backend = lt.Backend("A")
        # The shipped limits (issue 12: 25 concurrent requests with bodies against a fast
        # origin, zero refusals), two workers sharing them.
        cfg = lt.make_config([{"name": "s", "upstreams": [backend.hostport]}], workers=2)
        lv = lt.Levee.from_config(cfg)
        try:
            statuses = []
            lock = threading.Lock()

            def put(i):
                body = (b"%d-" % i) * 500
                r = lt.http_request(lv.addr, "PUT", "/slow?ms=5&i=%d" % i, body=body,
                                    timeout=15)
                with lock:
                    statuses.append(r.status)
            threads = [threading.Thread(target=put, args=(i,)) for i in range(25)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            d = lt.guard_decisions(lv, "s")
            self.assertEqual(sorted(statuses), [200] * 25, (statuses, d))
            self.assertEqual(d["shed"], 0, d)
            self.assertGreater(d["queued"], 0, d)
        finally:
            lv.stop()
            backend.stop()

    def test_whole_body_sent_again_after_a_failed_connect(self):
        backend = lt.Backend("live")
        cfg = lt.make_config([{"name": "s", "upstreams": ["127.0.0.1:%d" % lt.dead_port(),
                                                          backend.hostport],
                               "outlier": {"consecutive_failures": 0}}])
        lv = lt.Levee.from_config(cfg)
        try:
            body = lt.pattern_bytes(0, 20000)
            for i in range(4):  # round robin: two of them meet the dead host first
                r = lt.http_request(lv.addr, "PUT", "/echo?i=%d" % i, body=body)
                self.assertStatus(r, 200)
                self.assertEqual(r.json()["body_sha256"], lt.sha256(body))
            self.assertEqual(backend.stats()["methods"].get("PUT", 0), 4)
        finally:
            lv.stop()
            backend.stop()

    def test_chunked_bodies_empty_small_and_large(self):
        backend = lt.Backend("A")
        lv = lt.Levee.quick([backend])
        try:
            for body, sizes in ((b"", []), (b"hello", [2, 3]),
                                (lt.pattern_bytes(0, 200000), [70000, 70000, 60000])):
                data = lt.chunked_body(body, sizes)
                r = lt.http_request(lv.addr, "POST", "/echo", body=data,
                                    headers=[("Transfer-Encoding", "chunked")], timeout=5)
                self.assertStatus(r, 200, "a chunked body of %d bytes:" % len(body))
                self.assertEqual(r.json()["body_len"], len(body))
                self.assertEqual(r.json()["body_sha256"], lt.sha256(body))
        finally:
            lv.stop()
            backend.stop()

    def test_expect_continue_answered_by_levee(self):
        backend = lt.Backend("A")
        lv = lt.Levee.quick([backend])
        try:
            with lt.HttpConn(lv.addr) as c:
                c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 5\r\n\r\n")
                c.sock.settimeout(3)
                first = c.sock.recv(4096)
                self.assertTrue(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first)
                c.buf.extend(first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
                c.send(b"hello")
                r = c.read_response()
            self.assertStatus(r, 200)
            self.assertEqual(r.interim, [], "a second 100 Continue was relayed")
            self.assertEqual(r.json()["body_len"], 5)
        finally:
            lv.stop()
            backend.stop()


if __name__ == "__main__":
    lt.main()
