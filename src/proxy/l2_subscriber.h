/* proxy/l2_subscriber.h: the main thread's subscription to its region's L1-drop channel: when
 * a replicator applied another region's event, or a sibling levee purged, stored copies go. */
#ifndef LV_PROXY_L2_SUBSCRIBER_H
#define LV_PROXY_L2_SUBSCRIBER_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "cache/store.h"
#include "core/config.h"

typedef struct lv_l2_subscriber lv_l2_subscriber_t;

/* Counters the admin thread reads. */
typedef struct lv_l2_drop_stats {
    _Atomic uint64_t messages; /* drop messages received from others */
    _Atomic uint64_t dropped;  /* L1 entries they removed */
    _Atomic uint64_t up;       /* gauge: 1 while subscribed */
} lv_l2_drop_stats_t;

/* Subscribes to lv:l1:<region> on cfg's cache.l2 (must be set); reconnects by itself. */
lv_l2_subscriber_t *lv_l2_subscriber_start(uv_loop_t *loop, const lv_config_t *cfg,
                                           lv_cache_store_t *cache, lv_l2_drop_stats_t *stats);
/* Unsubscribes and frees it once its handles are closed. NULL ok. */
void lv_l2_subscriber_stop(lv_l2_subscriber_t *s);

#endif
