/* guard/queue.h: the wait queue in front of a service's concurrency limit, per worker: CoDel
 * timeouts and adaptive LIFO (Facebook, "Fail at Scale"), by criticality. Pure logic. */
#ifndef LV_GUARD_QUEUE_H
#define LV_GUARD_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#define LV_QUEUE_N_CRIT 3 /* critical, default, sheddable: the order requests are served in */

typedef struct lv_queue_conf {
    uint32_t max_len;     /* total waiting requests (default 1000) */
    uint32_t target_ms;   /* CoDel: allowed wait while the queue is standing (default 5) */
    uint32_t interval_ms; /* CoDel: a queue not empty for this long, whose oldest item waited
                             this long, is standing (100) */
    uint32_t timeout_ms;  /* allowed wait while the queue drains normally (default 500) */
} lv_queue_conf_t;

/* An entry, embedded in the caller's request. */
typedef struct lv_queue_item {
    struct lv_queue_item *prev, *next;
    uint64_t enqueued_us;
    uint64_t deadline_us; /* 0: none; past it the request is dropped */
    uint8_t crit;         /* 0 critical, 1 default, 2 sheddable */
    bool queued;
} lv_queue_item_t;

typedef struct lv_queue {
    lv_queue_conf_t conf;
    lv_queue_item_t heads[LV_QUEUE_N_CRIT]; /* circular sentinel per criticality */
    uint32_t len;
    uint32_t len_by_crit[LV_QUEUE_N_CRIT];
    uint64_t last_empty_us;     /* last time the queue drained (by service, or by staying empty
                                   for an interval); drops alone do not drain it */
    uint64_t empty_since_us;    /* when it last became empty, by any means */
    bool drained_by_service;    /* it became empty by serving its last item */
    uint64_t standing_until_us; /* hysteresis: counts as standing until then */
    uint64_t last_expired_us;   /* an item last left for waiting too long (0: never) */
    uint64_t dropped_timeout, dropped_deadline, dropped_full;
} lv_queue_t;

void lv_queue_init(lv_queue_t *q, const lv_queue_conf_t *conf, uint64_t now_us);

/* True while the queue is standing (pressure): it has not been empty for interval_ms, and it
 * started standing when its oldest item had waited interval_ms (queue.c has the details). */
bool lv_queue_standing(const lv_queue_t *q, uint64_t now_us);
/* The wait allowed now: target_ms while standing, timeout_ms otherwise (CoDel). */
uint32_t lv_queue_allowed_wait_ms(const lv_queue_t *q, uint64_t now_us);

/* The caller holds the queue for a moment on purpose (the limit it waits for is being
 * re-measured at a reduced level): the wait this makes is not a standing queue, so it does
 * not start one (an overload already under way, with items timing out, stays standing). */
void lv_queue_hold(lv_queue_t *q, uint64_t now_us);

/* Adds an item. Returns false (not added) when the queue is full for this criticality:
 * sheddable requests get at most half of max_len, default at most 3/4, critical all of it. */
bool lv_queue_push(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us);
/* Removes an item wherever it is (client gone). No-op if not queued. */
void lv_queue_remove(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us);

/* Why an item left the queue without service. */
typedef enum { LV_QUEUE_EXPIRED_WAIT = 1, LV_QUEUE_EXPIRED_DEADLINE = 2 } lv_queue_drop_t;

/* Next item to serve, or NULL. Items whose wait exceeds the allowed wait, or whose deadline
 * passed, are removed and handed to drop_cb first (never served). Among live items: highest
 * criticality first; within it FIFO, or LIFO (newest first) while the queue is standing, except
 * critical items: FIFO, and always allowed timeout_ms. */
lv_queue_item_t *lv_queue_pop(lv_queue_t *q, uint64_t now_us,
                              void (*drop_cb)(void *ctx, lv_queue_item_t *it, lv_queue_drop_t why),
                              void *ctx);
/* Removes expired items (called from a timer even when no slot frees). */
void lv_queue_expire(lv_queue_t *q, uint64_t now_us,
                     void (*drop_cb)(void *ctx, lv_queue_item_t *it, lv_queue_drop_t why),
                     void *ctx);

#endif
