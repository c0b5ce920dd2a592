/* cache/l2_event.c: replication events as Redis Streams field lists, and the L1-drop messages
 * (cache/l2_event.h). */
#include "cache/l2_event.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[LV_L2_EV_TYPES] = {"set", "meta",   "invalidate",
                                                       "url", "prefix", "tag"};

const char *lv_l2_event_type_name(lv_l2_event_type_t t)
{
    return (unsigned)t < LV_L2_EV_TYPES ? type_names[t] : "?";
}

bool lv_l2_region_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > LV_L2_REGION_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

size_t lv_l2_event_fields(const lv_l2_event_t *ev, const char **argv, size_t *lens, char num[3][24])
{
    size_t n = 0;
#define FIELD(name, p, len)                                                                        \
    (argv[n] = (name), lens[n++] = sizeof(name) - 1, argv[n] = (p), lens[n++] = (len))
    const char *t = lv_l2_event_type_name(ev->type);
    FIELD("t", t, strlen(t));
    FIELD("r", ev->region.p, ev->region.len);
    FIELD("k", ev->key.p, ev->key.len);
    snprintf(num[0], 24, "%016llu", (unsigned long long)ev->version);
    FIELD("v", num[0], strlen(num[0]));
    if (ev->type == LV_L2_EV_SET || ev->type == LV_L2_EV_META) {
        snprintf(num[1], 24, "%llu", (unsigned long long)ev->ttl_ms);
        FIELD("ttl", num[1], strlen(num[1]));
        snprintf(num[2], 24, "%llu", (unsigned long long)ev->value_len);
        FIELD("n", num[2], strlen(num[2]));
        FIELD("g", ev->tags.p ? ev->tags.p : "", ev->tags.len);
        if (ev->type == LV_L2_EV_SET)
            FIELD("val", ev->value.p, ev->value.len);
    }
#undef FIELD
    return n;
}

static bool parse_u64(const char *p, size_t len, uint64_t *out)
{
    if (!len || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

static bool is(const char *p, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(p, name, len) == 0;
}

int lv_l2_event_parse(const char *const *strs, const size_t *lens, size_t n, lv_l2_event_t *out)
{
    memset(out, 0, sizeof *out);
    out->type = LV_L2_EV_TYPES;
    bool has_v = false, has_k = false, has_ttl = false;
    if (n % 2)
        return LV_EINVAL;
    for (size_t i = 0; i < n; i += 2) {
        const char *name = strs[i], *v = strs[i + 1];
        size_t nl = lens[i], vl = lens[i + 1];
        if (is(name, nl, "t")) {
            for (int t = 0; t < LV_L2_EV_TYPES; t++)
                if (is(v, vl, type_names[t]))
                    out->type = (lv_l2_event_type_t)t;
        } else if (is(name, nl, "r")) {
            out->region = (lv_str_t){v, vl};
        } else if (is(name, nl, "k")) {
            out->key = (lv_str_t){v, vl};
            has_k = true;
        } else if (is(name, nl, "v")) {
            has_v = vl == 16 && parse_u64(v, vl, &out->version);
        } else if (is(name, nl, "ttl")) {
            has_ttl = parse_u64(v, vl, &out->ttl_ms);
        } else if (is(name, nl, "n")) {
            if (!parse_u64(v, vl, &out->value_len))
                return LV_EINVAL;
        } else if (is(name, nl, "g")) {
            out->tags = (lv_str_t){v, vl};
        } else if (is(name, nl, "val")) {
            out->value = (lv_str_t){v, vl};
        }
    }
    if (out->type == LV_L2_EV_TYPES || !has_v || !has_k || !out->key.len || !out->region.len ||
        out->region.len > LV_L2_REGION_MAX)
        return LV_EINVAL;
    if ((out->type == LV_L2_EV_SET || out->type == LV_L2_EV_META) && !has_ttl)
        return LV_EINVAL;
    if (out->type == LV_L2_EV_SET && !out->value.len)
        return LV_EINVAL;
    return 0;
}

int lv_l2_drop_format(char *buf, size_t cap, const char *sender, const char *type, lv_str_t key)
{
    size_t sl = strlen(sender), tl = strlen(type);
    if (sl + tl + 2 + key.len > cap)
        return LV_ELIMIT;
    memcpy(buf, sender, sl);
    buf[sl] = '\n';
    memcpy(buf + sl + 1, type, tl);
    buf[sl + 1 + tl] = '\n';
    if (key.len)
        memcpy(buf + sl + tl + 2, key.p, key.len);
    return (int)(sl + tl + 2 + key.len);
}

int lv_l2_drop_parse(const char *msg, size_t len, lv_str_t *sender, lv_str_t *type, lv_str_t *key)
{
    const char *nl1 = memchr(msg, '\n', len);
    if (!nl1)
        return LV_EINVAL;
    const char *nl2 = memchr(nl1 + 1, '\n', len - (size_t)(nl1 + 1 - msg));
    if (!nl2)
        return LV_EINVAL;
    *sender = (lv_str_t){msg, (size_t)(nl1 - msg)};
    *type = (lv_str_t){nl1 + 1, (size_t)(nl2 - nl1 - 1)};
    *key = (lv_str_t){nl2 + 1, len - (size_t)(nl2 + 1 - msg)};
    return key->len ? 0 : LV_EINVAL;
}

static void cmd_push(lv_l2_cmd_t *c, const char *p, size_t len)
{
    c->argv[c->argc] = p;
    c->lens[c->argc++] = len;
}

size_t lv_l2_purge_commands(lv_l2_event_type_t type, lv_str_t key, const char *region,
                            uint64_t version, uint32_t tombstone_ttl_ms, uint32_t maxlen,
                            bool publish, const char *sender, lv_l2_purge_bufs_t *b,
                            lv_l2_cmd_t cmds[3])
{
    static const char *const fn[LV_L2_EV_TYPES] = {
        [LV_L2_EV_INVALIDATE] = "lv_tomb",
        [LV_L2_EV_PURGE_URL] = "lv_purge_url",
        [LV_L2_EV_PURGE_PREFIX] = "lv_purge_prefix",
        [LV_L2_EV_PURGE_TAG] = "lv_purge_tag",
    };
    static const char *const drop[LV_L2_EV_TYPES] = {
        [LV_L2_EV_INVALIDATE] = "key",
        [LV_L2_EV_PURGE_URL] = "url",
        [LV_L2_EV_PURGE_PREFIX] = "prefix",
        [LV_L2_EV_PURGE_TAG] = "tag",
    };
    if ((unsigned)type >= LV_L2_EV_TYPES || !fn[type] || key.len + 8 > sizeof b->key)
        return 0;
    const char *prefix = type == LV_L2_EV_PURGE_TAG ? LV_L2_TAG_PREFIX : LV_L2_KEY_PREFIX;
    size_t pl = strlen(prefix);
    memcpy(b->key, prefix, pl);
    memcpy(b->key + pl, key.p, key.len);
    snprintf(b->ver, sizeof b->ver, "%016llu", (unsigned long long)version);
    snprintf(b->ttl, sizeof b->ttl, "%u", tombstone_ttl_ms);
    snprintf(b->maxlen, sizeof b->maxlen, "%u", maxlen);
    snprintf(b->stream, sizeof b->stream, LV_L2_STREAM_PREFIX "%s", region);
    snprintf(b->channel, sizeof b->channel, LV_L2_CHANNEL_PREFIX "%s", region);
    size_t n = 0;
    lv_l2_cmd_t *c = &cmds[n++];
    c->argc = 0;
    cmd_push(c, "FCALL", 5);
    cmd_push(c, fn[type], strlen(fn[type]));
    cmd_push(c, "1", 1);
    cmd_push(c, b->key, pl + key.len);
    cmd_push(c, b->ver, strlen(b->ver));
    cmd_push(c, b->ttl, strlen(b->ttl));
    if (publish) {
        b->ev = (lv_l2_event_t){
            .type = type, .region = {region, strlen(region)}, .key = key, .version = version};
        c = &cmds[n++];
        c->argc = 0;
        const char *head[] = {"XADD", b->stream, "MAXLEN", "~", b->maxlen, "*"};
        for (int i = 0; i < 6; i++)
            cmd_push(c, head[i], strlen(head[i]));
        c->argc += (int)lv_l2_event_fields(&b->ev, c->argv + 6, c->lens + 6, b->num);
    }
    int ml = lv_l2_drop_format(b->msg, sizeof b->msg, sender, drop[type], key);
    if (ml > 0) {
        c = &cmds[n++];
        c->argc = 0;
        cmd_push(c, "PUBLISH", 7);
        cmd_push(c, b->channel, strlen(b->channel));
        cmd_push(c, b->msg, (size_t)ml);
    }
    return n;
}
