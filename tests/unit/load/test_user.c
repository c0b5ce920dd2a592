/* tests/unit/load/test_user.c: the user model state machine: journey, timeout -> F5 -> retry
 * -> success, Retry-After obeyed (not counted as F5), max tries, 4xx leaves, the attempt number
 * sent as X-Attempt. */
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

/* X-Attempt: 1 for a step's first try, +1 per F5 and per Retry-After wait, back to 1 on the
 * next step. */
static void test_user_attempt_number(void **state)
{
    (void)state;
    load_user_params_t p = params(2, 1.0, 1.0); /* always F5, always obey */
    load_rng_t r;
    load_rng_seed(&r, 9);
    load_user_model_t m;
    load_act_t a = load_user_begin(&m, &p, &r);
    assert_int_equal(load_user_attempt(&m), 1);
    a = load_user_on_response(&m, &p, &r, 503, 1000); /* the wait page, obeyed */
    assert_int_equal(a.try_kind, LOAD_TRY_OBEYED);
    assert_int_equal(load_user_attempt(&m), 2);
    a = load_user_on_response(&m, &p, &r, 500, -1); /* F5 */
    assert_int_equal(a.try_kind, LOAD_TRY_F5);
    assert_int_equal(load_user_attempt(&m), 3);
    a = load_user_on_failure(&m, &p, &r); /* patience ran out: F5 again (tries 3 of 3) */
    assert_int_equal(a.try_kind, LOAD_TRY_F5);
    assert_int_equal(load_user_attempt(&m), 4);
    a = load_user_on_response(&m, &p, &r, 200, -1); /* next step: a first try again */
    assert_int_equal(a.try_kind, LOAD_TRY_FIRST);
    assert_int_equal(m.step, 1);
    assert_int_equal(load_user_attempt(&m), 1);
    a = load_user_on_failure(&m, &p, &r);
    assert_int_equal(a.try_kind, LOAD_TRY_F5);
    assert_int_equal(load_user_attempt(&m), 2);
}

/* Whatever happens, a request is sent with attempt >= 2 exactly when it is a retry (F5 or
 * obeyed), so the backend's count of X-Attempt >= 2 is the count of retries that reached it,
 * and the X-Retry the engine sends for a retry's try_kind goes with every such request. */
static void test_user_attempt_matches_try_kind(void **state)
{
    (void)state;
    load_user_params_t p = params(3, 0.8, 0.5);
    p.max_tries = 4;
    load_rng_t r, outcome;
    load_rng_seed(&r, 10);
    load_rng_seed(&outcome, 11);
    static const int statuses[] = {200, 200, 302, 429, 500, 502, 503, 504, 404};
    uint64_t sends = 0, retries = 0, marked = 0;
    for (int u = 0; u < 2000; u++) {
        load_user_model_t m;
        load_act_t a = load_user_begin(&m, &p, &r);
        while (a.kind == LOAD_ACT_SEND) {
            uint32_t att = load_user_attempt(&m);
            assert_true(att >= 1 && att <= p.max_tries + p.max_waits);
            assert_int_equal(att >= 2, a.try_kind != LOAD_TRY_FIRST);
            sends++;
            retries += a.try_kind != LOAD_TRY_FIRST;
            marked += att >= 2;
            double x = load_rng_uniform(&outcome);
            if (x < 0.2) {
                a = load_user_on_failure(&m, &p, &r);
            } else {
                int st = statuses[(int)(load_rng_uniform(&outcome) * 9) % 9];
                a = load_user_on_response(&m, &p, &r, st, x < 0.6 ? 1000 : -1);
            }
        }
    }
    assert_int_equal(marked, retries);
    assert_true(retries > 1000 && retries < sends);
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
        cmocka_unit_test(test_user_attempt_number),
        cmocka_unit_test(test_user_attempt_matches_try_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
