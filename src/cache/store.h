/* cache/store.h: the in-process cache store shared by all worker threads: a sharded, byte-bounded
 * index of refcounted entries (response head + append-only chunked body), evicted by SIEVE
 * (default) or LRU, purged by key, key prefix or tag. Knows nothing of HTTP: keys, heads and
 * metadata are opaque bytes built by the rules module.
 *
 * Locking scheme (the one documented scheme of the shared cache):
 *   - N shards (power of two), chosen by the key's hash; each shard has one mutex that guards its
 *     hash index, its eviction queue, its byte count and its counters, and the index fields of
 *     the entries it holds (queue links, visited bit, charged bytes, "indexed").
 *   - A thread holds at most ONE shard lock at a time (multi-shard operations such as purge by
 *     prefix, stats and iteration lock the shards one after the other), and never calls out
 *     (callbacks, logging, I/O, freeing entries) while holding one: entries removed under a lock
 *     are collected and unreferenced after unlocking.
 *   - An entry's body needs no lock: one writer appends, any number of readers read, ordered by
 *     release/acquire on the entry's body length (see lv_cache_entry_append).
 *   - Reference counts are atomic. The index holds one reference per indexed entry; lookup
 *     returns a new reference; the last lv_cache_entry_unref frees the entry, whichever thread
 *     that is. So a reader may stream an entry's body after an eviction or purge removed it.
 *
 * Bytes: each shard may hold max_bytes / shards. An entry is charged for its one allocation
 * (struct, key, head, metadata, tags) plus the capacity of its body chunks; bytes of entries no
 * longer indexed but still referenced by readers are not counted (they go with the last ref). */
#ifndef LV_CACHE_STORE_H
#define LV_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

typedef enum {
    LV_CACHE_POLICY_SIEVE = 0, /* default: FIFO queue + visited bit + moving hand (NSDI '24) */
    LV_CACHE_POLICY_LRU = 1    /* classic LRU: a hit moves the entry to the head */
} lv_cache_policy_t;

typedef struct lv_cache_store_conf {
    size_t max_bytes;         /* total bound over all shards (required, > 0) */
    unsigned shards;          /* rounded up to a power of two; 0 -> 16 */
    size_t chunk_bytes;       /* body chunk capacity; 0 -> 16 KiB */
    lv_cache_policy_t policy; /* default SIEVE */
} lv_cache_store_conf_t;

typedef struct lv_cache_stats {
    uint64_t entries;    /* indexed entries now */
    uint64_t bytes;      /* bytes charged by indexed entries now (<= max_bytes) */
    uint64_t max_bytes;  /* the bound, rounded down to a multiple of the shard count */
    uint64_t hits;       /* lookups that found an entry */
    uint64_t misses;     /* lookups that did not */
    uint64_t insertions; /* successful inserts (replacements included) */
    uint64_t replaced;   /* inserts that replaced an entry with the same key */
    uint64_t evictions;  /* entries removed by the policy to make room */
    uint64_t purged;     /* entries removed by purge or abort */
    uint64_t rejected;   /* inserts or appends refused: larger than a shard's share */
} lv_cache_stats_t;

typedef struct lv_cache_store lv_cache_store_t;
typedef struct lv_cache_entry lv_cache_entry_t;
struct lv_cache_chunk;

/* What a new entry is made of; every byte is copied into the entry. */
typedef struct lv_cache_entry_spec {
    lv_str_t key;           /* method + host + target + secondary key, built by the caller */
    lv_str_t head;          /* immutable response head bytes (status line + headers) */
    lv_str_t meta;          /* opaque blob for the rules module (freshness, validators...) */
    const lv_str_t *tags;   /* surrogate keys, for lv_cache_store_purge_tag; may be NULL */
    size_t ntags;           /* number of tags */
    size_t body_hint_bytes; /* expected body length (Content-Length) or 0: sizes the 1st chunk */
} lv_cache_entry_spec_t;

/* Creates a store. Returns NULL on a bad conf (max_bytes 0) or no memory. Any thread. */
lv_cache_store_t *lv_cache_store_new(const lv_cache_store_conf_t *conf);
/* Drops every indexed entry (readers' refs stay valid) and frees the store. Call when no other
 * thread uses the store and no writer is still appending to one of its entries. */
void lv_cache_store_free(lv_cache_store_t *s);

/* Finds the entry for key. Returns a new reference (release it with lv_cache_entry_unref) or
 * NULL (a miss). Counts a hit or a miss; a hit sets the visited bit (SIEVE) or moves the entry
 * to the head (LRU). The entry may still be filling: check lv_cache_entry_body_len. Any thread. */
lv_cache_entry_t *lv_cache_store_lookup(lv_cache_store_t *s, const void *key, size_t key_len);

/* Indexes e (created for this store, never indexed before), replacing atomically (under the
 * shard lock) any entry with the same key, and evicting to make room. The index takes its own
 * reference; the caller keeps its own. Returns 0, or LV_ELIMIT if e alone is larger than a
 * shard's share (e is then not indexed; an entry it would replace is kept), LV_EINVAL if e was
 * already inserted once. Any thread. */
int lv_cache_store_insert(lv_cache_store_t *s, lv_cache_entry_t *e);

/* Removes the entry indexed under key. Returns 0 or LV_ENOTFOUND. Readers' refs stay valid. */
int lv_cache_store_purge_key(lv_cache_store_t *s, const void *key, size_t key_len);
/* Removes every entry whose key starts with prefix (scans all shards, one at a time: O(entries);
 * entries inserted meanwhile in an already scanned shard survive). Returns how many. */
size_t lv_cache_store_purge_prefix(lv_cache_store_t *s, const void *prefix, size_t len);
/* Removes every entry carrying the tag (exact bytes). Same scan and caveat. Returns how many. */
size_t lv_cache_store_purge_tag(lv_cache_store_t *s, const void *tag, size_t len);

/* The largest entry the store keeps: one shard's share of max_bytes. Any thread. */
size_t lv_cache_store_max_entry_bytes(const lv_cache_store_t *s);

/* Sums the shards' counters into *out (each shard is consistent; the sum is not a snapshot). */
void lv_cache_store_stats(lv_cache_store_t *s, lv_cache_stats_t *out);

/* For tests and admin listings: calls fn on each indexed entry, shard by shard, head (newest)
 * to tail (oldest) within a shard. Each shard's entries are referenced under its lock and fn
 * runs after unlocking, so fn may call into the store. fn must not keep e beyond the call
 * without lv_cache_entry_ref. Returns the number of calls. */
size_t lv_cache_store_foreach(lv_cache_store_t *s, void (*fn)(lv_cache_entry_t *e, void *arg),
                              void *arg);

/* Creates an entry for store s (refcount 1, owned by the caller, not indexed, body empty and not
 * complete). Returns NULL on no memory. Any thread. */
lv_cache_entry_t *lv_cache_entry_new(lv_cache_store_t *s, const lv_cache_entry_spec_t *spec);
/* Takes another reference. Any thread. Returns e. */
lv_cache_entry_t *lv_cache_entry_ref(lv_cache_entry_t *e);
/* Drops a reference; the last one frees the entry (its body included). Any thread. NULL ok. */
void lv_cache_entry_unref(lv_cache_entry_t *e);

/* Appends body bytes. ONE writer per entry (the thread that fills it); readers may read at the
 * same time. Memory ordering: the bytes (and any new chunk link) are written first, then the
 * body length is published with a release store; readers load it with acquire, so every byte
 * below the length they see is fully written. If e is indexed, its shard is charged for the new
 * chunk capacity and may evict other entries. Returns 0; LV_ELIMIT if e outgrew its shard's
 * share (e is then removed from the index, but the bytes are still appended for the readers
 * holding it); LV_ENOMEM (nothing appended); LV_EINVAL if e is complete or aborted. */
int lv_cache_entry_append(lv_cache_entry_t *e, const void *data, size_t len);
/* The writer is done: the body is complete (release store after the final length). */
void lv_cache_entry_finish(lv_cache_entry_t *e);
/* The fill failed (upstream error): marks e aborted and removes it from the index. Readers see
 * aborted and stop. Writer only. */
void lv_cache_entry_abort(lv_cache_entry_t *e);

/* Body bytes readable now (acquire). *complete (if not NULL) is set when no byte will ever be
 * added (finished), *aborted when the fill failed. Any thread holding a ref. */
size_t lv_cache_entry_body_len(const lv_cache_entry_t *e, bool *complete, bool *aborted);
/* Copies up to cap body bytes from offset off into buf; returns how many (0 if none yet). */
size_t lv_cache_entry_read(const lv_cache_entry_t *e, size_t off, void *buf, size_t cap);

/* A zero-copy cursor over an entry's body, for streaming to a socket. Holds no reference itself:
 * the caller keeps one for as long as it uses the cursor and the spans it returned. */
typedef struct lv_cache_reader {
    const lv_cache_entry_t *e;
    const struct lv_cache_chunk *chunk; /* chunk holding off (NULL before the first) */
    size_t chunk_start;                 /* body offset of chunk's first byte */
    size_t off;                         /* next body byte to return */
} lv_cache_reader_t;

void lv_cache_reader_init(lv_cache_reader_t *r, const lv_cache_entry_t *e);
/* Points *p at the next contiguous readable bytes and returns their count (0: nothing more
 * now; check lv_cache_entry_body_len for complete/aborted). Advances the cursor past them. */
size_t lv_cache_reader_next(lv_cache_reader_t *r, const void **p);

/* Immutable parts; valid while the caller holds a ref. */
lv_str_t lv_cache_entry_key(const lv_cache_entry_t *e);
lv_str_t lv_cache_entry_head(const lv_cache_entry_t *e);
lv_str_t lv_cache_entry_meta(const lv_cache_entry_t *e);
size_t lv_cache_entry_ntags(const lv_cache_entry_t *e);
lv_str_t lv_cache_entry_tag(const lv_cache_entry_t *e, size_t i);
/* Bytes this entry is charged for now (allocation + chunk capacity). */
size_t lv_cache_entry_size_bytes(const lv_cache_entry_t *e);

#endif
