"""Integration: the real client. Behind a trusted proxy (real_client.trusted) the client is the
rightmost untrusted address of X-Forwarded-For; from anyone else X-Forwarded-For names nobody.
With proxy_protocol: true every connection starts with a PROXY header (v1 text, v2 binary)
that names the client; without a valid one the connection is closed."""

import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402


def access_clients(path, n):
    """The client= value of the last n access log lines (waits for them)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with open(path) as f:
                lines = [ln for ln in f.read().splitlines() if ln.strip()]
        except FileNotFoundError:
            lines = []
        if len(lines) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return [re.search(r"\bclient=(\S+)", ln).group(1) for ln in lines[-n:]]


class TrustedForwardedFor(lt.LvTestCase):
    def run_with(self, trusted, xffs):
        backend = lt.Backend("A")
        log = os.path.join(lt.tmpdir(), "access-%d.log" % len(trusted))
        cfg = lt.make_config([{"name": "s", "upstreams": [backend.hostport]}], access_log=log,
                             extra={"real_client": {"trusted": trusted}})
        lv = lt.Levee.from_config(cfg)
        try:
            ups = []
            for xff in xffs:
                hdrs = [("X-Forwarded-For", xff)] if xff is not None else []
                r = lt.get(lv.addr, "/echo", headers=hdrs)
                self.assertStatus(r, 200)
                ups.append([v for k, v in r.json()["headers"]
                            if k.lower() == "x-forwarded-for"][0])
            lv.signal(15)
            lv.wait_exit(10)
            return access_clients(log, len(xffs)), ups
        finally:
            lv.stop()
            backend.stop()

    def test_behind_a_trusted_proxy(self):
        clients, ups = self.run_with(["127.0.0.1", "10.0.0.0/8"], [
            "203.0.113.9",
            "1.1.1.1, 2.2.2.2, 10.1.1.1",  # rightmost untrusted
            "10.0.0.5, 10.0.0.6",  # all trusted: the leftmost
            "1.1.1.1, garbage, 10.0.0.7",  # the walk ends at what is not an address
            " 2001:db8::1 ,10.9.9.9",
            None,  # no header: the peer
        ])
        self.assertEqual(clients[:5], ["203.0.113.9", "2.2.2.2", "10.0.0.5", "10.0.0.7",
                                       "2001:db8::1"])
        self.assertRegex(clients[5], r"^127\.0\.0\.1:\d+$")
        # Upstream, the chain goes on with the peer, as always.
        self.assertEqual(ups[0], "203.0.113.9, 127.0.0.1")

    def test_untrusted_peer_names_nobody(self):
        clients, _ = self.run_with(["10.0.0.0/8"], ["203.0.113.9", None])
        for c in clients:
            self.assertRegex(c, r"^127\.0\.0\.1:\d+$")

    def test_bad_block_is_a_config_error(self):
        path = lt.write_file("bad-real.yaml", lt.make_config(
            [{"name": "s", "upstreams": ["127.0.0.1:1"]}],
            extra={"real_client": {"trusted": ["10.0.0.0/33", "nope"]}}))
        import subprocess
        res = subprocess.run([lt.LEVEE, "-t", "-c", path], stderr=subprocess.PIPE,
                             stdout=subprocess.PIPE, timeout=20, env=lt.asan_env())
        self.assertNotEqual(res.returncode, 0)
        err = res.stderr.decode()
        self.assertIn("real_client.trusted[0]", err)
        self.assertIn("real_client.trusted[1]", err)


class ProxyProtocol(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = lt.Backend("A")
        cfg = lt.make_config([{"name": "s", "upstreams": [cls.backend.hostport]}],
                             extra={"proxy_protocol": True})
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def exchange(self, pieces):
        s = socket.create_connection(self.levee.addr, timeout=5)
        for p in pieces:
            s.sendall(p)
            time.sleep(0.05)
        data = lt.read_until_eof(s)
        s.close()
        return data

    REQ = b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    def xff_of(self, data):
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        m = re.search(rb'"x-forwarded-for", "([^"]*)"', data, re.I)
        self.assertIsNotNone(m, data[-600:])
        return m.group(1).decode()

    def test_v1(self):
        data = self.exchange([b"PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\n" + self.REQ])
        self.assertEqual(self.xff_of(data), "198.51.100.7")

    def test_v1_tcp6_in_pieces(self):
        data = self.exchange([b"PROXY TCP6 2001:db8::", b"7 ::1 5555 80\r", b"\n" + self.REQ])
        self.assertEqual(self.xff_of(data), "2001:db8::7")

    def test_v2_ipv4(self):
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        addrs = socket.inet_aton("192.0.2.44") + socket.inet_aton("127.0.0.1") + \
            struct.pack("!HH", 40000, 80)
        tlv = b"\x04\x00\x02ab"  # a TLV (NOOP) after the addresses is skipped
        hdr = sig + b"\x21\x11" + struct.pack("!H", len(addrs) + len(tlv)) + addrs + tlv
        data = self.exchange([hdr[:7], hdr[7:] + self.REQ])
        self.assertEqual(self.xff_of(data), "192.0.2.44")

    def test_v2_local_keeps_the_peer(self):
        hdr = b"\r\n\r\n\x00\r\nQUIT\n" + b"\x20\x00\x00\x00"
        data = self.exchange([hdr + self.REQ])
        self.assertEqual(self.xff_of(data), "127.0.0.1")

    def test_missing_or_bad_header_closes(self):
        before = self.metric()
        for bad in (self.REQ, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n" + self.REQ,
                    b"PROXY TCP4 1.2.3 5.6.7.8 1 80\r\n" + self.REQ,
                    b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12 + self.REQ):
            self.assertEqual(self.exchange([bad]), b"", bad)
        self.assertEqual(self.metric(), before + 4)

    def metric(self):
        text = self.levee.admin("/metrics").body.decode()
        return int(re.search(r"(?m)^levee_proxy_protocol_errors_total (\d+)", text).group(1))


if __name__ == "__main__":
    lt.main()
