/* guard/window.c: the ten-bucket sliding window of the breaker and the retry budget (see
 * window.h). Owns only the lv_window_t it is given; no allocation, no clock reads. */
#include "guard/window.h"

#include <string.h>

void lv_window_reset(lv_window_t *w, uint64_t now_us)
{
    memset(w, 0, sizeof *w);
    w->bucket_start_us = now_us;
}

/* Moves the current bucket up to now, zeroing every bucket it passes. After an idle gap of a
 * whole window or more, everything is cleared at once (no loop over the gap). A clock that
 * went backwards keeps the current bucket. Buckets stay aligned to the first start. */
static void rotate(lv_window_t *w, uint64_t now_us, uint32_t window_ms)
{
    if (now_us < w->bucket_start_us)
        return;
    uint64_t width = (uint64_t)window_ms * 1000u / LV_WINDOW_BUCKETS;
    if (width == 0)
        width = 1; /* a tiny window cannot divide by zero */
    uint64_t steps = (now_us - w->bucket_start_us) / width;
    if (steps == 0)
        return;
    if (steps >= LV_WINDOW_BUCKETS) {
        memset(w->first, 0, sizeof w->first);
        memset(w->second, 0, sizeof w->second);
        w->bucket = (uint32_t)((w->bucket + steps) % LV_WINDOW_BUCKETS);
    } else {
        for (uint64_t i = 0; i < steps; i++) {
            w->bucket = (w->bucket + 1) % LV_WINDOW_BUCKETS;
            w->first[w->bucket] = 0;
            w->second[w->bucket] = 0;
        }
    }
    w->bucket_start_us += steps * width;
}

static uint32_t add_saturating(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void lv_window_add(lv_window_t *w, uint64_t now_us, uint32_t window_ms, uint32_t first,
                   uint32_t second)
{
    rotate(w, now_us, window_ms);
    w->first[w->bucket] = add_saturating(w->first[w->bucket], first);
    w->second[w->bucket] = add_saturating(w->second[w->bucket], second);
}

void lv_window_sums(lv_window_t *w, uint64_t now_us, uint32_t window_ms, uint64_t *first,
                    uint64_t *second)
{
    rotate(w, now_us, window_ms);
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i < LV_WINDOW_BUCKETS; i++) {
        a += w->first[i];
        b += w->second[i];
    }
    *first = a;
    *second = b;
}
