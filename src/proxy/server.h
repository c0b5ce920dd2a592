/* proxy/server.h: the process as a whole: binds listeners, runs the workers and the main
 * thread (signals, reload, drain, admin). main.c calls this and nothing else of the proxy. */
#ifndef LV_PROXY_SERVER_H
#define LV_PROXY_SERVER_H

#include <stdbool.h>

#include "core/config.h"

/* Runs levee with cfg (takes over the reference) until SIGTERM/SIGINT and the drain end.
 * SIGHUP reloads from cfg->path unless it is "<quick>". Refuses to start (exit code 1, the
 * holder's pid and command logged) when another process already listens on a configured
 * address (listen[] or admin.listen; port 0 never conflicts), unless takeover: then it shares
 * the ports (SO_REUSEPORT), as an upgrade does before stopping the old process. upgrade_from
 * (NULL: none): the upgrade_socket path of a running levee, whose listening sockets (listen[],
 * admin.listen) this one takes over; once its workers run, the old one stops accepting and
 * drains (proxy/upgrade.c). Returns the process exit code. */
int lv_server_run(lv_config_t *cfg, bool takeover, const char *upgrade_from);

/* lv_server_run that can also start its own successor on SIGUSR2 (when cfg has an
 * upgrade_socket): self_exe, the absolute path the binary was invoked by, run with self_argv
 * (NULL-terminated, argv[0] first; both must live as long as the process) and --upgrade-from
 * the upgrade_socket path. */
int lv_server_run_self(lv_config_t *cfg, bool takeover, const char *upgrade_from,
                       const char *self_exe, char *const *self_argv);

/* What a program that embeds levee (the fuzz target, in-process tests) asks of the run. */
typedef struct lv_server_hooks {
    /* Called once, on the thread that runs the server, when the listeners are bound and every
     * worker runs: bound[i] is listener i's address with the port the kernel chose for port 0
     * (the array is the server's; copy what you need). Not called when the start fails. Must not
     * block. NULL: not called. */
    void (*ready)(void *ctx, const lv_addr_t *bound, uint32_t n_bound);
    void *ctx;
    /* true: no SIGHUP/SIGTERM/SIGINT handlers are installed (the program keeps its own). Nothing
     * then reloads or stops the server: it runs until the process exits. */
    bool no_signals;
    /* true: share listen addresses another process already holds (--takeover); see above. */
    bool takeover;
    /* A running levee's upgrade_socket to take the listening sockets from (--upgrade-from). */
    const char *upgrade_from;
    /* For SIGUSR2 (lv_server_run_self): the binary and its arguments. NULL: SIGUSR2 only logs
     * that it cannot start a successor. */
    const char *self_exe;
    char *const *self_argv;
} lv_server_hooks_t;

/* lv_server_run with hooks (NULL: the same as lv_server_run). May run on any thread, one server
 * per thread. Several servers in one process must start one after the other (wait for ready):
 * the metrics slot registry is filled unlocked at start. Returns the exit code, as above. */
int lv_server_run_with(lv_config_t *cfg, const lv_server_hooks_t *hooks);

#endif
