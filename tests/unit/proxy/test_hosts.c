/* tests/unit/proxy/test_hosts.c: the shared host health table (src/proxy/hosts.c): lookup,
 * ejection after consecutive failures, the growing backoff, probation, the cap, successes and
 * health-check streaks. Time is passed in, so nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/hosts.h"

static const lv_outlier_conf_t conf = {3, 1000, 5000};

static void test_lv_hosts_get_same_entry_and_full_table(void **state)
{
    (void)state;
    lv_hosts_t *t = lv_hosts_new(2);
    lv_host_health_t *a = lv_hosts_get(t, "app", "127.0.0.1:1");
    assert_non_null(a);
    assert_ptr_equal(lv_hosts_get(t, "app", "127.0.0.1:1"), a);
    lv_host_health_t *b = lv_hosts_get(t, "other", "127.0.0.1:1");
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_null(lv_hosts_get(t, "app", "127.0.0.1:2")); /* full: unwatched, never a crash */
    assert_ptr_equal(lv_hosts_get(t, "other", "127.0.0.1:1"), b);
    lv_hosts_free(t);
}

static void test_lv_host_note_failure_ejects_after_threshold_with_growing_backoff(void **state)
{
    (void)state;
    lv_hosts_t *t = lv_hosts_new(4);
    lv_host_health_t *h = lv_hosts_get(t, "app", "h");
    uint64_t now = 10000;
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now), 0);
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_RESET, &conf, true, now), 0);
    assert_true(lv_host_usable(h, now));
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now), 1000);
    assert_false(lv_host_usable(h, now + 999));
    assert_true(lv_host_usable(h, now + 1000));
    /* Failures of requests sent before the ejection do not extend it. */
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now + 10), 0);
    /* Back on probation: the first failure ejects again, twice as long, then the cap. */
    now += 1000;
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now), 2000);
    now += 2000;
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now), 4000);
    now += 4000;
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, true, now), 5000);
    assert_int_equal(lv_counter_get(&h->ejections), 4);
    assert_int_equal(lv_counter_get(&h->failures[LV_UPFAIL_CONNECT]), 6);
    assert_int_equal(lv_counter_get(&h->failures[LV_UPFAIL_RESET]), 1);
    lv_hosts_free(t);
}

static void test_lv_host_note_success_ends_probation(void **state)
{
    (void)state;
    lv_hosts_t *t = lv_hosts_new(4);
    lv_host_health_t *h = lv_hosts_get(t, "app", "h");
    uint64_t now = 5000;
    for (int i = 0; i < 3; i++)
        lv_host_note_failure(h, LV_UPFAIL_CUT, &conf, true, now);
    assert_false(lv_host_usable(h, now));
    now += 1000;
    assert_true(lv_host_note_success(h)); /* back: logged once */
    assert_false(lv_host_note_success(h));
    /* No longer on probation: it takes the full threshold again, and the base time. */
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CUT, &conf, true, now), 0);
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CUT, &conf, true, now), 0);
    assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CUT, &conf, true, now), 1000);
    lv_hosts_free(t);
}

static void test_lv_host_note_failure_never_ejects_when_not_allowed(void **state)
{
    (void)state;
    lv_hosts_t *t = lv_hosts_new(4);
    lv_host_health_t *h = lv_hosts_get(t, "app", "h");
    for (int i = 0; i < 10; i++)
        assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &conf, false, 100), 0);
    assert_true(lv_host_usable(h, 100));
    lv_outlier_conf_t off = {0, 1000, 5000};
    for (int i = 0; i < 10; i++)
        assert_int_equal(lv_host_note_failure(h, LV_UPFAIL_CONNECT, &off, true, 100), 0);
    assert_true(lv_host_usable(h, 100));
    lv_hosts_free(t);
}

static void test_lv_host_note_check_streaks(void **state)
{
    (void)state;
    lv_hosts_t *t = lv_hosts_new(4);
    lv_host_health_t *h = lv_hosts_get(t, "app", "h");
    int32_t streak = 0;
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), 0);
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), 0);
    assert_int_equal(lv_host_note_check(h, true, &streak, 2, 3), 0); /* a success resets */
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), 0);
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), 0);
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), -1);
    assert_false(lv_host_usable(h, 0));
    assert_int_equal(lv_host_note_check(h, false, &streak, 2, 3), 0); /* down once */
    assert_int_equal(lv_host_note_check(h, true, &streak, 2, 3), 0);
    assert_int_equal(lv_host_note_check(h, true, &streak, 2, 3), 1);
    assert_true(lv_host_usable(h, 0));
    assert_int_equal(lv_counter_get(&h->check_failures), 6);
    assert_int_equal(lv_counter_get(&h->check_successes), 3);
    lv_hosts_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_hosts_get_same_entry_and_full_table),
        cmocka_unit_test(test_lv_host_note_failure_ejects_after_threshold_with_growing_backoff),
        cmocka_unit_test(test_lv_host_note_success_ends_probation),
        cmocka_unit_test(test_lv_host_note_failure_never_ejects_when_not_allowed),
        cmocka_unit_test(test_lv_host_note_check_streaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
