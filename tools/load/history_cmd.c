/* load/history_cmd.c: levee-load's history on the command line: a finished run recorded with
 * --history; `levee-load history` (runs, trends, regressions and exit code, the page). */
#include "history_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "args.h"
#include "history.h"
#include "history_html.h"
#include "report.h"
#include "trend.h"

const char *load_history_path(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("LEVEE_LOAD_HISTORY");
    return env && *env ? env : NULL;
}

int load_history_record_stats(load_history_t *h, const load_stats_t *st, const load_run_meta_t *m,
                              const char *region, int64_t started)
{
    load_run_t r;
    if (load_run_from_stats(&r, st, m) != LV_OK)
        return LV_ENOMEM;
    char when[32];
    load_history_utc(started, when, sizeof(when));
    uint64_t errors = 0;
    for (int e = 0; e < LOAD_ERR_COUNT; e++)
        errors += st->total.err[e];
    load_history_run_t hr = {
        .kind = LOAD_HISTORY_REHEARSAL,
        .scenario = m->label,
        .target = m->target,
        .region = region,
        .started_at = when,
        .duration_s = r.duration_s,
        .run_s = r.run_s,
        .offered_per_s = r.offered_per_s,
        .goodput_per_s = r.goodput_per_s,
        .goodput_share = m->capacity > 0 ? r.goodput_per_s / m->capacity : -1,
        .user_success = r.success,
        /* The p99 of successes, unknown when nothing succeeded (as in the JSON). */
        .p99_ms = st->total_hist.count ? r.p99 : -1,
        .errors = errors,
        .score = -1,
        .score_max = -1,
    };
    load_run_free(&r);
    int64_t id = load_history_record(h, &hr, NULL, 0);
    return id > 0 ? LV_OK : (int)id;
}

/* ---- `levee-load history` ------------------------------------------------------------------ */

static void load_history_usage(FILE *f)
{
    fputs("usage: levee-load history [--db FILE] [--scenario S] [--target URL] [--region R]\n"
          "                          [--last N] [--html OUT.html] [--max-score-drop P]\n"
          "                          [--min-goodput-share F]\n"
          "\n"
          "Lists the runs recorded with --history (oldest first), then the trends: per\n"
          "scenario + region (+ service for scores), the newest value against the median of\n"
          "the previous runs.\n"
          "\n"
          "  --db FILE               the history (default: $LEVEE_LOAD_HISTORY)\n"
          "  --scenario, --target, --region   only runs with that value (--region '': none)\n"
          "  --last N                only the newest N runs that match\n"
          "  --html FILE             write a page with a trend chart per series\n"
          "  --max-score-drop P      regression: a newest score more than P % below the\n"
          "                          median of the previous ones\n"
          "  --min-goodput-share F   regression: a newest goodput share of capacity below F\n"
          "                          (0..1)\n"
          "Exit: 0 no regression, 1 the history could not be read or the page written,\n"
          "2 bad usage, 3 a regression (each one named on stderr).\n",
          f);
}

static void load_fmt_opt(char *b, size_t n, double v, double scale, int decimals, const char *unit)
{
    if (v < 0 || !isfinite(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.*f%s", decimals, v * scale, unit);
}

static void load_history_print_runs(const load_history_list_t *l)
{
    int ws = 8, wr = 6, wt = 6;
    for (size_t i = 0; i < l->n; i++) {
        ws = LV_MAX(ws, (int)strlen(l->v[i].run.scenario));
        wr = LV_MAX(wr, (int)strlen(l->v[i].run.region));
        wt = LV_MAX(wt, (int)strlen(l->v[i].run.target));
    }
    printf("%-20s  %-9s  %-*s  %-*s  %-*s  %9s  %7s  %9s  %7s\n", "time (UTC)", "kind", ws,
           "scenario", wr, "region", wt, "target", "goodput/s", "share", "p99 ms", "score");
    for (size_t i = 0; i < l->n; i++) {
        const load_history_run_t *r = &l->v[i].run;
        char goodput[32], share[32], p99[32], score[32];
        load_fmt_opt(goodput, sizeof(goodput), r->goodput_per_s, 1, 1, "");
        load_fmt_opt(share, sizeof(share), r->goodput_share, 100, 1, " %");
        load_fmt_opt(p99, sizeof(p99), r->p99_ms, 1, 2, "");
        load_fmt_opt(score, sizeof(score), r->score, 1, 1, "");
        printf("%-20s  %-9s  %-*s  %-*s  %-*s  %9s  %7s  %9s  %7s\n", r->started_at,
               load_history_kind_name(r->kind), ws, r->scenario, wr, *r->region ? r->region : "-",
               wt, r->target, goodput, share, p99, score);
    }
}

/* Prints the trends; names each regression on stderr. Returns how many there are. */
static int load_history_print_trends(const load_trend_set_t *set, const load_trend_limits_t *lim)
{
    int regressions = 0, ws = 8, wr = 6;
    for (size_t i = 0; i < set->n; i++) {
        ws = LV_MAX(ws, (int)strlen(set->v[i].scenario));
        wr = LV_MAX(wr, (int)strlen(set->v[i].region));
    }
    if (set->n)
        printf("\ntrends (newest run vs the median of the previous runs):\n  %-*s  %-*s  %-24s  "
               "%8s  %s\n",
               ws, "scenario", wr, "region", "series", "newest", "before");
    for (size_t i = 0; i < set->n; i++) {
        const load_trend_series_t *s = &set->v[i];
        load_trend_eval_t e;
        load_trend_evaluate(s, &e);
        char what[160], now[32], med[32];
        load_trend_series_name(s, what, sizeof(what));
        load_trend_value_text(s, e.newest, now, sizeof(now));
        printf("  %-*s  %-*s  %-24s  %8s", ws, s->scenario, wr, *s->region ? s->region : "-", what,
               now);
        if (e.median >= 0) {
            load_trend_value_text(s, e.median, med, sizeof(med));
            printf("  vs %s (median of %zu)  %+.1f %%\n", med, e.n_prev, e.change_pct);
        } else {
            printf("  (first run)\n");
        }
        char why[256];
        if (load_trend_regressed(s, &e, lim, why, sizeof(why))) {
            fprintf(stderr, "levee-load history: regression: %s [%s]%s%s: %s\n", s->scenario,
                    *s->region ? s->region : "no region", *s->service ? " service " : "",
                    s->service, why);
            regressions++;
        }
    }
    return regressions;
}

static int load_history_write_page(const char *path, const load_history_list_t *l,
                                   const load_trend_set_t *set, const load_trend_limits_t *lim)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "levee-load history: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = load_history_html(f, l, set, lim);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "levee-load history: %s: write failed\n", path);
        return -1;
    }
    printf("\nhtml: %s\n", path);
    return 0;
}

int load_cmd_history(int argc, char **argv)
{
    const char *db = NULL, *html = NULL;
    load_history_filter_t filt = {0};
    load_trend_limits_t lim = {.max_score_drop_pct = -1, .min_goodput_share = -1};
    double last = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            load_history_usage(stdout);
            return 0;
        } else if (!v) {
            fprintf(stderr, "levee-load history: %s: unknown flag or missing value\n", a);
            load_history_usage(stderr);
            return 2;
        } else if (strcmp(a, "--db") == 0) {
            db = v;
        } else if (strcmp(a, "--scenario") == 0) {
            filt.scenario = v;
        } else if (strcmp(a, "--target") == 0) {
            filt.target = v;
        } else if (strcmp(a, "--region") == 0) {
            filt.region = v;
        } else if (strcmp(a, "--html") == 0) {
            html = v;
        } else if (strcmp(a, "--last") == 0) {
            rc = load_num_arg("levee-load history", a, v, 1, 1e9, &last);
        } else if (strcmp(a, "--max-score-drop") == 0) {
            rc = load_num_arg("levee-load history", a, v, 0, 100, &lim.max_score_drop_pct);
        } else if (strcmp(a, "--min-goodput-share") == 0) {
            rc = load_num_arg("levee-load history", a, v, 0, 1e6, &lim.min_goodput_share);
        } else {
            fprintf(stderr, "levee-load history: %s: unknown flag\n", a);
            load_history_usage(stderr);
            return 2;
        }
        if (rc)
            return 2;
        i++;
    }
    filt.last = (size_t)last;
    db = load_history_path(db);
    if (!db) {
        fprintf(stderr, "levee-load history: no history: give --db FILE or set "
                        "LEVEE_LOAD_HISTORY\n");
        return 2;
    }
    /* Reading never creates: a mistyped path is an error, not an empty history. */
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "levee-load history: %s: %s\n", db, strerror(errno));
        return 1;
    }
    char err[512];
    load_history_t *h = load_history_open(db, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "levee-load history: %s\n", err);
        return 1;
    }
    load_history_list_t l;
    int rc = load_history_query(h, &filt, &l);
    if (rc != LV_OK) {
        fprintf(stderr, "levee-load history: %s: %s\n", db, load_history_error(h));
        load_history_list_free(&l);
        load_history_close(h);
        return 1;
    }
    load_history_close(h);
    load_trend_set_t set;
    load_trend_build(&l, &set);
    load_history_print_runs(&l);
    int regressions = load_history_print_trends(&set, &lim);
    int exit_code = regressions ? 3 : 0;
    if (html && load_history_write_page(html, &l, &set, &lim) != 0)
        exit_code = 1;
    load_trend_set_free(&set);
    load_history_list_free(&l);
    return exit_code;
}
