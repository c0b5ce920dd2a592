#!/usr/bin/env python3
"""bench/origin/dead_host.py: one of two upstream hosts dead, at low load: the share of requests
answered 200 through levee (shipped defaults, default worker count) and through nginx (a stock
upstream block: max_fails=1, fail_timeout=10s, proxy_next_upstream error timeout), in the
same run. The dead host either refuses connections (nothing listens) or is black-holed (a
listener that never accepts, its queue filled: SYNs go unanswered, connects time out).

    bench/origin/dead_host.py [--requests 1000] [--rate 100] [--levee build/release/levee]

Prints a Markdown table and writes bench/origin/results/dead_host.md. Python 3 stdlib, nginx
from Debian; every process listens on 127.0.0.1 on ports picked free at run time."""

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Backend(threading.Thread):
    """A tiny HTTP/1.1 keep-alive backend: 200 with a 2-byte body."""

    def __init__(self):
        super().__init__(daemon=True)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(512)
        self.port = self.srv.getsockname()[1]
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                _, _, buf = buf.partition(b"\r\n\r\n")
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        finally:
            c.close()


class BlackHole:
    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fill = []
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", self.port))
            except OSError:
                pass
            self.fill.append(f)
        time.sleep(0.2)


def wait_port(port, timeout=10):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def start_levee(binary, work, good, bad):
    port = free_port()
    cfg = os.path.join(work, "levee.yaml")
    with open(cfg, "w") as f:
        f.write("listen: [\"127.0.0.1:%d\"]\nadmin: {enabled: false}\nservices:\n"
                "  - name: app\n    upstreams: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n"
                % (port, good, bad))
    p = subprocess.Popen([binary, "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(work, "levee.log"), "w"))
    wait_port(port)
    return p, port


def start_nginx(work, good, bad):
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes auto;
pid %(w)s/nginx.pid;
error_log %(w)s/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    upstream app { server 127.0.0.1:%(good)d; server 127.0.0.1:%(bad)d; keepalive 32; }
    server {
        listen 127.0.0.1:%(port)d;
        location / { proxy_pass http://app; proxy_http_version 1.1;
                     proxy_set_header Connection ""; }
    }
}
""" % {"w": work, "good": good, "bad": bad, "port": port})
    p = subprocess.Popen(["nginx", "-c", conf, "-p", work, "-g", "daemon off;"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def run_load(port, n, rate):
    """n requests at `rate` per second from a few threads, each a fresh connection (a new
    user); returns (answered 200, other statuses, errors, p99 ms)."""
    ok, other, errors, lat = 0, {}, 0, []
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(i):
        nonlocal ok, errors
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        s = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            c.request("GET", "/x%d" % i)
            r = c.getresponse()
            r.read()
            c.close()
            with lock:
                lat.append(time.monotonic() - s)
                if r.status == 200:
                    ok += 1
                else:
                    other[r.status] = other.get(r.status, 0) + 1
        except Exception:  # noqa: BLE001 (counted)
            with lock:
                errors += 1

    threads = []
    for i in range(n):
        t = threading.Thread(target=one, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        while sum(1 for x in threads if x.is_alive()) > 200:
            time.sleep(0.001)
    for t in threads:
        t.join(30)
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0
    return ok, other, errors, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--levee", default=os.path.join(ROOT, "build", "release", "levee"))
    a = ap.parse_args()
    rows = []
    for kind in ("refused", "black-holed"):
        for proxy in ("levee", "nginx"):
            work = tempfile.mkdtemp(prefix="levee-dead-host-")
            good = Backend()
            hole = BlackHole() if kind == "black-holed" else None
            bad = hole.port if hole else free_port()
            p, port = (start_levee(a.levee, work, good.port, bad) if proxy == "levee"
                       else start_nginx(work, good.port, bad))
            try:
                ok, other, errors, p99 = run_load(port, a.requests, a.rate)
            finally:
                p.terminate()
                p.wait(10)
                good.srv.close()
                shutil.rmtree(work, ignore_errors=True)
            rows.append((kind, proxy, ok, other, errors, p99))
            print("%s %s: %d of %d answered 200 (%.2f %%), other %s, errors %d, p99 %.0f ms"
                  % (kind, proxy, ok, a.requests, 100.0 * ok / a.requests, other, errors, p99),
                  file=sys.stderr)
    out = ["| dead host | proxy | answered 200 | other statuses | client errors | p99 |",
           "|---|---|---|---|---|---|"]
    for kind, proxy, ok, other, errors, p99 in rows:
        out.append("| %s | %s | %d of %d (%.2f %%) | %s | %d | %.0f ms |"
                   % (kind, proxy, ok, a.requests, 100.0 * ok / a.requests,
                      ", ".join("%d: %d" % kv for kv in sorted(other.items())) or "none",
                      errors, p99))
    text = "\n".join(out) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "dead_host.md"), "w") as f:
        f.write("# One of two hosts dead, low load (%d requests at %g/s)\n\n" % (a.requests, a.rate))
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "unknown"
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        f.write("`bench/origin/dead_host.py --requests %d --rate %g`, %s, levee %s (%s), %s; "
                "levee with its shipped defaults (workers: one per core), nginx with a stock "
                "upstream block (max_fails=1, fail_timeout=10s, 60 s connect timeout), clients "
                "give up after 15 s.\n\n"
                % (a.requests, a.rate, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), rev,
                   a.levee, nginx))
        f.write(text)


if __name__ == "__main__":
    main()
