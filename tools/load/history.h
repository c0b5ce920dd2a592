/* load/history.h: the history of rehearsals and scores in a SQLite file: open (create if
 * missing), record a run with its score parts, query runs. One connection, one thread. */

/* Written by `levee-load --history` and `levee-load score --history`, read by
 * `levee-load history`.
 * Schema (PRAGMA user_version = 1):
 *   runs(id INTEGER PRIMARY KEY, kind TEXT 'rehearsal'|'score', scenario TEXT, target TEXT,
 *        region TEXT ('' when none), started_at TEXT (UTC, "YYYY-MM-DDTHH:MM:SSZ"),
 *        duration_s REAL (arrival window), run_s REAL (drain included),
 *        offered_per_s REAL, goodput_per_s REAL, goodput_share REAL,
 *        user_success REAL, p99_ms REAL, errors INTEGER NOT NULL,
 *        score REAL, score_max REAL)   -- every REAL may be NULL: unknown
 *   parts(run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE, service TEXT, part TEXT,
 *         value REAL, max REAL, PRIMARY KEY (run_id, service, part))
 * The rates are those of the JSON summary (offered users over the arrival window, goodput over
 * the run, drain included); goodput_share = goodput_per_s / capacity. NULL in SQL is < 0 here. */
#ifndef LOAD_HISTORY_H
#define LOAD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define LOAD_HISTORY_SCHEMA 1

typedef enum { LOAD_HISTORY_REHEARSAL = 0, LOAD_HISTORY_SCORE = 1 } load_history_kind_t;

/* One run. Strings are borrowed from the caller when recording and owned by the list when
 * queried. A figure < 0 is unknown (stored as NULL). */
typedef struct load_history_run {
    int64_t id; /* set by the database; ignored by load_history_record */
    load_history_kind_t kind;
    const char *scenario;   /* the scenario's label */
    const char *target;     /* the target URL */
    const char *region;     /* NULL or "" for none */
    const char *started_at; /* UTC ISO 8601 "2026-12-07T10:00:00Z"; NULL or "": now */
    double duration_s, run_s;
    double offered_per_s, goodput_per_s;
    double goodput_share;    /* goodput_per_s / capacity; < 0 when the capacity is unknown */
    double user_success;     /* 0..1 */
    double p99_ms;           /* of successful responses */
    uint64_t errors;         /* every error of every kind */
    double score, score_max; /* kind SCORE: the total and its maximum; else < 0 */
} load_history_run_t;

/* One part of a score: its service, its name, the points it got out of max. */
typedef struct load_history_part {
    const char *service;
    const char *part;
    double value, max;
} load_history_part_t;

typedef struct load_history load_history_t;

/* Opens the history at path, creating the file and its tables if missing (and upgrading an
 * older schema). Returns NULL with the reason in err (a file of a newer schema is refused). */
load_history_t *load_history_open(const char *path, char *err, size_t err_size);

/* Records run and its n parts (n may be 0) in one transaction. Checks: kind, scenario and
 * target set, started_at (when given) in the form above, part names set. Returns the new
 * run's id (> 0), or LV_EINVAL (bad run) / LV_EIO (database error; load_history_error says
 * why). Nothing is kept on failure. */
int64_t load_history_record(load_history_t *h, const load_history_run_t *run,
                            const load_history_part_t *parts, size_t n);

/* Which runs a query returns: NULL or "" matches any; last 0: all, else only the newest last. */
typedef struct load_history_filter {
    const char *scenario, *target, *region;
    size_t last;
} load_history_filter_t;

/* A query's answer: runs oldest first (by started_at, then id), each with its parts. */
typedef struct load_history_entry {
    load_history_run_t run;
    load_history_part_t *parts;
    size_t n_parts;
} load_history_entry_t;

typedef struct load_history_list {
    load_history_entry_t *v;
    size_t n;
} load_history_list_t;

/* Fills out (free it with load_history_list_free, also after a failure). Returns 0 or LV_EIO
 * (load_history_error says why). */
int load_history_query(load_history_t *h, const load_history_filter_t *f, load_history_list_t *out);
void load_history_list_free(load_history_list_t *l);

/* The last database error, for messages. */
const char *load_history_error(const load_history_t *h);
void load_history_close(load_history_t *h);

/* "rehearsal" or "score". */
const char *load_history_kind_name(load_history_kind_t k);
/* Formats t (seconds since the epoch) as UTC ISO 8601 "YYYY-MM-DDTHH:MM:SSZ" (21 bytes). */
void load_history_utc(int64_t t, char *buf, size_t size);
/* Parses that form back; returns 0 and sets *t, or LV_EINVAL. */
int load_history_parse_utc(const char *s, int64_t *t);

#endif
