/* load/engine.c: the network side of levee-load. Owns the libuv loop, the user objects (pooled,
 * one TCP connection and one timer each, reused; no allocation per request), the llhttp
 * response parsers and the arrival schedule. Decisions come from user.c; counting goes to
 * stats.c. Single thread: the caller's. */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "core/common.h"
#include "core/log.h"
#include "proxy/buf.h"
#include "tls/tls.h"

#define LOAD_COOKIES 8
#define LOAD_COOKIE_LEN 96
#define LOAD_CHUNK 256
#define LOAD_MAX_CHUNKS 4096

typedef struct load_engine load_engine_t;
typedef struct load_ctl load_ctl_t;

enum { LOAD_TIMER_PATIENCE = 1, LOAD_TIMER_DELAY = 2 };
enum { LOAD_HDR_OTHER = 0, LOAD_HDR_COOKIE, LOAD_HDR_RETRY_AFTER };

typedef struct load_user {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_write_t wreq;
    llhttp_t parser;
    load_engine_t *eng;
    struct load_user *next_free;
    load_user_model_t m;
    uint32_t id;        /* users begun before this one in the run (X-Step-Id) */
    uint8_t active;     /* in a journey */
    uint8_t tcp_open;   /* handle initialised, close not finished */
    uint8_t connected;  /* connect done, not closing */
    uint8_t closing;    /* uv_close in progress */
    uint8_t want_send;  /* connect and send once the close finishes */
    uint8_t in_flight;  /* request outstanding, patience timer running */
    uint8_t done;       /* parser saw a complete response */
    uint8_t keep_alive; /* server keeps the connection after this response */
    uint8_t try_kind;   /* load_try_kind_t of the pending send */
    uint8_t timer_mode;
    uint8_t hdr;
    uint8_t hname_len;
    int status;
    double retry_after_ms;
    uint64_t sent_ns;
    char hname[16];
    uint16_t hval_len;
    char hval[LOAD_COOKIE_LEN + 32];
    uint8_t n_cookies;
    uint32_t src_ip;    /* network order; 0: the kernel picks */
    lv_tls_conn_t *tls; /* https: this connection's TLS (its own handshake), freed on close */
    lv_chunk_t *rch;    /* https: the chunk the pending read goes into */
    char cookies[LOAD_COOKIES][LOAD_COOKIE_LEN];
    size_t out_len;
    char out[1536];
} load_user_t;

struct load_engine {
    uv_loop_t loop;
    uv_timer_t arrival_timer;
    uv_timer_t tick_timer;
    const load_scenario_t *sc;
    load_stats_t *st;
    load_rng_t rng;
    load_arrivals_t arrivals;
    struct sockaddr_in addr;
    uint32_t user_seq;    /* users so far: users.per_address of them share a source */
    uint32_t users_begun; /* users so far: their ids */
    llhttp_settings_t settings;
    uint64_t start_ns;
    double next_arrival_s;
    int arrivals_done;
    int stopping;
    int progress, tty;
    uint32_t events_fired;
    uint32_t active;    /* users in a journey */
    uint32_t allocated; /* user objects */
    uint32_t n_chunks;
    load_user_t *chunks[LOAD_MAX_CHUNKS];
    load_user_t *free_list;
    uint32_t last_progress_sec;
    load_ctl_t *ctls[LOAD_EVENTS_MAX]; /* control GETs still open */
    SSL_CTX *tls_ctx;                  /* https targets: the client context */
    lv_buf_pool_t pool;                /* https: ciphertext chunks and writes */
    int tls_logged;                    /* the first handshake failure was logged */
    char rbuf[65536];
};

/* ---- time and counting --------------------------------------------------------------- */

static uint32_t load_sec_now(load_engine_t *e)
{
    return (uint32_t)((uv_hrtime() - e->start_ns) / 1000000000u);
}

static load_second_t *load_cur(load_engine_t *e)
{
    return load_stats_sec(e->st, load_sec_now(e));
}

static void load_count_user_end(load_engine_t *e, int ok)
{
    load_second_t *s = load_cur(e);
    if (ok) {
        s->c.users_ok++;
        e->st->total.users_ok++;
    } else {
        s->c.users_failed++;
        e->st->total.users_failed++;
    }
}

/* ---- user lifecycle ---------------------------------------------------------------------- */

static void load_do(load_user_t *u, load_act_t act);
static void load_connect(load_user_t *u);
static void load_send(load_user_t *u);

static void load_release(load_user_t *u)
{
    LV_DASSERT(!u->active && !u->tcp_open);
    u->next_free = u->eng->free_list;
    u->eng->free_list = u;
}

static void load_tls_drop(load_user_t *u)
{
    if (u->tls) {
        lv_tls_conn_free(u->tls);
        u->tls = NULL;
    }
    if (u->rch) {
        lv_chunk_release(u->rch);
        u->rch = NULL;
    }
}

static void load_on_close(uv_handle_t *h)
{
    load_user_t *u = h->data;
    load_tls_drop(u);
    u->closing = 0;
    u->tcp_open = 0;
    if (!u->active) {
        load_release(u);
    } else if (u->want_send) {
        u->want_send = 0;
        load_connect(u);
    }
}

static void load_close_tcp(load_user_t *u)
{
    if (!u->tcp_open || u->closing)
        return;
    u->closing = 1;
    u->connected = 0;
    uv_read_stop((uv_stream_t *)&u->tcp);
    uv_close((uv_handle_t *)&u->tcp, load_on_close);
}

static void load_finish(load_user_t *u, int ok)
{
    load_engine_t *e = u->eng;
    uv_timer_stop(&u->timer);
    u->active = 0;
    u->in_flight = 0;
    u->want_send = 0;
    e->active--;
    load_count_user_end(e, ok);
    if (u->tcp_open)
        load_close_tcp(u);
    else
        load_release(u);
}

static void load_fail(load_user_t *u, load_err_t kind)
{
    load_engine_t *e = u->eng;
    uv_timer_stop(&u->timer);
    u->in_flight = 0;
    load_stats_error(e->st, load_sec_now(e), kind);
    load_close_tcp(u);
    load_do(u, load_user_on_failure(&u->m, &e->sc->users, &e->rng));
}

static void load_on_timer(uv_timer_t *t)
{
    load_user_t *u = t->data;
    if (u->timer_mode == LOAD_TIMER_PATIENCE) {
        if (u->in_flight) /* the user gives up: the browser closes the connection */
            load_fail(u, LOAD_ERR_TIMEOUT);
    } else if (u->timer_mode == LOAD_TIMER_DELAY) {
        load_send(u);
    }
}

static void load_do(load_user_t *u, load_act_t act)
{
    switch (act.kind) {
    case LOAD_ACT_SEND:
        u->try_kind = (uint8_t)act.try_kind;
        if (act.delay_ms >= 1) {
            u->timer_mode = LOAD_TIMER_DELAY;
            uv_timer_start(&u->timer, load_on_timer, (uint64_t)act.delay_ms, 0);
        } else {
            load_send(u);
        }
        return;
    case LOAD_ACT_DONE_OK:
        load_finish(u, 1);
        return;
    case LOAD_ACT_DONE_FAIL:
        load_finish(u, 0);
        return;
    }
}

/* ---- cookies and request text -------------------------------------------------------------- */

static void load_cookie_store(load_user_t *u, const char *v, size_t len)
{
    /* Keep "name=value" only; attributes after ';' are not needed to send it back. */
    size_t n = 0;
    while (n < len && v[n] != ';')
        n++;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    const char *eq = memchr(v, '=', n);
    if (!eq || eq == v || n >= LOAD_COOKIE_LEN)
        return;
    size_t name_len = (size_t)(eq - v) + 1;
    for (uint8_t i = 0; i < u->n_cookies; i++) {
        if (strncmp(u->cookies[i], v, name_len) == 0) {
            memcpy(u->cookies[i], v, n);
            u->cookies[i][n] = '\0';
            return;
        }
    }
    if (u->n_cookies >= LOAD_COOKIES)
        return;
    memcpy(u->cookies[u->n_cookies], v, n);
    u->cookies[u->n_cookies][n] = '\0';
    u->n_cookies++;
}

/* The X-Retry header line of a retry (X-Attempt >= 2), saying why the user sent it; none on a
 * first try. "f5": the user pressed F5 after a timeout (patience ran out), a connection error,
 * a 5xx or a 429 (a 429/503 with Retry-After too, for a user who does not obey it). "obeyed":
 * the user waited as a 429/503's Retry-After said, then retried. */
static const char *load_retry_header(load_try_kind_t try_kind)
{
    switch (try_kind) {
    case LOAD_TRY_F5:
        return "X-Retry: f5\r\n";
    case LOAD_TRY_OBEYED:
        return "X-Retry: obeyed\r\n";
    default:
        return "";
    }
}

static void load_build_request(load_user_t *u)
{
    const load_scenario_t *sc = u->eng->sc;
    const char *path = sc->journey[u->m.step < sc->n_journey ? u->m.step : 0];
    /* X-Attempt: 1 for the first try of this step, 2+ for its retries (F5 or Retry-After):
     * lets the backend (levee-sim's retries_received) count the retries that got through.
     * X-Retry (retries only): which kind of retry, counted apart by levee-sim
     * (retries_f5_received, retries_obeyed_received).
     * X-Step-Id: this user's this step, the same on every try: the backend counts a second
     * arrival of one id as duplicate work (levee-sim's duplicates_received). */
    uint64_t step_id = ((uint64_t)u->id << 16) | (u->m.step & 0xffffu);
    int n = snprintf(u->out, sizeof(u->out),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: levee-load/" LV_VERSION
                     "\r\nAccept: */*\r\nX-Attempt: %u\r\n%sX-Step-Id: %llu\r\n",
                     path, sc->target.host_header, (unsigned)load_user_attempt(&u->m),
                     load_retry_header((load_try_kind_t)u->try_kind), (unsigned long long)step_id);
    size_t len = n > 0 ? LV_MIN((size_t)n, sizeof(u->out) - 1) : 0;
    for (uint8_t i = 0; i < u->n_cookies; i++) {
        n = snprintf(u->out + len, sizeof(u->out) - len, "%s%s",
                     i ? "; " : "Cookie: ", u->cookies[i]);
        len = n > 0 ? LV_MIN(len + (size_t)n, sizeof(u->out) - 1) : len;
    }
    if (u->n_cookies) {
        n = snprintf(u->out + len, sizeof(u->out) - len, "\r\n");
        len = n > 0 ? LV_MIN(len + (size_t)n, sizeof(u->out) - 1) : len;
    }
    n = snprintf(u->out + len, sizeof(u->out) - len, "\r\n");
    len = n > 0 ? LV_MIN(len + (size_t)n, sizeof(u->out) - 1) : len;
    u->out_len = len;
}

/* ---- HTTP response parsing (llhttp callbacks) ---------------------------------------------- */

static int load_on_hfield(llhttp_t *p, const char *at, size_t len)
{
    load_user_t *u = p->data;
    size_t room = sizeof(u->hname) - u->hname_len;
    size_t n = LV_MIN(len, room);
    memcpy(u->hname + u->hname_len, at, n);
    u->hname_len = (uint8_t)(u->hname_len + n);
    return 0;
}

static int load_on_hfield_done(llhttp_t *p)
{
    load_user_t *u = p->data;
    u->hdr = LOAD_HDR_OTHER;
    if (u->hname_len == 10 && strncasecmp(u->hname, "set-cookie", 10) == 0)
        u->hdr = LOAD_HDR_COOKIE;
    else if (u->hname_len == 11 && strncasecmp(u->hname, "retry-after", 11) == 0)
        u->hdr = LOAD_HDR_RETRY_AFTER;
    u->hname_len = 0;
    u->hval_len = 0;
    return 0;
}

static int load_on_hvalue(llhttp_t *p, const char *at, size_t len)
{
    load_user_t *u = p->data;
    if (u->hdr == LOAD_HDR_OTHER)
        return 0;
    size_t room = sizeof(u->hval) - 1 - u->hval_len;
    size_t n = LV_MIN(len, room);
    memcpy(u->hval + u->hval_len, at, n);
    u->hval_len = (uint16_t)(u->hval_len + n);
    return 0;
}

static int load_on_hvalue_done(llhttp_t *p)
{
    load_user_t *u = p->data;
    u->hval[u->hval_len] = '\0';
    if (u->hdr == LOAD_HDR_COOKIE) {
        load_cookie_store(u, u->hval, u->hval_len);
    } else if (u->hdr == LOAD_HDR_RETRY_AFTER) {
        /* Delta-seconds only; an HTTP-date counts as "1 s" (a rough but safe reading). */
        char *end;
        double s = strtod(u->hval, &end);
        if (end != u->hval && s >= 0 && s < 86400)
            u->retry_after_ms = s * 1000.0;
        else
            u->retry_after_ms = 1000.0;
    }
    u->hdr = LOAD_HDR_OTHER;
    u->hval_len = 0;
    return 0;
}

static int load_on_msg_done(llhttp_t *p)
{
    load_user_t *u = p->data;
    u->status = p->status_code;
    u->keep_alive = (uint8_t)llhttp_should_keep_alive(p);
    u->done = 1;
    return HPE_PAUSED;
}

static void load_on_response(load_user_t *u)
{
    load_engine_t *e = u->eng;
    uv_timer_stop(&u->timer);
    u->in_flight = 0;
    uint32_t sec = load_sec_now(e);
    load_second_t *s = load_stats_sec(e->st, sec);
    s->c.responses++;
    e->st->total.responses++;
    load_stats_status(e->st, sec, u->status);
    if (load_status_good(u->status)) {
        s->c.goodput++;
        e->st->total.goodput++;
        load_stats_latency(e->st, sec, (uv_hrtime() - u->sent_ns) / 1000u);
    }
    if (!u->keep_alive)
        load_close_tcp(u);
    load_do(u, load_user_on_response(&u->m, &e->sc->users, &e->rng, u->status, u->retry_after_ms));
}

/* ---- sockets ----------------------------------------------------------------------------- */

static void load_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    load_user_t *u = h->data;
    if (u->tls) { /* ciphertext goes into a chunk: OpenSSL may keep part of it for later */
        if (!u->rch)
            u->rch = lv_chunk_acquire(&u->eng->pool, LV_CHUNK_BYTES);
        *buf = u->rch ? uv_buf_init(u->rch->data, (unsigned)u->rch->cap) : uv_buf_init(NULL, 0);
        return;
    }
    /* One shared buffer: read callbacks run one at a time and consume it at once. */
    *buf = uv_buf_init(u->eng->rbuf, sizeof(u->eng->rbuf));
}

static void load_write(load_user_t *u);

/* Response bytes (plaintext): parsed; a complete response ends the request. */
static void load_on_bytes(load_user_t *u, const char *p, size_t n)
{
    if (!u->in_flight) { /* bytes nobody asked for (e.g. a 408 on an idle connection) */
        load_close_tcp(u);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&u->parser, p, n);
    if (u->done) {
        load_on_response(u);
    } else if (err != HPE_OK) {
        load_fail(u, LOAD_ERR_PARSE);
    }
}

static void load_tls_failed(load_user_t *u)
{
    load_engine_t *e = u->eng;
    if (!e->tls_logged) { /* once: the rest are counted as tls_handshake errors */
        e->tls_logged = 1;
        lv_log_warn("load", "event=tls_handshake_failed target=%s kind=%s error=\"%s\"",
                    e->sc->target.url,
                    lv_tls_conn_failure(u->tls) == LV_TLS_FAIL_VERIFY ? "verify" : "protocol",
                    lv_tls_conn_error(u->tls));
    }
    if (u->in_flight)
        load_fail(u, LOAD_ERR_TLS);
    else
        load_close_tcp(u);
}

/* Ciphertext from the socket: the handshake, then the records' plaintext to the parser. */
static void load_on_tls_input(load_user_t *u, ssize_t nread)
{
    load_engine_t *e = u->eng;
    lv_chunk_t *ch = u->rch;
    u->rch = NULL;
    lv_tls_conn_input(u->tls, ch, ch->data, (size_t)nread);
    lv_chunk_release(ch);
    if (!lv_tls_conn_established(u->tls)) {
        int rc = lv_tls_conn_handshake(u->tls);
        if (rc < 0) {
            load_tls_failed(u);
            return;
        }
        if (rc == 0)
            return;
        if (u->in_flight)
            load_write(u); /* the request waited for the handshake */
    }
    lv_tls_conn_t *t = u->tls;
    while (u->tls == t && !u->closing) {
        ssize_t n = lv_tls_conn_read(t, e->rbuf, sizeof(e->rbuf));
        if (n > 0) {
            load_on_bytes(u, e->rbuf, (size_t)n);
            continue;
        }
        if (n == 0)
            return;
        if (!u->in_flight) {
            load_close_tcp(u);
        } else if (n == LV_TLS_EOF) {
            llhttp_finish(&u->parser);
            if (u->done)
                load_on_response(u);
            else
                load_fail(u, LOAD_ERR_RESET);
        } else {
            load_fail(u, LOAD_ERR_OTHER);
        }
        return;
    }
}

static void load_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    load_user_t *u = s->data;
    if (u->tls && nread > 0) {
        load_on_tls_input(u, nread);
        return;
    }
    if (nread == 0 || nread == UV_ENOBUFS) /* ENOBUFS: no chunk; the next read tries again */
        return;
    if (nread > 0) {
        load_on_bytes(u, buf->base, (size_t)nread);
        return;
    }
    if (u->tls && !lv_tls_conn_established(u->tls)) {
        if (u->in_flight) /* closed during the handshake */
            load_fail(u, LOAD_ERR_TLS);
        else
            load_close_tcp(u);
        return;
    }
    if (!u->in_flight) { /* the server closed an idle keep-alive connection: not an error */
        load_close_tcp(u);
        return;
    }
    if (nread == UV_EOF) {
        llhttp_errno_t err = llhttp_finish(&u->parser);
        if (u->done) {
            load_on_response(u);
            return;
        }
        (void)err;
    }
    load_fail(u, nread == UV_EOF || nread == UV_ECONNRESET ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
}

static void load_on_write(uv_write_t *w, int status)
{
    load_user_t *u = w->data;
    if (status == UV_ECANCELED || !u->in_flight)
        return;
    if (status < 0)
        load_fail(u,
                  status == UV_ECONNRESET || status == UV_EPIPE ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
}

/* TLS records to the socket (lv_tls_send_fn). */
static void load_tls_written(uv_write_t *req, int status)
{
    lv_wreq_t *w = (lv_wreq_t *)req;
    load_user_t *u = w->owner;
    lv_wreq_release(w);
    if (status == UV_ECANCELED || !u->in_flight || u->closing)
        return;
    if (status < 0)
        load_fail(u,
                  status == UV_ECONNRESET || status == UV_EPIPE ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
}

static int load_tls_send(void *owner, lv_wreq_t *w)
{
    load_user_t *u = owner;
    int rc = lv_wreq_submit(w, (uv_stream_t *)&u->tcp, load_tls_written);
    return rc < 0 ? rc : 0;
}

static void load_write(load_user_t *u)
{
    load_engine_t *e = u->eng;
    load_build_request(u);
    llhttp_init(&u->parser, HTTP_RESPONSE, &e->settings);
    u->parser.data = u;
    u->done = 0;
    u->status = 0;
    u->retry_after_ms = -1;
    u->hname_len = 0;
    u->hval_len = 0;
    u->hdr = LOAD_HDR_OTHER;
    /* Counted as sent here, when the bytes go to the kernel. */
    load_second_t *s = load_cur(e);
    switch (u->try_kind) {
    case LOAD_TRY_FIRST:
        s->c.first++;
        e->st->total.first++;
        break;
    case LOAD_TRY_F5:
        s->c.retries_f5++;
        e->st->total.retries_f5++;
        break;
    default:
        s->c.retries_obeyed++;
        e->st->total.retries_obeyed++;
        break;
    }
    uv_buf_t b = uv_buf_init(u->out, (unsigned)u->out_len);
    if (u->tls) {
        int rc = lv_tls_conn_write(u->tls, &b, 1);
        if (rc < 0)
            load_fail(u, rc == UV_ECONNRESET || rc == UV_EPIPE ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
        return;
    }
    int n = uv_try_write((uv_stream_t *)&u->tcp, &b, 1);
    if (n == (int)u->out_len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        load_fail(u, n == UV_ECONNRESET || n == UV_EPIPE ? LOAD_ERR_RESET : LOAD_ERR_OTHER);
        return;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    u->wreq.data = u;
    int rc = uv_write(&u->wreq, (uv_stream_t *)&u->tcp, &b, 1, load_on_write);
    if (rc < 0)
        load_fail(u, LOAD_ERR_OTHER);
}

static void load_on_connect(uv_connect_t *req, int status)
{
    load_user_t *u = req->data;
    load_engine_t *e = u->eng;
    if (status == UV_ECANCELED || u->closing)
        return;
    if (status < 0) {
        load_fail(u, status == UV_ECONNREFUSED ? LOAD_ERR_CONNECT_REFUSED
                     : status == UV_ECONNRESET ? LOAD_ERR_RESET
                                               : LOAD_ERR_OTHER);
        return;
    }
    u->connected = 1;
    if (e->tls_ctx) { /* each connection does its own handshake; the request waits for it */
        const load_target_t *t = &e->sc->target;
        u->tls = lv_tls_conn_new(e->tls_ctx, false, &e->pool, load_tls_send, u, NULL);
        if (!u->tls ||
            lv_tls_conn_set_peer(u->tls, t->sni[0] ? t->sni : NULL, t->sni[0] ? NULL : t->host)) {
            load_tls_drop(u);
            if (u->in_flight)
                load_fail(u, LOAD_ERR_OTHER);
            else
                load_close_tcp(u);
            return;
        }
        uv_read_start((uv_stream_t *)&u->tcp, load_alloc, load_on_read);
        if (lv_tls_conn_handshake(u->tls) < 0) /* the ClientHello */
            load_tls_failed(u);
        return;
    }
    uv_read_start((uv_stream_t *)&u->tcp, load_alloc, load_on_read);
    if (u->in_flight)
        load_write(u);
}

static void load_connect(load_user_t *u)
{
    load_engine_t *e = u->eng;
    uv_tcp_init(&e->loop, &u->tcp);
    u->tcp.data = u;
    u->tcp_open = 1;
    u->connected = 0;
    uv_tcp_nodelay(&u->tcp, 1);
    if (u->src_ip) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = u->src_ip;
        uv_tcp_bind(&u->tcp, (const struct sockaddr *)&src, 0);
    }
    u->creq.data = u;
    int rc = uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&e->addr, load_on_connect);
    if (rc < 0)
        load_fail(u, rc == UV_EMFILE || rc == UV_ENFILE ? LOAD_ERR_OVERLOADED : LOAD_ERR_OTHER);
}

/* Starts the request of the current step: the patience clock runs from here. */
static void load_send(load_user_t *u)
{
    u->in_flight = 1;
    u->sent_ns = uv_hrtime();
    u->timer_mode = LOAD_TIMER_PATIENCE;
    uv_timer_start(&u->timer, load_on_timer, (uint64_t)ceil(u->m.patience_ms), 0);
    if (u->connected)
        load_write(u);
    else if (u->closing)
        u->want_send = 1;
    else if (!u->tcp_open)
        load_connect(u);
    /* else: connecting; load_on_connect writes. */
}

static load_user_t *load_user_get(load_engine_t *e)
{
    if (!e->free_list) {
        if (e->n_chunks >= LOAD_MAX_CHUNKS)
            return NULL;
        load_user_t *chunk = calloc(LOAD_CHUNK, sizeof(*chunk));
        if (!chunk)
            return NULL;
        e->chunks[e->n_chunks++] = chunk;
        for (int i = LOAD_CHUNK - 1; i >= 0; i--) {
            load_user_t *u = &chunk[i];
            u->eng = e;
            uv_timer_init(&e->loop, &u->timer);
            u->timer.data = u;
            u->next_free = e->free_list;
            e->free_list = u;
        }
        e->allocated += LOAD_CHUNK;
    }
    load_user_t *u = e->free_list;
    e->free_list = u->next_free;
    return u;
}

static void load_arrive(load_engine_t *e)
{
    load_second_t *s = load_cur(e);
    s->c.offered++;
    e->st->total.offered++;
    load_user_t *u = e->active < e->sc->max_conns ? load_user_get(e) : NULL;
    if (!u) {
        /* No silent stall: the user is counted as offered and failed. */
        load_stats_error(e->st, load_sec_now(e), LOAD_ERR_OVERLOADED);
        load_count_user_end(e, 0);
        return;
    }
    e->active++;
    u->active = 1;
    u->id = e->users_begun++;
    u->n_cookies = 0;
    /* People have distinct addresses: against a loopback target each user connects from
     * its own 127.x.y.z (all of 127/8 is local), so per-client logic sees distinct clients;
     * with users.per_address N, N consecutive users share one (people behind a NAT). */
    u->src_ip = 0;
    if ((ntohl(e->addr.sin_addr.s_addr) >> 24) == 127)
        u->src_ip = htonl(0x7f000000u | (1u + e->user_seq++ / e->sc->users.per_address % 1000000u));
    u->want_send = 0;
    u->in_flight = 0;
    load_do(u, load_user_begin(&u->m, &e->sc->users, &e->rng));
}

/* ---- control events (fire and forget GETs) --------------------------------------------- */

struct load_ctl {
    uv_tcp_t tcp;
    load_engine_t *eng;
    uint32_t slot;
    uv_connect_t creq;
    uv_write_t wreq;
    char out[512];
    char in[128];
    size_t in_len;
    char url[LOAD_PATH_MAX];
};

static void load_ctl_closed(uv_handle_t *h)
{
    load_ctl_t *c = h->data;
    c->in[c->in_len] = '\0';
    char *eol = strpbrk(c->in, "\r\n");
    if (eol)
        *eol = '\0';
    char q[2 * sizeof c->in]; /* the answer is network bytes: quoted and escaped */
    lv_log_info("load", "event=get url=%s answer=%s", c->url, lv_log_quote_str(q, sizeof q, c->in));
    c->eng->ctls[c->slot] = NULL;
    free(c);
}

static void load_ctl_close(load_ctl_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, load_ctl_closed);
}

static void load_ctl_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    load_ctl_t *c = h->data;
    static char sink[4096];
    if (c->in_len + 1 < sizeof(c->in))
        *b = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof(c->in) - 1 - c->in_len));
    else
        *b = uv_buf_init(sink, sizeof(sink));
}

static void load_ctl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    load_ctl_t *c = s->data;
    if (n > 0 && b->base == c->in + c->in_len)
        c->in_len += (size_t)n;
    if (n < 0)
        load_ctl_close(c);
}

static void load_ctl_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void load_ctl_connected(uv_connect_t *req, int status)
{
    load_ctl_t *c = req->data;
    if (status < 0) {
        lv_log_warn("load", "event=get url=%s error=%s", c->url, uv_strerror(status));
        load_ctl_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    uv_read_start((uv_stream_t *)&c->tcp, load_ctl_alloc, load_ctl_read);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, load_ctl_written) < 0)
        load_ctl_close(c);
}

static void load_ctl_get(load_engine_t *e, const char *url, int post)
{
    load_target_t t;
    struct sockaddr_in addr;
    if (load_target_parse(&t, url) != 0 || uv_ip4_addr(t.host, t.port, &addr) != 0)
        return;
    if (t.tls) { /* control GETs go to admin ports, which speak plain HTTP */
        lv_log_warn("load", "event=get url=%s error=\"https control GETs are not supported\"", url);
        return;
    }
    uint32_t slot = 0;
    while (slot < LOAD_EVENTS_MAX && e->ctls[slot])
        slot++;
    load_ctl_t *c = slot < LOAD_EVENTS_MAX ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return;
    c->eng = e;
    c->slot = slot;
    e->ctls[slot] = c;
    snprintf(c->url, sizeof(c->url), "%s", url);
    snprintf(c->out, sizeof(c->out),
             "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             post ? "POST" : "GET", t.path, t.host_header);
    uv_tcp_init(&e->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&addr, load_ctl_connected) < 0)
        load_ctl_close(c);
}

/* ---- schedule, progress, shutdown ----------------------------------------------------------- */

static void load_progress_line(load_engine_t *e, uint32_t idx, int last)
{
    const load_second_t *s = &e->st->sec[LV_MIN(idx, e->st->cap_seconds - 1)];
    uint64_t errs = 0;
    for (int k = 0; k < LOAD_ERR_COUNT; k++)
        errs += s->c.err[k];
    double ok = load_counts_success(&s->c);
    char line[256];
    snprintf(line, sizeof(line),
             "levee-load t=%us/%.0fs offered=%llu/s req=%llu/s retries=%llu/s goodput=%llu/s "
             "ok=%s%.1f%% p99=%.1fms open=%u err=%llu",
             idx + 1, e->sc->duration_s, (unsigned long long)s->c.offered,
             (unsigned long long)(s->c.first + s->c.retries_f5 + s->c.retries_obeyed),
             (unsigned long long)(s->c.retries_f5 + s->c.retries_obeyed),
             (unsigned long long)s->c.goodput, ok < 0 ? "~" : "", ok < 0 ? 0 : ok * 100,
             s->lat_us[2] / 1000.0, e->active, (unsigned long long)errs);
    if (e->tty)
        fprintf(stderr, "\r%-130s%s", line, last ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* One line per finished second; at the end, the seconds not shown yet (the last partial). */
static void load_progress(load_engine_t *e, int final)
{
    if (!e->progress)
        return;
    uint32_t now = load_sec_now(e);
    load_stats_sec(e->st, now); /* closes the seconds before now */
    uint32_t upto = final ? now + 1 : now;
    while (e->last_progress_sec < upto && e->last_progress_sec < e->st->cap_seconds) {
        if (final && e->last_progress_sec == now)
            load_stats_close(e->st);
        load_progress_line(e, e->last_progress_sec, final && e->last_progress_sec + 1 == upto);
        e->last_progress_sec++;
    }
}

static void load_on_tick(uv_timer_t *t)
{
    load_engine_t *e = t->data;
    load_progress(e, 0);
}

static void load_shutdown(load_engine_t *e)
{
    e->stopping = 1;
    for (uint32_t i = 0; i < LOAD_EVENTS_MAX; i++)
        if (e->ctls[i] && !uv_is_closing((uv_handle_t *)&e->ctls[i]->tcp))
            uv_close((uv_handle_t *)&e->ctls[i]->tcp, load_ctl_closed);
    uv_timer_stop(&e->arrival_timer);
    uv_close((uv_handle_t *)&e->arrival_timer, NULL);
    uv_close((uv_handle_t *)&e->tick_timer, NULL);
    for (uint32_t c = 0; c < e->n_chunks; c++) {
        for (int i = 0; i < LOAD_CHUNK; i++) {
            load_user_t *u = &e->chunks[c][i];
            if (u->active) {
                /* Still waiting when the drain ended: neither success nor failure. */
                u->active = 0;
                e->active--;
                load_cur(e)->c.users_unfinished++;
                e->st->total.users_unfinished++;
            }
            if (u->tcp_open && !u->closing) {
                u->closing = 1;
                uv_read_stop((uv_stream_t *)&u->tcp);
                uv_close((uv_handle_t *)&u->tcp, NULL);
            }
            uv_close((uv_handle_t *)&u->timer, NULL);
        }
    }
}

static void load_on_arrival_tick(uv_timer_t *t)
{
    load_engine_t *e = t->data;
    double now_s = (double)(uv_hrtime() - e->start_ns) / 1e9;
    while (e->events_fired < e->sc->n_events && e->sc->events[e->events_fired].at_s <= now_s) {
        const load_event_t *ev = &e->sc->events[e->events_fired++];
        if (ev->capacity >= 0) {
            e->st->capacity = ev->capacity;
            load_cur(e)->capacity = ev->capacity;
        }
        if (ev->url[0])
            load_ctl_get(e, ev->url, ev->post);
    }
    /* Bounded per tick so that a very late loop cannot spin forever. */
    for (int n = 0; !e->arrivals_done && n < 100000 && e->next_arrival_s <= now_s; n++) {
        double lag_ms = (now_s - e->next_arrival_s) * 1000.0;
        if (lag_ms > e->st->max_lag_ms)
            e->st->max_lag_ms = lag_ms;
        load_arrive(e);
        e->next_arrival_s = load_arrivals_next(&e->arrivals, &e->rng);
        if (!(e->next_arrival_s < e->sc->duration_s))
            e->arrivals_done = 1;
    }
    if (!e->arrivals_done && now_s >= e->sc->duration_s)
        e->arrivals_done = 1;
    if (e->arrivals_done && !e->stopping &&
        (e->active == 0 || now_s >= e->sc->duration_s + e->sc->drain_s)) {
        load_progress(e, 1);
        load_shutdown(e);
    }
}

/* The client context of an https target: TLS 1.2 or later, the peer verified against the
 * system's CAs or ca_file unless insecure. NULL with the reason logged. */
static SSL_CTX *load_tls_ctx(const load_scenario_t *sc)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* every user is a new client */
    if (sc->tls_insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = sc->tls_ca[0] ? SSL_CTX_load_verify_locations(ctx, sc->tls_ca, NULL)
                               : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1)
            goto fail;
    }
    return ctx;
fail:;
    unsigned long err = ERR_peek_last_error();
    lv_log_error("load", "event=tls_setup_failed ca=%s error=\"%s\"",
                 sc->tls_ca[0] ? sc->tls_ca : "-",
                 err ? ERR_reason_error_string(err) : "out of memory");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

int load_engine_run(const load_scenario_t *sc, load_stats_t *st, int progress)
{
    load_engine_t *e = calloc(1, sizeof(*e));
    if (!e)
        return LV_ENOMEM;
    int rc = LV_OK;
    e->sc = sc;
    e->st = st;
    e->progress = progress;
    e->tty = isatty(STDERR_FILENO);
    load_rng_seed(&e->rng, sc->seed);
    load_arrivals_init(&e->arrivals, &sc->profile);
    llhttp_settings_init(&e->settings);
    e->settings.on_header_field = load_on_hfield;
    e->settings.on_header_field_complete = load_on_hfield_done;
    e->settings.on_header_value = load_on_hvalue;
    e->settings.on_header_value_complete = load_on_hvalue_done;
    e->settings.on_message_complete = load_on_msg_done;
    if (sc->target.tls && !(e->tls_ctx = load_tls_ctx(sc))) {
        free(e);
        return LV_EIO;
    }
    lv_buf_pool_init(&e->pool, 1024);
    if (uv_ip4_addr(sc->target.host, sc->target.port, &e->addr) != 0 ||
        uv_loop_init(&e->loop) != 0) {
        lv_buf_pool_fini(&e->pool);
        SSL_CTX_free(e->tls_ctx);
        free(e);
        return LV_EIO;
    }
    uv_timer_init(&e->loop, &e->arrival_timer);
    uv_timer_init(&e->loop, &e->tick_timer);
    e->arrival_timer.data = e;
    e->tick_timer.data = e;
    e->start_ns = uv_hrtime();
    e->next_arrival_s = load_arrivals_next(&e->arrivals, &e->rng);
    e->arrivals_done = !(e->next_arrival_s < sc->duration_s);
    uv_timer_start(&e->arrival_timer, load_on_arrival_tick, 0, 1);
    uv_timer_start(&e->tick_timer, load_on_tick, 1000, 1000);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    load_stats_close(st);
    if (uv_loop_close(&e->loop) != 0) {
        lv_log_warn("load", "event=loop_close_busy");
        rc = LV_EIO;
    }
    for (uint32_t c = 0; c < e->n_chunks; c++) {
        for (int i = 0; i < LOAD_CHUNK; i++)
            load_tls_drop(&e->chunks[c][i]);
        free(e->chunks[c]);
    }
    lv_buf_pool_fini(&e->pool);
    SSL_CTX_free(e->tls_ctx);
    free(e);
    return rc;
}
