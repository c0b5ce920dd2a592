/* load/trend.h: trends in levee-load's history: one figure per scenario, region and service over
 * time, the newest value against the previous ones' median, the regression rules. Pure. */
#ifndef LOAD_TREND_H
#define LOAD_TREND_H

#include <stddef.h>

#include "history.h"

typedef enum {
    LOAD_TREND_SHARE, /* goodput share of capacity (0..1), whole run */
    LOAD_TREND_P99,   /* p99 of successes (ms), whole run */
    LOAD_TREND_SCORE  /* score: the total (service "") or one service's parts summed */
} load_trend_metric_t;

/* One figure of one scenario + region (+ service) over time, oldest first. Strings are
 * borrowed from the list the set was built from. */
typedef struct load_trend_series {
    const char *scenario, *region, *service; /* service "": the whole run */
    load_trend_metric_t metric;
    size_t n;
    double *t;   /* seconds since the epoch (started_at) */
    double *y;   /* the figure */
    double *max; /* LOAD_TREND_SCORE: the most it could be (< 0 unknown); else NULL */
    const load_history_entry_t **runs; /* the run of each point */
} load_trend_series_t;

typedef struct load_trend_set {
    load_trend_series_t *v;
    size_t n;
} load_trend_set_t;

/* Builds every series of l (which must outlive the set): for each scenario + region in order
 * of appearance, goodput share and p99 when some run has them, the total score and each
 * service's score when some score run has them. Points only where the figure is known. */
void load_trend_build(const load_history_list_t *l, load_trend_set_t *out);
void load_trend_set_free(load_trend_set_t *s);

/* The newest point against the median of the points before it. */
typedef struct load_trend_eval {
    double newest;
    double median; /* < 0: no previous point */
    size_t n_prev;
    double change_pct; /* (newest - median) / median x 100; 0 without a median or at 0 */
} load_trend_eval_t;

void load_trend_evaluate(const load_trend_series_t *s, load_trend_eval_t *e);

/* The median of v[0..n) (sorts v); -1 when n is 0. */
double load_median(double *v, size_t n);

typedef struct load_trend_limits {
    double max_score_drop_pct; /* a score more than this % below the median; < 0: no check */
    double min_goodput_share;  /* a goodput share below this (0..1); < 0: no check */
} load_trend_limits_t;

/* 1 when the newest point of s breaks a limit (with the reason in why), else 0. */
int load_trend_regressed(const load_trend_series_t *s, const load_trend_eval_t *e,
                         const load_trend_limits_t *lim, char *why, size_t why_size);

/* "goodput share", "p99 ms" or "score". */
const char *load_trend_metric_name(load_trend_metric_t m);
/* The series' name as shown: the metric's, and ": SERVICE" for one service's score. */
void load_trend_series_name(const load_trend_series_t *s, char *buf, size_t size);
/* A value of s as shown: a share in % ("47.5 %"), else with one decimal; "-" when v < 0. */
void load_trend_value_text(const load_trend_series_t *s, double v, char *buf, size_t size);

#endif
