#!/usr/bin/env python3
"""tests/integration/test_single_instance.py: one levee per address.

A first levee runs in front of backend A on a port read back from its log. A second levee,
configured in front of backend B, is started on the same listen port (or the same admin
port): it must exit non-zero within a few seconds, name the first one's pid on stderr, and the
first one must still answer every request (X-Backend: A, 10 of 10). With --takeover the second
one starts and shares the port (both backends answer). `levee -t` on such a config still
passes, and a port held by some other program is named too.
"""

import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvtest as lt  # noqa: E402

EXIT_DEADLINE_S = 10


def config(backend, listen="127.0.0.1:0", admin="127.0.0.1:0"):
    cfg = {
        "workers": 2,
        "listen": [listen],
        "admin": {"listen": admin},
        "services": [{"name": "web", "upstreams": [backend.hostport]}],
        "routes": [{"path": "/", "service": "web"}],
    }
    return lt.to_yaml(cfg) + "\n"


def start(text, name, takeover=False, wait_ready=True):
    path = lt.write_file(name, text)
    args = ["-c", path] + (["--takeover"] if takeover else [])
    return lt.Levee(args, config_path=path, wait_ready=wait_ready)


class SingleInstance(lt.LvTestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = lt.Backend("A")
        cls.b = lt.Backend("B")
        cls.start_levee(lambda: start(config(cls.a), "first.yaml"), backends=[cls.a, cls.b])

    @classmethod
    def tearDownClass(cls):
        cls.stop_levee()

    def hostport(self, addr):
        return "%s:%d" % addr

    def assert_refused(self, second, what):
        rc = second.wait_exit(EXIT_DEADLINE_S)
        self.assertIsNotNone(rc, "the second levee (%s) is still running" % what)
        self.assertNotEqual(rc, 0, what)
        second.err.join(5)
        text = "\n".join(second.stderr_lines())
        self.assertRegex(text, r"level=error comp=server msg=\"address already in use by pid %d "
                         r"\(levee\)" % self.levee.pid)
        self.assertIn("pid=%d" % self.levee.pid, text)
        self.assertIn("--takeover", text)
        self.assertNotIn("msg=ready", text)
        return text

    def assert_first_answers_all(self):
        for i in range(10):
            r = lt.get(self.levee.addr, "/who?i=%d" % i)
            self.assertStatus(r, 200)
            self.assertEqual(r.header("X-Backend"), "A", "request %d went elsewhere" % i)

    def test_second_on_same_listen_port_exits(self):
        port = self.levee.addr[1]
        second = start(config(self.b, listen="127.0.0.1:%d" % port), "second.yaml",
                       wait_ready=False)
        text = self.assert_refused(second, "same listen port")
        self.assertIn("addr=127.0.0.1:%d listener=listen[0]" % port, text)
        # It bound nothing: no msg=listening line, and the first gets every request.
        self.assertNotIn("msg=listening", text)
        self.assert_first_answers_all()

    def test_second_on_wildcard_of_same_port_exits(self):
        port = self.levee.addr[1]
        second = start(config(self.b, listen="0.0.0.0:%d" % port), "wildcard.yaml",
                       wait_ready=False)
        self.assert_refused(second, "0.0.0.0 on the same port")
        self.assert_first_answers_all()

    def test_second_on_same_admin_port_exits(self):
        admin = self.hostport(self.levee.admin_addr)
        second = start(config(self.b, admin=admin), "second-admin.yaml", wait_ready=False)
        text = self.assert_refused(second, "same admin port")
        self.assertIn("addr=%s listener=admin.listen" % admin, text)
        self.assertNotIn("msg=listening", text)
        self.assertStatus(self.levee.admin("/health"), 200)
        self.assert_first_answers_all()

    def test_config_check_not_affected(self):
        port = self.levee.addr[1]
        path = lt.write_file("check.yaml", config(self.b, listen="127.0.0.1:%d" % port,
                                                  admin=self.hostport(self.levee.admin_addr)))
        r = subprocess.run([lt.LEVEE, "-t", "-c", path], capture_output=True, timeout=30,
                           env=lt.asan_env())
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b": ok (", r.stdout)

    def test_takeover_shares_the_ports(self):
        port = self.levee.addr[1]
        admin = self.hostport(self.levee.admin_addr)
        second = start(config(self.b, listen="127.0.0.1:%d" % port, admin=admin),
                       "takeover.yaml", takeover=True)
        try:
            self.assertEqual(second.addr, ("127.0.0.1", port))
            self.assertEqual(second.admin_addr, self.levee.admin_addr)
            text = "\n".join(second.stderr_lines())
            self.assertRegex(text, r"level=warn comp=server msg=\"--takeover: sharing the address "
                             r"with pid %d \(levee\)\" addr=127\.0\.0\.1:%d" % (self.levee.pid, port))
            seen = set()
            for i in range(200):
                r = lt.get(self.levee.addr, "/who?i=%d" % i)
                self.assertStatus(r, 200)
                seen.add(r.header("X-Backend"))
                if seen == {"A", "B"}:
                    break
            self.assertEqual(seen, {"A", "B"})
        finally:
            second.stop(check=True)
        # The first one goes on alone.
        self.assert_first_answers_all()


class OtherHolder(lt.LvTestCase):
    """The port is held by a program that is not levee (a plain socket of this test)."""

    def test_names_any_process(self):
        backend = lt.Backend("C")
        holder = socket.socket()
        try:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", 0))
            holder.listen(8)
            port = holder.getsockname()[1]
            lv = start(config(backend, listen="127.0.0.1:%d" % port), "other.yaml",
                       wait_ready=False)
            rc = lv.wait_exit(EXIT_DEADLINE_S)
            self.assertIsNotNone(rc)
            self.assertNotEqual(rc, 0)
            lv.err.join(5)
            text = "\n".join(lv.stderr_lines())
            with open("/proc/self/comm") as f:
                comm = f.read().strip()
            self.assertIn("address already in use by pid %d (%s)" % (os.getpid(), comm), text)
            self.assertTrue(re.search(r"command=\"%s\"" % re.escape(comm), text), text)
        finally:
            holder.close()
            backend.stop()

    def test_port_zero_never_conflicts(self):
        backend = lt.Backend("D")
        try:
            first = start(config(backend), "zero-1.yaml")
            second = start(config(backend), "zero-2.yaml")
            self.assertNotEqual(first.addr, second.addr)
            first.stop(check=True)
            second.stop(check=True)
        finally:
            backend.stop()


if __name__ == "__main__":
    lt.main()
