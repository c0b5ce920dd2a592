/* tests/unit/load/test_scenario.c: the scenario parser: a full file, and wrong keys or values
 * rejected with file:line:col: key: reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the units under test in. */
#include "load/rng.c"
#include "load/profile.c"
#include "load/user.c"
#include "load/file.c"
#include "load/scenario.c"

static load_scenario_t s;
static char err[4096];

static int parse(const char *text)
{
    load_scenario_defaults(&s);
    return load_scenario_parse(&s, "t.yaml", text, strlen(text), err, sizeof(err));
}

static void test_scenario_parse_full(void **state)
{
    (void)state;
    const char *y = "label: kickoff\n"
                    "target: http://127.0.0.1:9000/\n"
                    "duration_s: 30\n"
                    "capacity: 400\n"
                    "seed: 9\n"
                    "profile:\n"
                    "  - ramp: {from: 200, to: 2000, for_s: 10}\n"
                    "  - plateau: {rate: 2000, for_s: 10}\n"
                    "  - spike: {rate: 3000, for_s: 2}\n"
                    "  - points: [[0, 2000], [8, 200]]\n"
                    "users:\n"
                    "  journey: [/home, /play]\n"
                    "  patience_ms: {dist: lognormal, mean: 2000, p99: 8000}\n"
                    "  f5_probability: 0.8\n"
                    "  max_tries: 4\n"
                    "  retry_delay_ms: {dist: exp, mean: 1000}\n"
                    "  obey_retry_after: 0.5\n"
                    "  per_address: 100\n"
                    "events:\n"
                    "  - {at_s: 10, get: 'http://127.0.0.1:9000/control?stall_ms=10000'}\n"
                    "  - {at_s: 20, capacity: 200}\n";
    assert_int_equal(parse(y), 0);
    assert_string_equal(s.label, "kickoff");
    assert_int_equal(s.target.port, 9000);
    assert_int_equal(s.n_journey, 2);
    assert_string_equal(s.journey[1], "/play");
    assert_int_equal(s.users.max_tries, 4);
    assert_int_equal(s.users.per_address, 100);
    assert_int_equal(s.users.patience_ms.kind, LOAD_DIST_LOGNORMAL);
    assert_int_equal(s.n_events, 2);
    assert_true(s.events[1].capacity == 200);
    assert_true(fabs(load_profile_end(&s.profile) - 30) < 1e-9);
    assert_int_equal(load_scenario_finish(&s, err, sizeof(err)), 0);
    assert_int_equal(s.users.n_steps, 2);
}

static void test_scenario_unknown_key_has_line_col(void **state)
{
    (void)state;
    assert_int_equal(parse("target: http://127.0.0.1:1/\nratee: 5\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:1: ratee: unknown key"));
}

static void test_scenario_bad_value_has_line_col(void **state)
{
    (void)state;
    assert_int_equal(parse("users:\n  f5_probability: 1.5\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:19: users.f5_probability: 1.5 is out of range"));
    assert_int_equal(parse("users:\n  max_tries: two\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:14: users.max_tries: 'two' is not a number"));
    assert_int_equal(parse("users:\n  per_address: 0\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:16: users.per_address:"));
}

static void test_scenario_bad_target_and_segment(void **state)
{
    (void)state;
    assert_int_equal(parse("target: https://example.com/\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:1:9: target:"));
    assert_int_equal(parse("profile:\n  - wave: {rate: 1}\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:5: profile.wave: unknown segment"));
    assert_int_equal(parse("profile:\n  - ramp: {to: 5}\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "profile.ramp: missing 'for_s'"));
}

static void test_scenario_reports_every_error(void **state)
{
    (void)state;
    assert_int_equal(parse("a: 1\nb: 2\nusers:\n  journey: [home]\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:1:1: a:"));
    assert_non_null(strstr(err, "t.yaml:2:1: b:"));
    assert_non_null(strstr(err, "t.yaml:4:13: users.journey: 'home' must start with /"));
}

static void test_scenario_yaml_syntax_error(void **state)
{
    (void)state;
    assert_int_equal(parse("users: [\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:"));
    assert_non_null(strstr(err, "(yaml)"));
}

static void test_scenario_duplicate_key_and_bad_dist(void **state)
{
    (void)state;
    assert_int_equal(parse("seed: 1\nseed: 2\n"), LV_ECONFIG);
    assert_non_null(strstr(err, "t.yaml:2:1: seed: duplicate key"));
    assert_int_equal(parse("users:\n  patience_ms: {dist: lognormal, mean: 100, p99: 50}\n"),
                     LV_ECONFIG);
    assert_non_null(strstr(err, "users.patience_ms: lognormal needs mean < p99"));
}

static void test_target_parse(void **state)
{
    (void)state;
    load_target_t t;
    assert_int_equal(load_target_parse(&t, "http://localhost:8080/a/b?x=1"), 0);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 8080);
    assert_string_equal(t.path, "/a/b?x=1");
    assert_string_equal(t.host_header, "localhost:8080");
    assert_int_equal(load_target_parse(&t, "http://127.0.0.1"), 0);
    assert_int_equal(t.port, 80);
    assert_string_equal(t.path, "/");
    assert_true(load_target_parse(&t, "http://127.0.0.1:70000/") != 0);
    assert_true(load_target_parse(&t, "http://example.com/") != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_parse_full),
        cmocka_unit_test(test_scenario_unknown_key_has_line_col),
        cmocka_unit_test(test_scenario_bad_value_has_line_col),
        cmocka_unit_test(test_scenario_bad_target_and_segment),
        cmocka_unit_test(test_scenario_reports_every_error),
        cmocka_unit_test(test_scenario_yaml_syntax_error),
        cmocka_unit_test(test_scenario_duplicate_key_and_bad_dist),
        cmocka_unit_test(test_target_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
