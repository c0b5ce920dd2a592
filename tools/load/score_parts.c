/* load/score_parts.c: the resilience score from the battery's phases and levee's /status: each
 * part's points, the figure behind them and what would raise them (docs/score.md). */
#include "score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static const score_phase_t *phase(const score_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_phases; i++)
        if (!strcmp(r->phases[i].name, name))
            return &r->phases[i];
    return NULL;
}

static score_part_t *part(score_result_t *r, const char *name, double max)
{
    score_part_t *p = &r->parts[r->n_parts++];
    memset(p, 0, sizeof *p);
    p->name = name;
    p->max = max;
    return p;
}

/* Goodput kept at a peak, as a share of capacity: full at 95 %, nothing at 50 % or less. */
static void peak_part(score_result_t *r, const char *name, const char *phase_name, double max)
{
    score_part_t *p = part(r, name, max);
    const score_phase_t *ph = phase(r, phase_name);
    if (!ph || r->capacity <= 0) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not measured");
        return;
    }
    double share = ph->goodput_per_s / r->capacity;
    p->points = max * clamp01((share - 0.5) / 0.45);
    snprintf(p->figure, sizeof p->figure, "%.1f %% of capacity", share * 100);
    if (p->points < max)
        snprintf(p->advice, sizeof p->advice,
                 "keep the backend busy with useful work at the peak: the guard on "
                 "(services[].guard) with its adaptive limit and queue");
}

/* Goodput kept under a fault, as a share of what was offered. */
static void fault_part(score_result_t *r, const char *name, const char *phase_name, double max,
                       const char *advice)
{
    score_part_t *p = part(r, name, max);
    const score_phase_t *ph = phase(r, phase_name);
    if (!ph || ph->rate <= 0) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not run");
        snprintf(p->advice, sizeof p->advice, "%s",
                 !strcmp(phase_name, "capacity-drop")
                     ? "needs two hosts or more, and the admin token"
                     : "needs the admin token (--token)");
        return;
    }
    /* With one host of n down, at most (n - 1) / n of the capacity is left to keep. */
    double can = ph->rate;
    if (!strcmp(phase_name, "capacity-drop") && r->n_hosts >= 2 && r->capacity > 0) {
        double left = r->capacity * (double)(r->n_hosts - 1) / (double)r->n_hosts;
        can = left < can ? left : can;
    }
    double kept = ph->goodput_per_s / can;
    p->points = max * clamp01(kept / 0.95);
    snprintf(p->figure, sizeof p->figure, "%.1f %% of what %s", kept * 100,
             can < ph->rate ? "the hosts left could serve" : "was offered");
    if (p->points < max)
        snprintf(p->advice, sizeof p->advice, "%s", advice);
}

static void recovery_part(score_result_t *r, double max)
{
    score_part_t *p = part(r, "stall recovery", max);
    const score_phase_t *st = phase(r, "stall"), *calm = phase(r, "calm");
    if (!st || !calm) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not run");
        snprintf(p->advice, sizeof p->advice, "needs the admin token (--token)");
        return;
    }
    /* The first second after the stall whose goodput is back at 90 % of the calm phase's. */
    double want = 0.9 * calm->goodput_per_s;
    size_t from = (size_t)st->fault_secs;
    double rec = -1;
    for (size_t i = from; i < st->n_sec && (double)i < st->secs; i++)
        if (st->sec_goodput[i] >= want) {
            rec = (double)(i - from);
            break;
        }
    if (rec < 0) {
        snprintf(p->figure, sizeof p->figure, "not back within %.0f s", st->secs - st->fault_secs);
        rec = 1e9;
    } else {
        snprintf(p->figure, sizeof p->figure, "back to 90 %% in %.0f s", rec);
    }
    p->points = max * clamp01((10 - rec) / 9);
    if (p->points < max)
        snprintf(p->advice, sizeof p->advice,
                 "a breaker (services[].breaker.*) and deadlines (services[].deadline_ms) "
                 "keep a stalled backend from holding the queue after it is back");
}

static double status_value(const char *svc, const char *key);

static void users_part(score_result_t *r, const char *svc, double max)
{
    score_part_t *p = part(r, "users under faults", max);
    double good = 0, polite = 0, errors = 0, stale = 0, fallback = 0;
    int n = 0;
    for (size_t i = 0; i < r->n_phases; i++) {
        const score_phase_t *ph = &r->phases[i];
        if (strcmp(ph->name, "stall") && strcmp(ph->name, "error-burst"))
            continue;
        good += ph->good;
        polite += ph->polite;
        errors += ph->errors;
        stale += ph->stale;
        fallback += ph->fallback;
        n++;
    }
    double all = good + polite + errors;
    if (!n || all <= 0) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not run");
        snprintf(p->advice, sizeof p->advice, "needs the admin token (--token)");
        return;
    }
    /* An answer (fresh, stale or the fallback) counts whole, a polite refusal (the wait page,
     * 429/503 with Retry-After) half, an error or a hang nothing. */
    p->points = max * (good + 0.5 * polite) / all;
    snprintf(p->figure, sizeof p->figure, "%.0f %% answered, %.0f %% refused, %.0f %% errors",
             100 * good / all, 100 * polite / all, 100 * errors / all);
    if (p->points < max && status_value(svc, "fallback") > 0 && fallback == 0)
        snprintf(p->advice, sizeof p->advice,
                 "the fallback never answered: the breaker did not open during the faults "
                 "(a shorter services[].breaker.window_ms or a lower error_percent opens it "
                 "sooner)");
    else if (p->points < max)
        snprintf(p->advice, sizeof p->advice,
                 "a fallback (services[].fallback.*) and stale copies "
                 "(services[].cache.serve_stale_ms) answer where errors were (stale %.0f, "
                 "fallback %.0f here)",
                 stale, fallback);
}

static void p99_part(score_result_t *r, double max)
{
    score_part_t *p = part(r, "p99 at the peaks", max);
    const score_phase_t *a = phase(r, "peak-2x"), *b = phase(r, "peak-5x");
    if (!a || !b) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not measured");
        return;
    }
    double p99 = a->p99_ms > b->p99_ms ? a->p99_ms : b->p99_ms;
    p->points = max * clamp01((1000 - p99) / 900);
    snprintf(p->figure, sizeof p->figure, "%.0f ms (worse of 2x and 5x)", p99);
    if (p->points < max)
        snprintf(p->advice, sizeof p->advice,
                 "a shorter queue wait (services[].queue.timeout_ms, target_ms) keeps admitted "
                 "requests fast; users give up after 2 s here");
}

/* A boolean or number member of the service's "resilience" object in /status. */
static double status_value(const char *svc, const char *key)
{
    if (!svc)
        return 0;
    const char *res = strstr(svc, "\"resilience\":{");
    if (!res)
        return 0;
    const char *end = strchr(res, '}');
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *v = strstr(res, k);
    if (!v || (end && v > end))
        return 0;
    v += strlen(k);
    if (!strncmp(v, "true", 4))
        return 1;
    return strtod(v, NULL);
}

static void hygiene_part(score_result_t *r, const char *status, double max)
{
    score_part_t *p = part(r, "configuration", max);
    char key[96];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", r->service);
    const char *svc = status ? strstr(status, key) : NULL;
    if (!svc || !strstr(svc, "\"resilience\":{")) {
        p->max = 0;
        snprintf(p->figure, sizeof p->figure, "not in /status");
        return;
    }
    static const struct {
        const char *key, *label, *advice;
    } items[] = {
        {"breaker", "breaker", "services[].breaker.error_percent below 100"},
        {"fallback", "fallback", "services[].fallback.body, .file or .redirect"},
        {"criticality", "criticality", "routes[].criticality apart from the service's"},
        {"deadline_ms", "deadline", "services[].deadline_ms"},
        {"serve_stale_ms", "stale serving", "cache.size and services[].cache.serve_stale_ms"},
    };
    size_t n = sizeof items / sizeof items[0], have = 0;
    char missing[200] = "";
    for (size_t i = 0; i < n; i++) {
        if (status_value(svc, items[i].key) > 0) {
            have++;
        } else {
            size_t len = strlen(missing);
            snprintf(missing + len, sizeof missing - len, "%s%s", len ? "; " : "set ",
                     items[i].advice);
        }
    }
    if (!status_value(svc, "guard"))
        have = 0;
    p->points = max * (double)have / (double)n;
    snprintf(p->figure, sizeof p->figure, "%zu of %zu in place%s", have, n,
             status_value(svc, "guard") ? "" : " (guard off)");
    snprintf(p->advice, sizeof p->advice, "%s", missing);
}

void score_compute(score_result_t *r, const char *status_json)
{
    r->n_parts = 0;
    peak_part(r, "goodput at 2x", "peak-2x", 15);
    peak_part(r, "goodput at 5x", "peak-5x", 15);
    p99_part(r, 10);
    recovery_part(r, 15);
    char key[96];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", r->service);
    users_part(r, status_json ? strstr(status_json, key) : NULL, 15);
    fault_part(r, "added latency", "latency", 5,
               "a limit that follows the round trip keeps slow responses from piling up");
    fault_part(r, "capacity drop", "capacity-drop", 5,
               "outlier ejection (services[].outlier.*) and health checks take a dead host out");
    hygiene_part(r, status_json, 20);
    double got = 0, max = 0;
    for (size_t i = 0; i < r->n_parts; i++) {
        got += r->parts[i].points;
        max += r->parts[i].max;
    }
    r->score = max > 0 ? 100 * got / max : 0;
}
