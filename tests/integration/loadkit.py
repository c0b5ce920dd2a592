"""tests/integration/loadkit.py: shared helpers of the levee-load integration tests.

Starts a real levee-sim on 127.0.0.1 (port 0, read back from its log), runs levee-load,
parses the figures out of its HTML report and stdout summary, reads a history file, and
loads a page in headless Chromium. Not a test file itself (ctest registers test_*.py only). Python 3 stdlib only."""
import html.parser
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

BUILD = os.environ.get("LV_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("LV_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LOAD = os.path.join(BUILD, "levee-load")
SIM = os.path.join(BUILD, "levee-sim")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Sim:
    """A levee-sim process: workers x service_ms gives its capacity (1 x 10 ms = 100/s)."""

    def __init__(self, workers, service_ms, logdir):
        self.log_path = os.path.join(logdir, "sim.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([SIM, "--listen", "127.0.0.1:0", "--workers", str(workers),
                                      "--service-ms", str(service_ms)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.port is None:
            with open(self.log_path) as f:
                m = re.search(r"addr=127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise AssertionError("levee-sim did not print its address (log %s)" % self.log_path)
        self.url = "http://127.0.0.1:%d/" % self.port

    def stats(self):
        with urllib.request.urlopen(self.url + "stats", timeout=5) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_load(args, timeout=120, env=None):
    """Runs levee-load with args; returns the CompletedProcess (text)."""
    return subprocess.run([LOAD] + args, capture_output=True, text=True, timeout=timeout,
                          env=env)


def history_runs(db):
    """The rows of a levee-load history's runs table (sqlite3, stdlib), oldest id first."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        con.close()


def html_tables(doc):
    """Every <table> of an HTML page as a list of rows, each a list of cell texts."""

    class P(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.tables[-1].append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.tables[-1][-1].append(" ".join(self.cell.split()))
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    p = P()
    p.feed(doc)
    return p.tables


def table_dicts(table):
    """A table's rows after the header as dicts keyed by the header cells."""
    head = table[0]
    return [dict(zip(head, row)) for row in table[1:]]


def num(text):
    """The first number in a cell ('47.5', '30.5 %', '1999 ms'); None for '-'."""
    m = re.search(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", text)
    return float(m.group(0)) if m else None


def figures(doc, cls):
    """The <figure class="cls"> elements of a page, as their HTML text."""
    return re.findall(r'<figure class="%s">(.*?)</figure>' % re.escape(cls), doc, re.S)


def y_ticks(svg):
    """The y axis tick values of one chart (right-aligned tick labels)."""
    return [float(v) for v in
            re.findall(r'class="tick" text-anchor="end">([-0-9.e+]+)</text>', svg)]


def chromium_render(path):
    """Loads a local page in headless Chromium; returns (dom, console lines). None when
    Chromium is not installed."""
    if not CHROMIUM:
        return None
    prof = tempfile.mkdtemp(prefix="lv-chromium-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--disable-extensions",
                            "--enable-logging=stderr", "--v=0", "--user-data-dir=" + prof,
                            "--dump-dom", "file://" + os.path.abspath(path)],
                           capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    if p.returncode != 0:
        raise AssertionError("chromium failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    console = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln]
    return p.stdout, console
