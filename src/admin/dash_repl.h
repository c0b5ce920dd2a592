/* admin/dash_repl.h (internal to src/admin): the dashboard's replication figures, read once a
 * second from the state `levee replicate` keeps in the region's Redis (docs/replication.md,
 * "Observability"). Main thread only. */
#ifndef LV_ADMIN_DASH_REPL_H
#define LV_ADMIN_DASH_REPL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Bound of each step (connect, the one command a tick sends) on the admin thread. */
#define LV_DASH_REPL_TIMEOUT_MS 50
/* A replicator that has not written its hash for this long is not running. */
#define LV_DASH_REPL_STALE_MS 5000

typedef struct lv__dash_repl lv__dash_repl_t;

/* A reader with no connection yet; NULL when out of memory. */
lv__dash_repl_t *lv__dash_repl_new(void);
/* Closes its connection. NULL ok. */
void lv__dash_repl_free(lv__dash_repl_t *r);

/* Reads lv:repl:<region>:peers and each peer's hash from the Redis at url (cache.l2.url),
 * connecting first when needed: blocking, each step bounded by LV_DASH_REPL_TIMEOUT_MS. The
 * connection stays open between calls; on a failure it is closed, this call's figures are
 * dropped (the JSON says redis_up false, no peers) and the outage is logged once. Returns
 * whether the read succeeded. */
bool lv__dash_repl_read(lv__dash_repl_t *r, const char *url, const char *region);

/* ,"replication":{...} of the last read (docs/dashboard.md). */
void lv__dash_repl_put_json(FILE *out, const lv__dash_repl_t *r, const char *region);

#endif
