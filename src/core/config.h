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

#include "core/fault_spec.h"

/* A resolved numeric address ("127.0.0.1:8080", "[::1]:8080"); no DNS at run time. */
typedef struct lv_addr {
    char text[64]; /* as written, normalised: "127.0.0.1:8080" */
    struct sockaddr_storage sa;
    socklen_t sa_len;
} lv_addr_t;

/* Parses "HOST:PORT" (IPv4 literal, [IPv6] literal, or "localhost"; port 0 allowed when
 * allow_port0). Returns 0 or LV_EINVAL. */
int lv_addr_parse(lv_addr_t *out, const char *text, bool allow_port0);

/* An address block: "10.0.0.0/8", "2001:db8::/32", or one address ("192.0.2.7"). */
typedef struct lv_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t bits;
} lv_cidr_t;

/* Parses an address block (len bytes of text). Returns 0 or LV_EINVAL. */
int lv_cidr_parse(lv_cidr_t *out, const char *text, size_t len);
/* Whether the IP address written as text (len bytes, no port, no brackets) is inside one of
 * the n blocks. Text that is not an address matches nothing. */
bool lv_cidr_contains(const lv_cidr_t *blocks, uint32_t n, const char *ip, size_t len);

/* Parses a byte size: digits, optionally followed by a binary unit k, m or g (1024, 1024^2,
 * 1024^3), also written kb/kib, mb/mib, gb/gib, in any case ("256m", "256MB", "512KiB").
 * Returns 0 or LV_EINVAL (malformed, or more than UINT64_MAX bytes). */
int lv_config_parse_bytes(const char *text, uint64_t *bytes);
/* Parses a duration of len bytes: milliseconds, or digits with a unit ms, s, m or h ("500ms",
 * "10s", "2m", "1h"). Returns 0 or LV_EINVAL (malformed, or more than UINT64_MAX ms). */
int lv_config_parse_duration(const char *text, size_t len, uint64_t *ms);

typedef enum {
    LV_CRIT_CRITICAL = 0,
    LV_CRIT_DEFAULT = 1,
    LV_CRIT_SHEDDABLE = 2,
} lv_criticality_t;
#define LV_CRIT_COUNT 3
/* "critical", "default", "sheddable": the config's words, indexed by lv_criticality_t. */
extern const char *const lv_criticality_names[LV_CRIT_COUNT];

typedef enum {
    LV_BALANCE_ROUND_ROBIN = 0,
    LV_BALANCE_LEAST_OUTSTANDING = 1,
} lv_balance_t;

/* The guard of one service (see docs/config.md, section services[].limit/queue/...). */
typedef struct lv_guard_conf {
    bool enabled;                    /* services[].guard: true */
    uint32_t limit_initial;          /* services[].limit.initial: 20 */
    uint32_t limit_min;              /* services[].limit.min: 1 */
    uint32_t limit_max;              /* services[].limit.max: 1000 */
    uint32_t queue_max;              /* services[].queue.max: 1000 */
    uint32_t queue_target_ms;        /* services[].queue.target_ms: 5 */
    uint32_t queue_interval_ms;      /* services[].queue.interval_ms: 100 */
    uint32_t queue_timeout_ms;       /* services[].queue.timeout_ms: 500 */
    uint32_t deadline_ms;            /* services[].deadline_ms: 0 (none) */
    uint32_t breaker_window_ms;      /* services[].breaker.window_ms: 10000 */
    uint32_t breaker_min_requests;   /* services[].breaker.min_requests: 20 */
    uint32_t breaker_error_percent;  /* services[].breaker.error_percent: 50 */
    uint32_t breaker_cooldown_ms;    /* services[].breaker.cooldown_ms: 5000 */
    uint32_t breaker_probes;         /* services[].breaker.probes: 3 */
    uint32_t retry_budget_percent;   /* services[].retry_budget.percent: 10 */
    uint32_t retry_budget_min_per_s; /* services[].retry_budget.min_per_s: 3 */
    int flag;                        /* services[].flag: on|off|auto (index: 0 on, 1 off, 2 auto) */
    uint32_t fallback_status;        /* services[].fallback.status: 200 */
    char *fallback_body;             /* services[].fallback.body: NULL */
    char *fallback_file;             /* services[].fallback.file: NULL (read at load time) */
    char *fallback_redirect;         /* services[].fallback.redirect: NULL (302 Location) */
    char *fallback_content_type; /* services[].fallback.content_type: "text/plain; charset=utf-8" */
    char *wait_page;             /* services[].wait_page: NULL = built-in page; else a file */
    /* Read by the loader from the files above (relative to the config file's directory),
     * at most 1 MiB each; NULL when the key is not set. */
    char *fallback_file_body; /* content of fallback.file (NUL-terminated, may hold NULs) */
    size_t fallback_file_len;
    char *wait_page_html; /* content of wait_page; contains "{{retry_after}}" */
} lv_guard_conf_t;

/* Passive outlier detection of one service (services[].outlier.*). */
typedef struct lv_outlier_conf {
    uint32_t consecutive_failures; /* 0: never eject */
    uint32_t base_ejection_ms;     /* the first ejection; each one in a row doubles it */
    uint32_t max_ejection_ms;
} lv_outlier_conf_t;

/* Active health checks of one service (services[].health_check.*); off while path is NULL. */
typedef struct lv_health_check_conf {
    char *path; /* "/healthz" */
    size_t path_len;
    char *host; /* Host header; NULL: the upstream's address */
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t healthy;   /* successes in a row that bring a host back */
    uint32_t unhealthy; /* failures in a row that take a host out */
} lv_health_check_conf_t;

/* TLS to a service's upstreams (services[].tls.*); off unless enabled. Paths are resolved
 * against the config file's directory. */
typedef struct lv_upstream_tls_conf {
    bool enabled;
    bool verify;       /* the upstream's certificate chain and name are checked */
    char *ca_file;     /* PEM bundle to verify against; NULL: the system store */
    char *server_name; /* SNI and the name verified; NULL: the upstream's address */
    char *cert;        /* client certificate chain (PEM); NULL: none */
    char *key;         /* its key; NULL: in cert's file */
} lv_upstream_tls_conf_t;

typedef struct lv_service_conf {
    char *name;
    lv_addr_t *upstreams; /* at least one */
    uint32_t n_upstreams;
    lv_criticality_t criticality;
    lv_balance_t balance;
    uint32_t connect_timeout_ms; /* TCP connect to one upstream host */
    uint32_t read_timeout_ms;    /* no response byte for this long -> 504 */
    uint32_t keepalive;          /* idle upstream connections kept, per host and worker */
    uint32_t websocket_max_tunnels; /* open websocket tunnels (all workers); 0: no cap */
    uint32_t keepalive_idle_ms;  /* an idle upstream connection is closed after this */
    uint32_t metrics_slot;       /* index in the metrics registry (see admin/metrics.h) */
    lv_outlier_conf_t outlier;
    lv_health_check_conf_t health_check;
    lv_guard_conf_t guard;
    /* services[].cache.serve_stale_ms: 0. For incidents: while the origin fails or the guard
     * refuses, stored responses up to this long past their freshness are served, on top of
     * what their own stale-if-error allows. */
    uint32_t cache_serve_stale_ms;
    lv_upstream_tls_conf_t tls;
} lv_service_conf_t;

/* One certificate of a TLS listener (listeners[].tls.certificates[]): PEM files, resolved
 * against the config file's directory. */
typedef struct lv_tls_cert_conf {
    char *cert; /* the chain, leaf first */
    char *key;  /* NULL: the key is in cert's file */
} lv_tls_cert_conf_t;

/* A client listener (listen[] or listeners[]); TLS when it has certificates. */
typedef struct lv_listener_conf {
    lv_addr_t addr;
    lv_tls_cert_conf_t *certs;  /* the first is the default (no SNI, or no name matched) */
    uint32_t n_certs;           /* 0: plaintext */
    int tls_min_version;        /* listeners[].tls.min_version: index in "1.2|1.3" */
    char *tls_ciphers;          /* TLS 1.2 cipher list (OpenSSL syntax) */
    char *tls_ciphersuites;     /* TLS 1.3 suites (OpenSSL syntax) */
    bool tls_tickets;           /* stateless resumption with the shared, rotated ticket keys */
    uint32_t tls_session_cache; /* sessions kept for resumption by id; 0: none */
} lv_listener_conf_t;

/* One extra part of a route's cache key (routes[].cache_key). */
typedef enum { LV_CACHE_KEY_HEADER = 0, LV_CACHE_KEY_COOKIE = 1 } lv_cache_key_kind_t;
#define LV_CACHE_KEY_PARTS_MAX 4
typedef struct lv_cache_key_part {
    lv_cache_key_kind_t kind;
    char *name; /* header name (lower-case) or cookie name (as written) */
    size_t name_len;
} lv_cache_key_part_t;

typedef struct lv_route_conf {
    char *host;        /* NULL: any host. Matched case-insensitively, port ignored. */
    char *path_prefix; /* "/" matches everything */
    size_t path_prefix_len;
    uint32_t service; /* index into lv_config_t.services */
    int criticality;  /* 0: the service's; else lv_criticality_t + 1 */
    char *name;       /* routes[].name: NULL = no flag; unique among routes and services */
    int flag;         /* routes[].flag: on|off|auto (index: 0 on, 1 off, 2 auto); needs name */
    /* The route's slot in the flag table (guard/flags.h), written by lv_flags_new/_reload
     * before the config reaches the workers; 0: the route has no flag. */
    uint32_t flag_slot;
    bool cache; /* routes[].cache: true (used only when the cache is on: cache.size > 0) */
    /* routes[].cache_key: "" = method, host, path and query only; else a comma-separated list
     * of "header:NAME" and "cookie:NAME" whose values are added to the key. */
    lv_cache_key_part_t cache_key[LV_CACHE_KEY_PARTS_MAX];
    uint32_t n_cache_key;
    /* routes[].websocket: a GET asking to upgrade to websocket is tunnelled (docs/websocket.md);
     * false: Upgrade is dropped like any hop-by-hop header. */
    bool websocket;
    uint32_t websocket_idle_ms; /* a tunnel without a byte either way for this long is closed */
    uint32_t websocket_max_ms;  /* a tunnel's whole life; 0: no bound */
} lv_route_conf_t;

typedef struct lv_limits_conf {
    uint32_t header_bytes;         /* request line + headers; over -> 431 */
    uint32_t target_bytes;         /* request target; over -> 414 */
    uint64_t body_bytes;           /* request body; over -> 413; 0 = no limit */
    uint32_t body_buffer_bytes;    /* bodies up to this are read whole before admission */
    uint32_t body_timeout_ms;      /* the buffered part of a body must arrive within, else 408 */
    uint32_t body_idle_timeout_ms; /* a body without progress for this long gets 408 */
    uint32_t connections;          /* open client connections per process; over -> 503 + close */
    uint32_t header_timeout_ms;    /* whole request head must arrive within; else 408 */
    uint32_t keepalive_timeout_ms; /* idle client connection between requests is closed */
    uint32_t send_timeout_ms;      /* client or upstream makes no progress on a write */
} lv_limits_conf_t;

typedef struct lv_config {
    atomic_uint refs;
    char *path; /* file it came from, or "<quick>" */

    uint32_t workers;     /* resolved: never 0 after loading */
    lv_addr_t *listeners; /* every client listener's address: listen[], then listeners[] */
    uint32_t n_listeners;
    /* The listeners' settings, n_listeners of them in the same order (NULL: all plaintext,
     * as quick mode without TLS leaves it). listener_items holds listeners[] while loading. */
    lv_listener_conf_t *listener_confs;
    lv_listener_conf_t *listener_items;
    uint32_t n_listener_items;
    /* TLS settings shared by the listeners (section "tls."). */
    uint32_t tls_ticket_rotate_ms;      /* tls.ticket_rotate_ms */
    uint32_t tls_handshake_cpu_percent; /* tls.handshake_cpu_percent */
    /* The TLS contexts built from this snapshot (tls/tls.h), attached by the server on the
     * main thread before the snapshot reaches any worker, freed with it through tls_free. */
    void *tls;
    void (*tls_free)(void *tls);

    bool admin_enabled;
    lv_addr_t admin;             /* default 127.0.0.1:9901 */
    char *admin_token;           /* NULL: no token; reserved for write endpoints */
    uint32_t dashboard_watchers; /* GET /events streams open at once; 0: /events off */

    lv_limits_conf_t limits;
    uint32_t drain_timeout_ms; /* SIGTERM: in-flight requests get this long */

    char *access_log;      /* NULL: off; "-" stdout; else a file path (appended) */
    char *upgrade_socket;  /* NULL: off; where a successor takes the listeners */
    int access_log_format; /* access_log_format: text|json (index: 0 text, 1 json) */
    char *log_level;       /* "error" | "warn" | "info" | "debug" */

    /* The real client (section "real_client."): peers in these blocks may name the client in
     * X-Forwarded-For; the rightmost address not in them is the client. */
    lv_cidr_t *trusted_proxies;
    uint32_t n_trusted_proxies;
    bool proxy_protocol; /* every client connection starts with a PROXY header (v1 or v2) */

    /* Guard settings shared by every service (section "guard."). */
    char *client_id;          /* guard.client_id: "ip" | "header:NAME" | "cookie:NAME" */
    uint32_t storm_window_ms; /* guard.storm_window_ms: 10000 */
    uint32_t storm_threshold; /* guard.storm_threshold: 3 */
    uint32_t storm_entries;   /* guard.storm_entries: 65536 */
    uint32_t retry_after_ms;  /* guard.retry_after_ms: 2000 (jittered +-50 % on refusals) */
    char *deadline_header;    /* guard.deadline_header: "X-Deadline-Ms" (relative ms) */
    char *state_file;         /* guard.state_file: NULL = flag changes are not persisted */

    /* The response cache (section "cache."); off while size is 0. */
    uint64_t cache_size;            /* cache.size: 0 (off); bytes, e.g. 256m */
    uint32_t cache_shards;          /* cache.shards: 16 (power of two; restart to change) */
    int cache_policy;               /* cache.policy: sieve|lru (index: 0 sieve, 1 lru) */
    uint32_t cache_lock_timeout_ms; /* cache.lock_timeout_ms: 5000 (coalesced waiters' bound) */
    uint32_t cache_pass_ttl_ms;     /* cache.pass_ttl_ms: 10000 (uncacheable key remembered) */
    /* The second tier (section "cache.l2."), off while url is NULL; restart to change. */
    char *region;                         /* region: "local" ([a-z0-9_-]{1,32}) */
    char *cache_l2_url;                   /* cache.l2.url: NULL; redis://H:P[/DB] | unix:PATH */
    uint32_t cache_l2_timeout_ms;         /* cache.l2.timeout_ms: 5 (a lookup's bound) */
    uint32_t cache_l2_retry_ms;           /* cache.l2.retry_ms: 1000 (reconnect, breaker open) */
    uint32_t cache_l2_breaker_failures;   /* cache.l2.breaker_failures: 5 in a row open it */
    uint32_t cache_l2_max_pending;        /* cache.l2.max_pending: 1024 commands per worker */
    uint32_t cache_l2_max_value_bytes;    /* cache.l2.max_value_bytes: 1m */
    uint32_t cache_l2_compress_min_bytes; /* cache.l2.compress_min_bytes: 2048 (0: never) */
    uint32_t cache_l2_tombstone_ttl_ms;   /* cache.l2.tombstone_ttl_ms: 600000 */
    bool cache_l2_publish;                /* cache.l2.publish: true (events for the regions) */
    uint32_t cache_l2_event_value_max_bytes; /* cache.l2.event_value_max_bytes: 65536 */
    uint32_t cache_l2_stream_maxlen;         /* cache.l2.stream_maxlen: 100000 */

    lv_service_conf_t *services;
    uint32_t n_services;
    lv_route_conf_t *routes; /* in file order; the longest matching prefix wins */
    uint32_t n_routes;

    /* Faults injected while this config is in force (section "faults"), checked against the
     * services and routes above; proxy/faults.h starts and ends them. */
    lv_fault_spec_t *faults;
    uint32_t n_faults;
    /* The X-Levee-Fault test header (section "faults_header."): obeyed only when enabled and
     * only from a peer address inside these blocks. */
    bool fault_header;
    lv_cidr_t *fault_header_allow;
    uint32_t n_fault_header_allow;
} lv_config_t;

/* Error list filled by the loader: every problem found, "file:line:col: key: message". */
typedef struct lv_config_errors {
    char **lines;
    uint32_t n;
} lv_config_errors_t;

void lv_config_errors_fini(lv_config_errors_t *errs);

/* Loads and validates a YAML file. Returns a config with refs == 1, or NULL with every
 * problem in errs (the caller prints them). errs must be zeroed (or fini'd) before the call
 * and may be NULL (problems dropped). Lines look like "FILE:LINE:COL: KEY: MESSAGE" (1-based);
 * an unreadable file gives "FILE: cannot read: REASON". At most 100 lines. Main thread only. */
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

/* Checks a fault's target against cfg: spec->service a service, or spec->route the name of a
 * route (routes[].name); for host_down, spec->host one of the service's upstreams, which is then
 * written as the config stores it ("localhost:9000" becomes "127.0.0.1:9000"). Returns 0,
 * LV_ENOTFOUND (no such service or route) or LV_EINVAL (not one of the service's hosts). Used by
 * the loader for faults[] and by the admin API for POST /faults. */
int lv_config_resolve_fault_target(const lv_config_t *cfg, lv_fault_spec_t *spec);

/* How the loader reads and stores one row (config.c); other readers may ignore it. */
typedef enum {
    LV_CONFIG_K_UINT = 0,  /* uint32_t, min..max */
    LV_CONFIG_K_BYTES32,   /* uint32_t, suffix k|m|g (KiB/MiB/GiB), min..max */
    LV_CONFIG_K_BYTES64,   /* uint64_t, same */
    LV_CONFIG_K_DURATION,  /* uint32_t milliseconds; plain integer or "500ms", "10s", "2m", "1h" */
    LV_CONFIG_K_BOOL,      /* bool: true | false */
    LV_CONFIG_K_ADDR,      /* lv_addr_t */
    LV_CONFIG_K_ADDR_LIST, /* lv_addr_t * + uint32_t count at count_offset; max items */
    LV_CONFIG_K_STRING,    /* char * (heap), max length */
    LV_CONFIG_K_ENUM_STR,  /* char * (heap), one of bounds ("a|b|c") */
    LV_CONFIG_K_ENUM,      /* enum stored as int: index of the value in bounds */
    LV_CONFIG_K_NAME,      /* char *, [A-Za-z0-9_.-]{1,max} */
    LV_CONFIG_K_HOST,      /* char *, a host name or [IPv6], stored lower-case */
    LV_CONFIG_K_PATH,      /* char *, starts with "/"; size_t length at count_offset */
    LV_CONFIG_K_SERVICE,   /* uint32_t index of the named service */
    LV_CONFIG_K_SERVICES,  /* the services list */
    LV_CONFIG_K_ROUTES,    /* the routes list */
    LV_CONFIG_K_CACHE_KEY, /* lv_cache_key_part_t[max] + uint32_t count at count_offset */
    LV_CONFIG_K_CIDR_LIST, /* lv_cidr_t * + uint32_t count at count_offset; max items */
    LV_CONFIG_K_FAULTS,    /* the faults list */
    LV_CONFIG_K_LISTENERS, /* the listeners list */
    LV_CONFIG_K_TLS_CERTS, /* a listener's tls.certificates list */
    LV_CONFIG_K_FAULT_MEMBER, /* a faults[] member, read by lv_fault_spec_set_member (the member
                                 is the key's last part) */
} lv_config_kind_t;

#define LV_CONFIG_F_REQUIRED 0x1u   /* must be present */
#define LV_CONFIG_F_PORT0 0x2u      /* addresses: port 0 allowed */
#define LV_CONFIG_F_EMPTY_NULL 0x4u /* strings: "" stores NULL */
#define LV_CONFIG_F_OFF_NULL 0x8u   /* strings: "off" stores NULL */

/* The settings table: one row per key, used by --help and to write docs/config.md. */
typedef struct lv_config_setting {
    const char *key;    /* "limits.header_bytes", "services[].read_timeout_ms" */
    const char *type;   /* "uint", "duration_ms", "bytes", "addr", "string", "enum", "list" */
    const char *dflt;   /* default as text */
    const char *bounds; /* "1..65536" or "round_robin|least_outstanding" */
    bool reloadable;    /* SIGHUP applies it */
    const char *doc;    /* one sentence */
    /* Loader part: how the value is parsed and where it is stored. */
    lv_config_kind_t kind;
    uint32_t flags;      /* LV_CONFIG_F_* */
    size_t offset;       /* field in lv_config_t; in lv_service_conf_t for "services[]." rows,
                            in lv_route_conf_t for "routes[]." rows, in lv_fault_spec_t for
                            "faults[]." rows */
    size_t count_offset; /* ADDR_LIST: uint32_t count; PATH: size_t length */
    uint64_t min, max;   /* numbers: bounds; strings: max length; lists: max items */
} lv_config_setting_t;

extern const lv_config_setting_t lv_config_settings[];
extern const size_t lv_config_n_settings;

/* Writes the settings table as Markdown (docs/config.md is generated from it). */
void lv_config_write_markdown(FILE *out);

/* Writes the settings table as the levee.yaml(5) man page, in roff (docs/man/levee.yaml.5 is
 * generated from it). */
void lv_config_write_man(FILE *out);

#endif
