/* proxy/worker.c: one worker thread: its loop, SO_REUSEPORT listeners, config generations,
 * request pool, access log buffer and drain. The main thread talks to it only through the
 * locked mailbox + async: new config, new access log sink (a reopen), drain, stop. */
#include "proxy/proxy.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define LV_LISTEN_BACKLOG 4096
#define LV_MAX_FREE_REQS 1024

/* ---- generations ---- */

lv_gen_t *lv__gen_ref(lv_gen_t *g)
{
    g->refs++;
    return g;
}

void lv__gen_unref(lv_gen_t *g)
{
    LV_ASSERT(g->refs > 0);
    if (--g->refs)
        return;
    LV_ASSERT(g->n_uconns == 0);
    if (g->pools) {
        for (uint32_t i = 0; i < g->cfg->n_services; i++) {
            for (uint32_t h = 0; g->pools[i].hosts && h < g->pools[i].n_hosts; h++)
                lv_tls_session_free(g->pools[i].hosts[h].tls_session);
            free(g->pools[i].hosts);
        }
        free(g->pools);
    }
    if (g->pages) {
        for (uint32_t i = 0; i < g->cfg->n_services; i++)
            if (g->pages[i])
                lv_page_set_free(g->pages[i]);
        free(g->pages);
    }
    lv_config_unref(g->cfg);
    free(g);
}

/* Takes over one reference to cfg. */
static lv_gen_t *gen_new(lv_worker_t *w, lv_config_t *cfg, uint32_t number)
{
    lv_gen_t *g = calloc(1, sizeof *g);
    if (!g) {
        lv_config_unref(cfg);
        return NULL;
    }
    g->refs = 1;
    g->number = number;
    g->cfg = cfg;
    g->worker = w;
    if (lv__pools_init(g) < 0) {
        lv__gen_unref(g);
        return NULL;
    }
    g->pages = calloc(cfg->n_services ? cfg->n_services : 1, sizeof *g->pages);
    if (!g->pages) {
        lv__gen_unref(g);
        return NULL;
    }
    uint32_t ra_s = (cfg->retry_after_ms + 999) / 1000;
    for (uint32_t i = 0; i < cfg->n_services; i++)
        if (!(g->pages[i] = lv_page_set_new(&cfg->services[i], ra_s ? ra_s : 1))) {
            lv__gen_unref(g);
            return NULL;
        }
    return g;
}

static void worker_set_gen(lv_worker_t *w, lv_gen_t *g)
{
    lv_gen_t *old = w->gen;
    w->gen = g;
    if (old) {
        lv__pools_fini(old); /* idle upstream connections of the old config go now */
        lv__gen_unref(old);
    }
}

/* ---- requests ---- */

lv_req_t *lv__req_acquire(lv_worker_t *w)
{
    lv_req_t *r = w->free_reqs;
    if (r) {
        w->free_reqs = r->next_free;
        w->n_free_reqs--;
    } else {
        r = malloc(sizeof *r);
        if (!r)
            return NULL;
    }
    memset(r, 0, offsetof(lv_req_t, request_id));
    r->request_id_len = 0;
    r->target_len = 0;
    r->host_len = r->ua_len = 0;
    return r;
}

void lv__req_release(lv_worker_t *w, lv_req_t *r)
{
    LV_ASSERT(!r->released); /* always on: a request ended twice corrupts the pool */
    r->released = true;
    if (w->n_free_reqs >= LV_MAX_FREE_REQS) {
        free(r);
        return;
    }
    r->next_free = w->free_reqs;
    w->free_reqs = r;
    w->n_free_reqs++;
}

/* ---- listening ---- */

static void on_connection(uv_stream_t *listener, int status)
{
    lv_worker_t *w = listener->data;
    if (status < 0) {
        if (lv_log_limit_allow(&w->warn_limit, lv_clock_now_ms(), 1))
            lv_log_warn("server", "msg=\"accept failed\" error=%s", uv_err_name(status));
        return;
    }
    lv__conn_accept(w, listener);
}

static int listen_socket(const lv_addr_t *a)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static bool same_sockaddr(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
    if (x->ss_family != y->ss_family)
        return false;
    if (x->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)x;
        const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)y;
        return a->sin6_port == b->sin6_port &&
               memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)x;
    const struct sockaddr_in *b = (const struct sockaddr_in *)y;
    return x->ss_family == AF_INET && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static int inherited_find(const lv_server_t *s, const lv_addr_t *a, bool admin)
{
    for (uint32_t i = 0; i < s->n_inherited; i++) {
        const lv__inherited_t *in = &s->inherited[i];
        if (in->fd >= 0 && in->admin == admin && same_sockaddr(&in->sa, &a->sa))
            return (int)i;
    }
    return -1;
}

bool lv__inherited_has(const lv_server_t *s, const lv_addr_t *a, bool admin)
{
    return inherited_find(s, a, admin) >= 0;
}

int lv__inherited_take(lv_server_t *s, const lv_addr_t *a, bool admin)
{
    int i = inherited_find(s, a, admin);
    if (i < 0)
        return -1;
    int fd = s->inherited[i].fd;
    s->inherited[i].fd = -1;
    return fd;
}

static void addr_from_fd(lv_addr_t *b, int fd)
{
    b->sa_len = sizeof b->sa;
    getsockname(fd, (struct sockaddr *)&b->sa, &b->sa_len);
    char ip[INET6_ADDRSTRLEN] = "";
    unsigned port;
    if (b->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&b->sa;
        uv_ip6_name(in6, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(b->text, sizeof b->text, "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&b->sa;
        uv_ip4_name(in, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(b->text, sizeof b->text, "%s:%u", ip, port);
    }
}

static void lsock_add(lv_server_t *s, uint32_t listener, int fd, bool taken)
{
    LV_ASSERT(s->n_lsocks < s->cap_lsocks);
    s->lsocks[s->n_lsocks++] = (lv__lsock_t){.listener = listener, .fd = fd, .taken = taken};
}

/* Each listener gets the sockets a predecessor handed over for its address (their queues hold
 * connections the predecessor will not accept any more), else one bound now (resolving port
 * 0); the workers share them out and add their own. */
int lv__server_bind(lv_server_t *s)
{
    const lv_config_t *cfg = s->cfg;
    uint32_t n_workers = s->n_workers ? s->n_workers : 1;
    s->cap_lsocks = cfg->n_listeners * n_workers + s->n_inherited;
    s->lsocks = calloc(s->cap_lsocks ? s->cap_lsocks : 1, sizeof *s->lsocks);
    s->bound = calloc(cfg->n_listeners, sizeof *s->bound);
    if (!s->lsocks || !s->bound)
        return LV_ENOMEM;
    s->n_bound = cfg->n_listeners;
    for (uint32_t i = 0; i < cfg->n_listeners; i++) {
        uint32_t first = s->n_lsocks;
        for (int fd; (fd = lv__inherited_take(s, &cfg->listeners[i], false)) >= 0;)
            lsock_add(s, i, fd, false);
        if (s->n_lsocks > first) {
            lv_log_info("server", "msg=\"listener taken over\" addr=%s sockets=%u",
                        cfg->listeners[i].text, s->n_lsocks - first);
        } else {
            int fd = listen_socket(&cfg->listeners[i]);
            if (fd < 0) {
                lv_log_error("server", "msg=\"cannot listen\" addr=%s error=\"%s\"",
                             cfg->listeners[i].text, strerror(-fd));
                return LV_EIO;
            }
            lsock_add(s, i, fd, false);
        }
        s->bound[i] = cfg->listeners[i];
        addr_from_fd(&s->bound[i], s->lsocks[first].fd);
    }
    return 0;
}

/* ---- mailbox ---- */

static void worker_finish(lv_worker_t *w);

static void worker_begin_drain(lv_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = true;
    for (uint32_t i = 0; i < w->n_listeners; i++)
        if (!uv_is_closing((uv_handle_t *)&w->listeners[i]))
            uv_close((uv_handle_t *)&w->listeners[i], NULL);
    lv_link_t *n = w->conns.next;
    while (n != &w->conns) {
        lv_conn_t *c = LV_CONTAINER_OF(n, lv_conn_t, link);
        n = n->next;
        lv__conn_drain(c);
    }
    lv__join_drop_orphans(w);
    lv__worker_maybe_finish(w);
}

/* The access log was reopened or changed: the lines buffered so far go whole to the old file,
 * the next ones to sink (whose reference this takes over; NULL: off). Nothing else is shared:
 * the sink is immutable and reference-counted (core/access_log.c). */
static void worker_set_sink(lv_worker_t *w, lv_access_sink_t *sink)
{
    if (sink && !w->access_log) {
        w->access_log = malloc(sizeof *w->access_log);
        if (!w->access_log) {
            lv_log_error("access_log", "msg=\"out of memory: this worker logs nothing\" worker=%u",
                         w->id);
            lv_access_sink_unref(sink);
            return;
        }
        lv_access_log_init(w->access_log, NULL);
    }
    if (w->access_log) {
        lv_access_log_set_sink(w->access_log, sink);
        if (!sink) {
            free(w->access_log);
            w->access_log = NULL;
        }
    }
    lv_access_sink_unref(sink);
}

static void worker_wake(uv_async_t *a)
{
    lv_worker_t *w = a->data;
    uv_mutex_lock(&w->lock);
    lv_config_t *cfg = w->next_cfg;
    uint32_t number = w->next_gen;
    bool drain = w->want_drain, stop = w->want_stop;
    bool new_sink = w->sink_posted;
    lv_access_sink_t *sink = w->next_sink;
    w->next_cfg = NULL;
    w->sink_posted = false;
    w->next_sink = NULL;
    uv_mutex_unlock(&w->lock);
    if (new_sink && !w->stopping)
        worker_set_sink(w, sink);
    else if (new_sink)
        lv_access_sink_unref(sink);
    if (cfg && !w->stopping) {
        lv_gen_t *g = gen_new(w, cfg, number);
        if (g)
            worker_set_gen(w, g);
        else
            lv_log_error("server", "msg=\"out of memory applying config\" worker=%u", w->id);
    } else if (cfg) {
        lv_config_unref(cfg);
    }
    if (drain || stop)
        worker_begin_drain(w);
    if (stop && !w->stopping) {
        /* Deadline passed: cut what is left. */
        lv_link_t *n = w->conns.next;
        while (n != &w->conns) {
            lv_conn_t *c = LV_CONTAINER_OF(n, lv_conn_t, link);
            n = n->next;
            lv__conn_close(c);
        }
    }
}

void lv__worker_post(lv_worker_t *w, lv_config_t *cfg, uint32_t gen, bool drain, bool stop)
{
    uv_mutex_lock(&w->lock);
    if (cfg) {
        if (w->next_cfg)
            lv_config_unref(w->next_cfg); /* superseded before the worker saw it */
        w->next_cfg = cfg;
        w->next_gen = gen;
    }
    w->want_drain |= drain;
    w->want_stop |= stop;
    uv_mutex_unlock(&w->lock);
    uv_async_send(&w->wake);
}

void lv__worker_post_sink(lv_worker_t *w, lv_access_sink_t *sink)
{
    uv_mutex_lock(&w->lock);
    lv_access_sink_t *old = w->sink_posted ? w->next_sink : NULL;
    w->next_sink = sink;
    w->sink_posted = true;
    uv_mutex_unlock(&w->lock);
    lv_access_sink_unref(old); /* superseded before the worker saw it: nothing was written to it */
    uv_async_send(&w->wake);
}

#define LV_TICK_MS 100u
#define LV_BUSY_IDLE_SHARE 0.05         /* under 5 % idle: this worker is the bottleneck */
#define LV_TLS_BUSY_HOLD_NS 1000000000u /* the handshake budget outlives a busy window by 1 s */

/* Every 100 ms: is this worker's own loop saturated? Then the latency it measures is its own
 * queueing, not the upstream's, and the limiter must not read it as backend overload. */
static void worker_tick(uv_timer_t *t)
{
    lv_worker_t *w = t->data;
    uint64_t now_ns = uv_hrtime();
    uint64_t idle_ns = uv_metrics_idle_time(&w->loop);
    if (w->tick_ns && now_ns > w->tick_ns) {
        double idle = (double)(idle_ns - w->idle_ns) / (double)(now_ns - w->tick_ns);
        w->loop_busy = idle < LV_BUSY_IDLE_SHARE;
    }
    w->tick_ns = now_ns;
    w->idle_ns = idle_ns;
    /* A new window for full TLS handshakes: limited while the loop has been saturated within
     * the last second (held, or the budget would switch itself off by freeing the loop) and
     * requests come in, so that handshakes alone may use the whole worker. */
    uint32_t pct = w->gen ? w->gen->cfg->tls_handshake_cpu_percent : 100;
    if (w->loop_busy)
        w->tls_busy_until_ns = now_ns + LV_TLS_BUSY_HOLD_NS;
    w->tls_budget.allow_ns = (uint64_t)pct * LV_TICK_MS * 1000000u / 100u;
    w->tls_budget.enforce =
        pct < 100 && now_ns < w->tls_busy_until_ns && w->req_seq != w->tick_req_seq;
    w->tls_budget.spent_ns = 0;
    w->tick_req_seq = w->req_seq;
    lv__guard_tick(w);
    lv__cache_tick(w);
    if (w->access_log && ++w->ticks % 10 == 0)
        lv_access_log_flush(w->access_log);
}

/* Another worker handed this one concurrency slots for its waiters (guard/backend_limit.h). */
static void guard_wake(uv_async_t *a)
{
    lv_worker_t *w = a->data;
    w->dispatch_pending = true;
    lv__limit_run_dispatch(w);
}

static void worker_idle(uv_idle_t *idle)
{
    lv_worker_t *w = idle->data;
    lv__conn_run_deferred(w);
    lv__limit_run_dispatch(w);
    lv__conn_run_handshakes(w);
    if (lv_list_empty(&w->deferred) && lv_list_empty(&w->hs_waiting) && !w->dispatch_pending)
        uv_idle_stop(idle);
}

void lv__worker_defer(lv_worker_t *w)
{
    if (!uv_is_active((uv_handle_t *)&w->defer_idle))
        uv_idle_start(&w->defer_idle, worker_idle);
}

void lv__worker_maybe_finish(lv_worker_t *w)
{
    if (w->draining && !w->stopping && w->n_conns == 0)
        worker_finish(w);
}

static void worker_finish(lv_worker_t *w)
{
    w->stopping = true;
    if (w->access_log)
        lv_access_log_flush(w->access_log);
    worker_set_gen(w, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
    lv_timeouts_close(&w->conn_timeouts);
    lv_timeouts_close(&w->req_timeouts);
    uv_close((uv_handle_t *)&w->defer_idle, NULL);
    uv_close((uv_handle_t *)&w->queue_tick, NULL);
    uv_close((uv_handle_t *)&w->guard_wake, NULL);
    lv__cache_worker_close(w);
    /* The loop ends once the last upstream connection has closed. */
}

static void worker_main(void *arg)
{
    lv_worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    lv_server_t *s = w->server;
    atomic_fetch_add(&s->workers_done, 1);
    uv_async_send(&s->wake);
}

/* Listens on fd (a socket of listener i) from w's loop; the handle owns fd from now on. */
static int worker_listen(lv_worker_t *w, uint32_t i, int fd)
{
    uint32_t k = w->n_listeners;
    uv_tcp_init(&w->loop, &w->listeners[k]);
    w->listeners[k].data = w;
    w->listener_of[k] = (uint8_t)i;
    w->n_listeners++;
    int rc = uv_tcp_open(&w->listeners[k], fd);
    if (rc < 0)
        close(fd); /* the handle did not take it */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&w->listeners[k], LV_LISTEN_BACKLOG, on_connection);
    if (rc < 0) {
        lv_log_error("server", "msg=\"cannot listen\" addr=%s error=%s", w->server->bound[i].text,
                     uv_err_name(rc));
        return LV_EIO;
    }
    return 0;
}

int lv__worker_init(lv_worker_t *w, lv_server_t *s, uint32_t id)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->server = s;
    if (uv_loop_init(&w->loop) < 0)
        return LV_EIO;
    uv_loop_configure(&w->loop, UV_METRICS_IDLE_TIME);
    uv_mutex_init(&w->lock);
    lv_list_init(&w->conns);
    lv_list_init(&w->deferred);
    lv_list_init(&w->hs_waiting);
    lv_buf_pool_init(&w->bufs, 256);
    w->metrics = s->shards[id];
    if (getrandom(&w->rid_salt, sizeof w->rid_salt, 0) != sizeof w->rid_salt)
        w->rid_salt = (uint32_t)lv_clock_now_ns() ^ (id * 2654435761u);
    if (s->access_sink) {
        w->access_log = malloc(sizeof *w->access_log);
        if (!w->access_log)
            return LV_ENOMEM;
        lv_access_log_init(w->access_log, s->access_sink);
    }
    uv_async_init(&w->loop, &w->wake, worker_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    lv_timeouts_init(&w->conn_timeouts, &w->loop, lv__conn_timeout);
    lv_timeouts_init(&w->req_timeouts, &w->loop, lv__fault_timeout);
    uv_idle_init(&w->loop, &w->defer_idle);
    w->defer_idle.data = w;
    uv_timer_init(&w->loop, &w->queue_tick);
    w->queue_tick.data = w;
    lv_list_init(&w->waiting_guards);
    uv_async_init(&w->loop, &w->guard_wake, guard_wake);
    w->guard_wake.data = w;
    lv_list_init(&w->orphans);
    lv_list_init(&w->half_closed);
    lv__cache_worker_init(w);
    lv_rng_seed(&w->rng, ((uint64_t)w->rid_salt << 32) | id);

    const lv_config_t *cfg = s->cfg;
    w->gen = gen_new(w, lv_config_ref(s->cfg), s->generation);
    if (!w->gen)
        return LV_ENOMEM;
    /* At most one socket per listener bound here, plus its share of the bound or inherited. */
    uint32_t cap = cfg->n_listeners + s->n_lsocks;
    w->listeners = calloc(cap, sizeof *w->listeners);
    w->listener_of = calloc(cap, sizeof *w->listener_of);
    if (!w->listeners || !w->listener_of)
        return LV_ENOMEM;
    for (uint32_t i = 0; i < cfg->n_listeners; i++) {
        /* Socket k of listener i goes to worker k mod n: a predecessor with more workers
         * handed over more sockets, and each must be accepted from. */
        uint32_t k = 0, mine = 0, n_before = s->n_lsocks;
        for (uint32_t j = 0; j < n_before; j++) {
            lv__lsock_t *ls = &s->lsocks[j];
            if (ls->listener != i)
                continue;
            if (k++ % s->n_workers != id)
                continue;
            int rc = worker_listen(w, i, ls->fd);
            ls->taken = true; /* the handle owns it, even when it failed */
            if (rc < 0)
                return rc;
            mine++;
        }
        if (mine)
            continue;
        int fd = listen_socket(&s->bound[i]);
        if (fd < 0) {
            lv_log_error("server", "msg=\"cannot listen\" addr=%s worker=%u error=\"%s\"",
                         s->bound[i].text, id, strerror(-fd));
            return LV_EIO;
        }
        lsock_add(s, i, fd, true);
        int rc = worker_listen(w, i, fd);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int lv__worker_start(lv_worker_t *w)
{
    uv_timer_start(&w->tick, worker_tick, LV_TICK_MS, LV_TICK_MS);
    return uv_thread_create(&w->thread, worker_main, w) < 0 ? LV_EIO : 0;
}

/* After the thread has ended (or was never started): frees what is left. */
void lv__worker_fini(lv_worker_t *w)
{
    if (!w->stopping) {
        /* Never ran: close the handles so that the loop can be closed. */
        w->draining = true;
        for (uint32_t i = 0; i < w->n_listeners; i++)
            if (!uv_is_closing((uv_handle_t *)&w->listeners[i]))
                uv_close((uv_handle_t *)&w->listeners[i], NULL);
        if (w->gen)
            worker_finish(w);
        else {
            uv_close((uv_handle_t *)&w->wake, NULL);
            uv_close((uv_handle_t *)&w->tick, NULL);
            lv_timeouts_close(&w->conn_timeouts);
            lv_timeouts_close(&w->req_timeouts);
            uv_close((uv_handle_t *)&w->defer_idle, NULL);
            uv_close((uv_handle_t *)&w->queue_tick, NULL);
            uv_close((uv_handle_t *)&w->guard_wake, NULL);
            lv__cache_worker_close(w);
        }
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&w->loop);
    if (w->next_cfg)
        lv_config_unref(w->next_cfg);
    if (w->sink_posted)
        lv_access_sink_unref(w->next_sink);
    if (w->access_log)
        lv_access_log_fini(w->access_log);
    while (w->free_reqs) {
        lv_req_t *r = w->free_reqs;
        w->free_reqs = r->next_free;
        free(r);
    }
    lv__conn_worker_fini(w);
    free(w->fault_view);
    w->fault_view = NULL;
    lv__guard_worker_fini(w);
    lv_buf_pool_fini(&w->bufs);
    free(w->listeners);
    free(w->listener_of);
    free(w->access_log);
    uv_mutex_destroy(&w->lock);
}
