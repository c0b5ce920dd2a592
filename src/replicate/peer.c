/* replicate/peer.c: one peer region's replication loop, on its own thread: reads the peer's
 * stream as this region's consumer group, applies each batch to the local Redis (one pipelined
 * write of FCALLs), publishes the L1 drops, acknowledges, and reconnects with backoff when
 * either Redis fails. Owns its two connections and its counters; never appends to a stream. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/l2_script.h"
#include "core/log.h"
#include "replicate/replicate.h"

#define COMP "replicate"
#define PEER_CMD_TIMEOUT_MS 5000
/* Purges SCAN the local keyspace inside one function call: give them time. */
#define LOCAL_CMD_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* Entries another consumer of this group has held this long are taken over (a replicator that
 * ran under another name and is gone). */
#define CLAIM_IDLE_MS 60000
#define CLAIM_EVERY_MS 30000

enum { STEP_OK = 0, STEP_PEER_DOWN = -1, STEP_LOCAL_DOWN = -2 };

enum { Q_READ, Q_ACK };
#define QUEUE_MAX 4

typedef struct queued {
    int kind;
    bool from_pending; /* a read of our own pending list (from pending_from) */
    bool discard;      /* a read made before a failure: its entries come back as pending */
} queued_t;

/* What one entry of a batch became. */
typedef struct item {
    lv_l2_event_t ev;
    const char *id;
    size_t id_len;
    int decision;
    const char *drop_type;
    bool only_if_changed, counts_stale, publish;
} item_t;

typedef struct state {
    lv_repl_peer_t *p;
    redisContext *peer, *local;
    bool peer_down_logged, local_down_logged;
    uint64_t peer_down_since_ms, local_down_since_ms;
    bool ever_peer, ever_local;
    bool pending_mode; /* reading our own pending entries (after a start or a failure) */
    char pending_from[64];
    char claim_cursor[64];
    uint64_t next_gauges_ms, next_claim_ms;
    item_t *items;
    const char **strs; /* one entry's field strings, for lv_l2_event_parse */
    size_t *lens;
    size_t fields_cap;
    char *buf; /* the Redis key of the command being built, then a drop message */
    size_t buf_cap;
    char channel[sizeof LV_L2_CHANNEL_PREFIX + LV_L2_REGION_MAX];
    lv_log_limit_t lim;
    /* Commands sent to the peer whose replies are still to come, in order: the next batch's
     * read goes out before the current batch is applied, its XACK after, without waiting. */
    queued_t queue[QUEUE_MAX];
    size_t nqueued;
} state_t;

uint64_t lv_repl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool lv_repl_sleep(atomic_bool *stop, uint32_t ms)
{
    while (ms && !atomic_load(stop)) {
        uint32_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return atomic_load(stop);
}

static const char *peer_name(state_t *s)
{
    return s->p->opt->name;
}

static void went_down(state_t *s, bool peer, const char *why)
{
    char qa[128], qw[256];
    lv_repl_gauge(&s->p->stats, peer ? LV_REPL_G_PEER_UP : LV_REPL_G_LOCAL_UP, 0);
    bool *logged = peer ? &s->peer_down_logged : &s->local_down_logged;
    if (*logged)
        return;
    *logged = true;
    *(peer ? &s->peer_down_since_ms : &s->local_down_since_ms) = mono_ms();
    lv_log_warn(
        COMP, "msg=\"%s redis down\" peer=%s redis=%s error=%s", peer ? "peer" : "local",
        peer_name(s),
        lv_log_quote_str(qa, sizeof qa, peer ? s->p->opt->addr.text : s->p->opts->local.text),
        lv_log_quote_str(qw, sizeof qw, why));
}

static void came_up(state_t *s, bool peer)
{
    lv_repl_gauge(&s->p->stats, peer ? LV_REPL_G_PEER_UP : LV_REPL_G_LOCAL_UP, 1);
    bool *ever = peer ? &s->ever_peer : &s->ever_local;
    bool *logged = peer ? &s->peer_down_logged : &s->local_down_logged;
    char q[128];
    const char *addr =
        lv_log_quote_str(q, sizeof q, peer ? s->p->opt->addr.text : s->p->opts->local.text);
    if (*ever)
        lv_repl_count(&s->p->stats, LV_REPL_C_RECONNECTS, 1);
    if (*logged)
        lv_log_warn(COMP, "msg=\"%s redis back\" peer=%s redis=%s down_ms=%llu",
                    peer ? "peer" : "local", peer_name(s), addr,
                    (unsigned long long)(mono_ms() -
                                         (peer ? s->peer_down_since_ms : s->local_down_since_ms)));
    else if (!*ever)
        lv_log_info(COMP, "msg=\"%s redis connected\" peer=%s redis=%s", peer ? "peer" : "local",
                    peer_name(s), addr);
    *ever = true;
    *logged = false;
}

static void drop_conn(state_t *s, bool peer, const char *why)
{
    redisContext **c = peer ? &s->peer : &s->local;
    char copy[256]; /* why may be the context's own errstr */
    snprintf(copy, sizeof copy, "%s", why);
    why = copy;
    if (*c) {
        redisFree(*c);
        *c = NULL;
    }
    went_down(s, peer, why);
    if (peer)
        s->nqueued = 0;
    else /* a read already sent is not applied: its entries are read again as pending */
        for (size_t i = 0; i < s->nqueued; i++)
            s->queue[i].discard = true;
    /* Whatever was read and not acknowledged is read again, from our pending list. */
    s->pending_mode = true;
    strcpy(s->pending_from, "0");
}

/* Sends what was appended to the peer's connection, without waiting for the replies. */
static bool send_queued(state_t *s, int kind, bool from_pending)
{
    LV_ASSERT(s->nqueued < QUEUE_MAX);
    int done = 0;
    while (!done)
        if (redisBufferWrite(s->peer, &done) != REDIS_OK) {
            drop_conn(s, true, s->peer->errstr[0] ? s->peer->errstr : "write failed");
            return false;
        }
    s->queue[s->nqueued++] = (queued_t){kind, from_pending, false};
    return true;
}

/* The reply to the oldest queued command (*q tells what it was); NULL when the peer failed. */
static redisReply *next_queued(state_t *s, queued_t *q)
{
    LV_ASSERT(s->nqueued > 0);
    redisReply *r = NULL;
    if (redisGetReply(s->peer, (void **)&r) != REDIS_OK || !r) {
        drop_conn(s, true, s->peer->errstr[0] ? s->peer->errstr : "no reply");
        return NULL;
    }
    *q = s->queue[0];
    memmove(s->queue, s->queue + 1, --s->nqueued * sizeof s->queue[0]);
    return r;
}

/* Reads the replies of every queued command (acknowledgements; reads are let go, their entries
 * stay pending), so that the connection can be used for one command at a time. */
static int drain_queue(state_t *s)
{
    while (s->nqueued) {
        queued_t q;
        redisReply *r = next_queued(s, &q);
        if (!r)
            return STEP_PEER_DOWN;
        if (q.kind == Q_READ && r->type == REDIS_REPLY_ARRAY && r->elements) {
            s->pending_mode = true; /* those entries are ours now: read them as pending */
            strcpy(s->pending_from, "0");
        }
        freeReplyObject(r);
    }
    return STEP_OK;
}

/* A command on one connection; NULL (and the connection dropped) when it failed. An error reply
 * is returned as it is. */
static redisReply *command(state_t *s, bool peer, int argc, const char **argv, const size_t *lens)
{
    redisContext *c = peer ? s->peer : s->local;
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r)
        drop_conn(s, peer, c->errstr[0] ? c->errstr : "no reply");
    return r;
}

static bool is_error(const redisReply *r, const char *prefix)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static bool connect_local(state_t *s)
{
    char err[256];
    s->local = lv_repl_redis_connect(&s->p->opts->local, LOCAL_CMD_TIMEOUT_MS, err, sizeof err);
    if (!s->local) {
        went_down(s, false, err);
        return false;
    }
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", lv_l2_script};
    redisReply *r = command(s, false, 4, argv, NULL);
    if (!r)
        return false;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, sizeof err, "FUNCTION LOAD: %s", r->str);
        freeReplyObject(r);
        drop_conn(s, false, err);
        return false;
    }
    freeReplyObject(r);
    came_up(s, false);
    return true;
}

/* The group is created at id 0: the first start replays what the stream holds (idempotent by
 * versions), and events appended before the replicator ever ran are not lost. */
static bool create_group(state_t *s)
{
    const char *argv[] = {"XGROUP", "CREATE", s->p->stream, s->p->opts->region, "0", "MKSTREAM"};
    redisReply *r = command(s, true, 6, argv, NULL);
    if (!r)
        return false;
    bool ok = r->type != REDIS_REPLY_ERROR || is_error(r, "BUSYGROUP");
    if (!ok) {
        char err[256];
        snprintf(err, sizeof err, "XGROUP CREATE: %s", r->str);
        freeReplyObject(r);
        drop_conn(s, true, err);
        return false;
    }
    freeReplyObject(r);
    return true;
}

static bool connect_peer(state_t *s)
{
    char err[256];
    s->peer = lv_repl_redis_connect(&s->p->opt->addr, PEER_CMD_TIMEOUT_MS, err, sizeof err);
    if (!s->peer) {
        went_down(s, true, err);
        return false;
    }
    if (!create_group(s))
        return false;
    came_up(s, true);
    s->pending_mode = true;
    strcpy(s->pending_from, "0");
    s->next_claim_ms = 0;
    return true;
}

static int64_t int_field(const redisReply *map, const char *name)
{
    if (map->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const redisReply *k = map->element[i], *v = map->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
            return v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
    }
    return -1;
}

static bool str_field_is(const redisReply *map, const char *name, const char *want)
{
    for (size_t i = 0; map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2) {
        const redisReply *k = map->element[i], *v = map->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
            return v->type == REDIS_REPLY_STRING && strcmp(v->str, want) == 0;
    }
    return false;
}

/* Stream length, the group's pending entries and lag, once a second. */
static int read_gauges(state_t *s)
{
    const char *xlen[] = {"XLEN", s->p->stream};
    redisReply *r = command(s, true, 2, xlen, NULL);
    if (!r)
        return STEP_PEER_DOWN;
    lv_repl_gauge(&s->p->stats, LV_REPL_G_STREAM_LEN,
                  r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
    freeReplyObject(r);
    const char *xinfo[] = {"XINFO", "GROUPS", s->p->stream};
    if (!(r = command(s, true, 3, xinfo, NULL)))
        return STEP_PEER_DOWN;
    int64_t pending = -1, lag = -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        if (str_field_is(r->element[i], "name", s->p->opts->region)) {
            pending = int_field(r->element[i], "pending");
            lag = int_field(r->element[i], "lag"); /* nil (unknown) after deletions */
        }
    }
    freeReplyObject(r);
    lv_repl_gauge(&s->p->stats, LV_REPL_G_PENDING, pending);
    lv_repl_gauge(&s->p->stats, LV_REPL_G_GROUP_LAG, lag);
    return STEP_OK;
}

/* Takes over entries that another consumer of this group left pending (a replicator that ran
 * under another name); they join our pending list, read next. */
static int claim(state_t *s)
{
    char idle[16], count[16];
    snprintf(idle, sizeof idle, "%d", CLAIM_IDLE_MS);
    snprintf(count, sizeof count, "%u", s->p->opts->batch);
    const char *argv[] = {"XAUTOCLAIM",
                          s->p->stream,
                          s->p->opts->region,
                          s->p->opts->consumer,
                          idle,
                          s->claim_cursor,
                          "COUNT",
                          count,
                          "JUSTID"};
    redisReply *r = command(s, true, 9, argv, NULL);
    if (!r)
        return STEP_PEER_DOWN;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < sizeof s->claim_cursor) {
        memcpy(s->claim_cursor, r->element[0]->str, r->element[0]->len + 1);
        if (r->element[1]->type == REDIS_REPLY_ARRAY && r->element[1]->elements) {
            lv_log_info(COMP, "msg=\"claimed pending entries\" peer=%s entries=%zu", peer_name(s),
                        r->element[1]->elements);
            s->pending_mode = true;
            strcpy(s->pending_from, "0");
        }
    }
    freeReplyObject(r);
    return STEP_OK;
}

static bool grow(state_t *s, size_t need)
{
    if (need <= s->buf_cap)
        return true;
    char *nb = realloc(s->buf, need);
    if (!nb)
        return false;
    s->buf = nb;
    s->buf_cap = need;
    return true;
}

static bool grow_fields(state_t *s, size_t n)
{
    if (n <= s->fields_cap)
        return true;
    const char **ns = realloc(s->strs, n * sizeof *ns);
    if (ns)
        s->strs = ns;
    size_t *nl = realloc(s->lens, n * sizeof *nl);
    if (nl)
        s->lens = nl;
    if (!ns || !nl)
        return false;
    s->fields_cap = n;
    return true;
}

static void fail_log(state_t *s, const char *what, const char *id, const char *detail)
{
    if (!lv_log_limit_allow(&s->lim, mono_ms(), 5))
        return;
    char q[256], qi[80];
    lv_log_warn(COMP, "msg=\"%s\" peer=%s id=%s error=%s", what, peer_name(s),
                lv_log_quote_str(qi, sizeof qi, id), lv_log_quote_str(q, sizeof q, detail));
}

/* Reads one entry into it (counts bytes) and, when it is to be applied, appends its FCALL to
 * the local connection. Returns whether a command was appended; -1 when out of memory. */
static int plan_entry(state_t *s, const redisReply *e, item_t *it, uint64_t now_us)
{
    lv_repl_stats_t *st = &s->p->stats;
    memset(it, 0, sizeof *it);
    it->decision = LV_REPL_DO_BAD;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0; /* not an entry: counted by the caller, nothing to acknowledge */
    it->id = e->element[0]->str;
    it->id_len = e->element[0]->len;
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY) {
        /* Our pending list names an entry the stream no longer has (trimmed): acknowledge. */
        fail_log(s, "pending entry no longer in the stream", it->id, "deleted");
        return 0;
    }
    if (!grow_fields(s, f->elements ? f->elements : 1))
        return -1;
    uint64_t bytes = 0;
    for (size_t i = 0; i < f->elements; i++) {
        const redisReply *x = f->element[i];
        bool str = x->type == REDIS_REPLY_STRING;
        s->strs[i] = str ? x->str : "";
        s->lens[i] = str ? x->len : 0;
        bytes += s->lens[i];
    }
    lv_repl_count(st, LV_REPL_C_BYTES, bytes);
    if (lv_l2_event_parse(s->strs, s->lens, f->elements, &it->ev) != 0) {
        fail_log(s, "malformed event", it->id, "lv_l2_event_parse refused it");
        return 0;
    }
    lv_repl_count(st, LV_REPL_C_VALUE_BYTES, it->ev.value.len);
    lv_repl_cmd_t cmd;
    int d = lv_repl_plan(&it->ev, s->p->opts->region, s->p->opts->tombstone_ttl_ms, now_us, &cmd,
                         &s->buf, &s->buf_cap);
    if (d < 0)
        return -1;
    it->decision = d;
    if (d == LV_REPL_DO_BAD)
        fail_log(s, "malformed event", it->id, "its value's header does not match v");
    if (d != LV_REPL_DO_APPLY)
        return 0;
    it->drop_type = cmd.drop_type;
    it->only_if_changed = cmd.only_if_changed;
    it->counts_stale = cmd.counts_stale;
    if (redisAppendCommandArgv(s->local, cmd.argc, cmd.argv, cmd.lens) != REDIS_OK)
        return -1;
    return 1;
}

static int apply_batch(state_t *s, const redisReply *entries, bool from_pending)
{
    lv_repl_stats_t *st = &s->p->stats;
    size_t n = LV_MIN(entries->elements, (size_t)s->p->opts->batch);
    size_t sent = 0;
    uint64_t now_us = lv_repl_now_us();
    lv_repl_count(st, LV_REPL_C_READ, n);
    for (size_t i = 0; i < n; i++) {
        int rc = plan_entry(s, entries->element[i], &s->items[i], now_us);
        if (rc < 0) {
            /* Nothing is acknowledged: the batch comes back from our pending list. */
            drop_conn(s, false, "out of memory building a batch");
            return STEP_LOCAL_DOWN;
        }
        sent += (size_t)rc;
        int d = s->items[i].decision;
        if (d == LV_REPL_DO_OWN)
            lv_repl_count(st, LV_REPL_C_OWN_REGION, 1);
        else if (d == LV_REPL_DO_EXPIRED)
            lv_repl_count(st, LV_REPL_C_EXPIRED, 1);
        else if (d == LV_REPL_DO_BAD)
            lv_repl_count(st, LV_REPL_C_FAILED, 1);
    }
    /* The replies, in order; then the L1 drops for what changed. */
    size_t published = 0;
    now_us = lv_repl_now_us();
    for (size_t i = 0; i < n && sent; i++) {
        item_t *it = &s->items[i];
        if (it->decision != LV_REPL_DO_APPLY)
            continue;
        redisReply *r = NULL;
        if (redisGetReply(s->local, (void **)&r) != REDIS_OK) {
            drop_conn(s, false, s->local->errstr[0] ? s->local->errstr : "no reply");
            return STEP_LOCAL_DOWN;
        }
        if (r->type == REDIS_REPLY_INTEGER) {
            long long changed = r->integer;
            if (it->counts_stale && changed == 0)
                lv_repl_count(st, LV_REPL_C_STALE, 1);
            else
                lv_repl_count(st, LV_REPL_C_APPLIED, 1);
            if (!it->counts_stale && changed > 0)
                lv_repl_count(st, LV_REPL_C_PURGED_KEYS, (uint64_t)changed);
            lv_repl_lag_add(st, (int64_t)(now_us - it->ev.version));
            it->publish = !it->only_if_changed || changed > 0;
        } else {
            lv_repl_count(st, LV_REPL_C_FAILED, 1);
            fail_log(s, "the local redis refused an event", it->id,
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        }
        freeReplyObject(r);
        if (!it->publish)
            continue;
        size_t need = sizeof LV_REPL_SENDER + strlen(it->drop_type) + 2 + it->ev.key.len;
        if (!grow(s, need)) {
            drop_conn(s, false, "out of memory building a drop message");
            return STEP_LOCAL_DOWN;
        }
        int len = lv_l2_drop_format(s->buf, s->buf_cap, LV_REPL_SENDER, it->drop_type, it->ev.key);
        LV_ASSERT(len > 0);
        const char *argv[] = {"PUBLISH", s->channel, s->buf};
        size_t lens[] = {7, strlen(s->channel), (size_t)len};
        if (redisAppendCommandArgv(s->local, 3, argv, lens) != REDIS_OK) {
            drop_conn(s, false, "out of memory");
            return STEP_LOCAL_DOWN;
        }
        published++;
    }
    for (size_t i = 0; i < published; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->local, (void **)&r) != REDIS_OK) {
            drop_conn(s, false, s->local->errstr[0] ? s->local->errstr : "no reply");
            return STEP_LOCAL_DOWN;
        }
        freeReplyObject(r);
    }
    /* Acknowledge the whole batch at once, malformed and skipped entries included. */
    size_t nids = 0;
    const char **argv = (const char **)s->strs;
    if (!grow_fields(s, n + 3)) {
        drop_conn(s, false, "out of memory");
        return STEP_LOCAL_DOWN;
    }
    argv = (const char **)s->strs;
    argv[0] = "XACK";
    argv[1] = s->p->stream;
    argv[2] = s->p->opts->region;
    for (size_t i = 0; i < n; i++)
        if (s->items[i].id)
            argv[3 + nids++] = s->items[i].id;
    if (nids) {
        if (redisAppendCommandArgv(s->peer, (int)(3 + nids), argv, NULL) != REDIS_OK) {
            drop_conn(s, true, "out of memory");
            return STEP_PEER_DOWN;
        }
        if (!send_queued(s, Q_ACK, false))
            return STEP_PEER_DOWN;
    }
    lv_repl_count(st, LV_REPL_C_BATCHES, 1);
    /* Reading our pending list: go on after the last entry. */
    if (from_pending && n) {
        const redisReply *last = entries->element[n - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING &&
            last->element[0]->len < sizeof s->pending_from)
            memcpy(s->pending_from, last->element[0]->str, last->element[0]->len + 1);
    }
    return STEP_OK;
}

/* Appends and sends the next read: our pending list (no BLOCK: it answers at once, empty when
 * done), or new entries (BLOCK 100, so that a stop is seen within 100 ms). */
static bool send_read(state_t *s)
{
    char count[16];
    snprintf(count, sizeof count, "%u", s->p->opts->batch);
    const char *argv[] = {"XREADGROUP",
                          "GROUP",
                          s->p->opts->region,
                          s->p->opts->consumer,
                          "COUNT",
                          count,
                          "BLOCK",
                          "100",
                          "STREAMS",
                          s->p->stream,
                          s->pending_mode ? s->pending_from : ">"};
    /* without BLOCK 100 for the pending list */
    const char *pargv[] = {argv[0], argv[1], argv[2], argv[3], argv[4],
                           argv[5], argv[8], argv[9], argv[10]};
    int rc = s->pending_mode ? redisAppendCommandArgv(s->peer, 9, pargv, NULL)
                             : redisAppendCommandArgv(s->peer, 11, argv, NULL);
    if (rc != REDIS_OK) {
        drop_conn(s, true, "out of memory");
        return false;
    }
    return send_queued(s, Q_READ, s->pending_mode);
}

static bool has_read_queued(const state_t *s)
{
    for (size_t i = 0; i < s->nqueued; i++)
        if (s->queue[i].kind == Q_READ && !s->queue[i].discard)
            return true;
    return false;
}

static int step(state_t *s)
{
    uint64_t now = mono_ms();
    bool gauges_due = now >= s->next_gauges_ms;
    bool claim_due = !s->pending_mode && now >= s->next_claim_ms;
    if (!has_read_queued(s)) {
        if (gauges_due || claim_due) {
            /* One command at a time on the connection for these. */
            if (drain_queue(s) != STEP_OK)
                return STEP_PEER_DOWN;
            if (gauges_due) {
                s->next_gauges_ms = now + 1000;
                if (read_gauges(s) != STEP_OK)
                    return STEP_PEER_DOWN;
            }
            if (claim_due && !s->pending_mode) {
                s->next_claim_ms = now + CLAIM_EVERY_MS;
                if (claim(s) != STEP_OK)
                    return STEP_PEER_DOWN;
            }
        }
        if (!send_read(s))
            return STEP_PEER_DOWN;
    }
    /* The replies in order, up to the read's. */
    queued_t q;
    redisReply *r;
    for (;;) {
        if (!(r = next_queued(s, &q)))
            return STEP_PEER_DOWN;
        if (q.kind == Q_READ && !q.discard)
            break;
        if (q.kind == Q_ACK && r->type == REDIS_REPLY_ERROR)
            fail_log(s, "XACK refused", "-", r->str);
        if (q.kind == Q_READ && r->type == REDIS_REPLY_ARRAY && r->elements) {
            s->pending_mode = true; /* let go: its entries come back from the pending list */
            strcpy(s->pending_from, "0");
        }
        freeReplyObject(r);
        if (!has_read_queued(s) && !send_read(s))
            return STEP_PEER_DOWN;
    }
    int rc = STEP_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        if (is_error(r, "NOGROUP")) {
            /* The peer's Redis lost the stream (restarted without persistence): start over. */
            lv_log_warn(COMP, "msg=\"group gone, creating it again\" peer=%s", peer_name(s));
            freeReplyObject(r);
            if (drain_queue(s) != STEP_OK || !create_group(s))
                return STEP_PEER_DOWN;
            s->pending_mode = true;
            strcpy(s->pending_from, "0");
            strcpy(s->claim_cursor, "0-0");
            return STEP_OK;
        }
        char err[256];
        snprintf(err, sizeof err, "XREADGROUP: %s", r->str);
        freeReplyObject(r);
        drop_conn(s, true, err); /* e.g. LOADING: try again after a pause */
        return STEP_PEER_DOWN;
    }
    const redisReply *entries = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
        r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        entries = r->element[0]->element[1];
    if (!entries || !entries->elements) {
        if (q.from_pending && s->pending_mode) {
            s->pending_mode = false; /* our pending list is done: new entries now */
            lv_log_debug(COMP, "msg=\"pending entries done\" peer=%s", peer_name(s));
        }
    } else {
        /* The next read goes out now and travels (or waits for entries) while this batch is
         * applied. Not for the pending list (the next read starts after this batch's last id), nor
         * when the gauges or a claim are due (they need the connection to themselves). */
        now = mono_ms();
        if (!s->pending_mode && !q.from_pending && now < s->next_gauges_ms &&
            now < s->next_claim_ms && !send_read(s))
            rc = STEP_PEER_DOWN;
        if (rc == STEP_OK)
            rc = apply_batch(s, entries, q.from_pending);
    }
    freeReplyObject(r);
    return rc;
}

void *lv_repl_peer_run(void *arg)
{
    lv_repl_peer_t *p = arg;
    state_t s = {.p = p};
    strcpy(s.claim_cursor, "0-0");
    snprintf(s.channel, sizeof s.channel, LV_L2_CHANNEL_PREFIX "%s", p->opts->region);
    s.items = lv_xcalloc(p->opts->batch, sizeof *s.items);
    uint32_t backoff = BACKOFF_MIN_MS;
    lv_repl_gauge(&p->stats, LV_REPL_G_PEER_UP, 0);
    lv_repl_gauge(&p->stats, LV_REPL_G_LOCAL_UP, 0);
    while (!atomic_load(p->stop)) {
        if ((!s.local && !connect_local(&s)) || (!s.peer && !connect_peer(&s))) {
            /* Jitter: up to a quarter of the pause, so that peers do not retry in step. */
            uint32_t j = (uint32_t)(lv_repl_now_us() % (backoff / 4 + 1));
            lv_repl_sleep(p->stop, backoff + j);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (step(&s) == STEP_OK)
            backoff = BACKOFF_MIN_MS;
    }
    if (s.peer) {
        drain_queue(&s); /* the last acknowledgements */
        if (s.peer)
            redisFree(s.peer);
    }
    if (s.local)
        redisFree(s.local);
    free(s.items);
    free(s.strs);
    free(s.lens);
    free(s.buf);
    return NULL;
}
