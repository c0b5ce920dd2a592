/* tests/unit/admin/test_endpoints.c: the admin answers (status codes, /status JSON, /health
 * while draining, /flags reads and token-checked writes, /cache JSON, the levee_cache_* families
 * and token-checked purges against a real cache store) built from a hand-made config and shards,
 * without sockets. */
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

#include "admin/dashboard.h"
#include "admin/endpoints.h"
#include "admin_request.h"
#include "cache/key.h"
#include "cache/store.h"
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
    return admin_request(&f->src, 1005500, method, target, auth, body);
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
    lv_counter_add(&f->shards[0]->services[1].guard_orphaned, 1);
    lv_counter_add(&f->shards[1]->services[1].guard_orphaned, 2);
    lv_counter_add(&f->shards[1]->services[1].guard_joined, 1);
    lv_counter_add(&f->shards[1]->services[1].guard_breaker_rejected, 8);
    lv_counter_add(&f->shards[1]->services[1].guard_fallback_served, 9);
    lv_counter_add(&f->shards[1]->services[1].guard_breaker_state, 1);
    lv__admin_reply_t r = route(f, HTTP_GET, "/status");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    char expected[3072];
    snprintf(expected, sizeof expected,
             "{\"version\":\"%s\",\"pid\":%ld,\"uptime_s\":5,\"workers\":2,"
             "\"config\":\"/etc/levee.yaml\",\"reloads\":3,\"draining\":false,"
             "\"connections_open\":3,\"services\":["
             "{\"name\":\"play\\\"back\",\"criticality\":\"critical\","
             "\"balance\":\"least_outstanding\",\"upstreams\":[\"127.0.0.1:8081\","
             "\"127.0.0.1:8082\"],\"requests_total\":2,\"in_flight\":4,"
             "\"hosts\":[{\"addr\":\"127.0.0.1:8081\"},{\"addr\":\"127.0.0.1:8082\"}],"
             "\"guard\":{\"limit\":12,\"in_flight\":4,\"queue_len\":3,\"pressure\":true,"
             "\"breaker\":\"half_open\",\"flag\":\"on\",\"admitted\":11,\"queued\":1,"
             "\"shed\":2,\"dropped_wait\":3,\"dropped_deadline\":4,\"dropped_client_gone\":5,"
             "\"storm_blocked\":0,\"premature_blocked\":0,\"orphaned\":0,\"joined\":0,"
             "\"breaker_rejected\":0,"
             "\"fallback_served\":0},"
             "\"resilience\":{\"guard\":false,\"breaker\":false,\"fallback\":false,"
             "\"criticality\":false,\"deadline_ms\":0,\"serve_stale_ms\":0,"
             "\"health_check\":false}},"
             "{\"name\":\"recs\",\"criticality\":\"sheddable\",\"balance\":\"round_robin\","
             "\"upstreams\":[\"[::1]:9000\"],\"requests_total\":0,\"in_flight\":0,"
             "\"hosts\":[{\"addr\":\"[::1]:9000\"}],"
             "\"guard\":{\"limit\":0,\"in_flight\":0,\"queue_len\":0,\"pressure\":false,"
             "\"breaker\":\"open\",\"flag\":\"auto\",\"admitted\":0,\"queued\":0,"
             "\"shed\":0,\"dropped_wait\":0,\"dropped_deadline\":0,\"dropped_client_gone\":0,"
             "\"storm_blocked\":6,\"premature_blocked\":7,\"orphaned\":3,\"joined\":1,"
             "\"breaker_rejected\":8,"
             "\"fallback_served\":9},"
             "\"resilience\":{\"guard\":false,\"breaker\":false,\"fallback\":false,"
             "\"criticality\":false,\"deadline_ms\":0,\"serve_stale_ms\":0,"
             "\"health_check\":false}}]}\n",
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
    assert_string_equal(r.body,
                        "{\"flags\":[{\"name\":\"play\\\"back\",\"kind\":\"service\","
                        "\"service\":\"play\\\"back\",\"state\":\"on\",\"overridden\":false,"
                        "\"config\":\"on\"},"
                        "{\"name\":\"recs\",\"kind\":\"service\",\"service\":\"recs\","
                        "\"state\":\"auto\",\"overridden\":false,\"config\":\"auto\"}]}\n");
    free(r.body);
    r = route(f, HTTP_GET, "/flags/recs");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"service\":\"recs\",\"state\":\"auto\",\"overridden\":false,"
                                "\"config\":\"auto\"}\n");
    free(r.body);
    assert_int_equal(status_of(f, HTTP_GET, "/flags/ghost", NULL, NULL), 404);
}

static void test_lv__admin_route_flags_of_routes(void **state)
{
    fake_t *f = *state;
    lv_route_conf_t routes[2] = {
        {.path_prefix = "/recs/checkout", .service = 1, .name = "checkout", .flag = LV_FLAG_OFF},
        {.path_prefix = "/", .service = 0},
    };
    f->cfg.routes = routes;
    f->cfg.n_routes = 2;
    lv_flags_free(f->flags);
    f->flags = f->src.flags = lv_flags_new(&f->cfg);
    lv__admin_reply_t r = route(f, HTTP_GET, "/flags");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ",{\"name\":\"checkout\",\"kind\":\"route\",\"service\":"
                                   "\"recs\",\"state\":\"off\",\"overridden\":false,"
                                   "\"config\":\"off\"}]}\n"));
    free(r.body);
    r = route(f, HTTP_GET, "/flags/checkout");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"name\":\"checkout\",\"kind\":\"route\",\"service\":\"recs\","
                                "\"state\":\"off\",\"overridden\":false,\"config\":\"off\"}\n");
    free(r.body);
    r = route_full(f, HTTP_PUT, "/flags/checkout", "Bearer s3cret", "on");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"name\":\"checkout\",\"kind\":\"route\",\"service\":\"recs\","
                                "\"state\":\"on\",\"overridden\":true,\"config\":\"off\"}\n");
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, (int)routes[0].flag_slot), LV_FLAG_ON);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/checkout", NULL, "off"), 401);
    assert_int_equal(lv_flags_get(f->flags, (int)routes[0].flag_slot), LV_FLAG_ON);
    f->cfg.routes = NULL;
    f->cfg.n_routes = 0;
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
    assert_string_equal(r.body, "{\"service\":\"recs\",\"state\":\"off\",\"overridden\":true,"
                                "\"config\":\"auto\"}\n");
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, lv_flags_find(f->flags, "recs")), LV_FLAG_OFF);
    r = route(f, HTTP_GET, "/flags");
    assert_non_null(strstr(r.body, "\"service\":\"recs\",\"state\":\"off\",\"overridden\":true,"
                                   "\"config\":\"auto\"}"));
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
    const char *bad[] = {NULL,
                         "",
                         "OFF",
                         "sideways",
                         "off off",
                         "{\"state\":\"OFF\"}",
                         "{\"mode\":\"off\"}",
                         "{\"state\":\"off\"",
                         "{\"state\":\"off\",\"why\":\"x\"}",
                         "{\"state\":\"o\\u0066f\"}",
                         "{\"state\":off}",
                         "{}",
                         "[\"off\"]",
                         "\"off",
                         "{\"state\":\"off\"} x",
                         "state=off"};
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++) {
        lv__admin_reply_t r = route_full(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", bad[i]);
        assert_int_equal(r.status, 400);
        assert_string_equal(r.body,
                            "bad state: want on, off or auto (a word, or {\"state\":\"off\"})\n");
        free(r.body);
    }
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
}

/* The body of PUT (and POST without ?state=): a word as before, or JSON. */
static void test_lv__admin_route_flag_put_json_body(void **state)
{
    fake_t *f = *state;
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "{\"state\":\"off\"}"),
                     200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF);
    assert_int_equal(
        status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", " {\n \"state\" : \"on\"\t}\r\n"),
        200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_ON);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "\"auto\"\n"), 200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
    assert_int_equal(status_of(f, HTTP_POST, "/flags/recs", "Bearer s3cret", "{\"state\":\"off\"}"),
                     200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF);
    /* POST's query parameter wins over the body. */
    assert_int_equal(
        status_of(f, HTTP_POST, "/flags/recs?state=on", "Bearer s3cret", "{\"state\":\"off\"}"),
        200);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_ON);
}

static void test_lv__admin_route_flag_delete_back_to_config(void **state)
{
    fake_t *f = *state;
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off"), 200);
    /* A write like PUT: the token first, then the name. */
    lv__admin_reply_t r = route_full(f, HTTP_DELETE, "/flags/recs", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_true(r.www_authenticate);
    free(r.body);
    assert_int_equal(status_of(f, HTTP_DELETE, "/flags/recs", "Bearer nope", NULL), 401);
    assert_int_equal(status_of(f, HTTP_DELETE, "/flags/ghost", NULL, NULL), 401);
    assert_int_equal(status_of(f, HTTP_DELETE, "/flags/ghost", "Bearer s3cret", NULL), 404);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF);
    f->cfg.admin_token = NULL;
    assert_int_equal(status_of(f, HTTP_DELETE, "/flags/recs", "Bearer s3cret", NULL), 403);
    f->cfg.admin_token = "s3cret";
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_OFF);

    r = route_full(f, HTTP_DELETE, "/flags/recs", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"service\":\"recs\",\"state\":\"auto\",\"overridden\":false,"
                                "\"config\":\"auto\"}\n");
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO);
    /* Again, on a flag without an override: the same answer. */
    r = route_full(f, HTTP_DELETE, "/flags/recs", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"state\":\"auto\",\"overridden\":false"));
    free(r.body);
}

static void test_lv__admin_route_flag_delete_route(void **state)
{
    fake_t *f = *state;
    lv_route_conf_t routes[1] = {
        {.path_prefix = "/recs/checkout", .service = 1, .name = "checkout", .flag = LV_FLAG_OFF},
    };
    f->cfg.routes = routes;
    f->cfg.n_routes = 1;
    lv_flags_free(f->flags);
    f->flags = f->src.flags = lv_flags_new(&f->cfg);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/checkout", "Bearer s3cret", "on"), 200);
    lv__admin_reply_t r = route_full(f, HTTP_DELETE, "/flags/checkout", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"name\":\"checkout\",\"kind\":\"route\",\"service\":\"recs\","
                                "\"state\":\"off\",\"overridden\":false,\"config\":\"off\"}\n");
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, (int)routes[0].flag_slot), LV_FLAG_OFF);
    f->cfg.routes = NULL;
    f->cfg.n_routes = 0;
}

static void test_lv__admin_route_flag_delete_state_file_unwritable_500(void **state)
{
    fake_t *f = *state;
    lv_flags_free(f->flags);
    f->cfg.state_file = "/nonexistent-levee-dir/state.json";
    f->flags = f->src.flags = lv_flags_new(&f->cfg);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/recs", "Bearer s3cret", "off"), 500);
    lv__admin_reply_t r = route_full(f, HTTP_DELETE, "/flags/recs", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "comes back at the next start"));
    free(r.body);
    assert_int_equal(lv_flags_get(f->flags, 1), LV_FLAG_AUTO); /* still applied */
}

static void test_lv__admin_route_flag_other_method_405(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route_full(f, HTTP_PATCH, "/flags/recs", "Bearer s3cret", "off");
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, PUT, POST, DELETE");
    free(r.body);
    r = route_full(f, HTTP_DELETE, "/flags", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
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

static uint64_t fake_refused(void *ctx)
{
    (void)ctx;
    return 2;
}
static uint64_t fake_generation(void *ctx)
{
    (void)ctx;
    return 4;
}

/* Route flags, reloads and the config generation, and the dashboard's watchers, in /metrics. */
static void test_lv__admin_metrics_text_route_flags_reloads(void **state)
{
    fake_t *f = *state;
    lv_route_conf_t routes[1] = {
        {.path_prefix = "/recs/checkout", .service = 1, .name = "checkout", .flag = LV_FLAG_ON},
    };
    f->cfg.routes = routes;
    f->cfg.n_routes = 1;
    lv_flags_free(f->flags);
    f->flags = f->src.flags = lv_flags_new(&f->cfg);
    assert_int_equal(status_of(f, HTTP_PUT, "/flags/checkout", "Bearer s3cret", "off"), 200);
    f->reloads = 3;
    f->src.reloads_refused = fake_refused;
    f->src.generation = fake_generation;
    uint32_t watchers = 5;
    f->src.watchers = &watchers;
    size_t len = 0;
    char *text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE levee_route_flag gauge\n"
                                 "levee_route_flag{route=\"checkout\",service=\"recs\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE levee_config_generation gauge\n"
                                 "levee_config_generation 4\n"));
    assert_non_null(strstr(text, "levee_config_reloads_total{result=\"ok\"} 3\n"
                                 "levee_config_reloads_total{result=\"refused\"} 2\n"));
    assert_non_null(strstr(text, "levee_dashboard_watchers 5\n"));
    free(text);
    f->src.watchers = NULL;
    f->cfg.routes = NULL;
    f->cfg.n_routes = 0;
}

/* GET /dashboard: the embedded page, whole, as HTML; /events other than GET: 405. */
static void test_lv__admin_route_dashboard_page(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_GET, "/dashboard");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_int_equal(r.body_len, lv__dashboard_html_len);
    assert_true(r.body_len < 100 * 1024);
    assert_memory_equal(r.body, "<!doctype html>", 15);
    free(r.body);
    assert_int_equal(status_of(f, HTTP_POST, "/events", NULL, NULL), 405);
}

/* ---- the cache ---- */

static int setup_cache(void **state)
{
    setup(state);
    fake_t *f = *state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 4};
    f->src.cache = lv_cache_store_new(&conf);
    assert_non_null(f->src.cache);
    return 0;
}

static int teardown_cache(void **state)
{
    fake_t *f = *state;
    lv_cache_store_free(f->src.cache);
    return teardown(state);
}

/* The key of host + target, as the request path builds it, followed by `variant` (an extra-part
 * or Vary suffix such as "\x1eX\x1e" or "\x1fgzip"; may be ""). Returns its length. */
static size_t key_of(char *buf, size_t cap, const char *host, const char *target,
                     const char *variant)
{
    int n = lv_cache_key_primary(buf, cap, (lv_str_t){host, strlen(host)},
                                 (lv_str_t){target, strlen(target)});
    assert_true(n > 0);
    size_t len = (size_t)n + strlen(variant);
    assert_true(len < cap);
    memcpy(buf + n, variant, strlen(variant) + 1);
    return len;
}

/* Stores a complete entry under host + target + variant, with an optional tag. */
static void store_put(fake_t *f, const char *host, const char *target, const char *variant,
                      const char *tag)
{
    char key[LV_CACHE_KEY_MAX];
    size_t klen = key_of(key, sizeof key, host, target, variant);
    lv_str_t tags[1] = {{tag, tag ? strlen(tag) : 0}};
    lv_cache_entry_spec_t spec = {.key = {key, klen},
                                  .head = LV_STR("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
                                  .meta = LV_STR("meta"),
                                  .tags = tag ? tags : NULL,
                                  .ntags = tag ? 1 : 0};
    lv_cache_entry_t *e = lv_cache_entry_new(f->src.cache, &spec);
    assert_non_null(e);
    assert_int_equal(lv_cache_store_insert(f->src.cache, e), 0);
    assert_int_equal(lv_cache_entry_append(e, "ok", 2), 0);
    lv_cache_entry_finish(e);
    lv_cache_entry_unref(e);
}

/* Whether host + target + variant is stored (counts a store lookup; the shard counters that
 * /cache reports are not touched). */
static bool stored(fake_t *f, const char *host, const char *target, const char *variant)
{
    char key[LV_CACHE_KEY_MAX];
    size_t klen = key_of(key, sizeof key, host, target, variant);
    lv_cache_entry_t *e = lv_cache_store_lookup(f->src.cache, key, klen);
    lv_cache_entry_unref(e);
    return e != NULL;
}

static uint64_t store_entries(fake_t *f)
{
    lv_cache_stats_t st;
    lv_cache_store_stats(f->src.cache, &st);
    return st.entries;
}

/* A purge with the right token; returns the reply (body checked to be {"purged":N}). */
static lv__admin_reply_t purge(fake_t *f, uint8_t method, const char *target)
{
    return route_full(f, method, target, "Bearer s3cret", NULL);
}

static void assert_purged(fake_t *f, uint8_t method, const char *target, unsigned n)
{
    lv__admin_reply_t r = purge(f, method, target);
    char expected[32];
    snprintf(expected, sizeof expected, "{\"purged\":%u}\n", n);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, expected);
    free(r.body);
}

static void test_lv__admin_route_cache_json(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/1", "", NULL);
    store_put(f, "a.example", "/2", "", NULL);
    store_put(f, "a.example", "/3", "", NULL);
    assert_int_equal(lv_cache_store_purge_key(f->src.cache, "a.example/3", 11), 0);
    lv_cache_metrics_t *c0 = &f->shards[0]->cache, *c1 = &f->shards[1]->cache;
    lv_counter_add(&c0->hits, 2);
    lv_counter_add(&c1->hits, 1);
    lv_counter_add(&c1->misses, 1);
    lv_counter_add(&c0->passes, 50); /* not part of the ratio */
    lv_counter_add(&c0->stale_swr, 1);
    lv_counter_add(&c1->stale_error, 2);
    lv_counter_add(&c0->stale_refused, 3);
    lv_counter_add(&c1->coalesced, 4);
    lv_cache_stats_t st;
    lv_cache_store_stats(f->src.cache, &st);
    assert_int_equal(st.entries, 2);

    lv__admin_reply_t r = route(f, HTTP_GET, "/cache");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    char expected[512];
    snprintf(expected, sizeof expected,
             "{\"max_bytes\":%llu,\"bytes\":%llu,\"entries\":2,\"hits\":3,\"misses\":1,"
             "\"hit_ratio\":0.75,\"stale_served\":{\"swr\":1,\"error\":2,\"refused\":3},"
             "\"coalesced\":4,\"evictions\":0,\"purged\":1}\n",
             (unsigned long long)st.max_bytes, (unsigned long long)st.bytes);
    assert_string_equal(r.body, expected);
    assert_true(st.max_bytes == 1 << 20 && st.bytes > 0);
    free(r.body);
    /* The query string does not matter to a read. */
    r = route(f, HTTP_GET, "/cache?pretty=1");
    assert_string_equal(r.body, expected);
    free(r.body);
}

static void test_lv__admin_route_cache_json_empty_ratio_zero(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_GET, "/cache");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"entries\":0,\"hits\":0,\"misses\":0,\"hit_ratio\":0,"));
    free(r.body);
    lv_counter_add(&f->shards[1]->cache.misses, 3);
    r = route(f, HTTP_GET, "/cache");
    assert_non_null(strstr(r.body, "\"hits\":0,\"misses\":3,\"hit_ratio\":0,"));
    free(r.body);
    lv_counter_add(&f->shards[0]->cache.hits, 1);
    r = route(f, HTTP_GET, "/cache");
    assert_non_null(strstr(r.body, "\"hits\":1,\"misses\":3,\"hit_ratio\":0.25,"));
    free(r.body);
}

static void test_lv__admin_route_cache_off_404(void **state)
{
    fake_t *f = *state; /* plain setup: no store */
    assert_null(f->src.cache);
    lv__admin_reply_t r = route(f, HTTP_GET, "/cache");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "cache off: set cache.size\n");
    free(r.body);
    assert_int_equal(status_of(f, HTTP_POST, "/cache/purge?url=a.example/x", "Bearer s3cret", NULL),
                     404);
    assert_int_equal(status_of(f, HTTP_DELETE, "/cache?tag=x", "Bearer s3cret", NULL), 404);
    assert_int_equal(status_of(f, HTTP_GET, "/cache/purge", NULL, NULL), 404);
    /* Other paths under /cache are not endpoints, on or off. */
    assert_int_equal(status_of(f, HTTP_GET, "/cache/", NULL, NULL), 404);
    assert_int_equal(status_of(f, HTTP_GET, "/cachex", NULL, NULL), 404);
}

static void test_lv__admin_route_cache_other_method_405(void **state)
{
    fake_t *f = *state;
    const uint8_t on_cache[] = {HTTP_PUT, HTTP_POST, HTTP_HEAD, HTTP_PATCH};
    for (size_t i = 0; i < LV_ARRAY_LEN(on_cache); i++) {
        lv__admin_reply_t r = route_full(f, on_cache[i], "/cache", "Bearer s3cret", NULL);
        assert_int_equal(r.status, 405);
        assert_string_equal(r.allow, "GET, DELETE");
        free(r.body);
    }
    const uint8_t on_purge[] = {HTTP_GET, HTTP_PUT, HTTP_DELETE};
    for (size_t i = 0; i < LV_ARRAY_LEN(on_purge); i++) {
        lv__admin_reply_t r =
            route_full(f, on_purge[i], "/cache/purge?url=a.example/x", "Bearer s3cret", NULL);
        assert_int_equal(r.status, 405);
        assert_string_equal(r.allow, "POST");
        free(r.body);
    }
}

static void test_lv__admin_metrics_text_cache_families(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/1", "", NULL);
    store_put(f, "a.example", "/2", "", NULL);
    assert_int_equal(lv_cache_store_purge_key(f->src.cache, "a.example/2", 11), 0);
    lv_cache_metrics_t *c0 = &f->shards[0]->cache, *c1 = &f->shards[1]->cache;
    lv_counter_add(&c0->hits, 10);
    lv_counter_add(&c1->hits, 1);
    lv_counter_add(&c0->misses, 2);
    lv_counter_add(&c1->passes, 3);
    lv_counter_add(&c0->stale_swr, 4);
    lv_counter_add(&c1->stale_error, 5);
    lv_counter_add(&c0->stale_refused, 6);
    lv_counter_add(&c1->coalesced, 7);
    lv_counter_add(&c0->not_modified, 8);
    lv_counter_add(&c1->coalesce_timeouts, 9);
    lv_counter_add(&c0->revalidations, 12);
    lv_counter_add(&c1->revalidated, 11);
    lv_counter_add(&c0->stored, 13);
    lv_counter_add(&c1->not_stored, 14);
    lv_cache_stats_t st;
    lv_cache_store_stats(f->src.cache, &st);

    size_t len = 0;
    char *text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "# TYPE levee_cache_requests_total counter\n"
                                 "levee_cache_requests_total{result=\"hit\"} 11\n"
                                 "levee_cache_requests_total{result=\"miss\"} 2\n"
                                 "levee_cache_requests_total{result=\"pass\"} 3\n"
                                 "levee_cache_requests_total{result=\"stale_swr\"} 4\n"
                                 "levee_cache_requests_total{result=\"stale_error\"} 5\n"
                                 "levee_cache_requests_total{result=\"stale_refused\"} 6\n"
                                 "levee_cache_requests_total{result=\"coalesced\"} 7\n"
                                 "levee_cache_requests_total{result=\"not_modified\"} 8\n"));
    assert_non_null(strstr(text, "# TYPE levee_cache_coalesce_timeouts_total counter\n"
                                 "levee_cache_coalesce_timeouts_total 9\n"));
    assert_non_null(strstr(text, "# TYPE levee_cache_revalidations_total counter\n"
                                 "levee_cache_revalidations_total{result=\"sent\"} 12\n"
                                 "levee_cache_revalidations_total{result=\"not_modified\"} 11\n"));
    assert_non_null(strstr(text, "# TYPE levee_cache_responses_total counter\n"
                                 "levee_cache_responses_total{result=\"stored\"} 13\n"
                                 "levee_cache_responses_total{result=\"not_stored\"} 14\n"));
    char line[128];
    snprintf(line, sizeof line, "# TYPE levee_cache_bytes gauge\nlevee_cache_bytes %llu\n",
             (unsigned long long)st.bytes);
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, "# TYPE levee_cache_entries gauge\nlevee_cache_entries 1\n"));
    assert_non_null(
        strstr(text, "# TYPE levee_cache_max_bytes gauge\nlevee_cache_max_bytes 1048576\n"));
    assert_non_null(strstr(text, "# TYPE levee_cache_evictions_total counter\n"
                                 "levee_cache_evictions_total 0\n"));
    assert_non_null(
        strstr(text, "# TYPE levee_cache_purged_total counter\nlevee_cache_purged_total 1\n"));
    assert_non_null(strstr(text, "# TYPE levee_cache_rejected_total counter\n"
                                 "levee_cache_rejected_total 0\n"));
    /* Every family has its HELP line right before its TYPE line. */
    const char *families[] = {"requests_total",
                              "coalesce_timeouts_total",
                              "revalidations_total",
                              "responses_total",
                              "entries",
                              "bytes",
                              "max_bytes",
                              "evictions_total",
                              "purged_total",
                              "rejected_total"};
    for (size_t i = 0; i < LV_ARRAY_LEN(families); i++) {
        snprintf(line, sizeof line, "# HELP levee_cache_%s ", families[i]);
        const char *help = strstr(text, line);
        assert_non_null(help);
        snprintf(line, sizeof line, "\n# TYPE levee_cache_%s ", families[i]);
        assert_ptr_equal(strchr(help, '\n'), strstr(help, line));
    }
    free(text);
}

static void test_lv__admin_metrics_text_cache_off_no_families(void **state)
{
    fake_t *f = *state; /* plain setup: no store */
    lv_counter_add(&f->shards[0]->cache.hits, 1);
    size_t len = 0;
    char *text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(text);
    assert_null(strstr(text, "levee_cache_"));
    free(text);
}

static void test_lv__admin_status_json_cache_section(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/1", "", NULL);
    lv_counter_add(&f->shards[0]->cache.hits, 2);
    lv_counter_add(&f->shards[1]->cache.misses, 1);
    lv_cache_stats_t st;
    lv_cache_store_stats(f->src.cache, &st);
    lv__admin_reply_t r = route(f, HTTP_GET, "/status");
    assert_int_equal(r.status, 200);
    char expected[256];
    snprintf(expected, sizeof expected,
             "}}],\"cache\":{\"max_bytes\":1048576,\"bytes\":%llu,\"entries\":1,"
             "\"hit_ratio\":0.666667}}\n",
             (unsigned long long)st.bytes);
    size_t n = strlen(expected);
    assert_true(r.body_len > n);
    assert_string_equal(r.body + r.body_len - n, expected);
    free(r.body);
}

static void test_lv__admin_status_json_cache_off_no_section(void **state)
{
    fake_t *f = *state; /* plain setup: no store */
    lv__admin_reply_t r = route(f, HTTP_GET, "/status");
    assert_null(strstr(r.body, "\"cache\""));
    free(r.body);
}

static void test_lv__admin_route_cache_purge_url_and_variants(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/a", "", NULL);
    store_put(f, "a.example", "/a",
              "\x1e"
              "fr\x1e",
              NULL);
    store_put(f, "a.example", "/a",
              "\x1e"
              "de\x1e"
              "\x1fgzip",
              NULL);
    store_put(f, "a.example", "/a",
              "\x1f"
              "br",
              NULL);
    store_put(f, "a.example", "/ab", "", NULL);    /* a sibling, not a variant */
    store_put(f, "a.example", "/a/b", "", NULL);   /* below it, not a variant */
    store_put(f, "a.example", "/a?x=1", "", NULL); /* another URL */
    store_put(f, "b.example", "/a", "", NULL);     /* another host */
    /* Scheme dropped, host lower-cased, the value percent-decoded. */
    assert_purged(f, HTTP_POST, "/cache/purge?url=http%3A%2F%2FA.Example%2Fa", 4);
    assert_false(stored(f, "a.example", "/a", ""));
    assert_false(stored(f, "a.example", "/a",
                        "\x1e"
                        "fr\x1e"));
    assert_false(stored(f, "a.example", "/a",
                        "\x1e"
                        "de\x1e"
                        "\x1fgzip"));
    assert_false(stored(f, "a.example", "/a",
                        "\x1f"
                        "br"));
    assert_true(stored(f, "a.example", "/ab", ""));
    assert_true(stored(f, "a.example", "/a/b", ""));
    assert_true(stored(f, "a.example", "/a?x=1", ""));
    assert_true(stored(f, "b.example", "/a", ""));
    assert_int_equal(store_entries(f), 4);
    /* Again: nothing left to purge is not an error. */
    assert_purged(f, HTTP_POST, "/cache/purge?url=a.example/a", 0);
    /* A query inside the URL: encoded, or plain as long as it has no '&'. */
    assert_purged(f, HTTP_POST, "/cache/purge?url=https://a.example/a?x=1", 1);
    store_put(f, "a.example", "/a?x=1&y=2", "", NULL);
    assert_purged(f, HTTP_POST, "/cache/purge?url=a.example%2Fa%3Fx%3D1%26y%3D2", 1);
    /* The same as DELETE /cache. */
    assert_purged(f, HTTP_DELETE, "/cache?url=b.example/a", 1);
    assert_int_equal(store_entries(f), 2);
    /* A '+' is a '+' (a URL, not a form field); %2B too. */
    store_put(f, "a.example", "/s?q=a+b", "", NULL);
    assert_purged(f, HTTP_POST, "/cache/purge?url=a.example/s%3Fq%3Da+b", 1);
    store_put(f, "a.example", "/s?q=a+b", "", NULL);
    assert_purged(f, HTTP_POST, "/cache/purge?url=a.example/s%3fq%3da%2bb", 1);
    /* Empty segments are ignored. */
    assert_purged(f, HTTP_POST, "/cache/purge?&url=a.example/ab&", 1);
}

static void test_lv__admin_route_cache_purge_prefix(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/api/1", "", NULL);
    store_put(f, "a.example", "/api/2?x=y",
              "\x1f"
              "gzip",
              NULL);
    store_put(f, "a.example", "/api/", "", NULL);
    store_put(f, "a.example", "/apix", "", NULL);
    store_put(f, "a.example", "/", "", NULL);
    store_put(f, "b.example", "/api/1", "", NULL);
    assert_purged(f, HTTP_POST, "/cache/purge?prefix=http%3A%2F%2Fa.example%2Fapi%2F", 3);
    assert_false(stored(f, "a.example", "/api/1", ""));
    assert_false(stored(f, "a.example", "/api/2?x=y",
                        "\x1f"
                        "gzip"));
    assert_false(stored(f, "a.example", "/api/", ""));
    assert_true(stored(f, "a.example", "/apix", ""));
    assert_true(stored(f, "b.example", "/api/1", ""));
    /* A whole host: "host/" (a bare host is refused: it would also match longer host names). */
    assert_int_equal(
        status_of(f, HTTP_POST, "/cache/purge?prefix=a.example", "Bearer s3cret", NULL), 400);
    assert_purged(f, HTTP_DELETE, "/cache?prefix=A.EXAMPLE/", 2);
    assert_true(stored(f, "b.example", "/api/1", ""));
    assert_int_equal(store_entries(f), 1);
}

static void test_lv__admin_route_cache_purge_tag(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/match/1", "", "match 1");
    store_put(f, "a.example", "/match/1/score",
              "\x1f"
              "gzip",
              "match 1");
    store_put(f, "b.example", "/m1", "", "match 1");
    store_put(f, "a.example", "/match/10", "", "match 10");
    store_put(f, "a.example", "/home", "", NULL);
    assert_purged(f, HTTP_POST, "/cache/purge?tag=match%201", 3);
    assert_true(stored(f, "a.example", "/match/10", ""));
    assert_true(stored(f, "a.example", "/home", ""));
    assert_purged(f, HTTP_POST, "/cache/purge?tag=match", 0); /* exact bytes, not a prefix */
    assert_purged(f, HTTP_DELETE, "/cache?tag=match%2010", 1);
    assert_int_equal(store_entries(f), 1);
}

static void test_lv__admin_route_cache_purge_token_401_403(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/a", "", "t");
    const char *targets[] = {"/cache/purge?url=a.example/a", "/cache/purge?tag=t",
                             "/cache/purge?prefix=a.example/", "/cache/purge",
                             "/cache/purge?bogus=1"};
    for (size_t i = 0; i < LV_ARRAY_LEN(targets); i++) {
        const char *bad[] = {NULL, "", "Bearer", "Bearer s3cre", "Basic s3cret", "s3cret"};
        for (size_t j = 0; j < LV_ARRAY_LEN(bad); j++) {
            lv__admin_reply_t r = route_full(f, HTTP_POST, targets[i], bad[j], NULL);
            assert_int_equal(r.status, 401);
            assert_true(r.www_authenticate);
            free(r.body);
        }
        assert_int_equal(status_of(f, HTTP_DELETE, "/cache?url=a.example/a", NULL, NULL), 401);
    }
    /* A duplicated or overlong header never matches. */
    lv__admin_request_t req = {.method = HTTP_POST,
                               .target = "/cache/purge?tag=t",
                               .target_len = strlen("/cache/purge?tag=t"),
                               .authorization = "Bearer s3cret",
                               .authorization_len = 13,
                               .authorization_bad = true};
    lv__admin_reply_t r;
    assert_int_equal(lv__admin_route(&f->src, 0, &req, &r), 0);
    assert_int_equal(r.status, 401);
    free(r.body);
    /* No token configured: writes are off. */
    f->cfg.admin_token = NULL;
    r = route_full(f, HTTP_POST, "/cache/purge?tag=t", "Bearer s3cret", NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "writes disabled: set admin.token\n");
    free(r.body);
    f->cfg.admin_token = "";
    assert_int_equal(status_of(f, HTTP_DELETE, "/cache?tag=t", "Bearer ", NULL), 403);
    assert_true(stored(f, "a.example", "/a", ""));
    /* Reads need no token. */
    assert_int_equal(status_of(f, HTTP_GET, "/cache", NULL, NULL), 200);
}

static void test_lv__admin_route_cache_purge_bad_params_400(void **state)
{
    fake_t *f = *state;
    store_put(f, "a.example", "/a", "", "t");
    char too_long[LV_CACHE_KEY_MAX + 64];
    int n = snprintf(too_long, sizeof too_long, "/cache/purge?url=a.example/");
    memset(too_long + n, 'x', sizeof too_long - (size_t)n - 1);
    too_long[sizeof too_long - 1] = '\0';
    const struct {
        const char *target, *message;
    } cases[] = {
        {"/cache/purge", "missing parameter"},
        {"/cache/purge?", "missing parameter"},
        {"/cache/purge?&&", "missing parameter"},
        {"/cache?", "missing parameter"},
        {"/cache/purge?url=", "empty value"},
        {"/cache/purge?url", "empty value"},
        {"/cache/purge?tag=", "empty value"},
        {"/cache/purge?URL=a.example/a", "unknown parameter"},
        {"/cache/purge?path=/a", "unknown parameter"},
        {"/cache/purge?url=a.example/a?x=1&y=2", "unknown parameter"}, /* '&' not encoded */
        {"/cache/purge?url=a.example/a&tag=t", "exactly one"},
        {"/cache/purge?url=a.example/a&url=a.example/b", "exactly one"},
        {"/cache/purge?tag=t&prefix=a.example/", "exactly one"},
        {"/cache/purge?url=a.example%2", "bad percent-encoding"},
        {"/cache/purge?url=a.example%", "bad percent-encoding"},
        {"/cache/purge?url=a.example%zz/a", "bad percent-encoding"},
        {"/cache/purge?tag=%g1", "bad percent-encoding"},
        {"/cache/purge?url=a.example", "bad url"}, /* no path */
        {"/cache/purge?url=http://a.example", "bad url"},
        {"/cache/purge?url=/a", "bad url"},              /* no host */
        {"/cache/purge?url=a.example/a%20b", "bad url"}, /* a space */
        {"/cache/purge?url=a.example/a%00", "bad url"},  /* a control byte */
        {"/cache/purge?prefix=http://", "bad url"},
        {too_long, "too long"},
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(cases); i++) {
        uint8_t method = strncmp(cases[i].target, "/cache?", 7) == 0 ? HTTP_DELETE : HTTP_POST;
        lv__admin_reply_t r = purge(f, method, cases[i].target);
        if (r.status != 400 || strstr(r.body, cases[i].message) == NULL)
            fail_msg("%s: %d %s", cases[i].target, r.status, r.body);
        assert_string_equal(r.content_type, "text/plain; charset=utf-8");
        free(r.body);
    }
    assert_true(stored(f, "a.example", "/a", ""));
    assert_int_equal(store_entries(f), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lv__admin_metrics_text_route_flags_reloads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_dashboard_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_health_ok_then_draining, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_unknown_path_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_other_method_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_metrics_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_without_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flags_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flags_of_routes, setup, teardown),
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
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_put_json_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_delete_back_to_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_delete_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_delete_state_file_unwritable_500,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_other_method_405, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_flag_state_file_unwritable_500, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_metrics_text_flag_gauge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_json, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_json_empty_ratio_zero,
                                        setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_off_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_other_method_405, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_metrics_text_cache_families, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_metrics_text_cache_off_no_families, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_cache_section, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_status_json_cache_off_no_section, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_purge_url_and_variants,
                                        setup_cache, teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_purge_prefix, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_purge_tag, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_purge_token_401_403, setup_cache,
                                        teardown_cache),
        cmocka_unit_test_setup_teardown(test_lv__admin_route_cache_purge_bad_params_400,
                                        setup_cache, teardown_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
