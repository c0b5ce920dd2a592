/* tests/unit/guard/test_storm.c: the retry-storm table of guard/storm.h on a fake clock (times
 * passed in, ms): threshold, window, eviction and its memory bound, the key
 * hash, and one two-thread test (the table is shared by workers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "guard/storm.h"

#define T0 5000000u

static lv_storm_t *mk(uint32_t window_ms, uint32_t threshold, uint32_t entries)
{
    lv_storm_conf_t c = {.window_ms = window_ms, .threshold = threshold, .entries = entries};
    lv_storm_t *s = lv_storm_new(&c);
    assert_non_null(s);
    return s;
}

static uint64_t key_of(const char *client, const char *resource)
{
    return lv_storm_key(client, strlen(client), resource, strlen(resource));
}

/* A raw key whose fingerprint is n: all such keys share set 0 of the table. */
#define K(n) ((uint64_t)(n) << 32)

static void test_lv_storm_check_repeat_above_threshold(void **state)
{
    (void)state;
    lv_storm_t *s = mk(10000, 3, 1024);
    uint64_t k = key_of("10.0.0.1", "/match/stream");
    uint32_t ra = 99;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lv_storm_check(s, k, T0 + (uint64_t)i, &ra), LV_STORM_OK);
        assert_int_equal(ra, 0);
    }
    assert_int_equal(lv_storm_check(s, k, T0 + 1000, &ra), LV_STORM_REPEAT);
    assert_int_equal(ra, 9000); /* until the window that began at T0 ends */
    assert_int_equal(lv_storm_check(s, k, T0 + 1001, NULL), LV_STORM_REPEAT);
    assert_int_equal(lv_storm_count(s, k, T0 + 1001), 5);
    /* Another resource of the same client, and another client, are separate. */
    assert_int_equal(lv_storm_check(s, key_of("10.0.0.1", "/home"), T0, &ra), LV_STORM_OK);
    assert_int_equal(lv_storm_check(s, key_of("10.0.0.2", "/match/stream"), T0, &ra), LV_STORM_OK);
    assert_int_equal(lv_storm_count(s, key_of("10.0.0.9", "/x"), T0), 0);
    lv_storm_free(s);
}

static void test_lv_storm_check_new_window_after_expiry(void **state)
{
    (void)state;
    lv_storm_t *s = mk(10000, 3, 1024);
    uint64_t a = key_of("a", "/r"), b = key_of("b", "/r");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lv_storm_check(s, a, T0, NULL), LV_STORM_OK);
        assert_int_equal(lv_storm_check(s, b, T0, NULL), LV_STORM_OK);
    }
    assert_int_equal(lv_storm_check(s, a, T0 + 9999, NULL), LV_STORM_REPEAT); /* same window */
    assert_int_equal(lv_storm_check(s, b, T0 + 10000, NULL), LV_STORM_OK);    /* a new one */
    assert_int_equal(lv_storm_count(s, b, T0 + 10000), 1);
    assert_int_equal(lv_storm_count(s, a, T0 + 10000), 0); /* a's window is over too */
    lv_storm_free(s);
}

static void test_lv_storm_check_survives_clock_wrap_and_skew(void **state)
{
    (void)state;
    lv_storm_t *s = mk(10000, 3, 1024);
    uint64_t k = key_of("c", "/w");
    uint64_t wrap = 1ull << 32; /* the entries keep 32-bit milliseconds */
    assert_int_equal(lv_storm_check(s, k, wrap - 10, NULL), LV_STORM_OK);
    assert_int_equal(lv_storm_check(s, k, wrap + 10, NULL), LV_STORM_OK);
    /* Another worker's clock a little behind: same window, not a reset. */
    assert_int_equal(lv_storm_check(s, k, wrap - 20, NULL), LV_STORM_OK);
    assert_int_equal(lv_storm_check(s, k, wrap + 20, NULL), LV_STORM_REPEAT);
    assert_int_equal(lv_storm_count(s, k, wrap + 20), 4);
    uint32_t ra = 0;
    assert_int_equal(lv_storm_check(s, k, wrap + 30, &ra), LV_STORM_REPEAT);
    assert_int_equal(ra, 10000 - 40); /* the window began at wrap - 10 */
    lv_storm_free(s);
}

static void test_lv_storm_check_count_saturates(void **state)
{
    (void)state;
    lv_storm_t *s = mk(10000, 70000, 64); /* threshold clamped below the count's ceiling */
    uint64_t k = key_of("bot", "/");
    lv_storm_verdict_t v = LV_STORM_OK;
    for (int i = 0; i < 70000; i++)
        v = lv_storm_check(s, k, T0, NULL);
    assert_int_equal(v, LV_STORM_REPEAT);
    assert_int_equal(lv_storm_count(s, k, T0), 65535);
    lv_storm_free(s);
}

static void test_lv_storm_check_evicts_lowest_count_oldest(void **state)
{
    (void)state;
    lv_storm_t *s = mk(10000, 3, 4); /* a single set of four ways */
    assert_int_equal(lv_storm_capacity(s), 4);
    for (int i = 0; i < 3; i++)
        lv_storm_check(s, K(1), T0, NULL); /* A: 3 */
    lv_storm_check(s, K(2), T0 + 1, NULL); /* B: 1, oldest of the ones */
    lv_storm_check(s, K(3), T0 + 2, NULL); /* C: 2 */
    lv_storm_check(s, K(3), T0 + 2, NULL);
    lv_storm_check(s, K(4), T0 + 3, NULL); /* D: 1 */
    assert_int_equal(lv_storm_evictions(s), 0);
    lv_storm_check(s, K(5), T0 + 4, NULL); /* E takes B's place */
    assert_int_equal(lv_storm_evictions(s), 1);
    assert_int_equal(lv_storm_count(s, K(1), T0 + 4), 3);
    assert_int_equal(lv_storm_count(s, K(2), T0 + 4), 0);
    assert_int_equal(lv_storm_count(s, K(3), T0 + 4), 2);
    assert_int_equal(lv_storm_count(s, K(4), T0 + 4), 1);
    assert_int_equal(lv_storm_count(s, K(5), T0 + 4), 1);
    /* E (1, newest) and D (1, older): D, the oldest of the lowest, goes. */
    lv_storm_check(s, K(6), T0 + 6, NULL);
    assert_int_equal(lv_storm_count(s, K(4), T0 + 6), 0);
    assert_int_equal(lv_storm_count(s, K(5), T0 + 6), 1);
    assert_int_equal(lv_storm_evictions(s), 2);
    /* Once every window is over, entries are dead: replacing them is not an eviction. */
    lv_storm_check(s, K(7), T0 + 20000, NULL);
    lv_storm_check(s, K(8), T0 + 20000, NULL);
    assert_int_equal(lv_storm_evictions(s), 2);
    assert_int_equal(lv_storm_occupied(s), 4);
    lv_storm_free(s);
}

static void test_lv_storm_check_million_keys_memory_bounded(void **state)
{
    (void)state;
    enum { HOT = 8, DISTINCT = 1000000, EVERY = 1000 };
    lv_storm_t *s = mk(10000, 3, 4096);
    size_t cap = lv_storm_capacity(s), bytes = lv_storm_bytes(s);
    assert_int_equal(cap, 4096);
    uint64_t hot[HOT];
    char buf[64];
    for (int h = 0; h < HOT; h++) {
        snprintf(buf, sizeof buf, "hot-client-%d", h);
        hot[h] = key_of(buf, "/match/stream");
        for (int i = 0; i < 5; i++)
            lv_storm_check(s, hot[h], T0, NULL);
    }
    uint64_t late = key_of("late-client", "/match/stream");
    for (int i = 0; i < DISTINCT; i++) {
        uint64_t now = T0 + (uint64_t)i / 1000u; /* one second for the whole flood */
        int n = snprintf(buf, sizeof buf, "198.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        lv_storm_check(s, lv_storm_key(buf, (size_t)n, "/match/stream", 13), now, NULL);
        if (i % EVERY == EVERY - 1) {
            for (int h = 0; h < HOT; h++)
                assert_int_equal(lv_storm_check(s, hot[h], now, NULL), LV_STORM_REPEAT);
            if (i == 900 * EVERY - 1) { /* a client that starts storming late */
                lv_storm_check(s, late, now, NULL);
                lv_storm_check(s, late, now, NULL);
            } else if (i > 900 * EVERY) {
                lv_storm_check(s, late, now, NULL);
            }
        }
        if (i % 100000 == 0) {
            assert_int_equal(lv_storm_capacity(s), cap);
            assert_int_equal(lv_storm_bytes(s), bytes);
        }
    }
    uint64_t end = T0 + DISTINCT / 1000;
    assert_int_equal(lv_storm_capacity(s), cap);
    assert_int_equal(lv_storm_bytes(s), bytes);
    assert_true(lv_storm_occupied(s) <= cap);
    assert_true(lv_storm_evictions(s) >= (uint64_t)DISTINCT - cap);
    /* The bound is about 64 KiB of entries plus locks, whatever the number of clients. */
    assert_true(bytes < 4096 * 16 + 64 * 1024);
    for (int h = 0; h < HOT; h++) /* never evicted: 5 + one per thousand */
        assert_int_equal(lv_storm_count(s, hot[h], end), 5 + DISTINCT / EVERY);
    assert_int_equal(lv_storm_count(s, late, end), 2 + 100);
    assert_int_equal(lv_storm_check(s, late, end, NULL), LV_STORM_REPEAT);
    lv_storm_free(s);
}

static void test_lv_storm_key_separates_fields_and_bytes(void **state)
{
    (void)state;
    assert_true(key_of("a", "b") == key_of("a", "b"));
    assert_true(key_of("a", "b") != key_of("a", "c"));
    assert_true(key_of("ab", "c") != key_of("a", "bc"));
    assert_true(key_of("ab", "") != key_of("a", "b"));
    assert_true(key_of("", "") != key_of("", "x"));
    assert_true(lv_storm_key(NULL, 0, NULL, 0) == key_of("", ""));
    /* Every byte of long inputs matters (the 16-byte blocks and the overlapping tail). */
    char c[41], r[41];
    memset(c, 'c', 40);
    memset(r, 'r', 40);
    c[40] = r[40] = 0;
    uint64_t base = key_of(c, r);
    for (size_t len = 0; len <= 40; len++)
        for (size_t i = 0; i < len; i++) {
            c[i] ^= 1;
            uint64_t k1 = lv_storm_key(c, len, r, 40);
            c[i] ^= 1;
            r[i] ^= 1;
            uint64_t k2 = lv_storm_key(c, 40, r, len);
            r[i] ^= 1;
            assert_true(k1 != lv_storm_key(c, len, r, 40));
            assert_true(k2 != lv_storm_key(c, 40, r, len));
        }
    assert_true(base == key_of(c, r));
}

static void test_lv_storm_key_spreads_low_and_high_bits(void **state)
{
    (void)state;
    enum { N = 65536, B = 1024 };
    static unsigned lo[B], hi[B];
    memset(lo, 0, sizeof lo);
    memset(hi, 0, sizeof hi);
    char buf[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "10.1.%d.%d", i >> 8, i & 255); /* similar inputs */
        uint64_t k = lv_storm_key(buf, (size_t)n, "/", 1);
        lo[k & (B - 1)]++;
        hi[k >> 54]++;
    }
    /* Mean 64 per bucket; a decent hash stays well within 2x (Poisson tail ~ 1e-12). */
    for (int b = 0; b < B; b++) {
        assert_true(lo[b] > 16 && lo[b] < 128);
        assert_true(hi[b] > 16 && hi[b] < 128);
    }
}

static void test_lv_storm_new_rounds_and_defaults(void **state)
{
    (void)state;
    lv_storm_t *s = mk(0, 0, 0);
    assert_int_equal(lv_storm_capacity(s), 65536);
    uint64_t k = key_of("d", "/");
    for (int i = 0; i < 3; i++)
        assert_int_equal(lv_storm_check(s, k, T0, NULL), LV_STORM_OK);
    assert_int_equal(lv_storm_check(s, k, T0 + 9999, NULL), LV_STORM_REPEAT);
    assert_int_equal(lv_storm_occupied(s), 1);
    lv_storm_free(s);
    s = mk(1000, 3, 5000);
    assert_int_equal(lv_storm_capacity(s), 8192);
    lv_storm_free(s);
    s = mk(1000, 3, 1);
    assert_int_equal(lv_storm_capacity(s), 4);
    lv_storm_free(s);
    lv_storm_free(NULL);
}

/* ---- two threads ---------------------------------------------------------------------------- */

enum { ITERS = 20000, OWN = 100 };

typedef struct hammer {
    lv_storm_t *s;
    uint64_t shared;
    uint64_t own[OWN];
    unsigned repeats; /* REPEAT verdicts this thread saw for the shared key */
} hammer_t;

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < ITERS; i++) {
        uint64_t now = T0 + (uint64_t)(i & 7); /* each thread's clock jitters a little */
        if (lv_storm_check(h->s, h->shared, now, NULL) == LV_STORM_REPEAT)
            h->repeats++;
        lv_storm_check(h->s, h->own[i % OWN], now, NULL);
        if (i % 1000 == 0)
            (void)lv_storm_evictions(h->s);
    }
    return NULL;
}

static void test_lv_storm_check_two_threads_consistent(void **state)
{
    (void)state;
    lv_storm_t *s = mk(60000, 3, 65536);
    uint64_t shared = key_of("shared", "/hot");
    hammer_t h[2];
    char buf[32];
    for (int t = 0; t < 2; t++) {
        h[t] = (hammer_t){.s = s, .shared = shared, .repeats = 0};
        for (int i = 0; i < OWN; i++) {
            snprintf(buf, sizeof buf, "t%d-c%d", t, i);
            h[t].own[i] = key_of(buf, "/hot");
        }
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, hammer_run, &h[t]), 0);
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    /* 201 keys in 16384 sets: no set overflows, so every count must be exact. */
    assert_int_equal(lv_storm_evictions(s), 0);
    assert_int_equal(lv_storm_count(s, shared, T0), 2 * ITERS);
    /* Each increment was seen by exactly one caller: the first 3 were OK, all others REPEAT. */
    assert_int_equal(h[0].repeats + h[1].repeats, 2 * ITERS - 3);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < OWN; i++)
            assert_int_equal(lv_storm_count(s, h[t].own[i], T0), ITERS / OWN);
    assert_int_equal(lv_storm_occupied(s), 1 + 2 * OWN);
    lv_storm_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_storm_check_repeat_above_threshold),
        cmocka_unit_test(test_lv_storm_check_new_window_after_expiry),
        cmocka_unit_test(test_lv_storm_check_survives_clock_wrap_and_skew),
        cmocka_unit_test(test_lv_storm_check_count_saturates),
        cmocka_unit_test(test_lv_storm_check_evicts_lowest_count_oldest),
        cmocka_unit_test(test_lv_storm_check_million_keys_memory_bounded),
        cmocka_unit_test(test_lv_storm_key_separates_fields_and_bytes),
        cmocka_unit_test(test_lv_storm_key_spreads_low_and_high_bits),
        cmocka_unit_test(test_lv_storm_new_rounds_and_defaults),
        cmocka_unit_test(test_lv_storm_check_two_threads_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
