/* proxy/stage_retry.c: the retry stage: a client back before its Retry-After (its lv_retry
 * cookie says so), or repeating a request in a storm, is refused with 429 while the service is
 * under pressure and the request would have to wait for a slot. Never by address. */
#include "proxy/pipeline.h"

#include <string.h>

#include "guard/retry_cookie.h"

/* "METHOD host target" into res (at most 128 bytes of host, the target cut to what fits):
 * what a client asks for, for the storm table and F5 joins. Returns its length; *whole says
 * whether the target fit entirely. */
static size_t resource_of(const lv_http_head_t *h, char res[static 512], bool *whole)
{
    const char *meth = lv_http_method_name(h->method);
    size_t n = strlen(meth);
    memcpy(res, meth, n);
    res[n++] = ' ';
    size_t hl = LV_MIN(h->host.len, 128);
    if (hl)
        memcpy(res + n, h->host.p, hl);
    n += hl;
    size_t tl = LV_MIN(h->target.len, 512 - n);
    if (tl)
        memcpy(res + n, h->target.p, tl);
    *whole = tl == h->target.len;
    return n + tl;
}

/* The retry rules (issue 12: users arrive behind shared addresses, carrier NAT and offices).
 * A refusal with Retry-After sets the lv_retry cookie (answer.c) on the refused client: a
 * random id, the not-before and a MAC over both and the resource. Then:
 *  - premature: the request carries a valid lv_retry cookie for this resource whose
 *    not-before has not passed. A request without one is never premature, whatever its
 *    address: a neighbour behind the same NAT did not get the refusal.
 *  - repeat: more than guard.storm_threshold requests for the resource in guard.storm_window_ms
 *    by one client, where the client is the guard.client_id header or cookie when configured
 *    and present (the operator says it tells users apart), else the id in a valid lv_retry
 *    cookie (a client that was refused and is retrying), else nobody: a request with neither
 *    is not counted, so a request that has never been refused is never refused as a storm
 *    repeat. An address (guard.client_id ip, trusted real client or peer) is never a client
 *    here: it may be a NAT of thousands of users.
 * Both are refused with 429 only under pressure and when the request would wait for a slot.
 * A client that drops cookies escapes both, and meets the limit, the queue and shedding like
 * everyone else. One cookie per client: a refusal for /home replaces the one for /play. */
static lv_stage_verdict_t retry_check(lv_req_t *r, lv_svc_guard_t *g, const lv_http_head_t *h,
                                      bool refuse_repeats, uint64_t now_us)
{
    lv_storm_t *storm = r->conn->worker->server->storm;
    if (!storm)
        return LV_STAGE_NEXT;
    lv_service_metrics_t *m = g->metrics;
    uint64_t now_ms = now_us / 1000;
    char res[512];
    bool whole;
    size_t n = resource_of(h, res, &whole);
    r->retry_res = lv_retry_cookie_resource(res, n);
    lv_retry_cookie_t c = {0, 0};
    lv_str_t v = lv_http_cookie_value(h, LV_RETRY_COOKIE_NAME, LV_RETRY_COOKIE_NAME_LEN);
    if (v.len && lv_retry_cookie_try_parse(v.p, v.len, r->retry_res, &c))
        r->retry_id = c.id;

    /* Who counts as one client for repeats (see above); none: not counted. */
    char idbuf[20];
    lv_str_t who = lv__guard_client_id(r, h);
    if (!who.len && r->retry_id) {
        idbuf[0] = '\0'; /* no header or cookie value starts with NUL: a namespace apart */
        memcpy(idbuf + 1, &r->retry_id, sizeof r->retry_id);
        who = (lv_str_t){idbuf, 1 + sizeof r->retry_id};
    }
    lv_storm_verdict_t verdict = LV_STORM_OK;
    if (who.len)
        verdict = lv_storm_check(storm, lv_storm_key(who.p, who.len, res, n), now_ms, NULL);

    if (r->retry_id && c.not_before_ms > now_ms && refuse_repeats) {
        lv_counter_add(&m->guard_premature_blocked, 1);
        r->refusal = LV_REFUSAL_PREMATURE;
        uint64_t wait_ms = c.not_before_ms - now_ms;
        uint32_t ra = (uint32_t)LV_MIN((wait_ms + 999) / 1000, (uint64_t)3600);
        lv__answer_refuse(r, 429, ra ? ra : 1);
        return LV_STAGE_ANSWERED;
    }
    if (verdict == LV_STORM_REPEAT && refuse_repeats) {
        lv_counter_add(&m->guard_storm_blocked, 1);
        r->refusal = LV_REFUSAL_STORM;
        lv__guard_refuse(r, g, 429);
        return LV_STAGE_ANSWERED;
    }
    return LV_STAGE_NEXT;
}

lv_stage_verdict_t lv_stage_retry(lv_req_t *r, const lv_http_head_t *h)
{
    lv_svc_guard_t *g = lv__guard_of(r);
    if (!g)
        return LV_STAGE_NEXT;
    /* A repeat that finds a slot free and nobody queued is served: the storm check removes
     * excess demand, it must never leave the backend idle. */
    bool refuse_repeats = lv__guard_pressure(g, r->guard_us, LV_PRESSURE_HOLD_US) &&
                          lv_backend_limit_full(g->backend);
    return retry_check(r, g, h, refuse_repeats, r->guard_us);
}
