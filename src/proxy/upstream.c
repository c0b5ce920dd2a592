/* proxy/upstream.c: upstream pools per service, host balancing, keep-alive connections and
 * their timers. Owns lv_uconn_t; runs on its worker's loop only. Never parses client input. */
#include "proxy/proxy.h"

#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define LV_UPSTREAM_HEAD_BYTES 65536u

int lv__pools_init(lv_gen_t *g)
{
    const lv_config_t *cfg = g->cfg;
    g->pools = calloc(cfg->n_services ? cfg->n_services : 1, sizeof *g->pools);
    if (!g->pools)
        return LV_ENOMEM;
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        lv_pool_t *p = &g->pools[i];
        const lv_service_conf_t *svc = &cfg->services[i];
        p->gen = g;
        p->svc = svc;
        p->metrics = &g->worker->metrics->services[svc->metrics_slot];
        p->n_hosts = svc->n_upstreams;
        p->hosts = calloc(p->n_hosts, sizeof *p->hosts);
        if (!p->hosts)
            return LV_ENOMEM;
        for (uint32_t h = 0; h < p->n_hosts; h++) {
            p->hosts[h].addr = &svc->upstreams[h];
            lv_list_init(&p->hosts[h].idle);
        }
        /* Spread workers over hosts so that round robin does not start in lockstep. */
        p->rr_next = g->worker->id;
    }
    return 0;
}

/* Closes the idle connections of a generation; busy ones close when their request ends. */
void lv__pools_fini(lv_gen_t *g)
{
    if (!g->pools)
        return;
    for (uint32_t i = 0; i < g->cfg->n_services; i++) {
        lv_pool_t *p = &g->pools[i];
        for (uint32_t h = 0; h < p->n_hosts && p->hosts; h++) {
            lv_host_t *host = &p->hosts[h];
            while (!lv_list_empty(&host->idle)) {
                lv_uconn_t *u = LV_CONTAINER_OF(host->idle.next, lv_uconn_t, idle_link);
                lv__uconn_close(u);
            }
        }
    }
}

lv_host_t *lv__pool_pick(lv_pool_t *p, const lv_host_t *avoid)
{
    uint32_t n = p->n_hosts;
    if (n == 1)
        return &p->hosts[0];
    uint32_t start = p->rr_next++;
    if (p->svc->balance == LV_BALANCE_ROUND_ROBIN) {
        lv_host_t *h = &p->hosts[start % n];
        if (h == avoid)
            h = &p->hosts[(start + 1) % n];
        return h;
    }
    /* Least outstanding requests; ties go to the next host in rotation. */
    lv_host_t *best = NULL;
    for (uint32_t i = 0; i < n; i++) {
        lv_host_t *h = &p->hosts[(start + i) % n];
        if (h == avoid)
            continue;
        if (!best || h->outstanding < best->outstanding)
            best = h;
    }
    return best ? best : &p->hosts[start % n];
}

static void uconn_handle_closed(uv_handle_t *h)
{
    lv_uconn_t *u = h->data;
    if (--u->closing_handles)
        return;
    if (u->rchunk)
        lv_chunk_release(u->rchunk);
    lv_http_parser_fini(&u->parser);
    lv_gen_t *g = u->pool->gen;
    g->n_uconns--;
    free(u);
    lv__gen_unref(g);
}

void lv__uconn_close(lv_uconn_t *u)
{
    if (u->state == LV_UCONN_CLOSING)
        return;
    if (u->state == LV_UCONN_IDLE) {
        lv_list_remove(&u->idle_link);
        u->host->n_idle--;
    }
    u->state = LV_UCONN_CLOSING;
    u->req = NULL;
    if (u->fill)
        lv__cache_fill_abort(u); /* a body cut short is never stored */
    if (u->orphan_guard)
        lv__admit_orphan_done(u, false, false); /* never hold a slot past the connection */
    u->closing_handles = 2;
    uv_close((uv_handle_t *)&u->timer, uconn_handle_closed);
    uv_close((uv_handle_t *)&u->tcp, uconn_handle_closed);
}

void lv__uconn_fail(lv_uconn_t *u, int status, bool connect_failed)
{
    lv_req_t *r = u->req;
    u->broken = true;
    if (r)
        lv__forward_upstream_failed(r, status, connect_failed);
    else if (u->orphan_guard)
        lv__admit_orphan_done(u, status != 504, status == 504);
    lv__uconn_close(u);
}

static void uconn_timeout(uv_timer_t *t)
{
    lv_uconn_t *u = t->data;
    if (!lv_deadline_expired(&u->deadline, &u->timer, uconn_timeout))
        return;
    switch (u->state) {
    case LV_UCONN_CONNECTING:
        lv_counter_add(&u->pool->metrics->upstream_connect_errors, 1);
        if (u->broken) { /* uv_tcp_connect refused at once */
            lv__uconn_fail(u, 502, true);
            break;
        }
        lv_counter_add(&u->pool->metrics->upstream_timeouts, 1);
        lv__uconn_fail(u, 504, true);
        break;
    case LV_UCONN_BUSY:
        lv_counter_add(&u->pool->metrics->upstream_timeouts, 1);
        lv__uconn_fail(u, 504, false);
        break;
    case LV_UCONN_IDLE:
        lv__uconn_close(u);
        break;
    case LV_UCONN_CLOSING:
        break;
    }
}

void lv__uconn_arm_read_timeout(lv_uconn_t *u)
{
    lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, u->pool->svc->read_timeout_ms);
}

/* Response parser callbacks: relay to the request in flight. */
/* Without a request, a response is either an orphan's (the client left while the upstream
 * worked: once the upstream has answered, its work is done, the slot is freed and the rest is
 * not read) or one nobody asked for (an error). */
static int up_on_head(void *owner, lv_http_head_t *head)
{
    lv_uconn_t *u = owner;
    if (u->fill && head->status >= 200) {
        int rc = lv__cache_fill_head(u, head); /* may answer u->req from the store instead */
        if (rc)
            return rc;
    }
    if (u->req)
        return lv__forward_resp_head(u->req, head);
    if (u->orphan && head->status >= 200)
        lv__admit_orphan_done(u, false, false);
    return u->orphan || u->fill ? 0 : 502;
}

static int up_on_body(void *owner, const char *p, size_t len)
{
    lv_uconn_t *u = owner;
    if (u->fill)
        lv__cache_fill_body(u, p, len);
    if (u->req)
        return lv__forward_resp_body(u->req, u->rchunk, p, len);
    return u->orphan || u->fill ? 0 : 502;
}

static int up_on_done(void *owner)
{
    lv_uconn_t *u = owner;
    lv_req_t *r = u->req;
    bool filling = u->fill != NULL;
    if (filling)
        lv__cache_fill_done(u); /* without a request, it gives u back to the pool */
    if (r)
        return lv__forward_resp_done(r);
    return u->orphan || filling ? 0 : 502;
}

static const lv_http_parser_cbs_t up_cbs = {up_on_head, up_on_body, up_on_done};

static void uconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lv_uconn_t *u = h->data;
    LV_DASSERT(!u->rchunk);
    u->rchunk = lv_chunk_acquire(&u->pool->gen->worker->bufs, LV_CHUNK_BYTES);
    if (!u->rchunk) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(u->rchunk->data, u->rchunk->cap);
}

static void uconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lv_uconn_t *u = s->data;
    if (nread > 0 && (u->req || u->orphan || u->fill)) {
        lv_req_t *r = u->req;
        u->join_key = 0; /* an answer has begun: too late for another request to take it */
        if (r)
            r->resp_any = true;
        lv__uconn_arm_read_timeout(u);
        size_t consumed = 0;
        lv_http_result_t res =
            lv_http_parser_feed(&u->parser, u->rchunk->data, (size_t)nread, &consumed);
        /* The request may have finished inside the feed: u->req tells. */
        if (r && u->req == r)
            lv__forward_flush_client(r);
        /* An orphan whose upstream has answered: nobody wants the rest. */
        if (u->orphan && !u->orphan_guard && !u->fill && u->state != LV_UCONN_CLOSING) {
            lv__uconn_close(u);
            res = LV_HTTP_NEED_MORE;
        }
        if (res == LV_HTTP_ERROR) {
            if (u->state != LV_UCONN_CLOSING) {
                lv_counter_add(&u->pool->metrics->upstream_errors, 1);
                lv__uconn_fail(u, 502, false);
            }
        } else if (res == LV_HTTP_PAUSED) {
            /* One response ended. Extra bytes after it are a protocol error: never reuse. */
            if (consumed < (size_t)nread)
                u->broken = true;
            lv_http_parser_resume(&u->parser);
            if (u->broken && u->state == LV_UCONN_IDLE)
                lv__uconn_close(u);
        }
    } else if (nread > 0) {
        /* Bytes on an idle connection: the upstream is confused; drop it. */
        lv__uconn_close(u);
    } else if (nread < 0) {
        if (u->req && nread == UV_EOF) {
            lv_req_t *r = u->req;
            /* A response delimited by close ends here; anything else was cut short. */
            if (lv_http_parser_finish(&u->parser) == LV_HTTP_NEED_MORE && r->resp_started) {
                u->broken = true;
                lv__forward_resp_done(r); /* closes u, since it is broken */
            } else {
                lv_counter_add(&u->pool->metrics->upstream_errors, 1);
                lv__uconn_fail(u, 502, false);
            }
        } else if (u->req || u->orphan_guard) {
            if (u->req)
                lv_counter_add(&u->pool->metrics->upstream_errors, 1);
            lv__uconn_fail(u, 502, false);
        } else {
            lv__uconn_close(u);
        }
    }
    if (u->rchunk) {
        lv_chunk_release(u->rchunk);
        u->rchunk = NULL;
    }
}

void lv__uconn_start_read(lv_uconn_t *u)
{
    if (!u->reading && u->state != LV_UCONN_CLOSING) {
        u->reading = true;
        uv_read_start((uv_stream_t *)&u->tcp, uconn_alloc, uconn_read);
    }
}

static void uconn_connected(uv_connect_t *creq, int status)
{
    lv_uconn_t *u = creq->data;
    if (status == UV_ECANCELED || u->state == LV_UCONN_CLOSING)
        return;
    if (status < 0) {
        lv_counter_add(&u->pool->metrics->upstream_connect_errors, 1);
        lv_worker_t *w = u->pool->gen->worker;
        if (lv_log_limit_allow(&w->warn_limit, lv_clock_now_ms(), 5))
            lv_log_warn("upstream", "msg=\"connect failed\" service=%s host=%s error=%s",
                        u->pool->svc->name, u->host->addr->text, uv_err_name(status));
        lv__uconn_fail(u, 502, true);
        return;
    }
    u->state = LV_UCONN_BUSY;
    lv__uconn_start_read(u);
    lv__uconn_arm_read_timeout(u); /* writes queued while connecting are flushed by libuv */
}

lv_uconn_t *lv__uconn_get(lv_pool_t *p, lv_host_t *h, bool *reused)
{
    if (!lv_list_empty(&h->idle)) {
        lv_uconn_t *u = LV_CONTAINER_OF(h->idle.next, lv_uconn_t, idle_link);
        lv_list_remove(&u->idle_link);
        h->n_idle--;
        u->state = LV_UCONN_BUSY;
        u->requests++;
        *reused = true;
        lv_counter_add(&p->metrics->upstream_reuses, 1);
        return u;
    }
    *reused = false;
    lv_worker_t *w = p->gen->worker;
    lv_uconn_t *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->pool = p;
    u->host = h;
    u->requests = 1;
    lv_list_init(&u->idle_link);
    uv_tcp_init(&w->loop, &u->tcp);
    uv_timer_init(&w->loop, &u->timer);
    u->tcp.data = u->timer.data = u->connect_req.data = u;
    const lv_http_limits_t lim = {LV_UPSTREAM_HEAD_BYTES, LV_UPSTREAM_HEAD_BYTES, 0};
    lv_http_parser_init(&u->parser, LV_HTTP_RESPONSE, &lim, &up_cbs, u);
    lv__gen_ref(p->gen);
    p->gen->n_uconns++;
    u->state = LV_UCONN_CONNECTING;
    lv_counter_add(&p->metrics->upstream_connects, 1);
    uv_tcp_nodelay(&u->tcp, 1);
    int rc = uv_tcp_connect(&u->connect_req, &u->tcp, (const struct sockaddr *)&h->addr->sa,
                            uconn_connected);
    if (rc < 0) {
        if (lv_log_limit_allow(&w->warn_limit, lv_clock_now_ms(), 5))
            lv_log_warn("upstream", "msg=\"connect failed\" service=%s host=%s error=%s",
                        p->svc->name, h->addr->text, uv_err_name(rc));
        /* Report through the normal path on the next turn: the caller attaches the request. */
        u->broken = true;
        lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, 0);
        return u;
    }
    lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, p->svc->connect_timeout_ms);
    return u;
}

void lv__uconn_release(lv_uconn_t *u)
{
    lv_pool_t *p = u->pool;
    lv_worker_t *w = p->gen->worker;
    u->req = NULL;
    if (u->broken || u->state != LV_UCONN_BUSY || p->gen != w->gen || w->draining ||
        u->host->n_idle >= p->svc->keepalive) {
        lv__uconn_close(u);
        return;
    }
    u->state = LV_UCONN_IDLE;
    lv_http_parser_release_head(&u->parser);
    lv_list_push(&u->host->idle, &u->idle_link);
    u->host->n_idle++;
    /* Keep reading: an upstream that closes an idle connection is noticed at once. */
    lv__uconn_start_read(u);
    lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, p->svc->keepalive_idle_ms);
}
