/* cache/l2_event.h: the cache events one region publishes for the others (Redis Streams entries)
 * and the names every levee process uses in Redis. Pure functions over bytes; any thread.
 *
 * The contract (close to a Kafka topic's, so another transport can carry the same events):
 *   - one stream per region, LV_L2_STREAM_PREFIX + region, appended by that region's levee
 *     instances (XADD ... MAXLEN ~ N); an entry is one event; the entry id is its offset;
 *   - events for one key are ordered (one stream, appended in the order the writes happened),
 *     and carry a version (µs, the writer's clock) that makes applying them idempotent: an event
 *     older than what the reader holds changes nothing, so at-least-once delivery, replays and
 *     reordering across keys are harmless;
 *   - readers are consumer groups (one per reading region), acknowledged after applying;
 *   - an event's fields: t (type), r (region it came from), k (key, URL key, prefix or tag),
 *     v (16-digit version), and for set/meta: ttl (ms), g (tags joined by '\n'), n (value
 *     bytes), val (the value, cache/l2_value.h; set only).
 * Redis keys: LV_L2_KEY_PREFIX + cache key (the value), LV_L2_TAG_PREFIX + tag (a set of cache
 * keys). Pub/sub channel LV_L2_CHANNEL_PREFIX + region: "sender\ntype\nkey" messages telling a
 * region's levee instances to drop L1 copies (type: key, url, prefix, tag). */
#ifndef LV_CACHE_L2_EVENT_H
#define LV_CACHE_L2_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

#define LV_L2_KEY_PREFIX "lv:c:"
#define LV_L2_TAG_PREFIX "lv:t:"
#define LV_L2_STREAM_PREFIX "lv:ev:"
#define LV_L2_CHANNEL_PREFIX "lv:l1:"
/* Region names: 1-32 bytes of [a-z0-9_-] (they are parts of Redis keys and metric labels). */
#define LV_L2_REGION_MAX 32

typedef enum {
    LV_L2_EV_SET = 0,        /* a stored response, its value included */
    LV_L2_EV_META = 1,       /* a stored response too large to carry: fetch it yourself */
    LV_L2_EV_INVALIDATE = 2, /* an unsafe method succeeded on this key */
    LV_L2_EV_PURGE_URL = 3,  /* admin purge of a URL (its key and every variant) */
    LV_L2_EV_PURGE_PREFIX = 4,
    LV_L2_EV_PURGE_TAG = 5,
    LV_L2_EV_TYPES
} lv_l2_event_type_t;

typedef struct lv_l2_event {
    lv_l2_event_type_t type;
    lv_str_t region;
    lv_str_t key; /* cache key (set, meta, invalidate), URL key, prefix or tag */
    uint64_t version;
    uint64_t ttl_ms;    /* set, meta */
    lv_str_t tags;      /* set, meta: joined by '\n' */
    uint64_t value_len; /* set, meta: the value's size in bytes */
    lv_str_t value;     /* set only */
} lv_l2_event_t;

/* "set", "meta", "invalidate", "url", "prefix", "tag". */
const char *lv_l2_event_type_name(lv_l2_event_type_t t);
/* Whether name is a valid region name. */
bool lv_l2_region_valid(const char *name);

/* At most this many fields (name + value pairs) in an entry. */
#define LV_L2_EVENT_FIELDS 8
/* Fills argv/lens with the entry's field names and values (2 per field; numbers are written to
 * num, which must outlive argv). Returns how many strings (even), for XADD stream MAXLEN ~ N *. */
size_t lv_l2_event_fields(const lv_l2_event_t *ev, const char **argv, size_t *lens,
                          char num[3][24]);
/* Reads an entry's field list (name, value, name, value...). Unknown fields are ignored (newer
 * writers may add some). Returns 0 or LV_EINVAL (a field missing or malformed). */
int lv_l2_event_parse(const char *const *strs, const size_t *lens, size_t n, lv_l2_event_t *out);

/* The Redis commands of a purge made in this region (type INVALIDATE or PURGE_*; key: cache key,
 * URL key, prefix or tag): the function call that leaves tombstones, the event (XADD, unless
 * !publish) and the L1-drop message for the region's other instances (PUBLISH). */
#define LV_L2_CMD_ARGS (6 + 2 * LV_L2_EVENT_FIELDS)
typedef struct lv_l2_cmd {
    int argc;
    const char *argv[LV_L2_CMD_ARGS];
    size_t lens[LV_L2_CMD_ARGS];
} lv_l2_cmd_t;
typedef struct lv_l2_purge_bufs { /* the strings the commands point into */
    char key[2 * 4096 + 16], msg[2 * 4096 + 128];
    char stream[48], channel[48], ver[24], ttl[24], maxlen[24], num[3][24];
    lv_l2_event_t ev;
} lv_l2_purge_bufs_t;
/* Fills cmds (3 at most) and returns how many, 0 when type is not a purge or key too long. */
size_t lv_l2_purge_commands(lv_l2_event_type_t type, lv_str_t key, const char *region,
                            uint64_t version, uint32_t tombstone_ttl_ms, uint32_t maxlen,
                            bool publish, const char *sender, lv_l2_purge_bufs_t *b,
                            lv_l2_cmd_t cmds[3]);

/* The L1-drop message for channel LV_L2_CHANNEL_PREFIX + region: "sender\ntype\nkey" into buf.
 * type is "key", "url", "prefix" or "tag". Returns the length or LV_ELIMIT. */
int lv_l2_drop_format(char *buf, size_t cap, const char *sender, const char *type, lv_str_t key);
/* Splits a drop message. Returns 0 or LV_EINVAL. */
int lv_l2_drop_parse(const char *msg, size_t len, lv_str_t *sender, lv_str_t *type, lv_str_t *key);

#endif
