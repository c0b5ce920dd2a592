/* proxy/stage_join.c: the join stage (F5): a client that gave up on a request the backend is
 * still working on and asks again gets that request's answer, with no second slot and no
 * second piece of work. Keeps the abandoned requests: orphans (the client left, the upstream
 * works on) and requests whose client half-closed. */
#include "proxy/pipeline.h"
#include "proxy/join_sig.h"

#include <string.h>

/* Who the client is, for F5 joins: the configured header or cookie, else its IP. */
static lv_str_t client_identity(const lv_req_t *r, const lv_http_head_t *h)
{
    lv_str_t v = lv__guard_client_id(r, h);
    return v.len ? v : (lv_str_t){r->client_ip, r->client_ip_len};
}

/* The join signature of r (proxy/join_sig.h) in a chunk of the worker's pool; NULL: the
 * request never joins (a body, a fill, no memory). */
static lv_chunk_t *join_signature(const lv_req_t *r, const lv_http_head_t *h, uint32_t *len)
{
    if (h->method != HTTP_GET || h->has_body || r->fill || r->websocket)
        return NULL; /* a websocket handshake is one client's own */
    lv_str_t who = client_identity(r, h);
    lv_chunk_t *ch = lv_chunk_acquire(&r->conn->worker->bufs, lv_join_signature_bound(h, who.len));
    if (!ch)
        return NULL;
    *len = (uint32_t)lv_join_signature(h, who, ch->data, ch->cap);
    if (!*len) {
        lv_chunk_release(ch);
        return NULL;
    }
    return ch;
}

/* Gives r its join signature and key (a hash of it, to skip unequal candidates fast), once.
 * Computed only when needed: when the worker has abandoned requests to look through, and when
 * a request is abandoned (its head is still the connection's parser head then). */
static void join_prepare(lv_req_t *r, const lv_http_head_t *h)
{
    if (r->join_key || r->join_sig)
        return;
    uint32_t len = 0;
    lv_chunk_t *sig = join_signature(r, h, &len);
    if (!sig)
        return;
    uint64_t k = lv_storm_key(sig->data, len, "GET", 3);
    r->join_sig = sig;
    r->join_sig_len = len;
    r->join_key = k ? k : 1;
}

static bool same_signature(const lv_chunk_t *a, uint32_t alen, const lv_chunk_t *b, uint32_t blen)
{
    return a && b && alen == blen && memcmp(a->data, b->data, alen) == 0;
}

void lv__join_forget(lv_uconn_t *u)
{
    u->join_key = 0;
    if (u->join_sig) {
        lv_chunk_release(u->join_sig);
        u->join_sig = NULL;
    }
}

void lv__join_req_end(lv_req_t *r)
{
    if (r->join_sig) {
        lv_chunk_release(r->join_sig);
        r->join_sig = NULL;
    }
}

/* An orphan of this service whose response r may take over, or NULL. Orphans are few (each
 * holds a concurrency slot); the scan is bounded anyway. */
static lv_uconn_t *orphan_to_join(const lv_req_t *r, const lv_svc_guard_t *g)
{
    uint32_t seen = 0;
    for (lv_link_t *l = g->worker->orphans.next; l != &g->worker->orphans && seen < 256;
         l = l->next, seen++) {
        lv_uconn_t *u = LV_CONTAINER_OF(l, lv_uconn_t, idle_link);
        if (u->orphan_guard == g && u->join_key == r->join_key && u->pool == r->pool && !u->fill &&
            u->state == LV_UCONN_BUSY &&
            same_signature(u->join_sig, u->join_sig_len, r->join_sig, r->join_sig_len))
            return u;
    }
    return NULL;
}

/* A request of this service whose client half-closed before any answer came, with r's key,
 * or NULL. */
static lv_req_t *half_closed_to_join(const lv_req_t *r, const lv_svc_guard_t *g)
{
    uint32_t seen = 0;
    for (lv_link_t *l = g->worker->half_closed.next; l != &g->worker->half_closed && seen < 256;
         l = l->next, seen++) {
        lv_req_t *q = LV_CONTAINER_OF(l, lv_req_t, half_closed_link);
        if (q->guard == g && q->join_key == r->join_key && q->pool == r->pool && !q->resp_any &&
            q->slot_held && q->uconn && !q->uconn->fill &&
            same_signature(q->join_sig, q->join_sig_len, r->join_sig, r->join_sig_len))
            return q;
    }
    return NULL;
}

void lv__join_half_closed(lv_req_t *r)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held || !r->uconn || r->half_closed_link.next)
        return;
    lv_counter_add(&g->metrics->guard_orphaned, 1);
    join_prepare(r, lv__req_head(r));
    lv_list_push(&g->worker->half_closed, &r->half_closed_link);
}

/* r takes over u's upstream request and the concurrency slot it holds. */
static void join_orphan(lv_req_t *r, lv_svc_guard_t *g, lv_uconn_t *u)
{
    lv_list_remove(&u->idle_link);
    u->orphan = false;
    u->orphan_guard = NULL;
    lv__join_forget(u);
    r->slot_held = true;
    r->backend = u->orphan_backend;
    u->orphan_backend = NULL;
    r->joined = true;
    r->upstream_start_ns = u->orphan_start_us * 1000u;
    r->uconn = u; /* the relay attaches it (lv__relay_joined) */
    lv_counter_add(&g->metrics->guard_joined, 1);
}

lv_stage_verdict_t lv_stage_join(lv_req_t *r, const lv_http_head_t *h)
{
    lv_worker_t *w = r->conn->worker;
    if (lv_list_empty(&w->orphans) && lv_list_empty(&w->half_closed))
        return LV_STAGE_NEXT;
    lv_svc_guard_t *g = lv__guard_of(r);
    if (!g)
        return LV_STAGE_NEXT;
    join_prepare(r, h);
    lv_uconn_t *orphan = r->join_key ? orphan_to_join(r, g) : NULL;
    lv_req_t *left = r->join_key && !orphan ? half_closed_to_join(r, g) : NULL;
    if (left) {
        /* Its client left for good (it asks again on a new connection): close it, which
         * orphans its upstream request, and take that. */
        lv__conn_close(left->conn);
        orphan = orphan_to_join(r, g);
    }
    if (!orphan)
        return LV_STAGE_NEXT;
    join_orphan(r, g, orphan);
    lv__guard_publish(g, r->guard_us);
    return lv__relay_joined(r, h); /* past the retry check, the breaker and the limit */
}

void lv__join_orphan(lv_req_t *r, lv_uconn_t *u)
{
    lv_svc_guard_t *g = r->guard;
    if (!g || !r->slot_held)
        return;
    r->slot_held = false;
    if (r->probe)
        lv_breaker_cancel_probe(&g->breaker);
    r->probe = false;
    u->orphan = true;
    u->orphan_guard = g;
    u->orphan_backend = r->backend;
    u->orphan_start_us = r->upstream_start_ns / 1000;
    lv__join_forget(u);
    if (!r->resp_any) {
        join_prepare(r, lv__req_head(r));
        u->join_key = r->join_key; /* the signature moves to the connection */
        u->join_sig = r->join_sig;
        u->join_sig_len = r->join_sig_len;
        r->join_sig = NULL;
    }
    if (!r->half_closed_link.next) /* counted at its FIN already */
        lv_counter_add(&g->metrics->guard_orphaned, 1);
    lv_list_push(&g->worker->orphans, &u->idle_link);
}

/* Drain: work for clients who left is not waited for. */
void lv__join_drop_orphans(lv_worker_t *w)
{
    while (!lv_list_empty(&w->orphans)) {
        lv_uconn_t *u = LV_CONTAINER_OF(w->orphans.next, lv_uconn_t, idle_link);
        lv__uconn_close(u); /* releases the slot and unlinks it */
    }
}
