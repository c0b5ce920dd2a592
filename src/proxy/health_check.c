/* proxy/health_check.c: active health checks (see health_check.h). One prober per upstream
 * host: a timer, then a new TCP connection, "GET <path>", and the status line read back; 2xx and
 * 3xx pass, anything else (refused, timed out, reset, another status) fails. Main thread only;
 * owns its probers, never touches a worker's loop. */
#include "proxy/health_check.h"

#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/log.h"

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
    bool tcp_open;  /* tcp initialised and not yet closed */
    bool in_check;  /* a check is running (timer is its timeout) */
    int32_t streak; /* successes (> 0) or failures (< 0) in a row */
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
};

static void schedule(lv_prober_t *p, uint64_t delay_ms);

static void handle_closed(uv_handle_t *h)
{
    lv_prober_t *p = h->data;
    lv_health_checks_t *hc = p->owner;
    if (h == (uv_handle_t *)&p->tcp)
        p->tcp_open = false;
    if (--hc->open_handles == 0 && hc->stopping) {
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

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lv_prober_t *p = s->data;
    if (!p->in_check)
        return;
    if (nread < 0) {
        int st = status_of(p->resp, p->got);
        check_done(p, st >= 200 && st < 400, nread == UV_EOF ? "closed" : uv_err_name((int)nread));
        return;
    }
    p->got += (uint32_t)nread;
    int st = status_of(p->resp, p->got);
    if (st < 0)
        return;
    char why[32];
    snprintf(why, sizeof why, "status %d", st);
    check_done(p, st >= 200 && st < 400, st ? why : "not HTTP");
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
        if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
            uv_close((uv_handle_t *)&p->tcp, handle_closed);
        uv_close((uv_handle_t *)&p->timer, handle_closed);
    }
}
