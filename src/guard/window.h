/* guard/window.h: a sliding window of ten buckets that counts two kinds of events (requests and
 * the failed ones, first tries and retries), for the breaker and the retry budget. Pure logic. */
#ifndef LV_GUARD_WINDOW_H
#define LV_GUARD_WINDOW_H

#include <stdint.h>

#define LV_WINDOW_BUCKETS 10

typedef struct lv_window {
    uint32_t first[LV_WINDOW_BUCKETS], second[LV_WINDOW_BUCKETS]; /* the two counts */
    uint64_t bucket_start_us;                                     /* start of the current bucket */
    uint32_t bucket;                                              /* index of the current bucket */
} lv_window_t;

/* Empties the window; its current bucket starts at now_us. */
void lv_window_reset(lv_window_t *w, uint64_t now_us);
/* Adds to the current bucket after moving it up to now_us (window_ms: the whole window). The
 * window is the current bucket and the nine before it: 0.9 to 1.0 window_ms of history. Counts
 * saturate. */
void lv_window_add(lv_window_t *w, uint64_t now_us, uint32_t window_ms, uint32_t first,
                   uint32_t second);
/* The two sums over the window as it is at now_us. */
void lv_window_sums(lv_window_t *w, uint64_t now_us, uint32_t window_ms, uint64_t *first,
                    uint64_t *second);

#endif
