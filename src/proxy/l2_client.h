/* proxy/l2_client.h: a worker's client of its region's Redis, the second cache tier: lookups
 * bounded by cache.l2.timeout_ms, writes and events sent without waiting, a breaker while Redis
 * is down or slow. One per worker, on the worker's loop; knows nothing of HTTP.
 *
 * Redis down, slow or full never fails a request: a lookup that cannot be asked is not asked
 * (lv_l2_get returns NULL), one that takes too long ends as LV_L2_TIMEOUT, writes that cannot be
 * sent are dropped and counted. Ownership: a lookup belongs to the client until its answer (or
 * the end of the connection) arrives from hiredis; the caller only gets a callback, at most once,
 * and lv_l2_get_cancel stops that callback. */
#ifndef LV_PROXY_L2_CLIENT_H
#define LV_PROXY_L2_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "admin/metrics.h"
#include "cache/l2_event.h"
#include "core/common.h"
#include "core/config.h"

typedef struct lv_l2_client lv_l2_client_t;
typedef struct lv_l2_get lv_l2_get_t;

typedef enum {
    LV_L2_HIT = 0,     /* val/len: the stored value (may be a tombstone: decode it) */
    LV_L2_MISS = 1,    /* no such key */
    LV_L2_TIMEOUT = 2, /* no answer in time */
    LV_L2_ERROR = 3,   /* an error reply or the connection went away */
} lv_l2_result_t;

/* Called once per lookup unless cancelled; val is valid during the call only. */
typedef void (*lv_l2_get_cb)(void *arg, lv_l2_result_t res, const char *val, size_t len);

/* A client for cfg's cache.l2 (which must be set) on loop; starts connecting at once. worker_id
 * names it in logs; m receives its counters. NULL on no memory. */
lv_l2_client_t *lv_l2_client_new(uv_loop_t *loop, const lv_config_t *cfg, lv_l2_metrics_t *m,
                                 uint32_t worker_id);
/* Closes the connection (pending lookups get LV_L2_ERROR first) and frees the client once its
 * handles are closed. NULL ok. */
void lv_l2_client_close(lv_l2_client_t *c);

/* Whether a lookup would be asked now: connected, breaker closed (or half-open), and under
 * cache.l2.max_pending. */
bool lv_l2_usable(lv_l2_client_t *c);

/* Looks up the cache key (without the "lv:c:" prefix). Returns the lookup, or NULL when it was
 * not asked (counted as skipped): the caller goes on without the second tier. */
lv_l2_get_t *lv_l2_get(lv_l2_client_t *c, const char *key, size_t len, lv_l2_get_cb cb, void *arg);
/* No callback will come for g (safe after the callback ran: then a no-op). NULL ok. */
void lv_l2_get_cancel(lv_l2_get_t *g);

/* Writes a value (cache/l2_value.h) under the cache key, kept ttl_ms, indexed under its tags
 * (strings joined by '\n' in tags; may be empty); then, when ev is not NULL and publishing is
 * on, appends ev to the region's stream. Fire and forget. */
void lv_l2_put(lv_l2_client_t *c, const char *key, size_t key_len, const char *val, size_t val_len,
               uint64_t ttl_ms, lv_str_t tags, const lv_l2_event_t *ev);

/* Publishes an event without a write (a fill too large for the second tier). */
void lv_l2_publish(lv_l2_client_t *c, const lv_l2_event_t *ev);

/* A purge or an invalidation made here (type INVALIDATE, PURGE_URL, PURGE_PREFIX or
 * PURGE_TAG; key: cache key, URL key, prefix or tag): tombstones in the second tier, the event
 * for other regions, and a message telling this region's other levee instances to drop their
 * copies. */
void lv_l2_purge(lv_l2_client_t *c, lv_l2_event_type_t type, lv_str_t key);

/* This process's name on the L1-drop channel (messages it sent itself are ignored). */
const char *lv_l2_sender_id(void);

#endif
