/* proxy/forward.c: relays one request to an upstream and its response back: head rewriting,
 * body framing, retries, local error responses, backpressure. Runs on its worker's loop only. */
#include "proxy/proxy.h"

#include <stdio.h>
#include <string.h>

#include "cache/rules.h"
#include "core/clock.h"
#include "core/out.h"
#include "core/log.h"
#include "guard/retry_cookie.h"
#include "http/errors.h"

static const char via_value[] = "1.1 levee";
static const char hex_digits[] = "0123456789abcdef";

/* Writes v as lowercase hex, no leading zeros (chunk sizes); returns the length. */
static size_t fmt_hex(char *dst, uint64_t v)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex_digits[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* Writes v as exactly `digits` hex digits. */
static void fmt_hex_fixed(char *dst, uint64_t v, unsigned digits)
{
    for (unsigned i = digits; i-- > 0; v >>= 4)
        dst[i] = hex_digits[v & 15];
}

/* A chunk-size line "<hex>\r\n" into the write's scratch. */
static void add_chunk_line(lv_wreq_t *w, size_t len)
{
    char line[20];
    size_t n = fmt_hex(line, len);
    line[n++] = '\r';
    line[n++] = '\n';
    lv_wreq_add_copy(w, line, n);
}

/* ---- writing ---- */

static void client_write_done(uv_write_t *wr, int status);
static void upstream_write_done(uv_write_t *wr, int status);

static lv_wreq_t *out_for(lv_req_t *r, lv_wreq_t **slot, void *owner)
{
    if (!*slot)
        *slot = lv_wreq_acquire(&r->conn->worker->bufs, owner);
    return *slot;
}

void lv__forward_flush_client(lv_req_t *r)
{
    lv_wreq_t *w = r->client_out;
    if (!w)
        return;
    r->client_out = NULL;
    if (!w->n_bufs) {
        lv_wreq_release(w);
        return;
    }
    lv_conn_t *c = r->conn;
    r->bytes_out += w->bytes;
    lv_counter_add(&c->worker->metrics->bytes_out, w->bytes);
    int rc = lv_wreq_submit(w, (uv_stream_t *)&c->tcp, client_write_done);
    if (rc < 0) {
        c->close_after = true;
        return;
    }
    if (rc == 0)
        lv__conn_write_started(c);
    if (r->uconn && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > LV_QUEUE_HIGH &&
        r->uconn->reading) {
        /* Our own pause is not the upstream's silence: no read timeout while paused; the
         * client's send timeout bounds the wait instead. */
        r->uconn->reading = false;
        uv_read_stop((uv_stream_t *)&r->uconn->tcp);
        lv_deadline_clear(&r->uconn->deadline);
    }
}

void lv__forward_flush_upstream(lv_req_t *r)
{
    lv_wreq_t *w = r->up_out;
    if (!w)
        return;
    r->up_out = NULL;
    lv_uconn_t *u = r->uconn;
    /* A connect that failed at once (EMFILE, EADDRNOTAVAIL) has no socket to write to: its
     * zero timer reports it as a connect failure (counted, logged, next host). */
    if (!w->n_bufs || !u || (u->broken && u->state == LV_UCONN_CONNECTING)) {
        lv_wreq_release(w);
        return;
    }
    w->owner = u;
    int rc = lv_wreq_submit(w, (uv_stream_t *)&u->tcp, upstream_write_done);
    if (rc < 0) {
        lv__uconn_fail(u, 502, false);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&u->tcp) > LV_QUEUE_HIGH)
        lv__conn_pause_read(r->conn);
}

/* Client writes are owned by the connection (it outlives its requests). */
static void client_write_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_conn_t *c = w->owner;
    lv_wreq_release(w);
    lv__conn_write_done(c, status);
}

void lv__forward_client_writable(lv_req_t *r)
{
    if (r->centry) {
        lv__cache_client_writable(r);
        return;
    }
    lv_uconn_t *u = r->uconn;
    if (u && !u->reading && u->state == LV_UCONN_BUSY &&
        uv_stream_get_write_queue_size((uv_stream_t *)&r->conn->tcp) < LV_QUEUE_LOW) {
        lv__uconn_start_read(u);
        lv__uconn_arm_read_timeout(u);
    }
}

/* Upstream writes are owned by the upstream connection. */
static void upstream_write_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_uconn_t *u = w->owner;
    lv_wreq_release(w);
    if (status == UV_ECANCELED || u->state == LV_UCONN_CLOSING)
        return;
    if (status < 0) {
        lv_counter_add(&u->pool->metrics->upstream_errors, 1);
        lv__uconn_fail(u, 502, false);
        return;
    }
    if (u->req) {
        lv__uconn_arm_read_timeout(u); /* an upload in progress is progress */
        lv__forward_upstream_writable(u->req);
    }
}

void lv__forward_upstream_writable(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    if (u && !r->req_done && uv_stream_get_write_queue_size((uv_stream_t *)&u->tcp) < LV_QUEUE_LOW)
        lv__conn_resume_read(r->conn);
}

/* ---- building heads ---- */

static inline void put_header(lv_out_t *o, lv_str_t name, lv_str_t value)
{
    lv_out_put(o, name.p, name.len);
    LV_OUT_LIT(o, ": ");
    lv_out_put(o, value.p, value.len);
    LV_OUT_LIT(o, "\r\n");
}

static size_t head_bound(const lv_http_head_t *h)
{
    size_t n = h->target.len + h->reason.len + 512;
    for (uint32_t i = 0; i < h->n_headers; i++)
        n += h->headers[i].name.len + h->headers[i].value.len + 4;
    return n;
}

static void make_request_id(lv_req_t *r)
{
    lv_worker_t *w = r->conn->worker;
    uint64_t seq = ++w->req_seq;
    /* 20 hex digits: per-worker random salt, worker id, sequence. Unique per process run. */
    fmt_hex_fixed(r->request_id, w->rid_salt, 8);
    fmt_hex_fixed(r->request_id + 8, w->id & 0xff, 2);
    fmt_hex_fixed(r->request_id + 10, seq, 10);
    r->request_id_len = 20;
}

/* The upstream request head: hop-by-hop headers dropped, X-Forwarded-For merged and
 * extended, Via and X-Request-Id added, Host kept as sent. */
static int build_request_head(lv_req_t *r, const lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
    lv_str_t etag = {NULL, 0}, last_modified = {NULL, 0};
    bool revalidate = lv__cache_validators(r, &etag, &last_modified);
    size_t bound =
        head_bound(h) + sizeof c->client + r->request_id_len + etag.len + last_modified.len + 48;
    lv_chunk_t *ch = lv_chunk_acquire(&c->worker->bufs, bound);
    if (!ch)
        return LV_ENOMEM;
    lv_out_t o = {ch->data, 0, ch->cap};
    lv_out_put(&o, lv_http_method_name(h->method), strlen(lv_http_method_name(h->method)));
    LV_OUT_LIT(&o, " ");
    lv_out_put(&o, h->target.p, h->target.len);
    LV_OUT_LIT(&o, " HTTP/1.1\r\n");

    if (h->absolute_form) {
        LV_OUT_LIT(&o, "Host: ");
        lv_out_put(&o, h->host.p, h->host.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    bool xff_seen = false, via_seen = false;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const lv_http_header_t *hd = &h->headers[i];
        if (lv_http_is_hop_by_hop(hd->name, h->connection))
            continue;
        /* RFC 9112 3.2.2: an absolute-form target's authority replaces the client's Host. */
        if (h->absolute_form && LV_HTTP_IEQ(hd->name, "host"))
            continue;
        /* Filling the cache: levee's validators, if any, replace the client's. */
        if (revalidate &&
            (LV_HTTP_IEQ(hd->name, "if-none-match") || LV_HTTP_IEQ(hd->name, "if-modified-since")))
            continue;
        if (LV_HTTP_IEQ(hd->name, "x-forwarded-for") || LV_HTTP_IEQ(hd->name, "via")) {
            bool xff = hd->name.len == 15;
            if (xff ? xff_seen : via_seen)
                continue;
            /* Merge every line of this list header into one, then add our element. */
            lv_out_put(&o, hd->name.p, hd->name.len);
            LV_OUT_LIT(&o, ": ");
            for (uint32_t j = i, first = 1; j < h->n_headers; j++) {
                if (h->headers[j].name.len != hd->name.len ||
                    !lv_http_str_ieq(h->headers[j].name, xff ? "x-forwarded-for" : "via",
                                     hd->name.len))
                    continue;
                if (!first)
                    LV_OUT_LIT(&o, ", ");
                lv_out_put(&o, h->headers[j].value.p, h->headers[j].value.len);
                first = 0;
            }
            LV_OUT_LIT(&o, ", ");
            if (xff)
                lv_out_put(&o, c->client, c->client_ip_len);
            else
                LV_OUT_LIT(&o, via_value);
            LV_OUT_LIT(&o, "\r\n");
            if (xff)
                xff_seen = true;
            else
                via_seen = true;
            continue;
        }
        put_header(&o, hd->name, hd->value);
    }
    if (!xff_seen) {
        LV_OUT_LIT(&o, "X-Forwarded-For: ");
        lv_out_put(&o, c->client, c->client_ip_len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (!via_seen)
        LV_OUT_LIT(&o, "Via: 1.1 levee\r\n");
    if (!h->request_id.len) {
        LV_OUT_LIT(&o, "X-Request-Id: ");
        lv_out_put(&o, r->request_id, r->request_id_len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (h->chunked)
        LV_OUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
    if (etag.len) {
        LV_OUT_LIT(&o, "If-None-Match: ");
        lv_out_put(&o, etag.p, etag.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (last_modified.len) {
        LV_OUT_LIT(&o, "If-Modified-Since: ");
        lv_out_put(&o, last_modified.p, last_modified.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    LV_OUT_LIT(&o, "\r\n");
    LV_ASSERT(o.len <= o.cap);
    r->head_chunk = ch;
    r->head_len = (uint32_t)o.len;
    return 0;
}

/* ---- local answers ---- */

/* The guard's outcome (limit, breaker, gauges) of a request, once (a released slot is not
 * released again). */
static void release_slot(lv_req_t *r)
{
    lv__admit_release(r, r->resp_any ? r->status : 0, r->up_timed_out, r->up_failed);
}

/* The access log's words for lv_cache_outcome_t and lv_refusal_t (0, none: null). */
static const char *const cache_outcome_names[] = {
    [LV_CACHE_OUT_HIT] = "hit",
    [LV_CACHE_OUT_MISS] = "miss",
    [LV_CACHE_OUT_PASS] = "pass",
    [LV_CACHE_OUT_STALE] = "stale",
    [LV_CACHE_OUT_COALESCED] = "coalesced",
    [LV_CACHE_OUT_REVALIDATED] = "revalidated",
};

static const char *const refusal_names[] = {
    [LV_REFUSAL_FLAG] = "flag",           [LV_REFUSAL_STORM] = "storm",
    [LV_REFUSAL_PREMATURE] = "premature", [LV_REFUSAL_BREAKER] = "breaker",
    [LV_REFUSAL_SHED] = "shed",           [LV_REFUSAL_QUEUE_TIMEOUT] = "queue_timeout",
    [LV_REFUSAL_DEADLINE] = "deadline",   [LV_REFUSAL_BODY_TIMEOUT] = "body_timeout",
};

/* A name from one of the tables above, NULL for 0 (none) or an index out of the table. */
static const char *name_or_null(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : NULL;
}

/* Ends a request. Everything is counted (metrics, access log, the guard) before its last bytes
 * are written: a client that got its answer and then asks the admin sees it counted. */
static void finish_request(lv_req_t *r)
{
    lv_conn_t *c = r->conn;
    lv_worker_t *w = c->worker;
    uint64_t now = lv_clock_now_ns();
    uint64_t total_us = (now - r->start_ns) / 1000;
    if (r->pool) {
        lv_metrics_record_request(r->pool->metrics, r->method, r->status, total_us);
        lv_counter_add(&r->pool->metrics->in_flight, (uint64_t)-1);
    }
    if (w->access_log) {
        lv_access_entry_t e = {
            .wall_ms = lv_clock_wall_ms(),
            .client = r->client_forwarded ? (lv_str_t){r->client_ip, r->client_ip_len}
                                          : (lv_str_t){c->client, strlen(c->client)},
            .service =
                r->pool ? (lv_str_t){r->pool->svc->name, strlen(r->pool->svc->name)} : LV_STR(""),
            .method = lv_http_method_name(r->method),
            .target = {r->target_copy, r->target_len},
            .status = r->status,
            .bytes_in = r->bytes_in,
            .bytes_out = r->bytes_out + (r->client_out ? r->client_out->bytes : 0),
            .upstream_us = r->upstream_start_ns && r->upstream_end_ns
                               ? (int64_t)((r->upstream_end_ns - r->upstream_start_ns) / 1000)
                               : -1,
            .total_us = total_us,
            .request_id = {r->request_id, r->request_id_len},
            .host = {r->host_copy, r->host_len},
            .user_agent = {r->ua_copy, r->ua_len},
            .upstream = r->host ? r->host->addr->text : NULL,
            .cache = name_or_null(cache_outcome_names, LV_ARRAY_LEN(cache_outcome_names),
                                  r->cache_outcome),
            .refusal = name_or_null(refusal_names, LV_ARRAY_LEN(refusal_names), r->refusal),
        };
        lv_access_log_write(w->access_log, &e);
    }
    release_slot(r);
    lv__cache_request_end(r);
    lv__admit_req_end(r);
    if (r->body_buf)
        lv_chunk_release(r->body_buf);
    if (r->head_chunk)
        lv_chunk_release(r->head_chunk);
    if (r->up_out)
        lv_wreq_release(r->up_out);
    if (r->client_out)
        lv__forward_flush_client(r);
    lv__gen_unref(r->gen);
    c->req = NULL;
    lv__req_release(w, r);
    lv__conn_request_finished(c);
}

void lv__forward_finish(lv_req_t *r)
{
    finish_request(r);
}

static void detach_upstream(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    if (!u)
        return;
    r->uconn = NULL;
    u->req = NULL;
    if (r->host)
        r->host->outstanding--;
    if (r->up_out) {
        lv_wreq_release(r->up_out);
        r->up_out = NULL;
    }
}

void lv__forward_detach_upstream(lv_req_t *r)
{
    detach_upstream(r);
}

int lv__forward_client_bytes(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_wreq_t *w = out_for(r, &r->client_out, r->conn);
    if (w && !lv_wreq_room(w, 1, 0)) {
        lv__forward_flush_client(r);
        w = out_for(r, &r->client_out, r->conn);
    }
    return w ? lv_wreq_add(w, ch, p, len) : LV_ENOMEM;
}

/* Answers the request from levee itself. The bytes are static, or in chunk (the write takes
 * its own reference). */
static void respond_with(lv_req_t *r, int status, lv_chunk_t *chunk, const char *p, size_t len,
                         bool close)
{
    lv_conn_t *c = r->conn;
    lv_wreq_t *w = out_for(r, &r->client_out, c);
    if (w)
        lv_wreq_add(w, chunk, p, len);
    r->status = (uint16_t)status;
    r->resp_started = r->resp_done = true;
    if (close)
        c->close_after = true;
    if (r->req_done) {
        finish_request(r); /* counts the request, then writes the answer */
        return;
    }
    release_slot(r);
    lv__forward_flush_client(r);
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

static void respond_local(lv_req_t *r, int status)
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

void lv__forward_refuse(lv_req_t *r, int status, uint32_t retry_after_s)
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
     * cookie before not-before is premature, for this resource only (admit.c, step 2). It
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

void lv__forward_fallback(lv_req_t *r)
{
    bool close = local_answer_closes(r, 200);
    lv_str_t resp = lv_page_fallback(page_set(r), close, r->head_only);
    int status = 503;
    if (resp.len > 12)
        status = (resp.p[9] - '0') * 100 + (resp.p[10] - '0') * 10 + (resp.p[11] - '0');
    respond_copy(r, status, resp, close);
}

/* ---- request side ---- */

/* The body read before admission, framed as it goes out (chunked: one chunk, and the last
 * chunk when the body is whole). At most 4 buffers of the write. */
static int add_buffered_body(lv_req_t *r, lv_wreq_t *w)
{
    if (!r->body_buf && !r->body_whole)
        return 0; /* no body, or one that streams from its first byte */
    if (!lv_wreq_room(w, 4, 20))
        return LV_ELIMIT;
    if (r->body_len && r->req_chunked) {
        add_chunk_line(w, r->body_len);
        lv_wreq_add(w, r->body_buf, r->body_buf->data, r->body_len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else if (r->body_len) {
        lv_wreq_add(w, r->body_buf, r->body_buf->data, r->body_len);
    }
    if (r->body_whole && r->req_chunked)
        lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    return 0;
}

static void send_to_upstream(lv_req_t *r)
{
    bool reused = false;
    lv_uconn_t *u = lv__uconn_get(r->pool, r->host, &reused);
    if (!u) {
        respond_local(r, 503);
        return;
    }
    r->uconn = u;
    u->req = r;
    lv__cache_attach(r, u);
    r->reused_conn = reused;
    r->host->outstanding++;
    r->tries++;
    if (!r->upstream_start_ns)
        r->upstream_start_ns = lv_clock_now_ns();
    lv_http_parser_expect_no_body(&u->parser, r->head_only);
    lv_wreq_t *w = out_for(r, &r->up_out, u);
    if (!w || lv_wreq_add(w, r->head_chunk, r->head_chunk->data, r->head_len) < 0 ||
        add_buffered_body(r, w) < 0) {
        detach_upstream(r);
        u->broken = true;
        lv__uconn_close(u);
        respond_local(r, 503);
        return;
    }
    if (reused)
        lv__uconn_arm_read_timeout(u);
}

/* r took over the upstream request of a client that left (admit.c, join_orphan): it gets
 * the response as if it had sent the request itself. Nothing is sent; the read timeout armed
 * for the orphan keeps running. */
static void join_upstream(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    u->req = r;
    r->host = u->host;
    r->host->outstanding++;
    r->tries = 1;
    r->reused_conn = false; /* never resent as "a kept-alive connection went stale" */
}

/* Trims spaces and tabs around [*p, *p + *n). */
static void trim_ows(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
        (*n)--;
}

/* The real client (real_client.trusted): the peer, unless the peer is a trusted proxy; then,
 * walking X-Forwarded-For from the right, the first address that is not trusted (the leftmost
 * when all are). An element that is not an address ends the walk: what is left of it cannot
 * be trusted, and the last trusted hop is the client. */
static void real_client(lv_req_t *r, const lv_http_head_t *h)
{
    const lv_conn_t *c = r->conn;
    const lv_config_t *cfg = r->gen->cfg;
    const char *best = c->client;
    size_t best_len = c->client_ip_len;
    r->client_forwarded = false;
    if (cfg->n_trusted_proxies &&
        lv_cidr_contains(cfg->trusted_proxies, cfg->n_trusted_proxies, best, best_len)) {
        bool stop = false;
        for (uint32_t i = h->n_headers; i-- > 0 && !stop;) {
            const lv_http_header_t *hd = &h->headers[i];
            if (!LV_HTTP_IEQ(hd->name, "x-forwarded-for"))
                continue;
            const char *v = hd->value.p;
            size_t end = hd->value.len;
            while (!stop) {
                size_t start = end;
                while (start > 0 && v[start - 1] != ',')
                    start--;
                const char *e = v + start;
                size_t n = end - start;
                trim_ows(&e, &n);
                lv_cidr_t probe;
                if (n == 0 || n >= sizeof r->client_ip || lv_cidr_parse(&probe, e, n) != 0 ||
                    memchr(e, '/', n)) {
                    stop = true;
                    break;
                }
                best = e;
                best_len = n;
                r->client_forwarded = true;
                if (!lv_cidr_contains(cfg->trusted_proxies, cfg->n_trusted_proxies, e, n))
                    stop = true; /* the rightmost untrusted address: the client */
                if (start == 0)
                    break;
                end = start - 1;
            }
        }
    }
    r->client_ip_len = (uint8_t)LV_MIN(best_len, sizeof r->client_ip - 1);
    memcpy(r->client_ip, best, r->client_ip_len);
    r->client_ip[r->client_ip_len] = '\0';
}

void lv__forward_start(lv_req_t *r, lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
    const lv_config_t *cfg = r->gen->cfg;
    r->method = h->method;
    r->idempotent = lv_http_method_idempotent(h->method);
    r->head_only = h->method == HTTP_HEAD;
    r->has_body = h->has_body;
    r->req_chunked = h->chunked;
    r->client_keep_alive = h->keep_alive;
    r->client_http10 = h->version_minor == 0;
    r->expect_continue = h->expect_continue;
    r->target_len = (uint16_t)LV_MIN(h->target.len, sizeof r->target_copy);
    memcpy(r->target_copy, h->target.p, r->target_len);
    if (c->worker->access_log) {
        lv_str_t ua = lv_http_header_value(h, "user-agent", 10);
        r->host_len = (uint8_t)LV_MIN(h->host.len, sizeof r->host_copy);
        if (r->host_len)
            memcpy(r->host_copy, h->host.p, r->host_len);
        r->ua_len = (uint8_t)LV_MIN(ua.len, sizeof r->ua_copy);
        if (r->ua_len)
            memcpy(r->ua_copy, ua.p, r->ua_len);
    }
    if (h->request_id.len) {
        r->request_id_len = (uint8_t)LV_MIN(h->request_id.len, sizeof r->request_id - 1);
        memcpy(r->request_id, h->request_id.p, r->request_id_len);
    } else {
        make_request_id(r);
    }
    if (c->worker->draining)
        c->close_after = true;
    real_client(r, h);

    int route = lv_config_route(cfg, h->host.p, h->host.len, h->path.p, h->path.len);
    if (route < 0) {
        lv_counter_add(&c->worker->metrics->requests_unrouted, 1);
        respond_local(r, 404);
        return;
    }
    r->pool = &r->gen->pools[cfg->routes[route].service];
    r->crit = cfg->routes[route].criticality ? (uint8_t)(cfg->routes[route].criticality - 1)
                                             : (uint8_t)r->pool->svc->criticality;
    r->route = (uint16_t)route;
    lv_counter_add(&r->pool->metrics->in_flight, 1);
    if (lv__cache_request(r, h, &cfg->routes[route]))
        return; /* answered from the cache, or waiting for another request's answer */
    if (r->has_body && cfg->limits.body_buffer_bytes) {
        /* The body first: lv__forward_req_body buffers it, then admission (at its end, or when
         * it outgrows the buffer). A client that waits for 100 Continue is told to go on. */
        r->body_buffering = true;
        if (r->expect_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            lv_wreq_t *w = out_for(r, &r->client_out, c);
            if (w && lv_wreq_add(w, NULL, cont, sizeof cont - 1) == 0)
                r->sent_continue = true;
            lv__forward_flush_client(r);
        }
        return;
    }
    lv__forward_origin(r, h);
}

bool lv__forward_body_buffering(const lv_req_t *r)
{
    return r->body_buffering;
}

/* Keeps a body span for after admission; false when it does not fit the buffer. */
static bool buffer_body(lv_req_t *r, const char *p, size_t len)
{
    uint32_t bound = r->gen->cfg->limits.body_buffer_bytes;
    if ((uint64_t)r->body_len + len > bound)
        return false;
    if (!r->body_buf) {
        int64_t cl = r->conn->parser.head.content_length;
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

/* The buffered part of the body is in: the guard, then the upstream (the head is still the
 * connection's parser head). */
static void body_admit(lv_req_t *r)
{
    r->body_buffering = false;
    lv__forward_origin(r, &r->conn->parser.head);
}

/* The guard, then the upstream. */
void lv__forward_origin(lv_req_t *r, const lv_http_head_t *h)
{
    lv_admit_t verdict = lv__admit(r, h);
    if (verdict == LV_ADMIT_ANSWERED)
        return;
    /* Built for a joined request too: a failed upstream may be retried on another host. */
    if (build_request_head(r, h) < 0) {
        lv_uconn_t *u = r->uconn; /* a joined orphan's: its request is nobody's now */
        r->uconn = NULL;
        if (u) {
            u->broken = true;
            lv__uconn_close(u);
        }
        lv__admit_release(r, 0, false, false);
        respond_local(r, 500);
        return;
    }
    if (verdict == LV_ADMIT_QUEUED)
        return; /* lv__forward_dispatch sends it when a slot frees */
    if (verdict == LV_ADMIT_JOINED) {
        join_upstream(r);
        return;
    }
    r->host = lv__pool_pick(r->pool, NULL);
    send_to_upstream(r);
}

bool lv__forward_personal(const lv_http_head_t *h)
{
    lv_cache_cc_t cc;
    lv_cache_cc_from_head(h, &cc);
    return (cc.flags & (LV_CACHE_CC_PRIVATE | LV_CACHE_CC_NO_STORE)) ||
           lv_http_header_value(h, "set-cookie", 10).p != NULL;
}

void lv__forward_resend(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    detach_upstream(r);
    if (u) {
        u->broken = true;
        lv__uconn_close(u);
    }
    r->joined = false;
    r->resp_any = false;
    r->tries = 0;
    lv_counter_add(&r->pool->metrics->guard_join_resent, 1);
    r->host = lv__pool_pick(r->pool, NULL);
    send_to_upstream(r);
    lv__forward_flush_upstream(r);
}

void lv__forward_dispatch(lv_req_t *r)
{
    r->host = lv__pool_pick(r->pool, NULL);
    send_to_upstream(r);
    lv__forward_flush_upstream(r);
}

int lv__forward_req_body(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    if (r->body_buffering) {
        if (buffer_body(r, p, len))
            return 0;
        /* Larger than the buffer: admitted now with what is buffered; the rest streams. */
        body_admit(r);
        if (r->resp_done && !r->uconn)
            return 0; /* refused or answered: the rest of the body is read and dropped */
    }
    if (!r->uconn)
        return 0; /* answered already (404, early response): the body is read and dropped */
    lv_wreq_t *w = out_for(r, &r->up_out, r->uconn);
    if (!w)
        return 503;
    if (r->req_chunked) {
        if (!lv_wreq_room(w, 3, 20)) {
            lv__forward_flush_upstream(r);
            if (!r->uconn || !(w = out_for(r, &r->up_out, r->uconn)))
                return 0;
        }
        add_chunk_line(w, len);
        lv_wreq_add(w, ch, p, len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else {
        if (!lv_wreq_room(w, 1, 0)) {
            lv__forward_flush_upstream(r);
            if (!r->uconn || !(w = out_for(r, &r->up_out, r->uconn)))
                return 0;
        }
        lv_wreq_add(w, ch, p, len);
    }
    return 0;
}

void lv__forward_req_done(lv_req_t *r)
{
    r->req_done = true;
    if (r->body_buffering) {
        r->body_whole = true;
        body_admit(r);
        return;
    }
    if (r->uconn && r->req_chunked) {
        lv_wreq_t *w = out_for(r, &r->up_out, r->uconn);
        if (w && !lv_wreq_room(w, 1, 0)) {
            lv__forward_flush_upstream(r);
            w = r->uconn ? out_for(r, &r->up_out, r->uconn) : NULL;
        }
        if (w)
            lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    }
    if (r->resp_done)
        finish_request(r);
}

void lv__forward_client_gone(lv_req_t *r)
{
    bool sent = r->req_done, answered = r->resp_done;
    r->client_gone = true;
    if (r->queued)
        lv__admit_cancel(r); /* it never reaches the backend */
    if (!r->resp_done) {
        r->status = 499; /* client closed request (the nginx convention) */
        r->resp_done = true;
    }
    lv_uconn_t *u = r->uconn;
    /* The upstream got the whole request and works on it: let it finish, and keep the
     * concurrency slot taken until it has (the slot moves to the upstream connection). */
    bool orphan =
        u && r->slot_held && sent && !answered && !r->resp_any && !r->conn->worker->draining;
    if (orphan)
        lv__admit_orphan(r, u);
    detach_upstream(r);
    if (u && u->fill && !r->conn->worker->draining) {
        /* Others wait for this response or will read it from the store: keep filling. */
        lv__uconn_start_read(u);
        lv__uconn_arm_read_timeout(u);
    } else if (u && !orphan) {
        u->broken = true;
        lv__uconn_close(u);
    }
    r->req_done = true;
    if (r->client_out) {
        lv_wreq_release(r->client_out);
        r->client_out = NULL;
    }
    finish_request(r);
}

void lv__forward_upstream_failed(lv_req_t *r, int status, bool connect_failed)
{
    lv__cache_reclaim(r, r->uconn);
    detach_upstream(r);
    bool body_ok = !r->has_body || r->body_whole; /* a whole buffered body can be sent again */
    bool replayable = r->idempotent && body_ok && !r->resp_any && !r->client_gone;
    /* A connect that failed sent nothing: any request without a body may go to another host,
     * and the retry budget is not charged (it bounds extra work for the backends, and a request
     * that reached no backend adds none). Outlier detection takes the host out meanwhile. */
    if (connect_failed && body_ok && !r->client_gone && r->tries < 2 && r->pool->n_hosts > 1) {
        lv_counter_add(&r->pool->metrics->upstream_retries, 1);
        r->host = lv__pool_pick(r->pool, r->host);
        send_to_upstream(r);
        lv__forward_flush_upstream(r);
        return;
    }
    /* A kept-alive connection that the upstream closed just as we reused it: once more on a
     * fresh connection, which is not a retry of the request's work. */
    if (replayable && !connect_failed && r->reused_conn && status == 502 && !r->stale_retried) {
        r->stale_retried = true;
        r->tries--;
        send_to_upstream(r);
        lv__forward_flush_upstream(r);
        return;
    }
    r->upstream_end_ns = lv_clock_now_ns();
    if (status == 504)
        r->up_timed_out = true;
    else
        r->up_failed = true;
    if (!r->resp_started) {
        if (!lv__cache_serve_stale(r, LV_STALE_ERROR))
            respond_local(r, status);
        return;
    }
    /* The response was cut: never pretend it completed. */
    r->resp_done = true;
    r->conn->close_after = true;
    lv__conn_close(r->conn);
}

/* ---- response side ---- */

/* The status line and the end-to-end headers of h (hop-by-hop ones dropped, Via extended)
 * into o; the caller adds its framing headers and the blank line. */
static void put_response_head(lv_out_t *o, const lv_http_head_t *h)
{
    char status_line[13] = "HTTP/1.1 000 ";
    status_line[9] = (char)('0' + h->status / 100 % 10);
    status_line[10] = (char)('0' + h->status / 10 % 10);
    status_line[11] = (char)('0' + h->status % 10);
    lv_out_put(o, status_line, sizeof status_line);
    if (h->reason.len)
        lv_out_put(o, h->reason.p, h->reason.len);
    else
        lv_out_put(o, lv_http_reason(h->status), strlen(lv_http_reason(h->status)));
    LV_OUT_LIT(o, "\r\n");
    bool via_seen = false;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const lv_http_header_t *hd = &h->headers[i];
        if (lv_http_is_hop_by_hop(hd->name, h->connection))
            continue;
        if (!via_seen && LV_HTTP_IEQ(hd->name, "via")) {
            via_seen = true;
            lv_out_put(o, hd->name.p, hd->name.len);
            LV_OUT_LIT(o, ": ");
            lv_out_put(o, hd->value.p, hd->value.len);
            LV_OUT_LIT(o, ", 1.1 levee\r\n");
            continue;
        }
        put_header(o, hd->name, hd->value);
    }
    if (!via_seen)
        LV_OUT_LIT(o, "Via: 1.1 levee\r\n");
}

/* Queues a head built by put_response_head (plus `extra`) for the client. */
static int send_head(lv_req_t *r, const lv_http_head_t *h, const char *extra, size_t extra_len)
{
    lv_conn_t *c = r->conn;
    lv_chunk_t *ch = lv_chunk_acquire(&c->worker->bufs, head_bound(h) + extra_len);
    if (!ch)
        return 502;
    lv_out_t o = {ch->data, 0, ch->cap};
    put_response_head(&o, h);
    lv_out_put(&o, extra, extra_len);
    LV_ASSERT(o.len <= o.cap);
    lv_wreq_t *w = out_for(r, &r->client_out, c);
    int rc = w && lv_wreq_add(w, ch, ch->data, o.len) == 0 ? 0 : 502;
    lv_chunk_release(ch); /* the wreq holds it now */
    return rc;
}

/* An interim (1xx) response (RFC 9110 15.2): 100 goes to a client that sent Expect, 102 and 103
 * to any HTTP/1.1 client; HTTP/1.0 clients never get one. Never stored; the final response
 * follows on the same connection. */
static int relay_interim(lv_req_t *r, const lv_http_head_t *h)
{
    if (h->status == 101)
        return 502; /* upgrades are not relayed: Upgrade is dropped from requests */
    bool wanted = h->status == 100 ? r->expect_continue && !r->sent_continue : true;
    if (r->client_http10 || r->resp_started || !wanted)
        return 0;
    if (h->status == 100)
        r->sent_continue = true;
    return send_head(r, h, "\r\n", 2);
}

int lv__forward_resp_head(lv_req_t *r, lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
    if (h->status < 200)
        return relay_interim(r, h);
    r->status = h->status;
    r->up_keep_alive = h->keep_alive;
    if (h->status < 400 && !lv_http_method_safe(r->method))
        lv__cache_invalidate(r, &r->conn->parser.head);
    bool has_body = !(r->head_only || h->status == 204 || h->status == 304);
    /* RFC 9112 6.3: a body in codings levee does not decode is relayed as it came, with its
     * Transfer-Encoding, and ends when the connection does; HTTP/1.0 clients cannot have it. */
    if (h->te_other && r->client_http10)
        return 502;
    if (has_body && h->te_other)
        r->resp_close_delimited = true;
    else if (has_body && h->content_length < 0) {
        if (r->client_http10)
            r->resp_close_delimited = true;
        else
            r->resp_chunked = true;
    }
    bool keep =
        r->client_keep_alive && !r->resp_close_delimited && !c->close_after && !c->worker->draining;

    char extra[300];
    lv_out_t o = {extra, 0, sizeof extra};
    lv_str_t te = h->te_other ? lv_http_header_value(h, "transfer-encoding", 17) : LV_STR("");
    if (te.len && te.len < 200) {
        LV_OUT_LIT(&o, "Transfer-Encoding: ");
        lv_out_put(&o, te.p, te.len);
        LV_OUT_LIT(&o, "\r\n");
    } else if (te.len) {
        return 502; /* a coding list that long is not worth relaying */
    }
    if (r->resp_chunked)
        LV_OUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
    if (!keep)
        LV_OUT_LIT(&o, "Connection: close\r\n");
    else if (r->client_http10)
        LV_OUT_LIT(&o, "Connection: keep-alive\r\n");
    LV_OUT_LIT(&o, "\r\n");
    int rc = send_head(r, h, extra, o.len);
    if (rc)
        return rc;
    r->resp_started = true;
    if (!keep)
        c->close_after = true;
    return 0;
}

int lv__forward_resp_body(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_conn_t *c = r->conn;
    lv_wreq_t *w = out_for(r, &r->client_out, c);
    if (!w)
        return 502;
    unsigned bufs = r->resp_chunked ? 3 : 1;
    if (!lv_wreq_room(w, bufs, r->resp_chunked ? 20 : 0)) {
        lv__forward_flush_client(r);
        if (!(w = out_for(r, &r->client_out, c)))
            return 502;
    }
    if (r->resp_chunked) {
        add_chunk_line(w, len);
        lv_wreq_add(w, ch, p, len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else {
        lv_wreq_add(w, ch, p, len);
    }
    return 0;
}

int lv__forward_resp_done(lv_req_t *r)
{
    if (!r->resp_started)
        return 0; /* the end of an interim (1xx) response */
    if (r->resp_chunked) {
        lv_wreq_t *w = out_for(r, &r->client_out, r->conn);
        if (w && !lv_wreq_room(w, 1, 0)) {
            lv__forward_flush_client(r);
            w = out_for(r, &r->client_out, r->conn);
        }
        if (w)
            lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    }
    r->resp_done = true;
    r->upstream_end_ns = lv_clock_now_ns();
    lv_uconn_t *u = r->uconn;
    bool reusable = u && r->req_done && r->up_keep_alive && !u->broken;
    detach_upstream(r);
    if (u) {
        if (reusable) {
            lv__uconn_release(u);
        } else {
            u->broken = true;
            lv__uconn_close(u);
        }
    }
    if (r->resp_close_delimited)
        r->conn->close_after = true;
    if (!r->req_done) {
        /* The upstream answered before the whole body arrived: stop reading it and close. */
        r->conn->close_after = true;
        r->req_done = true;
    }
    finish_request(r); /* counts the request, then writes its last bytes */
    return 0;
}

void lv__forward_fail_request(lv_req_t *r, int status)
{
    lv_uconn_t *u = r->uconn;
    detach_upstream(r);
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
    respond_local(r, status);
}
