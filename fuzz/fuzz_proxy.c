/* fuzz/fuzz_proxy.c: end-to-end libFuzzer target: each input scripts a client and an origin
 * around a real levee running in this process, so bytes go the whole request path (conn.c,
 * every stage of proxy/pipeline.c, upstream.c and back), not just the parsers.
 *
 * Setup (once, on the first input): two levee servers, each on its own thread
 * (lv_server_run_with, no signal handlers), workers: 1, guard on, admin off, listening on
 * 127.0.0.1 port 0; one with the response cache (cache.size 8m; routes "/" cached, "/nc/" not,
 * "/k/" keyed by a header and a cookie), one without. Both send to one origin address: a plain
 * non-blocking socket of this harness on an ephemeral port, served synchronously with poll().
 * Short timeouts (head 20 ms, upstream read 20 ms, ...) so that levee's own timers fire within
 * an input.
 *
 * Input format:
 *   byte 0     flags: bit 0: 0 = the levee with the cache, 1 = the one without;
 *                     bit 1: keep the client's write side open when its script ends (default:
 *                            half-close, so that levee answers and closes at once);
 *                     bit 2: the client leaves with a reset at the end (SO_LINGER 0).
 *   the rest   split at every "@@". The first piece is the client's first data. Every later
 *              piece starts with an op byte, its payload is the rest of the piece:
 *     '<' DATA   start the script of the next upstream connection levee opens (accept order);
 *                it first waits (<= 30 ms) for request bytes, then sends DATA
 *     's' DATA   send DATA (separate segment)
 *     'z' DIGITS send DIGITS bytes of filler 'x' (at most 4 MiB): big bodies, backpressure
 *     'w' DIGITS stall DIGITS ms (default 5, at most 50)
 *     'q'        wait (<= 30 ms) for new bytes from the peer (the next request / the answer)
 *     'c'        close: the origin closes (FIN); the client half-closes (shutdown SHUT_WR)
 *     'h'        half-close (shutdown SHUT_WR) and keep reading
 *     'r'        reset: SO_LINGER 0 and close
 *     other      the whole piece, op byte included, is sent as data
 *   An origin script ends with a close (FIN) unless it closed or reset; connections beyond the
 *   scripts are closed at once. At most 8 upstream scripts of 64 ops each.
 *
 * One input: the client connects and plays its script while the harness accepts and plays the
 * upstream connections, reading the client's answer until EOF; it ends early when nothing
 * happens for 25 ms, and after 200 ms in any case. Every wait is a bounded poll().
 *
 * Then a request that levee answers itself (400) on a new connection, so that its worker has
 * handled this input's closes before the next input starts.
 *
 * Invariants (abort() on violation): levee is alive (in-process: its crash is ours; a crash on
 * a levee thread stops this thread too, so that libFuzzer saves the input that caused it); an
 * answer, if any, starts with "HTTP/1."; after the start and every 64 inputs, a liveness probe:
 * a plain GET on each levee gets the origin's 200 and its body (a few retries over ~1 s, for an
 * open breaker or a stray connection), else levee is wedged.
 *
 * Limits: the servers keep state between inputs (cache entries, the guard's limits and
 * breaker, idle upstream connections), and an upstream connection levee opens late may take
 * the next input's first script, so a crash may need the inputs before it: if a crash file
 * does not reproduce alone, run the corpus dir. Leak detection cannot work with server threads
 * that live across inputs: run with -detect_leaks=0 (added to argv when missing). UBSan reports
 * do not stop this build (no -fno-sanitize-recover): look for "runtime error" in the log.
 *
 *   build/fuzz/fuzz_proxy -detect_leaks=0 -max_len=16384 NEW_DIR fuzz/corpus/proxy
 *   FZ_PROXY_VERBOSE=1 build/fuzz/fuzz_proxy fuzz/corpus/proxy/get_cl   # what one input did
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "core/config.h"
#include "proxy/server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_SCRIPTS 8   /* upstream connections with a script */
#define FZ_MAX_OPS 64      /* ops per script */
#define FZ_MAX_CONNS 16    /* upstream connections accepted per input */
#define FZ_INPUT_MS 200    /* one input, at most */
#define FZ_QUIET_MS 25     /* nothing happened for this long: the input is over */
#define FZ_WAIT_MS 30      /* 'q' and an upstream script's first wait */
#define FZ_STALL_MAX_MS 50 /* one 'w' */
#define FZ_FILL_MAX (4u << 20)
#define FZ_ANSWER_KEEP 65536 /* bytes of the client's answer kept for the checks */
#define FZ_PROBE_EVERY 64

enum { OP_SEND, OP_FILL, OP_STALL, OP_WAIT, OP_CLOSE, OP_HALF, OP_RESET };

typedef struct fz_op {
    uint8_t kind;
    uint32_t n; /* SEND: length; FILL: bytes; STALL: ms */
    const uint8_t *p;
} fz_op_t;

typedef struct fz_script {
    fz_op_t ops[FZ_MAX_OPS];
    uint32_t n_ops;
} fz_script_t;

/* One side the harness plays: the client, or one upstream connection (the origin's side). */
typedef struct fz_actor {
    int fd; /* -1 once closed */
    bool client;
    const fz_script_t *sc;
    uint32_t pc;
    bool op_started;
    uint64_t until_ms;   /* STALL end, WAIT deadline */
    uint64_t mark;       /* WAIT: bytes seen when it began */
    size_t sent;         /* SEND/FILL: bytes of the op sent */
    bool blocked_out;    /* SEND/FILL: the socket is full */
    uint64_t seen;       /* bytes received */
    bool rd_eof, wr_off; /* peer closed / we cannot or will not write any more */
    bool script_done;
} fz_actor_t;

typedef struct fz_input {
    uint8_t flags;
    fz_script_t client;
    fz_script_t up[FZ_MAX_SCRIPTS];
    uint32_t n_up;
} fz_input_t;

/* ---- clock ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the input ---- */

static uint32_t digits(const uint8_t *p, size_t n, uint32_t dflt, uint32_t max)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && i < 10 && p[i] >= '0' && p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    if (i == 0)
        return dflt;
    return v > max ? max : (uint32_t)v;
}

static void add_op(fz_script_t *sc, uint8_t kind, const uint8_t *p, uint32_t n)
{
    if (!sc || sc->n_ops == FZ_MAX_OPS)
        return;
    if (kind == OP_SEND && n == 0)
        return;
    sc->ops[sc->n_ops++] = (fz_op_t){kind, n, p};
}

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '@' && p[1] == '@')
            return p;
    return end;
}

static void parse_input(const uint8_t *data, size_t size, fz_input_t *in)
{
    memset(in, 0, sizeof *in);
    in->flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *stop = find_sep(p, end);
    add_op(&in->client, OP_SEND, p, (uint32_t)(stop - p));
    fz_script_t *cur = &in->client;
    while (stop < end) {
        p = stop + 2;
        stop = find_sep(p, end);
        if (p == stop)
            continue;
        uint8_t op = *p;
        const uint8_t *pay = p + 1;
        uint32_t n = (uint32_t)(stop - pay);
        switch (op) {
        case '<':
            if (in->n_up == FZ_MAX_SCRIPTS) {
                cur = NULL; /* ops of scripts past the last are dropped */
                break;
            }
            cur = &in->up[in->n_up++];
            add_op(cur, OP_WAIT, NULL, 0);
            add_op(cur, OP_SEND, pay, n);
            break;
        case 's':
            add_op(cur, OP_SEND, pay, n);
            break;
        case 'z':
            add_op(cur, OP_FILL, NULL, digits(pay, n, 0, FZ_FILL_MAX));
            break;
        case 'w':
            add_op(cur, OP_STALL, NULL, digits(pay, n, 5, FZ_STALL_MAX_MS));
            break;
        case 'q':
            add_op(cur, OP_WAIT, NULL, 0);
            break;
        case 'c':
            add_op(cur, OP_CLOSE, NULL, 0);
            break;
        case 'h':
            add_op(cur, OP_HALF, NULL, 0);
            break;
        case 'r':
            add_op(cur, OP_RESET, NULL, 0);
            break;
        default:
            add_op(cur, OP_SEND, p, (uint32_t)(stop - p));
            break;
        }
    }
}

/* ---- sockets ---- */

static int origin_fd = -1;
static uint16_t origin_port;

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_reset(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static int listen_origin(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    origin_port = ntohs(a.sin_port);
    return fd;
}

/* A connection to levee, non-blocking; -1 when it fails or takes over a second (a levee that no
 * longer accepts: its backlog is full). */
static int connect_local(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        struct pollfd pf = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (errno != EINPROGRESS || poll(&pf, 1, 1000) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    set_nodelay(fd);
    return fd;
}

/* Upstream connections levee opened after the last input stopped listening: closed now, so
 * that they do not take this input's scripts. Late ones still can; see the head comment. */
static void drain_backlog(void)
{
    int fd;
    while ((fd = accept4(origin_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(fd);
}

/* ---- levee ---- */

typedef struct fz_levee {
    const char *name;
    uint16_t port;
    bool ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lv_config_t *cfg;
} fz_levee_t;

static fz_levee_t levee[2] = {
    {.name = "cache", .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
    {.name = "plain", .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER},
};

static void on_ready(void *ctx, const lv_addr_t *bound, uint32_t n_bound)
{
    fz_levee_t *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (n_bound > 0)
        l->port = ntohs(((const struct sockaddr_in *)&bound[0].sa)->sin_port);
    l->ready = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void *levee_thread(void *arg)
{
    fz_levee_t *l = arg;
    lv_server_hooks_t hooks = {on_ready, l, true};
    int rc = lv_server_run_with(l->cfg, &hooks);
    /* It never stops by itself: a return is a failed start, or levee stopping under us. */
    fprintf(stderr, "fuzz_proxy: levee (%s) returned %d\n", l->name, rc);
    abort();
    return NULL;
}

static const char config_fmt[] =
    "workers: 1\n"
    "listen: [\"127.0.0.1:0\"]\n"
    "admin: { enabled: false }\n"
    "log_level: error\n"
    "limits: { header_bytes: 8k, target_bytes: 2k, body_bytes: 1m, connections: 256 }\n"
    "timeouts: { header_ms: 20, keepalive_ms: 300, send_ms: 300, drain_ms: 0 }\n"
    "%s"
    "services:\n"
    "  - name: %s\n"
    "    upstreams: [\"127.0.0.1:%u\"]\n"
    "    connect_timeout_ms: 50\n"
    "    read_timeout_ms: 20\n"
    "    keepalive: 4\n"
    "    keepalive_idle_ms: 300\n"
    "    guard: true\n"
    "    limit: { initial: 20, min: 2, max: 100 }\n"
    "    queue: { max: 16, timeout_ms: 20 }\n"
    "    breaker: { window_ms: 200, min_requests: 20, error_percent: 90, cooldown_ms: 50, "
    "probes: 1 }\n"
    "%s"
    "routes:\n"
    "  - { path: /, service: %s }\n"
    "%s";

static const char cache_section[] =
    "cache: { size: 8m, shards: 4, lock_timeout_ms: 30, pass_ttl_ms: 200 }\n";
static const char cache_service[] = "    cache: { serve_stale_ms: 1000 }\n";
static const char cache_routes[] =
    "  - { path: /nc/, service: fz_cache, cache: false }\n"
    "  - { path: /k/, service: fz_cache, cache_key: \"header:accept-language,cookie:sid\" }\n";

static void start_levee(fz_levee_t *l, bool cache)
{
    const char *svc = cache ? "fz_cache" : "fz_plain";
    char yaml[2048];
    int n =
        snprintf(yaml, sizeof yaml, config_fmt, cache ? cache_section : "", svc,
                 (unsigned)origin_port, cache ? cache_service : "", svc, cache ? cache_routes : "");
    if (n < 0 || (size_t)n >= sizeof yaml)
        abort();
    lv_config_errors_t errs = {0};
    l->cfg = lv_config_load_string("fuzz_proxy.yaml", yaml, (size_t)n, &errs);
    if (!l->cfg) {
        for (uint32_t i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_proxy: %s\n", errs.lines[i]);
        abort();
    }
    lv_config_errors_fini(&errs);
    pthread_t t;
    if (pthread_create(&t, NULL, levee_thread, l) != 0)
        abort();
    pthread_detach(t);
    /* One after the other (lv_server_run_with's contract), with a deadline. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&l->mu);
    while (!l->ready)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &dl) != 0)
            break;
    bool ok = l->ready && l->port != 0;
    pthread_mutex_unlock(&l->mu);
    if (!ok) {
        fprintf(stderr, "fuzz_proxy: levee (%s) did not start\n", l->name);
        abort();
    }
}

/* ---- crashes on levee's threads ---- */

/* A levee thread that crashes reports from that thread (ASan's or libFuzzer's handler) while
 * this one goes on: it would start the next input (and libFuzzer would save that one as the
 * crash), or reach exit() and end the process with 0 in the middle of the report. So the start
 * of a report raises this flag, and this thread stops at its next check and lets the report
 * end the process. */
static volatile sig_atomic_t crashing;

void __asan_on_error(void);
void __asan_on_error(void)
{
    crashing = 1;
}

static struct sigaction prev_action[3];
static const int deadly[3] = {SIGABRT, SIGILL, SIGFPE};

static void on_deadly(int sig, siginfo_t *si, void *uc)
{
    crashing = 1;
    for (int i = 0; i < 3; i++) {
        if (deadly[i] != sig)
            continue;
        const struct sigaction *p = &prev_action[i];
        if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction) {
            p->sa_sigaction(sig, si, uc);
            return;
        }
        if (!(p->sa_flags & SA_SIGINFO) && p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
            p->sa_handler(sig);
            return;
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* In front of libFuzzer's handlers (installed by now: this runs on the first input). */
static void catch_deadly(void)
{
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_deadly;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(deadly[i], &sa, &prev_action[i]);
    }
}

static void stop_if_crashing(void)
{
    if (!crashing)
        return;
    for (int i = 0; i < 600; i++) { /* the report ends the process; 60 s is plenty */
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    abort();
}

/* ---- playing one input ---- */

static bool verbose; /* FZ_PROXY_VERBOSE set: what each input did, on stderr */
static char filler[65536];
static uint8_t answer[FZ_ANSWER_KEEP];

typedef struct fz_run {
    fz_actor_t client;
    fz_actor_t up[FZ_MAX_CONNS];
    uint32_t n_up;
    size_t answer_len;   /* kept in answer[] */
    uint64_t answer_all; /* received in all */
} fz_run_t;

static void actor_close(fz_actor_t *a, bool reset)
{
    if (a->fd < 0)
        return;
    if (reset)
        close_reset(a->fd);
    else
        close(a->fd);
    a->fd = -1;
    a->rd_eof = a->wr_off = true;
}

/* Runs a's script as far as it goes now. Returns true when it waits on a timer. */
static bool actor_step(fz_actor_t *a, uint64_t now)
{
    while (a->fd >= 0 && a->pc < a->sc->n_ops) {
        const fz_op_t *op = &a->sc->ops[a->pc];
        if (!a->op_started) {
            a->op_started = true;
            a->sent = 0;
            a->blocked_out = false;
            if (op->kind == OP_STALL)
                a->until_ms = now + op->n;
            if (op->kind == OP_WAIT) {
                a->until_ms = now + FZ_WAIT_MS;
                a->mark = a->pc == 0 && !a->client ? 0 : a->seen;
            }
        }
        switch (op->kind) {
        case OP_SEND:
        case OP_FILL:
            while (!a->wr_off && a->sent < op->n) {
                size_t left = op->n - a->sent;
                const void *src = op->kind == OP_SEND ? (const void *)(op->p + a->sent) : filler;
                if (op->kind == OP_FILL && left > sizeof filler)
                    left = sizeof filler;
                ssize_t k = send(a->fd, src, left, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    a->blocked_out = true;
                    return false;
                }
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0) {
                    a->wr_off = true; /* the peer is gone: the rest of the sends are moot */
                    break;
                }
                a->sent += (size_t)k;
            }
            a->blocked_out = false;
            break;
        case OP_STALL:
            if (now < a->until_ms)
                return true;
            break;
        case OP_WAIT:
            if (a->seen <= a->mark && !a->rd_eof && now < a->until_ms)
                return true;
            break;
        case OP_CLOSE:
            if (a->client) {
                shutdown(a->fd, SHUT_WR);
                a->wr_off = true;
            } else {
                actor_close(a, false);
            }
            break;
        case OP_HALF:
            shutdown(a->fd, SHUT_WR);
            a->wr_off = true;
            break;
        case OP_RESET:
            actor_close(a, true);
            break;
        }
        a->pc++;
        a->op_started = false;
    }
    return false;
}

/* The default end of a script: an upstream connection closes; the client half-closes (flags). */
static void actor_finish(fz_actor_t *a, uint8_t flags)
{
    if (a->script_done || a->fd < 0 || a->pc < a->sc->n_ops)
        return;
    a->script_done = true;
    if (!a->client) {
        actor_close(a, false);
    } else if (flags & 4) {
        /* reset at the end of the input, see play() */
    } else if (!(flags & 2) && !a->wr_off) {
        shutdown(a->fd, SHUT_WR);
        a->wr_off = true;
    }
}

/* Reads what is there. Returns true when anything happened (bytes or EOF). */
static bool actor_read(fz_actor_t *a, fz_run_t *run)
{
    bool any = false;
    uint8_t buf[16384];
    while (a->fd >= 0 && !a->rd_eof) {
        ssize_t k = recv(a->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        any = true;
        if (k <= 0) {
            a->rd_eof = true; /* EOF or reset */
            if (k < 0)
                a->wr_off = true;
            break;
        }
        if (a->client) {
            size_t keep = LV_MIN((size_t)k, sizeof answer - run->answer_len);
            memcpy(answer + run->answer_len, buf, keep);
            run->answer_len += keep;
            run->answer_all += (uint64_t)k;
        }
        a->seen += (uint64_t)k;
    }
    return any;
}

static const fz_script_t empty_script;

static void play(const fz_input_t *in, uint16_t port, fz_run_t *run)
{
    memset(run, 0, sizeof *run);
    drain_backlog();
    fz_actor_t *c = &run->client;
    c->client = true;
    c->sc = &in->client;
    c->fd = connect_local(port);
    if (c->fd < 0) {
        fprintf(stderr, "fuzz_proxy: cannot connect to levee on port %u\n", (unsigned)port);
        abort(); /* its listener is gone, or its worker no longer accepts */
    }
    uint64_t start = now_ms(), last = start;
    for (;;) {
        stop_if_crashing();
        uint64_t now = now_ms();
        bool timers = actor_step(c, now);
        actor_finish(c, in->flags);
        for (uint32_t i = 0; i < run->n_up; i++) {
            timers |= actor_step(&run->up[i], now);
            actor_finish(&run->up[i], in->flags);
        }
        if (c->rd_eof || now >= start + FZ_INPUT_MS)
            break;
        if (!timers && now >= last + FZ_QUIET_MS)
            break;

        struct pollfd pf[2 + FZ_MAX_CONNS];
        fz_actor_t *who[2 + FZ_MAX_CONNS];
        nfds_t n = 0;
        if (run->n_up < FZ_MAX_CONNS) {
            pf[n] = (struct pollfd){origin_fd, POLLIN, 0};
            who[n++] = NULL;
        }
        fz_actor_t *all[1 + FZ_MAX_CONNS];
        uint32_t n_all = 0;
        all[n_all++] = c;
        for (uint32_t i = 0; i < run->n_up; i++)
            all[n_all++] = &run->up[i];
        uint64_t wake = LV_MIN(start + FZ_INPUT_MS, last + FZ_QUIET_MS);
        for (uint32_t i = 0; i < n_all; i++) {
            fz_actor_t *a = all[i];
            if (a->fd < 0)
                continue;
            short ev = (short)((a->rd_eof ? 0 : POLLIN) | (a->blocked_out ? POLLOUT : 0));
            if (ev) {
                pf[n] = (struct pollfd){a->fd, ev, 0};
                who[n++] = a;
            }
            if (a->pc < a->sc->n_ops && a->op_started &&
                (a->sc->ops[a->pc].kind == OP_STALL || a->sc->ops[a->pc].kind == OP_WAIT))
                wake = LV_MIN(wake, a->until_ms);
        }
        int timeout = wake > now ? (int)(wake - now) : 0;
        int k = poll(pf, n, timeout);
        if (k < 0 && errno != EINTR) {
            perror("fuzz_proxy: poll");
            abort();
        }
        if (k <= 0)
            continue;
        now = now_ms();
        for (nfds_t i = 0; i < n; i++) {
            if (!pf[i].revents)
                continue;
            if (!who[i]) {
                int fd;
                while (run->n_up < FZ_MAX_CONNS &&
                       (fd = accept4(origin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    set_nodelay(fd);
                    fz_actor_t *u = &run->up[run->n_up];
                    memset(u, 0, sizeof *u);
                    u->fd = fd;
                    u->sc = run->n_up < in->n_up ? &in->up[run->n_up] : &empty_script;
                    run->n_up++;
                    last = now;
                }
                continue;
            }
            if (actor_read(who[i], run))
                last = now;
        }
    }
    actor_close(c, (in->flags & 4) != 0);
    for (uint32_t i = 0; i < run->n_up; i++)
        actor_close(&run->up[i], false);
}

/* After an input: a request that levee answers by itself (400), on a new connection, so that
 * its worker has handled the closes of this input's sockets before the next input starts (a
 * crash there is then charged to this input). Bounded; a wedged levee is the probe's business. */
static void settle(uint16_t port)
{
    int fd = connect_local(port);
    if (fd < 0)
        return;
    static const char bad[] = "X\r\n\r\n";
    (void)send(fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    uint64_t dl = now_ms() + 200;
    char buf[512];
    for (uint64_t now = now_ms(); now < dl; now = now_ms()) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)(dl - now)) <= 0)
            break;
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
            break;
    }
    close(fd);
}

/* ---- invariants ---- */

static void dump_answer(const fz_run_t *run)
{
    fprintf(stderr, "fuzz_proxy: client answer (%llu bytes):\n  ",
            (unsigned long long)run->answer_all);
    size_t n = LV_MIN(run->answer_len, (size_t)400);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = answer[i];
        if (b == '\n')
            fputs("\\n\n  ", stderr);
        else if (b == '\r')
            fputs("\\r", stderr);
        else if (b < 0x20 || b >= 0x7f)
            fprintf(stderr, "\\x%02x", b);
        else
            fputc(b, stderr);
    }
    fputc('\n', stderr);
}

static void check_answer(const fz_run_t *run)
{
    static const char start[] = "HTTP/1.";
    size_t n = LV_MIN(run->answer_len, sizeof start - 1);
    if (memcmp(answer, start, n) != 0) {
        fprintf(stderr, "fuzz_proxy: the client's answer does not start with HTTP/1.\n");
        dump_answer(run);
        abort();
    }
}

/* A plain GET (a fresh target each time, never stored) must reach the origin and come back. */
static void probe(fz_levee_t *l)
{
    static unsigned seq;
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Control: no-store\r\n\r\nalive";
    char req[128];
    fz_run_t run;
    for (int attempt = 0; attempt < 20; attempt++) {
        int n = snprintf(req, sizeof req,
                         "\x01GET /__fz_probe/%u HTTP/1.1\r\nHost: probe.test\r\n\r\n@@<%s", ++seq,
                         resp);
        fz_input_t in;
        parse_input((const uint8_t *)req, (size_t)n, &in);
        in.flags = 0;
        play(&in, l->port, &run);
        static const char ok[] = "HTTP/1.1 200 ";
        if (run.answer_len > sizeof ok && memcmp(answer, ok, sizeof ok - 1) == 0 &&
            memcmp(answer + run.answer_len - 5, "alive", 5) == 0)
            return;
        struct timespec ts = {0, 50 * 1000000L}; /* an open breaker cools down in 50 ms */
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "fuzz_proxy: levee (%s) no longer answers a plain GET\n", l->name);
    dump_answer(&run);
    abort();
}

/* ---- libFuzzer ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* The servers' threads live across inputs: libFuzzer's leak check would fire on them. */
    for (int i = 1; i < *argc; i++)
        if (strncmp((*argv)[i], "-detect_leaks=", 14) == 0)
            return 0;
    static char **args;
    args = calloc((size_t)*argc + 2, sizeof *args);
    if (!args)
        return 0;
    memcpy(args, *argv, (size_t)*argc * sizeof *args);
    args[(*argc)++] = "-detect_leaks=0";
    *argv = args;
    fprintf(stderr, "fuzz_proxy: running with -detect_leaks=0 (levee runs on threads of its "
                    "own)\n");
    return 0;
}

/* At exit: a crash report still running on a levee thread (see crashing) must end the process,
 * not exit(0) here. A probe that fails keeps us here until it does, or aborts. */
static void exit_probe(void)
{
    stop_if_crashing();
    probe(&levee[0]);
    probe(&levee[1]);
}

static void setup(void)
{
    verbose = getenv("FZ_PROXY_VERBOSE") != NULL;
    memset(filler, 'x', sizeof filler);
    catch_deadly();
    origin_fd = listen_origin();
    if (origin_fd < 0) {
        perror("fuzz_proxy: origin listener");
        abort();
    }
    start_levee(&levee[0], true);
    start_levee(&levee[1], false);
    probe(&levee[0]);
    probe(&levee[1]);
    atexit(exit_probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool started;
    static unsigned long inputs;
    if (!started) {
        setup();
        started = true;
    }
    if (size < 1)
        return 0;
    static fz_input_t in; /* big: off the stack */
    static fz_run_t run;
    parse_input(data, size, &in);
    fz_levee_t *l = &levee[in.flags & 1];
    uint64_t t0 = now_ms();
    play(&in, l->port, &run);
    if (verbose) {
        fprintf(stderr, "fuzz_proxy: levee=%s upstream_conns=%u (scripts %u) ms=%llu\n", l->name,
                run.n_up, in.n_up, (unsigned long long)(now_ms() - t0));
        dump_answer(&run);
    }
    check_answer(&run);
    settle(l->port);
    stop_if_crashing();
    if (++inputs % FZ_PROBE_EVERY == 0) {
        probe(&levee[0]);
        probe(&levee[1]);
    }
    return 0;
}
