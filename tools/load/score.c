/* load/score.c: `levee-load score`: the battery (probe, calm, 2x and 5x peaks, latency, a host
 * down, a stall, an error burst) phase by phase, faults posted to levee's admin API. */
#include "score.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_client.h"
#include "args.h"
#include "core/common.h"
#include "core/nofile.h"
#include "engine.h"
#include "history.h"
#include "history_cmd.h"
#include "scenario.h"
#include "stats.h"

#define SCORE_ADMIN_TIMEOUT_MS 5000

typedef struct score_opts {
    load_target_t target, admin;
    const char *token, *service, *json, *html, *history, *region;
    const char *tls_ca; /* https target: verify against this CA file (NULL: the system's) */
    double capacity;    /* < 0: measure it */
    bool is_short, quiet, tls_insecure;
    uint64_t seed;
} score_opts_t;

typedef struct score_ctx {
    const score_opts_t *o;
    score_result_t *r;
    unsigned phase_no, n_planned;
    char err[320];
} score_ctx_t;

static void score_usage(FILE *f)
{
    fputs("usage: levee-load score --target URL --admin URL [--service NAME] [--token T]\n"
          "                        [--short] [--capacity N] [--json FILE] [--html FILE]\n"
          "                        [--tls-ca FILE] [--tls-insecure]\n"
          "\n"
          "Runs a standard battery against a running levee and its backend and prints a\n"
          "0-100 resilience score with its breakdown (docs/score.md):\n"
          "a capacity probe (unless --capacity), a calm baseline at 0.5x, peaks at 2x and\n"
          "5x with F5 users, 200 ms added latency, half the hosts down, a stall (blackhole)\n"
          "and an error burst (half the requests answered 500), the last four through\n"
          "levee's fault API (POST /faults, so --token is needed for them), plus the\n"
          "configuration read from /status.\n"
          "\n"
          "  --target URL     where users go (http[s]://IPv4-or-localhost[:port][/path])\n"
          "  --admin URL      levee's admin listener, plain http (http://127.0.0.1:9901)\n"
          "  --tls-ca FILE    https target: verify against the CA certificates in FILE\n"
          "  --tls-insecure   https target: do not verify the certificate (self-signed)\n"
          "  --service NAME   the service the target reaches (default: the first in /status)\n"
          "  --token T        admin token for the faults (or LEVEE_ADMIN_TOKEN)\n"
          "  --short          a shorter battery (about 1 minute instead of 2)\n"
          "  --capacity N     the backend's capacity in requests/s (skips the probe)\n"
          "  --seed N         random seed of the users, default 1\n"
          "  --json FILE      the result as JSON;  --html FILE  a page with plots\n"
          "  --history FILE   record the score and its parts in this SQLite history\n"
          "                   (default $LEVEE_LOAD_HISTORY, if set; see levee-load history)\n"
          "  --region NAME    the region the score is labelled with in the history\n"
          "  --quiet          no progress lines\n"
          "Exit: 0 done, 1 the battery could not run, 2 bad usage.\n",
          f);
}

static void progress(score_ctx_t *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(score_ctx_t *cx, const char *fmt, ...)
{
    if (cx->o->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* GET path on the admin listener into *out (200 only). */
static int admin_get(score_ctx_t *cx, const char *path, load_admin_resp_t *out)
{
    if (load_admin_request(&cx->o->admin, "GET", path, NULL, NULL, SCORE_ADMIN_TIMEOUT_MS, out,
                           cx->err, sizeof cx->err) != 0)
        return -1;
    if (out->status != 200) {
        snprintf(cx->err, sizeof cx->err, "admin: GET %s answered %d", path, out->status);
        free(out->body);
        out->body = NULL;
        return -1;
    }
    return 0;
}

/* The levee-side counters a phase reports as deltas. */
typedef struct levee_counts {
    double stale, fallback, wait_pages;
} levee_counts_t;

static void read_levee_counts(score_ctx_t *cx, levee_counts_t *c)
{
    memset(c, 0, sizeof *c);
    load_admin_resp_t m;
    if (admin_get(cx, "/metrics", &m) != 0)
        return;
    char p[160];
    c->stale = load_metrics_sum(m.body, "levee_cache_requests_total{result=\"stale_error\"}") +
               load_metrics_sum(m.body, "levee_cache_requests_total{result=\"stale_refused\"}");
    snprintf(p, sizeof p, "levee_guard_decisions_total{service=\"%s\",decision=\"fallback\"}",
             cx->r->service);
    c->fallback = load_metrics_sum(m.body, p);
    snprintf(p, sizeof p, "levee_guard_wait_pages_total{service=\"%s\"}", cx->r->service);
    c->wait_pages = load_metrics_sum(m.body, p);
    free(m.body);
}

/* Posts a fault (JSON members without braces, the service added); returns its id or 0. */
static unsigned long long post_fault(score_ctx_t *cx, const char *members)
{
    char body[320];
    snprintf(body, sizeof body, "{\"service\":\"%s\",%s}", cx->r->service, members);
    load_admin_resp_t resp;
    if (load_admin_request(&cx->o->admin, "POST", "/faults", cx->o->token, body,
                           SCORE_ADMIN_TIMEOUT_MS, &resp, cx->err, sizeof cx->err) != 0)
        return 0;
    unsigned long long id = 0;
    const char *p = resp.status == 201 && resp.body ? strstr(resp.body, "\"id\":") : NULL;
    if (p)
        id = strtoull(p + 5, NULL, 10);
    else
        snprintf(cx->err, sizeof cx->err, "POST /faults answered %d: %.120s", resp.status,
                 resp.body ? resp.body : "");
    free(resp.body);
    return id;
}

static void delete_fault(score_ctx_t *cx, unsigned long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/faults/%llu", id);
    load_admin_resp_t resp;
    if (load_admin_request(&cx->o->admin, "DELETE", path, cx->o->token, NULL,
                           SCORE_ADMIN_TIMEOUT_MS, &resp, cx->err, sizeof cx->err) == 0)
        free(resp.body);
}

/* Between phases: wait until levee's guard for the service is calm again (breaker closed, no
 * queue), at most max_s, so that one phase's aftermath is not the next one's start. */
static void settle(score_ctx_t *cx, double max_s)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    for (double waited = 0; waited < max_s; waited += 0.2) {
        load_admin_resp_t st;
        if (admin_get(cx, "/status", &st) != 0)
            return;
        char key[96];
        snprintf(key, sizeof key, "{\"name\":\"%s\"", cx->r->service);
        const char *s = strstr(st.body, key);
        bool calm = !s || (strstr(s, "\"breaker\":\"closed\"") && strstr(s, "\"queue_len\":0"));
        free(st.body);
        if (calm && waited >= 0.4)
            return;
        nanosleep(&pause, NULL);
    }
}

/* Runs one plateau of `rate` users/s for secs (+ drain) and fills ph. A fault, when given, is
 * posted just before the users start and ends by itself after fault_secs. */
static int run_phase(score_ctx_t *cx, const char *name, double rate, double secs, double drain,
                     const char *fault_members, double fault_secs)
{
    score_result_t *r = cx->r;
    if (r->n_phases == SCORE_MAX_PHASES)
        return -1;
    score_phase_t *ph = &r->phases[r->n_phases];
    memset(ph, 0, sizeof *ph);
    snprintf(ph->name, sizeof ph->name, "%s", name);
    ph->rate = rate;
    ph->secs = secs;
    ph->fault_secs = fault_secs;
    progress(cx, "levee-load score: [%u] %s: %.0f users/s for %.0f s%s%s", ++cx->phase_no, name,
             rate, secs, fault_members ? ", fault " : "", fault_members ? fault_members : "");

    static load_scenario_t sc;
    load_scenario_defaults(&sc);
    sc.target = cx->o->target;
    sc.tls_insecure = cx->o->tls_insecure; /* every phase's users speak TLS as the flags say */
    if (cx->o->tls_ca)
        snprintf(sc.tls_ca, sizeof sc.tls_ca, "%s", cx->o->tls_ca);
    snprintf(sc.label, sizeof sc.label, "%s", name);
    sc.duration_s = secs;
    sc.drain_s = drain;
    sc.seed = cx->o->seed + r->n_phases;
    sc.capacity = r->capacity;
    sc.users.patience_ms = load_dist_fixed(2000);
    sc.users.f5_prob = 0.5;
    sc.users.max_tries = 3;
    sc.users.obey_retry_after = 0.5;
    load_profile_init(&sc.profile);
    load_profile_plateau(&sc.profile, rate, secs);
    char err[200];
    if (load_scenario_finish(&sc, err, sizeof err) != 0) {
        snprintf(cx->err, sizeof cx->err, "%.31s: %s", name, err);
        return -1;
    }
    load_stats_t st;
    if (load_stats_init(&st, (uint32_t)ceil(secs + drain) + 3, r->capacity) != 0) {
        snprintf(cx->err, sizeof cx->err, "out of memory");
        return -1;
    }
    levee_counts_t before, after;
    read_levee_counts(cx, &before);
    unsigned long long fid = 0;
    if (fault_members) {
        snprintf(ph->fault, sizeof ph->fault, "{%s}", fault_members);
        if (!(fid = post_fault(cx, fault_members))) {
            load_stats_fini(&st);
            return -1;
        }
    }
    int rc = load_engine_run(&sc, &st, 0);
    if (fid)
        delete_fault(cx, fid); /* ended by itself by now; a DELETE makes sure */
    read_levee_counts(cx, &after);
    if (rc != 0) {
        snprintf(cx->err, sizeof cx->err, "%s: the load engine failed (%d)", name, rc);
        load_stats_fini(&st);
        return -1;
    }
    const load_counts_t *c = &st.total;
    ph->offered = (double)c->offered;
    ph->requests = (double)(c->first + c->retries_f5 + c->retries_obeyed);
    ph->good = (double)c->goodput;
    ph->polite = (double)(st.status[429] + st.status[503]);
    double bad_status = 0;
    for (int code = 400; code < LOAD_STATUS_CODES; code++)
        if (code != 429 && code != 503)
            bad_status += (double)st.status[code];
    double sock = 0;
    for (int e = 0; e < LOAD_ERR_COUNT; e++)
        if (e != LOAD_ERR_OVERLOADED)
            sock += (double)c->err[e];
    ph->errors = bad_status + sock;
    ph->p99_ms = (double)load_hist_quantile(&st.total_hist, 0.99) / 1000.0;
    ph->n_sec = LV_MIN((size_t)st.n_seconds, (size_t)SCORE_MAX_SECONDS);
    double sum = 0;
    unsigned n = 0;
    for (size_t i = 0; i < ph->n_sec; i++) {
        ph->sec_goodput[i] = (double)st.sec[i].c.goodput;
        ph->sec_offered[i] = (double)st.sec[i].c.offered;
        /* Steady state: the arrival window without its first second (the ramp-in). */
        if (i >= 1 && (double)i < secs) {
            sum += ph->sec_goodput[i];
            n++;
        }
    }
    ph->goodput_per_s = n ? sum / n : (ph->n_sec ? ph->sec_goodput[0] : 0);
    ph->stale = after.stale - before.stale;
    ph->fallback = after.fallback - before.fallback;
    ph->wait_pages = after.wait_pages - before.wait_pages;
    load_stats_fini(&st);
    r->n_phases++;
    progress(cx, "  goodput %.1f/s, p99 %.1f ms, good %.0f, refused %.0f, errors %.0f%s",
             ph->goodput_per_s, ph->p99_ms, ph->good, ph->polite, ph->errors,
             ph->stale + ph->fallback > 0 ? " (stale and fallback answers included)" : "");
    return 0;
}

/* The median goodput of a phase's steady seconds (the arrival window without its first). */
static double median_goodput(const score_phase_t *ph)
{
    double v[SCORE_MAX_SECONDS];
    size_t n = 0;
    for (size_t i = 1; i < ph->n_sec && (double)i < ph->secs; i++)
        v[n++] = ph->sec_goodput[i];
    for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen values */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : ph->goodput_per_s;
}

/* The capacity as levee lets it through: rates double until goodput falls behind (below 85 %
 * of the rate), then a longer step at twice that rate saturates it; the capacity is the median
 * goodput per second of that step, or the best step before if it was higher (a proxy that
 * collapses under overload). */
static int probe_capacity(score_ctx_t *cx)
{
    double step = cx->o->is_short ? 2 : 3, best = 0, sat = 0;
    for (double rate = cx->o->is_short ? 100 : 50; rate <= 51200; rate *= 2) {
        char name[32];
        snprintf(name, sizeof name, "probe-%.0f", rate);
        if (run_phase(cx, name, rate, step, 1, NULL, 0) != 0)
            return -1;
        const score_phase_t *ph = &cx->r->phases[cx->r->n_phases - 1];
        best = LV_MAX(best, ph->goodput_per_s);
        settle(cx, 3);
        if (ph->goodput_per_s < 0.85 * rate) {
            sat = 2 * rate;
            break;
        }
    }
    if (sat > 0) {
        if (run_phase(cx, "probe-saturated", sat, cx->o->is_short ? 4 : 8, 1, NULL, 0) != 0)
            return -1;
        best = LV_MAX(best, median_goodput(&cx->r->phases[cx->r->n_phases - 1]));
    }
    if (best < 1) {
        snprintf(cx->err, sizeof cx->err, "the probe saw no goodput: is the target up?");
        return -1;
    }
    cx->r->capacity = cx->r->probe_capacity = best;
    cx->r->capacity_measured = true;
    progress(cx, "levee-load score: capacity %.0f requests/s (measured)", best);
    return 0;
}

/* The service to score and its host count, from /status. */
static int read_status(score_ctx_t *cx, char **status, size_t *n_hosts)
{
    load_admin_resp_t st;
    if (admin_get(cx, "/status", &st) != 0)
        return -1;
    const char *s = strstr(st.body, "\"services\":[{\"name\":\"");
    if (!cx->o->service && s) {
        s += strlen("\"services\":[{\"name\":\"");
        size_t len = strcspn(s, "\"");
        snprintf(cx->r->service, sizeof cx->r->service, "%.*s", (int)LV_MIN(len, 64u), s);
    } else if (cx->o->service) {
        snprintf(cx->r->service, sizeof cx->r->service, "%s", cx->o->service);
    }
    char key[96];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", cx->r->service);
    const char *svc = cx->r->service[0] ? strstr(st.body, key) : NULL;
    if (!svc) {
        snprintf(cx->err, sizeof cx->err, "service %s is not in levee's /status",
                 cx->r->service[0] ? cx->r->service : "(none)");
        free(st.body);
        return -1;
    }
    *n_hosts = 0;
    const char *up = strstr(svc, "\"upstreams\":[");
    if (up) {
        for (const char *p = up + 13; *p && *p != ']'; p++)
            *n_hosts += *p == ',';
        *n_hosts += up[13] != ']';
    }
    *status = st.body;
    return 0;
}

/* "host":"ADDR" of the service's first upstream, for the capacity drop. */
static bool first_host(const char *status, const char *service, char *out, size_t cap)
{
    char key[96];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", service);
    const char *s = strstr(status, key);
    const char *up = s ? strstr(s, "\"upstreams\":[\"") : NULL;
    if (!up)
        return false;
    up += strlen("\"upstreams\":[\"");
    size_t len = strcspn(up, "\"");
    if (len == 0 || len >= cap)
        return false;
    memcpy(out, up, len);
    out[len] = '\0';
    return true;
}

static int run_battery(score_ctx_t *cx, const char *status, size_t n_hosts)
{
    score_result_t *r = cx->r;
    bool sh = cx->o->is_short;
    double settle_s = sh ? 6 : 10;
    if (r->capacity < 0 && probe_capacity(cx) != 0)
        return -1;
    double c = r->capacity;
    char f[160];
    settle(cx, settle_s);
    if (run_phase(cx, "calm", 0.5 * c, sh ? 4 : 10, 2, NULL, 0) != 0)
        return -1;
    settle(cx, settle_s);
    if (run_phase(cx, "peak-2x", 2 * c, sh ? 5 : 15, 2, NULL, 0) != 0)
        return -1;
    settle(cx, settle_s);
    if (run_phase(cx, "peak-5x", 5 * c, sh ? 5 : 15, 2, NULL, 0) != 0)
        return -1;
    if (!cx->o->token) {
        progress(cx, "levee-load score: no --token: the fault phases are left out");
        return 0;
    }
    double fs = sh ? 4 : 10;
    settle(cx, settle_s);
    snprintf(f, sizeof f, "\"kind\":\"latency\",\"ms\":200,\"duration_ms\":%.0f", fs * 1000);
    if (run_phase(cx, "latency", 0.5 * c, fs, 2, f, fs) != 0)
        return -1;
    char host[64];
    if (n_hosts >= 2 && first_host(status, r->service, host, sizeof host)) {
        settle(cx, settle_s);
        snprintf(f, sizeof f, "\"kind\":\"host_down\",\"host\":\"%s\",\"duration_ms\":%.0f", host,
                 fs * 1000);
        if (run_phase(cx, "capacity-drop", 0.8 * c, fs, 2, f, fs) != 0)
            return -1;
    }
    double stall = sh ? 3 : 10;
    settle(cx, settle_s);
    snprintf(f, sizeof f, "\"kind\":\"blackhole\",\"duration_ms\":%.0f", stall * 1000);
    if (run_phase(cx, "stall", 0.5 * c, stall + (sh ? 6 : 10), 2, f, stall) != 0)
        return -1;
    settle(cx, settle_s);
    snprintf(f, sizeof f, "\"kind\":\"abort\",\"status\":500,\"share\":0.5,\"duration_ms\":%.0f",
             fs * 1000);
    return run_phase(cx, "error-burst", 0.5 * c, fs, 2, f, fs);
}

static int write_out(const char *path, const score_result_t *r,
                     int (*fn)(FILE *, const score_result_t *))
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "levee-load score: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = fn(f, r);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "levee-load score: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* The score as one run of kind "score" in the history, its parts under the service. */
static int record_history(load_history_t *h, const score_opts_t *o, const score_result_t *r,
                          int64_t started)
{
    char when[32];
    load_history_utc(started, when, sizeof when);
    const score_phase_t *peak = NULL;
    double errors = 0, p99 = -1;
    for (size_t i = 0; i < r->n_phases; i++) {
        const score_phase_t *ph = &r->phases[i];
        errors += ph->errors;
        if (!strncmp(ph->name, "peak-", 5)) {
            peak = ph; /* the last peak: 5x */
            p99 = LV_MAX(p99, ph->p99_ms);
        }
    }
    load_history_run_t run = {
        .kind = LOAD_HISTORY_SCORE,
        .scenario = o->is_short ? "score-short" : "score",
        .target = r->target,
        .region = o->region,
        .started_at = when,
        .duration_s = r->duration_s,
        .run_s = r->duration_s,
        .offered_per_s = peak ? peak->rate : -1,
        .goodput_per_s = peak ? peak->goodput_per_s : -1,
        .goodput_share = peak && r->capacity > 0 ? peak->goodput_per_s / r->capacity : -1,
        .user_success = -1,
        .p99_ms = p99,
        .errors = (uint64_t)errors,
        .score = r->score,
        .score_max = 100,
    };
    load_history_part_t parts[12];
    size_t n = 0;
    for (size_t i = 0; i < r->n_parts && n < LV_ARRAY_LEN(parts); i++)
        if (r->parts[i].max > 0)
            parts[n++] = (load_history_part_t){r->service, r->parts[i].name, r->parts[i].points,
                                               r->parts[i].max};
    if (load_history_record(h, &run, parts, n) <= 0) {
        fprintf(stderr, "levee-load score: --history: %s\n", load_history_error(h));
        return -1;
    }
    return 0;
}

static void print_result(const score_result_t *r)
{
    printf("levee-load score: %s (service %s), capacity %.0f/s (%s)\n", r->target, r->service,
           r->capacity, r->capacity_measured ? "measured" : "given");
    printf("  %-22s %8s  %-30s %s\n", "part", "points", "figure", "what would raise it");
    for (size_t i = 0; i < r->n_parts; i++) {
        const score_part_t *p = &r->parts[i];
        if (p->max > 0)
            printf("  %-22s %4.1f/%-3.0f  %-30s %s\n", p->name, p->points, p->max, p->figure,
                   p->advice);
        else
            printf("  %-22s %8s  %-30s %s\n", p->name, "n/a", p->figure, p->advice);
    }
    printf("  score %.0f / 100 (battery %.0f s)\n", r->score, r->duration_s);
}

int load_cmd_score(int argc, char **argv)
{
    score_opts_t o = {.capacity = -1, .seed = 1};
    const char *target = NULL, *admin = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            score_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--short")) {
            o.is_short = true;
            continue;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = true;
            continue;
        } else if (!strcmp(a, "--tls-insecure")) {
            o.tls_insecure = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "levee-load score: %s: unknown flag or missing value (see --help)\n",
                    a);
            return 2;
        } else if (!strcmp(a, "--target")) {
            target = v;
        } else if (!strcmp(a, "--admin")) {
            admin = v;
        } else if (!strcmp(a, "--service")) {
            o.service = v;
        } else if (!strcmp(a, "--tls-ca")) {
            o.tls_ca = v;
        } else if (!strcmp(a, "--token")) {
            o.token = v;
        } else if (!strcmp(a, "--json")) {
            o.json = v;
        } else if (!strcmp(a, "--html")) {
            o.html = v;
        } else if (!strcmp(a, "--history")) {
            o.history = v;
        } else if (!strcmp(a, "--region")) {
            o.region = v;
        } else if (!strcmp(a, "--capacity")) {
            if (load_num_arg("levee-load score", a, v, 1, 1e7, &o.capacity) != 0)
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (load_num_arg("levee-load score", a, v, 0, 9007199254740992.0, &d) != 0)
                return 2;
            o.seed = (uint64_t)d;
        } else {
            fprintf(stderr, "levee-load score: %s: unknown flag (see --help)\n", a);
            return 2;
        }
        i++;
    }
    if (!target || !admin) {
        score_usage(stderr);
        return 2;
    }
    if (load_target_parse(&o.target, target) != 0) {
        fprintf(stderr, "levee-load score: --target: expected "
                        "http[s]://IPv4-or-localhost[:port][/path]\n");
        return 2;
    }
    if (load_target_parse(&o.admin, admin) != 0) {
        fprintf(stderr, "levee-load score: --admin: expected http://IPv4-or-localhost[:port]\n");
        return 2;
    }
    if (o.admin.tls) {
        fprintf(stderr, "levee-load score: --admin: levee's admin listener speaks plain http "
                        "(http://...)\n");
        return 2;
    }
    char tls_err[LOAD_PATH_MAX + 128];
    if (o.tls_ca && strlen(o.tls_ca) >= LOAD_PATH_MAX) {
        fprintf(stderr, "levee-load score: --tls-ca: path too long\n");
        return 2;
    }
    if (load_tls_check(&o.target, o.tls_ca, o.tls_insecure, "--tls-ca", "--tls-insecure", tls_err,
                       sizeof tls_err) != 0) {
        fprintf(stderr, "levee-load score: %s\n", tls_err);
        return 2;
    }
    if (o.service && (strlen(o.service) > 64 || strpbrk(o.service, "\"\\{}"))) {
        fprintf(stderr, "levee-load score: --service: a service name of levee's config\n");
        return 2;
    }
    /* Opened first, so that a history that cannot be written costs no battery. */
    load_history_t *hist = NULL;
    const char *hpath = load_history_path(o.history);
    if (hpath) {
        char herr[512];
        if (!(hist = load_history_open(hpath, herr, sizeof herr))) {
            fprintf(stderr, "levee-load score: --history: %s\n", herr);
            return 1;
        }
    }
    if (!o.token)
        o.token = getenv("LEVEE_ADMIN_TOKEN");
    if (o.token && !*o.token)
        o.token = NULL;
    lv_raise_nofile();

    score_result_t *r = lv_xcalloc(1, sizeof *r);
    snprintf(r->target, sizeof r->target, "%s", o.target.url);
    r->capacity = o.capacity;
    r->probe_capacity = -1;
    score_ctx_t cx = {.o = &o, .r = r};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t started = (int64_t)time(NULL);
    char *status = NULL;
    size_t n_hosts = 0;
    int rc = read_status(&cx, &status, &n_hosts);
    if (rc == 0)
        rc = run_battery(&cx, status, n_hosts);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->duration_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc != 0) {
        fprintf(stderr, "levee-load score: %s\n", cx.err);
        free(status);
        free(r);
        load_history_close(hist);
        return 1;
    }
    /* The configuration as it is after the battery (a reload meanwhile is the operator's). */
    free(status);
    status = NULL;
    if (read_status(&cx, &status, &n_hosts) != 0)
        status = NULL;
    r->n_hosts = n_hosts;
    /* A measured capacity is the best steady goodput the service showed, in the probe or at a
     * peak: a probe step that caught the limit still learning would otherwise score the peaks
     * above 100 % one run and below the next (three --short runs: capacity 160-202/s). */
    for (size_t i = 0; r->capacity_measured && i < r->n_phases; i++)
        if (!strncmp(r->phases[i].name, "peak-", 5))
            r->capacity = LV_MAX(r->capacity, r->phases[i].goodput_per_s);
    score_compute(r, status);
    free(status);
    print_result(r);
    int out = 0;
    if (o.json && write_out(o.json, r, score_write_json) != 0)
        out = 1;
    if (o.html && write_out(o.html, r, score_write_html) != 0)
        out = 1;
    if (hist && record_history(hist, &o, r, started) != 0)
        out = 1;
    else if (hist)
        printf("  history: %s\n", hpath);
    load_history_close(hist);
    free(r);
    return out;
}
