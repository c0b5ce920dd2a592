/* guard/flags.h: feature flags per service (on, off, auto), shared by every worker: the main
 * thread writes them (admin API, config, state file), workers read them with relaxed atomics.
 * Changes made through the admin API are kept in a state file, written atomically. */
#ifndef LV_GUARD_FLAGS_H
#define LV_GUARD_FLAGS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

typedef enum { LV_FLAG_ON = 0, LV_FLAG_OFF = 1, LV_FLAG_AUTO = 2 } lv_flag_state_t;

#define LV_FLAGS_MAX 256

/* Flags are indexed by the service's metrics slot (admin/metrics.h: a stable index per service
 * name), so a worker reads its service's flag as lv_flags_get(f, svc->metrics_slot). */
typedef struct lv_flags {
    char *names[LV_FLAGS_MAX];       /* service name per slot, NULL if unused (main thread) */
    _Atomic int state[LV_FLAGS_MAX]; /* lv_flag_state_t, read by workers */
    bool overridden[LV_FLAGS_MAX];   /* set through the admin API (persisted) */
    char *state_file;                /* NULL: not persisted */
} lv_flags_t;

/* Builds the flag table from cfg (each service's `flag`; metrics slots must be assigned), then
 * applies the overrides found in
 * cfg->state_file if it exists. A bad state file is logged and ignored. Main thread. */
lv_flags_t *lv_flags_new(const lv_config_t *cfg);
void lv_flags_free(lv_flags_t *f);
/* On reload: services keep their admin overrides; new services get their configured flag. */
void lv_flags_reload(lv_flags_t *f, const lv_config_t *cfg);

/* Slot of a service's flag, or -1. Main thread. */
int lv_flags_find(const lv_flags_t *f, const char *name);
/* The state of the flag in slot i. Any thread. */
static inline lv_flag_state_t lv_flags_get(const lv_flags_t *f, int i)
{
    return i < 0 ? LV_FLAG_ON
                 : (lv_flag_state_t)atomic_load_explicit(&f->state[i], memory_order_relaxed);
}
/* Admin API: sets a flag and rewrites the state file (write to a temp file, fsync, rename).
 * Returns 0, LV_ENOTFOUND, or LV_EIO (the flag is still set; the error is logged). */
int lv_flags_set(lv_flags_t *f, const char *name, lv_flag_state_t st);
/* "on" / "off" / "auto"; parse returns -1 if unknown. */
const char *lv_flag_state_name(lv_flag_state_t st);
int lv_flag_state_parse(const char *s, size_t len);

#endif
