/* proxy/cache_store.c: the cache's store side on a worker: keys and lookups, fills teed from
 * upstream responses, revalidation with 304, background refresh, invalidation, and the
 * requests that wait on the store. The cache stage (stage_cache.c) decides per request; the
 * answers from stored responses are cache_serve.c's.
 *
 * Runs on its worker's loop. Shared with other workers: the store and the flight table (both
 * made for it) and each worker's cache_wake / cache_sleepers, which tell a worker that a flight
 * it waits for was resolved or that a body it streams grew. The 100 ms tick re-checks waiters,
 * so a wake-up lost to a race costs at most one tick. */
#include "proxy/proxy.h"

#include <string.h>

#include "cache/key.h"
#include "cache/l2_value.h"
#include "cache/rules.h"
#include "cache/stored.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/out.h"
#include "proxy/l2_client.h"

#define LV_CACHE_META_MAX 4096
#define LV_CACHE_HEAD_MAX 65536 /* the upstream head limit */

struct lv_cache_fill {
    lv_server_t *server;
    lv_flight_t *flight;            /* led; resolved at the response head or on failure */
    lv_cache_entry_t *revalidating; /* the stale copy whose validators were sent, or NULL */
    lv_cache_entry_t *entry;        /* being written, or NULL */
    lv_http_head_t *req;            /* a copy of the request head (storability, Vary) */
    uint64_t request_time_s;
    uint32_t pass_ttl_ms;
    bool keep_alive; /* the upstream response allows reusing its connection */
    bool head_seen;  /* the final response head arrived (1xx heads do not count) */
    size_t key_len;
    char key[]; /* primary key + the route's extra parts */
};

static uint64_t wall_s(void)
{
    return lv_clock_wall_ms() / 1000;
}

/* ---- setup ---- */

int lv__cache_server_init(lv_server_t *s)
{
    const lv_config_t *cfg = s->cfg;
    if (!cfg->cache_size)
        return 0;
    lv_cache_store_conf_t sc = {
        .max_bytes = cfg->cache_size,
        .shards = cfg->cache_shards,
        .policy = cfg->cache_policy == 1 ? LV_CACHE_POLICY_LRU : LV_CACHE_POLICY_SIEVE,
    };
    s->cache = lv_cache_store_new(&sc);
    s->flights = lv_flights_new(cfg->cache_shards);
    if (!s->cache || !s->flights) {
        lv_log_error("cache", "msg=\"cannot create the cache\" size=%llu",
                     (unsigned long long)cfg->cache_size);
        return LV_ENOMEM;
    }
    lv_log_info("cache", "msg=\"cache on\" size=%llu shards=%u policy=%s",
                (unsigned long long)cfg->cache_size, cfg->cache_shards,
                cfg->cache_policy == 1 ? "lru" : "sieve");
    return 0;
}

void lv__cache_server_fini(lv_server_t *s)
{
    if (s->cache)
        lv_cache_store_free(s->cache);
    if (s->flights)
        lv_flights_free(s->flights);
    s->cache = NULL;
    s->flights = NULL;
}

static void cache_wake_cb(uv_async_t *a);

void lv__cache_worker_init(lv_worker_t *w)
{
    lv_list_init(&w->cache_waiting);
    atomic_init(&w->cache_sleepers, 0);
    uv_async_init(&w->loop, &w->cache_wake, cache_wake_cb);
    w->cache_wake.data = w;
    const lv_config_t *cfg = w->server->cfg;
    if (w->server->cache && cfg->cache_l2_url)
        w->l2 = lv_l2_client_new(&w->loop, cfg, &w->metrics->l2, w->id);
}

void lv__cache_worker_close(lv_worker_t *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->cache_wake))
        uv_close((uv_handle_t *)&w->cache_wake, NULL);
    lv_l2_client_close(w->l2);
    w->l2 = NULL;
}

/* ---- waiting ---- */

void lv__cache_sleep_on(lv_req_t *r, lv_cache_mode_t mode)
{
    lv_worker_t *w = r->conn->worker;
    r->cache_mode = (uint8_t)mode;
    lv_list_push(&w->cache_waiting, &r->cache_link);
    atomic_fetch_add(&w->cache_sleepers, 1); /* seq_cst: pairs with the fence in notify */
}

void lv__cache_stop_waiting(lv_req_t *r)
{
    if (r->cache_mode != LV_CACHE_FOLLOWING && r->cache_mode != LV_CACHE_STARVED)
        return;
    lv_list_remove(&r->cache_link);
    atomic_fetch_sub(&r->conn->worker->cache_sleepers, 1);
    r->cache_mode = r->cache_mode == LV_CACHE_STARVED ? LV_CACHE_SERVING : LV_CACHE_NONE;
}

/* Something changed for waiters: a flight resolved, a body grew or ended. Any thread. */
static void notify(lv_server_t *s)
{
    atomic_thread_fence(memory_order_seq_cst); /* the change before the sleeper counts */
    for (uint32_t i = 0; i < s->n_workers; i++)
        if (atomic_load(&s->workers[i].cache_sleepers))
            uv_async_send(&s->workers[i].cache_wake);
}

/* ---- the request head copy ---- */

static lv_str_t copy_span(char **dst, lv_str_t s)
{
    lv_str_t out = {*dst, s.len};
    if (s.len)
        memcpy(*dst, s.p, s.len);
    *dst += s.len;
    return out;
}

/* One allocation holding the head and every byte it points to. */
static lv_http_head_t *head_clone(const lv_http_head_t *h)
{
    size_t bytes = sizeof *h + h->n_headers * sizeof(lv_http_header_t) + h->target.len +
                   h->host.len + h->connection.len;
    for (uint32_t i = 0; i < h->n_headers; i++)
        bytes += h->headers[i].name.len + h->headers[i].value.len;
    lv_http_head_t *c = malloc(bytes);
    if (!c)
        return NULL;
    *c = *h;
    c->headers = (lv_http_header_t *)(c + 1);
    char *p = (char *)(c->headers + h->n_headers);
    c->target = copy_span(&p, h->target);
    c->path = h->path.p >= h->target.p && h->path.p + h->path.len <= h->target.p + h->target.len
                  ? (lv_str_t){c->target.p + (h->path.p - h->target.p), h->path.len}
                  : c->target;
    c->host = copy_span(&p, h->host);
    c->connection = copy_span(&p, h->connection);
    c->request_id = (lv_str_t){NULL, 0};
    c->reason = (lv_str_t){NULL, 0};
    for (uint32_t i = 0; i < h->n_headers; i++) {
        c->headers[i].name = copy_span(&p, h->headers[i].name);
        c->headers[i].value = copy_span(&p, h->headers[i].value);
    }
    return c;
}

/* ---- lookup ---- */

/* The request's key (host + target + the route's parts) into key; -1 when it has none. */
int lv__cache_key(const lv_req_t *r, const lv_http_head_t *h, char *key)
{
    const lv_route_conf_t *route = &r->gen->cfg->routes[r->route];
    int n = lv_cache_key_primary(key, LV_CACHE_KEY_MAX, h->host, h->target);
    if (n >= 0)
        n = lv_cache_key_extra(key, (size_t)n, LV_CACHE_KEY_MAX, route->cache_key,
                               route->n_cache_key, h);
    return n;
}

/* Finds the stored response for key (following a Vary marker to the request's variant) and
 * decodes its meta. key must have room for LV_CACHE_KEY_MAX more bytes (the variant's). */
lv_cache_entry_t *lv__cache_find(lv_cache_store_t *s, char *key, size_t len, size_t cap,
                                 const lv_http_head_t *h, lv_cache_stored_t *st)
{
    lv_cache_entry_t *e = lv_cache_store_lookup(s, key, len);
    if (!e)
        return NULL;
    if (lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), st) < 0) {
        lv_cache_entry_unref(e);
        return NULL;
    }
    if (!st->marker)
        return e;
    key[len] = LV_CACHE_KEY_VARY;
    int n = lv_cache_vary_key(st->m.vary, st->m.n_vary, h, key + len + 1, cap - len - 1);
    lv_cache_entry_unref(e);
    if (n < 0)
        return NULL;
    e = lv_cache_store_lookup(s, key, len + 1 + (size_t)n);
    if (e && (lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), st) < 0 ||
              st->marker)) {
        lv_cache_entry_unref(e);
        e = NULL;
    }
    return e;
}

/* How long past its freshness a stored response may still answer when the origin or the guard
 * fails: its own stale-if-error window, or the service's incident setting. */
bool lv__cache_stale_usable(const lv_req_t *r, const lv_cache_stored_t *st, uint64_t now)
{
    lv_cache_fresh_t f = lv_cache_freshness(&st->m, now, NULL);
    if (f == LV_CACHE_FRESH || f == LV_CACHE_STALE_WHILE_REVALIDATE ||
        f == LV_CACHE_STALE_ALLOWED || f == LV_CACHE_STALE_IF_ERROR_ONLY)
        return true;
    if (f == LV_CACHE_MUST_REVALIDATE)
        return false;
    uint64_t age = lv_cache_current_age(&st->m, now);
    uint64_t staleness = age > st->m.freshness_lifetime_s ? age - st->m.freshness_lifetime_s : 0;
    uint32_t extra_ms = r->pool->svc->cache_serve_stale_ms;
    return extra_ms && staleness * 1000 <= extra_ms;
}

/* ---- fills ---- */

lv_cache_fill_t *lv__cache_fill_new(lv_req_t *r, const lv_http_head_t *h, const char *key,
                                    size_t key_len, lv_flight_t *flight)
{
    lv_cache_fill_t *f = calloc(1, sizeof *f + key_len);
    lv_http_head_t *copy = f ? head_clone(h) : NULL;
    if (!copy) {
        free(f);
        return NULL;
    }
    f->server = r->conn->worker->server;
    f->flight = flight;
    f->req = copy;
    f->pass_ttl_ms = r->gen->cfg->cache_pass_ttl_ms;
    f->key_len = key_len;
    memcpy(f->key, key, key_len);
    return f;
}

/* Resolves the flight (once) and wakes whoever waits for it. */
static void fill_resolve(lv_cache_fill_t *f, lv_flight_state_t st, uint64_t pass_until_us)
{
    if (!f->flight)
        return;
    lv_flight_resolve(f->server->flights, f->flight, st, pass_until_us);
    lv_flight_unref(f->flight);
    f->flight = NULL;
    notify(f->server);
}

static void fill_free(lv_cache_fill_t *f)
{
    if (!f)
        return;
    fill_resolve(f, LV_FLIGHT_FAILED, 0);
    if (f->entry) {
        lv_cache_entry_abort(f->entry);
        lv_cache_entry_unref(f->entry);
        notify(f->server);
    }
    lv_cache_entry_unref(f->revalidating);
    free(f->req);
    free(f);
}

void lv__cache_fill_release(lv_req_t *r)
{
    if (!r->fill)
        return;
    fill_resolve(r->fill, LV_FLIGHT_READY, 0);
    fill_free(r->fill);
    r->fill = NULL;
}

void lv__cache_fill_revalidates(lv_cache_fill_t *f, lv_cache_entry_t *stale)
{
    f->revalidating = lv_cache_entry_ref(stale);
}

bool lv__cache_validators(const lv_req_t *r, lv_str_t *etag, lv_str_t *last_modified)
{
    *etag = *last_modified = (lv_str_t){NULL, 0};
    if (!r->fill)
        return false;
    if (!r->fill->revalidating)
        return true; /* a fill wants the whole response, whatever the client already has */
    lv_cache_entry_t *e = r->fill->revalidating;
    lv_cache_stored_t st;
    if (lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), &st) < 0)
        return false;
    *etag = st.m.etag;
    *last_modified = st.m.last_modified;
    return true;
}

void lv__cache_attach(lv_req_t *r, lv_uconn_t *u)
{
    if (!r->fill)
        return;
    if (u->fill) /* a retry on another connection: the first one's fill is over */
        fill_free(u->fill);
    u->fill = r->fill;
    r->fill = NULL;
    u->fill->request_time_s = wall_s();
}

void lv__cache_reclaim(lv_req_t *r, lv_uconn_t *u)
{
    if (u && u->fill && !u->fill->head_seen && !r->fill) {
        r->fill = u->fill;
        u->fill = NULL;
    }
}

/* Makes and indexes the entry for a storable response; NULL when it cannot be kept. */
static lv_cache_entry_t *store_response(lv_cache_fill_t *f, const lv_http_head_t *resp,
                                        const lv_cache_meta_t *m)
{
    lv_cache_store_t *s = f->server->cache;
    static _Thread_local char head_buf[LV_CACHE_HEAD_MAX];
    char meta_buf[LV_CACHE_META_MAX];
    char key[2 * LV_CACHE_KEY_MAX + 2];
    lv_cache_stored_t st = {.m = *m, .content_length = resp->content_length};
    int hl = lv_cache_stored_head(resp, m->response_time_s, true, head_buf, sizeof head_buf, &st);
    if (hl < 0)
        return NULL;
    size_t key_len = f->key_len;
    memcpy(key, f->key, key_len);
    if (m->n_vary) {
        /* The marker under the primary key names the fields; the variant has its own key. */
        lv_cache_stored_t mk = {.m = *m, .content_length = -1, .marker = true};
        int ml = lv_cache_stored_encode(&mk, meta_buf, sizeof meta_buf);
        lv_cache_entry_spec_t ms = {.key = {key, key_len},
                                    .meta = {meta_buf, (size_t)(ml > 0 ? ml : 0)}};
        lv_cache_entry_t *marker = ml > 0 ? lv_cache_entry_new(s, &ms) : NULL;
        if (!marker)
            return NULL;
        lv_cache_entry_finish(marker);
        int rc = lv_cache_store_insert(s, marker);
        lv_cache_entry_unref(marker);
        if (rc < 0)
            return NULL;
        key[key_len] = LV_CACHE_KEY_VARY;
        int n = lv_cache_vary_key(m->vary, m->n_vary, f->req, key + key_len + 1,
                                  sizeof key - key_len - 1);
        if (n < 0)
            return NULL;
        key_len += 1 + (size_t)n;
    }
    int ml = lv_cache_stored_encode(&st, meta_buf, sizeof meta_buf);
    if (ml < 0)
        return NULL;
    lv_str_t tags[LV_CACHE_TAGS_MAX];
    size_t ntags = lv_cache_stored_tags(resp, tags, LV_CACHE_TAGS_MAX);
    lv_cache_entry_spec_t spec = {
        .key = {key, key_len},
        .head = {head_buf, (size_t)hl},
        .meta = {meta_buf, (size_t)ml},
        .tags = tags,
        .ntags = ntags,
        .body_hint_bytes = resp->content_length > 0 ? (size_t)resp->content_length : 0,
    };
    lv_cache_entry_t *e = lv_cache_entry_new(s, &spec);
    if (!e)
        return NULL;
    if (lv_cache_store_insert(s, e) < 0) {
        lv_cache_entry_unref(e);
        return NULL;
    }
    return e;
}

/* A 304 answered our conditional request: the stored copy, its fields updated, is fresh again.
 * Returns the new entry (a reference), or NULL when the old one must do. */
static lv_cache_entry_t *refresh(lv_cache_fill_t *f, const lv_http_head_t *nm, uint64_t now)
{
    lv_cache_entry_t *old = f->revalidating;
    bool complete = false;
    size_t body = lv_cache_entry_body_len(old, &complete, NULL);
    if (!complete)
        return NULL;
    static _Thread_local lv_http_header_t stored_fields[LV_CACHE_STORED_HEADERS_MAX];
    static _Thread_local lv_http_header_t merged_fields[LV_CACHE_STORED_HEADERS_MAX * 2];
    lv_http_head_t stored, merged;
    if (lv_cache_stored_parse(lv_cache_entry_head(old), &stored, stored_fields,
                              LV_CACHE_STORED_HEADERS_MAX) < 0 ||
        lv_cache_stored_merge(&stored, nm, &merged, merged_fields,
                              LV_CACHE_STORED_HEADERS_MAX * 2) < 0)
        return NULL;
    lv_cache_stored_t old_st;
    if (lv_cache_stored_decode(lv_cache_entry_head(old), lv_cache_entry_meta(old), &old_st) < 0)
        return NULL;
    merged.content_length = old_st.content_length;
    lv_cache_meta_t m;
    if (lv_cache_storable(f->req, &merged, f->request_time_s, now, &m) != LV_CACHE_STORE)
        return NULL;
    /* The stored head already carries our Via. */
    static _Thread_local char head_buf[LV_CACHE_HEAD_MAX];
    char meta_buf[LV_CACHE_META_MAX];
    lv_cache_stored_t st = {.m = m, .content_length = old_st.content_length};
    int hl = lv_cache_stored_head(&merged, now, false, head_buf, sizeof head_buf, &st);
    int ml = hl < 0 ? -1 : lv_cache_stored_encode(&st, meta_buf, sizeof meta_buf);
    if (ml < 0)
        return NULL;
    lv_cache_entry_spec_t spec = {
        .key = lv_cache_entry_key(old),
        .head = {head_buf, (size_t)hl},
        .meta = {meta_buf, (size_t)ml},
        .body_hint_bytes = body,
    };
    lv_str_t tags[LV_CACHE_TAGS_MAX];
    spec.ntags = LV_MIN(lv_cache_entry_ntags(old), LV_CACHE_TAGS_MAX);
    for (size_t i = 0; i < spec.ntags; i++)
        tags[i] = lv_cache_entry_tag(old, i);
    spec.tags = tags;
    lv_cache_entry_t *e = lv_cache_entry_new(f->server->cache, &spec);
    if (!e)
        return NULL;
    lv_cache_reader_t rd;
    lv_cache_reader_init(&rd, old);
    const void *p;
    for (size_t n; (n = lv_cache_reader_next(&rd, &p));)
        if (lv_cache_entry_append(e, p, n) == LV_ENOMEM) {
            lv_cache_entry_unref(e);
            return NULL;
        }
    lv_cache_entry_finish(e);
    if (lv_cache_store_insert(f->server->cache, e) < 0) {
        lv_cache_entry_unref(e);
        return NULL;
    }
    return e;
}

/* Takes r off its upstream connection and answers it from e instead. */
static void switch_to_entry(lv_req_t *r, lv_cache_entry_t *e, bool upstream_failed)
{
    lv_cache_stored_t st;
    if (lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), &st) < 0) {
        lv_cache_entry_unref(e);
        lv__answer_fail(r, 502);
        return;
    }
    r->upstream_end_ns = lv_clock_now_ns();
    r->up_failed = upstream_failed;
    lv__request_detach_upstream(r);
    lv__cache_serve(r, e, &st, lv__req_head(r), wall_s());
}

int lv__cache_fill_head(lv_uconn_t *u, const lv_http_head_t *h)
{
    lv_cache_fill_t *f = u->fill;
    lv_req_t *r = u->req;
    lv_worker_t *w = u->pool->gen->worker;
    lv_cache_metrics_t *cm = &w->metrics->cache;
    uint64_t now = wall_s();
    f->keep_alive = h->keep_alive;
    f->head_seen = true;
    if (f->revalidating && h->status == 304) {
        lv_counter_add(&cm->revalidated, 1);
        lv_cache_entry_t *e = refresh(f, h, now);
        if (e)
            lv__cache_l2_write(w, e);
        else
            e = lv_cache_entry_ref(f->revalidating);
        fill_resolve(f, LV_FLIGHT_READY, 0);
        if (r) {
            r->cache_outcome = LV_CACHE_OUT_REVALIDATED;
            switch_to_entry(r, e, false);
        } else
            lv_cache_entry_unref(e);
        return 0; /* a 304 has no body: fill_done releases the connection */
    }
    if (h->status >= 500 && r && r->stale) {
        fill_resolve(f, LV_FLIGHT_FAILED, 0);
        lv_cache_entry_t *stale = r->stale;
        lv_cache_stored_t st;
        if (lv_cache_stored_decode(lv_cache_entry_head(stale), lv_cache_entry_meta(stale), &st) ==
                0 &&
            lv__cache_stale_usable(r, &st, now)) {
            lv_counter_add(&cm->stale_error, 1);
            r->cache_outcome = LV_CACHE_OUT_STALE;
            r->stale = NULL;
            u->broken = true; /* the error's body is not read */
            switch_to_entry(r, stale, true);
            return 0;
        }
    }
    lv_cache_meta_t m;
    lv_cache_verdict_t verdict = lv_cache_storable(f->req, h, f->request_time_s, now, &m);
    if (verdict == LV_CACHE_STORE && h->content_length > 0 &&
        (uint64_t)h->content_length > lv_cache_store_max_entry_bytes(f->server->cache))
        verdict = LV_CACHE_NS_USELESS; /* too large to keep: pass, not a fill that fails */
    if (verdict == LV_CACHE_STORE && (f->entry = store_response(f, h, &m))) {
        lv_counter_add(&cm->stored, 1);
        fill_resolve(f, LV_FLIGHT_READY, 0);
        /* The leader's own conditional was not sent (the fill needs the whole response):
         * answer it from the entry, which gives the 304 it may be waiting for. */
        if (r && (lv_http_header_value(f->req, "if-none-match", 13).len ||
                  lv_http_header_value(f->req, "if-modified-since", 17).len))
            switch_to_entry(r, lv_cache_entry_ref(f->entry), false);
        return 0;
    }
    lv_counter_add(&cm->not_stored, 1);
    /* Only what the response says about the resource is remembered as pass: not an error, not
     * a 304 (it answers a client's own condition), not a refusal that came from the request. */
    bool remember = verdict != LV_CACHE_STORE && h->status < 500 && h->status != 304 &&
                    verdict != LV_CACHE_NS_METHOD && verdict != LV_CACHE_NS_AUTHORIZATION;
    if (verdict == LV_CACHE_NS_NO_STORE) {
        lv_cache_req_t rq;
        lv_cache_request_policy(f->req, &rq);
        remember = remember && !rq.no_store;
    }
    fill_resolve(f, remember ? LV_FLIGHT_PASS : LV_FLIGHT_FAILED,
                 remember && f->pass_ttl_ms ? lv_clock_now_us() + f->pass_ttl_ms * 1000ull : 0);
    return 0;
}

void lv__cache_fill_body(lv_uconn_t *u, const char *p, size_t len)
{
    lv_cache_fill_t *f = u->fill;
    if (!f->entry)
        return;
    int rc = lv_cache_entry_append(f->entry, p, len);
    if (rc < 0) { /* outgrew its shard's share (or no memory): never hold it all in memory */
        lv_cache_entry_abort(f->entry);
        lv_cache_entry_unref(f->entry);
        f->entry = NULL;
    }
    notify(f->server);
}

void lv__cache_fill_done(lv_uconn_t *u)
{
    lv_cache_fill_t *f = u->fill;
    if (!f->head_seen)
        return; /* the end of an interim (1xx) response */
    u->fill = NULL;
    if (f->entry) {
        lv_cache_entry_finish(f->entry);
        lv__cache_l2_write(u->pool->gen->worker, f->entry);
        lv_cache_entry_unref(f->entry);
        f->entry = NULL;
        notify(f->server);
    }
    bool keep_alive = f->keep_alive;
    fill_free(f);
    if (!u->req) { /* nobody else owns the connection: back to the pool */
        if (!keep_alive)
            u->broken = true;
        lv__uconn_release(u);
    }
}

void lv__cache_fill_abort(lv_uconn_t *u)
{
    lv_cache_fill_t *f = u->fill;
    u->fill = NULL;
    fill_free(f);
}

void lv__cache_invalidate(lv_req_t *r, const lv_http_head_t *h)
{
    lv_server_t *s = r->conn->worker->server;
    const lv_route_conf_t *route = &r->gen->cfg->routes[r->route];
    if (!s->cache || !route->cache || lv_http_method_safe(h->method))
        return;
    /* RFC 9111 4.4: an unsafe method that succeeded invalidates the target URI. The key with
     * this request's own route parts goes; a Vary marker under it takes its variants along. */
    static _Thread_local char key[LV_CACHE_KEY_MAX + 2];
    int n = lv__cache_key(r, h, key);
    if (n < 0)
        return;
    lv_cache_store_purge_key(s->cache, key, (size_t)n);
    lv_l2_purge(r->conn->worker->l2, LV_L2_EV_INVALIDATE, (lv_str_t){key, (size_t)n});
}

/* ---- the second tier ---- */

lv_cache_entry_t *lv__cache_store_l2_value(lv_server_t *s, const char *key, size_t key_len,
                                           const char *val, size_t len, lv_cache_stored_t *st)
{
    lv_l2_value_t v;
    char *scratch = NULL;
    lv_cache_entry_t *e = NULL;
    if (lv_l2_value_decode(val, len, &v, &scratch) < 0 || v.tombstone ||
        lv_cache_stored_decode(v.head, v.meta, st) < 0 ||
        v.head.len + v.meta.len + v.body.len > lv_cache_store_max_entry_bytes(s->cache))
        goto out;
    lv_cache_entry_spec_t spec = {
        .key = {key, key_len},
        .head = v.head,
        .meta = v.meta,
        .tags = v.tags,
        .ntags = v.ntags,
        .body_hint_bytes = v.body.len,
    };
    e = lv_cache_entry_new(s->cache, &spec);
    if (!e)
        goto out;
    if (v.body.len && lv_cache_entry_append(e, v.body.p, v.body.len) < 0) {
        lv_cache_entry_unref(e);
        e = NULL;
        goto out;
    }
    lv_cache_entry_finish(e);
    if (lv_cache_store_insert(s->cache, e) < 0 ||
        lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), st) < 0) {
        lv_cache_entry_unref(e);
        e = NULL;
    }
out:
    free(scratch);
    return e;
}

/* How long the second tier keeps a stored response: what is left of its freshness plus its
 * stale windows (stale-while-revalidate, stale-if-error); 0 when it is of no more use. */
static uint64_t l2_ttl_ms(const lv_cache_stored_t *st)
{
    uint64_t now = wall_s();
    uint64_t age = lv_cache_current_age(&st->m, now);
    uint64_t left = st->m.freshness_lifetime_s > age ? st->m.freshness_lifetime_s - age : 0;
    uint64_t stale = LV_MAX(st->m.swr_s, st->m.sie_s);
    return (left + stale) * 1000;
}

/* One entry to the second tier (and its event). */
static void l2_write_entry(lv_worker_t *w, lv_cache_entry_t *e)
{
    const lv_config_t *cfg = w->server->cfg;
    lv_l2_metrics_t *m = &w->metrics->l2;
    lv_cache_stored_t st;
    bool complete = false;
    size_t body_len = lv_cache_entry_body_len(e, &complete, NULL);
    if (!complete ||
        lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), &st) < 0)
        return;
    uint64_t ttl_ms = l2_ttl_ms(&st);
    if (!ttl_ms)
        return;
    lv_l2_value_t v = {
        .version = lv_l2_version_now(),
        .head = lv_cache_entry_head(e),
        .meta = lv_cache_entry_meta(e),
        .ntags = LV_MIN(lv_cache_entry_ntags(e), LV_L2_TAGS_MAX),
    };
    char tags[LV_L2_TAGS_MAX * 256];
    size_t tags_len = 0;
    for (size_t i = 0; i < v.ntags; i++) {
        v.tags[i] = lv_cache_entry_tag(e, i);
        if (tags_len + v.tags[i].len + 1 <= sizeof tags) {
            if (tags_len)
                tags[tags_len++] = '\n';
            memcpy(tags + tags_len, v.tags[i].p, v.tags[i].len);
            tags_len += v.tags[i].len;
        }
    }
    lv_l2_event_t ev = {
        .type = LV_L2_EV_META,
        .region = {cfg->region, strlen(cfg->region)},
        .key = lv_cache_entry_key(e),
        .version = v.version,
        .ttl_ms = ttl_ms,
        .tags = {tags, tags_len},
        .value_len = body_len + v.head.len + v.meta.len,
    };
    char *body = NULL, *val = NULL;
    size_t val_len = 0;
    /* Compression may bring a larger response under the bound, but not one four times over
     * it: that much zstd work on the worker's loop is not worth trying. */
    size_t raw = v.head.len + v.meta.len + body_len;
    if (raw > LV_L2_VALUE_MAX || raw / 4 > cfg->cache_l2_max_value_bytes ||
        (raw > cfg->cache_l2_max_value_bytes && !cfg->cache_l2_compress_min_bytes) ||
        !(body = malloc(body_len ? body_len : 1))) {
        lv_counter_add(&m->too_large, 1);
        lv_l2_publish(w->l2, &ev);
        return;
    }
    lv_cache_entry_read(e, 0, body, body_len);
    v.body = (lv_str_t){body, body_len};
    int rc = lv_l2_value_encode(&v, cfg->cache_l2_compress_min_bytes, &val, &val_len);
    free(body);
    if (rc < 0 || val_len > cfg->cache_l2_max_value_bytes) {
        free(val);
        lv_counter_add(&m->too_large, 1);
        lv_l2_publish(w->l2, &ev);
        return;
    }
    ev.value_len = val_len;
    if (val_len <= cfg->cache_l2_event_value_max_bytes) {
        ev.type = LV_L2_EV_SET;
        ev.value = (lv_str_t){val, val_len};
    }
    lv_str_t key = lv_cache_entry_key(e);
    lv_l2_put(w->l2, key.p, key.len, val, val_len, ttl_ms, ev.tags, &ev);
    free(val);
}

void lv__cache_l2_write(lv_worker_t *w, lv_cache_entry_t *e)
{
    if (!w->l2)
        return;
    /* A variant goes after its Vary marker, so that a reader that finds the variant can find
     * the marker too. */
    lv_str_t key = lv_cache_entry_key(e);
    const char *vary = memchr(key.p, LV_CACHE_KEY_VARY, key.len);
    if (vary) {
        lv_cache_entry_t *marker =
            lv_cache_store_lookup(w->server->cache, key.p, (size_t)(vary - key.p));
        if (marker)
            l2_write_entry(w, marker);
        lv_cache_entry_unref(marker);
    }
    l2_write_entry(w, e);
}

/* ---- background refresh (stale-while-revalidate) ---- */

/* The conditional GET a refresh sends: the request's end-to-end fields minus its own
 * conditionals, plus the stored validators. */
static lv_chunk_t *refresh_request(lv_worker_t *w, const lv_http_head_t *h,
                                   const lv_cache_stored_t *st, size_t *out_len)
{
    size_t cap = h->target.len + st->m.etag.len + st->m.last_modified.len + 256;
    for (uint32_t i = 0; i < h->n_headers; i++)
        cap += h->headers[i].name.len + h->headers[i].value.len + 4;
    lv_chunk_t *ch = lv_chunk_acquire(&w->bufs, cap);
    if (!ch)
        return NULL;
    lv_out_t o = {ch->data, 0, ch->cap};
    LV_OUT_LIT(&o, "GET ");
    lv_out_put(&o, h->target.p, h->target.len);
    LV_OUT_LIT(&o, " HTTP/1.1\r\n");
    for (uint32_t i = 0; i < h->n_headers; i++) {
        lv_str_t n = h->headers[i].name, v = h->headers[i].value;
        if (lv_http_is_hop_by_hop(n, h->connection) || LV_HTTP_IEQ(n, "if-none-match") ||
            LV_HTTP_IEQ(n, "if-modified-since") || LV_HTTP_IEQ(n, "range") ||
            LV_HTTP_IEQ(n, "if-range") || LV_HTTP_IEQ(n, "content-length"))
            continue;
        lv_out_put(&o, n.p, n.len);
        LV_OUT_LIT(&o, ": ");
        lv_out_put(&o, v.p, v.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (st->m.etag.len) {
        LV_OUT_LIT(&o, "If-None-Match: ");
        lv_out_put(&o, st->m.etag.p, st->m.etag.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    if (st->m.last_modified.len) {
        LV_OUT_LIT(&o, "If-Modified-Since: ");
        lv_out_put(&o, st->m.last_modified.p, st->m.last_modified.len);
        LV_OUT_LIT(&o, "\r\n");
    }
    LV_OUT_LIT(&o, "Via: 1.1 levee\r\n\r\n");
    if (o.len > o.cap) {
        lv_chunk_release(ch);
        return NULL;
    }
    *out_len = o.len;
    return ch;
}

static void background_write_done(uv_write_t *wr, int status)
{
    lv_wreq_t *wq = LV_CONTAINER_OF(wr, lv_wreq_t, req);
    lv_uconn_t *u = wq->owner;
    lv_wreq_release(wq);
    if (status < 0 && status != UV_ECANCELED && u->state != LV_UCONN_CLOSING)
        lv__uconn_fail(u, 502, false);
    else if (status == 0 && u->state == LV_UCONN_BUSY)
        lv__uconn_arm_read_timeout(u);
}

/* Sends the refresh of a stale entry on its own upstream connection; the answer goes into the
 * store with no client attached. Takes the flight's reference. */
void lv__cache_refresh_start(lv_req_t *r, const lv_http_head_t *h, lv_cache_entry_t *stale,
                             const lv_cache_stored_t *st, const char *key, size_t key_len,
                             lv_flight_t *flight)
{
    lv_worker_t *w = r->conn->worker;
    lv_cache_fill_t *f = lv__cache_fill_new(r, h, key, key_len, flight);
    size_t len = 0;
    lv_chunk_t *ch = f ? refresh_request(w, h, st, &len) : NULL;
    bool reused = false;
    lv_host_t *host = ch ? lv__pool_pick(r->pool, NULL) : NULL;
    lv_uconn_t *u = host ? lv__uconn_get(r->pool, host, false, &reused) : NULL;
    lv_wreq_t *wq = u ? lv_wreq_acquire(&w->bufs, u) : NULL;
    if (!wq) {
        if (ch)
            lv_chunk_release(ch);
        if (u) {
            u->broken = true;
            lv__uconn_close(u);
        }
        if (f)
            fill_free(f);
        else {
            lv_flight_resolve(w->server->flights, flight, LV_FLIGHT_FAILED, 0);
            lv_flight_unref(flight);
        }
        return;
    }
    f->revalidating = lv_cache_entry_ref(stale);
    f->request_time_s = wall_s();
    u->fill = f;
    lv_http_parser_expect_no_body(&u->parser, false);
    lv_wreq_add(wq, ch, ch->data, len);
    lv_chunk_release(ch);
    lv_counter_add(&w->metrics->cache.revalidations, 1);
    int rc = lv__uconn_send(u, wq, background_write_done);
    if (rc < 0) {
        lv__uconn_fail(u, 502, false);
        return;
    }
    if (reused)
        lv__uconn_arm_read_timeout(u);
}

/* Runs the waiters: followers whose flight was resolved or who waited long enough resume the
 * cache stage (the wake-up a waiting stage owns), starved readers copy what arrived (or sleep
 * again). */
static void run_waiters(lv_worker_t *w)
{
    lv_link_t batch;
    if (lv_list_empty(&w->cache_waiting))
        return;
    /* Take the list: waiters that go back to sleep join the worker's list, not this batch. */
    batch.next = w->cache_waiting.next;
    batch.prev = w->cache_waiting.prev;
    batch.next->prev = batch.prev->next = &batch;
    lv_list_init(&w->cache_waiting);
    uint64_t now_us = lv_clock_now_us();
    while (!lv_list_empty(&batch)) {
        lv_req_t *r = LV_CONTAINER_OF(batch.next, lv_req_t, cache_link);
        lv_cache_mode_t mode = (lv_cache_mode_t)r->cache_mode;
        if (mode == LV_CACHE_FOLLOWING) {
            bool resolved = lv_flight_state(r->flight) != LV_FLIGHT_PENDING;
            bool late = now_us >= r->cache_wait_until_us;
            lv__cache_stop_waiting(r);
            if (resolved || late)
                lv__cache_follower_resume(r, !resolved);
            else
                lv__cache_sleep_on(r, LV_CACHE_FOLLOWING);
        } else {
            lv__cache_stop_waiting(r);
            lv__cache_pump(r);
        }
    }
}

static void cache_wake_cb(uv_async_t *a)
{
    run_waiters(a->data);
}

void lv__cache_tick(lv_worker_t *w)
{
    run_waiters(w);
}

void lv__cache_request_end(lv_req_t *r)
{
    lv__cache_stop_waiting(r);
    lv_l2_get_cancel(r->l2_get);
    r->l2_get = NULL;
    r->l2_variant = false;
    r->cache_mode = LV_CACHE_NONE;
    lv_flight_unref(r->flight);
    r->flight = NULL;
    if (r->fill) { /* led, but never sent: whoever follows goes on alone */
        fill_free(r->fill);
        r->fill = NULL;
    }
    lv_cache_entry_unref(r->centry);
    r->centry = NULL;
    lv_cache_entry_unref(r->stale);
    r->stale = NULL;
}
