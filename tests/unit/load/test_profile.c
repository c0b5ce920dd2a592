/* tests/unit/load/test_profile.c: rate profiles (ramp, step, spike, plateau, points) and the
 * Poisson arrivals they drive: expected arrivals over a window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the units under test in. */
#include "load/rng.c"
#include "load/profile.c"

static load_profile_t p;

static void test_profile_plateau_cum_is_rate_times_time(void **state)
{
    (void)state;
    load_profile_init(&p);
    assert_int_equal(load_profile_plateau(&p, 200, 10), 0);
    assert_true(fabs(load_profile_cum(&p, 3) - 600) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 10) - 2000) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 20) - 2000) < 1e-9);
    assert_true(fabs(load_profile_rate(&p, 5) - 200) < 1e-9);
}

static void test_profile_ramp_area_is_trapezoid(void **state)
{
    (void)state;
    load_profile_init(&p);
    assert_int_equal(load_profile_ramp(&p, 100, 500, 10), 0);
    assert_true(fabs(load_profile_rate(&p, 5) - 300) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 10) - 3000) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 5) - (100 * 5 + 0.5 * 5 * 200)) < 1e-9);
}

static void test_profile_invert_is_inverse_of_cum(void **state)
{
    (void)state;
    load_profile_init(&p);
    load_profile_ramp(&p, 0, 1000, 5);
    load_profile_plateau(&p, 1000, 5);
    load_profile_ramp(&p, 1000, 10, 5);
    for (double t = 0.01; t < 15; t += 0.37) {
        double l = load_profile_cum(&p, t);
        assert_true(fabs(load_profile_invert(&p, l) - t) < 1e-6);
    }
    assert_true(isinf(load_profile_invert(&p, 1e9)));
}

static void test_profile_step_and_spike(void **state)
{
    (void)state;
    load_profile_init(&p);
    load_profile_plateau(&p, 100, 2);
    load_profile_spike(&p, 1000, 1);
    load_profile_plateau(&p, 100, 2);
    assert_true(fabs(load_profile_rate(&p, 1) - 100) < 1e-9);
    assert_true(fabs(load_profile_rate(&p, 2.5) - 1000) < 1e-9);
    assert_true(fabs(load_profile_rate(&p, 4) - 100) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 5) - (200 + 1000 + 200)) < 1e-9);
}

static void test_profile_finish_holds_or_cuts(void **state)
{
    (void)state;
    load_profile_init(&p);
    load_profile_ramp(&p, 0, 100, 10);
    assert_int_equal(load_profile_finish(&p, 5), 0);
    assert_true(fabs(load_profile_end(&p) - 5) < 1e-9);
    assert_true(fabs(load_profile_cum(&p, 100) - 125) < 1e-9);
    load_profile_init(&p);
    load_profile_plateau(&p, 10, 1);
    assert_int_equal(load_profile_finish(&p, 3), 0);
    assert_true(fabs(load_profile_cum(&p, 3) - 30) < 1e-9);
}

static void test_profile_add_rejects_time_going_back(void **state)
{
    (void)state;
    load_profile_init(&p);
    assert_int_equal(load_profile_add(&p, 2, 10), 0);
    assert_true(load_profile_add(&p, 1, 10) != 0);
    assert_true(load_profile_add(&p, 3, -1) != 0);
}

/* Poisson counts over windows: mean close to the integral, for a plateau and a ramp. */
static void test_arrivals_count_matches_expected(void **state)
{
    (void)state;
    load_profile_init(&p);
    load_profile_plateau(&p, 1000, 10);
    load_profile_ramp(&p, 1000, 3000, 10);
    load_profile_finish(&p, 20);
    load_rng_t r;
    load_rng_seed(&r, 42);
    load_arrivals_t a;
    load_arrivals_init(&a, &p);
    double n_first = 0, n_second = 0, n_window = 0, last = 0;
    for (;;) {
        double t = load_arrivals_next(&a, &r);
        if (!(t < 20))
            break;
        assert_true(t >= last);
        last = t;
        if (t < 10)
            n_first++;
        else
            n_second++;
        if (t >= 12 && t < 13)
            n_window++;
    }
    /* 10000 expected, sd 100; 20000 expected, sd ~141; window: 1000*[12..13] area = 1500. */
    assert_true(fabs(n_first - 10000) < 500);
    assert_true(fabs(n_second - 20000) < 700);
    double exp_w = load_profile_cum(&p, 13) - load_profile_cum(&p, 12);
    assert_true(fabs(exp_w - 1500) < 1e-6);
    assert_true(fabs(n_window - exp_w) < 5 * sqrt(exp_w));
}

static void test_arrivals_same_seed_same_schedule(void **state)
{
    (void)state;
    load_profile_init(&p);
    load_profile_plateau(&p, 50, 4);
    load_rng_t r1, r2;
    load_rng_seed(&r1, 7);
    load_rng_seed(&r2, 7);
    load_arrivals_t a1, a2;
    load_arrivals_init(&a1, &p);
    load_arrivals_init(&a2, &p);
    for (int i = 0; i < 100; i++)
        assert_true(load_arrivals_next(&a1, &r1) == load_arrivals_next(&a2, &r2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_plateau_cum_is_rate_times_time),
        cmocka_unit_test(test_profile_ramp_area_is_trapezoid),
        cmocka_unit_test(test_profile_invert_is_inverse_of_cum),
        cmocka_unit_test(test_profile_step_and_spike),
        cmocka_unit_test(test_profile_finish_holds_or_cuts),
        cmocka_unit_test(test_profile_add_rejects_time_going_back),
        cmocka_unit_test(test_arrivals_count_matches_expected),
        cmocka_unit_test(test_arrivals_same_seed_same_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
