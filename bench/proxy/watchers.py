#!/usr/bin/env python3
"""bench/proxy/watchers.py: holds N dashboard watchers (GET /events on levee's admin listener)
open and reading, like N open dashboard pages, until killed.

Usage: watchers.py ADMIN_PORT N. Prints "ready N events=E" once every stream has its first
snapshot, then reads (and counts) every event until SIGTERM, and prints the count at exit."""
import selectors
import signal
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
events = {}
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    events[s] = 0
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
ready = False
while not stop:
    for key, _ in sel.select(timeout=0.5):
        try:
            d = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        if not d:
            sys.exit("watcher closed by levee")
        events[key.fileobj] += d.count(b"\ndata: ") + d.startswith(b"data: ")
    if not ready and all(v >= 2 for v in events.values()):  # history + a snapshot each
        ready = True
        print("ready %d events=%d" % (n, sum(events.values())), flush=True)
print("events %d" % sum(events.values()), flush=True)
