#!/usr/bin/env python3
"""Turns run.sh's raw.tsv into the Markdown report (stdout).

Usage: report.py RAW.tsv WORKDIR COMMANDLINE BACKEND_PORT
raw.tsv rows: part, proxy, path, round, value, extra
"""
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

raw, work, cmdline = sys.argv[1], sys.argv[2], sys.argv[3]
env = os.environ
PROXIES = ["levee", "nginx", "haproxy"]
rows = [ln.rstrip("\n").split("\t") for ln in open(raw) if ln.strip()]


def sh(cmd):
    try:
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"
    except Exception:  # noqa: BLE001
        return "?"


def cpu_model():
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


levee = env.get("LEVEE", "levee")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = []
w = out.append
w("# Proxy benchmark: levee vs nginx vs HAProxy (one worker each)")
w("")
w(f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
w(f"- machine: {os.cpu_count()} CPUs, {cpu_model()}, Linux {platform.release()}, "
  f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB RAM")
w(f"- levee: `{sh(levee + ' --version')}` (git {sh(f'git -C {root} rev-parse --short HEAD')}"
  f"{'+dirty' if sh(f'git -C {root} status --porcelain | head -1') not in ('?', '') else ''}), "
  f"mode `{env.get('LEVEE_MODE', '?')}`")
w(f"- nginx: `{sh('nginx -v 2>&1')}`; HAProxy: `{sh('haproxy -v')}`")
w(f"- wrk: `{sh('wrk -v 2>&1')}`; valgrind: `{sh('valgrind --version')}`")
pin = env.get("PIN", "1") == "1"
w(f"- pinning: {'proxy on CPU 0, wrk + backend nginx on CPU 1 (taskset)' if pin else 'none'}")
w(f"- command: `{cmdline}`")
for r in rows:
    if r[0] == "load":
        w(f"- load average at {r[1]}: {r[4]}; other processes using >= 10 % CPU: {r[5].strip() if len(r) > 5 and r[5].strip() else 'none'}")
w("")

# ---------------------------------------------------------------- rps
rps = {}
for part, proxy, path, rnd, val, extra in (r + [""] * (6 - len(r)) for r in rows):
    if part == "rps":
        rps.setdefault((proxy, path), []).append((rnd, float(val or 0), extra))
paths = []
for (_, path) in rps:
    if path not in paths:
        paths.append(path)
targets = []
if rps:
    dur, rounds, conns = env.get("DUR"), env.get("R"), env.get("CONNS")
    w(f"## Requests/s (wrk -t1 -c{conns} -d{dur}s, keep-alive, {rounds} interleaved rounds, median)")
    w("")
    w("| path | " + " | ".join(p for p in PROXIES) + " | levee / best other | backend direct |")
    w("|---|" + "---|" * (len(PROXIES) + 2))
    for path in paths:
        cells, med = [], {}
        for p in PROXIES:
            v = rps.get((p, path))
            if not v:
                cells.append("—")
                continue
            m = statistics.median(x[1] for x in v)
            med[p] = m
            bad = [x for x in v if "non2xx=0" not in x[2] or "errors=none" not in x[2]]
            cells.append(f"{m:,.0f} ({', '.join(f'{x[1]:,.0f}' for x in v)})" + (" ⚠" if bad else ""))
        others = [med[p] for p in ("nginx", "haproxy") if p in med]
        ratio = f"{med['levee'] / max(others):.2f}" if "levee" in med and others else "—"
        d = rps.get(("backend-direct", path))
        direct = f"{d[0][1]:,.0f}" if d else "—"
        w(f"| {path} | " + " | ".join(cells) + f" | {ratio} | {direct} |")
        if "levee" in med and others:
            targets.append((f"requests/s {path} ≥ best of nginx/HAProxy", f"{med['levee']:,.0f} vs {max(others):,.0f}",
                            med["levee"] >= max(others)))
    w("")
    w("Cells: median (each round). ⚠: some run had non-2xx responses or socket errors (see the raw rows).")
    lat = []
    for (p, path), v in sorted(rps.items()):
        for rnd, val, extra in v:
            if "non2xx=0" not in extra or "errors=none" not in extra:
                lat.append(f"- {p} {path} round {rnd}: {extra}")
    if lat:
        w("")
        w("Runs with errors:")
        w("")
        out.extend(lat)
    w("")
    w("Latency (wrk --latency, p50 / p99, last round):")
    w("")
    for (p, path), v in sorted(rps.items()):
        ex = dict(kv.split("=", 1) for kv in v[-1][2].split(";") if "=" in kv)
        w(f"- {p} {path}: {ex.get('p50', '?')} / {ex.get('p99', '?')}")
    w("")

# ---------------------------------------------------------------- dashboard watchers
nw = env.get("WATCHERS", "0")
if rps and nw not in ("", "0"):
    wname = f"levee+{nw}w"
    w(f"## Dashboard watchers: levee with {nw} GET /events streams open vs none (same run)")
    w("")
    w("| path | none (each round) | with watchers (each round) | ratio per round | median ratio | within 2 % |")
    w("|---|---|---|---|---|---|")
    for path in paths:
        a, b = rps.get(("levee", path)), rps.get((wname, path))
        if not a or not b:
            continue
        by_a = {x[0]: x[1] for x in a}
        ratios = [x[1] / by_a[x[0]] for x in b if by_a.get(x[0])]
        if not ratios:
            continue
        med_r = statistics.median(ratios)
        ok = med_r >= 0.98
        w(f"| {path} | {', '.join(f'{x[1]:,.0f}' for x in a)} | {', '.join(f'{x[1]:,.0f}' for x in b)} | "
          f"{', '.join(f'{r:.3f}' for r in ratios)} | {med_r:.3f} | {'yes' if ok else 'no'} |")
        targets.append((f"requests/s {path} with {nw} watchers within 2 % of none", f"ratio {med_r:.3f}", ok))
    w("")
    w("Each round runs levee without and with the watchers back to back (the order alternates).")
    w("")

    def cpu_of(v):
        out = {}
        for rnd, _, extra in v:
            ex = dict(kv.split("=", 1) for kv in extra.split(";") if "=" in kv)
            try:
                out[rnd] = float(ex.get("cpu_us", ""))
            except ValueError:
                pass
        return out
    w("levee's CPU time per request (user + system, every thread, from /proc; µs):")
    w("")
    w("| path | none (each round) | with watchers (each round) | ratio per round | median ratio |")
    w("|---|---|---|---|---|")
    for path in paths:
        a, b = cpu_of(rps.get(("levee", path), [])), cpu_of(rps.get((wname, path), []))
        ratios = [b[r] / a[r] for r in b if a.get(r)]
        if ratios:
            w(f"| {path} | {', '.join(f'{a[r]:.2f}' for r in a)} | {', '.join(f'{b[r]:.2f}' for r in b)} | "
              f"{', '.join(f'{x:.3f}' for x in ratios)} | {statistics.median(ratios):.3f} |")
    w("")
instr_rows = {(r[1], r[2]): int(r[4]) for r in rows if r[0] == "instr"}
if nw not in ("", "0") and any(p == f"levee+{nw}w" for p, _ in instr_rows):
    w(f"Instructions per request (callgrind, the whole process, admin thread included), none vs "
      f"{nw} watchers open during the measured requests:")
    w("")
    for (p, path), v in instr_rows.items():
        if p == f"levee+{nw}w" and ("levee", path) in instr_rows:
            base = instr_rows[("levee", path)]
            w(f"- {path}: {base:,} vs {v:,} ({(v - base) / base * 100:+.2f} %)")
    w("")

# ---------------------------------------------------------------- instructions
instr = {(r[1], r[2]): (int(r[4]), r[5]) for r in rows if r[0] == "instr"}
if instr:
    n = env.get("N")
    w(f"## Instructions per proxied request (callgrind, user space, {n} requests over "
      f"{env.get('NCONN')} keep-alive connections, minus a baseline run)")
    w("")
    ipaths = []
    for (_, path) in instr:
        if path not in ipaths:
            ipaths.append(path)
    w("| path | " + " | ".join(PROXIES) + " | reference nginx / HAProxy |")
    w("|---|" + "---|" * (len(PROXIES) + 1))
    ref = {"/tiny": "19,400 / 29,600", "/16k": "28,600 / 68,200"}
    for path in ipaths:
        cells = []
        for p in PROXIES:
            cells.append(f"{instr[(p, path)][0]:,}" if (p, path) in instr else "—")
        w(f"| {path} | " + " | ".join(cells) + f" | {ref.get(path, '—')} |")
        if ("levee", path) in instr and ("nginx", path) in instr:
            lv, ng = instr[("levee", path)][0], instr[("nginx", path)][0]
            targets.append((f"instructions/request {path} ≤ nginx", f"{lv:,} vs {ng:,}", lv <= ng))
    w("")

# ---------------------------------------------------------------- memory
mem = {r[1]: (r[4], r[5]) for r in rows if r[0] == "mem"}
if mem:
    w(f"## Memory per idle keep-alive client connection ({env.get('IDLE')} connections, VmRSS)")
    w("")
    w("| proxy | KiB per idle connection | RSS before → after (KiB) | connections open / still alive / failed |")
    w("|---|---|---|---|")
    for p in PROXIES:
        if p not in mem:
            continue
        val, extra = mem[p]
        ex = dict(kv.split("=", 1) for kv in extra.split(";") if "=" in kv)
        try:
            v = f"{float(val):.2f}"
        except ValueError:
            v = "failed"
        w(f"| {p} | {v} | {ex.get('rss_before_kib', '?')} → {ex.get('rss_after_kib', '?')} | "
          f"{ex.get('conns', '?')} / {ex.get('alive', '?')} / {ex.get('failed', '?')} |")
        if p == "levee" and v != "failed":
            targets.append(("memory per idle connection ≤ 1 KiB", f"{float(val):.2f} KiB", float(val) <= 1.0))
    w("")
    w("Reference (measured before): nginx ~0.7 KiB, HAProxy ~1.2 KiB.")
    w("")

# ---------------------------------------------------------------- targets
if targets:
    w("## Targets (issue 2)")
    w("")
    w("| target | levee vs reference | met |")
    w("|---|---|---|")
    for name, val, ok in targets:
        w(f"| {name} | {val} | {'yes' if ok else '**no**'} |")
    w("")

notes = [r for r in rows if r[0] == "note"]
if notes:
    w("## Problems seen")
    w("")
    for r in notes:
        w(f"- {r[1]} {r[2] if r[2] != '-' else ''}: {r[4]}")
    w("")

# ---------------------------------------------------------------- where levee's instructions go
ann = os.path.join(work, "annotate-levee-tiny.txt")
if os.path.exists(ann):
    lines = open(ann).read().splitlines()
    top = []
    seen_hdr = False
    for ln in lines:
        if re.match(r"^-+$", ln.strip()) and top == [] and seen_hdr:
            continue
        if "file:function" in ln:
            seen_hdr = True
            continue
        if seen_hdr and re.match(r"^\s*[\d,]+ ", ln):
            top.append(ln.strip())
        if len(top) >= 15:
            break
    if top:
        w("## Where levee's instructions go (/tiny measured run, self cost, top 15)")
        w("")
        w("```")
        out.extend(top)
        w("```")
        w("")

w("## Commands")
w("")
w("```")
w("backend: nginx -p WORK -c backend.conf          (bench/proxy/conf/backend-nginx.conf.in)")
w("nginx:   nginx -p WORK -c nginx-proxy.conf -g 'daemon off;'   (master_process off under valgrind)")
w("haproxy: haproxy -db -f haproxy.cfg")
if env.get("LEVEE_MODE") == "quick":
    w("levee:   levee proxy --listen 127.0.0.1:PORT --to 127.0.0.1:BACKEND --workers 1 --admin 127.0.0.1:0")
else:
    w("levee:   levee -c levee.yaml                     (bench/proxy/conf/levee.yaml.in)")
w(f"rps:     taskset -c 1 wrk -t1 -c{env.get('CONNS')} -d{env.get('DUR')}s --latency http://127.0.0.1:PORT/PATH")
w(f"instr:   valgrind --tool=callgrind --callgrind-out-file=F PROXY...; "
  f"python3 bench/proxy/nreq.py 127.0.0.1 PORT PATH {env.get('N')} {env.get('NCONN')}")
w(f"mem:     python3 bench/proxy/idle.py 127.0.0.1 PORT /tiny {env.get('IDLE')} PIDS")
w("```")
print("\n".join(out))
