/* proxy/timeouts.h: many lazy deadlines on one uv timer: an intrusive min-heap of entries (40
 * bytes each instead of a uv_timer_t per connection). One set per worker; not thread-safe. */
#ifndef LV_PROXY_TIMEOUTS_H
#define LV_PROXY_TIMEOUTS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* One deadline, embedded in its owner. Zeroed storage is a disarmed entry outside the heap.
 * Lazy like proxy/deadline.h: moving a deadline later is a store; the entry stays in the heap
 * under its old key (due) and is put back under the new one when that key comes up. */
typedef struct lv_timeout {
    struct lv_timeout *parent, *left, *right;
    uint64_t at;  /* loop time (ms) when it expires; 0 = disarmed */
    uint64_t due; /* its key in the heap; 0 = not in the heap */
} lv_timeout_t;

typedef struct lv_timeouts lv_timeouts_t;

/* Called for an entry whose deadline passed (it is disarmed and out of the heap by then). It
 * may set, clear or remove any entry, this one included. */
typedef void (*lv_timeouts_cb)(lv_timeouts_t *ts, lv_timeout_t *t);

struct lv_timeouts {
    uv_timer_t timer;
    lv_timeout_t *min;  /* the heap's root */
    uint32_t n;         /* entries in the heap */
    uint64_t timer_due; /* loop time the uv timer is set for; 0 = stopped */
    lv_timeouts_cb expire;
};

/* Sets up the set and its uv timer on loop (caller's storage). Never fails. */
void lv_timeouts_init(lv_timeouts_t *ts, uv_loop_t *loop, lv_timeouts_cb expire);
/* Closes the uv timer; the heap must be empty. The storage may go once the loop has run the
 * close (uv_close semantics). */
void lv_timeouts_close(lv_timeouts_t *ts);

/* Expires the entries whose deadline is at or before loop time now, then sets the uv timer for
 * the next one. The uv timer runs it; tests call it with a clock of their own. */
void lv_timeouts_run(lv_timeouts_t *ts, uint64_t now);

/* Arms t to expire ms from now (0 counts as 1, as for proxy/deadline.h). Touches the heap only
 * if the entry's key is later than the new deadline. */
void lv_timeout_set(lv_timeouts_t *ts, lv_timeout_t *t, uint64_t ms);

/* Disarms t; it stays in the heap until its key comes up (then it is dropped, unnoticed). */
static inline void lv_timeout_clear(lv_timeout_t *t)
{
    t->at = 0;
}

static inline bool lv_timeout_armed(const lv_timeout_t *t)
{
    return t->at != 0;
}

/* Disarms t and takes it out of the heap: call before its storage goes. */
void lv_timeout_remove(lv_timeouts_t *ts, lv_timeout_t *t);

#endif
