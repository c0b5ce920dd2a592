/* guard/page.h: the guard's own answers: refusals (503 or 429 with Retry-After, the wait page
 * for browsers, a one-line text body for the rest) and the fallback of a service whose flag is
 * off. A page set is built once per service and config snapshot (main thread) and is immutable
 * afterwards: any worker may read it without locks. Rendering never allocates. */
#ifndef LV_GUARD_PAGE_H
#define LV_GUARD_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/common.h"
#include "core/config.h"

typedef struct lv_page_set lv_page_set_t;

/* The built-in wait page template (guard/wait_page.c: a C string literal, the source of
 * truth; tests/integration/test_wait_page.py reads it from there). Placeholders:
 * {{retry_after}} (seconds), {{service}} (HTML-escaped name), {{status}} (503 or 429). */
extern const char lv_page_builtin_wait_html[];
extern const size_t lv_page_builtin_wait_html_len;

/* Builds the pages of one service: its wait page template (svc->guard.wait_page_html, else the
 * built-in page) cut at its placeholders, the HTML-escaped service name, and the complete
 * fallback response in its keep-alive and close forms. retry_after_s is the Retry-After of
 * the default fallback (a 503 when no fallback body, file or redirect is configured): it is
 * prebuilt, so not jittered. Never returns NULL (allocation failure aborts: config time only).
 * Main thread. */
lv_page_set_t *lv_page_set_new(const lv_service_conf_t *svc, uint32_t retry_after_s);
void lv_page_set_free(lv_page_set_t *ps);

/* True when an Accept header value lists text/html (case-insensitive, not with q=0). An empty
 * or missing Accept is not HTML: API clients get the text body. Any thread. */
bool lv_page_wants_html(lv_str_t accept);

typedef struct lv_page_refusal {
    int status;             /* 503 (busy, shed, deadline, breaker) or 429 (retry storm) */
    uint32_t retry_after_s; /* already jittered by the caller; 0 is sent as 1 */
    bool html;              /* the wait page (lv_page_wants_html) instead of a text line */
    bool close;             /* Connection: close instead of keep-alive */
    bool head;              /* a HEAD request: headers only (Content-Length still the body's) */
    lv_str_t cookie;        /* the lv_retry cookie's value (at most 64 bytes), or empty: none */
    uint32_t cookie_max_age_s;
} lv_page_refusal_t;

/* Writes a whole refusal into buf: the status line, Retry-After: N, Cache-Control: no-store,
 * with r->cookie Set-Cookie: lv_retry=VALUE; Max-Age=N; Path=/; HttpOnly; SameSite=Lax,
 * Content-Type, Content-Length, Connection, a blank line, and the body (the wait page with its
 * placeholders filled, or one line of text). Returns the length written, LV_ELIMIT when it
 * does not fit in size bytes (buf holds garbage then), or LV_EINVAL for a status other than
 * 503/429. Any thread; no allocation. */
ssize_t lv_page_render_refusal(const lv_page_set_t *ps, const lv_page_refusal_t *r, char *buf,
                               size_t size);

/* The largest lv_page_render_refusal result for this page set, whatever its arguments: size a
 * buffer with it once (a custom wait page may be up to 1 MiB). */
size_t lv_page_refusal_max_len(const lv_page_set_t *ps);

/* The complete fallback response of the service while its flag is off, prebuilt: a 302 to
 * fallback.redirect (empty body); or fallback.status with fallback.content_type and
 * fallback.body or the content of fallback.file; or, with none of them, 503 + Retry-After and
 * a line saying the feature is switched off. Every form has Cache-Control: no-store and a
 * Content-Length (none for 204/304). With head, only the header part (for HEAD requests).
 * The bytes live as long as the page set: hand them to uv_write without copying. Any thread. */
lv_str_t lv_page_fallback(const lv_page_set_t *ps, bool close, bool head);

#endif
