/* cache/store.c: the shared cache store: shards (mutex + hash index + eviction queue + byte count),
 * SIEVE and LRU eviction, purges, stats, and the refcounted entry with its append-only chunked
 * body. Owns every indexed entry's index reference. Never parses HTTP, never logs, never calls
 * out under a shard lock (see the locking scheme in store.h). Runs on any worker thread. */
#include "cache/store.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#define LV_CACHE_DEF_SHARDS 16u
#define LV_CACHE_DEF_CHUNK_BYTES (16u * 1024u)
#define LV_CACHE_MIN_BUCKETS 64u

/* One piece of a body. A chunk is filled completely before the next one is started, so chunk k
 * holds body bytes [sum of caps before k, + cap). `next` is written once, by the writer, before
 * the release store of a body length that covers bytes in the next chunk. */
struct lv_cache_chunk {
    struct lv_cache_chunk *next;
    size_t cap;
    char data[];
};

struct lv_cache_shard;

struct lv_cache_entry {
    /* Immutable after lv_cache_entry_new. */
    lv_cache_store_t *store;
    struct lv_cache_shard *shard;
    uint64_t hash;
    lv_str_t key, head, meta;
    lv_str_t *tags;
    size_t ntags;
    size_t hint_bytes;
    atomic_uint refs;

    /* Body. `first` is written by the writer before the first length release; tail and tail_used
     * are the writer's alone. */
    struct lv_cache_chunk *first;
    struct lv_cache_chunk *tail;
    size_t tail_used;
    atomic_size_t body_len;
    atomic_bool complete, aborted;
    atomic_size_t alloc_bytes; /* allocation + chunk capacity; changed under the shard lock */

    /* Guarded by the shard lock. qprev points toward the head (newer), qnext toward the tail
     * (older); once unlinked, qnext chains the victims to unref after unlocking. */
    struct lv_cache_entry *hnext, *qprev, *qnext;
    size_t charged;
    bool indexed, inserted, visited;
};

struct lv_cache_shard {
    alignas(64) pthread_mutex_t mu;
    lv_cache_entry_t **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    lv_cache_entry_t *head, *tail,
        *hand; /* queue: head newest; SIEVE's hand moves tailward->head */
    size_t bytes, max_bytes;
    uint64_t hits, misses, insertions, replaced, evictions, purged, rejected;
};

struct lv_cache_store {
    lv_cache_policy_t policy;
    unsigned nshards;
    unsigned shift; /* shard = hash >> shift (64 when one shard) */
    size_t chunk_bytes;
    size_t max_bytes;
    struct lv_cache_shard *shards;
};

/* FNV-1a, then a splitmix64 finaliser so that both the high bits (shard) and the low bits
 * (bucket) are well mixed. */
static uint64_t key_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static struct lv_cache_shard *shard_of(lv_cache_store_t *s, uint64_t hash)
{
    return &s->shards[s->shift >= 64 ? 0 : hash >> s->shift];
}

static bool key_eq(const lv_cache_entry_t *e, uint64_t hash, const void *key, size_t len)
{
    return e->hash == hash && e->key.len == len && memcmp(e->key.p, key, len) == 0;
}

/* ---- under the shard lock ---- */

static lv_cache_entry_t *index_find(struct lv_cache_shard *sh, uint64_t hash, const void *key,
                                    size_t len)
{
    for (lv_cache_entry_t *e = sh->buckets[hash & (sh->nbuckets - 1)]; e; e = e->hnext)
        if (key_eq(e, hash, key, len))
            return e;
    return NULL;
}

/* Doubles the bucket array; on no memory keeps the old one (longer chains, still correct). */
static void index_grow(struct lv_cache_shard *sh)
{
    size_t n = sh->nbuckets * 2;
    lv_cache_entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++) {
        lv_cache_entry_t *e = sh->buckets[i];
        while (e) {
            lv_cache_entry_t *next = e->hnext;
            size_t j = e->hash & (n - 1);
            e->hnext = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->nbuckets = n;
}

static void index_remove(struct lv_cache_shard *sh, lv_cache_entry_t *e)
{
    lv_cache_entry_t **pp = &sh->buckets[e->hash & (sh->nbuckets - 1)];
    while (*pp != e) {
        LV_ASSERT(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    e->hnext = NULL;
}

static void queue_push_head(struct lv_cache_shard *sh, lv_cache_entry_t *e)
{
    e->qprev = NULL;
    e->qnext = sh->head;
    if (sh->head)
        sh->head->qprev = e;
    else
        sh->tail = e;
    sh->head = e;
}

static void queue_remove(struct lv_cache_shard *sh, lv_cache_entry_t *e)
{
    if (sh->hand == e)
        sh->hand = e->qprev; /* SIEVE: the hand keeps moving toward the head */
    if (e->qprev)
        e->qprev->qnext = e->qnext;
    else
        sh->head = e->qnext;
    if (e->qnext)
        e->qnext->qprev = e->qprev;
    else
        sh->tail = e->qprev;
    e->qprev = e->qnext = NULL;
}

/* Removes e from the index and chains it on *victims; the index's ref is dropped later, after
 * unlocking, by unref_victims. */
static void unlink_entry(struct lv_cache_shard *sh, lv_cache_entry_t *e, lv_cache_entry_t **victims)
{
    LV_DASSERT(e->indexed);
    index_remove(sh, e);
    queue_remove(sh, e);
    LV_ASSERT(sh->bytes >= e->charged && sh->count > 0);
    sh->bytes -= e->charged;
    sh->count--;
    e->charged = 0;
    e->indexed = false;
    e->qnext = *victims;
    *victims = e;
}

/* Picks the entry to evict, never `keep`; NULL when there is none. */
static lv_cache_entry_t *pick_victim(lv_cache_store_t *s, struct lv_cache_shard *sh,
                                     const lv_cache_entry_t *keep)
{
    size_t kept = keep && keep->indexed ? 1 : 0;
    if (sh->count <= kept)
        return NULL;
    if (s->policy == LV_CACHE_POLICY_LRU) {
        lv_cache_entry_t *e = sh->tail;
        return e == keep ? e->qprev : e;
    }
    /* SIEVE: from the hand toward the head, clearing visited bits, wrapping to the tail. It ends
     * within two passes: after one, only `keep` can still be skipped, and count > kept. */
    lv_cache_entry_t *e = sh->hand ? sh->hand : sh->tail;
    while (e->visited || e == keep) {
        if (e != keep)
            e->visited = false;
        e = e->qprev ? e->qprev : sh->tail;
    }
    sh->hand = e->qprev;
    return e;
}

/* Evicts until bytes + extra fits. Returns false if it cannot (only `keep` is left). */
static bool make_room(lv_cache_store_t *s, struct lv_cache_shard *sh, size_t extra,
                      const lv_cache_entry_t *keep, lv_cache_entry_t **victims)
{
    while (sh->bytes + extra > sh->max_bytes) {
        lv_cache_entry_t *v = pick_victim(s, sh, keep);
        if (!v)
            return false;
        unlink_entry(sh, v, victims);
        sh->evictions++;
    }
    return true;
}

/* ---- outside any lock ---- */

static void unref_victims(lv_cache_entry_t *v)
{
    while (v) {
        lv_cache_entry_t *next = v->qnext;
        v->qnext = NULL;
        lv_cache_entry_unref(v);
        v = next;
    }
}

lv_cache_store_t *lv_cache_store_new(const lv_cache_store_conf_t *conf)
{
    if (!conf || conf->max_bytes == 0)
        return NULL;
    if (conf->policy != LV_CACHE_POLICY_SIEVE && conf->policy != LV_CACHE_POLICY_LRU)
        return NULL;
    unsigned want = conf->shards ? conf->shards : LV_CACHE_DEF_SHARDS;
    if (want > 4096)
        return NULL;
    unsigned n = 1, bits = 0;
    while (n < want) {
        n <<= 1;
        bits++;
    }
    lv_cache_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->policy = conf->policy;
    s->nshards = n;
    s->shift = 64 - bits;
    s->chunk_bytes = conf->chunk_bytes ? conf->chunk_bytes : LV_CACHE_DEF_CHUNK_BYTES;
    s->max_bytes = conf->max_bytes / n * n;
    size_t sz = (n * sizeof(struct lv_cache_shard) + 63) / 64 * 64;
    s->shards = aligned_alloc(64, sz);
    if (!s->shards)
        goto fail;
    memset(s->shards, 0, sz);
    unsigned i;
    for (i = 0; i < n; i++) {
        struct lv_cache_shard *sh = &s->shards[i];
        sh->max_bytes = conf->max_bytes / n;
        sh->nbuckets = LV_CACHE_MIN_BUCKETS;
        sh->buckets = calloc(sh->nbuckets, sizeof *sh->buckets);
        if (!sh->buckets || pthread_mutex_init(&sh->mu, NULL) != 0) {
            free(sh->buckets);
            goto fail_shards;
        }
    }
    return s;
fail_shards:
    while (i-- > 0) {
        pthread_mutex_destroy(&s->shards[i].mu);
        free(s->shards[i].buckets);
    }
    free(s->shards);
fail:
    free(s);
    return NULL;
}

void lv_cache_store_free(lv_cache_store_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nshards; i++) {
        struct lv_cache_shard *sh = &s->shards[i];
        lv_cache_entry_t *victims = NULL;
        while (sh->head)
            unlink_entry(sh, sh->head, &victims);
        unref_victims(victims);
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mu);
    }
    free(s->shards);
    free(s);
}

lv_cache_entry_t *lv_cache_store_lookup(lv_cache_store_t *s, const void *key, size_t key_len)
{
    uint64_t h = key_hash(key, key_len);
    struct lv_cache_shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    lv_cache_entry_t *e = index_find(sh, h, key, key_len);
    if (e) {
        sh->hits++;
        if (s->policy == LV_CACHE_POLICY_LRU) {
            queue_remove(sh, e);
            queue_push_head(sh, e);
        } else {
            e->visited = true;
        }
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    } else {
        sh->misses++;
    }
    pthread_mutex_unlock(&sh->mu);
    return e;
}

int lv_cache_store_insert(lv_cache_store_t *s, lv_cache_entry_t *e)
{
    if (!e || e->store != s)
        return LV_EINVAL;
    struct lv_cache_shard *sh = e->shard;
    lv_cache_entry_t *victims = NULL;
    int rc = LV_OK;
    pthread_mutex_lock(&sh->mu);
    size_t charge = atomic_load_explicit(&e->alloc_bytes, memory_order_relaxed);
    if (e->inserted) {
        rc = LV_EINVAL;
        goto out;
    }
    if (charge > sh->max_bytes || atomic_load_explicit(&e->aborted, memory_order_relaxed)) {
        sh->rejected++;
        rc = LV_ELIMIT;
        goto out;
    }
    e->inserted = true;
    lv_cache_entry_t *old = index_find(sh, e->hash, e->key.p, e->key.len);
    if (old) {
        unlink_entry(sh, old, &victims);
        sh->replaced++;
    }
    bool ok = make_room(s, sh, charge, NULL, &victims);
    LV_ASSERT(ok); /* charge <= max_bytes and nothing to keep: an empty shard always fits */
    if (sh->count + 1 > sh->nbuckets)
        index_grow(sh);
    size_t b = e->hash & (sh->nbuckets - 1);
    e->hnext = sh->buckets[b];
    sh->buckets[b] = e;
    queue_push_head(sh, e);
    e->visited = false;
    e->indexed = true;
    e->charged = charge;
    sh->bytes += charge;
    sh->count++;
    sh->insertions++;
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* the index's ref */
out:
    pthread_mutex_unlock(&sh->mu);
    unref_victims(victims);
    return rc;
}

int lv_cache_store_purge_key(lv_cache_store_t *s, const void *key, size_t key_len)
{
    uint64_t h = key_hash(key, key_len);
    struct lv_cache_shard *sh = shard_of(s, h);
    lv_cache_entry_t *victims = NULL;
    pthread_mutex_lock(&sh->mu);
    lv_cache_entry_t *e = index_find(sh, h, key, key_len);
    if (e) {
        unlink_entry(sh, e, &victims);
        sh->purged++;
    }
    pthread_mutex_unlock(&sh->mu);
    unref_victims(victims);
    return e ? LV_OK : LV_ENOTFOUND;
}

typedef bool (*match_fn)(const lv_cache_entry_t *e, const void *p, size_t len);

static bool match_prefix(const lv_cache_entry_t *e, const void *p, size_t len)
{
    return e->key.len >= len && memcmp(e->key.p, p, len) == 0;
}

static bool match_tag(const lv_cache_entry_t *e, const void *p, size_t len)
{
    for (size_t i = 0; i < e->ntags; i++)
        if (e->tags[i].len == len && memcmp(e->tags[i].p, p, len) == 0)
            return true;
    return false;
}

/* One shard at a time; the matching is plain memcmp, not a call out. */
static size_t purge_matching(lv_cache_store_t *s, match_fn match, const void *p, size_t len)
{
    size_t n = 0;
    for (unsigned i = 0; i < s->nshards; i++) {
        struct lv_cache_shard *sh = &s->shards[i];
        lv_cache_entry_t *victims = NULL;
        pthread_mutex_lock(&sh->mu);
        lv_cache_entry_t *e = sh->head;
        while (e) {
            lv_cache_entry_t *next = e->qnext;
            if (match(e, p, len)) {
                unlink_entry(sh, e, &victims);
                sh->purged++;
                n++;
            }
            e = next;
        }
        pthread_mutex_unlock(&sh->mu);
        unref_victims(victims);
    }
    return n;
}

size_t lv_cache_store_purge_prefix(lv_cache_store_t *s, const void *prefix, size_t len)
{
    return purge_matching(s, match_prefix, prefix, len);
}

size_t lv_cache_store_purge_tag(lv_cache_store_t *s, const void *tag, size_t len)
{
    return purge_matching(s, match_tag, tag, len);
}

size_t lv_cache_store_max_entry_bytes(const lv_cache_store_t *s)
{
    return s->max_bytes / s->nshards; /* each shard's share, set once at creation */
}

void lv_cache_store_stats(lv_cache_store_t *s, lv_cache_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->max_bytes = s->max_bytes;
    for (unsigned i = 0; i < s->nshards; i++) {
        struct lv_cache_shard *sh = &s->shards[i];
        pthread_mutex_lock(&sh->mu);
        out->entries += sh->count;
        out->bytes += sh->bytes;
        out->hits += sh->hits;
        out->misses += sh->misses;
        out->insertions += sh->insertions;
        out->replaced += sh->replaced;
        out->evictions += sh->evictions;
        out->purged += sh->purged;
        out->rejected += sh->rejected;
        pthread_mutex_unlock(&sh->mu);
    }
}

size_t lv_cache_store_foreach(lv_cache_store_t *s, void (*fn)(lv_cache_entry_t *e, void *arg),
                              void *arg)
{
    size_t calls = 0;
    for (unsigned i = 0; i < s->nshards; i++) {
        struct lv_cache_shard *sh = &s->shards[i];
        lv_cache_entry_t **refs = NULL;
        size_t n = 0;
        for (;;) {
            pthread_mutex_lock(&sh->mu);
            size_t want = sh->count;
            if (want <= n && (refs || want == 0)) {
                n = 0;
                for (lv_cache_entry_t *e = sh->head; e; e = e->qnext)
                    refs[n++] = lv_cache_entry_ref(e);
                pthread_mutex_unlock(&sh->mu);
                break;
            }
            pthread_mutex_unlock(&sh->mu);
            free(refs);
            n = want + 16; /* allocate outside the lock, then check it is still big enough */
            refs = malloc(n * sizeof *refs);
            if (!refs)
                return calls;
        }
        for (size_t j = 0; j < n; j++) {
            fn(refs[j], arg);
            lv_cache_entry_unref(refs[j]);
            calls++;
        }
        free(refs);
    }
    return calls;
}

/* ---- entries ---- */

lv_cache_entry_t *lv_cache_entry_new(lv_cache_store_t *s, const lv_cache_entry_spec_t *spec)
{
    if (!s || !spec || (spec->ntags && !spec->tags))
        return NULL;
    size_t tag_bytes = 0;
    for (size_t i = 0; i < spec->ntags; i++)
        tag_bytes += spec->tags[i].len;
    if (spec->ntags > SIZE_MAX / 2 / sizeof(lv_str_t))
        return NULL;
    size_t sz = sizeof(lv_cache_entry_t) + spec->ntags * sizeof(lv_str_t);
    size_t parts[] = {spec->key.len, spec->head.len, spec->meta.len, tag_bytes};
    for (size_t i = 0; i < LV_ARRAY_LEN(parts); i++) {
        if (parts[i] > SIZE_MAX / 4 - sz)
            return NULL;
        sz += parts[i];
    }
    lv_cache_entry_t *e = calloc(1, sz);
    if (!e)
        return NULL;
    e->tags = (lv_str_t *)(e + 1);
    char *p = (char *)(e->tags + spec->ntags);
    /* Empty parts get a valid pointer too, so that callers can always memcmp/print them. */
    memcpy(p, spec->key.p ? spec->key.p : "", spec->key.len);
    e->key = (lv_str_t){p, spec->key.len};
    p += spec->key.len;
    if (spec->head.len)
        memcpy(p, spec->head.p, spec->head.len);
    e->head = (lv_str_t){p, spec->head.len};
    p += spec->head.len;
    if (spec->meta.len)
        memcpy(p, spec->meta.p, spec->meta.len);
    e->meta = (lv_str_t){p, spec->meta.len};
    p += spec->meta.len;
    for (size_t i = 0; i < spec->ntags; i++) {
        if (spec->tags[i].len)
            memcpy(p, spec->tags[i].p, spec->tags[i].len);
        e->tags[i] = (lv_str_t){p, spec->tags[i].len};
        p += spec->tags[i].len;
    }
    e->ntags = spec->ntags;
    e->store = s;
    e->hash = key_hash(e->key.p, e->key.len);
    e->shard = shard_of(s, e->hash);
    e->hint_bytes = spec->body_hint_bytes;
    atomic_init(&e->refs, 1);
    atomic_init(&e->body_len, 0);
    atomic_init(&e->complete, false);
    atomic_init(&e->aborted, false);
    atomic_init(&e->alloc_bytes, sz);
    return e;
}

lv_cache_entry_t *lv_cache_entry_ref(lv_cache_entry_t *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void lv_cache_entry_unref(lv_cache_entry_t *e)
{
    if (!e)
        return;
    unsigned old = atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel);
    LV_ASSERT(old > 0);
    if (old != 1)
        return;
    LV_DASSERT(!e->indexed);
    struct lv_cache_chunk *c = e->first;
    while (c) {
        struct lv_cache_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(e);
}

int lv_cache_entry_append(lv_cache_entry_t *e, const void *data, size_t len)
{
    if (atomic_load_explicit(&e->complete, memory_order_relaxed) ||
        atomic_load_explicit(&e->aborted, memory_order_relaxed))
        return LV_EINVAL;
    if (len == 0)
        return LV_OK;
    size_t chunk_bytes = e->store->chunk_bytes;
    size_t avail = e->tail ? e->tail->cap - e->tail_used : 0;
    size_t rest = len > avail ? len - avail : 0;

    /* Allocate the new chunks first, outside any lock. */
    struct lv_cache_chunk *fresh = NULL, **link = &fresh;
    size_t delta = 0;
    bool is_first = e->first == NULL;
    while (rest > 0) {
        size_t cap = chunk_bytes;
        if (is_first && e->hint_bytes > 0 && e->hint_bytes < chunk_bytes)
            cap = e->hint_bytes; /* a small body of known length gets one tight chunk */
        is_first = false;
        struct lv_cache_chunk *c = malloc(sizeof *c + cap);
        if (!c) {
            while (fresh) {
                struct lv_cache_chunk *n = fresh->next;
                free(fresh);
                fresh = n;
            }
            return LV_ENOMEM;
        }
        c->next = NULL;
        c->cap = cap;
        *link = c;
        link = &c->next;
        delta += sizeof *c + cap;
        rest -= LV_MIN(rest, cap);
    }

    /* Charge the shard (may evict others, or drop e if it alone is too big). */
    int rc = LV_OK;
    if (delta > 0) {
        struct lv_cache_shard *sh = e->shard;
        lv_cache_entry_t *victims = NULL;
        pthread_mutex_lock(&sh->mu);
        atomic_fetch_add_explicit(&e->alloc_bytes, delta, memory_order_relaxed);
        if (e->indexed) {
            e->charged += delta;
            sh->bytes += delta;
            if (!make_room(e->store, sh, 0, e, &victims)) {
                unlink_entry(sh, e, &victims);
                sh->rejected++;
                rc = LV_ELIMIT;
            }
        }
        pthread_mutex_unlock(&sh->mu);
        unref_victims(victims); /* may hold e's index ref: the writer still holds its own */
    }

    /* Write the bytes, link the chunks, then publish the new length (release). */
    const char *src = data;
    size_t left = len;
    if (avail > 0) {
        size_t n = LV_MIN(avail, left);
        memcpy(e->tail->data + e->tail_used, src, n);
        e->tail_used += n;
        src += n;
        left -= n;
    }
    for (struct lv_cache_chunk *c = fresh; c; c = c->next) {
        if (e->tail)
            e->tail->next = c;
        else
            e->first = c;
        e->tail = c;
        size_t n = LV_MIN(c->cap, left);
        memcpy(c->data, src, n);
        e->tail_used = n;
        src += n;
        left -= n;
    }
    LV_DASSERT(left == 0);
    size_t old = atomic_load_explicit(&e->body_len, memory_order_relaxed);
    atomic_store_explicit(&e->body_len, old + len, memory_order_release);
    return rc;
}

void lv_cache_entry_finish(lv_cache_entry_t *e)
{
    atomic_store_explicit(&e->complete, true, memory_order_release);
}

void lv_cache_entry_abort(lv_cache_entry_t *e)
{
    atomic_store_explicit(&e->aborted, true, memory_order_release);
    struct lv_cache_shard *sh = e->shard;
    lv_cache_entry_t *victims = NULL;
    pthread_mutex_lock(&sh->mu);
    if (e->indexed) {
        unlink_entry(sh, e, &victims);
        sh->purged++;
    }
    pthread_mutex_unlock(&sh->mu);
    unref_victims(victims);
}

size_t lv_cache_entry_body_len(const lv_cache_entry_t *e, bool *complete, bool *aborted)
{
    /* Flags first: complete is released after the final length, so once it is seen the length
     * loaded next is final. */
    bool c = atomic_load_explicit(&e->complete, memory_order_acquire);
    bool a = atomic_load_explicit(&e->aborted, memory_order_acquire);
    size_t n = atomic_load_explicit(&e->body_len, memory_order_acquire);
    if (complete)
        *complete = c;
    if (aborted)
        *aborted = a;
    return n;
}

void lv_cache_reader_init(lv_cache_reader_t *r, const lv_cache_entry_t *e)
{
    *r = (lv_cache_reader_t){.e = e};
}

size_t lv_cache_reader_next(lv_cache_reader_t *r, const void **p)
{
    size_t len = atomic_load_explicit(&r->e->body_len, memory_order_acquire);
    if (r->off >= len)
        return 0;
    /* Bytes at off are published, so every chunk up to the one holding off is linked. */
    if (!r->chunk) {
        r->chunk = r->e->first;
        r->chunk_start = 0;
    }
    while (r->off >= r->chunk_start + r->chunk->cap) {
        r->chunk_start += r->chunk->cap;
        r->chunk = r->chunk->next;
    }
    size_t end = LV_MIN(len, r->chunk_start + r->chunk->cap);
    size_t n = end - r->off;
    *p = r->chunk->data + (r->off - r->chunk_start);
    r->off = end;
    return n;
}

size_t lv_cache_entry_read(const lv_cache_entry_t *e, size_t off, void *buf, size_t cap)
{
    lv_cache_reader_t r = {.e = e, .off = off};
    size_t got = 0;
    char *dst = buf;
    while (got < cap) {
        const void *p;
        size_t n = lv_cache_reader_next(&r, &p);
        if (n == 0)
            break;
        n = LV_MIN(n, cap - got);
        memcpy(dst + got, p, n);
        got += n;
        r.off = off + got; /* a partial copy: resume right after what was taken */
    }
    return got;
}

lv_str_t lv_cache_entry_key(const lv_cache_entry_t *e)
{
    return e->key;
}

lv_str_t lv_cache_entry_head(const lv_cache_entry_t *e)
{
    return e->head;
}

lv_str_t lv_cache_entry_meta(const lv_cache_entry_t *e)
{
    return e->meta;
}

size_t lv_cache_entry_ntags(const lv_cache_entry_t *e)
{
    return e->ntags;
}

lv_str_t lv_cache_entry_tag(const lv_cache_entry_t *e, size_t i)
{
    LV_ASSERT(i < e->ntags);
    return e->tags[i];
}

size_t lv_cache_entry_size_bytes(const lv_cache_entry_t *e)
{
    return atomic_load_explicit(&e->alloc_bytes, memory_order_relaxed);
}
