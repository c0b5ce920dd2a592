/* proxy/stage_body.c: the body stage: a request body is read into one buffer (up to
 * limits.body_buffer_bytes) before the guard, so a slow upload holds no concurrency slot and a
 * whole body can wait in the queue or be sent again; 100 Continue is sent to a client that
 * waits for it. */
#include "proxy/pipeline.h"

#include <string.h>

lv_stage_verdict_t lv_stage_body(lv_req_t *r, const lv_http_head_t *h)
{
    (void)h;
    if (!r->has_body || !r->gen->cfg->limits.body_buffer_bytes)
        return LV_STAGE_NEXT;
    r->body_buffering = true;
    if (r->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        lv_wreq_t *w = lv__write_out(r, &r->client_out, r->conn);
        if (w && lv_wreq_add(w, NULL, cont, sizeof cont - 1) == 0)
            r->sent_continue = true;
        lv__write_flush_client(r);
    }
    return LV_STAGE_WAIT; /* lv__body_keep / lv__body_whole go on */
}

/* Copies a body span into the buffer; false when it does not fit. */
static bool buffer_body(lv_req_t *r, const char *p, size_t len)
{
    uint32_t bound = r->gen->cfg->limits.body_buffer_bytes;
    if ((uint64_t)r->body_len + len > bound)
        return false;
    if (!r->body_buf) {
        int64_t cl = lv__req_head(r)->content_length;
        size_t cap = cl > 0 && (uint64_t)cl < bound ? (size_t)cl : bound;
        if (!(r->body_buf = lv_chunk_acquire(&r->conn->worker->bufs, cap)))
            return false;
    }
    if (r->body_len + len > r->body_buf->cap)
        return false;
    memcpy(r->body_buf->data + r->body_len, p, len);
    r->body_len += (uint32_t)len;
    return true;
}

bool lv__body_keep(lv_req_t *r, const char *p, size_t len)
{
    if (buffer_body(r, p, len))
        return true;
    /* Larger than the buffer: admitted now with what is buffered; the rest streams. */
    r->body_buffering = false;
    lv__pipeline_next(r);
    return false;
}

void lv__body_whole(lv_req_t *r)
{
    r->body_buffering = false;
    r->body_whole = true;
    lv__pipeline_next(r);
}
