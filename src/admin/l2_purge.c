/* admin/l2_purge.c: admin purges to the second tier over a short-lived blocking hiredis
 * connection (admin/l2_purge.h): purges are rare, and the admin thread serves no traffic. */
#include "admin/l2_purge.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cache/l2_script.h"
#include "cache/l2_value.h"
#include "core/log.h"
#include "core/redis_url.h"
#include "proxy/l2_client.h"

int64_t lv_admin_l2_purge(const lv_config_t *cfg, lv_l2_event_type_t type, lv_str_t key)
{
    lv_redis_url_t url;
    const char *why;
    if (lv_redis_url_parse(cfg->cache_l2_url, &url, &why) < 0)
        return -1;
    struct timeval tv = {0, LV_ADMIN_L2_TIMEOUT_MS * 1000};
    redisContext *rc = url.unix_socket ? redisConnectUnixWithTimeout(url.host, tv)
                                       : redisConnectWithTimeout(url.host, url.port, tv);
    lv_l2_purge_bufs_t *b = malloc(sizeof *b);
    int64_t purged = -1;
    const char *err = "out of memory";
    if (!rc || rc->err || !b) {
        err = rc ? rc->errstr : err;
        goto out;
    }
    redisSetTimeout(rc, tv);
    lv_l2_cmd_t cmds[3];
    size_t n = lv_l2_purge_commands(type, key, cfg->region, lv_l2_version_now(),
                                    cfg->cache_l2_tombstone_ttl_ms, cfg->cache_l2_stream_maxlen,
                                    cfg->cache_l2_publish, lv_l2_sender_id(), b, cmds);
    if (url.db)
        redisAppendCommand(rc, "SELECT %d", url.db);
    const char *load[] = {"FUNCTION", "LOAD", "REPLACE", lv_l2_script};
    size_t load_lens[] = {8, 4, 7, strlen(lv_l2_script)};
    redisAppendCommandArgv(rc, 4, load, load_lens);
    for (size_t i = 0; i < n; i++)
        redisAppendCommandArgv(rc, cmds[i].argc, cmds[i].argv, cmds[i].lens);
    size_t replies = n + 1 + (url.db ? 1 : 0);
    err = NULL;
    for (size_t i = 0; i < replies; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
            err = rc->errstr;
            break;
        }
        /* The purge's own reply: the function call's count. */
        if (i == replies - n && r->type == REDIS_REPLY_INTEGER)
            purged = r->integer;
        else if (i == replies - n && r->type == REDIS_REPLY_ERROR && !err)
            err = "the purge function failed";
        freeReplyObject(r);
    }
out:
    if (err) {
        char q[256];
        lv_log_warn("admin", "msg=\"second tier purge failed: only L1 purged\" reason=%s",
                    lv_log_quote_str(q, sizeof q, err));
        purged = -1;
    }
    if (rc)
        redisFree(rc);
    free(b);
    return purged;
}
