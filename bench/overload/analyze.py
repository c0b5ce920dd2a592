#!/usr/bin/env python3
"""bench/overload/analyze.py: turns the raw files of bench/overload/run.sh into the
summary (Markdown + JSON) and adds that summary to the HTML report of levee-load.

Called by run.sh; by hand:
  analyze.py --scenario kickoff --tag kickoff --raw results/raw/kickoff --out results/kickoff \
      --setups direct,nginx --capacity 400 --peak 20:45 [--recover after-stall --t-event 30 --base 5:20]
  analyze.py --inject results/kickoff.html --out results/kickoff
"""
import argparse
import datetime
import html
import json
import os
import re
import sys

REFUSALS = ("429", "502", "503", "504")
PLAIN = "plain"  # the plain proxy (levee --no-guard): the reference for retries at the backend


def window(spec):
    a, b = spec.split(":")
    return int(a), int(b)


def per_sec(load, a, b):
    return [p for p in load["per_second"] if a <= p["t"] < b]


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def recovery(load, mode, t_event, base, duration):
    """Seconds from t_event to the first second t from which, until `duration` (the end of
    the arrival window, or the next capacity change), goodput averages at least 90 % of the
    reachable level and its 3-second rolling mean never falls under 80 % of it; None = never."""
    ps = {p["t"]: p for p in load["per_second"] if p["t"] < duration}
    if mode == "after-stall":
        a, b = window(base)
        level = mean(ps[t]["goodput_per_s"] for t in range(a, b) if t in ps)
    elif mode == "after-drop":
        after = [ps[t] for t in range(t_event, duration) if t in ps]
        offered = mean(p["first_tries_per_s"] for p in after)
        cap = min(p["capacity"] for p in after)
        level = min(offered, cap)
    else:
        return None, None
    target = 0.9 * level
    gp = [ps[t]["goodput_per_s"] if t in ps else 0 for t in range(duration)]
    roll = {t: mean(gp[t:t + 3]) for t in range(0, duration - 2)}
    last = duration - 3
    for t in range(t_event, last + 1):
        if mean(gp[t:]) >= target and all(roll[s] >= 0.8 * level for s in range(t, last + 1)):
            return t - t_event, target
    return None, target


def p99_window(load, a, b):
    """p99 of the successful answers in seconds [a, b), from the per-second quantiles: each
    second's answers are put at its p50, p90, p99, p99.9 and max (50, 40, 9, 0.9 and 0.1 %
    of them: an upper estimate); None if no success."""
    pts = []
    for p in per_sec(load, a, b):
        n, lat = p["goodput_per_s"], p.get("latency_ms")
        if n and lat:
            pts += [(lat["p50"], .5 * n), (lat["p90"], .4 * n), (lat["p99"], .09 * n),
                    (lat["p999"], .009 * n), (lat["max"], .001 * n)]
    total = sum(w for _, w in pts)
    acc = 0
    for v, w in sorted(pts):
        acc += w
        if acc >= 0.99 * total:
            return round(v, 1)
    return None


def guard_metrics(path):
    """levee's guard decisions and final limit from its /metrics (None if absent)."""
    if not os.path.exists(path):
        return None
    out = {}
    for line in open(path):
        if line.startswith("levee_guard_decisions_total{"):
            d = line.split('decision="')[1].split('"')[0]
            out[d] = out.get(d, 0) + int(float(line.split()[-1]))
        elif line.startswith("levee_guard_limit{"):
            out["final_limit"] = int(float(line.split()[-1]))
    return {k: v for k, v in out.items() if v} or None


def per_path(sim, key):
    """One levee-sim counter per path (None when the raw file has no such counter)."""
    return {k: v[key] for k, v in sim.get("paths", {}).items() if key in v} or None


def summarize(args):
    a, b = window(args.peak)
    setups = args.setups.split(",")
    meta = {}
    if args.meta and os.path.exists(args.meta):
        for line in open(args.meta):
            f = line.rstrip("\n").split("\t")
            if len(f) == 3:
                meta[f[0]] = {"load_before": f[1], "load_after": f[2]}
    rows = []
    for s in setups:
        load = json.load(open(os.path.join(args.raw, s + ".load.json")))
        sim = json.load(open(os.path.join(args.raw, s + ".sim.json")))
        duration = load["duration_s"]
        w = per_sec(load, a, b)
        cap_sum = sum(p["capacity"] for p in w)
        gp_sum = sum(p["goodput_per_s"] for p in w)
        offered = mean(p["offered_users_per_s"] * args.steps for p in w)
        first_tries = load["requests"] - load["retries"]
        refused = sum(v for k, v in load["status"].items() if k in REFUSALS)
        # With a capacity change back (t_back), the first recovery ends there and a second
        # one is measured from it to the end of the arrivals.
        t_end = args.t_back if args.t_back > args.t_event else duration
        rec, target = recovery(load, args.recover, args.t_event, args.base, t_end)
        back, back_target = (recovery(load, args.recover, args.t_back, args.base, duration)
                             if t_end < duration else (None, None))
        ok = load["goodput"] > 0
        rows.append({
            "setup": s,
            "peak_window_s": [a, b],
            "offered_in_peak_x_capacity": round(offered / (cap_sum / len(w)), 2) if w and cap_sum else None,
            "goodput_in_peak_per_s": round(gp_sum / len(w), 1) if w else None,
            "goodput_pct_of_capacity_in_peak": round(100.0 * gp_sum / cap_sum, 1) if cap_sum else None,
            "goodput_per_s_whole_run": load["goodput_per_s"],
            "user_success_rate": load["user_success_rate"],
            "latency_ms_successes": load["latency_ms"] if ok else None,
            "users": {k: load[k] for k in ("offered_users", "users_ok", "users_failed", "users_unfinished")},
            "requests_sent": load["requests"],
            "first_tries": first_tries,
            "retries_sent": load["retries"],
            "retries_f5": load["retries_f5"],
            "retries_obeyed": load["retries_obeyed"],
            "refused_by_proxy_or_error_status": refused,
            "status": load["status"],
            "errors": load["errors"],
            "backend_received": sim["received"],
            "backend_processed": sim["processed"],
            # Work the backend finished that reached no user: processed minus goodput (the sim
            # answers 200 only, so every processed answer that is not goodput went to nobody).
            # levee-sim's own "wasted" sees only clients that closed their connection: nginx
            # does when its user leaves, but HAProxy (no abortonclose) and levee keep the
            # upstream request and drop the answer, which the sim cannot see.
            "backend_wasted": max(0, sim["processed"] - load["goodput"]),
            "backend_wasted_pct": (round(100.0 * max(0, sim["processed"] - load["goodput"]) /
                                         sim["processed"], 1) if sim["processed"] else None),
            "backend_wasted_seen_by_sim": sim["wasted"],
            "backend_backlog_left": sim["queue"] + sim["in_flight"],
            "backend_max_queue": sim["max_queue"],
            # Exact: levee-sim counts the requests it received with X-Attempt >= 2 (levee-load
            # marks every request with its attempt number; proxies pass the header through).
            # None for raw files from before that counter.
            "retries_reached_backend": sim.get("retries_received"),
            "retries_reached_backend_per_path": per_path(sim, "retries_received"),
            # Of those, by X-Retry (levee-load sends it on every retry): users who waited as
            # Retry-After said, and F5 presses (after a timeout too). None for older raw files.
            "retries_obeyed_reached_backend": sim.get("retries_obeyed_received"),
            "retries_obeyed_reached_backend_per_path": per_path(sim, "retries_obeyed_received"),
            "retries_f5_reached_backend": sim.get("retries_f5_received"),
            "retries_f5_reached_backend_per_path": per_path(sim, "retries_f5_received"),
            # Duplicate work: retries of a user's step that an earlier try had already brought
            # to the backend (levee-sim's X-Step-Id set). None for older raw files.
            "duplicates_reached_backend": sim.get("duplicates_received"),
            "duplicates_saturated": sim.get("duplicates_saturated"),
            # The old lower bound: received minus first tries sent (exact for direct only).
            "retries_reached_backend_min": max(0, sim["received"] - first_tries),
            "recovery_s": rec if args.recover != "none" else None,
            "recovery_target_goodput_per_s": round(target, 1) if target else None,
            "recovered": (rec is not None) if args.recover != "none" else None,
            "recovery_back_s": back if t_end < duration else None,
            "recovery_back_target_goodput_per_s": round(back_target, 1) if back_target else None,
            "latency_p99_ms_in_peak": p99_window(load, a, b),
            "latency_p99_ms_after_event": (p99_window(load, args.t_event, t_end)
                                           if args.recover != "none" else None),
            "latency_p99_ms_after_back": (p99_window(load, args.t_back, duration)
                                          if t_end < duration else None),
            "schedule_lag_ms_max": load["schedule_lag_ms_max"],
            "load_average": meta.get(s),
            "levee_guard": guard_metrics(os.path.join(args.raw, s + ".metrics.txt")),
        })
    # Retries that reached the backend, as a share of the plain proxy's (issue 4's f5-storm
    # target: at most 5 %).
    ref = next((r for r in rows if r["setup"] == PLAIN), None)
    ref_n = ref["retries_reached_backend"] if ref else None
    ref_d = ref["duplicates_reached_backend"] if ref else None
    for r in rows:
        n = r["retries_reached_backend"]
        r["retries_reached_backend_pct_of_plain"] = (
            round(100.0 * n / ref_n, 1) if n is not None and ref_n else None)
        d = r["duplicates_reached_backend"]
        r["duplicates_reached_backend_pct_of_plain"] = (
            round(100.0 * d / ref_d, 1) if d is not None and ref_d else None)
    summary = {
        "scenario": args.scenario,
        "tag": args.tag,
        "scenario_file": args.file,
        "command": args.command,
        "date": args.date or datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "capacity_per_s": args.capacity,
        "sim": args.sim,
        "levee_rev": args.levee_rev,
        "peak_window_s": [a, b],
        "recover": args.recover,
        "t_event_s": args.t_event,
        "t_back_s": args.t_back or None,
        "rows": rows,
        "raw_dir": rel(args.raw),
        "out": rel(args.out),
    }
    json.dump(summary, open(args.out + ".json", "w"), indent=1)
    open(args.out + ".md", "w").write(markdown(summary))


def rel(path):
    """A path as the repository sees it (bench/overload/...)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.relpath(os.path.abspath(path), root)


def fmt(v, spec="{:.0f}", none="—"):
    return none if v is None else spec.format(v)


def has_retry_kinds(r):
    return (r.get("retries_obeyed_reached_backend") is not None
            and r.get("retries_f5_reached_backend") is not None)


def retries_at_backend_cell(r):
    """'1,203 (10.4 %; 480 obeyed, 723 F5)'; the split only where levee-sim counted it; the
    old lower bound for raw files from before retries_received."""
    n = r["retries_reached_backend"]
    if n is None:
        return "≥ {:,}".format(r["retries_reached_backend_min"])
    share = fmt(r["retries_reached_backend_pct_of_plain"], "{:.1f} %")
    if has_retry_kinds(r):
        share += "; {:,} obeyed, {:,} F5".format(r["retries_obeyed_reached_backend"],
                                                r["retries_f5_reached_backend"])
    return "{:,} ({})".format(n, share)


def table(summary):
    rec = summary["recover"] != "none"
    head = ["setup", "goodput, % of C (peak)", "user success", "p50 / p99 of successes",
            "backend processed", "wasted (reached no user)", "backlog left", "retries sent",
            "backend received", "retries at the backend (% of plain)",
            "duplicate work at the backend (% of plain)", "refused (429/5xx)"]
    back = bool(summary.get("t_back_s"))
    if rec:
        head.append("time to recover")
    if back:
        head.append("time to recover (back)")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["rows"]:
        lat = r["latency_ms_successes"]
        cells = [
            r["setup"],
            fmt(r["goodput_pct_of_capacity_in_peak"], "{:.1f} %"),
            fmt(None if r["user_success_rate"] is None else 100 * r["user_success_rate"], "{:.1f} %"),
            "—" if not lat else "%.0f / %.0f ms" % (lat["p50"], lat["p99"]),
            "{:,}".format(r["backend_processed"]),
            "{:,} ({})".format(r["backend_wasted"], fmt(r["backend_wasted_pct"], "{:.0f} %")),
            "{:,}".format(r["backend_backlog_left"]),
            "{:,}".format(r["retries_sent"]),
            "{:,}".format(r["backend_received"]),
            retries_at_backend_cell(r),
            ("—" if r.get("duplicates_reached_backend") is None else "{:,}{} ({})".format(
                r["duplicates_reached_backend"], "+" if r.get("duplicates_saturated") else "",
                fmt(r.get("duplicates_reached_backend_pct_of_plain"), "{:.1f} %"))),
            "{:,}".format(r["refused_by_proxy_or_error_status"]),
        ]
        if rec:
            cells.append("never" if r["recovery_s"] is None else "%d s" % r["recovery_s"])
        if back:
            cells.append("never" if r["recovery_back_s"] is None else "%d s" % r["recovery_back_s"])
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def retry_kinds_note(rows):
    """The sentence on the obeyed/F5 split of the retries at the backend ('' if no row has it)."""
    with_kinds = [r for r in rows if has_retry_kinds(r)]
    if not with_kinds:
        return ""
    return (" Then, by the `X-Retry` levee-load sends on every retry: `obeyed`, users who waited"
            " as `Retry-After` said and came back, and `F5`, users who pressed F5 (after a"
            " timeout, a connection error, a 5xx or a 429 they did not wait out), as levee-sim"
            " counted them (`retries_obeyed_received`, `retries_f5_received`)%s." % (
                "" if len(with_kinds) == len(rows) else
                "; shown only for the setups whose raw file has these counters"))


def markdown(s):
    a, b = s["peak_window_s"]
    lines = [
        "# Overload comparison: %s" % s["tag"], "",
        "Command: `%s` (%s). Scenario `%s`; backend `%s` (capacity C = %d requests/s);"
        " levee at %s." % (s["command"], s["date"], s["scenario_file"], s["sim"],
                           s["capacity_per_s"], s["levee_rev"]), "",
        table(s),
        "- goodput, %% of C (peak): 2xx/3xx answers that reached users within their patience,"
        " per second, over t = %d..%d s, divided by the backend's capacity in those seconds"
        " (offered load, users/s x 2 requests: %s)." % (a, b, ", ".join(
            "%s %sx C" % (r["setup"], r["offered_in_peak_x_capacity"]) for r in s["rows"])),
        "- user success: users who completed the whole journey (/home then /play). p50/p99: of"
        " successful answers only, whole run.",
        "- wasted: requests the backend finished whose answer reached no user within patience:"
        " processed minus goodput (levee-sim answers 200 only). levee-sim's own count of work"
        " for a client that closed (%s) is lower behind a proxy that keeps the upstream request"
        " when its user leaves and drops the answer (HAProxy without abortonclose, levee)."
        % ", ".join("%s %s" % (r["setup"], "{:,}".format(r["backend_wasted_seen_by_sim"]))
                    for r in s["rows"] if "backend_wasted_seen_by_sim" in r),
        "- backlog left: requests still queued or in service in levee-sim when the run ended, all"
        " of which will be wasted too.",
        "- backend received: requests that reached levee-sim. Retries at the backend: of those,"
        " the requests levee-load had marked `X-Attempt: 2` or more (an F5 or a Retry-After"
        " retry of the same step), counted by levee-sim (`retries_received`); exact behind any"
        " proxy, since all of them pass the header through. In brackets, as a share of the"
        " plain proxy's (`plain`: levee with `--no-guard`, same run)%s.%s" % (
            "" if any(r["setup"] == PLAIN for r in s["rows"]) else "; no plain row in this run",
            retry_kinds_note(s["rows"])),
        "- duplicate work at the backend: retries whose user step had already reached the"
        " backend by an earlier try (levee-load sends `X-Step-Id`, one id per user step;"
        " levee-sim counts an id it has seen before as `duplicates_received`): the backend"
        " doing the same user's work twice. A retry after a refusal at the edge is a retry but"
        " not a duplicate. In brackets, as a share of the plain proxy's.",
    ]
    if s["recover"] != "none":
        lines.append(
            "- time to recover: from t = %d s to the first second from which, to the end of the"
            " arrival window, goodput averages at least 90 %% of the reachable level (%s) and its"
            " 3-second mean never falls under 80 %% of it; 90 %% targets: %s." % (s["t_event_s"],
                               "the goodput before the stall" if s["recover"] == "after-stall"
                               else "min(offered first tries, new capacity)",
                               ", ".join("%s %s/s" % (r["setup"], r["recovery_target_goodput_per_s"])
                                         for r in s["rows"])))
    if s.get("t_back_s"):
        lines.append(
            "- time to recover (back): the same measure from t = %d s, when the capacity came"
            " back, to the end of the arrivals (the first one stops there); 90 %% targets: %s."
            % (s["t_back_s"], ", ".join("%s %s/s" % (r["setup"], r["recovery_back_target_goodput_per_s"])
                                       for r in s["rows"])))
    for r in s["rows"]:
        if r.get("levee_guard"):
            lines.append("- levee's guard (its /metrics after the run): " + ", ".join(
                "%s %s" % (k.replace("_", " "), "{:,}".format(v)) for k, v in r["levee_guard"].items()) + ".")
    lines.append("- load average (1/5/15 min) before -> after each run: " + "; ".join(
        "%s %s -> %s" % (r["setup"], r["load_average"]["load_before"], r["load_average"]["load_after"])
        for r in s["rows"] if r["load_average"]) + ". 2 shared cores.")
    lines.append("- raw files (levee-load JSON and text, levee-sim /stats, proxy configs):"
                 " `%s/`; charts: `%s.html`." % (
                     s.get("raw_dir", "bench/overload/results/raw/" + s["tag"]),
                     s.get("out", "bench/overload/results/" + s["tag"])))
    return "\n".join(lines) + "\n"


def md_table_html(md):
    rows = [l for l in md.splitlines() if l.startswith("|")]
    out = ["<table class=overload-summary>"]
    for i, l in enumerate(rows):
        if i == 1:
            continue
        cells = [c.strip() for c in l.strip("|").split("|")]
        tag = "th" if i == 0 else "td"
        out.append("<tr>" + "".join("<%s>%s</%s>" % (tag, html.escape(c), tag) for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def guard_timeline(path):
    """levee's /status once a second (run.sh's raw/<setup>.status.log): [(t, guard)]."""
    rows = []
    t0 = None
    for line in open(path):
        ts, _, body = line.partition(" ")
        try:
            st = json.loads(body)
        except ValueError:
            continue  # a poll that got no answer
        svc = (st.get("services") or [{}])[0]
        if "guard" not in svc:
            continue
        t0 = float(ts) if t0 is None else t0
        rows.append((float(ts) - t0, svc["guard"]))
    return rows


def guard_svg(rows, title):
    """An SVG line chart of the guard's limit, requests in levee (in flight + queued) and queue
    length over time, seconds under pressure shaded."""
    if len(rows) < 2:
        return ""
    W, H, L, B = 760, 220, 48, 28
    tmax = max(t for t, _ in rows) or 1
    series = [("limit", "limit", "#1f77b4"), ("in_flight", "in levee (in flight + queued)",
                                                "#ff7f0e"), ("queue_len", "queued", "#2ca02c")]
    ymax = max(max(g.get(k, 0) for _, g in rows) for k, _, _ in series) or 1
    x = lambda t: L + (W - L - 10) * t / tmax
    y = lambda v: H - B - (H - B - 10) * v / ymax
    out = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
           "font-family='sans-serif' font-size='11'>" % (W, H + 18)]
    for (t, g), (t2, _) in zip(rows, rows[1:]):
        if g.get("pressure"):
            out.append("<rect x='%.1f' y='10' width='%.1f' height='%d' fill='#fdd'/>"
                       % (x(t), max(x(t2) - x(t), 0.5), H - B - 10))
    out.append("<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#000'/>" % (L, H - B, W - 10, H - B))
    out.append("<line x1='%d' y1='10' x2='%d' y2='%d' stroke='#000'/>" % (L, L, H - B))
    for i in range(5):
        v = ymax * i / 4
        out.append("<text x='%d' y='%.1f' text-anchor='end'>%.0f</text>" % (L - 4, y(v) + 4, v))
    for i in range(7):
        t = tmax * i / 6
        out.append("<text x='%.1f' y='%d' text-anchor='middle'>%.0f s</text>" % (x(t), H - B + 14, t))
    for i, (k, label, color) in enumerate(series):
        pts = " ".join("%.1f,%.1f" % (x(t), y(g.get(k, 0))) for t, g in rows)
        out.append("<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>" % (color, pts))
        out.append("<text x='%d' y='%d' fill='%s'>%s</text>" % (L + (10, 60, 250)[i], H + 12,
                                                                 color, html.escape(label)))
    out.append("<text x='%d' y='%d' fill='#c66'>shaded: under pressure</text>" % (L + 310, H + 12))
    out.append("</svg>")
    return "<h2>%s</h2>%s" % (html.escape(title), "".join(out))


def inject(args):
    s = json.load(open(args.out + ".json"))
    md = open(args.out + ".md").read()
    notes = [l[2:] for l in md.splitlines() if l.startswith("- ")]
    path = os.path.join(args.raw or "", "levee.status.log")
    timeline = guard_svg(guard_timeline(path), "levee's guard over time (its /status, once a "
                         "second)") if args.raw and os.path.exists(path) else ""
    block = ("<section style='font-family:sans-serif;margin:1em'><h1>Overload comparison: %s</h1>"
             "<p>Command: <code>%s</code> (%s). Backend <code>%s</code>, capacity %d requests/s;"
             " levee at %s.</p>%s<ul>%s</ul>"
             "<style>.overload-summary{border-collapse:collapse}.overload-summary td,"
             ".overload-summary th{border:1px solid #aaa;padding:2px 6px;text-align:right}</style>"
             "%s"
             "<p>Below: levee-load's report of the same runs (goodput over time per setup,"
             " latency, goodput against offered load).</p></section>") % (
        html.escape(s["tag"]), html.escape(s["command"]), s["date"], html.escape(s["sim"]),
        s["capacity_per_s"], html.escape(s["levee_rev"]), md_table_html(md),
        "".join("<li>%s</li>" % re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(n)) for n in notes),
        timeline)
    page = open(args.inject).read()
    i = page.find("<body")
    if i < 0:
        page = block + page
    else:
        j = page.find(">", i) + 1
        page = page[:j] + block + page[j:]
    open(args.inject, "w").write(page)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scenario")
    p.add_argument("--tag")
    p.add_argument("--file", default="")
    p.add_argument("--raw")
    p.add_argument("--out", required=True)
    p.add_argument("--setups", default="direct,nginx,haproxy,levee")
    p.add_argument("--capacity", type=int, default=400)
    p.add_argument("--steps", type=int, default=2, help="requests per user journey")
    p.add_argument("--peak", default="0:1")
    p.add_argument("--recover", default="none")
    p.add_argument("--t-event", type=int, default=0)
    p.add_argument("--t-back", type=int, default=0, help="capacity back (after-drop): 0 none")
    p.add_argument("--base", default="")
    p.add_argument("--meta", default="")
    p.add_argument("--date", default="")
    p.add_argument("--sim", default="")
    p.add_argument("--levee-rev", default="")
    p.add_argument("--command", default="")
    p.add_argument("--inject")
    args = p.parse_args()
    if args.inject:
        inject(args)
    else:
        summarize(args)


if __name__ == "__main__":
    sys.exit(main())
