#!/usr/bin/env python3
"""bench/soak/analyze.py: turns the samples of bench/soak/run.sh into the verdict.

Reads, per mode, results/soak-<mode>.csv (one row per sample: levee's RSS, descriptors, TCP
sockets and /metrics, levee-load's progress) and results/raw/<mode>/ (meta.tsv, load.json,
sim.json, fds-baseline.txt, fds-end.txt); writes results/soak-<mode>.json (summary, checks
and the curves) and results/soak.html (summary table and inline SVG plots, no script, no
external asset). Standard library only. By hand, after a run:

  bench/soak/analyze.py [--results bench/soak/results] [--modes guarded,plain]

Exit 0 when every check of every mode passed, 3 when one failed, 1 when a mode's files are
missing.
"""
import argparse
import csv
import html
import gzip
import json
import math
import os
import sys

RSS_TARGET = 0.05  # RSS within 5 % of its value after the first minute
FIRST_MINUTE_S = 60.0
COLORS = {"rss": "#1f77b4", "band": "#2ca02c", "fds": "#d62728", "client": "#ff7f0e",
          "upstream": "#9467bd", "base": "#555555", "answers": "#1f77b4", "goodput": "#2ca02c",
          "offered": "#999999"}


def num(x):
    if x is None or x == "":
        return None
    try:
        v = float(x)
    except ValueError:
        return None
    return int(v) if v.is_integer() else v


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def read_rows(path):
    with open(path) as f:
        rows = []
        for r in csv.DictReader(f):
            rows.append({k: (v if k == "phase" else num(v)) for k, v in r.items()})
    return rows


def fd_kinds(path):
    """Counts of one `ls -l /proc/PID/fd` listing by kind (socket, pipe, anon_inode:..., file)."""
    kinds = {}
    if not os.path.exists(path):
        return None
    for line in open(path):
        if " -> " not in line:
            continue
        target = line.rstrip("\n").split(" -> ", 1)[1]
        if target.startswith("socket:"):
            k = "socket"
        elif target.startswith("pipe:"):
            k = "pipe"
        elif target.startswith("anon_inode:"):
            k = target
        else:
            k = "file"
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def slope_per_min(points):
    """Least-squares slope of (t_s, y) points, in y per minute; None under 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return 60.0 * sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def summarize(results, mode):
    raw = os.path.join(results, "raw", mode)
    meta = read_meta(os.path.join(raw, "meta.tsv"))
    if "levee_died" in meta:
        return {"mode": mode, "failed": "levee died during the load (status %s)" % meta["levee_died"]}
    rows = read_rows(os.path.join(results, "soak-%s.csv" % mode))
    load_rows = [r for r in rows if r["phase"] == "load" and r["rss_kb"]]
    settle_rows = [r for r in rows if r["phase"] == "settle" and r["rss_kb"]]
    start = next((r for r in rows if r["phase"] == "start"), None)
    if not load_rows:
        return {"mode": mode, "failed": "no sample taken under load"}
    first = next((r for r in load_rows if r["t_s"] >= FIRST_MINUTE_S - 0.5), None)
    note = None
    if first is None:
        first = load_rows[-1]
        note = "the load lasted under a minute: 'after the first minute' is the last sample"
    rss1 = first["rss_kb"]
    after = [r for r in load_rows if r["t_s"] >= first["t_s"]]
    end = load_rows[-1]
    drifts = [(r["rss_kb"] - rss1) / rss1 for r in after]
    drift_end = (end["rss_kb"] - rss1) / rss1
    drift_max = max(drifts, key=abs)
    # A trend needs a span: under 5 minutes after minute 1 it says more about noise than drift.
    slope = None
    if after[-1]["t_s"] - after[0]["t_s"] >= 300:
        slope = slope_per_min([(r["t_s"], r["rss_kb"]) for r in after])
    final = settle_rows[-1] if settle_rows else end

    load = {}
    lp = os.path.join(raw, "load.json")
    if os.path.exists(lp):
        with open(lp) as f:
            load = json.load(f)
    elif os.path.exists(lp + ".gz"):  # kept compressed in the repository
        with gzip.open(lp + ".gz", "rt") as f:
            load = json.load(f)
    sim = {}
    sp = os.path.join(raw, "sim.json")
    if os.path.exists(sp) and os.path.getsize(sp):
        with open(sp) as f:
            sim = json.load(f)

    base_fds = int(meta["baseline_fds"])
    settled = num(meta.get("settled_after_s"))
    exit_status = meta.get("exit_status", "")
    # Descriptors follow the open connections, which fall while the users in flight drain:
    # "flat" is judged over the arrivals only.
    arrivals_s = 60.0 * float(meta.get("minutes", 0) or 0) or end["t_s"]
    in_arrivals = [r for r in after if r["t_s"] <= arrivals_s + 0.5] or after
    after_fds = [r["fds"] for r in in_arrivals]
    left_kinds = None
    if settled is None:
        b, e = fd_kinds(os.path.join(raw, "fds-baseline.txt")), fd_kinds(os.path.join(raw, "fds-end.txt"))
        if b is not None and e is not None:
            left_kinds = {k: e.get(k, 0) - b.get(k, 0) for k in set(b) | set(e)
                          if e.get(k, 0) != b.get(k, 0)}
    load_end_s = num(meta.get("load_end_s")) or end["t_s"]
    answered = final.get("requests")
    summary = {
        "rss_kb_baseline": start["rss_kb"] if start else None,
        "rss_kb_after_first_minute": rss1,
        "rss_first_minute_t_s": first["t_s"],
        "rss_kb_end_of_load": end["rss_kb"],
        "rss_kb_after_settle": final["rss_kb"],
        "rss_kb_max": max(r["rss_kb"] for r in rows if r["rss_kb"]),
        "rss_kb_max_after_first_minute": max(r["rss_kb"] for r in after),
        "vm_hwm_kb": final.get("hwm_kb"),
        "rss_drift_end_pct": round(100 * drift_end, 2),
        "rss_drift_max_pct": round(100 * drift_max, 2),
        "rss_slope_kb_per_min": None if slope is None else round(slope, 1),
        "fds_baseline": base_fds,
        "fds_peak": max(r["fds"] for r in rows if r["fds"] is not None),
        "fds_after_first_minute_min": min(after_fds),
        "fds_after_first_minute_max": max(after_fds),
        "fds_end_of_arrivals": in_arrivals[-1]["fds"],
        "fds_end_of_load": end["fds"],
        "fds_5s_after_load": num(meta.get("fds_5s_after_load")),
        "fds_after_settle": final["fds"],
        "settled_after_s": settled,
        "settle_max_s": num(meta.get("settle_max_s")),
        "left_open_by_kind": left_kinds,
        "tcp_client_peak": max((r["tcp_client"] or 0) for r in rows),
        "tcp_upstream_peak": max((r["tcp_upstream"] or 0) for r in rows),
        "tcp_after_settle": {"client": final["tcp_client"], "upstream": final["tcp_upstream"],
                             "other": final["tcp_other"]},
        "threads": end.get("threads"),
        "levee_requests_answered": answered,
        "levee_connections_accepted": final.get("accepted"),
        "levee_connections_refused": final.get("conns_refused"),
        "levee_answers_per_s": round(answered / load_end_s, 1) if answered and load_end_s else None,
        "levee_answers_by_class": {"2xx": final.get("req_2xx"), "4xx": final.get("req_4xx"),
                                   "5xx": final.get("req_5xx")},
        "levee_upstream": {"connects": final.get("up_connects"), "reuses": final.get("up_reuses"),
                           "errors": final.get("up_errors"), "timeouts": final.get("up_timeouts")},
        "load_s": load_end_s,
        "offered_users_per_s": load.get("offered_users_per_s"),
        "requests_sent_per_s": load.get("requests_per_s"),
        "goodput": load.get("goodput"),
        "goodput_per_s": load.get("goodput_per_s"),
        "user_success_rate": load.get("user_success_rate"),
        "latency_p99_ms": (load.get("latency_ms") or {}).get("p99"),
        "load_status": load.get("status"),
        "load_errors": load.get("errors"),
        "schedule_lag_ms_max": load.get("schedule_lag_ms_max"),
        "sim_processed": sim.get("processed"),
        "sim_wasted": sim.get("wasted"),
        "sim_backlog_left": (sim.get("queue") or 0) + (sim.get("in_flight") or 0) if sim else None,
        "exit_status": exit_status,
        "stop_s": num(meta.get("stop_s")),
        "log_error_lines": num(meta.get("log_errors")),
    }
    checks = {
        "rss_within_5pct": abs(drift_max) <= RSS_TARGET,
        "nothing_left_open": settled is not None,
        "exit_0": exit_status == "0",
    }
    # Goodput per sample interval from levee-load's per-second figures (the CSV has only the
    # last second before each sample).
    ps = load.get("per_second") or []
    curve = {k: [r[k] for r in rows] for k in ("t_s", "rss_kb", "fds", "tcp_client", "tcp_upstream",
                                                 "requests")}
    curve["phase"] = [r["phase"] for r in rows]
    return {"mode": mode, "meta": meta, "note": note, "summary": summary, "checks": checks,
            "passed": all(checks.values()), "curve": curve,
            "goodput_per_s_by_second": [p.get("goodput_per_s") for p in ps],
            "offered_per_s_by_second": [p.get("first_tries_per_s") for p in ps]}


# --- SVG -------------------------------------------------------------------------------------

def nice_step(span, n=5):
    if span <= 0:
        return 1
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt_tick(v):
    return ("%d" % v) if abs(v - round(v)) < 1e-9 else ("%g" % round(v, 3))


def svg_plot(title, series, xlabel, ylabel, xmax, ymax, hlines=(), vlines=(), band=None,
             width=560, height=260):
    """series: [(label, color, [(x, y)...], dashed)]; band: (x0, x1, y0, y1, color, label)."""
    ml, mr, mt, mb = 58, 12, 26, 52
    pw, ph = width - ml - mr, height - mt - mb
    ymax = ymax if ymax > 0 else 1
    ystep = nice_step(ymax)
    ytop = math.ceil(ymax / ystep) * ystep
    xstep = nice_step(xmax, 6)
    xtop = math.ceil(xmax / xstep) * xstep if xmax > 0 else 1

    def X(x):
        return ml + pw * x / xtop

    def Y(y):
        return mt + ph - ph * y / ytop

    e = html.escape
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (width, height, width, height),
           '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (ml, e(title))]
    if band:
        x0, x1, y0, y1, col, _ = band
        out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.15"/>'
                   % (X(x0), Y(min(y1, ytop)), max(0, X(x1) - X(x0)), max(0, Y(y0) - Y(min(y1, ytop))), col))
    y = 0.0
    while y <= ytop + 1e-9:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (ml, ml + pw, Y(y), Y(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (ml - 4, Y(y) + 4, fmt_tick(y)))
        y += ystep
    x = 0.0
    while x <= xtop + 1e-9:
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (X(x), X(x), mt, mt + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (X(x), mt + ph + 14, fmt_tick(x)))
        x += xstep
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (ml, mt, pw, ph))
    for (yv, label, col) in hlines:
        if yv is None:
            continue
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>'
                   % (ml, ml + pw, Y(yv), Y(yv), col))
    for (xv, label) in vlines:
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#444" stroke-dasharray="2 3"/>'
                   % (X(xv), X(xv), mt, mt + ph))
        out.append('<text x="%.1f" y="%d" font-size="10" fill="#444">%s</text>' % (X(xv) + 3, mt + 10, e(label)))
    for (label, col, pts, dashed) in series:
        pts = [(a, b) for a, b in pts if a is not None and b is not None]
        if not pts:
            continue
        d = " ".join("%.1f,%.1f" % (X(a), Y(b)) for a, b in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>'
                   % (col, ' stroke-dasharray="5 3"' if dashed else "", d))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (ml + pw / 2, height - 22, e(xlabel)))
    out.append('<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>'
               % (mt + ph / 2, mt + ph / 2, e(ylabel)))
    # legend
    lx = ml
    items = [(l, c, d) for (l, c, _, d) in series] + [(l, c, True) for (_, l, c) in hlines if l]
    if band:
        items.append((band[5], band[4], None))
    for (label, col, dashed) in items:
        if dashed is None:
            out.append('<rect x="%d" y="%d" width="18" height="8" fill="%s" fill-opacity="0.3"/>'
                       % (lx, height - 12, col))
        else:
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                       % (lx, lx + 18, height - 8, height - 8, col, ' stroke-dasharray="4 3"' if dashed else ""))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 22, height - 4, e(label)))
        lx += 34 + 6.5 * len(label)
    out.append("</svg>")
    return "\n".join(out)


def plots(res):
    s, c, meta = res["summary"], res["curve"], res["meta"]
    mins = [t / 60.0 for t in c["t_s"]]
    xmax = max(mins) if mins else 1
    load_end = (s["load_s"] or 0) / 60.0
    first = s["rss_first_minute_t_s"] / 60.0
    vl = [(first, "1 min"), (load_end, "load over")]
    rss = [(m, v / 1024.0 if v else None) for m, v in zip(mins, c["rss_kb"])]
    r1 = s["rss_kb_after_first_minute"] / 1024.0
    ymax = max(max(v for _, v in rss if v is not None), r1 * (1 + RSS_TARGET)) * 1.1
    p1 = svg_plot("%s: levee RSS (MiB)" % res["mode"], [("VmRSS", COLORS["rss"], rss, False)],
                  "minutes", "MiB", xmax, ymax, vlines=vl,
                  band=(first, load_end, r1 * (1 - RSS_TARGET), r1 * (1 + RSS_TARGET), COLORS["band"],
                        "target: +-5 % of minute 1"))
    fds = [(m, v) for m, v in zip(mins, c["fds"])]
    cl = [(m, v) for m, v in zip(mins, c["tcp_client"])]
    up = [(m, v) for m, v in zip(mins, c["tcp_upstream"])]
    ymax = max([v for _, v in fds if v is not None] + [1]) * 1.1
    p2 = svg_plot("%s: levee open descriptors and TCP connections" % res["mode"],
                  [("fds", COLORS["fds"], fds, False), ("client conns", COLORS["client"], cl, False),
                   ("upstream conns", COLORS["upstream"], up, False)],
                  "minutes", "count", xmax, ymax, vlines=vl,
                  hlines=[(s["fds_baseline"], "fds at start", COLORS["base"])])
    # answers/s between samples (levee), goodput per 10 s (levee-load)
    ans = []
    for i in range(1, len(c["t_s"])):
        a, b = c["requests"][i - 1], c["requests"][i]
        dt = c["t_s"][i] - c["t_s"][i - 1]
        if a is not None and b is not None and dt > 0:
            ans.append((c["t_s"][i] / 60.0, (b - a) / dt))
    gp = res["goodput_per_s_by_second"]
    off = res["offered_per_s_by_second"]
    step = 10

    def avg(xs):
        xs = [x for x in xs if x is not None]
        return sum(xs) / len(xs) if xs else None
    gps = [((i + step) / 60.0, avg(gp[i:i + step])) for i in range(0, len(gp), step)]
    offs = [((i + step) / 60.0, avg(off[i:i + step])) for i in range(0, len(off), step)]
    ymax = max([v for _, v in ans + gps + offs if v is not None] + [1]) * 1.1
    p3 = svg_plot("%s: levee answers/s, users' first tries/s and goodput/s" % res["mode"],
                  [("levee answers/s", COLORS["answers"], ans, False),
                   ("first tries/s", COLORS["offered"], offs, True),
                   ("goodput/s (10 s mean)", COLORS["goodput"], gps, False)],
                  "minutes", "per second", xmax, ymax, vlines=vl,
                  hlines=[(num(meta.get("capacity")), "capacity", COLORS["base"])])
    return p1, p2, p3


def mib(kb):
    return "—" if kb is None else "%.1f MiB" % (kb / 1024.0)


def table_rows(results):
    def cell(res, f):
        if res.get("failed"):
            return "failed: " + res["failed"]
        try:
            return f(res["summary"], res)
        except (KeyError, TypeError, ZeroDivisionError):
            return "—"

    def ok(b):
        return '<b class="ok">met</b>' if b else '<b class="no">NOT met</b>'

    def pct(v):
        return "%+.2f %%" % v

    lines = [
        ("RSS at start (before load)", lambda s, r: mib(s["rss_kb_baseline"])),
        ("RSS after the first minute", lambda s, r: "%s (t = %.0f s)" % (mib(s["rss_kb_after_first_minute"]), s["rss_first_minute_t_s"])),
        ("RSS at the end of the load", lambda s, r: mib(s["rss_kb_end_of_load"])),
        ("max RSS (whole run / after minute 1)", lambda s, r: "%s / %s" % (mib(s["rss_kb_max"]), mib(s["rss_kb_max_after_first_minute"]))),
        ("drift vs minute 1: at the end / worst sample", lambda s, r: "%s / %s" % (pct(s["rss_drift_end_pct"]), pct(s["rss_drift_max_pct"]))),
        ("RSS trend after minute 1 (least squares)", lambda s, r: "— (under 5 min of data)" if s["rss_slope_kb_per_min"] is None else "%+.1f KiB/min (%+.2f MiB/h)" % (s["rss_slope_kb_per_min"], s["rss_slope_kb_per_min"] * 60 / 1024)),
        ("<b>target: RSS within 5 % of minute 1</b>", lambda s, r: ok(r["checks"]["rss_within_5pct"])),
        ("RSS after the settle", lambda s, r: mib(s["rss_kb_after_settle"])),
        ("fds: baseline / peak / when the arrivals stop", lambda s, r: "%s / %s / %s" % (s["fds_baseline"], s["fds_peak"], s["fds_end_of_arrivals"])),
        ("fds from minute 1 until the arrivals stop (min - max)", lambda s, r: "%s - %s" % (s["fds_after_first_minute_min"], s["fds_after_first_minute_max"])),
        ("fds 5 s after the load / after the settle", lambda s, r: "%s / %s" % (s["fds_5s_after_load"], s["fds_after_settle"])),
        ("TCP connections: client peak / upstream peak", lambda s, r: "%s / %s" % (s["tcp_client_peak"], s["tcp_upstream_peak"])),
        ("<b>nothing left open</b> (fds at baseline, no connection)", lambda s, r: ok(r["checks"]["nothing_left_open"]) + (" after %.0f s" % s["settled_after_s"] if s["settled_after_s"] is not None else " within %s s: %s" % (s["settle_max_s"], html.escape(json.dumps(s["left_open_by_kind"] or s["tcp_after_settle"]))))),
        ("<b>SIGTERM: exit 0</b>", lambda s, r: ok(r["checks"]["exit_0"]) + " (status %s, %.1f s)" % (html.escape(str(s["exit_status"])), s["stop_s"] or 0)),
        ("levee error log lines", lambda s, r: "%s" % s["log_error_lines"]),
        ("requests answered by levee (per s)", lambda s, r: "{:,} ({:.0f}/s)".format(s["levee_requests_answered"], s["levee_answers_per_s"])),
        ("of which 2xx / 4xx / 5xx", lambda s, r: "{:,} / {:,} / {:,}".format(*(s["levee_answers_by_class"][k] or 0 for k in ("2xx", "4xx", "5xx")))),
        ("client connections accepted / refused over limits.connections", lambda s, r: "{:,} / {}".format(s["levee_connections_accepted"], "—" if s["levee_connections_refused"] is None else "{:,}".format(s["levee_connections_refused"]))),
        ("users offered / requests sent (per s)", lambda s, r: "%.0f / %.0f" % (s["offered_users_per_s"], s["requests_sent_per_s"])),
        ("goodput (2xx within patience)", lambda s, r: "{:,} ({:.0f}/s, {:.0f} % of C)".format(s["goodput"], s["goodput_per_s"], 100 * s["goodput_per_s"] / float(r["meta"]["capacity"]))),
        ("user success / p99 of successes", lambda s, r: "%.1f %% / %.0f ms" % (100 * (s["user_success_rate"] or 0), s["latency_p99_ms"] or 0)),
        ("levee-load errors", lambda s, r: ", ".join("%s %s" % (k, v) for k, v in (s["load_errors"] or {}).items() if v) or "none"),
        ("levee-load schedule lag max", lambda s, r: "%.0f ms" % s["schedule_lag_ms_max"]),
        ("threads", lambda s, r: "%s" % s["threads"]),
        ("backend: processed / wasted / backlog left", lambda s, r: "{:,} / {:,} / {:,}".format(s["sim_processed"], s["sim_wasted"], s["sim_backlog_left"])),
    ]
    out = []
    for label, f in lines:
        out.append("<tr><th>%s</th>%s</tr>" % (label, "".join("<td>%s</td>" % cell(r, f) for r in results)))
    return "\n".join(out)


def write_html(path, results):
    ok_runs = [r for r in results if not r.get("failed")]
    meta = ok_runs[0]["meta"] if ok_runs else {}
    head = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>levee soak</title><style>"
            "body{font-family:sans-serif;margin:20px;max-width:1180px;color:#222}"
            "table{border-collapse:collapse;margin:10px 0}th,td{border:1px solid #ccc;padding:4px 8px;"
            "text-align:left;font-size:13px;vertical-align:top}th{background:#f4f4f4;font-weight:normal}"
            ".ok{color:#080}.no{color:#c00}.grid{display:flex;flex-wrap:wrap;gap:8px}"
            "p,li{font-size:14px;line-height:1.4}code{background:#f4f4f4;padding:0 3px}"
            "</style></head><body>")
    e = html.escape
    minutes = meta.get("minutes", "?")
    parts = [head, "<h1>levee soak: %s minute%s at 2x capacity with F5 users</h1>"
             % (e(minutes), "" if minutes == "1" else "s")]
    if ok_runs:
        parts.append(
            "<p>%s; levee %s. Backend: <code>%s</code> (C = %s requests/s). Load: levee-load, "
            "%s users/s of journey <code>%s</code> (%s first tries/s), patience log-normal mean 2 s "
            "(p99 6 s), F5 with probability 0.8 (up to 4 tries), half of the users obey Retry-After. "
            "levee: <code>%s</code> (default worker count). Samples every %s s. %s</p>"
            % (e(meta.get("date", "")), e(meta.get("levee_rev", "")), e(meta.get("sim", "")),
               e(meta.get("capacity", "")), e(meta.get("rate_users_per_s", "")), e(meta.get("journey", "")),
               e(meta.get("rate_users_per_s", "")), e(meta.get("levee", "")), e(meta.get("interval_s", "")),
               "The modes ran side by side on the same cores." if meta.get("side_by_side") == "1"
               else "The modes ran one after the other."))
    parts.append("<h2>Summary</h2><table><tr><th></th>%s</tr>%s</table>"
                 % ("".join("<th><b>%s</b>%s</th>" % (e(r["mode"]), " (plain: --no-guard)" if r["mode"] == "plain" else " (default config)")
                            for r in results), table_rows(results)))
    notes = [r["note"] for r in ok_runs if r.get("note")]
    for n in sorted(set(notes)):
        parts.append("<p>Note: %s.</p>" % e(n))
    parts.append(
        "<p>How to read it: RSS is levee's resident memory (VmRSS); after the first minute it "
        "should stay inside the green band (&plusmn;5 %) until the load ends. Descriptors and "
        "connections follow the load (each open client costs one, each upstream request in "
        "flight one); they should be flat after the first minute and fall back to the dashed "
        "baseline after the load, once idle keep-alive connections time out (60 s). "
        "Details: <code>bench/soak/README.md</code>.</p>")
    if ok_runs:
        figs = [plots(r) for r in ok_runs]
        for i, name in enumerate(("Memory", "Descriptors and connections", "Throughput")):
            parts.append("<h2>%s</h2><div class=\"grid\">%s</div>" % (name, "".join(f[i] for f in figs)))
    parts.append("</body></html>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=os.path.join(here, "results"))
    ap.add_argument("--modes", default=None, help="comma list; default: every soak-<mode>.csv found")
    a = ap.parse_args()
    if a.modes:
        modes = a.modes.split(",")
    else:
        modes = [m for m in ("guarded", "plain")
                 if os.path.exists(os.path.join(a.results, "soak-%s.csv" % m))]
    results, missing = [], False
    for m in modes:
        if not os.path.exists(os.path.join(a.results, "raw", m, "meta.tsv")):
            print("analyze.py: %s: no raw/%s/meta.tsv (the run did not finish)" % (m, m), file=sys.stderr)
            missing = True
            continue
        res = summarize(a.results, m)
        results.append(res)
        if not res.get("failed"):
            with open(os.path.join(a.results, "soak-%s.json" % m), "w") as f:
                json.dump(res, f, indent=1)
                f.write("\n")
    if not results:
        return 1
    write_html(os.path.join(a.results, "soak.html"), results)
    all_ok = True
    for r in results:
        if r.get("failed"):
            print("%s: FAILED: %s" % (r["mode"], r["failed"]))
            all_ok = False
            continue
        s, c = r["summary"], r["checks"]
        all_ok &= r["passed"]
        print("%s: RSS %s after minute 1, %s at the end (%+.2f %%, worst %+.2f %%, max %s): %s; "
              "fds %d baseline, %d peak, %s after the settle (%s); exit %s; levee answered %s (%.0f/s), "
              "goodput %.0f/s, user success %.1f %%"
              % (r["mode"], mib(s["rss_kb_after_first_minute"]), mib(s["rss_kb_end_of_load"]),
                 s["rss_drift_end_pct"], s["rss_drift_max_pct"], mib(s["rss_kb_max"]),
                 "met" if c["rss_within_5pct"] else "NOT met",
                 s["fds_baseline"], s["fds_peak"], s["fds_after_settle"],
                 ("back after %.0f s" % s["settled_after_s"]) if c["nothing_left_open"] else "NOT back",
                 s["exit_status"], s["levee_requests_answered"], s["levee_answers_per_s"] or 0,
                 s["goodput_per_s"] or 0, 100 * (s["user_success_rate"] or 0)))
    print("wrote %s" % os.path.join(a.results, "soak.html"))
    if missing:
        return 1
    return 0 if all_ok else 3


if __name__ == "__main__":
    sys.exit(main())
