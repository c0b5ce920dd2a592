/* guard/breaker.c: the circuit breaker of one service in one worker (closed -> open -> half-open).
 * Owns only the lv_breaker_t it is given; pure logic, no allocation, no clock reads (the caller
 * passes now_us). Runs on its worker's loop only: not thread-safe by design. */
#include "guard/breaker.h"

#include <string.h>

#include "core/common.h"

#define LV_BREAKER_DEF_WINDOW_MS 10000u
#define LV_BREAKER_DEF_MIN_REQUESTS 20u
#define LV_BREAKER_DEF_ERROR_RATE 0.5
#define LV_BREAKER_DEF_COOLDOWN_MS 5000u
#define LV_BREAKER_DEF_PROBES 3u

static void set_state(lv_breaker_t *b, lv_breaker_state_t s)
{
    b->state = s;
    b->transitions++;
}

static void open_now(lv_breaker_t *b, uint64_t now_us)
{
    set_state(b, LV_BREAKER_OPEN);
    b->opened_us = now_us;
    b->probes_out = 0;
    b->probes_ok = 0;
}

/* True when a closed breaker's window says "open": enough requests and a high enough share of
 * failures. At least one failure is needed, so error_rate cannot open a healthy service. */
static bool should_open(lv_breaker_t *b, uint64_t now_us)
{
    uint64_t total, failed;
    lv_window_sums(&b->window, now_us, b->conf.window_ms, &total, &failed);
    if (failed == 0 || total < b->conf.min_requests)
        return false;
    return (double)failed >= b->conf.error_rate * (double)total;
}

void lv_breaker_init(lv_breaker_t *b, const lv_breaker_conf_t *conf, uint64_t now_us)
{
    LV_ASSERT(b != NULL && conf != NULL);
    memset(b, 0, sizeof *b);
    b->conf = *conf;
    /* Zero (unset) fields take the documented defaults; nonsense is clamped, never asserted:
     * it comes from config. */
    if (b->conf.window_ms == 0)
        b->conf.window_ms = LV_BREAKER_DEF_WINDOW_MS;
    if (b->conf.min_requests == 0)
        b->conf.min_requests = 1;
    if (!(b->conf.error_rate > 0.0)) /* also NaN */
        b->conf.error_rate = LV_BREAKER_DEF_ERROR_RATE;
    if (b->conf.error_rate > 1.0)
        b->conf.error_rate = 1.0;
    if (b->conf.cooldown_ms == 0)
        b->conf.cooldown_ms = LV_BREAKER_DEF_COOLDOWN_MS;
    if (b->conf.probes == 0)
        b->conf.probes = LV_BREAKER_DEF_PROBES;
    b->state = LV_BREAKER_CLOSED;
    lv_window_reset(&b->window, now_us);
}

lv_breaker_verdict_t lv_breaker_allow(lv_breaker_t *b, uint64_t now_us)
{
    switch (b->state) {
    case LV_BREAKER_CLOSED:
        return LV_BREAKER_ALLOW;
    case LV_BREAKER_OPEN:
        if (now_us < b->opened_us + (uint64_t)b->conf.cooldown_ms * 1000u)
            return LV_BREAKER_REJECT;
        set_state(b, LV_BREAKER_HALF_OPEN);
        b->probes_out = 0;
        b->probes_ok = 0;
        break;
    case LV_BREAKER_HALF_OPEN:
        break;
    }
    /* Half-open: a slot is either out (in flight) or spent (succeeded); `probes` slots in all. */
    if (b->probes_out + b->probes_ok >= b->conf.probes)
        return LV_BREAKER_REJECT;
    b->probes_out++;
    return LV_BREAKER_PROBE;
}

bool lv_breaker_record(lv_breaker_t *b, uint64_t now_us, bool failure, bool probe)
{
    if (b->state == LV_BREAKER_CLOSED) {
        /* A late probe outcome after the breaker closed is an ordinary outcome. */
        lv_window_add(&b->window, now_us, b->conf.window_ms, 1, failure ? 1 : 0);
        if (failure && should_open(b, now_us)) {
            open_now(b, now_us);
            return true;
        }
        return false;
    }
    /* Open or half-open: only probes speak. Outcomes of requests admitted before the breaker
     * opened are ignored (the window is cleared when it closes again anyway). */
    if (!probe || b->state != LV_BREAKER_HALF_OPEN)
        return false;
    if (b->probes_out > 0)
        b->probes_out--;
    if (failure) {
        open_now(b, now_us);
        return true;
    }
    b->probes_ok++;
    if (b->probes_ok < b->conf.probes)
        return false;
    set_state(b, LV_BREAKER_CLOSED);
    b->probes_out = 0;
    b->probes_ok = 0;
    lv_window_reset(&b->window, now_us);
    return true;
}

void lv_breaker_cancel_probe(lv_breaker_t *b)
{
    if (b->state == LV_BREAKER_HALF_OPEN && b->probes_out > 0)
        b->probes_out--;
}

uint32_t lv_breaker_retry_in_ms(const lv_breaker_t *b, uint64_t now_us)
{
    if (b->state != LV_BREAKER_OPEN)
        return 0;
    uint64_t until = b->opened_us + (uint64_t)b->conf.cooldown_ms * 1000u;
    if (now_us >= until)
        return 0;
    uint64_t ms = (until - now_us + 999u) / 1000u; /* round up: never invite a too-early retry */
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}
