/* guard/backend_limit.c: the shared concurrency limit of a backend (see backend_limit.h): one
 * learner (guard/limiter.c) and one in-flight count under a mutex, and the waiters of every
 * worker counted by criticality, so that a freed slot goes to the most critical waiter anywhere.
 *
 * Why one learner under a lock: per-worker limiters each guess the backend's capacity from a
 * share of the samples and add their own headroom (n workers probe and grow n times); their sum
 * started at n x limit.initial and came down slowly. One limiter sees every sample and keeps one
 * headroom, exactly as a single worker would. The lock is held for a few dozen instructions per
 * request (acquire, release); the queues stay in the workers, only their counts are here.
 *
 * Invariant: handed[w] <= waiters of w. A slot is handed (in_flight counted) to worker w only
 * for a waiter of w that no other handed slot covers; w gives it to that waiter (served), or, if
 * the waiter left, the slot goes straight to the next waiter (wait -1). */
#include "guard/backend_limit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/common.h"

struct lv_backend_limit {
    char *key;
    lv_backend_limits_t *table;
    uv_mutex_t lock;
    lv_limiter_t lim;   /* in_flight: slots held or handed, by every worker */
    uint32_t n_waiting; /* sum of waiting[] */
    uint32_t next_turn; /* the worker to look at first on a tie between other workers */
    uint32_t *waiting;  /* [worker * LV_QUEUE_N_CRIT + crit] */
    uint32_t *handed;   /* [worker]: slots handed and not yet served */
    /* When each worker's waiters began waiting, oldest first, per criticality: a ring of
     * LV_BACKEND_SINCE entries per [worker * LV_QUEUE_N_CRIT + crit] (since_head, since_n);
     * waiters past it are not timed (then taken as the oldest: never starved). A worker
     * serves its oldest first (FIFO), or drops the old ones (CoDel): either way a waiter that
     * leaves is taken off the front. */
    uint64_t *since;
    uint16_t *since_head, *since_n;
    atomic_uint limit_pub;   /* lv_limiter_limit(&lim), for gauges read without the lock */
    atomic_bool probing_pub; /* lim.probing, for the queues (lv_backend_limit_probing) */
};

#define LV_BACKEND_SINCE 256u

struct lv_backend_limits {
    uv_mutex_t lock;
    uint32_t n_workers;
    uint32_t n; /* entries in use (under lock) */
    lv_backend_wake_fn wake;
    void *wake_ctx;
    lv_backend_limit_t *entries[LV_BACKENDS_MAX];
};

lv_backend_limits_t *lv_backend_limits_new(uint32_t n_workers, lv_backend_wake_fn wake, void *ctx)
{
    if (n_workers < 1 || n_workers > LV_BACKEND_MAX_WORKERS)
        return NULL;
    lv_backend_limits_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (uv_mutex_init(&t->lock) != 0) {
        free(t);
        return NULL;
    }
    t->n_workers = n_workers;
    t->wake = wake;
    t->wake_ctx = ctx;
    return t;
}

/* What the learner says now, for readers without the lock. Under the lock. */
static void publish(lv_backend_limit_t *b)
{
    atomic_store_explicit(&b->limit_pub, lv_limiter_limit(&b->lim), memory_order_relaxed);
    atomic_store_explicit(&b->probing_pub, b->lim.probing, memory_order_relaxed);
}

static void backend_free(lv_backend_limit_t *b)
{
    uv_mutex_destroy(&b->lock);
    free(b->waiting);
    free(b->handed);
    free(b->since);
    free(b->since_head);
    free(b->since_n);
    free(b->key);
    free(b);
}

void lv_backend_limits_free(lv_backend_limits_t *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->n; i++)
        backend_free(t->entries[i]);
    uv_mutex_destroy(&t->lock);
    free(t);
}

static lv_backend_limit_t *backend_new(lv_backend_limits_t *t, const char *key,
                                       const lv_limiter_conf_t *conf, uint64_t now_us)
{
    lv_backend_limit_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->key = strdup(key);
    b->waiting = calloc((size_t)t->n_workers * LV_QUEUE_N_CRIT, sizeof *b->waiting);
    b->handed = calloc(t->n_workers, sizeof *b->handed);
    size_t rings = (size_t)t->n_workers * LV_QUEUE_N_CRIT;
    b->since = calloc(rings * LV_BACKEND_SINCE, sizeof *b->since);
    b->since_head = calloc(rings, sizeof *b->since_head);
    b->since_n = calloc(rings, sizeof *b->since_n);
    if (!b->key || !b->waiting || !b->handed || !b->since || !b->since_head || !b->since_n ||
        uv_mutex_init(&b->lock) != 0) {
        free(b->waiting);
        free(b->handed);
        free(b->since);
        free(b->since_head);
        free(b->since_n);
        free(b->key);
        free(b);
        return NULL;
    }
    b->table = t;
    uint32_t seed = 2166136261u; /* FNV-1a of the key: probe times differ between backends */
    for (const char *p = key; *p; p++)
        seed = (seed ^ (uint8_t)*p) * 16777619u;
    lv_limiter_init(&b->lim, conf, now_us, seed);
    atomic_init(&b->limit_pub, lv_limiter_limit(&b->lim));
    atomic_init(&b->probing_pub, b->lim.probing);
    return b;
}

lv_backend_limit_t *lv_backend_limits_get(lv_backend_limits_t *t, const char *key,
                                          const lv_limiter_conf_t *conf, uint64_t now_us)
{
    lv_backend_limit_t *found = NULL;
    uv_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < t->n && !found; i++)
        if (!strcmp(t->entries[i]->key, key))
            found = t->entries[i];
    if (!found && t->n < LV_BACKENDS_MAX) {
        found = backend_new(t, key, conf, now_us);
        if (found)
            t->entries[t->n++] = found;
    }
    uv_mutex_unlock(&t->lock);
    return found;
}

/* Waiters of worker w of criticality crit or higher (0..crit). */
static uint32_t waiting_upto(const lv_backend_limit_t *b, uint32_t w, uint8_t crit)
{
    const uint32_t *row = &b->waiting[(size_t)w * LV_QUEUE_N_CRIT];
    uint32_t n = 0;
    for (uint8_t c = 0; c <= crit; c++)
        n += row[c];
    return n;
}

/* Whether worker w has a waiter of criticality crit or higher that no handed slot covers
 * (handed slots cover a worker's most critical waiters first). */
static bool uncovered(const lv_backend_limit_t *b, uint32_t w, uint8_t crit)
{
    return waiting_upto(b, w, crit) > b->handed[w];
}

static void since_push(lv_backend_limit_t *b, size_t ring, uint64_t t)
{
    if (b->since_n[ring] < LV_BACKEND_SINCE) {
        uint32_t at = (b->since_head[ring] + b->since_n[ring]) % LV_BACKEND_SINCE;
        b->since[ring * LV_BACKEND_SINCE + at] = t;
        b->since_n[ring]++;
    }
}

static void since_pop(lv_backend_limit_t *b, size_t ring)
{
    if (b->since_n[ring]) {
        b->since_head[ring] = (uint16_t)((b->since_head[ring] + 1) % LV_BACKEND_SINCE);
        b->since_n[ring]--;
    }
}

/* When the k-th oldest waiter of a ring began waiting (0: not timed, taken as the oldest). */
static uint64_t since_at(const lv_backend_limit_t *b, size_t ring, uint32_t k)
{
    if (k >= b->since_n[ring])
        return 0;
    return b->since[ring * LV_BACKEND_SINCE + (b->since_head[ring] + k) % LV_BACKEND_SINCE];
}

/* The worker to hand the next slot to: the one whose oldest uncovered waiter of the most
 * critical level anyone waits at has waited longest, as one FIFO across the workers would
 * serve them (a worker that fed its own waiters, or the one with the most, starved the
 * other's, whose oldest then timed out), the next in turn on a tie. -1: every waiter is
 * covered. Under the lock. */
static int pick_worker(lv_backend_limit_t *b)
{
    uint32_t n = b->table->n_workers;
    for (uint8_t c = 0; c < LV_QUEUE_N_CRIT; c++) {
        int best = -1;
        uint64_t oldest = UINT64_MAX;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t x = (b->next_turn + k) % n;
            if (!uncovered(b, x, c))
                continue;
            /* Handed slots cover x's most critical waiters first: those above c, then the
             * oldest of level c. */
            uint32_t above = c ? waiting_upto(b, x, (uint8_t)(c - 1)) : 0;
            uint32_t covered = b->handed[x] > above ? b->handed[x] - above : 0;
            uint64_t t = since_at(b, (size_t)x * LV_QUEUE_N_CRIT + c, covered);
            if (t < oldest) {
                oldest = t;
                best = (int)x;
            }
        }
        if (best >= 0) {
            b->next_turn = ((uint32_t)best + 1) % n;
            return best;
        }
    }
    return -1;
}

/* Hands every slot the limit allows to uncovered waiters. Under the lock. True: some went to w. */
static bool hand_out(lv_backend_limit_t *b, uint32_t w)
{
    bool mine = false;
    uint64_t woken = 0;
    while (b->n_waiting) {
        int x = pick_worker(b);
        if (x < 0 || !lv_limiter_try_acquire(&b->lim))
            break;
        b->handed[x]++;
        if ((uint32_t)x == w)
            mine = true;
        else if (!(woken & (1ull << x))) {
            woken |= 1ull << x;
            b->table->wake(b->table->wake_ctx, (uint32_t)x);
        }
    }
    return mine;
}

bool lv_backend_limit_acquire(lv_backend_limit_t *b, uint8_t crit, uint64_t now_us)
{
    if (crit >= LV_QUEUE_N_CRIT)
        crit = LV_QUEUE_N_CRIT - 1;
    uv_mutex_lock(&b->lock);
    lv_limiter_tick(&b->lim, now_us);
    publish(b);
    bool ok = true;
    for (uint32_t x = 0; b->n_waiting && x < b->table->n_workers && ok; x++)
        ok = !uncovered(b, x, crit);
    ok = ok && lv_limiter_try_acquire(&b->lim);
    uv_mutex_unlock(&b->lock);
    return ok;
}

bool lv_backend_limit_tick(lv_backend_limit_t *b, uint32_t w, uint64_t now_us)
{
    uv_mutex_lock(&b->lock);
    lv_limiter_tick(&b->lim, now_us);
    publish(b);
    bool mine = hand_out(b, w);
    uv_mutex_unlock(&b->lock);
    return mine;
}

bool lv_backend_limit_wait(lv_backend_limit_t *b, uint32_t w, uint8_t crit, int delta,
                           uint64_t since_us)
{
    if (crit >= LV_QUEUE_N_CRIT)
        crit = LV_QUEUE_N_CRIT - 1;
    uv_mutex_lock(&b->lock);
    size_t ring = (size_t)w * LV_QUEUE_N_CRIT + crit;
    uint32_t *slot = &b->waiting[ring];
    if (delta > 0) {
        (*slot)++;
        b->n_waiting++;
        since_push(b, ring, since_us);
    } else {
        LV_ASSERT(*slot > 0 && b->n_waiting > 0);
        (*slot)--;
        b->n_waiting--;
        since_pop(b, ring);
        /* Its slot, if it had one, goes to the next waiter. */
        if (b->handed[w] > waiting_upto(b, w, LV_QUEUE_N_CRIT - 1)) {
            b->handed[w]--;
            lv_limiter_cancel(&b->lim);
        }
    }
    bool mine = hand_out(b, w);
    uv_mutex_unlock(&b->lock);
    return mine;
}

uint32_t lv_backend_limit_handed(lv_backend_limit_t *b, uint32_t w)
{
    uv_mutex_lock(&b->lock);
    uint32_t n = b->handed[w];
    uv_mutex_unlock(&b->lock);
    return n;
}

void lv_backend_limit_served(lv_backend_limit_t *b, uint32_t w, uint8_t crit)
{
    if (crit >= LV_QUEUE_N_CRIT)
        crit = LV_QUEUE_N_CRIT - 1;
    uv_mutex_lock(&b->lock);
    size_t ring = (size_t)w * LV_QUEUE_N_CRIT + crit;
    uint32_t *slot = &b->waiting[ring];
    LV_ASSERT(*slot > 0 && b->handed[w] > 0);
    (*slot)--;
    since_pop(b, ring);
    b->n_waiting--;
    b->handed[w]--;
    uv_mutex_unlock(&b->lock);
}

bool lv_backend_limit_release(lv_backend_limit_t *b, uint32_t w, uint64_t now_us, uint64_t rtt_us,
                              lv_limit_outcome_t outcome, bool noload_cap)
{
    uv_mutex_lock(&b->lock);
    if (noload_cap && outcome == LV_LIMIT_OK && b->lim.rtt_noload_us > 0)
        rtt_us = LV_MIN(rtt_us, (uint64_t)b->lim.rtt_noload_us);
    lv_limiter_release(&b->lim, now_us, rtt_us, outcome);
    publish(b);
    bool mine = hand_out(b, w);
    uv_mutex_unlock(&b->lock);
    return mine;
}

uint32_t lv_backend_limit_limit(lv_backend_limit_t *b)
{
    return atomic_load_explicit(&b->limit_pub, memory_order_relaxed);
}

bool lv_backend_limit_probing(lv_backend_limit_t *b)
{
    return atomic_load_explicit(&b->probing_pub, memory_order_relaxed);
}

bool lv_backend_limit_full(lv_backend_limit_t *b)
{
    uv_mutex_lock(&b->lock);
    bool full = b->n_waiting > 0 || b->lim.in_flight >= lv_limiter_limit(&b->lim);
    uv_mutex_unlock(&b->lock);
    return full;
}

uint32_t lv_backend_limit_in_flight(lv_backend_limit_t *b)
{
    uv_mutex_lock(&b->lock);
    uint32_t n = b->lim.in_flight;
    uv_mutex_unlock(&b->lock);
    return n;
}

uint32_t lv_backend_limit_waiting(lv_backend_limit_t *b)
{
    uv_mutex_lock(&b->lock);
    uint32_t n = b->n_waiting;
    uv_mutex_unlock(&b->lock);
    return n;
}

const char *lv_backend_limit_key(const lv_backend_limit_t *b)
{
    return b->key;
}
