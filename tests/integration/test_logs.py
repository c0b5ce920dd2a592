"""tests/integration/test_logs.py: logs that behave, with real processes.

Rotation: after `mv access.log access.log.1`, SIGUSR1 (what logrotate's postrotate sends) or
SIGHUP makes levee write to a new access.log; the lines written before the signal, even those
still buffered in a worker, land whole in the renamed file; no line is lost or split (every
request id appears exactly once across both files); SIGUSR1 never kills levee. A reload that
changes `access_log:` (off -> path -> other path -> off) takes effect. The JSON access log
(`access_log_format: json`) parses line by line with the fields, cache outcome and refusal
reason. The error log stays logfmt when values carry quotes, spaces and backslashes (a
client's X-Request-Id in an upstream failure line, a config error on reload).
"""

import json
import os
import re
import signal
import time

import lvtest as lt

# One text access log line, whole: from ts= to req_id=, nothing glued before or after.
TEXT_LINE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z client=\S+ service=\S+ '
                       r'method=\S+ target="[^"]*" status=\d+ bytes_in=\d+ bytes_out=\d+ '
                       r'upstream_ms=\S+ total_ms=\S+ req_id=(\S+)$')


def logfmt(line):
    """A strict logfmt parser: key=value pairs, values bare or double-quoted with \\" \\\\
    \\n \\r \\t \\uXXXX escapes. Raises ValueError on anything else (a bare key, a stray
    quote, an unterminated value, garbage after a closing quote, a repeated key)."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        j = i
        while j < n and line[j] not in "= \"":
            j += 1
        if j >= n or line[j] != "=" or j == i:
            raise ValueError("bad key at %d in %r" % (i, line))
        key = line[i:j]
        j += 1
        if j < n and line[j] == '"':
            j += 1
            val = []
            while True:
                if j >= n:
                    raise ValueError("unterminated value of %s in %r" % (key, line))
                c = line[j]
                if c == '"':
                    j += 1
                    break
                if c == "\\":
                    e = line[j + 1] if j + 1 < n else ""
                    if e in ('"', "\\"):
                        val.append(e)
                        j += 2
                    elif e in ("n", "r", "t"):
                        val.append({"n": "\n", "r": "\r", "t": "\t"}[e])
                        j += 2
                    elif e == "u" and re.match(r"[0-9a-f]{4}$", line[j + 2:j + 6]):
                        val.append(chr(int(line[j + 2:j + 6], 16)))
                        j += 6
                    else:
                        raise ValueError("bad escape in %s in %r" % (key, line))
                else:
                    val.append(c)
                    j += 1
            value = "".join(val)
            if j < n and line[j] != " ":
                raise ValueError("garbage after the value of %s in %r" % (key, line))
        else:
            k = j
            while k < n and line[k] != " ":
                k += 1
            value = line[j:k]
            if '"' in value or "=" in value:
                raise ValueError("quote or = in the bare value of %s in %r" % (key, line))
            j = k
        if key in out:
            raise ValueError("key %s twice in %r" % (key, line))
        out[key] = value
        i = j
    return out


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        raise AssertionError("%s ends with a partial line: %r" % (path, data[-200:]))
    return data.decode("utf-8", "strict").splitlines()


def req_ids(lines):
    """Request ids of text access log lines; every line must be whole."""
    ids = []
    for ln in lines:
        m = TEXT_LINE.match(ln)
        if not m:
            raise AssertionError("not one whole access log line: %r" % ln)
        ids.append(m.group(1))
    return ids


def wait_ids(paths, want, timeout=6.0):
    """Waits until every id in want appears in the files (flushed by a 1 s timer). Returns
    {path: [ids]}."""
    deadline = time.monotonic() + timeout
    while True:
        got = {p: req_ids(read_lines(p)) for p in paths}
        seen = set(i for ids in got.values() for i in ids)
        if want <= seen or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def send(lv, prefix, n, path="/echo"):
    for i in range(n):
        rid = "%s-%d" % (prefix, i)
        r = lt.get(lv.addr, "%s?i=%d" % (path, i), headers=[("X-Request-Id", rid)])
        assert r.status == 200, r


def assert_stderr_is_logfmt(test, lv):
    """Every line levee wrote to stderr parses as logfmt (sanitizer reports aside)."""
    for ln in lv.stderr_lines():
        if ln.startswith("ts="):
            try:
                logfmt(ln)
            except ValueError as e:
                test.fail("stderr line is not logfmt: %s" % e)


class Rotation(lt.LvTestCase):
    """mv + SIGUSR1 / SIGHUP, with two workers buffering lines."""

    def setUp(self):
        self.backend = lt.Backend("A")
        self.dir = os.path.join(lt.tmpdir(), "rot-%s" % self._testMethodName)
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "access.log")
        cfg = lt.make_config([{"name": "app", "upstreams": [self.backend.hostport]}],
                             workers=2, access_log=self.path)
        self.lv = lt.Levee.from_config(cfg, name="rot-%s.yaml" % self._testMethodName)

    def tearDown(self):
        try:
            self.lv.stop(check=True)  # exit 0 after the signals: nothing killed it
        finally:
            self.backend.stop()

    def rotate(self, sig, wait_regex):
        n = 40
        send(self.lv, "pre", n)  # buffered in the workers (flushed every second)
        rotated = self.path + ".1"
        os.rename(self.path, rotated)  # opened (created) at start
        mark = self.lv.log_mark()
        self.lv.signal(sig)
        self.lv.wait_log(wait_regex, 10, start=mark)
        self.lv.wait_log(r'comp=server\b.*msg="logs reopened"', 10, start=mark)
        self.assertTrue(self.lv.alive(), "levee died on %s" % sig.name)
        send(self.lv, "post", n)
        want = {"pre-%d" % i for i in range(n)} | {"post-%d" % i for i in range(n)}
        got = wait_ids([rotated, self.path], want)
        old, new = got[rotated], got[self.path]
        every = old + new
        self.assertEqual(sorted(every), sorted(want),
                         "lost or repeated lines: old=%d new=%d lines" % (len(old), len(new)))
        self.assertEqual(set(old), {"pre-%d" % i for i in range(n)},
                         "the renamed file must keep exactly the lines from before the signal")
        self.assertEqual(set(new), {"post-%d" % i for i in range(n)},
                         "the new file must get exactly the lines from after the signal")
        self.assertStatus(lt.get(self.lv.addr, "/echo"), 200)

    def test_usr1_reopens_after_rename_no_line_lost(self):
        self.rotate(signal.SIGUSR1, r'comp=server\b.*msg="logs reopened" signal=USR1')

    def test_hup_reopens_after_rename_no_line_lost(self):
        self.rotate(signal.SIGHUP, r"comp=server\b.*msg=reloaded\b")

    def test_usr1_twice_keeps_every_line(self):
        # The second reopen opens the same (new) file again: nothing lost, nothing doubled.
        send(self.lv, "a", 10)
        os.rename(self.path, self.path + ".1")
        for k in range(2):
            mark = self.lv.log_mark()
            self.lv.signal(signal.SIGUSR1)
            self.lv.wait_log(r'msg="logs reopened" signal=USR1', 10, start=mark)
            send(self.lv, "b%d" % k, 10)
        want = {"a-%d" % i for i in range(10)} | {"b%d-%d" % (k, i) for k in (0, 1)
                                                  for i in range(10)}
        got = wait_ids([self.path + ".1", self.path], want)
        self.assertEqual(sorted(got[self.path + ".1"] + got[self.path]), sorted(want))
        self.assertEqual(set(got[self.path + ".1"]), {"a-%d" % i for i in range(10)})


class Signals(lt.LvTestCase):
    def test_usr1_does_not_kill_levee(self):
        """SIGUSR1 with the access log off, in quick mode, several times: levee keeps
        answering and exits 0 on SIGTERM (it used to die with 138 and no drain)."""
        backend = lt.Backend("A")
        lv = lt.Levee.quick([backend], workers=2)
        try:
            for _ in range(3):
                mark = lv.log_mark()
                lv.signal(signal.SIGUSR1)
                lv.wait_log(r'msg="logs reopened" signal=USR1 access_log=off', 10, start=mark)
                self.assertTrue(lv.alive())
                self.assertStatus(lt.get(lv.addr, "/echo"), 200)
            self.assertEqual(lv.stop(), 0)
        finally:
            lv.stop()
            backend.stop()

    def test_hup_in_quick_mode_reopens_the_access_log(self):
        backend = lt.Backend("A")
        path = os.path.join(lt.tmpdir(), "quick-access.log")
        lv = lt.Levee.quick([backend], workers=1, access_log=path)
        try:
            send(lv, "q", 3)
            os.rename(path, path + ".1")
            mark = lv.log_mark()
            lv.signal(signal.SIGHUP)
            lv.wait_log(r'msg="logs reopened" signal=HUP', 10, start=mark)
            send(lv, "r", 3)
            want = {"q-%d" % i for i in range(3)} | {"r-%d" % i for i in range(3)}
            got = wait_ids([path + ".1", path], want)
            self.assertEqual(set(got[path]), {"r-%d" % i for i in range(3)})
            self.assertEqual(sorted(got[path + ".1"] + got[path]), sorted(want))
            self.assertEqual(lv.stop(), 0)
        finally:
            lv.stop()
            backend.stop()


class ReloadPath(lt.LvTestCase):
    def test_access_log_path_change_on_reload(self):
        """off -> p1 -> p2 -> off: each phase's lines are in its file only, none lost."""
        backend = lt.Backend("A")
        d = os.path.join(lt.tmpdir(), "reload-path")
        os.makedirs(d)
        p1, p2 = os.path.join(d, "one.log"), os.path.join(d, "two.log")
        services = [{"name": "app", "upstreams": [backend.hostport]}]
        lv = lt.Levee.from_config(lt.make_config(services, workers=2), name="reload-path.yaml")
        gen = [1]

        def reload_with(access_log):
            with open(lv.config_path, "w") as f:
                f.write(lt.make_config(services, workers=2, access_log=access_log))
            mark = lv.log_mark()
            lv.signal(signal.SIGHUP)
            gen[0] += 1
            lv.wait_log(r"msg=reloaded generation=%d\b" % gen[0], 10, start=mark)
            lv.wait_log(r'msg="logs reopened"', 10, start=mark)

        try:
            send(lv, "off1", 5)
            reload_with(p1)
            send(lv, "one", 20)
            reload_with(p2)
            send(lv, "two", 20)
            reload_with(None)
            send(lv, "off2", 5)
            want = {"one-%d" % i for i in range(20)} | {"two-%d" % i for i in range(20)}
            got = wait_ids([p1, p2], want)
            time.sleep(1.2)  # one more flush: an "off" line would show up now
            got = {p: req_ids(read_lines(p)) for p in (p1, p2)}
            self.assertEqual(sorted(got[p1]), sorted("one-%d" % i for i in range(20)))
            self.assertEqual(sorted(got[p2]), sorted("two-%d" % i for i in range(20)))

            # A path that cannot be opened: the reload is refused, the running log goes on.
            reload_with(p1)
            bad = os.path.join(d, "no-such-dir", "x.log")
            with open(lv.config_path, "w") as f:
                f.write(lt.make_config(services, workers=2, access_log=bad))
            mark = lv.log_mark()
            lv.signal(signal.SIGHUP)
            lv.wait_log(r'msg="reload refused"', 10, start=mark)
            send(lv, "still", 3)
            got = wait_ids([p1], {"still-%d" % i for i in range(3)})
            self.assertTrue({"still-%d" % i for i in range(3)} <= set(got[p1]))
            assert_stderr_is_logfmt(self, lv)
            self.assertEqual(lv.stop(), 0)
        finally:
            lv.stop()
            backend.stop()


class JsonAccessLog(lt.LvTestCase):
    def test_json_lines_parse_and_carry_the_fields(self):
        backend = lt.Backend("A")
        cached = b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok"
        origin = lt.ScriptedOrigin(lambda target: [cached])
        dead = "127.0.0.1:%d" % lt.dead_port()
        path = os.path.join(lt.tmpdir(), "access.json")
        cfg = lt.make_config(
            [{"name": "app", "upstreams": [backend.hostport]},
             {"name": "switched", "upstreams": [backend.hostport], "flag": "off"},
             {"name": "gone", "upstreams": [dead]},
             {"name": "static", "upstreams": [origin.hostport]}],
            routes=[{"path": "/off/", "service": "switched"},
                    {"path": "/dead/", "service": "gone"},
                    {"path": "/static/", "service": "static"},
                    {"path": "/", "service": "app"}],
            workers=2, access_log=path,
            extra={"access_log_format": "json", "cache": {"size": "1m"}})
        lv = lt.Levee.from_config(cfg, name="json.yaml")
        try:
            ua = 'Mozilla/5.0 "quoted" back\\slash caf\xc3\xa9 \xe9'  # UTF-8 é, then a bare 0xe9
            r = lt.get(lv.addr, "/echo?a=%22b%22", headers=[("User-Agent", ua),
                                                             ("X-Request-Id", "j-ok")])
            self.assertStatus(r, 200)
            r = lt.get(lv.addr, "/off/x", headers=[("X-Request-Id", "j-flag")])
            r = lt.get(lv.addr, "/dead/x", headers=[("X-Request-Id", "j-dead")])
            self.assertStatus(r, 502)
            for i in (1, 2):
                r = lt.get(lv.addr, "/static/a", headers=[("X-Request-Id", "j-static-%d" % i)])
                self.assertStatus(r, 200)
            want = {"j-ok", "j-flag", "j-dead", "j-static-1", "j-static-2"}
            deadline = time.monotonic() + 6
            while True:
                entries = {}
                for ln in read_lines(path):
                    e = json.loads(ln)
                    entries[e["request_id"]] = e
                if want <= set(entries) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertTrue(want <= set(entries), "missing lines: %s" % (want - set(entries)))
            keys = {"time", "client", "method", "target", "host", "user_agent", "status",
                    "bytes_in", "bytes_out", "service", "upstream", "cache", "refusal",
                    "upstream_ms", "total_ms", "request_id", "tls_version", "tls_cipher"}
            for e in entries.values():
                self.assertEqual(set(e), keys)
                self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
                self.assertRegex(e["client"], r"^127\.0\.0\.1:\d+$")
                self.assertIsInstance(e["bytes_in"], int)
                self.assertIsInstance(e["bytes_out"], int)
                self.assertIsInstance(e["total_ms"], (int, float))
            ok = entries["j-ok"]
            self.assertEqual((ok["method"], ok["target"], ok["host"], ok["status"]),
                             ("GET", "/echo?a=%22b%22", "levee.test", 200))
            self.assertEqual(ok["user_agent"],
                             'Mozilla/5.0 "quoted" back\\slash caf\u00e9 \ufffd')
            self.assertEqual(ok["service"], "app")
            self.assertEqual(ok["upstream"], backend.hostport)
            self.assertEqual(ok["cache"], "miss")  # looked up, went to the origin
            self.assertIsNone(ok["refusal"])
            self.assertGreater(ok["bytes_out"], 0)
            self.assertIsInstance(ok["upstream_ms"], (int, float))

            flag = entries["j-flag"]
            self.assertEqual(flag["refusal"], "flag")
            self.assertEqual(flag["service"], "switched")
            self.assertIsNone(flag["upstream"])
            self.assertIsNone(flag["upstream_ms"])

            dead_e = entries["j-dead"]
            self.assertEqual(dead_e["status"], 502)
            self.assertEqual(dead_e["upstream"], dead)
            self.assertIsNone(dead_e["refusal"])

            self.assertEqual(entries["j-static-1"]["cache"], "miss")
            self.assertEqual(entries["j-static-1"]["upstream"], origin.hostport)
            self.assertEqual(entries["j-static-2"]["cache"], "hit")
            self.assertIsNone(entries["j-static-2"]["upstream"])
            self.assertEqual(lv.stop(), 0)
        finally:
            lv.stop()
            origin.stop()
            backend.stop()


class ErrorLog(lt.LvTestCase):
    def test_upstream_failure_line_with_a_quoted_request_id_parses(self):
        dead = "127.0.0.1:%d" % lt.dead_port()
        lv = lt.Levee.from_config(lt.make_config([{"name": "gone", "upstreams": [dead]}]),
                                  name="errlog.yaml")
        try:
            rid = 'a "b" c=d \\e x'  # quotes, spaces, '=' and a backslash: 15 bytes
            mark = lv.log_mark()
            r = lt.get(lv.addr, "/x", headers=[("X-Request-Id", rid)])
            self.assertStatus(r, 502)
            lv.wait_log(r'msg="upstream failed"', 10, start=mark)
            lines = [ln for ln in lv.stderr_lines()[mark:] if 'msg="upstream failed"' in ln]
            kv = logfmt(lines[0])
            self.assertEqual(set(kv), {"ts", "level", "comp", "msg", "service", "host", "kind",
                                       "detail", "req", "suppressed"})
            self.assertEqual(kv["req"], rid)
            self.assertEqual((kv["service"], kv["host"], kv["kind"]), ("gone", dead, "connect"))
            assert_stderr_is_logfmt(self, lv)
        finally:
            lv.stop()

    def test_config_error_with_quotes_parses(self):
        backend = lt.Backend("A")
        services = [{"name": "app", "upstreams": [backend.hostport]}]
        lv = lt.Levee.from_config(lt.make_config(services), name="cfgerr.yaml")
        try:
            with open(lv.config_path, "w") as f:
                f.write(lt.make_config(services) + 'log_level: "lo\\"ud \\\\ x=y"\n')
            mark = lv.log_mark()
            lv.signal(signal.SIGHUP)
            lv.wait_log(r'msg="reload refused"', 10, start=mark)
            errs = [ln for ln in lv.stderr_lines()[mark:] if "comp=config" in ln]
            self.assertTrue(errs)
            for ln in errs:
                kv = logfmt(ln)
                self.assertEqual(set(kv), {"ts", "level", "comp", "error"})
            text = " ".join(logfmt(ln)["error"] for ln in errs)
            self.assertIn(lv.config_path, text)
            # The loader quotes the value its own way; the log line quotes the whole message.
            self.assertIn('log_level: "lo\\"ud \\\\ x=y" is not one of', text)
            assert_stderr_is_logfmt(self, lv)
            self.assertStatus(lt.get(lv.addr, "/echo"), 200)
        finally:
            lv.stop()
            backend.stop()


if __name__ == "__main__":
    lt.main()
