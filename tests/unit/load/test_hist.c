/* tests/unit/load/test_hist.c: the log-linear histogram of levee-load: bucket bounds and
 * percentiles on known data within the resolution (1/64). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the units under test in. */
#include "load/hist.c"

static load_hist_t h;

static void test_hist_index_exact_below_128(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 128; v++) {
        assert_int_equal(load_hist_index(v), v);
        assert_int_equal(load_hist_bucket_low((uint32_t)v), v);
        assert_int_equal(load_hist_bucket_high((uint32_t)v), v);
    }
}

static void test_hist_index_buckets_contain_value(void **state)
{
    (void)state;
    for (uint64_t v = 1; v < ((uint64_t)1 << 39); v = v * 3 + 1) {
        uint32_t i = load_hist_index(v);
        assert_true(i < LOAD_HIST_BUCKETS);
        assert_true(load_hist_bucket_low(i) <= v);
        assert_true(load_hist_bucket_high(i) >= v);
        /* Resolution: bucket width below 1/64 of its low bound. */
        uint64_t w = load_hist_bucket_high(i) - load_hist_bucket_low(i);
        assert_true(w * 64 <= load_hist_bucket_low(i) + 64);
    }
}

static void test_hist_quantile_uniform_1_to_10000(void **state)
{
    (void)state;
    load_hist_reset(&h);
    for (uint64_t v = 1; v <= 10000; v++)
        load_hist_record(&h, v);
    assert_int_equal(h.count, 10000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 10000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    const double exact[] = {5000, 9000, 9900, 9990};
    for (int k = 0; k < 4; k++) {
        double got = (double)load_hist_quantile(&h, qs[k]);
        assert_true(got >= exact[k]);
        assert_true(got <= exact[k] * (1.0 + 1.0 / 64));
    }
    assert_int_equal(load_hist_quantile(&h, 1.0), 10000);
}

static void test_hist_quantile_small_values_exact(void **state)
{
    (void)state;
    load_hist_reset(&h);
    for (int i = 0; i < 90; i++)
        load_hist_record(&h, 10);
    for (int i = 0; i < 10; i++)
        load_hist_record(&h, 100);
    assert_int_equal(load_hist_quantile(&h, 0.5), 10);
    assert_int_equal(load_hist_quantile(&h, 0.9), 10);
    assert_int_equal(load_hist_quantile(&h, 0.91), 100);
    assert_int_equal(load_hist_quantile(&h, 0.999), 100);
}

static void test_hist_quantile_never_above_max(void **state)
{
    (void)state;
    load_hist_reset(&h);
    load_hist_record(&h, 1000001);
    assert_int_equal(load_hist_quantile(&h, 0.5), 1000001);
    load_hist_reset(&h);
    assert_int_equal(load_hist_quantile(&h, 0.99), 0);
}

static void test_hist_merge_adds_counts(void **state)
{
    (void)state;
    static load_hist_t a, b;
    load_hist_reset(&a);
    load_hist_reset(&b);
    load_hist_record(&a, 5);
    load_hist_record(&b, 500000);
    load_hist_merge(&a, &b);
    assert_int_equal(a.count, 2);
    assert_int_equal(a.min, 5);
    assert_int_equal(a.max, 500000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_index_exact_below_128),
        cmocka_unit_test(test_hist_index_buckets_contain_value),
        cmocka_unit_test(test_hist_quantile_uniform_1_to_10000),
        cmocka_unit_test(test_hist_quantile_small_values_exact),
        cmocka_unit_test(test_hist_quantile_never_above_max),
        cmocka_unit_test(test_hist_merge_adds_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
