/* load/hist.c: log-linear latency histogram for levee-load (exact below 128 us, then 64
 * sub-buckets per power of two). Owns only the caller's load_hist_t; the load loop's thread. */
#include "hist.h"

#include <math.h>
#include <string.h>

#include "core/common.h"

void load_hist_reset(load_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

uint32_t load_hist_index(uint64_t v)
{
    if (v >= LOAD_HIST_MAX_VALUE)
        v = LOAD_HIST_MAX_VALUE - 1;
    if (v < LOAD_HIST_EXACT)
        return (uint32_t)v;
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t shift = msb - 6u; /* keeps the top 7 bits: v >> shift in [64, 127] */
    return LOAD_HIST_EXACT + (shift - 1u) * LOAD_HIST_SUB + (uint32_t)((v >> shift) - 64u);
}

uint64_t load_hist_bucket_low(uint32_t idx)
{
    if (idx < LOAD_HIST_EXACT)
        return idx;
    uint32_t k = idx - LOAD_HIST_EXACT;
    uint32_t shift = k / LOAD_HIST_SUB + 1u;
    uint64_t sub = k % LOAD_HIST_SUB + 64u;
    return sub << shift;
}

uint64_t load_hist_bucket_high(uint32_t idx)
{
    if (idx < LOAD_HIST_EXACT)
        return idx;
    uint32_t k = idx - LOAD_HIST_EXACT;
    uint32_t shift = k / LOAD_HIST_SUB + 1u;
    uint64_t sub = k % LOAD_HIST_SUB + 64u;
    return ((sub + 1u) << shift) - 1u;
}

void load_hist_record(load_hist_t *h, uint64_t v)
{
    uint32_t i = load_hist_index(v);
    LV_DASSERT(i < LOAD_HIST_BUCKETS);
    h->buckets[i]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
}

void load_hist_merge(load_hist_t *dst, const load_hist_t *src)
{
    if (src->count == 0)
        return;
    for (uint32_t i = 0; i < LOAD_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
}

uint64_t load_hist_quantile(const load_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LOAD_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = load_hist_bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
