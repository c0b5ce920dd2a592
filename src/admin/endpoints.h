/* admin/endpoints.h (internal to src/admin): what each admin path answers, as plain data, so
 * the answers are unit-testable without sockets. admin.c does the HTTP around them. */
#ifndef LV_ADMIN_ENDPOINTS_H
#define LV_ADMIN_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"

/* Admin request bodies (flag writes) are tiny; admin.c answers 413 above this. */
#define LV_ADMIN_BODY_MAX 1024

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
    int status;               /* 200, 400, 401, 403, 404, 405, 500, 503 */
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

/* The /status document (JSON object plus a newline) in a heap buffer; NULL when out of
 * memory. */
char *lv__admin_status_json(const lv_admin_source_t *src, uint64_t now_wall_ms, size_t *len);

/* The /metrics exposition in a heap buffer; NULL when out of memory. */
char *lv__admin_metrics_text(const lv_admin_source_t *src, size_t *len);

/* The /flags document ({"flags":[...]} plus a newline); NULL when out of memory. */
char *lv__admin_flags_json(const lv_admin_source_t *src, size_t *len);

#endif
