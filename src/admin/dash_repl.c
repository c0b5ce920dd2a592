/* admin/dash_repl.c: the dashboard's replication figures: once a second, one EVAL on the region's
 * Redis returns its TIME, the set lv:repl:<region>:peers and each member's hash, which the
 * region's `levee replicate` adds its counters and lag buckets to every second. Rates and lag
 * quantiles are over the last updates of each hash (up to 5 s). Main thread only; a blocking
 * hiredis connection, each step bounded by LV_DASH_REPL_TIMEOUT_MS. */
#include "admin/dash_repl.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "admin/endpoints.h"
#include "core/log.h"
#include "core/redis_url.h"
#include "replicate/replicate.h"

/* Updates of a peer's hash kept: the rates and the lag span the oldest to the newest. */
#define WINDOW 6

typedef struct update {
    int64_t updated_ms;
    uint64_t applied, failed;
    uint64_t lag[LV_REPL_LAG_BUCKETS];
} update_t;

typedef struct peer {
    char name[LV_L2_REGION_MAX + 1];
    int64_t updated_ms_ago;
    bool running;
    int64_t backlog; /* group_lag + pending; -1 when either is unknown */
    bool peer_up, local_up;
    double lag_p50_ms, lag_p99_ms, applied_per_s, failed_per_s;
    update_t win[WINDOW]; /* oldest first */
    uint32_t n_win;
} peer_t;

struct lv__dash_repl {
    redisContext *rc;
    bool up;     /* the last read succeeded */
    bool outage; /* a failure was logged and no read succeeded since */
    uint32_t n;
    peer_t peers[LV_REPL_PEERS_MAX];
    peer_t scratch[LV_REPL_PEERS_MAX]; /* the next read's peers, built before they replace */
};

static const char script[] = "local t = redis.call('TIME')\n"
                             "local out = {t[1], t[2]}\n"
                             "for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
                             "  out[#out + 1] = p\n"
                             "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. p)\n"
                             "end\n"
                             "return out\n";

lv__dash_repl_t *lv__dash_repl_new(void)
{
    return calloc(1, sizeof(lv__dash_repl_t));
}

void lv__dash_repl_free(lv__dash_repl_t *r)
{
    if (r == NULL)
        return;
    if (r->rc)
        redisFree(r->rc);
    free(r);
}

static long long num(const redisReply *v)
{
    if (v && v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v && v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return -1;
}

/* A field of an HGETALL reply (name, value, name, value...). */
static const redisReply *field(const redisReply *map, const char *name)
{
    for (size_t i = 0; map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, name) == 0)
            return map->element[i + 1];
    return NULL;
}

static uint64_t count(const redisReply *h, const char *name)
{
    long long v = num(field(h, name));
    return v > 0 ? (uint64_t)v : 0;
}

static double per_s(uint64_t a, uint64_t b, int64_t dt_ms)
{
    return b >= a && dt_ms > 0 ? (double)(b - a) * 1000.0 / (double)dt_ms : 0.0;
}

/* Fills p (its window carried over from the last read, or empty) from its hash h at now_ms. */
static void peer_update(peer_t *p, const redisReply *h, int64_t now_ms)
{
    update_t u = {.updated_ms = num(field(h, "updated_ms")),
                  .applied = count(h, lv_repl_counter_name(LV_REPL_C_APPLIED)),
                  .failed = count(h, lv_repl_counter_name(LV_REPL_C_FAILED))};
    for (int b = 0; b < LV_REPL_LAG_BUCKETS; b++) {
        char f[16];
        snprintf(f, sizeof f, "lag_b%d", b);
        u.lag[b] = count(h, f);
    }
    long long group_lag = num(field(h, lv_repl_gauge_name(LV_REPL_G_GROUP_LAG)));
    long long pending = num(field(h, lv_repl_gauge_name(LV_REPL_G_PENDING)));
    p->backlog = group_lag >= 0 && pending >= 0 ? group_lag + pending : -1;
    p->peer_up = num(field(h, lv_repl_gauge_name(LV_REPL_G_PEER_UP))) == 1;
    p->local_up = num(field(h, lv_repl_gauge_name(LV_REPL_G_LOCAL_UP))) == 1;
    p->updated_ms_ago = u.updated_ms >= 0 ? now_ms - u.updated_ms : -1;
    p->running = u.updated_ms >= 0 && p->updated_ms_ago < LV_DASH_REPL_STALE_MS;
    if (!p->running)
        p->n_win = 0; /* a window across a stop would average over the gap */
    else if (p->n_win == 0 || p->win[p->n_win - 1].updated_ms != u.updated_ms) {
        if (p->n_win == WINDOW) {
            memmove(p->win, p->win + 1, (WINDOW - 1) * sizeof(update_t));
            p->n_win--;
        }
        p->win[p->n_win++] = u;
    }
    p->applied_per_s = p->failed_per_s = 0;
    p->lag_p50_ms = p->lag_p99_ms = -1;
    if (p->n_win < 2)
        return;
    const update_t *a = &p->win[0], *b = &p->win[p->n_win - 1];
    int64_t dt = b->updated_ms - a->updated_ms;
    p->applied_per_s = per_s(a->applied, b->applied, dt);
    p->failed_per_s = per_s(a->failed, b->failed, dt);
    uint64_t lag[LV_REPL_LAG_BUCKETS];
    for (int i = 0; i < LV_REPL_LAG_BUCKETS; i++)
        lag[i] = b->lag[i] >= a->lag[i] ? b->lag[i] - a->lag[i] : 0;
    p->lag_p50_ms = lv_repl_lag_quantile_ms(lag, 0.5);
    p->lag_p99_ms = lv_repl_lag_quantile_ms(lag, 0.99);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const peer_t *)a)->name, ((const peer_t *)b)->name);
}

static redisContext *connect_to(const char *url, const char **err)
{
    lv_redis_url_t u;
    if (lv_redis_url_parse(url, &u, err) < 0)
        return NULL;
    struct timeval tv = {0, LV_DASH_REPL_TIMEOUT_MS * 1000};
    redisContext *c = u.unix_socket ? redisConnectUnixWithTimeout(u.host, tv)
                                    : redisConnectWithTimeout(u.host, u.port, tv);
    if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        *err = c ? c->errstr : "out of memory";
        return c; /* freed by the caller, after the reason is logged */
    }
    if (u.db) {
        redisReply *r = redisCommand(c, "SELECT %d", u.db);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        *err = ok ? NULL : r ? "SELECT refused" : c->errstr;
        if (r)
            freeReplyObject(r);
        if (!ok)
            return c;
    }
    *err = NULL;
    return c;
}

/* Parses the script's reply into r->scratch; returns the peers found, or -1 when malformed. */
static int parse(lv__dash_repl_t *r, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 || rep->elements % 2)
        return -1;
    int64_t now_ms = num(rep->element[0]) * 1000 + num(rep->element[1]) / 1000;
    int n = 0;
    for (size_t i = 2; i + 1 < rep->elements && n < LV_REPL_PEERS_MAX; i += 2) {
        const redisReply *name = rep->element[i], *h = rep->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || name->len == 0 || name->len > LV_L2_REGION_MAX ||
            h->type != REDIS_REPLY_ARRAY)
            continue;
        peer_t *p = &r->scratch[n++];
        memset(p, 0, sizeof *p);
        memcpy(p->name, name->str, name->len);
        for (uint32_t k = 0; k < r->n; k++)
            if (strcmp(r->peers[k].name, p->name) == 0)
                *p = r->peers[k]; /* keeps its window */
        peer_update(p, h, now_ms);
    }
    qsort(r->scratch, (size_t)n, sizeof(peer_t), by_name);
    return n;
}

bool lv__dash_repl_read(lv__dash_repl_t *r, const char *url, const char *region)
{
    const char *err = NULL;
    if (r->rc == NULL)
        r->rc = connect_to(url, &err);
    redisReply *rep = NULL;
    int n = -1;
    if (r->rc && !err) {
        char key[sizeof LV_REPL_STATE_PREFIX + LV_L2_REGION_MAX + 8];
        char prefix[sizeof LV_REPL_STATE_PREFIX + LV_L2_REGION_MAX + 2];
        snprintf(key, sizeof key, LV_REPL_STATE_PREFIX "%s:peers", region);
        snprintf(prefix, sizeof prefix, LV_REPL_STATE_PREFIX "%s:", region);
        const char *argv[] = {"EVAL", script, "1", key, prefix};
        rep = redisCommandArgv(r->rc, 5, argv, NULL);
        if (rep == NULL)
            err = r->rc->errstr;
        else if (rep->type == REDIS_REPLY_ERROR)
            err = rep->str;
        else if ((n = parse(r, rep)) < 0)
            err = "unexpected reply";
    } else if (err == NULL) {
        err = "out of memory";
    }
    if (err) {
        if (!r->outage) {
            char q[256];
            lv_log_warn("admin",
                        "msg=\"dashboard: replication state unreadable; retried every second\" "
                        "reason=%s",
                        lv_log_quote_str(q, sizeof q, err));
        }
        r->outage = true;
        r->up = false;
        r->n = 0;
        if (rep)
            freeReplyObject(rep);
        if (r->rc) { /* after a timeout the connection's state is unknown: start again */
            redisFree(r->rc);
            r->rc = NULL;
        }
        return false;
    }
    freeReplyObject(rep);
    if (r->outage)
        lv_log_info("admin", "msg=\"dashboard: replication state readable again\"");
    r->outage = false;
    r->up = true;
    r->n = (uint32_t)n;
    memcpy(r->peers, r->scratch, (size_t)n * sizeof(peer_t));
    return true;
}

void lv__dash_repl_put_json(FILE *out, const lv__dash_repl_t *r, const char *region)
{
    fputs(",\"replication\":{\"region\":", out);
    lv__admin_put_json_string(out, region);
    fprintf(out, ",\"redis_up\":%s,\"peers\":[", r && r->up ? "true" : "false");
    for (uint32_t i = 0; r && i < r->n; i++) {
        const peer_t *p = &r->peers[i];
        fputs(i ? ",{\"peer\":" : "{\"peer\":", out);
        lv__admin_put_json_string(out, p->name);
        fprintf(out,
                ",\"running\":%s,\"updated_ms_ago\":%" PRId64 ",\"lag_p50_ms\":%.4g"
                ",\"lag_p99_ms\":%.4g,\"applied_per_s\":%.6g,\"failed_per_s\":%.6g"
                ",\"backlog\":%" PRId64 ",\"peer_up\":%s,\"local_up\":%s}",
                p->running ? "true" : "false", p->updated_ms_ago, p->lag_p50_ms, p->lag_p99_ms,
                p->applied_per_s, p->failed_per_s, p->backlog, p->peer_up ? "true" : "false",
                p->local_up ? "true" : "false");
    }
    fputs("]}", out);
}
