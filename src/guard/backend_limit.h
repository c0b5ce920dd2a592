/* guard/backend_limit.h: one concurrency limit per backend (a set of upstream hosts), shared by
 * every worker and every service that sends to it, with the waiters of all of them by criticality.
 */
#ifndef LV_GUARD_BACKEND_LIMIT_H
#define LV_GUARD_BACKEND_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/limiter.h"
#include "guard/queue.h"

/* Workers a table serves at most (workers: 0..64 in the config). */
#define LV_BACKEND_MAX_WORKERS 64u
/* Backends remembered (across reloads); past it a service's guard has no limit to share and
 * admits without one, which the log says. */
#define LV_BACKENDS_MAX 256u

typedef struct lv_backend_limit lv_backend_limit_t;
typedef struct lv_backend_limits lv_backend_limits_t;

/* Called, under the backend's lock, for a worker other than the caller that now has slots to
 * take: it must only signal that worker (uv_async_send), never call back into the table. A
 * worker with waiters is alive, and it cannot stop waiting while the lock is held. */
typedef void (*lv_backend_wake_fn)(void *ctx, uint32_t worker);

/* A table for n_workers workers (1..64). NULL on allocation failure. Main thread. */
lv_backend_limits_t *lv_backend_limits_new(uint32_t n_workers, lv_backend_wake_fn wake, void *ctx);
void lv_backend_limits_free(lv_backend_limits_t *t);

/* The backend of key (the service's upstream addresses, in a canonical order), made on first
 * use with conf and now_us; NULL when the table is full. Any thread (a mutex guards the lookup;
 * entries never move nor die before lv_backend_limits_free). */
lv_backend_limit_t *lv_backend_limits_get(lv_backend_limits_t *t, const char *key,
                                          const lv_limiter_conf_t *conf, uint64_t now_us);

/* Takes a slot for a new request of criticality crit (0 most critical) if the limit allows and
 * nobody of the same or a higher criticality waits, on any worker (no one jumps the queue). */
bool lv_backend_limit_acquire(lv_backend_limit_t *b, uint8_t crit, uint64_t now_us);
/* Ends an overdue probe of the learner (lv_limiter_tick) and hands out the slots it frees;
 * true when worker w got some. Called while w has waiters (its queue timer). */
bool lv_backend_limit_tick(lv_backend_limit_t *b, uint32_t w, uint64_t now_us);

/* Slots are handed out, under the lock, whenever one is free and someone waits: to the most
 * critical waiter on any worker (the one that has waited longest, as one FIFO across the
 * workers would). A slot handed to
 * another worker is signalled through the wake callback; the functions below that hand out
 * return true when worker w itself was handed slots (it takes them, lv_backend_limit_handed). */

/* A request of worker w with criticality crit starts waiting (+1, since_us: when it was
 * queued), or leaves the queue without being served (-1: expired, client gone; since_us
 * unused); a slot handed for it goes to the next waiter. */
bool lv_backend_limit_wait(lv_backend_limit_t *b, uint32_t w, uint8_t crit, int delta,
                           uint64_t since_us);
/* Slots handed to worker w and not yet given to a waiter (never more than its waiters). */
uint32_t lv_backend_limit_handed(lv_backend_limit_t *b, uint32_t w);
/* Worker w gives one handed slot to a waiter of criticality crit, which now holds it. */
void lv_backend_limit_served(lv_backend_limit_t *b, uint32_t w, uint8_t crit);

/* Gives a slot back with what happened (lv_limiter_release), then hands out. noload_cap: the
 * worker's loop was saturated, so the RTT is capped at the no-load RTT (it measured levee's
 * own CPU, not the backend). */
bool lv_backend_limit_release(lv_backend_limit_t *b, uint32_t w, uint64_t now_us, uint64_t rtt_us,
                              lv_limit_outcome_t outcome, bool noload_cap);

/* Views (gauges, /status, the storm check): */
uint32_t lv_backend_limit_limit(lv_backend_limit_t *b); /* without the lock: may lag a little */
/* Whether the learner is re-measuring the no-load RTT at a reduced limit (without the lock). */
bool lv_backend_limit_probing(lv_backend_limit_t *b);
/* Whether a new request would have to wait: someone waits, or every slot is held. */
bool lv_backend_limit_full(lv_backend_limit_t *b);
uint32_t lv_backend_limit_in_flight(lv_backend_limit_t *b);
uint32_t lv_backend_limit_waiting(lv_backend_limit_t *b);
const char *lv_backend_limit_key(const lv_backend_limit_t *b);

#endif
