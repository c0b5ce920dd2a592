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
            p->hosts[h].health =
                g->worker->server->hosts
                    ? lv_hosts_get(g->worker->server->hosts, svc->name, svc->upstreams[h].text)
                    : NULL;
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

static bool host_usable(const lv_host_t *h, uint64_t now_ms)
{
    return !h->health || lv_host_usable(h->health, now_ms);
}

void lv__host_outstanding(lv_host_t *h, int delta)
{
    h->outstanding += (uint32_t)delta;
    if (h->health)
        atomic_fetch_add_explicit(&h->health->outstanding, (unsigned)delta, memory_order_relaxed);
}

/* What least_outstanding compares: every worker's requests to the host, since a per-worker count
 * sends two workers' requests to one idle-looking host while the other host sits idle (with
 * one-worker hosts and a concurrency limit of two, half the capacity). */
static uint32_t host_load(const lv_host_t *h)
{
    return h->health ? atomic_load_explicit(&h->health->outstanding, memory_order_relaxed)
                     : h->outstanding;
}

/* Round robin or least outstanding among the hosts in rotation (not ejected, not down by health
 * checks), never `avoid` when another host exists. With every host out of rotation, all of them
 * take requests again (Envoy's panic mode): a guess beats a certain 502. */
lv_host_t *lv__pool_pick(lv_pool_t *p, const lv_host_t *avoid)
{
    uint32_t n = p->n_hosts;
    if (n == 1)
        return &p->hosts[0];
    uint32_t start = p->rr_next++;
    uint64_t now_ms = lv_clock_now_ms();
    bool lor = p->svc->balance == LV_BALANCE_LEAST_OUTSTANDING;
    for (int pass = 0; pass < 2; pass++) {
        lv_host_t *best = NULL;
        for (uint32_t i = 0; i < n; i++) {
            lv_host_t *h = &p->hosts[(start + i) % n];
            if (h == avoid || (pass == 0 && !host_usable(h, now_ms)))
                continue;
            if (!lor)
                return h;
            if (!best || host_load(h) < host_load(best))
                best = h;
        }
        if (best)
            return best;
    }
    return &p->hosts[start % n];
}

/* One more host may leave the rotation: never the last one in it. */
static bool pool_may_eject(const lv_pool_t *p, uint64_t now_ms)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < p->n_hosts; i++)
        out += !host_usable(&p->hosts[i], now_ms);
    return out + 1 < p->n_hosts;
}

/* A failure counted against the host; an ejection is logged once (the table's compare-and-swap
 * picks one worker). */
static void host_failed(lv_pool_t *p, lv_host_t *h, lv_upfail_t kind)
{
    if (!h->health)
        return;
    uint64_t now_ms = lv_clock_now_ms();
    uint32_t ms =
        lv_host_note_failure(h->health, kind, &p->svc->outlier, pool_may_eject(p, now_ms), now_ms);
    if (ms)
        lv_log_warn("upstream",
                    "msg=\"host ejected\" service=%s host=%s kind=%s ejection_ms=%u ejections=%u",
                    p->svc->name, h->addr->text, lv_upfail_names[kind], ms,
                    atomic_load(&h->health->ejections_in_row));
}

/* A final response head from the host: 5xx counts as a failure, anything else as a success,
 * but 503: a host that sheds load is busy, not broken, and ejecting it under overload would
 * pile its share onto the others (a cascade). */
static void host_answered(lv_pool_t *p, lv_host_t *h, int status)
{
    if (!h->health || status == 503)
        return;
    if (status >= 500) {
        host_failed(p, h, LV_UPFAIL_STATUS_5XX);
        return;
    }
    if (lv_host_note_success(h->health))
        lv_log_info("upstream", "msg=\"host back in rotation\" service=%s host=%s", p->svc->name,
                    h->addr->text);
}

static void uconn_handle_closed(uv_handle_t *h)
{
    lv_uconn_t *u = h->data;
    if (--u->closing_handles)
        return;
    if (u->rchunk)
        lv_chunk_release(u->rchunk);
    lv__uconn_tls_free(u);
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
    if (u->tunnel) {
        lv_tunnel_t *t = u->tunnel;
        u->tunnel = NULL;
        lv__tunnel_upstream_closed(t);
    }
    lv__join_forget(u);
    if (u->fill)
        lv__cache_fill_abort(u); /* a body cut short is never stored */
    if (u->orphan_guard)
        lv__guard_orphan_done(u, false, false); /* never hold a slot past the connection */
    u->closing_handles = 2;
    uv_close((uv_handle_t *)&u->timer, uconn_handle_closed);
    uv_close((uv_handle_t *)&u->tcp, uconn_handle_closed);
}

void lv__uconn_fail(lv_uconn_t *u, int status, bool connect_failed)
{
    lv_req_t *r = u->req;
    u->broken = true;
    if (r)
        lv__relay_upstream_failed(r, status, connect_failed);
    else if (u->orphan_guard)
        lv__guard_orphan_done(u, status != 504, status == 504);
    lv__uconn_close(u);
}

void lv__uconn_fail_kind(lv_uconn_t *u, int status, lv_upfail_t kind, const char *detail)
{
    if (u->state == LV_UCONN_CLOSING)
        return;
    lv_pool_t *p = u->pool;
    lv_worker_t *w = p->gen->worker;
    lv_req_t *r = u->req;
    bool connect =
        kind == LV_UPFAIL_CONNECT || kind == LV_UPFAIL_CONNECT_TIMEOUT || kind == LV_UPFAIL_TLS;
    if (connect)
        lv_counter_add(&p->metrics->upstream_connect_errors, 1);
    else if (kind != LV_UPFAIL_READ_TIMEOUT)
        lv_counter_add(&p->metrics->upstream_errors, 1);
    if (kind == LV_UPFAIL_CONNECT_TIMEOUT || kind == LV_UPFAIL_READ_TIMEOUT)
        lv_counter_add(&p->metrics->upstream_timeouts, 1);
    /* A kept-alive connection the upstream closed just as it was reused is a race, not the
     * host's fault: it is resent on a fresh connection (stage_relay.c) and logged at debug only. */
    bool stale_reuse = kind == LV_UPFAIL_CLOSED && u->requests > 1;
    if (!stale_reuse)
        host_failed(p, u->host, kind);
    /* The request id may be the client's own X-Request-Id: quoted like any value from outside. */
    lv_str_t rid = r ? (lv_str_t){r->request_id, r->request_id_len} : LV_STR("-");
    char qrid[sizeof r->request_id * 6 + 3], qdetail[256];
    if (stale_reuse)
        lv_log_debug("upstream", "msg=\"kept-alive connection closed\" service=%s host=%s req=%s",
                     p->svc->name, u->host->addr->text,
                     lv_log_quote(qrid, sizeof qrid, rid.p, rid.len));
    else if (lv_log_limit_allow(&w->upstream_log_limit, lv_clock_now_ms(), 5)) {
        /* suppressed: failures of this worker not logged since its last line (the limit). */
        lv_log_warn("upstream",
                    "msg=\"upstream failed\" service=%s host=%s kind=%s detail=%s req=%s%s "
                    "suppressed=%u",
                    p->svc->name, u->host->addr->text, lv_upfail_names[kind],
                    lv_log_quote_str(qdetail, sizeof qdetail, detail),
                    lv_log_quote(qrid, sizeof qrid, rid.p, rid.len), r ? "" : " client=gone",
                    w->upstream_log_limit.suppressed);
        w->upstream_log_limit.suppressed = 0;
    }
    lv__uconn_fail(u, status, connect);
}

static void uconn_timeout(uv_timer_t *t)
{
    lv_uconn_t *u = t->data;
    if (!lv_deadline_expired(&u->deadline, &u->timer, uconn_timeout))
        return;
    if (u->tunnel) {
        lv__tunnel_timeout(u->tunnel);
        return;
    }
    switch (u->state) {
    case LV_UCONN_CONNECTING: {
        uint64_t now = uv_now(t->loop);
        if (!u->broken && now < u->connect_until_ms) { /* the stall point */
            lv_counter_add(&u->pool->metrics->upstream_connect_stalls, 1);
            if (u->req)
                lv__guard_connect_stalled(u->req);
            lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, u->connect_until_ms - now);
            break;
        }
        if (u->broken) /* uv_tcp_connect refused at once (logged with its reason then) */
            lv__uconn_fail_kind(u, 502, LV_UPFAIL_CONNECT, u->connect_error);
        else
            lv__uconn_fail_kind(u, 504, LV_UPFAIL_CONNECT_TIMEOUT, "no connection in time");
        break;
    }
    case LV_UCONN_BUSY:
        lv__uconn_fail_kind(u, 504, LV_UPFAIL_READ_TIMEOUT, "no response byte in time");
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

void lv__uconn_arm_timer(lv_uconn_t *u, uint64_t ms)
{
    lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, ms);
}

/* Response parser callbacks: relay to the request in flight. */
/* Without a request, a response is either an orphan's (the client left while the upstream
 * worked: once the upstream has answered, its work is done, the slot is freed and the rest is
 * not read) or one nobody asked for (an error). */
static int up_on_head(void *owner, lv_http_head_t *head)
{
    lv_uconn_t *u = owner;
    if (head->status >= 200)
        host_answered(u->pool, u->host, head->status);
    if (u->req && u->req->joined && head->status >= 200 && lv__relay_personal(head)) {
        /* Made for the request that left, and meant for one person: the joined request is
         * sent on its own instead (u closes; the parse stops here, uncounted). */
        lv__relay_resend(u->req);
        return 502;
    }
    if (u->fill && head->status >= 200) {
        int rc = lv__cache_fill_head(u, head); /* may answer u->req from the store instead */
        if (rc)
            return rc;
    }
    if (u->req)
        return lv__relay_resp_head(u->req, head);
    if (u->orphan && head->status >= 200)
        lv__guard_orphan_done(u, false, false);
    return u->orphan || u->fill ? 0 : 502;
}

static int up_on_body(void *owner, const char *p, size_t len)
{
    lv_uconn_t *u = owner;
    if (u->fill)
        lv__cache_fill_body(u, p, len);
    if (u->req)
        return lv__relay_resp_body(u->req, u->rchunk, p, len);
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
        return lv__relay_resp_done(r);
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

/* Whether a response is expected or arriving on u: someone (a client, an orphan's slot, a
 * fill) waits for it. */
static bool uconn_busy(const lv_uconn_t *u)
{
    return u->req || u->orphan || u->fill;
}

/* Feeds n response bytes. Interim (1xx) responses and the final one may share one read: the
 * parser pauses after each message, and everything after an interim one is fed again. */
static void uconn_feed(lv_uconn_t *u, size_t n)
{
    const char *data = u->rchunk->data;
    size_t off = 0;
    while (off < n && u->state != LV_UCONN_CLOSING) {
        lv_req_t *r = u->req;
        size_t consumed = 0;
        lv_http_result_t res = lv_http_parser_feed(&u->parser, data + off, n - off, &consumed);
        off += consumed;
        /* The request may have finished inside the feed: u->req tells. */
        if (r && u->req == r)
            lv__write_flush_client(r);
        if (u->state == LV_UCONN_CLOSING)
            return;
        /* An orphan whose upstream has answered: nobody wants the rest. */
        if (u->orphan && !u->orphan_guard && !u->fill) {
            lv__uconn_close(u);
            return;
        }
        if (res == LV_HTTP_ERROR) {
            lv__uconn_fail_kind(u, 502, LV_UPFAIL_BAD_RESPONSE, u->parser.error_reason);
            return;
        }
        if (res != LV_HTTP_PAUSED)
            return;
        lv_http_parser_resume(&u->parser);
        if (u->tunnel) { /* a 101 began a tunnel: what follows its head is the new protocol */
            if (off < n)
                lv__tunnel_upstream_bytes(u->tunnel, u->rchunk, data + off, n - off);
            return;
        }
        if (lv_http_parser_interim(&u->parser) && uconn_busy(u))
            continue; /* the final response follows */
        /* A final response ended. Extra bytes after it are a protocol error: never reuse. */
        if (off < n) {
            u->broken = true;
            if (u->state == LV_UCONN_IDLE)
                lv__uconn_close(u);
        }
        return;
    }
}

/* The upstream closed (or the read failed): the end of a body delimited by the close, or a
 * failure of whatever was expected. */
static void uconn_eof(lv_uconn_t *u, ssize_t nread)
{
    if (u->tunnel) {
        lv__tunnel_upstream_eof(u->tunnel, nread);
        return;
    }
    if (!uconn_busy(u)) {
        lv__uconn_close(u); /* an idle keep-alive connection closed by the upstream */
        return;
    }
    if (nread == UV_EOF) {
        lv_http_result_t res = lv_http_parser_finish(&u->parser);
        if (res == LV_HTTP_PAUSED) {
            /* The callbacks ended the response (relayed, stored) and let go of u. */
            if (u->state != LV_UCONN_CLOSING) {
                u->broken = true;
                lv__uconn_close(u);
            }
            return;
        }
        lv__uconn_fail_kind(u, 502, res == LV_HTTP_ERROR ? LV_UPFAIL_CUT : LV_UPFAIL_CLOSED,
                            res == LV_HTTP_ERROR ? "response cut short"
                                                 : "closed before a response");
        return;
    }
    lv__uconn_fail_kind(u, 502, LV_UPFAIL_RESET, uv_err_name((int)nread));
}

/* n response bytes in u->rchunk (plaintext). */
static void uconn_bytes(lv_uconn_t *u, ssize_t nread)
{
    if (u->tunnel) {
        lv__tunnel_upstream_bytes(u->tunnel, u->rchunk, u->rchunk->data, (size_t)nread);
    } else if (uconn_busy(u)) {
        if (u->join_key) /* an answer has begun: too late for another request to take it */
            lv__join_forget(u);
        lv_req_t *r = u->req;
        if (r)
            r->resp_any = true;
        lv__uconn_arm_read_timeout(u);
        uconn_feed(u, (size_t)nread);
        if (r && u->req == r && r->fault_bps)
            lv__fault_throttle(r, u, (size_t)nread); /* an injected bandwidth cap */
    } else {
        /* Bytes on an idle connection: the upstream is confused; drop it. */
        lv__uconn_close(u);
    }
}

static void uconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lv_uconn_t *u = s->data;
    if (nread > 0 && u->tls) {
        if (!lv__uconn_tls_read(u, u->rchunk, nread, uconn_bytes) && u->state != LV_UCONN_CLOSING)
            uconn_eof(u, UV_EOF);
        return;
    }
    if (nread > 0) {
        uconn_bytes(u, nread);
    } else if (nread < 0 && u->tls && u->state == LV_UCONN_CONNECTING) {
        lv__uconn_fail_kind(u, 502, LV_UPFAIL_TLS, "closed during the TLS handshake");
    } else if (nread < 0) {
        uconn_eof(u, nread);
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
        lv__uconn_fail_kind(u, 502, LV_UPFAIL_CONNECT, uv_err_name(status));
        return;
    }
    if (u->tls) {
        lv__uconn_tls_connected(u); /* busy once the handshake is done */
        return;
    }
    u->state = LV_UCONN_BUSY;
    lv__uconn_start_read(u);
    lv__uconn_arm_read_timeout(u); /* writes queued while connecting are flushed by libuv */
}

/* An injected host_down fault (proxy/faults.c): connections to the host are refused. */
static bool host_fault_down(const lv_host_t *h)
{
    uint64_t until =
        h->health ? atomic_load_explicit(&h->health->fault_down_until_ms, memory_order_relaxed) : 0;
    return until && until > lv_clock_now_ms(); /* the clock only while a fault is set */
}

lv_uconn_t *lv__uconn_get(lv_pool_t *p, lv_host_t *h, bool fresh, bool *reused)
{
    bool down = host_fault_down(h);
    while (down && !lv_list_empty(&h->idle)) { /* a host that died took its connections along */
        lv_uconn_t *u = LV_CONTAINER_OF(h->idle.next, lv_uconn_t, idle_link);
        lv__uconn_close(u);
    }
    if (!fresh && !lv_list_empty(&h->idle)) {
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
    if (down)
        lv_counter_add(&p->metrics->faults_injected[LV_FAULT_HOST_DOWN], 1);
    if (lv__uconn_tls_init(u) < 0) {
        /* Reported through the normal path on the next turn, like a refused connect. */
        u->broken = true;
        u->connect_error = "cannot start TLS";
        lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, 0);
        return u;
    }
    int rc = down ? UV_ECONNREFUSED
                  : uv_tcp_connect(&u->connect_req, &u->tcp, (const struct sockaddr *)&h->addr->sa,
                                   uconn_connected);
    if (rc < 0) {
        /* Report through the normal path on the next turn: the caller attaches the request. */
        u->broken = true;
        u->connect_error = uv_err_name(rc);
        lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, 0);
        return u;
    }
    uint32_t ms = p->svc->connect_timeout_ms;
    u->connect_until_ms = uv_now(&w->loop) + ms;
    lv_deadline_set(&u->deadline, &u->timer, uconn_timeout, ms / 10 ? ms / 10 : ms);
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
