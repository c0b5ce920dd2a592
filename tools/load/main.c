/* load/main.c: levee-load's command line: quick flags or a scenario file, the run, the end
 * summary, the JSON and HTML outputs, the record in the history, and the dispatch to the
 * `report`, `score`, `history` and `schedule` subcommands. Process setup only; the run itself is
 * engine.c on this (the only) thread. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "core/nofile.h"
#include "args.h"
#include "engine.h"
#include "history_cmd.h"
#include "report.h"
#include "scenario.h"
#include "score.h"
#include "schedule.h"
#include "stats.h"

#define LOAD_ERRBUF 8192

static void load_usage(FILE *f)
{
    fputs("usage: levee-load [SCENARIO.yaml] [flags]\n"
          "       levee-load report --out FILE.html RUN.json [RUN.json ...]\n"
          "       levee-load score --target URL --admin URL [...]   (see score --help)\n"
          "       levee-load history [--db FILE] [flags]    (levee-load history --help)\n"
          "       levee-load schedule FILE [--once] [--dry-run]  (levee-load schedule --help)\n"
          "\n"
          "Open-loop load that behaves like people: users arrive as a Poisson process\n"
          "following a rate profile, run a journey with a patience, press F5 and may obey\n"
          "Retry-After. Reports goodput (2xx/3xx within patience) and user success.\n"
          "\n"
          "  --scenario FILE       scenario file (YAML; see docs/levee-load.md)\n"
          "  --target URL          http[s]://IPv4-or-localhost[:port][/path]\n"
          "  --tls-insecure        https: do not verify the certificate (self-signed tests)\n"
          "  --tls-ca FILE         https: verify against the CA certificates in FILE\n"
          "  --rate R              users per second, constant (replaces the profile)\n"
          "  --duration S          arrival window in seconds\n"
          "  --patience-ms P       patience of every user (fixed), default 2000\n"
          "  --f5 PROB             probability to press F5 after a failure, default 0\n"
          "  --max-tries N         attempts per step, default 3\n"
          "  --obey-retry-after F  fraction of users who obey Retry-After, default 0\n"
          "  --journey P1,P2,...   paths each user fetches in turn, default the URL's path\n"
          "  --capacity N          backend capacity (requests/s) drawn in the report\n"
          "  --label NAME          name of the run in reports\n"
          "  --seed N              random seed, default 1\n"
          "  --max-conns N         open users (connections) at most, default 10000\n"
          "  --users-per-address N consecutive users that share one source address\n"
          "                        (loopback targets), default 1\n"
          "  --drain S             after the window, wait at most S s for users in flight\n"
          "  --json FILE           write the JSON summary\n"
          "  --html FILE           write the HTML report\n"
          "  --history FILE        record the run in this SQLite history (created if\n"
          "                        missing; default $LEVEE_LOAD_HISTORY, if set)\n"
          "  --region NAME         the region the run is labelled with in the history\n"
          "  --quiet               no progress line\n"
          "  --help, --version\n"
          "Exit: 0 done, 1 run failed (or its JSON, HTML or history record could not be\n"
          "written), 2 bad usage or scenario.\n",
          f);
}

static int load_write_html(const char *path, const load_run_t *runs, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "levee-load: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = load_report_html(f, runs, n);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "levee-load: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

static int load_cmd_report(int argc, char **argv)
{
    const char *out = NULL;
    const char *inputs[256];
    size_t n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "levee-load report: unknown flag %s\n", argv[i]);
            return 2;
        } else if (n < LV_ARRAY_LEN(inputs)) {
            inputs[n++] = argv[i];
        }
    }
    if (!out || n == 0) {
        fprintf(stderr, "usage: levee-load report --out FILE.html RUN.json [RUN.json ...]\n");
        return 2;
    }
    load_run_t *runs = lv_xcalloc(n, sizeof(*runs));
    int rc = 0;
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (load_run_from_json(&runs[i], inputs[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "levee-load report: %s\n", err);
            rc = 2;
        }
    }
    if (rc == 0)
        rc = load_write_html(out, runs, n) ? 1 : 0;
    if (rc == 0)
        printf("report: %s (%zu runs)\n", out, n);
    for (size_t i = 0; i < n; i++)
        load_run_free(&runs[i]);
    free(runs);
    return rc;
}

static void load_print_summary(const load_stats_t *st, const load_run_meta_t *m)
{
    const load_counts_t *c = &st->total;
    /* Arrivals span the window; requests and answers go on until the last user is done. */
    double d = load_stats_run_s(st, m->duration_s);
    double ok = load_counts_success(c);
    printf("levee-load %s: %s, arrivals for %.1f s, run %.1f s\n", m->label, m->target,
           m->duration_s, d);
    printf("  offered users   %llu (%.1f/s)\n", (unsigned long long)c->offered,
           (double)c->offered / (m->duration_s > 0 ? m->duration_s : 1));
    printf("  requests        %llu (%.1f/s): first tries %llu, F5 retries %llu, obeyed "
           "Retry-After %llu\n",
           (unsigned long long)(c->first + c->retries_f5 + c->retries_obeyed),
           (double)(c->first + c->retries_f5 + c->retries_obeyed) / d, (unsigned long long)c->first,
           (unsigned long long)c->retries_f5, (unsigned long long)c->retries_obeyed);
    printf("  goodput         %llu (%.1f/s)%s", (unsigned long long)c->goodput,
           (double)c->goodput / d, m->capacity >= 0 ? "" : "\n");
    if (m->capacity >= 0)
        printf(", capacity %.0f/s\n", m->capacity);
    printf("  user success    %.1f %% (ok %llu, failed %llu, unfinished %llu)\n",
           ok < 0 ? 0 : ok * 100, (unsigned long long)c->users_ok,
           (unsigned long long)c->users_failed, (unsigned long long)c->users_unfinished);
    printf("  latency (2xx/3xx) p50 %.2f ms  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
           load_hist_quantile(&st->total_hist, 0.5) / 1000.0,
           load_hist_quantile(&st->total_hist, 0.9) / 1000.0,
           load_hist_quantile(&st->total_hist, 0.99) / 1000.0,
           load_hist_quantile(&st->total_hist, 0.999) / 1000.0, st->total_hist.max / 1000.0);
    printf("  status         ");
    for (int code = 0; code < LOAD_STATUS_CODES; code++)
        if (st->status[code])
            printf(" %d:%llu", code, (unsigned long long)st->status[code]);
    printf("\n  errors         ");
    for (int e = 0; e < LOAD_ERR_COUNT; e++)
        printf(" %s:%llu", load_err_name((load_err_t)e), (unsigned long long)c->err[e]);
    printf("\n  schedule lag max %.1f ms\n", st->max_lag_ms);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return load_cmd_report(argc, argv);
    if (argc > 1 && strcmp(argv[1], "score") == 0)
        return load_cmd_score(argc, argv);
    if (argc > 1 && strcmp(argv[1], "history") == 0)
        return load_cmd_history(argc, argv);
    if (argc > 1 && strcmp(argv[1], "schedule") == 0)
        return load_cmd_schedule(argc, argv);

    static load_scenario_t sc;
    load_scenario_defaults(&sc);
    const char *scenario = NULL, *json = NULL, *html = NULL;
    const char *target = NULL, *label = NULL, *journey = NULL;
    const char *history = NULL, *region = NULL, *tls_ca = NULL;
    int tls_insecure = 0;
    double rate = -1, duration = -1, patience = -1, f5 = -1, tries = -1, obey = -1;
    double capacity = -1, seed = -1, max_conns = -1, drain = -1, per_addr = -1;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            load_usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("levee-load %s\n", LV_VERSION);
            return 0;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            takes = 0;
        } else if (strcmp(a, "--tls-insecure") == 0) {
            tls_insecure = 1;
            takes = 0;
        } else if (a[0] != '-' && !scenario) {
            scenario = a;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "levee-load: %s: unknown flag or missing value (see --help)\n", a);
            return 2;
        } else if (strcmp(a, "--scenario") == 0) {
            scenario = v;
        } else if (strcmp(a, "--target") == 0) {
            target = v;
        } else if (strcmp(a, "--tls-ca") == 0) {
            tls_ca = v;
        } else if (strcmp(a, "--json") == 0) {
            json = v;
        } else if (strcmp(a, "--html") == 0) {
            html = v;
        } else if (strcmp(a, "--label") == 0) {
            label = v;
        } else if (strcmp(a, "--history") == 0) {
            history = v;
        } else if (strcmp(a, "--region") == 0) {
            region = v;
        } else if (strcmp(a, "--journey") == 0) {
            journey = v;
        } else if (strcmp(a, "--rate") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 1e7, &rate);
        } else if (strcmp(a, "--duration") == 0) {
            rc = load_num_arg("levee-load", a, v, 0.001, 86400, &duration);
        } else if (strcmp(a, "--patience-ms") == 0) {
            rc = load_num_arg("levee-load", a, v, 1, 86400000, &patience);
        } else if (strcmp(a, "--f5") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 1, &f5);
        } else if (strcmp(a, "--max-tries") == 0) {
            rc = load_num_arg("levee-load", a, v, 1, 100, &tries);
        } else if (strcmp(a, "--obey-retry-after") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 1, &obey);
        } else if (strcmp(a, "--capacity") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 1e7, &capacity);
        } else if (strcmp(a, "--seed") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 9007199254740992.0, &seed);
        } else if (strcmp(a, "--max-conns") == 0) {
            rc = load_num_arg("levee-load", a, v, 1, 1000000, &max_conns);
        } else if (strcmp(a, "--drain") == 0) {
            rc = load_num_arg("levee-load", a, v, 0, 3600, &drain);
        } else if (strcmp(a, "--users-per-address") == 0) {
            rc = load_num_arg("levee-load", a, v, 1, 1000000, &per_addr);
        } else {
            fprintf(stderr, "levee-load: %s: unknown flag (see --help)\n", a);
            return 2;
        }
        if (rc)
            return 2;
        i += takes;
    }

    char *err = lv_xcalloc(1, LOAD_ERRBUF);
    if (scenario && load_scenario_load(&sc, scenario, err, LOAD_ERRBUF) != 0) {
        fputs(err, stderr);
        free(err);
        return 2;
    }
    if (target && load_target_parse(&sc.target, target) != 0) {
        fprintf(stderr,
                "levee-load: --target: expected http[s]://IPv4-or-localhost[:port][/path]\n");
        free(err);
        return 2;
    }
    if (tls_insecure)
        sc.tls_insecure = 1;
    if (tls_ca) {
        if (strlen(tls_ca) >= sizeof(sc.tls_ca)) {
            fprintf(stderr, "levee-load: --tls-ca: path too long\n");
            free(err);
            return 2;
        }
        snprintf(sc.tls_ca, sizeof(sc.tls_ca), "%s", tls_ca);
    }
    if (label)
        snprintf(sc.label, sizeof(sc.label), "%s", label);
    if (duration > 0)
        sc.duration_s = duration;
    if (rate >= 0) {
        load_profile_init(&sc.profile);
        load_profile_plateau(&sc.profile, rate, sc.duration_s > 0 ? sc.duration_s : 10);
    }
    if (patience > 0)
        sc.users.patience_ms = load_dist_fixed(patience);
    if (f5 >= 0)
        sc.users.f5_prob = f5;
    if (tries > 0)
        sc.users.max_tries = (uint32_t)tries;
    if (obey >= 0)
        sc.users.obey_retry_after = obey;
    if (capacity >= 0)
        sc.capacity = capacity;
    if (seed >= 0)
        sc.seed = (uint64_t)seed;
    if (max_conns > 0)
        sc.max_conns = (uint32_t)max_conns;
    if (drain >= 0)
        sc.drain_s = drain;
    if (per_addr >= 1)
        sc.users.per_address = (uint32_t)per_addr;
    if (journey) {
        sc.n_journey = 0;
        const char *p = journey;
        while (*p && sc.n_journey < LOAD_JOURNEY_MAX) {
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= LOAD_PATH_MAX || p[0] != '/') {
                fprintf(stderr, "levee-load: --journey: paths start with / (comma separated)\n");
                free(err);
                return 2;
            }
            memcpy(sc.journey[sc.n_journey], p, len);
            sc.journey[sc.n_journey++][len] = '\0';
            p += len + (p[len] == ',');
        }
    }
    if (load_scenario_finish(&sc, err, LOAD_ERRBUF) != 0) {
        fprintf(stderr, "levee-load: %s", err);
        free(err);
        return 2;
    }
    if (load_tls_check(&sc.target, sc.tls_ca, sc.tls_insecure, "--tls-ca", "--tls-insecure", err,
                       LOAD_ERRBUF) != 0) {
        fprintf(stderr, "levee-load: %s\n", err);
        free(err);
        return 2;
    }
    free(err);
    /* Opened before the run, so that a history that cannot be written costs no rehearsal. */
    load_history_t *hist = NULL;
    history = load_history_path(history);
    if (history) {
        char herr[512];
        hist = load_history_open(history, herr, sizeof(herr));
        if (!hist) {
            fprintf(stderr, "levee-load: --history: %s\n", herr);
            return 1;
        }
    }
    lv_raise_nofile();

    load_stats_t st;
    uint32_t cap_s = (uint32_t)ceil(sc.duration_s + sc.drain_s) + 3;
    if (load_stats_init(&st, cap_s, sc.capacity) != 0) {
        fprintf(stderr, "levee-load: out of memory\n");
        load_history_close(hist);
        return 1;
    }
    int64_t started = (int64_t)time(NULL);
    int run_rc = load_engine_run(&sc, &st, !quiet), rc = run_rc;
    load_run_meta_t meta = {.label = sc.label,
                            .target = sc.target.url,
                            .seed = sc.seed,
                            .duration_s = sc.duration_s,
                            .capacity = sc.capacity};
    if (rc != 0)
        fprintf(stderr, "levee-load: the run failed (%d)\n", rc);
    load_print_summary(&st, &meta);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f || load_stats_write_json(&st, &meta, f) != 0) {
            fprintf(stderr, "levee-load: %s: cannot write\n", json);
            rc = -1;
        }
        if (f && fclose(f) != 0)
            rc = -1;
        if (f && rc == 0)
            printf("  json: %s\n", json);
    }
    if (html) {
        load_run_t run;
        if (load_run_from_stats(&run, &st, &meta) != 0 || load_write_html(html, &run, 1) != 0)
            rc = -1;
        else
            printf("  html: %s\n", html);
        load_run_free(&run);
    }
    if (hist) {
        /* A run that failed to start measured nothing: it is not history. */
        if (run_rc == 0 && load_history_record_stats(hist, &st, &meta, region, started) != 0) {
            fprintf(stderr, "levee-load: --history %s: %s\n", history, load_history_error(hist));
            rc = -1;
        } else if (run_rc == 0) {
            printf("  history: %s%s%s\n", history, region && *region ? ", region " : "",
                   region && *region ? region : "");
        }
        load_history_close(hist);
    }
    load_stats_fini(&st);
    return rc ? 1 : 0;
}
