/* guard/flags.h: feature flags per service and per named route (on, off, auto), shared by every
 * worker: the main thread writes them (admin API, config, state file), workers read them with
 * relaxed atomics. Changes made through the admin API override the config and are kept in a
 * state file, written atomically, until lv_flags_reset gives the flag back to the config; every
 * start and reload logs each override in force. Services and routes share one namespace of
 * names (the config loader makes sure no route is named like a service). */
#ifndef LV_GUARD_FLAGS_H
#define LV_GUARD_FLAGS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

typedef enum { LV_FLAG_ON = 0, LV_FLAG_OFF = 1, LV_FLAG_AUTO = 2 } lv_flag_state_t;

/* Where the state in force of a flag comes from: its config, or an override (made through the
 * admin API since start, or read from the state file at start). */
typedef enum {
    LV_FLAG_FROM_CONFIG = 0,
    LV_FLAG_FROM_STATE_FILE = 1,
    LV_FLAG_FROM_API = 2
} lv_flag_source_t;

/* Slots [0, LV_FLAGS_SERVICES) hold service flags, indexed by the service's metrics slot
 * (admin/metrics.h: a stable index per service name, at most LV_METRICS_MAX_SERVICES), so a
 * worker reads its service's flag as lv_flags_get(f, svc->metrics_slot). Slots
 * [LV_FLAGS_SERVICES, LV_FLAGS_MAX) hold route flags: the table gives each named route a slot,
 * stable per name across reloads, and writes it to the route's flag_slot (never 0, so 0 there
 * means "no flag"); a worker reads it as lv_flags_get(f, route->flag_slot). */
#define LV_FLAGS_SERVICES 256
#define LV_FLAGS_ROUTES 4096 /* as many as routes[] may hold, so every named route gets one */
#define LV_FLAGS_MAX (LV_FLAGS_SERVICES + LV_FLAGS_ROUTES)

typedef struct lv_flags {
    char *names[LV_FLAGS_MAX];        /* service or route name per slot, NULL if unused */
    _Atomic int state[LV_FLAGS_MAX];  /* lv_flag_state_t, read by workers */
    uint8_t configured[LV_FLAGS_MAX]; /* lv_flag_state_t the config gives */
    uint8_t source[LV_FLAGS_MAX];     /* lv_flag_source_t of state[]; an override is persisted */
    /* Route slots only (index slot - LV_FLAGS_SERVICES): the name of the route's service. */
    char *route_service[LV_FLAGS_ROUTES];
    uint32_t next_route; /* a new route's slot is searched from here, so that a slot freed by a
                            reload is not handed out again while old generations may read it */
    char *state_file;    /* NULL: not persisted */
} lv_flags_t;

/* Builds the flag table from cfg (each service's `flag`, metrics slots must be assigned; each
 * named route's `flag`, whose slot it writes to cfg->routes[i].flag_slot), then applies the
 * overrides found in cfg->state_file if it exists, one warn line each (as lv_flags_reload). A
 * bad state file is logged and ignored.
 * Call before cfg is handed to the workers. Main thread. */
lv_flags_t *lv_flags_new(lv_config_t *cfg);
void lv_flags_free(lv_flags_t *f);
/* On reload: services and routes keep their admin overrides (routes by name, whatever their
 * service now); new ones get their configured flag; gone ones lose their flag. Writes the
 * route slots to cfg like lv_flags_new. Logs one warn line per override still in force
 * (msg="flag overridden" flag= config= value= source=api|state_file), as lv_flags_new does for
 * the state file's. Main thread. */
void lv_flags_reload(lv_flags_t *f, lv_config_t *cfg);

/* Slot of a service's or route's flag, or -1. Main thread. */
int lv_flags_find(const lv_flags_t *f, const char *name);
/* Whether slot i holds (or may hold) a route's flag rather than a service's. */
static inline bool lv_flags_is_route(int i)
{
    return i >= LV_FLAGS_SERVICES && i < LV_FLAGS_MAX;
}
/* Whether the flag in slot i runs with an override rather than its configured state. Main
 * thread. */
static inline bool lv_flags_overridden(const lv_flags_t *f, int i)
{
    return i >= 0 && f->source[i] != LV_FLAG_FROM_CONFIG;
}
/* The state of the flag in slot i (-1: on). Any thread. */
static inline lv_flag_state_t lv_flags_get(const lv_flags_t *f, int i)
{
    return i < 0 ? LV_FLAG_ON
                 : (lv_flag_state_t)atomic_load_explicit(&f->state[i], memory_order_relaxed);
}
/* Admin API: sets a service's or route's flag and rewrites the state file (write to a temp
 * file, fsync, rename). Returns 0, LV_ENOTFOUND, or LV_EIO (the flag is still set; the error is
 * logged). */
int lv_flags_set(lv_flags_t *f, const char *name, lv_flag_state_t st);
/* Admin API: gives a service's or route's flag back to its configured state, drops its override
 * and rewrites the state file without it (also when there was none). Returns 0, LV_ENOTFOUND,
 * or LV_EIO (the flag is back in memory, but the file still holds the override: it would come
 * back at the next start; the error is logged). */
int lv_flags_reset(lv_flags_t *f, const char *name);
/* "api" / "state_file" / "config". */
const char *lv_flag_source_name(lv_flag_source_t src);
/* "on" / "off" / "auto"; parse returns -1 if unknown. */
const char *lv_flag_state_name(lv_flag_state_t st);
int lv_flag_state_parse(const char *s, size_t len);

#endif
