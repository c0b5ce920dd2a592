/* load/report.h: the run model shared by the live run and saved JSON summaries, the JSON
 * reader for `levee-load report`, and the self-contained HTML report with inline SVG charts.
 * Offline (after a run); allocation is fine here. */
#ifndef LOAD_REPORT_H
#define LOAD_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "stats.h"

typedef struct load_run_sec {
    double t, offered, requests, retries, goodput, success; /* success < 0: none finished */
    double p50, p90, p99, p999, max;                        /* ms */
    double capacity;                                        /* < 0 unknown */
} load_run_sec_t;

typedef struct load_run {
    char label[64];
    char source[256];
    double duration_s; /* arrival window: offered_per_s divides by it */
    double run_s;      /* the run, drain included: the other rates divide by it */
    double capacity;
    double offered_per_s, requests_per_s, retries_per_s, goodput_per_s, success;
    double p50, p90, p99, p999, max;
    size_t n;
    load_run_sec_t *sec;
} load_run_t;

/* The run model of a live run, with the rates of its JSON summary (load_stats_write_json).
 * Returns 0 or LV_ENOMEM; free with load_run_free. */
int load_run_from_stats(load_run_t *r, const load_stats_t *st, const load_run_meta_t *m);
/* Reads a summary written by --json. Returns 0, or LV_EINVAL with a reason in err. */
int load_run_from_json(load_run_t *r, const char *path, char *err, size_t err_size);
void load_run_free(load_run_t *r);

/* Writes the HTML report: a table of the runs (the JSON summary's rates); per run, load and
 * latency over time (every latency chart on one axis range); goodput against offered load:
 * across runs one line per label, sorted by offered load; for a single run its seconds as
 * points, the drain's apart. */
int load_report_html(FILE *f, const load_run_t *runs, size_t n);

#endif
