/* proxy/request.c: one request's life around the stages: what it is (method, ids, the real
 * client) when its head arrives, and its end (metrics, access log, the guard's outcome,
 * every reference released); its client leaving or becoming writable. */
#include "proxy/proxy.h"

#include <string.h>

#include "core/clock.h"

/* Writes v as exactly `digits` hex digits. */
static const char hex_digits[] = "0123456789abcdef";

static void fmt_hex_fixed(char *dst, uint64_t v, unsigned digits)
{
    for (unsigned i = digits; i-- > 0; v >>= 4)
        dst[i] = hex_digits[v & 15];
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

void lv__request_begin(lv_req_t *r, const lv_http_head_t *h)
{
    lv_conn_t *c = r->conn;
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
}

void lv__request_release_slot(lv_req_t *r)
{
    lv__guard_release(r, r->resp_any ? r->status : 0, r->up_timed_out, r->up_failed);
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

/* lv_metrics_refusal_names holds the names of lv_refusal_t less NONE, in the same order. */
_Static_assert(LV_REFUSAL_BODY_TIMEOUT == LV_METRICS_N_REFUSALS, "refusal names out of step");

/* A name from one of the tables above, NULL for 0 (none) or an index out of the table. */
static const char *name_or_null(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : NULL;
}

/* Ends a request. Everything is counted (metrics, access log, the guard) before its last bytes
 * are written: a client that got its answer and then asks the admin sees it counted. */
void lv__request_finish(lv_req_t *r)
{
    lv_conn_t *c = r->conn;
    lv_worker_t *w = c->worker;
    uint64_t now = lv_clock_now_ns();
    uint64_t total_us = (now - r->start_ns) / 1000;
    if (r->pool) {
        lv_metrics_record_request(r->pool->metrics, r->method, r->status, total_us);
        lv_counter_add(&r->pool->metrics->in_flight, (uint64_t)-1);
        if (r->refusal && r->refusal <= LV_METRICS_N_REFUSALS)
            lv_counter_add(&r->pool->metrics->refusals[r->refusal - 1], 1);
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
            .refusal = r->refusal && r->refusal <= LV_METRICS_N_REFUSALS
                           ? lv_metrics_refusal_names[r->refusal - 1]
                           : NULL,
            .tls_version = lv__conn_tls(c) ? lv_tls_conn_version(c->tls) : NULL,
            .tls_cipher = lv__conn_tls(c) ? lv_tls_conn_cipher(c->tls) : NULL,
        };
        lv_access_log_write(w->access_log, &e);
    }
    if (r->fault_wait)
        lv__fault_cancel(r);
    lv__request_release_slot(r);
    lv__cache_request_end(r);
    lv__join_req_end(r);
    if (r->body_buf)
        lv_chunk_release(r->body_buf);
    if (r->head_chunk)
        lv_chunk_release(r->head_chunk);
    if (r->up_out)
        lv_wreq_release(r->up_out);
    if (r->client_out)
        lv__write_flush_client(r);
    lv__gen_unref(r->gen);
    lv_tunnel_t *t = r->tunnel;
    c->req = NULL;
    lv__req_release(w, r);
    if (t)
        lv__tunnel_begin(t); /* the connection carries the tunnel now, not requests */
    else
        lv__conn_request_finished(c);
}

void lv__request_detach_upstream(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    if (!u)
        return;
    r->uconn = NULL;
    u->req = NULL;
    if (r->host)
        lv__host_outstanding(r->host, -1);
    if (r->up_out) {
        lv_wreq_release(r->up_out);
        r->up_out = NULL;
    }
}

void lv__request_client_gone(lv_req_t *r)
{
    bool sent = r->req_done, answered = r->resp_done;
    r->client_gone = true;
    if (r->queued)
        lv__limit_cancel(r); /* it never reaches the backend */
    if (r->fault_wait)
        lv__fault_cancel(r);
    if (!r->resp_done) {
        r->status = 499; /* client closed request (the nginx convention) */
        r->resp_done = true;
    }
    lv_uconn_t *u = r->uconn;
    /* The upstream got the whole request and works on it: let it finish, and keep the
     * concurrency slot taken until it has (the slot moves to the upstream connection). */
    bool orphan = u && r->slot_held && sent && !answered && !r->resp_any && !r->websocket &&
                  !r->conn->worker->draining;
    if (orphan)
        lv__join_orphan(r, u);
    lv__request_detach_upstream(r);
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
    lv__request_finish(r);
}

void lv__request_half_closed(lv_req_t *r)
{
    lv__join_half_closed(r); /* a repeat of the same request may take this one's answer */
}

void lv__request_client_writable(lv_req_t *r)
{
    if (r->centry) {
        lv__cache_client_writable(r);
        return;
    }
    lv_uconn_t *u = r->uconn;
    if (u && !u->reading && u->state == LV_UCONN_BUSY && !r->fault_wait &&
        uv_stream_get_write_queue_size((uv_stream_t *)&r->conn->tcp) < LV_QUEUE_LOW) {
        lv__uconn_start_read(u);
        lv__uconn_arm_read_timeout(u);
    }
}
