/* tests/unit/guard/test_queue.c: the wait queue of guard/queue.h: CoDel timeouts, adaptive
 * LIFO, deadlines, criticality order and caps, counters. Fake time in microseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "guard/queue.h"

#define MS 1000ull

typedef struct drops {
    lv_queue_item_t *items[64];
    lv_queue_drop_t why[64];
    int n;
} drops_t;

static void on_drop(void *ctx, lv_queue_item_t *it, lv_queue_drop_t why)
{
    drops_t *d = ctx;
    assert_false(it->queued); /* unlinked before the callback */
    assert_true(d->n < 64);
    d->items[d->n] = it;
    d->why[d->n++] = why;
}

static lv_queue_conf_t conf_default(void)
{
    return (lv_queue_conf_t){8, 5, 100, 500};
}

/* The counters match the lists. */
static void check_lens(const lv_queue_t *q)
{
    uint32_t total = 0;
    for (int c = 0; c < LV_QUEUE_N_CRIT; c++) {
        uint32_t n = 0;
        for (const lv_queue_item_t *it = q->heads[c].next; it != &q->heads[c]; it = it->next) {
            assert_true(it->queued);
            assert_int_equal(it->crit, c);
            assert_ptr_equal(it->next->prev, it);
            n++;
        }
        assert_int_equal(n, q->len_by_crit[c]);
        total += n;
    }
    assert_int_equal(total, q->len);
}

static lv_queue_item_t item(uint8_t crit)
{
    lv_queue_item_t it;
    memset(&it, 0, sizeof it);
    it.crit = crit;
    return it;
}

static void test_lv_queue_pop_fifo_when_not_standing(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1), d = item(1);
    assert_true(lv_queue_push(&q, &a, 1 * MS));
    assert_true(lv_queue_push(&q, &b, 2 * MS));
    assert_true(lv_queue_push(&q, &d, 3 * MS));
    check_lens(&q);
    assert_false(lv_queue_standing(&q, 50 * MS));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, 50 * MS), 500);
    drops_t dr = {0};
    assert_ptr_equal(lv_queue_pop(&q, 50 * MS, on_drop, &dr), &a);
    assert_ptr_equal(lv_queue_pop(&q, 50 * MS, on_drop, &dr), &b);
    assert_ptr_equal(lv_queue_pop(&q, 50 * MS, on_drop, &dr), &d);
    assert_null(lv_queue_pop(&q, 50 * MS, on_drop, &dr));
    assert_int_equal(dr.n, 0);
    assert_false(a.queued);
    check_lens(&q);
}

static void test_lv_queue_pop_lifo_when_standing(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = {100, 5, 100, 500};
    lv_queue_init(&q, &c, 0);
    /* Not empty since 10 ms; items come twice as fast as they go, never draining it: the
     * oldest item's wait grows at half the clock's rate, and reaches the interval ~200 ms in. */
    lv_queue_item_t old = item(1);
    assert_true(lv_queue_push(&q, &old, 10 * MS));
    uint64_t now = 10 * MS;
    drops_t dr = {0};
    lv_queue_item_t keep[80];
    for (int i = 0; i < 80; i++) {
        keep[i] = item(1);
        now += 3 * MS;
        assert_true(lv_queue_push(&q, &keep[i], now));
        if (i % 2) {
            lv_queue_item_t *got = lv_queue_pop(&q, now, on_drop, &dr);
            if (lv_queue_standing(&q, now))
                assert_ptr_equal(got, &keep[i]); /* LIFO: the one just pushed */
            else
                assert_true(got->enqueued_us < now); /* FIFO: an older one */
        }
        lv_queue_expire(&q, now, on_drop, &dr);
        check_lens(&q);
    }
    assert_true(now >= 240 * MS);
    assert_true(lv_queue_standing(&q, now));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, now), 5);
    lv_queue_item_t x = item(1), y = item(1);
    assert_true(lv_queue_push(&q, &x, now));
    assert_true(lv_queue_push(&q, &y, now + 1 * MS));
    /* Newest first while standing; the stale ones were dropped by the short target. */
    assert_ptr_equal(lv_queue_pop(&q, now + 2 * MS, on_drop, &dr), &y);
    assert_ptr_equal(lv_queue_pop(&q, now + 2 * MS, on_drop, &dr), &x);
    assert_false(old.queued);
    assert_true(dr.n > 0);
    for (int i = 0; i < dr.n; i++)
        assert_int_equal(dr.why[i], LV_QUEUE_EXPIRED_WAIT);
    assert_int_equal(q.dropped_timeout, (uint64_t)dr.n);
    check_lens(&q);
}

/* A burst the limit works through: the queue holds items for longer than an interval, but each
 * is served within 30 ms. That is not a standing queue: FIFO, nothing cut to the target. */
static void test_lv_queue_expire_burst_is_not_standing(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = {100, 5, 100, 100};
    lv_queue_init(&q, &c, 0);
    drops_t dr = {0};
    lv_queue_item_t it[60];
    uint64_t now = 10 * MS;
    /* One arrival every 2 ms for 120 ms, one departure every 2 ms from 40 ms on. */
    for (int i = 0; i < 60; i++, now += 2 * MS) {
        it[i] = item(1);
        assert_true(lv_queue_push(&q, &it[i], now));
        if (now >= 40 * MS) {
            lv_queue_item_t *got = lv_queue_pop(&q, now, on_drop, &dr);
            assert_non_null(got);
            assert_true(now - got->enqueued_us <= 30 * MS);
        }
        lv_queue_expire(&q, now, on_drop, &dr);
        assert_false(lv_queue_standing(&q, now));
        check_lens(&q);
    }
    assert_true(now - 10 * MS > 100 * MS); /* not empty for more than an interval */
    assert_int_equal(dr.n, 0);
}

static void test_lv_queue_expire_long_timeout_when_not_standing(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = {8, 5, 1000, 500}; /* interval longer than timeout: never standing */
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1);
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 100 * MS));
    drops_t dr = {0};
    lv_queue_expire(&q, 400 * MS, on_drop, &dr); /* way past 5 ms, within 500 ms */
    assert_int_equal(dr.n, 0);
    lv_queue_expire(&q, 500 * MS, on_drop, &dr); /* exactly 500 ms: still allowed */
    assert_int_equal(dr.n, 0);
    lv_queue_expire(&q, 500 * MS + 1, on_drop, &dr);
    assert_int_equal(dr.n, 1);
    assert_ptr_equal(dr.items[0], &a);
    assert_int_equal(dr.why[0], LV_QUEUE_EXPIRED_WAIT);
    assert_true(b.queued);
    assert_int_equal(q.len, 1);
    check_lens(&q);
}

static void test_lv_queue_expire_short_target_when_standing(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1);
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 97 * MS));
    drops_t dr = {0};
    lv_queue_expire(&q, 99 * MS, on_drop, &dr); /* not standing yet: a may wait 500 ms */
    assert_int_equal(dr.n, 0);
    lv_queue_expire(&q, 100 * MS, on_drop, &dr); /* standing: 5 ms; a waited 100, b 3 */
    assert_int_equal(dr.n, 1);
    assert_ptr_equal(dr.items[0], &a);
    assert_true(b.queued);
    lv_queue_expire(&q, 103 * MS, on_drop, &dr); /* b: 6 ms > 5 */
    assert_int_equal(dr.n, 2);
    assert_int_equal(q.len, 0);
    /* Emptied by drops only: overload goes on, a new arrival finds the queue still standing. */
    assert_true(lv_queue_standing(&q, 104 * MS)); /* it stood a moment ago (hysteresis) */
    lv_queue_item_t d = item(1);
    assert_true(lv_queue_push(&q, &d, 104 * MS));
    assert_true(lv_queue_standing(&q, 104 * MS));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, 104 * MS), 5);
    lv_queue_remove(&q, &d, 105 * MS);
    /* Empty for a whole interval: it has drained, the long timeout is back. */
    lv_queue_item_t e = item(1);
    assert_true(lv_queue_push(&q, &e, 205 * MS));
    assert_false(lv_queue_standing(&q, 206 * MS));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, 206 * MS), 500);
    /* Served until empty: drained at once. */
    assert_ptr_equal(lv_queue_pop(&q, 207 * MS, on_drop, &dr), &e);
    lv_queue_item_t f = item(1);
    assert_true(lv_queue_push(&q, &f, 208 * MS));
    assert_false(lv_queue_standing(&q, 250 * MS));
    check_lens(&q);
}

static void test_lv_queue_pop_drops_past_deadline(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1), d = item(1);
    a.deadline_us = 1000 * MS; /* long: the oldest stays live */
    b.deadline_us = 20 * MS;   /* in the middle, passes first */
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 1 * MS));
    assert_true(lv_queue_push(&q, &d, 2 * MS));
    drops_t dr = {0};
    assert_ptr_equal(lv_queue_pop(&q, 30 * MS, on_drop, &dr), &a);
    /* b is next in FIFO order but past its deadline: dropped, never served. */
    assert_ptr_equal(lv_queue_pop(&q, 30 * MS, on_drop, &dr), &d);
    assert_int_equal(dr.n, 1);
    assert_ptr_equal(dr.items[0], &b);
    assert_int_equal(dr.why[0], LV_QUEUE_EXPIRED_DEADLINE);
    assert_int_equal(q.dropped_deadline, 1);
    assert_int_equal(q.dropped_timeout, 0);
    check_lens(&q);
}

static void test_lv_queue_expire_drops_past_deadline_at_oldest_end(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(0), b = item(0);
    a.deadline_us = 10 * MS;
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 0));
    drops_t dr = {0};
    lv_queue_expire(&q, 9 * MS, on_drop, &dr);
    assert_int_equal(dr.n, 0);
    lv_queue_expire(&q, 10 * MS, on_drop, &dr);
    assert_int_equal(dr.n, 1);
    assert_int_equal(dr.why[0], LV_QUEUE_EXPIRED_DEADLINE);
    assert_true(b.queued);
    check_lens(&q);
}

static void test_lv_queue_pop_criticality_order(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t s1 = item(2), d1 = item(1), c1 = item(0), d2 = item(1);
    assert_true(lv_queue_push(&q, &s1, 1 * MS));
    assert_true(lv_queue_push(&q, &d1, 2 * MS));
    assert_true(lv_queue_push(&q, &c1, 3 * MS));
    assert_true(lv_queue_push(&q, &d2, 4 * MS));
    assert_int_equal(q.len_by_crit[0], 1);
    assert_int_equal(q.len_by_crit[1], 2);
    assert_int_equal(q.len_by_crit[2], 1);
    drops_t dr = {0};
    assert_ptr_equal(lv_queue_pop(&q, 10 * MS, on_drop, &dr), &c1);
    assert_ptr_equal(lv_queue_pop(&q, 10 * MS, on_drop, &dr), &d1);
    assert_ptr_equal(lv_queue_pop(&q, 10 * MS, on_drop, &dr), &d2);
    assert_ptr_equal(lv_queue_pop(&q, 10 * MS, on_drop, &dr), &s1);
    check_lens(&q);
}

static void test_lv_queue_push_caps_by_criticality(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default(); /* max_len 8: sheddable to 4, default to 6 */
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t it[12];
    int i = 0;
    for (; i < 4; i++) {
        it[i] = item(2);
        assert_true(lv_queue_push(&q, &it[i], 0));
    }
    it[i] = item(2);
    assert_false(lv_queue_push(&q, &it[i], 0)); /* sheddable: at most half */
    assert_false(it[i].queued);
    for (; i < 6; i++) {
        it[i] = item(1);
        assert_true(lv_queue_push(&q, &it[i], 0));
    }
    it[i] = item(1);
    assert_false(lv_queue_push(&q, &it[i], 0)); /* default: at most 3/4 */
    for (; i < 8; i++) {
        it[i] = item(0);
        assert_true(lv_queue_push(&q, &it[i], 0));
    }
    it[i] = item(0);
    assert_false(lv_queue_push(&q, &it[i], 0)); /* critical: all of it, no more */
    assert_int_equal(q.dropped_full, 3);
    assert_int_equal(q.len, 8);
    check_lens(&q);
}

static void test_lv_queue_remove_middle_item(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1), d = item(1);
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 0));
    assert_true(lv_queue_push(&q, &d, 0));
    lv_queue_remove(&q, &b, 1 * MS);
    assert_false(b.queued);
    assert_int_equal(q.len, 2);
    check_lens(&q);
    lv_queue_remove(&q, &b, 1 * MS); /* no-op when not queued */
    assert_int_equal(q.len, 2);
    drops_t dr = {0};
    assert_ptr_equal(lv_queue_pop(&q, 2 * MS, on_drop, &dr), &a);
    assert_ptr_equal(lv_queue_pop(&q, 2 * MS, on_drop, &dr), &d);
    /* Removing the last item empties the queue but does not drain it: only service does. */
    assert_true(lv_queue_push(&q, &b, 3 * MS));
    lv_queue_remove(&q, &b, 300 * MS);
    assert_int_equal(q.len, 0);
    assert_int_equal(q.last_empty_us, 3 * MS);
    assert_int_equal(q.empty_since_us, 300 * MS);
    check_lens(&q);
}

static void test_lv_queue_pop_empty_after_all_expired(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t it[5];
    for (int i = 0; i < 5; i++) {
        it[i] = item((uint8_t)(i % 2));
        assert_true(lv_queue_push(&q, &it[i], (uint64_t)i * MS));
    }
    drops_t dr = {0};
    assert_null(lv_queue_pop(&q, 600 * MS, on_drop, &dr));
    assert_int_equal(dr.n, 5);
    assert_int_equal(q.len, 0);
    assert_int_equal(q.len_by_crit[0] + q.len_by_crit[1] + q.len_by_crit[2], 0);
    check_lens(&q);
}

/* Items timed out lately: a queue served empty again and again (each worker's queue, when
 * the workers share one limit) keeps standing, until it rests empty for an interval. */
static void test_lv_queue_standing_survives_serving_empty_in_overload(void **state)
{
    (void)state;
    lv_queue_t q;
    lv_queue_conf_t c = conf_default();
    lv_queue_init(&q, &c, 0);
    lv_queue_item_t a = item(1), b = item(1), d = item(1), e = item(1), f = item(1);
    drops_t dr = {0};
    assert_true(lv_queue_push(&q, &a, 0));
    assert_true(lv_queue_push(&q, &b, 99 * MS));
    lv_queue_expire(&q, 101 * MS, on_drop, &dr); /* standing: a (101 ms) times out */
    assert_int_equal(dr.n, 1);
    assert_ptr_equal(lv_queue_pop(&q, 102 * MS, on_drop, &dr), &b); /* served empty */
    assert_true(lv_queue_push(&q, &d, 140 * MS));
    assert_ptr_equal(lv_queue_pop(&q, 143 * MS, on_drop, &dr), &d); /* served empty again */
    assert_true(lv_queue_push(&q, &e, 160 * MS));
    /* 62 ms after the last time it was served empty, past the hysteresis of its last standing
     * moment: still standing, newest first, the short target. */
    assert_true(lv_queue_standing(&q, 205 * MS));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, 205 * MS), 5);
    lv_queue_remove(&q, &e, 206 * MS);
    /* Rested empty for an interval: the overload is over. */
    assert_true(lv_queue_push(&q, &f, 307 * MS));
    assert_false(lv_queue_standing(&q, 308 * MS));
    assert_int_equal(lv_queue_allowed_wait_ms(&q, 308 * MS), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_queue_pop_fifo_when_not_standing),
        cmocka_unit_test(test_lv_queue_pop_lifo_when_standing),
        cmocka_unit_test(test_lv_queue_expire_burst_is_not_standing),
        cmocka_unit_test(test_lv_queue_expire_long_timeout_when_not_standing),
        cmocka_unit_test(test_lv_queue_expire_short_target_when_standing),
        cmocka_unit_test(test_lv_queue_standing_survives_serving_empty_in_overload),
        cmocka_unit_test(test_lv_queue_pop_drops_past_deadline),
        cmocka_unit_test(test_lv_queue_expire_drops_past_deadline_at_oldest_end),
        cmocka_unit_test(test_lv_queue_pop_criticality_order),
        cmocka_unit_test(test_lv_queue_push_caps_by_criticality),
        cmocka_unit_test(test_lv_queue_remove_middle_item),
        cmocka_unit_test(test_lv_queue_pop_empty_after_all_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
