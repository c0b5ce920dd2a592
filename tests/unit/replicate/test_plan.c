/* tests/unit/replicate/test_plan.c: what the replicator makes of one event (replicate/plan.c):
 * the FCALL per type, the TTL left, the own-region guard, values that disagree with their
 * event; Redis addresses (replicate/redis.c); lag quantiles (replicate/stats.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replicate/replicate.h"

#define VER 1765000000000000ull
#define NOW (VER + 2500000ull) /* 2.5 s later */

static char g_val[64];

static lv_l2_event_t ev_of(lv_l2_event_type_t t, const char *key)
{
    memcpy(g_val, "LVL2101765000000000000", 22);
    lv_l2_event_t ev = {.type = t,
                        .region = LV_STR("a"),
                        .key = {key, strlen(key)},
                        .version = VER,
                        .ttl_ms = 60000};
    if (t == LV_L2_EV_SET) {
        ev.value = (lv_str_t){g_val, 30};
        ev.value_len = 30;
    }
    return ev;
}

static void assert_arg(const lv_repl_cmd_t *c, int i, const char *want)
{
    assert_true(i < c->argc);
    if (c->lens[i] != strlen(want) || memcmp(c->argv[i], want, c->lens[i]) != 0)
        fail_msg("arg %d is \"%.*s\", want \"%s\"", i, (int)c->lens[i], c->argv[i], want);
}

static void test_plan_every_type(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t cap = 0;
    lv_repl_cmd_t c;
    static const struct {
        lv_l2_event_type_t t;
        const char *fn, *key, *ttl, *drop;
        bool stale;
    } cases[] = {
        {LV_L2_EV_META, "lv_tomb", "lv:c:h/k", "57500", "key", true},
        {LV_L2_EV_INVALIDATE, "lv_tomb", "lv:c:h/k", "30000", "key", true},
        {LV_L2_EV_PURGE_URL, "lv_purge_url", "lv:c:h/k", "30000", "url", false},
        {LV_L2_EV_PURGE_PREFIX, "lv_purge_prefix", "lv:c:h/k", "30000", "prefix", false},
        {LV_L2_EV_PURGE_TAG, "lv_purge_tag", "lv:t:h/k", "30000", "tag", false},
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(cases); i++) {
        lv_l2_event_t ev = ev_of(cases[i].t, "h/k");
        assert_int_equal(lv_repl_plan(&ev, "b", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_APPLY);
        assert_int_equal(c.argc, 6);
        assert_arg(&c, 0, "FCALL");
        assert_arg(&c, 1, cases[i].fn);
        assert_arg(&c, 2, "1");
        assert_arg(&c, 3, cases[i].key);
        assert_arg(&c, 4, "1765000000000000");
        assert_arg(&c, 5, cases[i].ttl);
        assert_string_equal(c.drop_type, cases[i].drop);
        assert_int_equal(c.counts_stale, cases[i].stale);
        assert_int_equal(c.only_if_changed, cases[i].stale);
    }
    free(buf);
}

static void test_plan_set_with_tags(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t cap = 0;
    lv_repl_cmd_t c;
    lv_l2_event_t ev = ev_of(LV_L2_EV_SET, "h/k");
    ev.tags = LV_STR("promo\n\nhome\n");
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_APPLY);
    assert_int_equal(c.argc, 8);
    assert_arg(&c, 1, "lv_set");
    assert_arg(&c, 3, "lv:c:h/k");
    assert_int_equal(c.lens[4], 30);
    assert_arg(&c, 5, "57500");
    assert_arg(&c, 6, "promo");
    assert_arg(&c, 7, "home");
    /* more tags than a value may carry */
    char many[3 * (LV_L2_TAGS_MAX + 1)];
    for (int i = 0; i <= LV_L2_TAGS_MAX; i++)
        memcpy(many + 3 * i,
               "t"
               "x"
               "\n",
               3);
    ev.tags = (lv_str_t){many, sizeof many};
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_BAD);
    free(buf);
}

static void test_plan_skips(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t cap = 0;
    lv_repl_cmd_t c;
    lv_l2_event_t ev = ev_of(LV_L2_EV_SET, "h/k");
    assert_int_equal(lv_repl_plan(&ev, "a", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_OWN);
    /* the TTL ran out on the way (60 s TTL, arrives 61 s later) */
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, VER + 61000000ull, &c, &buf, &cap),
                     LV_REPL_DO_EXPIRED);
    /* from a clock ahead of ours: age 0, the whole TTL */
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, VER - 5000000ull, &c, &buf, &cap),
                     LV_REPL_DO_APPLY);
    assert_arg(&c, 5, "60000");
    /* the value's header says another version, or is not a value */
    g_val[21] = '1';
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_BAD);
    ev.value = LV_STR("hello");
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, NOW, &c, &buf, &cap), LV_REPL_DO_BAD);
    /* invalidations and purges never expire: they carry the tombstone TTL */
    ev = ev_of(LV_L2_EV_INVALIDATE, "h/k");
    assert_int_equal(lv_repl_plan(&ev, "b", 30000, VER + 3600000000ull, &c, &buf, &cap),
                     LV_REPL_DO_APPLY);
    free(buf);
}

static void test_redis_addresses(void **st)
{
    (void)st;
    lv_repl_redis_addr_t a;
    assert_int_equal(lv_repl_redis_addr_parse("redis://127.0.0.1:6379", &a), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_int_equal(lv_repl_redis_addr_parse("redis://redis.eu:7000/3", &a), 0);
    assert_string_equal(a.host, "redis.eu");
    assert_int_equal(a.db, 3);
    assert_int_equal(lv_repl_redis_addr_parse("redis://[::1]:6379", &a), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(lv_repl_redis_addr_parse("unix:/run/redis.sock?db=2", &a), 0);
    assert_string_equal(a.path, "/run/redis.sock");
    assert_int_equal(a.db, 2);
    assert_int_equal(lv_repl_redis_addr_parse("redis://127.0.0.1", &a), 0); /* Redis's port */
    assert_int_equal(a.port, 6379);
    const char *bad[] = {"",
                         "127.0.0.1:6379",
                         "redis://:6379",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:6379/x",
                         "redis://user:pw@h:6379",
                         "redis://[::1:6379",
                         "unix:",
                         "unix:/s?db=x"};
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++)
        if (lv_repl_redis_addr_parse(bad[i], &a) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
}

static void test_lag_quantiles(void **st)
{
    (void)st;
    uint64_t c[LV_REPL_LAG_BUCKETS] = {0};
    assert_true(lv_repl_lag_quantile_ms(c, 0.5) < 0);
    c[3] = 100; /* all in (5, 10] ms */
    assert_true(lv_repl_lag_quantile_ms(c, 0.5) > 7.4 && lv_repl_lag_quantile_ms(c, 0.5) < 7.6);
    assert_true(lv_repl_lag_quantile_ms(c, 0.99) <= 10.0);
    c[LV_REPL_LAG_BUCKETS - 1] = 100; /* half over 5 s */
    assert_true(lv_repl_lag_quantile_ms(c, 0.99) > 5000.0);
    lv_repl_stats_t s;
    lv_repl_stats_init(&s);
    lv_repl_lag_add(&s, -5);      /* a clock ahead: first bucket */
    lv_repl_lag_add(&s, 1000);    /* 1 ms: le 1 */
    lv_repl_lag_add(&s, 1001);    /* just over: le 2 */
    lv_repl_lag_add(&s, 9000000); /* +Inf */
    assert_int_equal(atomic_load(&s.lag[0]), 2);
    assert_int_equal(atomic_load(&s.lag[1]), 1);
    assert_int_equal(atomic_load(&s.lag[LV_REPL_LAG_BUCKETS - 1]), 1);
    assert_int_equal(atomic_load(&s.lag_sum_us), 1000 + 1001 + 9000000); /* -5 counts 0 */
}

static void test_args(void **st)
{
    (void)st;
    lv_repl_opts_t o;
    char *ok[] = {"replicate",
                  "--region",
                  "b",
                  "--local",
                  "redis://127.0.0.1:1",
                  "--peer",
                  "a=redis://127.0.0.1:2",
                  "--batch",
                  "64",
                  NULL};
    assert_int_equal(lv_repl_parse_args(9, ok, &o), 0);
    assert_string_equal(o.region, "b");
    assert_int_equal(o.npeers, 1);
    assert_string_equal(o.peers[0].name, "a");
    assert_int_equal(o.batch, 64);
    assert_int_equal(o.tombstone_ttl_ms, 600000);
    assert_non_null(strstr(o.consumer, ":b"));
    char *self[] = {"replicate",
                    "--region",
                    "b",
                    "--local",
                    "redis://127.0.0.1:1",
                    "--peer",
                    "b=redis://127.0.0.1:2",
                    NULL};
    assert_int_equal(lv_repl_parse_args(7, self, &o), 2);
    char *nopeer[] = {"replicate", "--region", "b", "--local", "redis://127.0.0.1:1", NULL};
    assert_int_equal(lv_repl_parse_args(5, nopeer, &o), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_every_type), cmocka_unit_test(test_plan_set_with_tags),
        cmocka_unit_test(test_plan_skips),      cmocka_unit_test(test_redis_addresses),
        cmocka_unit_test(test_lag_quantiles),   cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
