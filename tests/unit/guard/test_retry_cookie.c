/* tests/unit/guard/test_retry_cookie.c: the lv_retry cookie of guard/retry_cookie.h: encode
 * and parse round trip, the resource binding, and that altered or malformed values are none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "guard/retry_cookie.h"

static uint64_t res_of(const char *s)
{
    return lv_retry_cookie_resource(s, strlen(s));
}

static void test_lv_retry_cookie_round_trip(void **state)
{
    (void)state;
    uint64_t res = res_of("GET example.test /play");
    lv_retry_cookie_t c = {lv_retry_cookie_new_id(), 123456789012ull}, out = {0, 0};
    char v[LV_RETRY_COOKIE_LEN];
    lv_retry_cookie_encode(&c, res, v);
    assert_int_equal(v[16], '.');
    assert_int_equal(v[33], '.');
    for (size_t i = 0; i < sizeof v; i++)
        assert_true(v[i] == '.' || (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'));
    assert_true(lv_retry_cookie_try_parse(v, sizeof v, res, &out));
    assert_true(out.id == c.id);
    assert_true(out.not_before_ms == c.not_before_ms);
    /* The same input makes the same value (the key is per process, not per call). */
    char w[LV_RETRY_COOKIE_LEN];
    lv_retry_cookie_encode(&c, res, w);
    assert_memory_equal(v, w, sizeof v);
}

static void test_lv_retry_cookie_bound_to_resource(void **state)
{
    (void)state;
    uint64_t play = res_of("GET example.test /play"), home = res_of("GET example.test /home");
    assert_true(play != home);
    assert_true(play != 0 && res_of("") != 0);
    lv_retry_cookie_t c = {42, 1000}, out = {7, 7};
    char v[LV_RETRY_COOKIE_LEN];
    lv_retry_cookie_encode(&c, play, v);
    assert_false(lv_retry_cookie_try_parse(v, sizeof v, home, &out));
    assert_true(out.id == 7 && out.not_before_ms == 7); /* untouched on failure */
    assert_true(lv_retry_cookie_try_parse(v, sizeof v, play, &out));
}

static void test_lv_retry_cookie_altered_is_none(void **state)
{
    (void)state;
    uint64_t res = res_of("GET h /x");
    lv_retry_cookie_t c = {0x0123456789abcdefull, 5000}, out;
    char v[LV_RETRY_COOKIE_LEN], w[LV_RETRY_COOKIE_LEN];
    lv_retry_cookie_encode(&c, res, v);
    /* Every single-character change anywhere: another hex digit, a dot moved, uppercase. */
    for (size_t i = 0; i < sizeof v; i++) {
        memcpy(w, v, sizeof v);
        w[i] = w[i] == '0' ? '1' : '0';
        assert_false(lv_retry_cookie_try_parse(w, sizeof w, res, &out));
        memcpy(w, v, sizeof v);
        w[i] = w[i] >= 'a' && w[i] <= 'f' ? (char)(w[i] - 'a' + 'A') : 'x';
        assert_false(lv_retry_cookie_try_parse(w, sizeof w, res, &out));
    }
    /* A later not-before with the old MAC (the obvious forgery), and a made-up value. */
    lv_retry_cookie_t later = {c.id, 1};
    lv_retry_cookie_encode(&later, res, w);
    memcpy(w + 34, v + 34, 16);
    assert_false(lv_retry_cookie_try_parse(w, sizeof w, res, &out));
    const char *made_up = "0123456789abcdef.0000000000001388.0000000000000000";
    assert_int_equal(strlen(made_up), LV_RETRY_COOKIE_LEN);
    assert_false(lv_retry_cookie_try_parse(made_up, LV_RETRY_COOKIE_LEN, res, &out));
}

static void test_lv_retry_cookie_malformed_is_none(void **state)
{
    (void)state;
    uint64_t res = res_of("GET h /x");
    lv_retry_cookie_t c = {99, 5000}, out;
    char v[LV_RETRY_COOKIE_LEN + 1];
    lv_retry_cookie_encode(&c, res, v);
    v[LV_RETRY_COOKIE_LEN] = 'a';
    assert_false(lv_retry_cookie_try_parse(v, LV_RETRY_COOKIE_LEN - 1, res, &out));
    assert_false(lv_retry_cookie_try_parse(v, LV_RETRY_COOKIE_LEN + 1, res, &out));
    assert_false(lv_retry_cookie_try_parse(v, 0, res, &out));
    assert_false(lv_retry_cookie_try_parse(NULL, LV_RETRY_COOKIE_LEN, res, &out));
    assert_false(lv_retry_cookie_try_parse("", 0, res, &out));
    /* Id 0 is never made, so never accepted. */
    lv_retry_cookie_t zero = {0, 5000};
    lv_retry_cookie_encode(&zero, res, v);
    assert_false(lv_retry_cookie_try_parse(v, LV_RETRY_COOKIE_LEN, res, &out));
}

static void test_lv_retry_cookie_new_id_differs(void **state)
{
    (void)state;
    uint64_t seen[64];
    for (size_t i = 0; i < 64; i++) {
        seen[i] = lv_retry_cookie_new_id();
        assert_true(seen[i] != 0);
        for (size_t j = 0; j < i; j++)
            assert_true(seen[i] != seen[j]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_retry_cookie_round_trip),
        cmocka_unit_test(test_lv_retry_cookie_bound_to_resource),
        cmocka_unit_test(test_lv_retry_cookie_altered_is_none),
        cmocka_unit_test(test_lv_retry_cookie_malformed_is_none),
        cmocka_unit_test(test_lv_retry_cookie_new_id_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
