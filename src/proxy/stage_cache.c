/* proxy/stage_cache.c: the cache stage: a fresh (or stale-while-revalidate) stored response
 * answers; a miss that may fill leads the flight for its key (goes on to the origin, the fill
 * teed from the response, proxy/cache_store.c) or follows it (waits, then answers from what the
 * leader stored, or goes on alone). */
#include "proxy/pipeline.h"

#include "cache/key.h"
#include "cache/rules.h"
#include "cache/stored.h"
#include "core/clock.h"

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

/* A miss that may fill: lead a flight (go to the origin, r->fill set), or follow one (wait;
 * returns true). */
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
    lv_counter_add(&cm->misses, 1);
    r->cache_outcome = LV_CACHE_OUT_MISS;
    r->fill = lv__cache_fill_new(r, h, key, key_len, fl);
    if (!r->fill && fl) {
        lv_flight_resolve(s->flights, fl, LV_FLIGHT_FAILED, 0);
        lv_flight_unref(fl);
    }
    if (!r->fill)
        return false;
    if (r->stale && stale_st && (stale_st->m.etag.len || stale_st->m.last_modified.len)) {
        lv__cache_fill_revalidates(r->fill, r->stale);
        lv_counter_add(&cm->revalidations, 1);
    }
    return false;
}

lv_stage_verdict_t lv_stage_cache(lv_req_t *r, const lv_http_head_t *h)
{
    lv_worker_t *w = r->conn->worker;
    lv_server_t *s = w->server;
    if (!s->cache || !r->gen->cfg->routes[r->route].cache)
        return LV_STAGE_NEXT;
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
