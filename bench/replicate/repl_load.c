/* bench/replicate/repl_load.c: the replication bench's load: appends set events of one value size
 * to a region's stream at a fixed rate (open loop, pipelined XADD), as that region's levee would,
 * and prints once a second what it sent and the stream's backlog for a reading group.
 *
 *   repl-load --redis 127.0.0.1:6379 --region a --group b --rate 5000 --seconds 30
 *             [--value-bytes 1024] [--compress-min 256] [--maxlen 1000000] [--prefix bench]
 *
 * Each event's key is PREFIX/<sequence> (every key distinct, so that the reader's Redis counts
 * what arrived), its version the wall clock (the reader's lag is apply time - version). The
 * value is encoded once (cache/l2_value.h, zstd above --compress-min) and only its header's
 * version is rewritten per event. Output: "t=.. sent=.. xlen=.. pending=.. lag=.." per second,
 * then "done sent=.. value_bytes=.. raw_payload_bytes=..". Built by `make repl-load`. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/l2_event.h"
#include "cache/l2_value.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long int_field(const redisReply *m, const char *name)
{
    for (size_t i = 0; m->type == REDIS_REPLY_ARRAY && i + 1 < m->elements; i += 2)
        if (m->element[i]->type == REDIS_REPLY_STRING && strcmp(m->element[i]->str, name) == 0)
            return m->element[i + 1]->type == REDIS_REPLY_INTEGER ? m->element[i + 1]->integer : -1;
    return -1;
}

/* XLEN and the group's pending and lag, on the sampling connection. */
static void sample(redisContext *c, const char *stream, const char *group, double t,
                   unsigned long long sent)
{
    long long xlen = -1, pending = -1, lag = -1;
    redisReply *r = redisCommand(c, "XLEN %s", stream);
    if (r && r->type == REDIS_REPLY_INTEGER)
        xlen = r->integer;
    if (r)
        freeReplyObject(r);
    r = redisCommand(c, "XINFO GROUPS %s", stream);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        for (size_t j = 0; g->type == REDIS_REPLY_ARRAY && j + 1 < g->elements; j += 2)
            if (strcmp(g->element[j]->str, "name") == 0 &&
                g->element[j + 1]->type == REDIS_REPLY_STRING &&
                strcmp(g->element[j + 1]->str, group) == 0) {
                pending = int_field(g, "pending");
                lag = int_field(g, "lag");
            }
    }
    if (r)
        freeReplyObject(r);
    printf("t=%.1f sent=%llu xlen=%lld pending=%lld lag=%lld\n", t, sent, xlen, pending, lag);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *redis = "127.0.0.1:6379", *region = "a", *group = "b", *prefix = "bench";
    double rate = 5000, seconds = 30;
    size_t value_bytes = 1024, compress_min = 256;
    long maxlen = 1000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--redis"))
            redis = v;
        else if (!strcmp(k, "--region"))
            region = v;
        else if (!strcmp(k, "--group"))
            group = v;
        else if (!strcmp(k, "--prefix"))
            prefix = v;
        else if (!strcmp(k, "--rate"))
            rate = atof(v);
        else if (!strcmp(k, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(k, "--value-bytes"))
            value_bytes = (size_t)atol(v);
        else if (!strcmp(k, "--compress-min"))
            compress_min = (size_t)atol(v);
        else if (!strcmp(k, "--maxlen"))
            maxlen = atol(v);
        else {
            fprintf(stderr, "repl-load: unknown flag %s (see the head of repl_load.c)\n", k);
            return 2;
        }
    }
    char host[256];
    const char *colon = strrchr(redis, ':');
    if (!colon || rate <= 0 || (size_t)(colon - redis) >= sizeof host) {
        fprintf(stderr, "repl-load: --redis HOST:PORT and --rate > 0\n");
        return 2;
    }
    memcpy(host, redis, (size_t)(colon - redis));
    host[colon - redis] = '\0';
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    redisContext *s = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    if (!c || c->err || !s || s->err) {
        fprintf(stderr, "repl-load: cannot connect to %s\n", redis);
        return 1;
    }
    redisSetTimeout(c, tv);
    redisSetTimeout(s, tv);

    /* A body like a page fragment: words from a small vocabulary, so zstd does what it would
     * do on real HTML or JSON (not the best case of one repeated byte). */
    static const char *const words[] = {"match",    "<div class=\"score\">",
                                        "live",     "</div>",
                                        "final",    "\"team\":",
                                        "2-1",      "minute",
                                        "goal",     "replay",
                                        "{\"id\":", "stream",
                                        "720p",     "highlights"};
    char *body = malloc(value_bytes + 32);
    size_t bl = 0;
    unsigned x = 7;
    while (bl < value_bytes) {
        const char *w = words[((x = x * 1103515245u + 12345u) >> 16) % LV_ARRAY_LEN(words)];
        size_t wl = strlen(w);
        memcpy(body + bl, w, wl);
        body[bl + wl] = ' ';
        bl += wl + 1;
    }
    bl = value_bytes;
    lv_l2_value_t v = {.version = lv_l2_version_now(),
                       .head = LV_STR("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),
                       .body = {body, bl}};
    char *val;
    size_t val_len;
    if (lv_l2_value_encode(&v, compress_min, &val, &val_len) != 0) {
        fprintf(stderr, "repl-load: encode failed\n");
        return 1;
    }
    char stream[64], maxlen_s[24];
    snprintf(stream, sizeof stream, "lv:ev:%s", region);
    snprintf(maxlen_s, sizeof maxlen_s, "%ld", maxlen);

    unsigned long long sent = 0;
    double t0 = mono_s(), next_sample = 1.0;
    char key[96];
    for (;;) {
        double t = mono_s() - t0;
        if (t >= seconds)
            break;
        unsigned long long due = (unsigned long long)(t * rate);
        unsigned long long n = due > sent ? due - sent : 0;
        if (n > 2000)
            n = 2000; /* bounded pipeline; the rest next round */
        for (unsigned long long i = 0; i < n; i++) {
            uint64_t ver = lv_l2_version_now();
            lv_l2_version_format(ver, val + 6);
            snprintf(key, sizeof key, "%s/%llu", prefix, sent + i);
            lv_l2_event_t ev = {.type = LV_L2_EV_SET,
                                .region = {region, strlen(region)},
                                .key = {key, strlen(key)},
                                .version = ver,
                                .ttl_ms = 600000,
                                .value_len = val_len,
                                .value = {val, val_len}};
            const char *a[6 + 2 * LV_L2_EVENT_FIELDS] = {"XADD", stream,   "MAXLEN",
                                                         "~",    maxlen_s, "*"};
            size_t l[6 + 2 * LV_L2_EVENT_FIELDS] = {4, strlen(stream), 6, 1, strlen(maxlen_s), 1};
            char num[3][24];
            size_t f = lv_l2_event_fields(&ev, a + 6, l + 6, num);
            redisAppendCommandArgv(c, (int)(6 + f), a, l);
        }
        for (unsigned long long i = 0; i < n; i++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK) {
                fprintf(stderr, "repl-load: XADD failed: %s\n", c->errstr);
                return 1;
            }
            freeReplyObject(r);
        }
        sent += n;
        if (t >= next_sample) {
            sample(s, stream, group, t, sent);
            next_sample += 1.0;
        }
        if (!n) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    sample(s, stream, group, mono_s() - t0, sent);
    size_t raw = 14 + v.head.len + v.body.len;
    printf("done sent=%llu value_bytes=%zu raw_payload_bytes=%zu compressed=%d\n", sent, val_len,
           raw, val[5] == '2');
    free(val);
    free(body);
    redisFree(c);
    redisFree(s);
    return 0;
}
