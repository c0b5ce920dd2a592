/* tests/unit/admin/admin_request.h: one admin request through lv__admin_route for the admin unit
 * tests (include after cmocka.h); the reply must be built, its body NUL-terminated. */
#ifndef LV_TEST_ADMIN_REQUEST_H
#define LV_TEST_ADMIN_REQUEST_H

#include <string.h>

#include "admin/endpoints.h"

/* A request with an optional Authorization value and body (NULL: absent). The caller frees the
 * reply's body. */
static inline lv__admin_reply_t admin_request(const lv_admin_source_t *src, uint64_t now_wall_ms,
                                              uint8_t method, const char *target, const char *auth,
                                              const char *body)
{
    lv__admin_request_t req = {.method = method,
                               .target = target,
                               .target_len = strlen(target),
                               .authorization = auth,
                               .authorization_len = auth ? strlen(auth) : 0,
                               .body = body,
                               .body_len = body ? strlen(body) : 0};
    lv__admin_reply_t r;
    assert_int_equal(lv__admin_route(src, now_wall_ms, &req, &r), 0);
    assert_non_null(r.body);
    assert_int_equal(strlen(r.body), r.body_len);
    return r;
}

#endif
