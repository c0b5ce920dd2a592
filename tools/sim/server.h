/* sim/server.h: the levee-sim HTTP/1.1 server: K virtual worker slots with timer-driven service
 * times, an unbounded FIFO, thrash, error injection, cacheable paths, /stats and /control. */
#ifndef LV_SIM_SERVER_H
#define LV_SIM_SERVER_H

#include <uv.h>

#include "conf.h"

typedef struct sim_server sim_server_t;

/* Binds and listens on conf->listen on loop (port 0: the kernel picks; the bound address is
 * logged as "msg=listening addr=..."). The conf must outlive the server and be finished
 * (lv_sim_conf_finish). Returns NULL on failure (logged). Loop thread only. */
sim_server_t *lv_sim_server_new(uv_loop_t *loop, const sim_conf_t *conf);

/* Closes the listener and every connection and stops the timers; the loop then runs dry.
 * Call lv_sim_server_free after uv_run returns. Idempotent. */
void lv_sim_server_close(sim_server_t *s);
void lv_sim_server_free(sim_server_t *s);

#endif
