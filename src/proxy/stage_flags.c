/* proxy/stage_flags.c: the flags stage: feature flags, the route's then the service's; off,
 * or auto while the service is under pressure, answers with the service's fallback. */
#include "proxy/pipeline.h"

/* The flag slot of the request's route, or -1 when the route has no flag (no name). */
static int route_flag_slot(const lv_req_t *r)
{
    const lv_config_t *cfg = r->gen->cfg;
    uint32_t slot = r->route < cfg->n_routes ? cfg->routes[r->route].flag_slot : 0;
    return slot ? (int)slot : -1;
}

static bool flag_says_fallback(lv_flag_state_t flag, const lv_svc_guard_t *g, uint64_t now_us)
{
    return flag == LV_FLAG_OFF ||
           (flag == LV_FLAG_AUTO && lv__guard_pressure(g, now_us, LV_AUTO_FLAG_HOLD_US));
}

lv_stage_verdict_t lv_stage_flags(lv_req_t *r, const lv_http_head_t *h)
{
    (void)h;
    lv_flags_t *flags = r->conn->worker->server->flags;
    lv_svc_guard_t *g = flags ? lv__guard_of(r) : NULL;
    if (!g)
        return LV_STAGE_NEXT;
    if (!flag_says_fallback(lv_flags_get(flags, route_flag_slot(r)), g, r->guard_us) &&
        !flag_says_fallback(lv_flags_get(flags, (int)g->slot), g, r->guard_us))
        return LV_STAGE_NEXT;
    lv_counter_add(&g->metrics->guard_fallback_served, 1);
    r->refusal = LV_REFUSAL_FLAG;
    lv__answer_fallback(r);
    return LV_STAGE_ANSWERED;
}
