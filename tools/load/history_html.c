/* load/history_html.c: writes the history page: the runs, the trends with their regressions,
 * one chart per series over time (inline SVG via svg.c), grouped by scenario and region. */
#include "history_html.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "svg.h"

/* Time ticks: dates when they are days apart, else the time of day (UTC). */
static void load_time_tick(double x, double step, char *buf, size_t size)
{
    time_t t = (time_t)llround(x);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, step >= 86400 ? "%Y-%m-%d" : step >= 60 ? "%m-%d %H:%M" : "%H:%M:%S", &tm);
}

static void load_opt(char *b, size_t n, double v, double scale, const char *unit)
{
    if (v < 0 || !isfinite(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.1f%s", v * scale, unit);
}

static void load_cell(FILE *f, const char *s)
{
    fputs("<td>", f);
    load_html_text(f, s);
    fputs("</td>", f);
}

static void load_runs_table(FILE *f, const load_history_list_t *l)
{
    fputs("<table class=\"runs\"><tr><th>time (UTC)</th><th>kind</th><th>scenario</th>"
          "<th>region</th><th>target</th><th>goodput/s</th><th>share of capacity</th>"
          "<th>user success</th><th>p99 (ms)</th><th>errors</th><th>score</th></tr>\n",
          f);
    for (size_t i = 0; i < l->n; i++) {
        const load_history_run_t *r = &l->v[i].run;
        char c[6][48];
        load_opt(c[0], sizeof(c[0]), r->goodput_per_s, 1, "");
        load_opt(c[1], sizeof(c[1]), r->goodput_share, 100, " %");
        load_opt(c[2], sizeof(c[2]), r->user_success, 100, " %");
        load_opt(c[3], sizeof(c[3]), r->p99_ms, 1, "");
        snprintf(c[4], sizeof(c[4]), "%llu", (unsigned long long)r->errors);
        load_opt(c[5], sizeof(c[5]), r->score, 1, "");
        if (r->score >= 0 && r->score_max > 0)
            snprintf(c[5] + strlen(c[5]), sizeof(c[5]) - strlen(c[5]), " / %.0f", r->score_max);
        fputs("<tr>", f);
        load_cell(f, r->started_at);
        load_cell(f, load_history_kind_name(r->kind));
        load_cell(f, r->scenario);
        load_cell(f, *r->region ? r->region : "-");
        load_cell(f, r->target);
        for (int k = 0; k < 6; k++)
            load_cell(f, c[k]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static int load_trends_table(FILE *f, const load_trend_set_t *set, const load_trend_limits_t *lim)
{
    int regressions = 0;
    fputs("<table class=\"trends\"><tr><th>scenario</th><th>region</th><th>series</th>"
          "<th>newest</th><th>median before</th><th>runs before</th><th>change</th>"
          "<th>verdict</th></tr>\n",
          f);
    for (size_t i = 0; i < set->n; i++) {
        const load_trend_series_t *s = &set->v[i];
        load_trend_eval_t e;
        load_trend_evaluate(s, &e);
        char name[160], now[32], med[32], prev[32], change[32], why[256];
        load_trend_series_name(s, name, sizeof(name));
        load_trend_value_text(s, e.newest, now, sizeof(now));
        load_trend_value_text(s, e.median, med, sizeof(med));
        snprintf(prev, sizeof(prev), "%zu", e.n_prev);
        if (e.median > 0)
            snprintf(change, sizeof(change), "%+.1f %%", e.change_pct);
        else
            snprintf(change, sizeof(change), "-");
        int bad = load_trend_regressed(s, &e, lim, why, sizeof(why));
        regressions += bad;
        fprintf(f, "<tr%s>", bad ? " class=\"regression\"" : "");
        load_cell(f, s->scenario);
        load_cell(f, *s->region ? s->region : "-");
        load_cell(f, name);
        load_cell(f, now);
        load_cell(f, med);
        load_cell(f, prev);
        load_cell(f, change);
        load_cell(f, bad ? why : "ok");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    return regressions;
}

/* One series' chart: its points over time (tooltips: when, value), the most a score could be,
 * the minimum goodput share when one is set. */
static void load_trend_chart(FILE *f, const load_trend_series_t *s, const load_trend_limits_t *lim)
{
    double scale = s->metric == LOAD_TREND_SHARE ? 100 : 1;
    double *y = lv_xcalloc(s->n, sizeof(double));
    double *ref = lv_xcalloc(s->n, sizeof(double));
    char **tips = lv_xcalloc(s->n, sizeof(char *));
    int has_ref = 0;
    for (size_t i = 0; i < s->n; i++) {
        y[i] = s->y[i] * scale;
        ref[i] = -1;
        if (s->metric == LOAD_TREND_SCORE && s->max[i] > 0)
            ref[i] = s->max[i];
        else if (s->metric == LOAD_TREND_SHARE && lim->min_goodput_share >= 0)
            ref[i] = lim->min_goodput_share * 100;
        has_ref |= ref[i] >= 0;
        tips[i] = lv_xcalloc(1, 160);
        snprintf(tips[i], 160, "%s: %.2f (%s, %s)", s->runs[i]->run.started_at, y[i],
                 load_history_kind_name(s->runs[i]->run.kind), s->runs[i]->run.target);
    }
    char name[160], title[400];
    load_trend_series_name(s, name, sizeof(name));
    snprintf(title, sizeof(title), "%s, %s: %s", s->scenario, *s->region ? s->region : "no region",
             name);
    const char *ylabel = s->metric == LOAD_TREND_SHARE ? "goodput, % of capacity"
                         : s->metric == LOAD_TREND_P99 ? "p99 of successes (ms)"
                                                       : "points";
    load_series_t ser[2] = {
        {name, "#1f77b4", s->n, s->t, y, 0, LOAD_DRAW_LINE_POINTS, (const char *const *)tips},
        {s->metric == LOAD_TREND_SCORE ? "most possible" : "minimum (--min-goodput-share)",
         "#d62728", s->n, s->t, ref, 1, LOAD_DRAW_LINE, NULL},
    };
    load_svg_chart(f,
                   &(load_chart_t){.cls = "trend",
                                   .title = title,
                                   .xlabel = "started (UTC)",
                                   .ylabel = ylabel,
                                   .x_from_data = 1,
                                   .xtick = load_time_tick},
                   ser, has_ref ? 2 : 1);
    for (size_t i = 0; i < s->n; i++)
        free(tips[i]);
    free(tips);
    free(y);
    free(ref);
}

int load_history_html(FILE *f, const load_history_list_t *l, const load_trend_set_t *set,
                      const load_trend_limits_t *lim)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>levee-load history</title>\n<style>\n"
          "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\n"
          "table{border-collapse:collapse;margin:12px 0;font-size:14px}td,th{border:1px solid "
          "#ccc;padding:3px 6px;text-align:left}th{background:#f4f4f4}\n"
          "table.runs td{white-space:nowrap}\n"
          "tr.regression td{background:#fde2e1}\n"
          "svg.chart{background:#fff;border:1px solid #ddd;margin:8px 0}\n"
          ".title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#555}"
          ".label{font-size:12px;fill:#333}.legend{font-size:12px}\n"
          ".grid{stroke:#eee}.axis{stroke:#888}\n</style></head><body>\n"
          "<h1>levee-load history</h1>\n<p>Runs recorded with <code>levee-load --history</code> "
          "(rehearsals) and scores, oldest first. Goodput/s is over the run, drain included; "
          "its share is of the backend capacity the run was given. A trend compares the "
          "newest value of a series with the median of the earlier ones.</p>\n",
          f);
    if (l->n == 0)
        fputs("<p>No runs match.</p>\n", f);
    load_runs_table(f, l);
    fputs("<h2>Trends</h2>\n", f);
    int regressions = load_trends_table(f, set, lim);
    fprintf(f, "<p class=\"verdict\">%d regression%s.</p>\n", regressions,
            regressions == 1 ? "" : "s");
    for (size_t i = 0; i < set->n; i++) {
        const load_trend_series_t *s = &set->v[i];
        if (i == 0 || strcmp(s->scenario, set->v[i - 1].scenario) != 0 ||
            strcmp(s->region, set->v[i - 1].region) != 0) {
            fputs("<h2>", f);
            load_html_text(f, s->scenario);
            fputs(", ", f);
            load_html_text(f, *s->region ? s->region : "no region");
            fputs("</h2>\n", f);
        }
        load_trend_chart(f, s, lim);
    }
    fputs("</body></html>\n", f);
    return ferror(f) ? LV_EIO : LV_OK;
}
