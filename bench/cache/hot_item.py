#!/usr/bin/env python3
"""bench/cache/hot_item.py: helpers of bench/cache/hot_item.sh (issue 5, hot-item target).

  hot_item.py poll --port SIM_PORT --path /hot --out FILE [--interval 0.1]
      Reads levee-sim's /stats (keep-alive, never queued by the sim) every interval until
      SIGTERM and appends "t_s<TAB>received<TAB>processed<TAB>queue<TAB>in_flight" for the
      path (t_s: seconds since the epoch). Not counted by the sim as work.
  hot_item.py probe --port PROXY_PORT --path /hot --ref FILE --out FILE [--every 5]
      Fetches the page through the proxy every few seconds until SIGTERM; checks the status is
      200 and the body equals the reference body (fetched from the sim before the run);
      writes one JSON line per probe (status, body ok, Age, Cache-Control, X-Cache-Status).
  hot_item.py summarize --raw DIR --setups a,b --out PREFIX --max-age 2 --duration 40 ...
      Writes PREFIX.md and PREFIX.json (the table of the results).
  hot_item.py inject --html FILE --out PREFIX
      Adds the table and an SVG plot (backend requests for the page over time, per setup)
      at the top of levee-load's HTML report.
"""
import argparse
import html
import http.client
import json
import os
import re
import signal
import sys
import time

STOP = False


def _stop(*_):
    global STOP
    STOP = True


def poll(args):
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    conn = None
    with open(args.out, "w") as f:
        nxt = time.time()
        while not STOP:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", "/stats")
                d = json.loads(conn.getresponse().read())
                p = d.get("paths", {}).get(args.path, {})
                f.write("%.3f\t%d\t%d\t%d\t%d\n" % (time.time(), p.get("received", 0),
                                                    p.get("processed", 0), d["queue"], d["in_flight"]))
                f.flush()
            except Exception as e:  # the sim is busy or gone: note it, go on
                f.write("# %.3f error %s\n" % (time.time(), e))
                conn = None
            nxt += args.interval
            time.sleep(max(0.0, nxt - time.time()))


def probe(args):
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ref = open(args.ref, "rb").read()
    with open(args.out, "w") as f:
        while not STOP:
            t0 = time.time()
            rec = {"t": round(t0, 3)}
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                c.request("GET", args.path)
                r = c.getresponse()
                body = r.read()
                rec.update(status=r.status, body_ok=(body == ref), body_len=len(body),
                           age=r.getheader("Age"), cache_control=r.getheader("Cache-Control"),
                           x_cache=r.getheader("X-Cache-Status") or r.getheader("X-Cache"),
                           ms=round(1000 * (time.time() - t0), 1))
                c.close()
            except Exception as e:
                rec.update(error=str(e))
            f.write(json.dumps(rec) + "\n")
            f.flush()
            end = t0 + args.every
            while not STOP and time.time() < end:
                time.sleep(0.05)


def read_poll(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path):
        if line.startswith("#"):
            continue
        f = line.split()
        rows.append((float(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4])))
    return rows


def refreshes(rows, t0, gap=0.5):
    """Groups the increments of the path's received count into refresh events: a new event
    starts when the previous increment is more than `gap` seconds older. Returns a list of
    (t_start relative to t0, requests)."""
    ev = []
    last_t = None
    prev = rows[0][1] if rows else 0
    for t, rec, *_ in rows[1:]:
        d = rec - prev
        prev = rec
        if d <= 0:
            continue
        if last_t is None or t - last_t > gap:
            ev.append([round(t - t0, 2), d])
        else:
            ev[-1][1] += d
        last_t = t
    return ev


def pct(x):
    return "%.1f %%" % (100.0 * x) if x is not None else "-"


def summarize(args):
    setups = args.setups.split(",")
    meta = {}
    if args.meta and os.path.exists(args.meta):
        for line in open(args.meta):
            f = line.rstrip("\n").split("\t")
            if len(f) >= 4:
                meta[f[0]] = {"load_before": f[1], "load_after": f[2], "t0": float(f[3])}
    periods = args.duration / args.max_age
    rows = []
    for s in setups:
        lp = os.path.join(args.raw, s + ".load.json")
        if not os.path.exists(lp):
            rows.append({"setup": s, "missing": True})
            continue
        load = json.load(open(lp))
        sim = json.load(open(os.path.join(args.raw, s + ".sim.json")))
        hot = sim.get("paths", {}).get(args.path, {"received": 0, "processed": 0, "wasted": 0})
        t0 = meta.get(s, {}).get("t0", 0.0)
        poll_rows = read_poll(os.path.join(args.raw, s + ".poll.tsv"))
        ev = refreshes(poll_rows, t0) if poll_rows else []
        # received during the arrival window only (the poll sample closest to t0 + duration)
        in_window = None
        for t, rec, *_ in poll_rows:
            if t - t0 <= args.duration + 0.05:
                in_window = rec
        probes = []
        pp = os.path.join(args.raw, s + ".probe.jsonl")
        if os.path.exists(pp):
            probes = [json.loads(l) for l in open(pp) if l.strip()]
        bad_probes = [p for p in probes if p.get("status") != 200 or not p.get("body_ok")]
        errors = {k: v for k, v in load["errors"].items() if v}
        non2xx = {k: v for k, v in load["status"].items() if not k.startswith(("2", "3"))}
        ok = load["goodput"] > 0
        rows.append({
            "setup": s,
            "backend_hot_received": hot["received"],
            "backend_hot_received_in_window": in_window,
            "backend_hot_per_period": round(hot["received"] / periods, 2),
            "periods": periods,
            "backend_status": sim.get("status", {}),
            "backend_wasted": sim["wasted"],
            "backend_backlog_left": sim["queue"] + sim["in_flight"],
            "backend_max_queue": sim["max_queue"],
            "refresh_events": len(ev),
            "refresh_max_requests": max((e[1] for e in ev), default=0),
            "refresh_events_list": ev,
            "refresh_intervals_s": [round(b[0] - a[0], 2) for a, b in zip(ev, ev[1:])],
            "offered_users": load["offered_users"],
            "requests_sent": load["requests"],
            "retries_sent": load["retries"],
            "goodput": load["goodput"],
            "goodput_per_s": load["goodput_per_s"],
            "run_s": load["run_s"],
            "user_success_rate": load["user_success_rate"],
            "latency_ms": load["latency_ms"] if ok else None,
            "status": load["status"],
            "non2xx": non2xx,
            "errors": errors,
            "schedule_lag_ms_max": load["schedule_lag_ms_max"],
            "probes": len(probes),
            "probes_bad": bad_probes,
            "probe_ages": [p.get("age") for p in probes],
            "load_average": meta.get(s),
        })
    summary = {
        "command": args.command, "date": args.date, "levee_rev": args.levee_rev,
        "sim": args.sim, "scenario_file": args.file, "path": args.path,
        "max_age_s": args.max_age, "duration_s": args.duration, "periods": periods,
        "target_max_backend_requests": int(round(periods)) + 1, "rows": rows,
    }
    json.dump(summary, open(args.out + ".json", "w"), indent=1)

    L = []
    L.append("# hot-item: %s\n" % args.date)
    L.append("Command: `%s`. Scenario `%s`: %d s of arrivals, one GET %s per user. Backend `%s`"
             " (%s: Cache-Control max-age=%g). levee: %s.\n" % (
                 args.command, args.file, args.duration, args.path, args.sim, args.path,
                 args.max_age, args.levee_rev))
    L.append("Freshness periods in the arrival window: %d s / %g s = %g; target (issue 5): at most"
             " one backend request per period, plus one at the start (<= %d).\n" % (
                 args.duration, args.max_age, periods, int(round(periods)) + 1))
    L.append("| setup | backend requests for %s (in the window) | per %g-s period | refreshes seen (most requests in one) | backend 200 / 304 | goodput/s | user success | p50 / p99 ms | non-2xx | errors | load avg before -> after |" % (args.path, args.max_age))
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("missing"):
            L.append("| %s | not run | | | | | | | | | |" % r["setup"])
            continue
        lat = r["latency_ms"]
        st = r["backend_status"]
        la = r["load_average"] or {}
        L.append("| %s | %s (%s) | %s | %d (%d) | %s / %s | %.0f | %s | %s | %s | %s | %s -> %s |" % (
            r["setup"], "{:,}".format(r["backend_hot_received"]),
            "{:,}".format(r["backend_hot_received_in_window"]) if r["backend_hot_received_in_window"] is not None else "-",
            r["backend_hot_per_period"], r["refresh_events"], r["refresh_max_requests"],
            "{:,}".format(st.get("200", 0)), "{:,}".format(st.get("304", 0)),
            r["goodput_per_s"], pct(r["user_success_rate"]),
            ("%.0f / %.0f" % (lat["p50"], lat["p99"])) if lat else "-",
            ", ".join("%s: %s" % kv for kv in sorted(r["non2xx"].items())) or "0",
            ", ".join("%s: %s" % kv for kv in sorted(r["errors"].items())) or "0",
            la.get("load_before", "?").split()[0], la.get("load_after", "?").split()[0]))
    L.append("")
    for r in rows:
        if r.get("missing"):
            continue
        L.append("- %s: %s users offered, %s requests sent (%s retries), run %s s, backend wasted %s, backlog left %s, max queue %s; refresh intervals %s s; probes through the proxy: %d, wrong answers %d%s; Age seen %s." % (
            r["setup"], "{:,}".format(r["offered_users"]), "{:,}".format(r["requests_sent"]),
            "{:,}".format(r["retries_sent"]), r["run_s"], "{:,}".format(r["backend_wasted"]),
            r["backend_backlog_left"], r["backend_max_queue"],
            ", ".join("%g" % x for x in r["refresh_intervals_s"][:25]) + (" ..." if len(r["refresh_intervals_s"]) > 25 else ""),
            r["probes"], len(r["probes_bad"]),
            (" " + json.dumps(r["probes_bad"][:3])) if r["probes_bad"] else "",
            ", ".join(str(a) for a in r["probe_ages"])))
    open(args.out + ".md", "w").write("\n".join(L) + "\n")
    print("\n".join(L))


def md_table_html(md):
    lines = [l for l in md.splitlines() if l.startswith("|")]
    out = ["<table class='hot-summary'>"]
    for i, l in enumerate(lines):
        if i == 1:
            continue
        cells = [c.strip() for c in l.strip("|").split("|")]
        tag = "th" if i == 0 else "td"
        out.append("<tr>" + "".join("<%s>%s</%s>" % (tag, html.escape(c), tag) for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def svg_plot(summary, raw):
    """Cumulative backend requests for the page over time, one line per setup, log y axis."""
    import math
    W, H, ml, mr, mt, mb = 760, 340, 60, 150, 20, 40
    series = []
    tmax = summary["duration_s"] + 5
    ymax = 1
    for r in summary["rows"]:
        if r.get("missing"):
            continue
        pts = read_poll(os.path.join(raw, r["setup"] + ".poll.tsv"))
        if not pts:
            continue
        t0 = (r["load_average"] or {}).get("t0", pts[0][0])
        xy = [(t - t0, rec) for t, rec, *_ in pts if -1 <= t - t0 <= tmax]
        if xy:
            ymax = max(ymax, max(y for _, y in xy))
            series.append((r["setup"], xy))
    ly = math.log10(ymax * 1.5 + 1)

    def X(t):
        return ml + (W - ml - mr) * max(0.0, t) / tmax

    def Y(v):
        return mt + (H - mt - mb) * (1 - math.log10(v + 1) / ly)

    o = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>" % (W, H)]
    o.append("<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>" % (ml, mt, W - ml - mr, H - mt - mb))
    d = 1
    while d <= ymax * 1.5:
        for m in (1, 2, 5):
            v = d * m
            if v <= ymax * 1.5:
                o.append("<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/><text x='%d' y='%.1f' text-anchor='end'>%s</text>" % (
                    ml, W - mr, Y(v), Y(v), ml - 4, Y(v) + 4, "{:,}".format(v)))
        d *= 10
    for t in range(0, int(tmax) + 1, 5):
        o.append("<text x='%.1f' y='%d' text-anchor='middle'>%d</text>" % (X(t), H - mb + 14, t))
    # ideal: one request at the start, then one per freshness period
    ideal = []
    n = 1
    t = 0.0
    while t <= summary["duration_s"]:
        ideal.append((t, n))
        t += summary["max_age_s"]
        ideal.append((t, n))
        n += 1
    o.append("<polyline fill='none' stroke='#000' stroke-dasharray='4,3' points='%s'/>" % " ".join(
        "%.1f,%.1f" % (X(a), Y(b)) for a, b in ideal))
    o.append("<text x='%d' y='%d'>- - one per period (+1)</text>" % (W - mr + 8, mt + 10))
    for i, (name, xy) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        o.append("<polyline fill='none' stroke='%s' stroke-width='1.6' points='%s'/>" % (c, " ".join(
            "%.1f,%.1f" % (X(a), Y(b)) for a, b in xy)))
        o.append("<text x='%d' y='%d' fill='%s'>%s (%s)</text>" % (W - mr + 8, mt + 28 + 16 * i, c, html.escape(name), "{:,}".format(xy[-1][1])))
    o.append("<text x='%d' y='%d' text-anchor='middle'>seconds since the start of the arrivals</text>" % ((ml + W - mr) / 2, H - 6))
    o.append("<text x='14' y='%d' transform='rotate(-90 14 %d)' text-anchor='middle'>backend requests for %s (cumulative, log)</text>" % (
        (mt + H - mb) / 2, (mt + H - mb) / 2, html.escape(summary["path"])))
    o.append("</svg>")
    return "".join(o)


def inject(args):
    s = json.load(open(args.out + ".json"))
    md = open(args.out + ".md").read()
    notes = [l[2:] for l in md.splitlines() if l.startswith("- ")]
    head = [l for l in md.splitlines() if l and not l.startswith(("|", "- ", "#"))]
    block = ("<section style='font-family:sans-serif;margin:1em'><h1>hot-item: one cacheable page,"
             " %d users/s</h1>%s%s<h2>Backend requests for the page over time</h2>%s<ul>%s</ul>"
             "<style>.hot-summary{border-collapse:collapse}.hot-summary td,.hot-summary th{border:1px"
             " solid #aaa;padding:2px 6px;text-align:right}</style><p>Below: levee-load's report of the"
             " same runs (offered load, goodput and the backend's capacity over time, latency).</p>"
             "</section>") % (
        args.rate, "".join("<p>%s</p>" % re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(h)) for h in head),
        md_table_html(md), svg_plot(s, args.raw),
        "".join("<li>%s</li>" % html.escape(n) for n in notes))
    page = open(args.html).read()
    i = page.find("<body")
    if i < 0:
        page = block + page
    else:
        j = page.find(">", i) + 1
        page = page[:j] + block + page[j:]
    open(args.html, "w").write(page)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("poll")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--path", default="/hot")
    a.add_argument("--out", required=True)
    a.add_argument("--interval", type=float, default=0.1)
    a = sub.add_parser("probe")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--path", default="/hot")
    a.add_argument("--ref", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--every", type=float, default=5)
    a = sub.add_parser("summarize")
    for k in ("--raw", "--out", "--setups"):
        a.add_argument(k, required=True)
    a.add_argument("--path", default="/hot")
    a.add_argument("--max-age", type=float, default=2)
    a.add_argument("--duration", type=int, default=40)
    a.add_argument("--meta", default="")
    a.add_argument("--date", default="")
    a.add_argument("--sim", default="")
    a.add_argument("--file", default="")
    a.add_argument("--levee-rev", default="")
    a.add_argument("--command", default="")
    a = sub.add_parser("inject")
    a.add_argument("--html", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--raw", required=True)
    a.add_argument("--rate", type=int, default=3000)
    args = p.parse_args()
    {"poll": poll, "probe": probe, "summarize": summarize, "inject": inject}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
