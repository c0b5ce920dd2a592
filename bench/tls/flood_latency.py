#!/usr/bin/env python3
"""bench/tls/flood_latency.py: the latency of requests on an established TLS keep-alive
connection while levee-load floods levee with new TLS users (a full handshake each), for one
or more builds in turns (A/B in the same run).

levee in quick mode (shipped defaults: a worker per core, tls.handshake_cpu_percent 50) with a
self-signed P-256 certificate, in front of levee-sim (64 workers x 1 ms). One Python client
sends GET /x on one TLS connection every 5 ms: 200 requests alone, then 600 during
`levee-load --rate RATE --duration 6` (https, one request per user). Prints p50, p99 and the
maximum per build and round, and levee's handshake counters.
Usage: bench/tls/flood_latency.py [--rounds N] [--rate R] BUILD_DIR [BUILD_DIR ...]
"""
import argparse
import os
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc):
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit("a process exited before listening on %d" % port)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nothing listens on %d" % port)


def latencies(port, n, ctx):
    out = []
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(b"GET /x HTTP/1.1\r\nHost: bench\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += s.recv(65536)
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.005)
    s.close()
    return sorted(out)


def q(v, p):
    return v[min(len(v) - 1, int(p * len(v)))]


def one(build, rate, work):
    sp, lp, ap = free_port(), free_port(), free_port()
    sim = subprocess.Popen([os.path.join(build, "levee-sim"), "--listen", "127.0.0.1:%d" % sp,
                            "--workers", "64", "--service-ms", "1", "--log-level", "warn"])
    lv = subprocess.Popen([os.path.join(build, "levee"), "proxy", "--listen", "127.0.0.1:%d" % lp,
                           "--admin", "127.0.0.1:%d" % ap, "--to", "127.0.0.1:%d" % sp,
                           "--tls-cert", work + "/cert.pem", "--tls-key", work + "/key.pem"],
                          stderr=subprocess.DEVNULL)
    try:
        wait_port(sp, sim)
        wait_port(lp, lv)
        ctx = ssl.create_default_context(cafile=work + "/cert.pem")
        calm = latencies(lp, 200, ctx)
        flood = subprocess.Popen([os.path.join(build, "levee-load"), "--target",
                                  "https://127.0.0.1:%d/" % lp, "--tls-ca", work + "/cert.pem",
                                  "--rate", str(rate), "--duration", "6", "--quiet",
                                  "--patience-ms", "5000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        under = latencies(lp, 600, ctx)
        flood.wait()
        m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ap, timeout=5).read().decode()
        counts = {line.split()[0]: line.split()[1] for line in m.splitlines()
                  if line.startswith(("levee_tls_handshakes_total{result=\"ok\",reason=\"full\"",
                                      "levee_tls_handshakes_total{result=\"limited\"",
                                      "levee_tls_handshakes_yielded_total"))}
        print("%-40s calm p50 %.2f p99 %.2f ms | flood p50 %.2f p99 %.2f max %.2f ms | %s"
              % (build, q(calm, .5), q(calm, .99), q(under, .5), q(under, .99), under[-1],
                 " ".join("%s=%s" % kv for kv in sorted(counts.items()))), flush=True)
    finally:
        for p in (lv, sim):
            p.terminate()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=int, default=1500)
    ap.add_argument("builds", nargs="+")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="levee-tls-flood.")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", work + "/key.pem", "-out",
                    work + "/cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(a.rounds):
        for b in a.builds:
            one(os.path.abspath(b), a.rate, work)


if __name__ == "__main__":
    main()
