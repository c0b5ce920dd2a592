/* admin/l2_metrics.c: the second tier's figures on /metrics (levee_cache_l2_* families) and in
 * /status ("l2"), summed from the workers' shards and the L1-drop subscriber's counters. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "admin/endpoints.h"
#include "cache/l2_event.h"
#include "proxy/l2_subscriber.h"

#define L2_OFF(f) offsetof(lv_l2_metrics_t, f)

uint64_t lv__admin_l2_sum(const lv_admin_source_t *src, size_t off)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < src->n_shards; i++)
        sum += lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->l2 + off));
    return sum;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const struct {
    const char *result;
    size_t off;
} lookups[] = {
    {"hit", L2_OFF(hits)},     {"miss", L2_OFF(misses)},     {"timeout", L2_OFF(timeouts)},
    {"error", L2_OFF(errors)}, {"skipped", L2_OFF(skipped)},
};

static const struct {
    const char *name, *type, *help;
    size_t off;
} singles[] = {
    {"levee_cache_l2_writes_total", "counter",
     "Values and tombstones sent to the second tier (fills, refreshes, purges).", L2_OFF(writes)},
    {"levee_cache_l2_write_errors_total", "counter",
     "Second-tier writes and events that failed or were dropped (Redis down, error reply, "
     "cache.l2.max_pending reached).",
     L2_OFF(write_errors)},
    {"levee_cache_l2_write_bytes_total", "counter", "Bytes of values written to the second tier.",
     L2_OFF(write_bytes)},
    {"levee_cache_l2_too_large_total", "counter",
     "Fills not written to the second tier: over cache.l2.max_value_bytes (their event carries "
     "metadata only).",
     L2_OFF(too_large)},
    {"levee_cache_l2_event_bytes_total", "counter",
     "Bytes of the events published to the region's stream (field names and values).",
     L2_OFF(event_bytes)},
    {"levee_cache_l2_breaker_opens_total", "counter",
     "Times a worker's second-tier breaker opened (cache.l2.breaker_failures lookups in a row "
     "timed out or failed).",
     L2_OFF(breaker_opens)},
    {"levee_cache_l2_workers_up", "gauge",
     "Workers whose second-tier client is connected with its breaker closed (of "
     "levee_cache_l2_workers).",
     L2_OFF(up)},
};

void lv__admin_put_l2_families(FILE *out, const lv_admin_source_t *src)
{
    const char *name = "levee_cache_l2_lookups_total";
    family(out, name, "counter",
           "Second-tier lookups (the leader of an L1 miss asks Redis), by result: hit (a value), "
           "miss (none or a tombstone), timeout (past cache.l2.timeout_ms), error, skipped "
           "(not asked: Redis down, breaker open, too much pending).");
    for (size_t i = 0; i < LV_ARRAY_LEN(lookups); i++)
        fprintf(out, "%s{result=\"%s\"} %" PRIu64 "\n", name, lookups[i].result,
                lv__admin_l2_sum(src, lookups[i].off));
    for (size_t i = 0; i < LV_ARRAY_LEN(singles); i++) {
        family(out, singles[i].name, singles[i].type, singles[i].help);
        fprintf(out, "%s %" PRIu64 "\n", singles[i].name, lv__admin_l2_sum(src, singles[i].off));
    }
    family(out, "levee_cache_l2_workers", "gauge",
           "Workers, each with its own second-tier client.");
    fprintf(out, "levee_cache_l2_workers %u\n", src->n_shards);
    name = "levee_cache_l2_events_published_total";
    family(out, name, "counter",
           "Cache events appended to the region's stream for other regions, by type.");
    for (int t = 0; t < LV_L2_EV_TYPES; t++)
        fprintf(out, "%s{type=\"%s\"} %" PRIu64 "\n", name,
                lv_l2_event_type_name((lv_l2_event_type_t)t),
                lv__admin_l2_sum(src, L2_OFF(events) + (size_t)t * sizeof(lv_counter_t)));
    if (!src->l2_drops)
        return;
    family(out, "levee_cache_l2_drop_messages_total", "counter",
           "Messages on the region's L1-drop channel from others (replicators, sibling "
           "instances) that this levee applied.");
    fprintf(out, "levee_cache_l2_drop_messages_total %" PRIu64 "\n",
            atomic_load(&src->l2_drops->messages));
    family(out, "levee_cache_l2_dropped_total", "counter",
           "Stored responses (L1) those messages removed.");
    fprintf(out, "levee_cache_l2_dropped_total %" PRIu64 "\n",
            atomic_load(&src->l2_drops->dropped));
    family(out, "levee_cache_l2_subscribed", "gauge",
           "1 while subscribed to the region's L1-drop channel.");
    fprintf(out, "levee_cache_l2_subscribed %" PRIu64 "\n", atomic_load(&src->l2_drops->up));
}

void lv__admin_put_l2_status(FILE *out, const lv_admin_source_t *src, const char *region)
{
    fprintf(out,
            ",\"l2\":{\"region\":\"%s\",\"workers\":%u,\"workers_up\":%" PRIu64
            ",\"subscribed\":%s",
            region, src->n_shards, lv__admin_l2_sum(src, L2_OFF(up)),
            src->l2_drops && atomic_load(&src->l2_drops->up) ? "true" : "false");
    for (size_t i = 0; i < LV_ARRAY_LEN(lookups); i++)
        fprintf(out, ",\"%s\":%" PRIu64, lookups[i].result, lv__admin_l2_sum(src, lookups[i].off));
    fputc('}', out);
}
