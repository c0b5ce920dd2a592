/* proxy/timeouts.c: the deadline heap of proxy/timeouts.h and the one uv timer that wakes it.
 * Owns neither the entries nor their owners. Runs on its worker's loop only. */
#include "proxy/timeouts.h"

#include <stddef.h>
#include <string.h>

#include "core/common.h"

/* The heap is a complete binary tree linked by pointers (as libuv's timer heap): position k
 * (1-based, breadth first) is reached from the root by the bits of k below its top bit, high
 * to low, 0 = left. Only the links move; keys stay with their entries. */

/* The link to the slot of position k: the root pointer, or a child pointer of its parent. */
static lv_timeout_t **slot_of(lv_timeouts_t *ts, uint32_t k, lv_timeout_t **parent)
{
    lv_timeout_t **s = &ts->min;
    *parent = NULL;
    int bit = 31 - __builtin_clz(k);
    while (bit-- > 0) {
        *parent = *s;
        s = (k >> bit) & 1u ? &(*s)->right : &(*s)->left;
    }
    return s;
}

/* Swaps c with its parent p: c takes p's place, p becomes c's child. */
static void swap_up(lv_timeouts_t *ts, lv_timeout_t *c)
{
    lv_timeout_t *p = c->parent, *gp = p->parent;
    lv_timeout_t *cl = c->left, *cr = c->right;
    if (!gp)
        ts->min = c;
    else if (gp->left == p)
        gp->left = c;
    else
        gp->right = c;
    c->parent = gp;
    if (p->left == c) {
        c->left = p;
        c->right = p->right;
        if (c->right)
            c->right->parent = c;
    } else {
        c->right = p;
        c->left = p->left;
        if (c->left)
            c->left->parent = c;
    }
    p->parent = c;
    p->left = cl;
    p->right = cr;
    if (cl)
        cl->parent = p;
    if (cr)
        cr->parent = p;
}

static void sift_up(lv_timeouts_t *ts, lv_timeout_t *t)
{
    while (t->parent && t->due < t->parent->due)
        swap_up(ts, t);
}

static void sift_down(lv_timeouts_t *ts, lv_timeout_t *t)
{
    for (;;) {
        lv_timeout_t *m = t;
        if (t->left && t->left->due < m->due)
            m = t->left;
        if (t->right && t->right->due < m->due)
            m = t->right;
        if (m == t)
            return;
        swap_up(ts, m);
    }
}

static void heap_insert(lv_timeouts_t *ts, lv_timeout_t *t)
{
    lv_timeout_t *parent;
    lv_timeout_t **s = slot_of(ts, ++ts->n, &parent);
    t->parent = parent;
    t->left = t->right = NULL;
    *s = t;
    sift_up(ts, t);
}

static void heap_remove(lv_timeouts_t *ts, lv_timeout_t *t)
{
    lv_timeout_t *parent;
    lv_timeout_t **s = slot_of(ts, ts->n--, &parent);
    lv_timeout_t *last = *s;
    *s = NULL; /* the last position is unlinked */
    if (last != t) {
        /* The last entry takes t's place, then moves to where its key belongs. */
        last->parent = t->parent;
        last->left = t->left;
        last->right = t->right;
        if (last->left)
            last->left->parent = last;
        if (last->right)
            last->right->parent = last;
        if (!t->parent)
            ts->min = last;
        else if (t->parent->left == t)
            t->parent->left = last;
        else
            t->parent->right = last;
        sift_down(ts, last);
        sift_up(ts, last);
    }
    t->parent = t->left = t->right = NULL;
}

static void timeouts_fire(uv_timer_t *timer);

/* Keeps the uv timer set for the root's key: sooner if the root moved earlier; a timer that
 * would fire early is left alone (firing re-arms it). */
static void timeouts_arm(lv_timeouts_t *ts, uint64_t now)
{
    if (!ts->min) {
        uv_timer_stop(&ts->timer);
        ts->timer_due = 0;
        return;
    }
    uint64_t due = ts->min->due;
    if (!ts->timer_due || ts->timer_due > due) {
        ts->timer_due = due;
        uv_timer_start(&ts->timer, timeouts_fire, due > now ? due - now : 0, 0);
    }
}

static void timeouts_fire(uv_timer_t *timer)
{
    lv_timeouts_t *ts = LV_CONTAINER_OF(timer, lv_timeouts_t, timer);
    lv_timeouts_run(ts, uv_now(timer->loop));
}

void lv_timeouts_run(lv_timeouts_t *ts, uint64_t now)
{
    ts->timer_due = 0; /* it fired, or is set again below */
    while (ts->min && ts->min->due <= now) {
        lv_timeout_t *t = ts->min;
        heap_remove(ts, t);
        t->due = 0;
        if (!t->at)
            continue; /* cleared after it was armed */
        if (t->at > now) {
            t->due = t->at; /* moved later: wait again */
            heap_insert(ts, t);
            continue;
        }
        t->at = 0;
        ts->expire(ts, t);
    }
    timeouts_arm(ts, now);
}

void lv_timeouts_init(lv_timeouts_t *ts, uv_loop_t *loop, lv_timeouts_cb expire)
{
    memset(ts, 0, sizeof *ts);
    uv_timer_init(loop, &ts->timer);
    ts->expire = expire;
}

void lv_timeouts_close(lv_timeouts_t *ts)
{
    LV_ASSERT(ts->n == 0);
    uv_close((uv_handle_t *)&ts->timer, NULL);
}

void lv_timeout_set(lv_timeouts_t *ts, lv_timeout_t *t, uint64_t ms)
{
    uint64_t now = uv_now(ts->timer.loop);
    t->at = now + (ms ? ms : 1);
    if (t->due && t->due <= t->at)
        return; /* its key comes first: checked then */
    if (t->due)
        heap_remove(ts, t);
    t->due = t->at;
    heap_insert(ts, t);
    timeouts_arm(ts, now);
}

void lv_timeout_remove(lv_timeouts_t *ts, lv_timeout_t *t)
{
    t->at = 0;
    if (!t->due)
        return;
    heap_remove(ts, t);
    t->due = 0;
    /* The uv timer may now fire for nothing; it finds no entry due and re-arms. */
}
