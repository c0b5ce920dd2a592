/* proxy/faults.c: the table of faults in force (see faults.h): slots under a mutex for the main
 * thread, a generation and per-slot counts as atomics for the workers, the audit log lines. */
#include "proxy/faults.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

struct lv_faults {
    uv_mutex_t lock;
    _Atomic uint64_t gen;      /* moves on every change; workers compare it with their copy's */
    _Atomic uint32_t n_active; /* slots in use */
    bool used[LV_FAULTS_MAX];
    lv_fault_t slots[LV_FAULTS_MAX];
    _Atomic uint64_t injected[LV_FAULTS_MAX];
    uint32_t next_slot; /* slots are handed out round robin: a worker's stale copy counts into
                           a freed slot only until its next request sees the generation move */
    uint64_t next_id;
    lv_hosts_t *hosts;
};

static const char *const origin_names[] = {"api", "config"};

lv_faults_t *lv_faults_new(lv_hosts_t *hosts)
{
    lv_faults_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (uv_mutex_init(&t->lock) != 0) {
        free(t);
        return NULL;
    }
    t->hosts = hosts;
    t->next_id = 1;
    return t;
}

void lv_faults_free(lv_faults_t *t)
{
    if (!t)
        return;
    uv_mutex_destroy(&t->lock);
    free(t);
}

/* host_down: the host's entry says until when connections to it are refused, the latest end
 * of the host_down faults on it in force. Under the lock. */
static void mark_host(lv_faults_t *t, const lv_fault_spec_t *spec)
{
    if (!t->hosts)
        return;
    lv_host_health_t *h = lv_hosts_get(t->hosts, spec->service, spec->host);
    if (!h)
        return;
    uint64_t until = 0;
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++) {
        const lv_fault_spec_t *o = &t->slots[i].spec;
        if (t->used[i] && o->kind == LV_FAULT_HOST_DOWN && !strcmp(o->service, spec->service) &&
            !strcmp(o->host, spec->host))
            until = LV_MAX(until, t->slots[i].until_ms);
    }
    atomic_store(&h->fault_down_until_ms, until);
}

/* One audit line for a fault that starts or ends. */
static void log_fault(const char *msg, const lv_fault_t *f, const char *reason, const char *by)
{
    const lv_fault_spec_t *s = &f->spec;
    char target[LV_FAULT_NAME_MAX + 16], qby[96];
    snprintf(target, sizeof target, "%s=%s", s->route[0] ? "route" : "service",
             s->route[0] ? s->route : s->service);
    lv_log_quote(qby, sizeof qby, by ? by : "", by ? strlen(by) : 0);
    lv_log_warn(
        "faults", "msg=\"%s\" id=%llu %s kind=%s share=%g duration_ms=%u origin=%s%s%s by=%s", msg,
        (unsigned long long)f->id, target, lv_fault_kind_names[s->kind], s->share, s->duration_ms,
        origin_names[f->origin], reason ? " reason=" : "", reason ? reason : "", qby);
}

/* Frees slot i and tells the workers. Under the lock. */
static void end_slot(lv_faults_t *t, uint32_t i, const char *reason, const char *by)
{
    lv_fault_t f = t->slots[i];
    t->used[i] = false;
    memset(&t->slots[i], 0, sizeof t->slots[i]);
    atomic_fetch_sub(&t->n_active, 1);
    atomic_fetch_add(&t->gen, 1);
    if (f.spec.kind == LV_FAULT_HOST_DOWN)
        mark_host(t, &f.spec);
    log_fault("fault ended", &f, reason, by);
}

int lv_faults_add(lv_faults_t *t, const lv_fault_spec_t *spec, lv_fault_origin_t origin,
                  const char *by, uint64_t *id)
{
    uv_mutex_lock(&t->lock);
    uint32_t i = 0;
    for (; i < LV_FAULTS_MAX; i++)
        if (!t->used[(t->next_slot + i) % LV_FAULTS_MAX])
            break;
    if (i == LV_FAULTS_MAX) {
        uv_mutex_unlock(&t->lock);
        return LV_ELIMIT;
    }
    uint32_t slot = (t->next_slot + i) % LV_FAULTS_MAX;
    t->next_slot = (slot + 1) % LV_FAULTS_MAX;
    lv_fault_t *f = &t->slots[slot];
    f->id = t->next_id++;
    f->spec = *spec;
    f->until_ms = lv_clock_now_ms() + spec->duration_ms;
    f->start_wall_ms = lv_clock_wall_ms();
    f->origin = origin;
    t->used[slot] = true;
    atomic_store(&t->injected[slot], 0);
    atomic_fetch_add(&t->n_active, 1);
    atomic_fetch_add(&t->gen, 1);
    if (spec->kind == LV_FAULT_HOST_DOWN)
        mark_host(t, spec);
    if (id)
        *id = f->id;
    log_fault("fault started", f, NULL, by);
    uv_mutex_unlock(&t->lock);
    return 0;
}

int lv_faults_end(lv_faults_t *t, uint64_t id, const char *by)
{
    int rc = LV_ENOTFOUND;
    uint64_t now_ms = lv_clock_now_ms();
    uv_mutex_lock(&t->lock);
    /* One whose time is up is over already (as GET says); the sweep logs its end. */
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
        if (t->used[i] && t->slots[i].id == id && t->slots[i].until_ms > now_ms) {
            end_slot(t, i, "deleted", by);
            rc = 0;
            break;
        }
    uv_mutex_unlock(&t->lock);
    return rc;
}

void lv_faults_expire(lv_faults_t *t, uint64_t now_ms)
{
    if (!atomic_load_explicit(&t->n_active, memory_order_relaxed))
        return;
    uv_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
        if (t->used[i] && t->slots[i].until_ms <= now_ms)
            end_slot(t, i, "expired", NULL);
    uv_mutex_unlock(&t->lock);
}

static bool listed(const lv_config_t *cfg, const lv_fault_spec_t *spec)
{
    for (uint32_t i = 0; cfg && i < cfg->n_faults; i++)
        if (lv_fault_spec_equal(&cfg->faults[i], spec))
            return true;
    return false;
}

void lv_faults_apply_config(lv_faults_t *t, const lv_config_t *old_cfg, const lv_config_t *cfg)
{
    uv_mutex_lock(&t->lock);
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
        if (t->used[i] && t->slots[i].origin == LV_FAULT_FROM_CONFIG &&
            !listed(cfg, &t->slots[i].spec))
            end_slot(t, i, "config", "config");
    uv_mutex_unlock(&t->lock);
    for (uint32_t i = 0; i < cfg->n_faults; i++)
        if (!listed(old_cfg, &cfg->faults[i]) &&
            lv_faults_add(t, &cfg->faults[i], LV_FAULT_FROM_CONFIG, "config", NULL) != 0)
            lv_log_warn("faults", "msg=\"fault not started: too many in force\" index=%u", i);
}

static void write_one(lv_faults_t *t, FILE *f, uint32_t i, uint64_t now_ms, uint64_t wall_ms)
{
    const lv_fault_t *x = &t->slots[i];
    fprintf(f, "{\"id\":%llu,", (unsigned long long)x->id);
    lv_fault_spec_write_json_members(f, &x->spec);
    fprintf(f,
            ",\"origin\":\"%s\",\"started_ms_ago\":%llu,\"remaining_ms\":%llu,\"injected\":%llu}",
            origin_names[x->origin],
            (unsigned long long)(wall_ms > x->start_wall_ms ? wall_ms - x->start_wall_ms : 0),
            (unsigned long long)(x->until_ms > now_ms ? x->until_ms - now_ms : 0),
            (unsigned long long)atomic_load(&t->injected[i]));
}

bool lv_faults_write_json(lv_faults_t *t, FILE *f, uint64_t id, uint64_t now_ms)
{
    uint64_t wall_ms = lv_clock_wall_ms();
    bool found = false;
    uv_mutex_lock(&t->lock);
    if (!id)
        fputc('[', f);
    /* In the order they started: ids grow. */
    uint64_t last = 0;
    for (;;) {
        uint32_t best = LV_FAULTS_MAX;
        for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
            if (t->used[i] && t->slots[i].until_ms > now_ms && t->slots[i].id > last &&
                (best == LV_FAULTS_MAX || t->slots[i].id < t->slots[best].id) &&
                (!id || t->slots[i].id == id))
                best = i;
        if (best == LV_FAULTS_MAX)
            break;
        if (found && !id)
            fputc(',', f);
        write_one(t, f, best, now_ms, wall_ms);
        found = true;
        last = t->slots[best].id;
    }
    if (!id)
        fputc(']', f);
    uv_mutex_unlock(&t->lock);
    return found || !id;
}

uint32_t lv_faults_active(const lv_faults_t *t)
{
    return atomic_load_explicit(&t->n_active, memory_order_relaxed);
}

bool lv_faults_changed(const lv_faults_t *t, const lv_faults_view_t *v)
{
    return atomic_load_explicit(&t->gen, memory_order_acquire) != v->gen;
}

void lv_faults_refresh(lv_faults_t *t, lv_faults_view_t *v)
{
    uv_mutex_lock(&t->lock);
    v->gen = atomic_load(&t->gen);
    v->n = 0;
    for (uint32_t i = 0; i < LV_FAULTS_MAX; i++)
        if (t->used[i]) {
            v->faults[v->n] = t->slots[i];
            v->slot[v->n++] = i;
        }
    uv_mutex_unlock(&t->lock);
}

void lv_faults_injected(lv_faults_t *t, const lv_faults_view_t *v, uint32_t i)
{
    atomic_fetch_add_explicit(&t->injected[v->slot[i]], 1, memory_order_relaxed);
}
