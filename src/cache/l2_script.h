/* cache/l2_script.h: the Redis function library every levee process loads into its region's
 * Redis (FUNCTION LOAD REPLACE): versioned writes and tombstones, purges, the tag index.
 *
 * Functions (FCALL name numkeys key... arg...), each returns how many keys it changed:
 *   lv_set   1 <lv:c:key> <value> <ttl_ms> [tag...]   stores value when its version is newer
 *   lv_tomb  1 <lv:c:key> <version> <ttl_ms>          a tombstone when version is newer
 *   lv_purge_url    1 <lv:c:urlkey> <version> <ttl_ms> the key and its "\x1e"/"\x1f" variants
 *   lv_purge_prefix 1 <lv:c:prefix> <version> <ttl_ms> every key starting with the prefix (SCAN)
 *   lv_purge_tag    1 <lv:t:tag> <version> <ttl_ms>    every key the tag's set names (keys newer
 *                                                     than the purge stay in the set)
 * Versions are the 16-digit strings of cache/l2_value.h, compared as strings. */
#ifndef LV_CACHE_L2_SCRIPT_H
#define LV_CACHE_L2_SCRIPT_H

/* The library's source, for FUNCTION LOAD REPLACE. */
extern const char lv_l2_script[];

#endif
