/* load/schedule_file.h: the schedule file of `levee-load schedule`: one rehearsal per line, a
 * cron time and what to run, parsed with file:line:col errors. Parsed once at start. */
#ifndef LOAD_SCHEDULE_FILE_H
#define LOAD_SCHEDULE_FILE_H

/* The scenario= value that runs `levee-load score` (the resilience battery) instead of a file. */
#define LOAD_SCHEDULE_SCORE "score"

#include <stddef.h>

#include "cron.h"

/* A line: `MIN HOUR DOM MON DOW region=NAME target=URL scenario=FILE [history=DB]
 * [tls_ca=FILE] [tls_insecure=yes|no] [flags]`, blanks between words, no quoting; `#` starts a
 * comment at the start of a line or after a blank. The flags go to levee-load as they are;
 * tls_ca= and tls_insecure= (https targets only) become --tls-ca and --tls-insecure. */
typedef struct load_schedule_entry {
    unsigned line;
    char *text; /* the line without its comment and outer blanks */
    load_cron_t cron;
    char *region, *target, *scenario;
    char *history;                      /* NULL: $LEVEE_LOAD_HISTORY */
    char *tls_ca;                       /* NULL: none (the system's CAs) */
    int tls_insecure;                   /* tls_insecure=yes */
    unsigned scenario_col, history_col; /* 1-based columns of the values, for messages */
    unsigned tls_ca_col;                /* tls_ca='s value */
    unsigned tls_insecure_col;          /* tls_insecure='s key (0: not given) */
    char **args;
    size_t n_args;
} load_schedule_entry_t;

typedef struct load_schedule {
    load_schedule_entry_t *v;
    size_t n;
} load_schedule_t;

/* Parses a schedule's text; name is used in messages. Relative scenario= and history= paths
 * are taken relative to dir (NULL: as written). Every problem is appended to err (bounded) as
 * "name:line:col: message\n". Returns 0 or LV_ECONFIG; free s either way. */
int load_schedule_parse(load_schedule_t *s, const char *name, const char *dir, const char *text,
                        size_t len, char *err, size_t err_size);

/* Reads path (at most 1 MiB) and parses it relative to its directory; then checks that every
 * scenario file and tls_ca= file can be read and that every line has a history (history= or
 * $LEVEE_LOAD_HISTORY). Same errors and result as load_schedule_parse. */
int load_schedule_load(load_schedule_t *s, const char *path, char *err, size_t err_size);

void load_schedule_free(load_schedule_t *s);

#endif
