/* tests/unit/admin/test_dashboard.c: the dashboard's figures (admin/dashboard.c): rates from two
 * samples of hand-made shards, the snapshot's JSON, the history ring (5 minutes, oldest first),
 * the cache section only with a cache, and with cache.l2 the second tier's rates and a
 * replication section that says its Redis is down (a socket path nobody listens on) without
 * waiting. No timers: the clock is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/dashboard.h"
#include "cache/store.h"
#include "core/clock.h"
#include "core/log.h"

typedef struct fake {
    lv_config_t cfg;
    lv_service_conf_t services[1];
    lv_metrics_shard_t *shards[1];
    lv_admin_source_t src;
} fake_t;

static lv_config_t *fake_config(void *ctx)
{
    return &((fake_t *)ctx)->cfg;
}

static int setup(void **state)
{
    lv_log_set_level(LV_LOG_ERROR);
    lv_metrics_registry_reset();
    fake_t *f = calloc(1, sizeof *f);
    f->services[0] = (lv_service_conf_t){.name = "api",
                                         .criticality = LV_CRIT_DEFAULT,
                                         .metrics_slot = (uint32_t)lv_metrics_slot_for("api")};
    f->cfg.services = f->services;
    f->cfg.n_services = 1;
    f->shards[0] = calloc(1, sizeof *f->shards[0]);
    f->src =
        (lv_admin_source_t){.ctx = f, .config = fake_config, .shards = f->shards, .n_shards = 1};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_t *f = *state;
    free(f->shards[0]);
    free(f);
    lv_metrics_registry_reset();
    return 0;
}

static char *snapshot(lv__dash_t *d, fake_t *f)
{
    size_t len = 0;
    char *text = lv__dash_snapshot_json(d, &f->src, 5000, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_lv__dash_sample_rates_over_the_interval(void **state)
{
    fake_t *f = *state;
    lv__dash_t *d = lv__dash_new();
    lv_service_metrics_t *m = &f->shards[0]->services[0];
    lv_metrics_record_request(m, HTTP_GET, 200, 100); /* before the first sample: not a rate */
    lv__dash_sample(d, &f->src, 1000);
    for (int i = 0; i < 10; i++)
        lv_metrics_record_request(m, HTTP_GET, i < 8 ? 200 : 304, 100);
    for (int i = 0; i < 5; i++)
        lv_metrics_record_request(m, HTTP_GET, 503, 100);
    lv_counter_add(&m->refusals[4], 4); /* shed */
    lv_counter_add(&m->refusals[5], 1); /* queue_timeout */
    lv_counter_add(&m->queue_wait_buckets[3], 2);
    lv_counter_add(&m->queue_wait_sum_us, 30000); /* two served from the queue: 15 ms each */
    lv_counter_add(&m->guard_limit, 12);
    lv_counter_add(&m->in_flight, 3);
    lv_counter_add(&m->guard_breaker_state, 1);
    lv__dash_sample(d, &f->src, 3000); /* two seconds later */
    char *text = snapshot(d, f);
    assert_non_null(strstr(text, "\"services\":[{\"name\":\"api\",\"criticality\":\"default\","
                                 "\"offered_per_s\":7.5,\"goodput_per_s\":5,\"refused_per_s\":{"
                                 "\"flag\":0,\"storm\":0,\"premature\":0,\"breaker\":0,\"shed\":2,"
                                 "\"queue_timeout\":0.5,\"deadline\":0,\"body_timeout\":0},"
                                 "\"queue_length\":0,\"queue_delay_ms\":15,\"limit\":12,"
                                 "\"in_flight\":3,\"pressure\":false,\"breaker\":\"open\","
                                 "\"flag\":\"on\",\"faults_injected_per_s\":0}]"));
    assert_non_null(strstr(text, "{\"version\":1,\"time_ms\":5000,\"interval_ms\":1000,"));
    assert_null(strstr(text, "\"cache\""));  /* no cache store: no section */
    assert_null(strstr(text, "\"faults\"")); /* no fault table */
    assert_null(strstr(text, "\"l2\""));     /* not configured: omitted */
    free(text);

    size_t len = 0;
    text = lv__dash_history_json(d, &f->src, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"interval_ms\":1000,\"points\":2,\"services\":{\"api\":{"
                              "\"offered_per_s\":[0,7.5],\"goodput_per_s\":[0,5],"
                              "\"refused_per_s\":[0,2.5],\"queue_length\":[0,0],"
                              "\"queue_delay_ms\":[0,15],\"in_flight\":[0,3],\"limit\":[0,12]}}}");
    free(text);
    lv__dash_free(d);
}

static void test_lv__dash_history_keeps_the_last_300(void **state)
{
    fake_t *f = *state;
    lv__dash_t *d = lv__dash_new();
    lv_service_metrics_t *m = &f->shards[0]->services[0];
    for (uint64_t s = 1; s <= 305; s++) {
        lv_metrics_record_request(m, HTTP_GET, 200, 100); /* one a second */
        lv__dash_sample(d, &f->src, s * 1000);
    }
    size_t len = 0;
    char *text = lv__dash_history_json(d, &f->src, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"points\":300,"));
    /* Every kept point is 1/s: the first sample (rate 0) has left the ring. */
    char want[2048] = "\"offered_per_s\":[1";
    for (int i = 1; i < LV_DASH_HISTORY; i++)
        strcat(want, ",1");
    strcat(want, "]");
    assert_non_null(strstr(text, want));
    free(text);
    lv__dash_free(d);
}

static void test_lv__dash_snapshot_before_any_sample(void **state)
{
    fake_t *f = *state;
    lv__dash_t *d = lv__dash_new();
    char *text = snapshot(d, f);
    assert_non_null(strstr(text, "\"offered_per_s\":0,\"goodput_per_s\":0,"));
    assert_non_null(strstr(text, "\"reloads\":{\"ok\":0,\"refused\":0},\"draining\":false,"
                                 "\"watchers\":0,"));
    free(text);
    size_t len = 0;
    text = lv__dash_history_json(d, &f->src, &len);
    assert_string_equal(text, "{\"interval_ms\":1000,\"points\":0,\"services\":{}}");
    free(text);
    lv__dash_free(d);
}

static void test_lv__dash_l2_rates_and_replication_down(void **state)
{
    fake_t *f = *state;
    char url[] = "unix:/nonexistent/levee-test-redis.sock";
    char region[] = "b";
    f->cfg.cache_l2_url = url;
    f->cfg.region = region;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20};
    f->src.cache = lv_cache_store_new(&conf);
    lv__dash_t *d = lv__dash_new();
    lv_l2_metrics_t *l2 = &f->shards[0]->l2;
    lv_counter_add(&l2->hits, 5); /* before the first sample: not a rate */
    lv__dash_sample(d, &f->src, 1000);
    lv_counter_add(&l2->hits, 6);
    lv_counter_add(&l2->misses, 2);
    lv_counter_add(&l2->timeouts, 2);
    lv_counter_add(&l2->write_errors, 1);
    lv_counter_add(&l2->events[0], 3);
    lv_counter_add(&l2->events[2], 1);
    lv_counter_add(&l2->up, 1);
    uint64_t t0 = lv_clock_now_ms();
    lv__dash_sample(d, &f->src, 3000);          /* two seconds later */
    assert_true(lv_clock_now_ms() - t0 < 1000); /* the Redis that is not there costs nothing */
    char *text = snapshot(d, f);
    assert_non_null(strstr(text, ",\"l2\":{\"region\":\"b\",\"hit_ratio\":0.75,\"lookups_per_s\":{"
                                 "\"hit\":3,\"miss\":1,\"timeout\":1,\"error\":0,\"skipped\":0},"
                                 "\"write_errors_per_s\":0.5,\"events_published_per_s\":2,"
                                 "\"workers_up\":1,\"workers\":1,\"subscribed\":false}"));
    assert_non_null(strstr(text, ",\"replication\":{\"region\":\"b\",\"redis_up\":false,"
                                 "\"peers\":[]}"));
    free(text);
    size_t len = 0;
    text = lv__dash_history_json(d, &f->src, &len);
    assert_non_null(strstr(text, ",\"l2\":{\"hit_ratio\":[0,0.75],\"lookups_per_s\":[0,5],"
                                 "\"unanswered_per_s\":[0,1],\"write_errors_per_s\":[0,0.5],"
                                 "\"events_published_per_s\":[0,2],\"workers_up\":[0,1]}}"));
    free(text);
    lv__dash_free(d);
    lv_cache_store_free(f->src.cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lv__dash_sample_rates_over_the_interval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__dash_history_keeps_the_last_300, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__dash_snapshot_before_any_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__dash_l2_rates_and_replication_down, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
