/* cache/rules.h: RFC 9111 (HTTP caching) and RFC 5861 (stale-while-revalidate, stale-if-error)
 * for a shared cache, as pure functions over parsed heads (http/parser.h) and times in seconds.
 *
 * Nothing here allocates, reads a clock, logs or keeps state: every function may run on any
 * thread, per request. Every input is untrusted bytes: parsing is bounded by the span lengths
 * and never fails hard (bad values fall back to the conservative reading, documented below).
 *
 * Decisions taken where the RFCs leave room (conservative, because one wrong hit serves one
 * user's page to another):
 * - Duplicate directives: the most restrictive value wins (smallest max-age, s-maxage,
 *   stale-*, max-stale; largest min-fresh). Invalid max-age / s-maxage mean 0 (stale, as RFC
 *   9111 4.2.1 encourages); invalid stale-*, max-stale, min-fresh values are ignored.
 * - no-cache="field" and private="field" are treated as plain no-cache and private.
 * - Set-Cookie: a response carrying it is never stored, even if public (a shared cache that
 *   replays someone's session cookie is the worst outcome; the origin can drop the cookie).
 * - s-maxage implies proxy-revalidate (RFC 9111 5.2.2.10), but an explicit stale-while-
 *   revalidate / stale-if-error from the same origin still applies (the common
 *   "s-maxage=60, stale-while-revalidate=30" means what it says). Explicit must-revalidate,
 *   proxy-revalidate and no-cache forbid every form of stale serving.
 * - Responses that could never be reused without a full fetch (no validator and either
 *   no-cache or a zero lifetime without stale-* windows) are reported as not worth storing.
 */
#ifndef LV_CACHE_RULES_H
#define LV_CACHE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"
#include "http/parser.h"

/* RFC 9111 1.2.2: delta-seconds larger than this are stored as this. */
#define LV_CACHE_DELTA_MAX 2147483648u
/* max-stale without a value: any staleness is acceptable. */
#define LV_CACHE_STALE_ANY UINT32_MAX
/* Heuristic freshness: 10 % of (Date - Last-Modified), at most one day (RFC 9111 4.2.2). */
#define LV_CACHE_HEURISTIC_MAX_S 86400u
/* Most Vary field names kept per response; a response with more is not stored. */
#define LV_CACHE_VARY_MAX 8
/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" without the terminating NUL. */
#define LV_CACHE_DATE_LEN 29

/* ---- Cache-Control ---- */

enum {
    LV_CACHE_CC_NO_STORE = 1u << 0,
    LV_CACHE_CC_NO_CACHE = 1u << 1, /* with or without field names */
    LV_CACHE_CC_PRIVATE = 1u << 2,  /* with or without field names */
    LV_CACHE_CC_PUBLIC = 1u << 3,
    LV_CACHE_CC_MUST_REVALIDATE = 1u << 4,
    LV_CACHE_CC_PROXY_REVALIDATE = 1u << 5,
    LV_CACHE_CC_ONLY_IF_CACHED = 1u << 6,
    LV_CACHE_CC_NO_TRANSFORM = 1u << 7,
    LV_CACHE_CC_IMMUTABLE = 1u << 8,
    /* Which of the valued fields below are set: */
    LV_CACHE_CC_MAX_AGE = 1u << 9,
    LV_CACHE_CC_S_MAXAGE = 1u << 10,
    LV_CACHE_CC_MAX_STALE = 1u << 11,
    LV_CACHE_CC_MIN_FRESH = 1u << 12,
    LV_CACHE_CC_SWR = 1u << 13, /* stale-while-revalidate */
    LV_CACHE_CC_SIE = 1u << 14, /* stale-if-error */
};

/* Directives of one message (all its Cache-Control lines). Valued fields are meaningful only
 * when their flag is set; values are capped at LV_CACHE_DELTA_MAX. */
typedef struct lv_cache_cc {
    uint32_t flags;
    uint32_t max_age_s;
    uint32_t s_maxage_s;
    uint32_t max_stale_s; /* LV_CACHE_STALE_ANY when given without a value */
    uint32_t min_fresh_s;
    uint32_t swr_s;
    uint32_t sie_s;
} lv_cache_cc_t;

/* Empties *out (no directives). */
void lv_cache_cc_init(lv_cache_cc_t *out);
/* Adds the directives of one Cache-Control field value to *out (so calling it once per line
 * combines lines as RFC 9110 5.3 does). Case-insensitive names, OWS anywhere, quoted values
 * (commas inside quotes do not split), unknown directives and junk ignored. Never fails. */
void lv_cache_cc_parse(lv_str_t value, lv_cache_cc_t *out);
/* lv_cache_cc_init + lv_cache_cc_parse of every Cache-Control line of the head. Returns the
 * number of Cache-Control lines seen. */
uint32_t lv_cache_cc_from_head(const lv_http_head_t *h, lv_cache_cc_t *out);

/* ---- HTTP-date (RFC 9110 5.6.7) ---- */

/* Parses IMF-fixdate, the obsolete RFC 850 format (two-digit year: 00-69 -> 20xx, 70-99 ->
 * 19xx) and asctime. Names are matched case-insensitively; the weekday must be a real day name
 * but is not checked against the date. Years 1970..9999 only. Returns 0 and sets *out_s
 * (seconds since the epoch), or LV_EINVAL (garbage, out of range, trailing bytes). */
int lv_cache_date_parse(lv_str_t s, uint64_t *out_s);
/* Writes the IMF-fixdate of t_s plus a NUL into buf. Returns LV_CACHE_DATE_LEN, or LV_EINVAL
 * when cap <= LV_CACHE_DATE_LEN or the year would pass 9999 (buf then holds ""). */
int lv_cache_date_format(uint64_t t_s, char *buf, size_t cap);

/* ---- request side ---- */

typedef struct lv_cache_req {
    lv_cache_cc_t cc;       /* Cache-Control; Pragma: no-cache folded in when CC is absent */
    bool method_ok;         /* GET or HEAD: the cache may answer it */
    bool head;              /* HEAD (answerable from a stored GET) */
    bool authorization;     /* Authorization present: see lv_cache_may_serve() */
    bool revalidate;        /* client asks for validation: no-cache, max-age=0, Pragma: no-cache */
    bool no_store;          /* request no-store: the response to it must not be stored */
    bool only_if_cached;    /* answer from cache or 504, never go to the origin */
    bool if_none_match;     /* conditional request (If-None-Match) */
    bool if_modified_since; /* conditional request (If-Modified-Since) */
    bool range;             /* Range present */
} lv_cache_req_t;

/* What the request allows and asks of the cache (RFC 9111 4, 5.2.1, 5.4). Never fails. */
void lv_cache_request_policy(const lv_http_head_t *req, lv_cache_req_t *out);

/* ---- response side ---- */

typedef enum lv_cache_verdict {
    LV_CACHE_STORE = 0,        /* storable */
    LV_CACHE_NS_METHOD,        /* request method is not GET/HEAD */
    LV_CACHE_NS_STATUS,        /* 1xx, 304, or a status this cache does not understand */
    LV_CACHE_NS_PARTIAL,       /* 206: ranges are passed through, not stored */
    LV_CACHE_NS_CODING,        /* a transfer coding levee does not decode (relayed as is) */
    LV_CACHE_NS_NO_STORE,      /* no-store in the request or the response */
    LV_CACHE_NS_PRIVATE,       /* private (shared cache) */
    LV_CACHE_NS_AUTHORIZATION, /* request had Authorization, response not public/s-maxage/m-r */
    LV_CACHE_NS_VARY_STAR,     /* Vary: * never matches */
    LV_CACHE_NS_VARY_LIMIT,    /* more than LV_CACHE_VARY_MAX Vary names */
    LV_CACHE_NS_SET_COOKIE,    /* Set-Cookie present (see the decision above) */
    LV_CACHE_NS_NOT_CACHEABLE, /* no explicit freshness, no public, status not heuristic */
    LV_CACHE_NS_USELESS,       /* could never be reused without a full fetch */
} lv_cache_verdict_t;

enum {
    LV_CACHE_M_EXPLICIT = 1u << 0,        /* lifetime from s-maxage, max-age or Expires */
    LV_CACHE_M_HEURISTIC = 1u << 1,       /* lifetime from Last-Modified (4.2.2) */
    LV_CACHE_M_MUST_REVALIDATE = 1u << 2, /* must-revalidate or proxy-revalidate */
    LV_CACHE_M_SMAXAGE = 1u << 3,         /* s-maxage given: implied proxy-revalidate */
    LV_CACHE_M_NO_CACHE = 1u << 4,        /* validate on every use */
    LV_CACHE_M_PUBLIC = 1u << 5,
    LV_CACHE_M_AUTH_OK = 1u << 6, /* may answer requests with Authorization (3.5) */
    LV_CACHE_M_ETAG = 1u << 7,
    LV_CACHE_M_LAST_MODIFIED = 1u << 8, /* present and a valid date */
};

/* What a stored response needs to be judged later. Spans point into the response head and
 * live as long as it does: the store copies what it keeps. Times in seconds since the epoch. */
typedef struct lv_cache_meta {
    uint16_t status;
    uint16_t n_vary;
    uint32_t flags;           /* LV_CACHE_M_* */
    uint32_t swr_s;           /* stale-while-revalidate window, 0 = none */
    uint32_t sie_s;           /* stale-if-error window, 0 = none */
    uint64_t request_time_s;  /* when the request was sent upstream */
    uint64_t response_time_s; /* when the response head was received */
    uint64_t date_s;          /* Date, or response_time_s when absent or invalid */
    uint64_t age_value_s;     /* Age header, 0 when absent or invalid */
    uint64_t last_modified_s; /* valid only with LV_CACHE_M_LAST_MODIFIED */
    /* RFC 9111 4.2.3: */
    uint64_t apparent_age_s;          /* max(0, response_time - date_value) */
    uint64_t corrected_age_value_s;   /* age_value + (response_time - request_time) */
    uint64_t corrected_initial_age_s; /* max(apparent_age, corrected_age_value) */
    uint64_t freshness_lifetime_s;
    lv_str_t etag;                    /* raw ETag value, empty when absent */
    lv_str_t last_modified;           /* raw Last-Modified value, empty when absent */
    lv_str_t vary[LV_CACHE_VARY_MAX]; /* Vary field names, as sent */
} lv_cache_meta_t;

/* Decides whether a shared cache may store resp (answer to req) per RFC 9111 3, and fills
 * *out in every case (so a caller may still look at the numbers of a refused response).
 * Lifetime: s-maxage > max-age > Expires - Date (invalid Expires = already expired) >
 * heuristic (statuses 200 203 204 300 301 308 404 405 410 414 501, or any understood status
 * marked public, with a valid Last-Modified). */
lv_cache_verdict_t lv_cache_storable(const lv_http_head_t *req, const lv_http_head_t *resp,
                                     uint64_t request_time_s, uint64_t response_time_s,
                                     lv_cache_meta_t *out);
/* Short lowercase name of a verdict, for logs and metrics ("stored", "no-store", ...). */
const char *lv_cache_verdict_name(lv_cache_verdict_t s);

/* RFC 9111 4.2.3 current_age = corrected_initial_age + (now - response_time); saturating, and
 * a clock that went backwards counts as no resident time. The Age header to send. */
uint64_t lv_cache_current_age(const lv_cache_meta_t *m, uint64_t now_s);

typedef enum lv_cache_fresh {
    LV_CACHE_FRESH = 0,              /* serve it */
    LV_CACHE_STALE_WHILE_REVALIDATE, /* serve it, and refresh once in the background */
    LV_CACHE_STALE_ALLOWED,          /* stale, but the request's max-stale accepts it: serve */
    LV_CACHE_STALE_IF_ERROR_ONLY,    /* revalidate; serve it only if the origin fails */
    LV_CACHE_MUST_REVALIDATE, /* revalidate; never serve it unvalidated (504 if origin fails) */
    LV_CACHE_STALE,           /* revalidate; stale serving only by operator policy (4.2.4
                                 lets a disconnected cache serve stale) */
} lv_cache_fresh_t;

/* Judges a stored response at now_s for a request with directives req_cc. Pass req_cc NULL to
 * ignore the client's directives: browsers send max-age=0 on F5, so under pressure the caller
 * may choose not to let reloads through to the origin. Client no-cache, max-age exceeded
 * (max-age=0 always) or min-fresh not met give MUST_REVALIDATE. */
lv_cache_fresh_t lv_cache_freshness(const lv_cache_meta_t *m, uint64_t now_s,
                                    const lv_cache_cc_t *req_cc);
const char *lv_cache_fresh_name(lv_cache_fresh_t f);

/* Whether a stored response (meta m) may answer this request at all, freshness aside: the
 * method is GET/HEAD and, if the request carries Authorization, the response allowed it. */
bool lv_cache_may_serve(const lv_cache_req_t *rq, const lv_cache_meta_t *m);

/* ---- conditional requests answered from cache (RFC 9110 13.1, 13.2.2; RFC 9111 4.3.2) ---- */

/* True when the cache should answer req with 304 given the stored response's ETag value,
 * Last-Modified value and Date (date_s, used for If-Modified-Since when Last-Modified is
 * absent or invalid). If-None-Match (weak comparison, "*" matches, lines combined) wins over
 * If-Modified-Since; an invalid If-Modified-Since date is ignored. GET/HEAD only. */
bool lv_cache_client_conditional_matches(const lv_http_head_t *req, lv_str_t stored_etag,
                                         lv_str_t stored_last_modified, uint64_t date_s);
/* Weak comparison of two entity-tags (W/ ignored, opaque parts equal). Malformed -> false. */
bool lv_cache_etag_weak_eq(lv_str_t a, lv_str_t b);

/* ---- Vary: secondary keys (RFC 9111 4.1) ----
 * Normalization of a request's value for one Vary name: every line with that name (any case)
 * in order, split at commas, each member trimmed of OWS, empty members dropped, members joined
 * by ","; values keep their case. An absent field only matches an absent field; a present but
 * empty one is distinct from absent. (Commas inside quoted strings also split: harmless, since
 * both sides are normalized the same way.) */

/* True when req selects the same stored response as stored_req for the Vary names given. */
bool lv_cache_vary_matches(const lv_str_t *names, size_t n_names, const lv_http_head_t *stored_req,
                           const lv_http_head_t *req);
/* Writes req's secondary key for the names into buf (not NUL-terminated): per name, "!\n" when
 * absent, else "=" normalized-value "\n". Equal keys <=> lv_cache_vary_matches. Returns the
 * length, or LV_ELIMIT when cap is too small. */
int lv_cache_vary_key(const lv_str_t *names, size_t n_names, const lv_http_head_t *req, char *buf,
                      size_t cap);

#endif
