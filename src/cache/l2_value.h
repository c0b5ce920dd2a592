/* cache/l2_value.h: one stored response as a single versioned byte string, the value levee keeps
 * in the second tier (Redis) and carries in replication events. Pure functions; any thread.
 *
 * Layout (all integers big-endian):
 *   "LVL2"  format '1'  flags ('0' + LV_L2_F_* bits)  version: 16 decimal digits (µs, writer's
 *   wall clock)  -- the 22-byte header, readable by the Redis functions (cache/l2_script.c),
 *   which compare versions as fixed-width strings;
 *   then, unless a tombstone: meta layout size u16, payload length u32 (before compression),
 *   payload (zstd frame when LV_L2_F_ZSTD): head u32, meta u32, body u32, tags u16, then each
 *   tag as u16 + bytes, then head, meta and body bytes.
 * A tombstone (the key was purged or is newer elsewhere) is the header alone. */
#ifndef LV_CACHE_L2_VALUE_H
#define LV_CACHE_L2_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

#define LV_L2_HEADER_LEN 22
#define LV_L2_VERSION_DIGITS 16
#define LV_L2_TAGS_MAX 16
/* The largest value decode accepts (and the largest payload it inflates). */
#define LV_L2_VALUE_MAX (64u << 20)

enum {
    LV_L2_F_TOMBSTONE = 1, /* no payload: purged, or a newer copy lives elsewhere */
    LV_L2_F_ZSTD = 2,      /* payload compressed */
};

/* A response to encode, or the one decoded (spans into the caller's buffers). */
typedef struct lv_l2_value {
    uint64_t version; /* µs since the epoch at the writer; orders writes to one key */
    bool tombstone;
    lv_str_t head, meta, body;
    lv_str_t tags[LV_L2_TAGS_MAX];
    size_t ntags;
} lv_l2_value_t;

/* Writes v into a new malloc'd buffer (*out, *out_len; the caller frees it). The payload is
 * compressed with zstd when it is at least compress_min bytes (0: never) and compression saves
 * bytes. Returns 0, LV_ELIMIT (larger than LV_L2_VALUE_MAX or a field over its width) or
 * LV_ENOMEM. */
int lv_l2_value_encode(const lv_l2_value_t *v, size_t compress_min, char **out, size_t *out_len);

/* Reads a value. Spans point into buf, or into *scratch when the payload was compressed
 * (*scratch is malloc'd then; the caller frees it, NULL otherwise). Returns 0, or LV_EINVAL
 * (not a value of this format and this build's meta layout), LV_ENOMEM. */
int lv_l2_value_decode(const char *buf, size_t len, lv_l2_value_t *out, char **scratch);

/* The version in a value's header, or 0 when buf is not one. */
uint64_t lv_l2_value_version(const char *buf, size_t len);

/* Writes the 16-digit version into dst (no terminator). */
void lv_l2_version_format(uint64_t version, char dst[LV_L2_VERSION_DIGITS]);

/* A version for a write made now: µs of the wall clock, never equal to or below the last one this
 * process returned (so two writes in the same µs stay ordered). Any thread. */
uint64_t lv_l2_version_now(void);

#endif
