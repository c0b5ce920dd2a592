/* proxy/buf.h: refcounted byte chunks and batched write requests, from per-worker freelists.
 * A chunk lives while any pending write points into it; nothing here is shared across threads. */
#ifndef LV_PROXY_BUF_H
#define LV_PROXY_BUF_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/common.h"

#define LV_CHUNK_BYTES 32768u
#define LV_WREQ_MAX_BUFS 16
#define LV_WREQ_SCRATCH 320

typedef struct lv_chunk lv_chunk_t;
typedef struct lv_buf_pool lv_buf_pool_t;

struct lv_chunk {
    uint32_t refs;
    uint32_t cap;
    lv_buf_pool_t *pool;
    lv_chunk_t *next_free;
    char data[];
};

/* A write being built, then in flight: bufs point into the referenced chunks, into static
 * memory, or into scratch (chunked framing). Released in the write callback. */
typedef struct lv_wreq {
    uv_write_t req;
    struct lv_wreq *next_free;
    lv_buf_pool_t *pool;
    void *owner;
    size_t bytes;
    uint16_t n_bufs, n_refs, scratch_used;
    bool released; /* in the pool: a second release is caught (LV_ASSERT, every build) */
    uv_buf_t bufs[LV_WREQ_MAX_BUFS];
    lv_chunk_t *refs[LV_WREQ_MAX_BUFS];
    char scratch[LV_WREQ_SCRATCH];
} lv_wreq_t;

struct lv_buf_pool {
    lv_chunk_t *free_chunks;
    lv_wreq_t *free_wreqs;
    uint32_t n_free_chunks, n_free_wreqs;
    uint32_t max_free;    /* cache bound; beyond it memory goes back to malloc */
    uint64_t chunks_live; /* for leak checks and /status */
};

void lv_buf_pool_init(lv_buf_pool_t *pool, uint32_t max_free);
/* Frees cached memory. Every chunk and wreq must have been released. */
void lv_buf_pool_fini(lv_buf_pool_t *pool);

/* A chunk of at least `cap` bytes (LV_CHUNK_BYTES come from the freelist), refs == 1.
 * Returns NULL when memory is exhausted: the caller fails its request, not the process. */
lv_chunk_t *lv_chunk_acquire(lv_buf_pool_t *pool, size_t cap);
static inline void lv_chunk_ref(lv_chunk_t *c)
{
    c->refs++;
}
void lv_chunk_release(lv_chunk_t *c);

lv_wreq_t *lv_wreq_acquire(lv_buf_pool_t *pool, void *owner);
/* Drops the chunk refs and returns the wreq to its pool. */
void lv_wreq_release(lv_wreq_t *w);

/* Appends a span that lives in chunk c (a ref is taken) or, with c == NULL, in static memory.
 * Returns 0, or LV_ELIMIT when the wreq is full (submit it and start another). */
int lv_wreq_add(lv_wreq_t *w, lv_chunk_t *c, const char *p, size_t len);
/* Copies a small span into the wreq's scratch (chunked framing). LV_ELIMIT when full. */
int lv_wreq_add_copy(lv_wreq_t *w, const char *p, size_t len);
/* Sends w on stream: synchronously when the socket takes every byte (w is released, no
 * callback, returns 1); otherwise the rest is queued with uv_write and cb runs later (returns
 * 0). On error w is released and the uv error code returned. */
int lv_wreq_submit(lv_wreq_t *w, uv_stream_t *stream, uv_write_cb cb);

static inline int lv_wreq_room(const lv_wreq_t *w, unsigned bufs, size_t scratch)
{
    return w->n_bufs + bufs <= LV_WREQ_MAX_BUFS && w->scratch_used + scratch <= LV_WREQ_SCRATCH;
}

#endif
