/* load/history_html.h: the page of `levee-load history --html`: the runs, the trends and one
 * trend chart per series (inline SVG, no script, no external asset). */
#ifndef LOAD_HISTORY_HTML_H
#define LOAD_HISTORY_HTML_H

#include <stdio.h>

#include "history.h"
#include "trend.h"

/* Writes the page for the runs of l and their series; regressions under lim are marked.
 * Returns 0 or LV_EIO. */
int load_history_html(FILE *f, const load_history_list_t *l, const load_trend_set_t *set,
                      const load_trend_limits_t *lim);

#endif
