/* tests/unit/cache/test_l2_event.c: replication events (cache/l2_event.h): field lists and back
 * for every type, unknown fields ignored, malformed entries refused, region names, and the
 * L1-drop messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/l2_event.h"

static bool span_is(lv_str_t s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.p, want, s.len) == 0);
}

static int parse(const char *const *strs, size_t n, lv_l2_event_t *out)
{
    size_t lens[32];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(strs[i]);
    return lv_l2_event_parse(strs, lens, n, out);
}

static void round_trip(const lv_l2_event_t *ev)
{
    const char *argv[2 * LV_L2_EVENT_FIELDS];
    size_t lens[2 * LV_L2_EVENT_FIELDS];
    char num[3][24];
    size_t n = lv_l2_event_fields(ev, argv, lens, num);
    assert_true(n % 2 == 0 && n <= 2 * LV_L2_EVENT_FIELDS);
    lv_l2_event_t back;
    assert_int_equal(lv_l2_event_parse(argv, lens, n, &back), 0);
    assert_int_equal(back.type, ev->type);
    assert_true(span_is(back.region, "eu-west"));
    assert_int_equal(back.key.len, ev->key.len);
    assert_memory_equal(back.key.p, ev->key.p, ev->key.len);
    assert_int_equal(back.version, ev->version);
    if (ev->type == LV_L2_EV_SET || ev->type == LV_L2_EV_META) {
        assert_int_equal(back.ttl_ms, ev->ttl_ms);
        assert_int_equal(back.value_len, ev->value_len);
        assert_int_equal(back.tags.len, ev->tags.len);
    }
    if (ev->type == LV_L2_EV_SET)
        assert_int_equal(back.value.len, ev->value.len);
    else
        assert_int_equal(back.value.len, 0);
}

static void test_fields_round_trip_every_type(void **st)
{
    (void)st;
    for (int t = 0; t < LV_L2_EV_TYPES; t++) {
        lv_l2_event_t ev = {.type = (lv_l2_event_type_t)t,
                            .region = LV_STR("eu-west"),
                            .key = LV_STR("shop.test/p?id=1\x1e"
                                          "accept-language"),
                            .version = 1765000000123456ull,
                            .ttl_ms = 60000,
                            .tags = LV_STR("promo\nhome"),
                            .value_len = 5,
                            .value = LV_STR("LVL21")};
        round_trip(&ev);
    }
    assert_string_equal(lv_l2_event_type_name(LV_L2_EV_PURGE_PREFIX), "prefix");
    assert_string_equal(lv_l2_event_type_name(LV_L2_EV_TYPES), "?");
}

static void test_version_written_with_16_digits(void **st)
{
    (void)st;
    lv_l2_event_t ev = {
        .type = LV_L2_EV_INVALIDATE, .region = LV_STR("a"), .key = LV_STR("k"), .version = 7};
    const char *argv[2 * LV_L2_EVENT_FIELDS];
    size_t lens[2 * LV_L2_EVENT_FIELDS];
    char num[3][24];
    size_t n = lv_l2_event_fields(&ev, argv, lens, num);
    assert_int_equal(n, 8);
    assert_string_equal(argv[6], "v");
    assert_string_equal(argv[7], "0000000000000007");
}

static void test_unknown_fields_ignored(void **st)
{
    (void)st;
    const char *f[] = {"t", "url", "x-new", "whatever", "r",
                       "b", "k",   "h/",    "v",        "0000000000000001"};
    lv_l2_event_t ev;
    assert_int_equal(parse(f, LV_ARRAY_LEN(f), &ev), 0);
    assert_int_equal(ev.type, LV_L2_EV_PURGE_URL);
    assert_true(span_is(ev.key, "h/"));
}

static void test_malformed_refused(void **st)
{
    (void)st;
    lv_l2_event_t ev;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        const char *f_[] = {__VA_ARGS__};                                                          \
        assert_int_equal(parse(f_, LV_ARRAY_LEN(f_), &ev), LV_EINVAL);                             \
    } while (0)
    /* a field missing */
    BAD("r", "a", "k", "x", "v", "0000000000000001");
    BAD("t", "tag", "k", "x", "v", "0000000000000001");
    BAD("t", "tag", "r", "a", "v", "0000000000000001");
    BAD("t", "tag", "r", "a", "k", "x");
    /* unknown type, empty key, version not 16 digits */
    BAD("t", "drop", "r", "a", "k", "x", "v", "0000000000000001");
    BAD("t", "tag", "r", "a", "k", "", "v", "0000000000000001");
    BAD("t", "tag", "r", "a", "k", "x", "v", "1");
    BAD("t", "tag", "r", "a", "k", "x", "v", "000000000000000x");
    /* a region name too long */
    BAD("t", "tag", "r", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "k", "x", "v", "0000000000000001");
    /* set and meta need ttl; set needs a value; numbers are digits */
    BAD("t", "meta", "r", "a", "k", "x", "v", "0000000000000001");
    BAD("t", "set", "r", "a", "k", "x", "v", "0000000000000001", "ttl", "5");
    BAD("t", "set", "r", "a", "k", "x", "v", "0000000000000001", "ttl", "5x", "val", "L");
    BAD("t", "meta", "r", "a", "k", "x", "v", "0000000000000001", "ttl", "5", "n", "-1");
    BAD("t", "meta", "r", "a", "k", "x", "v", "0000000000000001", "ttl", "99999999999999999999");
    /* an odd number of strings */
    BAD("t", "tag", "r", "a", "k", "x", "v", "0000000000000001", "g");
#undef BAD
}

static void test_region_names(void **st)
{
    (void)st;
    assert_true(lv_l2_region_valid("eu-west_1"));
    assert_true(lv_l2_region_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(lv_l2_region_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(lv_l2_region_valid(""));
    assert_false(lv_l2_region_valid("EU"));
    assert_false(lv_l2_region_valid("a:b"));
    assert_false(lv_l2_region_valid("a b"));
}

static void test_drop_messages(void **st)
{
    (void)st;
    char buf[64];
    int n = lv_l2_drop_format(buf, sizeof buf, "replicate", "url", LV_STR("h.test/p"));
    assert_int_equal(n, 22);
    assert_memory_equal(buf, "replicate\nurl\nh.test/p", 22);
    lv_str_t s, t, k;
    assert_int_equal(lv_l2_drop_parse(buf, (size_t)n, &s, &t, &k), 0);
    assert_true(span_is(s, "replicate") && span_is(t, "url") && span_is(k, "h.test/p"));
    /* a key may hold a newline: only the first two split */
    n = lv_l2_drop_format(buf, sizeof buf, "x", "key", LV_STR("a\nb"));
    assert_int_equal(lv_l2_drop_parse(buf, (size_t)n, &s, &t, &k), 0);
    assert_true(span_is(k, "a\nb"));
    assert_int_equal(lv_l2_drop_format(buf, 10, "replicate", "url", LV_STR("k")), LV_ELIMIT);
    assert_int_equal(lv_l2_drop_parse("", 0, &s, &t, &k), LV_EINVAL);
    assert_int_equal(lv_l2_drop_parse("a\nb", 3, &s, &t, &k), LV_EINVAL);
    assert_int_equal(lv_l2_drop_parse("a\nb\n", 4, &s, &t, &k), LV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_round_trip_every_type),
        cmocka_unit_test(test_version_written_with_16_digits),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_region_names),
        cmocka_unit_test(test_drop_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
