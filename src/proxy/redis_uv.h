/* proxy/redis_uv.h: hiredis's asynchronous client on a libuv loop: the event adapter (one poll
 * handle per connection) and connecting to a parsed Redis address. Loop thread only. */
#ifndef LV_PROXY_REDIS_UV_H
#define LV_PROXY_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

#include "core/redis_url.h"

/* Starts connecting to url on loop (SELECT db is queued when db != 0). Returns the context, or
 * NULL when it could not even start (the reason in why, a static string or hiredis's text copied
 * into why_buf). The caller sets its callbacks next; the connect callback reports the result. */
redisAsyncContext *lv_redis_uv_connect(uv_loop_t *loop, const lv_redis_url_t *url, char *why_buf,
                                       size_t why_cap);

#endif
