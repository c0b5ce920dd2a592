/* tests/unit/load/test_history.c: levee-load's SQLite history (a real file in /tmp): round trip,
 * unknown figures, filters, --last, bad runs refused whole, schema versions, UTC timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

/* The tool's sources are not in levee_lib: compile the unit under test in. */
#include "load/history.c"

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/lv-history-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(path); /* load_history_open creates it */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static load_history_t *open_ok(void)
{
    char err[256];
    load_history_t *h = load_history_open(path, err, sizeof(err));
    if (!h)
        fail_msg("open: %s", err);
    return h;
}

static load_history_run_t rehearsal(const char *scenario, const char *region, const char *when)
{
    return (load_history_run_t){.kind = LOAD_HISTORY_REHEARSAL,
                                .scenario = scenario,
                                .target = "http://127.0.0.1:9000/",
                                .region = region,
                                .started_at = when,
                                .duration_s = 3,
                                .run_s = 5,
                                .offered_per_s = 311,
                                .goodput_per_s = 47.5,
                                .goodput_share = 0.475,
                                .user_success = 0.305,
                                .p99_ms = 1982.46,
                                .errors = 648,
                                .score = -1,
                                .score_max = -1};
}

static void test_history_record_round_trip_with_parts(void **state)
{
    (void)state;
    load_history_t *h = open_ok();
    load_history_run_t r = rehearsal("kickoff", "eu-west", "2026-12-07T10:00:00Z");
    assert_true(load_history_record(h, &r, NULL, 0) > 0);
    load_history_run_t s = r;
    s.kind = LOAD_HISTORY_SCORE;
    s.started_at = "2026-12-09T10:00:00Z";
    s.score = 71.5;
    s.score_max = 100;
    s.p99_ms = -1; /* unknown */
    load_history_part_t parts[3] = {
        {"api", "goodput", 40, 50}, {"api", "latency", 20, 25}, {"web", "goodput", 11.5, 25}};
    int64_t id = load_history_record(h, &s, parts, 3);
    assert_true(id > 0);
    load_history_close(h);

    h = open_ok(); /* a second open finds the runs, and does not create the tables again */
    load_history_list_t l;
    assert_int_equal(load_history_query(h, NULL, &l), LV_OK);
    assert_int_equal(l.n, 2);
    const load_history_run_t *a = &l.v[0].run, *b = &l.v[1].run;
    assert_int_equal(a->kind, LOAD_HISTORY_REHEARSAL);
    assert_string_equal(a->scenario, "kickoff");
    assert_string_equal(a->region, "eu-west");
    assert_string_equal(a->target, "http://127.0.0.1:9000/");
    assert_string_equal(a->started_at, "2026-12-07T10:00:00Z");
    assert_true(a->duration_s == 3 && a->run_s == 5);
    assert_true(a->offered_per_s == 311 && a->goodput_per_s == 47.5);
    assert_true(a->goodput_share == 0.475 && a->user_success == 0.305);
    assert_true(a->p99_ms == 1982.46);
    assert_int_equal(a->errors, 648);
    assert_true(a->score < 0 && a->score_max < 0); /* a rehearsal has no score */
    assert_int_equal(l.v[0].n_parts, 0);
    assert_int_equal(b->id, id);
    assert_int_equal(b->kind, LOAD_HISTORY_SCORE);
    assert_true(b->score == 71.5 && b->score_max == 100);
    assert_true(b->p99_ms < 0);
    assert_int_equal(l.v[1].n_parts, 3);
    assert_string_equal(l.v[1].parts[2].service, "web");
    assert_string_equal(l.v[1].parts[2].part, "goodput");
    assert_true(l.v[1].parts[2].value == 11.5 && l.v[1].parts[2].max == 25);
    load_history_list_free(&l);
    load_history_close(h);
}

static void test_history_query_filters_and_last(void **state)
{
    (void)state;
    load_history_t *h = open_ok();
    const char *when[4] = {"2026-12-01T10:00:00Z", "2026-12-03T10:00:00Z", "2026-12-02T10:00:00Z",
                           "2026-12-04T10:00:00Z"};
    const char *region[4] = {"eu", "us", "eu", ""};
    for (int i = 0; i < 4; i++) {
        load_history_run_t r = rehearsal(i == 1 ? "storm" : "kickoff", region[i], when[i]);
        assert_true(load_history_record(h, &r, NULL, 0) > 0);
    }
    load_history_list_t l;
    /* Oldest first by started_at, whatever the order of recording. */
    assert_int_equal(load_history_query(h, &(load_history_filter_t){.scenario = "kickoff"}, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].run.started_at, when[0]);
    assert_string_equal(l.v[1].run.started_at, when[2]);
    assert_string_equal(l.v[2].run.started_at, when[3]);
    load_history_list_free(&l);
    assert_int_equal(load_history_query(h, &(load_history_filter_t){.region = "eu"}, &l), 0);
    assert_int_equal(l.n, 2);
    load_history_list_free(&l);
    /* Region "" asks for the runs without one. */
    assert_int_equal(load_history_query(h, &(load_history_filter_t){.region = ""}, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].run.started_at, when[3]);
    load_history_list_free(&l);
    /* --last 2: the two newest, still oldest first. */
    assert_int_equal(load_history_query(h, &(load_history_filter_t){.last = 2}, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].run.started_at, when[1]);
    assert_string_equal(l.v[1].run.started_at, when[3]);
    load_history_list_free(&l);
    load_history_close(h);
}

static void test_history_record_refuses_bad_runs(void **state)
{
    (void)state;
    load_history_t *h = open_ok();
    load_history_run_t r = rehearsal("kickoff", NULL, "2026-12-07 10:00");
    assert_int_equal(load_history_record(h, &r, NULL, 0), LV_EINVAL);
    assert_non_null(strstr(load_history_error(h), "started_at"));
    r = rehearsal("", NULL, NULL);
    assert_int_equal(load_history_record(h, &r, NULL, 0), LV_EINVAL);
    /* A duplicate part fails inside the transaction: the run is not kept either. */
    r = rehearsal("kickoff", NULL, NULL);
    r.kind = LOAD_HISTORY_SCORE;
    load_history_part_t dup[2] = {{"api", "goodput", 1, 2}, {"api", "goodput", 1, 2}};
    assert_int_equal(load_history_record(h, &r, dup, 2), LV_EIO);
    load_history_list_t l;
    assert_int_equal(load_history_query(h, NULL, &l), 0);
    assert_int_equal(l.n, 0);
    load_history_list_free(&l);
    /* No started_at: now, in the stored form. */
    assert_true(load_history_record(h, &r, NULL, 0) > 0);
    assert_int_equal(load_history_query(h, NULL, &l), 0);
    assert_int_equal(l.n, 1);
    int64_t t = 0;
    assert_int_equal(load_history_parse_utc(l.v[0].run.started_at, &t), 0);
    assert_true(llabs((long long)(t - (int64_t)time(NULL))) < 60);
    assert_string_equal(l.v[0].run.region, "");
    load_history_list_free(&l);
    load_history_close(h);
}

static void test_history_schema_version_and_newer_refused(void **state)
{
    (void)state;
    load_history_close(open_ok());
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int v = -1;
    assert_int_equal(load_history_user_version(db, &v), 0);
    assert_int_equal(v, LOAD_HISTORY_SCHEMA);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_null(load_history_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "schema version 99 is newer"));
}

static void test_history_utc_round_trip(void **state)
{
    (void)state;
    char buf[32];
    load_history_utc(1796640000, buf, sizeof(buf)); /* 2026-12-07 10:40:00 UTC */
    assert_string_equal(buf, "2026-12-07T10:40:00Z");
    int64_t t;
    assert_int_equal(load_history_parse_utc(buf, &t), 0);
    assert_int_equal(t, 1796640000);
    assert_int_equal(load_history_parse_utc("2026-12-07T10:40:00", &t), LV_EINVAL);
    assert_int_equal(load_history_parse_utc("2026-12-07T10:40:00Z junk", &t), LV_EINVAL);
    assert_int_equal(load_history_parse_utc(NULL, &t), LV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_history_record_round_trip_with_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_query_filters_and_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_record_refuses_bad_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_schema_version_and_newer_refused, setup,
                                        teardown),
        cmocka_unit_test(test_history_utc_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
