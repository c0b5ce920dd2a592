/* proxy/answer.c: levee's own answers, for any stage: an error, a refusal (the wait page or a
 * short body, Retry-After and the lv_retry cookie), the service's fallback; a stale copy first
 * where one may answer. */
#include "proxy/proxy.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "guard/retry_cookie.h"
#include "http/errors.h"

/* Answers the request from levee itself. The bytes are static, or in chunk (the write takes
 * its own reference). */
static void respond_with(lv_req_t *r, int status, lv_chunk_t *chunk, const char *p, size_t len,
                         bool close)
{
    lv_conn_t *c = r->conn;
    lv_wreq_t *w = lv__write_out(r, &r->client_out, c);
    if (w)
        lv_wreq_add(w, chunk, p, len);
    r->status = (uint16_t)status;
    r->resp_started = r->resp_done = true;
    if (close)
        c->close_after = true;
    if (r->req_done) {
        lv__request_finish(r); /* counts the request, then writes the answer */
        return;
    }
    lv__request_release_slot(r);
    lv__write_flush_client(r);
}

/* Whether levee's own answer must close the connection. */
static bool local_answer_closes(lv_req_t *r, int status)
{
    lv_conn_t *c = r->conn;
    bool close = !r->client_keep_alive || c->close_after || c->worker->draining || status == 400;
    if (!r->req_done && r->has_body) {
        /* The rest of the body is not read: this connection cannot carry another request. */
        close = true;
        r->req_done = true;
    }
    return close;
}

void lv__answer_error(lv_req_t *r, int status)
{
    bool close = local_answer_closes(r, status);
    lv_str_t resp = lv_http_error_response(status, close);
    respond_with(r, status, NULL, resp.p, resp.len, close);
}

static const lv_page_set_t *page_set(const lv_req_t *r)
{
    return r->pool ? r->gen->pages[r->pool - r->gen->pools] : NULL;
}

/* Sends bytes that live in the config generation, copied into a chunk: the write may outlive
 * the request and with it the generation. */
static void respond_copy(lv_req_t *r, int status, lv_str_t bytes, bool close)
{
    lv_chunk_t *ch = lv_chunk_acquire(&r->conn->worker->bufs, bytes.len);
    if (!ch) {
        lv_str_t resp = lv_http_error_response(503, true);
        respond_with(r, 503, NULL, resp.p, resp.len, true);
        return;
    }
    memcpy(ch->data, bytes.p, bytes.len);
    respond_with(r, status, ch, ch->data, bytes.len, close);
    lv_chunk_release(ch);
}

void lv__answer_refuse(lv_req_t *r, int status, uint32_t retry_after_s)
{
    if (lv__cache_serve_stale(r, LV_STALE_REFUSED))
        return;
    bool close = local_answer_closes(r, status);
    const lv_page_set_t *ps = page_set(r);
    lv_chunk_t *ch =
        ps ? lv_chunk_acquire(&r->conn->worker->bufs, lv_page_refusal_max_len(ps)) : NULL;
    lv_page_refusal_t how = {.status = status,
                             .retry_after_s = retry_after_s,
                             .html = r->wants_html,
                             .close = close,
                             .head = r->head_only};
    /* The refusal binds this client (its cookie), not its address: a retry that carries the
     * cookie before not-before is premature, for this resource only (stage_retry.c). It
     * lives on for a storm window past not-before: until then it says "a retry". */
    char cookie[LV_RETRY_COOKIE_LEN];
    if (r->retry_res) {
        uint32_t secs = retry_after_s ? retry_after_s : 1;
        lv_retry_cookie_t c = {r->retry_id ? r->retry_id : lv_retry_cookie_new_id(),
                               lv_clock_now_ms() + (uint64_t)secs * 1000u};
        lv_retry_cookie_encode(&c, r->retry_res, cookie);
        uint32_t window_ms = r->gen->cfg->storm_window_ms ? r->gen->cfg->storm_window_ms : 10000;
        how.cookie = (lv_str_t){cookie, sizeof cookie};
        how.cookie_max_age_s = secs + (window_ms + 999) / 1000;
    }
    ssize_t n = ch ? lv_page_render_refusal(ps, &how, ch->data, ch->cap) : -1;
    if (n < 0) {
        if (ch)
            lv_chunk_release(ch);
        lv_str_t resp = lv_http_error_response(status, close);
        respond_with(r, status, NULL, resp.p, resp.len, close);
        return;
    }
    respond_with(r, status, ch, ch->data, (size_t)n, close);
    lv_chunk_release(ch);
}

void lv__answer_fallback(lv_req_t *r)
{
    bool close = local_answer_closes(r, 200);
    lv_str_t resp = lv_page_fallback(page_set(r), close, r->head_only);
    int status = 503;
    if (resp.len > 12)
        status = (resp.p[9] - '0') * 100 + (resp.p[10] - '0') * 10 + (resp.p[11] - '0');
    respond_copy(r, status, resp, close);
}

void lv__answer_fault(lv_req_t *r, int status)
{
    static const char body[] = "fault injected\n";
    bool close = local_answer_closes(r, status);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nX-Levee-Fault: abort\r\n%s\r\n%s",
                     status, lv_http_reason(status), sizeof body - 1,
                     close ? "Connection: close\r\n" : "", r->head_only ? "" : body);
    respond_copy(r, status, (lv_str_t){head, (size_t)LV_MIN(n, (int)sizeof head - 1)}, close);
}

void lv__answer_fail(lv_req_t *r, int status)
{
    lv_uconn_t *u = r->uconn;
    lv__request_detach_upstream(r);
    if (u) {
        u->broken = true;
        lv__uconn_close(u);
    }
    if (r->resp_started) {
        lv__conn_close(r->conn);
        return;
    }
    r->req_done = true;
    r->conn->close_after = true;
    lv__answer_error(r, status);
}
