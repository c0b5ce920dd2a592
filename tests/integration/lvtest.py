"""tests/integration/lvtest.py: the harness for levee's integration tests.

Starts real processes on 127.0.0.1 with ephemeral ports (port 0, read back): the levee
daemon (`$LV_BUILD_DIR/levee`) and programmable backends (tests/fixtures/backend.py).
Gives a raw-socket HTTP/1.1 client (exact bytes on the wire, deadlines everywhere), RSS
sampling from /proc, and a TestCase base class that prints the last 50 lines of levee's
stderr when a test fails. Python 3 stdlib only.

Every wait has a deadline; a watchdog ends the whole file (killing every child) if it runs
past LV_TEST_FILE_TIMEOUT seconds (default 170). Teardown is TERM, then KILL after 5 s.
"""

import atexit
import collections
import faulthandler
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LV_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("LV_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
LEVEE = os.path.join(BUILD_DIR, "levee")
BACKEND_PY = os.path.join(SOURCE_DIR, "tests", "fixtures", "backend.py")

STARTUP_TIMEOUT = float(os.environ.get("LV_TEST_STARTUP_TIMEOUT", "20"))
FILE_TIMEOUT = float(os.environ.get("LV_TEST_FILE_TIMEOUT", "170"))

_children = []          # every Popen we started (killed at exit / by the watchdog)
_levees = []            # every Levee ever created (for failure dumps)
_tmp_root = None
_failed = False

# --------------------------------------------------------------------------------------
# process bookkeeping


def tmpdir():
    """A per-file scratch directory; removed at exit unless a test failed."""
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="lvtest-")
    return _tmp_root


def _kill_all():
    for p in list(_children):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


def _cleanup():
    _kill_all()
    if _tmp_root and not _failed:
        shutil.rmtree(_tmp_root, ignore_errors=True)
    elif _tmp_root:
        sys.stderr.write("lvtest: logs of the failed run kept in %s\n" % _tmp_root)


atexit.register(_cleanup)


def _watchdog_fire():
    sys.stderr.write("\nlvtest: WATCHDOG: file ran over %.0f s; stacks follow\n" % FILE_TIMEOUT)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for lv in _levees:
        if lv.proc is not None:
            sys.stderr.write(lv.tail_text(50))
    _kill_all()
    sys.stderr.flush()
    os._exit(3)


def start_watchdog(seconds=FILE_TIMEOUT):
    t = threading.Timer(seconds, _watchdog_fire)
    t.daemon = True
    t.start()
    return t


def stop_process(proc, term_timeout=5.0):
    """TERM, then KILL after term_timeout. Returns (returncode, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=term_timeout)
        return proc.returncode, False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return proc.returncode, True


class _LineReader(threading.Thread):
    """Reads a child's pipe line by line into memory (and a log file)."""

    def __init__(self, pipe, path):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines = []
        self.cond = threading.Condition()
        self.path = path
        self.closed = False
        self.start()

    def run(self):
        with open(self.path, "wb") as f:
            for raw in iter(self.pipe.readline, b""):
                f.write(raw)
                f.flush()
                with self.cond:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_for(self, regex, timeout, start=0, proc=None):
        """Waits for a line (index >= start) matching regex. Returns (index, match) or None."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.1))


# --------------------------------------------------------------------------------------
# the backend fixture


class Backend:
    """tests/fixtures/backend.py as a subprocess."""

    def __init__(self, name="A", idle_close_ms=0, tls=()):
        self.name = name
        cmd = [sys.executable, "-u", BACKEND_PY, "--port", "0", "--name", name]
        if idle_close_ms:
            cmd += ["--idle-close-ms", str(idle_close_ms)]
        cmd += list(tls)  # e.g. ["--tls-cert", CERT, "--tls-key", KEY]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        _children.append(self.proc)
        self.out = _LineReader(self.proc.stdout, os.path.join(tmpdir(), "backend-%s-%d.out"
                                                              % (name, self.proc.pid)))
        got = self.out.wait_for(r"^listening (127\.0\.0\.1):(\d+)$", 10)
        if not got:
            self.stop()
            raise RuntimeError("backend %s did not start" % name)
        self.port = int(got[1].group(2))
        self.addr = ("127.0.0.1", self.port)
        self.hostport = "127.0.0.1:%d" % self.port

    def stats(self):
        r = http_request(self.addr, "GET", "/__stats", timeout=10)
        assert r.status == 200, r
        return r.json()

    def reset(self):
        http_request(self.addr, "GET", "/__reset", timeout=10)

    def wait_stat(self, pred, timeout=5.0, what="condition"):
        """Polls /__stats until pred(stats) is true. Returns the stats; raises on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise AssertionError("backend %s: %s not reached within %.1fs; stats=%s"
                                     % (self.name, what, timeout,
                                        {k: v for k, v in st.items() if k != "last"}))
            time.sleep(0.05)

    def stop(self):
        stop_process(self.proc)


class ScriptedOrigin:
    """An origin on raw sockets whose responses are exact bytes, for the proxy's origin side:
    script(target) gives a list of actions for the connection that asked for target: bytes
    (sent as is), ("sleep", seconds), "close" (FIN) or "reset" (RST); after the list the
    connection waits for its next request (keep-alive). Requests are counted per target."""

    def __init__(self, script):
        self.script = script
        self.lock = threading.Lock()
        self.requests = {}
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(128)
        self.port = self.srv.getsockname()[1]
        self.hostport = "127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, target):
        with self.lock:
            return self.requests.get(target, 0)

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        c.settimeout(30)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                n = 0
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        n = int(v.strip())
                while len(buf) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[n:]
                with self.lock:
                    self.requests[target] = self.requests.get(target, 0) + 1
                for act in self.script(target):
                    if isinstance(act, bytes):
                        c.sendall(act)
                    elif isinstance(act, tuple) and act[0] == "sleep":
                        time.sleep(act[1])
                    elif act == "close":
                        c.shutdown(socket.SHUT_WR)
                        time.sleep(0.05)
                        return
                    elif act == "reset":
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
        except OSError:
            return
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        self.srv.close()


class BlackHole:
    """A listener that never accepts, its accept queue filled: SYNs to it go unanswered, so a
    connect to it times out (a host that is down behind a firewall, or hung)."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.hostport = "127.0.0.1:%d" % self.port
        self.fillers = []
        for _ in range(8):  # a backlog of 0 still queues one or two; fill them
            f = socket.socket()
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", self.port))
            except (BlockingIOError, OSError):
                pass
            self.fillers.append(f)
        time.sleep(0.2)

    def stop(self):
        for f in self.fillers:
            f.close()
        self.srv.close()


def dead_port():
    """A 127.0.0.1 port where nothing listens (connect gets ECONNREFUSED)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------------------
# levee


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if v is None:
        return "null"
    return json.dumps(str(v))


def to_yaml(obj, indent=0):
    """A small block-style YAML writer for dicts, lists and scalars."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            else:
                out.append("%s- %s" % (pad, _yaml_scalar(item)))
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def make_config(services, routes=None, workers=1, admin=True, limits=None, timeouts=None,
                access_log=None, listen=("127.0.0.1:0",), extra=None):
    """A levee YAML config. services: list of dicts (name, upstreams, ...). routes default to
    one route "/" -> the first service."""
    cfg = {"workers": workers}
    if listen:  # none: the config names its listeners in extra["listeners"]
        cfg["listen"] = list(listen)
    if admin:
        cfg["admin"] = {"listen": "127.0.0.1:0"}
    if limits:
        cfg["limits"] = limits
    if timeouts:
        cfg["timeouts"] = timeouts
    if access_log:
        cfg["access_log"] = access_log
    cfg["services"] = services
    cfg["routes"] = routes if routes is not None else [{"path": "/",
                                                        "service": services[0]["name"]}]
    if extra:
        cfg.update(extra)
    return to_yaml(cfg) + "\n"


def write_file(name, text):
    path = os.path.join(tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def asan_env(quarantine_mb=None):
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    if quarantine_mb is not None:
        # ASan keeps freed memory in a quarantine (256 MiB by default): that would look like
        # RSS growth in the flat-memory tests without being levee's doing.
        opts += ":quarantine_size_mb=%d" % quarantine_mb
    env["ASAN_OPTIONS"] = opts
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class Levee:
    """One levee process. Use Levee.quick(...) or Levee.from_config(...)."""

    _seq = 0

    def __init__(self, args, wait_ready=True, env=None, config_path=None, prefix=(), binary=None):
        Levee._seq += 1
        self.name = "levee-%d" % Levee._seq
        binary = binary or LEVEE  # another levee binary (an installed one)
        self.args = list(prefix) + [binary] + list(args)  # prefix: e.g. prlimit --nofile=N
        self.config_path = config_path
        self.proc = None
        self.listen = []
        self.addr = None
        self.admin_addr = None
        self.returncode = None
        _levees.append(self)
        if not os.access(binary, os.X_OK):
            raise RuntimeError("levee binary not found at %s (set LV_BUILD_DIR)" % binary)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env or asan_env())
        _children.append(self.proc)
        self.pid = self.proc.pid
        base = os.path.join(tmpdir(), "%s-%d" % (self.name, self.pid))
        self.err = _LineReader(self.proc.stderr, base + ".stderr")
        self.out = _LineReader(self.proc.stdout, base + ".stdout")
        if wait_ready:
            self.wait_ready()

    @classmethod
    def quick(cls, upstreams, workers=1, admin=True, access_log=None, extra_args=(), env=None,
              prefix=()):
        args = ["proxy", "--listen", "127.0.0.1:0",
                "--to", ",".join(u if isinstance(u, str) else u.hostport for u in upstreams)]
        if admin:
            args += ["--admin", "127.0.0.1:0"]
        if workers:
            args += ["--workers", str(workers)]
        if access_log:
            args += ["--access-log", access_log]
        return cls(args + list(extra_args), env=env, prefix=prefix)

    @classmethod
    def from_config(cls, text, name="levee.yaml", env=None, wait_ready=True):
        path = write_file(name, text)
        return cls(["-c", path], env=env, config_path=path, wait_ready=wait_ready)

    # ---- startup ----
    def wait_ready(self, timeout=STARTUP_TIMEOUT):
        t0 = time.monotonic()
        got = self.err.wait_for(r"comp=server\b.*\bmsg=ready\b", timeout)
        if not got:
            try:
                rc = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                rc = None
            self.stop()
            what = ("exited with code %s before logging msg=ready" % rc if rc is not None
                    else "did not log msg=ready within %.0fs" % (time.monotonic() - t0))
            raise RuntimeError("%s %s; args=%s\n%s"
                               % (self.name, what, self.args, self.tail_text(50)))
        with self.err.cond:
            lines = list(self.err.lines[:got[0] + 1])
        for line in lines:
            m = re.search(r"msg=listening\b.*\bproto=(\w+)\b.*\baddr=\"?([0-9.]+):(\d+)", line)
            if not m:
                continue
            a = (m.group(2), int(m.group(3)))
            if m.group(1) == "admin":
                self.admin_addr = a
            else:
                self.listen.append(a)
        if not self.listen:
            self.stop()
            raise RuntimeError("%s: no 'msg=listening proto=http addr=...' line before ready\n%s"
                               % (self.name, self.tail_text(50)))
        self.addr = self.listen[0]

    # ---- logs ----
    def stderr_lines(self):
        with self.err.cond:
            return list(self.err.lines)

    def wait_log(self, regex, timeout=10.0, start=0):
        """Waits for a stderr line matching regex (from line index start). Returns the match."""
        got = self.err.wait_for(regex, timeout, start=start)
        if not got:
            raise AssertionError("%s: no stderr line matching %r within %.1fs\n%s"
                                 % (self.name, regex, timeout, self.tail_text(50)))
        return got[1]

    def log_mark(self):
        """Index to pass as start= to wait_log, to only see lines logged from now on."""
        with self.err.cond:
            return len(self.err.lines)

    def tail_text(self, n=50):
        """The last n stderr lines; a sanitizer report's first lines are shown too (the tail
        alone is mostly shadow-byte legend), and whether levee is still running."""
        all_lines = self.stderr_lines()
        lines = all_lines[-n:]
        rc = self.proc.poll() if self.proc else None
        state = "running" if rc is None else "EXITED with code %s" % rc
        out = ""
        for i, line in enumerate(all_lines):
            if re.search(r"ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error:", line):
                if i < len(all_lines) - n:
                    out += ("---- %s sanitizer report (stderr lines %d..) ----\n%s\n"
                            % (self.name, i + 1, "\n".join(all_lines[max(0, i - 3):i + 30])))
                break
        return out + ("---- last %d lines of %s stderr (pid %s, %s) ----\n%s\n---- end ----\n"
                      % (len(lines), self.name, self.pid, state, "\n".join(lines)))

    # ---- process ----
    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, check=False):
        """TERM, then KILL after 5 s. With check, raises unless levee exited 0 by itself."""
        if self.proc is None:
            return None
        rc, killed = stop_process(self.proc)
        self.returncode = rc
        self.err.join(5)
        if check and (killed or rc != 0):
            raise AssertionError("%s did not exit cleanly on SIGTERM (rc=%s, killed=%s)\n%s"
                                 % (self.name, rc, killed, self.tail_text(50)))
        return rc

    def rss(self):
        """(VmRSS, VmHWM) in KiB."""
        return proc_mem(self.pid)

    # ---- admin ----
    def admin(self, target, timeout=10):
        assert self.admin_addr, "levee started without an admin listener"
        return http_request(self.admin_addr, "GET", target, timeout=timeout)


def proc_mem(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every interval; peak_kib is the highest seen."""

    def __init__(self, pid, interval=0.05):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop_ev = threading.Event()
        self.start()

    def run(self):
        while not self._stop_ev.is_set():
            try:
                rss, _ = proc_mem(self.pid)
            except OSError:
                return
            self.peak_kib = max(self.peak_kib, rss)
            self.samples += 1
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join(5)
        return self.peak_kib


# --------------------------------------------------------------------------------------
# the pattern used for large bodies (same as backend.py: byte k is k % 251)

PATTERN_PERIOD = 251
_PBLOCK_SIZE = 1 << 20
_PBLOCK = bytes(i % PATTERN_PERIOD for i in range(_PBLOCK_SIZE + PATTERN_PERIOD))


def pattern_view(offset, size):
    """A memoryview of pattern bytes [offset, offset+size); size <= 1 MiB."""
    assert size <= _PBLOCK_SIZE
    start = offset % PATTERN_PERIOD
    return memoryview(_PBLOCK)[start:start + size]


def pattern_bytes(offset, size):
    out = bytearray()
    while size > 0:
        n = min(size, _PBLOCK_SIZE)
        out += pattern_view(offset, n)
        offset += n
        size -= n
    return bytes(out)


class PatternChecker:
    """A body sink that checks streamed bytes against the pattern without keeping them."""

    def __init__(self):
        self.offset = 0
        self.bad_at = None

    def __call__(self, data):
        if self.bad_at is None:
            mv = memoryview(data)
            pos = 0
            while pos < len(mv):
                n = min(len(mv) - pos, _PBLOCK_SIZE)
                if mv[pos:pos + n] != pattern_view(self.offset + pos, n):
                    self.bad_at = self.offset + pos
                    break
                pos += n
        self.offset += len(data)


# --------------------------------------------------------------------------------------
# raw HTTP/1.1 client


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []       # [(name, value)] as received
        self.body = b""         # None when a sink consumed it
        self.body_len = 0
        self.complete = False   # framing satisfied (not cut by EOF)
        self.chunked = False
        self.raw_head = b""
        self.interim = []       # 1xx responses seen before this one

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        body = self.body[:200] if self.body is not None else b"<sink>"
        return ("<Response %s %s complete=%s len=%d headers=%s body=%r>"
                % (self.status, self.reason, self.complete, self.body_len, self.headers, body))


class ConnectionClosedEarly(Exception):
    pass


class HttpConn:
    """One client connection with exact control of the bytes sent. Every read has a deadline."""

    def __init__(self, addr, timeout=10.0, rcvbuf=None):
        self.addr = tuple(addr)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(self.addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    @staticmethod
    def build(method, target, headers=None, body=None, host="levee.test", version="HTTP/1.1"):
        lines = ["%s %s %s" % (method, target, version)]
        names = {k.lower() for k, _ in (headers or [])}
        if host is not None and "host" not in names:
            lines.append("Host: " + host)
        lines += ["%s: %s" % (k, v) for k, v in (headers or [])]
        if body is not None and "content-length" not in names \
                and "transfer-encoding" not in names:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body is not None:
            data += body if isinstance(body, bytes) else body.encode()
        return data

    def request(self, method, target, headers=None, body=None, host="levee.test",
                timeout=None, **kw):
        self.send(self.build(method, target, headers, body, host))
        return self.read_response(method=method, timeout=timeout, **kw)

    # ---- reading ----
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line.rstrip(b"\r\n")
            if not self._fill(deadline):
                raise ConnectionClosedEarly("EOF inside a line")

    def read_response(self, method="GET", timeout=None, sink=None):
        """Reads one response. Raises TimeoutError (no response head in time) or
        ConnectionClosedEarly (EOF before the head ended). A body cut by EOF gives
        complete=False. With sink, body bytes go to sink(bytes) instead of .body."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        r = Response()
        while True:
            while b"\r\n\r\n" not in self.buf:
                if not self._fill(deadline):
                    raise ConnectionClosedEarly(
                        "connection closed before a complete response head; got %r"
                        % bytes(self.buf[:500]))
            i = self.buf.find(b"\r\n\r\n")
            head = bytes(self.buf[:i])
            del self.buf[:i + 4]
            lines = head.decode("latin-1").split("\r\n")
            m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
            if not m:
                raise AssertionError("bad status line %r" % lines[0])
            status = int(m.group(2))
            if 100 <= status < 200 and status != 101:
                r.interim.append(status)
                continue
            break
        r.raw_head = head
        r.version, r.status, r.reason = m.group(1), status, m.group(3) or ""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            r.headers.append((k, v.strip(" \t")))
        chunks = []

        def out(data):
            r.body_len += len(data)
            if sink is not None:
                sink(data)
            else:
                chunks.append(bytes(data))

        te = ",".join(r.header_all("transfer-encoding")).lower()
        cl = r.header("content-length")
        if method == "HEAD" or status in (204, 304):
            r.complete = True
        elif "chunked" in te:
            r.chunked = True
            r.complete = self._read_chunked(out, deadline)
        elif cl is not None:
            r.complete = self._read_n(int(cl), out, deadline)
        else:
            while True:  # until EOF
                if self.buf:
                    out(bytes(self.buf))
                    self.buf.clear()
                if not self._fill(deadline):
                    break
            r.complete = True
        r.body = b"".join(chunks) if sink is None else None
        return r

    def _read_n(self, n, out, deadline):
        while n > 0:
            if not self.buf and not self._fill(deadline):
                return False
            take = min(n, len(self.buf))
            if take == len(self.buf):
                data, self.buf = self.buf, bytearray()
            else:
                data = bytes(self.buf[:take])
                del self.buf[:take]
            out(data)
            n -= take
        return True

    def _read_chunked(self, out, deadline):
        try:
            while True:
                line = self._line(deadline)
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self._line(deadline) != b"":
                        pass
                    return True
                if not self._read_n(size, out, deadline):
                    return False
                if self._line(deadline) != b"":
                    raise AssertionError("chunk data not followed by CRLF")
        except ConnectionClosedEarly:
            return False

    def wait_closed(self, timeout=5.0):
        """True if the peer closes (EOF or reset) within timeout; bytes read meanwhile stay in
        self.buf. False if the connection is still open at the deadline."""
        if self.eof:
            return True
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self._fill(deadline):
                    return True
        except (TimeoutError, socket.timeout):
            return False
        except OSError:
            return True

    def is_open_for(self, seconds):
        """True if nothing at all (no bytes, no EOF) arrives for `seconds`."""
        n = len(self.buf)
        closed = self.wait_closed(seconds)
        return not closed and len(self.buf) == n


def http_request(addr, method, target, headers=None, body=None, host="levee.test",
                 timeout=10.0):
    """One request on a fresh connection (closed afterwards)."""
    with HttpConn(addr, timeout=timeout) as c:
        return c.request(method, target, headers=headers, body=body, host=host,
                         timeout=timeout)


def get(addr, target, headers=None, host="levee.test", timeout=10.0):
    return http_request(addr, "GET", target, headers=headers, host=host, timeout=timeout)


def try_connect(addr, timeout=1.0):
    """'refused', 'connected' (and closed again) or 'timeout'."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(tuple(addr))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    finally:
        s.close()


def read_until_eof(sock):
    """Everything the peer sends on sock (a plain socket) until it closes the connection."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def rst_close(conn):
    """Closes a client connection with a TCP RST (SO_LINGER 0), like a killed browser tab."""
    try:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def chunked_body(data, sizes):
    """Encodes data as chunks of the given sizes (cycled), ending with the last-chunk."""
    out = bytearray()
    pos, i = 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        i += 1
        piece = data[pos:pos + n]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        pos += n
    out += b"0\r\n\r\n"
    return bytes(out)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# the TestCase base


class LvTestCase(unittest.TestCase):
    """Prints the last 50 lines of every involved levee's stderr when a test fails.
    Subclasses keep their class-wide processes in cls attributes (any Levee found on the
    class or the instance is dumped) and get fresh ones per test where they need to."""

    maxDiff = 4000

    def run(self, result=None):
        global _failed
        first = len(_levees)
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            _failed = True
            seen = set()
            involved = [lv for lv in _levees[first:]]
            for holder in (vars(type(self)), vars(self)):
                for v in list(holder.values()):
                    if isinstance(v, Levee):
                        involved.append(v)
            for lv in involved:
                if id(lv) in seen:
                    continue
                seen.add(id(lv))
                n = len(lv.stderr_lines())
                if getattr(lv, "_dumped_at", None) == n:
                    sys.stderr.write("\n[%s] %s stderr: unchanged since the last dump above\n"
                                     % (self.id(), lv.name))
                    continue
                lv._dumped_at = n
                sys.stderr.write("\n[%s] %s" % (self.id(), lv.tail_text(50)))
            sys.stderr.flush()
        return out

    # A class-wide levee that is restarted (and the crash reported) if a test killed it, so
    # that one crash does not turn every later test of the class into a connection error.
    @classmethod
    def start_levee(cls, factory, backends=()):
        """Starts the class-wide levee; backends (Backend, LeveeSim) are stopped with it:
        here if the start fails, else by stop_levee."""
        cls._levee_backends = list(backends)
        cls._levee_factory = factory
        cls._levee_crashes = []
        try:
            cls.levee = factory()
        except Exception:
            for b in cls._levee_backends:
                b.stop()
            raise
        return cls.levee

    @classmethod
    def stop_levee(cls):
        """Stops the class-wide levee (raising if it crashed or did not exit 0), then the
        backends given to start_levee, even when that raised."""
        lv = cls.__dict__.get("levee")
        crashes = cls.__dict__.get("_levee_crashes") or []
        try:
            if lv is not None:
                lv.stop(check=not crashes)
            if crashes:
                raise AssertionError("levee died during this class (restarted each time): "
                                     + "; ".join(crashes))
        finally:
            for b in cls.__dict__.get("_levee_backends") or ():
                b.stop()

    def setUp(self):
        cls = type(self)
        lv = cls.__dict__.get("levee")
        factory = cls.__dict__.get("_levee_factory")
        if isinstance(lv, Levee) and factory is not None and not lv.alive():
            msg = "%s (pid %s) was dead (exit code %s) when %s started" % (
                lv.name, lv.pid, lv.proc.returncode, self.id())
            cls._levee_crashes.append(msg)
            sys.stderr.write("\nlvtest: %s; restarting it\n%s" % (msg, lv.tail_text(50)))
            cls.levee = factory()

    # helpers shared by the test files
    def assertStatus(self, resp, status, msg=""):
        self.assertEqual(resp.status, status, "%s expected %d, got %r" % (msg, status, resp))

    def assertClosed(self, conn, timeout=5.0, msg=""):
        self.assertTrue(conn.wait_closed(timeout),
                        "%s: levee did not close the connection within %.1fs" % (msg, timeout))


def main():
    """Entry point for the test files: a watchdog bounds the whole file."""
    faulthandler.enable()
    start_watchdog()
    sys.stdout.reconfigure(line_buffering=True)
    unittest.main(verbosity=2)


def mark_failed():
    global _failed
    _failed = True


def _install_failure_hook():
    # unittest.main calls sys.exit; remember a failed run so logs are kept.
    orig = unittest.TextTestRunner.run

    def run(self, test):
        result = orig(self, test)
        if not result.wasSuccessful():
            mark_failed()
        return result
    unittest.TextTestRunner.run = run


_install_failure_hook()


# --------------------------------------------------------------------------------------
# levee-sim and the guard's counters (added for test_guard.py)

LEVEE_SIM = os.path.join(BUILD_DIR, "levee-sim")


class LeveeSim:
    """levee-sim (tools/sim) as a subprocess on 127.0.0.1, port 0 read back from its log.
    config: optional YAML text (per-path settings); args: extra command-line flags."""

    _seq = 0

    def __init__(self, args=(), config=None, env=None):
        LeveeSim._seq += 1
        self.name = "sim-%d" % LeveeSim._seq
        if not os.access(LEVEE_SIM, os.X_OK):
            raise RuntimeError("levee-sim binary not found at %s (set LV_BUILD_DIR)"
                               % LEVEE_SIM)
        cmd = [LEVEE_SIM, "--listen", "127.0.0.1:0"]
        if config is not None:
            cmd += ["-c", write_file(self.name + ".yaml", config)]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env or asan_env())
        _children.append(self.proc)
        self.pid = self.proc.pid
        self.err = _LineReader(self.proc.stdout, os.path.join(
            tmpdir(), "%s-%d.log" % (self.name, self.pid)))
        got = self.err.wait_for(r"comp=sim\b.*\bmsg=listening\b.*\baddr=\"?([0-9.]+):(\d+)",
                                STARTUP_TIMEOUT)
        if not got:
            self.stop()
            raise RuntimeError("levee-sim did not start:\n" + "\n".join(self.err.lines[-30:]))
        self.addr = (got[1].group(1), int(got[1].group(2)))
        self.hostport = "%s:%d" % self.addr

    def stats(self):
        r = http_request(self.addr, "GET", "/stats", timeout=10)
        assert r.status == 200, r
        return r.json()

    def path_stat(self, path, key="received", st=None):
        """A per-path counter from /stats (0 when the sim never saw the path)."""
        st = st or self.stats()
        return st.get("paths", {}).get(path, {}).get(key, 0)

    def control(self, what, **params):
        """POST /control/WHAT?k=v...; asserts 200."""
        q = "&".join("%s=%s" % (k, v) for k, v in params.items())
        r = http_request(self.addr, "POST", "/control/%s%s" % (what, "?" + q if q else ""),
                         timeout=10)
        assert r.status == 200, r
        return r

    def wait_stat(self, pred, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if pred(st):
                return st
            if time.monotonic() > deadline:
                raise AssertionError("%s: %s not reached within %.1fs; stats=%s"
                                     % (self.name, what, timeout, st))
            time.sleep(0.02)

    def stop(self):
        """TERM, then KILL after 5 s. Returns the exit code."""
        rc, _ = stop_process(self.proc)
        self.err.join(5)
        return rc


def guard_decisions(lv, service):
    """{decision: count} of levee_guard_decisions_total for one service, from /metrics."""
    r = lv.admin("/metrics")
    assert r.status == 200, r
    out = {}
    rx = re.compile(r'^levee_guard_decisions_total\{service="%s",decision="([a-z_]+)"\} (\d+)$'
                    % re.escape(service))
    for line in r.body.decode().split("\n"):
        m = rx.match(line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def guard_status(lv, service):
    """The `guard` object of one service in /status (None if the service is not listed)."""
    r = lv.admin("/status")
    assert r.status == 200, r
    for s in r.json().get("services", []):
        if s.get("name") == service:
            return s.get("guard")
    return None


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned); raises AssertionError after
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, timeout, v))
        time.sleep(interval)

__all__ = [n for n in dir() if not n.startswith("_")] + ["collections"]
