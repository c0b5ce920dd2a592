/* cache/flight.h: requests in flight to the origin per cache key, shared by all worker threads:
 * the first miss for a key leads (goes to the origin), concurrent misses follow (wait for it),
 * and a key whose response was not cacheable is remembered as "pass" for a while.
 *
 * Locking: N shards, each one mutex over its hash chains; a flight's state is an atomic that
 * followers poll without the lock (release on resolve, acquire on read). Nothing here wakes
 * anyone: the caller tells waiting threads after lv_flight_resolve. */
#ifndef LV_CACHE_FLIGHT_H
#define LV_CACHE_FLIGHT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LV_FLIGHT_PENDING = 0, /* the leader waits for the origin's response head */
    LV_FLIGHT_READY = 1,   /* a response was stored (or refreshed): look the key up again */
    LV_FLIGHT_PASS = 2,    /* not cacheable: go to the origin yourself */
    LV_FLIGHT_FAILED = 3,  /* the leader got no usable answer: go on alone (or serve stale) */
} lv_flight_state_t;

typedef enum {
    LV_FLIGHT_LEAD = 0,   /* *out is a new flight: go to the origin, then resolve it */
    LV_FLIGHT_FOLLOW = 1, /* *out is the leader's flight: wait until it is resolved */
    LV_FLIGHT_BYPASS = 2, /* the key is remembered as pass (or no memory): go alone, no flight */
} lv_flight_role_t;

typedef struct lv_flight lv_flight_t;
typedef struct lv_flights lv_flights_t;

/* shards: rounded up to a power of two (0 -> 16). NULL on no memory. */
lv_flights_t *lv_flights_new(unsigned shards);
/* Frees the table and every pass marker. Flights still referenced must be unref'd before. */
void lv_flights_free(lv_flights_t *t);

/* Joins the flight for key, or starts one. The caller owns one reference on *out (LEAD and
 * FOLLOW); BYPASS sets *out NULL. Any thread. */
lv_flight_role_t lv_flight_join(lv_flights_t *t, const void *key, size_t len, uint64_t now_us,
                                lv_flight_t **out);
/* The leader's verdict. PASS keeps the key as a pass marker until pass_until_us (0: not kept).
 * Resolving twice is a no-op (the first verdict stays). Any thread. */
void lv_flight_resolve(lv_flights_t *t, lv_flight_t *f, lv_flight_state_t st,
                       uint64_t pass_until_us);
lv_flight_state_t lv_flight_state(const lv_flight_t *f);
void lv_flight_unref(lv_flight_t *f);
/* Flights and pass markers in the table now (for tests and /status). */
size_t lv_flights_count(lv_flights_t *t);

#endif
