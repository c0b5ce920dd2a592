/* cache/flight.c: the shared table of cache misses in flight and of pass markers (see
 * cache/flight.h for the locking scheme). */
#include "cache/flight.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define LV_FLIGHT_BUCKETS 256u /* per shard; chains stay short: flights live for one RTT */
/* Pass markers kept per shard at most: beyond it a PASS verdict is not remembered. */
#define LV_FLIGHT_MAX_PER_SHARD 4096u

struct lv_flight {
    atomic_uint refs;
    _Atomic int state;      /* lv_flight_state_t */
    lv_flight_t *next;      /* shard chain (guarded by the shard lock) */
    uint64_t pass_until_us; /* PASS marker expiry (guarded by the shard lock) */
    uint64_t hash;
    bool in_table; /* guarded by the shard lock */
    size_t key_len;
    char key[];
};

typedef struct flight_shard {
    uv_mutex_t lock;
    lv_flight_t *buckets[LV_FLIGHT_BUCKETS];
    size_t count;
} flight_shard_t;

struct lv_flights {
    unsigned n_shards; /* power of two */
    flight_shard_t *shards;
};

static uint64_t key_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

lv_flights_t *lv_flights_new(unsigned shards)
{
    unsigned n = 1;
    while (n < (shards ? shards : 16))
        n <<= 1;
    lv_flights_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->shards = calloc(n, sizeof *t->shards);
    if (!t->shards) {
        free(t);
        return NULL;
    }
    t->n_shards = n;
    for (unsigned i = 0; i < n; i++)
        uv_mutex_init(&t->shards[i].lock);
    return t;
}

void lv_flight_unref(lv_flight_t *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

void lv_flights_free(lv_flights_t *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < t->n_shards; i++) {
        flight_shard_t *s = &t->shards[i];
        for (unsigned b = 0; b < LV_FLIGHT_BUCKETS; b++)
            for (lv_flight_t *f = s->buckets[b], *next; f; f = next) {
                next = f->next;
                lv_flight_unref(f); /* the table's reference */
            }
        uv_mutex_destroy(&s->lock);
    }
    free(t->shards);
    free(t);
}

static flight_shard_t *shard_of(lv_flights_t *t, uint64_t h)
{
    return &t->shards[(h >> 56) & (t->n_shards - 1)];
}

/* Unlinks f from its chain (shard locked); returns the table's reference to drop later. */
static lv_flight_t *unlink_locked(flight_shard_t *s, lv_flight_t *f)
{
    lv_flight_t **pp = &s->buckets[f->hash % LV_FLIGHT_BUCKETS];
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (!*pp)
        return NULL;
    *pp = f->next;
    f->next = NULL;
    f->in_table = false;
    s->count--;
    return f;
}

lv_flight_role_t lv_flight_join(lv_flights_t *t, const void *key, size_t len, uint64_t now_us,
                                lv_flight_t **out)
{
    uint64_t h = key_hash(key, len);
    flight_shard_t *s = shard_of(t, h);
    *out = NULL;
    lv_flight_t *dropped[8];
    unsigned n_dropped = 0;
    uv_mutex_lock(&s->lock);
    lv_flight_t **pp = &s->buckets[h % LV_FLIGHT_BUCKETS];
    while (*pp) {
        lv_flight_t *f = *pp;
        int st = atomic_load_explicit(&f->state, memory_order_acquire);
        bool stale =
            st != LV_FLIGHT_PENDING && !(st == LV_FLIGHT_PASS && now_us < f->pass_until_us);
        bool same = f->hash == h && f->key_len == len && memcmp(f->key, key, len) == 0;
        if (stale && n_dropped < 8) { /* an old verdict on this chain: sweep it */
            dropped[n_dropped++] = unlink_locked(s, f);
            continue; /* *pp is the next one now */
        }
        if (same && st == LV_FLIGHT_PENDING) {
            atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
            uv_mutex_unlock(&s->lock);
            for (unsigned i = 0; i < n_dropped; i++)
                lv_flight_unref(dropped[i]);
            *out = f;
            return LV_FLIGHT_FOLLOW;
        }
        if (same && !stale) {
            uv_mutex_unlock(&s->lock);
            for (unsigned i = 0; i < n_dropped; i++)
                lv_flight_unref(dropped[i]);
            return LV_FLIGHT_BYPASS;
        }
        pp = &f->next;
    }
    lv_flight_t *f = malloc(sizeof *f + len);
    if (f) {
        atomic_init(&f->refs, 2); /* the table's and the leader's */
        atomic_init(&f->state, LV_FLIGHT_PENDING);
        f->pass_until_us = 0;
        f->hash = h;
        f->key_len = len;
        memcpy(f->key, key, len);
        f->in_table = true;
        lv_flight_t **head = &s->buckets[h % LV_FLIGHT_BUCKETS];
        f->next = *head;
        *head = f;
        s->count++;
    }
    uv_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < n_dropped; i++)
        lv_flight_unref(dropped[i]);
    *out = f;
    return f ? LV_FLIGHT_LEAD : LV_FLIGHT_BYPASS;
}

void lv_flight_resolve(lv_flights_t *t, lv_flight_t *f, lv_flight_state_t st,
                       uint64_t pass_until_us)
{
    flight_shard_t *s = shard_of(t, f->hash);
    lv_flight_t *drop = NULL;
    uv_mutex_lock(&s->lock);
    int expect = LV_FLIGHT_PENDING;
    if (atomic_load_explicit(&f->state, memory_order_relaxed) == expect) {
        f->pass_until_us = pass_until_us;
        atomic_store_explicit(&f->state, (int)st, memory_order_release);
        bool keep = st == LV_FLIGHT_PASS && pass_until_us && s->count <= LV_FLIGHT_MAX_PER_SHARD;
        if (f->in_table && !keep)
            drop = unlink_locked(s, f);
    }
    uv_mutex_unlock(&s->lock);
    lv_flight_unref(drop);
}

lv_flight_state_t lv_flight_state(const lv_flight_t *f)
{
    return (lv_flight_state_t)atomic_load_explicit(&f->state, memory_order_acquire);
}

size_t lv_flights_count(lv_flights_t *t)
{
    size_t n = 0;
    for (unsigned i = 0; i < t->n_shards; i++) {
        uv_mutex_lock(&t->shards[i].lock);
        n += t->shards[i].count;
        uv_mutex_unlock(&t->shards[i].lock);
    }
    return n;
}
