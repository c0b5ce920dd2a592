/* replicate/replicate.h: `levee replicate`, the process that carries cache events from other
 * regions' streams (lv:ev:PEER in each peer's Redis) into this region's Redis, and the pieces it
 * is made of. The contract of the events is cache/l2_event.h; docs/replication.md explains it.
 *
 * Threads: one per peer (replicate/peer.c: reads its stream, applies to the local Redis); the
 * main thread (replicate/run.c) writes the counters to the local Redis every second, serves
 * --metrics (replicate/http.c) and stops the peers on SIGTERM/SIGINT. Counters are atomics that
 * only their peer's thread writes. */
#ifndef LV_REPLICATE_REPLICATE_H
#define LV_REPLICATE_REPLICATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/l2_event.h"
#include "cache/l2_value.h"
#include "core/common.h"

#define LV_REPL_PEERS_MAX 16
#define LV_REPL_BATCH_MAX 10000
/* Who the L1-drop messages say they come from. */
#define LV_REPL_SENDER "replicate"
/* The local Redis keys of the replicator's own state: a hash per peer with the counters
 * (LV_REPL_STATE_PREFIX region ":" peer) and a set of the peers (... region ":peers"). */
#define LV_REPL_STATE_PREFIX "lv:repl:"

/* Where a Redis lives: redis://HOST:PORT[/DB] or unix:PATH[?db=N]. */
typedef struct lv_repl_redis_addr {
    char host[256]; /* empty for a unix socket */
    int port;
    char path[108]; /* the unix socket, empty for TCP */
    int db;
    char text[400]; /* as given, for logs and --status */
} lv_repl_redis_addr_t;

typedef struct lv_repl_peer_opt {
    char name[LV_L2_REGION_MAX + 1];
    lv_repl_redis_addr_t addr;
} lv_repl_peer_opt_t;

typedef struct lv_repl_opts {
    char region[LV_L2_REGION_MAX + 1];
    char consumer[300]; /* stable across restarts: hostname:region unless --consumer */
    lv_repl_redis_addr_t local;
    lv_repl_peer_opt_t peers[LV_REPL_PEERS_MAX];
    size_t npeers;
    uint64_t tombstone_ttl_ms;
    uint32_t batch;
    char metrics[300]; /* HOST:PORT or empty */
    bool status;
} lv_repl_opts_t;

/* `levee replicate ARGS` (argv[0] is "replicate"). Returns the process exit code: 0, 1 when it
 * could not run (or --status found no state), 2 for a usage error. */
int lv_replicate_main(int argc, char **argv);

/* Parses the command line into o (defaults, then -c FILE, then the flags). Writes the problem to
 * stderr and returns 2 on a usage error, 1 after --help (printed to stdout), 0 to run.
 * (replicate/cli.c) */
int lv_repl_parse_args(int argc, char **argv, lv_repl_opts_t *o);

/* Applies one setting by its flag's name without "--" (region, local, peer as NAME=REDIS,
 * tombstone-ttl, batch, metrics, consumer, log-level). Returns 0, or LV_EINVAL with the reason
 * in err. (replicate/cli.c) */
int lv_repl_opt_set(lv_repl_opts_t *o, const char *name, const char *val, char *err, size_t cap);

/* Reads a YAML file of settings into o (replicate/conf.c): a mapping with region, local,
 * peers (NAME: REDIS), tombstone_ttl_ms, batch, metrics, consumer, log_level. Prints every
 * error as FILE:LINE:COL: KEY: MESSAGE and returns 2; 0 when it was read. */
int lv_repl_conf_load(const char *path, lv_repl_opts_t *o);

/* Parses a Redis address (see lv_repl_redis_addr_t). Returns 0 or LV_EINVAL. (redis.c) */
int lv_repl_redis_addr_parse(const char *text, lv_repl_redis_addr_t *out);

/* ---- counters (replicate/stats.c) ---- */

typedef enum {
    LV_REPL_C_READ,        /* entries read from the peer's stream */
    LV_REPL_C_APPLIED,     /* events that changed the local Redis (purges: every one run) */
    LV_REPL_C_STALE,       /* set/meta/invalidate older than the local copy: nothing changed */
    LV_REPL_C_OWN_REGION,  /* events whose region is ours (loop guard): skipped */
    LV_REPL_C_EXPIRED,     /* set/meta whose TTL had run out by the time they arrived */
    LV_REPL_C_FAILED,      /* malformed entries, or a function that answered an error */
    LV_REPL_C_BYTES,       /* sum of field name and value sizes read */
    LV_REPL_C_VALUE_BYTES, /* sum of `val` sizes read */
    LV_REPL_C_PURGED_KEYS, /* keys the purges turned into tombstones */
    LV_REPL_C_BATCHES,     /* batches applied (one write to the local Redis each) */
    LV_REPL_C_RECONNECTS,  /* connections (peer or local) made again after a failure */
    LV_REPL_C_N
} lv_repl_counter_t;

/* Gauges, read on the peer every second; -1 while unknown. */
typedef enum {
    LV_REPL_G_STREAM_LEN, /* XLEN of the peer's stream */
    LV_REPL_G_PENDING,    /* the group's entries delivered but not acknowledged */
    LV_REPL_G_GROUP_LAG,  /* entries not yet delivered to the group (XINFO GROUPS lag) */
    LV_REPL_G_PEER_UP,    /* 1 while the peer's Redis answers */
    LV_REPL_G_LOCAL_UP,   /* 1 while the local Redis answers */
    LV_REPL_G_N
} lv_repl_gauge_t;

/* Lag buckets (apply time - event version), upper bounds in ms; the last bucket is +Inf. */
#define LV_REPL_LAG_BOUNDS 11
#define LV_REPL_LAG_BUCKETS (LV_REPL_LAG_BOUNDS + 1)
extern const uint32_t lv_repl_lag_bounds_ms[LV_REPL_LAG_BOUNDS];

typedef struct lv_repl_stats {
    _Atomic uint64_t c[LV_REPL_C_N];
    _Atomic uint64_t lag[LV_REPL_LAG_BUCKETS]; /* counts per bucket, not cumulative */
    _Atomic uint64_t lag_sum_us;               /* their lags added up (one ahead counts 0) */
    _Atomic int64_t g[LV_REPL_G_N];
} lv_repl_stats_t;

/* The counter's name in metrics, hashes and --status ("read", "applied"...). */
const char *lv_repl_counter_name(lv_repl_counter_t c);
const char *lv_repl_gauge_name(lv_repl_gauge_t g);
void lv_repl_stats_init(lv_repl_stats_t *s);
/* Single writer (the peer's thread); relaxed. */
void lv_repl_count(lv_repl_stats_t *s, lv_repl_counter_t c, uint64_t n);
void lv_repl_gauge(lv_repl_stats_t *s, lv_repl_gauge_t g, int64_t v);
void lv_repl_lag_add(lv_repl_stats_t *s, int64_t lag_us);
/* The q-quantile (0..1) in ms of a bucket histogram, interpolated linearly inside its bucket
 * (the +Inf bucket answers twice the last bound); -1 when empty. Pure. */
double lv_repl_lag_quantile_ms(const uint64_t counts[LV_REPL_LAG_BUCKETS], double q);

/* ---- one event into commands (replicate/plan.c; pure) ---- */

typedef enum {
    LV_REPL_DO_APPLY,   /* run cmd on the local Redis */
    LV_REPL_DO_OWN,     /* from our own region: skip */
    LV_REPL_DO_EXPIRED, /* its TTL ran out on the way: skip */
    LV_REPL_DO_BAD      /* malformed (e.g. the value's header disagrees with v): skip */
} lv_repl_do_t;

#define LV_REPL_CMD_ARGS (6 + LV_L2_TAGS_MAX)

/* The FCALL for one event, its argv pointing into the event and into `buf` (the Redis key,
 * numbers); valid while both live. drop_type is the L1-drop message's type ("key", "url",
 * "prefix", "tag"); only_if_changed says to send it only when the function changed something. */
typedef struct lv_repl_cmd {
    const char *argv[LV_REPL_CMD_ARGS];
    size_t lens[LV_REPL_CMD_ARGS];
    int argc;
    const char *drop_type;
    bool only_if_changed;
    bool counts_stale; /* a 0 answer means "older than ours" (set, meta, invalidate) */
    char ttl[24], version[LV_L2_VERSION_DIGITS + 1];
} lv_repl_cmd_t;

/* Decides what to do with ev (now_us: the wall clock) and, for LV_REPL_DO_APPLY, fills cmd with
 * its FCALL. The Redis key is written to *buf (grown with realloc; *cap its size; the caller
 * frees it). A set or meta keeps the TTL it had left: ttl minus the event's age. Returns the
 * decision, or LV_ENOMEM. */
int lv_repl_plan(const lv_l2_event_t *ev, const char *region, uint64_t tombstone_ttl_ms,
                 uint64_t now_us, lv_repl_cmd_t *cmd, char **buf, size_t *cap);

/* ---- the Redis side ---- */

struct redisContext;
/* Connects (2 s timeout), sets the command timeout, selects the db. NULL with *err filled
 * (a short reason) when it fails. (replicate/redis.c) */
struct redisContext *lv_repl_redis_connect(const lv_repl_redis_addr_t *a, int cmd_timeout_ms,
                                           char *err, size_t errcap);

/* ---- the peers (replicate/peer.c) ---- */

typedef struct lv_repl_peer {
    const lv_repl_opts_t *opts;
    const lv_repl_peer_opt_t *opt;
    char stream[sizeof LV_L2_STREAM_PREFIX + LV_L2_REGION_MAX];
    lv_repl_stats_t stats;
    atomic_bool *stop;
} lv_repl_peer_t;

/* The peer's thread: loops until *stop, reconnecting with backoff. arg is an lv_repl_peer_t. */
void *lv_repl_peer_run(void *arg);
/* Sleeps ms, waking early when *stop is set. Returns whether it was set. */
bool lv_repl_sleep(atomic_bool *stop, uint32_t ms);
uint64_t lv_repl_now_us(void);

/* ---- exposition (replicate/stats.c, replicate/http.c, replicate/status.c) ---- */

/* The Prometheus text or the /status JSON for every peer into a malloc'd string. */
char *lv_repl_metrics_text(const lv_repl_opts_t *o, lv_repl_peer_t *peers);
char *lv_repl_status_json(const lv_repl_opts_t *o, lv_repl_peer_t *peers);
/* Writes the counters' growth since the last call to the local Redis state hashes (flushed
 * keeps what was written). Returns 0 or LV_EIO (nothing is lost: the next call writes it). */
int lv_repl_stats_flush(struct redisContext *c, const lv_repl_opts_t *o, lv_repl_peer_t *peers,
                        uint64_t (*flushed)[LV_REPL_C_N + LV_REPL_LAG_BUCKETS]);

typedef struct lv_repl_http lv_repl_http_t;
/* Listens on HOST:PORT (port 0: any; the address is logged) and serves GET /metrics and
 * GET /status from its own thread. NULL on failure (logged). */
lv_repl_http_t *lv_repl_http_start(const char *hostport, const lv_repl_opts_t *o,
                                   lv_repl_peer_t *peers);
void lv_repl_http_stop(lv_repl_http_t *h);

/* `levee replicate --status`: prints the state kept in the local Redis and the peers' stream
 * and group figures. Returns the exit code. */
int lv_repl_status_print(const lv_repl_opts_t *o);

/* Runs the replicator until SIGTERM/SIGINT. Returns the exit code. (replicate/run.c) */
int lv_repl_run(const lv_repl_opts_t *o);

#endif
