/* proxy/stage_breaker.c: the breaker stage: while the service's circuit breaker is open, a
 * stale copy, else the fallback, else 503 with the wait page; half-open, a few probes pass. */
#include "proxy/pipeline.h"

lv_stage_verdict_t lv_stage_breaker(lv_req_t *r, const lv_http_head_t *h)
{
    (void)h;
    lv_svc_guard_t *g = lv__guard_of(r);
    if (!g)
        return LV_STAGE_NEXT;
    uint64_t now_us = r->guard_us;
    lv_breaker_verdict_t bv = lv_breaker_allow(&g->breaker, now_us);
    if (bv != LV_BREAKER_REJECT) {
        r->probe = bv == LV_BREAKER_PROBE;
        lv_budget_note_request(&g->budget, now_us);
        return LV_STAGE_NEXT;
    }
    lv_counter_add(&g->metrics->guard_breaker_rejected, 1);
    r->refusal = LV_REFUSAL_BREAKER;
    lv__guard_publish(g, now_us);
    /* A stale copy first, then the fallback, then 503 + wait page. */
    if (lv__cache_serve_stale(r, LV_STALE_REFUSED))
        return LV_STAGE_ANSWERED;
    const lv_guard_conf_t *conf = &r->pool->svc->guard;
    if (conf->fallback_body || conf->fallback_file_body || conf->fallback_redirect) {
        lv_counter_add(&g->metrics->guard_fallback_served, 1);
        lv__answer_fallback(r);
    } else {
        uint32_t in_ms = lv_breaker_retry_in_ms(&g->breaker, now_us);
        uint32_t ra =
            lv__guard_retry_after_s(r->conn->worker, LV_MAX(in_ms, r->gen->cfg->retry_after_ms));
        lv__answer_refuse(r, 503, ra);
    }
    return LV_STAGE_ANSWERED;
}
