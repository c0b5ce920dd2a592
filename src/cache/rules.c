/* cache/rules.c: RFC 9111 / RFC 5861 rules for the shared cache: Cache-Control parsing, HTTP
 * dates, storability, Age and freshness, conditional and Vary matching. Owns nothing: pure
 * functions over parsed heads, no allocation, no clock, no logging; any thread, per request. */
#include "cache/rules.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- small byte helpers ---- */

static bool lv_cache_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar. */
static bool lv_cache_is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lv_cache_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static lv_str_t lv_cache_trim(lv_str_t s)
{
    while (s.len && lv_cache_is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && lv_cache_is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* The first header named `lower` (a lowercase literal) at or after index *from, or NULL. */
static const lv_http_header_t *lv_cache_find(const lv_http_head_t *h, const char *lower, size_t len,
                                             uint32_t *from)
{
    if (!h || !h->headers)
        return NULL;
    for (uint32_t i = *from; i < h->n_headers; i++) {
        if (lv_http_str_ieq(h->headers[i].name, lower, len)) {
            *from = i + 1;
            return &h->headers[i];
        }
    }
    *from = h->n_headers;
    return NULL;
}
#define LV_CACHE_FIND(h, lit, from) lv_cache_find((h), (lit), sizeof(lit) - 1, (from))

static bool lv_cache_has(const lv_http_head_t *h, const char *lower, size_t len)
{
    uint32_t from = 0;
    return lv_cache_find(h, lower, len, &from) != NULL;
}
#define LV_CACHE_HAS(h, lit) lv_cache_has((h), (lit), sizeof(lit) - 1)

/* delta-seconds (RFC 9111 1.2.2): 1*DIGIT, capped at LV_CACHE_DELTA_MAX. */
static bool lv_cache_delta(lv_str_t s, uint32_t *out)
{
    if (s.len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        if (v < LV_CACHE_DELTA_MAX)
            v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = (uint32_t)(v > LV_CACHE_DELTA_MAX ? LV_CACHE_DELTA_MAX : v);
    return true;
}

static uint64_t lv_cache_sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t lv_cache_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- Cache-Control ---- */

void lv_cache_cc_init(lv_cache_cc_t *out)
{
    memset(out, 0, sizeof(*out));
}

static void lv_cache_cc_min(lv_cache_cc_t *cc, uint32_t flag, uint32_t *field, uint32_t v)
{
    if (!(cc->flags & flag) || v < *field)
        *field = v;
    cc->flags |= flag;
}

static void lv_cache_cc_apply(lv_cache_cc_t *cc, lv_str_t name, bool has_value, lv_str_t value)
{
    uint32_t v = 0;
    bool ok = has_value && lv_cache_delta(value, &v);

    if (LV_HTTP_IEQ(name, "max-age")) {
        lv_cache_cc_min(cc, LV_CACHE_CC_MAX_AGE, &cc->max_age_s, ok ? v : 0);
    } else if (LV_HTTP_IEQ(name, "s-maxage")) {
        lv_cache_cc_min(cc, LV_CACHE_CC_S_MAXAGE, &cc->s_maxage_s, ok ? v : 0);
    } else if (LV_HTTP_IEQ(name, "no-store")) {
        cc->flags |= LV_CACHE_CC_NO_STORE;
    } else if (LV_HTTP_IEQ(name, "no-cache")) {
        cc->flags |= LV_CACHE_CC_NO_CACHE;
    } else if (LV_HTTP_IEQ(name, "private")) {
        cc->flags |= LV_CACHE_CC_PRIVATE;
    } else if (LV_HTTP_IEQ(name, "public")) {
        cc->flags |= LV_CACHE_CC_PUBLIC;
    } else if (LV_HTTP_IEQ(name, "must-revalidate")) {
        cc->flags |= LV_CACHE_CC_MUST_REVALIDATE;
    } else if (LV_HTTP_IEQ(name, "proxy-revalidate")) {
        cc->flags |= LV_CACHE_CC_PROXY_REVALIDATE;
    } else if (LV_HTTP_IEQ(name, "only-if-cached")) {
        cc->flags |= LV_CACHE_CC_ONLY_IF_CACHED;
    } else if (LV_HTTP_IEQ(name, "no-transform")) {
        cc->flags |= LV_CACHE_CC_NO_TRANSFORM;
    } else if (LV_HTTP_IEQ(name, "immutable")) {
        cc->flags |= LV_CACHE_CC_IMMUTABLE;
    } else if (LV_HTTP_IEQ(name, "max-stale")) {
        if (!has_value)
            lv_cache_cc_min(cc, LV_CACHE_CC_MAX_STALE, &cc->max_stale_s, LV_CACHE_STALE_ANY);
        else if (ok)
            lv_cache_cc_min(cc, LV_CACHE_CC_MAX_STALE, &cc->max_stale_s, v);
    } else if (LV_HTTP_IEQ(name, "min-fresh")) {
        if (ok) {
            if (!(cc->flags & LV_CACHE_CC_MIN_FRESH) || v > cc->min_fresh_s)
                cc->min_fresh_s = v;
            cc->flags |= LV_CACHE_CC_MIN_FRESH;
        }
    } else if (LV_HTTP_IEQ(name, "stale-while-revalidate")) {
        if (ok)
            lv_cache_cc_min(cc, LV_CACHE_CC_SWR, &cc->swr_s, v);
    } else if (LV_HTTP_IEQ(name, "stale-if-error")) {
        if (ok)
            lv_cache_cc_min(cc, LV_CACHE_CC_SIE, &cc->sie_s, v);
    }
    /* anything else: an extension we do not know, ignored (RFC 9111 5.2.3) */
}

void lv_cache_cc_parse(lv_str_t value, lv_cache_cc_t *out)
{
    const char *s = value.p;
    size_t n = s ? value.len : 0, i = 0;

    while (i < n) {
        while (i < n && (lv_cache_is_ows(s[i]) || s[i] == ','))
            i++;
        if (i >= n)
            break;
        size_t name_start = i;
        while (i < n && lv_cache_is_tchar((unsigned char)s[i]))
            i++;
        lv_str_t name = {s + name_start, i - name_start};
        while (i < n && lv_cache_is_ows(s[i]))
            i++;
        bool has_value = false;
        lv_str_t val = {NULL, 0};
        if (i < n && s[i] == '=') {
            i++;
            while (i < n && lv_cache_is_ows(s[i]))
                i++;
            has_value = true;
            if (i < n && s[i] == '"') {
                /* quoted-string: the span is the inside, escapes left as they are (a
                 * delta-seconds with an escape is then simply invalid). */
                size_t vs = ++i;
                bool closed = false;
                while (i < n) {
                    if (s[i] == '\\' && i + 1 < n) {
                        i += 2;
                        continue;
                    }
                    if (s[i] == '"') {
                        closed = true;
                        break;
                    }
                    i++;
                }
                val = (lv_str_t){s + vs, (i < n ? i : n) - vs};
                if (closed)
                    i++;
                else
                    val = (lv_str_t){"x", 1}; /* unterminated: an invalid value */
            } else {
                size_t vs = i;
                while (i < n && lv_cache_is_tchar((unsigned char)s[i]))
                    i++;
                val = (lv_str_t){s + vs, i - vs};
            }
        }
        /* Junk up to the next top-level comma makes the whole member invalid. */
        bool junk = false;
        while (i < n && s[i] != ',') {
            if (!lv_cache_is_ows(s[i]))
                junk = true;
            if (s[i] == '"') {
                for (i++; i < n && s[i] != '"'; i++)
                    if (s[i] == '\\' && i + 1 < n)
                        i++;
            }
            if (i < n)
                i++;
        }
        if (name.len == 0)
            continue;
        if (junk && has_value)
            val = (lv_str_t){"x", 1}; /* "max-age=5 x": an invalid value */
        /* "no-store x": still no-store (junk never loses a restriction) */
        lv_cache_cc_apply(out, name, has_value, val);
    }
}

uint32_t lv_cache_cc_from_head(const lv_http_head_t *h, lv_cache_cc_t *out)
{
    lv_cache_cc_init(out);
    uint32_t from = 0, lines = 0;
    const lv_http_header_t *hdr;
    while ((hdr = LV_CACHE_FIND(h, "cache-control", &from)) != NULL) {
        lv_cache_cc_parse(hdr->value, out);
        lines++;
    }
    return lines;
}

/* ---- HTTP-date ---- */

static const char lv_cache_wkday[7][10] = {"sunday",   "monday", "tuesday", "wednesday",
                                           "thursday", "friday", "saturday"};
static const char lv_cache_wkday_short[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char lv_cache_month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t lv_cache_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static unsigned lv_cache_days_in_month(unsigned y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* n digits at p (n <= 4); false on anything else. */
static bool lv_cache_digits(const char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* Case-insensitive match of n bytes at p against a literal of the same length. */
static bool lv_cache_ieq_n(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lv_cache_lower((unsigned char)p[i]) != lv_cache_lower((unsigned char)lit[i]))
            return false;
    return true;
}

static bool lv_cache_month_at(const char *p, unsigned *m)
{
    for (unsigned i = 0; i < 12; i++) {
        if (lv_cache_ieq_n(p, lv_cache_month[i], 3)) {
            *m = i + 1;
            return true;
        }
    }
    return false;
}

static bool lv_cache_wkday_short_at(const char *p)
{
    for (unsigned i = 0; i < 7; i++)
        if (lv_cache_ieq_n(p, lv_cache_wkday_short[i], 3))
            return true;
    return false;
}

/* "HH:MM:SS" */
static bool lv_cache_time_at(const char *p, unsigned *hh, unsigned *mm, unsigned *ss)
{
    return lv_cache_digits(p, 2, hh) && p[2] == ':' && lv_cache_digits(p + 3, 2, mm) &&
           p[5] == ':' && lv_cache_digits(p + 6, 2, ss) && *hh <= 23 && *mm <= 59 && *ss <= 60;
}

static int lv_cache_date_make(unsigned y, unsigned m, unsigned d, unsigned hh, unsigned mm,
                              unsigned ss, uint64_t *out_s)
{
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > lv_cache_days_in_month(y, m))
        return LV_EINVAL;
    int64_t days = lv_cache_days_from_civil((int64_t)y, m, d);
    *out_s = (uint64_t)days * 86400u + hh * 3600u + mm * 60u + ss;
    return 0;
}

int lv_cache_date_parse(lv_str_t s, uint64_t *out_s)
{
    unsigned y, m, d, hh, mm, ss;
    s = lv_cache_trim(s);
    const char *p = s.p;
    if (!p || s.len < 24)
        return LV_EINVAL;

    if (p[3] == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (s.len != 29 || !lv_cache_wkday_short_at(p) || p[4] != ' ' ||
            !lv_cache_digits(p + 5, 2, &d) || p[7] != ' ' || !lv_cache_month_at(p + 8, &m) ||
            p[11] != ' ' || !lv_cache_digits(p + 12, 4, &y) || p[16] != ' ' ||
            !lv_cache_time_at(p + 17, &hh, &mm, &ss) || p[25] != ' ' ||
            !lv_cache_ieq_n(p + 26, "GMT", 3))
            return LV_EINVAL;
        return lv_cache_date_make(y, m, d, hh, mm, ss, out_s);
    }
    if (p[3] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" (day as SP DIGIT or 2DIGIT) */
        if (s.len != 24 || !lv_cache_wkday_short_at(p) || !lv_cache_month_at(p + 4, &m) ||
            p[7] != ' ')
            return LV_EINVAL;
        if (p[8] == ' ') {
            if (!lv_cache_digits(p + 9, 1, &d))
                return LV_EINVAL;
        } else if (!lv_cache_digits(p + 8, 2, &d)) {
            return LV_EINVAL;
        }
        if (p[10] != ' ' || !lv_cache_time_at(p + 11, &hh, &mm, &ss) || p[19] != ' ' ||
            !lv_cache_digits(p + 20, 4, &y))
            return LV_EINVAL;
        return lv_cache_date_make(y, m, d, hh, mm, ss, out_s);
    }
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    size_t comma = 0;
    while (comma < s.len && comma < 10 && p[comma] != ',')
        comma++;
    if (comma >= s.len || p[comma] != ',')
        return LV_EINVAL;
    bool named = false;
    for (unsigned i = 0; i < 7 && !named; i++)
        named = strlen(lv_cache_wkday[i]) == comma && lv_cache_ieq_n(p, lv_cache_wkday[i], comma);
    const char *q = p + comma + 1;
    if (!named || s.len - comma - 1 != 23 || q[0] != ' ' || !lv_cache_digits(q + 1, 2, &d) ||
        q[3] != '-' || !lv_cache_month_at(q + 4, &m) || q[7] != '-' ||
        !lv_cache_digits(q + 8, 2, &y) || q[10] != ' ' ||
        !lv_cache_time_at(q + 11, &hh, &mm, &ss) || q[19] != ' ' ||
        !lv_cache_ieq_n(q + 20, "GMT", 3))
        return LV_EINVAL;
    /* RFC 9110 5.6.7 wants "more than 50 years in the future -> the past century", which
     * needs the current year; a fixed pivot is close enough for an obsolete format. */
    y += y < 70 ? 2000 : 1900;
    return lv_cache_date_make(y, m, d, hh, mm, ss, out_s);
}

int lv_cache_date_format(uint64_t t_s, char *buf, size_t cap)
{
    /* 9999-12-31T23:59:59Z */
    if (!buf || cap <= LV_CACHE_DATE_LEN || t_s > 253402300799ull) {
        if (buf && cap)
            buf[0] = 0;
        return LV_EINVAL;
    }
    uint64_t days = t_s / 86400, secs = t_s % 86400;
    unsigned wd = (unsigned)((days + 4) % 7); /* 1970-01-01 was a Thursday */
    /* civil_from_days (H. Hinnant), days >= 0 here */
    uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    uint64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    int n = snprintf(buf, cap, "%s, %02u %s %04u %02u:%02u:%02u GMT", lv_cache_wkday_short[wd],
                     (unsigned)d, lv_cache_month[m - 1], (unsigned)y, (unsigned)(secs / 3600),
                     (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    LV_DASSERT(n == LV_CACHE_DATE_LEN);
    return n == LV_CACHE_DATE_LEN ? n : LV_EINVAL;
}

/* ---- request side ---- */

void lv_cache_request_policy(const lv_http_head_t *req, lv_cache_req_t *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t lines = lv_cache_cc_from_head(req, &out->cc);
    if (lines == 0) {
        /* RFC 9111 5.4: Pragma: no-cache counts only when Cache-Control is absent. */
        uint32_t from = 0;
        const lv_http_header_t *hdr;
        lv_cache_cc_t pragma;
        lv_cache_cc_init(&pragma);
        while ((hdr = LV_CACHE_FIND(req, "pragma", &from)) != NULL)
            lv_cache_cc_parse(hdr->value, &pragma);
        out->cc.flags |= pragma.flags & LV_CACHE_CC_NO_CACHE;
    }
    out->method_ok = req->method == HTTP_GET || req->method == HTTP_HEAD;
    out->head = req->method == HTTP_HEAD;
    out->authorization = LV_CACHE_HAS(req, "authorization");
    out->revalidate = (out->cc.flags & LV_CACHE_CC_NO_CACHE) ||
                      ((out->cc.flags & LV_CACHE_CC_MAX_AGE) && out->cc.max_age_s == 0);
    out->no_store = (out->cc.flags & LV_CACHE_CC_NO_STORE) != 0;
    out->only_if_cached = (out->cc.flags & LV_CACHE_CC_ONLY_IF_CACHED) != 0;
    out->if_none_match = LV_CACHE_HAS(req, "if-none-match");
    out->if_modified_since = LV_CACHE_HAS(req, "if-modified-since");
    out->range = LV_CACHE_HAS(req, "range");
}

bool lv_cache_may_serve(const lv_cache_req_t *rq, const lv_cache_meta_t *m)
{
    if (!rq->method_ok)
        return false;
    return !rq->authorization || (m->flags & LV_CACHE_M_AUTH_OK);
}

/* ---- response side ---- */

/* RFC 9110 15.1: heuristically cacheable (206 too, but this cache does not store ranges). */
static bool lv_cache_status_heuristic(uint16_t st)
{
    switch (st) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
        return true;
    default:
        return false;
    }
}

/* Final statuses defined by RFC 9110 (a cache must understand a status to store it), less 304:
 * a 304 refreshes a stored response, it is never stored itself. */
static bool lv_cache_status_understood(uint16_t st)
{
    if (st >= 200 && st <= 206)
        return true;
    if ((st >= 300 && st <= 305 && st != 304) || st == 307 || st == 308)
        return true;
    if ((st >= 400 && st <= 417) || st == 421 || st == 422 || st == 426)
        return true;
    return st >= 500 && st <= 505;
}

/* Collects Vary names from every Vary line. Returns 0, or the verdict that forbids storing. */
static lv_cache_verdict_t lv_cache_vary_collect(const lv_http_head_t *resp, lv_cache_meta_t *out)
{
    uint32_t from = 0;
    const lv_http_header_t *hdr;
    lv_cache_verdict_t verdict = LV_CACHE_STORE;
    while ((hdr = LV_CACHE_FIND(resp, "vary", &from)) != NULL) {
        const char *s = hdr->value.p;
        size_t n = hdr->value.len, i = 0;
        while (i < n) {
            size_t start = i;
            while (i < n && s[i] != ',')
                i++;
            lv_str_t name = lv_cache_trim((lv_str_t){s + start, i - start});
            i++;
            if (name.len == 0)
                continue;
            if (name.len == 1 && name.p[0] == '*')
                return LV_CACHE_NS_VARY_STAR;
            if (out->n_vary >= LV_CACHE_VARY_MAX) {
                verdict = LV_CACHE_NS_VARY_LIMIT; /* keep looking for a '*' */
                continue;
            }
            out->vary[out->n_vary++] = name;
        }
    }
    return verdict;
}

lv_cache_verdict_t lv_cache_storable(const lv_http_head_t *req, const lv_http_head_t *resp,
                                     uint64_t request_time_s, uint64_t response_time_s,
                                     lv_cache_meta_t *out)
{
    memset(out, 0, sizeof(*out));
    out->status = resp->status;
    if (response_time_s < request_time_s)
        response_time_s = request_time_s; /* a clock step: no negative response delay */
    out->request_time_s = request_time_s;
    out->response_time_s = response_time_s;

    lv_cache_cc_t cc, rcc;
    lv_cache_cc_from_head(resp, &cc);
    lv_cache_cc_from_head(req, &rcc);

    const lv_http_header_t *hdr;
    uint32_t from;

    /* Date: the first valid one; absent or invalid -> the time we received it (RFC 9110
     * 6.6.1). */
    out->date_s = response_time_s;
    from = 0;
    while ((hdr = LV_CACHE_FIND(resp, "date", &from)) != NULL) {
        uint64_t t;
        if (lv_cache_date_parse(hdr->value, &t) == 0) {
            out->date_s = t;
            break;
        }
    }
    /* Age: the largest valid value (older is the safe side); invalid values ignored. */
    from = 0;
    while ((hdr = LV_CACHE_FIND(resp, "age", &from)) != NULL) {
        uint32_t a;
        if (lv_cache_delta(hdr->value, &a) && a > out->age_value_s)
            out->age_value_s = a;
    }
    from = 0;
    if ((hdr = LV_CACHE_FIND(resp, "etag", &from)) != NULL && hdr->value.len) {
        out->etag = hdr->value;
        out->flags |= LV_CACHE_M_ETAG;
    }
    from = 0;
    if ((hdr = LV_CACHE_FIND(resp, "last-modified", &from)) != NULL) {
        out->last_modified = hdr->value;
        if (lv_cache_date_parse(hdr->value, &out->last_modified_s) == 0)
            out->flags |= LV_CACHE_M_LAST_MODIFIED;
    }

    /* RFC 9111 4.2.3 */
    out->apparent_age_s = lv_cache_sub0(response_time_s, out->date_s);
    out->corrected_age_value_s =
        lv_cache_add_sat(out->age_value_s, response_time_s - request_time_s);
    out->corrected_initial_age_s = LV_MAX(out->apparent_age_s, out->corrected_age_value_s);

    /* RFC 9111 4.2.1: freshness lifetime, first match wins. */
    bool heuristic_ok = lv_cache_status_heuristic(resp->status) || (cc.flags & LV_CACHE_CC_PUBLIC);
    if (cc.flags & LV_CACHE_CC_S_MAXAGE) {
        out->freshness_lifetime_s = cc.s_maxage_s;
        out->flags |= LV_CACHE_M_EXPLICIT | LV_CACHE_M_SMAXAGE;
    } else if (cc.flags & LV_CACHE_CC_MAX_AGE) {
        out->freshness_lifetime_s = cc.max_age_s;
        out->flags |= LV_CACHE_M_EXPLICIT;
    } else if (LV_CACHE_HAS(resp, "expires")) {
        /* every line must be valid; the earliest wins; invalid (e.g. "0") = already expired */
        uint64_t exp = UINT64_MAX;
        from = 0;
        while ((hdr = LV_CACHE_FIND(resp, "expires", &from)) != NULL) {
            uint64_t t;
            if (lv_cache_date_parse(hdr->value, &t) != 0)
                t = 0;
            exp = LV_MIN(exp, t);
        }
        out->freshness_lifetime_s = lv_cache_sub0(exp, out->date_s);
        out->flags |= LV_CACHE_M_EXPLICIT;
    } else if (heuristic_ok && (out->flags & LV_CACHE_M_LAST_MODIFIED)) {
        uint64_t span = lv_cache_sub0(out->date_s, out->last_modified_s);
        out->freshness_lifetime_s = LV_MIN(span / 10, (uint64_t)LV_CACHE_HEURISTIC_MAX_S);
        out->flags |= LV_CACHE_M_HEURISTIC;
    }

    if (cc.flags & (LV_CACHE_CC_MUST_REVALIDATE | LV_CACHE_CC_PROXY_REVALIDATE))
        out->flags |= LV_CACHE_M_MUST_REVALIDATE;
    if (cc.flags & LV_CACHE_CC_NO_CACHE)
        out->flags |= LV_CACHE_M_NO_CACHE;
    if (cc.flags & LV_CACHE_CC_PUBLIC)
        out->flags |= LV_CACHE_M_PUBLIC;
    /* RFC 9111 3.5 (proxy-revalidate is not in the list: it does not allow sharing) */
    if (cc.flags & (LV_CACHE_CC_PUBLIC | LV_CACHE_CC_S_MAXAGE | LV_CACHE_CC_MUST_REVALIDATE))
        out->flags |= LV_CACHE_M_AUTH_OK;
    if (cc.flags & LV_CACHE_CC_SWR)
        out->swr_s = cc.swr_s;
    if (cc.flags & LV_CACHE_CC_SIE)
        out->sie_s = cc.sie_s;

    lv_cache_verdict_t vary = lv_cache_vary_collect(resp, out);

    /* RFC 9111 3: the verdict, in the order a log reader would want the reason. */
    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        return LV_CACHE_NS_METHOD;
    if (resp->status == 206)
        return LV_CACHE_NS_PARTIAL;
    if (resp->te_other)
        return LV_CACHE_NS_CODING;
    if (!lv_cache_status_understood(resp->status))
        return LV_CACHE_NS_STATUS;
    if ((cc.flags | rcc.flags) & LV_CACHE_CC_NO_STORE)
        return LV_CACHE_NS_NO_STORE;
    if (cc.flags & LV_CACHE_CC_PRIVATE)
        return LV_CACHE_NS_PRIVATE;
    if (LV_CACHE_HAS(req, "authorization") && !(out->flags & LV_CACHE_M_AUTH_OK))
        return LV_CACHE_NS_AUTHORIZATION;
    if (vary != LV_CACHE_STORE)
        return vary;
    if (LV_CACHE_HAS(resp, "set-cookie"))
        return LV_CACHE_NS_SET_COOKIE;
    if (!(out->flags & LV_CACHE_M_EXPLICIT) && !heuristic_ok)
        return LV_CACHE_NS_NOT_CACHEABLE;
    bool validators = (out->flags & (LV_CACHE_M_ETAG | LV_CACHE_M_LAST_MODIFIED)) != 0;
    bool no_cache = (out->flags & LV_CACHE_M_NO_CACHE) != 0;
    bool stale_windows = !(out->flags & LV_CACHE_M_MUST_REVALIDATE) && (out->swr_s || out->sie_s);
    if (!validators && (no_cache || (out->freshness_lifetime_s == 0 && !stale_windows)))
        return LV_CACHE_NS_USELESS;
    return LV_CACHE_STORE;
}

const char *lv_cache_verdict_name(lv_cache_verdict_t s)
{
    switch (s) {
    case LV_CACHE_STORE:
        return "stored";
    case LV_CACHE_NS_METHOD:
        return "method";
    case LV_CACHE_NS_STATUS:
        return "status";
    case LV_CACHE_NS_PARTIAL:
        return "partial";
    case LV_CACHE_NS_CODING:
        return "coding";
    case LV_CACHE_NS_NO_STORE:
        return "no-store";
    case LV_CACHE_NS_PRIVATE:
        return "private";
    case LV_CACHE_NS_AUTHORIZATION:
        return "authorization";
    case LV_CACHE_NS_VARY_STAR:
        return "vary-star";
    case LV_CACHE_NS_VARY_LIMIT:
        return "vary-limit";
    case LV_CACHE_NS_SET_COOKIE:
        return "set-cookie";
    case LV_CACHE_NS_NOT_CACHEABLE:
        return "not-cacheable";
    case LV_CACHE_NS_USELESS:
        return "useless";
    }
    return "unknown";
}

uint64_t lv_cache_current_age(const lv_cache_meta_t *m, uint64_t now_s)
{
    uint64_t resident = lv_cache_sub0(now_s, m->response_time_s);
    return lv_cache_add_sat(m->corrected_initial_age_s, resident);
}

lv_cache_fresh_t lv_cache_freshness(const lv_cache_meta_t *m, uint64_t now_s,
                                    const lv_cache_cc_t *req_cc)
{
    uint64_t age = lv_cache_current_age(m, now_s);
    uint64_t life = m->freshness_lifetime_s;
    uint32_t rf = req_cc ? req_cc->flags : 0;

    if (m->flags & LV_CACHE_M_NO_CACHE)
        return LV_CACHE_MUST_REVALIDATE;
    if (rf & LV_CACHE_CC_NO_CACHE)
        return LV_CACHE_MUST_REVALIDATE;
    if ((rf & LV_CACHE_CC_MAX_AGE) && (req_cc->max_age_s == 0 || age > req_cc->max_age_s))
        return LV_CACHE_MUST_REVALIDATE;

    if (age < life) {
        uint64_t min_fresh = (rf & LV_CACHE_CC_MIN_FRESH) ? req_cc->min_fresh_s : 0;
        return life - age > min_fresh ? LV_CACHE_FRESH : LV_CACHE_MUST_REVALIDATE;
    }

    /* Stale (RFC 9111 4.2.4). */
    uint64_t staleness = age - life;
    if (m->flags & LV_CACHE_M_MUST_REVALIDATE)
        return LV_CACHE_MUST_REVALIDATE;
    if (m->swr_s && staleness < m->swr_s)
        return LV_CACHE_STALE_WHILE_REVALIDATE;
    if ((rf & LV_CACHE_CC_MAX_STALE) && !(m->flags & LV_CACHE_M_SMAXAGE) &&
        (req_cc->max_stale_s == LV_CACHE_STALE_ANY || staleness <= req_cc->max_stale_s))
        return LV_CACHE_STALE_ALLOWED;
    if (m->sie_s && staleness < m->sie_s)
        return LV_CACHE_STALE_IF_ERROR_ONLY;
    if (m->flags & LV_CACHE_M_SMAXAGE)
        return LV_CACHE_MUST_REVALIDATE;
    return LV_CACHE_STALE;
}

const char *lv_cache_fresh_name(lv_cache_fresh_t f)
{
    switch (f) {
    case LV_CACHE_FRESH:
        return "fresh";
    case LV_CACHE_STALE_WHILE_REVALIDATE:
        return "stale-while-revalidate";
    case LV_CACHE_STALE_ALLOWED:
        return "stale-allowed";
    case LV_CACHE_STALE_IF_ERROR_ONLY:
        return "stale-if-error";
    case LV_CACHE_MUST_REVALIDATE:
        return "must-revalidate";
    case LV_CACHE_STALE:
        return "stale";
    }
    return "unknown";
}

/* ---- conditional requests ---- */

/* Parses one entity-tag at s[*i] (optional W/, then a quoted opaque part without escapes);
 * sets *opaque to the inside of the quotes. */
static bool lv_cache_etag_at(const char *s, size_t n, size_t *i, lv_str_t *opaque)
{
    size_t k = *i;
    if (k + 1 < n && s[k] == 'W' && s[k + 1] == '/')
        k += 2;
    if (k >= n || s[k] != '"')
        return false;
    size_t start = ++k;
    while (k < n && s[k] != '"') {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x21 || c == 0x7f) /* etagc = %x21 / %x23-7E / obs-text */
            return false;
        k++;
    }
    if (k >= n)
        return false;
    *opaque = (lv_str_t){s + start, k - start};
    *i = k + 1;
    return true;
}

bool lv_cache_etag_weak_eq(lv_str_t a, lv_str_t b)
{
    lv_str_t oa, ob;
    a = lv_cache_trim(a);
    b = lv_cache_trim(b);
    size_t ia = 0, ib = 0;
    if (!a.p || !b.p || !lv_cache_etag_at(a.p, a.len, &ia, &oa) ||
        !lv_cache_etag_at(b.p, b.len, &ib, &ob) || ia != a.len || ib != b.len)
        return false;
    return oa.len == ob.len && memcmp(oa.p, ob.p, oa.len) == 0;
}

/* If-None-Match against the stored ETag: any line, any member. */
static bool lv_cache_inm_matches(const lv_http_head_t *req, lv_str_t stored_etag)
{
    lv_str_t stored_opaque;
    size_t si = 0;
    lv_str_t st = lv_cache_trim(stored_etag);
    bool have_stored = st.p && lv_cache_etag_at(st.p, st.len, &si, &stored_opaque) && si == st.len;

    uint32_t from = 0;
    const lv_http_header_t *hdr;
    while ((hdr = LV_CACHE_FIND(req, "if-none-match", &from)) != NULL) {
        const char *s = hdr->value.p;
        size_t n = hdr->value.len, i = 0;
        while (i < n) {
            while (i < n && (lv_cache_is_ows(s[i]) || s[i] == ','))
                i++;
            if (i >= n)
                break;
            if (s[i] == '*') {
                /* "*": any current representation; we have one (the stored response). */
                size_t k = i + 1;
                while (k < n && lv_cache_is_ows(s[k]))
                    k++;
                if (k >= n || s[k] == ',')
                    return true;
            }
            lv_str_t op;
            if (lv_cache_etag_at(s, n, &i, &op)) {
                if (have_stored && op.len == stored_opaque.len &&
                    memcmp(op.p, stored_opaque.p, op.len) == 0)
                    return true;
            }
            /* skip the rest of a malformed member, or the OWS after a good one */
            while (i < n && s[i] != ',')
                i++;
        }
    }
    return false;
}

bool lv_cache_client_conditional_matches(const lv_http_head_t *req, lv_str_t stored_etag,
                                         lv_str_t stored_last_modified, uint64_t date_s)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        return false;
    if (LV_CACHE_HAS(req, "if-none-match"))
        return lv_cache_inm_matches(req, stored_etag);

    uint32_t from = 0;
    const lv_http_header_t *hdr = LV_CACHE_FIND(req, "if-modified-since", &from);
    uint64_t ims;
    /* RFC 9110 13.1.3: only one valid date; a list or garbage is ignored. */
    if (!hdr || lv_cache_date_parse(hdr->value, &ims) != 0)
        return false;
    if (LV_CACHE_FIND(req, "if-modified-since", &from) != NULL)
        return false;
    uint64_t lm;
    if (lv_cache_date_parse(stored_last_modified, &lm) != 0)
        lm = date_s; /* RFC 9111 4.3.2: the stored Date (or receipt time) instead */
    return lm <= ims;
}

/* ---- Vary ---- */

/* Walks the normalized members of one field across all its lines. */
typedef struct lv_cache_members {
    const lv_http_head_t *h;
    lv_str_t name;
    uint32_t hdr; /* index of the current line */
    size_t pos;   /* offset in its value */
    bool in_line; /* hdr points at a line with that name */
} lv_cache_members_t;

static bool lv_cache_field_present(const lv_http_head_t *h, lv_str_t name)
{
    for (uint32_t i = 0; h && h->headers && i < h->n_headers; i++)
        if (lv_http_name_eq(h->headers[i].name, name))
            return true;
    return false;
}

static bool lv_cache_members_next(lv_cache_members_t *it, lv_str_t *out)
{
    const lv_http_head_t *h = it->h;
    if (!h || !h->headers)
        return false;
    for (;;) {
        if (!it->in_line) {
            while (it->hdr < h->n_headers && !lv_http_name_eq(h->headers[it->hdr].name, it->name))
                it->hdr++;
            if (it->hdr >= h->n_headers)
                return false;
            it->in_line = true;
            it->pos = 0;
        }
        lv_str_t v = h->headers[it->hdr].value;
        while (it->pos < v.len) {
            size_t start = it->pos;
            while (it->pos < v.len && v.p[it->pos] != ',')
                it->pos++;
            lv_str_t m = lv_cache_trim((lv_str_t){v.p + start, it->pos - start});
            if (it->pos < v.len)
                it->pos++; /* the comma */
            if (m.len) {
                *out = m;
                return true;
            }
        }
        it->in_line = false;
        it->hdr++;
    }
}

bool lv_cache_vary_matches(const lv_str_t *names, size_t n_names, const lv_http_head_t *stored_req,
                           const lv_http_head_t *req)
{
    for (size_t k = 0; k < n_names; k++) {
        bool pa = lv_cache_field_present(stored_req, names[k]);
        bool pb = lv_cache_field_present(req, names[k]);
        if (pa != pb)
            return false;
        lv_cache_members_t a = {stored_req, names[k], 0, 0, false};
        lv_cache_members_t b = {req, names[k], 0, 0, false};
        for (;;) {
            lv_str_t ma, mb;
            bool ha = lv_cache_members_next(&a, &ma), hb = lv_cache_members_next(&b, &mb);
            if (ha != hb)
                return false;
            if (!ha)
                break;
            if (ma.len != mb.len || memcmp(ma.p, mb.p, ma.len) != 0)
                return false;
        }
    }
    return true;
}

int lv_cache_vary_key(const lv_str_t *names, size_t n_names, const lv_http_head_t *req, char *buf,
                      size_t cap)
{
    size_t len = 0;
#define LV_CACHE_PUT(src, n)                                                                       \
    do {                                                                                           \
        if ((n) > cap - len)                                                                       \
            return LV_ELIMIT;                                                                      \
        memcpy(buf + len, (src), (n));                                                             \
        len += (n);                                                                                \
    } while (0)
    if (!buf && cap)
        return LV_EINVAL;
    for (size_t k = 0; k < n_names; k++) {
        if (!lv_cache_field_present(req, names[k])) {
            LV_CACHE_PUT("!\n", 2);
            continue;
        }
        LV_CACHE_PUT("=", 1);
        lv_cache_members_t it = {req, names[k], 0, 0, false};
        lv_str_t m;
        bool first = true;
        while (lv_cache_members_next(&it, &m)) {
            if (!first)
                LV_CACHE_PUT(",", 1);
            LV_CACHE_PUT(m.p, m.len);
            first = false;
        }
        LV_CACHE_PUT("\n", 1);
    }
#undef LV_CACHE_PUT
    return len > INT_MAX ? LV_ELIMIT : (int)len;
}
