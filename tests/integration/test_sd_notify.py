#!/usr/bin/env python3
"""tests/integration/test_sd_notify.py: levee as a systemd Type=notify service. The test plays
systemd's part: it binds the datagram socket named in NOTIFY_SOCKET (abstract '@name' and a file
path), starts levee with it, and checks what arrives and when: READY=1 only once the listen port
accepts and proxies (a request sent the moment READY=1 arrives, without retrying, gets the
backend's answer), from levee's own pid (systemd's NotifyAccess=main); RELOADING=1 (with
MONOTONIC_USEC) then READY=1 around a SIGHUP reload, good or refused; STOPPING=1 on SIGTERM.
A NOTIFY_SOCKET nobody listens on costs a warning, not the start.
"""

import os
import re
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402


class Notifier:
    """The service manager's end: a datagram socket that reads the sender's pid (SO_PASSCRED)."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        name = "levee-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        if abstract:
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            self.env_value = os.path.join(lt.tmpdir(), "notify.sock")
            self.sock.bind(self.env_value)

    def recv(self, timeout):
        """(text, sender pid), or (None, None) when nothing arrives in time."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None, None
        pid = None
        for level, kind, body in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", body[:12])[0]
        return data.decode(), pid

    def close(self):
        self.sock.close()


def fields(text):
    return dict(line.split("=", 1) for line in text.split("\n") if line)


class SdNotify(lt.LvTestCase):
    def setUp(self):
        self.backend = lt.Backend()
        self.addCleanup(self.backend.stop)

    def start(self, notifier_value, text=None):
        cfg = text or lt.make_config([{"name": "app", "upstreams": [self.backend.hostport]}])
        env = lt.asan_env()
        env["NOTIFY_SOCKET"] = notifier_value
        self.levee = lt.Levee.from_config(cfg, env=env, wait_ready=False)
        self.addCleanup(self.levee.stop)
        return self.levee

    def expect(self, notifier, key, timeout=20):
        text, pid = notifier.recv(timeout)
        self.assertIsNotNone(text, "no datagram within %ss (waiting for %s)" % (timeout, key))
        self.assertEqual(pid, self.levee.pid, "sent by pid %s, not levee's" % pid)
        got = fields(text)
        self.assertEqual(got.get(key), "1", "expected %s=1, got %r" % (key, text))
        return got

    def request_now(self):
        """One GET through levee on a fresh connection, no retry: the listener must accept."""
        line = self.levee.wait_log(r"msg=listening proto=http addr=", timeout=5)
        m = re.search(r"addr=\"?([0-9.]+):(\d+)", line.string)
        r = lt.get((m.group(1), int(m.group(2))), "/notify", timeout=5)
        self.assertEqual(r.status, 200, r)

    def test_ready_reload_stopping_on_abstract_socket(self):
        n = Notifier(abstract=True)
        self.addCleanup(n.close)
        lv = self.start(n.env_value)
        got = self.expect(n, "READY")  # the first datagram: nothing before the listeners
        self.request_now()
        self.assertIn("started", got.get("STATUS", ""))
        self.assertIn("msg=ready", "\n".join(lv.stderr_lines()))

        mark = lv.log_mark()
        lv.signal(signal.SIGHUP)
        got = self.expect(n, "RELOADING")
        usec = int(got["MONOTONIC_USEC"])
        self.assertLessEqual(usec, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        got = self.expect(n, "READY")
        self.assertTrue(got["STATUS"].startswith("reloaded"), got)
        lv.wait_log(r"msg=reloaded", start=mark)
        self.request_now()

        with open(lv.config_path, "a") as f:
            f.write("no_such_key: 1\n")
        lv.signal(signal.SIGHUP)
        self.expect(n, "RELOADING")
        got = self.expect(n, "READY")
        self.assertIn("reload refused", got["STATUS"])
        self.request_now()

        lv.signal(signal.SIGTERM)
        self.expect(n, "STOPPING")
        self.assertEqual(lv.wait_exit(20), 0)
        text, _ = n.recv(0.2)
        self.assertIsNone(text, "nothing after STOPPING=1")

    def test_ready_on_file_socket(self):
        n = Notifier(abstract=False)
        self.addCleanup(n.close)
        self.start(n.env_value)
        self.expect(n, "READY")
        self.request_now()

    def test_no_listener_on_notify_socket_is_a_warning(self):
        self.start(os.path.join(lt.tmpdir(), "nobody-here.sock"))
        self.levee.wait_ready()
        self.levee.wait_log(r"level=warn .*cannot notify the service manager")
        self.request_now()


if __name__ == "__main__":
    lt.main()
