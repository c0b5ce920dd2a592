/* http/errors.h: the small, complete error responses levee sends itself (400, 408, 413,
 * 414, 431, 502, 503, 504 ...). Static, prebuilt at first use; any thread. */
#ifndef LV_HTTP_ERRORS_H
#define LV_HTTP_ERRORS_H

#include <stdbool.h>

#include "core/common.h"

/* A whole HTTP/1.1 response for status: status line, Content-Type text/plain,
 * Content-Length, Connection: close (if close) or keep-alive, Retry-After: 1 for 502/503/504,
 * and a one-line body naming the problem. Unknown statuses give a generic 500-class body.
 * The memory is static and immutable: safe to hand to uv_write without copying. */
lv_str_t lv_http_error_response(int status, bool close);

/* The reason phrase for a status ("Bad Request"); "Unknown" if not known. */
const char *lv_http_reason(int status);

#endif
