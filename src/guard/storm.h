/* guard/storm.h: retry-storm detection: the same client asking for the same resource again and
 * again within a short window. (Retries before a Retry-After are told by the lv_retry cookie,
 * guard/retry_cookie.h, not by this table.) A bounded,
 * set-associative table shared by all workers (striped locks): memory is fixed whatever the
 * number of distinct clients. */
#ifndef LV_GUARD_STORM_H
#define LV_GUARD_STORM_H

#include <stddef.h>
#include <stdint.h>

typedef struct lv_storm_conf {
    uint32_t window_ms; /* repeats counted within this window (default 10000) */
    uint32_t threshold; /* a request is a storm repeat once the count exceeds this (default 3) */
    uint32_t entries;   /* table size, rounded up to a power of two (default 65536) */
} lv_storm_conf_t;

typedef enum {
    LV_STORM_OK = 0,     /* first tries and occasional retries */
    LV_STORM_REPEAT = 1, /* same client + resource more than threshold times in the window */
} lv_storm_verdict_t;

typedef struct lv_storm lv_storm_t;

lv_storm_t *lv_storm_new(const lv_storm_conf_t *conf);
void lv_storm_free(lv_storm_t *s);

/* Key of (client identity, resource): a 64-bit hash of both (see lv_storm_key). */
uint64_t lv_storm_key(const char *client, size_t client_len, const char *resource,
                      size_t resource_len);

/* Counts one request for key and says what it is. Any thread. *retry_after_ms (may be NULL)
 * gets: REPEAT, the ms until the key's counting window ends; OK, 0. now_ms must come from the
 * same monotonic clock in every thread (lv_clock_now_ms or uv_now). */
lv_storm_verdict_t lv_storm_check(lv_storm_t *s, uint64_t key, uint64_t now_ms,
                                  uint32_t *retry_after_ms);

/* Counters for metrics (approximate, relaxed). */
uint64_t lv_storm_evictions(const lv_storm_t *s);

/* Added by the storm implementation (introspection for tests, /status and metrics): */
/* The request count of key in its current window, without counting (0 if unknown). Any thread. */
uint32_t lv_storm_count(lv_storm_t *s, uint64_t key, uint64_t now_ms);
/* Number of entries (conf.entries rounded up to a power of two, at least 4): fixed for life. */
size_t lv_storm_capacity(const lv_storm_t *s);
/* Bytes the table holds (entries + locks + header): fixed for life. */
size_t lv_storm_bytes(const lv_storm_t *s);
/* Entries in use now (walks the table under its locks: tests and /status, not the hot path). */
size_t lv_storm_occupied(lv_storm_t *s);

#endif
