/* guard/retry_cookie.h: the lv_retry cookie levee sets on every refusal with Retry-After. It
 * binds the refused client (not its address) to "not before" for one resource. */
#ifndef LV_GUARD_RETRY_COOKIE_H
#define LV_GUARD_RETRY_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LV_RETRY_COOKIE_NAME "lv_retry"
#define LV_RETRY_COOKIE_NAME_LEN 8
/* The value is "<id>.<not_before_ms>.<mac>", each 16 lowercase hex digits. */
#define LV_RETRY_COOKIE_LEN 50

typedef struct lv_retry_cookie {
    uint64_t id;            /* the refused client, random, kept across its later refusals */
    uint64_t not_before_ms; /* monotonic ms (lv_clock_now_ms) before which a retry is premature */
} lv_retry_cookie_t;

/* A keyed hash of the resource ("METHOD host target") a cookie is made for: a cookie is valid
 * only for the resource it was made for. Never 0. Any thread. */
uint64_t lv_retry_cookie_resource(const char *res, size_t len);

/* A fresh client id: unpredictable to clients, never 0. Any thread. */
uint64_t lv_retry_cookie_new_id(void);

/* Writes the cookie value for c and resource res (lv_retry_cookie_resource) into buf, which
 * must hold LV_RETRY_COOKIE_LEN bytes (no NUL is written). Any thread. */
void lv_retry_cookie_encode(const lv_retry_cookie_t *c, uint64_t res,
                            char buf[static LV_RETRY_COOKIE_LEN]);

/* Parses a cookie value (untrusted: any bytes). True and *out filled when it is exactly a
 * value lv_retry_cookie_encode made in this process for resource res; false for anything
 * else (malformed, altered, forged, another resource, another process's key). Any thread. */
bool lv_retry_cookie_try_parse(const char *v, size_t len, uint64_t res, lv_retry_cookie_t *out);

#endif
