/* tests/unit/guard/test_pressure.c: guard/pressure.h on a fake clock (microseconds passed in):
 * the refused share and its floor, the two-second window, the hold, readings out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "guard/pressure.h"

#define MS(x) ((uint64_t)(x)*1000u)
#define T0 MS(777000) /* a whole second */
#define HOLD MS(1000)

static void note(lv_pressure_t *p, uint64_t now, int n, bool refused)
{
    for (int i = 0; i < n; i++)
        lv_pressure_note(p, now, refused);
}

static void test_lv_pressure_on_needs_ten_refusals_and_ten_percent(void **state)
{
    (void)state;
    lv_pressure_t p = {0};
    assert_false(lv_pressure_on(&p, T0, HOLD));
    note(&p, T0, 9, true);
    assert_false(lv_pressure_on(&p, T0, HOLD)); /* 9 refusals: under the floor */
    note(&p, T0, 200, false);
    note(&p, T0, 1, true);
    assert_false(lv_pressure_on(&p, T0, HOLD)); /* 10 of 210: under 10 % */
    note(&p, T0 + MS(10), 20, true);
    assert_true(lv_pressure_on(&p, T0 + MS(10), HOLD)); /* 30 of 230 */
}

static void test_lv_pressure_on_holds_then_clears(void **state)
{
    (void)state;
    lv_pressure_t p = {0};
    note(&p, T0 + MS(100), 10, true);
    assert_true(lv_pressure_on(&p, T0 + MS(100) + HOLD - 1, HOLD));
    assert_false(lv_pressure_on(&p, T0 + MS(100) + HOLD, HOLD));
}

static void test_lv_pressure_note_window_is_two_seconds(void **state)
{
    (void)state;
    lv_pressure_t p = {0};
    note(&p, T0 + MS(900), 8, true);  /* second 0 */
    note(&p, T0 + MS(1100), 2, true); /* second 1: 10 over the two */
    assert_true(lv_pressure_on(&p, T0 + MS(1100), HOLD));
    lv_pressure_t q = {0};
    note(&q, T0 + MS(900), 8, true);  /* second 0 */
    note(&q, T0 + MS(2100), 2, true); /* second 2: second 0 is out */
    assert_false(lv_pressure_on(&q, T0 + MS(2100), HOLD));
}

/* A caller reads the clock, then queued requests are dropped and noted with fresher readings,
 * then the caller asks with its own (older) reading: still pressure, not an unsigned wrap. */
static void test_lv_pressure_on_reading_older_than_the_mark(void **state)
{
    (void)state;
    lv_pressure_t p = {0};
    note(&p, T0 + MS(500), 20, true);
    assert_true(lv_pressure_on(&p, T0 + MS(499), HOLD));
    assert_true(lv_pressure_on(&p, T0 + MS(500), HOLD));
}

/* A reading from the second before the current one counts in the current second: it must not
 * wipe the window (that reading came late, not from the past). */
static void test_lv_pressure_note_late_reading_keeps_the_window(void **state)
{
    (void)state;
    lv_pressure_t p = {0};
    note(&p, T0 + MS(1001), 9, true);
    note(&p, T0 + MS(999), 1, true); /* read just before the second began */
    assert_true(lv_pressure_on(&p, T0 + MS(1001), HOLD));
    assert_int_equal(p.refused[1], 10);
    /* ...and the mark does not go back in time. */
    note(&p, T0 + MS(1500), 1, true);
    note(&p, T0 + MS(1400), 1, true);
    assert_true(lv_pressure_on(&p, T0 + MS(1500) + HOLD - 1, HOLD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_pressure_on_needs_ten_refusals_and_ten_percent),
        cmocka_unit_test(test_lv_pressure_on_holds_then_clears),
        cmocka_unit_test(test_lv_pressure_note_window_is_two_seconds),
        cmocka_unit_test(test_lv_pressure_on_reading_older_than_the_mark),
        cmocka_unit_test(test_lv_pressure_note_late_reading_keeps_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
