/* admin/dashboard.h (internal to src/admin): the operator's dashboard's figures: a sample a second
 * of the summed metric shards, turned into per-second rates, the last 5 minutes of them, and the
 * JSON snapshot that GET /events streams (docs/dashboard.md). Main thread only. */
#ifndef LV_ADMIN_DASHBOARD_H
#define LV_ADMIN_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"

/* Samples kept: 5 minutes at one a second. */
#define LV_DASH_HISTORY 300
#define LV_DASH_INTERVAL_MS 1000

typedef struct lv__dash lv__dash_t;

/* A dashboard with no sample yet; NULL when out of memory. */
lv__dash_t *lv__dash_new(void);
void lv__dash_free(lv__dash_t *d);

/* Takes one sample of src at now_ms (monotonic): rates are the counters' differences since the
 * previous sample divided by the time between them (0 at the first). Services are those of the
 * config in force; their history is kept by metrics slot, so it survives a reload. */
void lv__dash_sample(lv__dash_t *d, const lv_admin_source_t *src, uint64_t now_ms);

/* The snapshot of the last sample as one line of JSON (no newline) in a heap buffer, with the
 * flags, faults and config state read now; NULL when out of memory. wall_ms is the time shown. */
char *lv__dash_snapshot_json(const lv__dash_t *d, const lv_admin_source_t *src, uint64_t wall_ms,
                             size_t *len);

/* The history of the services in the config in force, oldest sample first, as one line of JSON
 * (no newline) in a heap buffer; NULL when out of memory. */
char *lv__dash_history_json(const lv__dash_t *d, const lv_admin_source_t *src, size_t *len);

/* The page (src/admin/dashboard.html, embedded at build time). */
extern const char lv__dashboard_html[];
extern const size_t lv__dashboard_html_len;

#endif
