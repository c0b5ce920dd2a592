/* proxy/cache_serve.c: answering a request from a stored response: 200, 206 (one range),
 * 304 or a HEAD's head, the body streamed while the entry may still be filling; stale answers.
 *
 * Runs on its worker's loop; the entry is shared (the store is made for it). A request that
 * catches up with a filling body sleeps on its worker's cache_waiting list (proxy/cache_store.c).
 */
#include "proxy/proxy.h"

#include <string.h>

#include "cache/rules.h"
#include "cache/stored.h"
#include "core/clock.h"
#include "core/out.h"

/* The whole answer is queued: the request ends now, or once its head has been read whole. */
static void serve_done(lv_req_t *r)
{
    r->cache_mode = LV_CACHE_NONE;
    if (r->resp_chunked)
        lv__write_client_bytes(r, NULL, "0\r\n\r\n", 5);
    if (r->resp_close_delimited)
        r->conn->close_after = true;
    r->resp_done = true;
    r->upstream_end_ns = lv_clock_now_ns();
    lv__write_flush_client(r);
    if (r->req_done)
        lv__request_finish(r);
}

static bool header_named(lv_str_t line, const char *const *names)
{
    for (; *names; names++) {
        size_t n = strlen(*names);
        if (line.len > n && line.p[n] == ':' && lv_http_str_ieq((lv_str_t){line.p, n}, *names, n))
            return true;
    }
    return false;
}

/* Parses "bytes=A-B", "bytes=A-" or "bytes=-N" against a body of total bytes. Returns 1 and
 * sets [*start, *end) for a satisfiable single range, 0 to ignore the header (several ranges,
 * other units, junk), -1 when unsatisfiable (416). */
static int parse_range(lv_str_t v, uint64_t total, uint64_t *start, uint64_t *end)
{
    const char *p = v.p, *e = v.p + v.len;
    if (v.len < 7 || !lv_http_str_ieq((lv_str_t){p, 6}, "bytes=", 6))
        return 0;
    p += 6;
    if (memchr(p, ',', (size_t)(e - p)))
        return 0;
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    for (; p < e && *p >= '0' && *p <= '9'; p++, has_a = true)
        if ((a = a * 10 + (uint64_t)(*p - '0')) > (1ull << 60))
            return 0;
    if (p >= e || *p++ != '-')
        return 0;
    for (; p < e && *p >= '0' && *p <= '9'; p++, has_b = true)
        if ((b = b * 10 + (uint64_t)(*p - '0')) > (1ull << 60))
            return 0;
    if (p != e || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* the last b bytes */
        if (b == 0)
            return -1;
        *start = b >= total ? 0 : total - b;
        *end = total;
        return total ? 1 : -1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= total)
        return -1;
    *start = a;
    *end = has_b && b + 1 < total ? b + 1 : total;
    return 1;
}

/* Copies body bytes from the reader into dst, up to room and the end offset. */
static size_t copy_body(lv_req_t *r, char *dst, size_t room, uint64_t end)
{
    size_t got = 0;
    while (got < room && r->creader.off < end) {
        size_t off0 = r->creader.off;
        const void *p;
        size_t n = lv_cache_reader_next(&r->creader, &p);
        if (!n)
            break;
        n = LV_MIN(n, LV_MIN(room - got, end - off0));
        memcpy(dst + got, p, n);
        got += n;
        r->creader.off = off0 + n;
    }
    return got;
}

/* Answers r from e (whose reference it takes): 200, 206, 304, or the head alone for HEAD. */
void lv__cache_serve(lv_req_t *r, lv_cache_entry_t *e, const lv_cache_stored_t *st,
                     const lv_http_head_t *h, uint64_t now)
{
    static const char *const not_modified_fields[] = {
        "cache-control", "content-location", "date", "etag", "expires", "vary", NULL};
    lv_conn_t *c = r->conn;
    lv_worker_t *w = c->worker;
    lv_str_t head = lv_cache_entry_head(e);
    bool complete = false;
    size_t have = lv_cache_entry_body_len(e, &complete, NULL);
    int64_t total = complete ? (int64_t)have : st->content_length;
    uint16_t status = st->m.status;
    uint64_t start = 0, end = UINT64_MAX;
    if (lv_cache_client_conditional_matches(h, st->m.etag, st->m.last_modified, st->m.date_s)) {
        status = 304;
        lv_counter_add(&w->metrics->cache.not_modified, 1);
    } else if (status == 200 && total >= 0) {
        lv_str_t range = lv_http_header_value(h, "range", 5);
        int rr = range.len && !lv_http_header_value(h, "if-range", 8).len
                     ? parse_range(range, (uint64_t)total, &start, &end)
                     : 0;
        if (rr > 0)
            status = 206;
        else if (rr < 0)
            status = 416;
    }
    /* Most heads fit a pooled chunk, with room for the start of the body behind them. */
    lv_chunk_t *ch = lv_chunk_acquire(&w->bufs, LV_MAX(head.len + 256, LV_CHUNK_BYTES));
    if (!ch) {
        lv_cache_entry_unref(e);
        lv__answer_fail(r, 503);
        return;
    }
    lv_out_t o = {ch->data, 0, ch->cap};
    const char *line_end = memmem(head.p, head.len, "\r\n", 2);
    lv_str_t fields = {line_end + 2, head.len - (size_t)(line_end + 2 - head.p)};
    bool body = status != 304 && status != 416 && !r->head_only;
    if (status == st->m.status) {
        lv_out_put(&o, head.p, head.len);
    } else if (status == 304) {
        LV_OUT_LIT(&o, "HTTP/1.1 304 Not Modified\r\n");
        for (const char *p = fields.p, *fe = fields.p + fields.len; p < fe;) {
            const char *nl = memmem(p, (size_t)(fe - p), "\r\n", 2);
            lv_str_t line = {p, (size_t)(nl - p)};
            if (header_named(line, not_modified_fields))
                lv_out_put(&o, p, line.len + 2);
            p = nl + 2;
        }
    } else {
        if (status == 206)
            LV_OUT_LIT(&o, "HTTP/1.1 206 Partial Content\r\n");
        else
            LV_OUT_LIT(&o, "HTTP/1.1 416 Range Not Satisfiable\r\n");
        lv_out_put(&o, fields.p, fields.len);
        LV_OUT_LIT(&o, "Content-Range: bytes ");
        if (status == 206) {
            lv_out_u64(&o, start);
            LV_OUT_LIT(&o, "-");
            lv_out_u64(&o, end - 1);
        } else {
            LV_OUT_LIT(&o, "*");
        }
        LV_OUT_LIT(&o, "/");
        lv_out_u64(&o, (uint64_t)total);
        LV_OUT_LIT(&o, "\r\n");
    }
    LV_OUT_LIT(&o, "Age: ");
    lv_out_u64(&o, lv_cache_current_age(&st->m, now));
    LV_OUT_LIT(&o, "\r\n");
    r->resp_chunked = r->resp_close_delimited = false;
    if (status == 416) {
        LV_OUT_LIT(&o, "Content-Length: 0\r\n");
    } else if (status != 304 && total >= 0) {
        LV_OUT_LIT(&o, "Content-Length: ");
        lv_out_u64(&o, status == 206 ? end - start : (uint64_t)total);
        LV_OUT_LIT(&o, "\r\n");
    } else if (status != 304 && !r->head_only) {
        if (r->client_http10) {
            r->resp_close_delimited = true;
        } else {
            r->resp_chunked = true;
            LV_OUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
        }
    }
    bool keep = r->client_keep_alive && !r->resp_close_delimited && !c->close_after &&
                !w->draining && !(r->has_body && !r->req_done);
    if (!keep)
        LV_OUT_LIT(&o, "Connection: close\r\n");
    else if (r->client_http10)
        LV_OUT_LIT(&o, "Connection: keep-alive\r\n");
    LV_OUT_LIT(&o, "\r\n");
    if (o.len > o.cap) { /* cannot happen: 256 bytes cover every line added */
        lv_chunk_release(ch);
        lv_cache_entry_unref(e);
        lv__answer_fail(r, 500);
        return;
    }
    if (!keep)
        c->close_after = true;
    r->status = status;
    r->resp_started = true;
    r->centry = e;
    lv_cache_reader_init(&r->creader, e);
    r->creader.off = start;
    r->cache_end = body ? end : 0;
    r->cache_mode = LV_CACHE_SERVING;
    /* Without chunked framing the body's first bytes share the head's buffer and write. */
    if (!r->resp_chunked && body)
        o.len += copy_body(r, ch->data + o.len, ch->cap - o.len, LV_MIN((uint64_t)have, end));
    lv__write_client_bytes(r, ch, ch->data, o.len);
    lv_chunk_release(ch);
    lv__cache_pump(r);
}

/* Copies what is readable of the body to the client, up to the send queue's high mark. Ends
 * the response when the body is complete; waits (STARVED) when it is still filling. */
void lv__cache_pump(lv_req_t *r)
{
    lv_conn_t *c = r->conn;
    lv_worker_t *w = c->worker;
    while (r->cache_mode == LV_CACHE_SERVING) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > LV_QUEUE_HIGH) {
            lv__write_flush_client(r);
            return; /* lv__cache_client_writable goes on */
        }
        bool complete = false, aborted = false;
        size_t have = lv_cache_entry_body_len(r->centry, &complete, &aborted);
        uint64_t end = LV_MIN((uint64_t)have, r->cache_end);
        if (r->creader.off >= end) {
            if (r->creader.off >= r->cache_end || complete) {
                serve_done(r);
                return;
            }
            lv__write_flush_client(r);
            if (aborted) { /* the fill failed: never pretend the response completed */
                r->resp_done = true;
                lv__conn_close(c);
                return;
            }
            lv__cache_sleep_on(r, LV_CACHE_STARVED);
            /* Re-check once: a notify may have run before we counted as a sleeper. */
            bool done_now = false, aborted_now = false;
            if (lv_cache_entry_body_len(r->centry, &done_now, &aborted_now) > have || done_now ||
                aborted_now) {
                lv__cache_stop_waiting(r);
                continue;
            }
            return;
        }
        lv_chunk_t *ch = lv_chunk_acquire(&w->bufs, LV_CHUNK_BYTES);
        if (!ch) {
            lv__conn_close(c);
            return;
        }
        size_t got = copy_body(r, ch->data, ch->cap, end);
        int rc = lv__relay_resp_body(r, ch, ch->data, got);
        lv_chunk_release(ch);
        if (rc) {
            lv__conn_close(c);
            return;
        }
        lv__write_flush_client(r);
    }
}

void lv__cache_client_writable(lv_req_t *r)
{
    if (r->cache_mode == LV_CACHE_SERVING &&
        uv_stream_get_write_queue_size((uv_stream_t *)&r->conn->tcp) < LV_QUEUE_LOW)
        lv__cache_pump(r);
}

bool lv__cache_serve_stale(lv_req_t *r, lv_stale_why_t why)
{
    if (!r->stale || r->resp_started)
        return false;
    const lv_http_head_t *h = lv__req_head(r);
    lv_cache_stored_t st;
    lv_cache_entry_t *e = r->stale;
    if (lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), &st) < 0)
        return false;
    uint64_t now = lv_clock_wall_ms() / 1000;
    if (!lv__cache_stale_usable(r, &st, now))
        return false;
    lv_cache_metrics_t *m = &r->conn->worker->metrics->cache;
    lv_counter_add(why == LV_STALE_REVALIDATE ? &m->stale_swr
                   : why == LV_STALE_ERROR    ? &m->stale_error
                                              : &m->stale_refused,
                   1);
    r->stale = NULL;
    r->cache_outcome = LV_CACHE_OUT_STALE;
    if (r->queued)
        lv__limit_cancel(r);
    lv__cache_serve(r, e, &st, h, now);
    return true;
}
