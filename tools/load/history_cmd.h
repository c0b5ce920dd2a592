/* load/history_cmd.h: levee-load's history on the command line: where the history file is,
 * recording a finished run (--history), and the `levee-load history` command. */
#ifndef LOAD_HISTORY_CMD_H
#define LOAD_HISTORY_CMD_H

#include <stdint.h>

#include "history.h"
#include "stats.h"

/* The history file: flag when given, else $LEVEE_LOAD_HISTORY, else NULL (no history). */
const char *load_history_path(const char *flag);

/* Records a finished run as a rehearsal with the figures of its JSON summary; region may be
 * NULL; started: seconds since the epoch. Returns 0, or a negative LV_E* code (the reason in
 * load_history_error(h)). */
int load_history_record_stats(load_history_t *h, const load_stats_t *st, const load_run_meta_t *m,
                              const char *region, int64_t started);

/* `levee-load history ...` (argv[1] is "history"). Returns the exit code: 0 no regression,
 * 1 the history could not be read or the page written, 2 bad usage, 3 a regression. */
int load_cmd_history(int argc, char **argv);

#endif
