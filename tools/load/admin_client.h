/* load/admin_client.h: blocking HTTP/1.1 requests to levee's admin listener (GET /status and
 * /metrics, POST and DELETE /faults) for `levee-load score`; one connection per request. */
#ifndef LOAD_ADMIN_CLIENT_H
#define LOAD_ADMIN_CLIENT_H

#include <stddef.h>

#include "scenario.h"

/* An admin response: status and body (heap, NUL-terminated; the caller frees it). */
typedef struct load_admin_resp {
    int status;
    char *body;
    size_t len;
} load_admin_resp_t;

/* Sends METHOD path (body may be NULL; token may be NULL: no Authorization) to admin and reads
 * the whole response (Connection: close), waiting at most timeout_ms in all. Returns 0, or -1
 * with a one-line reason in err (connect refused, timeout, bad response, over 16 MiB). */
int load_admin_request(const load_target_t *admin, const char *method, const char *path,
                       const char *token, const char *body, int timeout_ms, load_admin_resp_t *out,
                       char *err, size_t errlen);

/* The value of a Prometheus sample whose line starts with `prefix` (name and labels, e.g.
 * `levee_cache_stale_total{service="app"`), summed over every matching line; 0 if none. */
double load_metrics_sum(const char *text, const char *prefix);

#endif
