/* replicate/redis.c: Redis addresses (redis://HOST:PORT[/DB], unix:PATH[?db=N]) and blocking
 * hiredis connections with connect and command timeouts. Any thread; no shared state. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicate/replicate.h"

static bool parse_int(const char *s, size_t len, int min, int max, int *out)
{
    if (!len || len > 9)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

int lv_repl_redis_addr_parse(const char *text, lv_repl_redis_addr_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(text);
    if (n >= sizeof out->text)
        return LV_EINVAL;
    memcpy(out->text, text, n + 1);
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (!plen || plen >= sizeof out->path)
            return LV_EINVAL;
        memcpy(out->path, path, plen);
        if (q &&
            (strncmp(q, "?db=", 4) != 0 || !parse_int(q + 4, strlen(q + 4), 0, 9999, &out->db)))
            return LV_EINVAL;
        return 0;
    }
    if (strncmp(text, "redis://", 8) != 0)
        return LV_EINVAL;
    const char *host = text + 8;
    const char *slash = strchr(host, '/');
    const char *end = slash ? slash : host + strlen(host);
    const char *colon = NULL;
    if (*host == '[') { /* [v6]:port */
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (!rb || rb[1] != ':')
            return LV_EINVAL;
        if ((size_t)(rb - host - 1) >= sizeof out->host || rb == host + 1)
            return LV_EINVAL;
        memcpy(out->host, host + 1, (size_t)(rb - host - 1));
        colon = rb + 1;
    } else {
        for (const char *c = host; c < end; c++)
            if (*c == ':')
                colon = c;
        if (!colon || colon == host || (size_t)(colon - host) >= sizeof out->host)
            return LV_EINVAL;
        if (memchr(host, '@', (size_t)(end - host)))
            return LV_EINVAL; /* no credentials in the address */
        memcpy(out->host, host, (size_t)(colon - host));
    }
    if (!parse_int(colon + 1, (size_t)(end - colon - 1), 1, 65535, &out->port))
        return LV_EINVAL;
    if (slash && !parse_int(slash + 1, strlen(slash + 1), 0, 9999, &out->db))
        return LV_EINVAL;
    return 0;
}

redisContext *lv_repl_redis_connect(const lv_repl_redis_addr_t *a, int cmd_timeout_ms, char *err,
                                    size_t errcap)
{
    struct timeval ct = {2, 0};
    redisContext *c = a->path[0] ? redisConnectUnixWithTimeout(a->path, ct)
                                 : redisConnectWithTimeout(a->host, a->port, ct);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(err, errcap, "%s", c->errstr);
        goto fail;
    }
    struct timeval tv = {cmd_timeout_ms / 1000, (cmd_timeout_ms % 1000) * 1000};
    if (redisSetTimeout(c, tv) != REDIS_OK ||
        (!a->path[0] && redisEnableKeepAlive(c) != REDIS_OK)) {
        snprintf(err, errcap, "%s", c->errstr[0] ? c->errstr : "setting the timeout failed");
        goto fail;
    }
    if (a->db) {
        char db[12];
        snprintf(db, sizeof db, "%d", a->db);
        const char *argv[] = {"SELECT", db};
        redisReply *r = redisCommandArgv(c, 2, argv, NULL);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        snprintf(err, errcap, "SELECT %s: %s", db,
                 !r                             ? c->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str
                                                : "unexpected reply");
        if (r)
            freeReplyObject(r);
        if (!ok)
            goto fail;
    }
    err[0] = '\0';
    return c;
fail:
    redisFree(c);
    return NULL;
}
