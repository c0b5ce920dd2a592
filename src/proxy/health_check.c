/* proxy/health_check.c: active health checks (see health_check.h). One prober per upstream
 * host: a timer, then a new TCP connection (with services[].tls, a TLS handshake on the
 * service's client context, verified like requests), "GET <path>", and the status line read
 * back; 2xx and 3xx pass, anything else (refused, timed out, reset, a failed handshake or
 * verification, another status) fails. Main thread only; owns its probers and their SSL
 * objects and buffers, never touches a worker's loop. */
#include "proxy/health_check.h"

#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/log.h"
#include "tls/tls.h"

#define LV_HC_READ_BYTES 512u

typedef struct lv_prober {
    lv_health_checks_t *owner;
    const lv_service_conf_t *svc;
    const lv_addr_t *addr;
    lv_host_health_t *health;
    uv_timer_t timer;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    SSL_CTX *tls_ctx;         /* the service's client context; NULL: plaintext */
    lv_tls_conn_t *tls;       /* the running check's TLS connection */
    SSL_SESSION *tls_session; /* the last session the host gave, resumed by the next check */
    lv_chunk_t *rchunk;       /* ciphertext being read */
    bool tcp_open;            /* tcp initialised and not yet closed */
    bool in_check;            /* a check is running (timer is its timeout) */
    int32_t streak;           /* successes (> 0) or failures (< 0) in a row */
    uint32_t got;
    char req[1400];
    char resp[LV_HC_READ_BYTES];
} lv_prober_t;

struct lv_health_checks {
    lv_config_t *cfg;
    lv_prober_t *probers;
    uint32_t n;
    uint32_t open_handles;
    bool stopping;
    lv_buf_pool_t bufs; /* the TLS probers' records */
};

static void schedule(lv_prober_t *p, uint64_t delay_ms);

static void handle_closed(uv_handle_t *h)
{
    lv_prober_t *p = h->data;
    lv_health_checks_t *hc = p->owner;
    if (h == (uv_handle_t *)&p->tcp)
        p->tcp_open = false;
    if (--hc->open_handles == 0 && hc->stopping) {
        for (uint32_t i = 0; i < hc->n; i++)
            lv_tls_session_free(hc->probers[i].tls_session);
        lv_buf_pool_fini(&hc->bufs);
        lv_config_unref(hc->cfg);
        free(hc->probers);
        free(hc);
    }
}

/* Ends the running check with its verdict; the next one starts an interval later. */
static void check_done(lv_prober_t *p, bool ok, const char *why)
{
    if (!p->in_check)
        return;
    p->in_check = false;
    if (p->tcp_open) {
        uv_close((uv_handle_t *)&p->tcp, handle_closed);
        /* tcp_open stays true until the close callback: the handle is not reused before */
    }
    lv_tls_conn_free(p->tls); /* writes in flight keep their own chunks */
    p->tls = NULL;
    const lv_health_check_conf_t *c = &p->svc->health_check;
    int changed = lv_host_note_check(p->health, ok, &p->streak, c->healthy, c->unhealthy);
    if (changed < 0)
        lv_log_warn("health", "msg=\"host down\" service=%s host=%s reason=\"%s\" failures=%d",
                    p->svc->name, p->addr->text, why, -p->streak);
    else if (changed > 0)
        lv_log_info("health", "msg=\"host up\" service=%s host=%s successes=%d", p->svc->name,
                    p->addr->text, p->streak);
    else if (!ok)
        lv_log_debug("health", "msg=\"check failed\" service=%s host=%s reason=\"%s\"",
                     p->svc->name, p->addr->text, why);
    if (!p->owner->stopping)
        schedule(p, c->interval_ms);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lv_prober_t *p = h->data;
    if (p->tls) {
        if (!p->rchunk)
            p->rchunk = lv_chunk_acquire(&p->owner->bufs, LV_CHUNK_BYTES);
        *buf = p->rchunk ? uv_buf_init(p->rchunk->data, p->rchunk->cap) : uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(p->resp + p->got, (unsigned)(sizeof p->resp - 1 - p->got));
}

/* "HTTP/1.x NNN ": the status once the first line is in, or -1 while it is not. */
static int status_of(const char *s, uint32_t len)
{
    if (!memchr(s, '\n', len))
        return len >= sizeof(((lv_prober_t *)0)->resp) - 1 ? 0 : -1;
    if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
        return 0;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        st = st * 10 + (s[i] - '0');
    }
    return st;
}

/* The verdict once the status line is in (or the response buffer is full). */
static bool judge(lv_prober_t *p)
{
    int st = status_of(p->resp, p->got);
    if (st < 0)
        return false;
    char why[32];
    snprintf(why, sizeof why, "status %d", st);
    check_done(p, st >= 200 && st < 400, st ? why : "not HTTP");
    return true;
}

static void on_tls_write(uv_write_t *wr, int status)
{
    lv_wreq_t *w = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_prober_t *p = w->owner;
    lv_wreq_release(w);
    if (status < 0 && status != UV_ECANCELED)
        check_done(p, false, uv_err_name(status));
}

static int tls_send(void *owner, lv_wreq_t *w)
{
    lv_prober_t *p = owner;
    w->owner = p;
    int rc = lv_wreq_submit(w, (uv_stream_t *)&p->tcp, on_tls_write);
    return rc < 0 ? rc : 0;
}

/* Runs the handshake on what arrived, then sends the request once it is done. false: the check
 * ended (failed). */
static bool tls_handshake(lv_prober_t *p)
{
    int rc = lv_tls_conn_handshake(p->tls);
    if (rc != 0 && p->health) {
        bool verify = rc < 0 && lv_tls_conn_failure(p->tls) == LV_TLS_FAIL_VERIFY;
        lv_counter_add(&p->health->check_tls[rc > 0   ? LV_UP_TLS_OK
                                             : verify ? LV_UP_TLS_VERIFY_FAILED
                                                      : LV_UP_TLS_FAILED],
                       1);
    }
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof why, "TLS handshake: %s", lv_tls_conn_error(p->tls));
        check_done(p, false, why);
        return false;
    }
    if (rc == 0)
        return true;
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    int wrc = lv_tls_conn_write(p->tls, &b, 1);
    if (wrc < 0) {
        /* A refused record (LV_EIO) or no memory, else the socket's error. */
        char why[64];
        snprintf(why, sizeof why, "TLS: %s",
                 wrc == LV_EIO || wrc == LV_ENOMEM ? "write failed" : uv_err_name(wrc));
        check_done(p, false, why);
        return false;
    }
    return true;
}

static void on_tls_read(lv_prober_t *p, ssize_t nread)
{
    lv_chunk_t *ch = p->rchunk;
    p->rchunk = NULL;
    if (nread > 0)
        lv_tls_conn_input(p->tls, ch, ch->data, (size_t)nread);
    if (ch)
        lv_chunk_release(ch);
    if (nread < 0) {
        if (!lv_tls_conn_established(p->tls)) {
            if (p->health)
                lv_counter_add(&p->health->check_tls[LV_UP_TLS_FAILED], 1);
            char why[200];
            snprintf(why, sizeof why, "TLS handshake: %s",
                     nread == UV_EOF ? "closed" : uv_err_name((int)nread));
            check_done(p, false, why);
            return;
        }
        int st = status_of(p->resp, p->got);
        check_done(p, st >= 200 && st < 400, nread == UV_EOF ? "closed" : uv_err_name((int)nread));
        return;
    }
    if (nread == 0 && !lv_tls_conn_has_input(p->tls))
        return;
    if (!lv_tls_conn_established(p->tls) && (!tls_handshake(p) || !lv_tls_conn_established(p->tls)))
        return;
    for (;;) {
        ssize_t n = lv_tls_conn_read(p->tls, p->resp + p->got, sizeof p->resp - 1 - p->got);
        if (n == 0)
            return;
        if (n == LV_TLS_EOF) {
            int st = status_of(p->resp, p->got);
            check_done(p, st >= 200 && st < 400, "closed");
            return;
        }
        if (n < 0) {
            char why[200];
            snprintf(why, sizeof why, "TLS: %s", lv_tls_conn_error(p->tls));
            check_done(p, false, why);
            return;
        }
        p->got += (uint32_t)n;
        if (judge(p))
            return;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lv_prober_t *p = s->data;
    if (!p->in_check || (p->tls_ctx && !p->tls)) {
        if (p->rchunk) {
            lv_chunk_release(p->rchunk);
            p->rchunk = NULL;
        }
        return;
    }
    if (p->tls) {
        on_tls_read(p, nread);
        return;
    }
    if (nread < 0) {
        int st = status_of(p->resp, p->got);
        check_done(p, st >= 200 && st < 400, nread == UV_EOF ? "closed" : uv_err_name((int)nread));
        return;
    }
    p->got += (uint32_t)nread;
    judge(p);
}

static void on_write(uv_write_t *w, int status)
{
    lv_prober_t *p = w->data;
    if (status < 0 && status != UV_ECANCELED)
        check_done(p, false, uv_err_name(status));
}

static void on_connect(uv_connect_t *cr, int status)
{
    lv_prober_t *p = cr->data;
    if (status == UV_ECANCELED || !p->in_check)
        return;
    if (status < 0) {
        check_done(p, false, uv_err_name(status));
        return;
    }
    if (p->tls) {
        /* The ClientHello; the request follows the handshake (tls_handshake). */
        if (uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) < 0)
            check_done(p, false, "read failed");
        else
            tls_handshake(p);
        return;
    }
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    if (uv_write(&p->write_req, (uv_stream_t *)&p->tcp, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) < 0)
        check_done(p, false, "write failed");
}

static void on_timer(uv_timer_t *t)
{
    lv_prober_t *p = t->data;
    if (p->owner->stopping)
        return;
    if (p->in_check) {
        check_done(p, false, "timeout");
        return;
    }
    if (p->tcp_open) { /* the last check's socket is still closing: try a little later */
        schedule(p, 10);
        return;
    }
    p->got = 0;
    p->in_check = true;
    uv_loop_t *loop = t->loop;
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    p->tcp_open = true;
    p->owner->open_handles++;
    uv_timer_start(&p->timer, on_timer, p->svc->health_check.timeout_ms, 0);
    if (p->tls_ctx) {
        p->tls = lv_tls_conn_new(p->tls_ctx, false, &p->owner->bufs, tls_send, p, NULL);
        if (!p->tls) {
            check_done(p, false, "out of memory");
            return;
        }
        lv_tls_conn_keep_sessions(p->tls, &p->tls_session);
        /* Verified like requests: the configured name, else the upstream's own address. */
        if (lv_tls_conn_set_peer_addr(p->tls, p->svc->tls.server_name, p->addr->text) < 0) {
            check_done(p, false, "TLS: bad peer name");
            return;
        }
    }
    int rc =
        uv_tcp_connect(&p->connect_req, &p->tcp, (const struct sockaddr *)&p->addr->sa, on_connect);
    if (rc < 0)
        check_done(p, false, uv_err_name(rc));
}

static void schedule(lv_prober_t *p, uint64_t delay_ms)
{
    uv_timer_start(&p->timer, on_timer, delay_ms, 0);
}

lv_health_checks_t *lv_health_checks_start(uv_loop_t *loop, lv_config_t *cfg, lv_hosts_t *hosts)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < cfg->n_services; i++)
        if (cfg->services[i].health_check.path)
            n += cfg->services[i].n_upstreams;
    if (!n || !hosts)
        return NULL;
    lv_health_checks_t *hc = calloc(1, sizeof *hc);
    lv_prober_t *probers = calloc(n, sizeof *probers);
    if (!hc || !probers) {
        free(hc);
        free(probers);
        lv_log_error("health", "msg=\"out of memory: no active health checks\"");
        return NULL;
    }
    hc->cfg = lv_config_ref(cfg);
    hc->probers = probers;
    lv_buf_pool_init(&hc->bufs, 8);
    uint32_t k = 0;
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        const lv_service_conf_t *svc = &cfg->services[i];
        if (!svc->health_check.path)
            continue;
        for (uint32_t h = 0; h < svc->n_upstreams; h++) {
            lv_prober_t *p = &probers[k];
            p->owner = hc;
            p->svc = svc;
            p->addr = &svc->upstreams[h];
            p->health = lv_hosts_get(hosts, svc->name, p->addr->text);
            if (!p->health)
                continue; /* the table is full: this host goes unchecked */
            p->connect_req.data = p->write_req.data = p;
            /* The context is the config's (held by hc->cfg), shared with the workers; each
             * check makes its own SSL on it. */
            p->tls_ctx = svc->tls.enabled ? lv_tls_set_upstream(cfg->tls, i) : NULL;
            snprintf(p->req, sizeof p->req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: levee-health-check\r\n"
                     "Connection: close\r\n\r\n",
                     svc->health_check.path,
                     svc->health_check.host ? svc->health_check.host : p->addr->text);
            uv_timer_init(loop, &p->timer);
            p->timer.data = p;
            hc->open_handles++;
            /* Spread the first checks over the interval's first tenth. */
            schedule(p, (uint64_t)k * svc->health_check.interval_ms / 10 / n);
            k++;
        }
    }
    hc->n = k;
    if (!hc->open_handles) {
        lv_buf_pool_fini(&hc->bufs);
        lv_config_unref(hc->cfg);
        free(probers);
        free(hc);
        return NULL;
    }
    return hc;
}

void lv_health_checks_stop(lv_health_checks_t *hc)
{
    if (!hc)
        return;
    hc->stopping = true;
    for (uint32_t i = 0; i < hc->n; i++) {
        lv_prober_t *p = &hc->probers[i];
        p->in_check = false;
        lv_tls_conn_free(p->tls);
        p->tls = NULL;
        if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
            uv_close((uv_handle_t *)&p->tcp, handle_closed);
        uv_close((uv_handle_t *)&p->timer, handle_closed);
    }
}
