/* tests/unit/core/test_config.c: the YAML loader (good files, defaults, every error with its
 * exact text), addresses, routing, and docs/config.md staying in step with the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/config.h"

#define MIN_OK "listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1} ]\n"

static lv_config_t *load(const char *yaml, lv_config_errors_t *errs)
{
    return lv_config_load_string("t.yaml", yaml, strlen(yaml), errs);
}

/* Loads yaml; returns true when it fails with exactly the expected lines, in order, else
 * prints what it got. */
static bool expect_errors(const char *yaml, const char *const *want)
{
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = load(yaml, &errs);
    uint32_t n_want = 0;
    bool ok = cfg == NULL;
    while (want[n_want])
        n_want++;
    ok = ok && errs.n == n_want;
    for (uint32_t i = 0; ok && i < n_want; i++)
        ok = strcmp(errs.lines[i], want[i]) == 0;
    if (!ok) {
        fprintf(stderr, "input:\n%s\ngot %u lines (cfg %p):\n", yaml, errs.n, (void *)cfg);
        for (uint32_t i = 0; i < errs.n; i++)
            fprintf(stderr, "  %s\n", errs.lines[i]);
        fprintf(stderr, "want:\n");
        for (uint32_t i = 0; i < n_want; i++)
            fprintf(stderr, "  %s\n", want[i]);
    }
    lv_config_unref(cfg);
    lv_config_errors_fini(&errs);
    return ok;
}

static lv_config_t *load_ok(const char *yaml)
{
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = load(yaml, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "unexpected: %s\n", errs.lines[i]);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 0);
    lv_config_errors_fini(&errs);
    return cfg;
}

/* ---- good files ---- */

static void test_lv_config_load_string_minimal_takes_every_default(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK);
    assert_int_equal(atomic_load(&cfg->refs), 1);
    assert_string_equal(cfg->path, "t.yaml");
    assert_true(cfg->workers >= 1 && cfg->workers <= 64);
    assert_int_equal(cfg->n_listeners, 1);
    assert_string_equal(cfg->listeners[0].text, "127.0.0.1:0");
    assert_true(cfg->admin_enabled);
    assert_string_equal(cfg->admin.text, "127.0.0.1:9901");
    assert_null(cfg->admin_token);
    assert_int_equal(cfg->limits.header_bytes, 16384);
    assert_int_equal(cfg->limits.target_bytes, 8192);
    assert_int_equal(cfg->limits.body_bytes, 0);
    assert_int_equal(cfg->limits.connections, 10000);
    assert_int_equal(cfg->limits.header_timeout_ms, 10000);
    assert_int_equal(cfg->limits.keepalive_timeout_ms, 60000);
    assert_int_equal(cfg->limits.send_timeout_ms, 60000);
    assert_int_equal(cfg->drain_timeout_ms, 10000);
    assert_null(cfg->access_log);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->n_services, 1);
    const lv_service_conf_t *s = &cfg->services[0];
    assert_string_equal(s->name, "a");
    assert_int_equal(s->n_upstreams, 1);
    assert_string_equal(s->upstreams[0].text, "127.0.0.1:1");
    assert_int_equal(s->criticality, LV_CRIT_DEFAULT);
    assert_int_equal(s->balance, LV_BALANCE_LEAST_OUTSTANDING);
    assert_int_equal(s->connect_timeout_ms, 1000);
    assert_int_equal(s->read_timeout_ms, 30000);
    assert_int_equal(s->keepalive, 128);
    assert_int_equal(s->keepalive_idle_ms, 60000);
    assert_int_equal(s->metrics_slot, 0);
    /* No routes: one route "/" to the first service. */
    assert_int_equal(cfg->n_routes, 1);
    assert_null(cfg->routes[0].host);
    assert_string_equal(cfg->routes[0].path_prefix, "/");
    assert_int_equal(cfg->routes[0].path_prefix_len, 1);
    assert_int_equal(cfg->routes[0].service, 0);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_full_file_sets_every_key(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(
        "workers: 4\n"
        "listen: [ \"127.0.0.1:0\", \"[::1]:8080\", \"localhost:8081\" ]\n"
        "admin: { listen: \"127.0.0.1:0\", enabled: false, token: s3cret }\n"
        "limits: { header_bytes: 64k, target_bytes: 4KiB, body_bytes: 10m, connections: 5 }\n"
        "timeouts: { header_ms: 500ms, keepalive_ms: 2m, send_ms: 1h, drain_ms: 3s }\n"
        "access_log: \"-\"\n"
        "log_level: debug\n"
        "services:\n"
        "  - name: api\n"
        "    upstreams: [ \"10.0.0.1:80\", \"10.0.0.2:80\" ]\n"
        "    criticality: critical\n"
        "    balance: least_outstanding\n"
        "    connect_timeout_ms: 250\n"
        "    read_timeout_ms: 5s\n"
        "    keepalive: 0\n"
        "    keepalive_idle_ms: 1500\n"
        "  - { name: reco.v2-x_1, upstreams: \"[::1]:9000\", criticality: sheddable }\n"
        "routes:\n"
        "  - { host: API.Example.com, path: /v1/, service: api }\n"
        "  - { path: /reco/, service: reco.v2-x_1 }\n");
    assert_int_equal(cfg->workers, 4);
    assert_int_equal(cfg->n_listeners, 3);
    assert_string_equal(cfg->listeners[1].text, "[::1]:8080");
    assert_int_equal(cfg->listeners[1].sa.ss_family, AF_INET6);
    assert_string_equal(cfg->listeners[2].text, "127.0.0.1:8081");
    assert_false(cfg->admin_enabled);
    assert_string_equal(cfg->admin.text, "127.0.0.1:0");
    assert_string_equal(cfg->admin_token, "s3cret");
    assert_int_equal(cfg->limits.header_bytes, 65536);
    assert_int_equal(cfg->limits.target_bytes, 4096);
    assert_int_equal(cfg->limits.body_bytes, 10u << 20);
    assert_int_equal(cfg->limits.connections, 5);
    assert_int_equal(cfg->limits.header_timeout_ms, 500);
    assert_int_equal(cfg->limits.keepalive_timeout_ms, 120000);
    assert_int_equal(cfg->limits.send_timeout_ms, 3600000);
    assert_int_equal(cfg->drain_timeout_ms, 3000);
    assert_string_equal(cfg->access_log, "-");
    assert_string_equal(cfg->log_level, "debug");
    assert_int_equal(cfg->n_services, 2);
    const lv_service_conf_t *s = &cfg->services[0];
    assert_int_equal(s->n_upstreams, 2);
    assert_string_equal(s->upstreams[1].text, "10.0.0.2:80");
    assert_int_equal(s->criticality, LV_CRIT_CRITICAL);
    assert_int_equal(s->balance, LV_BALANCE_LEAST_OUTSTANDING);
    assert_int_equal(s->connect_timeout_ms, 250);
    assert_int_equal(s->read_timeout_ms, 5000);
    assert_int_equal(s->keepalive, 0);
    assert_int_equal(s->keepalive_idle_ms, 1500);
    assert_string_equal(cfg->services[1].name, "reco.v2-x_1");
    assert_int_equal(cfg->services[1].criticality, LV_CRIT_SHEDDABLE);
    assert_int_equal(cfg->n_routes, 2);
    assert_string_equal(cfg->routes[0].host, "api.example.com");
    assert_string_equal(cfg->routes[0].path_prefix, "/v1/");
    assert_int_equal(cfg->routes[0].path_prefix_len, 4);
    assert_int_equal(cfg->routes[0].service, 0);
    assert_null(cfg->routes[1].host);
    assert_int_equal(cfg->routes[1].service, 1);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_routes_may_come_before_services(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok("routes: [ {path: /b, service: b} ]\n"
                               "listen: 127.0.0.1:0\n"
                               "services: [ {name: a, upstreams: 127.0.0.1:1},\n"
                               "            {name: b, upstreams: 127.0.0.1:2} ]\n");
    assert_int_equal(cfg->n_routes, 1);
    assert_int_equal(cfg->routes[0].service, 1);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_route_criticality(void **state)
{
    (void)state;
    lv_config_t *cfg =
        load_ok("listen: 127.0.0.1:0\n"
                "services: [ {name: a, upstreams: 127.0.0.1:1, criticality: critical} ]\n"
                "routes: [ {path: /recs/, service: a, criticality: sheddable},\n"
                "          {path: /, service: a} ]\n");
    assert_int_equal(cfg->routes[0].criticality, LV_CRIT_SHEDDABLE + 1);
    assert_int_equal(cfg->routes[1].criticality, 0); /* the service's own */
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_route_name_and_flag(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(
        "listen: 127.0.0.1:0\n"
        "services: [ {name: a, upstreams: 127.0.0.1:1}, {name: b, upstreams: 127.0.0.1:2} ]\n"
        "routes:\n"
        "  - {path: /checkout, service: a, name: checkout, flag: off}\n"
        "  - {path: /search, service: b, name: search.v2-x_1}\n"
        "  - {path: /promo, service: b, name: promo, flag: auto}\n"
        "  - {path: /, service: a, name: ~, flag: ~}\n");
    assert_string_equal(cfg->routes[0].name, "checkout");
    assert_int_equal(cfg->routes[0].flag, 1); /* off */
    assert_string_equal(cfg->routes[1].name, "search.v2-x_1");
    assert_int_equal(cfg->routes[1].flag, 0); /* on, the default */
    assert_int_equal(cfg->routes[2].flag, 2); /* auto */
    assert_null(cfg->routes[3].name);
    assert_int_equal(cfg->routes[3].flag, 0);
    for (uint32_t i = 0; i < cfg->n_routes; i++)
        assert_int_equal(cfg->routes[i].flag_slot, 0); /* the flag table sets it */
    lv_config_unref(cfg);
}

/* Two services (one with two hosts, one spelled localhost) and a named route, for faults. */
#define FAULTS_BASE                                                                                \
    "listen: 127.0.0.1:0\n"                                                                        \
    "services:\n"                                                                                  \
    "  - {name: app, upstreams: [\"127.0.0.1:9000\", \"localhost:9001\"]}\n"                       \
    "  - {name: b, upstreams: 127.0.0.1:2}\n"                                                      \
    "routes:\n"                                                                                    \
    "  - {path: /, service: app}\n"                                                                \
    "  - {path: /checkout, service: b, name: checkout}\n"

static void test_lv_config_load_string_faults_every_kind(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK);
    assert_null(cfg->faults);
    assert_int_equal(cfg->n_faults, 0);
    assert_false(cfg->fault_header);
    assert_int_equal(cfg->n_fault_header_allow, 0);
    lv_config_unref(cfg);

    cfg = load_ok(FAULTS_BASE
                  "faults:\n"
                  "  - {service: app, kind: latency, ms: 50, duration_ms: 30s}\n"
                  "  - {route: checkout, kind: latency, ms: uniform 10 100, share: 0.25, "
                  "duration_ms: 1h}\n"
                  "  - {service: b, kind: abort, duration_ms: 1}\n"
                  "  - {service: b, kind: abort, status: 429, duration_ms: 1}\n"
                  "  - {route: checkout, kind: reset, share: 0, duration_ms: 2m}\n"
                  "  - {service: app, kind: blackhole, share: 1e-2, duration_ms: 500ms}\n"
                  "  - {service: app, kind: bandwidth, bytes_per_s: 64k, duration_ms: 86400000}\n"
                  "  - {service: app, kind: host_down, host: \"localhost:9001\", duration_ms: 5}\n"
                  "  - {service: app, kind: host_down, host: \"127.0.0.1:9000\", duration_ms: 5}\n"
                  "faults_header: {enabled: true, allow: [10.0.0.0/8, \"::1\"]}\n");
    assert_int_equal(cfg->n_faults, 9);
    const lv_fault_spec_t *f = cfg->faults;
    assert_string_equal(f[0].service, "app");
    assert_string_equal(f[0].route, "");
    assert_int_equal(f[0].kind, LV_FAULT_LATENCY);
    assert_int_equal(f[0].ms.dist, LV_FAULT_DIST_FIXED);
    assert_true(f[0].ms.a == 50);
    assert_true(f[0].share == 1.0);
    assert_int_equal(f[0].duration_ms, 30000);
    assert_string_equal(f[1].route, "checkout");
    assert_string_equal(f[1].service, "");
    assert_int_equal(f[1].ms.dist, LV_FAULT_DIST_UNIFORM);
    assert_true(f[1].ms.a == 10 && f[1].ms.b == 100);
    assert_true(f[1].share == 0.25);
    assert_int_equal(f[1].duration_ms, 3600000);
    assert_int_equal(f[2].kind, LV_FAULT_ABORT);
    assert_int_equal(f[2].status, 503);
    assert_int_equal(f[3].status, 429);
    assert_int_equal(f[4].kind, LV_FAULT_RESET);
    assert_true(f[4].share == 0);
    assert_int_equal(f[4].duration_ms, 120000);
    assert_int_equal(f[5].kind, LV_FAULT_BLACKHOLE);
    assert_true(f[5].share == 0.01);
    assert_int_equal(f[5].duration_ms, 500);
    assert_int_equal(f[6].kind, LV_FAULT_BANDWIDTH);
    assert_int_equal(f[6].bytes_per_s, 65536);
    assert_int_equal(f[7].kind, LV_FAULT_HOST_DOWN);
    assert_string_equal(f[7].host, "127.0.0.1:9001"); /* as the service's upstreams store it */
    assert_string_equal(f[8].host, "127.0.0.1:9000");
    assert_true(cfg->fault_header);
    assert_int_equal(cfg->n_fault_header_allow, 2);
    assert_true(lv_cidr_contains(cfg->fault_header_allow, 2, "10.1.2.3", 8));
    assert_true(lv_cidr_contains(cfg->fault_header_allow, 2, "::1", 3));
    assert_false(lv_cidr_contains(cfg->fault_header_allow, 2, "127.0.0.1", 9));
    lv_config_unref(cfg);
}

/* A config item and the admin API's JSON object for the same fault are the same spec: the
 * defaults (share, status) and every member read alike. */
static void test_lv_config_load_string_faults_equal_their_json(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"{service: app, kind: abort, duration_ms: 1s}",
         "{\"service\":\"app\",\"kind\":\"abort\",\"duration_ms\":1000}"},
        {"{route: checkout, kind: latency, ms: \"lognormal 20 200\", share: 0.5, duration_ms: 7}",
         "{\"route\":\"checkout\",\"kind\":\"latency\",\"ms\":\"lognormal 20 200\","
         "\"share\":0.5,\"duration_ms\":7}"},
        {"{service: app, kind: bandwidth, bytes_per_s: 1m, duration_ms: 7}",
         "{\"service\":\"app\",\"kind\":\"bandwidth\",\"bytes_per_s\":1048576,"
         "\"duration_ms\":7}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[1024], err[256];
        snprintf(yaml, sizeof(yaml), FAULTS_BASE "faults: [ %s ]\n", cases[i].yaml);
        lv_config_t *cfg = load_ok(yaml);
        lv_fault_spec_t spec;
        assert_int_equal(
            lv_fault_spec_parse_json(cases[i].json, strlen(cases[i].json), &spec, err, sizeof(err)),
            0);
        assert_true(lv_fault_spec_equal(&cfg->faults[0], &spec));
        assert_int_equal(cfg->faults[0].status, spec.status);
        assert_true(cfg->faults[0].share == spec.share);
        lv_config_unref(cfg);
    }
}

static void test_lv_config_resolve_fault_target(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(FAULTS_BASE);
    lv_fault_spec_t spec;
    lv_fault_spec_init(&spec);
    strcpy(spec.service, "app");
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), 0);
    strcpy(spec.service, "nope");
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), LV_ENOTFOUND);
    spec.service[0] = '\0';
    strcpy(spec.route, "checkout");
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), 0);
    strcpy(spec.route, "b"); /* a service's name is not a route's */
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), LV_ENOTFOUND);
    spec.route[0] = '\0';
    strcpy(spec.service, "b");
    spec.kind = LV_FAULT_HOST_DOWN;
    strcpy(spec.host, "127.0.0.1:9000"); /* app's host, not b's */
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), LV_EINVAL);
    strcpy(spec.host, "localhost:2");
    assert_int_equal(lv_config_resolve_fault_target(cfg, &spec), 0);
    assert_string_equal(spec.host, "127.0.0.1:2");
    lv_config_unref(cfg);
}

static void test_lv_config_settings_fault_kinds_documented(void **state)
{
    (void)state;
    char want[256] = "";
    for (int k = 0; k < LV_FAULT_KINDS; k++) {
        strcat(want, k ? "|" : "");
        strcat(want, lv_fault_kind_names[k]);
    }
    size_t rows = 0;
    for (size_t i = 0; i < lv_config_n_settings; i++) {
        const lv_config_setting_t *s = &lv_config_settings[i];
        if (strcmp(s->key, "faults[].kind") == 0)
            assert_string_equal(s->bounds, want);
        rows += strncmp(s->key, "faults[].", 9) == 0;
    }
    assert_int_equal(rows, LV_FAULT_MEMBERS); /* a row per member */
}

static void test_lv_config_load_string_null_values_keep_defaults(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK "limits:\nlog_level: ~\nroutes:\naccess_log: off\n");
    assert_int_equal(cfg->limits.header_bytes, 16384);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->n_routes, 1);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_bounds_inclusive(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK "workers: 64\n"
                                      "limits: {header_bytes: 1m, target_bytes: 1m, "
                                      "connections: 1000000, body_bytes: 1099511627776}\n"
                                      "timeouts: {drain_ms: 0, header_ms: 86400000}\n");
    assert_int_equal(cfg->workers, 64);
    assert_int_equal(cfg->limits.header_bytes, 1048576);
    assert_int_equal(cfg->limits.target_bytes, 1048576);
    assert_int_equal(cfg->limits.connections, 1000000);
    assert_true(cfg->limits.body_bytes == 1099511627776ull);
    assert_int_equal(cfg->drain_timeout_ms, 0);
    assert_int_equal(cfg->limits.header_timeout_ms, 86400000);
    lv_config_unref(cfg);
}

static void test_lv_config_load_file_shipped_config(void **state);
static void test_lv_config_load_file_missing_file(void **state)
{
    (void)state;
    lv_config_errors_t errs = {0};
    assert_null(lv_config_load_file("/nonexistent/levee.yaml", &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.lines[0],
                        "/nonexistent/levee.yaml: cannot read: No such file or directory");
    lv_config_errors_fini(&errs);
}

static void test_lv_config_new_default_fills_defaults(void **state)
{
    (void)state;
    lv_config_t *cfg = lv_config_new_default();
    assert_non_null(cfg);
    assert_int_equal(atomic_load(&cfg->refs), 1);
    assert_true(cfg->workers >= 1);
    assert_int_equal(cfg->n_listeners, 0);
    assert_int_equal(cfg->n_services, 0);
    assert_int_equal(cfg->n_routes, 0);
    assert_string_equal(cfg->admin.text, "127.0.0.1:9901");
    assert_int_equal(cfg->limits.header_bytes, 16384);
    assert_int_equal(cfg->limits.connections, 10000);
    assert_int_equal(cfg->drain_timeout_ms, 10000);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(lv_config_route(cfg, NULL, 0, "/", 1), -1);
    lv_config_unref(cfg);
}

static void test_lv_config_ref_last_unref_frees(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK);
    assert_ptr_equal(lv_config_ref(cfg), cfg);
    assert_int_equal(atomic_load(&cfg->refs), 2);
    lv_config_unref(cfg);
    assert_int_equal(atomic_load(&cfg->refs), 1);
    lv_config_unref(cfg); /* ASan reports a leak if this does not free */
    lv_config_unref(NULL);
}

/* ---- the cache's keys ---- */

static void test_lv_config_load_string_cache_defaults(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK);
    assert_true(cfg->cache_size == 0);
    assert_int_equal(cfg->cache_shards, 16);
    assert_int_equal(cfg->cache_policy, 0); /* sieve */
    assert_int_equal(cfg->cache_lock_timeout_ms, 5000);
    assert_int_equal(cfg->cache_pass_ttl_ms, 10000);
    assert_int_equal(cfg->services[0].cache_serve_stale_ms, 0);
    /* The route made when the file has none takes every route default too. */
    assert_int_equal(cfg->n_routes, 1);
    assert_true(cfg->routes[0].cache);
    assert_int_equal(cfg->routes[0].n_cache_key, 0);
    lv_config_unref(cfg);

    cfg = load_ok(MIN_OK "routes: [ {path: /, service: a} ]\n");
    assert_true(cfg->routes[0].cache);
    assert_int_equal(cfg->routes[0].n_cache_key, 0);
    lv_config_unref(cfg);

    cfg = lv_config_new_default();
    assert_true(cfg->cache_size == 0);
    assert_int_equal(cfg->cache_shards, 16);
    assert_int_equal(cfg->cache_policy, 0);
    assert_int_equal(cfg->cache_lock_timeout_ms, 5000);
    assert_int_equal(cfg->cache_pass_ttl_ms, 10000);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_cache_every_key(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok("listen: 127.0.0.1:0\n"
                               "cache:\n"
                               "  size: 256MB\n"
                               "  shards: 1024\n"
                               "  policy: lru\n"
                               "  lock_timeout_ms: 0\n"
                               "  pass_ttl_ms: 1h\n"
                               "services:\n"
                               "  - name: a\n"
                               "    upstreams: 127.0.0.1:1\n"
                               "    cache: { serve_stale_ms: 24h }\n"
                               "  - name: b\n"
                               "    upstreams: 127.0.0.1:2\n"
                               "    cache: { serve_stale_ms: 90s }\n"
                               "routes:\n"
                               "  - { path: /api/, service: a, cache: false }\n"
                               "  - { path: /, service: b, cache_key: \"header:X-Tenant\" }\n");
    assert_true(cfg->cache_size == 256ull << 20);
    assert_int_equal(cfg->cache_shards, 1024);
    assert_int_equal(cfg->cache_policy, 1); /* lru */
    assert_int_equal(cfg->cache_lock_timeout_ms, 0);
    assert_int_equal(cfg->cache_pass_ttl_ms, 3600000);
    assert_int_equal(cfg->services[0].cache_serve_stale_ms, 86400000);
    assert_int_equal(cfg->services[1].cache_serve_stale_ms, 90000);
    assert_false(cfg->routes[0].cache);
    assert_int_equal(cfg->routes[0].n_cache_key, 0);
    assert_true(cfg->routes[1].cache);
    assert_int_equal(cfg->routes[1].n_cache_key, 1);
    assert_int_equal(cfg->routes[1].cache_key[0].kind, LV_CACHE_KEY_HEADER);
    assert_string_equal(cfg->routes[1].cache_key[0].name, "x-tenant");
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_cache_key_parts(void **state)
{
    (void)state;
    lv_config_t *cfg =
        load_ok(MIN_OK "routes:\n"
                       "  - path: /a\n"
                       "    service: a\n"
                       "    cache_key: \"header:Accept-Language,cookie:Session_ID\"\n"
                       "  - path: /b\n"
                       "    service: a\n"
                       "    cache_key: \"  cookie:AB ,\theader:X-A , header:x-b,"
                       "cookie:c!#$%&'*+-.^_`|~ \"\n"
                       "  - { path: /c, service: a, cache_key: \"\" }\n");
    const lv_route_conf_t *r = &cfg->routes[0];
    assert_int_equal(r->n_cache_key, 2);
    assert_int_equal(r->cache_key[0].kind, LV_CACHE_KEY_HEADER);
    assert_string_equal(r->cache_key[0].name, "accept-language"); /* header names lower-cased */
    assert_int_equal(r->cache_key[0].name_len, 15);
    assert_int_equal(r->cache_key[1].kind, LV_CACHE_KEY_COOKIE);
    assert_string_equal(r->cache_key[1].name, "Session_ID"); /* cookie names as written */
    assert_int_equal(r->cache_key[1].name_len, 10);
    r = &cfg->routes[1];
    assert_int_equal(r->n_cache_key, LV_CACHE_KEY_PARTS_MAX);
    assert_int_equal(r->cache_key[0].kind, LV_CACHE_KEY_COOKIE);
    assert_string_equal(r->cache_key[0].name, "AB");
    assert_int_equal(r->cache_key[1].kind, LV_CACHE_KEY_HEADER);
    assert_string_equal(r->cache_key[1].name, "x-a");
    assert_string_equal(r->cache_key[2].name, "x-b");
    assert_int_equal(r->cache_key[3].kind, LV_CACHE_KEY_COOKIE);
    assert_string_equal(r->cache_key[3].name, "c!#$%&'*+-.^_`|~");
    assert_int_equal(cfg->routes[2].n_cache_key, 0);
    lv_config_unref(cfg); /* ASan: every name is freed with the config */

    char yaml[512];
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    snprintf(yaml, sizeof(yaml),
             MIN_OK "routes: [ {path: /, service: a, cache_key: \"cookie:%s\"} ]\n", name);
    cfg = load_ok(yaml);
    assert_int_equal(cfg->routes[0].cache_key[0].name_len, 64);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_tls_listeners_and_services(void **state)
{
    (void)state;
    lv_config_t *cfg =
        load_ok("listen: 127.0.0.1:8080\n"
                "listeners:\n"
                "  - listen: 127.0.0.1:8443\n"
                "    tls:\n"
                "      certificates: [{cert: a.pem, key: a.key}, {cert: /b.pem}]\n"
                "      min_version: \"1.3\"\n"
                "      session_cache: 0\n"
                "  - listen: 127.0.0.1:8081\n"
                "tls: {ticket_rotate_ms: 2m, handshake_cpu_percent: 30}\n"
                "services:\n"
                "  - {name: a, upstreams: 127.0.0.1:1,\n"
                "     tls: {enabled: true, server_name: API.Internal, ca_file: ca.pem}}\n");
    assert_int_equal(cfg->n_listeners, 3); /* listen's first, then listeners in order */
    assert_string_equal(cfg->listeners[0].text, "127.0.0.1:8080");
    assert_string_equal(cfg->listeners[1].text, "127.0.0.1:8443");
    assert_string_equal(cfg->listeners[2].text, "127.0.0.1:8081");
    const lv_listener_conf_t *l = &cfg->listener_confs[1];
    assert_int_equal(cfg->listener_confs[0].n_certs, 0);
    assert_int_equal(cfg->listener_confs[2].n_certs, 0);
    assert_int_equal(l->n_certs, 2);
    assert_string_equal(l->certs[0].cert, "a.pem"); /* "t.yaml" has no directory */
    assert_string_equal(l->certs[0].key, "a.key");
    assert_null(l->certs[1].key);
    assert_int_equal(l->tls_min_version, 1);
    assert_int_equal(l->tls_session_cache, 0);
    assert_true(l->tls_tickets);
    assert_string_equal(l->tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
    assert_int_equal(cfg->tls_ticket_rotate_ms, 120000);
    assert_int_equal(cfg->tls_handshake_cpu_percent, 30);
    assert_true(cfg->services[0].tls.enabled);
    assert_true(cfg->services[0].tls.verify);
    assert_string_equal(cfg->services[0].tls.server_name, "api.internal");
    assert_string_equal(cfg->services[0].tls.ca_file, "ca.pem");
    lv_config_unref(cfg);

    /* Paths are relative to the config file's directory. */
    const char *yaml = "listeners: [{listen: 127.0.0.1:0, tls: {certificates: [{cert: c.pem}]}}]\n"
                       "services: [ {name: a, upstreams: 127.0.0.1:1} ]\n";
    lv_config_errors_t errs = {0};
    cfg = lv_config_load_string("/etc/levee/levee.yaml", yaml, strlen(yaml), &errs);
    assert_non_null(cfg);
    assert_string_equal(cfg->listener_confs[0].certs[0].cert, "/etc/levee/c.pem");
    lv_config_unref(cfg);
    lv_config_errors_fini(&errs);
}

static void test_lv_config_load_string_tls_refused(void **state)
{
    (void)state;
    const char *no_cert[] = {"t.yaml:1:56: listeners[0].tls.certificates[0].cert: required", NULL};
    assert_true(
        expect_errors("listeners: [{listen: 127.0.0.1:0, tls: {certificates: [{key: k}]}}]\n"
                      "services: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
                      no_cert));
    const char *version[] = {
        "t.yaml:1:54: listeners[0].tls.min_version: \"1.1\" is not one of 1.2|1.3", NULL};
    assert_true(expect_errors("listeners: [{listen: 127.0.0.1:0, tls: {min_version: \"1.1\"}}]\n"
                              "services: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
                              version));
    const char *twice[] = {"t.yaml:2:22: listeners[0].listen: \"127.0.0.1:80\" is listed twice",
                           NULL};
    assert_true(expect_errors("listen: 127.0.0.1:80\nlisteners: [{listen: 127.0.0.1:80}]\n"
                              "services: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
                              twice));
    /* Active health checks speak TLS to a TLS service's upstreams: accepted. */
    lv_config_t *cfg = load_ok("listen: 127.0.0.1:0\nservices:\n"
                               "  - {name: b, upstreams: 127.0.0.1:1, tls: {enabled: true},\n"
                               "     health_check: {path: /h}}\n");
    assert_true(cfg->services[0].tls.enabled);
    assert_string_equal(cfg->services[0].health_check.path, "/h");
    lv_config_unref(cfg);
}

static void test_lv_config_parse_bytes_suffixes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"0", 0},
        {"123", 123},
        {"512k", 512ull << 10},
        {"512KB", 512ull << 10},
        {"512KiB", 512ull << 10},
        {"512kib", 512ull << 10},
        {"256m", 256ull << 20},
        {"256M", 256ull << 20},
        {"256MB", 256ull << 20},
        {"256mb", 256ull << 20},
        {"256MiB", 256ull << 20},
        {"1g", 1ull << 30},
        {"1GB", 1ull << 30},
        {"1GiB", 1ull << 30},
        {"16384g", 16384ull << 30},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t got = 1;
        if (lv_config_parse_bytes(ok[i].text, &got) != 0 || got != ok[i].bytes)
            fail_msg("%s: got %llu, want %llu", ok[i].text, (unsigned long long)got,
                     (unsigned long long)ok[i].bytes);
    }
    static const char *const bad[] = {
        "",
        "xyz",
        "k",
        "MB",
        "12x",
        "1t",
        "1TB",
        "1kbb",
        "1kB ",
        " 1k",
        "1 k",
        "-1",
        "1.5g",
        "1Ki",
        "1iB",
        "99999999999999999999",
        "17179869184g",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t got;
        if (lv_config_parse_bytes(bad[i], &got) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }

    /* The loader takes the same forms, for every bytes key. */
    lv_config_t *cfg = load_ok(MIN_OK "cache: {size: 1GiB}\n"
                                      "limits: {header_bytes: 32KB, target_bytes: 2kib, "
                                      "body_bytes: 3Mb}\n");
    assert_true(cfg->cache_size == 1ull << 30);
    assert_int_equal(cfg->limits.header_bytes, 32768);
    assert_int_equal(cfg->limits.target_bytes, 2048);
    assert_true(cfg->limits.body_bytes == 3ull << 20);
    lv_config_unref(cfg);
}

/* ---- the guard's keys ---- */

static void test_lv_config_load_string_guard_defaults(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK);
    assert_string_equal(cfg->client_id, "ip");
    assert_int_equal(cfg->storm_window_ms, 10000);
    assert_int_equal(cfg->storm_threshold, 3);
    assert_int_equal(cfg->storm_entries, 65536);
    assert_int_equal(cfg->retry_after_ms, 2000);
    assert_string_equal(cfg->deadline_header, "X-Deadline-Ms");
    assert_null(cfg->state_file);
    const lv_guard_conf_t *g = &cfg->services[0].guard;
    assert_true(g->enabled);
    assert_int_equal(g->limit_initial, 20);
    assert_int_equal(g->limit_min, 1);
    assert_int_equal(g->limit_max, 1000);
    assert_int_equal(g->queue_max, 1000);
    assert_int_equal(g->queue_target_ms, 5);
    assert_int_equal(g->queue_interval_ms, 100);
    assert_int_equal(g->queue_timeout_ms, 100);
    assert_int_equal(g->deadline_ms, 0);
    assert_int_equal(g->breaker_window_ms, 10000);
    assert_int_equal(g->breaker_min_requests, 20);
    assert_int_equal(g->breaker_error_percent, 50);
    assert_int_equal(g->breaker_cooldown_ms, 5000);
    assert_int_equal(g->breaker_probes, 3);
    assert_int_equal(g->retry_budget_percent, 10);
    assert_int_equal(g->retry_budget_min_per_s, 3);
    assert_int_equal(g->flag, 0);
    assert_int_equal(g->fallback_status, 200);
    assert_null(g->fallback_body);
    assert_null(g->fallback_file);
    assert_null(g->fallback_redirect);
    assert_string_equal(g->fallback_content_type, "text/plain; charset=utf-8");
    assert_null(g->wait_page);
    assert_null(g->fallback_file_body);
    assert_int_equal(g->fallback_file_len, 0);
    assert_null(g->wait_page_html);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_guard_every_key(void **state)
{
    (void)state;
    lv_config_t *cfg =
        load_ok("listen: 127.0.0.1:0\n"
                "guard:\n"
                "  client_id: \"cookie:session_id\"\n"
                "  storm_window_ms: 2s\n"
                "  storm_threshold: 5\n"
                "  storm_entries: 1024\n"
                "  retry_after_ms: 3s\n"
                "  deadline_header: \"\"\n"
                "  state_file: /var/lib/levee/flags.json\n"
                "routes: [ {path: /b, service: b} ]\n"
                "services:\n"
                "  - name: b\n"
                "    upstreams: 127.0.0.1:2\n"
                "    guard: false\n"
                "    limit: { initial: 8, min: 8, max: 8 }\n"
                "    queue: { max: 0, target_ms: 10, interval_ms: 10, timeout_ms: 2s }\n"
                "    deadline_ms: 1500\n"
                "    breaker: { window_ms: 30s, min_requests: 1, error_percent: 100, "
                "cooldown_ms: 1m, probes: 1 }\n"
                "    retry_budget: { percent: 0, min_per_s: 0 }\n"
                "    flag: auto\n"
                "    fallback: { status: 599, body: \"{}\", content_type: application/json }\n");
    assert_string_equal(cfg->client_id, "cookie:session_id");
    assert_int_equal(cfg->storm_window_ms, 2000);
    assert_int_equal(cfg->storm_threshold, 5);
    assert_int_equal(cfg->storm_entries, 1024);
    assert_int_equal(cfg->retry_after_ms, 3000);
    assert_null(cfg->deadline_header);
    assert_string_equal(cfg->state_file, "/var/lib/levee/flags.json");
    assert_int_equal(cfg->n_services, 1);
    const lv_guard_conf_t *g = &cfg->services[0].guard;
    assert_false(g->enabled);
    assert_int_equal(g->limit_initial, 8);
    assert_int_equal(g->limit_min, 8);
    assert_int_equal(g->limit_max, 8);
    assert_int_equal(g->queue_max, 0);
    assert_int_equal(g->queue_target_ms, 10);
    assert_int_equal(g->queue_interval_ms, 10);
    assert_int_equal(g->queue_timeout_ms, 2000);
    assert_int_equal(g->deadline_ms, 1500);
    assert_int_equal(g->breaker_window_ms, 30000);
    assert_int_equal(g->breaker_min_requests, 1);
    assert_int_equal(g->breaker_error_percent, 100);
    assert_int_equal(g->breaker_cooldown_ms, 60000);
    assert_int_equal(g->breaker_probes, 1);
    assert_int_equal(g->retry_budget_percent, 0);
    assert_int_equal(g->retry_budget_min_per_s, 0);
    assert_int_equal(g->flag, 2);
    assert_int_equal(g->fallback_status, 599);
    assert_string_equal(g->fallback_body, "{}");
    assert_string_equal(g->fallback_content_type, "application/json");
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_guard_client_id_forms(void **state)
{
    (void)state;
    static const char *const ok[] = {"ip", "header:X-User-Id", "cookie:sid", "header:a!#$%&'*+"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml), MIN_OK "guard: {client_id: \"%s\"}\n", ok[i]);
        lv_config_t *cfg = load_ok(yaml);
        assert_string_equal(cfg->client_id, ok[i]);
        lv_config_unref(cfg);
    }
}

static void test_lv_config_load_string_guard_redirect_forms(void **state)
{
    (void)state;
    static const char *const ok[] = {"/", "/off?x=1", "http://a", "HTTPS://cdn.example.com/x#y"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1, "
                 "fallback: {redirect: \"%s\"}} ]\n",
                 ok[i]);
        lv_config_t *cfg = load_ok(yaml);
        assert_string_equal(cfg->services[0].guard.fallback_redirect, ok[i]);
        lv_config_unref(cfg);
    }
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* fallback.file and wait_page are read at load time, relative to the config file. */
static void test_lv_config_load_file_guard_reads_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/levee-test-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[4200];
    snprintf(sub, sizeof(sub), "%s/pages", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    static const char gif[] = {'G', 'I', 'F', '\0', '8'};
    write_file(dir, "pages/off.gif", gif, sizeof(gif));
    write_file(dir, "pages/wait.html", "<p>wait {{retry_after}} s</p>", 29);
    write_file(dir, "pages/bad.html", "<p>wait</p>", 11);
    write_file(dir, "pages/nul.html", "{{retry_after}}\0", 16);
    size_t big_len = (1u << 20) + 1;
    char *big = calloc(1, big_len);
    assert_non_null(big);
    write_file(dir, "pages/big.html", big, big_len);
    free(big);
    char yaml[2048];
    int n = snprintf(yaml, sizeof(yaml),
                     "listen: 127.0.0.1:0\n"
                     "services:\n"
                     "  - name: a\n"
                     "    upstreams: 127.0.0.1:1\n"
                     "    fallback: { file: pages/off.gif, content_type: image/gif }\n"
                     "    wait_page: pages/wait.html\n"
                     "  - name: b\n"
                     "    upstreams: 127.0.0.1:1\n"
                     "    wait_page: %s/pages/wait.html\n",
                     dir);
    write_file(dir, "good.yaml", yaml, (size_t)n);
    char path[4200];
    snprintf(path, sizeof(path), "%s/good.yaml", dir);
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_file(path, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "unexpected: %s\n", errs.lines[i]);
    assert_non_null(cfg);
    const lv_guard_conf_t *g = &cfg->services[0].guard;
    assert_string_equal(g->fallback_file, "pages/off.gif");
    assert_int_equal(g->fallback_file_len, sizeof(gif));
    assert_memory_equal(g->fallback_file_body, gif, sizeof(gif));
    assert_string_equal(g->wait_page_html, "<p>wait {{retry_after}} s</p>");
    assert_string_equal(cfg->services[1].guard.wait_page_html, "<p>wait {{retry_after}} s</p>");
    lv_config_unref(cfg);

    n = snprintf(yaml, sizeof(yaml),
                 "listen: 127.0.0.1:0\n"
                 "services:\n"
                 "  - {name: a, upstreams: 127.0.0.1:1, wait_page: pages/bad.html}\n"
                 "  - {name: b, upstreams: 127.0.0.1:1, wait_page: pages/nul.html}\n"
                 "  - {name: c, upstreams: 127.0.0.1:1, wait_page: pages/big.html}\n"
                 "  - {name: d, upstreams: 127.0.0.1:1, fallback: {file: pages}}\n");
    write_file(dir, "bad.yaml", yaml, (size_t)n);
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    assert_null(lv_config_load_file(path, &errs));
    assert_int_equal(errs.n, 4);
    char want[4][4400];
    snprintf(want[0], sizeof(want[0]),
             "%s:3:50: services[0].wait_page: pages/bad.html has no {{retry_after}} placeholder",
             path);
    snprintf(want[1], sizeof(want[1]),
             "%s:4:50: services[1].wait_page: pages/nul.html contains a NUL byte", path);
    snprintf(want[2], sizeof(want[2]),
             "%s:5:50: services[2].wait_page: cannot read %s/pages/big.html: larger than 1 MiB",
             path, dir);
    snprintf(want[3], sizeof(want[3]),
             "%s:6:56: services[3].fallback.file: cannot read %s/pages: not a regular file", path,
             dir);
    for (int i = 0; i < 4; i++)
        assert_string_equal(errs.lines[i], want[i]);
    lv_config_errors_fini(&errs);

    static const char *const names[] = {"pages/off.gif",  "pages/wait.html", "pages/bad.html",
                                        "pages/nul.html", "pages/big.html",  "good.yaml",
                                        "bad.yaml"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        remove_file(dir, names[i]);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- errors: table-driven, exact text ---- */

typedef struct bad_case {
    const char *yaml;
    const char *errors[8];
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* empty and non-mapping files */
    {"", {"t.yaml:1:1: listen: required", "t.yaml:1:1: services: required"}},
    {"# nothing\n", {"t.yaml:1:1: listen: required", "t.yaml:1:1: services: required"}},
    {"- a\n", {"t.yaml:1:1: (top): expected a mapping of settings, got a list"}},
    /* YAML syntax, aliases, documents, nesting */
    {"listen: [\n",
     {"t.yaml:2:1: yaml: did not find expected node content while parsing a flow node "
      "(line 2, column 1)"}},
    {"a: b\n c: d\n", {"t.yaml:2:3: yaml: mapping values are not allowed in this context"}},
    {"a: &x 1\nb: *x\n", {"t.yaml:2:4: yaml: aliases are not supported"}},
    {MIN_OK "---\nworkers: 1\n", {"t.yaml:3:1: yaml: only one document is allowed"}},
    {"a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     {"t.yaml:1:35: yaml: nesting deeper than 32 levels"}},
    /* unknown and duplicate keys */
    {MIN_OK "wrokers: 2\n", {"t.yaml:3:1: wrokers: unknown key (did you mean \"workers\"?)"}},
    {MIN_OK "limits: {header_byte: 1}\n",
     {"t.yaml:3:10: limits.header_byte: unknown key (did you mean \"header_bytes\"?)"}},
    {MIN_OK "zzz: 1\n", {"t.yaml:3:1: zzz: unknown key"}},
    {"listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1, nmae: b} ]\n",
     {"t.yaml:2:47: services[0].nmae: unknown key (did you mean \"name\"?)"}},
    {MIN_OK "workers: 1\nworkers: 2\n", {"t.yaml:4:1: workers: duplicate key (first at line 3)"}},
    {MIN_OK "admin: {enabled: true, enabled: false}\n",
     {"t.yaml:3:24: admin.enabled: duplicate key (first at line 3)"}},
    {MIN_OK "? [a]\n: 1\n", {"t.yaml:3:3: (top): keys must be short plain strings"}},
    /* wrong types */
    {MIN_OK "workers: abc\n", {"t.yaml:3:10: workers: \"abc\" is not an unsigned integer"}},
    {MIN_OK "workers: [1]\n", {"t.yaml:3:10: workers: expected a scalar, got a list"}},
    {MIN_OK "limits: 5\n", {"t.yaml:3:9: limits: expected a mapping, got a scalar"}},
    {MIN_OK "admin: {enabled: yes}\n",
     {"t.yaml:3:18: admin.enabled: \"yes\" is not true or false"}},
    {MIN_OK "log_level: loud\n",
     {"t.yaml:3:12: log_level: \"loud\" is not one of error|warn|info|debug"}},
    {MIN_OK "timeouts: {send_ms: 10x}\n",
     {"t.yaml:3:21: timeouts.send_ms: \"10x\" is not a duration (e.g. 500ms, 10s)"}},
    {MIN_OK "limits: {body_bytes: 99999999999999999999999x}\n",
     {"t.yaml:3:22: limits.body_bytes: \"99999999999999999999999x\" is not a size (e.g. 16384, "
      "16k)"}},
    {MIN_OK "limits: {header_bytes: 2}\nlimits: {target_bytes: 1}\n",
     {"t.yaml:3:24: limits.header_bytes: \"2\" is out of range 1024..1048576",
      "t.yaml:4:1: limits: duplicate key (first at line 3)"}},
    {MIN_OK "limits: {body_bytes: 1t}\n",
     {"t.yaml:3:22: limits.body_bytes: \"1t\" is not a size (e.g. 16384, 16k)"}},
    {MIN_OK "access_log: \"\"\n", {"t.yaml:3:13: access_log: must not be empty"}},
    {MIN_OK "admin: {token: \"a\\0b\"}\n", {"t.yaml:3:16: admin.token: contains a NUL byte"}},
    /* numbers out of bounds */
    {MIN_OK "workers: 65\n", {"t.yaml:3:10: workers: \"65\" is out of range 0..64"}},
    {MIN_OK "workers: -1\n", {"t.yaml:3:10: workers: \"-1\" is not an unsigned integer"}},
    {MIN_OK "limits: {header_bytes: 1023}\n",
     {"t.yaml:3:24: limits.header_bytes: \"1023\" is out of range 1024..1048576"}},
    {MIN_OK "limits: {header_bytes: 2m}\n",
     {"t.yaml:3:24: limits.header_bytes: \"2m\" is out of range 1024..1048576"}},
    {MIN_OK "limits: {connections: 0}\n",
     {"t.yaml:3:23: limits.connections: \"0\" is out of range 1..1000000"}},
    {MIN_OK "limits: {body_bytes: 99999999999999999999}\n",
     {"t.yaml:3:22: limits.body_bytes: \"99999999999999999999\" is out of range "
      "0..1099511627776"}},
    {MIN_OK "limits: {body_bytes: 99999999999g}\n",
     {"t.yaml:3:22: limits.body_bytes: \"99999999999g\" is out of range 0..1099511627776"}},
    {MIN_OK "limits: {header_bytes: 2k, target_bytes: 4k}\n",
     {"t.yaml:3:42: limits.target_bytes: 4096 is more than limits.header_bytes (2048)"}},
    {MIN_OK "limits: {header_bytes: 4096}\n",
     {"t.yaml:3:9: limits.target_bytes: 8192 is more than limits.header_bytes (4096)"}},
    {MIN_OK "timeouts: {header_ms: 0}\n",
     {"t.yaml:3:23: timeouts.header_ms: \"0\" is out of range 1..86400000"}},
    {MIN_OK "timeouts: {header_ms: 2000h}\n",
     {"t.yaml:3:23: timeouts.header_ms: \"2000h\" is out of range 1..86400000"}},
    {"listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1, keepalive: 10001} ]\n",
     {"t.yaml:2:58: services[0].keepalive: \"10001\" is out of range 0..10000"}},
    /* addresses */
    {"listen: [ \"127.0.0.1:8080\", \"10.0.0.1\", 5, [1] ]\n"
     "services: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:1:29: listen[1]: \"10.0.0.1\" is not HOST:PORT",
      "t.yaml:1:41: listen[2]: \"5\" is not HOST:PORT",
      "t.yaml:1:44: listen[3]: expected HOST:PORT, got a list"}},
    {"listen: []\nservices: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:1:9: listen: must not be empty"}},
    {"listen: [ \"1.2.3.4:80\", \"1.2.3.4:80\" ]\nservices: [ {name: a, upstreams: 1.2.3.4:1} ]\n",
     {"t.yaml:1:25: listen[1]: \"1.2.3.4:80\" is listed twice"}},
    {"listen: {a: 1}\nservices: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:1:9: listen: expected a list of HOST:PORT, got a mapping"}},
    {"listen: example.com:80\nservices: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:1:9: listen: \"example.com:80\" is not HOST:PORT"}},
    {"listen: 127.0.0.1:0\nservices:\n  - name: a\n    upstreams: [ \"127.0.0.1:0\" ]\n",
     {"t.yaml:4:18: services[0].upstreams[0]: \"127.0.0.1:0\": port 0 is not allowed here"}},
    {MIN_OK "admin: {listen: \"1.2.3.4:70000\"}\n",
     {"t.yaml:3:17: admin.listen: \"1.2.3.4:70000\" is not HOST:PORT"}},
    {"listen: 127.0.0.1:9901\nservices: [ {name: a, upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:1:1: admin.listen: same address as listen[0] (127.0.0.1:9901)"}},
    /* services */
    {"listen: 127.0.0.1:0\nservices: []\n",
     {"t.yaml:2:11: services: must list at least one service"}},
    {"listen: 127.0.0.1:0\nservices: x\n",
     {"t.yaml:2:11: services: expected a list of services, got a scalar"}},
    {"listen: 127.0.0.1:0\nservices: [ 5 ]\n",
     {"t.yaml:2:13: services[0]: expected a mapping, got a scalar"}},
    {"listen: 127.0.0.1:0\nservices:\n  - criticality: high\n",
     {"t.yaml:3:5: services[0].name: required", "t.yaml:3:5: services[0].upstreams: required",
      "t.yaml:3:18: services[0].criticality: \"high\" is not one of critical|default|sheddable"}},
    {"listen: 127.0.0.1:0\nservices:\n  - name: a\n    upstreams: 127.0.0.1:1\n"
     "  - name: a\n    upstreams: 127.0.0.1:2\n",
     {"t.yaml:5:11: services[1].name: duplicate service name \"a\" (first at services[0])"}},
    {"listen: 127.0.0.1:0\nservices: [ {name: \"a b\", upstreams: 127.0.0.1:1} ]\n",
     {"t.yaml:2:20: services[0].name: \"a b\" is not a name of 1..64 characters "
      "[A-Za-z0-9_.-]"}},
    {"listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1, balance: random} ]\n",
     {"t.yaml:2:56: services[0].balance: \"random\" is not one of "
      "round_robin|least_outstanding"}},
    /* routes */
    {MIN_OK "routes: [ {path: /x, service: b} ]\n",
     {"t.yaml:3:31: routes[0].service: no service named \"b\" (did you mean \"a\"?)"}},
    {MIN_OK "routes: [ {path: /x, service: zzzzz} ]\n",
     {"t.yaml:3:31: routes[0].service: no service named \"zzzzz\""}},
    {MIN_OK "routes: [ {path: x, service: a} ]\n",
     {"t.yaml:3:18: routes[0].path: \"x\" must start with \"/\" and have no spaces (at most "
      "1024 bytes)"}},
    {MIN_OK "routes: [ {host: \"a.com:80\", service: a} ]\n",
     {"t.yaml:3:18: routes[0].host: \"a.com:80\" is not a host name (no port, no scheme)"}},
    {MIN_OK "routes: [ {path: /} ]\n", {"t.yaml:3:11: routes[0].service: required"}},
    {MIN_OK "routes: [ {path: /x, service: a}, {path: /x, service: a} ]\n",
     {"t.yaml:3:35: routes[1]: same host and path as routes[0]"}},
    {MIN_OK "routes: {path: /}\n",
     {"t.yaml:3:9: routes: expected a list of routes, got a mapping"}},
    {MIN_OK "routes: [ {path: /x, service: a, flag: off} ]\n",
     {"t.yaml:3:40: routes[0].flag: needs routes[0].name (a route's flag is found by its name)"}},
    {MIN_OK "routes: [ {path: /x, service: a, flag: on} ]\n",
     {"t.yaml:3:40: routes[0].flag: needs routes[0].name (a route's flag is found by its name)"}},
    {MIN_OK "routes:\n  - {path: /x, service: a, name: x}\n  - {path: /y, service: a, name: y}\n"
            "  - {path: /z, service: a, name: x, flag: auto}\n",
     {"t.yaml:6:34: routes[2].name: duplicate route name \"x\" (first at routes[0])"}},
    {MIN_OK "routes: [ {path: /x, service: a, name: a} ]\n",
     {"t.yaml:3:40: routes[0].name: \"a\" is the name of services[0] (flags of routes and "
      "services share one namespace)"}},
    {MIN_OK "routes: [ {path: /x, service: a, name: \"a/b\", flag: off} ]\n",
     {"t.yaml:3:40: routes[0].name: \"a/b\" is not a name of 1..64 characters [A-Za-z0-9_.-]"}},
    {MIN_OK "routes: [ {path: /x, service: a, name: x, flag: maybe} ]\n",
     {"t.yaml:3:49: routes[0].flag: \"maybe\" is not one of on|off|auto"}},
    /* the guard */
    {"listen: 127.0.0.1:0\nservices: [ {name: a, upstreams: 127.0.0.1:1, guard: yes} ]\n",
     {"t.yaml:2:54: services[0].guard: \"yes\" is not true or false"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, limit: {min: 10, max: "
     "5}}\n",
     {"t.yaml:3:52: services[0].limit.min: 10 is more than limit.max (5)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, limit: {min: 30}}\n",
     {"t.yaml:3:46: services[0].limit.initial: 20 is less than limit.min (30)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, limit: {initial: "
     "5000}}\n",
     {"t.yaml:3:56: services[0].limit.initial: 5000 is more than limit.max (1000)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, limit: {max: 10}}\n",
     {"t.yaml:3:46: services[0].limit.initial: 20 is more than limit.max (10)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, limit: {initial: 0}}\n",
     {"t.yaml:3:56: services[0].limit.initial: \"0\" is out of range 1..100000"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, queue: {target_ms: "
     "1s}}\n",
     {"t.yaml:3:58: services[0].queue.target_ms: 1000 is more than queue.interval_ms (100)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, retry_budget: "
     "{percent: 101}}\n",
     {"t.yaml:3:63: services[0].retry_budget.percent: \"101\" is out of range 0..100"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, breaker: "
     "{error_percent: 0}}\n",
     {"t.yaml:3:64: services[0].breaker.error_percent: \"0\" is out of range 1..100"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, flag: maybe}\n",
     {"t.yaml:3:45: services[0].flag: \"maybe\" is not one of on|off|auto"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, lmit: {max: 1}}\n",
     {"t.yaml:3:39: services[0].lmit: unknown key (did you mean \"limit\"?)"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {status: "
     "100}}\n",
     {"t.yaml:3:58: services[0].fallback.status: \"100\" is out of range 200..599"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {redirect: "
     "\"ftp://x\"}}\n",
     {"t.yaml:3:60: services[0].fallback.redirect: \"ftp://x\" is not an absolute http(s) URL or a "
      "path starting with \"/\""}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {redirect: "
     "\"/a b\"}}\n",
     {"t.yaml:3:60: services[0].fallback.redirect: \"/a b\" is not an absolute http(s) URL or a "
      "path starting with \"/\""}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {redirect: "
     "\"https://\"}}\n",
     {"t.yaml:3:60: services[0].fallback.redirect: \"https://\" is not an absolute http(s) URL or "
      "a path starting with \"/\""}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {redirect: "
     "//evil.com/}}\n",
     {"t.yaml:3:60: services[0].fallback.redirect: \"//evil.com/\" is not an absolute http(s) URL "
      "or a path starting with \"/\""}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {body: off, "
     "redirect: /x}}\n",
     {"t.yaml:3:49: services[0].fallback: set only one of body, file and redirect"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: "
     "{content_type: \"a\\r\\nX: y\"}}\n",
     {"t.yaml:3:64: services[0].fallback.content_type: \"a\\x0d\\x0aX: y\" is not a header value"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, fallback: {file: "
     "nofile.txt}}\n",
     {"t.yaml:3:56: services[0].fallback.file: cannot read nofile.txt: No such file or directory"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, wait_page: "
     "/nonexistent/w.html}\n",
     {"t.yaml:3:50: services[0].wait_page: cannot read /nonexistent/w.html: No such file or "
      "directory"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, wait_page: /}\n",
     {"t.yaml:3:50: services[0].wait_page: cannot read /: not a regular file"}},
    {MIN_OK "guard: {client_id: \"header:\"}\n",
     {"t.yaml:3:20: guard.client_id: \"header:\" is not ip, header:NAME or cookie:NAME"}},
    {MIN_OK "guard: {client_id: \"cookie:a b\"}\n",
     {"t.yaml:3:20: guard.client_id: \"cookie:a b\" is not ip, header:NAME or cookie:NAME"}},
    {MIN_OK "guard: {client_id: mac}\n",
     {"t.yaml:3:20: guard.client_id: \"mac\" is not ip, header:NAME or cookie:NAME"}},
    {MIN_OK "guard: {deadline_header: \"X:Y\"}\n",
     {"t.yaml:3:26: guard.deadline_header: \"X:Y\" is not a header name"}},
    {MIN_OK "guard: {retry_after_ms: 500ms}\n",
     {"t.yaml:3:25: guard.retry_after_ms: \"500ms\" is out of range 1000..3600000"}},
    {MIN_OK "guard: {storm_entries: 1}\n",
     {"t.yaml:3:24: guard.storm_entries: \"1\" is out of range 16..16777216"}},
    /* the cache */
    {MIN_OK "cache: {size: lots}\n",
     {"t.yaml:3:15: cache.size: \"lots\" is not a size (e.g. 16384, 16k)"}},
    {MIN_OK "cache: {size: 2TB}\n",
     {"t.yaml:3:15: cache.size: \"2TB\" is not a size (e.g. 16384, 16k)"}},
    {MIN_OK "cache: {size: 1025GiB}\n",
     {"t.yaml:3:15: cache.size: \"1025GiB\" is out of range 0..1099511627776"}},
    {MIN_OK "cache: {size: -1}\n",
     {"t.yaml:3:15: cache.size: \"-1\" is not a size (e.g. 16384, 16k)"}},
    {MIN_OK "cache: {shards: 0}\n", {"t.yaml:3:17: cache.shards: \"0\" is out of range 1..1024"}},
    {MIN_OK "cache: {shards: 1025}\n",
     {"t.yaml:3:17: cache.shards: \"1025\" is out of range 1..1024"}},
    {MIN_OK "cache: {policy: LRU}\n",
     {"t.yaml:3:17: cache.policy: \"LRU\" is not one of sieve|lru"}},
    {MIN_OK "cache: {lock_timeout_ms: 61s}\n",
     {"t.yaml:3:26: cache.lock_timeout_ms: \"61s\" is out of range 0..60000"}},
    {MIN_OK "cache: {pass_ttl_ms: 2h}\n",
     {"t.yaml:3:22: cache.pass_ttl_ms: \"2h\" is out of range 0..3600000"}},
    {MIN_OK "cache: {pass_ttl_ms: soon}\n",
     {"t.yaml:3:22: cache.pass_ttl_ms: \"soon\" is not a duration (e.g. 500ms, 10s)"}},
    {MIN_OK "cache: {sise: 1m}\n",
     {"t.yaml:3:9: cache.sise: unknown key (did you mean \"size\"?)"}},
    {MIN_OK "cache: 256m\n", {"t.yaml:3:8: cache: expected a mapping, got a scalar"}},
    {"listen: 127.0.0.1:0\nservices:\n  - {name: a, upstreams: 127.0.0.1:1, cache: "
     "{serve_stale_ms: 25h}}\n",
     {"t.yaml:3:63: services[0].cache.serve_stale_ms: \"25h\" is out of range 0..86400000"}},
    {MIN_OK "routes: [ {path: /, service: a, cache: 1} ]\n",
     {"t.yaml:3:40: routes[0].cache: \"1\" is not true or false"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: foo} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"foo\" is not header:NAME or cookie:NAME"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"header:\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"header:\" is not header:NAME or cookie:NAME"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"cookie:a, bogus:x\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"bogus:x\" is not header:NAME or cookie:NAME"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"header:a b\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"header:a b\" is not header:NAME or cookie:NAME"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"Header:A\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"Header:A\" is not header:NAME or cookie:NAME"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"header:a,\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"header:a,\" has an empty item"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"header:a, ,header:b\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"header:a, ,header:b\" has an empty item"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"header:a,header:b,header:c,header:d,"
            "cookie:e\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: more than 4 parts"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: \"cookie:"
            "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: \"cookie:nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\": "
      "the name is longer than 64 bytes"}},
    {MIN_OK "routes: [ {path: /, service: a, cache_key: [\"header:a\"]} ]\n",
     {"t.yaml:3:44: routes[0].cache_key: expected a scalar, got a list"}},
    /* faults */
    {MIN_OK "faults: {service: a}\n",
     {"t.yaml:3:9: faults: expected a list of faults, got a mapping"}},
    {MIN_OK "faults: [ 5 ]\n", {"t.yaml:3:11: faults[0]: expected a mapping, got a scalar"}},
    {MIN_OK "faults: [ {service: a, kind: reset, duration: 5} ]\n",
     {"t.yaml:3:11: faults[0].duration_ms: required",
      "t.yaml:3:37: faults[0].duration: unknown key"}},
    {MIN_OK "faults: [ {service: a, duration_ms: 5} ]\n",
     {"t.yaml:3:11: faults[0].kind: required"}},
    {MIN_OK "faults: [ {service: a, kind: slow, duration_ms: 5} ]\n",
     {"t.yaml:3:30: faults[0].kind: \"slow\": expected one of latency, abort, reset, blackhole, "
      "bandwidth, host_down"}},
    {MIN_OK "faults: [ {service: a, kind: reset, share: 2, duration_ms: 5} ]\n",
     {"t.yaml:3:44: faults[0].share: \"2\": expected a number in 0..1"}},
    {MIN_OK "faults: [ {service: a, kind: reset, duration_ms: 25h} ]\n",
     {"t.yaml:3:50: faults[0].duration_ms: \"25h\": expected a duration in 1..86400000 ms (30000, "
      "30s, 5m)"}},
    {MIN_OK "faults: [ {service: a, kind: latency, ms: uniform 9 1, duration_ms: 5} ]\n",
     {"t.yaml:3:43: faults[0].ms: \"uniform 9 1\": expected a delay in 0..60000 ms: 50, "
      "\"uniform A B\" (A <= B), \"exponential MEAN\" or \"lognormal MEDIAN P99\" (0 < MEDIAN "
      "<= P99)"}},
    {MIN_OK "faults: [ {service: a, kind: bandwidth, bytes_per_s: 1000, duration_ms: 5} ]\n",
     {"t.yaml:3:54: faults[0].bytes_per_s: \"1000\": expected a size of at least 1024 (65536, "
      "64k)"}},
    {MIN_OK "faults: [ {service: \"a b\", kind: reset, duration_ms: 5} ]\n",
     {"t.yaml:3:21: faults[0].service: \"a b\": expected a name of 1..64 characters "
      "[A-Za-z0-9_.-]"}},
    {MIN_OK "faults: [ {service: a, kind: reset, duration_ms: 5, status: [1]} ]\n",
     {"t.yaml:3:61: faults[0].status: expected a scalar, got a list"}},
    {MIN_OK "faults: [ {kind: reset, duration_ms: 5} ]\n",
     {"t.yaml:3:11: faults[0]: \"service\" or \"route\" is required"}},
    {MIN_OK "faults: [ {service: a, route: r, kind: reset, duration_ms: 5} ]\n",
     {"t.yaml:3:31: faults[0].route: set \"service\" or \"route\", not both"}},
    {MIN_OK "faults: [ {service: a, kind: reset, status: 500, duration_ms: 5} ]\n",
     {"t.yaml:3:45: faults[0].status: only with kind abort"}},
    {MIN_OK "faults: [ {service: a, kind: latency, duration_ms: 5} ]\n",
     {"t.yaml:3:11: faults[0].ms: required with kind latency"}},
    {MIN_OK "faults: [ {route: r, kind: host_down, host: \"127.0.0.1:1\", duration_ms: 5} ]\n",
     {"t.yaml:3:19: faults[0].route: kind host_down needs \"service\" (a host belongs to a "
      "service)"}},
    {MIN_OK "faults: [ {service: b, kind: reset, duration_ms: 5} ]\n",
     {"t.yaml:3:21: faults[0].service: no service named \"b\""}},
    {MIN_OK "routes: [ {path: /, service: a, name: r} ]\n"
            "faults: [ {route: a, kind: reset, duration_ms: 5} ]\n",
     {"t.yaml:4:19: faults[0].route: no route named \"a\" (routes[].name)"}},
    {MIN_OK "faults: [ {service: a, kind: host_down, host: \"127.0.0.1:2\", duration_ms: 5} ]\n",
     {"t.yaml:3:47: faults[0].host: \"127.0.0.1:2\" is not one of the upstreams of service "
      "\"a\""}},
    {MIN_OK "faults_header: {enabled: yes}\n",
     {"t.yaml:3:26: faults_header.enabled: \"yes\" is not true or false"}},
    {MIN_OK "faults_header: {allow: [10.0.0.0/33]}\n",
     {"t.yaml:3:25: faults_header.allow[0]: \"10.0.0.0/33\" is not an address nor an address "
      "block (10.0.0.0/8, ::1/128)"}},
    /* several at once, reported in file order */
    {"workers: 100\n"
     "listen: [ \"127.0.0.1:8080\", \"10.0.0.1\" ]\n"
     "admin:\n"
     "  listn: 1.2.3.4:5\n"
     "services:\n"
     "  - name: demo\n"
     "    upstreams: [ \"127.0.0.1:9000\", \"10.0.0.1\" ]\n"
     "routes:\n"
     "  - path: /api/\n"
     "    service: dem\n",
     {"t.yaml:1:10: workers: \"100\" is out of range 0..64",
      "t.yaml:2:29: listen[1]: \"10.0.0.1\" is not HOST:PORT",
      "t.yaml:4:3: admin.listn: unknown key (did you mean \"listen\"?)",
      "t.yaml:7:36: services[0].upstreams[1]: \"10.0.0.1\" is not HOST:PORT",
      "t.yaml:10:14: routes[0].service: no service named \"dem\" (did you mean \"demo\"?)"}},
};

static void test_lv_config_load_string_bad_files_exact_errors(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
        failed += !expect_errors(bad_cases[i].yaml, bad_cases[i].errors);
    assert_int_equal(failed, 0);
}

static void test_lv_config_load_string_errors_capped(void **state)
{
    (void)state;
    char yaml[8192];
    size_t o = 0;
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "k%d: 1\n", i);
    lv_config_errors_t errs = {0};
    assert_null(load(yaml, &errs));
    assert_int_equal(errs.n, 101);
    assert_string_equal(errs.lines[0], "t.yaml:1:1: k0: unknown key");
    assert_string_equal(errs.lines[100],
                        "t.yaml: too many errors (152), only the first 100 are shown");
    lv_config_errors_fini(&errs);
}

static void test_lv_config_load_string_too_many_keys(void **state)
{
    (void)state;
    char yaml[8192];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "limits:\n");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "  k%d: 1\n", i);
    lv_config_errors_t errs = {0};
    assert_null(load(yaml, &errs));
    assert_int_equal(errs.n, 3);
    assert_string_equal(errs.lines[0], "t.yaml:1:1: listen: required");
    assert_string_equal(errs.lines[2], "t.yaml:2:3: limits: more than 256 keys");
    lv_config_errors_fini(&errs);
}

static void test_lv_config_load_string_faults_too_many(void **state)
{
    (void)state;
    char yaml[8192];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), MIN_OK "faults:\n");
    for (int i = 0; i < 65; i++)
        o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                              "  - {service: a, kind: reset, duration_ms: 5}\n");
    assert_true(o < sizeof(yaml));
    static const char *const want[] = {"t.yaml:4:3: faults: more than 64 faults", NULL};
    assert_true(expect_errors(yaml, want));
    /* 64 are fine. */
    char *last = strrchr(yaml, '-');
    *last = '\0';
    lv_config_t *cfg = load_ok(yaml);
    assert_int_equal(cfg->n_faults, 64);
    lv_config_unref(cfg);
}

static void test_lv_config_load_string_null_errs_allowed(void **state)
{
    (void)state;
    assert_null(lv_config_load_string("t.yaml", "workers: x\n", 11, NULL));
    assert_null(lv_config_load_string("t.yaml", "[", 1, NULL));
}

/* Regression: bytes that libyaml's reader rejects (no mark) still get a position. */
static void test_lv_config_load_string_invalid_utf8(void **state)
{
    (void)state;
    static const char bad[] = "listen: 1\nx: \xff\xfe\n";
    lv_config_errors_t errs = {0};
    assert_null(lv_config_load_string("t.yaml", bad, sizeof(bad) - 1, &errs));
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.lines[0], "t.yaml:2:4: yaml: invalid leading UTF-8 octet");
    lv_config_errors_fini(&errs);
}

/* ---- addresses ---- */

static void test_lv_addr_parse_forms(void **state)
{
    (void)state;
    lv_addr_t a;
    assert_int_equal(lv_addr_parse(&a, "127.0.0.1:8080", false), 0);
    assert_string_equal(a.text, "127.0.0.1:8080");
    assert_int_equal(a.sa.ss_family, AF_INET);
    assert_int_equal(a.sa_len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 8080);
    assert_int_equal(lv_addr_parse(&a, "localhost:1", false), 0);
    assert_string_equal(a.text, "127.0.0.1:1");
    assert_int_equal(lv_addr_parse(&a, "[::1]:443", false), 0);
    assert_string_equal(a.text, "[::1]:443");
    assert_int_equal(a.sa_len, sizeof(struct sockaddr_in6));
    assert_int_equal(lv_addr_parse(&a, "[0:0::1]:443", false), 0);
    assert_string_equal(a.text, "[::1]:443");
    assert_int_equal(lv_addr_parse(&a, "0.0.0.0:0", true), 0);
    assert_int_equal(lv_addr_parse(&a, "0.0.0.0:65535", false), 0);
}

static void test_lv_addr_parse_rejects_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "127.0.0.1",
        ":80",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "1.2.3:80",
        "1.2.3.4:+80",
        "1.2.3.4:8 0",
        "::1:80",
        "[::1]80",
        "[::1]",
        "[]:80",
        "[1.2.3.4]:80",
        "host.com:80",
        "1.2.3.4:123456",
        "256.1.1.1:1",
        "1.2.3.4:-1",
    };
    lv_addr_t a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lv_addr_parse(&a, bad[i], true) == 0)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(lv_addr_parse(&a, "1.2.3.4:0", false), -2);
    char longtext[200];
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    assert_int_equal(lv_addr_parse(&a, longtext, true), -2);
}

/* ---- routing ---- */

static const char routes_yaml[] =
    "listen: 127.0.0.1:0\n"
    "services:\n"
    "  - { name: s0, upstreams: 127.0.0.1:1 }\n"
    "  - { name: s1, upstreams: 127.0.0.1:2 }\n"
    "  - { name: s2, upstreams: 127.0.0.1:3 }\n"
    "  - { name: s3, upstreams: 127.0.0.1:4 }\n"
    "routes:\n"
    "  - { path: /, service: s0 }\n"                            /* 0 */
    "  - { path: /api/, service: s1 }\n"                        /* 1 */
    "  - { path: /api/v2/, service: s2 }\n"                     /* 2 */
    "  - { host: Example.com, path: /, service: s3 }\n"         /* 3 */
    "  - { host: example.com, path: /api/v2/x, service: s2 }\n" /* 4 */
    "  - { host: \"[::1]\", path: /, service: s1 }\n";          /* 5 */

static int route(const lv_config_t *cfg, const char *host, const char *path)
{
    return lv_config_route(cfg, host, host ? strlen(host) : 0, path, strlen(path));
}

static void test_lv_config_route_matching(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(routes_yaml);
    /* longest prefix among any-host routes */
    assert_int_equal(route(cfg, NULL, "/"), 0);
    assert_int_equal(route(cfg, NULL, "/index.html"), 0);
    assert_int_equal(route(cfg, "other.org", "/api/"), 1);
    assert_int_equal(route(cfg, "other.org", "/api/v2/users"), 2);
    assert_int_equal(route(cfg, "", "/api/v2"), 1); /* "/api/v2/" is not a prefix */
    assert_int_equal(route(cfg, "other.org", "/apix"), 0);
    /* host routes beat any-host routes, even with a shorter prefix */
    assert_int_equal(route(cfg, "example.com", "/api/v1"), 3);
    assert_int_equal(route(cfg, "EXAMPLE.COM:8080", "/api/"), 3);
    assert_int_equal(route(cfg, "example.com", "/api/v2/xyz"), 4);
    assert_int_equal(route(cfg, "Example.Com:80", "/api/v2/x"), 4);
    assert_int_equal(route(cfg, "example.com.evil", "/"), 0);
    assert_int_equal(route(cfg, "example.co", "/"), 0);
    assert_int_equal(route(cfg, "[::1]:8080", "/x"), 5);
    assert_int_equal(route(cfg, "[::1]", "/x"), 5);
    /* path is a byte prefix: case matters */
    assert_int_equal(route(cfg, NULL, "/API/"), 0);
    /* host and path are spans, not C strings */
    assert_int_equal(lv_config_route(cfg, "example.comXX", 11, "/api/v2/xyz", 5), 3);
    lv_config_unref(cfg);
}

static void test_lv_config_route_no_match(void **state)
{
    (void)state;
    lv_config_t *cfg = load_ok(MIN_OK "routes:\n  - { host: a.com, path: /x, service: a }\n"
                                      "  - { path: /y/, service: a }\n");
    assert_int_equal(route(cfg, NULL, "/"), -1);
    assert_int_equal(route(cfg, "b.com", "/x"), -1);
    assert_int_equal(route(cfg, "a.com", "/x/1"), 0);
    assert_int_equal(route(cfg, "a.com", "/y/1"), 1);
    assert_int_equal(route(cfg, "b.com", "/y"), -1);
    lv_config_unref(cfg);
}

/* ---- settings table and docs ---- */

static const char *source_dir(char *buf, size_t size)
{
    const char *env = getenv("LV_SOURCE_DIR");
    if (env && *env)
        return env;
    /* __FILE__ is <src>/tests/unit/core/test_config.c in CMake builds. */
    const char *tail = "/tests/unit/core/test_config.c";
    const char *file = __FILE__;
    size_t fl = strlen(file), tl = strlen(tail);
    if (fl > tl && strcmp(file + fl - tl, tail) == 0 && fl - tl < size) {
        memcpy(buf, file, fl - tl);
        buf[fl - tl] = '\0';
        return buf;
    }
    return ".";
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    *len = fread(buf, 1, cap, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_lv_config_write_markdown_matches_docs(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(path, sizeof(path), "%s/docs/config.md", source_dir(dir, sizeof(dir)));
    char *want = NULL;
    size_t want_len = 0;
    FILE *mem = open_memstream(&want, &want_len);
    assert_non_null(mem);
    lv_config_write_markdown(mem);
    fclose(mem);
    size_t have_len = 0;
    char *have = read_all(path, &have_len);
    bool same = have && have_len == want_len && memcmp(have, want, want_len) == 0;
    if (!same && getenv("LV_UPDATE_DOCS")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(want, 1, want_len, f), want_len);
        assert_int_equal(fclose(f), 0);
        same = true;
    }
    free(have);
    free(want);
    if (!same)
        fail_msg("%s is stale or missing: run this test with LV_UPDATE_DOCS=1 to rewrite it", path);
}

static void test_lv_config_settings_table_consistent(void **state)
{
    (void)state;
    assert_true(lv_config_n_settings > 20);
    for (size_t i = 0; i < lv_config_n_settings; i++) {
        const lv_config_setting_t *s = &lv_config_settings[i];
        assert_non_null(s->key);
        assert_non_null(s->type);
        assert_non_null(s->dflt);
        assert_non_null(s->bounds);
        assert_non_null(s->doc);
        assert_true(strlen(s->doc) > 10);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(lv_config_settings[j].key, s->key);
    }
}

static void test_lv_config_load_file_shipped_config(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(path, sizeof(path), "%s/conf/levee.yaml", source_dir(dir, sizeof(dir)));
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_file(path, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    assert_non_null(cfg);
    assert_string_equal(cfg->listeners[0].text, "127.0.0.1:8080");
    assert_string_equal(cfg->admin.text, "127.0.0.1:9901");
    assert_int_equal(cfg->n_services, 1);
    assert_string_equal(cfg->services[0].name, "demo");
    assert_string_equal(cfg->services[0].upstreams[0].text, "127.0.0.1:9000");
    assert_int_equal(cfg->n_routes, 1);
    assert_int_equal(route(cfg, "x", "/anything"), 0);
    lv_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_config_load_string_minimal_takes_every_default),
        cmocka_unit_test(test_lv_config_load_string_full_file_sets_every_key),
        cmocka_unit_test(test_lv_config_load_string_routes_may_come_before_services),
        cmocka_unit_test(test_lv_config_load_string_null_values_keep_defaults),
        cmocka_unit_test(test_lv_config_load_string_bounds_inclusive),
        cmocka_unit_test(test_lv_config_load_file_shipped_config),
        cmocka_unit_test(test_lv_config_load_file_missing_file),
        cmocka_unit_test(test_lv_config_new_default_fills_defaults),
        cmocka_unit_test(test_lv_config_ref_last_unref_frees),
        cmocka_unit_test(test_lv_config_load_string_cache_defaults),
        cmocka_unit_test(test_lv_config_load_string_cache_every_key),
        cmocka_unit_test(test_lv_config_load_string_cache_key_parts),
        cmocka_unit_test(test_lv_config_load_string_tls_listeners_and_services),
        cmocka_unit_test(test_lv_config_load_string_tls_refused),
        cmocka_unit_test(test_lv_config_parse_bytes_suffixes),
        cmocka_unit_test(test_lv_config_load_string_guard_defaults),
        cmocka_unit_test(test_lv_config_load_string_route_criticality),
        cmocka_unit_test(test_lv_config_load_string_route_name_and_flag),
        cmocka_unit_test(test_lv_config_load_string_faults_every_kind),
        cmocka_unit_test(test_lv_config_load_string_faults_equal_their_json),
        cmocka_unit_test(test_lv_config_resolve_fault_target),
        cmocka_unit_test(test_lv_config_settings_fault_kinds_documented),
        cmocka_unit_test(test_lv_config_load_string_faults_too_many),
        cmocka_unit_test(test_lv_config_load_string_guard_every_key),
        cmocka_unit_test(test_lv_config_load_string_guard_client_id_forms),
        cmocka_unit_test(test_lv_config_load_string_guard_redirect_forms),
        cmocka_unit_test(test_lv_config_load_file_guard_reads_files),
        cmocka_unit_test(test_lv_config_load_string_bad_files_exact_errors),
        cmocka_unit_test(test_lv_config_load_string_errors_capped),
        cmocka_unit_test(test_lv_config_load_string_too_many_keys),
        cmocka_unit_test(test_lv_config_load_string_null_errs_allowed),
        cmocka_unit_test(test_lv_config_load_string_invalid_utf8),
        cmocka_unit_test(test_lv_addr_parse_forms),
        cmocka_unit_test(test_lv_addr_parse_rejects_bad),
        cmocka_unit_test(test_lv_config_route_matching),
        cmocka_unit_test(test_lv_config_route_no_match),
        cmocka_unit_test(test_lv_config_settings_table_consistent),
        cmocka_unit_test(test_lv_config_write_markdown_matches_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
