/* guard/budget.c: the retry budget of one service in one worker (Finagle / Envoy style): levee's
 * own retries stay under ratio * first tries over a sliding window, plus a small floor.
 * Owns only the lv_budget_t it is given; no allocation, no clock reads. Worker loop only. */
#include "guard/budget.h"

#include <string.h>

#include "core/common.h"

#define LV_BUDGET_BUCKETS LV_ARRAY_LEN(((lv_budget_t *)0)->requests)
#define LV_BUDGET_DEF_WINDOW_MS 10000u

static uint64_t bucket_us(const lv_budget_t *b)
{
    uint64_t w = (uint64_t)b->conf.window_ms * 1000u / LV_BUDGET_BUCKETS;
    return w ? w : 1;
}

/* Same sliding window as the breaker: the current bucket and the nine before it; an idle gap
 * of a whole window clears everything at once; a clock going backwards keeps the bucket. */
static void rotate(lv_budget_t *b, uint64_t now_us)
{
    if (now_us < b->bucket_start_us)
        return;
    uint64_t w = bucket_us(b);
    uint64_t steps = (now_us - b->bucket_start_us) / w;
    if (steps == 0)
        return;
    if (steps >= LV_BUDGET_BUCKETS) {
        memset(b->requests, 0, sizeof b->requests);
        memset(b->retries, 0, sizeof b->retries);
        b->bucket = (uint32_t)((b->bucket + steps) % LV_BUDGET_BUCKETS);
    } else {
        for (uint64_t i = 0; i < steps; i++) {
            b->bucket = (uint32_t)((b->bucket + 1) % LV_BUDGET_BUCKETS);
            b->requests[b->bucket] = 0;
            b->retries[b->bucket] = 0;
        }
    }
    b->bucket_start_us += steps * w;
}

void lv_budget_init(lv_budget_t *b, const lv_budget_conf_t *conf, uint64_t now_us)
{
    LV_ASSERT(b != NULL && conf != NULL);
    memset(b, 0, sizeof *b);
    b->conf = *conf;
    /* ratio 0 and min_per_s 0 are meaningful (no retries of that kind); only an unset window
     * takes its default. A negative or NaN ratio means none. */
    if (b->conf.window_ms == 0)
        b->conf.window_ms = LV_BUDGET_DEF_WINDOW_MS;
    if (!(b->conf.ratio > 0.0))
        b->conf.ratio = 0.0;
    b->bucket_start_us = now_us;
}

void lv_budget_note_request(lv_budget_t *b, uint64_t now_us)
{
    rotate(b, now_us);
    if (b->requests[b->bucket] < UINT32_MAX)
        b->requests[b->bucket]++;
}

bool lv_budget_try_retry(lv_budget_t *b, uint64_t now_us)
{
    rotate(b, now_us);
    uint64_t requests = 0, retries = 0;
    for (size_t i = 0; i < LV_BUDGET_BUCKETS; i++) {
        requests += b->requests[i];
        retries += b->retries[i];
    }
    /* The floor is min_per_s over the whole window (Finagle's reserve), so a quiet service may
     * still retry a few times in a burst. The epsilon absorbs 0.1 * 1000 = 99.999... */
    double share = b->conf.ratio * (double)requests + 1e-9;
    uint64_t allowed = share >= 1e18 ? (uint64_t)1e18 : (uint64_t)share;
    allowed += (uint64_t)b->conf.min_per_s * b->conf.window_ms / 1000u;
    if (retries >= allowed) {
        b->denied++;
        return false;
    }
    if (b->retries[b->bucket] < UINT32_MAX)
        b->retries[b->bucket]++;
    b->used++;
    return true;
}
