/* sim/conf.h: levee-sim's configuration: listen address, workers, thrash, seed, the default
 * path settings and per-path settings; loaded from YAML (libyaml) and/or the command line. */
#ifndef LV_SIM_CONF_H
#define LV_SIM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dist.h"

#define SIM_PATH_KEY_MAX 256     /* bytes in a path key */
#define SIM_MAX_PATHS 256        /* configured + learned paths; beyond: "*other*" */
#define SIM_BODY_MAX (16u << 20) /* body_bytes bound */
#define SIM_WORKERS_MAX 1000000u /* worker slots bound */
#define SIM_ETAG_MAX 80
#define SIM_VARY_MAX 128
#define SIM_HTTP_DATE_MAX 40
#define SIM_CC_MAX 256   /* cache_control value */
#define SIM_XHDR_MAX 512 /* extra headers, as "Name: value\r\n" lines */
#define SIM_XHDR_COUNT 8 /* extra headers per path */

typedef struct sim_path_conf {
    char key[SIM_PATH_KEY_MAX + 1]; /* "" for the default settings */
    sim_dist_kind_t dist_kind;
    double service_ms; /* mean */
    double p99_ms;     /* log-normal; <= 0: 4 x mean */
    sim_dist_t dist;   /* derived by lv_sim_conf_finish */
    uint32_t body_bytes;
    uint16_t status;      /* answered when the request does not fail (default 200) */
    double fail_rate;     /* 0..1 */
    uint16_t fail_status; /* default 500 */
    bool chunked;
    bool cacheable;              /* adds Cache-Control, ETag, Last-Modified (and Vary when set) */
    uint32_t max_age_s;          /* default 60 */
    char etag[SIM_ETAG_MAX + 1]; /* "" -> "\"sim-<hash of path>\"" */
    bool etag_auto;              /* etag derived from the key */
    char last_modified[SIM_HTTP_DATE_MAX + 1]; /* "" -> process start */
    time_t last_modified_t;                    /* parsed last_modified */
    char vary[SIM_VARY_MAX + 1];               /* "" -> no Vary */
    char cache_control[SIM_CC_MAX + 1];        /* "" -> "max-age=N" on cacheable paths, else none */
    char headers[SIM_XHDR_MAX + 1];            /* extra "Name: value\r\n" lines, every answer */
} sim_path_conf_t;

typedef struct sim_conf {
    char listen[64]; /* "HOST:PORT", port 0 allowed */
    uint32_t workers;
    double thrash;
    uint64_t seed;
    sim_path_conf_t defaults;
    sim_path_conf_t *paths; /* owned, n_paths entries */
    uint32_t n_paths;
} sim_conf_t;

/* Error lines "file:line:col: key: message\n", bounded; all errors are kept up to the size. */
typedef struct sim_errs {
    char text[4096];
    size_t len;
    int count;
} sim_errs_t;

void lv_sim_errs_add(sim_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Defaults: 127.0.0.1:9000, 4 workers, fixed 10 ms, body 64 bytes, status 200, seed 1. */
void lv_sim_conf_init(sim_conf_t *c);
void lv_sim_conf_fini(sim_conf_t *c);
void lv_sim_path_conf_init(sim_path_conf_t *p);

/* Loads YAML from a file or a string (name is used in messages). Returns 0, or LV_ECONFIG
 * with every problem in errs. Keys absent from the document keep their current values. */
int lv_sim_conf_load_file(sim_conf_t *c, const char *file, sim_errs_t *errs);
int lv_sim_conf_load_string(sim_conf_t *c, const char *name, const char *text, size_t len,
                            sim_errs_t *errs);

/* Derives the distributions and auto cache validators after the file and the command line are
 * applied. Returns 0 or LV_ECONFIG with the reasons in errs. start is the process start time. */
int lv_sim_conf_finish(sim_conf_t *c, time_t start, sim_errs_t *errs);

/* Sets p->key (len <= SIM_PATH_KEY_MAX, else truncated) and re-derives an automatic ETag. */
void lv_sim_path_conf_set_key(sim_path_conf_t *p, const char *key, size_t len);

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); returns 0 or LV_EINVAL. */
int lv_sim_http_date_parse(const char *s, size_t len, time_t *out);
/* Writes an IMF-fixdate (29 chars + NUL) into out (>= 30 bytes). */
void lv_sim_http_date_format(time_t t, char *out, size_t size);

/* Splits "HOST:PORT" / "[V6]:PORT"; returns 0 or LV_EINVAL. host gets the bare host. */
int lv_sim_split_hostport(const char *s, char *host, size_t host_size, int *port);

#endif
