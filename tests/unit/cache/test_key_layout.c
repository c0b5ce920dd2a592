/* tests/unit/cache/test_key_layout.c: the cache key layout of cache/key.h over real parsed
 * requests: primary keys, route extra parts (headers, cookies), admin URLs, purge of variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/key.h"
#include "heads.h"

/* ---- real requests from raw text, through the real parser (heads.h) ---- */

static const lv_http_head_t *try_req(const char *text)
{
    return try_parse_head(LV_HTTP_REQUEST, text);
}

static const lv_http_head_t *req(const char *text)
{
    return parse_head(LV_HTTP_REQUEST, text);
}

static void assert_key(const char *got, int len, const char *want, size_t want_len)
{
    if (len < 0 || (size_t)len != want_len || memcmp(got, want, want_len) != 0) {
        print_error("key (%d bytes): ", len);
        for (int i = 0; i < len; i++)
            print_error((unsigned char)got[i] < 0x20 ? "\\x%02x" : "%c", (unsigned char)got[i]);
        print_error("\n");
    }
    assert_int_equal(len, (int)want_len);
    assert_memory_equal(got, want, want_len);
}
/* want is a string literal: its length includes every control byte. */
#define ASSERT_KEY(got, len, want) assert_key((got), (len), (want), sizeof(want) - 1)

/* The full key of a request for the route's parts: primary + extra parts. */
static int full_key(const lv_http_head_t *h, const lv_cache_key_part_t *parts, size_t n_parts,
                    char *buf, size_t cap)
{
    int n = lv_cache_key_primary(buf, cap, h->host, h->target);
    assert_true(n > 0);
    return lv_cache_key_extra(buf, (size_t)n, cap, parts, n_parts, h);
}

static char hdr_tenant[] = "x-tenant", cookie_lang[] = "lang";
static const lv_cache_key_part_t tenant_and_lang[2] = {
    {LV_CACHE_KEY_HEADER, hdr_tenant, sizeof hdr_tenant - 1},
    {LV_CACHE_KEY_COOKIE, cookie_lang, sizeof cookie_lang - 1},
};

/* ---- primary ---- */

static void test_key_primary_lowercases_host_only(void **state)
{
    (void)state;
    const lv_http_head_t *h = req("GET /Path/To?Q=AbC HTTP/1.1\n"
                                  "Host: WWW.Ex-1.COM:8080\n");
    char k[128];
    int n = lv_cache_key_primary(k, sizeof k, h->host, h->target);
    ASSERT_KEY(k, n, "www.ex-1.com:8080/Path/To?Q=AbC");

    /* Exact-size heap buffers: LV_ELIMIT below the key's length, nothing written past cap. */
    for (int cap = 0; cap <= n; cap++) {
        char *b = malloc(cap ? (size_t)cap : 1);
        int rc = lv_cache_key_primary(b, (size_t)cap, h->host, h->target);
        if (cap < n) {
            assert_int_equal(rc, LV_ELIMIT);
        } else {
            ASSERT_KEY(b, rc, "www.ex-1.com:8080/Path/To?Q=AbC");
        }
        free(b);
    }
}

/* ---- extra parts ---- */

static void test_key_extra_header_and_cookie(void **state)
{
    (void)state;
    const lv_http_head_t *h = req("GET /p HTTP/1.1\n"
                                  "Host: h\n"
                                  "X-TENANT: acme\n"
                                  "Cookie: a=1; lang=fr\n");
    char k[128];
    ASSERT_KEY(k, full_key(h, tenant_and_lang, 2, k, sizeof k),
               "h/p\x1e"
               "acme\x1e"
               "fr\x1e");
    /* No parts: the primary key alone. */
    ASSERT_KEY(k, full_key(h, tenant_and_lang, 0, k, sizeof k), "h/p");
    /* Order follows the route's parts. */
    const lv_cache_key_part_t swapped[2] = {tenant_and_lang[1], tenant_and_lang[0]};
    ASSERT_KEY(k, full_key(h, swapped, 2, k, sizeof k),
               "h/p\x1e"
               "fr\x1e"
               "acme\x1e");
}

/* A header sent on several lines: every line goes into the key, joined by "," (RFC 9110 5.3),
 * so two requests that differ only in a later line never share an entry. */
static void test_key_extra_repeated_header_lines(void **state)
{
    (void)state;
    char k[128], k2[128];
    const lv_http_head_t *h = req("GET /p HTTP/1.1\n"
                                  "Host: h\n"
                                  "X-Tenant: acme\n"
                                  "X-Other: 1\n"
                                  "x-tenant: evil\n");
    int n1 = full_key(h, tenant_and_lang, 1, k, sizeof k);
    ASSERT_KEY(k, n1,
               "h/p\x1e"
               "acme,evil\x1e");
    const lv_http_head_t *h2 = req("GET /p HTTP/1.1\n"
                                   "Host: h\n"
                                   "X-Tenant: acme\n");
    int n2 = full_key(h2, tenant_and_lang, 1, k2, sizeof k2);
    assert_true(n2 > 0);
    assert_false(n1 == n2 && memcmp(k, k2, (size_t)n2) == 0);
}

static void test_key_cookie_value_rules(void **state)
{
    (void)state;
    static const struct {
        const char *cookies; /* Cookie lines, each ending in "\n" */
        const char *name;
        const char *want; /* NULL: absent */
    } cases[] = {
        {"Cookie: lang=fr\n", "lang", "fr"},
        {"Cookie: lang=fr; lang=de\n", "lang", "fr"}, /* the first one */
        {"Cookie: a=1\nCookie: b=2; lang=en\nCookie: lang=xx\n", "lang", "en"},
        {"Cookie: a=1\nX-Other: lang=no\nCookie: lang=en\n", "lang", "en"},
        {"cookie: lang=en\n", "lang", "en"},
        {"Cookie: a=1 ;   lang=fr  ;b=2\n", "lang", "fr"}, /* spaces around pairs */
        {"Cookie: a=1;lang=fr\t;b=2\n", "lang", "fr"},
        {"Cookie: langx=1; xlang=2; lang=3\n", "lang", "3"}, /* names that contain it */
        {"Cookie: langx=1; xlang=2; lang=3\n", "langx", "1"},
        {"Cookie: langx=1; xlang=2\n", "lang", NULL},
        {"Cookie: lang=3\n", "lan", NULL},   /* a prefix of a cookie's name */
        {"Cookie: Lang=fr\n", "lang", NULL}, /* cookie names are case-sensitive */
        {"Cookie: lang=a=b; c=d\n", "lang", "a=b"},
        {"Cookie: flag; lang=fr\n", "lang", "fr"}, /* a pair without '=' */
        {"Cookie: lang\n", "lang", NULL},
        {"Cookie: lang=\n", "lang", ""},
        {"Cookie: lang=; a=1\n", "lang", ""},
        {"Cookie: a=1\n", "lang", NULL},
        {"X-Cookie: lang=fr\n", "lang", NULL},
        {"", "lang", NULL},
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(cases); i++) {
        char text[256];
        snprintf(text, sizeof text, "GET / HTTP/1.1\nHost: h\n%s", cases[i].cookies);
        const lv_http_head_t *h = req(text);
        lv_str_t v = lv_http_cookie_value(h, cases[i].name, strlen(cases[i].name));
        bool ok = cases[i].want ? v.p && v.len == strlen(cases[i].want) &&
                                      memcmp(v.p, cases[i].want, v.len) == 0
                                : v.p == NULL && v.len == 0;
        if (!ok)
            print_error("case %zu (%s): got \"%.*s\" (%s)\n", i, cases[i].name, (int)v.len,
                        v.p ? v.p : "", v.p ? "present" : "absent");
        assert_true(ok);
        msgs_free(NULL);
    }
}

/* key.h: "an absent header or cookie adds an empty value", so absent and present-but-empty
 * give the same key (unlike Vary, where they differ). */
static void test_key_extra_absent_adds_empty_value(void **state)
{
    (void)state;
    char absent[128], empty[128];
    const lv_http_head_t *h = req("GET /p HTTP/1.1\nHost: h\n");
    int n = full_key(h, tenant_and_lang, 2, absent, sizeof absent);
    ASSERT_KEY(absent, n, "h/p\x1e\x1e\x1e");
    h = req("GET /p HTTP/1.1\nHost: h\nX-Tenant:\nCookie: lang=\n");
    ASSERT_KEY(empty, full_key(h, tenant_and_lang, 2, empty, sizeof empty), "h/p\x1e\x1e\x1e");
    /* ...but a route with parts never shares a key with one without, nor with another URL. */
    h = req("GET /p HTTP/1.1\nHost: h\nX-Tenant: acme\n");
    ASSERT_KEY(absent, full_key(h, tenant_and_lang, 2, absent, sizeof absent),
               "h/p\x1e"
               "acme\x1e\x1e");
}

static void test_key_extra_segments_stay_apart(void **state)
{
    (void)state;
    /* Moving bytes from one part to the next changes the key. */
    static const char *const reqs[] = {
        "GET /p HTTP/1.1\nHost: h\nX-Tenant: ab\n",
        "GET /p HTTP/1.1\nHost: h\nX-Tenant: a\nCookie: lang=b\n",
        "GET /p HTTP/1.1\nHost: h\nCookie: lang=ab\n",
        "GET /p HTTP/1.1\nHost: h\nX-Tenant: a\n",
        "GET /p HTTP/1.1\nHost: h\nCookie: lang=a\n",
        "GET /pa HTTP/1.1\nHost: h\n",
        "GET /p HTTP/1.1\nHost: ha\n",
    };
    char keys[LV_ARRAY_LEN(reqs)][128];
    int lens[LV_ARRAY_LEN(reqs)];
    for (size_t i = 0; i < LV_ARRAY_LEN(reqs); i++)
        lens[i] = full_key(req(reqs[i]), tenant_and_lang, 2, keys[i], sizeof keys[i]);
    for (size_t i = 0; i < LV_ARRAY_LEN(reqs); i++)
        for (size_t j = i + 1; j < LV_ARRAY_LEN(reqs); j++)
            assert_false(lens[i] == lens[j] && memcmp(keys[i], keys[j], (size_t)lens[i]) == 0);

    /* The separators cannot be smuggled in: the parser refuses them in every part. */
    assert_null(try_req("GET /p\x1e HTTP/1.1\nHost: h\n"));
    assert_null(try_req("GET /p HTTP/1.1\nHost: h\x1e\n"));
    assert_null(try_req("GET /p HTTP/1.1\nHost: h\nX-Tenant: a\x1e"
                        "b\n"));
    assert_null(try_req("GET /p HTTP/1.1\nHost: h\nCookie: lang=a\x1f\n"));
}

static void test_key_extra_elimit(void **state)
{
    (void)state;
    const lv_http_head_t *h = req("GET /p HTTP/1.1\nHost: h\nX-Tenant: acme\nCookie: lang=fr\n");
    char full[128];
    int n = full_key(h, tenant_and_lang, 2, full, sizeof full);
    assert_int_equal(n, 12);
    /* From the primary's length (3) up: every cap below the full key fails, none overflows. */
    for (int cap = 3; cap <= n; cap++) {
        char *b = malloc((size_t)cap);
        memcpy(b, "h/p", 3);
        int rc = lv_cache_key_extra(b, 3, (size_t)cap, tenant_and_lang, 2, h);
        if (cap < n) {
            assert_int_equal(rc, LV_ELIMIT);
        } else {
            assert_key(b, rc, full, (size_t)n);
        }
        free(b);
    }
}

/* ---- admin URLs ---- */

static void test_key_from_url(void **state)
{
    (void)state;
    static const struct {
        const char *url, *want; /* want NULL: LV_EINVAL */
    } cases[] = {
        {"http://Example.COM/Path?Q=1", "example.com/Path?Q=1"},
        {"https://example.com/p", "example.com/p"},
        {"Example.com/P", "example.com/P"},
        {"HTTP://Example.com/p", "example.com/p"}, /* schemes are case-insensitive */
        {"Https://h/p", "h/p"},
        {"h:8080/", "h:8080/"},
        {"h/a?x=/y&z", "h/a?x=/y&z"},
        {"h//x", "h//x"},
        {"", NULL},
        {"h", NULL}, /* no path */
        {"http://h", NULL},
        {"https://", NULL},
        {"http:///p", NULL}, /* no host */
        {"/p", NULL},
        {"h/a b", NULL}, /* spaces and control bytes, anywhere */
        {"h /a", NULL},
        {"h/a\tb", NULL},
        {"h/\x01", NULL},
        {"h/\x7f", NULL},
        {"h\x1e/a", NULL},
        {"h/a\x1f", NULL},
        {"http://h/p\r\n", NULL},
    };
    char k[128];
    for (size_t i = 0; i < LV_ARRAY_LEN(cases); i++) {
        int n = lv_cache_key_from_url(k, sizeof k, cases[i].url, strlen(cases[i].url));
        if (!cases[i].want) {
            if (n != LV_EINVAL)
                print_error("case %zu \"%s\": %d\n", i, cases[i].url, n);
            assert_int_equal(n, LV_EINVAL);
        } else {
            assert_key(k, n, cases[i].want, strlen(cases[i].want));
        }
    }
    /* The bytes after a NUL in the given length count too. */
    assert_int_equal(lv_cache_key_from_url(k, sizeof k, "h/a\0b", 5), LV_EINVAL);
    /* Too small a buffer. */
    assert_int_equal(lv_cache_key_from_url(k, 4, "http://host/x", 13), LV_ELIMIT);
    assert_int_equal(lv_cache_key_from_url(k, 6, "http://host/x", 13), 6);

    /* The same key as the request the URL names. */
    const lv_http_head_t *h = req("GET /a/B?c=D HTTP/1.1\nHost: WWW.Example.com\n");
    char rk[128];
    int rn = lv_cache_key_primary(rk, sizeof rk, h->host, h->target);
    assert_key(k, lv_cache_key_from_url(k, sizeof k, "https://www.example.COM/a/B?c=D", 31), rk,
               (size_t)rn);
}

/* ---- purge of a URL with its variants, on a real store ---- */

static void put(lv_cache_store_t *s, const char *key, size_t len)
{
    lv_cache_entry_spec_t spec = {.key = {key, len}, .head = LV_STR("HTTP/1.1 200 OK\r\n")};
    lv_cache_entry_t *e = lv_cache_entry_new(s, &spec);
    assert_non_null(e);
    assert_int_equal(lv_cache_store_insert(s, e), 0);
    lv_cache_entry_finish(e);
    lv_cache_entry_unref(e);
}
#define PUT(s, lit) put((s), (lit), sizeof(lit) - 1)

static bool present(lv_cache_store_t *s, const char *key, size_t len)
{
    lv_cache_entry_t *e = lv_cache_store_lookup(s, key, len);
    lv_cache_entry_unref(e);
    return e != NULL;
}
#define PRESENT(s, lit) present((s), (lit), sizeof(lit) - 1)

static void test_key_purge_url_with_variants(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 4};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_non_null(s);
    /* The URL, its route-part variants, its Vary variants (with and without parts)... */
    PUT(s, "host/a");
    PUT(s, "host/a\x1e"
           "x\x1e");
    PUT(s, "host/a\x1e"
           "y\x1e\x1e");
    PUT(s, "host/a\x1f"
           "=gzip\n");
    PUT(s, "host/a\x1e"
           "x\x1e\x1f"
           "!\n");
    /* ...and keys it is a prefix of, which are other URLs. */
    PUT(s, "host/ab");
    PUT(s, "host/ab\x1e"
           "x\x1e");
    PUT(s, "host/ab\x1f"
           "=gzip\n");
    PUT(s, "host/a?x");
    PUT(s, "host/a/b");
    PUT(s, "other/a");

    char k[64];
    int n = lv_cache_key_from_url(k, sizeof k, "http://HOST/a", 13);
    ASSERT_KEY(k, n, "host/a");
    assert_int_equal(lv_cache_key_purge_url(s, k, (size_t)n), 5);
    assert_false(PRESENT(s, "host/a"));
    assert_false(PRESENT(s, "host/a\x1e"
                            "x\x1e"));
    assert_false(PRESENT(s, "host/a\x1f"
                            "=gzip\n"));
    assert_true(PRESENT(s, "host/ab"));
    assert_true(PRESENT(s, "host/ab\x1e"
                           "x\x1e"));
    assert_true(PRESENT(s, "host/ab\x1f"
                           "=gzip\n"));
    assert_true(PRESENT(s, "host/a?x"));
    assert_true(PRESENT(s, "host/a/b"));
    assert_true(PRESENT(s, "other/a"));
    /* Again: nothing left to purge. */
    assert_int_equal(lv_cache_key_purge_url(s, k, (size_t)n), 0);

    /* Only variants, no plain entry (a Vary marker may have gone first). */
    PUT(s, "host/v\x1f"
           "=br\n");
    assert_int_equal(lv_cache_key_purge_url(s, "host/v", 6), 1);
    assert_int_equal(lv_cache_key_purge_url(s, "host/a?x", 8), 1);
    assert_true(PRESENT(s, "host/ab"));

    /* A key longer than any cache key purges nothing. */
    static char longkey[LV_CACHE_KEY_MAX + 2];
    memset(longkey, 'a', sizeof longkey);
    assert_int_equal(lv_cache_key_purge_url(s, longkey, sizeof longkey), 0);

    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 5);
    lv_cache_store_free(s);
}

#define T(f) cmocka_unit_test_teardown(test_##f, msgs_free)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(key_primary_lowercases_host_only),
        T(key_extra_header_and_cookie),
        T(key_extra_repeated_header_lines),
        T(key_cookie_value_rules),
        T(key_extra_absent_adds_empty_value),
        T(key_extra_segments_stay_apart),
        T(key_extra_elimit),
        T(key_from_url),
        T(key_purge_url_with_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
