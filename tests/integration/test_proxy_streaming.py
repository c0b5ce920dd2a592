"""Integration: bodies are streamed, never buffered whole. A 1 GiB upload and a 1 GiB download
pass with flat memory (levee's RSS read from /proc), a slow reader does not make levee's RSS
grow (backpressure), large chunked bodies both ways, and a client that half-closes after its
request still gets the whole response."""

import hashlib
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
RSS_GROWTH_LIMIT_KIB = 64 * 1024


class Streaming(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        # Small ASan quarantine: freed buffers held by ASan are not levee's memory.
        cls.start_levee(lambda: lt.Levee.quick([cls.backend], workers=1, env=lt.asan_env(16)),
                        backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def warm_up(self):
        # One small transfer each way so that steady-state buffers exist before the baseline.
        with lt.HttpConn(self.levee.addr) as c:
            self.assertStatus(c.request("POST", "/echo", body=b"x" * 300000), 200)
            self.assertStatus(c.request("GET", "/bytes?n=3000000"), 200)

    def measure(self, fn):
        """Runs fn() while sampling levee's RSS. Returns (fn's result, growth KiB, detail)."""
        self.warm_up()
        base_rss, base_hwm = self.levee.rss()
        sampler = lt.RssSampler(self.levee.pid)
        try:
            out = fn()
        finally:
            peak = sampler.stop()
        end_rss, end_hwm = self.levee.rss()
        # VmHWM catches peaks between samples, but only counts if it rose during fn().
        top = max(peak, end_rss, end_hwm if end_hwm > base_hwm else 0)
        detail = ("baseline VmRSS %d KiB, sampled peak %d KiB (%d samples), VmHWM %d -> %d KiB,"
                  " end VmRSS %d KiB" % (base_rss, peak, sampler.samples, base_hwm, end_hwm,
                                         end_rss))
        return out, top - base_rss, detail

    def test_upload_1gib_flat_memory(self):
        def upload():
            sha = hashlib.sha256()
            with lt.HttpConn(self.levee.addr, timeout=60) as c:
                c.send(b"POST /echo HTTP/1.1\r\nHost: levee.test\r\nContent-Length: %d\r\n\r\n"
                       % GIB)
                off = 0
                while off < GIB:
                    n = min(MIB, GIB - off)
                    mv = lt.pattern_view(off, n)
                    c.sock.sendall(mv)
                    sha.update(mv)
                    off += n
                r = c.read_response(timeout=60)
            return r, sha.hexdigest()

        t0 = time.monotonic()
        (r, digest), growth, detail = self.measure(upload)
        self.assertStatus(r, 200)
        j = r.json()
        self.assertEqual(j["body_len"], GIB)
        self.assertEqual(j["body_sha256"], digest, "the uploaded bytes arrived changed")
        self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                        "1 GiB upload grew levee's RSS by %d KiB: %s" % (growth, detail))
        print("  upload 1 GiB: %.1fs, RSS growth %d KiB (%s)"
              % (time.monotonic() - t0, growth, detail))

    def test_download_1gib_flat_memory(self):
        def download():
            pc = lt.PatternChecker()
            with lt.HttpConn(self.levee.addr, timeout=60) as c:
                r = c.request("GET", "/bytes?n=%d" % GIB, sink=pc, timeout=120)
            return r, pc

        t0 = time.monotonic()
        (r, pc), growth, detail = self.measure(download)
        self.assertStatus(r, 200)
        self.assertTrue(r.complete)
        self.assertEqual(pc.offset, GIB)
        self.assertIsNone(pc.bad_at, "downloaded bytes differ at offset %s" % pc.bad_at)
        self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                        "1 GiB download grew levee's RSS by %d KiB: %s" % (growth, detail))
        print("  download 1 GiB: %.1fs, RSS growth %d KiB (%s)"
              % (time.monotonic() - t0, growth, detail))

    def test_slow_reader_backpressure(self):
        total = 256 * MIB

        def slow_read():
            with lt.HttpConn(self.levee.addr, timeout=60, rcvbuf=65536) as c:
                c.send(lt.HttpConn.build("GET", "/bytes?n=%d" % total))
                # Read slowly for ~4 s: about 256 KiB a second.
                end = time.monotonic() + 4.0
                got = 0
                while time.monotonic() < end:
                    c.sock.settimeout(5)
                    data = c.sock.recv(16384)
                    if not data:
                        break
                    got += len(data)
                    time.sleep(0.06)
                return got

        got, growth, detail = self.measure(slow_read)
        self.assertGreater(got, 0, "nothing received")
        self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                        "a slow reader of a 256 MiB response grew levee's RSS by %d KiB "
                        "(no backpressure on the upstream read?): %s" % (growth, detail))
        print("  slow reader: read %d KiB slowly, RSS growth %d KiB (%s)"
              % (got // 1024, growth, detail))

    def test_slow_reader_gets_everything(self):
        # Same idea, shorter, but the whole body is checked after the slow phase.
        total = 64 * MIB
        pc = lt.PatternChecker()
        with lt.HttpConn(self.levee.addr, timeout=60, rcvbuf=65536) as c:
            c.send(lt.HttpConn.build("GET", "/bytes?n=%d&chunked=1" % total))
            time.sleep(2.0)  # levee must hold the upstream, not drop or buffer it all
            r = c.read_response(sink=pc, timeout=120)
        self.assertStatus(r, 200)
        self.assertTrue(r.complete)
        self.assertEqual((pc.offset, pc.bad_at), (total, None))

    def test_chunked_upload_64mib(self):
        total = 64 * MIB
        sha = hashlib.sha256()
        sizes = [1, 100, 65536, 1000000, 4095]
        with lt.HttpConn(self.levee.addr, timeout=60) as c:
            c.send(lt.HttpConn.build("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]))
            off, i = 0, 0
            pending = bytearray()
            while off < total:
                n = min(sizes[i % len(sizes)], total - off, MIB)
                i += 1
                mv = lt.pattern_view(off, n)
                sha.update(mv)
                pending += b"%x\r\n" % n
                pending += mv
                pending += b"\r\n"
                if len(pending) > 256 * 1024:
                    c.sock.sendall(pending)
                    pending.clear()
                off += n
            pending += b"0\r\n\r\n"
            c.sock.sendall(pending)
            r = c.read_response(timeout=60)
        self.assertStatus(r, 200)
        j = r.json()
        self.assertEqual((j["body_len"], j["body_sha256"]), (total, sha.hexdigest()))

    def test_chunked_download_64mib(self):
        pc = lt.PatternChecker()
        with lt.HttpConn(self.levee.addr, timeout=60) as c:
            r = c.request("GET", "/bytes?n=%d&chunked=1" % (64 * MIB), sink=pc, timeout=60)
        self.assertStatus(r, 200)
        self.assertTrue(r.complete)
        self.assertEqual((pc.offset, pc.bad_at), (64 * MIB, None))

    def test_half_close_get(self):
        n = 5 * MIB + 7
        pc = lt.PatternChecker()
        with lt.HttpConn(self.levee.addr, timeout=30) as c:
            c.send(lt.HttpConn.build("GET", "/bytes?n=%d" % n))
            c.shutdown_write()
            r = c.read_response(sink=pc, timeout=30)
        self.assertStatus(r, 200)
        self.assertTrue(r.complete, "response cut after the client's half-close")
        self.assertEqual((pc.offset, pc.bad_at), (n, None))

    def test_half_close_slow_response(self):
        with lt.HttpConn(self.levee.addr, timeout=30) as c:
            c.send(lt.HttpConn.build("GET", "/slow?ms=500"))
            c.shutdown_write()
            r = c.read_response(timeout=30)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"slow\n")

    def test_half_close_post(self):
        body = os.urandom(300000)
        with lt.HttpConn(self.levee.addr, timeout=30) as c:
            c.send(lt.HttpConn.build("POST", "/echo", body=body))
            c.shutdown_write()
            r = c.read_response(timeout=30)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["body_sha256"], lt.sha256(body))


class SlowUpstreamReader(lt.LvTestCase):
    """The reverse direction: an upstream that accepts but never reads a big upload; levee
    must stop reading from the client instead of buffering the upload."""

    def test_upload_to_stalled_backend(self):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        cfg = lt.make_config([{"name": "s", "upstreams": ["127.0.0.1:%d" % port],
                               "read_timeout_ms": 60000}])
        lv = lt.Levee.from_config(cfg, name="stalled.yaml", env=lt.asan_env(16))
        try:
            base = lv.rss()[0]
            c = lt.HttpConn(lv.addr, timeout=2)
            c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (512 * MIB))
            # levee reads limits.body_buffer_bytes (64 KiB) of the body before it connects.
            sent = 256 * 1024
            c.send(lt.pattern_bytes(0, sent))
            lsock.settimeout(10)
            up, _ = lsock.accept()  # levee connected; we never read from it
            deadline = time.monotonic() + 6
            c.sock.settimeout(0.5)
            while time.monotonic() < deadline:
                try:
                    sent += c.sock.send(lt.pattern_view(sent, MIB))
                except (socket.timeout, TimeoutError):
                    pass  # blocked: backpressure reached us
                except OSError:
                    break
            peak = lv.rss()[0]
            growth = peak - base
            self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                            "levee buffered the upload for a backend that does not read: "
                            "RSS +%d KiB after the client sent %d MiB" % (growth, sent // MIB))
            self.assertLess(sent, 256 * MIB, "levee accepted %d MiB for a stalled backend"
                            % (sent // MIB))
            # Both peers go away while the upload is paused: levee must notice and free the
            # connection (not wait for a write that can never finish).
            c.close()
            up.close()
            deadline = time.monotonic() + 5
            while True:
                text = lv.admin("/metrics").body.decode()
                m = re.search(r"(?m)^levee_connections_open (\d+)", text)
                if m and m.group(1) == "0":
                    break
                if time.monotonic() > deadline:
                    self.fail("client and upstream both closed during a paused upload, but "
                              "levee still holds the connection 5 s later: %s"
                              % [ln for ln in text.splitlines()
                                 if re.search(r"open|in_flight", ln)
                                 and not ln.startswith("#")])
                time.sleep(0.1)
        finally:
            lsock.close()
            lv.stop(check=sys.exc_info()[0] is None)


if __name__ == "__main__":
    lt.main()
