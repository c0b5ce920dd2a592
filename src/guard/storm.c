/* guard/storm.c: the retry-storm table: counts requests per (client, resource) key in a window.
 * Owns one fixed block of 4-way sets and its
 * striped locks, allocated at creation and never resized. Shared by all worker threads (the one
 * guard structure made for sharing); it only counts, the caller decides whether to refuse. */
#include "guard/storm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"

/* Layout. An entry is 12 bytes and a set of LV_STORM_WAYS entries is one 64-byte cache line,
 * so a lookup touches one line of the table plus the line of its lock. The low bits of the key
 * pick the set, the high 32 bits are the fingerprint kept in the entry: two keys collide only
 * if they share a set and a fingerprint (about 4 / 2^32 per lookup), and a collision merely
 * merges two clients' counts.
 *
 * Time. Entries keep milliseconds truncated to 32 bits and compare them by signed difference,
 * so they survive the wrap (every 49.7 days). Worker threads pass their own now_ms, which may
 * run a little behind another worker's: a window that seems to start up to LV_STORM_SKEW_MS in
 * the future counts as live. An entry nobody touched for more than 24.8 days may read as live
 * again by accident (chance about (window + skew) / 2^32; at worst one false count).
 *
 * Locks. One mutex per LV_STORM_SETS_PER_LOCK sets, each on its own cache line. The critical
 * section is a handful of loads and stores, so contention needs two workers on the same stripe
 * at the same instant. A glibc adaptive mutex spins briefly then sleeps: unlike a pure
 * spinlock it does not burn a time slice when the holder was preempted (workers may outnumber
 * cores). Lock-free CAS on the entries was rejected: the count and window must change
 * together, and victim choice reads four entries at once.
 *
 * Eviction. A key that is not in its set takes, in this order: an empty slot; a dead entry
 * (window over); else the entry of lowest rank, rank = its count in the live window; ties go
 * to the oldest window. Newcomers start at count 1, so a
 * flood of one-shot keys keeps replacing each other and leaves hot keys in place (scan
 * resistance). Known limit: under a flood of distinct keys far beyond the table's size, a
 * client that repeats slower than its set turns over is forgotten between its requests. */

#define LV_STORM_WAYS 4u
#define LV_STORM_SETS_PER_LOCK 64u
#define LV_STORM_MIN_ENTRIES LV_STORM_WAYS
#define LV_STORM_MAX_ENTRIES (1u << 26) /* 1 GiB of entries: far beyond any sane config */
#define LV_STORM_DEF_WINDOW_MS 10000u
#define LV_STORM_DEF_THRESHOLD 3u
#define LV_STORM_DEF_ENTRIES 65536u
#define LV_STORM_SKEW_MS 1000

typedef struct lv_storm_entry {
    uint32_t fp;        /* high half of the key, never 0; 0 marks an empty slot */
    uint32_t win_start; /* start of the counting window, ms (truncated) */
    uint32_t count;     /* requests in the window, saturating at UINT16_MAX */
} lv_storm_entry_t;

typedef struct lv_storm_set {
    _Alignas(64) lv_storm_entry_t e[LV_STORM_WAYS];
} lv_storm_set_t;

typedef struct lv_storm_lock {
    _Alignas(64) pthread_mutex_t mu;
    _Atomic uint64_t evictions; /* written under mu, read relaxed by lv_storm_evictions */
} lv_storm_lock_t;

_Static_assert(sizeof(lv_storm_entry_t) == 12, "storm entry is 12 bytes");
_Static_assert(sizeof(lv_storm_set_t) == 64, "storm set is one cache line");

struct lv_storm {
    uint32_t window_ms;
    uint32_t threshold;
    size_t nsets;  /* power of two */
    size_t nlocks; /* power of two */
    lv_storm_set_t *sets;
    lv_storm_lock_t *locks;
    size_t bytes;
};

/* ---- the key ------------------------------------------------------------------------------ */

/* Per-process secrets, drawn once from getrandom. Every input word is XORed with a secret
 * before a 64x64->128 multiply (wyhash's "mum"); a client that does not know the secrets cannot
 * aim a word at zero (the known way to make such hashes forget their state), so it cannot craft
 * keys that collide, nor aim its keys at one set to evict a victim. Not a MAC: the key never
 * leaves the process, so it cannot be probed directly. Written once under pthread_once, then
 * read-only: not a mutable global. */
static uint64_t storm_secret[4];
static pthread_once_t storm_secret_once = PTHREAD_ONCE_INIT;

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static void storm_secret_init(void)
{
    size_t got = 0;
    while (got < sizeof storm_secret) {
        ssize_t n = getrandom((char *)storm_secret + got, sizeof storm_secret - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof storm_secret) {
        /* No getrandom (very old kernel, seccomp): weaker, but still unknown to clients. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
        x ^= (uint64_t)(uintptr_t)&got;
        for (size_t i = 0; i < 4; i++)
            storm_secret[i] ^= (x = fmix64(x + 0x9e3779b97f4a7c15ull));
    }
    for (size_t i = 0; i < 4; i++)
        storm_secret[i] |= 1; /* never a zero multiplier */
}

static uint64_t mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t len)
{
    const uint64_t *k = storm_secret;
    const uint8_t *q = (const uint8_t *)p;
    uint64_t h = seed ^ mum((uint64_t)len ^ k[0], k[1]);
    while (len > 16) {
        h = mum(load64(q) ^ k[1], load64(q + 8) ^ h ^ k[2]);
        q += 16;
        len -= 16;
    }
    uint64_t a = 0, b = 0;
    if (len >= 8) {
        a = load64(q);
        b = load64(q + len - 8); /* overlaps a when len < 16; the length is already in h */
    } else if (len > 0) {
        memcpy(&a, q, len);
    }
    return mum(a ^ k[3], b ^ h ^ k[0]);
}

uint64_t lv_storm_key(const char *client, size_t client_len, const char *resource,
                      size_t resource_len)
{
    pthread_once(&storm_secret_once, storm_secret_init);
    /* Chained: the client's hash seeds the resource's, so ("ab", "c") and ("a", "bc") differ
     * (each part's length is mixed in). fmix64 spreads the last product over the low bits
     * (the set index) and the high bits (the fingerprint) alike. */
    uint64_t hc = hash_bytes(0, client ? client : "", client ? client_len : 0);
    uint64_t hr = hash_bytes(hc, resource ? resource : "", resource ? resource_len : 0);
    return fmix64(hr);
}

/* ---- the table ---------------------------------------------------------------------------- */

static size_t round_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

lv_storm_t *lv_storm_new(const lv_storm_conf_t *conf)
{
    LV_ASSERT(conf != NULL);
    pthread_once(&storm_secret_once, storm_secret_init);
    lv_storm_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->window_ms = conf->window_ms ? conf->window_ms : LV_STORM_DEF_WINDOW_MS;
    if (s->window_ms > INT32_MAX / 2)
        s->window_ms = INT32_MAX / 2;
    s->threshold = conf->threshold ? conf->threshold : LV_STORM_DEF_THRESHOLD;
    if (s->threshold >= UINT16_MAX)
        s->threshold = UINT16_MAX - 1; /* the saturating count must be able to exceed it */
    size_t entries = conf->entries ? conf->entries : LV_STORM_DEF_ENTRIES;
    entries = LV_MIN(LV_MAX(entries, (size_t)LV_STORM_MIN_ENTRIES), (size_t)LV_STORM_MAX_ENTRIES);
    entries = round_pow2(entries);
    s->nsets = entries / LV_STORM_WAYS;
    s->nlocks = LV_MAX(s->nsets / LV_STORM_SETS_PER_LOCK, (size_t)1);
    s->sets = aligned_alloc(64, s->nsets * sizeof *s->sets);
    s->locks = aligned_alloc(64, s->nlocks * sizeof *s->locks);
    if (!s->sets || !s->locks)
        goto fail;
    memset(s->sets, 0, s->nsets * sizeof *s->sets);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    for (size_t i = 0; i < s->nlocks; i++) {
        pthread_mutex_init(&s->locks[i].mu, &attr);
        atomic_init(&s->locks[i].evictions, 0);
    }
    pthread_mutexattr_destroy(&attr);
    s->bytes = sizeof *s + s->nsets * sizeof *s->sets + s->nlocks * sizeof *s->locks;
    return s;
fail:
    free(s->sets);
    free(s->locks);
    free(s);
    return NULL;
}

void lv_storm_free(lv_storm_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nlocks; i++)
        pthread_mutex_destroy(&s->locks[i].mu);
    free(s->sets);
    free(s->locks);
    free(s);
}

/* The set and the lock of a key. Stripes interleave: set i is guarded by lock i % nlocks. */
static lv_storm_set_t *set_of(const lv_storm_t *s, uint64_t key, lv_storm_lock_t **lock)
{
    size_t i = (size_t)key & (s->nsets - 1);
    *lock = &s->locks[i & (s->nlocks - 1)];
    return &s->sets[i];
}

static uint32_t fp_of(uint64_t key)
{
    uint32_t fp = (uint32_t)(key >> 32);
    return fp ? fp : 1;
}

/* Is the entry's counting window still running at now? (See "Time" above.) */
static bool window_live(const lv_storm_t *s, const lv_storm_entry_t *e, uint32_t now)
{
    int32_t d = (int32_t)(now - e->win_start);
    return d >= -LV_STORM_SKEW_MS && d < (int32_t)s->window_ms;
}

static lv_storm_entry_t *find(lv_storm_set_t *set, uint32_t fp)
{
    for (size_t w = 0; w < LV_STORM_WAYS; w++)
        if (set->e[w].fp == fp)
            return &set->e[w];
    return NULL;
}

/* Rank of an entry for eviction (see "Eviction" above); 0 means empty or dead. */
static uint32_t rank_of(const lv_storm_t *s, const lv_storm_entry_t *e, uint32_t now)
{
    if (e->fp == 0)
        return 0;
    return window_live(s, e, now) ? e->count : 0;
}

/* Finds the key's entry or makes room for it (count 0, window from now). Under the lock. */
static lv_storm_entry_t *find_or_claim(const lv_storm_t *s, lv_storm_set_t *set,
                                       lv_storm_lock_t *lock, uint32_t fp, uint32_t now)
{
    lv_storm_entry_t *e = find(set, fp);
    if (e)
        return e;
    lv_storm_entry_t *victim = NULL;
    uint32_t vrank = UINT32_MAX;
    int32_t vage = INT32_MIN;
    for (size_t w = 0; w < LV_STORM_WAYS; w++) {
        lv_storm_entry_t *c = &set->e[w];
        uint32_t r = rank_of(s, c, now);
        int32_t age = (int32_t)(now - c->win_start);
        if (r < vrank || (r == vrank && age > vage)) {
            victim = c;
            vrank = r;
            vage = age;
        }
        if (c->fp == 0)
            break;
    }
    if (vrank > 0)
        atomic_fetch_add_explicit(&lock->evictions, 1, memory_order_relaxed);
    *victim = (lv_storm_entry_t){.fp = fp, .win_start = now, .count = 0};
    return victim;
}

lv_storm_verdict_t lv_storm_check(lv_storm_t *s, uint64_t key, uint64_t now_ms,
                                  uint32_t *retry_after_ms)
{
    uint32_t now = (uint32_t)now_ms;
    lv_storm_lock_t *lock;
    lv_storm_set_t *set = set_of(s, key, &lock);
    lv_storm_verdict_t v = LV_STORM_OK;
    uint32_t ra = 0;

    pthread_mutex_lock(&lock->mu);
    lv_storm_entry_t *e = find_or_claim(s, set, lock, fp_of(key), now);
    if (!window_live(s, e, now)) {
        e->win_start = now;
        e->count = 0;
    }
    if (e->count < UINT16_MAX)
        e->count++;
    if (e->count > s->threshold) {
        v = LV_STORM_REPEAT;
        int32_t left = (int32_t)s->window_ms - (int32_t)(now - e->win_start);
        ra = left > 0 ? (uint32_t)left : 1;
    }
    pthread_mutex_unlock(&lock->mu);

    if (retry_after_ms)
        *retry_after_ms = ra;
    return v;
}

uint32_t lv_storm_count(lv_storm_t *s, uint64_t key, uint64_t now_ms)
{
    uint32_t now = (uint32_t)now_ms;
    lv_storm_lock_t *lock;
    lv_storm_set_t *set = set_of(s, key, &lock);
    uint32_t n = 0;

    pthread_mutex_lock(&lock->mu);
    const lv_storm_entry_t *e = find(set, fp_of(key));
    if (e && window_live(s, e, now))
        n = e->count;
    pthread_mutex_unlock(&lock->mu);
    return n;
}

uint64_t lv_storm_evictions(const lv_storm_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nlocks; i++)
        n += atomic_load_explicit(&s->locks[i].evictions, memory_order_relaxed);
    return n;
}

size_t lv_storm_capacity(const lv_storm_t *s)
{
    return s->nsets * LV_STORM_WAYS;
}

size_t lv_storm_bytes(const lv_storm_t *s)
{
    return s->bytes;
}

size_t lv_storm_occupied(lv_storm_t *s)
{
    size_t n = 0;
    for (size_t l = 0; l < s->nlocks; l++) {
        pthread_mutex_lock(&s->locks[l].mu);
        for (size_t i = l; i < s->nsets; i += s->nlocks)
            for (size_t w = 0; w < LV_STORM_WAYS; w++)
                n += s->sets[i].e[w].fp != 0;
        pthread_mutex_unlock(&s->locks[l].mu);
    }
    return n;
}
