"""tests/integration/rediskit.py: real Redis servers for the tests, and a small RESP client.

RedisServer starts Debian's redis-server on 127.0.0.1 with a free port, no persistence unless
asked, its log in the test's scratch directory; it can be stopped and started again on the same
port (to test "Redis down"). Redis is a RESP2 client over one socket: bytes in, bytes out, no
decoding of values (they are binary). Python 3 stdlib only.
"""

import os
import shutil
import socket
import subprocess
import time

import lvtest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def have_redis():
    return os.path.exists(REDIS_SERVER)


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.sock.recv(max(65536, n + 2 - len(self.buf)))
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line)

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a).encode()
            elif isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def call(self, *args):
        """One command; raises RedisError on an error reply."""
        self.sock.sendall(self._encode(args))
        r = self._reply()
        if isinstance(r, RedisError):
            raise r
        return r

    def pipeline(self, cmds):
        """Several commands in one write; returns their replies (errors as RedisError values)."""
        self.sock.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._reply() for _ in cmds]


class RedisServer:
    def __init__(self, name="redis", port=None, extra=()):
        self.name = name
        self.port = port or lvtest.dead_port()
        self.dir = os.path.join(lvtest.tmpdir(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.extra = list(extra)
        self.proc = None
        self.start()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no",
             "--enable-debug-command", "local"] + self.extra,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child has its own descriptor
        lvtest._children.append(self.proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                c = Redis(self.port, timeout=1.0)
                if c.call("PING") == b"PONG":
                    c.close()
                    return
                c.close()
            except (OSError, ConnectionError, RedisError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: see %s" % self.dir)
            time.sleep(0.05)
        raise RuntimeError("redis-server on %d did not answer PING" % self.port)

    def client(self):
        return Redis(self.port)

    def stop(self):
        if self.proc is not None:
            lvtest.stop_process(self.proc)
            self.proc = None
