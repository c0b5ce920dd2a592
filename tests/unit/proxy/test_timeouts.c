/* tests/unit/proxy/test_timeouts.c: the deadline heap of proxy/timeouts.h on a real uv loop whose
 * clock stands still (uv_update_time is never called); expiry runs on a clock of the test's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "proxy/timeouts.h"

#define N_ENTRIES 300

typedef struct entry {
    lv_timeout_t t;
    int id;
    int fired;
} entry_t;

static entry_t entries[N_ENTRIES];
static uint64_t deadline[N_ENTRIES]; /* as set, for the order check */
static int fired_order[N_ENTRIES * 4];
static int n_fired;
/* What the callback does besides recording: re-arm the entry once, or remove another. */
static uint64_t rearm_ms;
static lv_timeout_t *remove_on_fire;

static void on_expire(lv_timeouts_t *ts, lv_timeout_t *t)
{
    entry_t *e = (entry_t *)(void *)((char *)t - offsetof(entry_t, t));
    assert_false(lv_timeout_armed(t));
    assert_int_equal(t->due, 0);
    e->fired++;
    fired_order[n_fired++] = e->id;
    if (remove_on_fire) {
        lv_timeout_remove(ts, remove_on_fire);
        remove_on_fire = NULL;
    }
    if (rearm_ms) {
        lv_timeout_set(ts, t, rearm_ms);
        rearm_ms = 0;
    }
}

static void reset(void)
{
    for (int i = 0; i < N_ENTRIES; i++) {
        entries[i] = (entry_t){.id = i};
    }
    n_fired = 0;
    rearm_ms = 0;
    remove_on_fire = NULL;
}

/* Walks the tree: links agree, every key is >= its parent's, and there are ts->n nodes. */
static uint32_t check_subtree(const lv_timeout_t *t, const lv_timeout_t *parent)
{
    if (!t)
        return 0;
    assert_ptr_equal(t->parent, parent);
    assert_true(t->due != 0);
    if (parent)
        assert_true(parent->due <= t->due);
    return 1 + check_subtree(t->left, t) + check_subtree(t->right, t);
}

static void check_heap(const lv_timeouts_t *ts)
{
    assert_int_equal(check_subtree(ts->min, NULL), ts->n);
}

static void close_loop(uv_loop_t *loop, lv_timeouts_t *ts)
{
    lv_timeouts_close(ts);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void test_lv_timeout_set_orders_many(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    lv_timeouts_t ts;
    lv_timeouts_init(&ts, &loop, on_expire);
    uint64_t now = uv_now(&loop);
    srand(7);
    for (int i = 0; i < N_ENTRIES; i++) {
        lv_timeout_set(&ts, &entries[i].t, 1 + (uint64_t)(rand() % 1000));
        deadline[i] = entries[i].t.at;
        check_heap(&ts);
    }
    assert_int_equal(ts.n, N_ENTRIES);
    /* The uv timer is set for the earliest. */
    assert_int_equal(uv_timer_get_due_in(&ts.timer), ts.min->due - now);
    /* Remove a third, from anywhere in the tree. */
    for (int i = 0; i < N_ENTRIES; i += 3) {
        lv_timeout_remove(&ts, &entries[i].t);
        check_heap(&ts);
    }
    assert_int_equal(ts.n, N_ENTRIES - N_ENTRIES / 3);
    /* Expire in steps: exactly what is due, in order of deadline. */
    for (uint64_t step = 0; step <= 1000; step += 37) {
        lv_timeouts_run(&ts, now + step);
        check_heap(&ts);
        for (int i = 0; i < N_ENTRIES; i++) {
            bool removed = i % 3 == 0;
            assert_int_equal(entries[i].fired, !removed && deadline[i] <= now + step ? 1 : 0);
        }
    }
    lv_timeouts_run(&ts, now + 1001);
    assert_int_equal(ts.n, 0);
    assert_null(ts.min);
    assert_int_equal(n_fired, N_ENTRIES - N_ENTRIES / 3);
    for (int i = 1; i < n_fired; i++)
        assert_true(deadline[fired_order[i - 1]] <= deadline[fired_order[i]]);
    close_loop(&loop, &ts);
}

static void test_lv_timeout_set_later_is_lazy(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    lv_timeouts_t ts;
    lv_timeouts_init(&ts, &loop, on_expire);
    uint64_t now = uv_now(&loop);
    lv_timeout_t *t = &entries[0].t;
    lv_timeout_set(&ts, t, 100);
    assert_int_equal(t->due, now + 100);
    /* Later: only the deadline moves; the key and the uv timer stay. */
    lv_timeout_set(&ts, t, 500);
    assert_int_equal(t->at, now + 500);
    assert_int_equal(t->due, now + 100);
    assert_int_equal(uv_timer_get_due_in(&ts.timer), 100);
    /* The key comes up: not expired, put back under its real deadline. */
    lv_timeouts_run(&ts, now + 100);
    assert_int_equal(entries[0].fired, 0);
    assert_int_equal(t->due, now + 500);
    assert_int_equal(ts.n, 1);
    /* Earlier again: re-keyed now. */
    lv_timeout_set(&ts, t, 20);
    assert_int_equal(t->due, now + 20);
    assert_int_equal(ts.n, 1);
    /* 0 ms counts as 1, as in proxy/deadline.h. */
    lv_timeout_set(&ts, t, 0);
    assert_int_equal(t->at, now + 1);
    lv_timeouts_run(&ts, now + 1);
    assert_int_equal(entries[0].fired, 1);
    assert_int_equal(ts.n, 0);
    close_loop(&loop, &ts);
}

static void test_lv_timeout_clear_drops_silently(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    lv_timeouts_t ts;
    lv_timeouts_init(&ts, &loop, on_expire);
    uint64_t now = uv_now(&loop);
    lv_timeout_set(&ts, &entries[0].t, 50);
    lv_timeout_set(&ts, &entries[1].t, 60);
    lv_timeout_clear(&entries[0].t);
    assert_int_equal(ts.n, 2); /* still in the heap */
    lv_timeouts_run(&ts, now + 55);
    assert_int_equal(entries[0].fired, 0);
    assert_int_equal(ts.n, 1);
    assert_int_equal(entries[0].t.due, 0);
    /* The uv timer follows the next key. */
    assert_int_equal(ts.timer_due, now + 60);
    lv_timeouts_run(&ts, now + 60);
    assert_int_equal(entries[1].fired, 1);
    assert_int_equal(ts.timer_due, 0);
    assert_false(uv_is_active((uv_handle_t *)&ts.timer));
    close_loop(&loop, &ts);
}

static void test_lv_timeouts_run_callback_rearms_and_removes(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    lv_timeouts_t ts;
    lv_timeouts_init(&ts, &loop, on_expire);
    uint64_t now = uv_now(&loop);
    lv_timeout_set(&ts, &entries[0].t, 10);
    lv_timeout_set(&ts, &entries[1].t, 10);
    lv_timeout_set(&ts, &entries[2].t, 30);
    /* The first to fire removes the third and re-arms itself. */
    remove_on_fire = &entries[2].t;
    rearm_ms = 5; /* from the loop's clock: due at now + 5, already passed at now + 10 */
    lv_timeouts_run(&ts, now + 10);
    /* Both at 10 fired; the re-armed one was due again (now + 5 <= now + 10) and fired too. */
    assert_int_equal(entries[0].fired + entries[1].fired, 3);
    assert_int_equal(entries[2].fired, 0);
    assert_int_equal(ts.n, 0);
    lv_timeouts_run(&ts, now + 100);
    assert_int_equal(entries[2].fired, 0);
    close_loop(&loop, &ts);
}

static void test_lv_timeout_remove_twice_is_harmless(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    lv_timeouts_t ts;
    lv_timeouts_init(&ts, &loop, on_expire);
    lv_timeout_remove(&ts, &entries[0].t); /* never armed */
    lv_timeout_set(&ts, &entries[0].t, 10);
    lv_timeout_remove(&ts, &entries[0].t);
    lv_timeout_remove(&ts, &entries[0].t);
    assert_int_equal(ts.n, 0);
    assert_false(lv_timeout_armed(&entries[0].t));
    close_loop(&loop, &ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_timeout_set_orders_many),
        cmocka_unit_test(test_lv_timeout_set_later_is_lazy),
        cmocka_unit_test(test_lv_timeout_clear_drops_silently),
        cmocka_unit_test(test_lv_timeouts_run_callback_rearms_and_removes),
        cmocka_unit_test(test_lv_timeout_remove_twice_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
