/* tests/unit/load/test_schedule_file.c: schedule lines (time fields, region=, target=, scenario=,
 * history=, flags), comments, paths relative to the file, every bad line as file:line:col. */
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
#include "load/cron.c"
#include "load/schedule_file.c"

static char err[4096];

static int parse(load_schedule_t *s, const char *text)
{
    return load_schedule_parse(s, "r.cron", "/etc/levee", text, strlen(text), err, sizeof(err));
}

static void test_schedule_lines_keys_flags_comments(void **state)
{
    (void)state;
    load_schedule_t s;
    const char *text =
        "# rehearsals, three times a week\n"
        "\n"
        "0 10 * * mon,wed,fri  region=eu-west target=http://127.0.0.1:8080/ "
        "scenario=kickoff.yaml history=/var/lib/levee/r.db  # the main one\n"
        "  */30 * * * *\tregion=us target=http://127.0.0.1:9000/ scenario=/srv/s.yaml "
        "--rate 50 --duration 5#not-a-comment\n";
    assert_int_equal(parse(&s, text), 0);
    assert_int_equal(s.n, 2);
    const load_schedule_entry_t *a = &s.v[0], *b = &s.v[1];
    assert_int_equal(a->line, 3);
    assert_string_equal(a->region, "eu-west");
    assert_string_equal(a->target, "http://127.0.0.1:8080/");
    assert_string_equal(a->scenario, "/etc/levee/kickoff.yaml"); /* relative to the file */
    assert_string_equal(a->history, "/var/lib/levee/r.db");
    assert_int_equal(a->n_args, 0);
    assert_int_equal(a->scenario_col, 77);
    assert_true(a->cron.hours == 1u << 10);
    assert_non_null(strstr(a->text, "history=/var/lib/levee/r.db"));
    assert_null(strstr(a->text, "#"));
    assert_int_equal(b->line, 4);
    assert_string_equal(b->scenario, "/srv/s.yaml");
    assert_null(b->history);
    assert_int_equal(b->n_args, 4);
    assert_string_equal(b->args[0], "--rate");
    assert_string_equal(b->args[1], "50");
    assert_string_equal(b->args[3], "5#not-a-comment"); /* # inside a word is not a comment */
    load_schedule_free(&s);
}

static void test_schedule_bad_lines_all_reported(void **state)
{
    (void)state;
    load_schedule_t s;
    const char *text =
        "61 10 * * * region=a target=http://127.0.0.1:1/ scenario=s.yaml\n"             /* 1 */
        "0 10 * * * region=a target=http://example.com/ scenario=s.yaml\n"              /* 2 */
        "0 10 * *\n"                                                                    /* 3 */
        "0 10 * * * region=a target=http://127.0.0.1:1/ scenaro=s.yaml\n"               /* 4 */
        "0 10 * * * region=a target=http://127.0.0.1:1/ scenario=s.yaml --target x\n"   /* 5 */
        "0 0 30 2 * region=a target=http://127.0.0.1:1/ scenario=s.yaml\n"              /* 6 */
        "0 10 * * * region=a\n"                                                         /* 7 */
        "0 10 * * * region=a region=b target=http://127.0.0.1:1/ scenario=s.yaml\n"     /* 8 */
        "0 10 * * * kickoff.yaml region=a target=http://127.0.0.1:1/ scenario=s.yaml\n" /* 9 */
        "0 10 * * *x region=a target=http://127.0.0.1:1/ scenario=s.yaml\n"             /* 10 */
        "0 10 * * * region= target=http://127.0.0.1:1/ scenario=s.yaml\n";              /* 11 */
    assert_int_equal(parse(&s, text), LV_ECONFIG);
    assert_int_equal(s.n, 0);
    const char *want[] = {
        "r.cron:1:1: minute: 61 is not in 0-59\n",
        "r.cron:2:28: target=: expected http[s]://IPv4-or-localhost[:port][/path]\n",
        "r.cron:3:9: expected 5 time fields (minute hour day-of-month month day-of-week), "
        "found 4\n",
        "r.cron:4:48: unknown key 'scenaro' (expected region=, target=, scenario=, history=, "
        "tls_ca=, tls_insecure= or levee-load flags)\n",
        "r.cron:5:64: --target: give it as target=\n",
        "r.cron:6:5: day-of-month: never due",
        "r.cron:7:20: missing target=URL scenario=FILE.yaml\n",
        "r.cron:8:21: region= given twice\n",
        "r.cron:9:12: expected region=, target=, scenario=, history= or a levee-load flag "
        "(--name [value]), found 'kickoff.yaml'\n",
        "r.cron:10:11: day-of-week: expected a digit, -, /, a comma or a blank here\n",
        "r.cron:11:19: region=: expected a value\n",
    };
    const char *at = err;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(at, want[i]);
        if (!hit)
            fail_msg("missing, in order: %s\nin:\n%s", want[i], err);
        at = hit + strlen(want[i]);
    }
    load_schedule_free(&s);
}

static void test_schedule_tls_keys(void **state)
{
    (void)state;
    load_schedule_t s;
    const char *text = "0 10 * * * region=a target=https://localhost:8443/ scenario=score "
                       "tls_ca=certs/ca.pem --admin http://127.0.0.1:9901\n"
                       "0 11 * * * region=b target=https://127.0.0.1:8443/ scenario=s.yaml "
                       "tls_insecure=yes\n"
                       "0 12 * * * region=c target=https://127.0.0.1:8443/ scenario=s.yaml "
                       "tls_insecure=no\n";
    assert_int_equal(parse(&s, text), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.v[0].tls_ca, "/etc/levee/certs/ca.pem"); /* relative to the file */
    assert_int_equal(s.v[0].tls_ca_col, 74);
    assert_false(s.v[0].tls_insecure);
    assert_int_equal(s.v[0].n_args, 2);
    assert_null(s.v[1].tls_ca);
    assert_true(s.v[1].tls_insecure);
    assert_false(s.v[2].tls_insecure);
    load_schedule_free(&s);

    const char *bad =
        "0 10 * * * region=a target=http://127.0.0.1:1/ scenario=s.yaml tls_ca=ca.pem\n"    /* 1 */
        "0 10 * * * region=a target=http://127.0.0.1:1/ scenario=s.yaml tls_insecure=yes\n" /* 2 */
        "0 10 * * * region=a target=https://127.0.0.1:1/ scenario=s.yaml tls_insecure=1\n"  /* 3 */
        "0 10 * * * region=a target=https://127.0.0.1:1/ scenario=s.yaml --tls-ca ca.pem\n" /* 4 */
        "0 10 * * * region=a target=https://127.0.0.1:1/ scenario=s.yaml --tls-insecure\n"  /* 5 */
        "0 10 * * * region=a target=https://127.0.0.1:1/ scenario=s.yaml tls_ca=a tls_ca=b\n"; /* 6
                                                                                                */
    assert_int_equal(parse(&s, bad), LV_ECONFIG);
    assert_int_equal(s.n, 0);
    const char *want[] = {
        "r.cron:1:64: tls_ca=: only for an https target (target=http://127.0.0.1:1/)\n",
        "r.cron:2:64: tls_insecure=: only for an https target (target=http://127.0.0.1:1/)\n",
        "r.cron:3:78: tls_insecure=: expected yes or no\n",
        "r.cron:4:65: --tls-ca: give it as tls_ca=\n",
        "r.cron:5:65: --tls-insecure: give it as tls_insecure=yes\n",
        "r.cron:6:74: tls_ca= given twice\n",
    };
    const char *at = err;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(at, want[i]);
        if (!hit)
            fail_msg("missing, in order: %s\nin:\n%s", want[i], err);
        at = hit + strlen(want[i]);
    }
    load_schedule_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_lines_keys_flags_comments),
        cmocka_unit_test(test_schedule_bad_lines_all_reported),
        cmocka_unit_test(test_schedule_tls_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
