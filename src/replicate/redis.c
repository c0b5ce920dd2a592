/* replicate/redis.c: Redis addresses (redis://HOST:PORT[/DB], unix:PATH[?db=N]) and blocking
 * hiredis connections with connect and command timeouts. Any thread; no shared state. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicate/replicate.h"

#include "core/redis_url.h"

int lv_repl_redis_addr_parse(const char *text, lv_repl_redis_addr_t *out)
{
    memset(out, 0, sizeof *out);
    lv_redis_url_t u;
    const char *why;
    size_t n = strlen(text);
    if (n >= sizeof out->text || lv_redis_url_parse(text, &u, &why) < 0)
        return LV_EINVAL;
    memcpy(out->text, text, n + 1);
    if (u.unix_socket) {
        memcpy(out->path, u.host, strnlen(u.host, sizeof out->path - 1)); /* < 108: parsed */
    } else {
        snprintf(out->host, sizeof out->host, "%s", u.host);
        out->port = u.port;
    }
    out->db = u.db;
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
