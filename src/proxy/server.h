/* proxy/server.h: the process as a whole: binds listeners, runs the workers and the main
 * thread (signals, reload, drain, admin). main.c calls this and nothing else of the proxy. */
#ifndef LV_PROXY_SERVER_H
#define LV_PROXY_SERVER_H

#include "core/config.h"

/* Runs levee with cfg (takes over the reference) until SIGTERM/SIGINT and the drain end.
 * SIGHUP reloads from cfg->path unless it is "<quick>". Returns the process exit code. */
int lv_server_run(lv_config_t *cfg);

#endif
