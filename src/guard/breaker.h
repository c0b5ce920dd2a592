/* guard/breaker.h: the circuit breaker of one service in one worker: opens on the error or
 * timeout rate over a sliding window, fails fast while open, half-opens with a few probes. */
#ifndef LV_GUARD_BREAKER_H
#define LV_GUARD_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "guard/window.h"

typedef struct lv_breaker_conf {
    uint32_t window_ms;    /* sliding window (default 10000), LV_WINDOW_BUCKETS buckets */
    uint32_t min_requests; /* no decision below this many in the window (default 20) */
    double error_rate;     /* open at or above this failure share (default 0.5) */
    uint32_t cooldown_ms;  /* open -> half-open after this (default 5000) */
    uint32_t probes;       /* requests let through while half-open (default 3) */
} lv_breaker_conf_t;

typedef enum {
    LV_BREAKER_CLOSED = 0,
    LV_BREAKER_OPEN = 1,
    LV_BREAKER_HALF_OPEN = 2
} lv_breaker_state_t;

typedef enum {
    LV_BREAKER_ALLOW = 0,
    LV_BREAKER_REJECT = 1,
    LV_BREAKER_PROBE = 2
} lv_breaker_verdict_t;

typedef struct lv_breaker {
    lv_breaker_conf_t conf;
    lv_breaker_state_t state;
    uint64_t opened_us;
    uint32_t probes_out, probes_ok;
    lv_window_t window;   /* while closed: first = outcomes, second = failures */
    uint64_t transitions; /* state changes so far */
} lv_breaker_t;

void lv_breaker_init(lv_breaker_t *b, const lv_breaker_conf_t *conf, uint64_t now_us);
/* May a request go to the service now? PROBE: yes, as one of the half-open probes (report its
 * outcome with probe = true). */
lv_breaker_verdict_t lv_breaker_allow(lv_breaker_t *b, uint64_t now_us);
/* Records an outcome (failure: 5xx from the upstream, connect error, timeout). Returns true if
 * the state changed. */
bool lv_breaker_record(lv_breaker_t *b, uint64_t now_us, bool failure, bool probe);
/* A probe that never got an outcome (client gone): frees its probe slot. */
void lv_breaker_cancel_probe(lv_breaker_t *b);
/* Milliseconds until an open breaker half-opens (for Retry-After); 0 if not open. */
uint32_t lv_breaker_retry_in_ms(const lv_breaker_t *b, uint64_t now_us);

#endif
