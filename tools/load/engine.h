/* load/engine.h: runs a scenario: one libuv loop on the calling thread, open-loop Poisson
 * arrivals, one keep-alive TCP connection per user, patience timers, F5 and Retry-After
 * retries, cookies. Fills a load_stats_t. */
#ifndef LOAD_ENGINE_H
#define LOAD_ENGINE_H

#include "scenario.h"
#include "stats.h"

/* Runs sc (finished with load_scenario_finish) to the end of its arrivals plus the drain.
 * st must be initialised for at least ceil(duration + drain) + 2 seconds. progress: 0 none,
 * 1 one line a second on stderr (overwritten with \r when stderr is a TTY).
 * Returns 0, or LV_EIO when the loop could not start. */
int load_engine_run(const load_scenario_t *sc, load_stats_t *st, int progress);

#endif
