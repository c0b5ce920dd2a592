/* tests/unit/cache/test_l2_value.c: the second tier's value format (cache/l2_value.h): round
 * trips plain and compressed, tombstones, the header the Redis functions read, versions, and
 * malformed values refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/l2_value.h"
#include "cache/stored.h"

#define VER 1765000000123456ull

static bool span_is(lv_str_t s, const char *p, size_t len)
{
    return s.len == len && (len == 0 || memcmp(s.p, p, len) == 0);
}

static lv_l2_value_t sample(const char *body, size_t body_len)
{
    static char meta[sizeof(lv_cache_stored_t) + 4];
    memset(meta, 'm', sizeof meta);
    lv_l2_value_t v = {.version = VER,
                       .head = LV_STR("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
                       .meta = {meta, sizeof meta},
                       .body = {body, body_len},
                       .ntags = 2};
    v.tags[0] = LV_STR("promo");
    v.tags[1] = LV_STR("home");
    return v;
}

static void assert_same(const lv_l2_value_t *a, const lv_l2_value_t *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->tombstone, b->tombstone);
    assert_true(span_is(b->head, a->head.p, a->head.len));
    assert_true(span_is(b->meta, a->meta.p, a->meta.len));
    assert_true(span_is(b->body, a->body.p, a->body.len));
    assert_int_equal(a->ntags, b->ntags);
    for (size_t i = 0; i < a->ntags; i++)
        assert_true(span_is(b->tags[i], a->tags[i].p, a->tags[i].len));
}

static void test_encode_decode_plain(void **st)
{
    (void)st;
    lv_l2_value_t v = sample("hello", 5), back;
    char *buf, *scratch;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 0, &buf, &len), 0);
    assert_memory_equal(buf, "LVL210", 6);
    assert_memory_equal(buf + 6, "1765000000123456", 16);
    assert_int_equal(lv_l2_value_version(buf, len), VER);
    assert_int_equal(lv_l2_value_decode(buf, len, &back, &scratch), 0);
    assert_null(scratch);
    assert_same(&v, &back);
    free(buf);
}

static void test_encode_decode_compressed(void **st)
{
    (void)st;
    char body[8192];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = "abcdefgh"[i % 8];
    lv_l2_value_t v = sample(body, sizeof body), back;
    char *buf, *scratch;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 1024, &buf, &len), 0);
    assert_int_equal(buf[5], '0' + LV_L2_F_ZSTD);
    assert_true(len < sizeof body / 4);
    assert_int_equal(lv_l2_value_decode(buf, len, &back, &scratch), 0);
    assert_non_null(scratch);
    assert_same(&v, &back);
    free(scratch);
    free(buf);
}

static void test_small_or_incompressible_stays_plain(void **st)
{
    (void)st;
    lv_l2_value_t v = sample("tiny", 4);
    char *buf;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 1 << 20, &buf, &len), 0);
    assert_int_equal(buf[5], '0');
    free(buf);
    char noise[512];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (char)((x = x * 1103515245u + 12345u) >> 24);
    v = sample(noise, sizeof noise);
    v.ntags = 0;
    v.head = v.meta = (lv_str_t){NULL, 0};
    assert_int_equal(lv_l2_value_encode(&v, 1, &buf, &len), 0);
    assert_int_equal(buf[5], '0'); /* zstd would not save bytes */
    free(buf);
}

static void test_tombstone(void **st)
{
    (void)st;
    lv_l2_value_t v = {.version = VER, .tombstone = true}, back;
    char *buf, *scratch;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 0, &buf, &len), 0);
    assert_int_equal(len, LV_L2_HEADER_LEN);
    assert_memory_equal(buf, "LVL2111765000000123456", LV_L2_HEADER_LEN);
    assert_int_equal(lv_l2_value_decode(buf, len, &back, &scratch), 0);
    assert_true(back.tombstone);
    assert_int_equal(back.version, VER);
    /* a tombstone with bytes after its header is not one */
    char longer[LV_L2_HEADER_LEN + 1];
    memcpy(longer, buf, len);
    longer[len] = 'x';
    assert_int_equal(lv_l2_value_decode(longer, sizeof longer, &back, &scratch), LV_EINVAL);
    free(buf);
}

static void test_encode_limits(void **st)
{
    (void)st;
    lv_l2_value_t v = sample("x", 1);
    char *buf;
    size_t len;
    v.ntags = LV_L2_TAGS_MAX + 1;
    assert_int_equal(lv_l2_value_encode(&v, 0, &buf, &len), LV_ELIMIT);
    v.ntags = 1;
    v.tags[0] = (lv_str_t){"t", (size_t)UINT16_MAX + 1};
    assert_int_equal(lv_l2_value_encode(&v, 0, &buf, &len), LV_ELIMIT);
    v.ntags = 0;
    v.body = (lv_str_t){"x", (size_t)LV_L2_VALUE_MAX};
    assert_int_equal(lv_l2_value_encode(&v, 0, &buf, &len), LV_ELIMIT);
    assert_null(buf);
}

static void test_versions(void **st)
{
    (void)st;
    char d[LV_L2_VERSION_DIGITS];
    lv_l2_version_format(42, d);
    assert_memory_equal(d, "0000000000000042", 16);
    uint64_t a = lv_l2_version_now(), b = lv_l2_version_now();
    assert_true(b > a);
    assert_true(a > 1700000000000000ull); /* µs of a wall clock */
    assert_int_equal(lv_l2_value_version("LVL210123", 9), 0);
    assert_int_equal(lv_l2_value_version("XVL2101765000000123456", 22), 0);
    assert_int_equal(lv_l2_value_version("LVL21017650000001234x6", 22), 0);
}

/* Every way a value can be broken is refused, never read past its end. */
static void test_decode_malformed(void **st)
{
    (void)st;
    lv_l2_value_t v = sample("hello world", 11), back;
    char *good, *scratch;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 0, &good, &len), 0);
    char *b = malloc(len + 8);
    /* every truncation */
    for (size_t n = 0; n < len; n++) {
        memcpy(b, good, n);
        assert_int_equal(lv_l2_value_decode(b, n, &back, &scratch), LV_EINVAL);
        assert_null(scratch);
    }
    /* a byte too many */
    memcpy(b, good, len);
    b[len] = 0;
    assert_int_equal(lv_l2_value_decode(b, len + 1, &back, &scratch), LV_EINVAL);
    /* flags out of range, another meta layout, payload length wrong, too many tags */
    const struct {
        size_t at;
        char byte;
    } flips[] = {{5, '4'},        {5, '/'},      {22, 0x7f},      {26, 0x7f},    {27, 0x00},
                 {28 + 12, 0x7f}, {28 + 13, 17}, {28 + 14, 0x7f}, {28 + 0, 0x7f}};
    for (size_t i = 0; i < LV_ARRAY_LEN(flips); i++) {
        memcpy(b, good, len);
        b[flips[i].at] = flips[i].byte;
        assert_int_equal(lv_l2_value_decode(b, len, &back, &scratch), LV_EINVAL);
        assert_null(scratch);
    }
    free(b);
    free(good);
}

static void test_decode_bad_zstd(void **st)
{
    (void)st;
    char body[4096];
    memset(body, 'z', sizeof body);
    lv_l2_value_t v = sample(body, sizeof body), back;
    char *good, *scratch;
    size_t len;
    assert_int_equal(lv_l2_value_encode(&v, 64, &good, &len), 0);
    assert_int_equal(good[5], '0' + LV_L2_F_ZSTD);
    char *b = malloc(len);
    for (size_t n = LV_L2_HEADER_LEN + 6; n < len; n++) { /* a cut frame */
        assert_int_equal(lv_l2_value_decode(good, n, &back, &scratch), LV_EINVAL);
        assert_null(scratch);
    }
    memcpy(b, good, len);
    b[LV_L2_HEADER_LEN + 5] ^= 1; /* the payload length disagrees with the frame */
    assert_int_equal(lv_l2_value_decode(b, len, &back, &scratch), LV_EINVAL);
    memcpy(b, good, len);
    b[len - 3] ^= 0x55; /* damaged inside */
    int rc = lv_l2_value_decode(b, len, &back, &scratch);
    if (rc == 0) /* zstd may not notice every flip without a checksum: then it is a value */
        free(scratch);
    else
        assert_null(scratch);
    free(b);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_plain),
        cmocka_unit_test(test_encode_decode_compressed),
        cmocka_unit_test(test_small_or_incompressible_stays_plain),
        cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_bad_zstd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
