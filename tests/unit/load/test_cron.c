/* tests/unit/load/test_cron.c: cron time fields (lists, ranges, steps, names, the day rule),
 * the next due minute across hour, month, year and leap-day ends, and errors with columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* The tool's sources are not in levee_lib: compile the unit under test in. */
#include "load/cron.c"

static load_cron_t parse_ok(const char *s)
{
    load_cron_t c;
    load_cron_error_t err;
    size_t end;
    if (load_cron_parse(s, &c, &end, NULL, &err) != 0)
        fail_msg("%s: col %zu: %s", s, err.col, err.msg);
    return c;
}

/* The column (1-based) and message of a bad expression. */
static size_t parse_bad(const char *s, const char *want)
{
    load_cron_t c;
    load_cron_error_t err;
    size_t end;
    assert_int_equal(load_cron_parse(s, &c, &end, NULL, &err), LV_EINVAL);
    if (!strstr(err.msg, want))
        fail_msg("%s: got '%s', want '%s'", s, err.msg, want);
    return err.col + 1;
}

static load_civil_t next_of(const char *expr, load_civil_t after)
{
    load_cron_t c = parse_ok(expr);
    load_civil_t n;
    assert_int_equal(load_cron_next(&c, &after, &n), 0);
    return n;
}

static void expect(load_civil_t got, int y, int mo, int d, int h, int mi)
{
    if (got.year != y || got.month != mo || got.day != d || got.hour != h || got.minute != mi)
        fail_msg("got %04d-%02d-%02d %02d:%02d, want %04d-%02d-%02d %02d:%02d", got.year, got.month,
                 got.day, got.hour, got.minute, y, mo, d, h, mi);
}

static void test_cron_fields_lists_ranges_steps(void **state)
{
    (void)state;
    load_cron_t c = parse_ok("*/15 9-17/4 1,15,31 * *");
    assert_true(c.minutes == (1ull << 0 | 1ull << 15 | 1ull << 30 | 1ull << 45));
    assert_true(c.hours == (1u << 9 | 1u << 13 | 1u << 17));
    assert_true(c.days == (1u << 1 | 1u << 15 | 1u << 31));
    assert_true(c.months == 0x1ffe); /* 1-12 */
    assert_true(c.weekdays == 0x7f);
    assert_false(c.days_star);
    assert_true(c.weekdays_star);
    c = parse_ok("5/20 0 * jan-mar,DEC sun,7");
    assert_true(c.minutes == (1ull << 5 | 1ull << 25 | 1ull << 45)); /* a/n: a to the end */
    assert_true(c.months == (1u << 1 | 1u << 2 | 1u << 3 | 1u << 12));
    assert_true(c.weekdays == 1);            /* Sunday as 0 and as 7 */
    c = parse_ok("\t0  0 * * 5-7 region=x"); /* blanks before and between; words after */
    assert_true(c.weekdays == (1u << 5 | 1u << 6 | 1u << 0));
    size_t end, at[5];
    load_cron_error_t err;
    assert_int_equal(load_cron_parse(" 1 2 3 4 5 rest", &c, &end, at, &err), 0);
    assert_int_equal(end, 10);
    assert_int_equal(at[0], 1);
    assert_int_equal(at[4], 9);
}

static void test_cron_day_rule_or_when_both_restricted(void **state)
{
    (void)state;
    /* 2026-12-13 is a Sunday, 2026-12-15 a Tuesday. */
    load_cron_t both = parse_ok("0 0 15 * sun"); /* the 15th, or any Sunday */
    assert_true(load_cron_matches(&both, &(load_civil_t){2026, 12, 13, 0, 0}));
    assert_true(load_cron_matches(&both, &(load_civil_t){2026, 12, 15, 0, 0}));
    assert_false(load_cron_matches(&both, &(load_civil_t){2026, 12, 14, 0, 0}));
    load_cron_t dow = parse_ok("0 0 * * sun"); /* day-of-month *: Sundays only */
    assert_true(load_cron_matches(&dow, &(load_civil_t){2026, 12, 13, 0, 0}));
    assert_false(load_cron_matches(&dow, &(load_civil_t){2026, 12, 15, 0, 0}));
    load_cron_t stepped = parse_ok("0 0 */2 * mon"); /* starts with *: both must match */
    assert_false(load_cron_matches(&stepped, &(load_civil_t){2026, 12, 15, 0, 0}));
    assert_true(load_cron_matches(&stepped, &(load_civil_t){2026, 12, 21, 0, 0}));
    assert_false(load_cron_matches(&stepped, &(load_civil_t){2026, 12, 14, 0, 0}));
}

static void test_civil_weekday_and_month_lengths(void **state)
{
    (void)state;
    assert_int_equal(load_civil_weekday(1970, 1, 1), 4);  /* Thursday */
    assert_int_equal(load_civil_weekday(2000, 2, 29), 2); /* Tuesday */
    assert_int_equal(load_civil_weekday(2026, 12, 7), 1); /* Monday */
    assert_int_equal(load_civil_weekday(1969, 12, 31), 3);
    assert_int_equal(load_civil_days_in_month(2024, 2), 29);
    assert_int_equal(load_civil_days_in_month(2100, 2), 28);
    assert_int_equal(load_civil_days_in_month(2000, 2), 29);
    assert_int_equal(load_civil_days_in_month(2026, 4), 30);
    assert_int_equal(load_civil_days_in_month(2026, 12), 31);
}

static void test_cron_next_across_ends(void **state)
{
    (void)state;
    /* Strictly after: a due minute is not its own next. */
    expect(next_of("* * * * *", (load_civil_t){2026, 12, 7, 10, 0}), 2026, 12, 7, 10, 1);
    /* Across the hour and the day. */
    expect(next_of("*/15 * * * *", (load_civil_t){2026, 12, 7, 23, 50}), 2026, 12, 8, 0, 0);
    /* Across the month end (30-day November) and the year end. */
    expect(next_of("0 10 1 * *", (load_civil_t){2026, 11, 30, 12, 0}), 2026, 12, 1, 10, 0);
    expect(next_of("30 0 1 1 *", (load_civil_t){2026, 12, 31, 23, 59}), 2027, 1, 1, 0, 30);
    expect(next_of("0 10 * * mon,wed,fri", (load_civil_t){2026, 12, 31, 23, 50}), 2027, 1, 1, 10,
           0);
    /* The 31st skips the months without one. */
    expect(next_of("0 0 31 * *", (load_civil_t){2027, 1, 31, 0, 0}), 2027, 3, 31, 0, 0);
    /* 29 February: the next leap year, and 2100 is not one. */
    expect(next_of("0 0 29 2 *", (load_civil_t){2026, 3, 1, 0, 0}), 2028, 2, 29, 0, 0);
    expect(next_of("0 0 29 2 *", (load_civil_t){2096, 3, 1, 0, 0}), 2104, 2, 29, 0, 0);
    /* Weekdays at 10:00 from a Friday evening: Monday. */
    expect(next_of("0 10 * * 1-5", (load_civil_t){2026, 12, 11, 18, 0}), 2026, 12, 14, 10, 0);
}

static void test_cron_next_never(void **state)
{
    (void)state;
    load_cron_t c = parse_ok("0 0 30 2 *");
    load_civil_t n;
    assert_int_equal(load_cron_next(&c, &(load_civil_t){2026, 1, 1, 0, 0}, &n), LV_ENOTFOUND);
}

static void test_cron_errors_with_column(void **state)
{
    (void)state;
    assert_int_equal(parse_bad("61 * * * *", "minute: 61 is not in 0-59"), 1);
    assert_int_equal(parse_bad("0 24 * * *", "hour: 24 is not in 0-23"), 3);
    assert_int_equal(parse_bad("0 0 0 * *", "day-of-month: 0 is not in 1-31"), 5);
    assert_int_equal(parse_bad("0 0 * 13 *", "month: 13 is not in 1-12"), 7);
    assert_int_equal(parse_bad("0 0 * * 8", "day-of-week: 8 is not in 0-7"), 9);
    assert_int_equal(parse_bad("0 0 * foo *", "month: expected *, a number in 1-12 or a name"), 7);
    assert_int_equal(parse_bad("1,2,x * * * *", "minute: expected * or a number"), 5);
    assert_int_equal(parse_bad("10-5 * * * *", "the range ends at 5, before its start 10"), 4);
    assert_int_equal(parse_bad("*/0 * * * *", "minute: expected a step in 1-60 after /"), 3);
    assert_int_equal(parse_bad("*/ * * * *", "expected a step"), 3);
    assert_int_equal(parse_bad("0 0 * *", "expected 5 time fields"), 8);
    assert_int_equal(parse_bad("", "found 0"), 1);
    assert_int_equal(parse_bad("0 0 1x * *", "day-of-month: expected a digit, -, /"), 6);
    assert_int_equal(parse_bad("0 0 * * monday", "day-of-week: expected"), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_fields_lists_ranges_steps),
        cmocka_unit_test(test_cron_day_rule_or_when_both_restricted),
        cmocka_unit_test(test_civil_weekday_and_month_lengths),
        cmocka_unit_test(test_cron_next_across_ends),
        cmocka_unit_test(test_cron_next_never),
        cmocka_unit_test(test_cron_errors_with_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
