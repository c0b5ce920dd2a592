/* proxy/server.c: the main thread: binds listeners, starts the workers, handles SIGHUP (reload,
 * which reopens the access log too), SIGUSR1 (reopen the access log, for log rotation),
 * SIGTERM/SIGINT (drain, then stop), SIGUSR2 (start a successor, upgrade.c), runs the admin
 * listener, tells systemd (sd_notify) when it is ready, reloading or stopping, and takes over or
 * hands over the listening sockets in an upgrade (upgrade.c). Owns the current config and the
 * current access log sink; each worker holds its own reference to the sink it writes to. */
#include "proxy/server.h"

#include <errno.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/clock.h"
#include "core/listen_check.h"
#include "core/log.h"
#include "core/nofile.h"
#include "core/sd_notify.h"
#include "proxy/health_check.h"
#include "proxy/proxy.h"

#define LV_TRIM_MS 10000u            /* between two malloc_trim */
#define LV_TRIM_PAD_BYTES (1u << 20) /* left untrimmed at the top of a heap */

bool lv__server_conn_try_acquire(lv_server_t *s, uint32_t limit)
{
    unsigned n = atomic_fetch_add_explicit(&s->conns_open, 1, memory_order_relaxed);
    if (n < limit)
        return true;
    atomic_fetch_sub_explicit(&s->conns_open, 1, memory_order_relaxed);
    return false;
}

void lv__server_conn_release(lv_server_t *s)
{
    atomic_fetch_sub_explicit(&s->conns_open, 1, memory_order_relaxed);
}

/* The client connections that the open-files limit allows. Each proxied connection holds two
 * descriptors (its socket and its upstream connection's). Past RLIMIT_NOFILE, accept() fails
 * with EMFILE and libuv then accepts and closes every pending connection (uv__emfile_trick in
 * uv__server_io): clients get a reset or EOF and no answer, silently; upstream sockets and the
 * admin listener fail too. Held under the limit, the connection cap answers 503 instead. The
 * soft limit is raised to the hard one first; a sixteenth of it (plus per-worker loop
 * descriptors) is kept for listeners, the admin, logs, idle keep-alive and orphaned upstream
 * connections. */
static uint32_t fd_conn_cap(uint32_t n_workers, uint64_t *nofile_out)
{
    uint64_t nofile = lv_raise_nofile();
    *nofile_out = nofile;
    if (!nofile)
        return UINT32_MAX;
    uint64_t reserve = 32 + 8 * (uint64_t)n_workers + nofile / 16;
    if (nofile < reserve + 2)
        return 1;
    return (uint32_t)LV_MIN((nofile - reserve) / 2, UINT32_MAX);
}

static void check_conn_cap(const lv_server_t *s, const lv_config_t *cfg)
{
    if (cfg->limits.connections > s->fd_conn_cap)
        lv_log_warn("server",
                    "msg=\"limits.connections is over what the open files limit allows (2 per "
                    "connection); raise ulimit -n\" connections=%u open_files=%llu used=%u",
                    cfg->limits.connections, (unsigned long long)s->nofile, s->fd_conn_cap);
}

/* Gives every service its stable metrics slot (by name, so counters survive reloads). */
static int assign_slots(lv_config_t *cfg)
{
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        int slot = lv_metrics_slot_for(cfg->services[i].name);
        if (slot < 0) {
            lv_log_error("config", "msg=\"too many distinct service names since start\" max=%d",
                         LV_METRICS_MAX_SERVICES);
            return LV_ELIMIT;
        }
        cfg->services[i].metrics_slot = (uint32_t)slot;
    }
    return 0;
}

/* One levee per address: SO_REUSEPORT would let a second process bind beside the first and
 * take a share of its connections with its own config. Returns false (and logs who holds it)
 * when another process already listens on a, unless takeover (then the port is shared, as for
 * an upgrade, and that is logged). what names the setting ("listen[0]", "admin.listen"). */
static bool address_free(const lv_addr_t *a, const char *what, bool takeover)
{
    lv_listen_holder_t who;
    if (!lv_listen_taken(a, &who))
        return true;
    if (who.pid == (int)getpid()) {
        lv_log_error("server",
                     "msg=\"address overlaps another listen address of this process\" "
                     "addr=%s listener=%s",
                     a->text, what);
        return false;
    }
    if (takeover) {
        if (who.pid > 0)
            lv_log_warn("server",
                        "msg=\"--takeover: sharing the address with pid %d (%s)\" addr=%s "
                        "listener=%s pid=%d command=\"%s\"",
                        who.pid, who.command, a->text, what, who.pid, who.command);
        else
            lv_log_warn("server",
                        "msg=\"--takeover: sharing the address with another process\" addr=%s "
                        "listener=%s",
                        a->text, what);
        return true;
    }
    if (who.pid > 0)
        lv_log_error("server",
                     "msg=\"address already in use by pid %d (%s); not starting: stop it, or "
                     "start with --takeover to share the port\" addr=%s listener=%s pid=%d "
                     "command=\"%s\"",
                     who.pid, who.command, a->text, what, who.pid, who.command);
    else
        lv_log_error("server",
                     "msg=\"address already in use by another process; not starting: stop it, "
                     "or start with --takeover to share the port\" addr=%s listener=%s",
                     a->text, what);
    return false;
}

/* Every configured address (listen[] and the admin's), before anything is bound; reports each
 * one that is taken. The addresses whose sockets a predecessor handed over are this process's
 * own now. */
static bool addresses_free(const lv_server_t *s, const lv_config_t *cfg, bool takeover)
{
    bool ok = true;
    char what[32];
    for (uint32_t i = 0; i < cfg->n_listeners; i++) {
        snprintf(what, sizeof what, "listen[%u]", i);
        if (!lv__inherited_has(s, &cfg->listeners[i], false))
            ok &= address_free(&cfg->listeners[i], what, takeover);
    }
    if (cfg->admin_enabled && !lv__inherited_has(s, &cfg->admin, true))
        ok &= address_free(&cfg->admin, "admin.listen", takeover);
    return ok;
}

static void apply_log_level(const lv_config_t *cfg)
{
    int lvl = cfg->log_level ? lv_log_level_parse(cfg->log_level) : LV_LOG_INFO;
    if (lvl >= 0)
        lv_log_set_level((lv_log_level_t)lvl);
}

/* cache.size, cache.shards and cache.policy shaped the store made at start: a reload keeps
 * them, in the new snapshot too, so that whoever reads the config sees the values in force. */
static void keep_cache_store_settings(lv_config_t *cfg, const lv_config_t *running)
{
    if (cfg->cache_size == running->cache_size && cfg->cache_shards == running->cache_shards &&
        cfg->cache_policy == running->cache_policy)
        return;
    lv_log_warn("server", "msg=\"cache.size, cache.shards and cache.policy changes need a "
                          "restart; running values kept\"");
    cfg->cache_size = running->cache_size;
    cfg->cache_shards = running->cache_shards;
    cfg->cache_policy = running->cache_policy;
}

/* Opens cfg's access log (a new sink even when the path is the same: that is the reopen).
 * *sink is NULL when the access log is off. Returns false (logged) when the file cannot be
 * opened. */
static bool open_sink(const lv_config_t *cfg, lv_access_sink_t **sink)
{
    *sink = NULL;
    if (!cfg->access_log)
        return true;
    *sink = lv_access_sink_open(cfg->access_log, (lv_access_format_t)cfg->access_log_format);
    return *sink != NULL;
}

/* Every worker flushes what it buffered into its old sink, then writes to the new one; the old
 * file is closed when the last worker lets go of it. Takes over the reference to sink. */
static void hand_sink(lv_server_t *s, lv_access_sink_t *sink, const char *signal_name)
{
    for (uint32_t i = 0; i < s->n_workers; i++)
        lv__worker_post_sink(&s->workers[i], lv_access_sink_ref(sink));
    lv_access_sink_unref(s->access_sink);
    s->access_sink = sink;
    char path[512];
    lv_log_info(
        "server", "msg=\"logs reopened\" signal=%s access_log=%s", signal_name,
        lv_log_quote_str(path, sizeof path, s->cfg->access_log ? s->cfg->access_log : "off"));
}

/* SIGUSR1 (what logrotate's postrotate sends), and SIGHUP in quick mode: the access log is
 * opened again at its configured path, so that after a rename levee writes to a new file. The
 * error log is stderr, which levee does not open: whoever redirects it reopens it. */
static void server_reopen_logs(lv_server_t *s, const char *signal_name)
{
    lv_access_sink_t *sink;
    if (!open_sink(s->cfg, &sink)) {
        lv_log_error("server", "msg=\"access log not reopened; still writing to the old file\"");
        return;
    }
    hand_sink(s, sink, signal_name);
}

/* Builds cfg's TLS contexts (certificates, keys, authorities read now) and attaches them to
 * it. false, with the reason logged, when a file is missing, malformed or mismatched. */
static bool attach_tls(lv_server_t *s, lv_config_t *cfg)
{
    char err[1024], qerr[1200];
    bool failed;
    lv_tls_set_t *set = lv_tls_set_new(cfg, s->tickets, &failed, err, sizeof err);
    if (failed) {
        lv_log_error("tls", "msg=\"cannot load TLS files\" error=%s",
                     lv_log_quote_str(qerr, sizeof qerr, err));
        return false;
    }
    cfg->tls = set;
    cfg->tls_free = lv_tls_set_free;
    return true;
}

static void rotate_tickets(uv_timer_t *t)
{
    lv_server_t *s = t->data;
    if (lv_tls_tickets_rotate(s->tickets) < 0)
        lv_log_warn("tls", "msg=\"ticket key rotation failed; the current key stays\"");
    else
        lv_log_debug("tls", "msg=\"ticket keys rotated\"");
}

/* The rotation follows tls.ticket_rotate_ms (a reload may change it). */
static void schedule_tickets(lv_server_t *s, const lv_config_t *cfg)
{
    uint32_t ms = cfg->tls_ticket_rotate_ms ? cfg->tls_ticket_rotate_ms : 3600000u;
    if (ms == s->ticket_rotate_ms)
        return;
    s->ticket_rotate_ms = ms;
    uv_timer_start(&s->ticket_timer, rotate_tickets, ms, ms);
}

static void log_reload_refused(lv_server_t *s, const char *path)
{
    s->reloads_refused++;
    char qpath[512];
    lv_log_error("server", "msg=\"reload refused\" file=%s generation=%u",
                 lv_log_quote_str(qpath, sizeof qpath, path), s->generation);
}

/* Returns what came of it, in a few words for the service manager's STATUS=. */
static const char *server_reload(lv_server_t *s)
{
    const char *path = s->cfg->path;
    if (!path || strcmp(path, "<quick>") == 0) {
        lv_log_warn("server", "msg=\"reload ignored: quick mode has no config file\"");
        server_reopen_logs(s, "HUP");
        return "reload ignored (quick mode)";
    }
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_file(path, &errs);
    if (!cfg) {
        char err[1024];
        for (uint32_t i = 0; i < errs.n; i++)
            lv_log_error("config", "error=%s", lv_log_quote_str(err, sizeof err, errs.lines[i]));
        lv_config_errors_fini(&errs);
        log_reload_refused(s, path);
        return "reload refused, running config kept (see the log)";
    }
    lv_config_errors_fini(&errs);
    lv_access_sink_t *sink = NULL;
    if (assign_slots(cfg) < 0 || !attach_tls(s, cfg) || !open_sink(cfg, &sink)) {
        lv_config_unref(cfg);
        log_reload_refused(s, path);
        return "reload refused, running config kept (see the log)";
    }
    schedule_tickets(s, cfg);
    bool same_listen = cfg->n_listeners == s->cfg->n_listeners;
    for (uint32_t i = 0; same_listen && i < cfg->n_listeners; i++)
        same_listen = strcmp(cfg->listeners[i].text, s->cfg->listeners[i].text) == 0;
    if (!same_listen || cfg->workers != s->cfg->workers)
        lv_log_warn("server", "msg=\"listen and workers changes need a restart; running values "
                              "kept\"");
    keep_cache_store_settings(cfg, s->cfg);
    check_conn_cap(s, cfg);
    apply_log_level(cfg);
    lv_flags_reload(s->flags, cfg);
    lv_faults_apply_config(s->faults, s->cfg, cfg);
    lv_health_checks_stop(s->health_checks);
    s->health_checks = lv_health_checks_start(s->loop, cfg, s->hosts);
    lv_config_unref(s->cfg); /* a worker may free it any time now: path is read from cfg */
    s->cfg = cfg;
    path = cfg->path;
    s->generation++;
    s->reloads++;
    for (uint32_t i = 0; i < s->n_workers; i++)
        lv__worker_post(&s->workers[i], lv_config_ref(cfg), s->generation, false, false);
    char qpath[512];
    lv_log_info("server", "msg=reloaded generation=%u file=%s tls_certificates=%u", s->generation,
                lv_log_quote_str(qpath, sizeof qpath, path), lv_tls_set_n_certs(cfg->tls));
    hand_sink(s, sink, "HUP");
    return "reloaded";
}

/* sd_notify (core/sd_notify.h) when systemd runs levee as a Type=notify service; a failure is
 * logged and changes nothing else (systemd then times the start or the reload out itself). */
static void notify(const char *state)
{
    if (lv_sd_notify(state) < 0) {
        char qsock[256];
        const char *sock = getenv("NOTIFY_SOCKET");
        lv_log_warn("server", "msg=\"cannot notify the service manager\" socket=%s error=\"%s\"",
                    lv_log_quote_str(qsock, sizeof qsock, sock ? sock : ""), strerror(errno));
    }
}

/* READY=1 with a STATUS= line: what is listening, and what the last reload did. */
static void notify_ready(const lv_server_t *s, const char *what)
{
    char msg[512];
    char more[32] = "";
    if (s->n_bound > 1)
        snprintf(more, sizeof more, " and %u more", s->n_bound - 1);
    /* A successor (--upgrade-from) is not the process systemd started: MAINPID= makes systemd
     * follow it (NotifyAccess=all lets it say so), before the old main process exits. */
    char mainpid[32] = "";
    if (s->upgraded_from)
        snprintf(mainpid, sizeof mainpid, "MAINPID=%d\n", (int)getpid());
    snprintf(msg, sizeof msg, "%sREADY=1\nSTATUS=%s; listening on %s%s, %u workers, config %s",
             mainpid, what, s->bound[0].text, more, s->n_workers,
             s->cfg->path ? s->cfg->path : "-");
    notify(msg);
}

static void drain_deadline(uv_timer_t *t)
{
    lv_server_t *s = t->data;
    lv_log_warn("server", "msg=\"drain deadline passed, closing remaining connections\"");
    for (uint32_t i = 0; i < s->n_workers; i++)
        lv__worker_post(&s->workers[i], NULL, 0, true, true);
}

static void server_drain(lv_server_t *s)
{
    if (s->draining) {
        drain_deadline(&s->drain_timer); /* a second signal: stop now */
        return;
    }
    s->draining = true;
    lv__upgrade_close(s); /* the listening fds close as the workers drain: nothing to hand */
    /* Handed over, the service goes on in the successor: STOPPING=1 would make systemd stop
     * it (with NotifyAccess=all it listens to this process still). */
    if (!s->handed_over)
        notify("STOPPING=1\nSTATUS=draining");
    lv_health_checks_stop(s->health_checks);
    s->health_checks = NULL;
    lv_l2_subscriber_stop(s->l2_sub);
    s->l2_sub = NULL;
    lv_log_info("server", "msg=draining deadline_ms=%u", s->cfg->drain_timeout_ms);
    for (uint32_t i = 0; i < s->n_workers; i++)
        lv__worker_post(&s->workers[i], NULL, 0, true, false);
    uv_timer_start(&s->drain_timer, drain_deadline, s->cfg->drain_timeout_ms, 0);
}

void lv__server_handed_over(lv_server_t *s, int successor_pid)
{
    lv_log_info("server", "msg=\"handed over to a successor; stopping accepting\" pid=%d",
                successor_pid);
    lv_admin_unlisten(s->admin);
    server_drain(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    lv_server_t *s = h->data;
    if (signum == SIGHUP) {
        /* While draining, systemd was told STOPPING=1: a reload then tells it nothing. */
        char msg[64];
        snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long)lv_clock_now_us());
        if (!s->draining)
            notify(msg);
        const char *what = server_reload(s);
        if (!s->draining)
            notify_ready(s, what);
    } else if (signum == SIGUSR1)
        server_reopen_logs(s, "USR1");
    else if (signum == SIGUSR2)
        lv__upgrade_spawn(s);
    else
        server_drain(s);
}

/* guard/backend_limit.h: a worker was handed slots for its waiters by another one. */
static void wake_for_slots(void *ctx, uint32_t worker)
{
    lv_server_t *s = ctx;
    uv_async_send(&s->workers[worker].guard_wake);
}

static void on_worker_done(uv_async_t *a)
{
    lv_server_t *s = a->data;
    if (atomic_load(&s->workers_done) < s->n_workers)
        return;
    if (s->admin)
        lv_admin_stop(s->admin);
    s->admin = NULL;
    lv__upgrade_close(s);
    lv_health_checks_stop(s->health_checks);
    s->health_checks = NULL;
    uv_close((uv_handle_t *)&s->wake, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_usr1, NULL);
    uv_close((uv_handle_t *)&s->sig_usr2, NULL);
    signal(SIGUSR1, SIG_IGN); /* a rotation now must not kill a process about to exit 0 */
    signal(SIGUSR2, SIG_IGN);
    lv__upgrade_forget(s); /* a successor runs on without this process */
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    uv_close((uv_handle_t *)&s->trim_timer, NULL);
    uv_close((uv_handle_t *)&s->fault_timer, NULL);
    uv_close((uv_handle_t *)&s->ticket_timer, NULL);
}

/* After a burst (a flash crowd, a stall that let requests pile up), the freed request heads
 * and buffers sit in the middle of the allocator's heaps, which free() never gives back: RSS
 * would stay at the burst's peak for good. Every LV_TRIM_MS the main thread hands free pages of
 * every heap back to the system (glibc's malloc_trim: madvise). It holds one heap's lock at a
 * time, for well under a millisecond in steady state and ~10 ms after a burst of thousands of
 * requests; workers allocate from their own heaps, so their loops rarely wait on it. */
/* Faults whose time is up end in the table (and in the log) within a second; the workers
 * stopped applying them at their end already. */
static void expire_faults(uv_timer_t *t)
{
    lv_server_t *s = t->data;
    lv_faults_expire(s->faults, lv_clock_now_ms());
}

static void trim_heaps(uv_timer_t *t)
{
    (void)t;
#ifdef __GLIBC__
    malloc_trim(LV_TRIM_PAD_BYTES);
#endif
}

static lv_config_t *admin_config(void *ctx)
{
    return ((lv_server_t *)ctx)->cfg;
}

static uint64_t admin_reloads(void *ctx)
{
    return ((lv_server_t *)ctx)->reloads;
}

static uint64_t admin_reloads_refused(void *ctx)
{
    return ((lv_server_t *)ctx)->reloads_refused;
}

static uint64_t admin_generation(void *ctx)
{
    return ((lv_server_t *)ctx)->generation;
}

static int admin_draining(void *ctx)
{
    return ((lv_server_t *)ctx)->draining;
}

int lv_server_run(lv_config_t *cfg, bool takeover, const char *upgrade_from)
{
    lv_server_hooks_t hooks = {.takeover = takeover, .upgrade_from = upgrade_from};
    return lv_server_run_with(cfg, &hooks);
}

int lv_server_run_self(lv_config_t *cfg, bool takeover, const char *upgrade_from,
                       const char *self_exe, char *const *self_argv)
{
    lv_server_hooks_t hooks = {.takeover = takeover,
                               .upgrade_from = upgrade_from,
                               .self_exe = self_exe,
                               .self_argv = self_argv};
    return lv_server_run_with(cfg, &hooks);
}

int lv_server_run_with(lv_config_t *cfg, const lv_server_hooks_t *hooks)
{
    bool takeover = hooks && hooks->takeover;
    lv_server_t s;
    memset(&s, 0, sizeof s);
    s.upgrade_from_fd = s.upgrade_listen_fd = s.upgrade_conn_fd = -1;
    s.cfg = cfg;
    s.generation = 1;
    s.start_wall_ms = lv_clock_wall_ms();
    s.exit_code = 1;
    if (hooks && hooks->self_exe && hooks->self_argv) {
        s.self_exe = hooks->self_exe;
        s.self_argv = hooks->self_argv;
    }
    s.upgraded_from = hooks && hooks->upgrade_from;
    signal(SIGPIPE, SIG_IGN);
    /* Until their handlers are installed, a SIGUSR1 (a log rotation) or a SIGUSR2 (an upgrade)
     * must not kill levee. */
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    apply_log_level(cfg);
    uv_loop_t loop;
    uv_loop_init(&loop);
    s.loop = &loop;
    uint32_t started = 0, inited = 0;

    if (assign_slots(cfg) < 0)
        goto out;
    /* Before anything is bound: the addresses handed over are not taken, they are ours. */
    if (hooks && hooks->upgrade_from && lv__upgrade_receive(&s, hooks->upgrade_from) < 0)
        goto out;
    if (!addresses_free(&s, cfg, takeover))
        goto out;
    if (!(s.tickets = lv_tls_tickets_new()) || !attach_tls(&s, cfg))
        goto out;
    s.n_workers = cfg->workers ? cfg->workers : 1;
    s.fd_conn_cap = fd_conn_cap(s.n_workers, &s.nofile);
    check_conn_cap(&s, cfg);
    s.shards = calloc(s.n_workers, sizeof *s.shards);
    s.workers = calloc(s.n_workers, sizeof *s.workers);
    if (!s.shards || !s.workers)
        goto out;
    for (uint32_t i = 0; i < s.n_workers; i++)
        if (!(s.shards[i] = calloc(1, sizeof *s.shards[i])))
            goto out;
    if (!open_sink(cfg, &s.access_sink))
        goto out;
    lv_storm_conf_t storm_conf = {
        cfg->storm_window_ms ? cfg->storm_window_ms : 10000,
        cfg->storm_threshold ? cfg->storm_threshold : 3,
        cfg->storm_entries ? cfg->storm_entries : 65536,
    };
    if (!(s.storm = lv_storm_new(&storm_conf)) || !(s.flags = lv_flags_new(cfg)) ||
        !(s.hosts = lv_hosts_new(LV_HOSTS_MAX)) || !(s.faults = lv_faults_new(s.hosts)) ||
        !(s.backends = lv_backend_limits_new(s.n_workers, wake_for_slots, &s)))
        goto out;
    if (lv__cache_server_init(&s) < 0)
        goto out;
    if (lv__server_bind(&s) < 0)
        goto out;
    for (; inited < s.n_workers; inited++)
        if (lv__worker_init(&s.workers[inited], &s, inited) < 0) {
            inited++;
            goto out;
        }

    uv_async_init(&loop, &s.wake, on_worker_done);
    s.wake.data = &s;
    uv_timer_init(&loop, &s.drain_timer);
    s.drain_timer.data = &s;
    uv_timer_init(&loop, &s.trim_timer);
    uv_timer_start(&s.trim_timer, trim_heaps, LV_TRIM_MS, LV_TRIM_MS);
    uv_timer_init(&loop, &s.fault_timer);
    s.fault_timer.data = &s;
    uv_timer_start(&s.fault_timer, expire_faults, 1000, 1000);
    uv_timer_init(&loop, &s.ticket_timer);
    s.ticket_timer.data = &s;
    schedule_tickets(&s, cfg);
    lv_faults_apply_config(s.faults, NULL, cfg);
    uv_signal_init(&loop, &s.sig_hup);
    uv_signal_init(&loop, &s.sig_term);
    uv_signal_init(&loop, &s.sig_int);
    uv_signal_init(&loop, &s.sig_usr1);
    uv_signal_init(&loop, &s.sig_usr2);
    s.sig_hup.data = s.sig_term.data = s.sig_int.data = s.sig_usr1.data = s.sig_usr2.data = &s;
    if (!hooks || !hooks->no_signals) {
        uv_signal_start(&s.sig_hup, on_signal, SIGHUP);
        uv_signal_start(&s.sig_term, on_signal, SIGTERM);
        uv_signal_start(&s.sig_int, on_signal, SIGINT);
        uv_signal_start(&s.sig_usr1, on_signal, SIGUSR1);
        uv_signal_start(&s.sig_usr2, on_signal, SIGUSR2);
    }

    if (cfg->admin_enabled) {
        lv_admin_source_t src = {
            .ctx = &s,
            .config = admin_config,
            .shards = s.shards,
            .n_shards = s.n_workers,
            .start_wall_ms = s.start_wall_ms,
            .reloads = admin_reloads,
            .reloads_refused = admin_reloads_refused,
            .generation = admin_generation,
            .draining = admin_draining,
            .flags = s.flags,
            .cache = s.cache,
            .hosts = s.hosts,
            .faults = s.faults,
            .l2_drops = &s.l2_drops,
        };
        /* Checked again now that this process listens: the admin address must not overlap one
         * of its own listeners through a wildcard (0.0.0.0:P beside 127.0.0.1:P). */
        int admin_fd = lv__inherited_take(&s, &cfg->admin, true);
        if (admin_fd >= 0 || takeover || address_free(&cfg->admin, "admin.listen", false))
            s.admin = lv_admin_start(&loop, &cfg->admin, admin_fd, &src);
        if (!s.admin) {
            s.workers_done = s.n_workers;
            on_worker_done(&s.wake);
            uv_run(&loop, UV_RUN_DEFAULT);
            goto out;
        }
    }
    for (uint32_t i = 0; i < cfg->n_listeners; i++)
        lv_log_info("server", "msg=listening proto=%s addr=%s",
                    lv_tls_set_listener(cfg->tls, i) ? "https" : "http", s.bound[i].text);
    for (; started < s.n_workers; started++)
        if (lv__worker_start(&s.workers[started]) < 0)
            break;
    if (started < s.n_workers) {
        lv_log_error("server", "msg=\"cannot start worker threads\"");
        server_drain(&s);
    } else {
        char qpath[512];
        lv_log_info("server", "msg=ready workers=%u pid=%d config=%s", s.n_workers, (int)getpid(),
                    lv_log_quote_str(qpath, sizeof qpath, cfg->path ? cfg->path : "-"));
        s.health_checks = lv_health_checks_start(&loop, cfg, s.hosts);
        if (s.cache && cfg->cache_l2_url)
            s.l2_sub = lv_l2_subscriber_start(&loop, cfg, s.cache, &s.l2_drops);
        s.exit_code = 0;
        /* Every worker accepts on the sockets handed over: the predecessor may stop now. Then
         * this process waits for its own successor. */
        lv__upgrade_finish(&s);
        lv__upgrade_listen(&s);
        /* The listeners were bound and listening before the workers started: a client that
         * connects once systemd has this accepts. */
        notify_ready(&s, "started");
        if (hooks && hooks->ready)
            hooks->ready(hooks->ctx, s.bound, cfg->n_listeners);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (uint32_t i = 0; i < started; i++)
        uv_thread_join(&s.workers[i].thread);
    if (s.exit_code == 0)
        lv_log_info("server", "msg=stopped");

out:
    for (uint32_t i = 0; i < inited; i++)
        lv__worker_fini(&s.workers[i]);
    for (uint32_t i = 0; i < s.n_lsocks; i++) /* as bound at start, those no worker took */
        if (!s.lsocks[i].taken)
            close(s.lsocks[i].fd);
    for (uint32_t i = 0; i < s.n_inherited; i++)
        if (s.inherited[i].fd >= 0)
            close(s.inherited[i].fd);
    if (s.upgrade_from_fd >= 0)
        close(s.upgrade_from_fd);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    if (s.shards)
        for (uint32_t i = 0; i < s.n_workers; i++)
            free(s.shards[i]);
    free(s.shards);
    free(s.workers);
    free(s.lsocks);
    free(s.inherited);
    free(s.bound);
    lv_access_sink_unref(s.access_sink);
    if (s.storm)
        lv_storm_free(s.storm);
    lv_faults_free(s.faults);
    lv_hosts_free(s.hosts);
    lv_backend_limits_free(s.backends);
    if (s.flags)
        lv_flags_free(s.flags);
    lv__cache_server_fini(&s);
    lv_config_unref(s.cfg);
    lv_tls_tickets_free(s.tickets); /* after the contexts that point to it */
    lv_metrics_registry_reset();
    return s.exit_code;
}
