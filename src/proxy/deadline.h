/* proxy/deadline.h: a lazy timer: moving a deadline is a store, not a timer-heap operation.
 * The uv timer fires at the earliest armed time and re-arms itself if the deadline moved. */
#ifndef LV_PROXY_DEADLINE_H
#define LV_PROXY_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct lv_deadline {
    uint64_t at;  /* loop time (ms) when it expires; 0 = disarmed */
    uint64_t due; /* when the uv timer is set to fire; 0 = not running */
} lv_deadline_t;

/* Sets the deadline ms from now; touches the timer only if it would fire too late. */
static inline void lv_deadline_set(lv_deadline_t *d, uv_timer_t *t, uv_timer_cb cb, uint64_t ms)
{
    uint64_t now = uv_now(t->loop);
    d->at = now + (ms ? ms : 1);
    if (!d->due || d->due > d->at) {
        d->due = d->at;
        uv_timer_start(t, cb, d->at - now, 0);
    }
}

static inline void lv_deadline_clear(lv_deadline_t *d)
{
    d->at = 0;
}

/* In the timer callback: true if the deadline really passed; otherwise re-arms for the rest. */
static inline bool lv_deadline_expired(lv_deadline_t *d, uv_timer_t *t, uv_timer_cb cb)
{
    d->due = 0;
    if (!d->at)
        return false;
    uint64_t now = uv_now(t->loop);
    if (now >= d->at) {
        d->at = 0;
        return true;
    }
    d->due = d->at;
    uv_timer_start(t, cb, d->at - now, 0);
    return false;
}

#endif
