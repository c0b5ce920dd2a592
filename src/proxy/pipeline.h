/* proxy/pipeline.h: the request path as an ordered list of stages, and the contract every
 * stage keeps. The list itself is in proxy/pipeline.c, in order, on one screen. */
#ifndef LV_PROXY_PIPELINE_H
#define LV_PROXY_PIPELINE_H

#include "proxy/proxy.h"

/* What a stage did with a request.
 *  NEXT:     nothing to say: the next stage takes the request.
 *  ANSWERED: the stage answered it (a hit, a refusal, a fallback, an error): the pipeline
 *            ends; the request may already be finished and recycled, so it is not touched.
 *  WAIT:     the request waits (for a flight, a slot in the queue, its body, the upstream's
 *            answer). The stage owns the wake-up: it later answers the request itself or
 *            calls lv__pipeline_next() to go on with the stage after it. */
typedef enum {
    LV_STAGE_NEXT = 0,
    LV_STAGE_ANSWERED,
    LV_STAGE_WAIT,
} lv_stage_verdict_t;

/* A stage: one file, one entry. h is the request's head (the connection parser's, valid for
 * the whole request). A stage never calls a stage before it. */
typedef lv_stage_verdict_t (*lv_stage_fn)(lv_req_t *r, const lv_http_head_t *h);

/* The stages, in pipeline order (proxy/stage_*.c). */
lv_stage_verdict_t lv_stage_route(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_cache(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_body(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_flags(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_join(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_retry(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_breaker(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_limit(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_fault(lv_req_t *r, const lv_http_head_t *h);
lv_stage_verdict_t lv_stage_relay(lv_req_t *r, const lv_http_head_t *h);
/* The join stage's way to the relay: the joined request takes the abandoned one's upstream
 * exchange as its own (no retry check, breaker or limit: it holds that request's slot). */
lv_stage_verdict_t lv__relay_joined(lv_req_t *r, const lv_http_head_t *h);

/* A new request whose head was just parsed (conn.c): what it is (proxy/request.c), then the
 * stages from the first. */
void lv__pipeline_start(lv_req_t *r, lv_http_head_t *h);
/* A waiting stage is done with r: the stages after it run, and what they send upstream is
 * flushed (the caller is not inside the connection's read, which would flush it). */
void lv__pipeline_next(lv_req_t *r);
/* The name of the stage r is in, for logs and tests. */
const char *lv__pipeline_stage_name(const lv_req_t *r);

/* Request body bytes from the client (conn.c): the body stage keeps them while it buffers the
 * body before admission; after it, the relay streams them upstream. Returns 0 or an HTTP
 * status that fails the request. */
int lv__pipeline_body(lv_req_t *r, lv_chunk_t *chunk, const char *p, size_t len);
/* The request's last body byte (or its head alone) was read. */
void lv__pipeline_body_done(lv_req_t *r);

/* The body stage's hooks (stage_body.c), while r->body_buffering. lv__body_keep keeps a span;
 * false: it does not fit, so the request went on through the stages with what was buffered,
 * and the relay streams this span and the rest. lv__body_whole: the body is whole, the
 * request goes on. */
bool lv__body_keep(lv_req_t *r, const char *p, size_t len);
void lv__body_whole(lv_req_t *r);

#endif
