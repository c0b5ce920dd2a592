/* load/stats.h: what levee-load counts: per-second and whole-run counters, status codes,
 * errors by kind, latency histograms; and the JSON summary written from them.
 * Fixed arrays sized at start; no allocation while recording. Load loop thread only. */
#ifndef LOAD_STATS_H
#define LOAD_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "hist.h"

typedef enum {
    LOAD_ERR_CONNECT_REFUSED = 0,
    LOAD_ERR_RESET,      /* connection reset or closed before the response ended */
    LOAD_ERR_TIMEOUT,    /* patience ran out: the user abandoned the request */
    LOAD_ERR_PARSE,      /* the response was not valid HTTP/1.1 */
    LOAD_ERR_OVERLOADED, /* levee-load itself had no room (max_conns): client_overloaded */
    LOAD_ERR_OTHER,      /* any other socket error */
    LOAD_ERR_TLS,        /* https: the TLS handshake failed (verification, protocol, alert) */
    LOAD_ERR_COUNT
} load_err_t;

const char *load_err_name(load_err_t e);

typedef struct load_counts {
    uint64_t offered;        /* users that arrived */
    uint64_t first;          /* first tries sent */
    uint64_t retries_f5;     /* retries by pressing F5 */
    uint64_t retries_obeyed; /* retries after waiting as Retry-After said */
    uint64_t responses;      /* complete responses, any status */
    uint64_t goodput;        /* 2xx/3xx responses within patience */
    uint64_t users_ok, users_failed, users_unfinished;
    uint64_t err[LOAD_ERR_COUNT];
} load_counts_t;

#define LOAD_SEC_STATUS 12

typedef struct load_second {
    load_counts_t c;
    uint16_t status_code[LOAD_SEC_STATUS];
    uint32_t status_n[LOAD_SEC_STATUS];
    uint32_t status_other; /* codes beyond LOAD_SEC_STATUS distinct ones */
    uint64_t lat_us[5];    /* p50 p90 p99 p99.9 max of responses in this second */
    uint64_t lat_count;
    double capacity; /* capacity hint in force, < 0 unknown */
} load_second_t;

#define LOAD_STATUS_CODES 600

typedef struct load_stats {
    uint32_t n_seconds; /* seconds with data so far (index of current + 1) */
    uint32_t cap_seconds;
    uint32_t cur;   /* second whose histogram is in cur_hist */
    int cur_closed; /* cur's percentiles are computed (load_stats_close) */
    load_second_t *sec;
    load_counts_t total;
    uint64_t status[LOAD_STATUS_CODES]; /* index 0: codes outside 100..599 */
    load_hist_t total_hist;
    load_hist_t cur_hist;
    double capacity; /* current capacity hint */
    double max_lag_ms;
} load_stats_t;

/* Allocates room for cap_seconds seconds (setup time). Returns 0 or LV_ENOMEM. */
int load_stats_init(load_stats_t *st, uint32_t cap_seconds, double capacity);
void load_stats_fini(load_stats_t *st);
/* The record for second idx (clamped to the last one), closing the earlier seconds. */
load_second_t *load_stats_sec(load_stats_t *st, uint32_t idx);
void load_stats_status(load_stats_t *st, uint32_t idx, int code);
void load_stats_latency(load_stats_t *st, uint32_t idx, uint64_t us);
void load_stats_error(load_stats_t *st, uint32_t idx, load_err_t e);
/* Closes the current second (at the end; calling it again does nothing). */
void load_stats_close(load_stats_t *st);

/* Whole-run facts written next to the counters. */
typedef struct load_run_meta {
    const char *label;
    const char *target;
    uint64_t seed;
    double duration_s; /* arrival window: the denominator of offered_users_per_s */
    double capacity;   /* < 0 unknown */
} load_run_meta_t;

/* The run's length in seconds, drain included (never less than the arrival window): the
 * denominator of every whole-run rate but the offered users'. */
double load_stats_run_s(const load_stats_t *st, double duration_s);

/* Writes s as a JSON string: control bytes dropped, quotes and backslashes escaped. */
void load_json_str(FILE *f, const char *s);

/* Writes the JSON summary. Returns 0 or LV_EIO. */
int load_stats_write_json(const load_stats_t *st, const load_run_meta_t *m, FILE *f);

/* users_ok / (users_ok + failed + unfinished); -1 when no user finished. */
double load_counts_success(const load_counts_t *c);

#endif
