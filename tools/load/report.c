/* load/report.c: turns run results (live stats or saved JSON summaries) into a self-contained
 * HTML page with inline SVG charts (svg.c); includes a small JSON reader for levee-load's own
 * summaries. Offline, single thread; never on the load path. */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "file.h"
#include "svg.h"

/* ---- from live stats ---------------------------------------------------------------------- */

int load_run_from_stats(load_run_t *r, const load_stats_t *st, const load_run_meta_t *m)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->label, sizeof(r->label), "%s", m->label);
    snprintf(r->source, sizeof(r->source), "%s", m->target);
    r->duration_s = m->duration_s;
    r->run_s = load_stats_run_s(st, m->duration_s);
    r->capacity = m->capacity;
    /* As the JSON summary: offered users over the arrival window, the rest over the run. */
    double d_offered = m->duration_s > 0 ? m->duration_s : 1;
    double d = r->run_s > 0 ? r->run_s : 1;
    const load_counts_t *c = &st->total;
    double retries = (double)(c->retries_f5 + c->retries_obeyed);
    r->offered_per_s = (double)c->offered / d_offered;
    r->requests_per_s = ((double)c->first + retries) / d;
    r->retries_per_s = retries / d;
    r->goodput_per_s = (double)c->goodput / d;
    r->success = load_counts_success(c);
    r->p50 = (double)load_hist_quantile(&st->total_hist, 0.5) / 1000.0;
    r->p90 = (double)load_hist_quantile(&st->total_hist, 0.9) / 1000.0;
    r->p99 = (double)load_hist_quantile(&st->total_hist, 0.99) / 1000.0;
    r->p999 = (double)load_hist_quantile(&st->total_hist, 0.999) / 1000.0;
    r->max = (double)st->total_hist.max / 1000.0;
    r->n = st->n_seconds;
    r->sec = calloc(r->n ? r->n : 1, sizeof(*r->sec));
    if (!r->sec)
        return LV_ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        const load_second_t *s = &st->sec[i];
        load_run_sec_t *o = &r->sec[i];
        o->t = (double)i;
        o->offered = (double)s->c.offered;
        o->retries = (double)(s->c.retries_f5 + s->c.retries_obeyed);
        o->requests = (double)s->c.first + o->retries;
        o->goodput = (double)s->c.goodput;
        o->success = load_counts_success(&s->c);
        o->p50 = s->lat_us[0] / 1000.0;
        o->p90 = s->lat_us[1] / 1000.0;
        o->p99 = s->lat_us[2] / 1000.0;
        o->p999 = s->lat_us[3] / 1000.0;
        o->max = s->lat_us[4] / 1000.0;
        if (!s->lat_count)
            o->p50 = o->p90 = o->p99 = o->p999 = o->max = -1;
        o->capacity = s->capacity;
    }
    return LV_OK;
}

void load_run_free(load_run_t *r)
{
    free(r->sec);
    r->sec = NULL;
}

/* ---- a small JSON reader (enough for our own summaries) ------------------------------------ */

typedef enum { LJ_NULL, LJ_NUM, LJ_STR, LJ_BOOL, LJ_ARR, LJ_OBJ } load_jtype_t;

typedef struct load_jval {
    load_jtype_t type;
    double num;
    char *str;                /* LJ_STR */
    size_t n;                 /* items */
    char **keys;              /* LJ_OBJ */
    struct load_jval **items; /* LJ_ARR, LJ_OBJ */
} load_jval_t;

typedef struct load_jp {
    const char *p, *end;
    int depth;
    const char *err;
} load_jp_t;

static void load_jfree(load_jval_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        load_jfree(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->str);
    free(v);
}

static void load_jws(load_jp_t *j)
{
    while (j->p < j->end && isspace((unsigned char)*j->p))
        j->p++;
}

static char *load_jstring(load_jp_t *j)
{
    if (j->p >= j->end || *j->p != '"') {
        j->err = "expected a string";
        return NULL;
    }
    j->p++;
    size_t cap = 32, len = 0;
    char *s = lv_xmalloc(cap);
    while (j->p < j->end && *j->p != '"') {
        char ch = *j->p++;
        if (ch == '\\' && j->p < j->end) {
            ch = *j->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch == 't')
                ch = '\t';
            else if (ch == 'u') { /* not produced by levee-load; keep a placeholder */
                j->p += LV_MIN(4, j->end - j->p);
                ch = '?';
            }
        }
        if (len + 2 > cap) {
            cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns) {
                free(s);
                j->err = "out of memory";
                return NULL;
            }
            s = ns;
        }
        s[len++] = ch;
    }
    if (j->p >= j->end) {
        free(s);
        j->err = "unterminated string";
        return NULL;
    }
    j->p++;
    s[len] = '\0';
    return s;
}

static load_jval_t *load_jparse(load_jp_t *j);

static int load_jpush(load_jval_t *v, char *key, load_jval_t *item, size_t *cap)
{
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        load_jval_t **ni = realloc(v->items, nc * sizeof(*ni));
        if (!ni)
            return -1;
        v->items = ni;
        if (v->type == LJ_OBJ) {
            char **nk = realloc(v->keys, nc * sizeof(*nk));
            if (!nk)
                return -1;
            v->keys = nk;
        }
        *cap = nc;
    }
    if (v->type == LJ_OBJ)
        v->keys[v->n] = key;
    v->items[v->n++] = item;
    return 0;
}

static load_jval_t *load_jparse(load_jp_t *j)
{
    load_jws(j);
    if (j->p >= j->end) {
        j->err = "unexpected end";
        return NULL;
    }
    if (++j->depth > 32) {
        j->err = "nested too deep";
        return NULL;
    }
    load_jval_t *v = lv_xcalloc(1, sizeof(*v));
    char ch = *j->p;
    if (ch == '{' || ch == '[') {
        v->type = ch == '{' ? LJ_OBJ : LJ_ARR;
        char close = ch == '{' ? '}' : ']';
        size_t cap = 0;
        j->p++;
        load_jws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return v;
        }
        for (;;) {
            char *key = NULL;
            load_jws(j);
            if (v->type == LJ_OBJ) {
                key = load_jstring(j);
                load_jws(j);
                if (!key || j->p >= j->end || *j->p != ':') {
                    free(key);
                    if (!j->err)
                        j->err = "expected ':'";
                    goto fail;
                }
                j->p++;
            }
            load_jval_t *item = load_jparse(j);
            if (!item || load_jpush(v, key, item, &cap)) {
                free(key);
                load_jfree(item);
                goto fail;
            }
            load_jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                break;
            }
            j->err = "expected ',' or a closing bracket";
            goto fail;
        }
    } else if (ch == '"') {
        v->type = LJ_STR;
        v->str = load_jstring(j);
        if (!v->str)
            goto fail;
    } else if (j->end - j->p >= 4 && strncmp(j->p, "null", 4) == 0) {
        v->type = LJ_NULL;
        j->p += 4;
    } else if (j->end - j->p >= 4 && strncmp(j->p, "true", 4) == 0) {
        v->type = LJ_BOOL;
        v->num = 1;
        j->p += 4;
    } else if (j->end - j->p >= 5 && strncmp(j->p, "false", 5) == 0) {
        v->type = LJ_BOOL;
        j->p += 5;
    } else {
        char *endp;
        errno = 0;
        v->type = LJ_NUM;
        v->num = strtod(j->p, &endp); /* the buffer is NUL-terminated by the reader */
        if (endp == j->p || errno) {
            j->err = "bad value";
            goto fail;
        }
        j->p = endp;
    }
    j->depth--;
    return v;
fail:
    load_jfree(v);
    return NULL;
}

static const load_jval_t *load_jget(const load_jval_t *o, const char *key)
{
    if (!o || o->type != LJ_OBJ)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return o->items[i];
    return NULL;
}

static double load_jnum(const load_jval_t *o, const char *key, double dflt)
{
    const load_jval_t *v = load_jget(o, key);
    return v && v->type == LJ_NUM ? v->num : dflt;
}

static double load_jlat(const load_jval_t *o, const char *q)
{
    return load_jnum(load_jget(o, "latency_ms"), q, -1);
}

int load_run_from_json(load_run_t *r, const char *path, char *err, size_t err_size)
{
    memset(r, 0, sizeof(*r));
    char why[128];
    size_t len;
    char *buf = load_read_file(path, (size_t)64 << 20, &len, why, sizeof(why));
    if (!buf) {
        snprintf(err, err_size, "%s: %s", path, why);
        return LV_EINVAL;
    }
    load_jp_t j = {.p = buf, .end = buf + len};
    load_jval_t *root = load_jparse(&j);
    int rc = LV_EINVAL;
    if (!root || root->type != LJ_OBJ) {
        snprintf(err, err_size, "%s: offset %ld: %s", path, (long)(j.p - buf),
                 j.err ? j.err : "not a JSON object");
        goto done;
    }
    const load_jval_t *ps = load_jget(root, "per_second");
    if (!load_jget(root, "goodput_per_s") || !ps || ps->type != LJ_ARR) {
        snprintf(err, err_size, "%s: not a levee-load summary (no goodput_per_s/per_second)", path);
        goto done;
    }
    const load_jval_t *lab = load_jget(root, "label");
    snprintf(r->label, sizeof(r->label), "%s", lab && lab->type == LJ_STR ? lab->str : "run");
    snprintf(r->source, sizeof(r->source), "%s", path);
    r->duration_s = load_jnum(root, "duration_s", 0);
    /* Summaries from before run_s was written: the run lasted at least its seconds. */
    r->run_s = load_jnum(root, "run_s", LV_MAX(r->duration_s, (double)ps->n));
    r->capacity = load_jnum(root, "capacity", -1);
    r->offered_per_s = load_jnum(root, "offered_users_per_s", 0);
    r->requests_per_s = load_jnum(root, "requests_per_s", 0);
    r->retries_per_s = load_jnum(root, "retries_per_s", 0);
    r->goodput_per_s = load_jnum(root, "goodput_per_s", 0);
    r->success = load_jnum(root, "user_success_rate", -1);
    r->p50 = load_jlat(root, "p50");
    r->p90 = load_jlat(root, "p90");
    r->p99 = load_jlat(root, "p99");
    r->p999 = load_jlat(root, "p999");
    r->max = load_jlat(root, "max");
    r->n = ps->n;
    r->sec = lv_xcalloc(r->n ? r->n : 1, sizeof(*r->sec));
    for (size_t i = 0; i < ps->n; i++) {
        const load_jval_t *s = ps->items[i];
        load_run_sec_t *o = &r->sec[i];
        o->t = load_jnum(s, "t", (double)i);
        o->offered = load_jnum(s, "offered_users_per_s", 0);
        o->requests = load_jnum(s, "requests_per_s", 0);
        o->retries = load_jnum(s, "retries_per_s", 0);
        o->goodput = load_jnum(s, "goodput_per_s", 0);
        o->success = load_jnum(s, "user_success_rate", -1);
        o->p50 = load_jlat(s, "p50");
        o->p90 = load_jlat(s, "p90");
        o->p99 = load_jlat(s, "p99");
        o->p999 = load_jlat(s, "p999");
        o->max = load_jlat(s, "max");
        if (load_jnum(s, "goodput", 0) == 0 && o->goodput == 0)
            o->p50 = o->p90 = o->p99 = o->p999 = o->max = -1;
        o->capacity = load_jnum(s, "capacity", -1);
    }
    rc = LV_OK;
done:
    load_jfree(root);
    free(buf);
    return rc;
}
/* ---- SVG charts ------------------------------------------------------------------------------ */

static const char *const load_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                          "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* The same precision as the stdout summary: rates to 0.1/s, latencies to 0.01 ms. */
static void load_fmt(char *b, size_t n, double v, int decimals, const char *unit)
{
    if (v < 0 || !isfinite(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.*f%s", decimals, v, unit);
}

/* The top of every latency chart of a page: the highest latency of any run. */
static double load_latency_top(const load_run_t *runs, size_t n)
{
    double top = 0;
    for (size_t i = 0; i < n; i++) {
        top = LV_MAX(top, runs[i].max);
        for (size_t k = 0; k < runs[i].n; k++) {
            const load_run_sec_t *s = &runs[i].sec[k];
            top = LV_MAX(top, LV_MAX(LV_MAX(s->p50, s->p90), LV_MAX(s->p99, s->max)));
        }
    }
    return top;
}

static void load_run_charts(FILE *f, const load_run_t *r, double lat_top)
{
    size_t n = r->n;
    double *x = lv_xcalloc(n + 1, sizeof(double));
    double *col[9];
    for (int k = 0; k < 9; k++)
        col[k] = lv_xcalloc(n + 1, sizeof(double));
    int has_cap = 0;
    for (size_t i = 0; i < n; i++) {
        const load_run_sec_t *s = &r->sec[i];
        x[i] = s->t;
        col[0][i] = s->offered;
        col[1][i] = s->requests;
        col[2][i] = s->goodput;
        col[3][i] = s->capacity;
        col[4][i] = s->retries;
        col[5][i] = s->p50;
        col[6][i] = s->p90;
        col[7][i] = s->p99;
        col[8][i] = s->max;
        has_cap |= s->capacity >= 0;
    }
    char title[160];
    load_series_t load[5] = {
        {"offered users/s", "#7f7f7f", n, x, col[0], 0, LOAD_DRAW_LINE, NULL},
        {"requests/s", "#1f77b4", n, x, col[1], 0, LOAD_DRAW_LINE, NULL},
        {"retries/s", "#ff7f0e", n, x, col[4], 0, LOAD_DRAW_LINE, NULL},
        {"goodput/s", "#2ca02c", n, x, col[2], 0, LOAD_DRAW_LINE, NULL},
        {"backend capacity", "#d62728", n, x, col[3], 1, LOAD_DRAW_LINE, NULL},
    };
    snprintf(title, sizeof(title), "%s: offered load, goodput and capacity", r->label);
    load_svg_chart(f,
                   &(load_chart_t){.cls = "load",
                                   .title = title,
                                   .xlabel = "time (s)",
                                   .ylabel = "per second",
                                   .xmax = r->run_s},
                   load, has_cap ? 5 : 4);
    load_series_t lat[4] = {
        {"p50", "#2ca02c", n, x, col[5], 0, LOAD_DRAW_LINE, NULL},
        {"p90", "#1f77b4", n, x, col[6], 0, LOAD_DRAW_LINE, NULL},
        {"p99", "#d62728", n, x, col[7], 0, LOAD_DRAW_LINE, NULL},
        {"max", "#7f7f7f", n, x, col[8], 1, LOAD_DRAW_LINE, NULL},
    };
    snprintf(title, sizeof(title), "%s: latency of successful responses", r->label);
    load_svg_chart(f,
                   &(load_chart_t){.cls = "latency",
                                   .title = title,
                                   .xlabel = "time (s)",
                                   .ylabel = "ms",
                                   .xmax = r->run_s,
                                   .ymax = lat_top},
                   lat, 4);
    free(x);
    for (int k = 0; k < 9; k++)
        free(col[k]);
}

static void load_table(FILE *f, const load_run_t *runs, size_t n)
{
    fputs("<table><caption>Offered users/s: per second of the arrival window. Requests/s, "
          "retries/s and goodput/s: per second of the run, drain included (until the last "
          "user is done). Latencies: successful responses.</caption>\n<tr><th>label</th>"
          "<th>arrivals (s)</th><th>run (s)</th><th>offered users/s</th><th>requests/s</th>"
          "<th>retries/s</th><th>goodput/s</th><th>capacity/s</th><th>user success</th>"
          "<th>p50 (ms)</th><th>p99 (ms)</th><th>max (ms)</th></tr>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const load_run_t *r = &runs[i];
        char c[11][32];
        load_fmt(c[0], 32, r->duration_s, 1, "");
        load_fmt(c[1], 32, r->run_s, 1, "");
        load_fmt(c[2], 32, r->offered_per_s, 1, "");
        load_fmt(c[3], 32, r->requests_per_s, 1, "");
        load_fmt(c[4], 32, r->retries_per_s, 1, "");
        load_fmt(c[5], 32, r->goodput_per_s, 1, "");
        load_fmt(c[6], 32, r->capacity, 0, "");
        load_fmt(c[7], 32, r->success < 0 ? -1 : r->success * 100, 1, " %");
        load_fmt(c[8], 32, r->p50, 2, "");
        load_fmt(c[9], 32, r->p99, 2, "");
        load_fmt(c[10], 32, r->max, 2, "");
        fputs("<tr><td>", f);
        load_html_text(f, r->label);
        fputs("</td>", f);
        for (int k = 0; k < 11; k++)
            fprintf(f, "<td>%s</td>", c[k]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* One run: each second is a point (a line through them would follow time, not load); the
 * seconds after the arrival window (the drain: no arrivals, goodput from earlier users) apart. */
static void load_goodput_seconds(FILE *f, const load_run_t *r)
{
    double *x = lv_xcalloc(r->n + 1, sizeof(double));
    double *yw = lv_xcalloc(r->n + 1, sizeof(double));
    double *yd = lv_xcalloc(r->n + 1, sizeof(double));
    for (size_t i = 0; i < r->n; i++) {
        int drain = r->sec[i].t >= r->duration_s;
        x[i] = r->sec[i].offered;
        yw[i] = drain ? -1 : r->sec[i].goodput;
        yd[i] = drain ? r->sec[i].goodput : -1;
    }
    load_series_t ser[2] = {
        {"arrival window", load_colors[0], r->n, x, yw, 0, LOAD_DRAW_POINTS, NULL},
        {"drain (no arrivals)", load_colors[3], r->n, x, yd, 0, LOAD_DRAW_POINTS, NULL},
    };
    load_svg_chart(f,
                   &(load_chart_t){.cls = "goodput-offered",
                                   .title = "goodput against offered load (each second of the run)",
                                   .xlabel = "offered users in that second",
                                   .ylabel = "goodput in that second"},
                   ser, 2);
    free(x);
    free(yw);
    free(yd);
}

/* Several runs: one point per run (its whole-run rates), one line per label by offered load. */
static void load_goodput_runs(FILE *f, const load_run_t *runs, size_t n)
{
    size_t ns = 0;
    load_series_t ser[LV_ARRAY_LEN(load_colors)] = {0};
    double *xs[LV_ARRAY_LEN(load_colors)] = {0}, *ys[LV_ARRAY_LEN(load_colors)] = {0};
    for (size_t i = 0; i < n; i++) {
        size_t s = 0;
        while (s < ns && strcmp(ser[s].name, runs[i].label) != 0)
            s++;
        if (s == ns) {
            if (ns == LV_ARRAY_LEN(load_colors))
                continue;
            xs[s] = lv_xcalloc(n, sizeof(double));
            ys[s] = lv_xcalloc(n, sizeof(double));
            ser[s] = (load_series_t){
                runs[i].label, load_colors[s], 0, xs[s], ys[s], 0, LOAD_DRAW_LINE_POINTS, NULL};
            ns++;
        }
        size_t k = ser[s].n++;
        xs[s][k] = runs[i].offered_per_s;
        ys[s][k] = runs[i].goodput_per_s;
        for (size_t b = k; b > 0 && xs[s][b - 1] > xs[s][b]; b--) {
            double tx = xs[s][b], ty = ys[s][b];
            xs[s][b] = xs[s][b - 1];
            ys[s][b] = ys[s][b - 1];
            xs[s][b - 1] = tx;
            ys[s][b - 1] = ty;
        }
    }
    load_svg_chart(f,
                   &(load_chart_t){.cls = "goodput-offered",
                                   .title = "goodput against offered load (each run)",
                                   .xlabel = "offered users/s (arrival window)",
                                   .ylabel = "goodput/s (run, drain included)"},
                   ser, ns);
    for (size_t s = 0; s < ns; s++) {
        free(xs[s]);
        free(ys[s]);
    }
}

int load_report_html(FILE *f, const load_run_t *runs, size_t n)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>levee-load report</title>\n<style>\n"
          "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:980px}\n"
          "table{border-collapse:collapse;margin:12px 0;font-size:14px}td,th{border:1px solid #ccc;"
          "padding:3px 6px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}\n"
          "caption{caption-side:top;text-align:left;font-size:13px;color:#444;padding:4px 0}\n"
          "svg.chart{background:#fff;border:1px solid #ddd;margin:8px 0}\n"
          ".title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#555}"
          ".label{font-size:12px;fill:#333}.legend{font-size:12px}\n"
          ".grid{stroke:#eee}.axis{stroke:#888}\n</style></head><body>\n"
          "<h1>levee-load report</h1>\n<p>Goodput: 2xx/3xx responses that reached the user "
          "within the user's patience. User success: users who completed their whole "
          "journey. The figures are those of the JSON summary and of the end summary on "
          "stdout.</p>\n",
          f);
    load_table(f, runs, n);
    double lat_top = load_latency_top(runs, n);
    for (size_t i = 0; i < n; i++) {
        fputs("<h2>", f);
        load_html_text(f, runs[i].label);
        fputs(" <small>(", f);
        load_html_text(f, runs[i].source);
        fputs(")</small></h2>\n", f);
        load_run_charts(f, &runs[i], lat_top);
    }
    fputs("<h2>Goodput against offered load</h2>\n", f);
    if (n == 1)
        load_goodput_seconds(f, &runs[0]);
    else
        load_goodput_runs(f, runs, n);
    fprintf(f, "<p><small>levee-load %s</small></p>\n</body></html>\n", LV_VERSION);
    return ferror(f) ? LV_EIO : LV_OK;
}
