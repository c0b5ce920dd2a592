/* load/schedule.h: the `levee-load schedule` command: rehearsals from a cron-like file, run as
 * child levee-load processes one at a time; --once for a timer, --dry-run to check a file. */
#ifndef LOAD_SCHEDULE_H
#define LOAD_SCHEDULE_H

/* `levee-load schedule FILE ...` (argv[1] is "schedule"). Returns the exit code: 0 done, 1 a
 * rehearsal failed or could not start (--once), 2 bad usage or a bad file. */
int load_cmd_schedule(int argc, char **argv);

#endif
