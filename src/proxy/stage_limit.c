/* proxy/stage_limit.c: the limit stage: a slot of the backend's adaptive concurrency limit
 * (guard/backend_limit.c, shared by the workers), else a place in the service's CoDel +
 * adaptive-LIFO queue (critical requests first), else shed with 503. A queued request waits
 * here until a slot is handed to it (dispatch), its wait expires, or its client leaves. */
#include "proxy/pipeline.h"

#include <string.h>

#include "core/clock.h"

#define LV_QUEUE_TICK_MS 2u

static uint64_t request_deadline_us(const lv_req_t *r, const lv_http_head_t *h, uint64_t now_us)
{
    uint64_t ms = r->pool->svc->guard.deadline_ms;
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

lv_stage_verdict_t lv_stage_limit(lv_req_t *r, const lv_http_head_t *h)
{
    lv_svc_guard_t *g = lv__guard_of(r);
    if (!g)
        return LV_STAGE_NEXT;
    lv_worker_t *w = g->worker;
    lv_service_metrics_t *m = g->metrics;
    uint64_t now_us = r->guard_us;
    r->qitem.deadline_us = request_deadline_us(r, h, now_us);
    uint8_t crit = r->crit;
    if (lv_backend_limit_acquire(g->backend, crit, now_us)) {
        lv__guard_note(g, now_us, false);
        r->slot_held = true;
        r->backend = g->backend;
        lv_counter_add(&m->guard_admitted, 1);
        lv__guard_publish(g, now_us);
        return LV_STAGE_NEXT;
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
        lv__guard_note(g, now_us, true);
        lv_counter_add(&m->guard_shed, 1);
        r->refusal = LV_REFUSAL_SHED;
        lv_counter_add(&m->guard_refused_by_crit[crit], 1);
        lv__guard_publish(g, now_us);
        lv__guard_refuse(r, g, 503);
        return LV_STAGE_ANSWERED;
    }
    lv__guard_note(g, now_us, false);
    r->queued = true;
    r->backend = g->backend;
    w->n_queued++;
    track_waiting(g);
    lv_counter_add(&m->guard_queued, 1);
    if (!uv_is_active((uv_handle_t *)&w->queue_tick))
        uv_timer_start(&w->queue_tick, queue_tick, LV_QUEUE_TICK_MS, LV_QUEUE_TICK_MS);
    /* A slot may have freed since the try above: then it is handed to this worker now. */
    if (lv_backend_limit_wait(g->backend, w->id, crit, +1, r->qitem.enqueued_us))
        lv__guard_schedule_dispatch(w);
    lv__guard_publish(g, now_us);
    return LV_STAGE_WAIT;
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
        lv__guard_schedule_dispatch(g->worker);
    /* Counted once more as refused: the share errs towards pressure, which is the safe side. */
    lv__guard_note(g, now_us, true);
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
    lv__guard_refuse(r, g, 503);
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
            lv__guard_schedule_dispatch(w);
        lv__guard_publish(g, now_us);
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
    lv__guard_publish(g, now_us);
    lv__pipeline_next(r);
    return true;
}

/* Gives the slots other workers (or this one) handed to w to its waiters, most critical first
 * across the services of each backend. Runs from the idle callback and the guard_wake async. */
void lv__limit_run_dispatch(lv_worker_t *w)
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

void lv__limit_cancel(lv_req_t *r)
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
        lv__guard_schedule_dispatch(g->worker);
    if (r->probe)
        lv_breaker_cancel_probe(&g->breaker);
    r->probe = false;
    lv_counter_add(&g->metrics->guard_dropped_client_gone, 1);
    lv__guard_publish(g, now_us);
}
