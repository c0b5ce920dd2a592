/* proxy/upstream_tls.c: TLS to a service's upstreams (services[].tls): the handshake after the
 * TCP connect (still "connecting" for timeouts and retries), writes held until it is done,
 * records in and out. Owns lv_uconn_t.tls; runs on its worker's loop only. */
#include "proxy/proxy.h"

#include <string.h>

#include "core/log.h"

static void uconn_tls_write_done(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_uconn_t *u = w->owner;
    lv_wreq_release(w);
    if (status < 0 && status != UV_ECANCELED && u->state != LV_UCONN_CLOSING)
        lv__uconn_fail(u, 502, false);
}

/* Records go out with the callback of the plaintext write they carry (u->tls_cb), or, for the
 * handshake's own records, one that only notices failures. */
static int uconn_tls_send(void *owner, lv_wreq_t *w)
{
    lv_uconn_t *u = owner;
    w->owner = u;
    int rc =
        lv_wreq_submit(w, (uv_stream_t *)&u->tcp, u->tls_cb ? u->tls_cb : uconn_tls_write_done);
    return rc < 0 ? rc : 0;
}

int lv__uconn_tls_init(lv_uconn_t *u)
{
    lv_pool_t *p = u->pool;
    SSL_CTX *ctx = lv_tls_set_upstream(p->gen->cfg->tls, (uint32_t)(p - p->gen->pools));
    if (!ctx)
        return 0;
    u->tls = lv_tls_conn_new(ctx, false, &p->gen->worker->bufs, uconn_tls_send, u, NULL);
    if (!u->tls)
        return LV_ENOMEM;
    lv_tls_conn_keep_sessions(u->tls, &u->host->tls_session);
    /* The name to verify: the configured one, else the upstream's own address. */
    return lv_tls_conn_set_peer_addr(u->tls, p->svc->tls.server_name, u->host->addr->text);
}

void lv__uconn_tls_free(lv_uconn_t *u)
{
    lv_tls_conn_free(u->tls);
    u->tls = NULL;
    while (u->tls_pending) {
        lv_wreq_t *w = u->tls_pending;
        u->tls_pending = w->next_free;
        lv_wreq_release(w);
    }
    u->tls_pending_tail = NULL;
    u->tls_pending_bytes = 0;
}

size_t lv__uconn_queued(const lv_uconn_t *u)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&u->tcp) + u->tls_pending_bytes;
}

static int uconn_tls_encrypt(lv_uconn_t *u, lv_wreq_t *w, uv_write_cb cb)
{
    u->tls_cb = cb;
    int rc = lv_tls_conn_write(u->tls, w->bufs, w->n_bufs);
    u->tls_cb = NULL;
    lv_wreq_release(w);
    return rc;
}

int lv__uconn_send(lv_uconn_t *u, lv_wreq_t *w, uv_write_cb cb)
{
    if (!u->tls)
        return lv_wreq_submit(w, (uv_stream_t *)&u->tcp, cb);
    if (!lv_tls_conn_established(u->tls)) {
        /* Held until the handshake is done (its callback kept in the request). */
        w->req.cb = cb;
        w->next_free = NULL;
        if (u->tls_pending_tail)
            u->tls_pending_tail->next_free = w;
        else
            u->tls_pending = w;
        u->tls_pending_tail = w;
        u->tls_pending_bytes += w->bytes;
        return 0;
    }
    int rc = uconn_tls_encrypt(u, w, cb);
    return rc < 0 ? rc : 0;
}

/* Runs the handshake on what arrived. 1: done (held writes sent); 0: wants more; -1: u failed. */
static int uconn_tls_handshake(lv_uconn_t *u)
{
    int rc = lv_tls_conn_handshake(u->tls);
    lv_service_metrics_t *m = u->pool->metrics;
    if (rc < 0) {
        bool verify = lv_tls_conn_failure(u->tls) == LV_TLS_FAIL_VERIFY;
        lv_counter_add(&m->upstream_tls[verify ? LV_UP_TLS_VERIFY_FAILED : LV_UP_TLS_FAILED], 1);
        char why[200];
        snprintf(why, sizeof why, "TLS handshake: %s", lv_tls_conn_error(u->tls));
        lv__uconn_fail_kind(u, 502, LV_UPFAIL_TLS, why);
        return -1;
    }
    if (rc == 0)
        return 0;
    lv_counter_add(&m->upstream_tls[LV_UP_TLS_OK], 1);
    u->state = LV_UCONN_BUSY;
    lv__uconn_arm_read_timeout(u);
    while (u->tls_pending && u->state != LV_UCONN_CLOSING) {
        lv_wreq_t *w = u->tls_pending;
        u->tls_pending = w->next_free;
        if (!u->tls_pending)
            u->tls_pending_tail = NULL;
        u->tls_pending_bytes -= w->bytes;
        if (uconn_tls_encrypt(u, w, w->req.cb) < 0) {
            lv__uconn_fail(u, 502, false);
            return -1;
        }
    }
    return 1;
}

void lv__uconn_tls_connected(lv_uconn_t *u)
{
    lv__uconn_start_read(u);
    uconn_tls_handshake(u); /* the ClientHello; the connect timer runs on */
}

bool lv__uconn_tls_read(lv_uconn_t *u, lv_chunk_t *ch, ssize_t nread, lv_uconn_read_fn on_bytes)
{
    lv_tls_conn_input(u->tls, ch, ch->data, (size_t)nread);
    lv_chunk_release(ch);
    u->rchunk = NULL;
    if (!lv_tls_conn_established(u->tls) && uconn_tls_handshake(u) <= 0)
        return true;
    lv_buf_pool_t *bufs = &u->pool->gen->worker->bufs;
    /* Everything this read brought is decrypted (one read's worth): nothing is left inside to
     * wait for a socket read that may never come. */
    while (u->state != LV_UCONN_CLOSING) {
        lv_chunk_t *pch = lv_chunk_acquire(bufs, LV_CHUNK_BYTES);
        if (!pch) {
            lv__uconn_fail(u, 502, false);
            return true;
        }
        size_t got = 0;
        ssize_t n = 0;
        while (got < pch->cap &&
               (n = lv_tls_conn_read(u->tls, pch->data + got, pch->cap - got)) > 0)
            got += (size_t)n;
        u->rchunk = pch;
        if (got)
            on_bytes(u, (ssize_t)got);
        if (u->rchunk) {
            lv_chunk_release(u->rchunk);
            u->rchunk = NULL;
        }
        if (n == 0 || u->state == LV_UCONN_CLOSING)
            return true;
        if (n == LV_TLS_EOF)
            return false; /* close_notify: as the end of the stream */
        if (n < 0) {
            char why[200];
            snprintf(why, sizeof why, "TLS: %s", lv_tls_conn_error(u->tls));
            lv__uconn_fail_kind(u, 502, LV_UPFAIL_BAD_RESPONSE, why);
            return true;
        }
    }
    return true;
}
