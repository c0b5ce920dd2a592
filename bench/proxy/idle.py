#!/usr/bin/env python3
"""Memory per idle keep-alive connection.

Opens M client connections to the proxy; each sends one GET and reads the whole
response, then stays open and idle (keep-alive). The proxy's resident memory
(VmRSS, summed over the given pids) is read before and after; the difference
divided by M is the cost of one idle keep-alive connection.

Usage: idle.py HOST PORT PATH M PID[,PID...] [tls]
With "tls" the connections speak TLS (no certificate check; bench/tls/run.sh).
Prints: rss_before_kib=.. rss_after_kib=.. conns=.. kib_per_conn=.. failed=..
"""
import resource
import select
import socket
import ssl
import sys
import time


def rss_kib(pids):
    total = 0
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    total += int(ln.split()[1])
    return total


def request(s, req):
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed before head")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    clen = None
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == "content-length":
            clen = int(v)
    if clen is None:
        raise ConnectionError("no content-length: " + lines[0])
    while len(rest) < clen:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed in body")
        rest += d
    return status


def main():
    host, port, path, m = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    pids = [int(p) for p in sys.argv[5].split(",") if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # ulimit -n 20000
    want = min(20000, hard) if hard != resource.RLIM_INFINITY else 20000
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    tls = None
    if len(sys.argv) > 6 and sys.argv[6] == "tls":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    def connect():
        s = socket.create_connection((host, port), timeout=10)
        return tls.wrap_socket(s) if tls else s

    req = f"GET {path} HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: levee-bench\r\n\r\n".encode()

    # Warm up: a few connections and requests so lazy allocations are done.
    warm = []
    for _ in range(50):
        s = connect()
        for _ in range(10):
            request(s, req)
        warm.append(s)
    for s in warm:
        s.close()
    time.sleep(1.0)
    before = rss_kib(pids)

    conns, failed, statuses = [], 0, {}
    t0 = time.time()
    for _ in range(m):
        try:
            s = connect()
            st = request(s, req)
            statuses[st] = statuses.get(st, 0) + 1
            if st != 200:
                failed += 1
            conns.append(s)
        except Exception as e:  # noqa: BLE001
            failed += 1
            if failed <= 3:
                print(f"# connection error: {e!r}", file=sys.stderr)
    t_open = time.time() - t0
    time.sleep(2.0)
    after = rss_kib(pids)
    # Check the connections are still open (idle, not closed by the proxy).
    alive = 0
    for s in conns:
        s.setblocking(False)
        if tls:  # an SSL socket cannot peek: open and quiet is alive
            poller = select.poll()
            poller.register(s, select.POLLIN)
            alive += not poller.poll(0)
            continue
        try:
            d = s.recv(1, socket.MSG_PEEK)
            if d:
                alive += 1  # unexpected data, but still open
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    n = len(conns)
    per = (after - before) / n if n else float("nan")
    print(f"rss_before_kib={before} rss_after_kib={after} conns={n} alive={alive} failed={failed} "
          f"statuses={statuses} open_s={t_open:.1f} kib_per_conn={per:.3f}")
    for s in conns:
        s.close()


main()
