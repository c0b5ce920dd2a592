"""Integration: TLS. Listeners with certificates chosen by SNI (exact, wildcard, default),
TLS 1.2 and 1.3, ALPN, resumption (tickets, session ids), certificate reload on SIGHUP (good,
bad and mismatched files), TLS to upstreams (verification success and failures, client
certificates), X-Forwarded-Proto and the access log, and hostile clients: a stalled handshake,
garbage instead of a ClientHello, truncated records. Certificates are made here with the
openssl command."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

HAVE_OPENSSL = shutil.which("openssl") is not None


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class Certs:
    """A throw-away CA (and a second, unrelated one) and leaf certificates signed by it."""

    def __init__(self):
        self.dir = os.path.join(lt.tmpdir(), "certs")
        os.makedirs(self.dir, exist_ok=True)
        self.ca = self._ca("ca")
        self.other_ca = self._ca("other-ca")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name):
        key, pem = self.path(name + ".key"), self.path(name + ".pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=levee test " + name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign")
        return (pem, key)

    def leaf(self, name, dns, client=False, ca=None):
        """(cert, key) for the DNS names (the first one is the CN), signed by ca (default CA)."""
        ca_pem, ca_key = ca or self.ca
        key, csr, pem = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".pem")
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(
                ("IP:" if d[0].isdigit() else "DNS:") + d for d in dns))
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + dns[0])
        openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
                "-out", pem, "-days", "2", "-extfile", ext)
        return (pem, key)


def client_ctx(ca=None, max_version=None, min_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def tls_conn(addr, ctx, server_hostname=None, session=None):
    c = lt.HttpConn(addr)
    c.sock = ctx.wrap_socket(c.sock, server_hostname=server_hostname, session=session)
    return c


def read_until_close(conn, timeout):
    """Everything the peer sends until it closes (or timeout seconds pass)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = conn.sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not d:
            break
        data += d
    return data


def peer_cn(conn):
    der = conn.sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return out.strip().split("CN = ")[-1].split("CN=")[-1]


def metric(lv, name, labels=""):
    text = lv.admin("/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.split()[-1])
    return 0.0


def tls_only_levee(name, services, **extra):
    """A levee whose one listener speaks TLS with a fresh certificate for name."""
    cert, key = Certs().leaf(name.split(".")[0], [name])
    extra["listeners"] = [{"listen": "127.0.0.1:0",
                           "tls": {"certificates": [{"cert": cert, "key": key}]}}]
    return lt.Levee.from_config(lt.make_config(services, listen=(), extra=extra))


def hs(lv, result, reason):
    return metric(lv, "levee_tls_handshakes_total",
                  '{result="%s",reason="%s"}' % (result, reason))


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsListener(lt.LvTestCase):
    """One levee with a TLS listener of three certificates (default, exact, wildcard) and a
    plaintext one, in front of a plaintext backend."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()
        cls.default = cls.certs.leaf("default", ["default.test"])
        cls.exact = cls.certs.leaf("exact", ["a.test", "b.test"])
        cls.wild = cls.certs.leaf("wild", ["*.wild.test"])
        cls.backend = lt.Backend("A")
        # The served files are copies: the reload tests replace them.
        cls.live_cert, cls.live_key = cls.certs.path("live.pem"), cls.certs.path("live.key")
        shutil.copy(cls.default[0], cls.live_cert)
        shutil.copy(cls.default[1], cls.live_key)
        cls.access_log = os.path.join(lt.tmpdir(), "tls-access.log")
        cls.cfg_text = lt.make_config(
            [{"name": "app", "upstreams": [cls.backend.hostport]},
             {"name": "off", "upstreams": [cls.backend.hostport], "flag": "off"}],
            routes=[{"path": "/", "service": "app"}, {"path": "/off/", "service": "off"}],
            timeouts={"header_ms": 1500},
            access_log=cls.access_log,
            extra={"access_log_format": "json", "listeners": [{
                "listen": "127.0.0.1:0",
                "tls": {"certificates": [
                    {"cert": cls.live_cert, "key": cls.live_key},
                    {"cert": cls.exact[0], "key": cls.exact[1]},
                    {"cert": cls.wild[0], "key": cls.wild[1]},
                ]},
            }]})
        cls.start_levee(lambda: lt.Levee.from_config(cls.cfg_text), backends=[cls.backend])
        cls.plain, cls.tls = cls.levee.listen[0], cls.levee.listen[1]

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def get(self, ctx, name, target="/echo", session=None):
        with tls_conn(self.tls, ctx, name, session) as c:
            r = c.request("GET", target)
            return r, c.sock.version(), c.sock.selected_alpn_protocol(), c.sock.session, \
                c.sock.session_reused, peer_cn(c)

    def test_handshake_request_and_forwarded_proto(self):
        r, version, alpn, _, _, cn = self.get(client_ctx(self.certs.ca[0]), "default.test")
        self.assertStatus(r, 200)
        self.assertEqual(version, "TLSv1.3")
        self.assertEqual(alpn, "http/1.1")
        self.assertEqual(cn, "default.test")
        headers = {k.lower(): v for k, v in r.json()["headers"]}
        self.assertEqual(headers.get("x-forwarded-proto"), "https")
        # Over plaintext it says http, and a client's own value is not passed on.
        r = lt.get(self.plain, "/echo", headers=[("X-Forwarded-Proto", "https")])
        protos = [v for k, v in r.json()["headers"] if k.lower() == "x-forwarded-proto"]
        self.assertEqual(protos, ["http"])

    def test_levee_answers_itself_over_tls(self):
        # A switched-off feature: the guard's fallback, then a 404, on one TLS connection.
        with tls_conn(self.tls, client_ctx(), "a.test") as c:
            r = c.request("GET", "/off/x")
            self.assertStatus(r, 503)
            self.assertIn(b"switched off", r.body)
            self.assertStatus(c.request("GET", "/echo", headers=[("Host", "a.test")]), 200)

    def test_sni_picks_exact_wildcard_or_default(self):
        ca = client_ctx(self.certs.ca[0])
        self.assertEqual(self.get(ca, "b.test")[5], "a.test")
        self.assertEqual(self.get(ca, "x.wild.test")[5], "*.wild.test")
        anyc = client_ctx()
        self.assertEqual(self.get(anyc, "a.b.wild.test")[5], "default.test")  # one label only
        self.assertEqual(self.get(anyc, "unknown.test")[5], "default.test")
        self.assertEqual(self.get(anyc, None)[5], "default.test")  # no SNI

    def test_resumption_tls13_and_tls12(self):
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = client_ctx(max_version=version)
            before = hs(self.levee, "ok", "resumed")
            r, got, _, session, reused, _ = self.get(ctx, "a.test")
            self.assertStatus(r, 200)
            self.assertEqual(got, "TLSv1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
            self.assertFalse(reused)
            r, _, _, _, reused, cn = self.get(ctx, "a.test", session=session)
            self.assertStatus(r, 200)
            self.assertTrue(reused, version)
            self.assertEqual(cn, "a.test")
            self.assertEqual(hs(self.levee, "ok", "resumed"), before + 1)

    def test_old_versions_refused(self):
        before = hs(self.levee, "failed", "protocol")
        ctx = client_ctx(max_version=ssl.TLSVersion.TLSv1_1, min_version=ssl.TLSVersion.TLSv1)
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, OSError)):
            self.get(ctx, "a.test")
        lt.wait_for(lambda: hs(self.levee, "failed", "protocol") > before, 5, what="counted")

    def test_keepalive_bodies_both_ways(self):
        with tls_conn(self.tls, client_ctx(), "a.test") as c:
            for n in (10, 16384, 1000000):
                r = c.request("GET", "/bytes?n=%d" % n)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, lt.pattern_bytes(0, n))
            r = c.request("GET", "/bytes?n=70000&chunked=1")
            self.assertEqual(r.body, lt.pattern_bytes(0, 70000))
            body = os.urandom(300000)
            r = c.request("POST", "/echo", body=body)
            self.assertStatus(r, 200)
            self.assertEqual(r.json()["body_len"], len(body))
            # Pipelined requests in one write, answered in order.
            c.send(b"GET /echo?1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?2 HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(c.read_response().json()["target"], "/echo?1")
            self.assertEqual(c.read_response().json()["target"], "/echo?2")

    def test_access_log_has_version_and_cipher(self):
        with tls_conn(self.tls, client_ctx(), "a.test") as c:
            r = c.request("GET", "/echo?logged-tls", headers=[("X-Request-Id", "tls-log-1")])
            self.assertStatus(r, 200)
        lt.get(self.plain, "/echo", headers=[("X-Request-Id", "plain-log-1")])
        entries = {}

        def read():
            with open(self.access_log) as f:
                for line in f:
                    e = json.loads(line)
                    entries[e["request_id"]] = e
            return "tls-log-1" in entries and "plain-log-1" in entries
        lt.wait_for(read, 5, what="access log lines")
        self.assertEqual(entries["tls-log-1"]["tls_version"], "TLSv1.3")
        self.assertRegex(entries["tls-log-1"]["tls_cipher"], r"^TLS_")
        self.assertIsNone(entries["plain-log-1"]["tls_version"])

    def test_garbage_instead_of_client_hello(self):
        before = hs(self.levee, "failed", "protocol")
        with lt.HttpConn(self.tls) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            data = read_until_close(c, 5)
        self.assertNotIn(b"HTTP/1.1", data)  # at most an alert, never plaintext
        lt.wait_for(lambda: hs(self.levee, "failed", "protocol") > before, 5, what="counted")
        self.assertStatus(lt.get(self.plain, "/echo"), 200)

    def test_stalled_handshake_times_out(self):
        before = hs(self.levee, "failed", "timeout")
        t0 = time.monotonic()
        with lt.HttpConn(self.tls) as c:
            # Half a ClientHello record, then nothing (timeouts.header_ms: 1500).
            c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20)
            read_until_close(c, 6)
        self.assertLess(time.monotonic() - t0, 5)
        lt.wait_for(lambda: hs(self.levee, "failed", "timeout") > before, 5, what="counted")

    def test_truncated_records(self):
        before = hs(self.levee, "failed", "closed")
        # A record header announcing 16 KiB, a few bytes, then the client leaves.
        with lt.HttpConn(self.tls) as c:
            c.send(b"\x16\x03\x01\x40\x00\x01\x00")
        lt.wait_for(lambda: hs(self.levee, "failed", "closed") > before, 5, what="counted")
        # After a handshake: half an application record, then a close.
        conn = tls_conn(self.tls, client_ctx(), "a.test")
        os.write(conn.sock.fileno(), b"\x17\x03\x03\x01\x00" + b"\x00" * 10)  # raw bytes
        conn.sock.close()
        # A record whose authentication fails: the connection is closed, nothing else.
        conn = tls_conn(self.tls, client_ctx(), "a.test")
        os.write(conn.sock.fileno(), b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        self.assertNotIn(b"HTTP/1.1", read_until_close(conn, 5))
        conn.sock.close()
        time.sleep(0.2)
        self.assertStatus(lt.get(self.plain, "/echo"), 200)
        self.assertStatus(self.get(client_ctx(), "a.test")[0], 200)

    def test_reload_good_bad_and_mismatched(self):
        ca = client_ctx(self.certs.ca[0])
        fresh = self.certs.leaf("fresh", ["default.test", "fresh.test"])
        # A connection opened before the reload keeps working through it.
        old = tls_conn(self.tls, ca, "default.test")
        self.assertStatus(old.request("GET", "/echo"), 200)
        shutil.copy(fresh[0], self.live_cert)
        shutil.copy(fresh[1], self.live_key)
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r"msg=reloaded .*tls_certificates=3", start=mark)
        self.assertEqual(self.get(ca, "fresh.test")[5], "default.test")
        self.assertEqual(self.get(client_ctx(), "fresh.test")[5], "default.test")
        with tls_conn(self.tls, ca, "fresh.test") as c:  # the new certificate names it
            self.assertStatus(c.request("GET", "/echo"), 200)
        self.assertStatus(old.request("GET", "/echo"), 200)
        old.close()

        # A key that does not match: refused, the running certificate stays.
        shutil.copy(self.exact[1], self.live_key)
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r"comp=tls .*does not match the certificate", start=mark)
        self.levee.wait_log(r"msg=\"reload refused\"", start=mark)
        with tls_conn(self.tls, ca, "fresh.test") as c:
            self.assertStatus(c.request("GET", "/echo"), 200)

        # A certificate file that is not PEM: refused too.
        with open(self.live_cert, "w") as f:
            f.write("not a certificate\n")
        mark = self.levee.log_mark()
        self.levee.signal(signal.SIGHUP)
        self.levee.wait_log(r"comp=tls .*cannot load the certificate chain", start=mark)
        self.levee.wait_log(r"msg=\"reload refused\"", start=mark)
        with tls_conn(self.tls, ca, "fresh.test") as c:
            self.assertStatus(c.request("GET", "/echo"), 200)
        shutil.copy(fresh[0], self.live_cert)
        shutil.copy(fresh[1], self.live_key)


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsAfterProxyHeader(lt.LvTestCase):
    """proxy_protocol on a TLS listener: the PROXY header comes first, then the handshake."""

    def test_proxy_header_then_tls(self):
        backend = lt.Backend("P")
        lv = tls_only_levee("pp.test", [{"name": "app", "upstreams": [backend.hostport]}],
                            proxy_protocol=True)
        try:
            for split in (False, True):
                with lt.HttpConn(lv.addr) as c:
                    header = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n"
                    if split:  # the header in two reads, then TLS
                        c.send(header[:10])
                        time.sleep(0.05)
                        header = header[10:]
                    c.send(header)
                    c.sock = client_ctx().wrap_socket(c.sock, server_hostname="pp.test")
                    r = c.request("GET", "/echo")
                    self.assertStatus(r, 200)
                    xff = [v for k, v in r.json()["headers"] if k.lower() == "x-forwarded-for"]
                    self.assertEqual(xff, ["203.0.113.7"])
        finally:
            lv.stop(check=True)
            backend.stop()


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsGuard(lt.LvTestCase):
    """The guard over TLS: a service with one slot and no queue sheds the second request."""

    def test_shed_over_tls(self):
        backend = lt.Backend("G")
        lv = tls_only_levee("guard.test", [{"name": "one", "upstreams": [backend.hostport],
                                            "limit": {"initial": 1, "min": 1, "max": 1},
                                            "queue": {"max": 0}}])
        try:
            slow = tls_conn(lv.addr, client_ctx(), "guard.test")
            slow.send(lt.HttpConn.build("GET", "/slow?ms=1500"))
            backend.wait_stat(lambda st: st["paths"].get("/slow", 0) >= 1, what="slow request in")
            with tls_conn(lv.addr, client_ctx(), "guard.test") as c:
                r = c.request("GET", "/echo")
                self.assertStatus(r, 503)
                self.assertIsNotNone(r.header("Retry-After"))
            self.assertStatus(slow.read_response(), 200)
            slow.close()
            text = lv.admin("/metrics").body.decode()
            self.assertIn('levee_guard_decisions_total{service="one",decision="shed"} 1', text)
        finally:
            lv.stop(check=True)
            backend.stop()


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class HandshakeBurst(lt.LvTestCase):
    def test_burst_of_handshakes_yields_and_completes(self):
        """60 clients shake hands at once with one worker: after each millisecond of
        handshakes the worker gives its other connections a turn (counted), and every
        handshake still completes and its request is answered."""
        backend = lt.Backend("B")
        lv = tls_only_levee("burst.test", [{"name": "b", "upstreams": [backend.hostport]}])
        n, results, lock = 60, [], threading.Lock()
        barrier = threading.Barrier(n)

        def one():
            try:
                barrier.wait(10)
                with tls_conn(lv.addr, client_ctx(), "burst.test") as c:
                    what = c.request("GET", "/echo").status
            except Exception as e:  # counted below
                what = repr(e)
            with lock:
                results.append(what)
        try:
            threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(results, [200] * n)
            self.assertEqual(hs(lv, "ok", "full"), n)
            self.assertGreater(metric(lv, "levee_tls_handshakes_yielded_total", ""), 0)
        finally:
            lv.stop(check=True)
            backend.stop()


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsUpstream(lt.LvTestCase):
    """Services that speak TLS to a TLS backend: verified, misnamed, untrusted, with and
    without the client certificate the backend requires."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()
        server = cls.certs.leaf("upstream", ["upstream.test"])
        cls.client = cls.certs.leaf("levee-client", ["levee.client"], client=True)
        cls.origin = lt.Backend("T", tls=["--tls-cert", server[0], "--tls-key", server[1]])
        cls.mtls = lt.Backend("M", tls=["--tls-cert", server[0], "--tls-key", server[1],
                                        "--tls-client-ca", cls.certs.ca[0]])
        ca = cls.certs.ca[0]
        svc = [
            {"name": "good", "upstreams": [cls.origin.hostport],
             "tls": {"enabled": True, "ca_file": ca, "server_name": "upstream.test"}},
            {"name": "misnamed", "upstreams": [cls.origin.hostport],
             "tls": {"enabled": True, "ca_file": ca, "server_name": "other.test"}},
            {"name": "untrusted", "upstreams": [cls.origin.hostport],
             "tls": {"enabled": True, "ca_file": cls.certs.other_ca[0],
                     "server_name": "upstream.test"}},
            {"name": "noverify", "upstreams": [cls.origin.hostport],
             "tls": {"enabled": True, "verify": False}},
            {"name": "fresh", "upstreams": [cls.origin.hostport], "keepalive": 0,
             "tls": {"enabled": True, "ca_file": ca, "server_name": "upstream.test"}},
            {"name": "mtls", "upstreams": [cls.mtls.hostport],
             "tls": {"enabled": True, "ca_file": ca, "server_name": "upstream.test",
                     "cert": cls.client[0], "key": cls.client[1]}},
            {"name": "mtls-nocert", "upstreams": [cls.mtls.hostport],
             "tls": {"enabled": True, "ca_file": ca, "server_name": "upstream.test"}},
        ]
        routes = [{"path": "/%s/" % s["name"], "service": s["name"]} for s in svc]
        routes.append({"path": "/bytes", "service": "good"})
        cfg = lt.make_config(svc, routes=routes)
        cls.start_levee(lambda: lt.Levee.from_config(cfg), backends=[cls.origin, cls.mtls])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def up(self, service, result):
        return metric(self.levee, "levee_upstream_tls_handshakes_total",
                      '{service="%s",result="%s"}' % (service, result))

    def test_verified_upstream(self):
        with lt.HttpConn(self.levee.addr) as c:
            for i in range(3):
                r = c.request("GET", "/good/x%d" % i)
                self.assertStatus(r, 200)
                self.assertEqual(r.header("X-Backend"), "T")
            r = c.request("POST", "/good/post", body=os.urandom(200000))
            self.assertEqual(r.json()["body_len"], 200000)
            r = c.request("GET", "/bytes?n=500000")
            self.assertEqual(r.body, lt.pattern_bytes(0, 500000))
        self.assertGreaterEqual(self.up("good", "ok"), 1)
        self.assertStatus(lt.get(self.levee.addr, "/noverify/"), 200)

    def test_new_upstream_connections_resume(self):
        # No keep-alive: every request opens a connection; all but the first resume.
        resumed = [lt.get(self.levee.addr, "/fresh/%d" % i).json()["tls_resumed"]
                   for i in range(3)]
        self.assertEqual(resumed, [False, True, True])

    def test_verification_failures_are_502(self):
        self.assertStatus(lt.get(self.levee.addr, "/misnamed/"), 502)
        self.assertGreaterEqual(self.up("misnamed", "verify_failed"), 1)
        self.assertStatus(lt.get(self.levee.addr, "/untrusted/"), 502)
        self.assertGreaterEqual(self.up("untrusted", "verify_failed"), 1)
        self.levee.wait_log(r"comp=upstream .*kind=tls detail=\"TLS handshake: ")

    def test_client_certificate(self):
        self.assertStatus(lt.get(self.levee.addr, "/mtls/"), 200)
        self.assertStatus(lt.get(self.levee.addr, "/mtls-nocert/"), 502)


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsHealthChecks(lt.LvTestCase):
    """Active health checks of TLS upstreams speak TLS, verified like requests: a host that
    answers its checks stays in, one whose check path answers 500 or whose certificate is not
    trusted goes down, and a client certificate is presented where the backend asks for it."""

    def test_checks_over_tls(self):
        certs = Certs()
        server = certs.leaf("upstream", ["upstream.test"])
        client = certs.leaf("levee-client", ["levee.client"], client=True)
        origin = lt.Backend("T", tls=["--tls-cert", server[0], "--tls-key", server[1]])
        mtls = lt.Backend("M", tls=["--tls-cert", server[0], "--tls-key", server[1],
                                    "--tls-client-ca", certs.ca[0]])
        ca = certs.ca[0]

        def svc(name, upstream, path, **tls):
            conf = {"enabled": True, "ca_file": ca, "server_name": "upstream.test"}
            conf.update(tls)
            return {"name": name, "upstreams": [upstream.hostport],
                    "tls": conf,
                    "health_check": {"path": path, "interval_ms": 100, "timeout_ms": 2000,
                                     "unhealthy": 2, "healthy": 1}}
        services = [
            svc("ok", origin, "/echo"),
            svc("bad", origin, "/status?code=500"),
            svc("untrusted", origin, "/echo", ca_file=certs.other_ca[0]),
            svc("misnamed", origin, "/echo", server_name="other.test"),
            svc("mtls", mtls, "/echo", cert=client[0], key=client[1]),
            svc("mtls-nocert", mtls, "/echo"),
        ]
        routes = [{"path": "/%s/" % s["name"], "service": s["name"]} for s in services]
        lv = lt.Levee.from_config(lt.make_config(services, routes=routes))

        def checks(service, result):
            return metric(lv, "levee_upstream_host_checks_total",
                          '{service="%s",host="%s",result="%s"}'
                          % (service, services_by[service]["upstreams"][0], result))

        def up(service):
            return metric(lv, "levee_upstream_host_up", '{service="%s",host="%s"}'
                          % (service, services_by[service]["upstreams"][0]))
        services_by = {s["name"]: s for s in services}
        try:
            for name in ("ok", "mtls"):
                lt.wait_for(lambda: checks(name, "ok") >= 4, what="%s checks" % name)
            lv.wait_log(r'msg="host down" service=bad host=%s reason="status 500"'
                        % origin.hostport, timeout=10)
            lv.wait_log(r'msg="host down" service=untrusted host=%s reason="TLS handshake: '
                        r'[^"]*certificate' % origin.hostport, timeout=10)
            lv.wait_log(r'msg="host down" service=misnamed host=%s reason="TLS handshake: '
                        % origin.hostport, timeout=10)
            lv.wait_log(r'msg="host down" service=mtls-nocert host=%s reason="' % mtls.hostport,
                        timeout=10)
            for name in ("ok", "mtls"):
                self.assertEqual(up(name), 1, name)
                self.assertEqual(checks(name, "failed"), 0, name)
            for name in ("bad", "untrusted", "misnamed", "mtls-nocert"):
                self.assertEqual(up(name), 0, name)
                self.assertEqual(checks(name, "ok"), 0, name)
                self.assertGreaterEqual(checks(name, "failed"), 2, name)
            # The checks' handshakes are counted per host, by result (the requests' own are in
            # levee_upstream_tls_handshakes_total).
            def shakes(service, result):
                return metric(lv, "levee_upstream_host_check_tls_handshakes_total",
                              '{service="%s",host="%s",result="%s"}'
                              % (service, services_by[service]["upstreams"][0], result))
            for name in ("ok", "mtls", "bad"):
                self.assertGreaterEqual(shakes(name, "ok"), 2, name)
                self.assertEqual(shakes(name, "verify_failed") + shakes(name, "failed"), 0, name)
            for name in ("untrusted", "misnamed"):
                self.assertEqual(shakes(name, "ok"), 0, name)
                self.assertGreaterEqual(shakes(name, "verify_failed"), 2, name)
            st = lv.admin("/status").json()
            states = {s["name"]: s["hosts"][0]["state"] for s in st["services"]}
            self.assertEqual(states["ok"], "up")
            self.assertEqual(states["bad"], "down")
            self.assertEqual(states["untrusted"], "down")
            # Requests still go through the service whose host passes its checks.
            self.assertStatus(lt.get(lv.addr, "/ok/x"), 200)
            # A reload keeps checking over TLS (the new snapshot's contexts).
            n = checks("ok", "ok")
            lv.signal(1)
            lv.wait_log(r"msg=reloaded", timeout=10)
            lt.wait_for(lambda: checks("ok", "ok") > n + 2, what="checks after the reload")
            self.assertEqual(up("ok"), 1)
        finally:
            lv.stop(check=True)
            origin.stop()
            mtls.stop()


@unittest.skipUnless(HAVE_OPENSSL, "the openssl command is needed to make certificates")
class TlsQuickModeAndCheck(lt.LvTestCase):
    def test_quick_mode_and_config_check(self):
        certs = Certs()
        cert, key = certs.leaf("quick", ["quick.test"])
        backend = lt.Backend("Q")
        try:
            lv = lt.Levee.quick([backend], extra_args=["--tls-cert", cert, "--tls-key", key])
            try:
                with tls_conn(lv.addr, client_ctx(certs.ca[0]), "quick.test") as c:
                    self.assertStatus(c.request("GET", "/echo"), 200)
            finally:
                lv.stop(check=True)
        finally:
            backend.stop()
        # levee -t reads the files: a key of another certificate is an error.
        other = certs.leaf("other", ["other.test"])
        cfg = lt.make_config([{"name": "a", "upstreams": ["127.0.0.1:1"]}], extra={
            "listeners": [{"listen": "127.0.0.1:0", "tls": {"certificates": [
                {"cert": cert, "key": other[1]}]}}]})
        path = lt.write_file("tls-check.yaml", cfg)
        p = subprocess.run([lt.LEVEE, "-t", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=lt.asan_env())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"does not match the certificate", p.stderr)


if __name__ == "__main__":
    lt.main()
