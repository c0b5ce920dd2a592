/* admin/l2_purge.h: an admin purge carried to the second tier and the other regions: tombstones
 * in the region's Redis, the event on its stream, the drop message for sibling instances. */
#ifndef LV_ADMIN_L2_PURGE_H
#define LV_ADMIN_L2_PURGE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/l2_event.h"
#include "core/config.h"

/* Blocking, on the admin thread, bounded by LV_ADMIN_L2_TIMEOUT_MS per step (connect, reply).
 * Returns how many second-tier keys got a tombstone, or -1 when Redis could not be reached
 * (logged; the L1 purge stands either way). cfg->cache_l2_url must be set. */
#define LV_ADMIN_L2_TIMEOUT_MS 250
int64_t lv_admin_l2_purge(const lv_config_t *cfg, lv_l2_event_type_t type, lv_str_t key);

#endif
