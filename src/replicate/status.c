/* replicate/status.c: `levee replicate --status`: one logfmt line per peer from what the local
 * Redis keeps (the counters hash a running replicator writes every second) and what the peer's
 * Redis says of its stream and of this region's group (XLEN, XINFO GROUPS). Reads only. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicate/replicate.h"

static redisReply *cmd(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* A field of an HGETALL or XINFO reply (name, value, name, value...). */
static const redisReply *field(const redisReply *map, const char *name)
{
    for (size_t i = 0; map && map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, name) == 0)
            return map->element[i + 1];
    return NULL;
}

static long long num(const redisReply *v)
{
    if (!v)
        return -1;
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return -1;
}

/* The peer's own figures: stream length, this region's group's pending, lag and consumers. */
static void print_peer_side(const lv_repl_opts_t *o, const char *name, const char *url)
{
    lv_repl_redis_addr_t a;
    char err[256];
    redisContext *c = NULL;
    if (url && lv_repl_redis_addr_parse(url, &a) == 0)
        c = lv_repl_redis_connect(&a, 2000, err, sizeof err);
    if (!c) {
        printf(" peer_redis=down stream_length=-1 pending=-1 group_lag=-1 consumers=-1");
        return;
    }
    char stream[sizeof LV_L2_STREAM_PREFIX + LV_L2_REGION_MAX];
    snprintf(stream, sizeof stream, LV_L2_STREAM_PREFIX "%s", name);
    redisReply *r = cmd(c, 2, (const char *[]){"XLEN", stream});
    printf(" peer_redis=up stream_length=%lld", r ? num(r) : -1);
    if (r)
        freeReplyObject(r);
    long long pending = -1, lag = -1, consumers = -1;
    if ((r = cmd(c, 3, (const char *[]){"XINFO", "GROUPS", stream}))) {
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *g = r->element[i], *gn = field(g, "name");
            if (gn && gn->type == REDIS_REPLY_STRING && strcmp(gn->str, o->region) == 0) {
                pending = num(field(g, "pending"));
                lag = num(field(g, "lag"));
                consumers = num(field(g, "consumers"));
            }
        }
        freeReplyObject(r);
    }
    printf(" pending=%lld group_lag=%lld consumers=%lld", pending, lag, consumers);
    redisFree(c);
}

int lv_repl_status_print(const lv_repl_opts_t *o)
{
    char err[256];
    redisContext *c = lv_repl_redis_connect(&o->local, 2000, err, sizeof err);
    if (!c) {
        fprintf(stderr, "levee replicate --status: local redis %s: %s\n", o->local.text, err);
        return 1;
    }
    /* The peers: those given, else those a replicator of this region recorded. */
    const char *names[LV_REPL_PEERS_MAX];
    size_t n = 0;
    redisReply *set = NULL;
    char key[sizeof LV_REPL_STATE_PREFIX + 2 * LV_L2_REGION_MAX + 8];
    if (o->npeers) {
        for (size_t i = 0; i < o->npeers; i++)
            names[n++] = o->peers[i].name;
    } else {
        snprintf(key, sizeof key, LV_REPL_STATE_PREFIX "%s:peers", o->region);
        set = cmd(c, 2, (const char *[]){"SMEMBERS", key});
        for (size_t i = 0;
             set && set->type == REDIS_REPLY_ARRAY && i < set->elements && n < LV_REPL_PEERS_MAX;
             i++)
            if (set->element[i]->type == REDIS_REPLY_STRING)
                names[n++] = set->element[i]->str;
    }
    redisReply *t = cmd(c, 1, (const char *[]){"TIME"});
    long long now_ms = t && t->type == REDIS_REPLY_ARRAY && t->elements == 2
                           ? num(t->element[0]) * 1000 + num(t->element[1]) / 1000
                           : -1;
    if (t)
        freeReplyObject(t);
    printf("region=%s local=%s peers=%zu\n", o->region, o->local.text, n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, LV_REPL_STATE_PREFIX "%s:%s", o->region, names[i]);
        redisReply *h = cmd(c, 2, (const char *[]){"HGETALL", key});
        bool have = h && h->type == REDIS_REPLY_ARRAY && h->elements > 0;
        found += have;
        long long updated = have ? num(field(h, "updated_ms")) : -1;
        printf("peer=%s state=%s", names[i], have ? "recorded" : "none");
        /* A replicator writes every second: silent for 5 s, it is not running (or cannot
         * reach its local Redis). */
        printf(" replicator=%s updated_ms_ago=%lld pid=%lld",
               have && now_ms >= 0 && now_ms - updated < 5000 ? "running" : "stopped",
               have && now_ms >= 0 ? now_ms - updated : -1, have ? num(field(h, "pid")) : -1);
        const char *url = NULL;
        for (size_t j = 0; j < o->npeers; j++)
            if (strcmp(o->peers[j].name, names[i]) == 0)
                url = o->peers[j].addr.text;
        const redisReply *pr = have ? field(h, "peer_redis") : NULL;
        if (!url && pr && pr->type == REDIS_REPLY_STRING)
            url = pr->str;
        print_peer_side(o, names[i], url);
        for (int g = 0; g < LV_REPL_G_N; g++)
            if (g == LV_REPL_G_PEER_UP || g == LV_REPL_G_LOCAL_UP)
                printf(" %s=%lld", lv_repl_gauge_name((lv_repl_gauge_t)g),
                       have ? num(field(h, lv_repl_gauge_name((lv_repl_gauge_t)g))) : -1);
        uint64_t lag[LV_REPL_LAG_BUCKETS];
        for (int b = 0; b < LV_REPL_LAG_BUCKETS; b++) {
            char f[16];
            snprintf(f, sizeof f, "lag_b%d", b);
            long long v = have ? num(field(h, f)) : -1;
            lag[b] = v > 0 ? (uint64_t)v : 0;
        }
        printf(" lag_p50_ms=%.1f lag_p90_ms=%.1f lag_p99_ms=%.1f",
               lv_repl_lag_quantile_ms(lag, 0.5), lv_repl_lag_quantile_ms(lag, 0.9),
               lv_repl_lag_quantile_ms(lag, 0.99));
        for (int k = 0; k < LV_REPL_C_N; k++) {
            long long v = have ? num(field(h, lv_repl_counter_name((lv_repl_counter_t)k))) : 0;
            printf(" %s=%lld", lv_repl_counter_name((lv_repl_counter_t)k), v < 0 ? 0 : v);
        }
        printf("\n");
        if (h)
            freeReplyObject(h);
    }
    if (set)
        freeReplyObject(set);
    redisFree(c);
    return found ? 0 : 1;
}
