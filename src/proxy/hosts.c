/* proxy/hosts.c: the shared health table of upstream hosts (see hosts.h): outlier ejection
 * with a growing backoff, and active health-check verdicts. Owns the table; every field of an
 * entry after lookup is an atomic, so workers and the main thread read and write it freely. */
#include "proxy/hosts.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/common.h"

const char *const lv_upfail_names[LV_UPFAIL_COUNT] = {
    "connect",      "connect_timeout", "reset", "closed", "cut",
    "bad_response", "read_timeout",    "5xx",   "tls",
};

struct lv_hosts {
    uv_mutex_t lock;
    uint32_t cap;
    uint32_t n; /* entries in use (under lock) */
    lv_host_health_t *entries;
};

lv_hosts_t *lv_hosts_new(uint32_t cap)
{
    lv_hosts_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->entries = calloc(cap ? cap : 1, sizeof *t->entries);
    if (!t->entries || uv_mutex_init(&t->lock) != 0) {
        free(t->entries);
        free(t);
        return NULL;
    }
    t->cap = cap;
    return t;
}

void lv_hosts_free(lv_hosts_t *t)
{
    if (!t)
        return;
    uv_mutex_destroy(&t->lock);
    free(t->entries);
    free(t);
}

lv_host_health_t *lv_hosts_get(lv_hosts_t *t, const char *service, const char *addr)
{
    lv_host_health_t *found = NULL;
    uv_mutex_lock(&t->lock);
    uint32_t n = t->n;
    for (uint32_t i = 0; i < n && !found; i++)
        if (!strcmp(t->entries[i].service, service) && !strcmp(t->entries[i].addr, addr))
            found = &t->entries[i];
    if (!found && n < t->cap) {
        found = &t->entries[n];
        snprintf(found->service, sizeof found->service, "%s", service);
        snprintf(found->addr, sizeof found->addr, "%s", addr);
        t->n = n + 1;
    }
    uv_mutex_unlock(&t->lock);
    return found;
}

bool lv_host_usable(const lv_host_health_t *h, uint64_t now_ms)
{
    return atomic_load_explicit(&h->ejected_until_ms, memory_order_relaxed) <= now_ms &&
           !atomic_load_explicit(&h->check_down, memory_order_relaxed);
}

uint32_t lv_host_note_failure(lv_host_health_t *h, lv_upfail_t kind, const lv_outlier_conf_t *c,
                              bool may_eject, uint64_t now_ms)
{
    lv_counter_add(&h->failures[kind], 1);
    unsigned fails = atomic_fetch_add(&h->consecutive_failures, 1) + 1;
    unsigned row = atomic_load(&h->ejections_in_row);
    /* Back from an ejection without a success yet: on probation, one failure sends it back. */
    unsigned need = row ? 1 : c->consecutive_failures;
    if (!c->consecutive_failures || fails < need || !may_eject)
        return 0;
    uint64_t until = atomic_load(&h->ejected_until_ms);
    if (until > now_ms)
        return 0; /* already out (failures of requests sent before the ejection) */
    uint64_t ms = (uint64_t)c->base_ejection_ms << LV_MIN(row, 16u);
    if (ms > c->max_ejection_ms)
        ms = c->max_ejection_ms;
    if (!atomic_compare_exchange_strong(&h->ejected_until_ms, &until, now_ms + ms))
        return 0; /* another worker ejected it just now */
    atomic_store(&h->consecutive_failures, 0);
    atomic_fetch_add(&h->ejections_in_row, 1);
    atomic_store(&h->ejected, true);
    lv_counter_add(&h->ejections, 1);
    return ms ? (uint32_t)ms : 1;
}

bool lv_host_note_success(lv_host_health_t *h)
{
    if (atomic_load_explicit(&h->consecutive_failures, memory_order_relaxed))
        atomic_store(&h->consecutive_failures, 0);
    if (!atomic_load_explicit(&h->ejected, memory_order_relaxed))
        return false;
    atomic_store(&h->ejections_in_row, 0);
    return atomic_exchange(&h->ejected, false);
}

int lv_host_note_check(lv_host_health_t *h, bool ok, int32_t *streak, uint32_t healthy,
                       uint32_t unhealthy)
{
    if (ok) {
        lv_counter_add(&h->check_successes, 1);
        *streak = *streak > 0 ? *streak + 1 : 1;
        if ((uint32_t)*streak >= healthy && atomic_exchange(&h->check_down, false))
            return 1;
    } else {
        lv_counter_add(&h->check_failures, 1);
        *streak = *streak < 0 ? *streak - 1 : -1;
        if ((uint32_t) - *streak >= unhealthy && !atomic_exchange(&h->check_down, true))
            return -1;
    }
    return 0;
}
