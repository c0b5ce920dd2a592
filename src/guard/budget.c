/* guard/budget.c: the retry budget of one service in one worker (Finagle / Envoy style): levee's
 * own retries stay under ratio * first tries over a sliding window, plus a small floor.
 * Owns only the lv_budget_t it is given; no allocation, no clock reads. Worker loop only. */
#include "guard/budget.h"

#include <string.h>

#include "core/common.h"

#define LV_BUDGET_DEF_WINDOW_MS 10000u

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
    lv_window_reset(&b->window, now_us);
}

void lv_budget_note_request(lv_budget_t *b, uint64_t now_us)
{
    lv_window_add(&b->window, now_us, b->conf.window_ms, 1, 0);
}

bool lv_budget_try_retry(lv_budget_t *b, uint64_t now_us)
{
    uint64_t requests, retries;
    lv_window_sums(&b->window, now_us, b->conf.window_ms, &requests, &retries);
    /* The floor is min_per_s over the whole window (Finagle's reserve), so a quiet service may
     * still retry a few times in a burst. The epsilon absorbs 0.1 * 1000 = 99.999... */
    double share = b->conf.ratio * (double)requests + 1e-9;
    uint64_t allowed = share >= 1e18 ? (uint64_t)1e18 : (uint64_t)share;
    allowed += (uint64_t)b->conf.min_per_s * b->conf.window_ms / 1000u;
    if (retries >= allowed) {
        b->denied++;
        return false;
    }
    lv_window_add(&b->window, now_us, b->conf.window_ms, 0, 1);
    b->used++;
    return true;
}
