/* tests/unit/guard/test_breaker.c: the circuit breaker of guard/breaker.h on a fake clock
 * (times passed in, microseconds): thresholds, window ageing, half-open probes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "guard/breaker.h"

#define MS(x) ((uint64_t)(x)*1000u)
#define T0 MS(1000000) /* an arbitrary start, far from zero */

static const lv_breaker_conf_t conf = {
    .window_ms = 10000, .min_requests = 20, .error_rate = 0.5, .cooldown_ms = 5000, .probes = 3};

/* Outcomes in the window as of the last one recorded. */
static uint32_t window_total(const lv_breaker_t *b)
{
    uint32_t n = 0;
    for (size_t i = 0; i < LV_WINDOW_BUCKETS; i++)
        n += b->window.first[i];
    return n;
}

static void record_n(lv_breaker_t *b, uint64_t now, int n, bool failure)
{
    for (int i = 0; i < n; i++)
        assert_false(lv_breaker_record(b, now, failure, false));
}

/* Opens a fresh breaker at `at` (20 failures) and checks it. */
static void open_at(lv_breaker_t *b, uint64_t at)
{
    lv_breaker_init(b, &conf, at);
    record_n(b, at, 19, true);
    assert_true(lv_breaker_record(b, at, true, false));
    assert_int_equal(b->state, LV_BREAKER_OPEN);
}

static void test_lv_breaker_record_opens_at_exact_threshold(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 10, false);
    record_n(&b, T0 + MS(1), 9, true); /* 19 requests, 9 failed: not yet */
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(2)), LV_BREAKER_ALLOW);
    assert_true(lv_breaker_record(&b, T0 + MS(2), true, false)); /* 20 requests, 10 failed */
    assert_int_equal(b.state, LV_BREAKER_OPEN);
    assert_int_equal(b.transitions, 1);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(3)), LV_BREAKER_REJECT);
}

static void test_lv_breaker_record_closed_below_min_requests(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 19, true); /* 100 % failures, but only 19 requests */
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_int_equal(b.transitions, 0);
    assert_true(lv_breaker_record(&b, T0, true, false));
    assert_int_equal(b.state, LV_BREAKER_OPEN);
}

static void test_lv_breaker_record_closed_below_error_rate(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 11, false);
    record_n(&b, T0, 10, true); /* 10 / 21 < 0.5 */
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_true(lv_breaker_record(&b, T0, true, false)); /* 11 / 22 */
    assert_int_equal(b.state, LV_BREAKER_OPEN);
}

static void test_lv_breaker_record_successes_never_open(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_conf_t c = conf;
    c.error_rate = 1e-9; /* even the smallest rate needs one failure */
    lv_breaker_init(&b, &c, T0);
    record_n(&b, T0, 100, false);
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_true(lv_breaker_record(&b, T0, true, false));
}

static void test_lv_breaker_record_old_failures_age_out(void **state)
{
    (void)state;
    lv_breaker_t b;
    /* Still in the window one millisecond before it ends... */
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 19, true);
    assert_true(lv_breaker_record(&b, T0 + MS(9999), true, false));
    /* ...gone once the window has passed. */
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 19, true);
    assert_false(lv_breaker_record(&b, T0 + MS(10000), true, false));
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_int_equal(window_total(&b), 1);
    /* Partly: the older half leaves, the newer half stays. */
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 10, true);
    record_n(&b, T0 + MS(5000), 9, true);
    assert_false(lv_breaker_record(&b, T0 + MS(10000), true, false)); /* 9 + 1 */
    assert_int_equal(window_total(&b), 10);
    record_n(&b, T0 + MS(14999), 9, true); /* 19 */
    assert_true(lv_breaker_record(&b, T0 + MS(14999), true, false));
}

static void test_lv_breaker_record_long_idle_gap_clears_window(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 19, true);
    uint64_t later = T0 + MS(3600u * 1000u + 1234); /* an hour of silence */
    assert_false(lv_breaker_record(&b, later, true, false));
    assert_int_equal(window_total(&b), 1);
    /* The buckets stay aligned after the gap: what came after it ages out on time. */
    record_n(&b, later, 18, true);
    assert_false(lv_breaker_record(&b, later + MS(10000), true, false));
    assert_int_equal(window_total(&b), 1);
    /* A gap of a few buckets clears exactly those buckets. */
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 5, true);
    record_n(&b, T0 + MS(3000), 7, true);
    record_n(&b, T0 + MS(12500), 1, true); /* bucket of T0 gone, T0 + 3 s still there */
    assert_int_equal(window_total(&b), 8);
}

static void test_lv_breaker_record_clock_backwards_keeps_counting(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    record_n(&b, T0, 10, true);
    record_n(&b, T0 - MS(50), 9, true);
    assert_true(lv_breaker_record(&b, T0 - MS(50), true, false));
}

static void test_lv_breaker_allow_half_opens_after_cooldown(void **state)
{
    (void)state;
    lv_breaker_t b;
    open_at(&b, T0);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0), 5000);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0 + MS(4999) + 1), 1); /* rounded up */
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(4999)), LV_BREAKER_REJECT);
    assert_int_equal(b.state, LV_BREAKER_OPEN);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(5000)), LV_BREAKER_PROBE);
    assert_int_equal(b.state, LV_BREAKER_HALF_OPEN);
    assert_int_equal(b.transitions, 2);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0 + MS(5000)), 0);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(5001)), LV_BREAKER_PROBE);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(5002)), LV_BREAKER_PROBE);
    /* Exactly `probes` probes; the rest fail fast. */
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(5003)), LV_BREAKER_REJECT);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(9000)), LV_BREAKER_REJECT);
    assert_int_equal(b.probes_out, 3);
}

static void test_lv_breaker_record_all_probes_succeed_closes(void **state)
{
    (void)state;
    lv_breaker_t b;
    open_at(&b, T0);
    uint64_t t = T0 + MS(5000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_PROBE);
    assert_false(lv_breaker_record(&b, t + MS(10), false, true));
    assert_false(lv_breaker_record(&b, t + MS(10), false, true));
    /* Two slots spent, one out: no fourth probe. */
    assert_int_equal(lv_breaker_allow(&b, t + MS(11)), LV_BREAKER_REJECT);
    assert_true(lv_breaker_record(&b, t + MS(12), false, true));
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    assert_int_equal(b.transitions, 3);
    assert_int_equal(window_total(&b), 0); /* the failures that opened it are forgotten */
    assert_int_equal(lv_breaker_allow(&b, t + MS(13)), LV_BREAKER_ALLOW);
    /* A fresh window: it takes min_requests again to open. */
    record_n(&b, t + MS(14), 19, true);
    assert_true(lv_breaker_record(&b, t + MS(14), true, false));
}

static void test_lv_breaker_record_probe_failure_reopens(void **state)
{
    (void)state;
    lv_breaker_t b;
    open_at(&b, T0);
    uint64_t t = T0 + MS(5000);
    assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_PROBE);
    assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_PROBE);
    assert_false(lv_breaker_record(&b, t + MS(100), false, true));
    assert_true(lv_breaker_record(&b, t + MS(200), true, true));
    assert_int_equal(b.state, LV_BREAKER_OPEN);
    assert_int_equal(b.transitions, 3);
    /* A fresh cool-down from the failed probe. */
    assert_int_equal(lv_breaker_retry_in_ms(&b, t + MS(200)), 5000);
    /* The other probe's late outcome changes nothing while open. */
    assert_false(lv_breaker_record(&b, t + MS(300), false, true));
    assert_int_equal(b.state, LV_BREAKER_OPEN);
    assert_int_equal(lv_breaker_allow(&b, t + MS(5199)), LV_BREAKER_REJECT);
    assert_int_equal(lv_breaker_allow(&b, t + MS(5200)), LV_BREAKER_PROBE);
    assert_int_equal(b.probes_ok, 0);
}

static void test_lv_breaker_record_ignores_non_probes_while_open(void **state)
{
    (void)state;
    lv_breaker_t b;
    open_at(&b, T0);
    /* Requests admitted before it opened come back: they neither close nor re-arm it. */
    assert_false(lv_breaker_record(&b, T0 + MS(10), false, false));
    assert_false(lv_breaker_record(&b, T0 + MS(10), true, false));
    assert_int_equal(b.state, LV_BREAKER_OPEN);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0 + MS(10)), 4990);
    assert_int_equal(lv_breaker_allow(&b, T0 + MS(5000)), LV_BREAKER_PROBE);
    assert_false(lv_breaker_record(&b, T0 + MS(5001), true, false));
    assert_int_equal(b.state, LV_BREAKER_HALF_OPEN);
}

static void test_lv_breaker_cancel_probe_frees_slot(void **state)
{
    (void)state;
    lv_breaker_t b;
    open_at(&b, T0);
    uint64_t t = T0 + MS(5000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_PROBE);
    assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_REJECT);
    lv_breaker_cancel_probe(&b);
    assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_PROBE);
    assert_int_equal(lv_breaker_allow(&b, t), LV_BREAKER_REJECT);
    /* A cancel does not count as a success: three real successes are still needed. */
    assert_false(lv_breaker_record(&b, t, false, true));
    assert_false(lv_breaker_record(&b, t, false, true));
    assert_true(lv_breaker_record(&b, t, false, true));
    assert_int_equal(b.state, LV_BREAKER_CLOSED);
    /* Cancel on a closed breaker is harmless. */
    lv_breaker_cancel_probe(&b);
    assert_int_equal(b.probes_out, 0);
}

static void test_lv_breaker_retry_in_ms_zero_unless_open(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_init(&b, &conf, T0);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0), 0);
    open_at(&b, T0);
    assert_int_equal(lv_breaker_retry_in_ms(&b, T0 + MS(6000)), 0); /* overdue, not yet asked */
}

static void test_lv_breaker_init_zero_conf_takes_defaults(void **state)
{
    (void)state;
    lv_breaker_t b;
    lv_breaker_conf_t zero = {0};
    lv_breaker_init(&b, &zero, T0);
    assert_int_equal(b.conf.window_ms, 10000);
    assert_int_equal(b.conf.cooldown_ms, 5000);
    assert_int_equal(b.conf.probes, 3);
    assert_int_equal(b.conf.min_requests, 1);
    assert_true(b.conf.error_rate == 0.5);
    assert_true(lv_breaker_record(&b, T0, true, false)); /* one request, one failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_breaker_record_opens_at_exact_threshold),
        cmocka_unit_test(test_lv_breaker_record_closed_below_min_requests),
        cmocka_unit_test(test_lv_breaker_record_closed_below_error_rate),
        cmocka_unit_test(test_lv_breaker_record_successes_never_open),
        cmocka_unit_test(test_lv_breaker_record_old_failures_age_out),
        cmocka_unit_test(test_lv_breaker_record_long_idle_gap_clears_window),
        cmocka_unit_test(test_lv_breaker_record_clock_backwards_keeps_counting),
        cmocka_unit_test(test_lv_breaker_allow_half_opens_after_cooldown),
        cmocka_unit_test(test_lv_breaker_record_all_probes_succeed_closes),
        cmocka_unit_test(test_lv_breaker_record_probe_failure_reopens),
        cmocka_unit_test(test_lv_breaker_record_ignores_non_probes_while_open),
        cmocka_unit_test(test_lv_breaker_cancel_probe_frees_slot),
        cmocka_unit_test(test_lv_breaker_retry_in_ms_zero_unless_open),
        cmocka_unit_test(test_lv_breaker_init_zero_conf_takes_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
