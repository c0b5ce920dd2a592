/* replicate/run.c: the replicator's main thread: starts a thread per peer and the --metrics
 * listener, writes the counters to the local Redis every second, and on SIGTERM/SIGINT stops
 * the peers (each finishes its batch), writes the counters a last time and frees everything. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "replicate/replicate.h"

#define COMP "replicate"

static void flush(redisContext **c, const lv_repl_opts_t *o, lv_repl_peer_t *peers,
                  uint64_t (*flushed)[LV_REPL_C_N + LV_REPL_LAG_BUCKETS])
{
    if (!*c) {
        char err[256];
        *c = lv_repl_redis_connect(&o->local, 2000, err, sizeof err);
        if (!*c)
            return; /* the peers' threads log the local Redis going down */
    }
    if (lv_repl_stats_flush(*c, o, peers, flushed) != 0) {
        redisFree(*c);
        *c = NULL;
    }
}

int lv_repl_run(const lv_repl_opts_t *o)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked in every thread (they inherit the mask); the main thread waits for them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    atomic_bool stop;
    atomic_init(&stop, false);
    lv_repl_peer_t *peers = lv_xcalloc(o->npeers, sizeof *peers);
    pthread_t *threads = lv_xcalloc(o->npeers, sizeof *threads);
    uint64_t(*flushed)[LV_REPL_C_N + LV_REPL_LAG_BUCKETS] = lv_xcalloc(o->npeers, sizeof *flushed);
    for (size_t i = 0; i < o->npeers; i++) {
        peers[i].opts = o;
        peers[i].opt = &o->peers[i];
        peers[i].stop = &stop;
        snprintf(peers[i].stream, sizeof peers[i].stream, LV_L2_STREAM_PREFIX "%s",
                 o->peers[i].name);
        lv_repl_stats_init(&peers[i].stats);
    }
    lv_repl_http_t *http = NULL;
    int rc = 0;
    if (o->metrics[0] && !(http = lv_repl_http_start(o->metrics, o, peers))) {
        rc = 1;
        goto out;
    }
    char ql[128], qc[128];
    lv_log_info(COMP, "msg=\"replicator started\" region=%s local=%s peers=%zu consumer=%s",
                o->region, lv_log_quote_str(ql, sizeof ql, o->local.text), o->npeers,
                lv_log_quote_str(qc, sizeof qc, o->consumer));
    size_t started = 0;
    for (; started < o->npeers; started++) {
        if (pthread_create(&threads[started], NULL, lv_repl_peer_run, &peers[started]) != 0) {
            lv_log_error(COMP, "msg=\"cannot start a thread\"");
            atomic_store(&stop, true);
            rc = 1;
            break;
        }
    }
    redisContext *c = NULL;
    while (!atomic_load(&stop)) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            lv_log_info(COMP, "msg=\"stopping\" signal=%s", sig == SIGTERM ? "TERM" : "INT");
            atomic_store(&stop, true);
        }
        flush(&c, o, peers, flushed);
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    flush(&c, o, peers, flushed); /* what the last batches counted */
    if (c)
        redisFree(c);
    lv_log_info(COMP, "msg=\"replicator stopped\" region=%s", o->region);
out:
    lv_repl_http_stop(http);
    free(flushed);
    free(threads);
    free(peers);
    return rc;
}
