/* tests/unit/admin/test_endpoints.c: the admin answers (status codes, /status JSON, /health
 * while draining) built from a hand-made config and shards, without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/endpoints.h"

typedef struct fake {
    lv_config_t cfg;
    lv_service_conf_t services[2];
    lv_addr_t upstreams[3];
    lv_metrics_shard_t *shards[2];
    lv_admin_source_t src;
    int draining;
    uint64_t reloads;
} fake_t;

static lv_config_t *fake_config(void *ctx)
{
    return &((fake_t *)ctx)->cfg;
}
static uint64_t fake_reloads(void *ctx)
{
    return ((fake_t *)ctx)->reloads;
}
static int fake_draining(void *ctx)
{
    return ((fake_t *)ctx)->draining;
}

static int setup(void **state)
{
    lv_metrics_registry_reset();
    fake_t *f = calloc(1, sizeof *f);
    snprintf(f->upstreams[0].text, sizeof f->upstreams[0].text, "127.0.0.1:8081");
    snprintf(f->upstreams[1].text, sizeof f->upstreams[1].text, "127.0.0.1:8082");
    snprintf(f->upstreams[2].text, sizeof f->upstreams[2].text, "[::1]:9000");
    f->services[0] = (lv_service_conf_t){.name = "play\"back",
                                         .upstreams = &f->upstreams[0],
                                         .n_upstreams = 2,
                                         .criticality = LV_CRIT_CRITICAL,
                                         .balance = LV_BALANCE_LEAST_OUTSTANDING,
                                         .metrics_slot = (uint32_t)lv_metrics_slot_for("play")};
    f->services[1] = (lv_service_conf_t){.name = "recs",
                                         .upstreams = &f->upstreams[2],
                                         .n_upstreams = 1,
                                         .criticality = LV_CRIT_SHEDDABLE,
                                         .balance = LV_BALANCE_ROUND_ROBIN,
                                         .metrics_slot = (uint32_t)lv_metrics_slot_for("recs")};
    f->cfg.path = "/etc/levee.yaml";
    f->cfg.workers = 2;
    f->cfg.services = f->services;
    f->cfg.n_services = 2;
    f->shards[0] = calloc(1, sizeof *f->shards[0]);
    f->shards[1] = calloc(1, sizeof *f->shards[1]);
    f->src = (lv_admin_source_t){.ctx = f,
                                 .config = fake_config,
                                 .shards = f->shards,
                                 .n_shards = 2,
                                 .start_wall_ms = 1000000,
                                 .reloads = fake_reloads,
                                 .draining = fake_draining};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_t *f = *state;
    free(f->shards[0]);
    free(f->shards[1]);
    free(f);
    lv_metrics_registry_reset();
    return 0;
}

static lv__admin_reply_t route(fake_t *f, uint8_t method, const char *target)
{
    lv__admin_reply_t r;
    assert_int_equal(lv__admin_route(&f->src, 1005500, method, target, strlen(target), &r), 0);
    assert_non_null(r.body);
    assert_int_equal(strlen(r.body), r.body_len);
    return r;
}

static void test_lv__admin_route_health_ok_then_draining(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_GET, "/health");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    free(r.body);
    f->draining = 1;
    r = route(f, HTTP_GET, "/health?probe=1");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "draining\n");
    free(r.body);
}

static void test_lv__admin_route_unknown_path_404(void **state)
{
    fake_t *f = *state;
    const char *paths[] = {"/", "/metricsx", "/health/", "/stat", "*"};
    for (size_t i = 0; i < 5; i++) {
        lv__admin_reply_t r = route(f, HTTP_GET, paths[i]);
        assert_int_equal(r.status, 404);
        assert_false(r.allow_get);
        free(r.body);
    }
}

static void test_lv__admin_route_other_method_405(void **state)
{
    fake_t *f = *state;
    uint8_t methods[] = {HTTP_POST, HTTP_HEAD, HTTP_DELETE, HTTP_PUT};
    for (size_t i = 0; i < 4; i++) {
        lv__admin_reply_t r = route(f, methods[i], "/metrics");
        assert_int_equal(r.status, 405);
        assert_true(r.allow_get);
        free(r.body);
    }
}

static void test_lv__admin_route_metrics_content_type(void **state)
{
    fake_t *f = *state;
    lv_metrics_record_request(&f->shards[1]->services[1], HTTP_GET, 200, 10);
    lv__admin_reply_t r = route(f, HTTP_GET, "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "levee_requests_total{service=\"recs\",method=\"GET\","
                                   "code=\"2xx\"} 1\n"));
    free(r.body);
}

static void test_lv__admin_status_json_fields(void **state)
{
    fake_t *f = *state;
    f->reloads = 3;
    lv_counter_add(&f->shards[0]->connections_open, 2);
    lv_counter_add(&f->shards[1]->connections_open, 1);
    lv_metrics_record_request(&f->shards[0]->services[0], HTTP_GET, 200, 10);
    lv_metrics_record_request(&f->shards[1]->services[0], HTTP_POST, 502, 10);
    lv_counter_add(&f->shards[1]->services[0].in_flight, 4);
    lv__admin_reply_t r = route(f, HTTP_GET, "/status");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    char expected[1024];
    snprintf(expected, sizeof expected,
             "{\"version\":\"%s\",\"pid\":%ld,\"uptime_s\":5,\"workers\":2,"
             "\"config\":\"/etc/levee.yaml\",\"reloads\":3,\"draining\":false,"
             "\"connections_open\":3,\"services\":["
             "{\"name\":\"play\\\"back\",\"criticality\":\"critical\","
             "\"balance\":\"least_outstanding\",\"upstreams\":[\"127.0.0.1:8081\","
             "\"127.0.0.1:8082\"],\"requests_total\":2,\"in_flight\":4},"
             "{\"name\":\"recs\",\"criticality\":\"sheddable\",\"balance\":\"round_robin\","
             "\"upstreams\":[\"[::1]:9000\"],\"requests_total\":0,\"in_flight\":0}]}\n",
             LV_VERSION, (long)getpid());
    assert_string_equal(r.body, expected);
    free(r.body);
}

static void test_lv__admin_status_json_without_config(void **state)
{
    fake_t *f = *state;
    f->src.config = NULL;
    f->src.reloads = NULL;
    f->src.draining = NULL;
    size_t len = 0;
    char *body = lv__admin_status_json(&f->src, 0, &len);
    assert_non_null(body);
    assert_non_null(strstr(body, "\"uptime_s\":0,\"workers\":2,\"config\":null,\"reloads\":0,"
                                 "\"draining\":false,\"connections_open\":0,\"services\":[]}\n"));
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lv__admin_route_health_ok_then_draining, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_unknown_path_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_other_method_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_metrics_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_without_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
