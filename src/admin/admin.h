/* admin/admin.h: the admin listener (GET /metrics, /status, /health, /flags; PUT/POST/DELETE
 * /flags/<service or route name>; /cache; GET/POST /faults, GET/DELETE /faults/<id>) on the main
 * thread's loop. Reads the workers' metric shards and the current config, writes the flag table
 * and the fault table (main thread); never touches worker loops. */
#ifndef LV_ADMIN_ADMIN_H
#define LV_ADMIN_ADMIN_H

#include <uv.h>

#include "admin/metrics.h"
#include "core/config.h"
#include "guard/flags.h"

/* What the admin listener reads: filled by the server, valid while the admin runs. */
typedef struct lv_admin_source {
    void *ctx;
    /* The current config snapshot (borrowed; valid during the call). */
    lv_config_t *(*config)(void *ctx);
    lv_metrics_shard_t *const *shards; /* one per worker */
    uint32_t n_shards;
    uint64_t start_wall_ms;                 /* process start, for uptime */
    uint64_t (*reloads)(void *ctx);         /* successful reloads so far */
    uint64_t (*reloads_refused)(void *ctx); /* reloads refused (bad file) so far; may be NULL */
    uint64_t (*generation)(void *ctx);      /* config generation in use (1 at start); may be NULL */
    int (*draining)(void *ctx);             /* 1 while shutting down */
    /* The flag table (borrowed; NULL: /flags answers 404). Writes to it need the current
     * config's admin_token as "Authorization: Bearer <token>"; no token: writes refused. */
    lv_flags_t *flags;
    /* The response cache (borrowed; NULL while off: /cache answers 404). Purges need the token,
     * like flag writes. */
    struct lv_cache_store *cache;
    /* The upstream host health table (borrowed; NULL: no host section nor host families). */
    struct lv_hosts *hosts;
    /* The injected faults in force (borrowed; NULL: /faults answers 404). Writes need the
     * token, like flag writes. */
    struct lv_faults *faults;
    /* The L1-drop subscriber's counters (cache.l2; NULL or unused while the second tier is
     * off). Purges made here reach the second tier through the admin's own Redis connection. */
    struct lv_l2_drop_stats *l2_drops;
    /* Dashboard watchers (GET /events) open now: set by the admin itself, not the caller. */
    const uint32_t *watchers;
} lv_admin_source_t;

typedef struct lv_admin lv_admin_t;

/* Binds addr and starts serving on loop; fd >= 0: serves on that socket instead (bound to addr,
 * handed over by the levee this one upgrades; the admin owns it from now on, even on failure).
 * Returns NULL (and logs why) if it cannot bind.
 * The bound address (port 0 resolved) is logged as "msg=listening proto=admin addr=H:P". */
lv_admin_t *lv_admin_start(uv_loop_t *loop, const lv_addr_t *addr, int fd,
                           const lv_admin_source_t *src);
/* The listening socket (to hand to a successor; still the admin's), or -1 once it stopped
 * listening. */
int lv_admin_fd(const lv_admin_t *admin);
/* Stops accepting (a successor took the socket over); the open connections go on until
 * lv_admin_stop. */
void lv_admin_unlisten(lv_admin_t *admin);
/* The address actually bound ("127.0.0.1:9901"). */
const char *lv_admin_address(const lv_admin_t *admin);
/* Closes the listener and every admin connection; frees the admin once its handles closed
 * (the loop must run afterwards). */
void lv_admin_stop(lv_admin_t *admin);

#endif
