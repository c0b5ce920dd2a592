/* admin/endpoints.h (internal to src/admin): what each admin path answers, as plain data, so
 * the answers are unit-testable without sockets. admin.c does the HTTP around them. */
#ifndef LV_ADMIN_ENDPOINTS_H
#define LV_ADMIN_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "admin/admin.h"

/* Admin request bodies are small (a flag state, a fault's JSON object); admin.c answers 413
 * above this. */
#define LV_ADMIN_BODY_MAX 4096

/* One parsed request, borrowed from the connection for the duration of the call. */
typedef struct lv__admin_request {
    uint8_t method;     /* llhttp_method_t */
    const char *target; /* as sent, query string included */
    size_t target_len;
    const char *authorization; /* the Authorization header's value; NULL if absent */
    size_t authorization_len;
    bool authorization_bad; /* sent twice or too long: never matches the token */
    const char *body;       /* NULL if none; at most LV_ADMIN_BODY_MAX bytes */
    size_t body_len;
} lv__admin_request_t;

typedef struct lv__admin_reply {
    int status;               /* 200, 201, 400, 401, 403, 404, 405, 409, 500, 503 */
    const char *content_type; /* static string */
    const char *allow;        /* 405: the "Allow" header value (static); else NULL */
    bool www_authenticate;    /* 401: add "WWW-Authenticate: Bearer" */
    char *body;               /* heap; the caller frees it */
    size_t body_len;
} lv__admin_reply_t;

/* Answers one request; now_wall_ms is for the uptime. Returns 0, or LV_ENOMEM (out is then
 * empty). A flag write may rewrite the state file (blocking, small). Main thread only. */
int lv__admin_route(const lv_admin_source_t *src, uint64_t now_wall_ms,
                    const lv__admin_request_t *req, lv__admin_reply_t *out);

/* The /faults answers: path is what follows "/faults" ("" or "/ID"). Needs src->faults. */
int lv__admin_faults(const lv_admin_source_t *src, const lv__admin_request_t *req, const char *path,
                     size_t path_len, lv__admin_reply_t *out);

/* Every write (flags, cache purges, faults) passes here first, before anything about the target
 * is looked at, so a stranger cannot probe names. Returns false when the request carries the
 * current admin token; otherwise fills out with 403 (no token configured: writes are off) or
 * 401, sets *rc to lv__admin_reply_text's result and returns true. */
bool lv__admin_write_refused(const lv_admin_source_t *src, const lv__admin_request_t *req,
                             lv__admin_reply_t *out, int *rc);
/* Fills out with status and a copy of text as text/plain. Returns 0 or LV_ENOMEM. */
int lv__admin_reply_text(lv__admin_reply_t *out, int status, const char *text);
/* Fills out with status and text (a heap JSON document of len bytes, now out's; NULL: out of
 * memory) as application/json. Returns 0 or LV_ENOMEM. */
int lv__admin_reply_json(lv__admin_reply_t *out, int status, char *text, size_t len);

/* The second tier's families (admin/l2_metrics.c), when cache.l2 is set. */
void lv__admin_put_l2_families(FILE *out, const lv_admin_source_t *src);
/* One lv_l2_metrics_t counter (at offset field_off) summed over the shards. */
uint64_t lv__admin_l2_sum(const lv_admin_source_t *src, size_t field_off);
/* ,"l2":{...} in /status (region is a checked name: no escaping needed). */
void lv__admin_put_l2_status(FILE *out, const lv_admin_source_t *src, const char *region);

/* The /status document (JSON object plus a newline) in a heap buffer; NULL when out of
 * memory. */
char *lv__admin_status_json(const lv_admin_source_t *src, uint64_t now_wall_ms, size_t *len);

/* The /metrics exposition in a heap buffer; NULL when out of memory. */
char *lv__admin_metrics_text(const lv_admin_source_t *src, size_t *len);

/* The /flags document ({"flags":[...]} plus a newline); NULL when out of memory. */
char *lv__admin_flags_json(const lv_admin_source_t *src, size_t *len);

/* Helpers shared with dashboard.c (main thread). */

/* A JSON string literal of s (NULL: ""): quotes, backslashes and control bytes escaped. */
void lv__admin_put_json_string(FILE *out, const char *s);
/* Every flag as the /flags list's array ([{"name":...,"kind":...},...]). */
void lv__admin_put_flags(FILE *out, const lv_admin_source_t *src);
/* One service field (offset inside lv_service_metrics_t) summed, or maxed, over the shards. */
uint64_t lv__admin_svc_sum(const lv_admin_source_t *src, uint32_t slot, size_t field_off);
uint64_t lv__admin_svc_max(const lv_admin_source_t *src, uint32_t slot, size_t field_off);
/* One lv_cache_metrics_t counter (at offset field_off) summed over the shards. */
uint64_t lv__admin_cache_sum(const lv_admin_source_t *src, size_t field_off);
/* The flag a service runs with: the flag table's when there is one, else the configured one. */
lv_flag_state_t lv__admin_service_flag(const lv_admin_source_t *src, const lv_service_conf_t *s);
/* "closed", "open", "half_open" for levee_guard_breaker_state's values; "unknown" otherwise. */
const char *lv__admin_breaker_name(unsigned state);

#endif
