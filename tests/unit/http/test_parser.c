/* tests/unit/http/test_parser.c: the strict HTTP/1.1 parser (src/http/parser.c, headers.c):
 * valid messages, pipelining, byte-by-byte feeding, limits and every smuggling vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/parser.h"

typedef struct rec {
    int heads;
    int dones;
    char body[8192];
    size_t body_len;
    /* copies of the last head's interesting parts (the head itself dies on release) */
    lv_http_head_t head;
    char target[512], path[512], host[256], conn[256], reqid[128], reason[128];
    char first_name[64], first_value[256];
    int head_rc; /* what on_head returns */
    int body_rc;
    int done_rc;
} rec_t;

static void copy_str(char *dst, size_t cap, lv_str_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = 0;
}

static int rec_head(void *owner, lv_http_head_t *h)
{
    rec_t *r = owner;
    r->heads++;
    r->head = *h;
    copy_str(r->target, sizeof(r->target), h->target);
    copy_str(r->path, sizeof(r->path), h->path);
    copy_str(r->host, sizeof(r->host), h->host);
    copy_str(r->conn, sizeof(r->conn), h->connection);
    copy_str(r->reqid, sizeof(r->reqid), h->request_id);
    copy_str(r->reason, sizeof(r->reason), h->reason);
    r->first_name[0] = r->first_value[0] = 0;
    if (h->n_headers) {
        copy_str(r->first_name, sizeof(r->first_name), h->headers[0].name);
        copy_str(r->first_value, sizeof(r->first_value), h->headers[0].value);
    }
    return r->head_rc;
}

static int rec_body(void *owner, const char *data, size_t len)
{
    rec_t *r = owner;
    assert_true(r->body_len + len <= sizeof(r->body));
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return r->body_rc;
}

static int rec_done(void *owner)
{
    rec_t *r = owner;
    r->dones++;
    return r->done_rc;
}

static const lv_http_parser_cbs_t rec_cbs = {rec_head, rec_body, rec_done};
static const lv_http_limits_t std_limits = {8192, 4096, 1 << 20};

/* Feeds data in pieces of `step` bytes (0 = all at once), resuming after every message.
 * Returns the last result (NEED_MORE or ERROR). */
static lv_http_result_t feed_all(lv_http_parser_t *p, const char *data, size_t len, size_t step)
{
    size_t off = 0;
    size_t guard = 0;
    lv_http_result_t r = LV_HTTP_NEED_MORE;
    while (off < len) {
        size_t n = step ? LV_MIN(step, len - off) : len - off;
        size_t used = 0;
        r = lv_http_parser_feed(p, data + off, n, &used);
        assert_true(used <= n);
        off += used;
        if (r == LV_HTTP_ERROR)
            return r;
        if (r == LV_HTTP_PAUSED) {
            lv_http_parser_resume(p);
            r = LV_HTTP_NEED_MORE;
        }
        assert_true(++guard < 1000000);
    }
    return r;
}

static lv_http_result_t parse(lv_http_parser_t *p, rec_t *r, lv_http_kind_t kind, const char *s,
                              size_t len, size_t step, const lv_http_limits_t *lim)
{
    memset(r, 0, sizeof(*r));
    lv_http_parser_init(p, kind, lim ? lim : &std_limits, &rec_cbs, r);
    return feed_all(p, s, len, step);
}

/* Whole, then byte by byte: both must reject with the same status. */
static void expect_status(lv_http_kind_t kind, const char *s, size_t len, int status)
{
    static const size_t steps[] = {0, 1, 7};
    for (size_t i = 0; i < LV_ARRAY_LEN(steps); i++) {
        lv_http_parser_t p;
        rec_t r;
        lv_http_result_t res = parse(&p, &r, kind, s, len, steps[i], NULL);
        if (res != LV_HTTP_ERROR)
            print_error("accepted with step %zu: %.*s\n", steps[i], (int)len, s);
        assert_int_equal(res, LV_HTTP_ERROR);
        if (p.error_status != status)
            print_error("step %zu: status %d (%s)\n", steps[i], p.error_status, p.error_reason);
        assert_int_equal(p.error_status, status);
        assert_non_null(p.error_reason);
        /* dead stays dead */
        size_t used = 99;
        assert_int_equal(lv_http_parser_feed(&p, "x", 1, &used), LV_HTTP_ERROR);
        assert_int_equal(used, 0);
        lv_http_parser_fini(&p);
    }
}

#define REQ_REJECT(name, status, lit)                                                              \
    static void test_feed_##name(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        expect_status(LV_HTTP_REQUEST, lit, sizeof(lit) - 1, status);                              \
    }
#define RESP_REJECT(name, lit)                                                                     \
    static void test_feed_##name(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        expect_status(LV_HTTP_RESPONSE, lit, sizeof(lit) - 1, 502);                                \
    }

#define H "Host: a\r\n"
/* framing / smuggling */
REQ_REJECT(rejects_cl_and_te, 400,
           "POST / HTTP/1.1\r\n" H
           "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_te_and_cl, 400,
           "POST / HTTP/1.1\r\n" H
           "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_duplicate_cl_equal, 400,
           "POST / HTTP/1.1\r\n" H "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx")
REQ_REJECT(rejects_duplicate_cl_different, 400,
           "POST / HTTP/1.1\r\n" H "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy")
REQ_REJECT(rejects_cl_list, 400, "POST / HTTP/1.1\r\n" H "Content-Length: 1, 1\r\n\r\nx")
REQ_REJECT(rejects_cl_plus_sign, 400, "POST / HTTP/1.1\r\n" H "Content-Length: +1\r\n\r\nx")
REQ_REJECT(rejects_cl_minus_sign, 400, "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\nx")
REQ_REJECT(rejects_cl_inner_space, 400, "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\nx")
REQ_REJECT(rejects_cl_non_digit, 400, "POST / HTTP/1.1\r\n" H "Content-Length: 1a\r\n\r\nx")
REQ_REJECT(rejects_cl_hex, 400, "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\nx")
REQ_REJECT(rejects_cl_empty, 400, "POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\nx")
REQ_REJECT(rejects_cl_overflow, 400,
           "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999\r\n\r\n")
REQ_REJECT(rejects_cl_int64_overflow, 400,
           "POST / HTTP/1.1\r\n" H "Content-Length: 9223372036854775808\r\n\r\n")
REQ_REJECT(rejects_te_chunked_twice_list, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_te_chunked_twice_headers, 400,
           "POST / HTTP/1.1\r\n" H
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_te_gzip_chunked, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_te_identity, 400, "POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n")
REQ_REJECT(rejects_te_chunked_gzip, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n")
REQ_REJECT(rejects_te_xchunked, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_te_empty, 400, "POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n")
REQ_REJECT(rejects_te_http10, 400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
REQ_REJECT(rejects_chunk_size_bad, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nzz\r\n")
REQ_REJECT(rejects_chunk_size_negative, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n")
REQ_REJECT(rejects_chunk_size_overflow, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n")
REQ_REJECT(rejects_chunk_size_space, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n")
REQ_REJECT(rejects_chunk_data_too_long, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n")
REQ_REJECT(rejects_chunk_bare_lf, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n")
/* head syntax */
REQ_REJECT(rejects_obs_fold_space, 400, "GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n")
REQ_REJECT(rejects_obs_fold_tab, 400, "GET / HTTP/1.1\r\n" H "X: a\r\n\tb\r\n\r\n")
REQ_REJECT(rejects_obs_fold_first_header, 400, "GET / HTTP/1.1\r\n Host: a\r\n\r\n")
REQ_REJECT(rejects_ctl_in_value, 400, "GET / HTTP/1.1\r\n" H "X: a\001b\r\n\r\n")
REQ_REJECT(rejects_del_in_value, 400, "GET / HTTP/1.1\r\n" H "X: a\177b\r\n\r\n")
REQ_REJECT(rejects_ctl_in_name, 400, "GET / HTTP/1.1\r\n" H "X\001Y: a\r\n\r\n")
REQ_REJECT(rejects_del_in_name, 400, "GET / HTTP/1.1\r\n" H "X\177Y: a\r\n\r\n")
REQ_REJECT(rejects_cr_in_value, 400, "GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n")
REQ_REJECT(rejects_space_before_colon, 400, "GET / HTTP/1.1\r\nHost : a\r\n\r\n")
REQ_REJECT(rejects_tab_before_colon, 400, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n")
REQ_REJECT(rejects_space_in_name, 400, "GET / HTTP/1.1\r\n" H "Ho st: a\r\n\r\n")
REQ_REJECT(rejects_empty_name, 400, "GET / HTTP/1.1\r\n" H ": a\r\n\r\n")
REQ_REJECT(rejects_bad_method_char, 400, "G@T / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_lowercase_method, 400, "get / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_bad_version, 400, "GET / HTTP/1.x\r\n" H "\r\n")
REQ_REJECT(rejects_version_12, 400, "GET / HTTP/1.2\r\n" H "\r\n")
REQ_REJECT(rejects_version_20, 505, "GET / HTTP/2.0\r\n" H "\r\n")
REQ_REJECT(rejects_version_09, 505, "GET / HTTP/0.9\r\n" H "\r\n")
REQ_REJECT(rejects_lowercase_http, 400, "GET / http/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_space_in_target, 400, "GET /a b HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_double_space_before_target, 400, "GET  / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_double_space_before_version, 400, "GET /  HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_trailing_space_request_line, 400, "GET / HTTP/1.1 \r\n" H "\r\n")
REQ_REJECT(rejects_tab_in_request_line, 400, "GET\t/ HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_tab_in_target, 400, "GET /\t HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_ctl_in_target, 400, "GET /\001 HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_8bit_in_target, 400, "GET /\200 HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_missing_target, 400, "GET HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_missing_version, 400, "GET /\r\n" H "\r\n")
REQ_REJECT(rejects_leading_space_request_line, 400, " GET / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_ftp_scheme, 400, "GET ftp://a/ HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_userinfo_in_authority, 400, "GET http://u@a/ HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_asterisk_outside_options, 400, "GET * HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_connect, 501, "CONNECT a:443 HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_missing_host_http11, 400, "GET / HTTP/1.1\r\nX: a\r\n\r\n")
REQ_REJECT(rejects_two_hosts, 400, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
REQ_REJECT(rejects_two_hosts_equal, 400, "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")
REQ_REJECT(rejects_nul_in_target, 400, "GET /\0 HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_nul_in_method, 400, "GE\0 / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_nul_in_name, 400, "GET / HTTP/1.1\r\n" H "X\0: a\r\n\r\n")
REQ_REJECT(rejects_nul_in_value, 400, "GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n")
REQ_REJECT(rejects_bare_lf_request_line, 400, "GET / HTTP/1.1\n" H "\r\n")
REQ_REJECT(rejects_bare_lf_header, 400, "GET / HTTP/1.1\r\nHost: a\n\r\n")
REQ_REJECT(rejects_bare_lf_end_of_head, 400, "GET / HTTP/1.1\r\n" H "\n")
REQ_REJECT(rejects_bare_lf_everywhere, 400, "GET / HTTP/1.1\nHost: a\n\n")
REQ_REJECT(rejects_bare_lf_before_request, 400, "\nGET / HTTP/1.1\r\n" H "\r\n")
REQ_REJECT(rejects_cr_cr_lf, 400, "GET / HTTP/1.1\r\r\n" H "\r\n")
/* regression: fuzz_request crash-fce8ee60 (lone CR ended the head in loose llhttp) */
REQ_REJECT(rejects_lone_cr_head_end, 400,
           "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\rx=y\r\nhello\r\n8\r5\r\n\r\n")
REQ_REJECT(rejects_lone_cr_in_value, 400, "GET / HTTP/1.1\r\n" H "X: a\rb: c\r\n\r\n")
REQ_REJECT(rejects_expect_other, 417,
           "POST / HTTP/1.1\r\n" H "Expect: 200-ok\r\nContent-Length: 0\r\n\r\n")
REQ_REJECT(rejects_pri_preface, 505, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
/* responses */
RESP_REJECT(rejects_response_garbage, "HTTX/1.1 200 OK\r\n\r\n")
RESP_REJECT(rejects_response_bad_status, "HTTP/1.1 2000 OK\r\n\r\n")
RESP_REJECT(rejects_response_status_letters, "HTTP/1.1 2x0 OK\r\n\r\n")
RESP_REJECT(rejects_response_cl_and_te,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
RESP_REJECT(rejects_response_duplicate_cl,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")
RESP_REJECT(rejects_response_bad_cl, "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nab")
RESP_REJECT(rejects_response_obs_fold, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rejects_response_nul, "HTTP/1.1 200 OK\r\nX: a\0\r\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rejects_response_bad_chunk,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n")
RESP_REJECT(rejects_response_101,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n")
RESP_REJECT(rejects_response_bare_lf, "HTTP/1.1 200 OK\nContent-Length: 1\n\nx")
/* regression: fuzz_response crash-4602ce88 (lone CR ended the head in loose llhttp) */
RESP_REJECT(rejects_response_lone_cr_head_end, "HTTP/1.1 200 OK\r\nX: y\r\n\r 4\r\n\r\nng")
RESP_REJECT(rejects_response_nul_in_reason, "HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rejects_response_ctl_in_reason, "HTTP/1.1 200 O\001K\r\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rejects_response_cr_in_reason, "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rejects_response_cr_nul_head_end, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\0")
REQ_REJECT(rejects_empty_name_empty_value, 400, "GET / HTTP/1.1\r\n" H ":\r\n\r\n")
RESP_REJECT(rejects_response_http2, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")

static void test_feed_accepts_simple_get(void **state)
{
    (void)state;
    static const char s[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com \r\nX-Request-Id: r1\r\n"
                            "User-Agent: t\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.heads, 1);
    assert_int_equal(r.dones, 1);
    assert_int_equal(r.head.method, HTTP_GET);
    assert_int_equal(r.head.version_major, 1);
    assert_int_equal(r.head.version_minor, 1);
    assert_string_equal(r.target, "/a/b?x=1");
    assert_string_equal(r.path, "/a/b");
    assert_string_equal(r.host, "example.com");
    assert_string_equal(r.reqid, "r1");
    assert_string_equal(r.first_name, "Host");
    assert_string_equal(r.first_value, "example.com");
    assert_int_equal(r.head.n_headers, 3);
    assert_int_equal(r.head.content_length, -1);
    assert_true(r.head.keep_alive);
    assert_false(r.head.has_body);
    assert_false(r.head.chunked);
    assert_false(lv_http_parser_in_head(&p));
    lv_http_parser_fini(&p);
}

static void test_feed_byte_by_byte_same_head(void **state)
{
    (void)state;
    static const char s[] = "POST /up?q HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-A\r\n"
                            "Connection: X-B\r\nContent-Length: 5\r\nX-Long: "
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nhello";
    for (size_t step = 1; step <= 13; step++) {
        lv_http_parser_t p;
        rec_t r;
        assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, step, NULL),
                         LV_HTTP_NEED_MORE);
        assert_int_equal(r.heads, 1);
        assert_int_equal(r.dones, 1);
        assert_string_equal(r.target, "/up?q");
        assert_string_equal(r.path, "/up");
        assert_string_equal(r.host, "h");
        assert_string_equal(r.conn, "keep-alive, X-A, X-B");
        assert_int_equal(r.head.content_length, 5);
        assert_true(r.head.has_body);
        assert_int_equal(r.body_len, 5);
        assert_memory_equal(r.body, "hello", 5);
        assert_int_equal(r.head.n_headers, 5);
        lv_http_parser_fini(&p);
    }
}

static void test_feed_in_head_between_bytes(void **state)
{
    (void)state;
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    lv_http_parser_init(&p, LV_HTTP_REQUEST, &std_limits, &rec_cbs, &r);
    assert_false(lv_http_parser_in_head(&p));
    size_t used;
    assert_int_equal(lv_http_parser_feed(&p, "GET / HT", 8, &used), LV_HTTP_NEED_MORE);
    assert_int_equal(used, 8);
    assert_true(lv_http_parser_in_head(&p));
    static const char rest[] = "TP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(lv_http_parser_feed(&p, rest, sizeof(rest) - 1, &used), LV_HTTP_PAUSED);
    assert_int_equal(used, sizeof(rest) - 1);
    assert_false(lv_http_parser_in_head(&p));
    lv_http_parser_resume(&p);
    lv_http_parser_release_head(&p);
    assert_null(p.block);
    assert_int_equal(lv_http_parser_finish(&p), LV_HTTP_NEED_MORE);
    lv_http_parser_fini(&p);
}

static void test_feed_pipelined_pauses_between(void **state)
{
    (void)state;
    static const char s[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                            "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"
                            "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    lv_http_parser_init(&p, LV_HTTP_REQUEST, &std_limits, &rec_cbs, &r);
    size_t used, off = 0;
    assert_int_equal(lv_http_parser_feed(&p, s, sizeof(s) - 1, &used), LV_HTTP_PAUSED);
    assert_int_equal(used, 28);
    assert_string_equal(r.target, "/1");
    assert_int_equal(r.dones, 1);
    /* still paused: nothing more is consumed */
    assert_int_equal(lv_http_parser_feed(&p, s + used, sizeof(s) - 1 - used, &off), LV_HTTP_PAUSED);
    assert_int_equal(off, 0);
    off = used;
    lv_http_parser_resume(&p);
    assert_int_equal(lv_http_parser_feed(&p, s + off, sizeof(s) - 1 - off, &used), LV_HTTP_PAUSED);
    assert_string_equal(r.target, "/2");
    assert_int_equal(r.body_len, 2);
    off += used;
    lv_http_parser_resume(&p);
    assert_int_equal(lv_http_parser_feed(&p, s + off, sizeof(s) - 1 - off, &used), LV_HTTP_PAUSED);
    off += used;
    assert_int_equal(off, sizeof(s) - 1);
    assert_string_equal(r.target, "/3");
    assert_int_equal(r.dones, 3);
    lv_http_parser_fini(&p);
}

static void test_feed_chunked_request_dechunked(void **state)
{
    (void)state;
    static const char s[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed\r\n\r\n"
                            "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
    for (size_t step = 0; step <= 5; step++) {
        lv_http_parser_t p;
        rec_t r;
        assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, step, NULL),
                         LV_HTTP_NEED_MORE);
        assert_true(r.head.chunked);
        assert_true(r.head.has_body);
        assert_int_equal(r.head.content_length, -1);
        assert_int_equal(r.body_len, 11);
        assert_memory_equal(r.body, "hello world", 11);
        assert_int_equal(r.dones, 1);
        lv_http_parser_fini(&p);
    }
}

static void test_feed_body_spans_point_into_input(void **state)
{
    (void)state;
    static const char s[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.body_len, 3);
    lv_http_parser_fini(&p);
}

static void test_feed_header_bytes_limit_431(void **state)
{
    (void)state;
    char s[9000];
    int n = snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(s + n, 'a', 8300);
    memcpy(s + n + 8300, "\r\n\r\n", 4);
    expect_status(LV_HTTP_REQUEST, s, (size_t)n + 8304, 431);
}

static void test_feed_too_many_headers_431(void **state)
{
    (void)state;
    char s[4096];
    size_t n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < LV_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "X%d: 1\r\n", i);
    n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n");
    expect_status(LV_HTTP_REQUEST, s, n, 431);
}

static void test_feed_max_headers_accepted(void **state)
{
    (void)state;
    char s[4096];
    size_t n = (size_t)snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < LV_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "X%d: 1\r\n", i);
    n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n");
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, n, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.head.n_headers, LV_HTTP_MAX_HEADERS);
    lv_http_parser_fini(&p);
}

static void test_feed_target_limit_414(void **state)
{
    (void)state;
    char s[6000];
    int n = snprintf(s, sizeof(s), "GET /");
    memset(s + n, 'a', 4200);
    n += 4200;
    n += snprintf(s + n, sizeof(s) - (size_t)n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_status(LV_HTTP_REQUEST, s, (size_t)n, 414);
}

static void test_feed_target_longer_than_head_414(void **state)
{
    (void)state;
    static char s[20000];
    int n = snprintf(s, sizeof(s), "GET /");
    memset(s + n, 'a', 10000);
    n += 10000;
    n += snprintf(s + n, sizeof(s) - (size_t)n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_status(LV_HTTP_REQUEST, s, (size_t)n, 414);
}

static void test_feed_content_length_over_limit_413(void **state)
{
    (void)state;
    static const char s[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n";
    expect_status(LV_HTTP_REQUEST, s, sizeof(s) - 1, 413);
}

static void test_feed_chunked_over_limit_413(void **state)
{
    (void)state;
    static const char s[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
    lv_http_limits_t lim = {8192, 4096, 10};
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, &lim), LV_HTTP_ERROR);
    assert_int_equal(p.error_status, 413);
    assert_int_equal(r.heads, 1);
    lv_http_parser_fini(&p);
}

static void test_feed_trailers_bounded(void **state)
{
    (void)state;
    char s[12000];
    int n = snprintf(s, sizeof(s),
                     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "\r\n0\r\nX: ");
    memset(s + n, 'b', 9000);
    n += 9000;
    n += snprintf(s + n, sizeof(s) - (size_t)n, "\r\n\r\n");
    expect_status(LV_HTTP_REQUEST, s, (size_t)n, 431);
}

static void test_feed_http10_keep_alive_rules(void **state)
{
    (void)state;
    lv_http_parser_t p;
    rec_t r;
    static const char a[] = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, a, sizeof(a) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_false(r.head.keep_alive);
    assert_int_equal(r.head.version_minor, 0);
    assert_int_equal(r.host[0], 0);
    lv_http_parser_fini(&p);
    static const char b[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, b, sizeof(b) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_true(r.head.keep_alive);
    lv_http_parser_fini(&p);
    static const char c[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, c, sizeof(c) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_false(r.head.keep_alive);
    lv_http_parser_fini(&p);
}

static void test_feed_expect_continue(void **state)
{
    (void)state;
    static const char s[] = "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                            "Content-Length: 1\r\n\r\nz";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_true(r.head.expect_continue);
    assert_int_equal(r.head.method, HTTP_PUT);
    lv_http_parser_fini(&p);
}

static void test_feed_absolute_form_uses_authority(void **state)
{
    (void)state;
    static const char s[] = "GET HTTP://Api.Example:8080/v1/x?y HTTP/1.1\r\nHost: other\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 3, NULL), LV_HTTP_NEED_MORE);
    assert_string_equal(r.host, "Api.Example:8080");
    assert_string_equal(r.path, "/v1/x");
    lv_http_parser_fini(&p);
    static const char t[] = "GET https://a?q HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, t, sizeof(t) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_string_equal(r.path, "/");
    lv_http_parser_fini(&p);
}

static void test_feed_options_asterisk(void **state)
{
    (void)state;
    static const char s[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_string_equal(r.path, "*");
    lv_http_parser_fini(&p);
}

static void test_feed_leading_crlf_ignored(void **state)
{
    (void)state;
    static const char s[] = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 1, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.dones, 1);
    lv_http_parser_fini(&p);
}

static void test_feed_upgrade_request_stays_http(void **state)
{
    (void)state;
    static const char s[] =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\n"
        "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.dones, 2);
    assert_string_equal(r.target, "/2");
    lv_http_parser_fini(&p);
}

static void test_feed_callback_status_stops(void **state)
{
    (void)state;
    static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    r.head_rc = 429;
    lv_http_parser_init(&p, LV_HTTP_REQUEST, &std_limits, &rec_cbs, &r);
    assert_int_equal(feed_all(&p, s, sizeof(s) - 1, 0), LV_HTTP_ERROR);
    assert_int_equal(p.error_status, 429);
    assert_int_equal(r.dones, 0);
    lv_http_parser_fini(&p);

    static const char b[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab";
    memset(&r, 0, sizeof(r));
    r.body_rc = 413;
    lv_http_parser_init(&p, LV_HTTP_REQUEST, &std_limits, &rec_cbs, &r);
    assert_int_equal(feed_all(&p, b, sizeof(b) - 1, 0), LV_HTTP_ERROR);
    assert_int_equal(p.error_status, 413);
    lv_http_parser_fini(&p);
}

static void test_finish_cut_request_is_error(void **state)
{
    (void)state;
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_REQUEST,
                           "POST / HTTP/1.1\r\nHost: a\r\n"
                           "Content-Length: 5\r\n\r\nab",
                           49, 0, NULL),
                     LV_HTTP_NEED_MORE);
    assert_int_equal(lv_http_parser_finish(&p), LV_HTTP_ERROR);
    lv_http_parser_fini(&p);
}

/* responses */

static void test_feed_response_content_length(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nServer: x\r\n\r\nbody";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_RESPONSE, s, sizeof(s) - 1, 1, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.head.status, 200);
    assert_string_equal(r.reason, "OK");
    assert_int_equal(r.head.content_length, 4);
    assert_true(r.head.has_body);
    assert_true(r.head.keep_alive);
    assert_int_equal(r.body_len, 4);
    assert_int_equal(r.dones, 1);
    lv_http_parser_fini(&p);
}

static void test_feed_response_te_list_chunked(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_RESPONSE, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_true(r.head.chunked);
    assert_int_equal(r.body_len, 3);
    assert_int_equal(r.dones, 1);
    lv_http_parser_fini(&p);
}

static void test_feed_response_until_eof(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nX: y\r\n\r\nsome body";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_RESPONSE, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_true(r.head.has_body);
    assert_false(r.head.keep_alive);
    assert_int_equal(r.dones, 0);
    assert_int_equal(lv_http_parser_finish(&p), LV_HTTP_PAUSED);
    assert_int_equal(r.dones, 1);
    assert_int_equal(r.body_len, 9);
    lv_http_parser_fini(&p);
}

static void test_feed_response_cut_short(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_RESPONSE, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(lv_http_parser_finish(&p), LV_HTTP_ERROR);
    assert_int_equal(p.error_status, 502);
    lv_http_parser_fini(&p);
}

static void test_expect_no_body_head_response(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab";
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    lv_http_parser_init(&p, LV_HTTP_RESPONSE, &std_limits, &rec_cbs, &r);
    lv_http_parser_expect_no_body(&p, true);
    size_t used;
    assert_int_equal(lv_http_parser_feed(&p, s, sizeof(s) - 1, &used), LV_HTTP_PAUSED);
    assert_int_equal(r.dones, 1);
    assert_false(r.head.has_body);
    assert_true(r.head.keep_alive);
    assert_int_equal(r.head.content_length, 1000);
    lv_http_parser_resume(&p);
    size_t used2;
    assert_int_equal(lv_http_parser_feed(&p, s + used, sizeof(s) - 1 - used, &used2),
                     LV_HTTP_PAUSED);
    assert_int_equal(used + used2, sizeof(s) - 1);
    assert_int_equal(r.body_len, 2);
    assert_int_equal(r.dones, 2);
    lv_http_parser_fini(&p);
}

/* A 101 the request asked for ends the response at its head: the bytes after it are the new
 * protocol's, left unconsumed; it allows one 101, not the next response's. */
static void test_expect_switch_101_is_final(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nContent-Length: 5\r\n\r\n\x81\x02hi";
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    lv_http_parser_init(&p, LV_HTTP_RESPONSE, &std_limits, &rec_cbs, &r);
    lv_http_parser_expect_switch(&p, true);
    size_t used;
    assert_int_equal(lv_http_parser_feed(&p, s, sizeof(s) - 1, &used), LV_HTTP_PAUSED);
    assert_int_equal(used, sizeof(s) - 1 - 4);
    assert_int_equal(r.head.status, 101);
    assert_false(r.head.has_body);
    assert_false(lv_http_parser_interim(&p));
    assert_int_equal(r.dones, 1);
    assert_int_equal(r.body_len, 0);
    lv_http_parser_resume(&p);
    static const char again[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
    assert_int_equal(lv_http_parser_feed(&p, again, sizeof(again) - 1, &used), LV_HTTP_ERROR);
    assert_int_equal(p.error_status, 502);
    lv_http_parser_fini(&p);
}

static void test_feed_response_1xx_then_final(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                            "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nk";
    lv_http_parser_t p;
    rec_t r;
    memset(&r, 0, sizeof(r));
    lv_http_parser_init(&p, LV_HTTP_RESPONSE, &std_limits, &rec_cbs, &r);
    size_t used, off = 0;
    assert_int_equal(lv_http_parser_feed(&p, s, sizeof(s) - 1, &used), LV_HTTP_PAUSED);
    assert_int_equal(r.head.status, 100);
    assert_false(r.head.has_body);
    assert_int_equal(r.dones, 1);
    off = used;
    lv_http_parser_resume(&p);
    assert_int_equal(lv_http_parser_feed(&p, s + off, sizeof(s) - 1 - off, &used), LV_HTTP_PAUSED);
    assert_int_equal(r.head.status, 103);
    off += used;
    lv_http_parser_resume(&p);
    assert_int_equal(lv_http_parser_feed(&p, s + off, sizeof(s) - 1 - off, &used), LV_HTTP_PAUSED);
    assert_int_equal(r.head.status, 201);
    assert_int_equal(r.body_len, 1);
    assert_int_equal(r.dones, 3);
    lv_http_parser_fini(&p);
}

static void test_feed_response_204_304_no_body(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"
                            "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    lv_http_parser_t p;
    rec_t r;
    assert_int_equal(parse(&p, &r, LV_HTTP_RESPONSE, s, sizeof(s) - 1, 0, NULL), LV_HTTP_NEED_MORE);
    assert_int_equal(r.dones, 3);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.head.status, 200);
    assert_false(r.head.has_body);
    lv_http_parser_fini(&p);
}

/* headers.c */

static void test_is_hop_by_hop_fixed_and_listed(void **state)
{
    (void)state;
    lv_str_t none = {"", 0};
    assert_true(lv_http_is_hop_by_hop(LV_STR("Connection"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("keep-alive"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("Proxy-Connection"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("TE"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("Trailer"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("Transfer-Encoding"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("UPGRADE"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("Proxy-Authenticate"), none));
    assert_true(lv_http_is_hop_by_hop(LV_STR("Proxy-Authorization"), none));
    assert_false(lv_http_is_hop_by_hop(LV_STR("Host"), none));
    assert_false(lv_http_is_hop_by_hop(LV_STR("Content-Length"), none));
    lv_str_t conn = LV_STR("close,  X-Secret ,x-other");
    assert_true(lv_http_is_hop_by_hop(LV_STR("x-secret"), conn));
    assert_true(lv_http_is_hop_by_hop(LV_STR("X-Other"), conn));
    assert_false(lv_http_is_hop_by_hop(LV_STR("X-Secre"), conn));
    assert_false(lv_http_is_hop_by_hop(LV_STR("Accept"), conn));
}

static void test_list_has_elements(void **state)
{
    (void)state;
    assert_true(lv_http_list_has(LV_STR("keep-alive, Upgrade"), LV_STR("upgrade")));
    assert_true(lv_http_list_has(LV_STR("WebSocket"), LV_STR("websocket")));
    assert_true(lv_http_list_has(LV_STR(" a ,\tb\t"), LV_STR("b")));
    assert_false(lv_http_list_has(LV_STR("upgrades"), LV_STR("upgrade")));
    assert_false(lv_http_list_has(LV_STR("websocket/13"), LV_STR("websocket")));
    assert_false(lv_http_list_has((lv_str_t){NULL, 0}, LV_STR("upgrade")));
    assert_false(lv_http_list_has(LV_STR(",,"), LV_STR("")));
}

static void test_method_name_known_and_other(void **state)
{
    (void)state;
    assert_string_equal(lv_http_method_name(HTTP_GET), "GET");
    assert_string_equal(lv_http_method_name(HTTP_DELETE), "DELETE");
    assert_string_equal(lv_http_method_name(250), "OTHER");
}

static void test_method_idempotent_rfc9110(void **state)
{
    (void)state;
    assert_true(lv_http_method_idempotent(HTTP_GET));
    assert_true(lv_http_method_idempotent(HTTP_HEAD));
    assert_true(lv_http_method_idempotent(HTTP_PUT));
    assert_true(lv_http_method_idempotent(HTTP_DELETE));
    assert_true(lv_http_method_idempotent(HTTP_OPTIONS));
    assert_true(lv_http_method_idempotent(HTTP_TRACE));
    assert_false(lv_http_method_idempotent(HTTP_POST));
    assert_false(lv_http_method_idempotent(HTTP_PATCH));
}

static void test_str_ieq_cases(void **state)
{
    (void)state;
    assert_true(LV_HTTP_IEQ(LV_STR("Content-LENGTH"), "content-length"));
    assert_false(LV_HTTP_IEQ(LV_STR("content-lengt"), "content-length"));
    assert_false(LV_HTTP_IEQ(LV_STR("\r"), "-"));
}

#define T(name) cmocka_unit_test(test_##name)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(feed_rejects_cl_and_te),
        T(feed_rejects_te_and_cl),
        T(feed_rejects_duplicate_cl_equal),
        T(feed_rejects_duplicate_cl_different),
        T(feed_rejects_cl_list),
        T(feed_rejects_cl_plus_sign),
        T(feed_rejects_cl_minus_sign),
        T(feed_rejects_cl_inner_space),
        T(feed_rejects_cl_non_digit),
        T(feed_rejects_cl_hex),
        T(feed_rejects_cl_empty),
        T(feed_rejects_cl_overflow),
        T(feed_rejects_cl_int64_overflow),
        T(feed_rejects_te_chunked_twice_list),
        T(feed_rejects_te_chunked_twice_headers),
        T(feed_rejects_te_gzip_chunked),
        T(feed_rejects_te_identity),
        T(feed_rejects_te_chunked_gzip),
        T(feed_rejects_te_xchunked),
        T(feed_rejects_te_empty),
        T(feed_rejects_te_http10),
        T(feed_rejects_chunk_size_bad),
        T(feed_rejects_chunk_size_negative),
        T(feed_rejects_chunk_size_overflow),
        T(feed_rejects_chunk_size_space),
        T(feed_rejects_chunk_data_too_long),
        T(feed_rejects_chunk_bare_lf),
        T(feed_rejects_obs_fold_space),
        T(feed_rejects_obs_fold_tab),
        T(feed_rejects_obs_fold_first_header),
        T(feed_rejects_ctl_in_value),
        T(feed_rejects_del_in_value),
        T(feed_rejects_ctl_in_name),
        T(feed_rejects_del_in_name),
        T(feed_rejects_cr_in_value),
        T(feed_rejects_space_before_colon),
        T(feed_rejects_tab_before_colon),
        T(feed_rejects_space_in_name),
        T(feed_rejects_empty_name),
        T(feed_rejects_bad_method_char),
        T(feed_rejects_lowercase_method),
        T(feed_rejects_bad_version),
        T(feed_rejects_version_12),
        T(feed_rejects_version_20),
        T(feed_rejects_version_09),
        T(feed_rejects_lowercase_http),
        T(feed_rejects_space_in_target),
        T(feed_rejects_double_space_before_target),
        T(feed_rejects_double_space_before_version),
        T(feed_rejects_trailing_space_request_line),
        T(feed_rejects_tab_in_request_line),
        T(feed_rejects_tab_in_target),
        T(feed_rejects_ctl_in_target),
        T(feed_rejects_8bit_in_target),
        T(feed_rejects_missing_target),
        T(feed_rejects_missing_version),
        T(feed_rejects_leading_space_request_line),
        T(feed_rejects_ftp_scheme),
        T(feed_rejects_userinfo_in_authority),
        T(feed_rejects_asterisk_outside_options),
        T(feed_rejects_connect),
        T(feed_rejects_missing_host_http11),
        T(feed_rejects_two_hosts),
        T(feed_rejects_two_hosts_equal),
        T(feed_rejects_nul_in_target),
        T(feed_rejects_nul_in_method),
        T(feed_rejects_nul_in_name),
        T(feed_rejects_nul_in_value),
        T(feed_rejects_bare_lf_request_line),
        T(feed_rejects_bare_lf_header),
        T(feed_rejects_bare_lf_end_of_head),
        T(feed_rejects_bare_lf_everywhere),
        T(feed_rejects_bare_lf_before_request),
        T(feed_rejects_cr_cr_lf),
        T(feed_rejects_lone_cr_head_end),
        T(feed_rejects_lone_cr_in_value),
        T(feed_rejects_expect_other),
        T(feed_rejects_pri_preface),
        T(feed_rejects_response_garbage),
        T(feed_rejects_response_bad_status),
        T(feed_rejects_response_status_letters),
        T(feed_rejects_response_cl_and_te),
        T(feed_rejects_response_duplicate_cl),
        T(feed_rejects_response_bad_cl),
        T(feed_rejects_response_obs_fold),
        T(feed_rejects_response_nul),
        T(feed_rejects_response_bad_chunk),
        T(feed_rejects_response_101),
        T(feed_rejects_response_http2),
        T(feed_rejects_response_nul_in_reason),
        T(feed_rejects_response_ctl_in_reason),
        T(feed_rejects_response_cr_in_reason),
        T(feed_rejects_response_cr_nul_head_end),
        T(feed_rejects_empty_name_empty_value),
        T(feed_rejects_response_lone_cr_head_end),
        T(feed_rejects_response_bare_lf),
        T(feed_accepts_simple_get),
        T(feed_byte_by_byte_same_head),
        T(feed_in_head_between_bytes),
        T(feed_pipelined_pauses_between),
        T(feed_chunked_request_dechunked),
        T(feed_body_spans_point_into_input),
        T(feed_header_bytes_limit_431),
        T(feed_too_many_headers_431),
        T(feed_max_headers_accepted),
        T(feed_target_limit_414),
        T(feed_target_longer_than_head_414),
        T(feed_content_length_over_limit_413),
        T(feed_chunked_over_limit_413),
        T(feed_trailers_bounded),
        T(feed_http10_keep_alive_rules),
        T(feed_expect_continue),
        T(feed_absolute_form_uses_authority),
        T(feed_options_asterisk),
        T(feed_leading_crlf_ignored),
        T(feed_upgrade_request_stays_http),
        T(feed_callback_status_stops),
        T(finish_cut_request_is_error),
        T(feed_response_content_length),
        T(feed_response_te_list_chunked),
        T(feed_response_until_eof),
        T(feed_response_cut_short),
        T(expect_no_body_head_response),
        T(expect_switch_101_is_final),
        T(feed_response_1xx_then_final),
        T(feed_response_204_304_no_body),
        T(is_hop_by_hop_fixed_and_listed),
        T(list_has_elements),
        T(method_name_known_and_other),
        T(method_idempotent_rfc9110),
        T(str_ieq_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
