/* load/schedule.c: `levee-load schedule`: runs the rehearsals of a schedule file when due, each
 * as a child levee-load, one at a time, logging each start and end; --once, --dry-run. */
#include "schedule.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "args.h"
#include "cron.h"
#include "schedule_file.h"

extern char **environ;

#define LOAD_SCHED_ERRBUF 8192

static void load_schedule_usage(FILE *f)
{
    fputs("usage: levee-load schedule FILE [--once] [--dry-run [--count N] [--from TIME]]\n"
          "\n"
          "Runs the rehearsals of FILE when they are due, each as a child levee-load run\n"
          "recorded in the history, one at a time. A line of FILE:\n"
          "  MIN HOUR DOM MON DOW  region=NAME target=URL scenario=FILE.yaml [history=DB]\n"
          "                        [tls_ca=FILE] [tls_insecure=yes] [levee-load flags...]\n"
          "cron fields (*, lists, ranges, steps, names), local time; # starts a comment.\n"
          "scenario=score runs the resilience battery (levee-load score) instead: give its\n"
          "flags on the line (--admin URL --token T [--short]).\n"
          "An https target= is verified against tls_ca=FILE (relative to FILE's directory)\n"
          "or the system's CAs; tls_insecure=yes skips the check. Both go to the scenario\n"
          "runs and the battery alike.\n"
          "\n"
          "  --once       run the lines due in the current minute, one after the other, and\n"
          "               exit (for a systemd timer)\n"
          "  --dry-run    check FILE and print the next due times of each line\n"
          "  --count N    with --dry-run: how many due times per line, default 5\n"
          "  --from TIME  with --dry-run: count from TIME (local, YYYY-MM-DDTHH:MM), not now\n"
          "Without --once or --dry-run it runs until SIGTERM or SIGINT (then stops the\n"
          "rehearsal in progress). A line that comes due while a rehearsal runs is skipped\n"
          "(logged); lines due in the same minute run one after the other, in file order.\n"
          "Exit: 0 done, 1 a rehearsal failed or could not start (--once), 2 bad usage or a\n"
          "bad FILE (every problem as FILE:LINE:COL: what was expected).\n",
          f);
}

/* One logfmt line on stderr, as levee's own logs: ts, level, comp, msg, then fields. */
__attribute__((format(printf, 3, 4))) static void load_slog(const char *level, const char *msg,
                                                            const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=schedule msg=\"%s\"",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, level, msg);
    va_list ap;
    va_start(ap, fmt);
    if (*fmt)
        fputc(' ', stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static load_civil_t load_civil_of(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return (load_civil_t){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min};
}

/* The local minute c as a time, or -1 when the clock skips it (a DST change). */
static time_t load_time_of(const load_civil_t *c)
{
    struct tm tm = {.tm_year = c->year - 1900,
                    .tm_mon = c->month - 1,
                    .tm_mday = c->day,
                    .tm_hour = c->hour,
                    .tm_min = c->minute,
                    .tm_isdst = -1};
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_hour != c->hour || tm.tm_min != c->minute || tm.tm_mday != c->day)
        return (time_t)-1;
    return t;
}

/* The next due time of e after the local minute `after`; -1 when never (cannot happen for a
 * parsed line, which is due at least once in any 9 years). */
static time_t load_next_due(const load_schedule_entry_t *e, load_civil_t after)
{
    for (int tries = 0; tries < 1000; tries++) {
        load_civil_t next;
        if (load_cron_next(&e->cron, &after, &next) != LV_OK)
            return (time_t)-1;
        time_t t = load_time_of(&next);
        if (t != (time_t)-1)
            return t;
        after = next; /* skipped by the clock: the next one */
    }
    return (time_t)-1;
}

static void load_fmt_local(time_t t, char *buf, size_t size)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M%z", &tm);
}

static int load_dry_run(const char *path, const load_schedule_t *s, size_t count, time_t from)
{
    for (size_t i = 0; i < s->n; i++) {
        const load_schedule_entry_t *e = &s->v[i];
        printf("%s:%u: %s\n", path, e->line, e->text);
        load_civil_t after = load_civil_of(from);
        for (size_t k = 0; k < count; k++) {
            time_t t = load_next_due(e, after);
            if (t == (time_t)-1)
                break;
            struct tm tm;
            localtime_r(&t, &tm);
            char buf[64];
            strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M %a %Z", &tm);
            printf("  %s\n", buf);
            after = load_civil_of(t);
        }
    }
    return 0;
}

/* ---- running the rehearsals ----------------------------------------------------------------- */

typedef struct load_sched {
    const char *path;
    char self[4096]; /* this executable, run for each rehearsal */
    const load_schedule_t *s;
    pid_t pid;      /* the rehearsal running, 0 none */
    size_t running; /* its entry */
    struct timespec started;
    size_t *queue;     /* entries due, waiting for the one running */
    time_t *queue_due; /* when each was due */
    size_t nq;
    int failures;
} load_sched_t;

static int load_spawn(load_sched_t *x, size_t idx, time_t due)
{
    const load_schedule_entry_t *e = &x->s->v[idx];
    size_t n = 0;
    char **argv = lv_xcalloc(e->n_args + 16, sizeof(char *));
    argv[n++] = x->self;
    argv[n++] = e->scenario; /* a scenario file, or "score": `levee-load score` */
    argv[n++] = "--target";
    argv[n++] = e->target;
    argv[n++] = "--region";
    argv[n++] = e->region;
    if (e->history) {
        argv[n++] = "--history";
        argv[n++] = e->history;
    }
    if (e->tls_ca) {
        argv[n++] = "--tls-ca";
        argv[n++] = e->tls_ca;
    }
    if (e->tls_insecure)
        argv[n++] = "--tls-insecure";
    argv[n++] = "--quiet";
    for (size_t k = 0; k < e->n_args; k++)
        argv[n++] = e->args[k];
    argv[n] = NULL;
    /* The child gets the default signal mask and dispositions back. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, x->self, NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    free(argv);
    char when[40];
    load_fmt_local(due, when, sizeof(when));
    if (rc != 0) {
        load_slog("error", "rehearsal could not start", "line=%u region=%s due=%s error=\"%s\"",
                  e->line, e->region, when, strerror(rc));
        x->failures++;
        return -1;
    }
    x->pid = pid;
    x->running = idx;
    clock_gettime(CLOCK_MONOTONIC, &x->started);
    load_slog("info", "rehearsal started",
              "line=%u region=%s target=%s scenario=%s history=%s due=%s pid=%d", e->line,
              e->region, e->target, e->scenario, e->history ? e->history : "$LEVEE_LOAD_HISTORY",
              when, (int)pid);
    return 0;
}

/* Reaps the running rehearsal if it ended (wait: block until it does). */
static void load_reap(load_sched_t *x, int wait)
{
    int status;
    pid_t r;
    do
        r = waitpid(x->pid, &status, wait ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != x->pid)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs =
        (double)(now.tv_sec - x->started.tv_sec) + (double)(now.tv_nsec - x->started.tv_nsec) / 1e9;
    const load_schedule_entry_t *e = &x->s->v[x->running];
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        load_slog(code ? "warn" : "info", "rehearsal ended",
                  "line=%u region=%s exit=%d seconds=%.1f", e->line, e->region, code, secs);
        x->failures += code != 0;
    } else {
        load_slog("warn", "rehearsal ended", "line=%u region=%s signal=%d seconds=%.1f", e->line,
                  e->region, WIFSIGNALED(status) ? WTERMSIG(status) : 0, secs);
        x->failures++;
    }
    x->pid = 0;
}

static void load_enqueue(load_sched_t *x, size_t idx, time_t due)
{
    /* A line waits at most once: due again while others run, it is skipped. */
    LV_ASSERT(x->nq < x->s->n);
    x->queue[x->nq] = idx;
    x->queue_due[x->nq++] = due;
}

static void load_start_queued(load_sched_t *x)
{
    while (!x->pid && x->nq) {
        size_t idx = x->queue[0];
        time_t due = x->queue_due[0];
        x->nq--;
        memmove(x->queue, x->queue + 1, x->nq * sizeof(*x->queue));
        memmove(x->queue_due, x->queue_due + 1, x->nq * sizeof(*x->queue_due));
        load_spawn(x, idx, due);
    }
}

/* The wall clock with its fraction: time() may lag a tick behind and wake us a second late. */
static double load_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to timeout_s for a child's end or a stop signal; returns the signal or 0. */
static int load_wait_signal(const sigset_t *set, double timeout_s)
{
    if (timeout_s < 0)
        timeout_s = 0;
    struct timespec ts = {(time_t)timeout_s, (long)((timeout_s - floor(timeout_s)) * 1e9)};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

/* Runs the queue (--once) or the schedule for ever (until a stop signal). */
static int load_run(load_sched_t *x, int once)
{
    const load_schedule_t *s = x->s;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    time_t *due = lv_xcalloc(s->n, sizeof(time_t)); /* each line's next due time */
    x->queue = lv_xcalloc(s->n, sizeof(size_t));
    x->queue_due = lv_xcalloc(s->n, sizeof(time_t));
    time_t now = (time_t)load_now();
    load_civil_t cur = load_civil_of(now);
    for (size_t i = 0; i < s->n; i++) {
        if (once && load_cron_matches(&s->v[i].cron, &cur))
            load_enqueue(x, i, now - now % 60);
        else if (!once)
            due[i] = load_next_due(&s->v[i], cur);
    }
    if (once && x->nq == 0)
        load_slog("info", "nothing due", "file=%s lines=%zu", x->path, s->n);
    if (!once)
        load_slog("info", "schedule started", "file=%s lines=%zu pid=%d", x->path, s->n,
                  (int)getpid());
    int stop = 0;
    while (!stop) {
        load_start_queued(x);
        if (once && !x->pid)
            break;
        double now_s = load_now();
        now = (time_t)now_s;
        double wait_s = 3600;
        for (size_t i = 0; !once && i < s->n; i++) {
            if (due[i] != (time_t)-1 && due[i] <= now) {
                const load_schedule_entry_t *e = &s->v[i];
                char when[40];
                load_fmt_local(due[i], when, sizeof(when));
                if (x->pid)
                    load_slog("warn", "rehearsal skipped: another one is running",
                              "line=%u region=%s due=%s running_line=%u running_pid=%d", e->line,
                              e->region, when, s->v[x->running].line, (int)x->pid);
                else
                    load_enqueue(x, i, due[i]);
                due[i] = load_next_due(e, load_civil_of(now));
            }
            if (due[i] != (time_t)-1)
                wait_s = LV_MIN(wait_s, (double)due[i] - now_s);
        }
        if (x->nq && !x->pid)
            continue; /* start what just came due */
        int sig = load_wait_signal(&set, once ? 3600 : wait_s);
        if (sig == SIGCHLD && x->pid)
            load_reap(x, 0);
        if (sig == SIGTERM || sig == SIGINT) {
            load_slog("info", "stopping", "signal=%d running_pid=%d", sig, (int)x->pid);
            if (x->pid) {
                kill(x->pid, SIGTERM);
                load_reap(x, 1);
            }
            stop = 1;
        }
    }
    free(due);
    free(x->queue);
    free(x->queue_due);
    return once && x->failures ? 1 : 0;
}

static int load_parse_from(const char *v, time_t *out)
{
    struct tm tm = {0};
    const char *end = strptime(v, "%Y-%m-%dT%H:%M", &tm);
    if (!end || *end)
        return -1;
    tm.tm_isdst = -1;
    *out = mktime(&tm);
    return *out == (time_t)-1 ? -1 : 0;
}

int load_cmd_schedule(int argc, char **argv)
{
    const char *path = NULL;
    int once = 0, dry = 0;
    double count = 5;
    time_t from = time(NULL);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            load_schedule_usage(stdout);
            return 0;
        } else if (strcmp(a, "--once") == 0) {
            once = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry = 1;
        } else if (strcmp(a, "--count") == 0) {
            if (load_num_arg("levee-load schedule", a, v, 1, 10000, &count) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "--from") == 0 && v && load_parse_from(v, &from) == 0) {
            i++;
        } else if (a[0] != '-' && !path) {
            path = a;
        } else {
            fprintf(stderr, "levee-load schedule: %s: unknown flag, missing or bad value\n", a);
            load_schedule_usage(stderr);
            return 2;
        }
    }
    if (!path || (once && dry)) {
        load_schedule_usage(stderr);
        return 2;
    }
    char *err = lv_xcalloc(1, LOAD_SCHED_ERRBUF);
    load_schedule_t s;
    if (load_schedule_load(&s, path, err, LOAD_SCHED_ERRBUF) != LV_OK) {
        fputs(err, stderr);
        free(err);
        load_schedule_free(&s);
        return 2;
    }
    free(err);
    int rc;
    if (dry) {
        rc = load_dry_run(path, &s, (size_t)count, from);
    } else {
        load_sched_t x = {.path = path, .s = &s};
        ssize_t n = readlink("/proc/self/exe", x.self, sizeof(x.self) - 1);
        if (n <= 0)
            snprintf(x.self, sizeof(x.self), "%s", argv[0]);
        rc = load_run(&x, once);
    }
    load_schedule_free(&s);
    return rc;
}
