/* admin/endpoints.h (internal to src/admin): what each admin path answers, as plain data, so
 * the answers are unit-testable without sockets. admin.c does the HTTP around them. */
#ifndef LV_ADMIN_ENDPOINTS_H
#define LV_ADMIN_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"

typedef struct lv__admin_reply {
    int status;               /* 200, 404, 405, 503 */
    const char *content_type; /* static string */
    bool allow_get;           /* add "Allow: GET" (405) */
    char *body;               /* heap; the caller frees it */
    size_t body_len;
} lv__admin_reply_t;

/* Answers one request: method (llhttp_method_t), the request target as sent (a query string
 * is ignored), now_wall_ms for the uptime. Returns 0, or LV_ENOMEM (out is then empty).
 * Main thread only. */
int lv__admin_route(const lv_admin_source_t *src, uint64_t now_wall_ms, uint8_t method,
                    const char *target, size_t target_len, lv__admin_reply_t *out);

/* The /status document (JSON object plus a newline) in a heap buffer; NULL when out of
 * memory. */
char *lv__admin_status_json(const lv_admin_source_t *src, uint64_t now_wall_ms, size_t *len);

/* The /metrics exposition in a heap buffer; NULL when out of memory. */
char *lv__admin_metrics_text(const lv_admin_source_t *src, size_t *len);

#endif
