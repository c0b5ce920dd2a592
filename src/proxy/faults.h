/* proxy/faults.h: the faults in force, shared by every worker: the main thread adds and ends them
 * (admin API, config), workers read a private copy taken whenever the table's generation moved. */
#ifndef LV_PROXY_FAULTS_H
#define LV_PROXY_FAULTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/fault_spec.h"
#include "proxy/hosts.h"

/* Faults in force at once, all services together. */
#define LV_FAULTS_MAX 64u

/* Where a fault came from (the audit log and GET /faults say it). */
typedef enum { LV_FAULT_FROM_API = 0, LV_FAULT_FROM_CONFIG = 1 } lv_fault_origin_t;

typedef struct lv_fault {
    uint64_t id; /* 1, 2, ...: unique for the process's life */
    lv_fault_spec_t spec;
    uint64_t until_ms;      /* monotonic ms (lv_clock_now_ms) when it ends by itself */
    uint64_t start_wall_ms; /* when it began, for GET /faults */
    lv_fault_origin_t origin;
} lv_fault_t;

typedef struct lv_faults lv_faults_t;

/* An empty table; hosts (borrowed, may be NULL) is where host_down marks hosts. NULL when out of
 * memory. Main thread. */
lv_faults_t *lv_faults_new(lv_hosts_t *hosts);
void lv_faults_free(lv_faults_t *t);

/* Starts a fault (its target is checked by the caller against the config in force). Logs the
 * audit line (msg="fault started" id= ... origin= by=). Returns 0 and its id, or LV_ELIMIT
 * when LV_FAULTS_MAX are in force. Main thread. */
int lv_faults_add(lv_faults_t *t, const lv_fault_spec_t *spec, lv_fault_origin_t origin,
                  const char *by, uint64_t *id);
/* Ends fault id before its time (msg="fault ended" reason=deleted by=). Returns 0, or
 * LV_ENOTFOUND when no such fault is in force (one whose time is up included). Main thread. */
int lv_faults_end(lv_faults_t *t, uint64_t id, const char *by);
/* Ends the faults whose time is up (msg="fault ended" reason=expired). Workers already ignore
 * them from until_ms on; this frees their slots and logs. Main thread, about once a second. */
void lv_faults_expire(lv_faults_t *t, uint64_t now_ms);
/* A reload: faults of the old config that the new one no longer lists (or lists changed) end;
 * the new config's faults that the old one did not list start. old may be NULL (the start).
 * Main thread. */
void lv_faults_apply_config(lv_faults_t *t, const lv_config_t *old_cfg, const lv_config_t *cfg);

/* The faults in force as a JSON array of objects (each: "id", the spec's members, "origin",
 * "started_ms_ago", "remaining_ms", "injected"); with id != 0, that one object alone, or nothing
 * (returns false). Main thread. */
bool lv_faults_write_json(lv_faults_t *t, FILE *f, uint64_t id, uint64_t now_ms);
/* Faults in force (for the gauge and /status). Any thread. */
uint32_t lv_faults_active(const lv_faults_t *t);

/* ---- workers ---- */

/* A worker's copy of the table, refreshed by lv_faults_refresh when the generation moved. */
typedef struct lv_faults_view {
    uint64_t gen;
    uint32_t n;
    lv_fault_t faults[LV_FAULTS_MAX];
    uint32_t slot[LV_FAULTS_MAX]; /* where each sits in the table, for lv_faults_injected */
} lv_faults_view_t;

/* Whether the table changed since v was taken (one relaxed atomic load). Any thread. */
bool lv_faults_changed(const lv_faults_t *t, const lv_faults_view_t *v);
/* Takes a fresh copy into v (under the table's lock; the per-request path never locks).
 * Worker thread. */
void lv_faults_refresh(lv_faults_t *t, lv_faults_view_t *v);
/* Fault i of v drew a request: its count goes up (GET /faults "injected"). Any thread. */
void lv_faults_injected(lv_faults_t *t, const lv_faults_view_t *v, uint32_t i);

#endif
