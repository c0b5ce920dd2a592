/* tests/unit/proxy/test_deadline.c: the lazy timer of proxy/deadline.h on a real uv loop whose
 * clock is only read, never waited on (uv_update_time is not called, so time stands still). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "proxy/deadline.h"

static int fired;
static void on_timer(uv_timer_t *t)
{
    (void)t;
    fired++;
}

static void test_lv_deadline_set_arms_timer_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    lv_deadline_t d = {0, 0};
    lv_deadline_set(&d, &t, on_timer, 1000);
    uint64_t due = d.due;
    assert_int_equal(d.at, uv_now(&loop) + 1000);
    /* A later deadline only moves the field. */
    lv_deadline_set(&d, &t, on_timer, 5000);
    assert_int_equal(d.due, due);
    assert_int_equal(d.at, uv_now(&loop) + 5000);
    /* An earlier one re-arms. */
    lv_deadline_set(&d, &t, on_timer, 10);
    assert_int_equal(d.due, uv_now(&loop) + 10);
    assert_int_equal(uv_timer_get_due_in(&t), 10);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void test_lv_deadline_expired_rearms_when_moved(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    lv_deadline_t d = {0, 0};
    lv_deadline_set(&d, &t, on_timer, 100);
    d.at = uv_now(&loop) + 300; /* moved later, as lv_deadline_set does lazily */
    assert_false(lv_deadline_expired(&d, &t, on_timer));
    assert_int_equal(d.due, d.at);
    assert_int_equal(uv_timer_get_due_in(&t), 300);
    lv_deadline_clear(&d);
    assert_false(lv_deadline_expired(&d, &t, on_timer)); /* cleared: a late fire is ignored */
    d.at = uv_now(&loop);
    assert_true(lv_deadline_expired(&d, &t, on_timer));
    assert_int_equal(d.at, 0);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_deadline_set_arms_timer_once),
        cmocka_unit_test(test_lv_deadline_expired_rearms_when_moved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
