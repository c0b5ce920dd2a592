/* proxy/l2_client.c: a worker's second-tier client (proxy/l2_client.h): one hiredis connection
 * on the worker's loop, lookups with deadlines, fire-and-forget writes, events and a breaker.
 *
 * States: connecting (commands wait), ready (the function library is loaded: lookups and writes
 * go out), down (no connection: a timer connects again after cache.l2.retry_ms). Lookups wait in
 * a FIFO ordered by deadline (they all have the same timeout): one timer at the oldest one's
 * deadline ends those whose time is up. */
#include "proxy/l2_client.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cache/l2_script.h"
#include "cache/l2_value.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/redis_url.h"
#include "proxy/proxy.h"
#include "proxy/redis_uv.h"

#define KEY_MAX (sizeof LV_L2_KEY_PREFIX + 2 * 4096 + 8)
#define TAG_KEY_MAX 1024

struct lv_l2_get {
    lv_l2_client_t *c;
    lv_link_t link; /* in c->waiting while a callback is owed */
    uint64_t deadline_us;
    lv_l2_get_cb cb; /* NULL: answered, timed out or cancelled */
    void *arg;
};

struct lv_l2_client {
    uv_loop_t *loop;
    lv_l2_metrics_t *m;
    uint32_t worker_id;
    lv_redis_url_t url;
    redisAsyncContext *ac; /* NULL while down */
    bool ready;            /* the library is loaded: commands go out */
    int shown;             /* the state the log last told: -1 none yet, 0 down, 1 up */
    bool closing;
    int handles_open;          /* our timers, until closed */
    uv_timer_t retry_timer;    /* connect bound, then reconnect delay */
    uv_timer_t deadline_timer; /* the oldest lookup's deadline */
    lv_link_t waiting;         /* lookups owed a callback, oldest at waiting.prev */
    uint32_t pending;          /* commands sent, not answered */
    uint32_t failures;         /* lookups in a row that timed out or failed */
    uint64_t open_until_us;    /* breaker open until then */
    bool probing;              /* half-open: the one lookup let through is out */
    /* settings */
    uint32_t timeout_ms, retry_ms, breaker_failures, max_pending, tombstone_ttl_ms, maxlen;
    bool publish;
    char region[LV_L2_REGION_MAX + 1];
    char stream[sizeof LV_L2_STREAM_PREFIX + LV_L2_REGION_MAX];
    char channel[sizeof LV_L2_CHANNEL_PREFIX + LV_L2_REGION_MAX];
};

static void connect_now(lv_l2_client_t *c);

static char sender_id[64];

static void make_sender_id(void)
{
    char host[48] = "";
    gethostname(host, sizeof host - 1);
    snprintf(sender_id, sizeof sender_id, "%s:%d:%llx", host, (int)getpid(),
             (unsigned long long)(lv_l2_version_now() & 0xffffff));
}

const char *lv_l2_sender_id(void)
{
    static uv_once_t once = UV_ONCE_INIT;
    uv_once(&once, make_sender_id);
    return sender_id;
}

/* ---- state ---- */

static void set_up(lv_l2_client_t *c, bool up)
{
    atomic_store_explicit(&c->m->up, up ? 1 : 0, memory_order_relaxed);
}

static void went_down(lv_l2_client_t *c, const char *why)
{
    c->ready = false;
    set_up(c, false);
    if (c->closing)
        return;
    if (c->shown != 0) {
        char q[256];
        lv_log_warn("l2",
                    "msg=\"second tier down: serving from L1 and the origin\" worker=%u "
                    "reason=%s",
                    c->worker_id, lv_log_quote_str(q, sizeof q, why));
        c->shown = 0;
    }
}

static void schedule_retry(lv_l2_client_t *c);

static void on_retry(uv_timer_t *t)
{
    lv_l2_client_t *c = t->data;
    if (c->closing)
        return;
    if (c->ac && !c->ready) { /* the connect (or the library load) took too long */
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);
        went_down(c, "connect timed out");
        schedule_retry(c);
        return;
    }
    if (!c->ac)
        connect_now(c);
}

static void schedule_retry(lv_l2_client_t *c)
{
    if (!c->closing)
        uv_timer_start(&c->retry_timer, on_retry, c->retry_ms, 0);
}

/* A command was answered (or ended with its connection): the client it was sent for, NULL once
 * that client is closing, its count of unanswered commands lowered. */
static lv_l2_client_t *answered(redisAsyncContext *ac)
{
    lv_l2_client_t *c = ac->data;
    if (c && c->pending)
        c->pending--;
    return c;
}

static void on_library(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    lv_l2_client_t *c = answered(ac);
    redisReply *r = reply;
    if (!c)
        return;
    if (!r) /* the connection went away meanwhile */
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        char q[256];
        lv_log_error("l2",
                     "msg=\"second tier refused levee's functions (Redis 7 needed)\" worker=%u "
                     "reason=%s",
                     c->worker_id, lv_log_quote(q, sizeof q, r->str, r->len));
        return; /* stays not ready: the connect bound frees it and tries again later */
    }
    c->ready = true;
    c->probing = false;
    c->failures = 0;
    c->open_until_us = 0;
    uv_timer_stop(&c->retry_timer);
    set_up(c, true);
    if (c->shown != 1)
        lv_log_info("l2", "msg=\"second tier up\" worker=%u", c->worker_id);
    c->shown = 1;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    lv_l2_client_t *c = ac->data;
    if (!c || status == REDIS_OK)
        return;
    c->ac = NULL; /* hiredis frees it after this call */
    went_down(c, ac->errstr);
    schedule_retry(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    lv_l2_client_t *c = ac->data;
    if (!c)
        return;
    c->ac = NULL;
    c->pending = 0;
    went_down(c, ac->err ? ac->errstr : "connection closed");
    schedule_retry(c);
}

static void connect_now(lv_l2_client_t *c)
{
    char why[128];
    c->ac = lv_redis_uv_connect(c->loop, &c->url, why, sizeof why);
    if (!c->ac) {
        went_down(c, why);
        schedule_retry(c);
        return;
    }
    c->ac->data = c;
    redisAsyncSetConnectCallback(c->ac, on_connect);
    redisAsyncSetDisconnectCallback(c->ac, on_disconnect);
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", lv_l2_script};
    size_t lens[] = {8, 4, 7, strlen(lv_l2_script)};
    if (redisAsyncCommandArgv(c->ac, on_library, NULL, 4, argv, lens) == REDIS_OK)
        c->pending++;
    schedule_retry(c); /* the bound of the connect */
}

lv_l2_client_t *lv_l2_client_new(uv_loop_t *loop, const lv_config_t *cfg, lv_l2_metrics_t *m,
                                 uint32_t worker_id)
{
    lv_l2_client_t *c = calloc(1, sizeof *c);
    const char *why;
    if (!c || lv_redis_url_parse(cfg->cache_l2_url, &c->url, &why) < 0) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->m = m;
    c->worker_id = worker_id;
    c->timeout_ms = cfg->cache_l2_timeout_ms;
    c->retry_ms = cfg->cache_l2_retry_ms;
    c->breaker_failures = cfg->cache_l2_breaker_failures;
    c->max_pending = cfg->cache_l2_max_pending;
    c->tombstone_ttl_ms = cfg->cache_l2_tombstone_ttl_ms;
    c->maxlen = cfg->cache_l2_stream_maxlen;
    c->publish = cfg->cache_l2_publish;
    snprintf(c->region, sizeof c->region, "%s", cfg->region ? cfg->region : "local");
    snprintf(c->stream, sizeof c->stream, LV_L2_STREAM_PREFIX "%s", c->region);
    snprintf(c->channel, sizeof c->channel, LV_L2_CHANNEL_PREFIX "%s", c->region);
    lv_list_init(&c->waiting);
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->deadline_timer);
    c->retry_timer.data = c->deadline_timer.data = c;
    c->handles_open = 2;
    c->shown = -1;
    connect_now(c);
    return c;
}

static void on_handle_closed(uv_handle_t *h)
{
    lv_l2_client_t *c = h->data;
    if (--c->handles_open == 0)
        free(c);
}

void lv_l2_client_close(lv_l2_client_t *c)
{
    if (!c)
        return;
    c->closing = true;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ac->data = NULL; /* its callbacks no longer reach this client */
        redisAsyncFree(ac);
    }
    /* Lookups still owed: ended as errors (their requests are gone at worker close anyway). */
    while (!lv_list_empty(&c->waiting)) {
        lv_l2_get_t *g = LV_CONTAINER_OF(c->waiting.prev, lv_l2_get_t, link);
        lv_list_remove(&g->link);
        lv_l2_get_cb cb = g->cb;
        g->cb = NULL;
        g->c = NULL;
        if (cb)
            cb(g->arg, LV_L2_ERROR, NULL, 0);
    }
    uv_close((uv_handle_t *)&c->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->deadline_timer, on_handle_closed);
}

bool lv_l2_usable(lv_l2_client_t *c)
{
    return c && c->ac && c->ready && c->pending < c->max_pending &&
           (c->failures < c->breaker_failures ||
            (!c->probing && lv_clock_now_us() >= c->open_until_us));
}

/* ---- the breaker ---- */

static void lookup_failed(lv_l2_client_t *c)
{
    c->probing = false;
    if (++c->failures < c->breaker_failures)
        return;
    bool was_closed = c->failures == c->breaker_failures;
    c->open_until_us = lv_clock_now_us() + c->retry_ms * 1000ull;
    lv_counter_add(&c->m->breaker_opens, 1);
    set_up(c, false);
    if (was_closed)
        lv_log_warn("l2",
                    "msg=\"second tier breaker open: lookups skipped\" worker=%u failures=%u "
                    "retry_ms=%u",
                    c->worker_id, c->failures, c->retry_ms);
}

static void lookup_succeeded(lv_l2_client_t *c)
{
    c->probing = false;
    if (c->failures >= c->breaker_failures)
        lv_log_info("l2", "msg=\"second tier breaker closed\" worker=%u", c->worker_id);
    c->failures = 0;
    set_up(c, c->ready);
}

/* ---- lookups ---- */

static void on_deadline(uv_timer_t *t);

static void rearm(lv_l2_client_t *c)
{
    if (lv_list_empty(&c->waiting)) {
        uv_timer_stop(&c->deadline_timer);
        return;
    }
    lv_l2_get_t *oldest = LV_CONTAINER_OF(c->waiting.prev, lv_l2_get_t, link);
    uint64_t now = lv_clock_now_us();
    uint64_t ms = oldest->deadline_us > now ? (oldest->deadline_us - now + 999) / 1000 : 0;
    uv_timer_start(&c->deadline_timer, on_deadline, ms, 0);
}

static void on_deadline(uv_timer_t *t)
{
    lv_l2_client_t *c = t->data;
    uint64_t now = lv_clock_now_us();
    while (!lv_list_empty(&c->waiting)) {
        lv_l2_get_t *g = LV_CONTAINER_OF(c->waiting.prev, lv_l2_get_t, link);
        if (g->deadline_us > now)
            break;
        lv_list_remove(&g->link);
        lv_l2_get_cb cb = g->cb;
        g->cb = NULL;
        lv_counter_add(&c->m->timeouts, 1);
        lookup_failed(c);
        cb(g->arg, LV_L2_TIMEOUT, NULL, 0);
    }
    rearm(c);
}

static void on_get(redisAsyncContext *ac, void *reply, void *priv)
{
    lv_l2_get_t *g = priv;
    lv_l2_client_t *c = answered(ac);
    redisReply *r = reply;
    if (!r && c)
        c->ready = false; /* the connection is going away: nothing more is sent on it */
    if (g->cb) {
        lv_list_remove(&g->link);
        lv_l2_get_cb cb = g->cb;
        g->cb = NULL;
        if (r && r->type == REDIS_REPLY_STRING) {
            lv_counter_add(&c->m->hits, 1);
            lookup_succeeded(c);
            cb(g->arg, LV_L2_HIT, r->str, r->len);
        } else if (r && r->type == REDIS_REPLY_NIL) {
            lv_counter_add(&c->m->misses, 1);
            lookup_succeeded(c);
            cb(g->arg, LV_L2_MISS, NULL, 0);
        } else {
            lv_counter_add(&c->m->errors, 1);
            if (c)
                lookup_failed(c);
            cb(g->arg, LV_L2_ERROR, NULL, 0);
        }
        if (c)
            rearm(c);
    }
    free(g);
}

static size_t prefixed(char *buf, const char *prefix, const char *key, size_t len)
{
    size_t pl = strlen(prefix);
    if (pl + len > KEY_MAX)
        return 0;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, key, len);
    return pl + len;
}

lv_l2_get_t *lv_l2_get(lv_l2_client_t *c, const char *key, size_t len, lv_l2_get_cb cb, void *arg)
{
    if (!lv_l2_usable(c)) {
        if (c)
            lv_counter_add(&c->m->skipped, 1);
        return NULL;
    }
    char k[KEY_MAX];
    size_t kl = prefixed(k, LV_L2_KEY_PREFIX, key, len);
    lv_l2_get_t *g = kl ? calloc(1, sizeof *g) : NULL;
    if (!g)
        return NULL;
    g->c = c;
    g->cb = cb;
    g->arg = arg;
    g->deadline_us = lv_clock_now_us() + c->timeout_ms * 1000ull;
    const char *argv[] = {"GET", k};
    size_t lens[] = {3, kl};
    if (redisAsyncCommandArgv(c->ac, on_get, g, 2, argv, lens) != REDIS_OK) {
        free(g);
        lv_counter_add(&c->m->skipped, 1);
        return NULL;
    }
    c->pending++;
    if (c->failures >= c->breaker_failures)
        c->probing = true; /* half-open: this one alone, until it is answered */
    bool first = lv_list_empty(&c->waiting);
    lv_list_push(&c->waiting, &g->link);
    if (first)
        rearm(c);
    return g;
}

void lv_l2_get_cancel(lv_l2_get_t *g)
{
    if (!g || !g->cb)
        return;
    g->cb = NULL;
    lv_list_remove(&g->link);
    if (g->c) {
        g->c->probing = false; /* a probe whose request went away: the next one probes */
        rearm(g->c);
    }
}

/* ---- writes and events ---- */

static void on_write(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    lv_l2_client_t *c = answered(ac);
    redisReply *r = reply;
    if (!c)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR)
        lv_counter_add(&c->m->write_errors, 1);
}

static bool can_write(lv_l2_client_t *c)
{
    if (c->ac && c->ready && c->pending < c->max_pending)
        return true;
    lv_counter_add(&c->m->write_errors, 1);
    return false;
}

static void send_argv(lv_l2_client_t *c, int argc, const char **argv, const size_t *lens)
{
    if (redisAsyncCommandArgv(c->ac, on_write, NULL, argc, argv, lens) == REDIS_OK)
        c->pending++;
    else
        lv_counter_add(&c->m->write_errors, 1);
}

static void send_event(lv_l2_client_t *c, const lv_l2_event_t *ev)
{
    if (!c->publish || !ev)
        return;
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%u", c->maxlen);
    const char *argv[6 + 2 * LV_L2_EVENT_FIELDS];
    size_t lens[6 + 2 * LV_L2_EVENT_FIELDS];
    const char *head[] = {"XADD", c->stream, "MAXLEN", "~", maxlen, "*"};
    for (int i = 0; i < 6; i++) {
        argv[i] = head[i];
        lens[i] = strlen(head[i]);
    }
    char num[3][24];
    size_t n = lv_l2_event_fields(ev, argv + 6, lens + 6, num);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += lens[6 + i];
    send_argv(c, (int)(6 + n), argv, lens);
    lv_counter_add(&c->m->events[ev->type], 1);
    lv_counter_add(&c->m->event_bytes, bytes);
}

void lv_l2_put(lv_l2_client_t *c, const char *key, size_t key_len, const char *val, size_t val_len,
               uint64_t ttl_ms, lv_str_t tags, const lv_l2_event_t *ev)
{
    if (!c || !can_write(c))
        return;
    char k[KEY_MAX], ttl[24];
    size_t kl = prefixed(k, LV_L2_KEY_PREFIX, key, key_len);
    if (!kl)
        return;
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)ttl_ms);
    const char *argv[6 + LV_L2_TAGS_MAX] = {"FCALL", "lv_set", "1", k, val, ttl};
    size_t lens[6 + LV_L2_TAGS_MAX] = {5, 6, 1, kl, val_len, strlen(ttl)};
    int argc = 6;
    for (const char *p = tags.p, *end = tags.p + tags.len; p && p < end && argc < 6 + 16;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t tl = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (tl) {
            argv[argc] = p;
            lens[argc++] = tl;
        }
        p += tl + 1;
    }
    send_argv(c, argc, argv, lens);
    lv_counter_add(&c->m->writes, 1);
    lv_counter_add(&c->m->write_bytes, val_len);
    send_event(c, ev);
}

void lv_l2_publish(lv_l2_client_t *c, const lv_l2_event_t *ev)
{
    if (c && can_write(c))
        send_event(c, ev);
}

void lv_l2_purge(lv_l2_client_t *c, lv_l2_event_type_t type, lv_str_t key)
{
    if (!c || !can_write(c))
        return;
    static _Thread_local lv_l2_purge_bufs_t b;
    lv_l2_cmd_t cmds[3];
    size_t n = lv_l2_purge_commands(type, key, c->region, lv_l2_version_now(), c->tombstone_ttl_ms,
                                    c->maxlen, c->publish, lv_l2_sender_id(), &b, cmds);
    for (size_t i = 0; i < n; i++)
        send_argv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens);
    if (n) {
        lv_counter_add(&c->m->writes, 1);
        if (c->publish) {
            uint64_t bytes = 0;
            for (int i = 6; i < cmds[1].argc; i++)
                bytes += cmds[1].lens[i];
            lv_counter_add(&c->m->events[type], 1);
            lv_counter_add(&c->m->event_bytes, bytes);
        }
    }
}
