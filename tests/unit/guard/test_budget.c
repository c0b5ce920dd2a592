/* tests/unit/guard/test_budget.c: the retry budget of guard/budget.h on a fake clock
 * (times passed in, microseconds): the share of requests, the floor, the sliding window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "guard/budget.h"

#define MS(x) ((uint64_t)(x)*1000u)
#define T0 MS(777000)

static void requests(lv_budget_t *b, uint64_t now, int n)
{
    for (int i = 0; i < n; i++)
        lv_budget_note_request(b, now);
}

/* Takes retries until the first denial; returns how many were granted. */
static int drain(lv_budget_t *b, uint64_t now)
{
    int n = 0;
    while (lv_budget_try_retry(b, now))
        n++;
    return n;
}

static void test_lv_budget_try_retry_ten_percent_of_1000(void **state)
{
    (void)state;
    lv_budget_conf_t c = {.ratio = 0.1, .min_per_s = 0, .window_ms = 10000};
    lv_budget_t b;
    lv_budget_init(&b, &c, T0);
    for (int i = 0; i < 1000; i++)
        lv_budget_note_request(&b, T0 + MS(i)); /* spread over one second */
    for (int i = 0; i < 100; i++)
        assert_true(lv_budget_try_retry(&b, T0 + MS(1000)));
    assert_false(lv_budget_try_retry(&b, T0 + MS(1000)));
    assert_false(lv_budget_try_retry(&b, T0 + MS(1001)));
    assert_int_equal(b.used, 100);
    assert_int_equal(b.denied, 2);
    /* Ten more first tries buy exactly one more retry. */
    requests(&b, T0 + MS(1002), 10);
    assert_int_equal(drain(&b, T0 + MS(1002)), 1);
}

static void test_lv_budget_try_retry_min_per_s_at_low_traffic(void **state)
{
    (void)state;
    lv_budget_conf_t c = {.ratio = 0.1, .min_per_s = 3, .window_ms = 10000};
    lv_budget_t b;
    lv_budget_init(&b, &c, T0);
    /* No traffic at all: the floor, 3/s over a 10 s window. */
    assert_int_equal(drain(&b, T0), 30);
    assert_int_equal(b.denied, 1);
    /* 5 requests are worth half a retry: still the floor. */
    lv_budget_init(&b, &c, T0);
    requests(&b, T0, 5);
    assert_int_equal(drain(&b, T0), 30);
    /* The floor adds to the share; it is not a minimum of it. */
    lv_budget_init(&b, &c, T0);
    requests(&b, T0, 200);
    assert_int_equal(drain(&b, T0), 50);
}

static void test_lv_budget_try_retry_window_slides(void **state)
{
    (void)state;
    lv_budget_conf_t c = {.ratio = 0.1, .min_per_s = 0, .window_ms = 10000};
    lv_budget_t b;
    lv_budget_init(&b, &c, T0);
    requests(&b, T0, 1000);
    assert_int_equal(drain(&b, T0), 100);
    requests(&b, T0 + MS(5000), 1000);
    assert_int_equal(drain(&b, T0 + MS(5000)), 100); /* 2000 requests, 200 retries */
    assert_false(lv_budget_try_retry(&b, T0 + MS(9999)));
    /* The first second leaves with its requests and its retries: 1000 and 100 remain. */
    assert_false(lv_budget_try_retry(&b, T0 + MS(10000)));
    requests(&b, T0 + MS(10000), 10);
    assert_int_equal(drain(&b, T0 + MS(10000)), 1);
    /* Everything has left. */
    assert_false(lv_budget_try_retry(&b, T0 + MS(15001)));
    requests(&b, T0 + MS(15001), 20);
    assert_int_equal(drain(&b, T0 + MS(15001)), 2);
}

static void test_lv_budget_try_retry_long_idle_gap(void **state)
{
    (void)state;
    lv_budget_conf_t c = {.ratio = 0.5, .min_per_s = 1, .window_ms = 2000};
    lv_budget_t b;
    lv_budget_init(&b, &c, T0);
    requests(&b, T0, 100);
    assert_int_equal(drain(&b, T0), 52); /* 50 + 1/s over 2 s */
    uint64_t later = T0 + MS(86400u * 1000u + 333);
    assert_int_equal(drain(&b, later), 2); /* only the floor: no stale requests or retries */
    requests(&b, later, 4);
    assert_int_equal(drain(&b, later), 2);
}

static void test_lv_budget_try_retry_zero_budget_denies(void **state)
{
    (void)state;
    lv_budget_conf_t c = {.ratio = 0.0, .min_per_s = 0, .window_ms = 0};
    lv_budget_t b;
    lv_budget_init(&b, &c, T0);
    assert_int_equal(b.conf.window_ms, 10000); /* unset window: default */
    requests(&b, T0, 1000);
    assert_false(lv_budget_try_retry(&b, T0));
    assert_int_equal(b.used, 0);
    assert_int_equal(b.denied, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_budget_try_retry_ten_percent_of_1000),
        cmocka_unit_test(test_lv_budget_try_retry_min_per_s_at_low_traffic),
        cmocka_unit_test(test_lv_budget_try_retry_window_slides),
        cmocka_unit_test(test_lv_budget_try_retry_long_idle_gap),
        cmocka_unit_test(test_lv_budget_try_retry_zero_budget_denies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
