/* proxy/health_check.h: active health checks of upstream hosts (services[].health_check.*):
 * a GET of the configured path on every host, every interval, on the main thread's loop; the
 * verdicts go to the shared host table (proxy/hosts.h), which the workers' balancing reads. */
#ifndef LV_PROXY_HEALTH_CHECK_H
#define LV_PROXY_HEALTH_CHECK_H

#include <uv.h>

#include "core/config.h"
#include "proxy/hosts.h"

typedef struct lv_health_checks lv_health_checks_t;

/* Starts the checks of every service of cfg that has health_check.path (holds a reference to
 * cfg). Returns NULL when no service has checks or memory ran out (logged). Main thread. */
lv_health_checks_t *lv_health_checks_start(uv_loop_t *loop, lv_config_t *cfg, lv_hosts_t *hosts);
/* Stops every check; the object frees itself once its handles have closed (the loop must run).
 * NULL is ignored. Main thread. */
void lv_health_checks_stop(lv_health_checks_t *hc);

#endif
