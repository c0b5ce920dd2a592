/* core/config.h: the configuration model (an immutable, refcounted snapshot), the YAML
 * loader that builds it, and the settings table that drives parsing, --help and docs. */
#ifndef LV_CORE_CONFIG_H
#define LV_CORE_CONFIG_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* A resolved numeric address ("127.0.0.1:8080", "[::1]:8080"); no DNS at run time. */
typedef struct lv_addr {
    char text[64]; /* as written, normalised: "127.0.0.1:8080" */
    struct sockaddr_storage sa;
    socklen_t sa_len;
} lv_addr_t;

/* Parses "HOST:PORT" (IPv4 literal, [IPv6] literal, or "localhost"; port 0 allowed when
 * allow_port0). Returns 0 or LV_EINVAL. */
int lv_addr_parse(lv_addr_t *out, const char *text, bool allow_port0);

typedef enum {
    LV_CRIT_CRITICAL = 0,
    LV_CRIT_DEFAULT = 1,
    LV_CRIT_SHEDDABLE = 2,
} lv_criticality_t;

typedef enum {
    LV_BALANCE_ROUND_ROBIN = 0,
    LV_BALANCE_LEAST_OUTSTANDING = 1,
} lv_balance_t;

typedef struct lv_service_conf {
    char *name;
    lv_addr_t *upstreams; /* at least one */
    uint32_t n_upstreams;
    lv_criticality_t criticality;
    lv_balance_t balance;
    uint32_t connect_timeout_ms; /* TCP connect to one upstream host */
    uint32_t read_timeout_ms;    /* no response byte for this long -> 504 */
    uint32_t keepalive;          /* idle upstream connections kept, per host and worker */
    uint32_t keepalive_idle_ms;  /* an idle upstream connection is closed after this */
    uint32_t metrics_slot;       /* index in the metrics registry (see admin/metrics.h) */
} lv_service_conf_t;

typedef struct lv_route_conf {
    char *host;        /* NULL: any host. Matched case-insensitively, port ignored. */
    char *path_prefix; /* "/" matches everything */
    size_t path_prefix_len;
    uint32_t service; /* index into lv_config_t.services */
} lv_route_conf_t;

typedef struct lv_limits_conf {
    uint32_t header_bytes;    /* request line + headers; over -> 431 */
    uint32_t target_bytes;    /* request target; over -> 414 */
    uint64_t body_bytes;      /* request body; over -> 413; 0 = no limit */
    uint32_t connections;     /* open client connections per process; over -> 503 + close */
    uint32_t header_timeout_ms;    /* whole request head must arrive within; else 408 */
    uint32_t keepalive_timeout_ms; /* idle client connection between requests is closed */
    uint32_t send_timeout_ms;      /* client or upstream makes no progress on a write */
} lv_limits_conf_t;

typedef struct lv_config {
    atomic_uint refs;
    char *path; /* file it came from, or "<quick>" */

    uint32_t workers; /* resolved: never 0 after loading */
    lv_addr_t *listeners;
    uint32_t n_listeners;

    bool admin_enabled;
    lv_addr_t admin; /* default 127.0.0.1:9901 */
    char *admin_token; /* NULL: no token; reserved for write endpoints */

    lv_limits_conf_t limits;
    uint32_t drain_timeout_ms; /* SIGTERM: in-flight requests get this long */

    char *access_log; /* NULL: off; "-" stdout; else a file path (appended) */
    char *log_level;  /* "error" | "warn" | "info" | "debug" */

    lv_service_conf_t *services;
    uint32_t n_services;
    lv_route_conf_t *routes; /* in file order; the longest matching prefix wins */
    uint32_t n_routes;
} lv_config_t;

/* Error list filled by the loader: every problem found, "file:line:col: key: message". */
typedef struct lv_config_errors {
    char **lines;
    uint32_t n;
} lv_config_errors_t;

void lv_config_errors_fini(lv_config_errors_t *errs);

/* Loads and validates a YAML file. Returns a config with refs == 1, or NULL with every
 * problem in errs (the caller prints them). Main thread only. */
lv_config_t *lv_config_load_file(const char *path, lv_config_errors_t *errs);
/* Same, from memory (name used in messages). Used by tests and the fuzz target. */
lv_config_t *lv_config_load_string(const char *name, const char *yaml, size_t len,
                                   lv_config_errors_t *errs);

/* A config with every default filled in and no listeners/services: quick mode builds on it. */
lv_config_t *lv_config_new_default(void);

/* Snapshot lifetime: any thread may ref/unref; the last unref frees it. */
lv_config_t *lv_config_ref(lv_config_t *cfg);
void lv_config_unref(lv_config_t *cfg);

/* Finds the route for a request: host (may be NULL/empty) and path. Returns the route
 * index or -1 when none matches. Longest prefix wins; a route with a host beats one without. */
int lv_config_route(const lv_config_t *cfg, const char *host, size_t host_len, const char *path,
                    size_t path_len);

/* The settings table: one row per key, used by --help and to write docs/config.md. */
typedef struct lv_config_setting {
    const char *key;     /* "limits.header_bytes", "services[].read_timeout_ms" */
    const char *type;    /* "uint", "duration_ms", "bytes", "addr", "string", "enum", "list" */
    const char *dflt;    /* default as text */
    const char *bounds;  /* "1..65536" or "round_robin|least_outstanding" */
    bool reloadable;     /* SIGHUP applies it */
    const char *doc;     /* one sentence */
} lv_config_setting_t;

extern const lv_config_setting_t lv_config_settings[];
extern const size_t lv_config_n_settings;

/* Writes the settings table as Markdown (docs/config.md is generated from it). */
void lv_config_write_markdown(FILE *out);

#endif
