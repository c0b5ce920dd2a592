/* admin/endpoints.c: the admin API's answers (/metrics, /status, /health, /flags, /cache,
 * errors; /faults is faults_api.c's) built as heap buffers from the admin source; checks the token
 * on writes. Main thread
 * only; reads shards, never writes them; flips flags only through lv_flags_set and
 * lv_flags_reset; changes the cache only through its purge functions (the store's own locking
 * makes that safe beside the workers). */
#include "admin/endpoints.h"
#include "admin/l2_purge.h"
#include "admin/dashboard.h"
#include "cache/key.h"
#include "cache/store.h"
#include "core/common.h"
#include "core/clock.h"
#include "core/log.h"
#include "proxy/faults.h"
#include "proxy/hosts.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Service names are [A-Za-z0-9_.-]{1,64} in the config; longer paths cannot name one. */
#define LV_ADMIN_NAME_MAX 128

static const char *const balance_names[] = {"round_robin", "least_outstanding"};
static const char *const breaker_names[] = {"closed", "open", "half_open"};

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void put_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static const char *enum_name(const char *const *names, size_t n, unsigned v)
{
    return v < n ? names[v] : "unknown";
}

/* One service field (offset inside lv_service_metrics_t) summed, or maxed, over the shards. */
static uint64_t svc_sum(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; slot < LV_METRICS_MAX_SERVICES && i < src->n_shards; i++)
        sum +=
            lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->services[slot] + field_off));
    return sum;
}

static uint64_t svc_max(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    uint64_t max = 0;
    for (uint32_t i = 0; slot < LV_METRICS_MAX_SERVICES && i < src->n_shards; i++)
        max = LV_MAX(max, lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->services[slot] +
                                                          field_off)));
    return max;
}

#define SVC_OFF(field) offsetof(lv_service_metrics_t, field)

/* The flag a service runs with: the flag table's when there is one, else the configured one. */
static lv_flag_state_t service_flag(const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    if (src->flags && s->metrics_slot < LV_FLAGS_SERVICES && src->flags->names[s->metrics_slot])
        return lv_flags_get(src->flags, (int)s->metrics_slot);
    int f = s->guard.flag;
    return f >= LV_FLAG_ON && f <= LV_FLAG_AUTO ? (lv_flag_state_t)f : LV_FLAG_ON;
}

static const struct {
    const char *key;
    size_t off;
} guard_counters[] = {
    {"admitted", SVC_OFF(guard_admitted)},
    {"queued", SVC_OFF(guard_queued)},
    {"shed", SVC_OFF(guard_shed)},
    {"dropped_wait", SVC_OFF(guard_dropped_wait)},
    {"dropped_deadline", SVC_OFF(guard_dropped_deadline)},
    {"dropped_client_gone", SVC_OFF(guard_dropped_client_gone)},
    {"storm_blocked", SVC_OFF(guard_storm_blocked)},
    {"premature_blocked", SVC_OFF(guard_premature_blocked)},
    {"orphaned", SVC_OFF(guard_orphaned)},
    {"joined", SVC_OFF(guard_joined)},
    {"breaker_rejected", SVC_OFF(guard_breaker_rejected)},
    {"fallback_served", SVC_OFF(guard_fallback_served)},
};

/* ,"guard":{...} of one service in /status. */
static void put_guard_status(FILE *out, const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    uint32_t slot = s->metrics_slot;
    fprintf(out,
            ",\"guard\":{\"limit\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"queue_len\":%" PRIu64
            ",\"pressure\":%s,\"breaker\":\"%s\",\"flag\":\"%s\"",
            svc_max(src, slot, SVC_OFF(guard_limit)), svc_sum(src, slot, SVC_OFF(in_flight)),
            svc_sum(src, slot, SVC_OFF(guard_queue_len)),
            svc_max(src, slot, SVC_OFF(guard_pressure)) ? "true" : "false",
            enum_name(breaker_names, LV_ARRAY_LEN(breaker_names),
                      (unsigned)svc_max(src, slot, SVC_OFF(guard_breaker_state))),
            lv_flag_state_name(service_flag(src, s)));
    for (size_t i = 0; i < LV_ARRAY_LEN(guard_counters); i++)
        fprintf(out, ",\"%s\":%" PRIu64, guard_counters[i].key,
                svc_sum(src, slot, guard_counters[i].off));
    fputc('}', out);
}

/* ,"resilience":{...}: what of the service's configuration protects it (read by `levee-load
 * score`): the guard, a breaker that can open, a fallback, routes of another criticality than
 * the service's (work that can be shed apart from work that must not: a service marked
 * critical as a whole only loses CoDel and LIFO), a deadline, stale serving (with the cache
 * on), health checks. */
static void put_resilience_status(FILE *out, const lv_config_t *cfg, uint32_t idx)
{
    const lv_service_conf_t *s = &cfg->services[idx];
    const lv_guard_conf_t *g = &s->guard;
    bool crit = false;
    for (uint32_t r = 0; r < cfg->n_routes && !crit; r++)
        crit = cfg->routes[r].service == idx && cfg->routes[r].criticality != 0 &&
               cfg->routes[r].criticality != (int)s->criticality + 1;
    fprintf(out,
            ",\"resilience\":{\"guard\":%s,\"breaker\":%s,\"fallback\":%s,\"criticality\":%s,"
            "\"deadline_ms\":%" PRIu32 ",\"serve_stale_ms\":%" PRIu32 ",\"health_check\":%s}",
            g->enabled ? "true" : "false",
            g->enabled && g->breaker_error_percent < 100 ? "true" : "false",
            g->fallback_body || g->fallback_file_body || g->fallback_redirect ? "true" : "false",
            crit ? "true" : "false", g->enabled ? g->deadline_ms : 0,
            cfg->cache_size ? s->cache_serve_stale_ms : 0, s->health_check.path ? "true" : "false");
}

/* One lv_cache_metrics_t counter (at offset field_off) summed over the shards. */
static uint64_t cache_sum(const lv_admin_source_t *src, size_t field_off)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < src->n_shards; i++)
        sum += lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->cache + field_off));
    return sum;
}

#define CACHE_OFF(field) offsetof(lv_cache_metrics_t, field)

/* The helpers above, for dashboard.c (endpoints.h). */
void lv__admin_put_json_string(FILE *out, const char *s)
{
    put_json_string(out, s);
}
uint64_t lv__admin_svc_sum(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    return svc_sum(src, slot, field_off);
}
uint64_t lv__admin_svc_max(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    return svc_max(src, slot, field_off);
}
uint64_t lv__admin_cache_sum(const lv_admin_source_t *src, size_t field_off)
{
    return cache_sum(src, field_off);
}
lv_flag_state_t lv__admin_service_flag(const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    return service_flag(src, s);
}
const char *lv__admin_breaker_name(unsigned state)
{
    return enum_name(breaker_names, LV_ARRAY_LEN(breaker_names), state);
}

/* Share of cache lookups answered fresh from the cache: hits / (hits + misses), 0 when none.
 * Passes (never cacheable) and stale answers are left out on purpose: the ratio says how well
 * the cache does on what it could serve. */
static double cache_hit_ratio(const lv_admin_source_t *src)
{
    uint64_t hits = cache_sum(src, CACHE_OFF(hits)), misses = cache_sum(src, CACHE_OFF(misses));
    return hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
}

/* ,"cache":{...} in /status (only when the cache is on). */
static void put_cache_status(FILE *out, const lv_admin_source_t *src)
{
    lv_cache_stats_t st;
    lv_cache_store_stats(src->cache, &st);
    fprintf(out,
            ",\"cache\":{\"max_bytes\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"entries\":%" PRIu64
            ",\"hit_ratio\":%.6g}",
            st.max_bytes, st.bytes, st.entries, cache_hit_ratio(src));
}

/* The shared health of one configured host, or NULL when it is not tracked. */
static lv_host_health_t *host_of(const lv_admin_source_t *src, const lv_service_conf_t *s,
                                 uint32_t u)
{
    return src->hosts ? lv_hosts_get(src->hosts, s->name, s->upstreams[u].text) : NULL;
}

static const char *host_state(const lv_host_health_t *h, uint64_t now_ms)
{
    if (atomic_load(&h->check_down))
        return "down";
    return atomic_load(&h->ejected_until_ms) > now_ms ? "ejected" : "up";
}

/* ,"hosts":[{"addr":...,"state":"up"|"ejected"|"down",...}] of one service in /status. */
static void put_hosts_status(FILE *out, const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    uint64_t now_ms = lv_clock_now_ms();
    fputs(",\"hosts\":[", out);
    for (uint32_t u = 0; u < s->n_upstreams; u++) {
        lv_host_health_t *h = host_of(src, s, u);
        fputs(u ? ",{\"addr\":" : "{\"addr\":", out);
        put_json_string(out, s->upstreams[u].text);
        if (h) {
            uint64_t until = atomic_load(&h->ejected_until_ms);
            fprintf(out,
                    ",\"state\":\"%s\",\"ejected_for_ms\":%" PRIu64
                    ",\"consecutive_failures\":%u,\"ejections\":%" PRIu64,
                    host_state(h, now_ms), until > now_ms ? until - now_ms : 0,
                    atomic_load(&h->consecutive_failures), lv_counter_get(&h->ejections));
        }
        fputc('}', out);
    }
    fputc(']', out);
}

char *lv__admin_status_json(const lv_admin_source_t *src, uint64_t now_wall_ms, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    uint64_t uptime_s =
        now_wall_ms > src->start_wall_ms ? (now_wall_ms - src->start_wall_ms) / 1000u : 0;
    uint64_t reloads = src->reloads ? src->reloads(src->ctx) : 0;
    int draining = src->draining ? src->draining(src->ctx) : 0;

    fprintf(out, "{\"version\":");
    put_json_string(out, LV_VERSION);
    fprintf(out, ",\"pid\":%ld,\"uptime_s\":%" PRIu64 ",\"workers\":%" PRIu32 ",\"config\":",
            (long)getpid(), uptime_s, cfg ? cfg->workers : src->n_shards);
    if (cfg)
        put_json_string(out, cfg->path);
    else
        fputs("null", out);
    fprintf(out, ",\"reloads\":%" PRIu64 ",\"draining\":%s,\"connections_open\":%" PRIu64, reloads,
            draining ? "true" : "false",
            lv_metrics_sum_connections_open(src->shards, src->n_shards));
    fputs(",\"services\":[", out);
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        const lv_service_conf_t *s = &cfg->services[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        put_json_string(out, s->name);
        fputs(",\"criticality\":", out);
        put_json_string(out,
                        enum_name(lv_criticality_names, LV_CRIT_COUNT, (unsigned)s->criticality));
        fputs(",\"balance\":", out);
        put_json_string(
            out, enum_name(balance_names, LV_ARRAY_LEN(balance_names), (unsigned)s->balance));
        fputs(",\"upstreams\":[", out);
        for (uint32_t u = 0; u < s->n_upstreams; u++) {
            if (u)
                fputc(',', out);
            put_json_string(out, s->upstreams[u].text);
        }
        fprintf(out, "],\"requests_total\":%" PRIu64 ",\"in_flight\":%" PRIu64,
                lv_metrics_sum_service_requests(src->shards, src->n_shards, s->metrics_slot),
                lv_metrics_sum_service_in_flight(src->shards, src->n_shards, s->metrics_slot));
        put_hosts_status(out, src, s);
        put_guard_status(out, src, s);
        put_resilience_status(out, cfg, i);
        fputc('}', out);
    }
    fputc(']', out);
    if (src->cache)
        put_cache_status(out, src);
    if (src->cache && cfg->cache_l2_url)
        lv__admin_put_l2_status(out, src, cfg->region);
    fputs("}\n", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static void put_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_sample(FILE *out, const char *name, const char *result, uint64_t v)
{
    if (result)
        fprintf(out, "%s{result=\"%s\"} %" PRIu64 "\n", name, result, v);
    else
        fprintf(out, "%s %" PRIu64 "\n", name, v);
}

/* What the request path decided, one series per result (zeros included, so rate() works from
 * the first scrape). */
static const struct {
    const char *result;
    size_t off;
} cache_request_results[] = {
    {"hit", CACHE_OFF(hits)},
    {"miss", CACHE_OFF(misses)},
    {"pass", CACHE_OFF(passes)},
    {"stale_swr", CACHE_OFF(stale_swr)},
    {"stale_error", CACHE_OFF(stale_error)},
    {"stale_refused", CACHE_OFF(stale_refused)},
    {"coalesced", CACHE_OFF(coalesced)},
    {"not_modified", CACHE_OFF(not_modified)},
};

/* The levee_cache_* families: the workers' decisions from the shards, the store-wide numbers from
 * the store. They live outside lv_metrics_write_prometheus because that one only sees shards. */
static void put_cache_families(FILE *out, const lv_admin_source_t *src)
{
    const char *name = "levee_cache_requests_total";
    put_family(out, name, "counter",
               "Requests the response cache looked at, by result (stale_*: a stale response "
               "served, by reason; not_modified: a client's conditional request answered 304).");
    for (size_t i = 0; i < LV_ARRAY_LEN(cache_request_results); i++)
        put_sample(out, name, cache_request_results[i].result,
                   cache_sum(src, cache_request_results[i].off));

    name = "levee_cache_coalesce_timeouts_total";
    put_family(out, name, "counter",
               "Requests that waited for another request's response longer than "
               "cache.lock_timeout_ms and went to the origin alone.");
    put_sample(out, name, NULL, cache_sum(src, CACHE_OFF(coalesce_timeouts)));

    name = "levee_cache_revalidations_total";
    put_family(out, name, "counter",
               "Conditional requests sent to the origin (sent) and those it answered 304, "
               "refreshing the stored response (not_modified).");
    put_sample(out, name, "sent", cache_sum(src, CACHE_OFF(revalidations)));
    put_sample(out, name, "not_modified", cache_sum(src, CACHE_OFF(revalidated)));

    name = "levee_cache_responses_total";
    put_family(out, name, "counter",
               "Origin responses the cache stored, or that the caching rules refused to store.");
    put_sample(out, name, "stored", cache_sum(src, CACHE_OFF(stored)));
    put_sample(out, name, "not_stored", cache_sum(src, CACHE_OFF(not_stored)));

    lv_cache_stats_t st;
    lv_cache_store_stats(src->cache, &st);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } store_families[] = {
        {"levee_cache_entries", "gauge", "Responses stored now.",
         offsetof(lv_cache_stats_t, entries)},
        {"levee_cache_bytes", "gauge", "Bytes the stored responses are charged for now.",
         offsetof(lv_cache_stats_t, bytes)},
        {"levee_cache_max_bytes", "gauge",
         "The cache's byte bound (cache.size, rounded down to a multiple of cache.shards).",
         offsetof(lv_cache_stats_t, max_bytes)},
        {"levee_cache_evictions_total", "counter", "Stored responses evicted to make room.",
         offsetof(lv_cache_stats_t, evictions)},
        {"levee_cache_purged_total", "counter",
         "Stored responses removed by a purge or by a fill that failed.",
         offsetof(lv_cache_stats_t, purged)},
        {"levee_cache_rejected_total", "counter",
         "Responses the store refused: larger than one shard's share of cache.size.",
         offsetof(lv_cache_stats_t, rejected)},
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(store_families); i++) {
        put_family(out, store_families[i].name, store_families[i].type, store_families[i].help);
        put_sample(out, store_families[i].name, NULL,
                   *(const uint64_t *)((const char *)&st + store_families[i].off));
    }
}

/* The levee_upstream_host_* families, one series per configured host (and kind or result). */
static void put_host_families(FILE *out, const lv_admin_source_t *src, const lv_config_t *cfg)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"levee_upstream_host_up", "gauge",
         "1 while an upstream host is in rotation; 0 while it is ejected (outlier detection) or "
         "down (active health checks)."},
        {"levee_upstream_host_ejections_total", "counter",
         "Times an upstream host was taken out of rotation by outlier detection."},
        {"levee_upstream_host_failures_total", "counter",
         "Failed exchanges with an upstream host, by kind (5xx: it answered with a 5xx; tls: the "
         "TLS handshake failed)."},
        {"levee_upstream_host_checks_total", "counter",
         "Active health checks of an upstream host, by result."},
        {"levee_upstream_host_check_tls_handshakes_total", "counter",
         "TLS handshakes of the active health checks with an upstream host (services[].tls), "
         "by result as levee_upstream_tls_handshakes_total, which counts the requests' own."},
    };
    uint64_t now_ms = lv_clock_now_ms();
    for (size_t f = 0; f < LV_ARRAY_LEN(fams); f++) {
        put_family(out, fams[f].name, fams[f].type, fams[f].help);
        for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
            const lv_service_conf_t *s = &cfg->services[i];
            for (uint32_t u = 0; u < s->n_upstreams; u++) {
                lv_host_health_t *h = host_of(src, s, u);
                if (!h)
                    continue;
                /* Service names and addresses need no escaping ([A-Za-z0-9_.-], HOST:PORT). */
                const char *n = fams[f].name;
                if (f == 0)
                    fprintf(out, "%s{service=\"%s\",host=\"%s\"} %d\n", n, s->name, h->addr,
                            strcmp(host_state(h, now_ms), "up") == 0);
                else if (f == 1)
                    fprintf(out, "%s{service=\"%s\",host=\"%s\"} %" PRIu64 "\n", n, s->name,
                            h->addr, lv_counter_get(&h->ejections));
                else if (f == 2)
                    for (int k = 0; k < LV_UPFAIL_COUNT; k++)
                        fprintf(out, "%s{service=\"%s\",host=\"%s\",kind=\"%s\"} %" PRIu64 "\n", n,
                                s->name, h->addr, lv_upfail_names[k],
                                lv_counter_get(&h->failures[k]));
                else if (f == 4)
                    for (int k = 0; k < LV_UP_TLS_N; k++)
                        fprintf(out, "%s{service=\"%s\",host=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                                n, s->name, h->addr, lv_up_tls_results[k],
                                lv_counter_get(&h->check_tls[k]));
                else
                    fprintf(out,
                            "%s{service=\"%s\",host=\"%s\",result=\"ok\"} %" PRIu64 "\n"
                            "%s{service=\"%s\",host=\"%s\",result=\"failed\"} %" PRIu64 "\n",
                            n, s->name, h->addr, lv_counter_get(&h->check_successes), n, s->name,
                            h->addr, lv_counter_get(&h->check_failures));
            }
        }
    }
}

/* A label value (text format 0.0.4): backslash, double quote and newline escaped. */
static void put_label(FILE *out, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

/* levee_route_flag: one series per named route in the flag table (bounded like routes[]). */
static void put_route_flags(FILE *out, const lv_flags_t *f)
{
    put_family(out, "levee_route_flag", "gauge",
               "Feature flag of a named route (routes[].name): 0 on, 1 off, 2 auto.");
    for (int i = LV_FLAGS_SERVICES; i < LV_FLAGS_MAX; i++) {
        if (!f->names[i])
            continue;
        fputs("levee_route_flag{route=\"", out);
        put_label(out, f->names[i]);
        fputs("\",service=\"", out);
        put_label(out, f->route_service[i - LV_FLAGS_SERVICES]);
        fprintf(out, "\"} %d\n", (int)lv_flags_get(f, i));
    }
}

/* The config in use, its reloads, and the dashboard's watchers: the main thread's own state. */
static void put_admin_families(FILE *out, const lv_admin_source_t *src)
{
    put_family(out, "levee_config_generation", "gauge",
               "Config generation in use: 1 at start, one more per reload that succeeded.");
    put_sample(out, "levee_config_generation", NULL,
               src->generation ? src->generation(src->ctx) : 1);
    const char *name = "levee_config_reloads_total";
    put_family(out, name, "counter",
               "Config reloads (SIGHUP), by result (refused: the file had errors; the running "
               "config stayed).");
    put_sample(out, name, "ok", src->reloads ? src->reloads(src->ctx) : 0);
    put_sample(out, name, "refused", src->reloads_refused ? src->reloads_refused(src->ctx) : 0);
    put_family(out, "levee_dashboard_watchers", "gauge",
               "Open GET /events streams (the dashboard's live feed; admin.dashboard_watchers "
               "bounds them).");
    put_sample(out, "levee_dashboard_watchers", NULL, src->watchers ? *src->watchers : 0);
}

char *lv__admin_metrics_text(const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_metrics_write_prometheus(out, src->shards, src->n_shards);
    /* The flags live outside the shards, so their family is written here. */
    fputs("# HELP levee_guard_flag Feature flag: 0 on, 1 off, 2 auto.\n"
          "# TYPE levee_guard_flag gauge\n",
          out);
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        fputs("levee_guard_flag{service=\"", out);
        put_label(out, cfg->services[i].name);
        fprintf(out, "\"} %d\n", (int)service_flag(src, &cfg->services[i]));
    }
    if (src->flags)
        put_route_flags(out, src->flags);
    put_admin_families(out, src);
    if (src->cache)
        put_cache_families(out, src);
    if (src->cache && cfg->cache_l2_url)
        lv__admin_put_l2_families(out, src);
    if (src->hosts)
        put_host_families(out, src, cfg);
    if (src->faults) /* the fault table lives outside the shards too */
        fprintf(out,
                "# HELP levee_faults_active Injected faults in force (admin API and config).\n"
                "# TYPE levee_faults_active gauge\nlevee_faults_active %" PRIu32 "\n",
                lv_faults_active(src->faults));
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

int lv__admin_reply_text(lv__admin_reply_t *out, int status, const char *text)
{
    out->status = status;
    out->content_type = "text/plain; charset=utf-8";
    out->body_len = strlen(text);
    out->body = malloc(out->body_len + 1);
    if (out->body == NULL)
        return LV_ENOMEM;
    memcpy(out->body, text, out->body_len + 1);
    return 0;
}

static bool path_is(const char *path, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(path, lit, len) == 0;
}

/* One slot's flag. In the /flags list, and alone for a route:
 * {"name":"x","kind":"service"|"route","service":"<its service>","state":"on",
 * "overridden":false,"config":"on"}. Alone for a service (GET/PUT/DELETE /flags/<service>), the
 * first shape, kept for existing clients: {"service":"x","state":"on","overridden":false,
 * "config":"on"}. "state" is the state in force, "config" the one the config file gives;
 * "overridden" says an API write (or the state file) put state in place of config. */
static void put_flag(FILE *out, const lv_flags_t *f, int slot, bool listed)
{
    bool route = lv_flags_is_route(slot);
    if (listed || route) {
        const char *svc = route ? f->route_service[slot - LV_FLAGS_SERVICES] : f->names[slot];
        fputs("{\"name\":", out);
        put_json_string(out, f->names[slot]);
        fprintf(out, ",\"kind\":\"%s\",\"service\":", route ? "route" : "service");
        put_json_string(out, svc ? svc : "");
    } else {
        fputs("{\"service\":", out);
        put_json_string(out, f->names[slot]);
    }
    fprintf(out, ",\"state\":\"%s\",\"overridden\":%s,\"config\":\"%s\"}",
            lv_flag_state_name(lv_flags_get(f, slot)),
            lv_flags_overridden(f, slot) ? "true" : "false",
            lv_flag_state_name((lv_flag_state_t)f->configured[slot]));
}

void lv__admin_put_flags(FILE *out, const lv_admin_source_t *src)
{
    fputc('[', out);
    bool first = true;
    for (int i = 0; src->flags && i < LV_FLAGS_MAX; i++) {
        if (!src->flags->names[i])
            continue;
        if (!first)
            fputc(',', out);
        put_flag(out, src->flags, i, true);
        first = false;
    }
    fputc(']', out);
}

char *lv__admin_flags_json(const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    fputs("{\"flags\":", out);
    lv__admin_put_flags(out, src);
    fputs("}\n", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static int reply_flag(lv__admin_reply_t *out, const lv_flags_t *f, int slot)
{
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (mem == NULL)
        return LV_ENOMEM;
    put_flag(mem, f, slot, false);
    fputc('\n', mem);
    if (fclose(mem) != 0) {
        free(text);
        return LV_ENOMEM;
    }
    out->status = 200;
    out->content_type = "application/json";
    out->body = text;
    out->body_len = n;
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *len)
{
    while (*len && is_ows(**p)) {
        (*p)++;
        (*len)--;
    }
    while (*len && is_ows((*p)[*len - 1]))
        (*len)--;
}

/* "Bearer <token>" (scheme case-insensitive) against the configured token, in time that does
 * not depend on where the first difference is. */
static bool token_matches(const lv__admin_request_t *req, const char *token)
{
    if (req->authorization == NULL || req->authorization_bad)
        return false;
    const char *p = req->authorization;
    size_t len = req->authorization_len;
    trim(&p, &len);
    if (len < 7 || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 7;
    len -= 7;
    trim(&p, &len);
    size_t tlen = strlen(token);
    unsigned char diff = len != tlen;
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char)(token[i] ^ (i < len ? p[i] : 0));
    return diff == 0;
}

/* The value of `key` in the query string (no percent-decoding: flag states never need it). */
static bool query_param(const char *q, size_t qlen, const char *key, const char **val, size_t *vlen)
{
    size_t klen = strlen(key);
    const char *end = q + qlen;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
            *val = q + klen + 1;
            *vlen = (size_t)(stop - *val);
            return true;
        }
        q = amp ? amp + 1 : end;
    }
    return false;
}

bool lv__admin_write_refused(const lv_admin_source_t *src, const lv__admin_request_t *req,
                             lv__admin_reply_t *out, int *rc)
{
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    const char *token = cfg ? cfg->admin_token : NULL;
    if (token == NULL || token[0] == '\0') {
        *rc = lv__admin_reply_text(out, 403, "writes disabled: set admin.token\n");
        return true;
    }
    if (!token_matches(req, token)) {
        out->www_authenticate = true;
        *rc = lv__admin_reply_text(out, 401,
                                   "unauthorized: send Authorization: Bearer <admin.token>\n");
        return true;
    }
    return false;
}

/* A reader over a flag write's body. */
typedef struct cursor {
    const char *p, *end;
} cursor_t;

static void skip_ows(cursor_t *c)
{
    while (c->p < c->end && is_ows(*c->p))
        c->p++;
}

static bool take_char(cursor_t *c, char ch)
{
    skip_ows(c);
    if (c->p == c->end || *c->p != ch)
        return false;
    c->p++;
    return true;
}

/* A JSON string without escapes (no state needs one). */
static bool take_string(cursor_t *c, const char **s, size_t *len)
{
    if (!take_char(c, '"'))
        return false;
    const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
    if (q == NULL || memchr(c->p, '\\', (size_t)(q - c->p)))
        return false;
    *s = c->p;
    *len = (size_t)(q - c->p);
    c->p = q + 1;
    return true;
}

/* The state a flag write's body asks for, or -1: a word (on, off or auto, as the first version
 * took), a JSON string ("off") or a JSON object with exactly the member "state"
 * ({"state":"off"}, the same key as POST's query parameter); whitespace around tokens is fine.
 * No escapes: no state needs one. */
static int body_state(const char *v, size_t vlen)
{
    cursor_t c = {v, v + vlen};
    const char *word = NULL, *key = NULL;
    size_t wlen = 0, klen = 0;
    skip_ows(&c);
    if (c.p < c.end && *c.p == '{') {
        c.p++;
        if (!take_string(&c, &key, &klen) || klen != 5 || memcmp(key, "state", 5) != 0 ||
            !take_char(&c, ':') || !take_string(&c, &word, &wlen) || !take_char(&c, '}'))
            return -1;
    } else if (c.p < c.end && *c.p == '"') {
        if (!take_string(&c, &word, &wlen))
            return -1;
    } else {
        word = c.p;
        while (c.p < c.end && !is_ows(*c.p))
            c.p++;
        wlen = (size_t)(c.p - word);
    }
    skip_ows(&c);
    return c.p == c.end ? lv_flag_state_parse(word, wlen) : -1;
}

/* PUT /flags/<name> (body: see body_state) or POST /flags/<name>?state=... (or the same
 * body). */
static int flag_write(const lv_admin_source_t *src, const lv__admin_request_t *req,
                      const char *name, const char *query, size_t query_len, lv__admin_reply_t *out)
{
    int rc = 0;
    if (lv__admin_write_refused(src, req, out, &rc))
        return rc;
    int slot = lv_flags_find(src->flags, name);
    if (slot < 0)
        return lv__admin_reply_text(out, 404, "unknown service or route\n");
    const char *v = NULL;
    size_t vlen = 0;
    int st;
    if (req->method == HTTP_POST && query && query_param(query, query_len, "state", &v, &vlen)) {
        trim(&v, &vlen);
        st = lv_flag_state_parse(v, vlen);
    } else
        st = body_state(req->body ? req->body : "", req->body ? req->body_len : 0);
    if (st < 0)
        return lv__admin_reply_text(
            out, 400, "bad state: want on, off or auto (a word, or {\"state\":\"off\"})\n");
    rc = lv_flags_set(src->flags, name, (lv_flag_state_t)st);
    if (rc == LV_EIO)
        return lv__admin_reply_text(out, 500,
                                    "flag set, but the state file could not be written: it will "
                                    "not survive a restart (see the log)\n");
    if (rc != 0)
        return lv__admin_reply_text(out, 500, "flag not set\n");
    return reply_flag(out, src->flags, slot);
}

/* DELETE /flags/<name>: back to the configured state, the override gone from the state file. */
static int flag_reset(const lv_admin_source_t *src, const lv__admin_request_t *req,
                      const char *name, lv__admin_reply_t *out)
{
    int rc = 0;
    if (lv__admin_write_refused(src, req, out, &rc))
        return rc;
    int slot = lv_flags_find(src->flags, name);
    if (slot < 0)
        return lv__admin_reply_text(out, 404, "unknown service or route\n");
    rc = lv_flags_reset(src->flags, name);
    if (rc == LV_EIO)
        return lv__admin_reply_text(
            out, 500,
            "flag reset, but the state file could not be written: the override "
            "comes back at the next start (see the log)\n");
    if (rc != 0)
        return lv__admin_reply_text(out, 500, "flag not reset\n");
    return reply_flag(out, src->flags, slot);
}

int lv__admin_reply_json(lv__admin_reply_t *out, int status, char *text, size_t len)
{
    if (text == NULL)
        return LV_ENOMEM;
    out->status = status;
    out->content_type = "application/json";
    out->body = text;
    out->body_len = len;
    return 0;
}

/* GET /cache: the store's size and the summed decisions of the workers. */
static char *cache_json(const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_cache_stats_t st;
    lv_cache_store_stats(src->cache, &st);
    fprintf(out,
            "{\"max_bytes\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"entries\":%" PRIu64
            ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"hit_ratio\":%.6g"
            ",\"stale_served\":{\"swr\":%" PRIu64 ",\"error\":%" PRIu64 ",\"refused\":%" PRIu64
            "},\"coalesced\":%" PRIu64 ",\"evictions\":%" PRIu64 ",\"purged\":%" PRIu64 "}\n",
            st.max_bytes, st.bytes, st.entries, cache_sum(src, CACHE_OFF(hits)),
            cache_sum(src, CACHE_OFF(misses)), cache_hit_ratio(src),
            cache_sum(src, CACHE_OFF(stale_swr)), cache_sum(src, CACHE_OFF(stale_error)),
            cache_sum(src, CACHE_OFF(stale_refused)), cache_sum(src, CACHE_OFF(coalesced)),
            st.evictions, st.purged);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into buf (at most cap bytes). '+' stays '+': the values are URLs
 * and tags, not form fields, and a '+' in a stored target is a '+'. Returns the decoded length,
 * LV_EINVAL for a '%' not followed by two hex digits, LV_ELIMIT if it does not fit. */
static int percent_decode(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o == cap)
            return LV_ELIMIT;
        if (s[i] != '%') {
            buf[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            return LV_EINVAL;
        buf[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (int)o;
}

enum { PURGE_URL, PURGE_PREFIX, PURGE_TAG }; /* indexes of purge_params */
static const char *const purge_params[] = {"url", "prefix", "tag"};

/* POST /cache/purge?url=|prefix=|tag=<percent-encoded value>, or the same as DELETE /cache?...
 * Exactly one parameter; any other one is refused rather than ignored, because an unencoded '&'
 * in a URL would otherwise purge a shorter URL than the one meant. Answers {"purged":N}. */
static int cache_purge(const lv_admin_source_t *src, const lv__admin_request_t *req,
                       const char *query, size_t query_len, lv__admin_reply_t *out)
{
    int rc = 0;
    if (lv__admin_write_refused(src, req, out, &rc))
        return rc;
    int kind = -1;
    const char *raw = NULL;
    size_t raw_len = 0;
    const char *q = query, *end = query ? query + query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop > q) {
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            size_t name_len = (size_t)((eq ? eq : stop) - q);
            int k = -1;
            for (size_t i = 0; i < LV_ARRAY_LEN(purge_params); i++)
                if (name_len == strlen(purge_params[i]) &&
                    memcmp(q, purge_params[i], name_len) == 0)
                    k = (int)i;
            if (k < 0)
                return lv__admin_reply_text(out, 400,
                                            "unknown parameter: want one of url=, prefix=, tag= "
                                            "(percent-encode the value: '&' as %26)\n");
            if (kind >= 0)
                return lv__admin_reply_text(out, 400, "want exactly one of url=, prefix=, tag=\n");
            kind = k;
            raw = eq ? eq + 1 : stop;
            raw_len = (size_t)(stop - raw);
        }
        q = amp ? amp + 1 : end;
    }
    if (kind < 0)
        return lv__admin_reply_text(out, 400,
                                    "missing parameter: want one of url=, prefix=, tag=\n");

    char value[LV_CACHE_KEY_MAX + 16]; /* a key plus "https://" */
    int vlen = percent_decode(raw, raw_len, value, sizeof value);
    if (vlen == LV_EINVAL)
        return lv__admin_reply_text(out, 400, "bad percent-encoding in the value\n");
    if (vlen < 0)
        return lv__admin_reply_text(out, 400, "value too long\n");
    if (vlen == 0)
        return lv__admin_reply_text(out, 400, "empty value\n");

    size_t purged = 0;
    int64_t l2_purged = -2; /* -2: no second tier; -1: it did not answer */
    const lv_config_t *cfg = src->config(src->ctx);
    if (kind == PURGE_TAG) {
        purged = lv_cache_store_purge_tag(src->cache, value, (size_t)vlen);
        if (cfg->cache_l2_url)
            l2_purged = lv_admin_l2_purge(cfg, LV_L2_EV_PURGE_TAG, (lv_str_t){value, (size_t)vlen});
    } else {
        char key[LV_CACHE_KEY_MAX];
        int klen = lv_cache_key_from_url(key, sizeof key, value, (size_t)vlen);
        if (klen == LV_ELIMIT)
            return lv__admin_reply_text(out, 400, "url too long\n");
        if (klen < 0)
            return lv__admin_reply_text(
                out, 400,
                "bad url: want http://host/path?query or host/path (no spaces or "
                "control bytes)\n");
        purged = kind == PURGE_URL ? lv_cache_key_purge_url(src->cache, key, (size_t)klen)
                                   : lv_cache_store_purge_prefix(src->cache, key, (size_t)klen);
        if (cfg->cache_l2_url)
            l2_purged = lv_admin_l2_purge(
                cfg, kind == PURGE_URL ? LV_L2_EV_PURGE_URL : LV_L2_EV_PURGE_PREFIX,
                (lv_str_t){key, (size_t)klen});
    }
    char shown[512];
    lv_log_info("admin", "msg=\"cache purge\" by=%s value=%s purged=%zu", purge_params[kind],
                lv_log_quote(shown, sizeof shown, value, (size_t)vlen), purged);

    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (mem == NULL)
        return LV_ENOMEM;
    if (l2_purged == -2)
        fprintf(mem, "{\"purged\":%zu}\n", purged);
    else if (l2_purged < 0)
        fprintf(mem, "{\"purged\":%zu,\"l2_purged\":null}\n", purged);
    else
        fprintf(mem, "{\"purged\":%zu,\"l2_purged\":%lld}\n", purged, (long long)l2_purged);
    if (fclose(mem) != 0) {
        free(text);
        return LV_ENOMEM;
    }
    return lv__admin_reply_json(out, 200, text, n);
}

int lv__admin_route(const lv_admin_source_t *src, uint64_t now_wall_ms,
                    const lv__admin_request_t *req, lv__admin_reply_t *out)
{
    memset(out, 0, sizeof *out);
    const char *target = req->target;
    const char *q = memchr(target, '?', req->target_len);
    size_t path_len = q ? (size_t)(q - target) : req->target_len;
    const char *query = q ? q + 1 : NULL;
    size_t query_len = q ? req->target_len - path_len - 1 : 0;

    enum {
        P_NONE,
        P_METRICS,
        P_STATUS,
        P_HEALTH,
        P_FLAGS,
        P_FLAG,
        P_CACHE,
        P_CACHE_PURGE,
        P_DASHBOARD,
        P_EVENTS
    } which = P_NONE;
    static const char flag_prefix[] = "/flags/";
    char name[LV_ADMIN_NAME_MAX + 1];
    if (path_is(target, path_len, "/metrics"))
        which = P_METRICS;
    else if (path_is(target, path_len, "/status"))
        which = P_STATUS;
    else if (path_is(target, path_len, "/health"))
        which = P_HEALTH;
    else if (path_is(target, path_len, "/dashboard"))
        which = P_DASHBOARD;
    else if (path_is(target, path_len, "/events"))
        which = P_EVENTS; /* GET is streamed by admin.c; here only other methods arrive */
    else if (path_is(target, path_len, "/cache"))
        which = P_CACHE;
    else if (path_is(target, path_len, "/cache/purge"))
        which = P_CACHE_PURGE;
    else if (src->flags && path_is(target, path_len, "/flags"))
        which = P_FLAGS;
    else if (src->flags && path_len >= sizeof flag_prefix - 1 &&
             memcmp(target, flag_prefix, sizeof flag_prefix - 1) == 0) {
        size_t nlen = path_len - (sizeof flag_prefix - 1);
        const char *n = target + sizeof flag_prefix - 1;
        if (nlen == 0 || nlen > LV_ADMIN_NAME_MAX || memchr(n, '/', nlen) || memchr(n, '\0', nlen))
            return lv__admin_reply_text(out, 404, "unknown service or route\n");
        memcpy(name, n, nlen);
        name[nlen] = '\0';
        which = P_FLAG;
    }

    static const char faults_path[] = "/faults";
    size_t faults_len = sizeof faults_path - 1;
    if (which == P_NONE && src->faults && path_len >= faults_len &&
        memcmp(target, faults_path, faults_len) == 0 &&
        (path_len == faults_len || target[faults_len] == '/'))
        return lv__admin_faults(src, req, target + faults_len, path_len - faults_len, out);
    if (which == P_NONE)
        return lv__admin_reply_text(out, 404, "not found\n");
    if ((which == P_CACHE || which == P_CACHE_PURGE) && src->cache == NULL)
        return lv__admin_reply_text(out, 404, "cache off: set cache.size\n");
    if (which == P_CACHE_PURGE) {
        if (req->method == HTTP_POST)
            return cache_purge(src, req, query, query_len, out);
        out->allow = "POST";
        return lv__admin_reply_text(out, 405, "method not allowed\n");
    }
    if (which == P_CACHE && req->method == HTTP_DELETE)
        return cache_purge(src, req, query, query_len, out);
    if (which == P_CACHE && req->method != HTTP_GET) {
        out->allow = "GET, DELETE";
        return lv__admin_reply_text(out, 405, "method not allowed\n");
    }
    if (which == P_FLAG) {
        if (req->method == HTTP_PUT || req->method == HTTP_POST)
            return flag_write(src, req, name, query, query_len, out);
        if (req->method == HTTP_DELETE)
            return flag_reset(src, req, name, out);
        if (req->method != HTTP_GET) {
            out->allow = "GET, PUT, POST, DELETE";
            return lv__admin_reply_text(out, 405, "method not allowed\n");
        }
        int slot = lv_flags_find(src->flags, name);
        if (slot < 0)
            return lv__admin_reply_text(out, 404, "unknown service or route\n");
        return reply_flag(out, src->flags, slot);
    }
    if (req->method != HTTP_GET) {
        out->allow = "GET";
        return lv__admin_reply_text(out, 405, "method not allowed\n");
    }
    switch (which) {
    case P_METRICS:
        out->status = 200;
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        out->body = lv__admin_metrics_text(src, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_STATUS:
        out->status = 200;
        out->content_type = "application/json";
        out->body = lv__admin_status_json(src, now_wall_ms, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_HEALTH:
        if (src->draining && src->draining(src->ctx))
            return lv__admin_reply_text(out, 503, "draining\n");
        return lv__admin_reply_text(out, 200, "ok\n");
    case P_FLAGS:
        out->status = 200;
        out->content_type = "application/json";
        out->body = lv__admin_flags_json(src, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_CACHE: {
        size_t n = 0;
        char *text = cache_json(src, &n);
        return lv__admin_reply_json(out, 200, text, n);
    }
    case P_DASHBOARD:
        out->status = 200;
        out->content_type = "text/html; charset=utf-8";
        out->body = malloc(lv__dashboard_html_len + 1); /* with its NUL, as every body */
        if (out->body == NULL)
            return LV_ENOMEM;
        memcpy(out->body, lv__dashboard_html, lv__dashboard_html_len + 1);
        out->body_len = lv__dashboard_html_len;
        return 0;
    case P_EVENTS:
        return lv__admin_reply_text(out, 404, "GET /events is a stream: open it on the listener\n");
    case P_FLAG:
    case P_CACHE_PURGE:
    case P_NONE:
        break;
    }
    LV_UNREACHABLE("every path handled above");
}
