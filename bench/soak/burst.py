#!/usr/bin/env python3
"""bench/soak/burst.py: does levee give memory back after a burst? Starts levee-sim (4 workers x
50 ms) and levee (quick mode, shipped defaults), then, ROUNDS times: opens N client connections
at once, each sending one GET, waits 2 s, closes them all, waits 12 s; prints levee's RSS before,
during and after each round.

    bench/soak/burst.py [--build build/release] [--n 3000] [--rounds 3]
"""
import argparse
import os
import re
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    sp, lp = free_port(), free_port()
    sim = subprocess.Popen([os.path.join(a.build, "levee-sim"), "--listen", "127.0.0.1:%d" % sp,
                            "--workers", "4", "--service-ms", "50", "--log-level", "warn"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    lv = subprocess.Popen([os.path.join(a.build, "levee"), "proxy", "--listen",
                           "127.0.0.1:%d" % lp, "--to", "127.0.0.1:%d" % sp, "--admin", "off",
                           "--log-level", "warn"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        print("idle: %d KiB" % rss_kib(lv.pid))
        for rnd in range(a.rounds):
            socks = []
            for i in range(a.n):
                s = socket.create_connection(("127.0.0.1", lp))
                s.sendall(b"GET /x%d HTTP/1.1\r\nHost: a\r\nUser-Agent: burst\r\n"
                          b"Accept: */*\r\n\r\n" % i)
                socks.append(s)
            time.sleep(2)
            during = rss_kib(lv.pid)
            for s in socks:
                s.close()
            time.sleep(12)
            print("round %d: %d KiB during, %d KiB 12 s after" % (rnd, during, rss_kib(lv.pid)))
    finally:
        lv.terminate()
        lv.wait(10)
        sim.terminate()
        sim.wait(10)


if __name__ == "__main__":
    main()
