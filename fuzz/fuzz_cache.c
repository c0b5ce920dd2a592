/* fuzz/fuzz_cache.c: libFuzzer target for the cache's parsers of untrusted input (src/cache/rules.c
 * and src/cache/key.c) over real parsed heads and raw slices; invariants trap with a message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/key.h"
#include "cache/rules.h"
#include "http/parser.h"

/* Input: request head bytes, NUL, response head bytes, NUL, extra bytes (both NULs optional;
 * NUL never appears in a head the parser accepts). The extra bytes seed times and, one per
 * line, names and raw values (cookie and header names, Vary names, dates, URLs). */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(e)                                                                                \
    do {                                                                                           \
        if (!(e)) {                                                                                \
            fprintf(stderr, "fuzz_cache: invariant failed at line %d: %s\n", __LINE__, #e);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define FZ_D 784111777ull           /* Sun, 06 Nov 1994 08:49:37 GMT */
#define FZ_DATE_MAX 253402300799ull /* 9999-12-31T23:59:59Z */
#define FZ_MAX_LINES 16             /* extra lines used as names and values */
#define FZ_MAX_RAW 64               /* raw input lines fed to the value parsers */
#define FZ_MAX_NAMES 16             /* Vary names tried */
#define FZ_KEY_CAP (1u << 17)       /* big enough for any key of a 4 KiB head */

static const lv_http_limits_t fz_limits = {4096, 2048, 0};

/* ---- small helpers ---- */

typedef struct fz_msg {
    lv_http_parser_t p;
    const lv_http_head_t *head;
    bool error;
} fz_msg_t;

static int fz_on_head(void *owner, lv_http_head_t *h)
{
    fz_msg_t *m = owner;
    if (!m->head)
        m->head = h;
    return 0;
}

/* Parses one message (fed through an exact heap copy); m->head is the first head, or NULL. */
static void fz_parse(fz_msg_t *m, lv_http_kind_t kind, const uint8_t *d, size_t n, bool no_body)
{
    static const lv_http_parser_cbs_t cbs = {fz_on_head, NULL, NULL};
    m->head = NULL;
    m->error = false;
    lv_http_parser_init(&m->p, kind, &fz_limits, &cbs, m);
    if (kind == LV_HTTP_RESPONSE)
        lv_http_parser_expect_no_body(&m->p, no_body);
    if (n == 0)
        return;
    char *copy = malloc(n);
    memcpy(copy, d, n);
    size_t used = 0;
    lv_http_result_t r = lv_http_parser_feed(&m->p, copy, n, &used);
    free(copy);
    m->error = r == LV_HTTP_ERROR;
    if (m->error)
        m->head = NULL;
}

/* An exact-size heap copy so that ASan sees any read past the span. Free with fz_free. */
static lv_str_t fz_dup(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    return (lv_str_t){c, n};
}

static void fz_free(lv_str_t s)
{
    free((void *)s.p);
}

static bool fz_within(lv_str_t inner, lv_str_t outer)
{
    return inner.p >= outer.p && inner.p + inner.len <= outer.p + outer.len;
}

static char fz_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static char fz_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

static bool fz_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fz_lower(a[i]) != fz_lower(b[i]))
            return false;
    return true;
}

static lv_str_t fz_trim(lv_str_t s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static uint32_t fz_count(const lv_http_head_t *h, const char *lower, size_t len)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->n_headers; i++)
        if (lv_http_str_ieq(h->headers[i].name, lower, len))
            n++;
    return n;
}
#define FZ_COUNT(h, lit) fz_count((h), (lit), sizeof(lit) - 1)

static const lv_http_header_t *fz_first(const lv_http_head_t *h, const char *lower, size_t len)
{
    for (uint32_t i = 0; i < h->n_headers; i++)
        if (lv_http_str_ieq(h->headers[i].name, lower, len))
            return &h->headers[i];
    return NULL;
}
#define FZ_FIRST(h, lit) fz_first((h), (lit), sizeof(lit) - 1)

static uint64_t fz_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- Cache-Control ---- */

static bool fz_cc_eq(const lv_cache_cc_t *a, const lv_cache_cc_t *b)
{
    return a->flags == b->flags && a->max_age_s == b->max_age_s && a->s_maxage_s == b->s_maxage_s &&
           a->max_stale_s == b->max_stale_s && a->min_fresh_s == b->min_fresh_s &&
           a->swr_s == b->swr_s && a->sie_s == b->sie_s;
}

/* Valued fields are set only with their flag, and are capped. */
static void fz_cc_check(const lv_cache_cc_t *cc)
{
    FZ_CHECK((cc->flags >> 15) == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_MAX_AGE) ? cc->max_age_s <= LV_CACHE_DELTA_MAX
                                               : cc->max_age_s == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_S_MAXAGE) ? cc->s_maxage_s <= LV_CACHE_DELTA_MAX
                                                : cc->s_maxage_s == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_MAX_STALE)
                 ? (cc->max_stale_s <= LV_CACHE_DELTA_MAX || cc->max_stale_s == LV_CACHE_STALE_ANY)
                 : cc->max_stale_s == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_MIN_FRESH) ? cc->min_fresh_s <= LV_CACHE_DELTA_MAX
                                                 : cc->min_fresh_s == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_SWR) ? cc->swr_s <= LV_CACHE_DELTA_MAX : cc->swr_s == 0);
    FZ_CHECK((cc->flags & LV_CACHE_CC_SIE) ? cc->sie_s <= LV_CACHE_DELTA_MAX : cc->sie_s == 0);
}

/* Parsing a value twice changes nothing (most restrictive wins); lines combine in any order. */
static void fz_cc_raw(lv_str_t a, lv_str_t b)
{
    lv_cache_cc_t x, y, ab, ba;
    lv_cache_cc_init(&x);
    lv_cache_cc_parse(a, &x);
    fz_cc_check(&x);
    y = x;
    lv_cache_cc_parse(a, &y);
    FZ_CHECK(fz_cc_eq(&x, &y));

    lv_cache_cc_init(&ab);
    lv_cache_cc_parse(a, &ab);
    lv_cache_cc_parse(b, &ab);
    lv_cache_cc_init(&ba);
    lv_cache_cc_parse(b, &ba);
    lv_cache_cc_parse(a, &ba);
    fz_cc_check(&ab);
    FZ_CHECK(fz_cc_eq(&ab, &ba));
    /* adding a line never loses a restriction flag */
    FZ_CHECK((ab.flags & x.flags) == x.flags);
}

static void fz_cc_head(const lv_http_head_t *h, lv_cache_cc_t *out)
{
    uint32_t lines = lv_cache_cc_from_head(h, out);
    FZ_CHECK(lines == FZ_COUNT(h, "cache-control"));
    fz_cc_check(out);
    if (lines == 0)
        FZ_CHECK(out->flags == 0);
}

/* ---- dates ---- */

static uint64_t fz_date_max_parsed(void)
{
    return FZ_DATE_MAX + 1; /* 9999-12-31 23:59:60 */
}

/* t round-trips through all three formats (the obsolete ones built here with strftime). */
static void fz_date_roundtrip(uint64_t t)
{
    char buf[LV_CACHE_DATE_LEN + 1], small[LV_CACHE_DATE_LEN];
    uint64_t back = 0;
    int n = lv_cache_date_format(t, buf, sizeof(buf));
    FZ_CHECK(lv_cache_date_format(t, small, sizeof(small)) == LV_EINVAL && small[0] == 0);
    if (t > FZ_DATE_MAX) {
        FZ_CHECK(n == LV_EINVAL && buf[0] == 0);
        return;
    }
    FZ_CHECK(n == LV_CACHE_DATE_LEN && strlen(buf) == LV_CACHE_DATE_LEN);
    FZ_CHECK(lv_cache_date_parse((lv_str_t){buf, (size_t)n}, &back) == 0 && back == t);

    /* case-insensitive, OWS around */
    char low[LV_CACHE_DATE_LEN + 4];
    low[0] = ' ';
    for (int i = 0; i < n; i++)
        low[1 + i] = (i % 2) ? fz_lower(buf[i]) : fz_upper(buf[i]);
    low[1 + n] = '\t';
    FZ_CHECK(lv_cache_date_parse((lv_str_t){low, (size_t)n + 2}, &back) == 0 && back == t);

    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return;
    char other[64];
    int year = tm.tm_year + 1900;
    size_t k = strftime(other, sizeof(other), "%a %b %e %H:%M:%S %Y", &tm);
    FZ_CHECK(k == 24);
    FZ_CHECK(lv_cache_date_parse((lv_str_t){other, k}, &back) == 0 && back == t);
    if (year >= 1970 && year <= 2069) {
        k = strftime(other, sizeof(other), "%A, %d-%b-%y %H:%M:%S GMT", &tm);
        FZ_CHECK(lv_cache_date_parse((lv_str_t){other, k}, &back) == 0 && back == t);
    }
}

/* A raw value: whatever parses is in range and formats back to the same fields. */
static void fz_date_raw(lv_str_t s)
{
    uint64_t t = 0;
    if (lv_cache_date_parse(s, &t) != 0)
        return;
    FZ_CHECK(t <= fz_date_max_parsed());
    fz_date_roundtrip(t);
    lv_str_t v = fz_trim(s);
    /* IMF-fixdate: everything after the (unchecked) weekday is canonical, leap second aside */
    if (v.len == LV_CACHE_DATE_LEN && v.p[3] == ',' && memcmp(v.p + 23, "60", 2) != 0) {
        char buf[LV_CACHE_DATE_LEN + 1];
        FZ_CHECK(lv_cache_date_format(t, buf, sizeof(buf)) == LV_CACHE_DATE_LEN);
        FZ_CHECK(fz_ieq(buf + 5, v.p + 5, LV_CACHE_DATE_LEN - 5));
    }
}

/* ---- Vary ---- */

/* req with every line split at its commas into lines of their own, names in swapped case,
 * values trimmed: the same normalized members, so the same secondary key. */
typedef struct fz_split {
    lv_http_head_t head;
    lv_http_header_t *hdrs;
    char **names;
    size_t n;
} fz_split_t;

static void fz_split_make(fz_split_t *s, const lv_http_head_t *h)
{
    size_t n = 0;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        n++;
        for (size_t k = 0; k < h->headers[i].value.len; k++)
            n += h->headers[i].value.p[k] == ',';
    }
    s->head = *h;
    s->hdrs = malloc((n ? n : 1) * sizeof(*s->hdrs));
    s->names = malloc((h->n_headers ? h->n_headers : 1) * sizeof(*s->names));
    s->n = 0;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        lv_str_t nm = h->headers[i].name, v = h->headers[i].value;
        char *c = malloc(nm.len ? nm.len : 1);
        for (size_t k = 0; k < nm.len; k++) {
            char ch = nm.p[k];
            c[k] = (ch >= 'a' && ch <= 'z') ? fz_upper(ch) : fz_lower(ch);
        }
        s->names[i] = c;
        size_t start = 0;
        for (size_t k = 0; k <= v.len; k++) {
            if (k < v.len && v.p[k] != ',')
                continue;
            lv_str_t piece = fz_trim((lv_str_t){v.p + start, k - start});
            s->hdrs[s->n++] = (lv_http_header_t){{c, nm.len}, piece};
            start = k + 1;
        }
    }
    s->head.headers = s->hdrs;
    s->head.n_headers = (uint32_t)s->n;
}

static void fz_split_free(fz_split_t *s, const lv_http_head_t *h)
{
    for (uint32_t i = 0; i < h->n_headers; i++)
        free(s->names[i]);
    free(s->names);
    free(s->hdrs);
}

/* Key of h into an exact FZ_KEY_CAP buffer (must fit); also into small caps (fit or ELIMIT). */
static int fz_vary_key(const lv_str_t *names, size_t n, const lv_http_head_t *h, char *key,
                       size_t small_cap)
{
    int len = lv_cache_vary_key(names, n, h, key, FZ_KEY_CAP);
    FZ_CHECK(len >= 0 && (size_t)len >= 2 * n);
    char *small = malloc(small_cap ? small_cap : 1);
    int sl = lv_cache_vary_key(names, n, h, small, small_cap);
    if ((size_t)len <= small_cap)
        FZ_CHECK(sl == len && memcmp(small, key, (size_t)len) == 0);
    else
        FZ_CHECK(sl == LV_ELIMIT);
    free(small);
    int nl = lv_cache_vary_key(names, n, h, NULL, 0);
    FZ_CHECK(nl == (len == 0 ? 0 : LV_ELIMIT));
    /* one line per name */
    size_t lines = 0;
    for (int i = 0; i < len; i++)
        lines += key[i] == '\n';
    FZ_CHECK(lines == n);
    return len;
}

static void fz_vary(const lv_str_t *names, size_t n, const lv_http_head_t *a,
                    const lv_http_head_t *b, size_t small_cap)
{
    char *ka = malloc(FZ_KEY_CAP), *kb = malloc(FZ_KEY_CAP), *ks = malloc(FZ_KEY_CAP);
    int la = fz_vary_key(names, n, a, ka, small_cap);
    int lb = fz_vary_key(names, n, b, kb, small_cap);

    FZ_CHECK(lv_cache_vary_matches(names, n, a, a));
    FZ_CHECK(lv_cache_vary_matches(names, n, b, b));
    bool m = lv_cache_vary_matches(names, n, a, b);
    FZ_CHECK(m == lv_cache_vary_matches(names, n, b, a));
    FZ_CHECK(m == (la == lb && memcmp(ka, kb, (size_t)la) == 0));

    fz_split_t s;
    fz_split_make(&s, a);
    int ls = fz_vary_key(names, n, &s.head, ks, small_cap);
    FZ_CHECK(ls == la && memcmp(ks, ka, (size_t)la) == 0);
    FZ_CHECK(lv_cache_vary_matches(names, n, a, &s.head));
    FZ_CHECK(lv_cache_vary_matches(names, n, &s.head, a));
    FZ_CHECK(m == lv_cache_vary_matches(names, n, &s.head, b));
    fz_split_free(&s, a);

    FZ_CHECK(lv_cache_vary_matches(names, 0, a, b));
    FZ_CHECK(lv_cache_vary_key(names, 0, a, ka, FZ_KEY_CAP) == 0);
    free(ka);
    free(kb);
    free(ks);
}

/* ---- ETags and conditionals ---- */

static void fz_etags(lv_str_t a, lv_str_t b)
{
    bool ab = lv_cache_etag_weak_eq(a, b);
    FZ_CHECK(ab == lv_cache_etag_weak_eq(b, a));
    bool aa = lv_cache_etag_weak_eq(a, a);
    if (ab)
        FZ_CHECK(aa && lv_cache_etag_weak_eq(b, b));
    /* W/ is ignored by the weak comparison */
    lv_str_t t = fz_trim(a);
    if (aa && t.len && t.p[0] == '"') {
        char *w = malloc(t.len + 2);
        memcpy(w, "W/", 2);
        memcpy(w + 2, t.p, t.len);
        lv_str_t ws = {w, t.len + 2};
        FZ_CHECK(lv_cache_etag_weak_eq(ws, a) && lv_cache_etag_weak_eq(a, ws));
        FZ_CHECK(ab == lv_cache_etag_weak_eq(ws, b));
        free(w);
    }
}

static void fz_conditionals(const lv_http_head_t *req, const lv_cache_meta_t *m)
{
    bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
    bool r = lv_cache_client_conditional_matches(req, m->etag, m->last_modified, m->date_s);
    if (!get)
        FZ_CHECK(!r);
    lv_str_t none = {NULL, 0};

    if (FZ_COUNT(req, "if-none-match")) {
        /* a line holding exactly one valid entity-tag, or "*", matches that stored tag */
        for (uint32_t i = 0; i < req->n_headers; i++) {
            if (!LV_HTTP_IEQ(req->headers[i].name, "if-none-match"))
                continue;
            lv_str_t v = req->headers[i].value, tv = fz_trim(v);
            bool star = tv.len == 1 && tv.p[0] == '*';
            if (star)
                FZ_CHECK(lv_cache_client_conditional_matches(req, none, none, 0) == get);
            if (lv_cache_etag_weak_eq(v, v))
                FZ_CHECK(lv_cache_client_conditional_matches(req, v, none, 0) == get);
            fz_etags(v, m->etag);
        }
        return;
    }
    const lv_http_header_t *ims = FZ_FIRST(req, "if-modified-since");
    uint64_t t;
    if (!ims || FZ_COUNT(req, "if-modified-since") != 1 || lv_cache_date_parse(ims->value, &t))
        return;
    /* one valid If-Modified-Since: 304 iff the stored time is not after it */
    FZ_CHECK(lv_cache_client_conditional_matches(req, m->etag, none, t) == get);
    FZ_CHECK(lv_cache_client_conditional_matches(req, none, none, 0) == get);
    if (t < UINT64_MAX)
        FZ_CHECK(!lv_cache_client_conditional_matches(req, none, none, t + 1));
    char lm[LV_CACHE_DATE_LEN + 1];
    if (lv_cache_date_format(t, lm, sizeof(lm)) == LV_CACHE_DATE_LEN) {
        lv_str_t s = {lm, LV_CACHE_DATE_LEN};
        FZ_CHECK(lv_cache_client_conditional_matches(req, none, s, UINT64_MAX) == get);
    }
    if (lv_cache_date_format(t + 1, lm, sizeof(lm)) == LV_CACHE_DATE_LEN) {
        lv_str_t s = {lm, LV_CACHE_DATE_LEN};
        FZ_CHECK(!lv_cache_client_conditional_matches(req, none, s, 0));
    }
}

/* ---- storability, age, freshness ---- */

static void fz_freshness(const lv_cache_meta_t *m, const lv_cache_cc_t *rcc)
{
    uint64_t rt = m->response_time_s, life = m->freshness_lifetime_s;
    uint64_t nows[] = {0,
                       rt ? rt - 1 : 0,
                       rt,
                       fz_add(rt, 1),
                       fz_add(rt, life / 2),
                       fz_add(rt, life),
                       fz_add(rt, fz_add(life, m->swr_s)),
                       fz_add(rt, fz_add(life, m->sie_s)),
                       fz_add(rt, fz_add(life, 86400)),
                       UINT64_MAX};
    size_t nn = sizeof(nows) / sizeof(nows[0]);
    /* sorted (the additions saturate) */
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && nows[j - 1] > nows[j]; j--) {
            uint64_t x = nows[j];
            nows[j] = nows[j - 1];
            nows[j - 1] = x;
        }
    uint64_t prev_age = 0;
    bool fresh_prev[2] = {true, true};
    for (size_t i = 0; i < nn; i++) {
        uint64_t age = lv_cache_current_age(m, nows[i]);
        FZ_CHECK(age >= m->corrected_initial_age_s);
        FZ_CHECK(i == 0 || age >= prev_age); /* monotone in now */
        prev_age = age;
        for (int w = 0; w < 2; w++) {
            const lv_cache_cc_t *cc = w ? rcc : NULL;
            lv_cache_fresh_t f = lv_cache_freshness(m, nows[i], cc);
            FZ_CHECK(strcmp(lv_cache_fresh_name(f), "unknown") != 0);
            bool fresh = f == LV_CACHE_FRESH;
            if (fresh) {
                FZ_CHECK(age < life);
                FZ_CHECK(fresh_prev[w]); /* once not fresh, never fresh again */
                FZ_CHECK(lv_cache_freshness(m, nows[i], NULL) == LV_CACHE_FRESH);
            }
            fresh_prev[w] = fresh;
            if (m->flags & LV_CACHE_M_NO_CACHE)
                FZ_CHECK(f == LV_CACHE_MUST_REVALIDATE);
            if (m->flags & LV_CACHE_M_MUST_REVALIDATE)
                FZ_CHECK(f == LV_CACHE_FRESH || f == LV_CACHE_MUST_REVALIDATE);
            if (f == LV_CACHE_STALE_WHILE_REVALIDATE)
                FZ_CHECK(m->swr_s && age >= life && age - life < m->swr_s);
            if (f == LV_CACHE_STALE_ALLOWED)
                FZ_CHECK(cc && (cc->flags & LV_CACHE_CC_MAX_STALE) &&
                         !(m->flags & LV_CACHE_M_SMAXAGE) && age >= life);
            if (f == LV_CACHE_STALE_IF_ERROR_ONLY)
                FZ_CHECK(m->sie_s && age >= life && age - life < m->sie_s);
            if (f == LV_CACHE_STALE)
                FZ_CHECK(age >= life && !(m->flags & LV_CACHE_M_SMAXAGE));
        }
    }
}

static void fz_storable(const lv_http_head_t *req, const lv_http_head_t *resp,
                        const lv_cache_req_t *rq, uint64_t t_req, uint64_t t_resp,
                        lv_cache_meta_t *m)
{
    lv_cache_verdict_t v = lv_cache_storable(req, resp, t_req, t_resp, m);
    FZ_CHECK(strcmp(lv_cache_verdict_name(v), "unknown") != 0);
    FZ_CHECK(m->status == resp->status);
    FZ_CHECK(m->request_time_s == t_req && m->response_time_s >= t_req);
    FZ_CHECK(m->response_time_s == (t_resp < t_req ? t_req : t_resp));
    FZ_CHECK(m->n_vary <= LV_CACHE_VARY_MAX);
    FZ_CHECK(m->corrected_initial_age_s >= m->apparent_age_s &&
             m->corrected_initial_age_s >= m->corrected_age_value_s);
    FZ_CHECK(m->apparent_age_s ==
             (m->response_time_s > m->date_s ? m->response_time_s - m->date_s : 0));
    FZ_CHECK(m->age_value_s <= LV_CACHE_DELTA_MAX);
    FZ_CHECK(((m->flags & LV_CACHE_M_ETAG) != 0) == (m->etag.len != 0));
    FZ_CHECK(!(m->flags & LV_CACHE_M_HEURISTIC) ||
             m->freshness_lifetime_s <= LV_CACHE_HEURISTIC_MAX_S);
    for (uint32_t i = 0; i < m->n_vary; i++)
        FZ_CHECK(m->vary[i].len > 0);

    lv_cache_cc_t cc, rcc;
    lv_cache_cc_from_head(resp, &cc);
    lv_cache_cc_from_head(req, &rcc);
    if (v == LV_CACHE_STORE) {
        FZ_CHECK(rq->method_ok);
        FZ_CHECK(resp->status >= 200 && resp->status != 206 && resp->status != 304);
        FZ_CHECK(!((cc.flags | rcc.flags) & (LV_CACHE_CC_NO_STORE)));
        FZ_CHECK(!(cc.flags & LV_CACHE_CC_PRIVATE));
        FZ_CHECK(FZ_COUNT(resp, "set-cookie") == 0);
        FZ_CHECK(!rq->authorization || (m->flags & LV_CACHE_M_AUTH_OK));
        FZ_CHECK(lv_cache_may_serve(rq, m));
        bool validators = (m->flags & (LV_CACHE_M_ETAG | LV_CACHE_M_LAST_MODIFIED)) != 0;
        if (!validators)
            FZ_CHECK(!(m->flags & LV_CACHE_M_NO_CACHE) &&
                     (m->freshness_lifetime_s > 0 || m->swr_s || m->sie_s));
        /* every Vary name is kept, none is "*" */
        for (uint32_t i = 0; i < m->n_vary; i++)
            FZ_CHECK(!(m->vary[i].len == 1 && m->vary[i].p[0] == '*'));
    }
    bool may = lv_cache_may_serve(rq, m);
    if (!rq->method_ok)
        FZ_CHECK(!may);
    else if (!rq->authorization)
        FZ_CHECK(may);
    fz_freshness(m, &rq->cc);
}

/* ---- keys ---- */

/* Cookie pairs as a browser sends them: every name found must yield a value inside the line. */
static void fz_cookies(const lv_http_head_t *req)
{
    for (uint32_t i = 0; i < req->n_headers; i++) {
        if (!LV_HTTP_IEQ(req->headers[i].name, "cookie"))
            continue;
        lv_str_t line = req->headers[i].value;
        const char *p = line.p, *end = line.p + line.len;
        for (int pairs = 0; p < end && pairs < 8; pairs++) {
            while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
                p++;
            const char *pair = p;
            while (p < end && *p != ';')
                p++;
            const char *eq = memchr(pair, '=', (size_t)(p - pair));
            if (!eq)
                continue;
            lv_str_t name = fz_dup(pair, (size_t)(eq - pair));
            lv_str_t v = lv_http_cookie_value(req, name.p, name.len);
            FZ_CHECK(v.p != NULL);
            const lv_http_header_t *in = NULL;
            for (uint32_t k = 0; k < req->n_headers && !in; k++)
                if (LV_HTTP_IEQ(req->headers[k].name, "cookie") &&
                    fz_within(v, req->headers[k].value))
                    in = &req->headers[k];
            FZ_CHECK(in != NULL);
            FZ_CHECK(memchr(v.p, ';', v.len) == NULL);
            FZ_CHECK(v.len == 0 || (v.p[v.len - 1] != ' ' && v.p[v.len - 1] != '\t'));
            /* the value starts right after "name=" in that line */
            FZ_CHECK(v.p - name.len - 1 >= in->value.p);
            FZ_CHECK(v.p[-1] == '=' && memcmp(v.p - name.len - 1, name.p, name.len) == 0);
            fz_free(name);
        }
    }
}

/* Route parts: the key gets "\x1e" + each value + "\x1e", whatever fits or ELIMIT. */
static void fz_key_extra(const lv_http_head_t *req, const lv_cache_key_part_t *parts,
                         size_t n_parts, size_t small_cap)
{
    size_t cap = 2 * fz_limits.header_bytes * (n_parts + 1) + 16;
    char *buf = malloc(cap);
    memcpy(buf, "example.com/x", 13);
    int len = lv_cache_key_extra(buf, 13, cap, parts, n_parts, req);
    FZ_CHECK(len >= 13);
    FZ_CHECK(memcmp(buf, "example.com/x", 13) == 0);
    if (n_parts == 0) {
        FZ_CHECK(len == 13);
    } else {
        size_t seps = 0;
        for (int i = 13; i < len; i++)
            seps += buf[i] == LV_CACHE_KEY_EXTRA;
        FZ_CHECK(seps == n_parts + 1 && buf[13] == LV_CACHE_KEY_EXTRA &&
                 buf[len - 1] == LV_CACHE_KEY_EXTRA);
        FZ_CHECK(memchr(buf + 13, LV_CACHE_KEY_VARY, (size_t)len - 13) == NULL);
        /* cookie parts carry exactly lv_http_cookie_value */
        size_t off = 14;
        for (size_t i = 0; i < n_parts; i++) {
            const char *e = memchr(buf + off, LV_CACHE_KEY_EXTRA, (size_t)len - off);
            FZ_CHECK(e != NULL);
            size_t vl = (size_t)(e - (buf + off));
            if (parts[i].kind == LV_CACHE_KEY_COOKIE) {
                lv_str_t cv = lv_http_cookie_value(req, parts[i].name, parts[i].name_len);
                FZ_CHECK(cv.len == vl && (vl == 0 || memcmp(cv.p, buf + off, vl) == 0));
            }
            off += vl + 1;
        }
    }
    /* a smaller buffer: the same bytes, or ELIMIT */
    size_t sc = small_cap < 13 ? 13 : small_cap;
    char *small = malloc(sc);
    memcpy(small, "example.com/x", 13);
    int sl = lv_cache_key_extra(small, 13, sc, parts, n_parts, req);
    if ((size_t)len <= sc)
        FZ_CHECK(sl == len && memcmp(small, buf, (size_t)len) == 0);
    else
        FZ_CHECK(sl == LV_ELIMIT);
    free(small);
    free(buf);
}

static void fz_key_url(const char *url, size_t n, size_t small_cap)
{
    size_t cap = n + 1;
    char *buf = malloc(cap);
    int len = lv_cache_key_from_url(buf, cap, url, n);
    FZ_CHECK(len == LV_EINVAL || len >= 0);
    if (len >= 0) {
        FZ_CHECK((size_t)len <= n && len >= 2);
        const char *slash = memchr(buf, '/', (size_t)len);
        FZ_CHECK(slash != NULL && slash != buf);
        for (int i = 0; i < len; i++) {
            unsigned char c = (unsigned char)buf[i];
            FZ_CHECK(c > 0x20 && c != 0x7f);
            if (buf + i < slash)
                FZ_CHECK(!(c >= 'A' && c <= 'Z'));
        }
        char *small = malloc(small_cap ? small_cap : 1);
        int sl = lv_cache_key_from_url(small, small_cap, url, n);
        if ((size_t)len <= small_cap)
            FZ_CHECK(sl == len && memcmp(small, buf, (size_t)len) == 0);
        else
            FZ_CHECK(sl == LV_ELIMIT);
        free(small);
    }
    free(buf);
}

/* The primary key is injective: its first '/' ends the lower-cased host, so no two requests
 * with a different Host or target share a key. And the admin URL of a request names the same
 * primary key the request uses. */
static void fz_key_request(const lv_http_head_t *req)
{
    lv_str_t host = req->host, target = req->target;
    char *pk = malloc(host.len + target.len + 1);
    int pl = lv_cache_key_primary(pk, host.len + target.len, host, target);
    FZ_CHECK(pl == LV_EINVAL || pl == LV_ELIMIT || pl == (int)(host.len + target.len));
    if (pl >= 0) {
        const char *slash = memchr(pk, '/', (size_t)pl);
        FZ_CHECK(slash && (size_t)(slash - pk) == host.len);
        FZ_CHECK(memcmp(slash, target.p, target.len) == 0);
        for (size_t i = 0; i < host.len; i++)
            FZ_CHECK(pk[i] == fz_lower(host.p[i]));
    }
    free(pk);
    if (!host.len || !target.len || target.p[0] != '/')
        return;
    for (size_t i = 0; i < host.len; i++)
        if ((unsigned char)host.p[i] <= 0x20 || host.p[i] == 0x7f || host.p[i] == '/')
            return;
    for (size_t i = 0; i < target.len; i++)
        if ((unsigned char)target.p[i] <= 0x20 || target.p[i] == 0x7f)
            return;
    size_t cap = host.len + target.len;
    char *k = malloc(cap), *u = malloc(cap + 8), *ku = malloc(cap);
    int kl = lv_cache_key_primary(k, cap, host, target);
    FZ_CHECK(kl == (int)cap);
    FZ_CHECK(lv_cache_key_primary(k, cap - 1, host, target) == LV_ELIMIT);
    static const char *const schemes[] = {"http://", "https://", ""};
    for (int s = 0; s < 3; s++) {
        size_t sl = strlen(schemes[s]);
        memcpy(u, schemes[s], sl);
        memcpy(u + sl, host.p, host.len);
        memcpy(u + sl + host.len, target.p, target.len);
        int ul = lv_cache_key_from_url(ku, cap, u, sl + cap);
        /* a bare "host/path" whose host looks like a scheme (any case) is read as the scheme */
        if (s == 2 &&
            ((cap >= 7 && fz_ieq(u, "http://", 7)) || (cap >= 8 && fz_ieq(u, "https://", 8))))
            continue;
        FZ_CHECK(ul == kl && memcmp(ku, k, cap) == 0);
    }
    free(k);
    free(u);
    free(ku);
}

/* ---- the target ---- */

typedef struct fz_lines {
    lv_str_t s[FZ_MAX_RAW];
    size_t n;
} fz_lines_t;

/* Splits d at '\n' (dropping a '\r' before it) into exact heap copies, at most max. */
static void fz_lines(fz_lines_t *l, const uint8_t *d, size_t n, size_t max)
{
    l->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && l->n < max; i++) {
        if (i < n && d[i] != '\n')
            continue;
        size_t e = i;
        if (e > start && d[e - 1] == '\r')
            e--;
        l->s[l->n++] = fz_dup((const char *)d + start, e - start);
        start = i + 1;
    }
}

static void fz_lines_free(fz_lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        fz_free(l->s[i]);
}

/* Raw slices of the whole input through the value parsers. */
static void fz_raw(const uint8_t *data, size_t size)
{
    lv_str_t all = {(const char *)data, size};
    fz_cc_raw(all, LV_STR("max-age=1, no-store"));
    fz_date_raw(all);
    fz_key_url((const char *)data, size, size / 2);
    fz_lines_t l;
    fz_lines(&l, data, size, FZ_MAX_RAW);
    for (size_t i = 0; i < l.n; i++) {
        lv_str_t s = l.s[i];
        fz_cc_raw(s, i + 1 < l.n ? l.s[i + 1] : LV_STR("s-maxage=0"));
        fz_date_raw(s);
        fz_key_url(s.p, s.len, s.len / 2);
        const char *colon = memchr(s.p, ':', s.len);
        if (colon) {
            lv_str_t v = fz_dup(colon + 1, s.len - (size_t)(colon + 1 - s.p));
            fz_cc_raw(v, s);
            fz_date_raw(v);
            fz_etags(v, s);
            fz_free(v);
        }
    }
    fz_lines_free(&l);
}

static uint64_t fz_u64(const uint8_t *d, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v |= (uint64_t)d[i] << (8 * i);
    return v;
}

static void fz_heads(const lv_http_head_t *req, const lv_http_head_t *resp, const uint8_t *extra,
                     size_t extra_len, bool has_extra)
{
    lv_cache_cc_t qcc, scc;
    fz_cc_head(req, &qcc);
    fz_cc_head(resp, &scc);

    lv_cache_req_t rq;
    lv_cache_request_policy(req, &rq);
    fz_cc_check(&rq.cc);
    FZ_CHECK(rq.method_ok == (req->method == HTTP_GET || req->method == HTTP_HEAD));
    FZ_CHECK(rq.head == (req->method == HTTP_HEAD));
    FZ_CHECK(rq.authorization == (FZ_COUNT(req, "authorization") != 0));
    FZ_CHECK(rq.no_store == ((qcc.flags & LV_CACHE_CC_NO_STORE) != 0));
    FZ_CHECK((rq.cc.flags | LV_CACHE_CC_NO_CACHE) == (qcc.flags | LV_CACHE_CC_NO_CACHE));
    if (qcc.flags & LV_CACHE_CC_NO_CACHE)
        FZ_CHECK(rq.revalidate);
    if (FZ_COUNT(req, "cache-control"))
        FZ_CHECK(fz_cc_eq(&rq.cc, &qcc));

    /* times: fixed ones, and ones from the extra bytes */
    uint64_t base = FZ_D;
    if (has_extra && extra_len)
        base = fz_u64(extra, extra_len);
    const lv_http_header_t *date = FZ_FIRST(resp, "date");
    uint64_t dt = 0;
    if (date && lv_cache_date_parse(date->value, &dt) == 0)
        fz_date_roundtrip(dt);
    else
        dt = FZ_D;
    fz_date_roundtrip(base);
    fz_date_roundtrip(base % (FZ_DATE_MAX + 2));
    fz_date_roundtrip(base % 3155760000ull); /* 1970..2069 */
    const uint64_t times[][2] = {
        {FZ_D, FZ_D},
        {dt, dt + 2},
        {dt + 7200, dt + 7201},
        {dt + 3, dt},
        {base, fz_add(base, 1)},
        {0, 0},
        {UINT64_MAX - 1, UINT64_MAX},
    };
    lv_cache_meta_t m;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        fz_storable(req, resp, &rq, times[i][0], times[i][1], &m);
    /* keep the meta of an ordinary clock for the Vary and conditional checks */
    fz_storable(req, resp, &rq, dt, dt + 1, &m);
    fz_conditionals(req, &m);

    /* dates in the heads */
    for (uint32_t i = 0; i < resp->n_headers; i++)
        fz_date_raw(resp->headers[i].value);
    for (uint32_t i = 0; i < req->n_headers; i++)
        fz_date_raw(req->headers[i].value);

    fz_lines_t extra_lines = {.n = 0};
    if (has_extra)
        fz_lines(&extra_lines, extra, extra_len, FZ_MAX_LINES);

    /* Vary: the response's names, then request header names, then extra lines */
    lv_str_t names[FZ_MAX_NAMES];
    size_t nn = 0;
    for (uint32_t i = 0; i < m.n_vary && nn < FZ_MAX_NAMES; i++)
        names[nn++] = m.vary[i];
    size_t small_cap = has_extra && extra_len ? extra[0] % 64 : 16;
    fz_vary(names, nn, req, resp, small_cap);
    for (uint32_t i = 0; i < req->n_headers && i < 4 && nn < FZ_MAX_NAMES; i++)
        names[nn++] = req->headers[i].name;
    for (size_t i = 0; i < extra_lines.n && i < 4 && nn < FZ_MAX_NAMES; i++)
        names[nn++] = extra_lines.s[i];
    fz_vary(names, nn, req, resp, small_cap);
    fz_vary(names, nn, resp, req, small_cap / 2);

    /* keys */
    fz_cookies(req);
    fz_key_request(req);
    lv_cache_key_part_t parts[LV_CACHE_KEY_PARTS_MAX];
    char *lowered[LV_CACHE_KEY_PARTS_MAX] = {NULL};
    size_t np = 0;
    for (size_t i = 0; i < extra_lines.n && np < LV_CACHE_KEY_PARTS_MAX; i++) {
        lv_str_t s = extra_lines.s[i];
        char *c = malloc(s.len ? s.len : 1);
        for (size_t k = 0; k < s.len; k++)
            c[k] = fz_lower(s.p[k]); /* config lower-cases header names */
        lowered[np] = c;
        bool cookie = (i + (s.len ? (unsigned char)s.p[0] : 0)) % 2 == 0;
        parts[np] = (lv_cache_key_part_t){cookie ? LV_CACHE_KEY_COOKIE : LV_CACHE_KEY_HEADER,
                                          cookie ? (char *)s.p : c, s.len};
        np++;
    }
    /* with no extra lines: a Cookie name and a header name of the request itself */
    char hn[32];
    if (np == 0) {
        lv_str_t ck = LV_STR("");
        const lv_http_header_t *c = FZ_FIRST(req, "cookie");
        if (c) {
            const char *eq = memchr(c->value.p, '=', c->value.len);
            if (eq)
                ck = fz_trim((lv_str_t){c->value.p, (size_t)(eq - c->value.p)});
        }
        parts[np++] = (lv_cache_key_part_t){LV_CACHE_KEY_COOKIE, (char *)ck.p, ck.len};
        if (req->n_headers) {
            lv_str_t hname = req->headers[req->n_headers - 1].name;
            size_t hl = LV_MIN(hname.len, sizeof(hn));
            for (size_t k = 0; k < hl; k++)
                hn[k] = fz_lower(hname.p[k]);
            parts[np++] = (lv_cache_key_part_t){LV_CACHE_KEY_HEADER, hn, hl};
        }
    }
    for (size_t k = 0; k <= np; k++)
        fz_key_extra(req, parts, k, small_cap * 2);
    for (size_t i = 0; i < LV_CACHE_KEY_PARTS_MAX; i++)
        free(lowered[i]);
    for (size_t i = 0; i < extra_lines.n; i++) {
        lv_str_t s = extra_lines.s[i];
        fz_cc_raw(s, LV_STR("no-cache"));
        fz_date_raw(s);
        fz_key_url(s.p, s.len, small_cap);
        fz_etags(s, m.etag);
        lv_str_t cv = lv_http_cookie_value(req, s.p, s.len);
        FZ_CHECK(cv.p == NULL ? cv.len == 0 : true);
    }
    fz_lines_free(&extra_lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_raw(data, size);

    const uint8_t *nul1 = memchr(data, 0, size);
    size_t req_len = nul1 ? (size_t)(nul1 - data) : size;
    const uint8_t *resp_p = nul1 ? nul1 + 1 : data + size;
    size_t rest = size - (size_t)(resp_p - data);
    const uint8_t *nul2 = memchr(resp_p, 0, rest);
    size_t resp_len = nul2 ? (size_t)(nul2 - resp_p) : rest;
    const uint8_t *extra = nul2 ? nul2 + 1 : NULL;
    size_t extra_len = nul2 ? size - (size_t)(extra - data) : 0;

    fz_msg_t *rq = malloc(sizeof(*rq)), *rs = malloc(sizeof(*rs));
    fz_parse(rq, LV_HTTP_REQUEST, data, req_len, false);
    bool head_req = rq->head && rq->head->method == HTTP_HEAD;
    fz_parse(rs, LV_HTTP_RESPONSE, resp_p, resp_len, head_req);
    if (rq->head && rs->head)
        fz_heads(rq->head, rs->head, extra, extra_len, extra != NULL);
    lv_http_parser_fini(&rq->p);
    lv_http_parser_fini(&rs->p);
    free(rq);
    free(rs);
    return 0;
}
