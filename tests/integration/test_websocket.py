"""Integration: websocket tunnels (routes[].websocket). A websocket backend on raw sockets
answers the handshake with 101 and echoes the bytes after it; through levee the 101 is relayed,
bytes flow both ways (1 MiB through the backpressure), a FIN from either side is passed on while
the other direction keeps flowing (half-close), idle timeouts and closes end the tunnel on both
sides, a route without websocket strips Upgrade, and a 200 answer is relayed as such. The same
over a TLS listener and to a TLS backend."""

import base64
import hashlib
import os
import select
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402
import test_tls  # noqa: E402  (certificates and client contexts)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class WsBackend:
    """Per connection: reads one head; /plain... or no Upgrade: 200 with a short body (and the
    next request on the connection); /refuse...: 200 even to an upgrade; else 101 with
    Sec-WebSocket-Accept, a greeting in the same write, then by the target:
    .../halfwait: reads until EOF, then sends b"reply:" and what it read, then closes;
    .../halfclose: sends b"bye", shuts its writing down, then reads until EOF and closes;
    .../halfhold: reads until EOF, then holds the connection for 3 s;
    else echoes every byte until EOF (or a read of exactly b"close-me", which closes).
    Keeps each connection's head and what a half-close mode read (`got`), and sets its
    `closed` event when the peer closed. ssl_ctx: a server context to speak TLS with."""

    def __init__(self, ssl_ctx=None):
        self.ssl_ctx = ssl_ctx
        self.lock = threading.Lock()
        self.conns = []
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.hostport = "127.0.0.1:%d" % self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            rec = {"heads": [], "closed": threading.Event()}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._serve, args=(c, rec), daemon=True).start()

    def _serve(self, c, rec):
        buf = b""
        c.settimeout(30)
        try:
            if self.ssl_ctx:
                c = self.ssl_ctx.wrap_socket(c, server_side=True)
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                target = lines[0].split(" ")[1]
                rec["heads"].append((target, hdrs))
                upgrade = hdrs.get("upgrade", "").lower() == "websocket"
                if not upgrade or target.startswith("/plain") or "/refuse" in target:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
                    continue
                key = hdrs.get("sec-websocket-key", "").encode()
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_of(key) +
                          b"\r\n\r\ngreeting")
                if "/half" in target:
                    self._half(c, rec, target, buf)
                    return
                if buf:
                    c.sendall(buf)
                while True:
                    d = c.recv(65536)
                    if not d or d == b"close-me":
                        return
                    c.sendall(d)
        except OSError:
            return
        finally:
            rec["closed"].set()
            c.close()

    @staticmethod
    def _half(c, rec, target, got):
        if "/halfclose" in target:
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        rec["got"] = got
        if "/halfwait" in target:
            c.sendall(b"reply:" + got)
        elif "/halfhold" in target:
            time.sleep(3)

    def last(self):
        with self.lock:
            return self.conns[-1]

    def stop(self):
        self.srv.close()


def handshake(addr, target="/ws/chat", extra=b"", wrap=None):
    """Opens a connection (wrap: e.g. into TLS) and sends a websocket handshake; returns
    (socket, head, rest)."""
    s = socket.create_connection(addr, timeout=10)
    if wrap:
        s = wrap(s)
    s.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: levee.test\r\n"
              b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + KEY +
              b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + extra)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise lt.ConnectionClosedEarly("closed before a response head")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return s, head.decode("latin-1"), rest


def recv_exact(s, n, have=b""):
    buf = have
    while len(buf) < n:
        d = s.recv(min(1 << 20, n - len(buf)))
        if not d:
            raise lt.ConnectionClosedEarly("closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def echo_both_ways(s, n=1 << 20):
    """n random bytes written from a second thread while the echo is read: backpressure both
    ways. Returns (sent, received)."""
    big = os.urandom(n)
    t = threading.Thread(target=s.sendall, args=(big,))
    t.start()
    got = recv_exact(s, len(big))
    t.join()
    return big, got


def pump_tls(s, data, timeout=20):
    """Writes data on the non-blocking SSL socket s while reading as much back; returns it."""
    s.setblocking(False)
    out, got = 0, b""
    deadline = time.monotonic() + timeout
    while len(got) < len(data) and time.monotonic() < deadline:
        want_w = [s] if out < len(data) else []
        r, w, _ = select.select([s], want_w, [], 0.5)
        if w:
            try:
                out += s.send(data[out:out + 65536])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        while True:
            try:
                d = s.recv(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not d:
                return got
            got += d
    s.setblocking(True)
    return got


def read_to_eof(s, timeout=5):
    """Everything s receives until the peer's FIN (a timeout or reset fails the test)."""
    s.settimeout(timeout)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def wait_closed(s, timeout):
    """True when the peer closes (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def metric(lv, name, labels):
    for line in lv.admin("/metrics").body.decode().splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return 0.0


class TunnelCounts:
    """The service "ws"'s tunnel gauge, its tunnels ended with result, and a wait for either."""

    def tunnels(self, result=None):
        if result is None:
            return metric(self.levee, "levee_websocket_tunnels", '{service="ws"}')
        return metric(self.levee, "levee_websocket_tunnels_total",
                      '{service="ws",result="%s"}' % result)

    def wait_metric(self, fn, want, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fn() == want:
                return
            time.sleep(0.02)
        self.assertEqual(fn(), want)


class Websocket(TunnelCounts, lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = WsBackend()
        cfg = lt.make_config(
            [{"name": "ws", "upstreams": [cls.backend.hostport]},
             {"name": "capped", "upstreams": [cls.backend.hostport], "websocket_max_tunnels": 1}],
            routes=[{"path": "/", "service": "ws"},
                    {"path": "/capped/", "service": "capped", "websocket": True},
                    {"path": "/ws/", "service": "ws", "websocket": True},
                    {"path": "/idle/", "service": "ws", "websocket": True,
                     "websocket_idle_ms": 300},
                    {"path": "/short/", "service": "ws", "websocket": True,
                     "websocket_idle_ms": 5000, "websocket_max_ms": 400}])
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])
        cls.addr = cls.levee.addr

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()


    def test_handshake_and_messages(self):
        closed_before = self.tunnels("closed")
        s, head, rest = handshake(self.addr)
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            low = head.lower()
            self.assertIn("\r\nupgrade: websocket", low)
            self.assertIn("\r\nconnection: upgrade", low)
            self.assertIn("sec-websocket-accept: " + accept_of(KEY).decode().lower(), low)
            target, hdrs = self.backend.last()["heads"][-1]
            self.assertEqual(hdrs.get("upgrade"), "websocket")
            self.assertEqual(hdrs.get("connection", "").lower(), "upgrade")
            self.assertEqual(hdrs.get("sec-websocket-key"), KEY.decode())
            self.assertEqual(hdrs.get("sec-websocket-version"), "13")
            # What followed the 101 in the backend's write, then echoes.
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            self.assertEqual(self.tunnels(), 1)
            for msg in (b"hello", b"\x81\x05world", bytes(range(256)) * 40):
                s.sendall(msg)
                self.assertEqual(recv_exact(s, len(msg)), msg)
            # 1 MiB each way, written while the echo is read: backpressure both ways.
            big, got = echo_both_ways(s)
            self.assertEqual(got, big)
            rec = self.backend.last()
        # The client closed: the upstream side is closed too.
        self.assertTrue(rec["closed"].wait(5), "the backend's connection stayed open")
        self.wait_metric(self.tunnels, 0)
        self.wait_metric(lambda: self.tunnels("closed"), closed_before + 1)

    def test_bytes_sent_with_the_handshake(self):
        s, head, rest = handshake(self.addr, extra=b"early")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 13, rest), b"greetingearly")

    def test_client_half_close_upstream_still_answers(self):
        self.wait_metric(self.tunnels, 0)  # the previous tests' tunnels are counted
        closed, errors = self.tunnels("closed"), self.tunnels("error")
        s, head, rest = handshake(self.addr, "/ws/halfwait")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            rec = self.backend.last()
            big = os.urandom(1 << 20)  # past the backpressure marks, each way in turn
            s.sendall(b"question" + big)
            s.shutdown(socket.SHUT_WR)
            # The backend saw the FIN, and its answer after it still reaches the client; then
            # the backend's close ends the tunnel.
            self.assertEqual(read_to_eof(s), b"reply:question" + big)
        self.assertTrue(rec["closed"].wait(5), "the backend's connection stayed open")
        self.assertEqual(rec["got"], b"question" + big)
        self.wait_metric(self.tunnels, 0)
        self.wait_metric(lambda: self.tunnels("closed"), closed + 1)
        self.assertEqual(self.tunnels("error"), errors)

    def test_upstream_half_close_client_still_sends(self):
        self.wait_metric(self.tunnels, 0)  # the previous tests' tunnels are counted
        closed, errors = self.tunnels("closed"), self.tunnels("error")
        s, head, rest = handshake(self.addr, "/ws/halfclose")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            # The backend's FIN reaches the client after its bytes...
            self.assertEqual(rest + read_to_eof(s), b"greetingbye")
            rec = self.backend.last()
            # ...and what the client sends after it still reaches the backend.
            s.sendall(b"still here")
            time.sleep(0.1)
            s.sendall(b", and here")
            s.shutdown(socket.SHUT_WR)
            self.assertTrue(rec["closed"].wait(5), "the backend never saw the client's FIN")
            self.assertTrue(wait_closed(s, 5), "the client's connection stayed open")
        self.assertEqual(rec["got"], b"still here, and here")
        self.wait_metric(self.tunnels, 0)
        self.wait_metric(lambda: self.tunnels("closed"), closed + 1)
        self.assertEqual(self.tunnels("error"), errors)

    def test_idle_timeout_ends_half_closed_tunnel(self):
        before = self.tunnels("idle_timeout")
        s, head, rest = handshake(self.addr, "/idle/halfhold")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            s.shutdown(socket.SHUT_WR)
            # The backend holds its side open: the idle timeout ends the tunnel, not its close.
            t0 = time.monotonic()
            self.assertTrue(wait_closed(s, 5), "a half-closed tunnel stayed open")
            self.assertLess(time.monotonic() - t0, 2.5)
        self.wait_metric(lambda: self.tunnels("idle_timeout"), before + 1)

    def test_upstream_close_closes_client(self):
        s, head, rest = handshake(self.addr)
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            recv_exact(s, 8, rest)
            s.sendall(b"abc")
            self.assertEqual(recv_exact(s, 3), b"abc")
            s.sendall(b"close-me")  # the backend closes: so does levee, after what it sent
            self.assertTrue(wait_closed(s, 5), "the client's connection stayed open")
        self.wait_metric(self.tunnels, 0)

    def test_idle_timeout(self):
        before = self.tunnels("idle_timeout")
        s, head, rest = handshake(self.addr, "/idle/x")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            # Traffic keeps it open past the idle timeout...
            for _ in range(4):
                time.sleep(0.15)
                s.sendall(b"ping")
                self.assertEqual(recv_exact(s, 4), b"ping")
            rec = self.backend.last()
            # ...silence closes it.
            t0 = time.monotonic()
            self.assertTrue(wait_closed(s, 5), "no idle timeout")
            self.assertGreater(time.monotonic() - t0, 0.2)
        self.assertTrue(rec["closed"].wait(5))
        self.wait_metric(lambda: self.tunnels("idle_timeout"), before + 1)

    def test_total_timeout(self):
        before = self.tunnels("total_timeout")
        s, head, rest = handshake(self.addr, "/short/x")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            recv_exact(s, 8, rest)
            deadline = time.monotonic() + 5
            closed = False
            while time.monotonic() < deadline and not closed:
                try:
                    s.sendall(b"x")
                    s.settimeout(0.1)
                    closed = s.recv(16) == b""
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
            self.assertTrue(closed, "no total timeout")
        self.wait_metric(lambda: self.tunnels("total_timeout"), before + 1)

    def test_route_without_websocket_strips_upgrade(self):
        s, head, rest = handshake(self.addr, "/other")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
            self.assertNotIn("upgrade", head.lower())
            target, hdrs = self.backend.last()["heads"][-1]
            self.assertEqual(target, "/other")
            self.assertNotIn("upgrade", hdrs)
            self.assertNotIn("upgrade", hdrs.get("connection", "").lower())

    def test_tunnel_cap(self):
        s, head, rest = handshake(self.addr, "/capped/a")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            s2, head2, _ = handshake(self.addr, "/capped/b")
            s2.close()
            self.assertTrue(head2.startswith("HTTP/1.1 503 "), head2)
            self.assertEqual(metric(self.levee, "levee_websocket_tunnels_total",
                                    '{service="capped",result="refused"}'), 1)
        self.wait_metric(lambda: metric(self.levee, "levee_websocket_tunnels",
                                        '{service="capped"}'), 0)
        s, head, rest = handshake(self.addr, "/capped/c")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)

    def test_upstream_refusing_upgrade_is_relayed(self):
        s, head, rest = handshake(self.addr, "/ws/refuse")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
            self.assertEqual(recv_exact(s, 5, rest), b"plain")
            # The connection is plain HTTP again.
            s.sendall(b"GET /ws/plain2 HTTP/1.1\r\nHost: levee.test\r\n\r\n")
            buf = b""
            while b"plain" not in buf.partition(b"\r\n\r\n")[2]:
                d = s.recv(65536)
                self.assertTrue(d, "closed")
                buf += d
            self.assertTrue(buf.startswith(b"HTTP/1.1 200 "), buf)


class WebsocketDrain(lt.LvTestCase):
    def test_sigterm_closes_open_tunnels(self):
        backend = WsBackend()
        lv = lt.Levee.from_config(lt.make_config(
            [{"name": "ws", "upstreams": [backend.hostport]}],
            routes=[{"path": "/", "service": "ws", "websocket": True}]))
        try:
            s, head, rest = handshake(lv.addr, "/chat")
            with s:
                self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
                self.assertEqual(recv_exact(s, 8, rest), b"greeting")
                rec = backend.last()
                t0 = time.monotonic()
                rc = lv.stop(check=True)  # a drain: the tunnel is closed, levee exits 0
                self.assertEqual(rc, 0)
                self.assertLess(time.monotonic() - t0, 5)
                self.assertTrue(wait_closed(s, 5))
            self.assertTrue(rec["closed"].wait(5))
        finally:
            lv.stop()
            backend.stop()


@unittest.skipUnless(test_tls.HAVE_OPENSSL, "the openssl command is needed to make certificates")
class WebsocketOverTls(lt.LvTestCase):
    """The same tunnel behind a TLS listener: the client side's bytes go through TLS."""

    @classmethod
    def setUpClass(cls):
        cls.backend = WsBackend()
        cls.start_levee(lambda: test_tls.tls_only_levee(
            "ws.test", [{"name": "ws", "upstreams": [cls.backend.hostport]}],
            routes=[{"path": "/", "service": "ws", "websocket": True}]),
            backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def test_tunnel_over_tls(self):
        ctx = test_tls.client_ctx()
        s, head, rest = handshake(self.levee.addr, "/chat", extra=b"early",
                                  wrap=lambda s: ctx.wrap_socket(s, server_hostname="ws.test"))
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 13, rest), b"greetingearly")
            # 1 MiB written while the echo is read, in one thread (an SSL socket is not for two
            # threads at once): backpressure both ways, through TLS.
            big = os.urandom(1 << 20)
            self.assertEqual(pump_tls(s, big), big)
            rec = self.backend.last()
        self.assertTrue(rec["closed"].wait(5), "the backend's connection stayed open")
        self.assertEqual(metric(self.levee, "levee_websocket_tunnels", '{service="ws"}'), 0)

    def test_upstream_half_close_over_tls(self):
        """The backend's FIN reaches the TLS client as close_notify; the client still sends."""
        ctx = test_tls.client_ctx()
        s, head, rest = handshake(self.levee.addr, "/halfclose",
                                  wrap=lambda s: ctx.wrap_socket(s, server_hostname="ws.test"))
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(rest + read_to_eof(s), b"greetingbye")
            rec = self.backend.last()
            s.sendall(b"after close_notify")
            s.shutdown(socket.SHUT_RDWR)  # a TCP FIN without close_notify: as an EOF too
            self.assertTrue(rec["closed"].wait(5), "the backend never saw the client's end")
        self.assertEqual(rec["got"], b"after close_notify")
        self.assertEqual(metric(self.levee, "levee_websocket_tunnels", '{service="ws"}'), 0)


@unittest.skipUnless(test_tls.HAVE_OPENSSL, "the openssl command is needed to make certificates")
class WebsocketToTlsUpstream(TunnelCounts, lt.LvTestCase):
    """A plaintext listener in front of a TLS backend (services[].tls, verified with a CA made
    here): the upstream side's bytes go through TLS."""

    @classmethod
    def setUpClass(cls):
        certs = test_tls.Certs()
        cert, key = certs.leaf("upstream", ["upstream.test"])
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        cls.backend = WsBackend(ssl_ctx=sctx)
        cfg = lt.make_config(
            [{"name": "ws", "upstreams": [cls.backend.hostport],
              "tls": {"enabled": True, "ca_file": certs.ca[0], "server_name": "upstream.test"}}],
            routes=[{"path": "/", "service": "ws", "websocket": True}])
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.backend])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()


    def test_tunnel_to_tls_upstream(self):
        closed = self.tunnels("closed")
        s, head, rest = handshake(self.levee.addr, "/chat", extra=b"early")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertIn("sec-websocket-accept: " + accept_of(KEY).decode().lower(),
                          head.lower())
            self.assertEqual(recv_exact(s, 13, rest), b"greetingearly")
            for msg in (b"hello", bytes(range(256)) * 40):
                s.sendall(msg)
                self.assertEqual(recv_exact(s, len(msg)), msg)
            big, got = echo_both_ways(s)  # backpressure both ways, through the upstream's TLS
            self.assertEqual(got, big)
            rec = self.backend.last()
        self.assertTrue(rec["closed"].wait(5), "the backend's connection stayed open")
        self.wait_metric(lambda: self.tunnels("closed"), closed + 1)
        self.assertEqual(self.tunnels(), 0)
        self.assertGreaterEqual(metric(self.levee, "levee_upstream_tls_handshakes_total",
                                       '{service="ws",result="ok"}'), 1)

    def test_upstream_close_over_tls_closes_client(self):
        s, head, rest = handshake(self.levee.addr, "/chat")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            s.sendall(b"abc")
            self.assertEqual(recv_exact(s, 3), b"abc")
            s.sendall(b"close-me")  # the backend closes its TLS connection: so does levee
            self.assertTrue(wait_closed(s, 5), "the client's connection stayed open")

    def test_client_half_close_through_tls_upstream(self):
        """The client's FIN goes to the backend as close_notify (then FIN); its answer after
        that still reaches the client."""
        s, head, rest = handshake(self.levee.addr, "/halfwait")
        with s:
            self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
            self.assertEqual(recv_exact(s, 8, rest), b"greeting")
            rec = self.backend.last()
            s.sendall(b"question")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(read_to_eof(s), b"reply:question")
        self.assertTrue(rec["closed"].wait(5), "the backend's connection stayed open")
        self.assertEqual(rec["got"], b"question")


if __name__ == "__main__":
    lt.main()
