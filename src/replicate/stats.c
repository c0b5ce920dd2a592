/* replicate/stats.c: the replicator's counters per peer (written by the peer's thread, relaxed
 * atomics), the lag histogram and its quantiles, their Prometheus and JSON forms, and their
 * copy in the local Redis (HINCRBY of the growth since the last flush, in MULTI/EXEC). */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replicate/replicate.h"

const uint32_t lv_repl_lag_bounds_ms[LV_REPL_LAG_BOUNDS] = {1,   2,   5,   10,   20,  50,
                                                            100, 200, 500, 1000, 5000};

static const char *const counter_names[LV_REPL_C_N] = {
    "read",  "applied",     "stale",       "own_region", "expired",   "failed",
    "bytes", "value_bytes", "purged_keys", "batches",    "reconnects"};
static const char *const counter_help[LV_REPL_C_N] = {
    "Entries read from the peer's stream",
    "Events that changed the local Redis (every purge run counts)",
    "Events older than the local copy: nothing changed",
    "Events from this region, skipped (loop guard)",
    "Set and meta events whose TTL ran out on the way, skipped",
    "Malformed entries and events the local Redis refused",
    "Bytes of field names and values read",
    "Bytes of values (the val field) read",
    "Keys the purges turned into tombstones",
    "Batches applied to the local Redis",
    "Connections made again after a failure"};
static const char *const gauge_names[LV_REPL_G_N] = {"stream_length", "pending", "group_lag",
                                                     "peer_up", "local_up"};

const char *lv_repl_counter_name(lv_repl_counter_t c)
{
    return counter_names[c];
}

const char *lv_repl_gauge_name(lv_repl_gauge_t g)
{
    return gauge_names[g];
}

void lv_repl_stats_init(lv_repl_stats_t *s)
{
    for (int i = 0; i < LV_REPL_C_N; i++)
        atomic_init(&s->c[i], 0);
    for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++)
        atomic_init(&s->lag[i], 0);
    atomic_init(&s->lag_sum_us, 0);
    for (int i = 0; i < LV_REPL_G_N; i++)
        atomic_init(&s->g[i], -1);
}

void lv_repl_count(lv_repl_stats_t *s, lv_repl_counter_t c, uint64_t n)
{
    atomic_fetch_add_explicit(&s->c[c], n, memory_order_relaxed);
}

void lv_repl_gauge(lv_repl_stats_t *s, lv_repl_gauge_t g, int64_t v)
{
    atomic_store_explicit(&s->g[g], v, memory_order_relaxed);
}

void lv_repl_lag_add(lv_repl_stats_t *s, int64_t lag_us)
{
    int b = 0;
    while (b < LV_REPL_LAG_BOUNDS && lag_us > (int64_t)lv_repl_lag_bounds_ms[b] * 1000)
        b++;
    atomic_fetch_add_explicit(&s->lag[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->lag_sum_us, lag_us > 0 ? (uint64_t)lag_us : 0,
                              memory_order_relaxed);
}

double lv_repl_lag_quantile_ms(const uint64_t counts[LV_REPL_LAG_BUCKETS], double q)
{
    uint64_t total = 0;
    for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++)
        total += counts[i];
    if (!total)
        return -1;
    double rank = q * (double)total, seen = 0;
    for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++) {
        if (!counts[i])
            continue;
        if (seen + (double)counts[i] >= rank) {
            double lo = i ? lv_repl_lag_bounds_ms[i - 1] : 0;
            double hi = i < LV_REPL_LAG_BOUNDS
                            ? lv_repl_lag_bounds_ms[i]
                            : 2.0 * lv_repl_lag_bounds_ms[LV_REPL_LAG_BOUNDS - 1];
            return lo + (hi - lo) * (rank - seen) / (double)counts[i];
        }
        seen += (double)counts[i];
    }
    return 2.0 * lv_repl_lag_bounds_ms[LV_REPL_LAG_BOUNDS - 1];
}

static void snapshot(lv_repl_stats_t *s, uint64_t c[LV_REPL_C_N], uint64_t lag[LV_REPL_LAG_BUCKETS],
                     int64_t g[LV_REPL_G_N])
{
    for (int i = 0; i < LV_REPL_C_N; i++)
        c[i] = atomic_load_explicit(&s->c[i], memory_order_relaxed);
    for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++)
        lag[i] = atomic_load_explicit(&s->lag[i], memory_order_relaxed);
    for (int i = 0; i < LV_REPL_G_N; i++)
        g[i] = atomic_load_explicit(&s->g[i], memory_order_relaxed);
}

/* A growable string; on allocation failure it stays NULL and every append is a no-op. */
typedef struct sb {
    char *p;
    size_t len, cap;
    bool failed;
} sb_t;

__attribute__((format(printf, 2, 3))) static void sb_printf(sb_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static char *sb_done(sb_t *b)
{
    if (b->failed) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

char *lv_repl_metrics_text(const lv_repl_opts_t *o, lv_repl_peer_t *peers)
{
    sb_t b = {0};
    uint64_t(*all_c)[LV_REPL_C_N] = calloc(o->npeers ? o->npeers : 1, sizeof *all_c);
    uint64_t(*all_lag)[LV_REPL_LAG_BUCKETS] = calloc(o->npeers ? o->npeers : 1, sizeof *all_lag);
    int64_t(*all_g)[LV_REPL_G_N] = calloc(o->npeers ? o->npeers : 1, sizeof *all_g);
    if (!all_c || !all_lag || !all_g) {
        free(all_c);
        free(all_lag);
        free(all_g);
        return NULL;
    }
    for (size_t p = 0; p < o->npeers; p++)
        snapshot(&peers[p].stats, all_c[p], all_lag[p], all_g[p]);
    sb_printf(&b, "# HELP levee_replicate_info The replicator's region (the label).\n");
    sb_printf(&b, "# TYPE levee_replicate_info gauge\nlevee_replicate_info{region=\"%s\"} 1\n",
              o->region);
    for (int i = 0; i < LV_REPL_C_N; i++) {
        sb_printf(&b, "# HELP levee_replicate_%s_total %s.\n", counter_names[i], counter_help[i]);
        sb_printf(&b, "# TYPE levee_replicate_%s_total counter\n", counter_names[i]);
        for (size_t p = 0; p < o->npeers; p++)
            sb_printf(&b, "levee_replicate_%s_total{peer=\"%s\"} %llu\n", counter_names[i],
                      o->peers[p].name, (unsigned long long)all_c[p][i]);
    }
    static const char *const gauge_help[LV_REPL_G_N] = {
        "Entries in the peer's stream (XLEN)",
        "Entries delivered to this region's group and not yet acknowledged",
        "Entries not yet delivered to this region's group (XINFO GROUPS lag)",
        "1 while the peer's Redis answers", "1 while the local Redis answers"};
    for (int i = 0; i < LV_REPL_G_N; i++) {
        sb_printf(&b, "# HELP levee_replicate_%s %s; -1 while unknown.\n", gauge_names[i],
                  gauge_help[i]);
        sb_printf(&b, "# TYPE levee_replicate_%s gauge\n", gauge_names[i]);
        for (size_t p = 0; p < o->npeers; p++)
            sb_printf(&b, "levee_replicate_%s{peer=\"%s\"} %lld\n", gauge_names[i],
                      o->peers[p].name, (long long)all_g[p][i]);
    }
    sb_printf(&b, "# HELP levee_replicate_lag_seconds Apply time minus the event's version "
                  "(the writer's clock).\n# TYPE levee_replicate_lag_seconds histogram\n");
    for (size_t p = 0; p < o->npeers; p++) {
        uint64_t cum = 0;
        for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++) {
            cum += all_lag[p][i];
            if (i < LV_REPL_LAG_BOUNDS)
                sb_printf(&b, "levee_replicate_lag_seconds_bucket{peer=\"%s\",le=\"%g\"} %llu\n",
                          o->peers[p].name, lv_repl_lag_bounds_ms[i] / 1000.0,
                          (unsigned long long)cum);
            else
                sb_printf(&b, "levee_replicate_lag_seconds_bucket{peer=\"%s\",le=\"+Inf\"} %llu\n",
                          o->peers[p].name, (unsigned long long)cum);
        }
        sb_printf(&b, "levee_replicate_lag_seconds_sum{peer=\"%s\"} %.6f\n", o->peers[p].name,
                  (double)atomic_load_explicit(&peers[p].stats.lag_sum_us, memory_order_relaxed) /
                      1e6);
        sb_printf(&b, "levee_replicate_lag_seconds_count{peer=\"%s\"} %llu\n", o->peers[p].name,
                  (unsigned long long)cum);
    }
    free(all_c);
    free(all_lag);
    free(all_g);
    return sb_done(&b);
}

char *lv_repl_status_json(const lv_repl_opts_t *o, lv_repl_peer_t *peers)
{
    sb_t b = {0};
    sb_printf(&b, "{\"region\":\"%s\",\"peers\":[", o->region);
    for (size_t p = 0; p < o->npeers; p++) {
        uint64_t c[LV_REPL_C_N], lag[LV_REPL_LAG_BUCKETS];
        int64_t g[LV_REPL_G_N];
        snapshot(&peers[p].stats, c, lag, g);
        sb_printf(&b, "%s{\"peer\":\"%s\"", p ? "," : "", o->peers[p].name);
        for (int i = 0; i < LV_REPL_G_N; i++)
            sb_printf(&b, ",\"%s\":%lld", gauge_names[i], (long long)g[i]);
        for (int i = 0; i < LV_REPL_C_N; i++)
            sb_printf(&b, ",\"%s\":%llu", counter_names[i], (unsigned long long)c[i]);
        sb_printf(&b, ",\"lag_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f},\"lag_buckets\":[",
                  lv_repl_lag_quantile_ms(lag, 0.5), lv_repl_lag_quantile_ms(lag, 0.9),
                  lv_repl_lag_quantile_ms(lag, 0.99));
        for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++)
            sb_printf(&b, "%s%llu", i ? "," : "", (unsigned long long)lag[i]);
        sb_printf(&b, "]}");
    }
    sb_printf(&b, "]}\n");
    return sb_done(&b);
}

/* Appends one command; argv strings are copied by hiredis at once. */
static void append_cmd(redisContext *c, int *n, int argc, const char **argv)
{
    redisAppendCommandArgv(c, argc, argv, NULL);
    (*n)++;
}

int lv_repl_stats_flush(redisContext *rc, const lv_repl_opts_t *o, lv_repl_peer_t *peers,
                        uint64_t (*flushed)[LV_REPL_C_N + LV_REPL_LAG_BUCKETS])
{
    char peers_key[sizeof LV_REPL_STATE_PREFIX + LV_L2_REGION_MAX + 8];
    snprintf(peers_key, sizeof peers_key, LV_REPL_STATE_PREFIX "%s:peers", o->region);
    char now_ms[24], pid[24];
    snprintf(now_ms, sizeof now_ms, "%llu", (unsigned long long)(lv_repl_now_us() / 1000));
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    int n = 0;
    uint64_t cur[LV_REPL_PEERS_MAX][LV_REPL_C_N + LV_REPL_LAG_BUCKETS];
    append_cmd(rc, &n, 1, (const char *[]){"MULTI"});
    for (size_t p = 0; p < o->npeers; p++) {
        char key[sizeof LV_REPL_STATE_PREFIX + 2 * LV_L2_REGION_MAX + 2];
        snprintf(key, sizeof key, LV_REPL_STATE_PREFIX "%s:%s", o->region, o->peers[p].name);
        int64_t g[LV_REPL_G_N];
        snapshot(&peers[p].stats, cur[p], cur[p] + LV_REPL_C_N, g);
        for (int i = 0; i < LV_REPL_C_N + LV_REPL_LAG_BUCKETS; i++) {
            uint64_t d = cur[p][i] - flushed[p][i];
            if (!d)
                continue;
            char field[24], delta[24];
            if (i < LV_REPL_C_N)
                snprintf(field, sizeof field, "%s", counter_names[i]);
            else
                snprintf(field, sizeof field, "lag_b%d", i - LV_REPL_C_N);
            snprintf(delta, sizeof delta, "%llu", (unsigned long long)d);
            append_cmd(rc, &n, 4, (const char *[]){"HINCRBY", key, field, delta});
        }
        char gv[LV_REPL_G_N][24];
        const char *argv[2 + 2 * (LV_REPL_G_N + 4)];
        int a = 0;
        argv[a++] = "HSET";
        argv[a++] = key;
        for (int i = 0; i < LV_REPL_G_N; i++) {
            snprintf(gv[i], sizeof gv[i], "%lld", (long long)g[i]);
            argv[a++] = gauge_names[i];
            argv[a++] = gv[i];
        }
        argv[a++] = "updated_ms";
        argv[a++] = now_ms;
        argv[a++] = "pid";
        argv[a++] = pid;
        argv[a++] = "consumer";
        argv[a++] = o->consumer;
        argv[a++] = "peer_redis";
        argv[a++] = o->peers[p].addr.text;
        append_cmd(rc, &n, a, argv);
        append_cmd(rc, &n, 3, (const char *[]){"SADD", peers_key, o->peers[p].name});
    }
    append_cmd(rc, &n, 1, (const char *[]){"EXEC"});
    bool ok = true;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK)
            return LV_EIO; /* the connection is broken: the caller drops it */
        if (i == n - 1)
            ok = r && r->type == REDIS_REPLY_ARRAY;
        freeReplyObject(r);
    }
    if (!ok)
        return LV_EIO;
    for (size_t p = 0; p < o->npeers; p++)
        memcpy(flushed[p], cur[p], sizeof cur[p]);
    return 0;
}
