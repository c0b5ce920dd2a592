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
 * the ports (SO_REUSEPORT), as an upgrade does before stopping the old process. Returns the
 * process exit code. */
int lv_server_run(lv_config_t *cfg, bool takeover);

#endif
