/* guard/pressure.h: whether a service is under pressure, from the share of its admission
 * decisions that were refusals over the last second or two. Pure logic, times passed in. */
#ifndef LV_GUARD_PRESSURE_H
#define LV_GUARD_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>

/* Pressure is real overload: at least LV_PRESSURE_MIN_REFUSED refusals (shed, or dropped from
 * the queue past their allowed wait) and at least 1/LV_PRESSURE_SHARE_DIV of the decisions in
 * this second and the one before. A queue that merely holds a few requests for a moment is not
 * pressure: nothing is refused for retrying then. */
#define LV_PRESSURE_MIN_REFUSED 10u
#define LV_PRESSURE_SHARE_DIV 10u /* 10 % */

typedef struct lv_pressure {
    uint64_t last_us;              /* last decision that found the refused share high; 0: never */
    uint64_t sec;                  /* the current second (now_us / 1e6) */
    uint32_t total[2], refused[2]; /* [0] the second before, [1] the current one */
} lv_pressure_t;

/* Counts one admission decision at now_us. Readings of the clock taken by different callers
 * may arrive slightly out of order: one older than the current second counts in it. */
void lv_pressure_note(lv_pressure_t *p, uint64_t now_us, bool refused);
/* Whether the last high refused share is less than hold_us before now_us (a now_us older than
 * that mark, read before it was made, says yes). */
bool lv_pressure_on(const lv_pressure_t *p, uint64_t now_us, uint64_t hold_us);

#endif
