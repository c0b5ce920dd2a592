/* tests/unit/sim/test_dist.c: levee-sim's RNG, distributions, rounding and thrash formula.
 * The sim is an executable, not a library, so its source is compiled into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "sim/dist.c"

#define N_DRAWS 100000

static double mean_of(const sim_dist_t *d, uint64_t seed)
{
    sim_rng_t r;
    lv_sim_rng_seed(&r, seed);
    double sum = 0;
    for (int i = 0; i < N_DRAWS; i++)
        sum += lv_sim_dist_draw(d, &r);
    return sum / N_DRAWS;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_rng_seed_is_deterministic(void **state)
{
    (void)state;
    sim_rng_t a, b;
    lv_sim_rng_seed(&a, 42);
    lv_sim_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_int_equal(lv_sim_rng_next(&a), lv_sim_rng_next(&b));
    lv_sim_rng_seed(&b, 43);
    assert_int_not_equal(lv_sim_rng_next(&a), lv_sim_rng_next(&b));
}

static void test_rng_unit_in_range(void **state)
{
    (void)state;
    sim_rng_t r;
    lv_sim_rng_seed(&r, 7);
    double sum = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        double u = lv_sim_rng_unit(&r);
        assert_true(u > 0 && u <= 1);
        sum += u;
    }
    assert_true(fabs(sum / N_DRAWS - 0.5) < 0.01);
}

static void test_dist_fixed_is_constant(void **state)
{
    (void)state;
    sim_dist_t d;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_FIXED, 12.5, 0, NULL), 0);
    sim_rng_t r;
    lv_sim_rng_seed(&r, 1);
    for (int i = 0; i < 10; i++)
        assert_true(lv_sim_dist_draw(&d, &r) == 12.5);
}

static void test_dist_exp_mean(void **state)
{
    (void)state;
    sim_dist_t d;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_EXP, 10, 0, NULL), 0);
    double m = mean_of(&d, 1);
    assert_true(fabs(m - 10) < 0.2); /* sd of the mean: 10/sqrt(1e5) = 0.03 */
}

static void test_dist_lognormal_mean_and_p99(void **state)
{
    (void)state;
    sim_dist_t d;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_LOGNORMAL, 10, 40, NULL), 0);
    /* closed form first */
    assert_true(fabs(exp(d.mu + d.sigma * d.sigma / 2) - 10) < 1e-9);
    assert_true(fabs(exp(d.mu + SIM_Z99 * d.sigma) - 40) < 1e-9);
    sim_rng_t r;
    lv_sim_rng_seed(&r, 3);
    double *v = malloc(N_DRAWS * sizeof *v);
    assert_non_null(v);
    double sum = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        v[i] = lv_sim_dist_draw(&d, &r);
        sum += v[i];
    }
    qsort(v, N_DRAWS, sizeof *v, cmp_double);
    double p99 = v[(int)(N_DRAWS * 0.99)];
    free(v);
    assert_true(fabs(sum / N_DRAWS - 10) < 0.3);
    assert_true(fabs(p99 - 40) < 2.0);
}

static void test_dist_lognormal_default_p99(void **state)
{
    (void)state;
    sim_dist_t d;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_LOGNORMAL, 5, 0, NULL), 0);
    assert_true(fabs(d.p99_ms - 20) < 1e-9);
}

static void test_dist_lognormal_rejects_impossible(void **state)
{
    (void)state;
    sim_dist_t d;
    const char *why = NULL;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_LOGNORMAL, 10, 9, &why), LV_EINVAL);
    assert_non_null(why);
    why = NULL;
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_LOGNORMAL, 10, 200, &why), LV_EINVAL);
    assert_non_null(why);
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_LOGNORMAL, 10, 140, &why), 0);
    assert_int_equal(lv_sim_dist_init(&d, SIM_DIST_EXP, -1, 0, &why), LV_EINVAL);
}

static void test_dist_parse_names(void **state)
{
    (void)state;
    assert_int_equal(lv_sim_dist_parse("fixed"), SIM_DIST_FIXED);
    assert_int_equal(lv_sim_dist_parse("exp"), SIM_DIST_EXP);
    assert_int_equal(lv_sim_dist_parse("exponential"), SIM_DIST_EXP);
    assert_int_equal(lv_sim_dist_parse("lognormal"), SIM_DIST_LOGNORMAL);
    assert_int_equal(lv_sim_dist_parse("normal"), -1);
}

static void test_thrash_mult_formula(void **state)
{
    (void)state;
    assert_true(lv_sim_thrash_mult(0, 100, 4) == 1.0);
    assert_true(lv_sim_thrash_mult(0.5, 0, 4) == 1.0);
    assert_true(fabs(lv_sim_thrash_mult(0.5, 8, 4) - 2.0) < 1e-12); /* 1 + 0.5*8/4 */
    assert_true(fabs(lv_sim_thrash_mult(1, 40, 4) - 11.0) < 1e-12);
    assert_true(lv_sim_thrash_mult(1, 40, 0) == 1.0);
}

static void test_round_ms_keeps_mean(void **state)
{
    (void)state;
    sim_rng_t r;
    lv_sim_rng_seed(&r, 9);
    uint64_t sum = 0;
    for (int i = 0; i < N_DRAWS; i++)
        sum += lv_sim_round_ms(0.3, &r);
    assert_true(fabs((double)sum / N_DRAWS - 0.3) < 0.01);
    assert_int_equal(lv_sim_round_ms(0, &r), 0);
    assert_int_equal(lv_sim_round_ms(-5, &r), 0);
    assert_int_equal(lv_sim_round_ms(7, &r), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_seed_is_deterministic),
        cmocka_unit_test(test_rng_unit_in_range),
        cmocka_unit_test(test_dist_fixed_is_constant),
        cmocka_unit_test(test_dist_exp_mean),
        cmocka_unit_test(test_dist_lognormal_mean_and_p99),
        cmocka_unit_test(test_dist_lognormal_default_p99),
        cmocka_unit_test(test_dist_lognormal_rejects_impossible),
        cmocka_unit_test(test_dist_parse_names),
        cmocka_unit_test(test_thrash_mult_formula),
        cmocka_unit_test(test_round_ms_keeps_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
