/* tests/unit/admin/test_faults_api.c: the /faults answers (list, token-checked start with the
 * JSON reasons and the target checked against a hand-made config, read, token-checked end, the
 * limit, other methods) over a real fault table, through lv__admin_route, without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/endpoints.h"
#include "admin_request.h"
#include "core/common.h"
#include "core/log.h"
#include "proxy/faults.h"

#define TOKEN "Bearer s3cret"
#define LATENCY "{\"service\":\"app\",\"kind\":\"latency\",\"ms\":50,\"duration_ms\":30000}"

typedef struct fake {
    lv_config_t cfg;
    lv_service_conf_t services[2];
    lv_route_conf_t routes[2];
    lv_addr_t upstreams[3];
    lv_admin_source_t src;
    lv_faults_t *faults;
} fake_t;

static lv_config_t *fake_config(void *ctx)
{
    return &((fake_t *)ctx)->cfg;
}

static int setup(void **state)
{
    lv_log_set_level(LV_LOG_ERROR);
    fake_t *f = calloc(1, sizeof *f);
    assert_int_equal(lv_addr_parse(&f->upstreams[0], "127.0.0.1:9000", false), 0);
    assert_int_equal(lv_addr_parse(&f->upstreams[1], "127.0.0.1:9001", false), 0);
    assert_int_equal(lv_addr_parse(&f->upstreams[2], "[::1]:9002", false), 0);
    f->services[0] =
        (lv_service_conf_t){.name = "app", .upstreams = &f->upstreams[0], .n_upstreams = 2};
    f->services[1] =
        (lv_service_conf_t){.name = "recs", .upstreams = &f->upstreams[2], .n_upstreams = 1};
    f->routes[0] = (lv_route_conf_t){.path_prefix = "/", .path_prefix_len = 1, .service = 0};
    f->routes[1] = (lv_route_conf_t){
        .path_prefix = "/checkout", .path_prefix_len = 9, .service = 1, .name = "checkout"};
    f->cfg.path = "/etc/levee.yaml";
    f->cfg.workers = 1;
    f->cfg.services = f->services;
    f->cfg.n_services = 2;
    f->cfg.routes = f->routes;
    f->cfg.n_routes = 2;
    f->cfg.admin_token = "s3cret";
    f->faults = lv_faults_new(NULL);
    assert_non_null(f->faults);
    f->src = (lv_admin_source_t){.ctx = f, .config = fake_config, .faults = f->faults};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_t *f = *state;
    lv_faults_free(f->faults);
    free(f);
    return 0;
}

/* A request with an optional Authorization value and body (NULL: absent). */
static lv__admin_reply_t route(fake_t *f, uint8_t method, const char *target, const char *auth,
                               const char *body)
{
    return admin_request(&f->src, 0, method, target, auth, body);
}

static int status_of(fake_t *f, uint8_t method, const char *target, const char *auth,
                     const char *body)
{
    lv__admin_reply_t r = route(f, method, target, auth, body);
    free(r.body);
    return r.status;
}

/* The status and text body of a request, which must be want_status and want_body. */
static void expect(fake_t *f, uint8_t method, const char *target, const char *auth,
                   const char *body, int want_status, const char *want_body)
{
    lv__admin_reply_t r = route(f, method, target, auth, body);
    char got[512];
    snprintf(got, sizeof got, "%s", r.body);
    free(r.body);
    if (r.status != want_status || strcmp(got, want_body) != 0)
        fail_msg("%s %s: got %d %s, want %d %s", llhttp_method_name(method), target, r.status, got,
                 want_status, want_body);
}

/* Starts a fault from json, which must work; returns its id. */
static uint64_t start(fake_t *f, const char *json)
{
    lv__admin_reply_t r = route(f, HTTP_POST, "/faults", TOKEN, json);
    if (r.status != 201)
        fail_msg("POST %s: %d %s", json, r.status, r.body);
    assert_string_equal(r.content_type, "application/json");
    unsigned long long id = 0;
    const char *p = strstr(r.body, "\"id\":");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\"id\":%llu", &id), 1);
    free(r.body);
    return id;
}

static void test_lv__admin_route_faults_empty_list(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_GET, "/faults", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "{\"faults\":[]}\n");
    free(r.body);
}

static void test_lv__admin_route_faults_post_without_token_401(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_POST, "/faults", NULL, LATENCY);
    assert_int_equal(r.status, 401);
    assert_true(r.www_authenticate);
    free(r.body);
    assert_int_equal(status_of(f, HTTP_POST, "/faults", "Bearer nope", LATENCY), 401);
    /* Checked before the body, so a stranger learns nothing of names or syntax. */
    assert_int_equal(status_of(f, HTTP_POST, "/faults", NULL, "{"), 401);
    assert_int_equal(lv_faults_active(f->faults), 0);
}

static void test_lv__admin_route_faults_no_token_configured_403(void **state)
{
    fake_t *f = *state;
    f->cfg.admin_token = NULL;
    expect(f, HTTP_POST, "/faults", TOKEN, LATENCY, 403, "writes disabled: set admin.token\n");
    expect(f, HTTP_DELETE, "/faults/1", TOKEN, NULL, 403, "writes disabled: set admin.token\n");
    assert_int_equal(lv_faults_active(f->faults), 0);
    /* Reads need no token. */
    assert_int_equal(status_of(f, HTTP_GET, "/faults", NULL, NULL), 200);
}

static void test_lv__admin_route_faults_bad_json_400_with_reason(void **state)
{
    fake_t *f = *state;
    expect(f, HTTP_POST, "/faults", TOKEN, NULL, 400, "expected a JSON object\n");
    expect(f, HTTP_POST, "/faults", TOKEN,
           "{\"service\":\"app\",\"kind\":\"reset\",\"share\":2,\"duration_ms\":5}", 400,
           "\"share\": expected a number in 0..1\n");
    expect(f, HTTP_POST, "/faults", TOKEN, "{\"service\":\"app\",\"kind\":\"reset\"}", 400,
           "\"duration_ms\": required\n");
    expect(f, HTTP_POST, "/faults", TOKEN, "{\"service\":\"app\",\"kind\":\"reset\"", 400,
           "bad JSON at byte 31: expected ',' or '}'\n");
    assert_int_equal(lv_faults_active(f->faults), 0);
}

static void test_lv__admin_route_faults_unknown_target_404(void **state)
{
    fake_t *f = *state;
    expect(f, HTTP_POST, "/faults", TOKEN,
           "{\"service\":\"ghost\",\"kind\":\"reset\",\"duration_ms\":5}", 404,
           "unknown service or route\n");
    expect(f, HTTP_POST, "/faults", TOKEN,
           "{\"route\":\"ghost\",\"kind\":\"reset\",\"duration_ms\":5}", 404,
           "unknown service or route\n");
    /* A service's name is not a route's. */
    expect(f, HTTP_POST, "/faults", TOKEN,
           "{\"route\":\"app\",\"kind\":\"reset\",\"duration_ms\":5}", 404,
           "unknown service or route\n");
    expect(f, HTTP_POST, "/faults", TOKEN,
           "{\"service\":\"recs\",\"kind\":\"host_down\",\"host\":\"127.0.0.1:9000\","
           "\"duration_ms\":5}",
           400, "\"host\": \"127.0.0.1:9000\" is not one of the upstreams of service \"recs\"\n");
    assert_int_equal(lv_faults_active(f->faults), 0);
}

static void test_lv__admin_route_faults_post_201_then_listed(void **state)
{
    fake_t *f = *state;
    lv__admin_reply_t r = route(f, HTTP_POST, "/faults", TOKEN, LATENCY);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"service\":\"app\""));
    assert_non_null(strstr(r.body, "\"kind\":\"latency\""));
    assert_non_null(strstr(r.body, "\"ms\":50"));
    assert_int_equal(r.body[0], '{');
    assert_int_equal(r.body[r.body_len - 1], '\n');
    free(r.body);
    assert_int_equal(lv_faults_active(f->faults), 1);
    uint64_t id = start(f, "{\"route\":\"checkout\",\"kind\":\"abort\",\"status\":429,"
                           "\"share\":0.5,\"duration_ms\":60000}");
    uint64_t host = start(f, "{\"service\":\"app\",\"kind\":\"host_down\","
                             "\"host\":\"localhost:9001\",\"duration_ms\":60000}");
    assert_int_equal(lv_faults_active(f->faults), 3);

    r = route(f, HTTP_GET, "/faults", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "{\"faults\":[{", 12) == 0);
    assert_non_null(strstr(r.body, "\"kind\":\"latency\""));
    assert_non_null(strstr(r.body, "\"route\":\"checkout\""));
    assert_non_null(strstr(r.body, "\"status\":429"));
    /* The host as the service's upstreams store it. */
    assert_non_null(strstr(r.body, "\"host\":\"127.0.0.1:9001\""));
    free(r.body);

    char path[64];
    snprintf(path, sizeof path, "/faults/%llu", (unsigned long long)id);
    r = route(f, HTTP_GET, path, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"route\":\"checkout\""));
    assert_null(strstr(r.body, "\"kind\":\"latency\"")); /* that one alone */
    free(r.body);
    snprintf(path, sizeof path, "/faults/%llu", (unsigned long long)(host + 1));
    expect(f, HTTP_GET, path, NULL, NULL, 404, "no such fault\n");
    static const char *const not_ids[] = {
        "/faults/0", "/faults/01", "/faults/x", "/faults/1/", "/faults/99999999999999999999999",
        "/faults/"};
    for (size_t i = 0; i < LV_ARRAY_LEN(not_ids); i++)
        expect(f, HTTP_GET, not_ids[i], NULL, NULL, 404, "no such fault\n");
    /* Not a /faults path at all. */
    expect(f, HTTP_GET, "/faultsx", NULL, NULL, 404, "not found\n");
}

static void test_lv__admin_route_faults_delete_ends_it(void **state)
{
    fake_t *f = *state;
    uint64_t id = start(f, LATENCY);
    char path[64], body[64];
    snprintf(path, sizeof path, "/faults/%llu", (unsigned long long)id);
    expect(f, HTTP_DELETE, path, NULL, NULL, 401,
           "unauthorized: send Authorization: Bearer <admin.token>\n");
    assert_int_equal(lv_faults_active(f->faults), 1);
    snprintf(body, sizeof body, "{\"ended\":%llu}\n", (unsigned long long)id);
    lv__admin_reply_t r = route(f, HTTP_DELETE, path, TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, body);
    free(r.body);
    assert_int_equal(lv_faults_active(f->faults), 0);
    expect(f, HTTP_GET, path, NULL, NULL, 404, "no such fault\n");
    expect(f, HTTP_DELETE, path, TOKEN, NULL, 404, "no such fault\n");
    expect(f, HTTP_DELETE, "/faults/x", TOKEN, NULL, 404, "no such fault\n");
    expect(f, HTTP_GET, "/faults", NULL, NULL, 200, "{\"faults\":[]}\n");
}

static void test_lv__admin_route_faults_too_many_409(void **state)
{
    fake_t *f = *state;
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
        (void)start(f, LATENCY);
    expect(f, HTTP_POST, "/faults", TOKEN, LATENCY, 409, "too many faults in force (64)\n");
    assert_int_equal(lv_faults_active(f->faults), LV_FAULTS_MAX);
}

static void test_lv__admin_metrics_text_faults_active_gauge(void **state)
{
    fake_t *f = *state;
    lv_metrics_shard_t *shard = calloc(1, sizeof *shard);
    f->src.shards = &shard;
    f->src.n_shards = 1;
    size_t len = 0;
    char *text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(strstr(text, "# TYPE levee_faults_active gauge\nlevee_faults_active 0\n"));
    free(text);
    (void)start(f, LATENCY);
    (void)start(f, LATENCY);
    text = lv__admin_metrics_text(&f->src, &len);
    assert_non_null(strstr(text, "\nlevee_faults_active 2\n"));
    free(text);
    f->src.faults = NULL; /* no table, no family */
    text = lv__admin_metrics_text(&f->src, &len);
    assert_null(strstr(text, "levee_faults_active"));
    free(text);
    free(shard);
}

/* Each of the methods on target gets 405 with allow. */
static void expect_405(fake_t *f, const char *target, const char *allow)
{
    static const uint8_t methods[] = {HTTP_PUT, HTTP_POST, HTTP_DELETE, HTTP_HEAD, HTTP_PATCH};
    for (size_t i = 0; i < LV_ARRAY_LEN(methods); i++) {
        if (strstr(allow, llhttp_method_name(methods[i])))
            continue;
        lv__admin_reply_t r = route(f, methods[i], target, TOKEN, LATENCY);
        assert_int_equal(r.status, 405);
        assert_string_equal(r.allow, allow);
        free(r.body);
    }
}

static void test_lv__admin_route_faults_other_method_405(void **state)
{
    fake_t *f = *state;
    expect_405(f, "/faults", "GET, POST");
    expect_405(f, "/faults/1", "GET, DELETE");
    assert_int_equal(lv_faults_active(f->faults), 0);
}

static void test_lv__admin_route_faults_without_table_404(void **state)
{
    fake_t *f = *state;
    f->src.faults = NULL;
    expect(f, HTTP_GET, "/faults", NULL, NULL, 404, "not found\n");
    expect(f, HTTP_POST, "/faults", TOKEN, LATENCY, 404, "not found\n");
    expect(f, HTTP_DELETE, "/faults/1", TOKEN, NULL, 404, "not found\n");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_lv__admin_route_faults_empty_list),
        T(test_lv__admin_route_faults_post_without_token_401),
        T(test_lv__admin_route_faults_no_token_configured_403),
        T(test_lv__admin_route_faults_bad_json_400_with_reason),
        T(test_lv__admin_route_faults_unknown_target_404),
        T(test_lv__admin_route_faults_post_201_then_listed),
        T(test_lv__admin_route_faults_delete_ends_it),
        T(test_lv__admin_route_faults_too_many_409),
        T(test_lv__admin_metrics_text_faults_active_gauge),
        T(test_lv__admin_route_faults_other_method_405),
        T(test_lv__admin_route_faults_without_table_404),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
