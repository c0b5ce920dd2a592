/* tests/unit/cache/test_stored.c: the stored form of a response (cache/stored.h): the head bytes
 * kept, the meta blob round trip and its validation, parsing back, the 304 merge, tags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/stored.h"

/* Sun, 06 Nov 1994 08:49:37 GMT: the RFCs' example date. */
#define D 784111777ull
#define DATE_D "Sun, 06 Nov 1994 08:49:37 GMT"

#include "heads.h"

static bool span_is(lv_str_t s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.p, want, s.len) == 0);
}

#define assert_span(s, want)                                                                       \
    do {                                                                                           \
        lv_str_t s_ = (s);                                                                         \
        if (!span_is(s_, want))                                                                    \
            print_error("span \"%.*s\" want \"%s\"\n", (int)s_.len, s_.p ? s_.p : "", want);       \
        assert_true(span_is(s_, want));                                                            \
    } while (0)

/* Builds the stored head of resp into buf (NUL-terminated for the comparisons). */
static int build(const lv_http_head_t *resp, bool add_via, char *buf, size_t cap,
                 lv_cache_stored_t *st)
{
    memset(st, 0, sizeof *st);
    int n = lv_cache_stored_head(resp, D, add_via, buf, cap - 1, st);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* ---- lv_cache_stored_head ---- */

static void test_stored_head_drops_framing_and_hop_by_hop(void **state)
{
    (void)state;
    const lv_http_head_t *r = RESP("HTTP/1.1 200 OK\n"
                                   "Server: origin\n"
                                   "Connection: keep-alive, X-Hop\n"
                                   "Keep-Alive: timeout=5\n"
                                   "X-Hop: secret\n"
                                   "Content-Type: text/html\n"
                                   "Content-Length: 5\n"
                                   "Age: 30\n"
                                   "ETag: \"v1\"\n"
                                   "Proxy-Connection: keep-alive\n"
                                   "Trailer: X-Sum\n"
                                   "Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\n"
                                   "Date: " DATE_D "\n"
                                   "x-custom: a\n"
                                   "X-Custom: b\n");
    char buf[1024];
    lv_cache_stored_t st;
    int n = build(r, false, buf, sizeof buf, &st);
    const char *want = "HTTP/1.1 200 OK\r\n"
                       "Server: origin\r\n"
                       "Content-Type: text/html\r\n"
                       "ETag: \"v1\"\r\n"
                       "Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n"
                       "Date: " DATE_D "\r\n"
                       "x-custom: a\r\n"
                       "X-Custom: b\r\n";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(st.etag_len, 4);
    assert_memory_equal(buf + st.etag_off, "\"v1\"", 4);
    assert_int_equal(st.lm_len, strlen("Sat, 05 Nov 1994 08:49:37 GMT"));
    assert_memory_equal(buf + st.lm_off, "Sat, 05 Nov 1994 08:49:37 GMT", st.lm_len);

    /* Transfer-Encoding goes too, and the status line follows the status. */
    r = RESP("HTTP/1.1 404 Not Found\n"
             "Transfer-Encoding: chunked\n"
             "Date: " DATE_D "\n");
    n = build(r, false, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 404 Not Found\r\nDate: " DATE_D "\r\n");
    assert_int_equal(st.etag_len, 0);
    assert_int_equal(st.lm_len, 0);
}

static void test_stored_head_via_and_date(void **state)
{
    (void)state;
    char buf[1024];
    lv_cache_stored_t st;
    /* An existing Via is extended (once), in place. */
    const lv_http_head_t *r = RESP("HTTP/1.1 200 OK\n"
                                   "Via: 1.0 fred\n"
                                   "Date: " DATE_D "\n");
    build(r, true, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\nVia: 1.0 fred, 1.1 levee\r\nDate: " DATE_D "\r\n");
    build(r, false, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\nVia: 1.0 fred\r\nDate: " DATE_D "\r\n");

    /* Several Via lines form one list (RFC 9110 5.3): levee goes at its end, the last line. */
    r = RESP("HTTP/1.1 200 OK\n"
             "via: 1.0 fred\n"
             "X-Between: 1\n"
             "Via: 1.1 nowhere.example\n"
             "Date: " DATE_D "\n");
    build(r, true, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
                             "via: 1.0 fred\r\n"
                             "X-Between: 1\r\n"
                             "Via: 1.1 nowhere.example, 1.1 levee\r\n"
                             "Date: " DATE_D "\r\n");

    /* No Via: one is added after the origin's fields; no Date: one from now_s. */
    r = RESP("HTTP/1.1 200 OK\n"
             "Content-Type: text/plain\n");
    build(r, true, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain\r\n"
                             "Via: 1.1 levee\r\n"
                             "Date: " DATE_D "\r\n");
    build(r, false, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: " DATE_D "\r\n");

    /* A Via named in Connection is hop-by-hop: dropped, and levee's own is added. */
    r = RESP("HTTP/1.1 200 OK\n"
             "Connection: via\n"
             "Via: 1.0 hop\n"
             "date: " DATE_D "\n");
    build(r, true, buf, sizeof buf, &st);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\ndate: " DATE_D "\r\nVia: 1.1 levee\r\n");
}

static void test_stored_head_elimit_on_small_buffer(void **state)
{
    (void)state;
    const lv_http_head_t *r = RESP("HTTP/1.1 200 OK\n"
                                   "Via: 1.0 fred\n"
                                   "ETag: \"abc\"\n"
                                   "Content-Type: text/plain\n");
    char full[512];
    lv_cache_stored_t st;
    int n = lv_cache_stored_head(r, D, true, full, sizeof full, &st);
    assert_true(n > 0);
    /* Exact-size heap buffers: ASan sees any byte written past cap. */
    for (int cap = 0; cap <= n; cap++) {
        char *b = malloc(cap ? (size_t)cap : 1);
        int rc = lv_cache_stored_head(r, D, true, b, (size_t)cap, &st);
        if (cap < n) {
            assert_int_equal(rc, LV_ELIMIT);
        } else {
            assert_int_equal(rc, n);
            assert_memory_equal(b, full, (size_t)n);
        }
        free(b);
    }
}

/* ---- meta blob ---- */

static lv_cache_stored_t sample_stored(const char *head)
{
    lv_cache_stored_t st;
    memset(&st, 0, sizeof st);
    st.m.status = 203;
    st.m.flags = LV_CACHE_M_PUBLIC | LV_CACHE_M_ETAG | LV_CACHE_M_LAST_MODIFIED;
    st.m.swr_s = 30;
    st.m.sie_s = 600;
    st.m.request_time_s = D - 2;
    st.m.response_time_s = D - 1;
    st.m.date_s = D;
    st.m.age_value_s = 7;
    st.m.last_modified_s = D - 86400;
    st.m.apparent_age_s = 1;
    st.m.corrected_age_value_s = 8;
    st.m.corrected_initial_age_s = 8;
    st.m.freshness_lifetime_s = 3600;
    st.content_length = 12345;
    const char *etag = strstr(head, "\"v1\"");
    const char *lm = strstr(head, "Sat, 05");
    assert_non_null(etag);
    assert_non_null(lm);
    st.etag_off = (uint32_t)(etag - head);
    st.etag_len = 4;
    st.lm_off = (uint32_t)(lm - head);
    st.lm_len = 29;
    st.m.n_vary = 2;
    st.m.vary[0] = S("Accept-Encoding");
    st.m.vary[1] = S("x-lang");
    return st;
}

static const char sample_head[] = "HTTP/1.1 203 OK\r\nETag: \"v1\"\r\n"
                                  "Last-Modified: Sat, 05 Nov 1994 08:49:37 GMT\r\n";

static void test_stored_encode_decode_roundtrip(void **state)
{
    (void)state;
    lv_str_t head = {sample_head, sizeof sample_head - 1};
    lv_cache_stored_t st = sample_stored(sample_head);
    char blob[1024];
    int n = lv_cache_stored_encode(&st, blob, sizeof blob);
    assert_true(n > 0);

    lv_cache_stored_t out;
    memset(&out, 0xa5, sizeof out);
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){blob, (size_t)n}, &out), 0);
    assert_int_equal(out.m.status, 203);
    assert_int_equal(out.m.flags, st.m.flags);
    assert_int_equal(out.m.swr_s, 30);
    assert_int_equal(out.m.sie_s, 600);
    assert_int_equal(out.m.request_time_s, D - 2);
    assert_int_equal(out.m.response_time_s, D - 1);
    assert_int_equal(out.m.date_s, D);
    assert_int_equal(out.m.age_value_s, 7);
    assert_int_equal(out.m.last_modified_s, D - 86400);
    assert_int_equal(out.m.apparent_age_s, 1);
    assert_int_equal(out.m.corrected_age_value_s, 8);
    assert_int_equal(out.m.corrected_initial_age_s, 8);
    assert_int_equal(out.m.freshness_lifetime_s, 3600);
    assert_int_equal(out.content_length, 12345);
    assert_false(out.marker);
    /* Spans point into the head and the blob, not at the encoder's memory. */
    assert_span(out.m.etag, "\"v1\"");
    assert_ptr_equal(out.m.etag.p, sample_head + st.etag_off);
    assert_span(out.m.last_modified, "Sat, 05 Nov 1994 08:49:37 GMT");
    assert_int_equal(out.m.n_vary, 2);
    assert_span(out.m.vary[0], "Accept-Encoding");
    assert_span(out.m.vary[1], "x-lang");
    assert_true(out.m.vary[0].p >= blob && out.m.vary[1].p < blob + n);

    /* Too small a buffer: LV_ELIMIT, for every size below the blob's. */
    for (int cap = 0; cap < n; cap++)
        assert_int_equal(lv_cache_stored_encode(&st, blob, (size_t)cap), LV_ELIMIT);
}

static void test_stored_encode_decode_marker(void **state)
{
    (void)state;
    lv_cache_stored_t st;
    memset(&st, 0, sizeof st);
    st.marker = true;
    st.content_length = -1;
    st.m.status = 200;
    st.m.n_vary = 1;
    st.m.vary[0] = S("Accept-Language");
    char blob[1024];
    int n = lv_cache_stored_encode(&st, blob, sizeof blob);
    assert_true(n > 0);
    lv_cache_stored_t out;
    assert_int_equal(lv_cache_stored_decode(S(""), (lv_str_t){blob, (size_t)n}, &out), 0);
    assert_true(out.marker);
    assert_int_equal(out.content_length, -1);
    assert_int_equal(out.m.n_vary, 1);
    assert_span(out.m.vary[0], "Accept-Language");
    assert_int_equal(out.m.etag.len, 0);
    assert_int_equal(out.m.last_modified.len, 0);

    /* No Vary at all, the most names allowed, and an empty name. */
    st.m.n_vary = 0;
    n = lv_cache_stored_encode(&st, blob, sizeof blob);
    assert_int_equal(lv_cache_stored_decode(S(""), (lv_str_t){blob, (size_t)n}, &out), 0);
    assert_int_equal(out.m.n_vary, 0);
    st.m.n_vary = LV_CACHE_VARY_MAX;
    char names[LV_CACHE_VARY_MAX][8];
    for (int i = 0; i < LV_CACHE_VARY_MAX; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        st.m.vary[i] = S(names[i]);
    }
    st.m.vary[3] = S("");
    n = lv_cache_stored_encode(&st, blob, sizeof blob);
    assert_int_equal(lv_cache_stored_decode(S(""), (lv_str_t){blob, (size_t)n}, &out), 0);
    assert_int_equal(out.m.n_vary, LV_CACHE_VARY_MAX);
    assert_span(out.m.vary[0], "v0");
    assert_span(out.m.vary[3], "");
    assert_span(out.m.vary[LV_CACHE_VARY_MAX - 1], "v7");
}

static void test_stored_decode_rejects_bad_blobs(void **state)
{
    (void)state;
    lv_str_t head = {sample_head, sizeof sample_head - 1};
    lv_cache_stored_t st = sample_stored(sample_head), out;
    char blob[1024], bad[1100];
    int n = lv_cache_stored_encode(&st, blob, sizeof blob);
    assert_true(n > 0);

    /* Empty, truncated at every length, one byte too many. */
    assert_int_equal(lv_cache_stored_decode(head, S(""), &out), LV_EINVAL);
    for (int len = 0; len < n; len++) {
        char *cut = malloc(len ? (size_t)len : 1); /* exact size: ASan sees over-reads */
        memcpy(cut, blob, (size_t)len);
        assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){cut, (size_t)len}, &out),
                         LV_EINVAL);
        free(cut);
    }
    memcpy(bad, blob, (size_t)n);
    bad[n] = '\n';
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){bad, (size_t)n + 1}, &out), LV_EINVAL);

    /* A wrong magic (the blob starts with its version's magic). */
    memcpy(bad, blob, (size_t)n);
    bad[0] ^= 0x20;
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){bad, (size_t)n}, &out), LV_EINVAL);

    /* The last Vary name lost its terminator. */
    memcpy(bad, blob, (size_t)n);
    assert_int_equal(bad[n - 1], '\n');
    bad[n - 1] = 'x';
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){bad, (size_t)n}, &out), LV_EINVAL);

    /* Offsets past the head it is decoded with. */
    lv_str_t short_head = {sample_head, st.etag_off + 3};
    assert_int_equal(lv_cache_stored_decode(short_head, (lv_str_t){blob, (size_t)n}, &out),
                     LV_EINVAL);
    lv_str_t no_lm_end = {sample_head, st.lm_off + st.lm_len - 1};
    assert_int_equal(lv_cache_stored_decode(no_lm_end, (lv_str_t){blob, (size_t)n}, &out),
                     LV_EINVAL);
    lv_cache_stored_t off = st;
    off.etag_off = UINT32_MAX;
    off.etag_len = 2; /* the sum wraps in 32 bits */
    n = lv_cache_stored_encode(&off, blob, sizeof blob);
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){blob, (size_t)n}, &out), LV_EINVAL);
    off = st;
    off.lm_off = (uint32_t)head.len;
    off.lm_len = 1;
    n = lv_cache_stored_encode(&off, blob, sizeof blob);
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){blob, (size_t)n}, &out), LV_EINVAL);
    /* Empty values at the head's end are fine. */
    off.lm_len = 0;
    n = lv_cache_stored_encode(&off, blob, sizeof blob);
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){blob, (size_t)n}, &out), 0);

    /* More Vary names than a blob may hold. */
    off = st;
    off.m.n_vary = LV_CACHE_VARY_MAX + 1;
    for (int i = 0; i < LV_CACHE_VARY_MAX; i++)
        off.m.vary[i] = S("n");
    n = lv_cache_stored_encode(&off, blob, sizeof blob);
    assert_true(n > 0);
    assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){blob, (size_t)n}, &out), LV_EINVAL);

    /* Garbage of every kind and length, all zeros. */
    uint32_t rnd = 4242;
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(i % 300);
        char *g = malloc(len ? len : 1);
        for (size_t j = 0; j < len; j++) {
            rnd = rnd * 1103515245u + 12345u;
            g[j] = (char)(rnd >> 16);
        }
        if (i % 7 == 0)
            memset(g, 0, len);
        assert_int_equal(lv_cache_stored_decode(head, (lv_str_t){g, len}, &out), LV_EINVAL);
        free(g);
    }
}

/* ---- lv_cache_stored_parse ---- */

static void test_stored_parse_built_head(void **state)
{
    (void)state;
    const lv_http_head_t *r = RESP("HTTP/1.1 301 Moved Permanently\n"
                                   "Location: /new\n"
                                   "Content-Length: 0\n"
                                   "Cache-Control: max-age=60\n"
                                   "X-Empty:\n");
    char buf[1024];
    lv_cache_stored_t st;
    int n = build(r, true, buf, sizeof buf, &st);
    assert_true(n > 0);
    lv_http_head_t h;
    lv_http_header_t hd[8];
    assert_int_equal(lv_cache_stored_parse((lv_str_t){buf, (size_t)n}, &h, hd, 8), 0);
    assert_int_equal(h.status, 301);
    assert_int_equal(h.version_major, 1);
    assert_int_equal(h.version_minor, 1);
    assert_span(h.reason, "Moved Permanently");
    assert_int_equal(h.content_length, -1);
    assert_ptr_equal(h.headers, hd);
    assert_int_equal(h.n_headers, 5);
    assert_span(hd[0].name, "Location");
    assert_span(hd[0].value, "/new");
    assert_span(hd[1].name, "Cache-Control");
    assert_span(hd[1].value, "max-age=60");
    assert_span(hd[2].name, "X-Empty");
    assert_span(hd[2].value, "");
    assert_span(hd[3].name, "Via");
    assert_span(hd[3].value, "1.1 levee");
    assert_span(hd[4].name, "Date");
    assert_span(hd[4].value, DATE_D);
    /* Exactly as many slots as lines is enough; one fewer is not. */
    assert_int_equal(lv_cache_stored_parse((lv_str_t){buf, (size_t)n}, &h, hd, 5), 0);
    assert_int_equal(lv_cache_stored_parse((lv_str_t){buf, (size_t)n}, &h, hd, 4), LV_EINVAL);

    /* No fields, and an empty reason phrase. */
    assert_int_equal(lv_cache_stored_parse(S("HTTP/1.1 204 \r\n"), &h, hd, 8), 0);
    assert_int_equal(h.status, 204);
    assert_int_equal(h.reason.len, 0);
    assert_int_equal(h.n_headers, 0);
}

static void test_stored_parse_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "HTTP/1.1 200 OK",                    /* no line end */
        "HTTP/1.0 200 OK\r\n",                /* not what levee writes */
        "HTTP/1.1 20\r\n",                    /* short status line */
        "HTTP/1.1 200 OK\n",                  /* bare LF */
        "HTTP/1.1 200 OK\r\nX-A: 1",          /* unterminated field line */
        "HTTP/1.1 200 OK\r\nNoColon\r\n",     /* no colon */
        "HTTP/1.1 200 OK\r\nX-A:\r\n",        /* no ": " */
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nB\r\n", /* a bad line after a good one */
        "HTTP/1.1 200 OK\r\nX-A: 1\n",        /* bare LF on a field line */
    };
    lv_http_head_t h;
    lv_http_header_t hd[4];
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++) {
        size_t len = strlen(bad[i]);
        char *b = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
        memcpy(b, bad[i], len);
        int rc = lv_cache_stored_parse((lv_str_t){b, len}, &h, hd, LV_ARRAY_LEN(hd));
        if (rc != LV_EINVAL)
            print_error("case %zu accepted\n", i);
        assert_int_equal(rc, LV_EINVAL);
        free(b);
    }
}

/* ---- lv_cache_stored_merge ---- */

static lv_http_head_t g_stored;
static lv_http_header_t g_stored_hd[16];
static char g_stored_buf[1024];

/* The stored head of resp, built and parsed back as the cache does before a merge. */
static const lv_http_head_t *stored_of(const char *resp_text)
{
    lv_cache_stored_t st;
    int n = build(RESP(resp_text), false, g_stored_buf, sizeof g_stored_buf, &st);
    assert_true(n > 0);
    assert_int_equal(lv_cache_stored_parse((lv_str_t){g_stored_buf, (size_t)n}, &g_stored,
                                           g_stored_hd, LV_ARRAY_LEN(g_stored_hd)),
                     0);
    return &g_stored;
}

static void assert_fields(const lv_http_head_t *h, const char *const *want, size_t n)
{
    for (uint32_t i = 0; i < h->n_headers; i++)
        print_message("  %.*s: %.*s\n", (int)h->headers[i].name.len, h->headers[i].name.p,
                      (int)h->headers[i].value.len, h->headers[i].value.p);
    assert_int_equal(h->n_headers, n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        assert_span(h->headers[i].name, want[2 * i]);
        assert_span(h->headers[i].value, want[2 * i + 1]);
    }
}

static void test_stored_merge_304(void **state)
{
    (void)state;
    const lv_http_head_t *stored = stored_of("HTTP/1.1 200 OK\n"
                                             "Content-Type: text/html\n"
                                             "ETag: \"v1\"\n"
                                             "Link: </a>\n"
                                             "Cache-Control: max-age=60\n"
                                             "link: </b>\n"
                                             "X-Hop: stored\n"
                                             "X-Keep: 1\n"
                                             "Content-Length: 10\n"
                                             "Date: " DATE_D "\n");
    const lv_http_head_t *nm = RESP("HTTP/1.1 304 Not Modified\n"
                                    "etag: \"v2\"\n"
                                    "CACHE-CONTROL: max-age=120\n"
                                    "Date: Mon, 07 Nov 1994 08:49:37 GMT\n"
                                    "Content-Length: 99\n"
                                    "Age: 5\n"
                                    "Connection: X-Hop\n"
                                    "X-Hop: new\n"
                                    "Keep-Alive: timeout=1\n"
                                    "LINK: </c>\n");
    lv_http_head_t out;
    lv_http_header_t hd[16];
    assert_int_equal(lv_cache_stored_merge(stored, nm, &out, hd, LV_ARRAY_LEN(hd)), 0);
    assert_int_equal(out.status, 200);
    assert_span(out.reason, "OK");
    assert_ptr_equal(out.headers, hd);
    assert_int_equal(out.connection.len, 0);
    static const char *const want[] = {
        "Content-Type",  "text/html", /* kept, in stored order */
        "X-Hop",         "stored",    /* the 304's X-Hop is hop-by-hop: neither taken nor used */
        "X-Keep",        "1",         /* */
        "etag",          "\"v2\"",    /* then the 304's fields, in its order */
        "CACHE-CONTROL", "max-age=120", "Date", "Mon, 07 Nov 1994 08:49:37 GMT",
        "LINK",          "</c>", /* both stored Link lines replaced */
    };
    assert_fields(&out, want, LV_ARRAY_LEN(want));

    /* Transfer-Encoding in a 304 is not taken either. */
    nm = RESP("HTTP/1.1 304 Not Modified\n"
              "Transfer-Encoding: chunked\n"
              "X-New: yes\n");
    assert_int_equal(lv_cache_stored_merge(stored, nm, &out, hd, LV_ARRAY_LEN(hd)), 0);
    assert_int_equal(out.n_headers, stored->n_headers + 1);
    assert_span(out.headers[out.n_headers - 1].name, "X-New");
    for (uint32_t i = 0; i < out.n_headers; i++) {
        assert_false(LV_HTTP_IEQ(out.headers[i].name, "transfer-encoding"));
        assert_false(LV_HTTP_IEQ(out.headers[i].name, "content-length"));
    }
}

static void test_stored_merge_names_compare_by_case_only(void **state)
{
    (void)state;
    /* '^' (0x5e) and '~' (0x7e) differ by the ASCII case bit but are not letters. */
    const lv_http_head_t *stored = stored_of("HTTP/1.1 200 OK\n"
                                             "X-A^: old\n"
                                             "X-B: old\n");
    const lv_http_head_t *nm = RESP("HTTP/1.1 304 Not Modified\n"
                                    "x-a~: new\n"
                                    "x-b: new\n");
    lv_http_head_t out;
    lv_http_header_t hd[16];
    assert_int_equal(lv_cache_stored_merge(stored, nm, &out, hd, LV_ARRAY_LEN(hd)), 0);
    static const char *const want[] = {
        "X-A^", "old", "Date", DATE_D, "x-a~", "new", "x-b", "new",
    };
    assert_fields(&out, want, LV_ARRAY_LEN(want));
}

static void test_stored_merge_elimit(void **state)
{
    (void)state;
    const lv_http_head_t *stored = stored_of("HTTP/1.1 200 OK\n"
                                             "A: 1\n"
                                             "B: 2\n"
                                             "Date: " DATE_D "\n");
    const lv_http_head_t *nm = RESP("HTTP/1.1 304 Not Modified\n"
                                    "b: 3\n"
                                    "C: 4\n"
                                    "Age: 1\n");
    lv_http_head_t out;
    lv_http_header_t hd[4];
    /* Kept from stored: A, Date; from the 304: b, C. */
    assert_int_equal(lv_cache_stored_merge(stored, nm, &out, hd, 4), 0);
    assert_int_equal(out.n_headers, 4);
    for (size_t cap = 0; cap < 4; cap++)
        assert_int_equal(lv_cache_stored_merge(stored, nm, &out, hd, cap), LV_ELIMIT);
}

/* ---- tags ---- */

static void assert_tags(const lv_http_head_t *h, size_t cap, const char *const *want, size_t n)
{
    lv_str_t tags[LV_CACHE_TAGS_MAX + 8];
    assert_true(cap <= LV_ARRAY_LEN(tags));
    size_t got = lv_cache_stored_tags(h, tags, cap);
    for (size_t i = 0; i < got; i++)
        print_message("  tag \"%.*s\"\n", (int)tags[i].len, tags[i].p);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        assert_span(tags[i], want[i]);
}

static void test_stored_tags(void **state)
{
    (void)state;
    static const char *const abc[] = {"a", "b", "c"};
    assert_tags(RESP("HTTP/1.1 200 OK\nSurrogate-Key: a b  c\n"), LV_CACHE_TAGS_MAX, abc, 3);
    assert_tags(RESP("HTTP/1.1 200 OK\nsurrogate-key: a\tb \t c\n"), LV_CACHE_TAGS_MAX, abc, 3);

    static const char *const xyz[] = {"x", "y", "z"};
    assert_tags(RESP("HTTP/1.1 200 OK\nCache-Tag: x, y,z\n"), LV_CACHE_TAGS_MAX, xyz, 3);
    assert_tags(RESP("HTTP/1.1 200 OK\nCACHE-TAG: ,x,, y ,z,\n"), LV_CACHE_TAGS_MAX, xyz, 3);

    /* Both, in field order; several lines; other fields ignored. */
    static const char *const both[] = {"x", "y/1", "a", "b", "z"};
    assert_tags(RESP("HTTP/1.1 200 OK\n"
                     "Cache-Tag: x, y/1\n"
                     "X-Tags: nope\n"
                     "Surrogate-Key: a b\n"
                     "Cache-Tag: z\n"),
                LV_CACHE_TAGS_MAX, both, 5);

    /* None, or empty values. */
    assert_tags(RESP("HTTP/1.1 200 OK\nContent-Type: text/plain\n"), LV_CACHE_TAGS_MAX, NULL, 0);
    assert_tags(RESP("HTTP/1.1 200 OK\nSurrogate-Key:\nCache-Tag: , ,\n"), LV_CACHE_TAGS_MAX, NULL,
                0);
}

static void test_stored_tags_capped(void **state)
{
    (void)state;
    /* 20 members across both fields: the first LV_CACHE_TAGS_MAX are kept. */
    const lv_http_head_t *h = RESP("HTTP/1.1 200 OK\n"
                                   "Surrogate-Key: t0 t1 t2 t3 t4 t5 t6 t7 t8 t9\n"
                                   "Cache-Tag: t10,t11,t12,t13,t14,t15,t16,t17,t18,t19\n");
    static const char *const first[] = {"t0",  "t1",  "t2",  "t3",  "t4",  "t5",  "t6",
                                        "t7",  "t8",  "t9",  "t10", "t11", "t12", "t13",
                                        "t14", "t15", "t16", "t17", "t18", "t19"};
    assert_int_equal(LV_CACHE_TAGS_MAX, 16);
    assert_tags(h, LV_CACHE_TAGS_MAX, first, LV_CACHE_TAGS_MAX);
    assert_tags(h, 3, first, 3);
    assert_tags(h, 12, first, 12); /* the cap falls inside the second field */
    assert_tags(h, 0, first, 0);
}

#define T(f) cmocka_unit_test_teardown(test_##f, msgs_free)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(stored_head_drops_framing_and_hop_by_hop),
        T(stored_head_via_and_date),
        T(stored_head_elimit_on_small_buffer),
        T(stored_encode_decode_roundtrip),
        T(stored_encode_decode_marker),
        T(stored_decode_rejects_bad_blobs),
        T(stored_parse_built_head),
        T(stored_parse_rejects_malformed),
        T(stored_merge_304),
        T(stored_merge_names_compare_by_case_only),
        T(stored_merge_elimit),
        T(stored_tags),
        T(stored_tags_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
