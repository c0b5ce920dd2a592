/* proxy/write.c: a request's writes, to its client and to its upstream: batched into one
 * writev, submitted, and backpressure both ways (LV_QUEUE_HIGH / LV_QUEUE_LOW). */
#include "proxy/proxy.h"

/* Writes v as lowercase hex, no leading zeros (chunk sizes); returns the length. */
static const char hex_digits[] = "0123456789abcdef";

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

/* A chunk-size line "<hex>\r\n" into the write's scratch. */
void lv__write_chunk_line(lv_wreq_t *w, size_t len)
{
    char line[20];
    size_t n = fmt_hex(line, len);
    line[n++] = '\r';
    line[n++] = '\n';
    lv_wreq_add_copy(w, line, n);
}

static void upstream_write_done(uv_write_t *wr, int status);

void lv__write_flush_client(lv_req_t *r)
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
    if (!lv__conn_tls(c)) /* a TLS connection counts its records as they go (conn.c) */
        lv_counter_add(&c->worker->metrics->bytes_out, w->bytes);
    int rc = lv__conn_send(c, w, lv__write_client_done);
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

void lv__write_flush_upstream(lv_req_t *r)
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
    int rc = lv__uconn_send(u, w, upstream_write_done);
    if (rc < 0) {
        lv__uconn_fail(u, 502, false);
        return;
    }
    if (lv__uconn_queued(u) > LV_QUEUE_HIGH)
        lv__conn_pause_read(r->conn);
}

/* Client writes are owned by the connection (it outlives its requests). */
void lv__write_client_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_conn_t *c = w->owner;
    lv_wreq_release(w);
    lv__conn_write_done(c, status);
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
        lv__write_upstream_writable(u->req);
    }
}

void lv__write_upstream_writable(lv_req_t *r)
{
    lv_uconn_t *u = r->uconn;
    if (u && !r->req_done && lv__uconn_queued(u) < LV_QUEUE_LOW)
        lv__conn_resume_read(r->conn);
}

int lv__write_client_bytes(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len)
{
    lv_wreq_t *w = lv__write_out(r, &r->client_out, r->conn);
    if (w && !lv_wreq_room(w, 1, 0)) {
        lv__write_flush_client(r);
        w = lv__write_out(r, &r->client_out, r->conn);
    }
    return w ? lv_wreq_add(w, ch, p, len) : LV_ENOMEM;
}
