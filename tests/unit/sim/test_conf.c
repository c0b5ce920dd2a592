/* tests/unit/sim/test_conf.c: levee-sim's YAML config: defaults, inheritance, and errors as
 * "file:line:col: key: message". The sim's sources are compiled into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sim/conf.c"
#include "sim/dist.c"

static int load(sim_conf_t *c, const char *yaml, sim_errs_t *e)
{
    lv_sim_conf_init(c);
    memset(e, 0, sizeof *e);
    int rc = lv_sim_conf_load_string(c, "t.yaml", yaml, strlen(yaml), e);
    if (rc == 0)
        rc = lv_sim_conf_finish(c, 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */, e);
    return rc;
}

static void test_conf_load_full(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    const char *y = "listen: 127.0.0.1:0\n"
                    "workers: 8\n"
                    "thrash: 0.5\n"
                    "seed: 99\n"
                    "paths:\n"
                    "  /play:\n"
                    "    service_ms: 30\n"
                    "    cacheable: true\n"
                    "    etag: '\"v1\"'\n"
                    "  /err:\n"
                    "    fail_rate: 1\n"
                    "    fail_status: 503\n"
                    "default:\n"
                    "  dist: lognormal\n"
                    "  service_ms: 10\n"
                    "  p99_ms: 40\n"
                    "  body_bytes: 100\n";
    assert_int_equal(load(&c, y, &e), 0);
    assert_string_equal(c.listen, "127.0.0.1:0");
    assert_int_equal(c.workers, 8);
    assert_true(c.thrash == 0.5);
    assert_int_equal(c.seed, 99);
    assert_int_equal(c.defaults.dist_kind, SIM_DIST_LOGNORMAL);
    assert_int_equal(c.n_paths, 2);
    /* paths inherit the default settings even when `default` comes later in the file */
    assert_string_equal(c.paths[0].key, "/play");
    assert_int_equal(c.paths[0].dist_kind, SIM_DIST_LOGNORMAL);
    assert_int_equal(c.paths[0].body_bytes, 100);
    assert_true(c.paths[0].service_ms == 30);
    assert_true(c.paths[0].cacheable);
    assert_string_equal(c.paths[0].etag, "\"v1\"");
    assert_string_equal(c.paths[0].last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(c.paths[1].fail_status, 503);
    assert_true(c.paths[1].fail_rate == 1.0);
    /* automatic ETag for paths without one */
    assert_true(c.paths[1].etag_auto);
    assert_memory_equal(c.paths[1].etag, "\"sim-", 5);
    lv_sim_conf_fini(&c);
}

static void test_conf_unknown_key_has_position(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "workers: 2\nwokrers: 3\n", &e), LV_ECONFIG);
    assert_int_equal(e.count, 1);
    assert_non_null(strstr(e.text, "t.yaml:2:1: wokrers: unknown key"));
    lv_sim_conf_fini(&c);
}

static void test_conf_bad_values_all_reported(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    const char *y = "workers: -1\n"
                    "thrash: lots\n"
                    "default:\n"
                    "  dist: normal\n"
                    "  fail_rate: 2\n"
                    "paths:\n"
                    "  nope:\n"
                    "    status: 200\n"
                    "  /x:\n"
                    "    colour: red\n";
    assert_int_equal(load(&c, y, &e), LV_ECONFIG);
    assert_int_equal(e.count, 6);
    assert_non_null(strstr(e.text, "t.yaml:1:10: workers:"));
    assert_non_null(strstr(e.text, "t.yaml:2:9: thrash:"));
    assert_non_null(strstr(e.text, "t.yaml:4:9: default.dist: expected fixed, exp or lognormal"));
    assert_non_null(strstr(e.text, "t.yaml:5:14: default.fail_rate:"));
    assert_non_null(strstr(e.text, "t.yaml:7:3: paths.nope:"));
    assert_non_null(strstr(e.text, "t.yaml:10:5: paths./x.colour: unknown key"));
    lv_sim_conf_fini(&c);
}

static void test_conf_lognormal_impossible_p99(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "default:\n  dist: lognormal\n  service_ms: 10\n  p99_ms: 5\n", &e),
                     LV_ECONFIG);
    assert_non_null(strstr(e.text, "t.yaml:2:3: default: log-normal needs p99 > mean"));
    lv_sim_conf_fini(&c);
}

static void test_conf_yaml_syntax_error(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "workers: [1,\n", &e), LV_ECONFIG);
    assert_non_null(strstr(e.text, "t.yaml:"));
    assert_non_null(strstr(e.text, "(yaml)"));
    lv_sim_conf_fini(&c);
}

static void test_conf_bad_etag_and_date(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "default:\n  etag: v1\n  last_modified: yesterday\n", &e),
                     LV_ECONFIG);
    assert_int_equal(e.count, 2);
    assert_non_null(strstr(e.text, "t.yaml:2:9: default.etag:"));
    assert_non_null(strstr(e.text, "t.yaml:3:18: default.last_modified:"));
    lv_sim_conf_fini(&c);
}

static void test_conf_duplicate_path(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "paths:\n  /a: {}\n  /a: {}\n", &e), LV_ECONFIG);
    assert_non_null(strstr(e.text, "t.yaml:3:3: paths./a: duplicate path"));
    lv_sim_conf_fini(&c);
}

static void test_conf_empty_is_defaults(void **state)
{
    (void)state;
    sim_conf_t c;
    sim_errs_t e;
    assert_int_equal(load(&c, "", &e), 0);
    assert_int_equal(c.workers, 4);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_true(c.defaults.service_ms == 10);
    lv_sim_conf_fini(&c);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char h[64];
    int p;
    assert_int_equal(lv_sim_split_hostport("127.0.0.1:80", h, sizeof h, &p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 80);
    assert_int_equal(lv_sim_split_hostport("[::1]:0", h, sizeof h, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(lv_sim_split_hostport("host", h, sizeof h, &p), LV_EINVAL);
    assert_int_equal(lv_sim_split_hostport("h:70000", h, sizeof h, &p), LV_EINVAL);
    assert_int_equal(lv_sim_split_hostport(":80", h, sizeof h, &p), LV_EINVAL);
}

static void test_http_date_roundtrip(void **state)
{
    (void)state;
    char buf[40];
    lv_sim_http_date_format(784111777, buf, sizeof buf);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    time_t t;
    assert_int_equal(lv_sim_http_date_parse(buf, strlen(buf), &t), 0);
    assert_int_equal(t, 784111777);
    assert_int_equal(lv_sim_http_date_parse("garbage", 7, &t), LV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_load_full),
        cmocka_unit_test(test_conf_unknown_key_has_position),
        cmocka_unit_test(test_conf_bad_values_all_reported),
        cmocka_unit_test(test_conf_lognormal_impossible_p99),
        cmocka_unit_test(test_conf_yaml_syntax_error),
        cmocka_unit_test(test_conf_bad_etag_and_date),
        cmocka_unit_test(test_conf_duplicate_path),
        cmocka_unit_test(test_conf_empty_is_defaults),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_http_date_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
