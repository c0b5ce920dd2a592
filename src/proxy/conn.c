/* proxy/conn.c: client connections: accept, read and parse requests, timeouts, pipelining,
 * lingering close; a websocket tunnel's client side hands its bytes to proxy/tunnel.c. Owns
 * lv_conn_t; runs on its worker's loop only. */
#include "proxy/pipeline.h"

#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "http/errors.h"
#include "http/proxy_protocol.h"

#define LV_LINGER_MS 2000u

/* Pipelined bytes are kept within the read chunk they came in (lv_conn_t.pending_off). */
_Static_assert(LV_CHUNK_BYTES <= UINT16_MAX, "pending offsets are 16 bits");

enum { TIMER_NONE, TIMER_HEAD, TIMER_BODY, TIMER_KEEPALIVE, TIMER_SEND, TIMER_LINGER };

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static bool conn_tls_start(lv_conn_t *c);
static void conn_tls_pump(lv_conn_t *c);

static const lv_config_t *conn_cfg(const lv_conn_t *c)
{
    return c->worker->gen->cfg;
}

/* ---- the parser, held while a request is read or served ---- */

static const lv_http_parser_cbs_t conn_cbs;

/* Takes a parser from the worker's pool (its head block too, if it has one) for the request
 * whose first byte arrived; the limits are the current configuration's. NULL: out of memory. */
static lv_http_parser_t *conn_parser_acquire(lv_conn_t *c)
{
    lv_worker_t *w = c->worker;
    lv_http_parser_t *p;
    if (w->n_free_parsers) {
        p = w->free_parsers[--w->n_free_parsers];
    } else if ((p = malloc(sizeof *p))) {
        memset(p, 0, sizeof *p);
    } else {
        return NULL;
    }
    const lv_limits_conf_t *lim = &conn_cfg(c)->limits;
    const lv_http_limits_t hl = {lim->header_bytes, lim->target_bytes, lim->body_bytes};
    lv_http_parser_reset(p, LV_HTTP_REQUEST, &hl, &conn_cbs, c);
    c->parser = p;
    return p;
}

/* The connection is idle (no request, no pipelined bytes) or gone: its parser goes back. */
static void conn_parser_release(lv_conn_t *c)
{
    lv_http_parser_t *p = c->parser;
    if (!p)
        return;
    LV_DASSERT(!c->req);
    c->parser = NULL;
    lv_worker_t *w = c->worker;
    if (w->n_free_parsers < LV_MAX_FREE_PARSERS) {
        w->free_parsers[w->n_free_parsers++] = p;
        return;
    }
    lv_http_parser_fini(p);
    free(p);
}

void lv__conn_worker_fini(lv_worker_t *w)
{
    while (w->n_free_parsers) {
        lv_http_parser_t *p = w->free_parsers[--w->n_free_parsers];
        lv_http_parser_fini(p);
        free(p);
    }
}

/* Between the first byte of a request and the end of its head. */
static bool conn_in_head(const lv_conn_t *c)
{
    return c->parser && lv_http_parser_in_head(c->parser);
}

static void conn_timer(lv_conn_t *c, int kind, uint64_t ms)
{
    if (c->state == LV_CONN_CLOSING)
        return; /* its entry is out of the heap for good */
    c->timer_kind = (uint8_t)kind;
    lv_timeout_set(&c->worker->conn_timeouts, &c->timeout, ms);
}

static void conn_timer_stop(lv_conn_t *c)
{
    c->timer_kind = TIMER_NONE;
    lv_timeout_clear(&c->timeout);
}

/* While a request body is read: timeouts.body_idle_ms between bytes, and the part levee
 * buffers before admission within timeouts.body_ms of the head. */
static void conn_body_timer(lv_conn_t *c)
{
    lv_req_t *r = c->req;
    if (!r || r->req_done || !r->has_body)
        return;
    const lv_limits_conf_t *lim = &conn_cfg(c)->limits;
    uint64_t ms = lim->body_idle_timeout_ms;
    if (r->body_buffering) {
        uint64_t spent = (lv_clock_now_ns() - r->start_ns) / 1000000u;
        uint64_t left = spent < lim->body_timeout_ms ? lim->body_timeout_ms - spent : 0;
        ms = LV_MIN(ms, left);
    }
    conn_timer(c, TIMER_BODY, ms);
}

static size_t conn_queued(const lv_conn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* ---- closing ---- */

static void conn_handle_closed(uv_handle_t *h)
{
    lv_conn_t *c = h->data;
    LV_DASSERT(!c->timeout.due);
    lv_worker_t *w = c->worker;
    conn_parser_release(c);
    /* After the handle: writes in flight hold their own chunk references, not the SSL. */
    lv_tls_conn_free(lv__conn_tls(c));
    free(c);
    lv__worker_maybe_finish(w);
}

void lv__conn_close(lv_conn_t *c)
{
    if (c->state == LV_CONN_CLOSING)
        return;
    c->state = LV_CONN_CLOSING;
    if (c->req)
        lv__request_client_gone(c->req); /* finishes it, and c->req becomes NULL */
    if (c->tunneling) {
        lv_tunnel_t *t = c->tunnel;
        c->tunneling = false;
        c->tunnel = NULL;
        lv__tunnel_client_closed(t);
    }
    lv_worker_t *w = c->worker;
    if (c->pending) {
        lv_chunk_release(c->pending);
        c->pending = NULL;
    }
    if (c->pp_wait) {
        free(c->pp_partial);
        c->pp_partial = NULL;
    }
    lv_list_remove(&c->link);
    lv_list_remove(&c->defer_link);
    w->n_conns--;
    lv_counter_add(&w->metrics->connections_open, (uint64_t)-1);
    if (c->counted)
        lv__server_conn_release(w->server);
    lv_timeout_remove(&w->conn_timeouts, &c->timeout);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void conn_shutdown_done(uv_shutdown_t *sreq, int status)
{
    lv_conn_t *c = sreq->data;
    free(sreq);
    if (status < 0 || c->state == LV_CONN_CLOSING) {
        lv__conn_close(c);
        return;
    }
    /* Linger: read and drop what the client still sends until it closes, so that our
     * last response is not destroyed by a reset. */
    conn_timer(c, TIMER_LINGER, LV_LINGER_MS);
    if (!c->reading) {
        c->reading = true;
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
    }
}

/* Sends FIN once every queued byte is written, then lingers. */
static void conn_graceful_close(lv_conn_t *c)
{
    if (c->shutting_down || c->state == LV_CONN_CLOSING)
        return;
    c->shutting_down = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->pending) {
        lv_chunk_release(c->pending);
        c->pending = NULL;
    }
    if (lv__conn_tls(c))
        lv_tls_conn_shutdown(c->tls); /* close_notify, before the FIN */
    uv_shutdown_t *sreq = malloc(sizeof *sreq);
    if (!sreq || uv_shutdown(sreq, (uv_stream_t *)&c->tcp, conn_shutdown_done) < 0) {
        free(sreq);
        lv__conn_close(c);
        return;
    }
    sreq->data = c;
    conn_timer(c, TIMER_SEND, conn_cfg(c)->limits.send_timeout_ms);
}

/* ---- reading ---- */

void lv__conn_pause_read(lv_conn_t *c)
{
    if (c->reading) {
        c->reading = false;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

/* The connection has bytes to parse next, from the worker's idle callback (once). */
static void conn_defer(lv_conn_t *c)
{
    if (c->defer_link.next != &c->defer_link)
        return; /* already on the list */
    lv_list_push(&c->worker->deferred, &c->defer_link);
    lv__worker_defer(c->worker);
}

void lv__conn_resume_read(lv_conn_t *c)
{
    if (!c->reading && !c->pending && !c->peer_eof && !c->shutting_down &&
        c->state != LV_CONN_CLOSING) {
        c->reading = true;
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
        /* Records read before the pause are not read from the socket again. */
        lv_tls_conn_t *t = lv__conn_tls(c);
        if (t && lv_tls_conn_established(t) && lv_tls_conn_has_input(t))
            conn_defer(c);
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lv_conn_t *c = h->data;
    lv_worker_t *w = c->worker;
    LV_DASSERT(!w->read_chunk);
    lv_chunk_t *ch = lv_chunk_acquire(&w->bufs, LV_CHUNK_BYTES);
    w->read_chunk = ch;
    *buf = ch ? uv_buf_init(ch->data, ch->cap) : uv_buf_init(NULL, 0);
}

static int client_error_index(int status)
{
    switch (status) {
    case 400:
        return LV_CERR_400;
    case 408:
        return LV_CERR_408;
    case 413:
        return LV_CERR_413;
    case 414:
        return LV_CERR_414;
    case 431:
        return LV_CERR_431;
    default:
        return LV_CERR_OTHER;
    }
}

static void conn_submit_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_conn_t *c = w->owner;
    lv_wreq_release(w);
    lv__conn_write_done(c, status);
}

/* A TLS connection's records go out here (tls/tls.h lv_tls_send_fn). */
static int conn_tls_send(void *owner, lv_wreq_t *w)
{
    lv_conn_t *c = owner;
    w->owner = c;
    /* levee_client_bytes_total counts what crosses the socket both ways: records here. */
    lv_counter_add(&c->worker->metrics->bytes_out, w->bytes);
    int rc = lv_wreq_submit(w, (uv_stream_t *)&c->tcp, conn_submit_done);
    return rc < 0 ? rc : 0;
}

int lv__conn_send(lv_conn_t *c, lv_wreq_t *w, uv_write_cb cb)
{
    lv_tls_conn_t *t = lv__conn_tls(c);
    if (!t)
        return lv_wreq_submit(w, (uv_stream_t *)&c->tcp, cb);
    int rc = lv_tls_conn_established(t) ? lv_tls_conn_write(t, w->bufs, w->n_bufs) : UV_EPROTO;
    lv_wreq_release(w);
    if (rc < 0)
        return rc;
    return conn_queued(c) ? 0 : 1;
}

static void conn_submit(lv_conn_t *c, lv_wreq_t *w)
{
    int rc = lv__conn_send(c, w, conn_submit_done);
    if (rc < 0) {
        lv__conn_close(c);
        return;
    }
    if (rc == 0)
        lv__conn_write_started(c);
}

/* Answers a client error without involving any upstream, then closes. */
static void conn_reject(lv_conn_t *c, int status)
{
    lv_counter_add(&c->worker->metrics->client_errors[client_error_index(status)], 1);
    if (c->req) {
        lv__answer_fail(c->req, status);
        if (c->state != LV_CONN_CLOSING)
            conn_graceful_close(c);
        return;
    }
    c->close_after = true;
    lv_str_t resp = lv_http_error_response(status, true);
    lv_wreq_t *w = lv_wreq_acquire(&c->worker->bufs, c);
    if (!w) {
        lv__conn_close(c);
        return;
    }
    lv_wreq_add(w, NULL, resp.p, resp.len);
    if (!lv__conn_tls(c))
        lv_counter_add(&c->worker->metrics->bytes_out, w->bytes);
    conn_submit(c, w);
    conn_graceful_close(c);
}

static void conn_stash(lv_conn_t *c, lv_chunk_t *ch, const char *p, size_t len)
{
    LV_ASSERT(!c->pending);
    lv_chunk_ref(ch);
    c->pending = ch;
    c->pending_off = (uint16_t)(p - ch->data);
    c->pending_len = (uint16_t)len;
    lv__conn_pause_read(c);
}

/* Parses bytes; runs requests that complete synchronously (local answers) in order. */
static void conn_feed(lv_conn_t *c, lv_chunk_t *ch, const char *p, size_t len)
{
    if (c->tunneling) {
        lv__tunnel_client_bytes(c->tunnel, ch, p, len);
        return;
    }
    c->in_feed = true;
    while (len > 0 && c->state != LV_CONN_CLOSING && !c->shutting_down) {
        if (c->state == LV_CONN_IDLE) {
            if (!c->parser && !conn_parser_acquire(c)) {
                conn_reject(c, 500); /* as when the head block cannot be had */
                break;
            }
            c->state = LV_CONN_HEAD;
            c->head_start_ns = lv_clock_now_ns();
            conn_timer(c, TIMER_HEAD, conn_cfg(c)->limits.header_timeout_ms);
        }
        if (c->req && c->req->req_done) {
            conn_stash(c, ch, p, len); /* the next request waits for this response */
            break;
        }
        LV_DASSERT(!c->worker->feed_chunk);
        c->worker->feed_chunk = ch;
        size_t consumed = 0;
        lv_http_result_t res = lv_http_parser_feed(c->parser, p, len, &consumed);
        c->worker->feed_chunk = NULL;
        if (c->req) {
            c->req->bytes_in += consumed;
            lv__write_flush_upstream(c->req);
        }
        if (c->state == LV_CONN_CLOSING)
            break;
        if (res == LV_HTTP_ERROR) {
            conn_reject(c, c->parser->error_status ? c->parser->error_status : 400);
            break;
        }
        if (res == LV_HTTP_NEED_MORE)
            break;
        /* PAUSED: one request fully read. */
        p += consumed;
        len -= consumed;
        lv_http_parser_resume(c->parser);
        if (c->req) {
            if (len)
                conn_stash(c, ch, p, len);
            break;
        }
        if (c->close_after) {
            conn_graceful_close(c);
            break;
        }
    }
    c->in_feed = false;
    if (c->state == LV_CONN_IDLE)
        conn_parser_release(c);
    if (c->state == LV_CONN_IDLE && !c->shutting_down) {
        if (!conn_queued(c))
            conn_timer(c, TIMER_KEEPALIVE, conn_cfg(c)->limits.keepalive_timeout_ms);
    }
}

/* Writes "ip:port" as the connection's client (an IPv6 address in brackets). */
static void conn_set_client(lv_conn_t *c, const char *ip, unsigned port)
{
    c->client_ip_len = (uint8_t)strnlen(ip, 46);
    snprintf(c->client, sizeof c->client, "%s:%u", ip, port);
}

/* proxy_protocol: reads the PROXY header at the start of the connection. Returns the offset in
 * [p, p + n) where HTTP starts, or -1 when there is nothing to parse yet or the connection was
 * closed (no valid header). */
static ssize_t conn_proxy_header(lv_conn_t *c, const char *p, size_t n)
{
    const char *data = p;
    size_t len = n, before = c->pp_len;
    if (c->pp_partial) {
        size_t take = LV_MIN(n, LV_PP_MAX_BYTES - before);
        memcpy(c->pp_partial + before, p, take);
        c->pp_len = (uint16_t)(before + take);
        data = c->pp_partial;
        len = c->pp_len;
    }
    lv_pp_info_t info;
    size_t used = 0;
    lv_pp_result_t res = lv_pp_parse(data, len, &info, &used);
    if (res == LV_PP_NEED_MORE && len < LV_PP_MAX_BYTES) {
        if (!c->pp_partial) {
            if (!(c->pp_partial = malloc(LV_PP_MAX_BYTES))) {
                lv__conn_close(c);
                return -1;
            }
            memcpy(c->pp_partial, p, n);
            c->pp_len = (uint16_t)n;
        }
        return -1;
    }
    if (res != LV_PP_OK) {
        lv_counter_add(&c->worker->metrics->proxy_protocol_errors, 1);
        lv__conn_close(c);
        return -1;
    }
    if (info.family)
        conn_set_client(c, info.src, info.src_port);
    c->pp_wait = false;
    free(c->pp_partial);
    c->pp_partial = NULL;
    c->pp_len = 0;
    if (!conn_tls_start(c))
        return -1;
    return (ssize_t)(used - before);
}

static void conn_peer_eof(lv_conn_t *c)
{
    c->peer_eof = true;
    lv__conn_pause_read(c);
    if (c->tunneling) {
        lv__tunnel_client_eof(c->tunnel);
        return;
    }
    lv_req_t *r = c->req;
    if (c->shutting_down || c->state == LV_CONN_IDLE || c->state == LV_CONN_HEAD) {
        lv__conn_close(c);
    } else if (r && (!r->req_done || r->queued)) {
        /* Cut short, or still waiting in the guard's queue: a client that closes before
         * its request was sent has left (a closed tab, an impatient user); it never
         * reaches the backend. Once sent, a half-close still gets the whole answer. */
        lv__conn_close(c);
    } else {
        c->close_after = true; /* half-close: answer what was asked, then close */
        if (r && !r->resp_any)
            lv__request_half_closed(r);
    }
}

/* ---- TLS: records in, plaintext to the parser ---- */

/* A handshake that ended without a connection: counted by why, logged at debug. */
static void conn_tls_failed(lv_conn_t *c, int kind)
{
    lv_counter_add(&c->worker->metrics->tls_handshakes[kind], 1);
    char qwhy[160];
    lv_log_debug("tls", "msg=\"handshake failed\" client=%s reason=%s", c->client,
                 lv_log_quote_str(qwhy, sizeof qwhy, lv_tls_conn_error(c->tls)));
    lv__conn_close(c);
}

/* Server handshake time after which a worker lets its other connections have a turn of the
 * loop: a few full handshakes (ECDHE and a signature, 0.1-0.3 ms each). */
#define LV_HS_SLICE_NS 1000000u

/* Runs the handshake, then decrypts into read chunks fed to the parser, while reading. */
static void conn_tls_pump(lv_conn_t *c)
{
    lv_tls_conn_t *t = c->tls;
    lv_worker_t *w = c->worker;
    if (!lv_tls_conn_established(t)) {
        if (w->hs_slice_ns >= LV_HS_SLICE_NS) {
            if (c->defer_link.next == &c->defer_link) {
                lv_list_push(w->hs_waiting.prev, &c->defer_link); /* at the tail */
                lv_counter_add(&w->metrics->tls_handshakes_yielded, 1);
                lv__worker_defer(w);
            }
            return;
        }
        lv_list_remove(&c->defer_link); /* its turn came before hs_waiting's */
        uint64_t before = w->tls_budget.spent_ns;
        int rc = lv_tls_conn_handshake(t);
        w->hs_slice_ns += w->tls_budget.spent_ns - before;
        lv_counter_add(&w->metrics->tls_handshake_us, (w->tls_budget.spent_ns - before) / 1000u);
        if (rc < 0) {
            conn_tls_failed(c, lv_tls_conn_failure(t) == LV_TLS_FAIL_LIMITED
                                   ? LV_TLS_HS_LIMITED
                                   : LV_TLS_HS_FAIL_PROTOCOL);
            return;
        }
        if (rc == 0)
            return;
        lv_counter_add(&w->metrics->tls_handshakes[lv_tls_conn_resumed(t) ? LV_TLS_HS_RESUMED
                                                                          : LV_TLS_HS_FULL],
                       1);
    }
    while (c->reading && c->state != LV_CONN_CLOSING && !c->shutting_down) {
        lv_chunk_t *pch = lv_chunk_acquire(&w->bufs, LV_CHUNK_BYTES);
        if (!pch) {
            lv__conn_close(c);
            return;
        }
        size_t got = 0;
        ssize_t n = 0;
        while (got < pch->cap && (n = lv_tls_conn_read(t, pch->data + got, pch->cap - got)) > 0)
            got += (size_t)n;
        if (got)
            conn_feed(c, pch, pch->data, got);
        lv_chunk_release(pch);
        if (c->state == LV_CONN_CLOSING || n == 0)
            return;
        if (n == LV_TLS_EOF) { /* close_notify: as a FIN */
            conn_peer_eof(c);
            return;
        }
        if (n < 0) {
            lv__conn_close(c);
            return;
        }
    }
}

/* On a TLS listener, the connection's TLS state (once its PROXY header, if any, is read).
 * false: the connection was closed. */
static bool conn_tls_start(lv_conn_t *c)
{
    lv_worker_t *w = c->worker;
    const lv_config_t *cfg = conn_cfg(c);
    c->tls = NULL;
    SSL_CTX *ctx = lv_tls_set_listener(cfg->tls, c->listener);
    if (!ctx)
        return true;
    if (!(c->tls = lv_tls_conn_new(ctx, true, &w->bufs, conn_tls_send, c, &w->tls_budget))) {
        if (lv_log_limit_allow(&w->warn_limit, lv_clock_now_ms(), 1))
            lv_log_warn("tls", "msg=\"out of memory, connection closed\"");
        lv__conn_close(c);
        return false;
    }
    return true;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lv_conn_t *c = s->data;
    lv_chunk_t *ch = c->worker->read_chunk;
    c->worker->read_chunk = NULL;
    lv_tls_conn_t *t = lv__conn_tls(c);
    if (nread > 0) {
        lv_counter_add(&c->worker->metrics->bytes_in, (uint64_t)nread);
        ssize_t off = c->pp_wait ? conn_proxy_header(c, ch->data, (size_t)nread) : 0;
        t = lv__conn_tls(c);
        if (c->shutting_down || off < 0 || c->state == LV_CONN_CLOSING) {
            /* lingering: drop; or no HTTP yet */
        } else if (off < nread && t) {
            lv_tls_conn_input(t, ch, ch->data + off, (size_t)(nread - off));
            conn_tls_pump(c);
        } else if (off < nread) {
            conn_feed(c, ch, ch->data + off, (size_t)(nread - off));
        }
    } else if (t && !lv_tls_conn_established(t) && nread < 0 && !c->shutting_down) {
        conn_tls_failed(c, LV_TLS_HS_FAIL_CLOSED);
    } else if (nread == UV_EOF) {
        conn_peer_eof(c);
    } else if (nread < 0) {
        lv__conn_close(c);
    }
    if (ch)
        lv_chunk_release(ch);
}

/* ---- writing ---- */

void lv__conn_write_started(lv_conn_t *c)
{
    if (conn_queued(c) && c->timer_kind != TIMER_SEND && c->timer_kind != TIMER_HEAD)
        conn_timer(c, TIMER_SEND, conn_cfg(c)->limits.send_timeout_ms);
}

void lv__conn_write_done(lv_conn_t *c, int status)
{
    if (c->state == LV_CONN_CLOSING)
        return;
    if (status < 0) {
        lv__conn_close(c);
        return;
    }
    size_t queued = conn_queued(c);
    if (c->timer_kind == TIMER_SEND) {
        if (queued)
            conn_timer(c, TIMER_SEND, conn_cfg(c)->limits.send_timeout_ms); /* progress */
        else if (c->state == LV_CONN_IDLE)
            conn_timer(c, TIMER_KEEPALIVE, conn_cfg(c)->limits.keepalive_timeout_ms);
        else if (!c->shutting_down) {
            conn_timer_stop(c);
            conn_body_timer(c); /* a body still arriving keeps its timeout */
        }
    }
    if (c->req)
        lv__request_client_writable(c->req);
    else if (c->tunneling)
        lv__tunnel_client_writable(c->tunnel);
}

/* ---- a websocket tunnel's client side ---- */

void lv__conn_tunnel_start(lv_conn_t *c, lv_tunnel_t *t)
{
    LV_ASSERT(!c->req && !c->tunneling);
    conn_parser_release(c);
    c->tunnel = t;
    c->tunneling = true;
    c->state = LV_CONN_ACTIVE;
    if (c->timer_kind != TIMER_SEND)
        conn_timer_stop(c); /* the tunnel's timeouts are its own; a stalled send still ends it */
    lv_chunk_t *ch = c->pending; /* sent by the client before the 101 reached it */
    if (ch) {
        c->pending = NULL;
        lv__tunnel_client_bytes(t, ch, ch->data + c->pending_off, c->pending_len);
        lv_chunk_release(ch);
    }
    if (c->tunneling && c->peer_eof)
        lv__tunnel_client_eof(c->tunnel); /* half-closed already */
    else if (c->tunneling && c->close_after)
        lv__tunnel_drain(c->tunnel);
}

static void conn_tunnel_shutdown_done(uv_shutdown_t *sreq, int status)
{
    lv_conn_t *c = sreq->data; /* valid: a close cancels this before its own callback */
    free(sreq);
    if (c->state == LV_CONN_CLOSING)
        return;
    c->tunnel_shut_done = true;
    if (status < 0 || !c->tunneling)
        lv__conn_close(c); /* a failure, or the tunnel ended while the FIN waited */
}

void lv__conn_tunnel_shutdown(lv_conn_t *c)
{
    if (c->tunnel_shut || c->state == LV_CONN_CLOSING)
        return;
    c->tunnel_shut = true;
    if (lv__conn_tls(c))
        lv_tls_conn_shutdown(c->tls); /* close_notify, after the records queued before it */
    uv_shutdown_t *sreq = malloc(sizeof *sreq);
    if (!sreq || uv_shutdown(sreq, (uv_stream_t *)&c->tcp, conn_tunnel_shutdown_done) < 0) {
        free(sreq);
        lv__conn_close(c);
        return;
    }
    sreq->data = c;
}

void lv__conn_tunnel_end(lv_conn_t *c, bool graceful)
{
    c->tunneling = false;
    c->tunnel = NULL;
    if (c->state == LV_CONN_CLOSING)
        return;
    if (c->tunnel_shut) {
        /* Our FIN is sent or follows the queue: nothing to linger for. A pending one closes the
         * connection from its callback, within limits.send_timeout_ms. */
        if (graceful && !c->tunnel_shut_done) {
            c->shutting_down = true;
            lv__conn_pause_read(c);
            conn_timer(c, TIMER_SEND, conn_cfg(c)->limits.send_timeout_ms);
        } else {
            lv__conn_close(c);
        }
        return;
    }
    if (graceful)
        conn_graceful_close(c);
    else
        lv__conn_close(c);
}

/* ---- request lifecycle ---- */

void lv__conn_request_finished(lv_conn_t *c)
{
    if (c->state == LV_CONN_CLOSING)
        return;
    c->state = LV_CONN_IDLE;
    c->served = true;
    if (c->in_feed)
        return; /* conn_feed goes on with the bytes it holds */
    if (c->close_after) {
        conn_graceful_close(c);
        return;
    }
    if (c->pending) {
        conn_defer(c);
        return;
    }
    conn_parser_release(c);
    if (c->peer_eof) {
        conn_graceful_close(c);
        return;
    }
    if (!conn_queued(c))
        conn_timer(c, TIMER_KEEPALIVE, conn_cfg(c)->limits.keepalive_timeout_ms);
    else
        conn_timer(c, TIMER_SEND, conn_cfg(c)->limits.send_timeout_ms);
    lv__conn_resume_read(c);
}

/* Parses the pipelined bytes of connections whose previous response just ended. Deferred to
 * an idle callback so that it never runs inside an upstream connection's parser. */
void lv__conn_run_deferred(lv_worker_t *w)
{
    while (!lv_list_empty(&w->deferred)) {
        lv_conn_t *c = LV_CONTAINER_OF(w->deferred.next, lv_conn_t, defer_link);
        lv_list_remove(&c->defer_link);
        lv_chunk_t *ch = c->pending;
        if (!ch && c->state != LV_CONN_CLOSING && lv__conn_tls(c)) {
            conn_tls_pump(c); /* records read before a pause */
            continue;
        }
        if (!ch || c->state == LV_CONN_CLOSING)
            continue;
        c->pending = NULL;
        conn_feed(c, ch, ch->data + c->pending_off, c->pending_len);
        lv_chunk_release(ch);
        if (c->state == LV_CONN_IDLE && !c->shutting_down) {
            if (c->close_after || c->peer_eof)
                conn_graceful_close(c);
            else
                lv__conn_resume_read(c);
        }
    }
}

void lv__conn_run_handshakes(lv_worker_t *w)
{
    w->hs_slice_ns = 0;
    if (lv_list_empty(&w->hs_waiting))
        return;
    /* This turn's batch: those that miss the slice go back to hs_waiting, in order. */
    lv_link_t batch = {w->hs_waiting.prev, w->hs_waiting.next};
    batch.next->prev = batch.prev->next = &batch;
    lv_list_init(&w->hs_waiting);
    while (!lv_list_empty(&batch)) {
        lv_conn_t *c = LV_CONTAINER_OF(batch.next, lv_conn_t, defer_link);
        lv_list_remove(&c->defer_link);
        if (c->state != LV_CONN_CLOSING && lv__conn_tls(c))
            conn_tls_pump(c);
    }
}

void lv__conn_timeout(lv_timeouts_t *ts, lv_timeout_t *t)
{
    (void)ts;
    lv_conn_t *c = LV_CONTAINER_OF(t, lv_conn_t, timeout);
    int kind = c->timer_kind;
    c->timer_kind = TIMER_NONE;
    switch (kind) {
    case TIMER_HEAD:
        if (lv__conn_tls(c) && !lv_tls_conn_established(c->tls))
            conn_tls_failed(c, LV_TLS_HS_FAIL_TIMEOUT); /* a client stalled in the handshake */
        else if (c->state == LV_CONN_HEAD && conn_in_head(c))
            conn_reject(c, 408);
        else
            lv__conn_close(c); /* nothing was sent: close quietly */
        break;
    case TIMER_BODY:
        if (c->req && !c->req->req_done) {
            lv_counter_add(&c->worker->metrics->body_timeouts, 1);
            c->req->refusal = LV_REFUSAL_BODY_TIMEOUT;
            conn_reject(c, 408);
        }
        break;
    case TIMER_KEEPALIVE:
    case TIMER_SEND:
    case TIMER_LINGER:
    default:
        lv__conn_close(c);
        break;
    }
}

/* ---- parser callbacks ---- */

static int on_head(void *owner, lv_http_head_t *head)
{
    lv_conn_t *c = owner;
    lv_worker_t *w = c->worker;
    lv_req_t *r = lv__req_acquire(w);
    if (!r)
        return 503;
    conn_timer_stop(c);
    c->state = LV_CONN_ACTIVE;
    r->conn = c;
    r->gen = lv__gen_ref(w->gen);
    r->start_ns = c->head_start_ns;
    c->req = r;
    lv__pipeline_start(r, head);
    if (c->req == r && c->state != LV_CONN_CLOSING)
        conn_body_timer(c);
    return 0;
}

static int on_body(void *owner, const char *p, size_t len)
{
    lv_conn_t *c = owner;
    if (!c->req)
        return 0;
    if (c->timer_kind == TIMER_BODY || c->timer_kind == TIMER_NONE)
        conn_body_timer(c); /* progress */
    return lv__pipeline_body(c->req, c->worker->feed_chunk, p, len);
}

static int on_done(void *owner)
{
    lv_conn_t *c = owner;
    if (c->timer_kind == TIMER_BODY)
        conn_timer_stop(c);
    if (c->req)
        lv__pipeline_body_done(c->req);
    return 0;
}

static const lv_http_parser_cbs_t conn_cbs = {on_head, on_body, on_done};

/* ---- accepting ---- */

static void conn_client_name(lv_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->client[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    char ip[INET6_ADDRSTRLEN] = "";
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        uv_ip4_name(in, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    conn_set_client(c, ip, port);
}

void lv__conn_accept(lv_worker_t *w, uv_stream_t *listener)
{
    lv_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        if (lv_log_limit_allow(&w->warn_limit, lv_clock_now_ms(), 1))
            lv_log_warn("conn", "msg=\"out of memory, connection left in the backlog\"");
        return;
    }
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->worker = w;
    lv_list_init(&c->defer_link);
    lv_list_push(&w->conns, &c->link);
    w->n_conns++;
    lv_counter_add(&w->metrics->connections_open, 1);
    lv_counter_add(&w->metrics->connections_accepted, 1);
    const lv_config_t *cfg = conn_cfg(c);
    c->listener = w->listener_of[(const uv_tcp_t *)listener - w->listeners];
    bool tls = lv_tls_set_listener(cfg->tls, c->listener) != NULL;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        lv__conn_close(c);
        return;
    }
    if (!lv__server_conn_try_acquire(w->server,
                                     LV_MIN(cfg->limits.connections, w->server->fd_conn_cap))) {
        lv_counter_add(&w->metrics->connections_refused, 1);
        if (!tls) { /* a TLS client would take plaintext for a broken record */
            lv_str_t resp = lv_http_error_response(503, true);
            uv_buf_t b = uv_buf_init((char *)resp.p, (unsigned)resp.len);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
        lv__conn_close(c);
        return;
    }
    c->counted = true;
    uv_tcp_nodelay(&c->tcp, 1);
    conn_client_name(c);
    c->state = LV_CONN_IDLE;
    c->pp_wait = cfg->proxy_protocol;
    if (!c->pp_wait && !conn_tls_start(c))
        return;
    conn_timer(c, TIMER_HEAD, cfg->limits.header_timeout_ms);
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

/* Drain: idle keep-alive connections close now, busy ones after their current response. A
 * connection accepted but whose first request has not come yet is kept for that request (its
 * head timeout still bounds it, and the drain deadline): its client was accepted just before
 * the drain (an upgrade hands the listeners over at any instant) and sends its request without
 * a reason to expect a close, so closing it would lose that request. */
void lv__conn_drain(lv_conn_t *c)
{
    if (c->state == LV_CONN_CLOSING)
        return;
    c->close_after = true;
    if (c->tunneling) {
        lv__tunnel_drain(c->tunnel);
        return;
    }
    if ((c->state == LV_CONN_IDLE || c->state == LV_CONN_HEAD) && !c->req && !conn_in_head(c) &&
        c->served)
        conn_graceful_close(c);
}
