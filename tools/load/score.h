/* load/score.h: `levee-load score`: a standard battery of phases against a running levee and its
 * backend, what each phase measured, and the 0-100 resilience score built from it. */
#ifndef LOAD_SCORE_H
#define LOAD_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SCORE_MAX_SECONDS 64
#define SCORE_MAX_PHASES 24

/* One phase of the battery: a plateau of users (optionally under an injected fault), and what
 * the users and levee's own counters saw. */
typedef struct score_phase {
    char name[32];
    char fault[96]; /* the fault posted before the load ("" none), as JSON */
    double rate, secs, fault_secs;
    /* From levee-load's side. */
    double offered, requests, good, polite, errors; /* polite: 429/503 (wait page, refusal) */
    double goodput_per_s, p99_ms;
    size_t n_sec;
    double sec_goodput[SCORE_MAX_SECONDS], sec_offered[SCORE_MAX_SECONDS];
    /* From levee's /metrics, the phase's deltas: stale copies served, fallbacks, wait pages. */
    double stale, fallback, wait_pages;
} score_phase_t;

/* One part of the score: points earned of max (max 0: not measured, left out of the total), the
 * figure it comes from, and what would raise it. */
typedef struct score_part {
    const char *name;
    double points, max;
    char figure[96];
    char advice[200];
} score_part_t;

typedef struct score_result {
    char target[256], service[65];
    double capacity;        /* what the parts are measured against (see probe_capacity) */
    double probe_capacity;  /* the probe's figure, which set the phases' rates (< 0: given) */
    bool capacity_measured; /* not given with --capacity */
    size_t n_hosts;         /* the service's upstream hosts (/status) */
    double duration_s;      /* the whole battery, wall clock */
    size_t n_phases;
    score_phase_t phases[SCORE_MAX_PHASES];
    size_t n_parts;
    score_part_t parts[12];
    double score; /* 0..100: 100 x earned / max over the measured parts */
} score_result_t;

/* `levee-load score ...` (argv[1] is "score"). Exit 0 done, 1 the battery failed, 2 usage. */
int load_cmd_score(int argc, char **argv);

/* The score's parts from the phases and /status (score_parts.c). status: the /status document,
 * or NULL. Fills r->parts and r->score. */
void score_compute(score_result_t *r, const char *status_json);

/* JSON and HTML (inline SVG) of a result (score_report.c). Return 0 or -1. */
int score_write_json(FILE *f, const score_result_t *r);
int score_write_html(FILE *f, const score_result_t *r);

#endif
