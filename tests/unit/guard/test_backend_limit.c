/* tests/unit/guard/test_backend_limit.c: the shared limit of a backend (guard/backend_limit.h):
 * one limit for every worker, no queue jumping, slots handed to the most critical waiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "guard/backend_limit.h"

#define SEC 1000000ull

static uint32_t woken[LV_BACKEND_MAX_WORKERS];

static void count_wake(void *ctx, uint32_t w)
{
    (void)ctx;
    woken[w]++;
}

/* A table for n workers and its backend "a", limit fixed at lim (min = max = initial). */
static lv_backend_limit_t *backend(lv_backend_limits_t **t, uint32_t n, uint32_t lim)
{
    memset(woken, 0, sizeof woken);
    *t = lv_backend_limits_new(n, count_wake, NULL);
    assert_non_null(*t);
    lv_limiter_conf_t c = {lim, lim, lim};
    lv_backend_limit_t *b = lv_backend_limits_get(*t, "127.0.0.1:1", &c, 1000 * SEC);
    assert_non_null(b);
    return b;
}

static void test_lv_backend_limits_get_same_key_same_backend(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *a = backend(&t, 2, 4);
    lv_limiter_conf_t c = {20, 1, 1000};
    assert_ptr_equal(lv_backend_limits_get(t, "127.0.0.1:1", &c, 0), a);
    lv_backend_limit_t *b = lv_backend_limits_get(t, "127.0.0.1:2", &c, 0);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_string_equal(lv_backend_limit_key(b), "127.0.0.1:2");
    assert_int_equal(lv_backend_limit_limit(b), 5); /* its first probe: a quarter of 20 */
    lv_backend_limits_free(t);
}

static void test_lv_backend_limit_acquire_one_limit_for_all_workers(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *b = backend(&t, 2, 3);
    /* Workers share the count: three slots in all, not three each. */
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_false(lv_backend_limit_acquire(b, 0, 1000 * SEC));
    assert_int_equal(lv_backend_limit_in_flight(b), 3);
    assert_true(lv_backend_limit_full(b));
    lv_backend_limits_free(t);
}

static void test_lv_backend_limit_release_hands_to_most_critical_worker(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *b = backend(&t, 3, 2);
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    /* Worker 0 has a sheddable waiter, worker 2 a critical one. */
    assert_false(lv_backend_limit_wait(b, 0, 2, +1, 1000 * SEC));
    assert_false(lv_backend_limit_wait(b, 2, 0, +1, 1000 * SEC));
    /* A new default request does not jump ahead of the critical one. */
    assert_false(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    /* Worker 0 frees a slot: it goes to worker 2's critical waiter, not to its own. */
    assert_false(lv_backend_limit_release(b, 0, 1001 * SEC, 1000, LV_LIMIT_IGNORE, false));
    assert_int_equal(woken[2], 1);
    assert_int_equal(lv_backend_limit_handed(b, 2), 1);
    assert_int_equal(lv_backend_limit_handed(b, 0), 0);
    lv_backend_limit_served(b, 2, 0);
    /* The next slot goes to worker 0's sheddable waiter, its own. */
    assert_true(lv_backend_limit_release(b, 0, 1001 * SEC, 1000, LV_LIMIT_IGNORE, false));
    assert_int_equal(lv_backend_limit_handed(b, 0), 1);
    lv_backend_limit_served(b, 0, 2);
    assert_int_equal(lv_backend_limit_waiting(b), 0);
    assert_int_equal(lv_backend_limit_in_flight(b), 2);
    lv_backend_limits_free(t);
}

static void test_lv_backend_limit_wait_leaving_waiter_passes_its_slot_on(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *b = backend(&t, 2, 1);
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_false(lv_backend_limit_wait(b, 0, 1, +1, 1000 * SEC + 1));
    assert_false(lv_backend_limit_wait(b, 1, 1, +1, 1000 * SEC + 2));
    assert_false(lv_backend_limit_wait(b, 1, 1, +1, 1000 * SEC + 3));
    /* Worker 1 releases: worker 0's waiter has waited longest, the slot goes there. */
    assert_false(lv_backend_limit_release(b, 1, 1001 * SEC, 1000, LV_LIMIT_IGNORE, false));
    assert_int_equal(lv_backend_limit_handed(b, 0), 1);
    assert_int_equal(woken[0], 1);
    /* Its waiter leaves (client gone) before taking it: the slot goes to worker 1's. */
    assert_false(lv_backend_limit_wait(b, 0, 1, -1, 0));
    assert_int_equal(lv_backend_limit_handed(b, 0), 0);
    assert_int_equal(lv_backend_limit_handed(b, 1), 1);
    assert_int_equal(woken[1], 1);
    assert_int_equal(lv_backend_limit_in_flight(b), 1);
    lv_backend_limits_free(t);
}

/* Slots go to the oldest waiter across the workers, one FIFO: a worker with many waiters
 * (most of the connections) does not starve one with few. */
static void test_lv_backend_limit_release_serves_oldest_waiter_first(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *b = backend(&t, 2, 2);
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    assert_true(lv_backend_limit_acquire(b, 1, 1000 * SEC));
    uint64_t t0 = 1000 * SEC;
    assert_false(lv_backend_limit_wait(b, 0, 1, +1, t0 + 1));
    assert_false(lv_backend_limit_wait(b, 1, 1, +1, t0 + 2)); /* worker 1's lone waiter */
    for (int i = 0; i < 10; i++)
        assert_false(lv_backend_limit_wait(b, 0, 1, +1, t0 + 3 + (uint64_t)i));
    /* Two releases by worker 0: its oldest, then worker 1's (older than its next ones). */
    assert_true(lv_backend_limit_release(b, 0, t0 + 10, 1000, LV_LIMIT_IGNORE, false));
    assert_false(lv_backend_limit_release(b, 0, t0 + 10, 1000, LV_LIMIT_IGNORE, false));
    assert_int_equal(lv_backend_limit_handed(b, 0), 1);
    assert_int_equal(lv_backend_limit_handed(b, 1), 1);
    lv_backend_limits_free(t);
}

static void test_lv_backend_limit_wait_free_slot_is_handed_at_once(void **state)
{
    (void)state;
    lv_backend_limits_t *t;
    lv_backend_limit_t *b = backend(&t, 2, 1);
    /* A request that found the limit full, and queued after the slot freed: served now. */
    assert_true(lv_backend_limit_wait(b, 1, 2, +1, 1000 * SEC));
    assert_int_equal(lv_backend_limit_handed(b, 1), 1);
    assert_int_equal(lv_backend_limit_in_flight(b), 1);
    lv_backend_limit_served(b, 1, 2);
    assert_false(lv_backend_limit_release(b, 1, 1001 * SEC, 0, LV_LIMIT_IGNORE, false));
    assert_int_equal(lv_backend_limit_in_flight(b), 0);
    lv_backend_limits_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_backend_limits_get_same_key_same_backend),
        cmocka_unit_test(test_lv_backend_limit_acquire_one_limit_for_all_workers),
        cmocka_unit_test(test_lv_backend_limit_release_hands_to_most_critical_worker),
        cmocka_unit_test(test_lv_backend_limit_wait_leaving_waiter_passes_its_slot_on),
        cmocka_unit_test(test_lv_backend_limit_release_serves_oldest_waiter_first),
        cmocka_unit_test(test_lv_backend_limit_wait_free_slot_is_handed_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
