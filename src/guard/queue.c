/* guard/queue.c: the wait queue in front of one service's concurrency limit in one worker:
 * CoDel timeouts, adaptive LIFO and criticality sub-queues. Owns only the links of the items
 * it holds (the items live in the caller's requests); no allocation. Runs on its worker's loop.
 *
 * - Each criticality has a circular list: newest at the tail, oldest right after the sentinel.
 * - Standing (CoDel): the queue has not been empty for interval_ms, and (to start standing) its
 *   oldest item has waited as long. Then an item may wait target_ms and the newest is served
 *   first (adaptive LIFO: fresh requests get through, the stale ones time out); otherwise it
 *   may wait timeout_ms and the oldest is served first. Critical items are the exception:
 *   they always may wait timeout_ms and are served oldest first (critical work offered below
 *   the backend's capacity must get through whole, issue 12; CoDel sheds the rest).
 * - Admission caps are on the whole queue's length: a sheddable item is refused once the queue
 *   holds max_len/2, a default one at 3/4, a critical one at max_len. So under a filling queue
 *   sheddable work is refused first, then default (SRE book, "Handling Overload").
 * - Expiry scans each sub-queue from its oldest end and stops at the first live item (items of
 *   one sub-queue expire by wait in age order). A deadline shorter than an older item's is only
 *   seen when that item reaches the oldest end or is chosen by pop: pop never serves an item
 *   past its deadline, but such an item may wait in the middle until then (a known limit). */
#include "guard/queue.h"

#include "core/common.h"

typedef void (*lv_queue_drop_cb)(void *ctx, lv_queue_item_t *it, lv_queue_drop_t why);

void lv_queue_init(lv_queue_t *q, const lv_queue_conf_t *conf, uint64_t now_us)
{
    *q = (lv_queue_t){0};
    q->conf = *conf;
    for (int c = 0; c < LV_QUEUE_N_CRIT; c++)
        q->heads[c].prev = q->heads[c].next = &q->heads[c];
    q->last_empty_us = now_us;
    q->empty_since_us = now_us;
    q->drained_by_service = true;
}

/* When the oldest item still queued arrived (UINT64_MAX when empty). */
static uint64_t oldest_enqueued_us(const lv_queue_t *q)
{
    uint64_t t = UINT64_MAX;
    for (int c = 0; c < LV_QUEUE_N_CRIT; c++)
        if (q->heads[c].next != &q->heads[c])
            t = LV_MIN(t, q->heads[c].next->enqueued_us);
    return t;
}

/* A queue starts standing when it has not drained for an interval and its oldest item has
 * waited that long too: the limit is not keeping up. A burst that the limit is working through
 * (at 80 % of capacity a queue may hold items for 100 ms and more) drains its oldest items
 * well before that, and is not cut to the target. When items timed out in the last
 * LV_QUEUE_SERVED_EMPTY_MEMORY intervals, the queue is standing whenever it holds anything (an
 * overload goes on: a moment of drained queue in the middle of it changes nothing), unless it
 * rested empty for a whole interval since; once standing (the hysteresis of note_standing),
 * not draining for an interval is enough. */
#define LV_QUEUE_SERVED_EMPTY_MEMORY 2u
static bool standing_now(const lv_queue_t *q, uint64_t now_us)
{
    uint64_t interval_us = (uint64_t)q->conf.interval_ms * 1000;
    if (q->len == 0)
        return false;
    /* Items timed out lately: the overload goes on even if the queue was served empty a
     * moment ago. Each worker's queue, served newest first from a limit shared by all
     * workers, is served empty every few dozen ms in a peak: were each of those a drain, the
     * queue would fall back to FIFO and the long timeout for 100 ms each time (issue 12: the
     * waits of 40-90 ms behind a p99 of 88 ms at 5x). "Lately" is 2 intervals: in an
     * overload items time out every few ms; after one burst at 0.8 of capacity, a longer
     * memory kept the short target for a second and shed dozens of requests. */
    if (q->last_expired_us &&
        now_us - q->last_expired_us < LV_QUEUE_SERVED_EMPTY_MEMORY * interval_us)
        return true;
    if (now_us < q->last_empty_us || now_us - q->last_empty_us < interval_us)
        return false;
    if (now_us < q->standing_until_us)
        return true;
    uint64_t oldest = oldest_enqueued_us(q);
    return now_us >= oldest && now_us - oldest >= interval_us;
}

/* Standing, or stood less than an interval ago: a queue that drains for a moment in the middle
 * of an overload must not fall back to FIFO and the long timeout at once (hysteresis). */
bool lv_queue_standing(const lv_queue_t *q, uint64_t now_us)
{
    return standing_now(q, now_us) || now_us < q->standing_until_us;
}

static void note_standing(lv_queue_t *q, uint64_t now_us)
{
    if (standing_now(q, now_us))
        q->standing_until_us = now_us + (uint64_t)q->conf.interval_ms * 1000;
}

void lv_queue_hold(lv_queue_t *q, uint64_t now_us)
{
    q->last_empty_us = now_us; /* standing_now: not drained for an interval, from now */
}

uint32_t lv_queue_allowed_wait_ms(const lv_queue_t *q, uint64_t now_us)
{
    return lv_queue_standing(q, now_us) ? q->conf.target_ms : q->conf.timeout_ms;
}

/* The most items the queue may hold when an item of this criticality arrives. */
static uint32_t cap_for(const lv_queue_t *q, uint8_t crit)
{
    uint32_t max = q->conf.max_len;
    switch (crit) {
    case 0:
        return max;
    case 1:
        return (uint32_t)((uint64_t)max * 3 / 4);
    default:
        return max / 2;
    }
}

bool lv_queue_push(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us)
{
    LV_ASSERT(!it->queued);
    note_standing(q, now_us);
    if (it->crit >= LV_QUEUE_N_CRIT)
        it->crit = LV_QUEUE_N_CRIT - 1;
    if (q->len >= cap_for(q, it->crit)) {
        q->dropped_full++;
        return false;
    }
    /* A queue that stayed empty for a whole interval has drained: it starts fresh. One that
     * was emptied a moment ago (by drops, or served empty) while items were timing out has
     * not: the overload goes on, it keeps standing. */
    if (q->len == 0) {
        bool rested = now_us - q->empty_since_us >= (uint64_t)q->conf.interval_ms * 1000;
        if (q->drained_by_service || rested)
            q->last_empty_us = now_us;
        if (rested)
            q->last_expired_us = 0; /* the overload is over */
    }
    lv_queue_item_t *h = &q->heads[it->crit];
    it->enqueued_us = now_us;
    it->next = h;
    it->prev = h->prev;
    h->prev->next = it;
    h->prev = it;
    it->queued = true;
    q->len++;
    q->len_by_crit[it->crit]++;
    return true;
}

static void unlink_item(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us)
{
    LV_DASSERT(q->len > 0 && q->len_by_crit[it->crit] > 0);
    it->prev->next = it->next;
    it->next->prev = it->prev;
    it->prev = it->next = NULL;
    it->queued = false;
    q->len--;
    q->len_by_crit[it->crit]--;
    if (q->len == 0) {
        q->empty_since_us = now_us;
        q->drained_by_service = false; /* lv_queue_pop sets it when it served the last one */
    }
}

void lv_queue_remove(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us)
{
    if (!it->queued)
        return;
    unlink_item(q, it, now_us);
}

static bool past_deadline(const lv_queue_item_t *it, uint64_t now_us)
{
    return it->deadline_us && now_us >= it->deadline_us;
}

static void drop_item(lv_queue_t *q, lv_queue_item_t *it, uint64_t now_us, lv_queue_drop_t why,
                      lv_queue_drop_cb drop_cb, void *ctx)
{
    unlink_item(q, it, now_us);
    if (why == LV_QUEUE_EXPIRED_DEADLINE) {
        q->dropped_deadline++;
    } else {
        q->dropped_timeout++;
        q->last_expired_us = now_us;
    }
    if (drop_cb)
        drop_cb(ctx, it, why);
}

void lv_queue_expire(lv_queue_t *q, uint64_t now_us, lv_queue_drop_cb drop_cb, void *ctx)
{
    if (!q->len)
        return;
    note_standing(q, now_us);
    /* One allowed wait for the whole pass, judged before any drop empties the queue. */
    uint64_t allowed_us = (uint64_t)lv_queue_allowed_wait_ms(q, now_us) * 1000;
    for (int c = 0; c < LV_QUEUE_N_CRIT; c++) {
        lv_queue_item_t *h = &q->heads[c];
        uint64_t wait_us = c == 0 ? (uint64_t)q->conf.timeout_ms * 1000 : allowed_us;
        while (h->next != h) {
            lv_queue_item_t *it = h->next;
            if (past_deadline(it, now_us))
                drop_item(q, it, now_us, LV_QUEUE_EXPIRED_DEADLINE, drop_cb, ctx);
            else if (now_us > it->enqueued_us && now_us - it->enqueued_us > wait_us)
                drop_item(q, it, now_us, LV_QUEUE_EXPIRED_WAIT, drop_cb, ctx);
            else
                break;
        }
    }
}

lv_queue_item_t *lv_queue_pop(lv_queue_t *q, uint64_t now_us, lv_queue_drop_cb drop_cb, void *ctx)
{
    lv_queue_expire(q, now_us, drop_cb, ctx);
    bool lifo = lv_queue_standing(q, now_us);
    for (int c = 0; c < LV_QUEUE_N_CRIT; c++) {
        lv_queue_item_t *h = &q->heads[c];
        while (h->next != h) {
            lv_queue_item_t *it = lifo && c > 0 ? h->prev : h->next;
            if (past_deadline(it, now_us)) {
                drop_item(q, it, now_us, LV_QUEUE_EXPIRED_DEADLINE, drop_cb, ctx);
                continue;
            }
            unlink_item(q, it, now_us);
            if (q->len == 0) {
                q->drained_by_service = true;
                q->last_empty_us = now_us;
            }
            return it;
        }
    }
    return NULL;
}
