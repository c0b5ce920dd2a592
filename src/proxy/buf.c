/* proxy/buf.c: the per-worker freelists of chunks and write requests. Owned by one worker;
 * bounded caches so that a burst does not pin memory forever. */
#include "proxy/buf.h"

#include <string.h>

void lv_buf_pool_init(lv_buf_pool_t *pool, uint32_t max_free)
{
    memset(pool, 0, sizeof *pool);
    pool->max_free = max_free;
}

void lv_buf_pool_fini(lv_buf_pool_t *pool)
{
    while (pool->free_chunks) {
        lv_chunk_t *c = pool->free_chunks;
        pool->free_chunks = c->next_free;
        free(c);
    }
    while (pool->free_wreqs) {
        lv_wreq_t *w = pool->free_wreqs;
        pool->free_wreqs = w->next_free;
        free(w);
    }
    pool->n_free_chunks = pool->n_free_wreqs = 0;
}

lv_chunk_t *lv_chunk_acquire(lv_buf_pool_t *pool, size_t cap)
{
    lv_chunk_t *c;
    if (cap <= LV_CHUNK_BYTES && pool->free_chunks) {
        c = pool->free_chunks;
        pool->free_chunks = c->next_free;
        pool->n_free_chunks--;
    } else {
        size_t n = cap <= LV_CHUNK_BYTES ? LV_CHUNK_BYTES : cap;
        c = malloc(sizeof *c + n);
        if (!c)
            return NULL;
        c->cap = (uint32_t)n;
        c->pool = pool;
    }
    c->refs = 1;
    c->next_free = NULL;
    pool->chunks_live++;
    return c;
}

void lv_chunk_release(lv_chunk_t *c)
{
    /* Always on (ARCHITECTURE.md, "Invariants"): a double release would put the chunk on the
     * free list twice and hand one buffer to two owners. */
    LV_ASSERT(c->refs > 0);
    if (--c->refs)
        return;
    lv_buf_pool_t *pool = c->pool;
    pool->chunks_live--;
    if (c->cap == LV_CHUNK_BYTES && pool->n_free_chunks < pool->max_free) {
        c->next_free = pool->free_chunks;
        pool->free_chunks = c;
        pool->n_free_chunks++;
        return;
    }
    free(c);
}

lv_wreq_t *lv_wreq_acquire(lv_buf_pool_t *pool, void *owner)
{
    lv_wreq_t *w = pool->free_wreqs;
    if (w) {
        pool->free_wreqs = w->next_free;
        pool->n_free_wreqs--;
    } else {
        w = malloc(sizeof *w);
        if (!w)
            return NULL;
        w->pool = pool;
    }
    w->owner = owner;
    w->released = false;
    w->bytes = 0;
    w->n_bufs = w->n_refs = w->scratch_used = 0;
    w->next_free = NULL;
    return w;
}

void lv_wreq_release(lv_wreq_t *w)
{
    LV_ASSERT(!w->released);
    w->released = true;
    for (unsigned i = 0; i < w->n_refs; i++)
        lv_chunk_release(w->refs[i]);
    w->n_refs = 0;
    lv_buf_pool_t *pool = w->pool;
    if (pool->n_free_wreqs < pool->max_free) {
        w->next_free = pool->free_wreqs;
        pool->free_wreqs = w;
        pool->n_free_wreqs++;
        return;
    }
    free(w);
}

int lv_wreq_add(lv_wreq_t *w, lv_chunk_t *c, const char *p, size_t len)
{
    if (w->n_bufs >= LV_WREQ_MAX_BUFS)
        return LV_ELIMIT;
    if (c) {
        /* Consecutive spans of the same chunk share one ref. */
        if (!(w->n_refs && w->refs[w->n_refs - 1] == c)) {
            lv_chunk_ref(c);
            w->refs[w->n_refs++] = c;
        }
    }
    w->bufs[w->n_bufs++] = uv_buf_init((char *)p, (unsigned)len);
    w->bytes += len;
    return 0;
}

int lv_wreq_add_copy(lv_wreq_t *w, const char *p, size_t len)
{
    if (w->n_bufs >= LV_WREQ_MAX_BUFS || w->scratch_used + len > LV_WREQ_SCRATCH)
        return LV_ELIMIT;
    char *dst = w->scratch + w->scratch_used;
    memcpy(dst, p, len);
    w->scratch_used += (uint16_t)len;
    w->bufs[w->n_bufs++] = uv_buf_init(dst, (unsigned)len);
    w->bytes += len;
    return 0;
}

int lv_wreq_submit(lv_wreq_t *w, uv_stream_t *stream, uv_write_cb cb)
{
    unsigned first = 0;
    if (uv_stream_get_write_queue_size(stream) == 0) {
        int n = uv_try_write(stream, w->bufs, w->n_bufs);
        if (n >= 0 && (size_t)n == w->bytes) {
            lv_wreq_release(w);
            return 1;
        }
        if (n < 0 && n != UV_EAGAIN) {
            lv_wreq_release(w);
            return n;
        }
        /* Partly written: skip what went out, queue the rest. */
        size_t skip = n > 0 ? (size_t)n : 0;
        while (skip && skip >= w->bufs[first].len)
            skip -= w->bufs[first++].len;
        if (skip) {
            w->bufs[first].base += skip;
            w->bufs[first].len -= skip;
        }
    }
    int rc = uv_write(&w->req, stream, w->bufs + first, w->n_bufs - first, cb);
    if (rc < 0) {
        lv_wreq_release(w);
        return rc;
    }
    return 0;
}
