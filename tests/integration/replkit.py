"""tests/integration/replkit.py: `levee replicate` as a subprocess, and replication events built
in Python (the contract of src/cache/l2_event.h and l2_value.h) for the tests.

A value is the 22-byte header ("LVL21", a flags digit, the 16-digit version), the meta layout
(u16), the payload length (u32) and the payload: the Redis functions and the replicator read
only the header, so tests may carry any payload. Python 3 stdlib only.
"""

import json
import os
import struct
import subprocess
import time

import lvtest
import rediskit


def now_us():
    return int(time.time() * 1e6)


def version(v):
    return b"%016d" % v


def value(ver, payload=b"body", tombstone=False):
    if tombstone:
        return b"LVL211" + version(ver)
    return b"LVL210" + version(ver) + struct.pack(">HI", 0, len(payload)) + payload


def tombstone(ver):
    return value(ver, tombstone=True)


def event(typ, region, key, ver, ttl=None, val=None, tags=()):
    """The XADD field list of one event (cache/l2_event.h)."""
    f = ["t", typ, "r", region, "k", key, "v", version(ver)]
    if typ in ("set", "meta"):
        f += ["ttl", str(ttl), "n", str(len(val) if val is not None else 0),
              "g", "\n".join(tags)]
        if typ == "set":
            f += ["val", val]
    return f


def xadd(r, stream_region, fields):
    return r.call("XADD", "lv:ev:" + stream_region, "*", *fields)


class Replicator:
    """levee replicate with --metrics on a free port; stderr kept in the scratch dir."""

    def __init__(self, region, local, peers, extra=(), name=None, args=None):
        """args: the whole command line after `levee replicate` instead of the flags made
        from region, local and peers (--metrics 127.0.0.1:0 is always added)."""
        self.name = name or "replicate-%s" % region
        if args is not None:
            self.args = [lvtest.LEVEE, "replicate"] + list(args) + ["--metrics", "127.0.0.1:0"]
        else:
            self.args = [lvtest.LEVEE, "replicate", "--region", region, "--local", local.url(),
                         "--metrics", "127.0.0.1:0"]
            for pname, srv in peers.items():
                self.args += ["--peer", "%s=%s" % (pname, srv.url())]
        self.args += list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        lvtest._children.append(self.proc)
        self.err = lvtest._LineReader(self.proc.stderr, os.path.join(
            lvtest.tmpdir(), "%s-%d.err" % (self.name, self.proc.pid)))
        got = self.err.wait_for(r'msg="metrics listening" addr=127\.0\.0\.1:(\d+)', 10)
        if not got:
            self.kill()
            raise RuntimeError("%s did not start: %s" % (self.name, self.tail()))
        self.port = int(got[1].group(1))

    def status(self):
        r = lvtest.http_request(("127.0.0.1", self.port), "GET", "/status", timeout=5)
        assert r.status == 200, r
        return r.json()

    def peer(self, name):
        for p in self.status()["peers"]:
            if p["peer"] == name:
                return p
        raise KeyError(name)

    def metrics(self):
        r = lvtest.http_request(("127.0.0.1", self.port), "GET", "/metrics", timeout=5)
        assert r.status == 200, r
        return r.body.decode()

    def wait_peer(self, name, pred, timeout=10.0, what="condition"):
        return lvtest.wait_for(lambda: (lambda p: p if pred(p) else None)(self.peer(name)),
                               timeout=timeout, interval=0.05, what=what)

    def tail(self, n=30):
        return "\n".join(self.err.lines[-n:]) if self.proc else ""

    def wait_log(self, regex, timeout=10.0, start=0):
        return self.err.wait_for(regex, timeout, start=start)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        """TERM; returns the exit code (0 expected: ASan reports leaks at exit)."""
        if self.proc is None:
            return None
        rc, _ = lvtest.stop_process(self.proc)
        return rc


def status_cli(region, local, peers=None):
    """levee replicate --status: (exit code, {peer: {field: value}}, text)."""
    args = [lvtest.LEVEE, "replicate", "--status", "--region", region, "--local", local.url()]
    for pname, srv in (peers or {}).items():
        args += ["--peer", "%s=%s" % (pname, srv.url())]
    p = subprocess.run(args, capture_output=True, timeout=20)
    out = p.stdout.decode()
    rows = {}
    for line in out.splitlines():
        kv = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "peer" in kv:
            rows[kv["peer"]] = kv
    return p.returncode, rows, out + p.stderr.decode()


class Subscriber:
    """SUBSCRIBE to a channel; messages() collects what arrived."""

    def __init__(self, server, channel):
        self.r = server.client()
        self.r.sock.sendall(rediskit.Redis._encode(["SUBSCRIBE", channel]))
        self.r._reply()

    def until(self, pred, timeout=5.0):
        got = []
        deadline = time.monotonic() + timeout
        self.r.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                m = self.r._reply()
            except (TimeoutError, OSError):
                if pred(got):
                    return got
                continue
            if isinstance(m, list) and m[0] == b"message":
                got.append(m[2])
            if pred(got):
                return got
        return got

    def close(self):
        self.r.close()


def dump_json(x):
    return json.dumps(x, sort_keys=True)
