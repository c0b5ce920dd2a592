#!/usr/bin/env python3
"""bench/overload/matrix_report.py: the table of bench/overload/matrix.sh's cells, with levee's
targets of issue 12 marked PASS or FAIL, as Markdown and as HTML with one SVG bar plot.

  matrix_report.py results/matrix [--md results/matrix.md] [--html results/matrix.html]

Reads every results/matrix/<cell>/cell.json (what matrix.sh ran) and the <scenario>.json that
analyze.py wrote next to it. Python 3 stdlib only.
"""
import argparse
import html
import json
import os
import sys

PEERS = ("nginx", "haproxy")
SETUPS = ("levee",) + PEERS + ("plain",)
COLORS = {"levee": "#1f77b4", "nginx": "#2ca02c", "haproxy": "#ff7f0e", "plain": "#999999"}
GOODPUT_MIN, P99_MAX, P99_AFTER_MAX, RECOVER_MAX = 98.0, 50.0, 100.0, 5


def load_cells(root):
    """[{cell.json fields..., "rows": {setup: analyze.py row}, "summary": {...} or None}]."""
    cells = []
    for name in sorted(os.listdir(root)):
        meta = os.path.join(root, name, "cell.json")
        if not os.path.isfile(meta):
            continue
        with open(meta) as f:
            c = json.load(f)
        res = os.path.join(root, name, c["scenario"] + ".json")
        c["summary"] = None
        if os.path.isfile(res):
            with open(res) as f:
                c["summary"] = json.load(f)
        c["rows"] = {r["setup"]: r for r in c["summary"]["rows"]} if c["summary"] else {}
        cells.append(c)
    order = ["base", "levee-workers", "thrash", "dist", "users/address", "scenario"]
    cells.sort(key=lambda c: (order.index(c["dimension"]) if c["dimension"] in order else 99,
                              c["cell"]))
    return cells


def kind(c):
    s = c["scenario"]
    return ("calm" if s.startswith("calm") else "drop" if s.startswith("drop")
            else "storm" if s == "f5-storm" else "peak")


def p99(r):
    lat = r.get("latency_ms_successes") if r else None
    return lat["p99"] if lat else None


def fmt(v, spec="{:.1f}", none="—"):
    return none if v is None else spec.format(v)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def targets(c):
    """levee's targets for this cell: [(target, "PASS"/"FAIL", figure)]."""
    lv = c["rows"].get("levee")
    if not lv:
        return [("run", "FAIL", "no levee result")]
    out, k = [], kind(c)
    if k == "peak":
        gp = lv["goodput_pct_of_capacity_in_peak"] or 0
        peers = [c["rows"][p]["goodput_pct_of_capacity_in_peak"] or 0 for p in PEERS if p in c["rows"]]
        best = max(peers) if peers else 0
        out.append(("goodput ≥ %g %% of C and ≥ best peer" % GOODPUT_MIN,
                    verdict(gp >= GOODPUT_MIN and gp >= best),
                    "%.1f %% (best peer %s)" % (gp, fmt(best if peers else None, "{:.1f} %"))))
    if k in ("peak", "calm", "storm"):
        v = p99(lv)
        out.append(("p99 of successes ≤ %g ms" % P99_MAX, verdict(v is not None and v <= P99_MAX),
                    fmt(v, "{:.0f} ms")))
    if k == "calm":
        n = lv["refused_by_proxy_or_error_status"]
        out.append(("no refusals at 0.8 C", verdict(n == 0), "{:,} refused".format(n)))
    if k in ("drop", "storm"):
        for key, lat, when in (("recovery_s", "latency_p99_ms_after_event", "change"),
                               ("recovery_back_s", "latency_p99_ms_after_back", "back")):
            if key == "recovery_back_s" and k != "drop":
                continue
            rec, v = lv.get(key), lv.get(lat)
            out.append(("after %s: 90 %% within %d s" % (when, RECOVER_MAX),
                        verdict(rec is not None and rec <= RECOVER_MAX),
                        "never" if rec is None else "%d s" % rec))
            out.append(("after %s: p99 ≤ %g ms" % (when, P99_AFTER_MAX),
                        verdict(v is not None and v <= P99_AFTER_MAX), fmt(v, "{:.0f} ms")))
    return out


def per_setup(c, f, spec, none="—"):
    return " / ".join(fmt(f(c["rows"][s]) if s in c["rows"] else None, spec, none)
                      for s in SETUPS if s in c["rows"])


def settings(c):
    return "%s, workers %s, thrash %s, %s, %s users/address" % (
        c["scenario"], c["levee_workers"], c["thrash"], c["dist"], c["users_per_address"])


def dim_value(c):
    return "base" if c["dimension"] == "base" else "%s = %s" % (c["dimension"], c["value"])


def table_rows(cells):
    head = ["cell", "dimension = value", "settings", "setups", "goodput % of C (peak)",
            "p99 of successes, ms", "refused (429/5xx)", "recovery, s (drop; back)",
            "duplicate work, % of plain", "levee's targets"]
    rows = []
    for c in cells:
        if not c["rows"]:
            rows.append([c["cell"], dim_value(c), settings(c),
                         c["setups"], "no result (see run.log)"] + [""] * 5)
            continue
        rec = "—"
        if kind(c) in ("drop", "storm"):
            rec = per_setup(c, lambda r: r.get("recovery_s"), "{:d}", "never")
            if kind(c) == "drop":
                rec += "; " + per_setup(c, lambda r: r.get("recovery_back_s"), "{:d}", "never")
        dup = "—"
        if "plain" in c["rows"]:
            dup = per_setup(c, lambda r: r.get("duplicates_reached_backend_pct_of_plain"), "{:.1f}")
        rows.append([
            c["cell"], dim_value(c), settings(c),
            "/".join(s for s in SETUPS if s in c["rows"]),
            per_setup(c, lambda r: r["goodput_pct_of_capacity_in_peak"], "{:.1f}"),
            per_setup(c, p99, "{:.0f}"),
            per_setup(c, lambda r: r["refused_by_proxy_or_error_status"], "{:,}"),
            rec, dup,
            "; ".join("%s %s: %s" % (v, t, f) for t, v, f in targets(c)),
        ])
    return head, rows


def markdown(cells, title):
    head, rows = table_rows(cells)
    n = sum(1 for c in cells for _, v, _ in targets(c) if v == "PASS")
    m = sum(1 for c in cells for _ in targets(c))
    out = ["# " + title, "",
           "levee's targets met: %d of %d. Each figure column lists the setups in the order of"
           " the setups column (levee first). Backend: levee-sim %s workers x %s ms (C = %s"
           " requests/s). Written by `bench/overload/matrix_report.py` from"
           " `bench/overload/results/matrix/<cell>/`." % (
               n, m, *(cells[0][k] if cells else "?" for k in ("sim_workers", "sim_service_ms",
                                                               "capacity"))), "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["",
            "- goodput % of C (peak): analyze.py's, over the scenario's peak window (the hold of a"
            " peak, the whole run at 0.8 C, the dropped capacity for a drop, after the stall for"
            " f5-storm). p99: of successful answers, whole run.",
            "- targets: peak cells: goodput ≥ %g %% of C and ≥ the better of nginx and HAProxy,"
            " p99 ≤ %g ms; calm: no refusal, p99 ≤ %g ms; drops (and the end of the f5-storm"
            " stall): goodput back to 90 %% of the reachable level within %d s of each change"
            " (analyze.py's time to recover), p99 after it ≤ %g ms (an upper estimate from the"
            " per-second quantiles of the window after the change)." % (
                GOODPUT_MIN, P99_MAX, P99_MAX, RECOVER_MAX, P99_AFTER_MAX),
            "- duplicate work: retries of a step that an earlier try already brought to the"
            " backend, as a share of the plain proxy's (f5-storm only)."]
    return "\n".join(out) + "\n"


def svg_bars(cells):
    """Grouped bars: goodput % of C at the peak, per cell and setup."""
    cells = [c for c in cells if c["rows"]]
    if not cells:
        return ""
    W, H, L, B, T = max(560, 60 + 58 * len(cells)), 300, 44, 90, 20
    ymax = max([100.0] + [r["goodput_pct_of_capacity_in_peak"] or 0
                          for c in cells for r in c["rows"].values()])
    y = lambda v: H - B - (H - B - T) * v / ymax
    o = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'"
         " font-size='11'>" % (W, H)]
    for v in range(0, int(ymax) + 1, 20):
        o.append("<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/><text x='%d' y='%.1f'"
                 " text-anchor='end'>%d %%</text>" % (L, W - 10, y(v), y(v), L - 4, y(v) + 4, v))
    o.append("<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#c00' stroke-dasharray='4 3'/>"
             % (L, W - 10, y(GOODPUT_MIN), y(GOODPUT_MIN)))
    for i, c in enumerate(cells):
        x0 = L + 8 + 58 * i
        for j, s in enumerate(s for s in SETUPS if s in c["rows"]):
            v = c["rows"][s]["goodput_pct_of_capacity_in_peak"] or 0
            o.append("<rect x='%d' y='%.1f' width='11' height='%.1f' fill='%s'><title>%s %s: %.1f %%"
                     "</title></rect>" % (x0 + 12 * j, y(v), y(0) - y(v), COLORS[s],
                                          html.escape(c["cell"]), s, v))
        o.append("<text transform='translate(%d,%d) rotate(-45)' text-anchor='end'>%s</text>"
                 % (x0 + 20, H - B + 12, html.escape(c["cell"])))
    for j, s in enumerate(SETUPS):
        o.append("<rect x='%d' y='4' width='10' height='10' fill='%s'/><text x='%d' y='13'>%s</text>"
                 % (L + 80 * j, COLORS[s], L + 80 * j + 14, s))
    o.append("<text x='%d' y='13' fill='#c00'>- - %g %% target</text>" % (L + 330, GOODPUT_MIN))
    o.append("</svg>")
    return "".join(o)


def page(cells, title):
    head, rows = table_rows(cells)
    md = markdown(cells, title).splitlines()
    notes = [l[2:] for l in md if l.startswith("- ")]

    def cell(v):
        if not v.startswith(("PASS", "FAIL")):
            return "<td>%s</td>" % html.escape(v)
        return "<td>%s</td>" % "<br>".join(
            "<span style='background:%s'>%s</span>" % ("#d4f4d4" if t.startswith("PASS") else
                                                       "#f8d0d0", html.escape(t))
            for t in v.split("; "))
    return ("<!doctype html><meta charset=utf-8><title>%s</title><body style='font-family:"
            "sans-serif;margin:1em'><h1>%s</h1><p>%s</p><h2>Goodput at the peak, %% of capacity"
            "</h2>%s<h2>Cells</h2><table style='border-collapse:collapse' border=1 cellpadding=3>"
            "<tr>%s</tr>%s</table><ul>%s</ul></body>\n") % (
        html.escape(title), html.escape(title), html.escape(md[2].replace("`", "")), svg_bars(cells),
        "".join("<th>%s</th>" % html.escape(h) for h in head),
        "".join("<tr>%s</tr>" % "".join(cell(v) for v in r) for r in rows),
        "".join("<li>%s</li>" % html.escape(n) for n in notes))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="results/matrix (one directory per cell)")
    p.add_argument("--md")
    p.add_argument("--html")
    p.add_argument("--title", default="Overload matrix (issue 12)")
    a = p.parse_args()
    cells = load_cells(a.root)
    if not cells:
        print("matrix_report.py: no cells in %s" % a.root, file=sys.stderr)
        return 1
    md = markdown(cells, a.title)
    for path, text in ((a.md, md), (a.html, page(cells, a.title) if a.html else "")):
        if path:
            with open(path, "w") as f:
                f.write(text)
    sys.stdout.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
