/* proxy/admit.c: the guard on the request path: flags, retry storms, breaker, adaptive
 * concurrency limit and wait queue, per service and worker. Runs on its worker's loop only;
 * the storm table, the flags and the backends' limits are the state shared with other workers
 * (each made for it). */
#include "proxy/proxy.h"
#include "proxy/join_sig.h"

#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "guard/retry_cookie.h"

/* Pressure lasts this long after the last standing queue or shed request. */
#define LV_PRESSURE_HOLD_US 1000000u
/* An `auto` flag comes back on only after this long without pressure (hysteresis). */
#define LV_AUTO_FLAG_HOLD_US 5000000u
#define LV_QUEUE_TICK_MS 2u

_Static_assert(LV_FLAGS_SERVICES >= LV_METRICS_MAX_SERVICES, "every service slot has a flag");

static const lv_guard_conf_t *guard_conf(const lv_req_t *r)
{
    return &r->pool->svc->guard;
}

static int cmp_addr_text(const void *a, const void *b)
{
    return strcmp((*(const lv_addr_t *const *)a)->text, (*(const lv_addr_t *const *)b)->text);
}

/* The service's backend: its upstream addresses, sorted and joined with commas, and its limit
 * settings. Services that list the same hosts (in any order) with the same limit settings share
 * one limit; a reload that changes either moves the service to a new one, learned afresh. */
static lv_backend_limit_t *backend_of(lv_worker_t *w, const lv_service_conf_t *svc, uint64_t now_us)
{
    enum { MAX_SORTED = 64 };
    const lv_addr_t *sorted[MAX_SORTED];
    uint32_t n = LV_MIN(svc->n_upstreams, (uint32_t)MAX_SORTED);
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = &svc->upstreams[i];
    qsort(sorted, n, sizeof *sorted, cmp_addr_text);
    char key[MAX_SORTED * 65 + 64];
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += (size_t)snprintf(key + len, sizeof key - len, "%s%s", i ? "," : "", sorted[i]->text);
    const lv_guard_conf_t *c = &svc->guard;
    lv_limiter_conf_t lc = {c->limit_initial, c->limit_min, c->limit_max};
    snprintf(key + len, sizeof key - len, " limit=%u/%u/%u", lc.initial, lc.min, lc.max);
    return lv_backend_limits_get(w->server->backends, key, &lc, now_us);
}

static void schedule_dispatch(lv_worker_t *w);
static void track_waiting(lv_svc_guard_t *g);

/* A reload moved the service to other hosts: its waiters now wait for the new backend. */
static void requeue(lv_svc_guard_t *g, lv_backend_limit_t *to)
{
    uint32_t self = g->worker->id;
    for (unsigned c = 0; c < LV_QUEUE_N_CRIT; c++)
        for (lv_queue_item_t *it = g->queue.heads[c].next; it != &g->queue.heads[c];
             it = it->next) {
            lv_req_t *r = LV_CONTAINER_OF(it, lv_req_t, qitem);
            lv_backend_limit_wait(r->backend, self, it->crit, -1, 0);
            r->backend = to;
            lv_backend_limit_wait(to, self, it->crit, +1, it->enqueued_us);
        }
    schedule_dispatch(g->worker); /* slots handed to this worker on the way */
}

static bool guard_apply_conf(lv_svc_guard_t *g, const lv_gen_t *gen, const lv_service_conf_t *svc,
                             uint64_t now_us)
{
    lv_backend_limit_t *b = backend_of(g->worker, svc, now_us);
    if (!b)
        return false;
    const lv_guard_conf_t *c = &svc->guard;
    lv_queue_conf_t qc = {c->queue_max, c->queue_target_ms, c->queue_interval_ms,
                          c->queue_timeout_ms};
    lv_breaker_conf_t bc = {c->breaker_window_ms, c->breaker_min_requests,
                            c->breaker_error_percent / 100.0, c->breaker_cooldown_ms,
                            c->breaker_probes};
    lv_budget_conf_t uc = {c->retry_budget_percent / 100.0, c->retry_budget_min_per_s, 10000};
    if (!g->conf_gen) {
        g->backend = b;
        lv_queue_init(&g->queue, &qc, now_us);
        lv_breaker_init(&g->breaker, &bc, now_us);
        lv_budget_init(&g->budget, &uc, now_us);
    } else {
        /* A reload keeps what was learned unless the hosts or the limit settings changed. */
        if (b != g->backend) {
            requeue(g, b);
            g->backend = b;
        }
        g->queue.conf = qc;
        g->breaker.conf = bc;
        g->budget.conf = uc;
    }
    g->conf_gen = gen->number;
    return true;
}

static lv_svc_guard_t *guard_for(lv_req_t *r, uint64_t now_us)
{
    lv_worker_t *w = r->conn->worker;
    uint32_t slot = r->pool->svc->metrics_slot;
    lv_svc_guard_t *g = w->guards[slot];
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g)
            return NULL;
        g->worker = w;
        g->slot = slot;
        g->metrics = r->pool->metrics;
        lv_list_init(&g->waiting_link);
        w->guards[slot] = g;
    }
    if (g->conf_gen != r->gen->number && !guard_apply_conf(g, r->gen, r->pool->svc, now_us)) {
        if (!g->conf_gen) {
            w->guards[slot] = NULL;
            free(g);
        }
        return NULL; /* the table of backends is full (LV_BACKENDS_MAX): unguarded */
    }
    return g;
}

static void note_decision(lv_svc_guard_t *g, uint64_t now_us, bool refused)
{
    lv_pressure_note(&g->pressure, now_us, refused);
}

static bool under_pressure(const lv_svc_guard_t *g, uint64_t now_us, uint64_t hold_us)
{
    return lv_pressure_on(&g->pressure, now_us, hold_us);
}

static void publish_gauges(lv_svc_guard_t *g, uint64_t now_us)
{
    lv_service_metrics_t *m = g->metrics;
    atomic_store_explicit(&m->guard_limit, lv_backend_limit_limit(g->backend),
                          memory_order_relaxed);
    atomic_store_explicit(&m->guard_queue_len, g->queue.len, memory_order_relaxed);
    atomic_store_explicit(&m->guard_pressure, under_pressure(g, now_us, LV_PRESSURE_HOLD_US),
                          memory_order_relaxed);
    atomic_store_explicit(&m->guard_breaker_state, (uint64_t)g->breaker.state,
                          memory_order_relaxed);
}

uint32_t lv__admit_retry_after_s(lv_worker_t *w, uint32_t base_ms)
{
    /* Jitter of +-50 % so that refused users do not come back in lockstep. */
    uint64_t ms = (uint64_t)base_ms / 2 + lv_rng_next(&w->rng) % (base_ms ? base_ms : 1);
    uint32_t s = (uint32_t)((ms + 999) / 1000);
    return s ? s : 1;
}

/* ---- identity ---- */

/* The guard.client_id header or cookie value when configured and present, else empty. */
static lv_str_t configured_identity(const lv_req_t *r, const lv_http_head_t *h)
{
    const char *id = r->gen->cfg->client_id;
    lv_str_t v = {NULL, 0};
    if (!id)
        return v;
    if (strncmp(id, "header:", 7) == 0)
        v = lv_http_header_value(h, id + 7, strlen(id + 7));
    else if (strncmp(id, "cookie:", 7) == 0)
        v = lv_http_cookie_value(h, id + 7, strlen(id + 7));
    return v;
}

/* Who the client is, for F5 joins: the configured header or cookie, else its IP. */
static lv_str_t client_identity(const lv_req_t *r, const lv_http_head_t *h)
{
    lv_str_t v = configured_identity(r, h);
    return v.len ? v : (lv_str_t){r->client_ip, r->client_ip_len};
}

static uint64_t request_deadline_us(const lv_req_t *r, const lv_http_head_t *h, uint64_t now_us)
{
    uint64_t ms = guard_conf(r)->deadline_ms;
    const char *name = r->gen->cfg->deadline_header;
    if (name && *name) {
        lv_str_t v = lv_http_header_value(h, name, strlen(name));
        uint64_t n = 0;
        size_t i = 0;
        for (; i < v.len && i < 10 && v.p[i] >= '0' && v.p[i] <= '9'; i++)
            n = n * 10 + (uint64_t)(v.p[i] - '0');
        /* A client may shorten the configured deadline, never lift it (0 is not "none"). */
        if (v.len && i == v.len && n > 0 && (!ms || n < ms))
            ms = n;
    }
    return ms ? now_us + ms * 1000 : 0;
}

/* "METHOD host target" into res (at most 128 bytes of host, the target cut to what fits):
 * what a client asks for, for the storm table and F5 joins. Returns its length; *whole says
 * whether the target fit entirely. */
static size_t resource_of(const lv_http_head_t *h, char res[static 512], bool *whole)
{
    const char *meth = lv_http_method_name(h->method);
    size_t n = strlen(meth);
    memcpy(res, meth, n);
    res[n++] = ' ';
    size_t hl = LV_MIN(h->host.len, 128);
    if (hl)
        memcpy(res + n, h->host.p, hl);
    n += hl;
    size_t tl = LV_MIN(h->target.len, 512 - n);
    if (tl)
        memcpy(res + n, h->target.p, tl);
    *whole = tl == h->target.len;
    return n + tl;
}

/* ---- joining an abandoned request (F5) ---- */

/* The join signature of r (proxy/join_sig.h) in a chunk of the worker's pool; NULL: the
 * request never joins (a body, a fill, no memory). */
static lv_chunk_t *join_signature(const lv_req_t *r, const lv_http_head_t *h, uint32_t *len)
{
    if (h->method != HTTP_GET || h->has_body || r->fill)
        return NULL;
    lv_str_t who = client_identity(r, h);
    lv_chunk_t *ch = lv_chunk_acquire(&r->conn->worker->bufs, lv_join_signature_bound(h, who.len));
    if (!ch)
        return NULL;
    *len = (uint32_t)lv_join_signature(h, who, ch->data, ch->cap);
    if (!*len) {
        lv_chunk_release(ch);
        return NULL;
    }
    return ch;
}

/* Gives r its join signature and key (a hash of it, to skip unequal candidates fast), once.
 * Computed only when needed: when the worker has abandoned requests to look through, and when
 * a request is abandoned (its head is still the connection's parser head then). */
static void join_prepare(lv_req_t *r, const lv_http_head_t *h)
{
    if (r->join_key || r->join_sig)
        return;
    uint32_t len = 0;
    lv_chunk_t *sig = join_signature(r, h, &len);
    if (!sig)
        return;
    uint64_t k = lv_storm_key(sig->data, len, "GET", 3);
    r->join_sig = sig;
    r->join_sig_len = len;
    r->join_key = k ? k : 1;
}

static bool same_signature(const lv_chunk_t *a, uint32_t alen, const lv_chunk_t *b, uint32_t blen)
{
    return a && b && alen == blen && memcmp(a->data, b->data, alen) == 0;
}

void lv__admit_join_forget(lv_uconn_t *u)
{
    u->join_key = 0;
    if (u->join_sig) {
        lv_chunk_release(u->join_sig);
        u->join_sig = NULL;
    }
}

void lv__admit_req_end(lv_req_t *r)
{
    if (r->join_sig) {
        lv_chunk_release(r->join_sig);
        r->join_sig = NULL;
    }
}

/* An orphan of this service whose response r may take over, or NULL. Orphans are few (each
 * holds a concurrency slot); the scan is bounded anyway. */
static lv_uconn_t *orphan_to_join(const lv_req_t *r, const lv_svc_guard_t *g)
{
    uint32_t seen = 0;
    for (lv_link_t *l = g->worker->orphans.next; l != &g->worker->orphans && seen < 256;
         l = l->next, seen++) {
        lv_uconn_t *u = LV_CONTAINER_OF(l, lv_uconn_t, idle_link);
        if (u->orphan_guard == g && u->join_key == r->join_key && u->pool == r->pool && !u->fill &&
            u->state == LV_UCONN_BUSY &&
            same_signature(u->join_sig, u->join_sig_len, r->join_sig, r->join_sig_len))
            return u;
    }
    return NULL;
}

/* A request of this service whose client half-closed before any answer came, with r's key,
 * or NULL. */
static lv_req_t *half_closed_to_join(const lv_req_t *r, const lv_svc_guard_t *g)
{
    uint32_t seen = 0;
    for (lv_link_t *l = g->worker->half_closed.next; l != &g->worker->half_closed && seen < 256;
         l = l->next, seen++) {
        lv_req_t *q = LV_CONTAINER_OF(l, lv_req_t, half_closed_link);
        if (q->guard == g && q->join_key == r->join_key && q->pool == r->pool && !q->resp_any &&
            q->slot_held && q->uconn && !q->uconn->fill &&
            same_signature(q->join_sig, q->join_sig_len, r->join_sig, r->join_sig_len))
            return q;
    }
    return NULL;
}

void lv__admit_half_closed(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held || !r->uconn || r->half_closed_link.next)
        return;
    lv_counter_add(&g->metrics->guard_orphaned, 1);
    join_prepare(r, &r->conn->parser.head);
    lv_list_push(&g->worker->half_closed, &r->half_closed_link);
}

/* r takes over u's upstream request and the concurrency slot it holds. */
static void join_orphan(lv_req_t *r, lv_svc_guard_t *g, lv_uconn_t *u)
{
    lv_list_remove(&u->idle_link);
    u->orphan = false;
    u->orphan_guard = NULL;
    lv__admit_join_forget(u);
    r->slot_held = true;
    r->backend = u->orphan_backend;
    u->orphan_backend = NULL;
    r->joined = true;
    r->upstream_start_ns = u->orphan_start_us * 1000u;
    r->uconn = u; /* forward.c attaches it (lv__forward_origin) */
    lv_counter_add(&g->metrics->guard_joined, 1);
}

/* ---- decisions ---- */

static void queue_tick(uv_timer_t *t);

/* Keeps g in its worker's waiting_guards exactly while its queue is not empty. */
static void track_waiting(lv_svc_guard_t *g)
{
    bool linked = !lv_list_empty(&g->waiting_link);
    if (g->queue.len && !linked)
        lv_list_push(&g->worker->waiting_guards, &g->waiting_link);
    else if (!g->queue.len && linked)
        lv_list_remove(&g->waiting_link);
}

/* Slots were handed to w: give them to its waiters from the idle callback (never inside an
 * upstream connection's parser). */
static void schedule_dispatch(lv_worker_t *w)
{
    if (w->dispatch_pending)
        return;
    w->dispatch_pending = true;
    lv__worker_defer(w);
}

static void refuse(lv_req_t *r, lv_svc_guard_t *g, int status)
{
    lv_worker_t *w = r->conn->worker;
    uint32_t ra = lv__admit_retry_after_s(w, r->gen->cfg->retry_after_ms);
    if (r->wants_html)
        lv_counter_add(&g->metrics->guard_wait_pages, 1);
    lv__forward_refuse(r, status, ra);
}

/* The flag slot of the request's route, or -1 when the route has no flag (no name). */
static int route_flag_slot(const lv_req_t *r)
{
    const lv_config_t *cfg = r->gen->cfg;
    uint32_t slot = r->route < cfg->n_routes ? cfg->routes[r->route].flag_slot : 0;
    return slot ? (int)slot : -1;
}

static bool flag_says_fallback(lv_flag_state_t flag, const lv_svc_guard_t *g, uint64_t now_us)
{
    return flag == LV_FLAG_OFF ||
           (flag == LV_FLAG_AUTO && under_pressure(g, now_us, LV_AUTO_FLAG_HOLD_US));
}

/* The retry rules (issue 12: users arrive behind shared addresses, carrier NAT and offices).
 * A refusal with Retry-After sets the lv_retry cookie (forward.c) on the refused client: a
 * random id, the not-before and a MAC over both and the resource. Then:
 *  - premature: the request carries a valid lv_retry cookie for this resource whose
 *    not-before has not passed. A request without one is never premature, whatever its
 *    address: a neighbour behind the same NAT did not get the refusal.
 *  - repeat: more than guard.storm_threshold requests for the resource in guard.storm_window_ms
 *    by one client, where the client is the guard.client_id header or cookie when configured
 *    and present (the operator says it tells users apart), else the id in a valid lv_retry
 *    cookie (a client that was refused and is retrying), else nobody: a request with neither
 *    is not counted, so a request that has never been refused is never refused as a storm
 *    repeat. An address (guard.client_id ip, trusted real client or peer) is never a client
 *    here: it may be a NAT of thousands of users.
 * Both are refused with 429 only under pressure and when the request would wait for a slot.
 * A client that drops cookies escapes both, and meets the limit, the queue and shedding like
 * everyone else. One cookie per client: a refusal for /home replaces the one for /play. */
static lv_admit_t retry_check(lv_req_t *r, lv_svc_guard_t *g, const lv_http_head_t *h,
                              bool refuse_repeats, uint64_t now_us)
{
    lv_storm_t *storm = r->conn->worker->server->storm;
    if (!storm)
        return LV_ADMIT_GO;
    lv_service_metrics_t *m = g->metrics;
    uint64_t now_ms = now_us / 1000;
    char res[512];
    bool whole;
    size_t n = resource_of(h, res, &whole);
    r->retry_res = lv_retry_cookie_resource(res, n);
    lv_retry_cookie_t c = {0, 0};
    lv_str_t v = lv_http_cookie_value(h, LV_RETRY_COOKIE_NAME, LV_RETRY_COOKIE_NAME_LEN);
    if (v.len && lv_retry_cookie_try_parse(v.p, v.len, r->retry_res, &c))
        r->retry_id = c.id;

    /* Who counts as one client for repeats (see above); none: not counted. */
    char idbuf[20];
    lv_str_t who = configured_identity(r, h);
    if (!who.len && r->retry_id) {
        idbuf[0] = '\0'; /* no header or cookie value starts with NUL: a namespace apart */
        memcpy(idbuf + 1, &r->retry_id, sizeof r->retry_id);
        who = (lv_str_t){idbuf, 1 + sizeof r->retry_id};
    }
    lv_storm_verdict_t verdict = LV_STORM_OK;
    if (who.len)
        verdict = lv_storm_check(storm, lv_storm_key(who.p, who.len, res, n), now_ms, NULL);

    if (r->retry_id && c.not_before_ms > now_ms && refuse_repeats) {
        lv_counter_add(&m->guard_premature_blocked, 1);
        r->refusal = LV_REFUSAL_PREMATURE;
        uint64_t wait_ms = c.not_before_ms - now_ms;
        uint32_t ra = (uint32_t)LV_MIN((wait_ms + 999) / 1000, (uint64_t)3600);
        lv__forward_refuse(r, 429, ra ? ra : 1);
        return LV_ADMIT_ANSWERED;
    }
    if (verdict == LV_STORM_REPEAT && refuse_repeats) {
        lv_counter_add(&m->guard_storm_blocked, 1);
        r->refusal = LV_REFUSAL_STORM;
        refuse(r, g, 429);
        return LV_ADMIT_ANSWERED;
    }
    return LV_ADMIT_GO;
}

lv_admit_t lv__admit(lv_req_t *r, const lv_http_head_t *h)
{
    const lv_guard_conf_t *conf = guard_conf(r);
    if (!conf->enabled)
        return LV_ADMIT_GO;
    lv_worker_t *w = r->conn->worker;
    uint64_t now_us = lv_clock_now_us();
    lv_svc_guard_t *g = guard_for(r, now_us);
    if (!g)
        return LV_ADMIT_GO; /* no memory for guard state: serve unguarded, never fail */
    r->guard = g;
    lv_service_metrics_t *m = g->metrics;
    lv_str_t accept = lv_http_header_value(h, "accept", 6);
    r->wants_html = lv_page_wants_html(accept);

    /* 1. Feature flags, the route's then the service's: off, or auto while the service is
     * under pressure. Either way the answer is the service's fallback. */
    lv_flags_t *flags = w->server->flags;
    if (flags && (flag_says_fallback(lv_flags_get(flags, route_flag_slot(r)), g, now_us) ||
                  flag_says_fallback(lv_flags_get(flags, (int)g->slot), g, now_us))) {
        lv_counter_add(&m->guard_fallback_served, 1);
        r->refusal = LV_REFUSAL_FLAG;
        lv__forward_fallback(r);
        return LV_ADMIT_ANSWERED;
    }

    /* 2. Retry storms: a client back before its Retry-After, or repeating under pressure,
     * refused when it would have to wait for a slot. A repeat that finds a slot free and
     * nobody queued is served: the storm check removes excess demand, it must never leave the
     * backend idle. Who is "a client" is decided in retry_check below: never an address. */
    bool refuse_repeats =
        under_pressure(g, now_us, LV_PRESSURE_HOLD_US) && lv_backend_limit_full(g->backend);
    /* A client that gave up on a request the backend is still working on and asks again (an
     * F5 press) gets that request's answer: no second slot, no second piece of work. */
    if (!lv_list_empty(&w->orphans) || !lv_list_empty(&w->half_closed))
        join_prepare(r, h);
    lv_uconn_t *orphan = r->join_key ? orphan_to_join(r, g) : NULL;
    lv_req_t *left = r->join_key && !orphan ? half_closed_to_join(r, g) : NULL;
    if (left) {
        /* Its client left for good (it asks again on a new connection): close it, which
         * orphans its upstream request, and take that. */
        lv__conn_close(left->conn);
        orphan = orphan_to_join(r, g);
    }
    if (orphan) {
        join_orphan(r, g, orphan);
        publish_gauges(g, now_us);
        return LV_ADMIT_JOINED;
    }

    lv_admit_t storm_answer = retry_check(r, g, h, refuse_repeats, now_us);
    if (storm_answer != LV_ADMIT_GO)
        return storm_answer;

    /* 3. Circuit breaker. */
    lv_breaker_verdict_t bv = lv_breaker_allow(&g->breaker, now_us);
    if (bv == LV_BREAKER_REJECT) {
        lv_counter_add(&m->guard_breaker_rejected, 1);
        r->refusal = LV_REFUSAL_BREAKER;
        publish_gauges(g, now_us);
        /* A stale copy first, then the fallback, then 503 + wait page. */
        if (lv__cache_serve_stale(r, LV_STALE_REFUSED))
            return LV_ADMIT_ANSWERED;
        if (conf->fallback_body || conf->fallback_file_body || conf->fallback_redirect) {
            lv_counter_add(&m->guard_fallback_served, 1);
            lv__forward_fallback(r);
        } else {
            uint32_t in_ms = lv_breaker_retry_in_ms(&g->breaker, now_us);
            uint32_t ra = lv__admit_retry_after_s(w, LV_MAX(in_ms, r->gen->cfg->retry_after_ms));
            lv__forward_refuse(r, 503, ra);
        }
        return LV_ADMIT_ANSWERED;
    }
    r->probe = bv == LV_BREAKER_PROBE;
    lv_budget_note_request(&g->budget, now_us);

    /* 4. Concurrency limit, else the queue, else shed. */
    r->qitem.deadline_us = request_deadline_us(r, h, now_us);
    uint8_t crit = r->crit;
    if (lv_backend_limit_acquire(g->backend, crit, now_us)) {
        note_decision(g, now_us, false);
        r->slot_held = true;
        r->backend = g->backend;
        lv_counter_add(&m->guard_admitted, 1);
        publish_gauges(g, now_us);
        return LV_ADMIT_GO;
    }
    /* Under pressure, sheddable services are refused at once: critical and default wait. */
    bool standing = lv_queue_standing(&g->queue, now_us);
    r->qitem.crit = crit;
    /* A request whose body streams is not queued (the rest of its body would pile up); one
     * whose body was read whole (limits.body_buffer_bytes) waits like any other. */
    if ((standing && crit == LV_CRIT_SHEDDABLE) || (r->has_body && !r->body_whole) ||
        !lv_queue_push(&g->queue, &r->qitem, now_us)) {
        if (r->probe)
            lv_breaker_cancel_probe(&g->breaker);
        r->probe = false;
        note_decision(g, now_us, true);
        lv_counter_add(&m->guard_shed, 1);
        r->refusal = LV_REFUSAL_SHED;
        lv_counter_add(&m->guard_refused_by_crit[crit], 1);
        publish_gauges(g, now_us);
        refuse(r, g, 503);
        return LV_ADMIT_ANSWERED;
    }
    note_decision(g, now_us, false);
    r->queued = true;
    r->backend = g->backend;
    w->n_queued++;
    track_waiting(g);
    lv_counter_add(&m->guard_queued, 1);
    if (!uv_is_active((uv_handle_t *)&w->queue_tick))
        uv_timer_start(&w->queue_tick, queue_tick, LV_QUEUE_TICK_MS, LV_QUEUE_TICK_MS);
    /* A slot may have freed since the try above: then it is handed to this worker now. */
    if (lv_backend_limit_wait(g->backend, w->id, crit, +1, r->qitem.enqueued_us))
        schedule_dispatch(w);
    publish_gauges(g, now_us);
    return LV_ADMIT_QUEUED;
}

/* ---- the queue ---- */

static void on_queue_drop(void *ctx, lv_queue_item_t *it, lv_queue_drop_t why)
{
    lv_svc_guard_t *g = ctx;
    lv_req_t *r = LV_CONTAINER_OF(it, lv_req_t, qitem);
    uint64_t now_us = lv_clock_now_us();
    r->queued = false;
    g->worker->n_queued--;
    if (lv_backend_limit_wait(r->backend, g->worker->id, it->crit, -1, 0))
        schedule_dispatch(g->worker);
    /* Counted once more as refused: the share errs towards pressure, which is the safe side. */
    note_decision(g, now_us, true);
    r->refusal = why == LV_QUEUE_EXPIRED_DEADLINE ? LV_REFUSAL_DEADLINE : LV_REFUSAL_QUEUE_TIMEOUT;
    if (why == LV_QUEUE_EXPIRED_DEADLINE) {
        lv_counter_add(&g->metrics->guard_dropped_deadline, 1);
    } else {
        lv_counter_add(&g->metrics->guard_dropped_wait, 1);
        lv_counter_add(&g->metrics->guard_refused_by_crit[r->crit], 1);
    }
    if (r->probe)
        lv_breaker_cancel_probe(&g->breaker);
    r->probe = false;
    refuse(r, g, 503);
}

static void queue_tick(uv_timer_t *t)
{
    lv_worker_t *w = t->data;
    uint64_t now_us = lv_clock_now_us();
    for (lv_link_t *l = w->waiting_guards.next; l != &w->waiting_guards;) {
        lv_svc_guard_t *g = LV_CONTAINER_OF(l, lv_svc_guard_t, waiting_link);
        l = l->next; /* g may leave the list */
        /* A probe of the limit queues requests for ~100 ms on purpose: not an overload. */
        if (lv_backend_limit_probing(g->backend))
            lv_queue_hold(&g->queue, now_us);
        lv_queue_expire(&g->queue, now_us, on_queue_drop, g);
        track_waiting(g);
        if (g->queue.len && lv_backend_limit_tick(g->backend, w->id, now_us))
            schedule_dispatch(w);
        publish_gauges(g, now_us);
    }
    if (!w->n_queued)
        uv_timer_stop(t);
}

/* The guard of w on backend b whose queue holds the most critical waiter (the first found on
 * a tie: waiting_guards rotates, see dispatch_one), or NULL. */
static lv_svc_guard_t *most_critical_guard(lv_worker_t *w, const lv_backend_limit_t *b)
{
    lv_svc_guard_t *best = NULL;
    unsigned best_c = LV_QUEUE_N_CRIT;
    for (lv_link_t *l = w->waiting_guards.next; l != &w->waiting_guards; l = l->next) {
        lv_svc_guard_t *g = LV_CONTAINER_OF(l, lv_svc_guard_t, waiting_link);
        if (g->backend != b)
            continue;
        for (unsigned c = 0; c < best_c; c++)
            if (g->queue.len_by_crit[c]) {
                best = g;
                best_c = c;
                break;
            }
    }
    return best;
}

/* Gives one slot handed to w to the most critical waiter of g. False: every item of g's
 * queue had expired (dropped, their slots handed on). */
static bool dispatch_one(lv_svc_guard_t *g, uint64_t now_us)
{
    lv_worker_t *w = g->worker;
    lv_queue_item_t *it = lv_queue_pop(&g->queue, now_us, on_queue_drop, g);
    track_waiting(g);
    if (!it)
        return false;
    if (!lv_list_empty(&g->waiting_link)) { /* services of one criticality take turns */
        lv_list_remove(&g->waiting_link);
        lv_list_push(w->waiting_guards.prev, &g->waiting_link);
    }
    lv_req_t *r = LV_CONTAINER_OF(it, lv_req_t, qitem);
    lv_backend_limit_served(r->backend, w->id, it->crit);
    r->queued = false;
    w->n_queued--;
    r->slot_held = true;
    uint64_t waited_us = now_us - it->enqueued_us;
    lv_counter_add(&g->metrics->queue_wait_sum_us, waited_us);
    unsigned b = 0;
    while (b < LV_METRICS_N_BUCKETS - 1 && waited_us > lv_metrics_bucket_le_ms[b] * 1000)
        b++;
    lv_counter_add(&g->metrics->queue_wait_buckets[b], 1);
    publish_gauges(g, now_us);
    lv__forward_dispatch(r);
    return true;
}

/* Gives the slots other workers (or this one) handed to w to its waiters, most critical first
 * across the services of each backend. Runs from the idle callback and the guard_wake async. */
void lv__admit_run_dispatch(lv_worker_t *w)
{
    if (!w->dispatch_pending)
        return;
    w->dispatch_pending = false;
    uint64_t now_us = lv_clock_now_us();
    /* One waiter at a time: each dispatch may change the list (queues empty, the forward
     * fails and frees a slot), so the walk starts over after it; it ends when no guard's
     * backend has a slot handed to this worker. */
    for (bool again = true; again;) {
        again = false;
        for (lv_link_t *l = w->waiting_guards.next; l != &w->waiting_guards; l = l->next) {
            lv_backend_limit_t *b = LV_CONTAINER_OF(l, lv_svc_guard_t, waiting_link)->backend;
            lv_svc_guard_t *g =
                lv_backend_limit_handed(b, w->id) ? most_critical_guard(w, b) : NULL;
            if (g) {
                dispatch_one(g, now_us);
                again = true;
                break;
            }
        }
    }
}

/* ---- outcomes ---- */

static void limiter_release(lv_svc_guard_t *g, lv_backend_limit_t *b, uint64_t now_us,
                            uint64_t start_us, lv_limit_outcome_t outcome)
{
    uint64_t rtt = start_us && now_us > start_us ? now_us - start_us : 0;
    if (!start_us)
        outcome = LV_LIMIT_IGNORE;
    /* A saturated worker measures its own queueing: its RTT is capped at the no-load one so
     * that the limit is not squeezed by levee's own CPU. Timeouts and 503s still count. */
    lv_worker_t *w = g->worker;
    if (lv_backend_limit_release(b, w->id, now_us, rtt, outcome, w->loop_busy))
        schedule_dispatch(w);
    publish_gauges(g, now_us);
}

void lv__admit_release(lv_req_t *r, int upstream_status, bool timed_out, bool failed)
{
    lv_svc_guard_t *g = r->guard;
    if (!g)
        return;
    if (r->half_closed_link.next) {
        lv_list_remove(&r->half_closed_link);
        r->half_closed_link.next = r->half_closed_link.prev = NULL;
    }
    if (r->queued) {
        lv__admit_cancel(r);
        return;
    }
    if (!r->slot_held && !r->slot_given_back)
        return;
    bool held = r->slot_held;
    r->slot_held = r->slot_given_back = false;
    uint64_t now_us = lv_clock_now_us();
    lv_limit_outcome_t outcome = LV_LIMIT_OK;
    if (timed_out || failed || upstream_status == 503)
        outcome = LV_LIMIT_DROPPED;
    else if (!upstream_status || r->tries > 1)
        outcome = LV_LIMIT_IGNORE; /* a second try's time includes the first's (a connect that
                                      timed out on a dead host): not the backend's latency */
    if (upstream_status || failed || timed_out) {
        bool bad = failed || timed_out || upstream_status >= 500;
        if (lv_breaker_record(&g->breaker, now_us, bad, r->probe))
            lv_counter_add(&g->metrics->guard_breaker_transitions, 1);
    } else if (r->probe) {
        lv_breaker_cancel_probe(&g->breaker);
    }
    r->probe = false;
    if (held)
        limiter_release(g, r->backend, now_us, r->upstream_start_ns / 1000, outcome);
    else
        publish_gauges(g, now_us);
}

/* A connect that hangs (SYNs unanswered: a black-holed host, a lost route) would hold its slot
 * for the whole connect timeout, and a few such requests would fill the backend's limit while
 * the other hosts idle. It is not load on the backend: the slot goes back (no sample), and the
 * breaker still counts the request's outcome. A backend whose every host hangs is refused by
 * the breaker, not by the limit. */
void lv__admit_connect_stalled(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held)
        return;
    r->slot_held = false;
    r->slot_given_back = true;
    limiter_release(g, r->backend, lv_clock_now_us(), 0, LV_LIMIT_IGNORE);
}

void lv__admit_cancel(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->queued)
        return;
    uint64_t now_us = lv_clock_now_us();
    lv_queue_remove(&g->queue, &r->qitem, now_us);
    track_waiting(g);
    r->queued = false;
    g->worker->n_queued--;
    if (lv_backend_limit_wait(r->backend, g->worker->id, r->qitem.crit, -1, 0))
        schedule_dispatch(g->worker);
    if (r->probe)
        lv_breaker_cancel_probe(&g->breaker);
    r->probe = false;
    lv_counter_add(&g->metrics->guard_dropped_client_gone, 1);
    publish_gauges(g, now_us);
}

void lv__admit_orphan(lv_req_t *r, lv_uconn_t *u)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held)
        return;
    r->slot_held = false;
    if (r->probe)
        lv_breaker_cancel_probe(&g->breaker);
    r->probe = false;
    u->orphan = true;
    u->orphan_guard = g;
    u->orphan_backend = r->backend;
    u->orphan_start_us = r->upstream_start_ns / 1000;
    lv__admit_join_forget(u);
    if (!r->resp_any) {
        join_prepare(r, &r->conn->parser.head);
        u->join_key = r->join_key; /* the signature moves to the connection */
        u->join_sig = r->join_sig;
        u->join_sig_len = r->join_sig_len;
        r->join_sig = NULL;
    }
    if (!r->half_closed_link.next) /* counted at its FIN already */
        lv_counter_add(&g->metrics->guard_orphaned, 1);
    lv_list_push(&g->worker->orphans, &u->idle_link);
}

void lv__admit_orphan_done(lv_uconn_t *u, bool failed, bool timed_out)
{
    lv_svc_guard_t *g = u->orphan_guard;
    if (!g)
        return;
    u->orphan_guard = NULL;
    lv_list_remove(&u->idle_link);
    lv_limit_outcome_t outcome = (failed || timed_out) ? LV_LIMIT_DROPPED : LV_LIMIT_OK;
    limiter_release(g, u->orphan_backend, lv_clock_now_us(), u->orphan_start_us, outcome);
    u->orphan_backend = NULL;
}

bool lv__admit_retry_allowed(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g)
        return true;
    if (lv_budget_try_retry(&g->budget, lv_clock_now_us()))
        return true;
    lv_counter_add(&g->metrics->guard_retries_denied, 1);
    return false;
}

/* Every 100 ms from the worker: gauges stay true while a service is idle (pressure ends
 * without a request having to come by to notice). */
void lv__admit_tick(lv_worker_t *w)
{
    uint64_t now_us = lv_clock_now_us();
    for (uint32_t i = 0; i < LV_METRICS_MAX_SERVICES; i++)
        if (w->guards[i])
            publish_gauges(w->guards[i], now_us);
}

/* Drain: work for clients who left is not waited for. */
void lv__admit_drop_orphans(lv_worker_t *w)
{
    while (!lv_list_empty(&w->orphans)) {
        lv_uconn_t *u = LV_CONTAINER_OF(w->orphans.next, lv_uconn_t, idle_link);
        lv__uconn_close(u); /* releases the slot and unlinks it */
    }
}

void lv__admit_worker_fini(lv_worker_t *w)
{
    for (uint32_t i = 0; i < LV_METRICS_MAX_SERVICES; i++) {
        free(w->guards[i]);
        w->guards[i] = NULL;
    }
}
