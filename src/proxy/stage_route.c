/* proxy/stage_route.c: the route stage: the request's host and path choose a route (longest
 * prefix), which names its service, its criticality and its flag; 404 when none matches.
 * It also notes a websocket upgrade the route lets through (routes[].websocket), and refuses
 * one over its service's cap of open tunnels (503). */
#include "proxy/pipeline.h"

/* A websocket opening handshake (RFC 6455 4.1): an HTTP/1.1 GET without a body, with
 * Connection: upgrade and Upgrade: websocket. */
static bool wants_websocket(const lv_http_head_t *h)
{
    if (h->method != HTTP_GET || h->has_body || h->version_minor != 1)
        return false;
    return lv_http_list_has(lv_http_header_value(h, "upgrade", 7), LV_STR("websocket")) &&
           lv_http_list_has(h->connection, LV_STR("upgrade"));
}

lv_stage_verdict_t lv_stage_route(lv_req_t *r, const lv_http_head_t *h)
{
    const lv_config_t *cfg = r->gen->cfg;
    int route = lv_config_route(cfg, h->host.p, h->host.len, h->path.p, h->path.len);
    if (route < 0) {
        lv_counter_add(&r->conn->worker->metrics->requests_unrouted, 1);
        lv__answer_error(r, 404);
        return LV_STAGE_ANSWERED;
    }
    r->pool = &r->gen->pools[cfg->routes[route].service];
    r->crit = cfg->routes[route].criticality ? (uint8_t)(cfg->routes[route].criticality - 1)
                                             : (uint8_t)r->pool->svc->criticality;
    r->route = (uint16_t)route;
    /* Elsewhere Upgrade is dropped like any hop-by-hop header: the request is plain HTTP. */
    r->websocket = cfg->routes[route].websocket && wants_websocket(h);
    lv_counter_add(&r->pool->metrics->in_flight, 1);
    uint32_t cap = r->pool->svc->websocket_max_tunnels;
    if (r->websocket && cap) {
        /* Each worker keeps its share of the cap, counted by its own gauge: no shared state. */
        uint32_t workers = cfg->workers ? cfg->workers : 1;
        lv_counter_t *open = &r->pool->metrics->ws_tunnels;
        if (lv_counter_get(open) >= (cap + workers - 1) / workers) {
            lv_counter_add(&r->pool->metrics->ws_tunnels_end[LV_WS_REFUSED], 1);
            lv__answer_error(r, 503);
            return LV_STAGE_ANSWERED;
        }
    }
    return LV_STAGE_NEXT;
}
