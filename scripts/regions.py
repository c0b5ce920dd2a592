#!/usr/bin/env python3
"""scripts/regions.py: two regions on loopback, and what replication does for them.

Region a and region b each have a Redis (the second tier), a levee-sim origin and a levee; a
`levee replicate` runs in each region reading the other's stream. Load (people fetching pages,
popular ones more often) goes to region a only. Then:
  1. region b fetches every page a served: hits from its second tier, its own origin untouched;
  2. a purge of one URL in a reaches b (time to b's tombstone), and b's next request for it goes
     to b's origin;
  3. b's Redis is stopped for --outage seconds while a's load goes on, then started again (empty:
     no persistence): b's replicator waits, resumes from its group's position and catches up;
     published against applied;
and it prints the figures (lag percentiles, bytes on the wire per event against the value's
size, the outage) and writes an HTML report with plots (out/regions.html).

    scripts/regions.sh [--seconds 20] [--pages 300] [--rate 300] [--outage 10]
                       [--build build/release] [--out out/regions.html]
Python 3 stdlib; redis-server from Debian; every process on 127.0.0.1, ports picked free."""

import argparse
import html
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("LV_TEST_FILE_TIMEOUT", "3600")
import lvtest as lt  # noqa: E402
import rediskit  # noqa: E402

TOKEN = "regions-rehearsal"
HOST = "www.example.test"
SIM = """\
workers: 64
default:
  dist: fixed
  service_ms: 5
  cacheable: true
  max_age_s: 600
  body_bytes: 2048
"""


def say(msg):
    print("regions: " + msg, flush=True)


def scrape(addr, path="/metrics"):
    c = http.client.HTTPConnection(*addr, timeout=5)
    c.request("GET", path)
    body = c.getresponse().read().decode()
    c.close()
    return body


def metric(text, name, labels=None):
    total = 0.0
    for line in text.split("\n"):
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if labels and not all('%s="%s"' % kv in line for kv in labels.items()):
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


class Replicator:
    def __init__(self, levee_bin, region, local, peer_name, peer):
        self.log = os.path.join(lt.tmpdir(), "replicate-%s.log" % region)
        self.cmd = [levee_bin, "replicate", "--region", region, "--local", local.url(),
                    "--peer", "%s=%s" % (peer_name, peer.url()), "--metrics", "127.0.0.1:0"]
        self.region = region
        self.start()

    def start(self):
        f = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        f.close()
        lt._children.append(self.proc)
        deadline = time.time() + 15
        rx = re.compile(r'msg="metrics listening".*addr="?([0-9.]+):(\d+)')
        while time.time() < deadline:
            with open(self.log, errors="replace") as f:
                ms = rx.findall(f.read())
            if ms:
                self.addr = (ms[-1][0], int(ms[-1][1]))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("levee replicate (%s) did not start: see %s" % (self.region, self.log))

    def status(self):
        return json.loads(scrape(self.addr, "/status"))

    def stop(self):
        lt.stop_process(self.proc)


class Load(threading.Thread):
    """Open-loop arrivals at `rate` per second on a few keep-alive connections, Zipf-like pages."""

    def __init__(self, addr, pages, rate, conns=8):
        super().__init__(daemon=True)
        self.addr, self.pages, self.rate, self.conns = addr, pages, rate, conns
        self.stop_ev = threading.Event()
        self.sent = self.ok = self.failed = 0
        self.seen = set()
        self.lock = threading.Lock()
        weights = [1.0 / (i + 1) for i in range(pages)]
        total = sum(weights)
        self.cum, acc = [], 0.0
        for w in weights:
            acc += w / total
            self.cum.append(acc)

    def page(self, rng):
        x = rng.random()
        lo, hi = 0, len(self.cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def worker(self, k):
        rng = random.Random(k)
        c = http.client.HTTPConnection(*self.addr, timeout=10)
        period = self.conns / float(self.rate)
        t_next = time.monotonic() + rng.random() * period
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if now < t_next:
                time.sleep(t_next - now)
            t_next += period
            p = self.page(rng)
            try:
                c.request("GET", "/page/%d" % p, headers={"Host": HOST})
                r = c.getresponse()
                r.read()
                good = r.status == 200
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection(*self.addr, timeout=10)
                good = False
            with self.lock:
                self.sent += 1
                self.ok += good
                self.failed += not good
                self.seen.add(p)

    def run(self):
        ts = [threading.Thread(target=self.worker, args=(k,), daemon=True)
              for k in range(self.conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def svg_lines(series, width=640, height=200, ylabel=""):
    """A small line chart: series = [(name, color, [(x, y)])]."""
    pts = [p for _, _, s in series for p in s]
    if not pts:
        return "<p>(no data)</p>"
    xmax = max(x for x, _ in pts) or 1
    ymax = max(y for _, y in pts) or 1
    L, B = 48, 24
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
           'aria-label="%s">' % (width, height, html.escape(ylabel))]
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#555"/>'
               % (L, height - B, width - 8, height - B))
    out.append('<line x1="%d" y1="8" x2="%d" y2="%d" stroke="#555"/>' % (L, L, height - B))
    out.append('<text x="4" y="14" font-size="11">%s</text>' % html.escape("%.4g" % ymax))
    out.append('<text x="4" y="%d" font-size="11">0</text>' % (height - B))
    out.append('<text x="%d" y="%d" font-size="11">%.0f s</text>' % (width - 50, height - 6,
                                                                    xmax))
    out.append('<text x="%d" y="%d" font-size="11">%s</text>' % (L + 4, 20,
                                                                 html.escape(ylabel)))
    for i, (name, color, s) in enumerate(series):
        if not s:
            continue
        d = " ".join("%.1f,%.1f" % (L + x / xmax * (width - L - 10),
                                    height - B - y / ymax * (height - B - 10)) for x, y in s)
        dash = ' stroke-dasharray="5 3"' if i else ""  # later series dashed: overlaps show
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>'
                   % (color, dash, d))
        out.append('<text x="%d" y="%d" font-size="11" fill="%s">%s</text>'
                   % (width - 190, 16 + 14 * i, color, html.escape(name)))
    out.append("</svg>")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--outage", type=float, default=10)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "regions.html"))
    a = ap.parse_args()
    lt.LEVEE = os.path.abspath(os.path.join(a.build, "levee"))
    lt.LEVEE_SIM = os.path.abspath(os.path.join(a.build, "levee-sim"))
    t_start = time.monotonic()

    say("starting two regions: Redis, origin, levee and a replicator each")
    redis = {r: rediskit.RedisServer("redis-" + r) for r in "ab"}
    sims = {r: lt.LeveeSim(config=SIM) for r in "ab"}
    levees = {}
    for r in "ab":
        cfg = lt.make_config([{"name": "web", "upstreams": [sims[r].hostport], "guard": False}],
                             workers=0, extra={
                                 "region": r, "admin": {"listen": "127.0.0.1:0", "token": TOKEN},
                                 "cache": {"size": "128m", "l2": {"url": redis[r].url()}}})
        levees[r] = lt.Levee.from_config(cfg, name="levee-%s.yaml" % r)
    repl = {"b": Replicator(lt.LEVEE, "b", redis["b"], "a", redis["a"]),
            "a": Replicator(lt.LEVEE, "a", redis["a"], "b", redis["b"])}
    rc = {r: redis[r].client() for r in "ab"}

    samples = []  # (t, applied_b, backlog_b, lag_p99_b, a_events)

    stream_a = redis["a"].client()  # the sampler's own connection to a's Redis

    def backlog_of_b():
        """Entries of a's stream that b's group has not applied: lag + pending (XINFO)."""
        for g in stream_a.call("XINFO", "GROUPS", "lv:ev:a"):
            d = {g[i].decode(): g[i + 1] for i in range(0, len(g), 2)}
            if d.get("name") == b"b":
                return max(0, d.get("lag") or 0) + d.get("pending", 0)
        return None

    def sample(phase):
        t = time.monotonic() - t_start
        try:
            backlog = backlog_of_b()
        except (OSError, ConnectionError, rediskit.RedisError):
            backlog = None
        try:
            st = repl["b"].status()["peers"][0]
            m = scrape(repl["b"].addr)
            applied = metric(m, "levee_replicate_applied_total") + \
                metric(m, "levee_replicate_stale_total")
            p99 = st.get("lag_ms", {}).get("p99", 0) or 0
        except (OSError, ValueError, KeyError, IndexError, http.client.HTTPException):
            applied, p99 = None, None
        try:
            ma = scrape(levees["a"].admin_addr)
            published = metric(ma, "levee_cache_l2_events_published_total")
        except (OSError, http.client.HTTPException):
            published = None
        samples.append((t, applied, backlog, p99, published, phase))

    stop_sampler = threading.Event()
    phase = ["load"]

    def sampler():
        while not stop_sampler.is_set():
            sample(phase[0])
            time.sleep(0.5)
    threading.Thread(target=sampler, daemon=True).start()

    say("load on region a: %.0f requests/s for %.0f s over %d pages" % (a.rate, a.seconds,
                                                                       a.pages))
    load = Load(levees["a"].addr, a.pages, a.rate)
    load.start()
    for i in range(int(a.seconds)):
        time.sleep(1)
        if (i + 1) % 5 == 0:
            say("  %d s: %d requests, %d failed" % (i + 1, load.sent, load.failed))
    load.stop_ev.set()
    load.join()
    pages = sorted(load.seen)

    def caught_up():
        st = repl["b"].status()["peers"][0]
        return st.get("pending", 1) == 0 and st.get("group_lag", 1) == 0
    lt.wait_for(caught_up, 30, what="b's replicator caught up")
    sim_b_before = sims["b"].stats().get("paths", {})
    say("region b fetches the %d pages region a served" % len(pages))
    hits_before = metric(scrape(levees["b"].admin_addr), "levee_cache_l2_lookups_total",
                         {"result": "hit"})
    b_ok = 0
    c = http.client.HTTPConnection(*levees["b"].addr, timeout=10)
    for p in pages:
        c.request("GET", "/page/%d" % p, headers={"Host": HOST})
        r = c.getresponse()
        r.read()
        b_ok += r.status == 200
    c.close()
    mb = scrape(levees["b"].admin_addr)
    b_hits = metric(mb, "levee_cache_l2_lookups_total", {"result": "hit"}) - hits_before
    sim_b = sims["b"].stats().get("paths", {})
    b_origin = sum(v.get("received", 0) for k, v in sim_b.items() if k.startswith("/page/")) - \
        sum(v.get("received", 0) for k, v in sim_b_before.items() if k.startswith("/page/"))

    say("a purge of /page/0 in region a")
    url = "http://%s/page/0" % HOST
    t0 = time.monotonic()
    r = lt.http_request(levees["a"].admin_addr, "POST", "/cache/purge?url=" +
                        urllib.parse.quote(url, safe=""),
                        headers=[("Authorization", "Bearer " + TOKEN)], timeout=10)
    purge_answer = r.json() if r.status == 200 else {"status": r.status}
    key = "lv:c:%s/page/0" % HOST
    lt.wait_for(lambda: (rc["b"].call("GET", key) or b"").startswith(b"LVL211"), 10,
                what="the tombstone in b")
    purge_ms = (time.monotonic() - t0) * 1000
    before = sims["b"].path_stat("/page/0")
    lt.http_request(levees["b"].addr, "GET", "/page/0", host=HOST, timeout=10)
    purge_refetch = sims["b"].path_stat("/page/0") - before

    lag_before = repl["b"].status()["peers"][0].get("lag_ms", {})
    say("region b's Redis stopped for %.0f s while region a's load goes on" % a.outage)
    phase[0] = "outage"
    load2 = Load(levees["a"].addr, a.pages * 4, a.rate)
    load2.start()
    time.sleep(1)
    t_out = time.monotonic() - t_start
    redis["b"].stop()
    time.sleep(a.outage)
    redis["b"].start()
    t_back = time.monotonic() - t_start
    rc["b"] = redis["b"].client()
    phase[0] = "after"
    time.sleep(2)
    load2.stop_ev.set()
    load2.join()
    t_caught = None
    try:
        lt.wait_for(caught_up, 60, what="b's replicator caught up after the outage")
        t_caught = time.monotonic() - t_start
    except AssertionError:
        pass
    time.sleep(1.5)  # one more sample with the final counters
    stop_sampler.set()
    sample("end")
    stream_a.close()

    ma = scrape(levees["a"].admin_addr)
    published = metric(ma, "levee_cache_l2_events_published_total")
    ev_bytes = metric(ma, "levee_cache_l2_event_bytes_total")
    wrote = metric(ma, "levee_cache_l2_writes_total")
    wrote_bytes = metric(ma, "levee_cache_l2_write_bytes_total")
    st_b = repl["b"].status()["peers"][0]
    mbr = scrape(repl["b"].addr)
    read_b = metric(mbr, "levee_replicate_read_total")
    wire_b = metric(mbr, "levee_replicate_bytes_total")
    applied_b = metric(mbr, "levee_replicate_applied_total")
    stale_b = metric(mbr, "levee_replicate_stale_total")
    failed_b = metric(mbr, "levee_replicate_failed_total")
    lag = st_b.get("lag_ms", {})
    own_a = metric(scrape(repl["a"].addr), "levee_replicate_read_total")

    figures = [
        ("requests on a (load, then during the outage)", "%d (%d failed), %d (%d failed)" % (
            load.sent, load.failed, load2.sent, load2.failed)),
        ("pages region b fetched / answered 200", "%d / %d" % (len(pages), b_ok)),
        ("of them second-tier hits in b", "%d" % b_hits),
        ("requests that reached b's origin for them", "%d" % b_origin),
        ("purge in a: answer", json.dumps(purge_answer)),
        ("purge in a -> tombstone in b", "%.0f ms" % purge_ms),
        ("b's next request for the purged page reached b's origin", "%d time(s)" % purge_refetch),
        ("events published by a", "%d" % published),
        ("events b's replicator read / applied / stale / failed", "%d / %d / %d / %d" % (
            read_b, applied_b, stale_b, failed_b)),
        ("events a's replicator read from b (b's own events; a served no load)", "%d" % own_a),
        ("replication lag before the outage p50 / p90 / p99", "%s / %s / %s ms" % (
            lag_before.get("p50"), lag_before.get("p90"), lag_before.get("p99"))),
        ("replication lag over the whole run (the outage's events included) p50 / p99",
         "%s / %s ms" % (lag.get("p50"), lag.get("p99"))),
        ("bytes per event on the wire (b's replicator read)", "%.0f" % (wire_b / read_b)
         if read_b else "-"),
        ("value bytes per write in a (compressed when smaller)", "%.0f" % (
            wrote_bytes / wrote) if wrote else "-"),
        ("event bytes per event as a wrote them", "%.0f" % (ev_bytes / published)
         if published else "-"),
        ("b's Redis down / back / caught up at", "%.1f s / %.1f s / %s" % (
            t_out, t_back, "%.1f s" % t_caught if t_caught else "not within 60 s")),
    ]
    for k, v in figures:
        say("%-70s %s" % (k, v))

    for r in "ab":
        repl[r].stop()
        levees[r].stop()
        sims[r].stop()
        rc[r].close()
        redis[r].stop()

    ok = [s for s in samples if s[1] is not None]
    t_first = ok[0][0] if ok else 0
    applied_pts = []
    for prev, cur in zip(ok, ok[1:]):
        dt = cur[0] - prev[0]
        if dt > 0 and cur[1] >= prev[1]:
            applied_pts.append((cur[0] - t_first, (cur[1] - prev[1]) / dt))
    backlog_pts = [(s[0] - t_first, s[2]) for s in samples if s[2] is not None]
    pub = [s for s in samples if s[4] is not None]
    pub_pts = []
    for prev, cur in zip(pub, pub[1:]):
        dt = cur[0] - prev[0]
        if dt > 0:
            pub_pts.append((cur[0] - t_first, (cur[4] - prev[4]) / dt))
    lag_pts = [(s[0] - t_first, s[3]) for s in ok]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    rows = "".join("<tr><th scope='row'>%s</th><td>%s</td></tr>" % (html.escape(k),
                                                                     html.escape(v))
                   for k, v in figures)
    page = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>levee: two regions</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;max-width:60em;color:#111}
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left}
th{font-weight:600;background:#f2f2f2}svg{background:#fafafa;border:1px solid #ddd}</style>
</head><body>
<h1>Two regions: replication on Redis Streams</h1>
<p>levee %s, %s UTC, <code>scripts/regions.sh --seconds %g --pages %d --rate %g --outage %g</code>.
Load on region a only; b's Redis stopped from %.1f s to %.1f s (times from the first sample).</p>
<h2>Figures</h2><table>%s</table>
<h2>Events published by a and applied in b, per second</h2>%s
<h2>b's backlog (entries not yet applied)</h2>%s
<h2>Replication lag p99 (ms, since the replicator started)</h2>%s
</body></html>
""" % (html.escape(commit), time.strftime("%Y-%m-%d %H:%M", time.gmtime()), a.seconds,
       a.pages, a.rate, a.outage, t_out - t_first, t_back - t_first, rows,
       svg_lines([("published by a", "#1f77b4", pub_pts), ("applied in b", "#d62728",
                                                           applied_pts)],
                 ylabel="events/s"),
       svg_lines([("backlog", "#9467bd", backlog_pts)], ylabel="entries"),
       svg_lines([("lag p99", "#2ca02c", lag_pts)], ylabel="ms"))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(page)
    say("report written to %s" % a.out)
    bad = load.failed or load2.failed or b_ok != len(pages) or b_origin or failed_b or \
        purge_refetch != 1 or t_caught is None
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
