/* load/args.h: command-line helpers shared by levee-load's commands (the run, history,
 * schedule, score): number flags checked against their range, with the message on stderr. */
#ifndef LOAD_ARGS_H
#define LOAD_ARGS_H

/* Parses v, the value of flag, as a number in [lo, hi]. Returns 0 with *out set, or -1 after
 * printing "CMD: FLAG: expected a number in [lo, hi]" on stderr (v may be NULL: missing). */
int load_num_arg(const char *cmd, const char *flag, const char *v, double lo, double hi,
                 double *out);

#endif
