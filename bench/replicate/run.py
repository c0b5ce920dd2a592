#!/usr/bin/env python3
"""bench/replicate/run.py: the replication bench of issue 15.

Two fresh redis-server processes stand for regions a and b; `levee replicate --region b` reads
a's stream and applies to b; bench/replicate/repl_load.c (target repl-load) appends set events
with 1 KiB values to a's stream at a fixed rate. Per run it reports the lag (apply time minus
the event's version, from the replicator's histogram: interpolated inside its bucket, and the
bucket's bound), the backlog over time (the group's lag + pending entries, every second), the
bytes on the wire per event (a's Redis INFO total_net_output_bytes, which is what the
replicator read, over the events) next to the value's size, and events lost (keys in b's Redis
against events sent: every key is distinct).

  bench/replicate/run.py lag  [--rate 5000] [--seconds 30]
  bench/replicate/run.py max  [--rates 5000,10000,20000,30000,40000,50000] [--seconds 15]
  bench/replicate/run.py kill [--rate 5000] [--seconds 40] [--kills 10]
  (each also takes --batch N, the replicator's --batch)

--bin DIR (default build/release) holds levee and repl-load:
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build/release --target levee repl-load
A rate is sustained when the backlog at the end of the load is under half a second of events
and did not grow over the last 5 s. Prints a Markdown summary; --json FILE writes the figures.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from lvtest import dead_port as free_port  # noqa: E402
from rediskit import Redis  # noqa: E402  (the RESP client)

BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]


class Server:
    def __init__(self, name, tmp):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp, "--logfile", os.path.join(tmp, name + ".log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                Redis(self.port, timeout=1).call("PING")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server %s did not start" % name)

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Replicator:
    def __init__(self, binary, a, b, log, extra=()):
        self.args = [binary, "replicate", "--region", "b", "--local", b.url(),
                     "--peer", "a=" + a.url(), "--metrics", "127.0.0.1:0"] + list(extra)
        self.log = log
        self.start()

    def start(self):
        self.err = open(self.log, "ab")
        pos = self.err.tell()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.err)
        for _ in range(200):
            with open(self.log, "rb") as f:
                f.seek(pos)
                m = re.search(rb'metrics listening" addr=127\.0\.0\.1:(\d+)', f.read())
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.05)
        raise RuntimeError("replicator did not start")

    def status(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % self.port, timeout=5) as r:
            return json.loads(r.read())["peers"][0]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.err.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.err.close()


def quantile(counts, q):
    total = sum(counts)
    if not total:
        return None, None
    rank, seen = q * total, 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            lo = BOUNDS_MS[i - 1] if i else 0
            hi = BOUNDS_MS[i] if i < len(BOUNDS_MS) else 2 * BOUNDS_MS[-1]
            return lo + (hi - lo) * (rank - seen) / c, hi
        seen += c
    return 2 * BOUNDS_MS[-1], None


def count_keys(r, prefix):
    n, cursor = 0, b"0"
    while True:
        cursor, keys = r.call("SCAN", cursor, "MATCH", "lv:c:%s/*" % prefix, "COUNT", 5000)
        n += len(keys)
        if cursor == b"0":
            return n


def net_out(r):
    info = r.call("INFO", "stats").decode()
    return int(re.search(r"total_net_output_bytes:(\d+)", info).group(1))


def run_rate(binary_dir, rate, seconds, kills=0, tmp=None, extra=()):
    a, b = Server("a", tmp), Server("b", tmp)
    rep = Replicator(os.path.join(binary_dir, "levee"), a, b, os.path.join(tmp, "replicate.log"),
                     extra)
    ra, rb = Redis(a.port), Redis(b.port)
    try:
        time.sleep(0.5)
        out0 = net_out(ra)
        load = subprocess.Popen(
            [os.path.join(binary_dir, "repl-load"), "--redis", "127.0.0.1:%d" % a.port,
             "--region", "a", "--group", "b", "--rate", str(rate), "--seconds", str(seconds),
             "--prefix", "bench"], stdout=subprocess.PIPE, text=True)
        samples, done = [], {}
        kill_at = [seconds * (i + 1) / (kills + 1) for i in range(kills)]
        killed = 0
        for line in load.stdout:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if line.startswith("t="):
                samples.append({k: float(v) for k, v in kv.items()})
                while killed < kills and samples[-1]["t"] >= kill_at[killed]:
                    rep.kill()
                    rep.start()
                    killed += 1
            elif line.startswith("done"):
                done = kv
        load.wait()
        sent = int(done["sent"])
        load_end = time.monotonic()
        # drain: everything read and acknowledged
        # (read counts per process: after kills only the group's figures say it)
        drained_after = None
        while time.monotonic() - load_end < 120:
            st = rep.status()
            if drained_after is None and kills == 0 and st["read"] >= sent:
                drained_after = time.monotonic() - load_end
            if st["group_lag"] == 0 and st["pending"] == 0 and st["stream_length"] >= sent:
                if drained_after is None:
                    drained_after = time.monotonic() - load_end
                break
            time.sleep(0.2)
        st = rep.status()
        out1 = net_out(ra)
        found = count_keys(rb, "bench")
        p50, p50_hi = quantile(st["lag_buckets"], 0.5)
        p99, p99_hi = quantile(st["lag_buckets"], 0.99)
        backlog = [(s["t"], max(0, s["lag"]) + max(0, s["pending"])) for s in samples]
        end_backlog = backlog[-1][1] if backlog else None
        last5 = [x for t, x in backlog if t >= backlog[-1][0] - 5] if backlog else []
        growing = len(last5) >= 2 and last5[-1] > last5[0] + rate * 0.1
        return {
            "rate": rate, "seconds": seconds, "kills": killed, "sent": sent,
            "sent_per_s": sent / seconds, "found": found, "lost": sent - found,
            "lag_p50_ms": p50, "lag_p50_bucket_ms": p50_hi,
            "lag_p99_ms": p99, "lag_p99_bucket_ms": p99_hi,
            "backlog": backlog, "backlog_max": max((x for _, x in backlog), default=None),
            "backlog_end": end_backlog, "backlog_growing": growing,
            "sustained": (end_backlog is not None and end_backlog < rate * 0.5 and not growing),
            "drained_after_s": drained_after,
            "wire_bytes_per_event": (out1 - out0) / sent if sent else None,
            "read_bytes_per_event": st["bytes"] / max(1, st["read"]),
            "value_bytes": int(done["value_bytes"]),
            "raw_payload_bytes": int(done["raw_payload_bytes"]),
            "stale": st["stale"], "failed": st["failed"], "applied": st["applied"],
            "read": st["read"],
        }
    finally:
        ra.close()
        rb.close()
        rep.stop()
        a.stop()
        b.stop()


def fmt(x, nd=1):
    return "-" if x is None else ("{:,.%df}" % nd).format(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["lag", "max", "kill"])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--rates", default="5000,10000,20000,30000,40000,50000")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--batch", type=int, help="the replicator's --batch (default its own)")
    ap.add_argument("--json")
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="repl-bench-")
    extra = ["--batch", str(o.batch)] if o.batch else []
    results = []
    try:
        if o.mode == "lag":
            results.append(run_rate(o.bin, o.rate, o.seconds or 30, tmp=tmp, extra=extra))
        elif o.mode == "kill":
            results.append(run_rate(o.bin, o.rate, o.seconds or 40, kills=o.kills, tmp=tmp,
                                    extra=extra))
        else:
            for r in (int(x) for x in o.rates.split(",")):
                results.append(run_rate(o.bin, r, o.seconds or 15, tmp=tmp, extra=extra))
                print("rate %d done: %s" % (r, {k: v for k, v in results[-1].items()
                                                 if k != "backlog"}), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| offered/s | sent/s | lag p50 ms (bucket) | lag p99 ms (bucket) | backlog max | "
          "backlog at end | sustained | drained after | wire B/event | value B | lost | kills |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in results:
        print("| {:,} | {} | {} (≤{}) | {} (≤{}) | {} | {} | {} | {} s | {} | {} ({} raw) | {} "
              "| {} |".format(
                  x["rate"], fmt(x["sent_per_s"], 0), fmt(x["lag_p50_ms"]),
                  x["lag_p50_bucket_ms"], fmt(x["lag_p99_ms"]), x["lag_p99_bucket_ms"],
                  fmt(x["backlog_max"], 0), fmt(x["backlog_end"], 0),
                  "yes" if x["sustained"] else "no", fmt(x["drained_after_s"]),
                  fmt(x["wire_bytes_per_event"], 0), x["value_bytes"], x["raw_payload_bytes"],
                  x["lost"], x["kills"]))
    for x in results:
        print("rate %d backlog over time (t s: entries): %s" % (
            x["rate"], ", ".join("%d: %d" % (t, v) for t, v in x["backlog"])))
    if o.json:
        with open(o.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
