/* tests/unit/cache/test_key.c: cache keys (src/cache/key.c) over heads from the real parser:
 * primary keys must be injective (fuzz_cache finding), admin URLs, route parts and cookies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/key.h"

typedef struct msg {
    lv_http_parser_t p;
    lv_http_head_t *head;
} msg_t;

static msg_t g_msgs[4];
static int g_n_msgs;

static int msg_on_head(void *owner, lv_http_head_t *h)
{
    ((msg_t *)owner)->head = h;
    return 0;
}

static const lv_http_parser_cbs_t msg_cbs = {msg_on_head, NULL, NULL};
static const lv_http_limits_t msg_limits = {8192, 4096, 0};

/* Parses a raw request head (CRLFs included); valid until the test's teardown. */
static const lv_http_head_t *req(const char *raw)
{
    assert_true(g_n_msgs < (int)LV_ARRAY_LEN(g_msgs));
    msg_t *m = &g_msgs[g_n_msgs++];
    m->head = NULL;
    lv_http_parser_init(&m->p, LV_HTTP_REQUEST, &msg_limits, &msg_cbs, m);
    size_t used = 0;
    assert_int_not_equal(lv_http_parser_feed(&m->p, raw, strlen(raw), &used), LV_HTTP_ERROR);
    assert_non_null(m->head);
    return m->head;
}

static int msgs_free(void **state)
{
    (void)state;
    for (int i = 0; i < g_n_msgs; i++)
        lv_http_parser_fini(&g_msgs[i].p);
    g_n_msgs = 0;
    return 0;
}

static int primary(const lv_http_head_t *h, char *buf, size_t cap)
{
    return lv_cache_key_primary(buf, cap, h->host, h->target);
}

static void test_primary_origin_form(void **state)
{
    (void)state;
    char k[64];
    const lv_http_head_t *h = req("GET /a/b?c=D HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n");
    int n = primary(h, k, sizeof(k));
    assert_int_equal(n, 24);
    assert_memory_equal(k, "example.com:8080/a/b?c=D", 24);
    assert_int_equal(primary(h, k, 23), LV_ELIMIT);
}

/* fuzz_cache: "Host: victim.com/x" + "/y" gave the key of "Host: victim.com" + "/x/y", so a
 * client could store what the origin answers for one under the other's key. */
static void test_primary_host_with_slash_refused(void **state)
{
    (void)state;
    char a[64], b[64];
    /* The parser refuses such a Host (400); the key must refuse it
     * on its own too, so the evil head is made by hand. */
    const lv_http_head_t *good = req("GET /x/y HTTP/1.1\r\nHost: victim.com\r\n\r\n");
    lv_http_head_t evil_head = *req("GET /y HTTP/1.1\r\nHost: victim.com\r\n\r\n");
    evil_head.host = LV_STR("victim.com/x");
    const lv_http_head_t *evil = &evil_head;
    assert_int_equal(primary(good, b, sizeof(b)), 14);
    assert_memory_equal(b, "victim.com/x/y", 14);
    assert_int_equal(primary(evil, a, sizeof(a)), LV_EINVAL);
}

/* The same with an absolute-form target: "victim.com" + "http://victim.com/x" equalled
 * "victim.comhttp:" + "//victim.com/x". Only origin-form targets get a key. */
static void test_primary_absolute_form_refused(void **state)
{
    (void)state;
    char a[64], b[64];
    const lv_http_head_t *abs = req("GET http://victim.com/x HTTP/1.1\r\nHost: victim.com\r\n\r\n");
    const lv_http_head_t *odd = req("GET //victim.com/x HTTP/1.1\r\nHost: victim.comhttp:\r\n\r\n");
    assert_int_equal(primary(abs, a, sizeof(a)), LV_EINVAL);
    int n = primary(odd, b, sizeof(b));
    assert_int_equal(n, 29);
    assert_memory_equal(b, "victim.comhttp://victim.com/x", 29);
    assert_int_equal(lv_cache_key_primary(a, sizeof(a), LV_STR("a"), LV_STR("")), LV_EINVAL);
}

static void test_from_url_matches_request_key(void **state)
{
    (void)state;
    char k[64], u[64];
    const lv_http_head_t *h = req("GET /p?q=1 HTTP/1.1\r\nHost: Example.com\r\n\r\n");
    int n = primary(h, k, sizeof(k));
    assert_int_equal(n, 17);
    static const char *const urls[] = {"http://EXAMPLE.com/p?q=1", "https://example.com/p?q=1",
                                       "example.com/p?q=1"};
    for (size_t i = 0; i < LV_ARRAY_LEN(urls); i++) {
        assert_int_equal(lv_cache_key_from_url(u, sizeof(u), urls[i], strlen(urls[i])), n);
        assert_memory_equal(u, k, (size_t)n);
    }
    assert_int_equal(lv_cache_key_from_url(u, sizeof(u), "http:///p", 9), LV_EINVAL);
    assert_int_equal(lv_cache_key_from_url(u, sizeof(u), "host", 4), LV_EINVAL);
    assert_int_equal(lv_cache_key_from_url(u, sizeof(u), "h/a b", 5), LV_EINVAL);
    assert_int_equal(lv_cache_key_from_url(u, 3, "host/x", 6), LV_ELIMIT);
}

static void test_extra_parts_and_cookies(void **state)
{
    (void)state;
    const lv_http_head_t *h = req("GET /cart HTTP/1.1\r\nHost: shop\r\n"
                                  "Cookie: session=abc; lang=de \r\nX-Tenant: acme\r\n\r\n");
    lv_str_t v = lv_http_cookie_value(h, "lang", 4);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.p, "de", 2);
    assert_null(lv_http_cookie_value(h, "lan", 3).p);

    lv_cache_key_part_t parts[3] = {{LV_CACHE_KEY_HEADER, "x-tenant", 8},
                                    {LV_CACHE_KEY_COOKIE, "session", 7},
                                    {LV_CACHE_KEY_COOKIE, "absent", 6}};
    char k[64];
    int n = primary(h, k, sizeof(k));
    assert_int_equal(n, 9);
    n = lv_cache_key_extra(k, (size_t)n, sizeof(k), parts, 3, h);
    assert_int_equal(n, 9 + 11);
    assert_memory_equal(k,
                        "shop/cart\x1e"
                        "acme\x1e"
                        "abc\x1e\x1e",
                        20);
    assert_int_equal(lv_cache_key_extra(k, 9, 19, parts, 3, h), LV_ELIMIT);
}

#define T(f) cmocka_unit_test_teardown(test_##f, msgs_free)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(primary_origin_form),           T(primary_host_with_slash_refused),
        T(primary_absolute_form_refused), T(from_url_matches_request_key),
        T(extra_parts_and_cookies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
