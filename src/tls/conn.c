/* tls/conn.c: one TLS connection's record layer glue: libuv reads feed OpenSSL through a BIO
 * of levee's own (no copy into a memory BIO), records come out into pooled chunks handed to
 * the owner's stream as batched writes. Owns its SSL; runs on its worker's loop only. */
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/clock.h"
#include "core/common.h"

#define LV_TLS_RECORD 16384u /* plaintext per record: small writes are coalesced up to it */

struct lv_tls_conn {
    SSL *ssl;
    lv_buf_pool_t *pool;
    lv_tls_send_fn send;
    void *owner;
    lv_tls_budget_t *budget;
    /* Ciphertext read from the socket that OpenSSL has not taken yet. */
    lv_chunk_t *in;
    uint32_t in_off, in_len;
    /* Records made and not yet handed to a write: [out_off, out_off + out_len) of out. */
    lv_chunk_t *out;
    uint32_t out_off, out_len;
    lv_wreq_t *outw;            /* the write being built from them */
    SSL_SESSION **session_slot; /* clients: where new sessions go (lv_tls_conn_keep_sessions) */
    int send_err;
    const char *reason; /* why it failed (static strings of OpenSSL's) */
    uint8_t fail;       /* lv_tls_fail_t */
    bool server, established, limited, shut;
};

/* ---- the BIO: reads from `in`, writes into `out` ---- */

static BIO_METHOD *bio_method;
static uv_once_t bio_once = UV_ONCE_INIT;

static void out_move(lv_tls_conn_t *t);

static int bio_write(BIO *b, const char *p, int len)
{
    lv_tls_conn_t *t = BIO_get_data(b);
    int done = 0;
    while (done < len) {
        if (t->out && t->out_off + t->out_len == t->out->cap)
            out_move(t); /* full: into the write, and let go of it */
        if (!t->out) {
            if (!(t->out = lv_chunk_acquire(t->pool, LV_CHUNK_BYTES)))
                return done ? done : -1;
            t->out_off = t->out_len = 0;
        }
        uint32_t room = t->out->cap - t->out_off - t->out_len;
        uint32_t n = LV_MIN(room, (uint32_t)(len - done));
        memcpy(t->out->data + t->out_off + t->out_len, p + done, n);
        t->out_len += n;
        done += (int)n;
    }
    return done;
}

static int bio_read(BIO *b, char *p, int len)
{
    lv_tls_conn_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!t->in_len) {
        BIO_set_retry_read(b);
        return -1;
    }
    uint32_t n = LV_MIN(t->in_len, (uint32_t)len);
    memcpy(p, t->in->data + t->in_off, n);
    t->in_off += n;
    t->in_len -= n;
    if (!t->in_len) {
        lv_chunk_release(t->in);
        t->in = NULL;
    }
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num, (void)ptr;
    lv_tls_conn_t *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return t ? (long)t->in_len : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "levee");
    if (!bio_method)
        return;
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

/* ---- output ---- */

static void out_emit(lv_tls_conn_t *t)
{
    lv_wreq_t *w = t->outw;
    t->outw = NULL;
    if (!w)
        return;
    if (!w->n_bufs || t->send_err) {
        lv_wreq_release(w);
        return;
    }
    int rc = t->send(t->owner, w);
    if (rc < 0)
        t->send_err = rc;
}

/* The records made so far join the write being built; a full chunk is let go. */
static void out_move(lv_tls_conn_t *t)
{
    if (!t->out)
        return;
    if (t->out_len) {
        if (t->outw && !lv_wreq_room(t->outw, 1, 0))
            out_emit(t);
        if (!t->outw)
            t->outw = lv_wreq_acquire(t->pool, t->owner);
        if (!t->outw || lv_wreq_add(t->outw, t->out, t->out->data + t->out_off, t->out_len) < 0)
            t->send_err = LV_ENOMEM;
        t->out_off += t->out_len;
        t->out_len = 0;
    }
    /* The write holds its own reference; an idle connection holds no buffer. */
    lv_chunk_release(t->out);
    t->out = NULL;
}

static void out_flush(lv_tls_conn_t *t)
{
    out_move(t);
    out_emit(t);
}

/* ---- life ---- */

lv_tls_conn_t *lv_tls_conn_new(SSL_CTX *ctx, bool server, lv_buf_pool_t *pool, lv_tls_send_fn send,
                               void *owner, lv_tls_budget_t *budget)
{
    uv_once(&bio_once, bio_method_init);
    if (!bio_method)
        return NULL;
    lv_tls_conn_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->pool = pool;
    t->send = send;
    t->owner = owner;
    t->budget = budget;
    t->server = server;
    BIO *b = NULL;
    if (!(t->ssl = SSL_new(ctx)) || !(b = BIO_new(bio_method))) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    SSL_set_app_data(t->ssl, t);
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    return t;
}

void lv_tls_session_free(SSL_SESSION *s)
{
    SSL_SESSION_free(s);
}

void lv_tls_conn_keep_sessions(lv_tls_conn_t *t, SSL_SESSION **slot)
{
    t->session_slot = slot;
    if (*slot)
        SSL_set_session(t->ssl, *slot); /* offered; a full handshake if the server declines */
}

/* A session (a TLS 1.3 ticket arrives after the handshake) replaces the one kept. */
int lv__tls_conn_new_session(SSL *s, SSL_SESSION *sess)
{
    lv_tls_conn_t *t = SSL_get_app_data(s);
    if (!t || !t->session_slot || !SSL_SESSION_is_resumable(sess))
        return 0;
    SSL_SESSION_free(*t->session_slot);
    *t->session_slot = sess;
    return 1;
}

int lv_tls_conn_set_peer(lv_tls_conn_t *t, const char *server_name, const char *ip)
{
    if (server_name) {
        if (SSL_set_tlsext_host_name(t->ssl, server_name) != 1 ||
            SSL_set1_host(t->ssl, server_name) != 1)
            goto fail;
    } else if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip) != 1)
            goto fail;
    }
    return 0;
fail:
    ERR_clear_error();
    return LV_EINVAL;
}

int lv_tls_conn_set_peer_addr(lv_tls_conn_t *t, const char *server_name, const char *addr)
{
    /* "10.0.0.1:8443" or "[::1]:8443": the address without its port (and brackets). */
    char ip[64];
    snprintf(ip, sizeof ip, "%s", addr);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = '\0';
    const char *host_ip = ip[0] == '[' ? ip + 1 : ip;
    if (ip[0] == '[' && strchr(ip, ']'))
        *strchr(ip, ']') = '\0';
    return lv_tls_conn_set_peer(t, server_name, host_ip);
}

void lv_tls_conn_free(lv_tls_conn_t *t)
{
    if (!t)
        return;
    /* A connection that ends without close_notify (most clients just close) keeps its session
     * resumable; OpenSSL would otherwise drop it from the cache as "bad". */
    if (t->established && !t->fail)
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl); /* and its BIO */
    if (t->in)
        lv_chunk_release(t->in);
    if (t->out)
        lv_chunk_release(t->out);
    if (t->outw)
        lv_wreq_release(t->outw);
    free(t);
}

void lv__tls_conn_limited(SSL *s)
{
    lv_tls_conn_t *t = SSL_get_app_data(s);
    if (t)
        t->limited = true;
}

lv_tls_budget_t *lv__tls_conn_budget(SSL *s)
{
    lv_tls_conn_t *t = SSL_get_app_data(s);
    return t ? t->budget : NULL;
}

/* ---- input ---- */

void lv_tls_conn_input(lv_tls_conn_t *t, lv_chunk_t *ch, const char *p, size_t n)
{
    if (!n)
        return;
    if (t->in_len) {
        /* Bytes left from before (reading resumed before they were taken): one span. */
        lv_chunk_t *both = lv_chunk_acquire(t->pool, (size_t)t->in_len + n);
        if (!both) {
            t->send_err = LV_ENOMEM;
            return;
        }
        memcpy(both->data, t->in->data + t->in_off, t->in_len);
        memcpy(both->data + t->in_len, p, n);
        lv_chunk_release(t->in);
        t->in = both;
        t->in_off = 0;
        t->in_len += (uint32_t)n;
        return;
    }
    lv_chunk_ref(ch);
    t->in = ch;
    t->in_off = (uint32_t)(p - ch->data);
    t->in_len = (uint32_t)n;
}

bool lv_tls_conn_has_input(const lv_tls_conn_t *t)
{
    return t->in_len > 0 || SSL_has_pending(t->ssl);
}

/* The failure's reason, and its kind, from OpenSSL's error queue (then emptied). */
static void note_failure(lv_tls_conn_t *t)
{
    unsigned long e = ERR_peek_last_error();
    t->reason = e ? ERR_reason_error_string(e) : NULL;
    if (t->limited) {
        t->fail = LV_TLS_FAIL_LIMITED;
        t->reason = "handshake budget";
    } else if (!t->server && SSL_get_verify_result(t->ssl) != X509_V_OK) {
        t->fail = LV_TLS_FAIL_VERIFY;
        t->reason = X509_verify_cert_error_string(SSL_get_verify_result(t->ssl));
    } else {
        t->fail = LV_TLS_FAIL_PROTOCOL;
    }
    ERR_clear_error();
}

int lv_tls_conn_handshake(lv_tls_conn_t *t)
{
    if (t->established)
        return 1;
    if (t->fail)
        return -1;
    uint64_t t0 = t->budget ? lv_clock_now_ns() : 0;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (t->budget)
        t->budget->spent_ns += lv_clock_now_ns() - t0;
    int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, rc);
    if (rc != 1 && e != SSL_ERROR_WANT_READ)
        note_failure(t);
    out_flush(t); /* the flight, or the alert */
    if (rc == 1) {
        t->established = true;
        return 1;
    }
    return e == SSL_ERROR_WANT_READ && !t->send_err ? 0 : -1;
}

bool lv_tls_conn_established(const lv_tls_conn_t *t)
{
    return t->established;
}

bool lv_tls_conn_resumed(const lv_tls_conn_t *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

lv_tls_fail_t lv_tls_conn_failure(const lv_tls_conn_t *t)
{
    return (lv_tls_fail_t)t->fail;
}

const char *lv_tls_conn_error(const lv_tls_conn_t *t)
{
    return t->reason ? t->reason : "";
}

ssize_t lv_tls_conn_read(lv_tls_conn_t *t, char *buf, size_t cap)
{
    size_t n = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(t->ssl, buf, cap, &n);
    int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, rc);
    if (rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN)
        note_failure(t);
    out_flush(t); /* what reading made: a key update's answer, an alert */
    if (t->send_err)
        return -1;
    if (rc == 1)
        return (ssize_t)n;
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    return e == SSL_ERROR_ZERO_RETURN ? LV_TLS_EOF : -1;
}

static int write_record(lv_tls_conn_t *t, const char *p, size_t n)
{
    size_t done = 0;
    if (SSL_write_ex(t->ssl, p, n, &done) != 1 || done != n) {
        ERR_clear_error();
        return LV_EIO;
    }
    return 0;
}

int lv_tls_conn_write(lv_tls_conn_t *t, const uv_buf_t *bufs, unsigned n)
{
    char stage[LV_TLS_RECORD];
    size_t used = 0;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        const char *p = bufs[i].base;
        size_t len = bufs[i].len;
        while (len && rc == 0) {
            if (!used && len >= LV_TLS_RECORD) { /* a whole record straight from the chunk */
                rc = write_record(t, p, LV_TLS_RECORD);
                p += LV_TLS_RECORD;
                len -= LV_TLS_RECORD;
                continue;
            }
            size_t take = LV_MIN(len, LV_TLS_RECORD - used);
            memcpy(stage + used, p, take);
            used += take;
            p += take;
            len -= take;
            if (used == LV_TLS_RECORD) {
                rc = write_record(t, stage, used);
                used = 0;
            }
        }
    }
    if (used && rc == 0)
        rc = write_record(t, stage, used);
    out_flush(t);
    return rc ? rc : t->send_err;
}

void lv_tls_conn_shutdown(lv_tls_conn_t *t)
{
    if (!t->established || t->shut)
        return;
    t->shut = true;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* close_notify; the peer's is not waited for */
    ERR_clear_error();
    out_flush(t);
}

SSL *lv_tls_conn_ssl(const lv_tls_conn_t *t)
{
    return t->ssl;
}

const char *lv_tls_conn_version(const lv_tls_conn_t *t)
{
    return t->established ? SSL_get_version(t->ssl) : "";
}

const char *lv_tls_conn_cipher(const lv_tls_conn_t *t)
{
    const char *c = t->established ? SSL_get_cipher_name(t->ssl) : NULL;
    return c ? c : "";
}
