/* proxy/stage_cache.c: the cache stage: a fresh (or stale-while-revalidate) stored response
 * answers; a miss that may fill leads the flight for its key (goes on to the origin, the fill
 * teed from the response, proxy/cache_store.c) or follows it (waits, then answers from what the
 * leader stored, or goes on alone). */
#include "proxy/pipeline.h"

#include "cache/key.h"
#include "cache/rules.h"
#include "cache/stored.h"
#include "core/clock.h"
#include "proxy/l2_client.h"

static uint64_t wall_s(void)
{
    return lv_clock_wall_ms() / 1000;
}

typedef enum { LOOKUP_ANSWERED, LOOKUP_MISS } lookup_t;

/* Looks the request up; serves it when a stored response may answer. On a miss, *stale_out
 * may hold a stale copy worth revalidating (a reference). */
static lookup_t lookup_and_serve(lv_req_t *r, const lv_http_head_t *h, char *key, size_t key_len,
                                 size_t key_cap, lv_cache_entry_t **stale_out,
                                 lv_cache_stored_t *stale_st, bool may_refresh)
{
    lv_worker_t *w = r->conn->worker;
    lv_cache_metrics_t *cm = &w->metrics->cache;
    lv_cache_stored_t st;
    lv_cache_entry_t *e = lv__cache_find(w->server->cache, key, key_len, key_cap, h, &st);
    *stale_out = NULL;
    if (!e)
        return LOOKUP_MISS;
    lv_cache_req_t rq;
    lv_cache_request_policy(h, &rq);
    if (!lv_cache_may_serve(&rq, &st.m)) {
        lv_cache_entry_unref(e);
        return LOOKUP_MISS;
    }
    uint64_t now = wall_s();
    /* Client directives (F5 sends max-age=0) are not obeyed: a reload storm must not become
     * an origin storm. nginx and Varnish do the same by default. */
    lv_cache_fresh_t fr = lv_cache_freshness(&st.m, now, NULL);
    if (fr == LV_CACHE_FRESH || fr == LV_CACHE_STALE_ALLOWED) {
        lv_counter_add(&cm->hits, 1);
        if (r->cache_outcome != LV_CACHE_OUT_COALESCED) /* a follower got the leader's answer */
            r->cache_outcome = LV_CACHE_OUT_HIT;
        lv__cache_serve(r, e, &st, h, now);
        return LOOKUP_ANSWERED;
    }
    if (fr == LV_CACHE_STALE_WHILE_REVALIDATE) {
        lv_counter_add(&cm->stale_swr, 1);
        r->cache_outcome = LV_CACHE_OUT_STALE;
        lv_flight_t *fl = NULL;
        if (may_refresh && lv_flight_join(w->server->flights, key, key_len, lv_clock_now_us(),
                                          &fl) == LV_FLIGHT_LEAD)
            lv__cache_refresh_start(r, h, e, &st, key, key_len, fl);
        else
            lv_flight_unref(fl);
        lv__cache_serve(r, e, &st, h, now);
        return LOOKUP_ANSWERED;
    }
    *stale_out = e;
    *stale_st = st;
    return LOOKUP_MISS;
}

/* A miss goes to the origin (r->fill set when it may fill), revalidating a stale copy when it
 * has validators. */
static void miss_goes_on(lv_req_t *r, const lv_cache_stored_t *stale_st)
{
    lv_cache_metrics_t *cm = &r->conn->worker->metrics->cache;
    lv_counter_add(&cm->misses, 1);
    r->cache_outcome = LV_CACHE_OUT_MISS;
    if (r->fill && r->stale && stale_st &&
        (stale_st->m.etag.len || stale_st->m.last_modified.len)) {
        lv__cache_fill_revalidates(r->fill, r->stale);
        lv_counter_add(&cm->revalidations, 1);
    }
}

/* The key of r's variant under the Vary marker stored (in L1) under key; 0 when none. */
static size_t variant_key(lv_req_t *r, const lv_http_head_t *h, char *key, size_t len, size_t cap)
{
    lv_cache_entry_t *e = lv_cache_store_lookup(r->conn->worker->server->cache, key, len);
    lv_cache_stored_t st;
    int n = -1;
    if (e && lv_cache_stored_decode(lv_cache_entry_head(e), lv_cache_entry_meta(e), &st) == 0 &&
        st.marker) {
        key[len] = LV_CACHE_KEY_VARY;
        n = lv_cache_vary_key(st.m.vary, st.m.n_vary, h, key + len + 1, cap - len - 1);
    }
    lv_cache_entry_unref(e);
    return n < 0 ? 0 : len + 1 + (size_t)n;
}

/* Whether a stored response under key may answer r now (without answering). */
static bool servable(lv_req_t *r, const lv_http_head_t *h, char *key, size_t len, size_t cap)
{
    lv_cache_stored_t st;
    lv_cache_entry_t *e = lv__cache_find(r->conn->worker->server->cache, key, len, cap, h, &st);
    if (!e)
        return false;
    lv_cache_req_t rq;
    lv_cache_request_policy(h, &rq);
    lv_cache_fresh_t fr = lv_cache_freshness(&st.m, wall_s(), NULL);
    bool ok =
        lv_cache_may_serve(&rq, &st.m) && (fr == LV_CACHE_FRESH || fr == LV_CACHE_STALE_ALLOWED ||
                                           fr == LV_CACHE_STALE_WHILE_REVALIDATE);
    lv_cache_entry_unref(e);
    return ok;
}

/* The second tier answered the leader of a flight: a value fills L1 (a Vary marker asks once
 * more, for the variant), and r is answered from it when it may be; else r goes on to the
 * origin with the fill it leads. */
static void l2_answered(void *arg, lv_l2_result_t res, const char *val, size_t len)
{
    lv_req_t *r = arg;
    lv_worker_t *w = r->conn->worker;
    const lv_http_head_t *h = lv__req_head(r);
    static _Thread_local char key[2 * LV_CACHE_KEY_MAX + 2];
    r->l2_get = NULL;
    int n = lv__cache_key(r, h, key);
    size_t key_len = n < 0 ? 0 : (size_t)n;
    if (key_len && r->l2_variant)
        key_len = variant_key(r, h, key, key_len, sizeof key);
    lv_cache_stored_t st;
    lv_cache_entry_t *e = key_len && res == LV_L2_HIT
                              ? lv__cache_store_l2_value(w->server, key, key_len, val, len, &st)
                              : NULL;
    if (e && st.marker && !r->l2_variant) {
        r->l2_variant = true;
        size_t vk = variant_key(r, h, key, key_len, sizeof key);
        lv_cache_entry_t *have = vk ? lv_cache_store_lookup(w->server->cache, key, vk) : NULL;
        if (!have && vk && (r->l2_get = lv_l2_get(w->l2, key, vk, l2_answered, r))) {
            lv_cache_entry_unref(e);
            return;
        }
        lv_cache_entry_unref(have);
    }
    lv_cache_entry_unref(e);
    key_len = n < 0 ? 0 : (size_t)n;
    if (key_len && servable(r, h, key, key_len, sizeof key)) {
        lv__cache_fill_release(r); /* followers find it in L1 too */
        lv_cache_entry_t *stale = NULL;
        lv_cache_stored_t sst;
        if (lookup_and_serve(r, h, key, key_len, sizeof key, &stale, &sst, false) ==
            LOOKUP_ANSWERED)
            return;
        lv_cache_entry_unref(stale);
    }
    /* On to the origin; a stale copy found in L2 is worth revalidating. */
    lv_cache_stored_t sst;
    lv_cache_entry_t *stale = NULL;
    if (key_len && !r->stale && r->fill)
        stale = lv__cache_find(w->server->cache, key, key_len, sizeof key, h, &sst);
    if (stale)
        r->stale = stale;
    lv_cache_stored_t rst;
    bool has_st = r->stale && lv_cache_stored_decode(lv_cache_entry_head(r->stale),
                                                     lv_cache_entry_meta(r->stale), &rst) == 0;
    miss_goes_on(r, has_st ? &rst : NULL);
    lv__pipeline_next(r);
}

/* A miss that may fill: lead a flight (go to the second tier or the origin, r->fill set), or
 * follow one (wait; returns true). */
static bool lead_or_follow(lv_req_t *r, const lv_http_head_t *h, const char *key, size_t key_len,
                           const lv_cache_stored_t *stale_st, bool coalesce)
{
    lv_worker_t *w = r->conn->worker;
    lv_server_t *s = w->server;
    lv_cache_metrics_t *cm = &w->metrics->cache;
    lv_flight_t *fl = NULL;
    lv_flight_role_t role = coalesce
                                ? lv_flight_join(s->flights, key, key_len, lv_clock_now_us(), &fl)
                                : LV_FLIGHT_LEAD;
    if (role == LV_FLIGHT_FOLLOW) {
        lv_counter_add(&cm->coalesced, 1);
        r->cache_outcome = LV_CACHE_OUT_COALESCED;
        r->flight = fl;
        r->cache_wait_until_us = lv_clock_now_us() + r->gen->cfg->cache_lock_timeout_ms * 1000ull;
        lv__cache_sleep_on(r, LV_CACHE_FOLLOWING);
        if (lv_flight_state(fl) != LV_FLIGHT_PENDING) /* resolved meanwhile: the tick is late */
            uv_async_send(&w->cache_wake);
        return true;
    }
    if (role == LV_FLIGHT_BYPASS) {
        lv_counter_add(&cm->passes, 1);
        r->cache_outcome = LV_CACHE_OUT_PASS;
        return false;
    }
    r->fill = lv__cache_fill_new(r, h, key, key_len, fl);
    if (!r->fill && fl) {
        lv_flight_resolve(s->flights, fl, LV_FLIGHT_FAILED, 0);
        lv_flight_unref(fl);
    }
    /* The second tier next, for a key others may share: the lookup is part of the flight
     * (followers wait for its answer as for the origin's), bounded by cache.l2.timeout_ms. */
    if (r->fill && fl && (r->l2_get = lv_l2_get(w->l2, key, key_len, l2_answered, r)))
        return true;
    miss_goes_on(r, stale_st);
    return false;
}

lv_stage_verdict_t lv_stage_cache(lv_req_t *r, const lv_http_head_t *h)
{
    lv_worker_t *w = r->conn->worker;
    lv_server_t *s = w->server;
    if (!s->cache || !r->gen->cfg->routes[r->route].cache || r->websocket)
        return LV_STAGE_NEXT; /* a websocket handshake is never stored nor answered from store */
    lv_cache_metrics_t *cm = &w->metrics->cache;
    if ((h->method != HTTP_GET && h->method != HTTP_HEAD) || h->has_body) {
        lv_counter_add(&cm->passes, 1);
        r->cache_outcome = LV_CACHE_OUT_PASS;
        return LV_STAGE_NEXT;
    }
    static _Thread_local char key[2 * LV_CACHE_KEY_MAX + 2];
    int n = lv__cache_key(r, h, key);
    if (n < 0) {
        lv_counter_add(&cm->passes, 1);
        r->cache_outcome = LV_CACHE_OUT_PASS;
        return LV_STAGE_NEXT;
    }
    size_t key_len = (size_t)n;
    lv_cache_entry_t *stale = NULL;
    lv_cache_stored_t st;
    if (lookup_and_serve(r, h, key, key_len, sizeof key, &stale, &st, true) == LOOKUP_ANSWERED)
        return LV_STAGE_ANSWERED;
    if (stale) {
        lv_cache_entry_unref(r->stale);
        r->stale = stale;
    }
    /* Ranges and HEAD go to the origin as they are: they never fill. A request whose answer
     * may not be storable for others (Authorization, no-store) fills alone: it neither leads
     * nor follows a flight, so it never makes others wait or pass. */
    lv_cache_req_t rq;
    lv_cache_request_policy(h, &rq);
    if (h->method == HTTP_HEAD || rq.range) {
        lv_counter_add(&cm->misses, 1);
        r->cache_outcome = LV_CACHE_OUT_MISS;
        return LV_STAGE_NEXT;
    }
    bool follows =
        lead_or_follow(r, h, key, key_len, stale ? &st : NULL, !rq.authorization && !rq.no_store);
    return follows ? LV_STAGE_WAIT : LV_STAGE_NEXT;
}

/* A follower's flight was resolved (or it waited long enough): answer from the store if the
 * leader stored what it needs; else, if the leader stored another variant, lead or follow
 * once more for its own; else a stale copy, else the origin alone. */
void lv__cache_follower_resume(lv_req_t *r, bool timed_out)
{
    lv_worker_t *w = r->conn->worker;
    lv_flight_state_t st = lv_flight_state(r->flight);
    lv_flight_unref(r->flight);
    r->flight = NULL;
    r->cache_mode = LV_CACHE_NONE;
    const lv_http_head_t *h = lv__req_head(r);
    if (timed_out)
        lv_counter_add(&w->metrics->cache.coalesce_timeouts, 1);
    if (st == LV_FLIGHT_READY) {
        static _Thread_local char key[2 * LV_CACHE_KEY_MAX + 2];
        int n = lv__cache_key(r, h, key);
        lv_cache_entry_t *stale = NULL;
        lv_cache_stored_t sst;
        if (n >= 0 && lookup_and_serve(r, h, key, (size_t)n, sizeof key, &stale, &sst, false) ==
                          LOOKUP_ANSWERED)
            return;
        if (stale) {
            lv_cache_entry_unref(r->stale);
            r->stale = stale;
        }
        bool again = n >= 0 && !r->cache_rejoined;
        r->cache_rejoined = true;
        if (again && lead_or_follow(r, h, key, (size_t)n, stale ? &sst : NULL, true))
            return;
    } else if (st != LV_FLIGHT_PASS && lv__cache_serve_stale(r, LV_STALE_ERROR)) {
        return;
    }
    if (r->cache_outcome == LV_CACHE_OUT_COALESCED) /* it goes to the origin alone after all */
        r->cache_outcome = st == LV_FLIGHT_PASS ? LV_CACHE_OUT_PASS : LV_CACHE_OUT_MISS;
    lv__pipeline_next(r);
}
