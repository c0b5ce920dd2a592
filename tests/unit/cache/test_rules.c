/* tests/unit/cache/test_rules.c: RFC 9111 / RFC 5861 rules (src/cache/rules.c), table-driven:
 * Cache-Control, dates, storability, Age, freshness windows, conditionals, Vary, garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache/rules.h"

/* Sun, 06 Nov 1994 08:49:37 GMT: the RFCs' example date. */
#define D 784111777ull
#define DATE_D "Sun, 06 Nov 1994 08:49:37 GMT"

#include "heads.h"

/* ---- Cache-Control ---- */

typedef struct cc_case {
    const char *in;
    uint32_t flags;
    uint32_t max_age, s_maxage, max_stale, min_fresh, swr, sie;
} cc_case_t;

#define F(x) LV_CACHE_CC_##x
static const cc_case_t cc_cases[] = {
    {"", 0, 0, 0, 0, 0, 0, 0},
    {"max-age=60", F(MAX_AGE), 60, 0, 0, 0, 0, 0},
    {"MAX-AGE=60", F(MAX_AGE), 60, 0, 0, 0, 0, 0},
    {"max-age = 60", F(MAX_AGE), 60, 0, 0, 0, 0, 0},
    {"max-age=\"60\"", F(MAX_AGE), 60, 0, 0, 0, 0, 0},
    {"\t max-age=7\t ", F(MAX_AGE), 7, 0, 0, 0, 0, 0},
    {",,, , max-age=1 ,,", F(MAX_AGE), 1, 0, 0, 0, 0, 0},
    /* duplicates: the most restrictive */
    {"max-age=60, max-age=30", F(MAX_AGE), 30, 0, 0, 0, 0, 0},
    {"max-age=30, max-age=60", F(MAX_AGE), 30, 0, 0, 0, 0, 0},
    /* invalid freshness = stale (RFC 9111 4.2.1) */
    {"max-age=abc", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    {"max-age", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    {"max-age=-1", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    {"max-age=5 junk", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    {"max-age=\"6", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    {"max-age=\"6\\\"\"", F(MAX_AGE), 0, 0, 0, 0, 0, 0},
    /* delta-seconds overflow caps at 2^31 (RFC 9111 1.2.2) */
    {"max-age=99999999999999999999999", F(MAX_AGE), LV_CACHE_DELTA_MAX, 0, 0, 0, 0, 0},
    {"max-age=2147483648", F(MAX_AGE), LV_CACHE_DELTA_MAX, 0, 0, 0, 0, 0},
    {"max-age=2147483647", F(MAX_AGE), 2147483647u, 0, 0, 0, 0, 0},
    {"s-maxage=10, public", F(S_MAXAGE) | F(PUBLIC), 0, 10, 0, 0, 0, 0},
    {"s-maxage=x", F(S_MAXAGE), 0, 0, 0, 0, 0, 0},
    {"no-store", F(NO_STORE), 0, 0, 0, 0, 0, 0},
    {"no-store junk", F(NO_STORE), 0, 0, 0, 0, 0, 0},
    {"No-Store, NO-CACHE", F(NO_STORE) | F(NO_CACHE), 0, 0, 0, 0, 0, 0},
    /* field-named no-cache / private: the whole response; the comma is inside quotes */
    {"no-cache=\"Set-Cookie, X-Foo\", max-age=5", F(NO_CACHE) | F(MAX_AGE), 5, 0, 0, 0, 0, 0},
    {"private=\"x\"", F(PRIVATE), 0, 0, 0, 0, 0, 0},
    {"private, public", F(PRIVATE) | F(PUBLIC), 0, 0, 0, 0, 0, 0},
    {"must-revalidate, proxy-revalidate", F(MUST_REVALIDATE) | F(PROXY_REVALIDATE), 0, 0, 0, 0, 0,
     0},
    {"only-if-cached", F(ONLY_IF_CACHED), 0, 0, 0, 0, 0, 0},
    {"no-transform, immutable", F(NO_TRANSFORM) | F(IMMUTABLE), 0, 0, 0, 0, 0, 0},
    {"stale-while-revalidate=30, stale-if-error=600", F(SWR) | F(SIE), 0, 0, 0, 0, 30, 600},
    {"stale-while-revalidate=30, stale-while-revalidate=10", F(SWR), 0, 0, 0, 0, 10, 0},
    {"stale-if-error=abc, stale-while-revalidate", 0, 0, 0, 0, 0, 0, 0},
    {"max-stale", F(MAX_STALE), 0, 0, LV_CACHE_STALE_ANY, 0, 0, 0},
    {"max-stale=5", F(MAX_STALE), 0, 0, 5, 0, 0, 0},
    {"max-stale, max-stale=7", F(MAX_STALE), 0, 0, 7, 0, 0, 0},
    {"max-stale=x", 0, 0, 0, 0, 0, 0, 0},
    {"min-fresh=5, min-fresh=10", F(MIN_FRESH), 0, 0, 0, 10, 0, 0},
    {"min-fresh=oops", 0, 0, 0, 0, 0, 0, 0},
    /* unknown extensions ignored, quoted commas do not split */
    {"foo=bar, max-age=5", F(MAX_AGE), 5, 0, 0, 0, 0, 0},
    {"foo=\"a,max-age=1\", max-age=9", F(MAX_AGE), 9, 0, 0, 0, 0, 0},
    {"\"weird\", =5, ;;;, public", F(PUBLIC), 0, 0, 0, 0, 0, 0},
    {"no-storex, xno-cache, private-ish", 0, 0, 0, 0, 0, 0, 0},
};
#undef F

static void test_cc_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < LV_ARRAY_LEN(cc_cases); i++) {
        const cc_case_t *c = &cc_cases[i];
        lv_cache_cc_t cc;
        lv_cache_cc_init(&cc);
        lv_cache_cc_parse(S(c->in), &cc);
        if (cc.flags != c->flags)
            print_error("case %zu \"%s\": flags %#x want %#x\n", i, c->in, cc.flags, c->flags);
        assert_int_equal(cc.flags, c->flags);
        if (c->flags & LV_CACHE_CC_MAX_AGE)
            assert_int_equal(cc.max_age_s, c->max_age);
        if (c->flags & LV_CACHE_CC_S_MAXAGE)
            assert_int_equal(cc.s_maxage_s, c->s_maxage);
        if (c->flags & LV_CACHE_CC_MAX_STALE)
            assert_int_equal(cc.max_stale_s, c->max_stale);
        if (c->flags & LV_CACHE_CC_MIN_FRESH)
            assert_int_equal(cc.min_fresh_s, c->min_fresh);
        if (c->flags & LV_CACHE_CC_SWR)
            assert_int_equal(cc.swr_s, c->swr);
        if (c->flags & LV_CACHE_CC_SIE)
            assert_int_equal(cc.sie_s, c->sie);
    }
}

static void test_cc_from_head_combines_lines(void **state)
{
    (void)state;
    const lv_http_head_t *h = RESP("HTTP/1.1 200 OK\n"
                                   "Cache-Control: max-age=60\n"
                                   "X-Other: max-age=1\n"
                                   "cache-control: no-store, max-age=30\n"
                                   "Content-Length: 0\n");
    lv_cache_cc_t cc;
    assert_int_equal(lv_cache_cc_from_head(h, &cc), 2);
    assert_true(cc.flags & LV_CACHE_CC_NO_STORE);
    assert_int_equal(cc.max_age_s, 30);
}

/* ---- dates ---- */

typedef struct date_case {
    const char *in;
    int rc;
    uint64_t t;
} date_case_t;

static const date_case_t date_cases[] = {
    {DATE_D, 0, D},                           /* IMF-fixdate */
    {"Sunday, 06-Nov-94 08:49:37 GMT", 0, D}, /* RFC 850 */
    {"Sun Nov  6 08:49:37 1994", 0, D},       /* asctime */
    {"Wed Nov 16 08:49:37 1994", 0, D + 10 * 86400},
    {"  " DATE_D " ", 0, D},                 /* OWS around */
    {"sun, 06 nov 1994 08:49:37 gmt", 0, D}, /* names in any case */
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
    {"Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400ull},
    {"Fri, 31 Dec 9999 23:59:59 GMT", 0, 253402300799ull},
    {"Wednesday, 09-Nov-05 08:49:37 GMT", 0, 1131526177ull}, /* 05 -> 2005 */
    {"Sun, 06 Nov 1994 08:49:60 GMT", 0, D + 23},            /* leap second */
    {"", LV_EINVAL, 0},
    {"0", LV_EINVAL, 0},
    {"-1", LV_EINVAL, 0},
    {"yesterday", LV_EINVAL, 0},
    {DATE_D " x", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 08:49:37 UTC", LV_EINVAL, 0},
    {"Sun, 6 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 32 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 31 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Wed, 29 Feb 1995 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 00 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 24:00:00 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 08:60:00 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 08:49:61 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1969 08:49:37 GMT", LV_EINVAL, 0},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nox 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 08-49-37 GMT", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 8:49:37 GMT ", LV_EINVAL, 0},
    {"Sun,  06 Nov 1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sunday, 06-Nov-94 08:49:37 UTC", LV_EINVAL, 0},
    {"Sunny, 06-Nov-94 08:49:37 GMT", LV_EINVAL, 0},
    {"Sunday, 06-Nov-1994 08:49:37 GMT", LV_EINVAL, 0},
    {"Sun Nov  6 08:49:37 94", LV_EINVAL, 0},
    {"Sun Nov 6 08:49:37 1994 ", LV_EINVAL, 0},
    {"Sun Nov  x 08:49:37 1994", LV_EINVAL, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT\xff", LV_EINVAL, 0},
};

static void test_date_parse_formats_and_garbage(void **state)
{
    (void)state;
    for (size_t i = 0; i < LV_ARRAY_LEN(date_cases); i++) {
        uint64_t t = 12345;
        int rc = lv_cache_date_parse(S(date_cases[i].in), &t);
        if (rc != date_cases[i].rc)
            print_error("case %zu \"%s\": rc %d\n", i, date_cases[i].in, rc);
        assert_int_equal(rc, date_cases[i].rc);
        if (rc == 0)
            assert_int_equal(t, date_cases[i].t);
    }
    /* NULL span */
    uint64_t t;
    assert_int_equal(lv_cache_date_parse((lv_str_t){NULL, 0}, &t), LV_EINVAL);
}

static void test_date_format_known_and_round_trip(void **state)
{
    (void)state;
    char buf[LV_CACHE_DATE_LEN + 1];
    assert_int_equal(lv_cache_date_format(D, buf, sizeof(buf)), LV_CACHE_DATE_LEN);
    assert_string_equal(buf, DATE_D);
    assert_int_equal(lv_cache_date_format(0, buf, sizeof(buf)), LV_CACHE_DATE_LEN);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_int_equal(lv_cache_date_format(951782400ull, buf, sizeof(buf)), LV_CACHE_DATE_LEN);
    assert_string_equal(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_int_equal(lv_cache_date_format(253402300799ull, buf, sizeof(buf)), LV_CACHE_DATE_LEN);
    assert_string_equal(buf, "Fri, 31 Dec 9999 23:59:59 GMT");

    /* round trip over four centuries in odd steps */
    for (uint64_t t = 0; t < 253402300799ull; t += 86400ull * 37 + 3671) {
        uint64_t back = 0;
        assert_int_equal(lv_cache_date_format(t, buf, sizeof(buf)), LV_CACHE_DATE_LEN);
        assert_int_equal(lv_cache_date_parse(S(buf), &back), 0);
        assert_int_equal(back, t);
    }
    /* no room, or past 9999 */
    assert_int_equal(lv_cache_date_format(D, buf, LV_CACHE_DATE_LEN), LV_EINVAL);
    assert_string_equal(buf, "");
    assert_int_equal(lv_cache_date_format(253402300800ull, buf, sizeof(buf)), LV_EINVAL);
    assert_int_equal(lv_cache_date_format(D, NULL, 0), LV_EINVAL);
}

/* ---- request side ---- */

typedef struct reqpol_case {
    const char *req;
    bool method_ok, head, authorization, revalidate, no_store, only_if_cached, inm, ims, range;
} reqpol_case_t;

static const reqpol_case_t reqpol_cases[] = {
    {"GET / HTTP/1.1\nHost: a\n", 1, 0, 0, 0, 0, 0, 0, 0, 0},
    {"HEAD / HTTP/1.1\nHost: a\n", 1, 1, 0, 0, 0, 0, 0, 0, 0},
    {"POST / HTTP/1.1\nHost: a\nContent-Length: 0\n", 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"DELETE / HTTP/1.1\nHost: a\n", 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nAuthorization: Basic eDp5\n", 1, 0, 1, 0, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nCache-Control: no-cache\n", 1, 0, 0, 1, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nCache-Control: max-age=0\n", 1, 0, 0, 1, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nCache-Control: max-age=5\n", 1, 0, 0, 0, 0, 0, 0, 0, 0},
    /* Pragma: no-cache only without Cache-Control (RFC 9111 5.4) */
    {"GET / HTTP/1.1\nHost: a\nPragma: no-cache\n", 1, 0, 0, 1, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nPragma: foo, No-Cache\n", 1, 0, 0, 1, 0, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nPragma: no-cache\nCache-Control: max-age=60\n", 1, 0, 0, 0, 0, 0, 0,
     0, 0},
    {"GET / HTTP/1.1\nHost: a\nCache-Control: no-store\n", 1, 0, 0, 0, 1, 0, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nCache-Control: only-if-cached\n", 1, 0, 0, 0, 0, 1, 0, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nIf-None-Match: \"x\"\n", 1, 0, 0, 0, 0, 0, 1, 0, 0},
    {"GET / HTTP/1.1\nHost: a\nIf-Modified-Since: " DATE_D "\n", 1, 0, 0, 0, 0, 0, 0, 1, 0},
    {"GET / HTTP/1.1\nHost: a\nRange: bytes=0-9\n", 1, 0, 0, 0, 0, 0, 0, 0, 1},
};

static void test_request_policy_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < LV_ARRAY_LEN(reqpol_cases); i++) {
        const reqpol_case_t *c = &reqpol_cases[i];
        lv_cache_req_t rq;
        lv_cache_request_policy(REQ(c->req), &rq);
        print_message("request case %zu\n", i);
        assert_int_equal(rq.method_ok, c->method_ok);
        assert_int_equal(rq.head, c->head);
        assert_int_equal(rq.authorization, c->authorization);
        assert_int_equal(rq.revalidate, c->revalidate);
        assert_int_equal(rq.no_store, c->no_store);
        assert_int_equal(rq.only_if_cached, c->only_if_cached);
        assert_int_equal(rq.if_none_match, c->inm);
        assert_int_equal(rq.if_modified_since, c->ims);
        assert_int_equal(rq.range, c->range);
        msgs_free(NULL);
    }
}

/* ---- response side: storable + lifetime ---- */

#define GET_REQ "GET / HTTP/1.1\nHost: a\n"
#define AUTH_REQ "GET / HTTP/1.1\nHost: a\nAuthorization: Bearer t\n"
#define OK_HEAD "HTTP/1.1 200 OK\nDate: " DATE_D "\nContent-Length: 0\n"

typedef struct store_case {
    const char *req;
    const char *resp;
    lv_cache_verdict_t verdict;
    uint64_t lifetime;
    uint32_t flags; /* LV_CACHE_M_* that must be set */
} store_case_t;

#define M(x) LV_CACHE_M_##x
static const store_case_t store_cases[] = {
    /* lifetime precedence: s-maxage > max-age > Expires - Date > heuristic */
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\n", LV_CACHE_STORE, 60, M(EXPLICIT)},
    {GET_REQ, OK_HEAD "Cache-Control: s-maxage=30, max-age=60\n", LV_CACHE_STORE, 30,
     M(EXPLICIT) | M(SMAXAGE) | M(AUTH_OK)},
    {GET_REQ, OK_HEAD "Expires: Sun, 06 Nov 1994 08:50:37 GMT\n", LV_CACHE_STORE, 60, M(EXPLICIT)},
    {GET_REQ,
     OK_HEAD "Cache-Control: max-age=5\nExpires: Sun, 06 Nov 1994 08:50:37 GMT\n"
             "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\n",
     LV_CACHE_STORE, 5, M(EXPLICIT) | M(LAST_MODIFIED)},
    /* Expires in the past, or invalid ("0"): expired; stored only with a validator */
    {GET_REQ, OK_HEAD "Expires: Sun, 06 Nov 1994 08:00:00 GMT\nETag: \"v1\"\n", LV_CACHE_STORE, 0,
     M(EXPLICIT) | M(ETAG)},
    {GET_REQ, OK_HEAD "Expires: 0\nETag: \"v1\"\n", LV_CACHE_STORE, 0, M(EXPLICIT)},
    {GET_REQ, OK_HEAD "Expires: 0\n", LV_CACHE_NS_USELESS, 0, M(EXPLICIT)},
    {GET_REQ,
     OK_HEAD "Expires: Sun, 06 Nov 1994 08:59:37 GMT\nExpires: Sun, 06 Nov 1994 08:50:37 GMT\n",
     LV_CACHE_STORE, 60, M(EXPLICIT)},
    /* invalid max-age: stale at once, Expires not consulted */
    {GET_REQ,
     OK_HEAD "Cache-Control: max-age=soon\nExpires: Sun, 06 Nov 1994 08:50:37 GMT\nETag: \"a\"\n",
     LV_CACHE_STORE, 0, M(EXPLICIT)},
    /* heuristic: 10 % of Date - Last-Modified, capped at a day */
    {GET_REQ, OK_HEAD "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n", LV_CACHE_STORE, 100,
     M(HEURISTIC) | M(LAST_MODIFIED)},
    {GET_REQ, OK_HEAD "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\n", LV_CACHE_STORE, 86400,
     M(HEURISTIC)},
    {GET_REQ, OK_HEAD "Last-Modified: Mon, 07 Nov 1994 08:49:37 GMT\n", LV_CACHE_STORE, 0,
     M(HEURISTIC)}, /* modified "after" Date: no heuristic lifetime, still a validator */
    {GET_REQ, OK_HEAD "Last-Modified: garbage\n", LV_CACHE_NS_USELESS, 0, 0},
    {GET_REQ, OK_HEAD "ETag: \"x\"\n", LV_CACHE_STORE, 0, M(ETAG)},
    {GET_REQ, OK_HEAD, LV_CACHE_NS_USELESS, 0, 0},
    /* statuses */
    {GET_REQ,
     "HTTP/1.1 404 Not Found\nDate: " DATE_D "\nContent-Length: 0\n"
     "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n",
     LV_CACHE_STORE, 100, M(HEURISTIC)},
    {GET_REQ,
     "HTTP/1.1 301 Moved\nDate: " DATE_D "\nLocation: /x\nContent-Length: 0\n"
     "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n",
     LV_CACHE_STORE, 100, M(HEURISTIC)},
    {GET_REQ,
     "HTTP/1.1 204 No Content\nDate: " DATE_D "\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n",
     LV_CACHE_STORE, 100, M(HEURISTIC)},
    {GET_REQ,
     "HTTP/1.1 302 Found\nDate: " DATE_D "\nLocation: /x\nContent-Length: 0\n"
     "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n",
     LV_CACHE_NS_NOT_CACHEABLE, 0, 0},
    {GET_REQ,
     "HTTP/1.1 302 Found\nDate: " DATE_D "\nLocation: /x\nContent-Length: 0\n"
     "Cache-Control: max-age=60\n",
     LV_CACHE_STORE, 60, M(EXPLICIT)},
    {GET_REQ,
     "HTTP/1.1 307 Temporary Redirect\nDate: " DATE_D "\nLocation: /x\nContent-Length: 0\n"
     "Cache-Control: public\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n",
     LV_CACHE_STORE, 100, M(HEURISTIC) | M(PUBLIC) | M(AUTH_OK)},
    {GET_REQ, "HTTP/1.1 500 Oops\nDate: " DATE_D "\nContent-Length: 0\nCache-Control: max-age=10\n",
     LV_CACHE_STORE, 10, M(EXPLICIT)},
    {GET_REQ, "HTTP/1.1 500 Oops\nDate: " DATE_D "\nContent-Length: 0\nETag: \"e\"\n",
     LV_CACHE_NS_NOT_CACHEABLE, 0, 0},
    {GET_REQ,
     "HTTP/1.1 206 Partial Content\nDate: " DATE_D "\nContent-Range: bytes 0-0/9\n"
     "Content-Length: 1\nCache-Control: max-age=60\n",
     LV_CACHE_NS_PARTIAL, 60, 0},
    {GET_REQ, "HTTP/1.1 304 Not Modified\nDate: " DATE_D "\nCache-Control: max-age=60\n",
     LV_CACHE_NS_STATUS, 60, 0},
    {GET_REQ,
     "HTTP/1.1 429 Too Many\nDate: " DATE_D "\nContent-Length: 0\nCache-Control: max-age=60\n",
     LV_CACHE_NS_STATUS, 60, 0},
    {GET_REQ, "HTTP/1.1 599 Odd\nDate: " DATE_D "\nContent-Length: 0\nCache-Control: max-age=60\n",
     LV_CACHE_NS_STATUS, 60, 0},
    /* methods */
    {"POST / HTTP/1.1\nHost: a\nContent-Length: 0\n", OK_HEAD "Cache-Control: max-age=60\n",
     LV_CACHE_NS_METHOD, 60, 0},
    {"HEAD / HTTP/1.1\nHost: a\n", OK_HEAD "Cache-Control: max-age=60\n", LV_CACHE_STORE, 60, 0},
    /* no-store, private */
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60, no-store\n", LV_CACHE_NS_NO_STORE, 60, 0},
    {GET_REQ "Cache-Control: no-store\n", OK_HEAD "Cache-Control: max-age=60\n",
     LV_CACHE_NS_NO_STORE, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: private, max-age=60\n", LV_CACHE_NS_PRIVATE, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60, private=\"X-Id\"\n", LV_CACHE_NS_PRIVATE, 60, 0},
    /* no-cache: stored, validated on every use; needs a validator to be worth it */
    {GET_REQ, OK_HEAD "Cache-Control: no-cache, max-age=60\nETag: \"a\"\n", LV_CACHE_STORE, 60,
     M(NO_CACHE) | M(ETAG)},
    {GET_REQ, OK_HEAD "Cache-Control: no-cache=\"Set-Cookie\"\nETag: \"a\"\n", LV_CACHE_STORE, 0,
     M(NO_CACHE)},
    {GET_REQ, OK_HEAD "Cache-Control: no-cache, max-age=60\n", LV_CACHE_NS_USELESS, 60, 0},
    /* zero lifetime but a stale-if-error window: worth keeping for bad days */
    {GET_REQ, OK_HEAD "Cache-Control: max-age=0, stale-if-error=60\n", LV_CACHE_STORE, 0, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=0, stale-if-error=60, must-revalidate\n",
     LV_CACHE_NS_USELESS, 0, M(MUST_REVALIDATE)},
    /* Authorization (RFC 9111 3.5) */
    {AUTH_REQ, OK_HEAD "Cache-Control: max-age=60\n", LV_CACHE_NS_AUTHORIZATION, 60, 0},
    {AUTH_REQ, OK_HEAD "Cache-Control: max-age=60, public\n", LV_CACHE_STORE, 60, M(AUTH_OK)},
    {AUTH_REQ, OK_HEAD "Cache-Control: s-maxage=60\n", LV_CACHE_STORE, 60, M(AUTH_OK)},
    {AUTH_REQ, OK_HEAD "Cache-Control: max-age=60, must-revalidate\n", LV_CACHE_STORE, 60,
     M(AUTH_OK) | M(MUST_REVALIDATE)},
    {AUTH_REQ, OK_HEAD "Cache-Control: max-age=60, proxy-revalidate\n", LV_CACHE_NS_AUTHORIZATION,
     60, M(MUST_REVALIDATE)},
    /* Vary */
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\nVary: *\n", LV_CACHE_NS_VARY_STAR, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\nVary: Accept-Encoding, *\n",
     LV_CACHE_NS_VARY_STAR, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\nVary: a,b,c,d,e,f,g,h\nVary: i\n",
     LV_CACHE_NS_VARY_LIMIT, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\nVary: a,b,c,d,e,f,g,h,i\nVary: *\n",
     LV_CACHE_NS_VARY_STAR, 60, 0},
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60\nVary: a,b,c,d,e,f,g,h\n", LV_CACHE_STORE, 60, 0},
    /* Set-Cookie: never stored, even public */
    {GET_REQ, OK_HEAD "Cache-Control: max-age=60, public\nSet-Cookie: s=1\n",
     LV_CACHE_NS_SET_COOKIE, 60, 0},
};
#undef M

static void test_storable_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < LV_ARRAY_LEN(store_cases); i++) {
        const store_case_t *c = &store_cases[i];
        lv_cache_meta_t m;
        lv_cache_verdict_t v = lv_cache_storable(REQ(c->req), RESP(c->resp), D, D, &m);
        if (v != c->verdict || m.freshness_lifetime_s != c->lifetime ||
            (m.flags & c->flags) != c->flags)
            print_error("case %zu: %s life %llu flags %#x\n%s\n", i, lv_cache_verdict_name(v),
                        (unsigned long long)m.freshness_lifetime_s, m.flags, c->resp);
        assert_int_equal(v, c->verdict);
        assert_int_equal(m.freshness_lifetime_s, c->lifetime);
        assert_int_equal(m.flags & c->flags, c->flags);
        msgs_free(NULL);
    }
}

static void test_storable_fills_meta(void **state)
{
    (void)state;
    lv_cache_meta_t m;
    const lv_http_head_t *rq = REQ(GET_REQ);
    const lv_http_head_t *rs = RESP(OK_HEAD "Cache-Control: max-age=60, stale-while-revalidate=30,"
                                            " stale-if-error=600\n"
                                            "ETag: W/\"v7\"\n"
                                            "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\n"
                                            "Vary: Accept-Encoding,  Accept-Language\n"
                                            "Vary: , X-Segment\n");
    assert_int_equal(lv_cache_storable(rq, rs, D, D, &m), LV_CACHE_STORE);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.swr_s, 30);
    assert_int_equal(m.sie_s, 600);
    assert_int_equal(m.date_s, D);
    assert_int_equal(m.last_modified_s, D - 1000);
    assert_true(m.flags & LV_CACHE_M_ETAG);
    assert_true(m.flags & LV_CACHE_M_LAST_MODIFIED);
    assert_int_equal(m.etag.len, 6);
    assert_memory_equal(m.etag.p, "W/\"v7\"", 6);
    assert_int_equal(m.n_vary, 3);
    assert_true(LV_HTTP_IEQ(m.vary[0], "accept-encoding"));
    assert_true(LV_HTTP_IEQ(m.vary[1], "accept-language"));
    assert_true(LV_HTTP_IEQ(m.vary[2], "x-segment"));
    assert_string_equal(lv_cache_verdict_name(LV_CACHE_NS_SET_COOKIE), "set-cookie");
}

/* ---- Age (RFC 9111 4.2.3) ---- */

typedef struct age_case {
    const char *extra; /* Date / Age lines */
    uint64_t request_time, response_time, now;
    uint64_t apparent, corrected_age_value, corrected_initial, current;
} age_case_t;

static const age_case_t age_cases[] = {
    {"Date: " DATE_D "\n", D, D, D + 10, 0, 0, 0, 10},
    /* Date 5 s behind our receipt, 1 s of response delay */
    {"Date: Sun, 06 Nov 1994 08:49:32 GMT\n", D - 1, D, D + 10, 5, 1, 5, 15},
    /* an upstream cache says Age: 100; 2 s delay counts on top */
    {"Date: " DATE_D "\nAge: 100\n", D - 2, D, D + 3, 0, 102, 102, 105},
    /* Date in the future (clock skew): apparent age 0 */
    {"Date: Sun, 06 Nov 1994 08:51:17 GMT\n", D, D, D, 0, 0, 0, 0},
    /* no Date: our receipt time */
    {"", D - 3, D, D + 1, 0, 3, 3, 4},
    /* invalid Age ignored; the largest valid Age wins */
    {"Date: " DATE_D "\nAge: abc\n", D, D, D, 0, 0, 0, 0},
    {"Date: " DATE_D "\nAge: -5\n", D, D, D, 0, 0, 0, 0},
    {"Date: " DATE_D "\nAge: 7\nAge: 9\n", D, D, D, 0, 9, 9, 9},
    /* the clock went back: no resident time, and no negative delay */
    {"Date: " DATE_D "\n", D, D, D - 50, 0, 0, 0, 0},
    {"Date: " DATE_D "\n", D + 5, D, D + 5, 5, 0, 5, 5}, /* response_time := request_time */
    /* huge Age caps, current age saturates rather than wraps */
    {"Date: " DATE_D "\nAge: 99999999999999999999\n", D, D, D + 1, 0, LV_CACHE_DELTA_MAX,
     LV_CACHE_DELTA_MAX, LV_CACHE_DELTA_MAX + 1ull},
};

static void test_age_rfc9111_formula(void **state)
{
    (void)state;
    char resp[512];
    for (size_t i = 0; i < LV_ARRAY_LEN(age_cases); i++) {
        const age_case_t *c = &age_cases[i];
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\nContent-Length: 0\nCache-Control: max-age=600\n%s", c->extra);
        lv_cache_meta_t m;
        lv_cache_storable(REQ(GET_REQ), RESP(resp), c->request_time, c->response_time, &m);
        print_message("age case %zu\n", i);
        assert_int_equal(m.apparent_age_s, c->apparent);
        assert_int_equal(m.corrected_age_value_s, c->corrected_age_value);
        assert_int_equal(m.corrected_initial_age_s, c->corrected_initial);
        assert_int_equal(lv_cache_current_age(&m, c->now), c->current);
        msgs_free(NULL);
    }
    /* saturation at the top */
    lv_cache_meta_t big = {.corrected_initial_age_s = UINT64_MAX - 1, .response_time_s = 0};
    assert_int_equal(lv_cache_current_age(&big, 100), UINT64_MAX);
}

/* ---- freshness (RFC 9111 4.2, 4.2.4; RFC 5861) ---- */

typedef struct fresh_case {
    const char *resp_cc; /* response Cache-Control line (plus extra lines) */
    const char *req_cc;  /* request Cache-Control, NULL = ignore the client */
    uint64_t age;        /* now - D (request/response/Date all at D) */
    lv_cache_fresh_t want;
} fresh_case_t;

#define ETAG "\nETag: \"e\""
static const fresh_case_t fresh_cases[] = {
    {"max-age=60", NULL, 0, LV_CACHE_FRESH},
    {"max-age=60", NULL, 59, LV_CACHE_FRESH},
    {"max-age=60", NULL, 60, LV_CACHE_STALE},
    {"max-age=60", "", 30, LV_CACHE_FRESH},
    /* stale-while-revalidate window: [lifetime, lifetime + swr) */
    {"max-age=60, stale-while-revalidate=30", NULL, 60, LV_CACHE_STALE_WHILE_REVALIDATE},
    {"max-age=60, stale-while-revalidate=30", NULL, 89, LV_CACHE_STALE_WHILE_REVALIDATE},
    {"max-age=60, stale-while-revalidate=30", NULL, 90, LV_CACHE_STALE},
    /* stale-if-error window */
    {"max-age=60, stale-if-error=300", NULL, 100, LV_CACHE_STALE_IF_ERROR_ONLY},
    {"max-age=60, stale-if-error=300", NULL, 360, LV_CACHE_STALE},
    {"max-age=60, stale-while-revalidate=30, stale-if-error=300", NULL, 70,
     LV_CACHE_STALE_WHILE_REVALIDATE},
    {"max-age=60, stale-while-revalidate=30, stale-if-error=300", NULL, 100,
     LV_CACHE_STALE_IF_ERROR_ONLY},
    /* must-revalidate / proxy-revalidate forbid stale serving, windows or not */
    {"max-age=60, must-revalidate, stale-while-revalidate=30", NULL, 30, LV_CACHE_FRESH},
    {"max-age=60, must-revalidate, stale-while-revalidate=30", NULL, 70, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60, proxy-revalidate, stale-if-error=300", NULL, 70, LV_CACHE_MUST_REVALIDATE},
    /* s-maxage implies proxy-revalidate, explicit stale-* still honoured */
    {"s-maxage=60", NULL, 70, LV_CACHE_MUST_REVALIDATE},
    {"s-maxage=60, stale-while-revalidate=30", NULL, 70, LV_CACHE_STALE_WHILE_REVALIDATE},
    {"s-maxage=60, stale-if-error=30", NULL, 70, LV_CACHE_STALE_IF_ERROR_ONLY},
    {"s-maxage=60, stale-if-error=30", NULL, 95, LV_CACHE_MUST_REVALIDATE},
    /* response no-cache: always validate */
    {"no-cache, max-age=60" ETAG, NULL, 0, LV_CACHE_MUST_REVALIDATE},
    /* request directives */
    {"max-age=60", "no-cache", 0, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60", "max-age=0", 0, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60", "max-age=10", 20, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60", "max-age=10", 10, LV_CACHE_FRESH},
    {"max-age=60", "min-fresh=20", 30, LV_CACHE_FRESH},
    {"max-age=60", "min-fresh=20", 40, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60", "max-stale", 100000, LV_CACHE_STALE_ALLOWED},
    {"max-age=60", "max-stale=10", 70, LV_CACHE_STALE_ALLOWED},
    {"max-age=60", "max-stale=10", 71, LV_CACHE_STALE},
    {"max-age=60, must-revalidate", "max-stale", 70, LV_CACHE_MUST_REVALIDATE},
    {"s-maxage=60", "max-stale", 70, LV_CACHE_MUST_REVALIDATE},
    {"max-age=60, stale-if-error=300", "max-stale=5", 62, LV_CACHE_STALE_ALLOWED},
    {"max-age=60, stale-if-error=300", "max-stale=5", 70, LV_CACHE_STALE_IF_ERROR_ONLY},
    /* heuristic lifetime 100 s (Last-Modified 1000 s before Date) */
    {"public\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT", NULL, 99, LV_CACHE_FRESH},
    {"public\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT", NULL, 100, LV_CACHE_STALE},
    /* expired Expires with a validator */
    {"x-none\nExpires: 0" ETAG, NULL, 0, LV_CACHE_STALE},
};
#undef ETAG

static void test_freshness_table(void **state)
{
    (void)state;
    char resp[512], req[256];
    for (size_t i = 0; i < LV_ARRAY_LEN(fresh_cases); i++) {
        const fresh_case_t *c = &fresh_cases[i];
        snprintf(resp, sizeof(resp), OK_HEAD "Cache-Control: %s\n", c->resp_cc);
        if (c->req_cc)
            snprintf(req, sizeof(req), GET_REQ "Cache-Control: %s\n", c->req_cc);
        else
            snprintf(req, sizeof(req), GET_REQ);
        lv_cache_meta_t m;
        lv_cache_req_t rq;
        const lv_http_head_t *rqh = REQ(req);
        lv_cache_verdict_t v = lv_cache_storable(rqh, RESP(resp), D, D, &m);
        assert_int_equal(v, LV_CACHE_STORE);
        lv_cache_request_policy(rqh, &rq);
        lv_cache_fresh_t f = lv_cache_freshness(&m, D + c->age, c->req_cc ? &rq.cc : NULL);
        if (f != c->want)
            print_error("case %zu (%s | %s | age %llu): %s, want %s\n", i, c->resp_cc,
                        c->req_cc ? c->req_cc : "-", (unsigned long long)c->age,
                        lv_cache_fresh_name(f), lv_cache_fresh_name(c->want));
        assert_int_equal(f, c->want);
        msgs_free(NULL);
    }
}

static void test_freshness_null_req_cc_ignores_client(void **state)
{
    (void)state;
    lv_cache_meta_t m;
    const lv_http_head_t *rqh = REQ(GET_REQ "Cache-Control: max-age=0\n");
    assert_int_equal(lv_cache_storable(rqh, RESP(OK_HEAD "Cache-Control: max-age=60\n"), D, D, &m),
                     LV_CACHE_STORE);
    lv_cache_req_t rq;
    lv_cache_request_policy(rqh, &rq);
    assert_true(rq.revalidate); /* a browser's F5 */
    assert_int_equal(lv_cache_freshness(&m, D + 5, &rq.cc), LV_CACHE_MUST_REVALIDATE);
    assert_int_equal(lv_cache_freshness(&m, D + 5, NULL), LV_CACHE_FRESH);
    assert_string_equal(lv_cache_fresh_name(LV_CACHE_STALE_IF_ERROR_ONLY), "stale-if-error");
}

static void test_may_serve_authorization_and_method(void **state)
{
    (void)state;
    lv_cache_meta_t plain, pub;
    lv_cache_storable(REQ(GET_REQ), RESP(OK_HEAD "Cache-Control: max-age=60\n"), D, D, &plain);
    lv_cache_storable(REQ(GET_REQ), RESP(OK_HEAD "Cache-Control: max-age=60, public\n"), D, D,
                      &pub);
    lv_cache_req_t get, auth, post;
    lv_cache_request_policy(REQ(GET_REQ), &get);
    lv_cache_request_policy(REQ(AUTH_REQ), &auth);
    lv_cache_request_policy(REQ("POST / HTTP/1.1\nHost: a\nContent-Length: 0\n"), &post);
    assert_true(lv_cache_may_serve(&get, &plain));
    assert_false(lv_cache_may_serve(&auth, &plain));
    assert_true(lv_cache_may_serve(&auth, &pub));
    assert_false(lv_cache_may_serve(&post, &pub));
}

/* ---- conditional requests answered from cache ---- */

typedef struct cond_case {
    const char *req_extra;
    const char *etag;
    const char *last_modified;
    bool want;
} cond_case_t;

#define LM_D "Sun, 06 Nov 1994 08:49:37 GMT"
static const cond_case_t cond_cases[] = {
    {"If-None-Match: \"a\"\n", "\"a\"", "", true},
    {"If-None-Match: W/\"a\"\n", "\"a\"", "", true}, /* weak comparison */
    {"If-None-Match: \"a\"\n", "W/\"a\"", "", true},
    {"If-None-Match: \"b\", W/\"a\"\n", "\"a\"", "", true},
    {"If-None-Match: \"b\"\n", "\"a\"", "", false},
    {"If-None-Match: \"A\"\n", "\"a\"", "", false}, /* opaque tags are case-sensitive */
    {"If-None-Match: *\n", "\"a\"", "", true},
    {"If-None-Match: *\n", "", "", true}, /* a stored representation exists */
    {"If-None-Match: \"a,b\"\n", "\"a,b\"", "", true},
    {"If-None-Match: \"x\"\nIf-None-Match: \"a\"\n", "\"a\"", "", true},
    {"If-None-Match: a\n", "a", "", false},              /* unquoted: malformed */
    {"If-None-Match: junk, \"a\"\n", "\"a\"", "", true}, /* skip a bad member */
    {"If-None-Match: \"a\n", "\"a\"", "", false},        /* unterminated */
    {"If-None-Match: \"a\"\n", "", "", false},           /* nothing stored to match */
    {"If-None-Match: *x\n", "\"a\"", "", false},
    /* If-None-Match wins over If-Modified-Since */
    {"If-None-Match: \"b\"\nIf-Modified-Since: " LM_D "\n", "\"a\"", LM_D, false},
    /* If-Modified-Since */
    {"If-Modified-Since: " LM_D "\n", "\"a\"", LM_D, true},
    {"If-Modified-Since: Sun, 06 Nov 1994 09:00:00 GMT\n", "", LM_D, true},
    {"If-Modified-Since: Sun, 06 Nov 1994 08:00:00 GMT\n", "", LM_D, false},
    {"If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\n", "", LM_D, true},
    {"If-Modified-Since: yesterday\n", "", LM_D, false},
    {"If-Modified-Since: " LM_D "\nIf-Modified-Since: " LM_D "\n", "", LM_D, false},
    /* no Last-Modified stored: the stored Date (D) stands in */
    {"If-Modified-Since: " LM_D "\n", "", "", true},
    {"If-Modified-Since: Sun, 06 Nov 1994 08:00:00 GMT\n", "", "garbage", false},
    {"", "\"a\"", LM_D, false},
};

static void test_client_conditional_table(void **state)
{
    (void)state;
    char req[512];
    for (size_t i = 0; i < LV_ARRAY_LEN(cond_cases); i++) {
        const cond_case_t *c = &cond_cases[i];
        snprintf(req, sizeof(req), GET_REQ "%s", c->req_extra);
        bool got =
            lv_cache_client_conditional_matches(REQ(req), S(c->etag), S(c->last_modified), D);
        if (got != c->want)
            print_error("case %zu: %s", i, c->req_extra);
        assert_int_equal(got, c->want);
        msgs_free(NULL);
    }
    /* only GET and HEAD get a 304 from the cache */
    assert_false(lv_cache_client_conditional_matches(
        REQ("POST / HTTP/1.1\nHost: a\nContent-Length: 0\nIf-None-Match: *\n"), S("\"a\""), S(""),
        D));
    assert_true(lv_cache_client_conditional_matches(
        REQ("HEAD / HTTP/1.1\nHost: a\nIf-None-Match: \"a\"\n"), S("\"a\""), S(""), D));
}

static void test_etag_weak_eq(void **state)
{
    (void)state;
    assert_true(lv_cache_etag_weak_eq(S("\"x\""), S("W/\"x\"")));
    assert_true(lv_cache_etag_weak_eq(S("W/\"\""), S("\"\"")));
    assert_false(lv_cache_etag_weak_eq(S("\"x\""), S("\"y\"")));
    assert_false(lv_cache_etag_weak_eq(S("x"), S("x")));
    assert_false(lv_cache_etag_weak_eq(S("\"x\" y"), S("\"x\"")));
    assert_false(lv_cache_etag_weak_eq(S("w/\"x\""), S("\"x\""))); /* W is case-sensitive */
    assert_false(lv_cache_etag_weak_eq((lv_str_t){NULL, 0}, S("\"x\"")));
}

/* ---- Vary ---- */

typedef struct vary_case {
    const char *stored_extra, *new_extra;
    bool want;
} vary_case_t;

static const vary_case_t vary_cases[] = {
    {"Accept-Encoding: gzip, br\n", "Accept-Encoding: gzip,br\n", true},
    {"Accept-Encoding: gzip\nAccept-Encoding: br\n", "accept-encoding: gzip, br\n", true},
    {"Accept-Encoding: gzip,,  br\n", "Accept-Encoding: gzip ,br\n", true},
    {"", "", true},
    {"", "Accept-Encoding: gzip\n", false},
    {"Accept-Encoding:\n", "", false}, /* present-empty is not absent */
    {"Accept-Encoding:\n", "Accept-Encoding: ,\n", true},
    {"Accept-Encoding: GZIP\n", "Accept-Encoding: gzip\n", false},
    {"Accept-Encoding: br, gzip\n", "Accept-Encoding: gzip, br\n", false},
    {"Accept-Encoding: gzip\nX-Segment: gold\n", "Accept-Encoding: gzip\nX-Segment: gold\n", true},
    {"Accept-Encoding: gzip\nX-Segment: gold\n", "Accept-Encoding: gzip\nX-Segment: free\n", false},
    {"Accept-Encoding: gzip\nX-Other: 1\n", "Accept-Encoding: gzip\nX-Other: 2\n", true},
};

static void test_vary_matches_and_key(void **state)
{
    (void)state;
    const lv_str_t names[] = {LV_STR("Accept-Encoding"), LV_STR("x-segment")};
    char a_req[512], b_req[512];
    for (size_t i = 0; i < LV_ARRAY_LEN(vary_cases); i++) {
        const vary_case_t *c = &vary_cases[i];
        snprintf(a_req, sizeof(a_req), GET_REQ "%s", c->stored_extra);
        snprintf(b_req, sizeof(b_req), GET_REQ "%s", c->new_extra);
        const lv_http_head_t *a = REQ(a_req), *b = REQ(b_req);
        bool got = lv_cache_vary_matches(names, 2, a, b);
        if (got != c->want)
            print_error("case %zu\n", i);
        assert_int_equal(got, c->want);
        assert_int_equal(lv_cache_vary_matches(names, 2, b, a), c->want);
        char ka[256], kb[256];
        int la = lv_cache_vary_key(names, 2, a, ka, sizeof(ka));
        int lb = lv_cache_vary_key(names, 2, b, kb, sizeof(kb));
        assert_true(la > 0 && lb > 0);
        assert_int_equal(la == lb && memcmp(ka, kb, (size_t)la) == 0, c->want);
        msgs_free(NULL);
    }
    /* the key's shape, and running out of room */
    const lv_http_head_t *h = REQ(GET_REQ "Accept-Encoding:  gzip , br\n");
    char k[64];
    int n = lv_cache_vary_key(names, 2, h, k, sizeof(k));
    assert_int_equal(n, 11);
    assert_memory_equal(k, "=gzip,br\n!\n", 11);
    assert_int_equal(lv_cache_vary_key(names, 2, h, k, 10), LV_ELIMIT);
    assert_int_equal(lv_cache_vary_key(names, 0, h, k, 0), 0);
    assert_true(lv_cache_vary_matches(names, 0, h, h));
}

/* ---- garbage: no crash, no overread (ASan), on any bytes ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)g_rng;
}

static void test_garbage_never_crashes(void **state)
{
    (void)state;
    static const char alphabet[] = "\"\\,=; \tW/*-0123456789aAmx:GMTSunNov";
    static const char *const names[] = {
        "Cache-Control", "Date",          "Expires", "Age",           "Vary",
        "ETag",          "Last-Modified", "Pragma",  "If-None-Match", "If-Modified-Since",
        "Authorization", "Set-Cookie"};
    for (int iter = 0; iter < 20000; iter++) {
        /* each value is its own heap block, so ASan sees any read past its end */
        char *vals[6];
        lv_http_header_t hdrs[6];
        size_t nh = rnd() % 7;
        for (size_t i = 0; i < nh; i++) {
            size_t len = rnd() % 40;
            vals[i] = malloc(len ? len : 1);
            assert_non_null(vals[i]);
            for (size_t j = 0; j < len; j++)
                vals[i][j] =
                    (rnd() % 4) ? alphabet[rnd() % (sizeof(alphabet) - 1)] : (char)(rnd() & 0xff);
            hdrs[i].name = S(names[rnd() % LV_ARRAY_LEN(names)]);
            hdrs[i].value = (lv_str_t){vals[i], len};
        }
        lv_http_head_t h = {.method = HTTP_GET, .status = (uint16_t)(rnd() % 700)};
        h.headers = nh ? hdrs : NULL;
        h.n_headers = (uint32_t)nh;

        lv_cache_cc_t cc;
        uint64_t t;
        lv_cache_meta_t m;
        lv_cache_req_t rq;
        char key[64];
        for (size_t i = 0; i < nh; i++) {
            lv_cache_cc_init(&cc);
            lv_cache_cc_parse(hdrs[i].value, &cc);
            (void)lv_cache_date_parse(hdrs[i].value, &t);
            (void)lv_cache_etag_weak_eq(hdrs[i].value, hdrs[0].value);
        }
        lv_cache_verdict_t v = lv_cache_storable(&h, &h, D, D + rnd() % 5, &m);
        assert_true(v <= LV_CACHE_NS_USELESS);
        assert_true(m.n_vary <= LV_CACHE_VARY_MAX);
        lv_cache_request_policy(&h, &rq);
        (void)lv_cache_freshness(&m, D + rnd() % 1000, &rq.cc);
        (void)lv_cache_client_conditional_matches(&h, nh ? hdrs[0].value : S(""),
                                                  nh ? hdrs[nh - 1].value : S(""), D);
        (void)lv_cache_vary_matches(m.vary, m.n_vary, &h, &h);
        int kl = lv_cache_vary_key(m.vary, m.n_vary, &h, key, sizeof(key));
        assert_true(kl == LV_ELIMIT || (kl >= 0 && (size_t)kl <= sizeof(key)));
        for (size_t i = 0; i < nh; i++)
            free(vals[i]);
    }
}

#define T(f) cmocka_unit_test_teardown(test_##f, msgs_free)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(cc_parse_table),
        T(cc_from_head_combines_lines),
        T(date_parse_formats_and_garbage),
        T(date_format_known_and_round_trip),
        T(request_policy_table),
        T(storable_table),
        T(storable_fills_meta),
        T(age_rfc9111_formula),
        T(freshness_table),
        T(freshness_null_req_cc_ignores_client),
        T(may_serve_authorization_and_method),
        T(client_conditional_table),
        T(etag_weak_eq),
        T(vary_matches_and_key),
        T(garbage_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
