/* load/trend.c: builds the series of levee-load's history (one figure per scenario, region and
 * service over time), the newest point against the earlier ones' median, the limits. Pure. */
#include "trend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "grow.h"

const char *load_trend_metric_name(load_trend_metric_t m)
{
    return m == LOAD_TREND_SHARE ? "goodput share" : m == LOAD_TREND_P99 ? "p99 ms" : "score";
}

void load_trend_series_name(const load_trend_series_t *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", load_trend_metric_name(s->metric), *s->service ? ": " : "",
             s->service);
}

void load_trend_value_text(const load_trend_series_t *s, double v, char *buf, size_t size)
{
    if (v < 0)
        snprintf(buf, size, "-");
    else if (s->metric == LOAD_TREND_SHARE)
        snprintf(buf, size, "%.1f %%", v * 100);
    else
        snprintf(buf, size, "%.1f", v);
}

static int load_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double load_median(double *v, size_t n)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof(*v), load_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int load_same_group(const load_history_run_t *a, const load_history_run_t *b)
{
    return strcmp(a->scenario, b->scenario) == 0 && strcmp(a->region, b->region) == 0;
}

/* The figure of series s in entry e: 1 and *y (*max) when e has it, else 0. */
static int load_trend_value(const load_trend_series_t *s, const load_history_entry_t *e, double *y,
                            double *max)
{
    const load_history_run_t *r = &e->run;
    *max = -1;
    if (s->metric == LOAD_TREND_SHARE) {
        *y = r->goodput_share;
        return *y >= 0;
    }
    if (s->metric == LOAD_TREND_P99) {
        *y = r->p99_ms;
        return *y >= 0;
    }
    if (r->kind != LOAD_HISTORY_SCORE)
        return 0;
    if (!*s->service) {
        *y = r->score;
        *max = r->score_max;
        return *y >= 0;
    }
    int found = 0;
    double sum = 0, sum_max = 0;
    for (size_t k = 0; k < e->n_parts; k++)
        if (strcmp(e->parts[k].service, s->service) == 0) {
            sum += e->parts[k].value;
            sum_max += e->parts[k].max;
            found = 1;
        }
    *y = sum;
    *max = sum_max;
    return found;
}

/* Adds the series (group of l->v[g], metric, service) with its points, if it has any. */
static void load_trend_add(const load_history_list_t *l, size_t g, load_trend_metric_t metric,
                           const char *service, load_trend_set_t *out, size_t *cap)
{
    const load_history_run_t *gr = &l->v[g].run;
    load_trend_series_t s = {
        .scenario = gr->scenario, .region = gr->region, .service = service, .metric = metric};
    s.t = lv_xcalloc(l->n, sizeof(double));
    s.y = lv_xcalloc(l->n, sizeof(double));
    s.max = metric == LOAD_TREND_SCORE ? lv_xcalloc(l->n, sizeof(double)) : NULL;
    s.runs = lv_xcalloc(l->n, sizeof(*s.runs));
    for (size_t i = g; i < l->n; i++) {
        const load_history_entry_t *e = &l->v[i];
        double y, max;
        int64_t t;
        if (!load_same_group(&e->run, gr) || !load_trend_value(&s, e, &y, &max) ||
            load_history_parse_utc(e->run.started_at, &t) != 0)
            continue;
        s.t[s.n] = (double)t;
        s.y[s.n] = y;
        if (s.max)
            s.max[s.n] = max;
        s.runs[s.n++] = e;
    }
    if (s.n == 0) {
        free(s.t);
        free(s.y);
        free(s.max);
        free(s.runs);
        return;
    }
    out->v = load_grow(out->v, out->n, cap, sizeof(*out->v));
    out->v[out->n++] = s;
}

static int load_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void load_trend_build(const load_history_list_t *l, load_trend_set_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0;
    const char **services = NULL;
    for (size_t g = 0; g < l->n; g++) {
        size_t first = 0;
        while (!load_same_group(&l->v[first].run, &l->v[g].run))
            first++;
        if (first != g)
            continue; /* the group was done at its first run */
        load_trend_add(l, g, LOAD_TREND_SHARE, "", out, &cap);
        load_trend_add(l, g, LOAD_TREND_P99, "", out, &cap);
        load_trend_add(l, g, LOAD_TREND_SCORE, "", out, &cap);
        /* Each service of the group's score runs, by name. */
        size_t ns = 0, ncap = 0;
        for (size_t i = g; i < l->n; i++) {
            if (!load_same_group(&l->v[i].run, &l->v[g].run))
                continue;
            for (size_t k = 0; k < l->v[i].n_parts; k++) {
                const char *sv = l->v[i].parts[k].service;
                size_t j = 0;
                while (j < ns && strcmp(services[j], sv) != 0)
                    j++;
                if (j < ns)
                    continue;
                services = load_grow(services, ns, &ncap, sizeof(*services));
                services[ns++] = sv;
            }
        }
        if (ns)
            qsort(services, ns, sizeof(*services), load_cmp_str);
        for (size_t j = 0; j < ns; j++)
            load_trend_add(l, g, LOAD_TREND_SCORE, services[j], out, &cap);
    }
    free(services);
}

void load_trend_set_free(load_trend_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].t);
        free(s->v[i].y);
        free(s->v[i].max);
        free(s->v[i].runs);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void load_trend_evaluate(const load_trend_series_t *s, load_trend_eval_t *e)
{
    memset(e, 0, sizeof(*e));
    e->median = -1;
    if (s->n == 0)
        return;
    e->newest = s->y[s->n - 1];
    e->n_prev = s->n - 1;
    if (e->n_prev == 0)
        return;
    double *prev = lv_xcalloc(e->n_prev, sizeof(double));
    memcpy(prev, s->y, e->n_prev * sizeof(double));
    e->median = load_median(prev, e->n_prev);
    free(prev);
    if (e->median > 0)
        e->change_pct = (e->newest - e->median) / e->median * 100;
}

int load_trend_regressed(const load_trend_series_t *s, const load_trend_eval_t *e,
                         const load_trend_limits_t *lim, char *why, size_t why_size)
{
    if (s->n == 0)
        return 0;
    if (s->metric == LOAD_TREND_SHARE && lim->min_goodput_share >= 0 &&
        e->newest < lim->min_goodput_share) {
        snprintf(why, why_size, "goodput share %.1f %% is below the minimum %.1f %%",
                 e->newest * 100, lim->min_goodput_share * 100);
        return 1;
    }
    if (s->metric == LOAD_TREND_SCORE && lim->max_score_drop_pct >= 0 && e->median > 0 &&
        -e->change_pct > lim->max_score_drop_pct) {
        snprintf(why, why_size,
                 "score %.1f is %.1f %% below the median %.1f of the %zu previous runs "
                 "(allowed: %.1f %%)",
                 e->newest, -e->change_pct, e->median, e->n_prev, lim->max_score_drop_pct);
        return 1;
    }
    return 0;
}
