#!/usr/bin/env python3
"""Send exactly N keep-alive GET requests over C connections and check every answer.

Used by run.sh for the callgrind part: the proxy must proxy exactly N requests.
Usage: nreq.py HOST PORT PATH N CONNS [--expect-bytes B]
Prints one line "ok=N status={...} bytes=..." and exits 1 if any request failed.
"""
import asyncio
import sys


async def one_conn(host, port, path, count, stats, expect):
    reader, writer = await asyncio.open_connection(host, port)
    req = f"GET {path} HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: levee-bench\r\n\r\n".encode()
    try:
        for _ in range(count):
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            clen, chunked = None, False
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    clen = int(v.strip())
                elif k == "transfer-encoding" and "chunked" in v.lower():
                    chunked = True
            nbody = 0
            if chunked:
                while True:
                    szl = await reader.readuntil(b"\r\n")
                    sz = int(szl.split(b";")[0].strip(), 16)
                    if sz == 0:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass
                        break
                    await reader.readexactly(sz + 2)
                    nbody += sz
            elif clen is not None:
                await reader.readexactly(clen)
                nbody = clen
            else:
                raise RuntimeError("response without length")
            stats["status"][status] = stats["status"].get(status, 0) + 1
            if status == 200 and (expect is None or nbody == expect):
                stats["ok"] += 1
            stats["bytes"] += nbody
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:
            pass


async def main():
    host, port, path, n, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    expect = None
    if "--expect-bytes" in sys.argv:
        expect = int(sys.argv[sys.argv.index("--expect-bytes") + 1])
    stats = {"ok": 0, "status": {}, "bytes": 0}
    per = [n // conns + (1 if i < n % conns else 0) for i in range(conns)]
    res = await asyncio.gather(*(one_conn(host, port, path, c, stats, expect) for c in per if c),
                               return_exceptions=True)
    errs = [r for r in res if isinstance(r, Exception)]
    print(f"ok={stats['ok']} of {n} status={stats['status']} bytes={stats['bytes']} errors={len(errs)}"
          + (f" first_error={errs[0]!r}" if errs else ""))
    sys.exit(0 if stats["ok"] == n and not errs else 1)


asyncio.run(main())
