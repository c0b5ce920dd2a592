#!/usr/bin/env python3
"""A flood of TLS 1.3 full handshakes that costs the client almost nothing.

Each connection sends one canned ClientHello (made once with the ssl module, no session to
resume) and waits for the server's first flight (the server has then done its key exchange
and signature: the expensive part of a full handshake) or for its refusal, then closes.
CONC connections are in flight at once, for SECONDS.

Usage: hello_flood.py HOST PORT SECONDS [CONC]
Prints: answered=N refused=N per_s=N (answered: a ServerHello came; refused: an alert or a
close before one)
"""
import asyncio
import ssl
import sys
import time


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="bench.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


async def one(host, port, hello, counts):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counts["refused"] += 1
        return
    try:
        writer.write(hello)
        data = await asyncio.wait_for(reader.read(5), 5)
        # A record of type 22 (handshake) is the ServerHello; 21 is an alert.
        counts["answered" if data[:1] == b"\x16" else "refused"] += 1
    except (OSError, asyncio.TimeoutError):
        counts["refused"] += 1
    finally:
        writer.close()


async def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    conc = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    hello = client_hello()
    counts = {"answered": 0, "refused": 0}
    end = time.monotonic() + seconds

    async def worker():
        while time.monotonic() < end:
            await one(host, port, hello, counts)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conc)))
    took = time.monotonic() - t0
    print("answered=%d refused=%d per_s=%d" % (counts["answered"], counts["refused"],
                                                (counts["answered"] + counts["refused"]) / took))


asyncio.run(main())
