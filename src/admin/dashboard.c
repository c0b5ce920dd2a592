/* admin/dashboard.c: the dashboard's figures, built on the main thread from the summed metric
 * shards once a second: per-service rates, the last 5 minutes of them (a ring per metrics slot),
 * the JSON snapshot GET /events streams and the history it starts with (docs/dashboard.md).
 * Reads shards, the flag table, the fault table and the cache store's stats, and with cache.l2
 * the replicator's state in the region's Redis (admin/dash_repl.c); writes nothing but its own
 * state. Never runs on a worker: watchers cost the data path nothing. */
#include "admin/dashboard.h"
#include "admin/dash_repl.h"
#include "admin/endpoints.h"
#include "cache/store.h"
#include "core/clock.h"
#include "core/common.h"
#include "proxy/faults.h"
#include "proxy/l2_subscriber.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC_OFF(field) offsetof(lv_service_metrics_t, field)
#define CACHE_OFF(field) offsetof(lv_cache_metrics_t, field)
#define L2_OFF(field) offsetof(lv_l2_metrics_t, field)

/* Counters of one service at one sample. */
typedef struct svc_totals {
    uint64_t requests, good; /* every status; 2xx and 3xx */
    uint64_t refusals[LV_METRICS_N_REFUSALS];
    uint64_t faults;                      /* injected, every kind */
    uint64_t queue_served, queue_wait_us; /* the queue-wait histogram's count and sum */
} svc_totals_t;

/* What one service did in the last interval, and its gauges at its end. */
typedef struct svc_rates {
    double offered, goodput, refused_total;
    double refused[LV_METRICS_N_REFUSALS];
    double faults;
    double queue_delay_ms; /* mean wait of the requests the queue handed a slot in the interval */
} svc_rates_t;

/* One point of a service's history (floats: 28 bytes, 300 of them per service). */
typedef struct svc_point {
    float offered, goodput, refused, queue_length, queue_delay_ms, in_flight, limit;
} svc_point_t;

enum { C_HITS, C_MISSES, C_COALESCED, C_SWR, C_ERROR, C_REFUSED, C_N };
static const size_t cache_offs[C_N] = {CACHE_OFF(hits),        CACHE_OFF(misses),
                                       CACHE_OFF(coalesced),   CACHE_OFF(stale_swr),
                                       CACHE_OFF(stale_error), CACHE_OFF(stale_refused)};

/* The second tier's counters: lookups by result, write errors, events (every type). */
enum { L2_HIT, L2_MISS, L2_TIMEOUT, L2_ERROR, L2_SKIPPED, L2_WRITE_ERRORS, L2_EVENTS, L2_N };
static const char *const l2_results[L2_WRITE_ERRORS] = {"hit", "miss", "timeout", "error",
                                                        "skipped"};
static const size_t l2_offs[L2_EVENTS] = {L2_OFF(hits),   L2_OFF(misses),  L2_OFF(timeouts),
                                          L2_OFF(errors), L2_OFF(skipped), L2_OFF(write_errors)};

/* One point of the second tier's history. */
typedef struct l2_point {
    float hit_ratio, lookups, unanswered, write_errors, events, workers_up;
} l2_point_t;

struct lv__dash {
    uint64_t last_ms; /* monotonic time of the last sample; 0 before the first */
    uint32_t n;       /* samples in the ring (up to LV_DASH_HISTORY) */
    uint32_t next;    /* ring index the next sample goes to */
    svc_totals_t prev[LV_METRICS_MAX_SERVICES];
    bool seen[LV_METRICS_MAX_SERVICES]; /* prev[slot] holds a sample */
    svc_rates_t rates[LV_METRICS_MAX_SERVICES];
    svc_point_t *hist[LV_METRICS_MAX_SERVICES]; /* allocated at a slot's first sample */
    uint64_t cache_prev[C_N];
    double cache_rates[C_N];
    float cache_hit_ratio[LV_DASH_HISTORY]; /* the interval's hits / (hits + misses) */
    bool l2_seen;                           /* l2_prev holds a sample */
    uint64_t l2_prev[L2_N];
    double l2_rates[L2_N];
    l2_point_t *l2_hist;   /* allocated at the first sample with cache.l2 */
    lv__dash_repl_t *repl; /* likewise */
};

lv__dash_t *lv__dash_new(void)
{
    return calloc(1, sizeof(lv__dash_t));
}

void lv__dash_free(lv__dash_t *d)
{
    if (d == NULL)
        return;
    for (uint32_t i = 0; i < LV_METRICS_MAX_SERVICES; i++)
        free(d->hist[i]);
    free(d->l2_hist);
    lv__dash_repl_free(d->repl);
    free(d);
}

static void svc_totals(const lv_admin_source_t *src, uint32_t slot, svc_totals_t *t)
{
    memset(t, 0, sizeof *t);
    for (unsigned m = 0; m < LV_METRICS_N_METHODS; m++)
        for (unsigned c = 0; c < LV_METRICS_N_CLASSES; c++) {
            uint64_t v = lv__admin_svc_sum(src, slot,
                                           SVC_OFF(requests) + (m * LV_METRICS_N_CLASSES + c) *
                                                                   sizeof(lv_counter_t));
            t->requests += v;
            if (c == 1 || c == 2) /* 2xx, 3xx */
                t->good += v;
        }
    for (unsigned i = 0; i < LV_METRICS_N_REFUSALS; i++)
        t->refusals[i] = lv__admin_svc_sum(src, slot, SVC_OFF(refusals) + i * sizeof(lv_counter_t));
    for (unsigned i = 0; i < LV_FAULT_KINDS; i++)
        t->faults +=
            lv__admin_svc_sum(src, slot, SVC_OFF(faults_injected) + i * sizeof(lv_counter_t));
    for (unsigned b = 0; b < LV_METRICS_N_BUCKETS; b++)
        t->queue_served +=
            lv__admin_svc_sum(src, slot, SVC_OFF(queue_wait_buckets) + b * sizeof(lv_counter_t));
    t->queue_wait_us = lv__admin_svc_sum(src, slot, SVC_OFF(queue_wait_sum_us));
}

/* b - a per second over dt_s; 0 when the counter went back (a slot reused) or no time passed. */
static double rate(uint64_t a, uint64_t b, double dt_s)
{
    return b >= a && dt_s > 0 ? (double)(b - a) / dt_s : 0.0;
}

static void sample_service(lv__dash_t *d, const lv_admin_source_t *src, uint32_t slot, double dt_s,
                           uint32_t at)
{
    svc_totals_t t;
    svc_totals(src, slot, &t);
    svc_rates_t *r = &d->rates[slot];
    memset(r, 0, sizeof *r);
    if (d->seen[slot]) {
        const svc_totals_t *p = &d->prev[slot];
        r->offered = rate(p->requests, t.requests, dt_s);
        r->goodput = rate(p->good, t.good, dt_s);
        for (unsigned i = 0; i < LV_METRICS_N_REFUSALS; i++) {
            r->refused[i] = rate(p->refusals[i], t.refusals[i], dt_s);
            r->refused_total += r->refused[i];
        }
        r->faults = rate(p->faults, t.faults, dt_s);
        if (t.queue_served > p->queue_served && t.queue_wait_us >= p->queue_wait_us)
            r->queue_delay_ms = (double)(t.queue_wait_us - p->queue_wait_us) / 1000.0 /
                                (double)(t.queue_served - p->queue_served);
    }
    d->prev[slot] = t;
    d->seen[slot] = true;
    if (d->hist[slot] == NULL) {
        d->hist[slot] = calloc(LV_DASH_HISTORY, sizeof(svc_point_t));
        if (d->hist[slot] == NULL)
            return; /* no history for this one; the snapshot still has its rates */
        /* Samples taken before this service existed read as zeros. */
    }
    d->hist[slot][at] = (svc_point_t){
        .offered = (float)r->offered,
        .goodput = (float)r->goodput,
        .refused = (float)r->refused_total,
        .queue_length = (float)lv__admin_svc_sum(src, slot, SVC_OFF(guard_queue_len)),
        .queue_delay_ms = (float)r->queue_delay_ms,
        .in_flight = (float)lv__admin_svc_sum(src, slot, SVC_OFF(in_flight)),
        .limit = (float)lv__admin_svc_max(src, slot, SVC_OFF(guard_limit)),
    };
}

static uint64_t l2_events_sum(const lv_admin_source_t *src)
{
    uint64_t n = 0;
    for (int t = 0; t < LV_L2_METRICS_EVENT_TYPES; t++)
        n += lv__admin_l2_sum(src, L2_OFF(events) + (size_t)t * sizeof(lv_counter_t));
    return n;
}

static void sample_l2(lv__dash_t *d, const lv_admin_source_t *src, const lv_config_t *cfg,
                      double dt_s, uint32_t at)
{
    uint64_t c[L2_N];
    for (int i = 0; i < L2_EVENTS; i++)
        c[i] = lv__admin_l2_sum(src, l2_offs[i]);
    c[L2_EVENTS] = l2_events_sum(src);
    for (int i = 0; i < L2_N; i++) {
        d->l2_rates[i] = d->l2_seen ? rate(d->l2_prev[i], c[i], dt_s) : 0;
        d->l2_prev[i] = c[i];
    }
    d->l2_seen = true;
    if (d->l2_hist == NULL)
        d->l2_hist = calloc(LV_DASH_HISTORY, sizeof(l2_point_t));
    const double *r = d->l2_rates;
    double answered = r[L2_HIT] + r[L2_MISS];
    if (d->l2_hist)
        d->l2_hist[at] = (l2_point_t){
            .hit_ratio = answered > 0 ? (float)(r[L2_HIT] / answered) : 0.0f,
            .lookups = (float)(answered + r[L2_TIMEOUT] + r[L2_ERROR] + r[L2_SKIPPED]),
            .unanswered = (float)(r[L2_TIMEOUT] + r[L2_ERROR] + r[L2_SKIPPED]),
            .write_errors = (float)r[L2_WRITE_ERRORS],
            .events = (float)r[L2_EVENTS],
            .workers_up = (float)lv__admin_l2_sum(src, L2_OFF(up)),
        };
    if (d->repl == NULL)
        d->repl = lv__dash_repl_new();
    if (d->repl)
        lv__dash_repl_read(d->repl, cfg->cache_l2_url, cfg->region);
}

/* The second tier's figures are there with the cache on and cache.l2.url set (as /status). */
static bool l2_on(const lv_admin_source_t *src, const lv_config_t *cfg)
{
    return src->cache && cfg && cfg->cache_l2_url;
}

void lv__dash_sample(lv__dash_t *d, const lv_admin_source_t *src, uint64_t now_ms)
{
    double dt_s = d->last_ms && now_ms > d->last_ms ? (double)(now_ms - d->last_ms) / 1000.0 : 0;
    uint32_t at = d->next;
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        uint32_t slot = cfg->services[i].metrics_slot;
        if (slot < LV_METRICS_MAX_SERVICES)
            sample_service(d, src, slot, dt_s, at);
    }
    /* A slot not in this config keeps its history, but its points are zeros meanwhile. */
    for (uint32_t slot = 0; slot < LV_METRICS_MAX_SERVICES; slot++) {
        bool in_cfg = false;
        for (uint32_t i = 0; cfg && i < cfg->n_services && !in_cfg; i++)
            in_cfg = cfg->services[i].metrics_slot == slot;
        if (!in_cfg && d->hist[slot])
            memset(&d->hist[slot][at], 0, sizeof(svc_point_t));
    }
    uint64_t c[C_N];
    for (int i = 0; i < C_N; i++) {
        c[i] = lv__admin_cache_sum(src, cache_offs[i]);
        d->cache_rates[i] = d->last_ms ? rate(d->cache_prev[i], c[i], dt_s) : 0;
        d->cache_prev[i] = c[i];
    }
    double looked = d->cache_rates[C_HITS] + d->cache_rates[C_MISSES];
    d->cache_hit_ratio[at] = looked > 0 ? (float)(d->cache_rates[C_HITS] / looked) : 0.0f;
    if (l2_on(src, cfg))
        sample_l2(d, src, cfg, dt_s, at);
    d->last_ms = now_ms;
    d->next = (at + 1) % LV_DASH_HISTORY;
    if (d->n < LV_DASH_HISTORY)
        d->n++;
}

static void put_service(FILE *out, const lv__dash_t *d, const lv_admin_source_t *src,
                        const lv_service_conf_t *s)
{
    uint32_t slot = s->metrics_slot;
    static const svc_rates_t none;
    const svc_rates_t *r = slot < LV_METRICS_MAX_SERVICES ? &d->rates[slot] : &none;
    fputs("{\"name\":", out);
    lv__admin_put_json_string(out, s->name);
    fprintf(out, ",\"criticality\":\"%s\"",
            (unsigned)s->criticality < LV_CRIT_COUNT ? lv_criticality_names[s->criticality]
                                                     : "unknown");
    fprintf(out, ",\"offered_per_s\":%.6g,\"goodput_per_s\":%.6g,\"refused_per_s\":{", r->offered,
            r->goodput);
    for (unsigned i = 0; i < LV_METRICS_N_REFUSALS; i++)
        fprintf(out, "%s\"%s\":%.6g", i ? "," : "", lv_metrics_refusal_names[i], r->refused[i]);
    unsigned breaker = (unsigned)lv__admin_svc_max(src, slot, SVC_OFF(guard_breaker_state));
    fprintf(out,
            "},\"queue_length\":%" PRIu64 ",\"queue_delay_ms\":%.6g,\"limit\":%" PRIu64
            ",\"in_flight\":%" PRIu64 ",\"pressure\":%s,\"breaker\":\"%s\",\"flag\":\"%s\""
            ",\"faults_injected_per_s\":%.6g}",
            lv__admin_svc_sum(src, slot, SVC_OFF(guard_queue_len)), r->queue_delay_ms,
            lv__admin_svc_max(src, slot, SVC_OFF(guard_limit)),
            lv__admin_svc_sum(src, slot, SVC_OFF(in_flight)),
            lv__admin_svc_max(src, slot, SVC_OFF(guard_pressure)) ? "true" : "false",
            lv__admin_breaker_name(breaker), lv_flag_state_name(lv__admin_service_flag(src, s)),
            r->faults);
}

static void put_cache(FILE *out, const lv__dash_t *d, const lv_admin_source_t *src)
{
    lv_cache_stats_t st;
    lv_cache_store_stats(src->cache, &st);
    uint32_t last = (d->next + LV_DASH_HISTORY - 1) % LV_DASH_HISTORY;
    fprintf(out,
            ",\"cache\":{\"hit_ratio\":%.4g,\"hits_per_s\":%.6g,\"misses_per_s\":%.6g"
            ",\"coalesced_per_s\":%.6g,\"stale_per_s\":{\"swr\":%.6g,\"error\":%.6g,"
            "\"refused\":%.6g},\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64
            "}",
            d->n ? (double)d->cache_hit_ratio[last] : 0.0, d->cache_rates[C_HITS],
            d->cache_rates[C_MISSES], d->cache_rates[C_COALESCED], d->cache_rates[C_SWR],
            d->cache_rates[C_ERROR], d->cache_rates[C_REFUSED], st.entries, st.bytes, st.max_bytes);
}

static void put_l2(FILE *out, const lv__dash_t *d, const lv_admin_source_t *src,
                   const lv_config_t *cfg)
{
    static const l2_point_t none;
    uint32_t last = (d->next + LV_DASH_HISTORY - 1) % LV_DASH_HISTORY;
    const l2_point_t *p = d->n && d->l2_hist ? &d->l2_hist[last] : &none;
    fputs(",\"l2\":{\"region\":", out);
    lv__admin_put_json_string(out, cfg->region);
    fprintf(out, ",\"hit_ratio\":%.4g,\"lookups_per_s\":{", (double)p->hit_ratio);
    for (int i = 0; i < L2_WRITE_ERRORS; i++)
        fprintf(out, "%s\"%s\":%.6g", i ? "," : "", l2_results[i], d->l2_rates[i]);
    fprintf(out,
            "},\"write_errors_per_s\":%.6g,\"events_published_per_s\":%.6g"
            ",\"workers_up\":%" PRIu64 ",\"workers\":%" PRIu32 ",\"subscribed\":%s}",
            d->l2_rates[L2_WRITE_ERRORS], d->l2_rates[L2_EVENTS], lv__admin_l2_sum(src, L2_OFF(up)),
            src->n_shards, src->l2_drops && atomic_load(&src->l2_drops->up) ? "true" : "false");
}

/* Closes the memstream (which sets *text and *n); the text, or NULL (freed) when writing
 * failed. */
static char *finish(FILE *out, char **text, size_t *n, size_t *len)
{
    if (fclose(out) != 0) {
        free(*text);
        return NULL;
    }
    *len = *n;
    return *text;
}

char *lv__dash_snapshot_json(const lv__dash_t *d, const lv_admin_source_t *src, uint64_t wall_ms,
                             size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    uint64_t uptime_s = wall_ms > src->start_wall_ms ? (wall_ms - src->start_wall_ms) / 1000u : 0;
    fprintf(out,
            "{\"version\":1,\"time_ms\":%" PRIu64 ",\"interval_ms\":%d,\"uptime_s\":%" PRIu64
            ",\"generation\":%" PRIu64 ",\"reloads\":{\"ok\":%" PRIu64 ",\"refused\":%" PRIu64
            "},\"draining\":%s,\"watchers\":%" PRIu32 ",\"connections_open\":%" PRIu64
            ",\"services\":[",
            wall_ms, LV_DASH_INTERVAL_MS, uptime_s, src->generation ? src->generation(src->ctx) : 1,
            src->reloads ? src->reloads(src->ctx) : 0,
            src->reloads_refused ? src->reloads_refused(src->ctx) : 0,
            src->draining && src->draining(src->ctx) ? "true" : "false",
            src->watchers ? *src->watchers : 0,
            lv_metrics_sum_connections_open(src->shards, src->n_shards));
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        if (i)
            fputc(',', out);
        put_service(out, d, src, &cfg->services[i]);
    }
    fputs("],\"flags\":", out);
    lv__admin_put_flags(out, src);
    if (src->cache)
        put_cache(out, d, src);
    if (src->faults) {
        fputs(",\"faults\":", out);
        lv_faults_write_json(src->faults, out, 0, lv_clock_now_ms());
    }
    if (l2_on(src, cfg)) {
        put_l2(out, d, src, cfg);
        lv__dash_repl_put_json(out, d->repl, cfg->region);
    }
    fputc('}', out);
    return finish(out, &text, &n, len);
}

/* "name":[v,...] of one history field, oldest first. */
static void put_series(FILE *out, const lv__dash_t *d, const char *name, const float *base,
                       size_t stride)
{
    fprintf(out, "\"%s\":[", name);
    uint32_t first = (d->next + LV_DASH_HISTORY - d->n) % LV_DASH_HISTORY;
    for (uint32_t k = 0; k < d->n; k++) {
        const float *v =
            (const float *)((const char *)base + (size_t)((first + k) % LV_DASH_HISTORY) * stride);
        fprintf(out, k ? ",%.4g" : "%.4g", (double)*v);
    }
    fputc(']', out);
}

/* A field of a history point: its name in the JSON and its offset in the point. */
typedef struct series_field {
    const char *name;
    size_t off;
} series_field_t;

/* {"name":[...],...} of every field of points (a ring of stride-sized structs). */
static void put_point_series(FILE *out, const lv__dash_t *d, const series_field_t *fields,
                             size_t n_fields, const void *points, size_t stride)
{
    fputc('{', out);
    for (size_t f = 0; f < n_fields; f++) {
        if (f)
            fputc(',', out);
        put_series(out, d, fields[f].name, (const float *)((const char *)points + fields[f].off),
                   stride);
    }
    fputc('}', out);
}

char *lv__dash_history_json(const lv__dash_t *d, const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    static const series_field_t fields[] = {
        {"offered_per_s", offsetof(svc_point_t, offered)},
        {"goodput_per_s", offsetof(svc_point_t, goodput)},
        {"refused_per_s", offsetof(svc_point_t, refused)},
        {"queue_length", offsetof(svc_point_t, queue_length)},
        {"queue_delay_ms", offsetof(svc_point_t, queue_delay_ms)},
        {"in_flight", offsetof(svc_point_t, in_flight)},
        {"limit", offsetof(svc_point_t, limit)},
    };
    static const series_field_t l2_fields[] = {
        {"hit_ratio", offsetof(l2_point_t, hit_ratio)},
        {"lookups_per_s", offsetof(l2_point_t, lookups)},
        {"unanswered_per_s", offsetof(l2_point_t, unanswered)},
        {"write_errors_per_s", offsetof(l2_point_t, write_errors)},
        {"events_published_per_s", offsetof(l2_point_t, events)},
        {"workers_up", offsetof(l2_point_t, workers_up)},
    };
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    fprintf(out, "{\"interval_ms\":%d,\"points\":%" PRIu32 ",\"services\":{", LV_DASH_INTERVAL_MS,
            d->n);
    bool first = true;
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        uint32_t slot = cfg->services[i].metrics_slot;
        if (slot >= LV_METRICS_MAX_SERVICES || d->hist[slot] == NULL)
            continue;
        if (!first)
            fputc(',', out);
        first = false;
        lv__admin_put_json_string(out, cfg->services[i].name);
        fputc(':', out);
        put_point_series(out, d, fields, LV_ARRAY_LEN(fields), d->hist[slot], sizeof(svc_point_t));
    }
    fputs("}", out);
    if (src->cache) {
        fputc(',', out);
        put_series(out, d, "cache_hit_ratio", d->cache_hit_ratio, sizeof(float));
    }
    if (l2_on(src, cfg) && d->l2_hist) {
        fputs(",\"l2\":", out);
        put_point_series(out, d, l2_fields, LV_ARRAY_LEN(l2_fields), d->l2_hist,
                         sizeof(l2_point_t));
    }
    fputc('}', out);
    return finish(out, &text, &n, len);
}
