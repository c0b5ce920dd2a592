/* proxy/l2_subscriber.c: drops L1 copies when the region's channel says so (proxy/
 * l2_subscriber.h). One hiredis connection in subscribe mode on the main loop; the store is made
 * for sharing, so the purges run here while the workers serve. */
#include "proxy/l2_subscriber.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "cache/key.h"
#include "cache/l2_event.h"
#include "core/log.h"
#include "proxy/l2_client.h"
#include "proxy/redis_uv.h"

struct lv_l2_subscriber {
    uv_loop_t *loop;
    lv_cache_store_t *cache;
    lv_l2_drop_stats_t *stats;
    lv_redis_url_t url;
    uint32_t retry_ms;
    redisAsyncContext *ac;
    uv_timer_t retry_timer;
    bool subscribed, closing;
    int shown; /* the state the log last told: -1 none yet, 0 down, 1 up */
    char channel[sizeof LV_L2_CHANNEL_PREFIX + LV_L2_REGION_MAX];
};

static void sub_connect(lv_l2_subscriber_t *s);

static void sub_down(lv_l2_subscriber_t *s, const char *why)
{
    s->subscribed = false;
    atomic_store(&s->stats->up, 0);
    if (s->closing)
        return;
    if (s->shown != 0) {
        char q[256];
        lv_log_warn("l2", "msg=\"drop channel lost: other regions' changes wait\" reason=%s",
                    lv_log_quote_str(q, sizeof q, why));
        s->shown = 0;
    }
}

static void on_retry(uv_timer_t *t)
{
    lv_l2_subscriber_t *s = t->data;
    if (s->closing)
        return;
    if (s->ac && !s->subscribed) { /* connect took too long */
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
        sub_down(s, "connect timed out");
    }
    if (!s->ac)
        sub_connect(s);
}

static void retry_later(lv_l2_subscriber_t *s)
{
    if (!s->closing)
        uv_timer_start(&s->retry_timer, on_retry, s->retry_ms, 0);
}

/* Applies one "sender\ntype\nkey" message to the store. */
static void apply(lv_l2_subscriber_t *s, const char *msg, size_t len)
{
    lv_str_t sender, type, key;
    if (lv_l2_drop_parse(msg, len, &sender, &type, &key) < 0)
        return;
    const char *self = lv_l2_sender_id();
    if (sender.len == strlen(self) && memcmp(sender.p, self, sender.len) == 0)
        return;
    size_t n = 0;
    if (type.len == 3 && memcmp(type.p, "key", 3) == 0)
        n = lv_cache_store_purge_key(s->cache, key.p, key.len) == 0;
    else if (type.len == 3 && memcmp(type.p, "url", 3) == 0)
        n = lv_cache_key_purge_url(s->cache, key.p, key.len);
    else if (type.len == 6 && memcmp(type.p, "prefix", 6) == 0)
        n = lv_cache_store_purge_prefix(s->cache, key.p, key.len);
    else if (type.len == 3 && memcmp(type.p, "tag", 3) == 0)
        n = lv_cache_store_purge_tag(s->cache, key.p, key.len);
    else
        return;
    atomic_fetch_add(&s->stats->messages, 1);
    atomic_fetch_add(&s->stats->dropped, n);
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    lv_l2_subscriber_t *s = ac->data;
    redisReply *r = reply;
    if (!s || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        s->subscribed = true;
        atomic_store(&s->stats->up, 1);
        uv_timer_stop(&s->retry_timer);
        if (s->shown != 1)
            lv_log_info("l2", "msg=\"drop channel subscribed\" channel=%s", s->channel);
        s->shown = 1;
    } else if (strcmp(r->element[0]->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        apply(s, r->element[2]->str, r->element[2]->len);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    lv_l2_subscriber_t *s = ac->data;
    if (!s || status == REDIS_OK)
        return;
    s->ac = NULL;
    sub_down(s, ac->errstr);
    retry_later(s);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    lv_l2_subscriber_t *s = ac->data;
    if (!s)
        return;
    s->ac = NULL;
    sub_down(s, ac->err ? ac->errstr : "connection closed");
    retry_later(s);
}

static void sub_connect(lv_l2_subscriber_t *s)
{
    char why[128];
    s->ac = lv_redis_uv_connect(s->loop, &s->url, why, sizeof why);
    if (!s->ac) {
        sub_down(s, why);
        retry_later(s);
        return;
    }
    s->ac->data = s;
    redisAsyncSetConnectCallback(s->ac, on_connect);
    redisAsyncSetDisconnectCallback(s->ac, on_disconnect);
    const char *argv[] = {"SUBSCRIBE", s->channel};
    size_t lens[] = {9, strlen(s->channel)};
    redisAsyncCommandArgv(s->ac, on_message, NULL, 2, argv, lens);
    retry_later(s); /* the bound of the connect */
}

lv_l2_subscriber_t *lv_l2_subscriber_start(uv_loop_t *loop, const lv_config_t *cfg,
                                           lv_cache_store_t *cache, lv_l2_drop_stats_t *stats)
{
    lv_l2_subscriber_t *s = calloc(1, sizeof *s);
    const char *why;
    if (!s || lv_redis_url_parse(cfg->cache_l2_url, &s->url, &why) < 0) {
        free(s);
        return NULL;
    }
    s->loop = loop;
    s->cache = cache;
    s->stats = stats;
    s->retry_ms = cfg->cache_l2_retry_ms;
    s->shown = -1;
    snprintf(s->channel, sizeof s->channel, LV_L2_CHANNEL_PREFIX "%s",
             cfg->region ? cfg->region : "local");
    uv_timer_init(loop, &s->retry_timer);
    s->retry_timer.data = s;
    sub_connect(s);
    return s;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void lv_l2_subscriber_stop(lv_l2_subscriber_t *s)
{
    if (!s)
        return;
    s->closing = true;
    if (s->ac) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    uv_close((uv_handle_t *)&s->retry_timer, on_closed);
}
