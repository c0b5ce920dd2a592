/* tests/unit/load/test_trend.c: the history's trends: medians, series per scenario + region (+
 * service), the newest point against the earlier ones' median, score-drop and share limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the units under test in. */
#include "load/history.c"
#include "load/trend.c"

static void test_median_odd_even_empty(void **state)
{
    (void)state;
    double a[] = {5, 1, 3};
    assert_true(load_median(a, 3) == 3);
    double b[] = {4, 1, 3, 2};
    assert_true(load_median(b, 4) == 2.5);
    assert_true(load_median(NULL, 0) < 0);
}

#define N 5
static load_history_entry_t e[N];
static load_history_part_t parts[N][2];

/* kickoff/eu: two rehearsals then three scores (api and web); kickoff/us: one rehearsal. */
static load_history_list_t make_list(void)
{
    static const char *when[N] = {"2026-11-02T10:00:00Z", "2026-11-04T10:00:00Z",
                                  "2026-11-06T10:00:00Z", "2026-11-09T10:00:00Z",
                                  "2026-11-11T10:00:00Z"};
    static const double score[N] = {-1, 80, 84, 82, 60};
    memset(e, 0, sizeof(e));
    for (int i = 0; i < N; i++) {
        load_history_run_t *r = &e[i].run;
        *r = (load_history_run_t){.kind =
                                      score[i] >= 0 ? LOAD_HISTORY_SCORE : LOAD_HISTORY_REHEARSAL,
                                  .scenario = "kickoff",
                                  .target = "http://127.0.0.1:9000/",
                                  .region = i == 2 ? "us" : "eu",
                                  .started_at = when[i],
                                  .goodput_share = 0.9 - 0.1 * i,
                                  .p99_ms = i == 1 ? -1 : 100.0 * (i + 1),
                                  .score = score[i],
                                  .score_max = 100};
        if (score[i] >= 0) {
            parts[i][0] = (load_history_part_t){"web", "goodput", score[i] / 2, 50};
            parts[i][1] = (load_history_part_t){"api", "goodput", score[i] / 2 - i, 50};
            e[i].parts = parts[i];
            e[i].n_parts = 2;
        }
    }
    return (load_history_list_t){e, N};
}

static load_trend_set_t set;

static int build(void **state)
{
    (void)state;
    load_history_list_t l = make_list();
    load_trend_build(&l, &set);
    return 0;
}

static int unbuild(void **state)
{
    (void)state;
    load_trend_set_free(&set);
    return 0;
}

static const load_trend_series_t *find(const load_trend_set_t *s, const char *region,
                                       load_trend_metric_t m, const char *service)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].region, region) == 0 && s->v[i].metric == m &&
            strcmp(s->v[i].service, service) == 0)
            return &s->v[i];
    return NULL;
}

static void test_trend_build_groups_and_services(void **state)
{
    (void)state;
    const load_trend_set_t *s = &set;
    /* eu: share, p99, score, score api, score web; us: share, p99, score, api, web. */
    assert_int_equal(s->n, 10);
    assert_string_equal(s->v[0].region, "eu");   /* groups in order of appearance */
    assert_string_equal(s->v[3].service, "api"); /* services by name */
    assert_string_equal(s->v[4].service, "web");
    const load_trend_series_t *p99 = find(s, "eu", LOAD_TREND_P99, "");
    assert_non_null(p99);
    assert_int_equal(p99->n, 3); /* the run with an unknown p99 has no point */
    assert_true(p99->y[0] == 100 && p99->y[2] == 500);
    const load_trend_series_t *api = find(s, "eu", LOAD_TREND_SCORE, "api");
    assert_non_null(api);
    assert_int_equal(api->n, 3);
    assert_true(api->y[0] == 39 && api->y[1] == 38 && api->y[2] == 26);
    assert_true(api->max[0] == 50);
    assert_true(api->t[1] - api->t[0] == 5 * 86400.0);
    assert_ptr_equal(api->runs[2], &e[4]);
    const load_trend_series_t *total = find(s, "eu", LOAD_TREND_SCORE, "");
    assert_int_equal(total->n, 3);
    assert_true(total->y[2] == 60 && total->max[2] == 100);
}

static void test_trend_evaluate_newest_against_median(void **state)
{
    (void)state;
    const load_trend_set_t *s = &set;
    load_trend_eval_t ev;
    load_trend_evaluate(find(s, "eu", LOAD_TREND_SCORE, ""), &ev);
    assert_true(ev.newest == 60);
    assert_true(ev.median == 81); /* of 80 and 82 */
    assert_int_equal(ev.n_prev, 2);
    assert_true(ev.change_pct < -25.9 && ev.change_pct > -26);
    /* A single point has nothing to compare with. */
    load_trend_evaluate(find(s, "us", LOAD_TREND_SCORE, ""), &ev);
    assert_true(ev.median < 0);
    assert_int_equal(ev.n_prev, 0);
}

static void test_trend_regressed_limits(void **state)
{
    (void)state;
    const load_trend_set_t *s = &set;
    char why[256];
    load_trend_eval_t ev;
    const load_trend_series_t *total = find(s, "eu", LOAD_TREND_SCORE, "");
    load_trend_evaluate(total, &ev);
    load_trend_limits_t none = {-1, -1}, drop30 = {30, -1}, drop20 = {20, -1};
    assert_int_equal(load_trend_regressed(total, &ev, &none, why, sizeof(why)), 0);
    assert_int_equal(load_trend_regressed(total, &ev, &drop30, why, sizeof(why)), 0);
    assert_int_equal(load_trend_regressed(total, &ev, &drop20, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "score 60.0 is 25.9 % below the median 81.0"));
    /* A score drop limit does not apply to goodput share, and the other way round. */
    const load_trend_series_t *share = find(s, "eu", LOAD_TREND_SHARE, "");
    load_trend_evaluate(share, &ev);
    assert_true(ev.newest > 0.49 && ev.newest < 0.51);
    assert_int_equal(load_trend_regressed(share, &ev, &drop20, why, sizeof(why)), 0);
    load_trend_limits_t min60 = {-1, 0.6}, min40 = {-1, 0.4};
    assert_int_equal(load_trend_regressed(share, &ev, &min60, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "goodput share 50.0 % is below the minimum 60.0 %"));
    assert_int_equal(load_trend_regressed(share, &ev, &min40, why, sizeof(why)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_odd_even_empty),
        cmocka_unit_test_setup_teardown(test_trend_build_groups_and_services, build, unbuild),
        cmocka_unit_test_setup_teardown(test_trend_evaluate_newest_against_median, build, unbuild),
        cmocka_unit_test_setup_teardown(test_trend_regressed_limits, build, unbuild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
