/* replicate/plan.c: what one replicated event becomes in the local Redis: the FCALL of the
 * "levee" library (cache/l2_script.h) and the L1-drop message's type, or a reason to skip it.
 * Pure: no I/O, no clock of its own; any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replicate/replicate.h"

static void arg(lv_repl_cmd_t *cmd, const char *p, size_t len)
{
    LV_ASSERT(cmd->argc < LV_REPL_CMD_ARGS);
    cmd->argv[cmd->argc] = p;
    cmd->lens[cmd->argc++] = len;
}

static void arg_str(lv_repl_cmd_t *cmd, const char *s)
{
    arg(cmd, s, strlen(s));
}

int lv_repl_plan(const lv_l2_event_t *ev, const char *region, uint64_t tombstone_ttl_ms,
                 uint64_t now_us, lv_repl_cmd_t *cmd, char **buf, size_t *cap)
{
    memset(cmd, 0, sizeof *cmd);
    if (ev->region.len == strlen(region) && memcmp(ev->region.p, region, ev->region.len) == 0)
        return LV_REPL_DO_OWN;
    if ((unsigned)ev->type >= LV_L2_EV_TYPES || !ev->key.len)
        return LV_REPL_DO_BAD;

    uint64_t ttl_ms = tombstone_ttl_ms;
    if (ev->type == LV_L2_EV_SET || ev->type == LV_L2_EV_META) {
        /* A replayed or late event keeps what was left of its TTL, not a fresh one. The clocks
         * of two regions differ a little: an event "from the future" has age 0. */
        uint64_t age_ms = now_us > ev->version ? (now_us - ev->version) / 1000 : 0;
        if (ev->ttl_ms <= age_ms)
            return LV_REPL_DO_EXPIRED;
        ttl_ms = ev->ttl_ms - age_ms;
    }
    if (ev->type == LV_L2_EV_SET && lv_l2_value_version(ev->value.p, ev->value.len) != ev->version)
        return LV_REPL_DO_BAD; /* not a value, or not the version the event says */

    const char *prefix = ev->type == LV_L2_EV_PURGE_TAG ? LV_L2_TAG_PREFIX : LV_L2_KEY_PREFIX;
    size_t plen = strlen(prefix), need = plen + ev->key.len;
    if (need > *cap) {
        char *nb = realloc(*buf, need);
        if (!nb)
            return LV_ENOMEM;
        *buf = nb;
        *cap = need;
    }
    memcpy(*buf, prefix, plen);
    memcpy(*buf + plen, ev->key.p, ev->key.len);
    snprintf(cmd->ttl, sizeof cmd->ttl, "%llu", (unsigned long long)ttl_ms);
    lv_l2_version_format(ev->version, cmd->version);

    static const char *const fn[LV_L2_EV_TYPES] = {
        "lv_set", "lv_tomb", "lv_tomb", "lv_purge_url", "lv_purge_prefix", "lv_purge_tag"};
    static const char *const drop[LV_L2_EV_TYPES] = {"key", "key", "key", "url", "prefix", "tag"};
    arg_str(cmd, "FCALL");
    arg_str(cmd, fn[ev->type]);
    arg_str(cmd, "1");
    arg(cmd, *buf, need);
    if (ev->type == LV_L2_EV_SET) {
        arg(cmd, ev->value.p, ev->value.len);
        arg_str(cmd, cmd->ttl);
        /* Tags joined by '\n'; empty parts are not tags. */
        const char *p = ev->tags.p, *end = p ? p + ev->tags.len : NULL;
        while (p && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            if (e > p) {
                if (cmd->argc == LV_REPL_CMD_ARGS)
                    return LV_REPL_DO_BAD; /* more tags than a value may carry */
                arg(cmd, p, (size_t)(e - p));
            }
            p = e + 1;
        }
    } else {
        arg(cmd, cmd->version, LV_L2_VERSION_DIGITS);
        arg_str(cmd, cmd->ttl);
    }
    cmd->drop_type = drop[ev->type];
    /* A set, meta or invalidation that lost to a newer local copy leaves the L1 copies alone
     * (they may be that newer copy). A purge drops them whatever it found in the L2: an L1 may
     * hold what the L2 has already let expire. */
    cmd->counts_stale = ev->type <= LV_L2_EV_INVALIDATE;
    cmd->only_if_changed = cmd->counts_stale;
    return LV_REPL_DO_APPLY;
}
