#!/usr/bin/env python3
"""fuzz/make_proxy_corpus.py: writes the hand-made seeds of fuzz/fuzz_proxy.c into
fuzz/corpus/proxy/ (the input format is in the head comment of fuzz_proxy.c).

    fuzz/make_proxy_corpus.py [OUT_DIR]      # default: fuzz/corpus/proxy next to this file

The seeds of the response framing and of the requests are written for the levee without
the cache (name), the important ones once more for the one with it (name_c); the cache's
own seeds (cache_*) only for the latter. Every seed uses its own path so that the
responses the cached levee stores for one seed do not answer another's requests.
"""
import os
import sys

CACHE, PLAIN = 0, 1
KEEP_OPEN, RESET_END = 2, 4


def req(method, path, headers=(), body=b"", version="1.1"):
    h = f"{method} {path} HTTP/{version}\r\nHost: fz.test\r\n"
    for name, value in headers:
        h += f"{name}: {value}\r\n"
    return h.encode() + b"\r\n" + body


def resp(status=200, headers=(("Content-Length", "5"),), body=b"hello", version="1.1",
         reason=None):
    reasons = {100: "Continue", 101: "Switching Protocols", 103: "Early Hints", 200: "OK",
               204: "No Content", 206: "Partial Content", 304: "Not Modified",
               404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
    h = f"HTTP/{version} {status} {reason or reasons.get(status, 'X')}\r\n"
    for name, value in headers:
        h += f"{name}: {value}\r\n"
    return h.encode() + b"\r\n" + body


def cl(body, *extra):
    return (("Content-Length", str(len(body))),) + tuple(extra)


def up(*parts):
    """One upstream connection's script: the bytes after '@@<', then ops."""
    return b"@@<" + b"".join(parts)


def op(code, payload=b""):
    return b"@@" + code + payload


SEEDS = {}


def seed(name, client, *ups, flags=0, both=False):
    """A seed for the levee without the cache; with both, for the one with it too."""
    SEEDS[name] = bytes([flags | PLAIN]) + client + b"".join(ups)
    if both:
        SEEDS[name + "_c"] = bytes([flags | CACHE]) + client + b"".join(ups)


def cached(name, client, *ups, flags=0):
    SEEDS[name] = bytes([flags | CACHE]) + client + b"".join(ups)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "proxy")

    # Framing of the response.
    seed("get_cl", req("GET", "/s/get_cl"), up(resp()), both=True)
    seed("get_chunked", req("GET", "/s/get_chunked"),
         up(resp(headers=(("Transfer-Encoding", "chunked"),),
                 body=b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")), both=True)
    seed("get_close_delimited", req("GET", "/s/close_delim"),
         up(resp(headers=(("Content-Type", "text/plain"),), body=b"until the end"), op(b"c")), both=True)
    seed("get_close_delimited_http10_client", req("GET", "/s/close_delim10", version="1.0"),
         up(resp(headers=(), body=b"old client, no length"), op(b"c")), both=True)
    seed("resp_http10_cl", req("GET", "/s/resp10"), up(resp(version="1.0")))
    seed("resp_http10_close", req("GET", "/s/resp10_close"),
         up(resp(version="1.0", headers=(), body=b"to the close")))
    seed("early_hints", req("GET", "/s/hints"),
         up(resp(103, headers=(("Link", "</a.css>; rel=preload"),), body=b""),
            op(b"s", resp(body=b"hello"))), both=True)
    seed("continue_then_200",
         req("POST", "/s/continue", (("Content-Length", "4"), ("Expect", "100-continue"))),
         op(b"q"), op(b"s", b"body"),
         up(resp(100, headers=(), body=b""), op(b"q"), op(b"s", resp(body=b"hello"))), both=True)
    seed("continue_refused",
         req("POST", "/s/continue417", (("Content-Length", "4"), ("Expect", "100-continue"))),
         op(b"q"), op(b"s", b"body"),
         up(resp(417, headers=(("Content-Length", "0"),), body=b"", reason="Expectation Failed")))
    seed("resp_204", req("GET", "/s/204"), up(resp(204, headers=(), body=b"")))
    seed("resp_204_with_cl", req("GET", "/s/204cl"),
         up(resp(204, headers=(("Content-Length", "5"),), body=b"hello")))
    seed("resp_304", req("GET", "/s/304", (("If-None-Match", '"v1"'),)),
         up(resp(304, headers=(("ETag", '"v1"'),), body=b"")), both=True)
    seed("head_cl", req("HEAD", "/s/head"), up(resp(headers=(("Content-Length", "1000"),),
                                                    body=b"")), both=True)
    seed("head_chunked", req("HEAD", "/s/head_chunked"),
         up(resp(headers=(("Transfer-Encoding", "chunked"),), body=b"")))
    seed("te_gzip_only", req("GET", "/s/te_gzip"),
         up(resp(headers=(("Transfer-Encoding", "gzip"),), body=b"\x1f\x8b\x08not really"),
            op(b"c")), both=True)
    seed("te_gzip_chunked", req("GET", "/s/te_gzip_chunked"),
         up(resp(headers=(("Transfer-Encoding", "gzip, chunked"),), body=b"3\r\nabc\r\n0\r\n\r\n")))
    seed("cl_invalid", req("GET", "/s/cl_bad"), up(resp(headers=(("Content-Length", "abc"),))))
    seed("cl_conflict", req("GET", "/s/cl_conflict"),
         up(resp(headers=(("Content-Length", "5"), ("Content-Length", "6")))))
    seed("cl_and_te", req("GET", "/s/cl_te"),
         up(resp(headers=(("Content-Length", "5"), ("Transfer-Encoding", "chunked")),
                 body=b"5\r\nhello\r\n0\r\n\r\n")))
    seed("cl_short_then_close", req("GET", "/s/cl_short"),
         up(resp(headers=(("Content-Length", "100"),), body=b"only ten.."), op(b"c")))
    seed("reset_mid_body", req("GET", "/s/reset_mid"),
         up(resp(headers=(("Content-Length", "100"),), body=b"ten bytes."), op(b"r")), both=True)
    seed("reset_mid_chunk", req("GET", "/s/reset_chunk"),
         up(resp(headers=(("Transfer-Encoding", "chunked"),), body=b"10\r\nhalf"), op(b"r")))
    seed("reset_at_once", req("GET", "/s/reset_now"), up(b"", op(b"r")))
    seed("close_at_once", req("GET", "/s/close_now"), up(b"", op(b"c")))
    seed("stall_then_answer", req("GET", "/s/stall_short"), up(b"", op(b"w5"), op(b"s", resp())))
    seed("stall_past_read_timeout", req("GET", "/s/stall_long"),
         up(b"", op(b"w40"), op(b"s", resp())), both=True)
    seed("stall_mid_body", req("GET", "/s/stall_body"),
         up(resp(headers=(("Content-Length", "10"),), body=b"hello"), op(b"w30"),
            op(b"s", b"world")))
    seed("half_close_origin", req("GET", "/s/half"), up(resp(), op(b"h"), op(b"q")))
    seed("garbage_origin", req("GET", "/s/garbage"), up(b"\x00\xffHTTQ/9 ???\r\n\r\n"))
    seed("extra_bytes_after", req("GET", "/s/extra"), up(resp(), b"HTTP/1.1 200 OK\r\n"))
    seed("switching_protocols", req("GET", "/s/101", (("Upgrade", "websocket"),
                                                       ("Connection", "Upgrade"))),
         up(resp(101, headers=(("Upgrade", "websocket"), ("Connection", "Upgrade")), body=b"")))
    seed("obs_fold_header", req("GET", "/s/fold"),
         up(b"HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 5\r\n\r\nhello"))
    seed("huge_header", req("GET", "/s/huge_head"),
         up(b"HTTP/1.1 200 OK\r\nX-Big: ", op(b"z70000"), op(b"s", b"\r\nContent-Length: 0\r\n\r\n")))
    seed("big_body_cl", req("GET", "/s/big_cl"),
         up(resp(headers=(("Content-Length", "300000"),), body=b""), op(b"z300000")), both=True)
    seed("big_body_close_delimited", req("GET", "/s/big_close"),
         up(resp(headers=(), body=b""), op(b"z100000"), op(b"c")))
    seed("bad_chunk_size", req("GET", "/s/bad_chunk"),
         up(resp(headers=(("Transfer-Encoding", "chunked"),), body=b"zz\r\nhello\r\n0\r\n\r\n")))
    seed("connection_close_cl", req("GET", "/s/conn_close"),
         up(resp(headers=(("Content-Length", "5"), ("Connection", "close")))))
    seed("resp_500", req("GET", "/s/500"),
         up(resp(500, headers=(("Content-Length", "4"),), body=b"oops")))

    # Requests.
    seed("pipelined_keepalive", req("GET", "/s/pipe1") + req("GET", "/s/pipe2"),
         up(resp(body=b"hello"), op(b"q"), op(b"s", resp(body=b"again"))), both=True)
    seed("pipelined_two_conns", req("GET", "/s/pipe_a") + req("GET", "/s/pipe_b"),
         up(resp(headers=(("Content-Length", "5"), ("Connection", "close")))),
         up(resp(body=b"conn2")))
    seed("sequential_keepalive", req("GET", "/s/seq1"), op(b"q"), op(b"s", req("GET", "/s/seq2")),
         up(resp(), op(b"q"), op(b"s", resp(body=b"again"))))
    seed("post_cl", req("POST", "/s/post", (("Content-Length", "11"),), b"hello=world"),
         up(resp(body=b"saved")), both=True)
    seed("post_chunked", req("POST", "/s/post_chunked", (("Transfer-Encoding", "chunked"),),
                             b"5\r\nhello\r\n0\r\n\r\n"), up(resp()))
    seed("post_big_body", req("POST", "/s/post_big", (("Content-Length", "200000"),)),
         op(b"z200000"), up(resp()))
    seed("post_early_answer", req("POST", "/s/post_early", (("Content-Length", "100000"),)),
         op(b"s", b"partial"), up(resp(413, headers=(("Content-Length", "0"),), body=b"")))
    seed("client_partial_head", b"GET /s/partial HTTP/1.1\r\nHost: fz", flags=KEEP_OPEN, both=True)
    seed("client_partial_body", req("POST", "/s/partial_body", (("Content-Length", "10"),), b"abc"),
         up(resp()), flags=KEEP_OPEN)
    seed("client_keepalive_open", req("GET", "/s/keep_open"), up(resp()), flags=KEEP_OPEN)
    seed("client_reset_waiting", req("GET", "/s/client_reset"), op(b"r"),
         up(b"", op(b"w10"), op(b"s", resp())))
    seed("client_reset_at_end", req("GET", "/s/client_reset_end"), up(resp()), flags=RESET_END)
    seed("client_garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
    seed("client_http10", req("GET", "/s/http10", version="1.0"), up(resp()))
    seed("client_absolute_form", b"GET http://fz.test/s/absolute HTTP/1.1\r\nHost: fz.test\r\n\r\n",
         up(resp()))
    seed("client_cl_te", req("POST", "/s/smuggle", (("Content-Length", "4"),
                                                    ("Transfer-Encoding", "chunked")),
                             b"0\r\n\r\n"), up(resp()))
    seed("client_split_head", b"GET /s/split HTTP/1.1\r\n", op(b"w3"), op(b"s", b"Host: fz.test\r\n"),
         op(b"w3"), op(b"s", b"\r\n"), up(resp()))

    # The cache (only the levee that has one).
    fresh = ("Cache-Control", "max-age=60")
    cached("cache_twice", req("GET", "/c/twice") * 2, up(resp(headers=cl(b"hello", fresh))))
    cached("cache_twice_chunked", req("GET", "/c/twice_chunked") * 2,
           up(resp(headers=(("Transfer-Encoding", "chunked"), fresh),
                   body=b"5\r\nhello\r\n0\r\n\r\n")))
    cached("cache_twice_close_delimited", req("GET", "/c/twice_close") * 2,
           up(resp(headers=(fresh,), body=b"to the close"), op(b"c")), up(resp()))
    cached("cache_vary", req("GET", "/c/vary", (("Accept-Encoding", "gzip"),))
           + req("GET", "/c/vary", (("Accept-Encoding", "br"),)),
           up(resp(headers=cl(b"hello", fresh, ("Vary", "Accept-Encoding"))), op(b"q"),
              op(b"s", resp(headers=cl(b"hello", fresh, ("Vary", "Accept-Encoding"))))))
    cached("cache_vary_star", req("GET", "/c/vary_star") * 2,
           up(resp(headers=cl(b"hello", fresh, ("Vary", "*"))), op(b"q"), op(b"s", resp())))
    cached("cache_set_cookie", req("GET", "/c/cookie") * 2,
           up(resp(headers=cl(b"hello", fresh, ("Set-Cookie", "sid=1; HttpOnly"))), op(b"q"),
              op(b"s", resp())))
    cached("cache_private", req("GET", "/c/private") * 2,
           up(resp(headers=cl(b"hello", ("Cache-Control", "private, max-age=60"))), op(b"q"),
              op(b"s", resp())))
    cached("cache_revalidate_304", req("GET", "/c/reval") + req("GET", "/c/reval"),
           up(resp(headers=cl(b"hello", ("Cache-Control", "max-age=0"), ("ETag", '"e1"'))),
              op(b"q"), op(b"s", resp(304, headers=(("ETag", '"e1"'),
                                                     ("Cache-Control", "max-age=60")), body=b""))))
    cached("cache_swr", req("GET", "/c/swr") * 2,
           up(resp(headers=cl(b"hello", ("Cache-Control", "max-age=0, stale-while-revalidate=60"),
                              ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")))),
           up(resp(headers=cl(b"fresh", ("Cache-Control", "max-age=60")), body=b"fresh")))
    cached("cache_stale_if_error", req("GET", "/c/sie") * 2,
           up(resp(headers=cl(b"hello", ("Cache-Control", "max-age=0, stale-if-error=60"))),
              op(b"q"), op(b"s", resp(503, headers=(("Content-Length", "0"),), body=b""))))
    cached("cache_range", req("GET", "/c/range") + req("GET", "/c/range", (("Range", "bytes=1-3"),)),
           up(resp(headers=cl(b"hello", fresh))))
    cached("cache_head_after_get", req("GET", "/c/head") + req("HEAD", "/c/head"),
           up(resp(headers=cl(b"hello", fresh))))
    cached("cache_inm_hit", req("GET", "/c/inm") + req("GET", "/c/inm", (("If-None-Match", '"e2"'),)),
           up(resp(headers=cl(b"hello", fresh, ("ETag", '"e2"')))))
    cached("cache_authorization", req("GET", "/c/auth", (("Authorization", "Bearer x"),)) * 2,
           up(resp(headers=cl(b"hello", ("Cache-Control", "public, max-age=60"))), op(b"q"),
              op(b"s", resp())))
    cached("cache_delete_invalidates", req("GET", "/c/inval") + req("DELETE", "/c/inval")
           + req("GET", "/c/inval"),
           up(resp(headers=cl(b"hello", fresh)), op(b"q"),
              op(b"s", resp(204, headers=(), body=b"")), op(b"q"), op(b"s", resp())))
    cached("cache_no_store", req("GET", "/c/no_store") * 2,
           up(resp(headers=cl(b"hello", ("Cache-Control", "no-store"))), op(b"q"),
              op(b"s", resp())))
    cached("cache_expires", req("GET", "/c/expires") * 2,
           up(resp(headers=cl(b"hello", ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                              ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")))))
    cached("cache_big_cl_pass", req("GET", "/c/big") * 2,
           up(resp(headers=(("Content-Length", "3000000"), fresh), body=b""), op(b"z3000000")),
           up(resp()))
    cached("cache_big_close_delimited", req("GET", "/c/big_close"),
           up(resp(headers=(fresh,), body=b""), op(b"z2500000"), op(b"c")))
    cached("cache_route_nc", req("GET", "/nc/x") * 2,
           up(resp(headers=cl(b"hello", fresh)), op(b"q"), op(b"s", resp())))
    cached("cache_route_key", req("GET", "/k/x", (("Accept-Language", "fr"), ("Cookie", "sid=7")))
           + req("GET", "/k/x", (("Accept-Language", "de"), ("Cookie", "a=1; sid=7"))),
           up(resp(headers=cl(b"hello", fresh)), op(b"q"), op(b"s", resp())))
    cached("cache_cut_fill", req("GET", "/c/cut"),
           up(resp(headers=(("Content-Length", "100"), fresh), body=b"ten bytes."), op(b"r")))
    cached("cache_client_leaves_fill", req("GET", "/c/leave"), op(b"r"),
           up(resp(headers=(("Content-Length", "10"), fresh), body=b"hello"), op(b"w5"),
              op(b"s", b"world")))

    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
