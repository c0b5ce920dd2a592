/* load/hist.h: a log-linear latency histogram (HdrHistogram-like) in microseconds.
 * Values below 128 are exact; above, 64 sub-buckets per power of two (error < 1/64).
 * Fixed size, no allocation after init; one owner thread. */
#ifndef LOAD_HIST_H
#define LOAD_HIST_H

#include <stdint.h>

#define LOAD_HIST_EXACT 128u
#define LOAD_HIST_SUB 64u
/* Values are clamped to 2^40 us (about 12 days). */
#define LOAD_HIST_MAX_SHIFT 34u
#define LOAD_HIST_BUCKETS (LOAD_HIST_EXACT + LOAD_HIST_MAX_SHIFT * LOAD_HIST_SUB)
#define LOAD_HIST_MAX_VALUE ((uint64_t)1 << 40)

typedef struct load_hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint64_t buckets[LOAD_HIST_BUCKETS];
} load_hist_t;

void load_hist_reset(load_hist_t *h);
void load_hist_record(load_hist_t *h, uint64_t v);
/* Adds every sample of src into dst. */
void load_hist_merge(load_hist_t *dst, const load_hist_t *src);
/* The value at quantile q in [0, 1]: the highest value equivalent to the bucket holding the
 * sample of rank ceil(q * count), never above the exact max. 0 when empty. */
uint64_t load_hist_quantile(const load_hist_t *h, double q);

/* Bucket arithmetic, exposed for tests. */
uint32_t load_hist_index(uint64_t v);
uint64_t load_hist_bucket_low(uint32_t idx);
uint64_t load_hist_bucket_high(uint32_t idx);

#endif
