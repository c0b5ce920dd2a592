/* tests/unit/load/test_user.c: the user model state machine: journey, timeout -> F5 -> retry
 * -> success, Retry-After obeyed (not counted as F5), max tries, 4xx leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the units under test in. */
#include "load/rng.c"
#include "load/user.c"

static load_user_params_t params(uint32_t steps, double f5, double obey)
{
    load_user_params_t p;
    load_user_params_default(&p);
    p.n_steps = steps;
    p.f5_prob = f5;
    p.obey_retry_after = obey;
    p.max_tries = 3;
    p.retry_delay_ms = load_dist_fixed(500);
    p.patience_ms = load_dist_fixed(2000);
    return p;
}

static void test_user_journey_two_steps_success(void **state)
{
    (void)state;
    load_user_params_t p = params(2, 0, 0);
    load_rng_t r;
    load_rng_seed(&r, 1);
    load_user_model_t m;
    load_act_t a = load_user_begin(&m, &p, &r);
    assert_int_equal(a.kind, LOAD_ACT_SEND);
    assert_int_equal(a.try_kind, LOAD_TRY_FIRST);
    assert_true(m.patience_ms == 2000);
    a = load_user_on_response(&m, &p, &r, 200, -1);
    assert_int_equal(a.kind, LOAD_ACT_SEND);
    assert_int_equal(m.step, 1);
    a = load_user_on_response(&m, &p, &r, 302, -1);
    assert_int_equal(a.kind, LOAD_ACT_DONE_OK);
}

static void test_user_timeout_f5_retry_then_success(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 1.0, 0);
    load_rng_t r;
    load_rng_seed(&r, 2);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    load_act_t a = load_user_on_failure(&m, &p, &r); /* patience ran out */
    assert_int_equal(a.kind, LOAD_ACT_SEND);
    assert_int_equal(a.try_kind, LOAD_TRY_F5);
    assert_true(a.delay_ms == 500);
    assert_int_equal(m.tries, 2);
    a = load_user_on_response(&m, &p, &r, 200, -1);
    assert_int_equal(a.kind, LOAD_ACT_DONE_OK);
}

static void test_user_5xx_gives_up_after_max_tries(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 1.0, 0);
    load_rng_t r;
    load_rng_seed(&r, 3);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    assert_int_equal(load_user_on_response(&m, &p, &r, 500, -1).kind, LOAD_ACT_SEND);
    assert_int_equal(load_user_on_response(&m, &p, &r, 502, -1).kind, LOAD_ACT_SEND);
    assert_int_equal(load_user_on_response(&m, &p, &r, 503, -1).kind, LOAD_ACT_DONE_FAIL);
}

static void test_user_no_f5_leaves_at_first_failure(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 0.0, 0);
    load_rng_t r;
    load_rng_seed(&r, 4);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    assert_int_equal(load_user_on_failure(&m, &p, &r).kind, LOAD_ACT_DONE_FAIL);
}

static void test_user_retry_after_obeyed_with_jitter(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 0.0, 1.0); /* never F5, always obey */
    load_rng_t r;
    load_rng_seed(&r, 5);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    assert_int_equal(m.obeys, 1);
    load_act_t a = load_user_on_response(&m, &p, &r, 503, 2000);
    assert_int_equal(a.kind, LOAD_ACT_SEND);
    assert_int_equal(a.try_kind, LOAD_TRY_OBEYED);
    assert_true(a.delay_ms >= 2000 && a.delay_ms < 2000 * 1.25 + 1e-9);
    assert_int_equal(m.tries, 1); /* not an F5 */
    a = load_user_on_response(&m, &p, &r, 429, 1000);
    assert_int_equal(a.try_kind, LOAD_TRY_OBEYED);
    a = load_user_on_response(&m, &p, &r, 200, -1);
    assert_int_equal(a.kind, LOAD_ACT_DONE_OK);
}

static void test_user_retry_after_ignored_by_non_obeying(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 1.0, 0.0);
    load_rng_t r;
    load_rng_seed(&r, 6);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    assert_int_equal(m.obeys, 0);
    load_act_t a = load_user_on_response(&m, &p, &r, 503, 30000);
    assert_int_equal(a.try_kind, LOAD_TRY_F5);
    assert_true(a.delay_ms == 500); /* its own F5 delay, not the 30 s asked */
}

static void test_user_4xx_leaves(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 1.0, 0);
    load_rng_t r;
    load_rng_seed(&r, 7);
    load_user_model_t m;
    load_user_begin(&m, &p, &r);
    assert_int_equal(load_user_on_response(&m, &p, &r, 404, -1).kind, LOAD_ACT_DONE_FAIL);
}

static void test_user_obey_fraction_is_respected(void **state)
{
    (void)state;
    load_user_params_t p = params(1, 0, 0.3);
    load_rng_t r;
    load_rng_seed(&r, 8);
    int obey = 0;
    for (int i = 0; i < 10000; i++) {
        load_user_model_t m;
        load_user_begin(&m, &p, &r);
        obey += m.obeys;
    }
    assert_true(obey > 2800 && obey < 3200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_journey_two_steps_success),
        cmocka_unit_test(test_user_timeout_f5_retry_then_success),
        cmocka_unit_test(test_user_5xx_gives_up_after_max_tries),
        cmocka_unit_test(test_user_no_f5_leaves_at_first_failure),
        cmocka_unit_test(test_user_retry_after_obeyed_with_jitter),
        cmocka_unit_test(test_user_retry_after_ignored_by_non_obeying),
        cmocka_unit_test(test_user_4xx_leaves),
        cmocka_unit_test(test_user_obey_fraction_is_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
