/* proxy/guard.c: the guard's state of one service in one worker (lv_svc_guard_t), which its
 * stages share (flags, join, retry, breaker, limit): the backend's limit it uses, queue,
 * breaker, pressure, gauges; and the outcome of a request that held a slot. Runs on its
 * worker's loop; the backends' limits, the storm table and the flags are shared (made for it). */
#include "proxy/proxy.h"

#include <string.h>

#include "core/clock.h"

_Static_assert(LV_FLAGS_SERVICES >= LV_METRICS_MAX_SERVICES, "every service slot has a flag");

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
    /* One request per host is never a queue (least_outstanding spreads them): a floor below
     * the number of hosts leaves hosts idle, and halving the limit to probe a two-host
     * backend at one request in flight halves its throughput for the probe. */
    uint32_t floor = LV_MIN(LV_MAX(c->limit_min, svc->n_upstreams), c->limit_max);
    lv_limiter_conf_t lc = {LV_MAX(c->limit_initial, floor), floor, c->limit_max};
    snprintf(key + len, sizeof key - len, " limit=%u/%u/%u", lc.initial, lc.min, lc.max);
    return lv_backend_limits_get(w->server->backends, key, &lc, now_us);
}

void lv__guard_schedule_dispatch(lv_worker_t *w)
{
    if (w->dispatch_pending)
        return;
    w->dispatch_pending = true;
    lv__worker_defer(w);
}

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
    lv__guard_schedule_dispatch(g->worker); /* slots handed to this worker on the way */
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

lv_svc_guard_t *lv__guard_lookup(lv_req_t *r)
{
    if (!r->pool->svc->guard.enabled)
        return NULL;
    uint64_t now_us = lv_clock_now_us();
    lv_svc_guard_t *g = guard_for(r, now_us);
    if (!g)
        return NULL; /* no memory for guard state: serve unguarded, never fail */
    r->guard = g;
    r->guard_us = now_us;
    r->wants_html = lv_page_wants_html(lv_http_header_value(lv__req_head(r), "accept", 6));
    return g;
}

void lv__guard_note(lv_svc_guard_t *g, uint64_t now_us, bool refused)
{
    lv_pressure_note(&g->pressure, now_us, refused);
}

bool lv__guard_pressure(const lv_svc_guard_t *g, uint64_t now_us, uint64_t hold_us)
{
    return lv_pressure_on(&g->pressure, now_us, hold_us);
}

void lv__guard_publish(lv_svc_guard_t *g, uint64_t now_us)
{
    lv_service_metrics_t *m = g->metrics;
    atomic_store_explicit(&m->guard_limit, lv_backend_limit_limit(g->backend),
                          memory_order_relaxed);
    atomic_store_explicit(&m->guard_queue_len, g->queue.len, memory_order_relaxed);
    atomic_store_explicit(&m->guard_pressure, lv__guard_pressure(g, now_us, LV_PRESSURE_HOLD_US),
                          memory_order_relaxed);
    atomic_store_explicit(&m->guard_breaker_state, (uint64_t)g->breaker.state,
                          memory_order_relaxed);
}

uint32_t lv__guard_retry_after_s(lv_worker_t *w, uint32_t base_ms)
{
    /* Jitter of +-50 % so that refused users do not come back in lockstep. */
    uint64_t ms = (uint64_t)base_ms / 2 + lv_rng_next(&w->rng) % (base_ms ? base_ms : 1);
    uint32_t s = (uint32_t)((ms + 999) / 1000);
    return s ? s : 1;
}

void lv__guard_refuse(lv_req_t *r, lv_svc_guard_t *g, int status)
{
    uint32_t ra = lv__guard_retry_after_s(r->conn->worker, r->gen->cfg->retry_after_ms);
    if (r->wants_html)
        lv_counter_add(&g->metrics->guard_wait_pages, 1);
    lv__answer_refuse(r, status, ra);
}

/* The guard.client_id header or cookie value when configured and present, else empty. */
lv_str_t lv__guard_client_id(const lv_req_t *r, const lv_http_head_t *h)
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
        lv__guard_schedule_dispatch(w);
    lv__guard_publish(g, now_us);
}

void lv__guard_release(lv_req_t *r, int upstream_status, bool timed_out, bool failed)
{
    lv_svc_guard_t *g = r->guard;
    if (!g)
        return;
    if (r->half_closed_link.next) {
        lv_list_remove(&r->half_closed_link);
        r->half_closed_link.next = r->half_closed_link.prev = NULL;
    }
    if (r->queued) {
        lv__limit_cancel(r);
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
    else if (!upstream_status || r->tries > 1 || r->fault_kind == LV_FAULT_ABORT + 1)
        outcome = LV_LIMIT_IGNORE; /* a second try's time includes the first's (a connect that
                                      timed out on a dead host), or an injected abort's
                                      instant answer: not the backend's latency */
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
        lv__guard_publish(g, now_us);
}

/* A connect that hangs (SYNs unanswered: a black-holed host, a lost route) would hold its slot
 * for the whole connect timeout, and a few such requests would fill the backend's limit while
 * the other hosts idle. It is not load on the backend: the slot goes back (no sample), and the
 * breaker still counts the request's outcome. A backend whose every host hangs is refused by
 * the breaker, not by the limit. */
void lv__guard_connect_stalled(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held)
        return;
    r->slot_held = false;
    r->slot_given_back = true;
    limiter_release(g, r->backend, lv_clock_now_us(), 0, LV_LIMIT_IGNORE);
}

void lv__guard_orphan_done(lv_uconn_t *u, bool failed, bool timed_out)
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

/* Every 100 ms from the worker: gauges stay true while a service is idle (pressure ends
 * without a request having to come by to notice). */
void lv__guard_tick(lv_worker_t *w)
{
    uint64_t now_us = lv_clock_now_us();
    for (uint32_t i = 0; i < LV_METRICS_MAX_SERVICES; i++)
        if (w->guards[i])
            lv__guard_publish(w->guards[i], now_us);
}

void lv__guard_worker_fini(lv_worker_t *w)
{
    for (uint32_t i = 0; i < LV_METRICS_MAX_SERVICES; i++) {
        free(w->guards[i]);
        w->guards[i] = NULL;
    }
}
