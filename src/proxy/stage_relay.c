/* proxy/stage_relay.c: the relay stage, the last: the request to an upstream host (head
 * rewritten, body framed, a failed connect tried on the next host) and the response back to
 * the client (head rewritten, interim responses, framing). It only moves bytes. */
#include "proxy/pipeline.h"

#include <string.h>

#include "cache/rules.h"
#include "core/clock.h"
#include "core/out.h"
#include "http/errors.h"

static const char via_value[] = "1.1 levee";

/* ---- the request head ---- */

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

/* The upstream request head: hop-by-hop headers dropped, X-Forwarded-For merged and
 * extended, Via and X-Request-Id added, Host kept as sent. X-Forwarded-Proto says how the
 * client reached levee (https on a TLS listener); a client's own is kept only when it came
 * through a trusted proxy (real_client.trusted), which knows better. */
static int build_request_head(lv_req_t *r, const lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
    lv_str_t etag = {NULL, 0}, last_modified = {NULL, 0};
    bool revalidate = lv__cache_validators(r, &etag, &last_modified);
    size_t bound =
        head_bound(h) + sizeof c->client + r->request_id_len + etag.len + last_modified.len + 104;
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
    bool xff_seen = false, via_seen = false, proto_kept = false;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const lv_http_header_t *hd = &h->headers[i];
        /* A websocket handshake keeps its Upgrade (Sec-WebSocket-* are end-to-end anyway). */
        if (lv_http_is_hop_by_hop(hd->name, h->connection) &&
            !(r->websocket && LV_HTTP_IEQ(hd->name, "upgrade")))
            continue;
        if (LV_HTTP_IEQ(hd->name, "x-forwarded-proto")) {
            if (!r->client_forwarded)
                continue;
            proto_kept = true;
        }
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
    if (!proto_kept && lv__conn_tls(c))
        LV_OUT_LIT(&o, "X-Forwarded-Proto: https\r\n");
    else if (!proto_kept)
        LV_OUT_LIT(&o, "X-Forwarded-Proto: http\r\n");
    if (!h->request_id.len) {
        LV_OUT_LIT(&o, "X-Request-Id: ");
        lv_out_put(&o, r->request_id, r->request_id_len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (h->chunked)
        LV_OUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
    if (r->websocket)
        LV_OUT_LIT(&o, "Connection: Upgrade\r\n");
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

/* ---- sending ---- */

/* The body read before admission, framed as it goes out (chunked: one chunk, and the last
 * chunk when the body is whole). At most 4 buffers of the write. */
static int add_buffered_body(lv_req_t *r, lv_wreq_t *w)
{
    if (!r->body_buf && !r->body_whole)
        return 0; /* no body, or one that streams from its first byte */
    if (!lv_wreq_room(w, 4, 20))
        return LV_ELIMIT;
    if (r->body_len && r->req_chunked) {
        lv__write_chunk_line(w, r->body_len);
        lv_wreq_add(w, r->body_buf, r->body_buf->data, r->body_len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else if (r->body_len) {
        lv_wreq_add(w, r->body_buf, r->body_buf->data, r->body_len);
    }
    if (r->body_whole && r->req_chunked)
        lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    return 0;
}

/* Sends the request on a connection to r->host; false: it was answered (503) instead. */
static bool send_to_upstream(lv_req_t *r)
{
    bool reused = false;
    lv_uconn_t *u = lv__uconn_get(r->pool, r->host, r->websocket, &reused);
    if (!u) {
        lv__answer_error(r, 503);
        return false;
    }
    r->uconn = u;
    u->req = r;
    lv__cache_attach(r, u);
    r->reused_conn = reused;
    lv__host_outstanding(r->host, 1);
    r->tries++;
    if (!r->upstream_start_ns)
        r->upstream_start_ns = lv_clock_now_ns();
    lv_http_parser_expect_no_body(&u->parser, r->head_only);
    lv_http_parser_expect_switch(&u->parser, r->websocket);
    lv_wreq_t *w = lv__write_out(r, &r->up_out, u);
    if (!w || lv_wreq_add(w, r->head_chunk, r->head_chunk->data, r->head_len) < 0 ||
        add_buffered_body(r, w) < 0) {
        lv__request_detach_upstream(r);
        u->broken = true;
        lv__uconn_close(u);
        lv__answer_error(r, 503);
        return false;
    }
    if (reused)
        lv__uconn_arm_read_timeout(u);
    return true;
}

/* r took over the upstream request of a client that left (stage_join.c): it gets
 * the response as if it had sent the request itself. Nothing is sent; the read timeout armed
 * for the orphan keeps running. */
static void join_upstream(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    u->req = r;
    r->host = u->host;
    lv__host_outstanding(r->host, 1);
    r->tries = 1;
    r->reused_conn = false; /* never resent as "a kept-alive connection went stale" */
}

lv_stage_verdict_t lv_stage_relay(lv_req_t *r, const lv_http_head_t *h)
{
    if (build_request_head(r, h) < 0) {
        lv__guard_release(r, 0, false, false);
        lv__answer_error(r, 500);
        return LV_STAGE_ANSWERED;
    }
    r->host = lv__pool_pick(r->pool, NULL);
    return send_to_upstream(r) ? LV_STAGE_WAIT : LV_STAGE_ANSWERED;
}

lv_stage_verdict_t lv__relay_joined(lv_req_t *r, const lv_http_head_t *h)
{
    /* Built for a joined request too: a failed upstream may be retried on another host. */
    if (build_request_head(r, h) < 0) {
        lv_uconn_t *u = r->uconn; /* the orphan's: its request is nobody's now */
        r->uconn = NULL;
        if (u) {
            u->broken = true;
            lv__uconn_close(u);
        }
        lv__guard_release(r, 0, false, false);
        lv__answer_error(r, 500);
        return LV_STAGE_ANSWERED;
    }
    join_upstream(r);
    return LV_STAGE_WAIT;
}

bool lv__relay_personal(const lv_http_head_t *h)
{
    lv_cache_cc_t cc;
    lv_cache_cc_from_head(h, &cc);
    return (cc.flags & (LV_CACHE_CC_PRIVATE | LV_CACHE_CC_NO_STORE)) ||
           lv_http_header_value(h, "set-cookie", 10).p != NULL;
}

void lv__relay_resend(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    lv__request_detach_upstream(r);
    if (u) {
        u->broken = true;
        lv__uconn_close(u);
    }
    r->joined = false;
    r->resp_any = false;
    r->tries = 0;
    lv_counter_add(&r->pool->metrics->guard_join_resent, 1);
    r->host = lv__pool_pick(r->pool, NULL);
    if (send_to_upstream(r))
        lv__write_flush_upstream(r);
}

/* ---- the request body ---- */

int lv__relay_body(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    if (!r->uconn)
        return 0; /* answered already (404, a refusal, an early response): read and dropped */
    lv_wreq_t *w = lv__write_out(r, &r->up_out, r->uconn);
    if (!w)
        return 503;
    if (r->req_chunked) {
        if (!lv_wreq_room(w, 3, 20)) {
            lv__write_flush_upstream(r);
            if (!r->uconn || !(w = lv__write_out(r, &r->up_out, r->uconn)))
                return 0;
        }
        lv__write_chunk_line(w, len);
        lv_wreq_add(w, ch, p, len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else {
        if (!lv_wreq_room(w, 1, 0)) {
            lv__write_flush_upstream(r);
            if (!r->uconn || !(w = lv__write_out(r, &r->up_out, r->uconn)))
                return 0;
        }
        lv_wreq_add(w, ch, p, len);
    }
    return 0;
}

void lv__relay_body_done(lv_req_t *r)
{
    if (r->uconn && r->req_chunked) {
        lv_wreq_t *w = lv__write_out(r, &r->up_out, r->uconn);
        if (w && !lv_wreq_room(w, 1, 0)) {
            lv__write_flush_upstream(r);
            w = r->uconn ? lv__write_out(r, &r->up_out, r->uconn) : NULL;
        }
        if (w)
            lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    }
    if (r->resp_done)
        lv__request_finish(r);
}

void lv__relay_upstream_failed(lv_req_t *r, int status, bool connect_failed)
{
    lv__cache_reclaim(r, r->uconn);
    lv__request_detach_upstream(r);
    bool body_ok = !r->has_body || r->body_whole; /* a whole buffered body can be sent again */
    bool replayable = r->idempotent && body_ok && !r->resp_any && !r->client_gone;
    /* A connect that failed sent nothing: any request without a body may go to another host,
     * and the retry budget is not charged (it bounds extra work for the backends, and a request
     * that reached no backend adds none). Outlier detection takes the host out meanwhile. */
    if (connect_failed && body_ok && !r->client_gone && r->tries < 2 && r->pool->n_hosts > 1) {
        lv_counter_add(&r->pool->metrics->upstream_retries, 1);
        r->host = lv__pool_pick(r->pool, r->host);
        if (send_to_upstream(r))
            lv__write_flush_upstream(r);
        return;
    }
    /* A kept-alive connection that the upstream closed just as we reused it: once more on a
     * fresh connection, which is not a retry of the request's work. */
    if (replayable && !connect_failed && r->reused_conn && status == 502 && !r->stale_retried) {
        r->stale_retried = true;
        r->tries--;
        if (send_to_upstream(r))
            lv__write_flush_upstream(r);
        return;
    }
    r->upstream_end_ns = lv_clock_now_ns();
    if (status == 504)
        r->up_timed_out = true;
    else
        r->up_failed = true;
    if (!r->resp_started) {
        if (!lv__cache_serve_stale(r, LV_STALE_ERROR))
            lv__answer_error(r, status);
        return;
    }
    /* The response was cut: never pretend it completed. */
    r->resp_done = true;
    r->conn->close_after = true;
    lv__conn_close(r->conn);
}

/* ---- the response ---- */

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
    lv_wreq_t *w = lv__write_out(r, &r->client_out, c);
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

/* The upstream accepted a websocket upgrade (101, final for this request): its head goes to
 * the client with Connection: Upgrade and its Upgrade; when the response ends (at once: no
 * body) both connections become a tunnel (proxy/tunnel.c). */
static int relay_switch(lv_req_t *r, const lv_http_head_t *h)
{
    lv_str_t up = lv_http_header_value(h, "upgrade", 7);
    if (!up.p || up.len > 200)
        return 502; /* a 101 names the protocol it switches to */
    char extra[300];
    lv_out_t o = {extra, 0, sizeof extra};
    LV_OUT_LIT(&o, "Connection: Upgrade\r\nUpgrade: ");
    lv_out_put(&o, up.p, up.len);
    LV_OUT_LIT(&o, "\r\n\r\n");
    r->status = h->status;
    int rc = send_head(r, h, extra, o.len);
    if (rc)
        return rc;
    r->resp_started = true;
    r->switched = true;
    return 0;
}

/* The 101 ended: the request ends (counted with status 101, its concurrency slot given back)
 * and its connections go on as a tunnel. */
static int relay_tunnel(lv_req_t *r)
{
    r->resp_done = true;
    r->upstream_end_ns = lv_clock_now_ns();
    lv_uconn_t *u = r->uconn;
    lv__request_detach_upstream(r);
    r->tunnel = u && !r->conn->worker->draining ? lv__tunnel_new(r, u) : NULL;
    if (!r->tunnel) {
        if (u) {
            u->broken = true;
            lv__uconn_close(u);
        }
        r->conn->close_after = true;
    }
    lv__request_finish(r);
    return 0;
}

int lv__relay_resp_head(lv_req_t *r, lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
    if (h->status == 101 && r->websocket && !r->resp_started)
        return relay_switch(r, h);
    if (h->status < 200)
        return relay_interim(r, h);
    r->status = h->status;
    r->up_keep_alive = h->keep_alive;
    if (h->status < 400 && !lv_http_method_safe(r->method))
        lv__cache_invalidate(r, lv__req_head(r));
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

int lv__relay_resp_body(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_conn_t *c = r->conn;
    lv_wreq_t *w = lv__write_out(r, &r->client_out, c);
    if (!w)
        return 502;
    unsigned bufs = r->resp_chunked ? 3 : 1;
    if (!lv_wreq_room(w, bufs, r->resp_chunked ? 20 : 0)) {
        lv__write_flush_client(r);
        if (!(w = lv__write_out(r, &r->client_out, c)))
            return 502;
    }
    if (r->resp_chunked) {
        lv__write_chunk_line(w, len);
        lv_wreq_add(w, ch, p, len);
        lv_wreq_add(w, NULL, "\r\n", 2);
    } else {
        lv_wreq_add(w, ch, p, len);
    }
    return 0;
}

int lv__relay_resp_done(lv_req_t *r)
{
    if (!r->resp_started)
        return 0; /* the end of an interim (1xx) response */
    if (r->switched)
        return relay_tunnel(r);
    if (r->resp_chunked) {
        lv_wreq_t *w = lv__write_out(r, &r->client_out, r->conn);
        if (w && !lv_wreq_room(w, 1, 0)) {
            lv__write_flush_client(r);
            w = lv__write_out(r, &r->client_out, r->conn);
        }
        if (w)
            lv_wreq_add(w, NULL, "0\r\n\r\n", 5);
    }
    r->resp_done = true;
    r->upstream_end_ns = lv_clock_now_ns();
    lv_uconn_t *u = r->uconn;
    bool reusable = u && r->req_done && r->up_keep_alive && !u->broken;
    lv__request_detach_upstream(r);
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
    lv__request_finish(r); /* counts the request, then writes its last bytes */
    return 0;
}
