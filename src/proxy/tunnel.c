/* proxy/tunnel.c: websocket tunnels (routes[].websocket): after the upstream's 101, the client
 * connection and the upstream connection exchange raw bytes both ways, with backpressure, an
 * idle and a total timeout, until both sides have closed (a FIN from one side is passed on as a
 * shutdown of writing toward the other, whose direction keeps flowing), an error, or a timeout.
 * Owns lv_tunnel_t; never parses either side's bytes, holds no concurrency slot. Runs on its
 * worker's loop only. */
#include "proxy/proxy.h"

#include <stdlib.h>

/* Alive while either connection points to it; ended (counted) once. */
struct lv_tunnel {
    lv_conn_t *conn;   /* the client side; NULL once it let go */
    lv_uconn_t *uconn; /* the upstream side; NULL once it let go */
    lv_worker_t *worker;
    lv_service_metrics_t *metrics; /* valid while uconn holds its generation */
    uint64_t start_ms, last_ms;    /* loop time: the 101, the last byte either way */
    uint32_t idle_ms, max_ms;
    uint32_t flush_ms; /* an ended tunnel's bytes still queued upstream: limits.send_timeout_ms */
    bool begun;        /* lv__tunnel_begin ran: the client connection is the tunnel's */
    bool client_eof;   /* the client's FIN: the upstream's writing is shut down */
    bool upstream_eof; /* the upstream's FIN: the client's writing is shut down */
    bool ended;
};

static void tunnel_maybe_free(lv_tunnel_t *t)
{
    if (!t->conn && !t->uconn)
        free(t);
}

static size_t client_queued(const lv_conn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void upstream_pause(lv_uconn_t *u)
{
    if (u->reading) {
        u->reading = false;
        uv_read_stop((uv_stream_t *)&u->tcp);
    }
}

/* The upstream side goes: closed now (what is queued for it is dropped). */
static void tunnel_drop_upstream(lv_tunnel_t *t)
{
    lv_uconn_t *u = t->uconn;
    if (!u)
        return;
    t->uconn = NULL;
    u->tunnel = NULL;
    u->broken = true;
    lv__uconn_close(u);
}

/* Counts the tunnel's end and lets both sides go: the client gets what is queued for it, then
 * FIN (a reset or a failed write closes it at once); the upstream is closed once its queue is
 * written (within flush_ms; at once when draining, so that the worker's loop can end). t may
 * be freed here. */
static void tunnel_end(lv_tunnel_t *t, int result)
{
    if (t->ended)
        return;
    t->ended = true;
    lv_counter_add(&t->metrics->ws_tunnels, (uint64_t)-1);
    lv_counter_add(&t->metrics->ws_tunnels_end[result], 1);
    lv_conn_t *c = t->conn;
    if (c) {
        t->conn = NULL;
        lv__conn_tunnel_end(c, result != LV_WS_ERROR);
    }
    lv_uconn_t *u = t->uconn;
    if (u) {
        upstream_pause(u);
        if (result == LV_WS_ERROR || t->worker->draining || lv__uconn_queued(u) == 0)
            tunnel_drop_upstream(t);
        else
            lv__uconn_arm_timer(u, t->flush_ms);
    }
    tunnel_maybe_free(t);
}

/* The next time either timeout may expire, from now. */
static void tunnel_arm(lv_tunnel_t *t, uint64_t now)
{
    uint64_t due = t->last_ms + t->idle_ms;
    if (t->max_ms && t->start_ms + t->max_ms < due)
        due = t->start_ms + t->max_ms;
    lv__uconn_arm_timer(t->uconn, due > now ? due - now : 0);
}

lv_tunnel_t *lv__tunnel_new(lv_req_t *r, lv_uconn_t *u)
{
    lv_tunnel_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    const lv_config_t *cfg = r->gen->cfg;
    const lv_route_conf_t *rc = &cfg->routes[r->route];
    t->conn = r->conn;
    t->uconn = u;
    t->worker = r->conn->worker;
    t->metrics = r->pool->metrics;
    t->idle_ms = rc->websocket_idle_ms;
    t->max_ms = rc->websocket_max_ms;
    t->flush_ms = cfg->limits.send_timeout_ms;
    u->tunnel = t;
    lv_counter_add(&t->metrics->ws_tunnels, 1);
    return t;
}

void lv__tunnel_begin(lv_tunnel_t *t)
{
    lv_conn_t *c = t->conn;
    uint64_t now = uv_now(&t->worker->loop);
    t->start_ms = t->last_ms = now;
    t->begun = true;
    lv__conn_tunnel_start(c, t); /* may end the tunnel (and free it) */
    if (!c->tunneling || c->tunnel != t)
        return;
    lv_uconn_t *u = t->uconn;
    if (!u) { /* closed while the request ended */
        tunnel_end(t, LV_WS_ERROR);
        return;
    }
    tunnel_arm(t, now);
    if (lv__uconn_queued(u) < LV_QUEUE_HIGH)
        lv__conn_resume_read(c);
    if (client_queued(c) < LV_QUEUE_HIGH && !t->upstream_eof)
        lv__uconn_start_read(u);
}

/* ---- bytes ---- */

static void upstream_write_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_uconn_t *u = w->owner;
    lv_wreq_release(w);
    if (status == UV_ECANCELED || u->state == LV_UCONN_CLOSING || !u->tunnel)
        return;
    lv_tunnel_t *t = u->tunnel;
    if (status < 0) {
        tunnel_end(t, LV_WS_ERROR);
        return;
    }
    size_t queued = lv__uconn_queued(u);
    if (t->ended) {
        if (!queued) {
            tunnel_drop_upstream(t);
            tunnel_maybe_free(t);
        }
        return;
    }
    if (t->conn && queued < LV_QUEUE_LOW)
        lv__conn_resume_read(t->conn);
}

/* A write of the span for owner (a side's connection), or NULL when out of memory (the tunnel
 * ended then). Counts as activity. */
static lv_wreq_t *tunnel_write(lv_tunnel_t *t, void *owner, lv_chunk_t *ch, const char *p,
                               size_t len)
{
    t->last_ms = uv_now(&t->worker->loop);
    lv_wreq_t *w = lv_wreq_acquire(&t->worker->bufs, owner);
    if (w && lv_wreq_add(w, ch, p, len) == 0)
        return w;
    if (w)
        lv_wreq_release(w);
    tunnel_end(t, LV_WS_ERROR);
    return NULL;
}

void lv__tunnel_client_bytes(lv_tunnel_t *t, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_uconn_t *u = t->uconn;
    if (t->ended || !u || !len)
        return;
    lv_wreq_t *w = tunnel_write(t, u, ch, p, len);
    if (!w)
        return;
    if (lv__uconn_send(u, w, upstream_write_done) < 0) {
        tunnel_end(t, LV_WS_ERROR);
        return;
    }
    if (lv__uconn_queued(u) > LV_QUEUE_HIGH)
        lv__conn_pause_read(t->conn);
}

void lv__tunnel_upstream_bytes(lv_tunnel_t *t, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_conn_t *c = t->conn;
    if (t->ended || !c || !len)
        return;
    lv_wreq_t *w = tunnel_write(t, c, ch, p, len);
    if (!w)
        return;
    if (!lv__conn_tls(c)) /* a TLS connection counts its records as they go (conn.c) */
        lv_counter_add(&t->worker->metrics->bytes_out, len);
    /* Its callback ends in lv__conn_write_done, which calls lv__tunnel_client_writable. */
    int rc = lv__conn_send(c, w, lv__write_client_done);
    if (rc < 0) {
        tunnel_end(t, LV_WS_ERROR);
        return;
    }
    if (rc == 0)
        lv__conn_write_started(c); /* limits.send_timeout_ms bounds a client that stops reading */
    if (client_queued(c) > LV_QUEUE_HIGH)
        upstream_pause(t->uconn);
}

void lv__tunnel_client_writable(lv_tunnel_t *t)
{
    lv_uconn_t *u = t->uconn;
    if (!t->ended && u && t->conn && !u->reading && !t->upstream_eof &&
        client_queued(t->conn) < LV_QUEUE_LOW)
        lv__uconn_start_read(u);
}

/* ---- ends ---- */

static void upstream_shutdown_done(uv_shutdown_t *sreq, int status)
{
    lv_uconn_t *u = sreq->data; /* valid: a close cancels this before its own callbacks */
    free(sreq);
    if (status == UV_ECANCELED || u->state == LV_UCONN_CLOSING || !u->tunnel)
        return;
    lv_tunnel_t *t = u->tunnel;
    if (t->ended) { /* everything queued is written (a TLS close_notify too), FIN sent */
        tunnel_drop_upstream(t);
        tunnel_maybe_free(t);
    } else if (status < 0) {
        tunnel_end(t, LV_WS_ERROR);
    }
}

/* The client's FIN, passed on: the upstream gets what is queued for it, then (over TLS)
 * close_notify, then FIN; its answers still flow to the client. t may be freed here. */
static void tunnel_shutdown_upstream(lv_tunnel_t *t)
{
    lv_uconn_t *u = t->uconn;
    if (u->tls)
        lv_tls_conn_shutdown(u->tls); /* queued like any record: after the bytes before it */
    if (u->state == LV_UCONN_CLOSING || !u->tunnel)
        return;
    uv_shutdown_t *sreq = malloc(sizeof *sreq);
    if (!sreq || uv_shutdown(sreq, (uv_stream_t *)&u->tcp, upstream_shutdown_done) < 0) {
        free(sreq);
        tunnel_end(t, LV_WS_ERROR);
        return;
    }
    sreq->data = u;
}

void lv__tunnel_client_eof(lv_tunnel_t *t)
{
    if (t->ended || t->client_eof)
        return;
    t->client_eof = true;
    if (t->upstream_eof || !t->uconn) { /* FIN both ways: over */
        tunnel_end(t, LV_WS_CLOSED);
        return;
    }
    tunnel_shutdown_upstream(t);
}

void lv__tunnel_upstream_eof(lv_tunnel_t *t, ssize_t nread)
{
    if (t->ended) { /* reading had stopped; a reset while flushing */
        tunnel_drop_upstream(t);
        tunnel_maybe_free(t);
        return;
    }
    /* Before the tunnel began, the client connection is not the tunnel's yet: ended at once. */
    if (nread != UV_EOF || !t->begun) {
        tunnel_end(t, nread == UV_EOF ? LV_WS_CLOSED : LV_WS_ERROR);
        return;
    }
    if (t->upstream_eof)
        return;
    t->upstream_eof = true;
    upstream_pause(t->uconn);        /* libuv stops reading at EOF; the flag follows */
    if (t->client_eof || !t->conn) { /* FIN both ways: over */
        tunnel_end(t, LV_WS_CLOSED);
        return;
    }
    lv__conn_tunnel_shutdown(t->conn); /* may end the tunnel (and free it) */
}

void lv__tunnel_client_closed(lv_tunnel_t *t)
{
    t->conn = NULL;
    if (!t->ended)
        tunnel_end(t, LV_WS_ERROR);
    else
        tunnel_maybe_free(t);
}

void lv__tunnel_upstream_closed(lv_tunnel_t *t)
{
    t->uconn = NULL;
    if (!t->ended)
        tunnel_end(t, LV_WS_ERROR);
    else
        tunnel_maybe_free(t);
}

void lv__tunnel_timeout(lv_tunnel_t *t)
{
    if (t->ended) { /* the upstream did not take its last bytes in time */
        tunnel_drop_upstream(t);
        tunnel_maybe_free(t);
        return;
    }
    uint64_t now = uv_now(&t->worker->loop);
    if (t->max_ms && now >= t->start_ms + t->max_ms)
        tunnel_end(t, LV_WS_TOTAL_TIMEOUT);
    else if (now >= t->last_ms + t->idle_ms)
        tunnel_end(t, LV_WS_IDLE_TIMEOUT);
    else
        tunnel_arm(t, now);
}

void lv__tunnel_drain(lv_tunnel_t *t)
{
    tunnel_end(t, LV_WS_CLOSED);
}
