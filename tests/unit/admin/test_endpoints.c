/* tests/unit/admin/test_endpoints.c: the admin answers (status codes, /status JSON, /health
 * while draining, /flags reads and token-checked writes) built from a hand-made config and
 * shards, without sockets. */
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
#include "core/common.h"
#include "core/log.h"

typedef struct fake {
    lv_config_t cfg;
    lv_service_conf_t services[2];
    lv_addr_t upstreams[3];
    lv_metrics_shard_t *shards[2];
    lv_admin_source_t src;
    lv_flags_t *flags;
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
    lv_log_set_level(LV_LOG_ERROR);
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
    f->cfg.admin_token = "s3cret";
    f->services[1].guard.flag = LV_FLAG_AUTO;
    f->flags = lv_flags_new(&f->cfg);
    f->shards[0] = calloc(1, sizeof *f->shards[0]);
    f->shards[1] = calloc(1, sizeof *f->shards[1]);
    f->src = (lv_admin_source_t){.ctx = f,
                                 .config = fake_config,
                                 .shards = f->shards,
                                 .n_shards = 2,
                                 .start_wall_ms = 1000000,
                                 .reloads = fake_reloads,
                                 .draining = fake_draining,
                                 .flags = f->flags};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_t *f = *state;
    lv_flags_free(f->flags);
    free(f->shards[0]);
    free(f->shards[1]);
    free(f);
    lv_metrics_registry_reset();
    return 0;
}

/* A request with an optional Authorization value and body (NULL: absent). */
static lv__admin_reply_t route_full(fake_t *f, uint8_t method, const char *target, const char *auth,
                                    const char *body)
{
    lv__admin_request_t req = {.method = method,
                               .target = target,
                               .target_len = strlen(target),
                               .authorization = auth,
                               .authorization_len = auth ? strlen(auth) : 0,
                               .body = body,
                               .body_len = body ? strlen(body) : 0};
    lv__admin_reply_t r;
    assert_int_equal(lv__admin_route(&f->src, 1005500, &req, &r), 0);
    assert_non_null(r.body);
    assert_int_equal(strlen(r.body), r.body_len);
    return r;
}

static lv__admin_reply_t route(fake_t *f, uint8_t method, const char *target)
{
    return route_full(f, method, target, NULL, NULL);
}

/* Status of a request whose reply body is not checked. */
static int status_of(fake_t *f, uint8_t method, const char *target, const char *auth,
                     const char *body)
{
    lv__admin_reply_t r = route_full(f, method, target, auth, body);
    free(r.body);
    return r.status;
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
        assert_null(r.allow);
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
        assert_string_equal(r.allow, "GET");
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
    lv_counter_add(&f->shards[0]->services[0].guard_limit, 10);
    lv_counter_add(&f->shards[1]->services[0].guard_limit, 12);
    lv_counter_add(&f->shards[1]->services[0].guard_queue_len, 3);
    lv_counter_add(&f->shards[1]->services[0].guard_pressure, 1);
    lv_counter_add(&f->shards[0]->services[0].guard_breaker_state, 2);
    lv_counter_add(&f->shards[0]->services[0].guard_admitted, 5);
    lv_counter_add(&f->shards[1]->services[0].guard_admitted, 6);
    lv_counter_add(&f->shards[1]->services[0].guard_queued, 1);
    lv_counter_add(&f->shards[0]->services[0].guard_shed, 2);
    lv_counter_add(&f->shards[0]->services[0].guard_dropped_wait, 3);
    lv_counter_add(&f->shards[0]->services[0].guard_dropped_deadline, 4);
    lv_counter_add(&f->shards[0]->services[0].guard_dropped_client_gone, 5);
    lv_counter_add(&f->shards[1]->services[1].guard_storm_blocked, 6);
    lv_counter_add(&f->shards[1]->services[1].guard_premature_blocked, 7);
    lv_counter_add(&f->shards[1]->services[1].guard_breaker_rejected, 8);
    lv_counter_add(&f->shards[1]->services[1].guard_fallback_served, 9);
    lv_counter_add(&f->shards[1]->services[1].guard_breaker_state, 1);
    lv__admin_reply_t r = route(f, HTTP_GET, "/status");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    char expected[2048];
    snprintf(expected, sizeof expected,
             "{\"version\":\"%s\",\"pid\":%ld,\"uptime_s\":5,\"workers\":2,"
             "\"config\":\"/etc/levee.yaml\",\"reloads\":3,\"draining\":false,"
             "\"connections_open\":3,\"services\":["
             "{\"name\":\"play\\\"back\",\"criticality\":\"critical\","
             "\"balance\":\"least_outstanding\",\"upstreams\":[\"127.0.0.1:8081\","
             "\"127.0.0.1:8082\"],\"requests_total\":2,\"in_flight\":4,"
             "\"guard\":{\"limit\":22,\"in_flight\":4,\"queue_len\":3,\"pressure\":true,"
             "\"breaker\":\"half_open\",\"flag\":\"on\",\"admitted\":11,\"queued\":1,"
             "\"shed\":2,\"dropped_wait\":3,\"dropped_deadline\":4,\"dropped_client_gone\":5,"
             "\"storm_blocked\":0,\"premature_blocked\":0,\"breaker_rejected\":0,"
             "\"fallback_served\":0}},"
             "{\"name\":\"recs\",\"criticality\":\"sheddable\",\"balance\":\"round_robin\","
             "\"upstreams\":[\"[::1]:9000\"],\"requests_total\":0,\"in_flight\":0,"
             "\"guard\":{\"limit\":0,\"in_flight\":0,\"queue_len\":0,\"pressure\":false,"
             "\"breaker\":\"open\",\"flag\":\"auto\",\"admitted\":0,\"queued\":0,"
             "\"shed\":0,\"dropped_wait\":0,\"dropped_deadline\":0,\"dropped_client_gone\":0,"
             "\"storm_blocked\":6,\"premature_blocked\":7,\"breaker_rejected\":8,"
             "\"fallback_served\":9}}]}\n",
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

static void test_lv__admin_route_flags_list(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_GET, "/flags");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"flags\":[{\"service\":\"play\\\"back\",\"state\":\"on\","
                                "\"overridden\":false},{\"service\":\"recs\",\"state\":\"auto\","
                                "\"overridden\":false}]}\n");
    free(r.body);
    r = route(f, HTTP_GET, "/flags/recs");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"service\":\"recs\",\"state\":\"auto\",\"overridden\":false}\n");
    free(r.body);
    assert_int_equal(status_of(f, HTTP_GET, "/flags/ghost", NULL, NULL), 404);
}

static void test_lv__admin_route_flags_without_table_404(void **state)
{
    fake_t *f = *state;
    f->src.flags = NULL;
    assert_int_equal(status_of(f, HTTP_GET, "/flags", NULL, NULL), 404);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off"), 404);
}

static void test_lv__admin_route_flag_put_sets_flag(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route_full(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off\r\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"service\":\"recs\",\"state\":\"off\",\"overridden\":true}\n");
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, lv_flags_find(f->flags, "recs")), LV_FLAG_OFF);
    r = route(f, HTTP_GET, "/flags");
    assert_non_null(strstr(r.body, "{\"service\":\"recs\",\"state\":\"off\",\"overridden\":true}"));
    free(r.body);
    /* Scheme is case-insensitive; surrounding whitespace is not part of the token. */
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", " bearer   s3cret ", "on"), 200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_ON);
}

static void test_lv__admin_route_flag_post_query_state(void **state)
{
    fake_t *f = *state;
    assert_int_equal(status_of(f, HTTP_POST, "/flags/recs?x=1&state=off", "Bearer s3cret", NULL),
                     200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF);
    assert_int_equal(status_of(f, HTTP_POST, "/flags/recs", "Bearer s3cret", "auto"), 200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
    assert_int_equal(status_of(f, HTTP_POST, "/flags/recs?state=nope", "Bearer s3cret", NULL), 400);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
}

static void test_lv__admin_route_flag_write_without_token_403(void **state)
{
    fake_t *f = *state;
    f->cfg.admin_token = NULL;
    lv__admin_reply_t r = route_full(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off");
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "writes disabled: set admin.token\n");
    free(r.body);
    f->cfg.admin_token = "";
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer ", "off"), 403);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
}

static void test_lv__admin_route_flag_write_bad_token_401(void **state)
{
    fake_t *f = *state;
    const char *bad[] = {NULL,
                         "",
                         "Bearer",
                         "Bearer ",
                         "Bearer s3cre",
                         "Bearer s3cret2",
                         "Basic s3cret",
                         "Bearers3cret",
                         "Bearer S3CRET",
                         "s3cret"};
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++) {
        lv__admin_reply_t r = route_full(f, HTTP_PUT, "/flags/recs", bad[i], "off");
        assert_int_equal(r.status, 401);
        assert_true(r.www_authenticate);
        free(r.body);
    }
    /* A duplicated or overlong header never matches, even with the right value. */
    lv__admin_request_t req = {.method = HTTP_PUT,
                               .target = "/flags/recs",
                               .target_len = 11,
                               .authorization = "Bearer s3cret",
                               .authorization_len = 13,
                               .authorization_bad = true,
                               .body = "off",
                               .body_len = 3};
    lv__admin_reply_t r;
    assert_int_equal(lv__admin_route(&f->src, 0, &req, &r), 0);
    assert_int_equal(r.status, 401);
    free(r.body);
    /* Checked before the service, so a stranger cannot list services by probing. */
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/ghost", NULL, "off"), 401);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
}

static void test_lv__admin_route_flag_unknown_service_404(void **state)
{
    fake_t *f = *state;
    const char *paths[] = {"/flags/ghost", "/flags/", "/flags/recs/x", "/flags/recs%20"};
    for (size_t i = 0; i < LV_ARRAY_LEN(paths); i++)
        assert_int_equal(status_of(f, HTTP_PUT, paths[i], "Bearer s3cret", "off"), 404);
}

static void test_lv__admin_route_flag_bad_state_400(void **state)
{
    fake_t *f = *state;
    const char *bad[] = {NULL, "", "OFF", "sideways", "off off", "{\"state\":\"off\"}"};
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++)
        assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", bad[i]), 400);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
}

static void test_lv__admin_route_flag_other_method_405(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route_full(f, HTTP_DELETE, "/flags/recs", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, PUT, POST");
    free(r.body);
    r = route_full(f, HTTP_PUT, "/flags", "Bearer s3cret", "off");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    free(r.body);
}

static void test_lv__admin_route_flag_state_file_unwritable_500(void **state)
{
    fake_t *f = *state;
    lv_flags_free(f->flags);
    f->cfg.state_file = "/nonexistent-levee-dir/state.json";
    f->flags = f->src.flags = lv_flags_new(&f->cfg);
    lv__admin_reply_t r = route_full(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off");
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "will not survive a restart"));
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF); /* still applied */
}

static void test_lv__admin_metrics_text_flag_gauge(void **state)
{
    fake_t *f = *state;
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/play\"back", "Bearer s3cret", "off"), 200);
    size_t len = 0;
    char *text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP levee_guard_flag Feature flag: 0 on, 1 off, 2 auto.\n"
                                 "# TYPE levee_guard_flag gauge\n"
                                 "levee_guard_flag{service=\"play\\\"back\"} 1\n"
                                 "levee_guard_flag{service=\"recs\"} 2\n"));
    assert_non_null(strstr(text, "levee_guard_decisions_total{service=\"recs\","
                                 "decision=\"admitted\"} 0\n"));
    free(text);
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
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flags_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flags_without_table_404, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_put_sets_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_post_query_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_write_without_token_403, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_write_bad_token_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_unknown_service_404, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_bad_state_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_other_method_405, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_state_file_unwritable_500, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_metrics_text_flag_gauge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
