/* proxy/stage_fault.c: the fault stage: injected faults that model the backend (latency, abort,
 * reset, blackhole, bandwidth), after the limit so the guard sees them as the backend's. */
#include "proxy/pipeline.h"

#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "proxy/faults.h"

#define FAULT_HEADER "x-levee-fault"

/* A number in [0, 1). */
static double draw_unit(lv_worker_t *w)
{
    return (double)(lv_rng_next(&w->rng) >> 11) * 0x1.0p-53;
}

/* A delay from its distribution, in whole ms within 0..LV_FAULT_MS_MAX. */
static uint64_t draw_ms(lv_worker_t *w, const lv_fault_ms_t *ms)
{
    double v = ms->a;
    switch (ms->dist) {
    case LV_FAULT_DIST_FIXED:
        break;
    case LV_FAULT_DIST_UNIFORM:
        v = ms->a + (ms->b - ms->a) * draw_unit(w);
        break;
    case LV_FAULT_DIST_EXPONENTIAL:
        v = -ms->a * log1p(-draw_unit(w));
        break;
    case LV_FAULT_DIST_LOGNORMAL: {
        /* median a, 99th percentile b: sigma = ln(b / a) / z(0.99). Box-Muller for the normal. */
        double sigma = ms->a > 0 && ms->b > ms->a ? log(ms->b / ms->a) / 2.326348 : 0;
        double u1 = 1.0 - draw_unit(w), u2 = draw_unit(w);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        v = ms->a * exp(sigma * z);
        break;
    }
    }
    if (!(v > 0))
        return 0;
    return (uint64_t)llround(v < LV_FAULT_MS_MAX ? v : LV_FAULT_MS_MAX);
}

/* The stale copy a failing origin would let through, else levee's own answer. */
static void answer_failure(lv_req_t *r, int status)
{
    if (status >= 500 && lv__cache_serve_stale(r, LV_STALE_ERROR))
        return;
    lv__answer_fault(r, status);
}

/* The request waits on the fault timer; the stage's wake-up is lv__fault_timeout. */
static lv_stage_verdict_t hold(lv_req_t *r, uint8_t kind, uint64_t ms)
{
    r->fault_wait = kind + 1u;
    lv_timeout_set(&r->conn->worker->req_timeouts, &r->fault_timeout, ms);
    return LV_STAGE_WAIT;
}

/* until_ms: when the fault ends (monotonic ms; 0: a header fault, no end of its own). */
static lv_stage_verdict_t inject(lv_req_t *r, const lv_fault_spec_t *f, uint64_t until_ms)
{
    lv_worker_t *w = r->conn->worker;
    lv_counter_add(&r->pool->metrics->faults_injected[f->kind], 1);
    r->fault_kind = (uint8_t)(f->kind + 1u);
    uint64_t now = lv_clock_now_ns();
    if (!r->upstream_start_ns)
        r->upstream_start_ns = now; /* the limiter's round trip includes the fault */
    switch (f->kind) {
    case LV_FAULT_LATENCY: {
        uint64_t ms = draw_ms(w, &f->ms);
        return ms ? hold(r, LV_FAULT_LATENCY, ms) : LV_STAGE_NEXT;
    }
    case LV_FAULT_ABORT:
        r->upstream_end_ns = now;
        r->status = f->status;
        r->resp_any = true; /* the guard takes the status as the backend's answer */
        answer_failure(r, f->status);
        return LV_STAGE_ANSWERED;
    case LV_FAULT_RESET:
        r->upstream_end_ns = now;
        r->up_failed = true;
        answer_failure(r, 502);
        return LV_STAGE_ANSWERED;
    case LV_FAULT_BLACKHOLE: {
        /* A silent backend: 504 at the read timeout, unless the fault ends first; then the
         * backend is back and the request goes on to it, as a stalled backend's queue does. */
        uint64_t timeout = LV_MAX(r->pool->svc->read_timeout_ms, 1u), now_ms = now / 1000000u;
        if (until_ms > now_ms && until_ms - now_ms < timeout)
            return hold(r, LV_FAULT_LATENCY, until_ms - now_ms);
        return hold(r, LV_FAULT_BLACKHOLE, timeout);
    }
    case LV_FAULT_BANDWIDTH:
        r->fault_bps = f->bytes_per_s;
        return LV_STAGE_NEXT;
    case LV_FAULT_HOST_DOWN:
    case LV_FAULT_KINDS:
        break;
    }
    return LV_STAGE_NEXT;
}

/* Whether the fault can act on r: a request whose body streams (larger than
 * limits.body_buffer_bytes) cannot be held, since the rest of its body arrives meanwhile (the
 * limit does not queue it either); latency and blackhole pass it by. */
static bool can_act(const lv_req_t *r, const lv_fault_spec_t *f)
{
    bool holds = f->kind == LV_FAULT_LATENCY || f->kind == LV_FAULT_BLACKHOLE;
    return !holds || !r->has_body || r->body_whole;
}

/* The test header (faults_header.enabled, from an allowed peer): a fault for this request. */
static bool header_fault(lv_req_t *r, const lv_http_head_t *h, lv_fault_spec_t *out)
{
    const lv_config_t *cfg = r->gen->cfg;
    const lv_conn_t *c = r->conn;
    lv_str_t v = lv_http_header_value(h, FAULT_HEADER, sizeof FAULT_HEADER - 1);
    return v.p &&
           lv_cidr_contains(cfg->fault_header_allow, cfg->n_fault_header_allow, c->client,
                            c->client_ip_len) &&
           lv_fault_header_parse(v.p, v.len, out) == 0 && out->kind != LV_FAULT_HOST_DOWN;
}

/* Whether fault f is meant for r's service or route. */
static bool targets(const lv_req_t *r, const lv_fault_spec_t *f)
{
    if (f->kind == LV_FAULT_HOST_DOWN)
        return false;
    if (f->route[0]) {
        const lv_config_t *cfg = r->gen->cfg;
        const char *name = r->route < cfg->n_routes ? cfg->routes[r->route].name : NULL;
        return name && strcmp(name, f->route) == 0;
    }
    return strcmp(f->service, r->pool->svc->name) == 0;
}

static lv_stage_verdict_t draw(lv_req_t *r, const lv_http_head_t *h)
{
    lv_worker_t *w = r->conn->worker;
    lv_fault_spec_t hf;
    if (r->gen->cfg->fault_header && header_fault(r, h, &hf) && can_act(r, &hf))
        return inject(r, &hf, 0);
    lv_faults_t *t = w->server->faults;
    if (!lv_faults_active(t))
        return LV_STAGE_NEXT;
    if (!w->fault_view || lv_faults_changed(t, w->fault_view)) {
        if (!w->fault_view && !(w->fault_view = malloc(sizeof *w->fault_view)))
            return LV_STAGE_NEXT;
        lv_faults_refresh(t, w->fault_view);
    }
    lv_faults_view_t *v = w->fault_view;
    uint64_t now_ms = lv_clock_now_ms();
    for (uint32_t i = 0; i < v->n; i++) {
        const lv_fault_t *f = &v->faults[i];
        if (f->until_ms <= now_ms || !targets(r, &f->spec) || !can_act(r, &f->spec))
            continue;
        if (f->spec.share < 1.0 && draw_unit(w) >= f->spec.share)
            continue;
        lv_faults_injected(t, v, i);
        return inject(r, &f->spec, f->until_ms);
    }
    return LV_STAGE_NEXT;
}

lv_stage_verdict_t lv_stage_fault(lv_req_t *r, const lv_http_head_t *h)
{
    if (LV_LIKELY(!lv_faults_active(r->conn->worker->server->faults)) &&
        LV_LIKELY(!r->gen->cfg->fault_header))
        return LV_STAGE_NEXT;
    return draw(r, h);
}

void lv__fault_timeout(lv_timeouts_t *ts, lv_timeout_t *t)
{
    (void)ts;
    lv_req_t *r = LV_CONTAINER_OF(t, lv_req_t, fault_timeout);
    uint8_t kind = (uint8_t)(r->fault_wait - 1u);
    r->fault_wait = 0;
    if (kind == LV_FAULT_LATENCY) {
        lv__pipeline_next(r);
    } else if (kind == LV_FAULT_BLACKHOLE) {
        r->upstream_end_ns = lv_clock_now_ns();
        r->up_timed_out = true;
        answer_failure(r, 504);
    } else if (kind == LV_FAULT_BANDWIDTH && r->uconn) {
        lv__uconn_start_read(r->uconn);
        lv__uconn_arm_read_timeout(r->uconn);
    }
}

void lv__fault_cancel(lv_req_t *r)
{
    if (r->fault_timeout.due || r->fault_timeout.at)
        lv_timeout_remove(&r->conn->worker->req_timeouts, &r->fault_timeout);
    r->fault_wait = 0;
}

void lv__fault_throttle(lv_req_t *r, lv_uconn_t *u, size_t n)
{
    /* The bytes of this read took n / bytes_per_s: no more reads until then. A pause of the
     * upstream's reading is not its silence: no read timeout meanwhile. */
    uint64_t ms = (uint64_t)n * 1000u / r->fault_bps;
    if (!ms || u->state == LV_UCONN_CLOSING || !u->reading)
        return;
    u->reading = false;
    uv_read_stop((uv_stream_t *)&u->tcp);
    lv_deadline_clear(&u->deadline);
    r->fault_wait = LV_FAULT_BANDWIDTH + 1u;
    lv_timeout_set(&r->conn->worker->req_timeouts, &r->fault_timeout, ms);
}
