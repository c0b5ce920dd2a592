/* proxy/pipeline.c: the request path, in order: each stage continues, answers or waits
 * (proxy/pipeline.h). Adding a stage is one file and one line in the list below. */
#include "proxy/pipeline.h"

static const struct {
    const char *name;
    lv_stage_fn run;
} stages[] = {
    /* which service, which route, how critical; 404 when none */
    {"route", lv_stage_route},
    /* fresh or stale-while-revalidate hit; a miss leads or follows the flight for its key */
    {"cache", lv_stage_cache},
    /* a body is read (up to limits.body_buffer_bytes) before it may take a slot */
    {"body", lv_stage_body},
    /* feature flags, the route's then the service's: the fallback when off */
    {"flags", lv_stage_flags},
    /* F5: a client's repeat takes over its abandoned request still at the backend */
    {"join", lv_stage_join},
    /* premature retries and retry storms under pressure: 429 */
    {"retry", lv_stage_retry},
    /* the circuit breaker: stale copy, fallback or 503 while open */
    {"breaker", lv_stage_breaker},
    /* the backend's adaptive concurrency limit, the CoDel + LIFO queue, or shed */
    {"limit", lv_stage_limit},
    /* injected faults that model the backend: latency, abort, reset, blackhole, bandwidth */
    {"fault", lv_stage_fault},
    /* to an upstream host and back: the last stage, it never says NEXT */
    {"relay", lv_stage_relay},
};

_Static_assert(LV_ARRAY_LEN(stages) < 256, "lv_req_t.stage is a byte");

static lv_stage_verdict_t run_from(lv_req_t *r, unsigned i)
{
    const lv_http_head_t *h = lv__req_head(r);
    for (; i < LV_ARRAY_LEN(stages); i++) {
        r->stage = (uint8_t)i;
        lv_stage_verdict_t v = stages[i].run(r, h);
        if (v != LV_STAGE_NEXT)
            return v;
    }
    LV_ASSERT(!"the relay, the last stage, continued");
    return LV_STAGE_ANSWERED;
}

void lv__pipeline_start(lv_req_t *r, lv_http_head_t *h)
{
    lv__request_begin(r, h);
    run_from(r, 0);
}

void lv__pipeline_next(lv_req_t *r)
{
    if (run_from(r, r->stage + 1u) == LV_STAGE_WAIT && r->uconn)
        lv__write_flush_upstream(r);
}

const char *lv__pipeline_stage_name(const lv_req_t *r)
{
    return r->stage < LV_ARRAY_LEN(stages) ? stages[r->stage].name : "?";
}

int lv__pipeline_body(lv_req_t *r, lv_chunk_t *chunk, const char *p, size_t len)
{
    if (r->body_buffering && lv__body_keep(r, p, len))
        return 0;
    return lv__relay_body(r, chunk, p, len);
}

void lv__pipeline_body_done(lv_req_t *r)
{
    r->req_done = true;
    if (r->body_buffering) {
        lv__body_whole(r);
        return;
    }
    lv__relay_body_done(r);
}
