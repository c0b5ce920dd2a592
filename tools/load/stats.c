/* load/stats.c: per-second and whole-run counters of levee-load and its JSON summary.
 * Owns the per-second array (allocated once at start). Load loop thread only. */
#include "stats.h"

#include <string.h>

#include "core/common.h"

static const char *const load_err_names[LOAD_ERR_COUNT] = {
    "connect_refused", "reset", "timeout", "parse", "client_overloaded", "other", "tls_handshake"};

const char *load_err_name(load_err_t e)
{
    return (unsigned)e < LOAD_ERR_COUNT ? load_err_names[e] : "?";
}

int load_stats_init(load_stats_t *st, uint32_t cap_seconds, double capacity)
{
    memset(st, 0, sizeof(*st));
    st->sec = calloc(cap_seconds ? cap_seconds : 1, sizeof(*st->sec));
    if (!st->sec)
        return LV_ENOMEM;
    st->cap_seconds = cap_seconds ? cap_seconds : 1;
    st->capacity = capacity;
    st->n_seconds = 1;
    st->sec[0].capacity = capacity;
    return LV_OK;
}

void load_stats_fini(load_stats_t *st)
{
    free(st->sec);
    st->sec = NULL;
}

static void load_stats_close_cur(load_stats_t *st)
{
    load_second_t *s = &st->sec[st->cur];
    if (st->cur_closed)
        return;
    static const double qs[4] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++)
        s->lat_us[i] = load_hist_quantile(&st->cur_hist, qs[i]);
    s->lat_us[4] = st->cur_hist.max;
    s->lat_count = st->cur_hist.count;
    load_hist_reset(&st->cur_hist);
}

load_second_t *load_stats_sec(load_stats_t *st, uint32_t idx)
{
    if (idx >= st->cap_seconds)
        idx = st->cap_seconds - 1;
    while (st->cur < idx) {
        load_stats_close_cur(st);
        st->cur++;
        st->cur_closed = 0;
        st->sec[st->cur].capacity = st->capacity;
    }
    if (idx + 1 > st->n_seconds)
        st->n_seconds = idx + 1;
    return &st->sec[idx];
}

void load_stats_close(load_stats_t *st)
{
    load_stats_close_cur(st);
    st->cur_closed = 1;
}

void load_stats_status(load_stats_t *st, uint32_t idx, int code)
{
    load_second_t *s = load_stats_sec(st, idx);
    st->status[code >= 100 && code < LOAD_STATUS_CODES ? code : 0]++;
    for (int i = 0; i < LOAD_SEC_STATUS; i++) {
        if (s->status_n[i] == 0) {
            s->status_code[i] = (uint16_t)code;
            s->status_n[i] = 1;
            return;
        }
        if (s->status_code[i] == code) {
            s->status_n[i]++;
            return;
        }
    }
    s->status_other++;
}

void load_stats_latency(load_stats_t *st, uint32_t idx, uint64_t us)
{
    load_stats_sec(st, idx);
    load_hist_record(&st->total_hist, us);
    /* A late sample for an already closed second goes to the current one. */
    load_hist_record(&st->cur_hist, us);
}

void load_stats_error(load_stats_t *st, uint32_t idx, load_err_t e)
{
    load_stats_sec(st, idx)->c.err[e]++;
    st->total.err[e]++;
}

double load_counts_success(const load_counts_t *c)
{
    uint64_t done = c->users_ok + c->users_failed + c->users_unfinished;
    return done ? (double)c->users_ok / (double)done : -1;
}

double load_stats_run_s(const load_stats_t *st, double duration_s)
{
    return st->n_seconds > duration_s ? (double)st->n_seconds : duration_s;
}

void load_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fputc('\\', f);
        if (ch >= 0x20)
            fputc(ch, f);
    }
    fputc('"', f);
}

static void load_json_num(FILE *f, double v)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

/* Users arrive during the arrival window (secs_offered); requests, retries and answers go on
 * until the last user is done (secs_run), so their rates divide by the whole run. */
static void load_json_counts(FILE *f, const load_counts_t *c, double secs_offered, double secs_run,
                             const char *ind)
{
    double d = secs_run > 0 ? secs_run : 1;
    double d_offered = secs_offered > 0 ? secs_offered : 1;
    uint64_t retries = c->retries_f5 + c->retries_obeyed;
    fprintf(f, "%s\"offered_users\": %llu,\n", ind, (unsigned long long)c->offered);
    fprintf(f, "%s\"offered_users_per_s\": %.6g,\n", ind, (double)c->offered / d_offered);
    fprintf(f, "%s\"requests\": %llu,\n", ind, (unsigned long long)(c->first + retries));
    fprintf(f, "%s\"requests_per_s\": %.6g,\n", ind, (double)(c->first + retries) / d);
    fprintf(f, "%s\"first_tries_per_s\": %.6g,\n", ind, (double)c->first / d);
    fprintf(f, "%s\"retries\": %llu,\n", ind, (unsigned long long)retries);
    fprintf(f, "%s\"retries_per_s\": %.6g,\n", ind, (double)retries / d);
    fprintf(f, "%s\"retries_f5\": %llu,\n", ind, (unsigned long long)c->retries_f5);
    fprintf(f, "%s\"retries_obeyed\": %llu,\n", ind, (unsigned long long)c->retries_obeyed);
    fprintf(f, "%s\"responses\": %llu,\n", ind, (unsigned long long)c->responses);
    fprintf(f, "%s\"goodput\": %llu,\n", ind, (unsigned long long)c->goodput);
    fprintf(f, "%s\"goodput_per_s\": %.6g,\n", ind, (double)c->goodput / d);
    fprintf(f, "%s\"users_ok\": %llu,\n", ind, (unsigned long long)c->users_ok);
    fprintf(f, "%s\"users_failed\": %llu,\n", ind, (unsigned long long)c->users_failed);
    fprintf(f, "%s\"users_unfinished\": %llu,\n", ind, (unsigned long long)c->users_unfinished);
    fprintf(f, "%s\"user_success_rate\": ", ind);
    load_json_num(f, load_counts_success(c));
    fprintf(f, ",\n%s\"errors\": {", ind);
    for (int e = 0; e < LOAD_ERR_COUNT; e++)
        fprintf(f, "%s\"%s\": %llu", e ? ", " : "", load_err_names[e],
                (unsigned long long)c->err[e]);
    fputs("},\n", f);
}

static void load_json_lat(FILE *f, const uint64_t us[5], const char *ind)
{
    fprintf(f,
            "%s\"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
            "\"max\": %.3f}",
            ind, us[0] / 1000.0, us[1] / 1000.0, us[2] / 1000.0, us[3] / 1000.0, us[4] / 1000.0);
}

int load_stats_write_json(const load_stats_t *st, const load_run_meta_t *m, FILE *f)
{
    fputs("{\n", f);
    fprintf(f, "  \"tool\": \"levee-load\",\n  \"version\": \"%s\",\n", LV_VERSION);
    fputs("  \"label\": ", f);
    load_json_str(f, m->label);
    fputs(",\n  \"target\": ", f);
    load_json_str(f, m->target);
    fputs(",\n", f);
    fprintf(f, "  \"seed\": %llu,\n  \"duration_s\": %.6g,\n  \"capacity\": ",
            (unsigned long long)m->seed, m->duration_s);
    load_json_num(f, m->capacity);
    fputs(",\n", f);
    fprintf(f, "  \"schedule_lag_ms_max\": %.3f,\n", st->max_lag_ms);
    double run_s = load_stats_run_s(st, m->duration_s);
    fprintf(f, "  \"run_s\": %.6g,\n", run_s);
    load_json_counts(f, &st->total, m->duration_s, run_s, "  ");
    uint64_t lat[5];
    static const double qs[4] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++)
        lat[i] = load_hist_quantile(&st->total_hist, qs[i]);
    lat[4] = st->total_hist.max;
    load_json_lat(f, lat, "  ");
    fprintf(f, ",\n  \"latency_mean_ms\": %.3f,\n  \"status\": {",
            st->total_hist.count ? st->total_hist.sum / (double)st->total_hist.count / 1000.0 : 0);
    int first = 1;
    for (int code = 0; code < LOAD_STATUS_CODES; code++) {
        if (!st->status[code])
            continue;
        fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", code, (unsigned long long)st->status[code]);
        first = 0;
    }
    fputs("},\n  \"per_second\": [\n", f);
    for (uint32_t i = 0; i < st->n_seconds; i++) {
        const load_second_t *s = &st->sec[i];
        fprintf(f, "    {\n      \"t\": %u,\n", i);
        load_json_counts(f, &s->c, 1.0, 1.0, "      ");
        load_json_lat(f, s->lat_us, "      ");
        fputs(",\n      \"capacity\": ", f);
        load_json_num(f, s->capacity);
        fputs(",\n      \"status\": {", f);
        for (int k = 0; k < LOAD_SEC_STATUS && s->status_n[k]; k++)
            fprintf(f, "%s\"%u\": %u", k ? ", " : "", s->status_code[k], s->status_n[k]);
        if (s->status_other)
            fprintf(f, "%s\"other\": %u", s->status_n[0] ? ", " : "", s->status_other);
        fprintf(f, "}\n    }%s\n", i + 1 < st->n_seconds ? "," : "");
    }
    fputs("  ]\n}\n", f);
    return ferror(f) ? LV_EIO : LV_OK;
}
