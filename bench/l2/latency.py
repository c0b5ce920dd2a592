#!/usr/bin/env python3
"""bench/l2/latency.py: what the second cache tier costs and saves, per request, on loopback.

Starts a redis-server, levee-sim (1 KiB bodies, 5 ms of service time, fresh for 300 s) and
levee instances with their shipped defaults (workers: one per core) but a cache:
  - "filler" (cache.l2 on) fetches K keys once: they land in Redis;
  - "reader" (cache.l2 on, the same Redis, an empty L1) fetches each key twice: the first time
    an L2 hit, the second an L1 hit -> the p50/p99 of both and the difference of the p99s
    (target: an L2 hit costs <= 1 ms p99 more than an L1 hit);
  - misses (new keys) through a levee without a second tier, then through the reader with Redis
    up (a lookup that misses), stopped (lookups skipped) and frozen by DEBUG SLEEP (lookups end
    at cache.l2.timeout_ms, then the breaker skips them) -> p99 and max of each against the
    plain levee's (target: with Redis stopped, no failed request and misses slower by at most
    the L2 timeout).
One client, one keep-alive connection, requests one after the other (latency, not load).

    bench/l2/latency.py [--keys 2000] [--levee build/release/levee]

Prints a Markdown table and writes bench/l2/results/latency.md."""

import argparse
import http.client
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("LV_TEST_FILE_TIMEOUT", "1800")
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402

SIM = """\
workers: 64
default:
  dist: fixed
  service_ms: 5
  cacheable: true
  max_age_s: 300
  body_bytes: 1024
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else float("nan")


class Client:
    def __init__(self, addr):
        self.addr = addr
        self.c = http.client.HTTPConnection(*addr, timeout=10)

    def get(self, path):
        t0 = time.perf_counter()
        try:
            self.c.request("GET", path, headers={"Host": "bench.test"})
            r = self.c.getresponse()
            body = r.read()
            ok = r.status == 200 and len(body) == 1024
        except (OSError, http.client.HTTPException):
            self.c.close()
            self.c = http.client.HTTPConnection(*self.addr, timeout=10)
            ok = False
        return (time.perf_counter() - t0) * 1000.0, ok


def run(paths, lv):
    cl = Client(lv.addr)
    lat, failed = [], 0
    for p in paths:
        ms, ok = cl.get(p)
        lat.append(ms)
        failed += not ok
    return lat, failed


def paired(steps):
    """steps: [(levee, path_fn)]; for i in range(n) each step's request i, one after the other,
    so that both sides of a comparison see the same moments of a noisy machine. Returns one
    (latencies, failed) per step."""
    clients = [Client(lv.addr) for lv, _ in steps]
    out = [([], 0) for _ in steps]

    def go(n):
        for i in range(n):
            for k, (_, path) in enumerate(steps):
                ms, ok = clients[k].get(path(i))
                out[k][0].append(ms)
                out[k] = (out[k][0], out[k][1] + (not ok))
        return out
    return go


def row(name, lat, failed):
    return "| %s | %d | %d | %.3f | %.3f | %.3f |" % (
        name, len(lat), failed, pct(lat, 50), pct(lat, 99), max(lat))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--levee", default=os.path.join(ROOT, "build", "release", "levee"))
    a = ap.parse_args()
    lt.LEVEE = os.path.abspath(a.levee)
    lt.LEVEE_SIM = os.path.join(os.path.dirname(lt.LEVEE), "levee-sim")
    redis = rediskit.RedisServer("bench-redis")
    sim = lt.LeveeSim(config=SIM)

    def levee(l2, name):
        cache = {"size": "256m"}
        if l2:
            cache["l2"] = {"url": redis.url()}
        cfg = lt.make_config([{"name": "app", "upstreams": [sim.hostport], "guard": False}],
                             workers=0, extra={"cache": cache, "region": "bench"})
        return lt.Levee.from_config(cfg, name=name)

    filler, reader, plain = levee(True, "filler.yaml"), levee(True, "reader.yaml"), \
        levee(False, "plain.yaml")
    time.sleep(0.5)
    keys = ["/k/%d" % i for i in range(a.keys)]
    _, failed = run(keys, filler)
    assert failed == 0, failed
    rc = redis.client()
    lt.wait_for(lambda: rc.call("DBSIZE") >= a.keys, 30, what="the keys in Redis")
    rows = []
    # Each key: its L2 hit, then at once its L1 hit.
    (l2_lat, f1), (l1_lat, f2) = paired([(reader, lambda i: keys[i]),
                                         (reader, lambda i: keys[i])])(a.keys)
    rows += [row("L2 hit (reader, first time)", l2_lat, f1),
             row("L1 hit (reader, second time)", l1_lat, f2)]
    n = max(200, a.keys // 4)
    # Misses: each through the plain levee, then through the reader.
    (base, fb), (up, fu) = paired([(plain, lambda i: "/p/%d" % i),
                                   (reader, lambda i: "/u/%d" % i)])(n)
    redis.stop()
    time.sleep(0.3)
    (base_d, fbd), (down, fd) = paired([(plain, lambda i: "/pd/%d" % i),
                                        (reader, lambda i: "/d/%d" % i)])(n)
    redis.start()
    lt.wait_for(lambda: "levee_cache_l2_workers_up 0" not in
                reader.admin("/metrics").body.decode(), 10, what="reader reconnected")
    time.sleep(1.5)
    freezer = threading.Thread(target=lambda: subprocess.run(
        ["redis-cli", "-p", str(redis.port), "DEBUG", "SLEEP", "20"], capture_output=True))
    freezer.start()
    time.sleep(0.2)
    (base_f, fbf), (frozen, ff) = paired([(plain, lambda i: "/pf/%d" % i),
                                          (reader, lambda i: "/f/%d" % i)])(n)
    freezer.join()
    rows += [row("miss, no second tier (beside Redis up)", base, fb),
             row("miss, Redis up (lookup misses)", up, fu),
             row("miss, no second tier (beside Redis stopped)", base_d, fbd),
             row("miss, Redis stopped (lookups skipped)", down, fd),
             row("miss, no second tier (beside Redis frozen)", base_f, fbf),
             row("miss, Redis frozen (timeouts, then breaker)", frozen, ff)]
    diffs = sorted(b - a_ for a_, b in zip(l1_lat, l2_lat))
    d99 = pct(l2_lat, 99) - pct(l1_lat, 99)
    metrics = reader.admin("/metrics").body.decode()
    l2lines = [ln for ln in metrics.split("\n") if ln.startswith("levee_cache_l2_lookups_total")
               or ln.startswith("levee_cache_l2_breaker_opens_total")]
    for lv in (filler, reader, plain):
        lv.stop()
    sim.stop()
    redis.stop()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    out = ["# Second tier latency (bench/l2/latency.py)", "",
           "levee %s, %s UTC, `bench/l2/latency.py --keys %d`; one client, one keep-alive "
           "connection, 1 KiB bodies, origin service time 5 ms, shipped defaults "
           "(cache.l2.timeout_ms 5)." % (commit, time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                         a.keys), "",
           "| requests | n | failed | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    out += rows
    out += ["", "L2 hit p99 - L1 hit p99: %.3f ms (target <= 1 ms); per key, L2 hit minus "
            "the L1 hit right after it: median %.3f ms, p99 %.3f ms." % (
                d99, pct(diffs, 50), pct(diffs, 99)),
            "Miss p99 over the plain levee's beside it: Redis up %+.3f ms, stopped %+.3f ms, "
            "frozen %+.3f ms; p50: up %+.3f, stopped %+.3f, frozen %+.3f ms (target: misses "
            "slower by at most the L2 timeout, 5 ms)." % (
                pct(up, 99) - pct(base, 99), pct(down, 99) - pct(base_d, 99),
                pct(frozen, 99) - pct(base_f, 99), pct(up, 50) - pct(base, 50),
                pct(down, 50) - pct(base_d, 50), pct(frozen, 50) - pct(base_f, 50)),
            "", "Reader's counters at the end:", "", "```"] + l2lines + ["```", ""]
    text = "\n".join(out)
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latency.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
