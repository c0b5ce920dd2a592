/* cache/key.h: how a request names its stored response: the primary key (host + target), the
 * route's extra parts (header or cookie values) and the Vary secondary key, as one byte string.
 *
 * Layout: lower-case host, then the request target as sent ("/path?query"); then, when the
 * route adds parts, "\x1e" and each part's value followed by "\x1e"; then, for a response that
 * varies, "\x1f" and the secondary key (cache/rules.h lv_cache_vary_key). The separators are
 * control bytes that the request parser never lets into a host or a target, so no two requests
 * with different parts share a key. Purging a URL removes its key and every key that extends it
 * with "\x1e" or "\x1f" (see lv_cache_key_purge_url). */
#ifndef LV_CACHE_KEY_H
#define LV_CACHE_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/store.h"
#include "core/common.h"
#include "core/config.h"
#include "http/parser.h"

#define LV_CACHE_KEY_EXTRA '\x1e'
#define LV_CACHE_KEY_VARY '\x1f'
/* Keys longer than this are not cached (the request passes to the origin). */
#define LV_CACHE_KEY_MAX 4096

/* Writes host (lower-cased) + target into buf. Returns the length, LV_ELIMIT, or LV_EINVAL when
 * the target does not start with "/" or the host holds a "/" (such keys could collide). */
int lv_cache_key_primary(char *buf, size_t cap, lv_str_t host, lv_str_t target);
/* Appends the route's extra parts read from the request: "\x1e" + each value + "\x1e" (an absent
 * header or cookie adds an empty value; a header sent on several lines adds them all, joined by
 * ","; a cookie adds its first value). Returns the new length or LV_ELIMIT. */
int lv_cache_key_extra(char *buf, size_t len, size_t cap, const lv_cache_key_part_t *parts,
                       size_t n_parts, const lv_http_head_t *req);

/* Turns an admin URL ("http://Host/path?q", "https://host/p", or "host/path") into its primary
 * key. Returns the length or LV_EINVAL (no host, no path, control bytes) / LV_ELIMIT. */
int lv_cache_key_from_url(char *buf, size_t cap, const char *url, size_t len);

/* Purges one URL's primary key with all its extra-part and Vary variants. Returns how many
 * entries went. url_key comes from lv_cache_key_from_url. */
size_t lv_cache_key_purge_url(lv_cache_store_t *s, const char *url_key, size_t len);

#endif
