/* guard/budget.h: the retry budget of one service in one worker: levee's own retries stay under
 * a share of the requests over a sliding window (Finagle / Envoy style). Pure logic. */
#ifndef LV_GUARD_BUDGET_H
#define LV_GUARD_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/window.h"

typedef struct lv_budget_conf {
    double ratio;       /* retries allowed per request (default 0.1) */
    uint32_t min_per_s; /* retries always allowed per second, even at low traffic (default 3) */
    uint32_t window_ms; /* (default 10000) */
} lv_budget_conf_t;

typedef struct lv_budget {
    lv_budget_conf_t conf;
    lv_window_t window; /* first = first tries, second = retries granted */
    uint64_t used, denied;
} lv_budget_t;

void lv_budget_init(lv_budget_t *b, const lv_budget_conf_t *conf, uint64_t now_us);
/* Counts a first try. */
void lv_budget_note_request(lv_budget_t *b, uint64_t now_us);
/* Asks for one retry: true (and counted) if within budget. */
bool lv_budget_try_retry(lv_budget_t *b, uint64_t now_us);

#endif
