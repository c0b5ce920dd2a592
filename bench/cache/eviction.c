/* bench/cache/eviction.c: hit ratio of the cache store's eviction policies (SIEVE, LRU) on a
 * seeded Zipf(alpha) trace over a key space, at caches of 0.1 %, 1 % and 10 % of the keys (equal
 * sizes), plus S3-FIFO as a standalone reference simulator (not in the store). Single thread;
 * built by bench/cache/run.sh, not part of the CMake build or the test run. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/store.h"

static uint64_t rng_state;

/* xorshift64*: seeded, reproducible, fast. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double *cdf;
static unsigned nkeys;

static void zipf_init(unsigned n, double alpha)
{
    nkeys = n;
    cdf = malloc(n * sizeof *cdf);
    double sum = 0;
    for (unsigned i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), alpha);
        cdf[i] = sum;
    }
    for (unsigned i = 0; i < n; i++)
        cdf[i] /= sum;
}

/* Rank 0 is the most popular. Ranks are scattered over key ids by a multiplicative hash so that
 * popularity is not correlated with the key's bytes. */
static unsigned zipf_next(void)
{
    double u = (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
    unsigned lo = 0, hi = nkeys - 1;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (unsigned)(((uint64_t)lo * 2654435761u) % nkeys);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define KEYFMT "GET bench.example /k%07u"

static size_t one_entry_bytes(void)
{
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 1};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    char key[64];
    int n = snprintf(key, sizeof key, KEYFMT, 0u);
    lv_cache_entry_spec_t spec = {.key = {key, (size_t)n}};
    lv_cache_entry_t *e = lv_cache_entry_new(s, &spec);
    size_t sz = lv_cache_entry_size_bytes(e);
    lv_cache_entry_unref(e);
    lv_cache_store_free(s);
    return sz;
}

/* Runs the trace through the real store; returns the hit ratio (over all requests). */
static double run_store(lv_cache_policy_t policy, unsigned shards, size_t slots, uint64_t requests,
                        uint64_t seed, double *mops)
{
    lv_cache_store_conf_t conf = {
        .max_bytes = slots * one_entry_bytes() * 1, .shards = shards, .policy = policy};
    /* Each shard must hold its share of whole entries: round the bound to shards * entries. */
    size_t per = slots / shards;
    conf.max_bytes = per * shards * one_entry_bytes();
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    rng_state = seed;
    uint64_t hits = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < requests; i++) {
        char key[64];
        int n = snprintf(key, sizeof key, KEYFMT, zipf_next());
        lv_cache_entry_t *e = lv_cache_store_lookup(s, key, (size_t)n);
        if (e) {
            hits++;
            lv_cache_entry_unref(e);
            continue;
        }
        lv_cache_entry_spec_t spec = {.key = {key, (size_t)n}};
        e = lv_cache_entry_new(s, &spec);
        if (!e || lv_cache_store_insert(s, e) != 0) {
            fprintf(stderr, "insert failed\n");
            exit(1);
        }
        lv_cache_entry_finish(e);
        lv_cache_entry_unref(e);
    }
    double dt = now_s() - t0;
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    if (st.hits != hits || st.bytes > st.max_bytes) {
        fprintf(stderr, "inconsistent stats\n");
        exit(1);
    }
    lv_cache_store_free(s);
    *mops = (double)requests / dt / 1e6;
    return (double)hits / (double)requests;
}

/* S3-FIFO (SOSP '23) reference simulator over key ids: small FIFO (10 %), main FIFO (90 %), ghost
 * FIFO of main's size remembering keys evicted from small; 2-bit frequency. Not in the store. */
typedef struct {
    unsigned *q;
    size_t cap, head, len;
} fifo_t;

static void fifo_push(fifo_t *f, unsigned k)
{
    f->q[(f->head + f->len) % f->cap] = k;
    f->len++;
}

static unsigned fifo_pop(fifo_t *f)
{
    unsigned k = f->q[f->head];
    f->head = (f->head + 1) % f->cap;
    f->len--;
    return k;
}

enum { WHERE_NONE = 0, WHERE_SMALL = 1, WHERE_MAIN = 2, WHERE_GHOST = 3 };

typedef struct {
    fifo_t small, mainq, ghost;
    size_t small_cap, ghost_cap;
    unsigned char *where, *freq;
    uint64_t *ghost_seq; /* push number of a key's latest ghost record */
    uint64_t ghost_pushed, ghost_popped;
} s3_t;

static void s3_ghost_add(s3_t *c, unsigned k)
{
    if (c->ghost.len == c->ghost_cap) {
        unsigned g = fifo_pop(&c->ghost);
        if (c->where[g] == WHERE_GHOST && c->ghost_seq[g] == c->ghost_popped)
            c->where[g] = WHERE_NONE;
        c->ghost_popped++;
    }
    c->where[k] = WHERE_GHOST;
    c->ghost_seq[k] = c->ghost_pushed++;
    fifo_push(&c->ghost, k);
}

/* One step of eviction: from small (promote if re-accessed, else ghost it) or from main
 * (re-insert while its frequency lasts, decrementing it). */
static void s3_evict_step(s3_t *c)
{
    if (c->small.len > c->small_cap || c->mainq.len == 0) {
        unsigned v = fifo_pop(&c->small);
        if (c->freq[v] > 0) {
            c->freq[v] = 0;
            c->where[v] = WHERE_MAIN;
            fifo_push(&c->mainq, v);
        } else {
            s3_ghost_add(c, v);
        }
    } else {
        unsigned m = fifo_pop(&c->mainq);
        if (c->freq[m] > 0) {
            c->freq[m]--;
            fifo_push(&c->mainq, m);
        } else {
            c->where[m] = WHERE_NONE;
        }
    }
}

static double run_s3fifo(size_t slots, uint64_t requests, uint64_t seed)
{
    s3_t c = {0};
    c.small_cap = slots / 10 ? slots / 10 : 1;
    c.ghost_cap = slots - c.small_cap ? slots - c.small_cap : 1;
    c.small = (fifo_t){calloc(slots + 1, sizeof(unsigned)), slots + 1, 0, 0};
    c.mainq = (fifo_t){calloc(slots + 1, sizeof(unsigned)), slots + 1, 0, 0};
    c.ghost = (fifo_t){calloc(c.ghost_cap, sizeof(unsigned)), c.ghost_cap, 0, 0};
    c.where = calloc(nkeys, 1);
    c.freq = calloc(nkeys, 1);
    c.ghost_seq = calloc(nkeys, sizeof(uint64_t));
    rng_state = seed;
    uint64_t hits = 0;
    for (uint64_t i = 0; i < requests; i++) {
        unsigned k = zipf_next();
        if (c.where[k] == WHERE_SMALL || c.where[k] == WHERE_MAIN) {
            hits++;
            if (c.freq[k] < 3)
                c.freq[k]++;
            continue;
        }
        bool from_ghost = c.where[k] == WHERE_GHOST;
        while (c.small.len + c.mainq.len >= slots)
            s3_evict_step(&c);
        c.freq[k] = 0;
        c.where[k] = from_ghost ? WHERE_MAIN : WHERE_SMALL;
        fifo_push(from_ghost ? &c.mainq : &c.small, k);
    }
    free(c.small.q);
    free(c.mainq.q);
    free(c.ghost.q);
    free(c.where);
    free(c.freq);
    free(c.ghost_seq);
    return (double)hits / (double)requests;
}

int main(int argc, char **argv)
{
    unsigned keys = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000u;
    uint64_t requests = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000ull;
    double alpha = argc > 3 ? strtod(argv[3], NULL) : 0.9;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 42;
    unsigned shards = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 1;
    zipf_init(keys, alpha);
    printf("trace: Zipf(%.2f) over %u keys, %llu requests, seed %llu; store shards %u; entry %zu "
           "bytes\n",
           alpha, keys, (unsigned long long)requests, (unsigned long long)seed, shards,
           one_entry_bytes());
    printf(
        "| cache size | LRU hit ratio | SIEVE hit ratio | SIEVE - LRU | S3-FIFO (sim) | LRU Mops/s "
        "| SIEVE Mops/s |\n|---|---|---|---|---|---|---|\n");
    const double fracs[] = {0.001, 0.01, 0.1};
    for (size_t i = 0; i < 3; i++) {
        size_t slots = (size_t)((double)keys * fracs[i]);
        double m_lru, m_sieve;
        double lru = run_store(LV_CACHE_POLICY_LRU, shards, slots, requests, seed, &m_lru);
        double sieve = run_store(LV_CACHE_POLICY_SIEVE, shards, slots, requests, seed, &m_sieve);
        double s3 = run_s3fifo(slots, requests, seed);
        printf("| %.1f %% (%zu entries) | %.2f %% | %.2f %% | %+.2f pt | %.2f %% | %.2f | %.2f |\n",
               fracs[i] * 100, slots, lru * 100, sieve * 100, (sieve - lru) * 100, s3 * 100, m_lru,
               m_sieve);
        fflush(stdout);
    }
    free(cdf);
    return 0;
}
