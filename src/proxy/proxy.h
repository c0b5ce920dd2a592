/* proxy/proxy.h: the proxy's internal model shared by its files: workers, config generations,
 * upstream pools and connections, client connections and the request in flight. */
#ifndef LV_PROXY_PROXY_H
#define LV_PROXY_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "admin/metrics.h"
#include "cache/flight.h"
#include "cache/store.h"
#include "core/access_log.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rng.h"
#include "guard/backend_limit.h"
#include "guard/breaker.h"
#include "guard/budget.h"
#include "guard/flags.h"
#include "guard/limiter.h"
#include "guard/page.h"
#include "guard/pressure.h"
#include "guard/queue.h"
#include "guard/storm.h"
#include "http/parser.h"
#include "proxy/buf.h"
#include "proxy/deadline.h"
#include "proxy/faults.h"
#include "proxy/hosts.h"
#include "proxy/l2_subscriber.h"
#include "proxy/timeouts.h"
#include "tls/tls.h"

/* Backpressure: stop feeding a side when its send queue passes HIGH, resume when it falls
 * under LOW. Bounds memory per request to about HIGH + one read. */
#define LV_QUEUE_HIGH (256u * 1024u)
#define LV_QUEUE_LOW (64u * 1024u)

/* Client parsers a worker keeps for reuse (each with its head block: limits.header_bytes). */
#define LV_MAX_FREE_PARSERS 64

typedef struct lv_server lv_server_t;
typedef struct lv_worker lv_worker_t;
typedef struct lv_gen lv_gen_t;
typedef struct lv_pool lv_pool_t;
typedef struct lv_uconn lv_uconn_t;
typedef struct lv_conn lv_conn_t;
typedef struct lv_req lv_req_t;
typedef struct lv_svc_guard lv_svc_guard_t;
typedef struct lv_cache_fill lv_cache_fill_t;
typedef struct lv_tunnel lv_tunnel_t;

/* An intrusive doubly linked list node. */
typedef struct lv_link {
    struct lv_link *prev, *next;
} lv_link_t;

static inline void lv_list_init(lv_link_t *head)
{
    head->prev = head->next = head;
}
static inline bool lv_list_empty(const lv_link_t *head)
{
    return head->next == head;
}
static inline void lv_list_push(lv_link_t *head, lv_link_t *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}
static inline void lv_list_remove(lv_link_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* The guard state of one service in one worker, kept across reloads (keyed by the service's
 * metrics slot) so that a reload does not forget the learned limit. */
struct lv_svc_guard {
    lv_worker_t *worker;
    uint32_t slot;
    uint32_t conf_gen; /* generation whose settings are applied */
    /* The concurrency limit of the service's hosts, shared by the workers and by services on
     * the same hosts (guard/backend_limit.h); requests keep the one they took a slot from. */
    lv_backend_limit_t *backend;
    lv_queue_t queue;
    lv_breaker_t breaker;
    lv_budget_t budget;
    lv_service_metrics_t *metrics;
    lv_pressure_t pressure; /* the refused share of the last second or two */
    lv_link_t waiting_link; /* in the worker's waiting_guards while its queue is not empty */
};

/* One upstream host of a service, within one worker and generation. */
typedef struct lv_host {
    const lv_addr_t *addr;
    lv_host_health_t *health; /* shared by workers and generations (proxy/hosts.h); may be NULL */
    uint32_t outstanding;     /* this worker's requests sent and not finished */
    uint32_t n_idle;
    lv_link_t idle; /* idle keep-alive lv_uconn_t, most recent first */
    /* The last TLS session this host gave this worker (services[].tls): the next connection
     * resumes it. Freed with the pool. */
    struct ssl_session_st *tls_session;
} lv_host_t;

/* A service's upstream pool in one worker for one config generation. */
struct lv_pool {
    lv_gen_t *gen;
    const lv_service_conf_t *svc;
    lv_service_metrics_t *metrics;
    lv_host_t *hosts;
    uint32_t n_hosts;
    uint32_t rr_next;
};

/* A config snapshot as one worker uses it: the config plus the pools built for it. Counted by
 * the worker (not atomic: one thread); freed when the last request using it ends. */
struct lv_gen {
    uint32_t refs;
    uint32_t number;
    lv_config_t *cfg;
    lv_worker_t *worker;
    lv_pool_t *pools;      /* one per service */
    lv_page_set_t **pages; /* refusal and fallback responses, one per service */
    uint32_t n_uconns;     /* upstream connections of this generation (each holds a ref) */
};

typedef enum {
    LV_UCONN_CONNECTING,
    LV_UCONN_BUSY,
    LV_UCONN_IDLE,
    LV_UCONN_CLOSING,
} lv_uconn_state_t;

struct lv_uconn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t timer; /* connect timeout, read timeout, or idle timeout */
    lv_deadline_t deadline;
    lv_link_t idle_link;
    lv_pool_t *pool;
    lv_host_t *host;
    lv_req_t *req; /* current request, NULL when idle */
    lv_http_parser_t parser;
    lv_chunk_t *rchunk;
    uint8_t closing_handles;
    lv_uconn_state_t state;
    uint32_t requests; /* served on this connection */
    /* Orphan mode: the client left, but the upstream still works on the request, so its
     * concurrency slot stays taken until the response ends (DESIGN.md: keep the slot until
     * the backend has really finished). */
    lv_svc_guard_t *orphan_guard;
    lv_backend_limit_t *orphan_backend; /* whose slot the orphan holds */
    uint64_t orphan_start_us;
    /* The orphan's request (client, target, the headers that choose a representation), while
     * another request of the same client may take its response over: 0 once any byte of the
     * response arrived, or for a request that cannot be joined. */
    uint64_t join_key;
    lv_chunk_t
        *join_sig; /* the orphan's request signature (stage_join.c): joins compare it whole */
    uint32_t join_sig_len;
    bool orphan; /* its request's client left: never given to another request */
    /* A response being stored (proxy/cache_store.c): fed by the parser callbacks whether or not a
     * client still reads it; owned by this connection. */
    lv_cache_fill_t *fill;
    bool reading;
    bool broken;               /* must not be reused */
    const char *connect_error; /* uv_tcp_connect failed at once: why (uv_err_name) */
    /* TLS to the upstream (proxy/upstream_tls.c); NULL: plaintext. Writes made before the
     * handshake is done wait in tls_pending (linked by next_free, their callback in req.cb). */
    struct lv_tls_conn *tls;
    lv_wreq_t *tls_pending, *tls_pending_tail;
    size_t tls_pending_bytes;
    uv_write_cb tls_cb; /* the callback of the plaintext write being encrypted */
    /* A new connection's connect: the loop time (ms) it must be done by. Its timer fires
     * first at the stall point (a tenth of connect_timeout_ms), where the request gives its
     * concurrency slot back (lv__guard_connect_stalled). */
    uint64_t connect_until_ms;
    /* A websocket tunnel's upstream side (proxy/tunnel.c): set from the 101 on; the timer then
     * serves the tunnel's idle and total timeouts. Never pooled again. */
    lv_tunnel_t *tunnel;
};

typedef enum {
    LV_CONN_IDLE,    /* waiting for the first byte of a request (keep-alive) */
    LV_CONN_HEAD,    /* reading a request head */
    LV_CONN_ACTIVE,  /* a request is in flight */
    LV_CONN_CLOSING, /* uv_close called */
    /* A websocket tunnel's client side (tunneling, below) is LV_CONN_ACTIVE without a request. */
} lv_conn_state_t;

struct lv_conn {
    uv_tcp_t tcp;
    lv_timeout_t timeout; /* header, body, keep-alive, send or linger, in worker->conn_timeouts */
    lv_link_t link;       /* worker's connections */
    lv_link_t defer_link; /* worker's deferred or hs_waiting list (conn.c) */
    lv_worker_t *worker;
    /* From the worker's pool at the first byte of a request until the connection is idle
     * again: an idle keep-alive connection holds no parser. A tunnel needs no parser, so its
     * state takes the place (tunneling says which). */
    union {
        lv_http_parser_t *parser;
        lv_tunnel_t *tunnel;
    };
    lv_req_t *req;
    lv_chunk_t *pending; /* unparsed bytes kept while a request is in flight (pipelining) */
    uint16_t pending_off, pending_len; /* within pending (a read chunk: LV_CHUNK_BYTES) */
    uint8_t state;                     /* lv_conn_state_t */
    bool reading;
    bool peer_eof;          /* the client half-closed */
    bool close_after;       /* close once the current response is written */
    bool counted;           /* holds a slot of limits.connections */
    bool in_feed : 1;       /* inside conn_feed: finished requests do not resume reading */
    bool shutting_down : 1; /* FIN sent, lingering for the peer's */
    bool tunneling : 1;     /* a websocket tunnel's client side: tunnel, not parser */
    bool tunnel_shut : 1;   /* a tunnel passed the upstream's FIN on: our FIN follows the queue */
    bool tunnel_shut_done : 1; /* ...and it was sent */
    bool served : 1;           /* a request ended on it: between requests it is kept alive */
    uint8_t listener;          /* index of the listener it came in on (listeners are <= 64) */
    uint8_t timer_kind;
    uint8_t client_ip_len;
    bool pp_wait;    /* proxy_protocol: the PROXY header has not been read yet */
    uint16_t pp_len; /* bytes of it kept in pp_partial (a header split over reads) */
    uint64_t head_start_ns;
    char client[56]; /* "127.0.0.1:5000": the peer, or the client a PROXY header named */
    /* One pointer, so that a plaintext connection does not grow: while pp_wait, the PROXY
     * header's bytes (NULL unless it came in pieces, LV_PP_MAX_BYTES); after it, on a TLS
     * listener, the connection's TLS state (tls/tls.h), made once the header is read. */
    union {
        char *pp_partial;
        struct lv_tls_conn *tls;
    };
};

/* What the cache did for a request, for the access log; set where it is decided
 * (stage_cache.c, cache_store.c, cache_serve.c). NONE: not looked up (cache off, or the route does
 * not use it). */
typedef enum {
    LV_CACHE_OUT_NONE = 0,
    LV_CACHE_OUT_HIT,         /* answered from a fresh stored response */
    LV_CACHE_OUT_MISS,        /* went to the origin (leading a fill, or a HEAD or Range) */
    LV_CACHE_OUT_PASS,        /* not cacheable: method, body, key, or a remembered pass */
    LV_CACHE_OUT_STALE,       /* answered from a stale copy (being refreshed, or a failure) */
    LV_CACHE_OUT_COALESCED,   /* waited for another request's miss and got its answer */
    LV_CACHE_OUT_REVALIDATED, /* a stale copy the origin confirmed with 304 */
} lv_cache_outcome_t;

/* Why levee answered a request in the backend's place, for the access log; set at the decision
 * (the guard's stages, conn.c). NONE: it did not (the answer is the origin's, the cache's, or an
 * error). */
typedef enum {
    LV_REFUSAL_NONE = 0,
    LV_REFUSAL_FLAG,          /* a feature flag off (or auto under pressure): the fallback */
    LV_REFUSAL_STORM,         /* a retry storm under pressure: 429 */
    LV_REFUSAL_PREMATURE,     /* its lv_retry cookie back early, under pressure: 429 */
    LV_REFUSAL_BREAKER,       /* the breaker is open: fallback or 503 */
    LV_REFUSAL_SHED,          /* no slot and no room in the queue: 503 */
    LV_REFUSAL_QUEUE_TIMEOUT, /* waited in the queue longer than allowed: 503 */
    LV_REFUSAL_DEADLINE,      /* its deadline passed while it waited: 503 */
    LV_REFUSAL_BODY_TIMEOUT,  /* the body did not arrive in time: 408 */
} lv_refusal_t;

/* The request in flight on a client connection, pooled per worker. */
struct lv_req {
    lv_req_t *next_free;
    bool released; /* in the worker's pool (lv__req_release asserts it is not, every build) */
    lv_conn_t *conn;
    lv_gen_t *gen; /* the generation it started on (ref held) */
    lv_pool_t *pool;
    lv_uconn_t *uconn;
    lv_host_t *host;
    lv_wreq_t *up_out;      /* upstream write being built (head, body) */
    lv_wreq_t *client_out;  /* client write being built */
    lv_chunk_t *head_chunk; /* the upstream request head, kept for a retry */
    uint32_t head_len;
    uint64_t start_ns, upstream_start_ns, upstream_end_ns;
    uint64_t bytes_in, bytes_out;
    uint16_t status;
    uint8_t method;
    uint8_t tries; /* connect attempts on distinct hosts */
    bool idempotent, has_body;
    bool req_done;     /* the whole request was read from the client */
    bool resp_started; /* response head written to the client */
    bool resp_done;
    bool resp_chunked;         /* levee frames the body to the client in chunks */
    bool resp_close_delimited; /* the body to the client ends with the connection */
    bool client_keep_alive;    /* the client asked for keep-alive */
    bool reused_conn;          /* sent on a kept-alive upstream connection */
    bool head_only;            /* HEAD request */
    bool client_http10;
    bool client_gone;
    bool req_chunked; /* the request body arrives chunked (and goes out chunked) */
    /* Bodies are read into body_buf before admission (limits.body_buffer_bytes): a slow upload
     * holds no concurrency slot, and a whole body can wait in the queue or be sent again. */
    bool body_buffering; /* reading the body into body_buf; not admitted yet */
    bool body_whole;     /* body_buf holds the whole body (req_done) */
    lv_chunk_t *body_buf;
    uint32_t body_len;
    bool expect_continue;
    bool sent_continue; /* a 100 Continue was relayed to the client */
    bool stale_retried;
    bool up_keep_alive;          /* the upstream response allows reusing its connection */
    bool resp_any;               /* any response byte arrived from the upstream */
    lv_queue_item_t qitem;       /* in its guard's wait queue while queued */
    lv_svc_guard_t *guard;       /* set by the first guard stage (lv__guard_of) */
    uint64_t guard_us;           /* when it reached the guard: its guard stages' clock */
    lv_backend_limit_t *backend; /* whose slot it holds or waits for (slot_held, queued) */
    uint8_t crit;                /* lv_criticality_t of this request (route, else service) */
    uint16_t route;              /* index of its route in gen->cfg->routes */
    /* The lv_retry cookie (guard/retry_cookie.h) a refusal sets: the keyed hash of what the
     * request asks for (0: no cookie, the storm check did not run) and the id of the client
     * from its valid cookie (0: none, a refusal draws a new one). Set by the retry stage. */
    uint64_t retry_res;
    uint64_t retry_id;
    uint64_t join_key;    /* see lv_uconn_t.join_key; 0: never joins nor is joined */
    lv_chunk_t *join_sig; /* its join signature while it may be joined or join (stage_join.c) */
    uint32_t join_sig_len;
    bool joined; /* took over an abandoned identical request's answer */
    /* A websocket upgrade on a route that allows it (routes[].websocket): sent with its
     * Upgrade on a new upstream connection; a 101 (switched) turns both connections into a
     * tunnel (proxy/tunnel.c) when the request ends. */
    bool websocket;
    bool switched;
    lv_tunnel_t *tunnel; /* made at the end of the 101; begins as the request ends */
    /* In the worker's half_closed list: sent, its client sent FIN, no answer yet. A FIN is
     * also how a browser drops a request on F5, so a new request may take this one's answer. */
    lv_link_t half_closed_link;
    uint8_t stage;  /* the pipeline stage it is in (proxy/pipeline.c) */
    bool slot_held; /* holds a concurrency slot of guard */
    /* Gave its slot back while its connect hung (lv__guard_connect_stalled): the breaker
     * still counts its outcome; no limiter sample. */
    bool slot_given_back;
    bool queued;
    bool probe;        /* a half-open breaker probe */
    bool wants_html;   /* refusals get the wait page */
    bool up_failed;    /* the upstream failed (connect, reset, bad response) */
    bool up_timed_out; /* the upstream timed out */
    /* The cache (stage_cache.c, cache_store.c). Every reference here is released when the request
     * ends. */
    uint8_t cache_mode;           /* lv_cache_mode_t */
    lv_cache_entry_t *centry;     /* the stored response being sent */
    lv_cache_reader_t creader;    /* where in its body */
    uint64_t cache_end;           /* body offset to stop at (range end + 1), UINT64_MAX: all */
    lv_cache_entry_t *stale;      /* a stale copy to answer with if the origin or guard fails */
    lv_flight_t *flight;          /* the flight this request follows (waits for) */
    lv_cache_fill_t *fill;        /* the fill this request leads, until its upstream takes it */
    lv_link_t cache_link;         /* worker's cache_waiting list */
    uint64_t cache_wait_until_us; /* followers: give up waiting then */
    bool cache_rejoined;          /* followed a second flight already (another Vary variant) */
    bool l2_variant;              /* the second-tier lookup asks for a Vary variant */
    struct lv_l2_get *l2_get;     /* the second-tier lookup this request waits for */
    uint8_t cache_outcome;        /* lv_cache_outcome_t, for the access log */
    uint8_t refusal;              /* lv_refusal_t, for the access log */
    /* An injected fault (proxy/stage_fault.c): its kind + 1 (0: none), what the fault timer
     * waits for (kind + 1: a latency, a blackhole, a bandwidth pause; 0: nothing), the cap. */
    uint8_t fault_kind;
    uint8_t fault_wait;
    uint64_t fault_bps;
    lv_timeout_t fault_timeout; /* in worker->req_timeouts */
    /* Not zeroed by lv__req_acquire from here on: the lengths are. */
    char request_id[24];
    uint8_t request_id_len;
    /* The real client's address (no port): the peer, or from X-Forwarded-For when the peer is
     * a trusted proxy (real_client.trusted). The guard, joins and the access log use it. */
    char client_ip[46];
    uint8_t client_ip_len;
    bool client_forwarded; /* client_ip came from X-Forwarded-For */
    char target_copy[128]; /* for the access log */
    uint16_t target_len;
    char host_copy[128]; /* Host and User-Agent, for the JSON access log (copied while it is on) */
    uint8_t host_len;
    char ua_copy[192];
    uint8_t ua_len;
};

struct lv_worker {
    uint32_t id;
    lv_server_t *server;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;                   /* main -> worker: new generation, drain, stop */
    uv_timer_t tick;                   /* 1 s: access log flush, drain checks */
    lv_timeouts_t conn_timeouts;       /* the deadlines of the client connections (conn.c) */
    lv_timeouts_t req_timeouts;        /* the fault stage's waits (stage_fault.c) */
    struct lv_faults_view *fault_view; /* the worker's copy of the faults; NULL until one */
    uv_tcp_t *listeners;               /* one or more sockets per configured listener */
    uint8_t *listener_of;              /* listeners[k] serves cfg->listeners[listener_of[k]] */
    uint32_t n_listeners;
    lv_gen_t *gen;
    lv_link_t conns;
    uint32_t n_conns;
    lv_link_t deferred; /* connections with pipelined bytes to parse next */
    uv_idle_t defer_idle;
    /* TLS connections whose handshake waits for the next turn of the loop (oldest first): a
     * worker yields to its other connections after every LV_HS_SLICE_NS of server handshakes,
     * so that a burst of ClientHellos does not hold the upstream responses and the dispatch
     * of queued requests behind it (conn.c). */
    lv_link_t hs_waiting;
    uint64_t hs_slice_ns; /* handshake time since the last yield */
    lv_buf_pool_t bufs;
    /* One slot each serves every client connection: libuv calls a stream's read callback right
     * after its alloc callback, and conn.c parses one connection's bytes at a time. */
    lv_chunk_t *read_chunk; /* handed to the read under way */
    lv_chunk_t *feed_chunk; /* being parsed (request body spans point into it) */
    lv_req_t *free_reqs;
    uint32_t n_free_reqs;
    lv_http_parser_t *free_parsers[LV_MAX_FREE_PARSERS]; /* client parsers, head blocks kept */
    uint32_t n_free_parsers;
    lv_metrics_shard_t *metrics;
    lv_access_log_t *access_log; /* NULL when off */
    uint64_t req_seq;
    uint32_t rid_salt;
    lv_rng_t rng; /* Retry-After jitter */
    lv_svc_guard_t *guards[LV_METRICS_MAX_SERVICES];
    lv_link_t waiting_guards;   /* guards with queued requests (waiting_link) */
    bool dispatch_pending;      /* slots were handed to this worker: give them to waiters */
    lv_link_t orphans;          /* upstream connections holding an orphan's slot (idle_link) */
    lv_link_t half_closed;      /* lv_req_t whose client half-closed (half_closed_link) */
    uv_timer_t queue_tick;      /* expires queued requests while any wait */
    uv_async_t guard_wake;      /* another worker handed this one slots (guard/backend_limit.h) */
    uv_async_t cache_wake;      /* a flight resolved or a stored body grew (any thread) */
    struct lv_l2_client *l2;    /* the second tier's client (cache.l2), or NULL */
    lv_link_t cache_waiting;    /* requests waiting for a flight or for body bytes */
    atomic_uint cache_sleepers; /* length of cache_waiting, read by other workers */
    uint32_t n_queued;
    bool loop_busy; /* the loop had under 5 % idle time in the last 100 ms */
    uint32_t ticks;
    uint64_t tick_ns, idle_ns;
    bool draining;
    bool stopping;
    lv_log_limit_t warn_limit;
    lv_log_limit_t upstream_log_limit; /* upstream failures: a dying origin cannot flood the log */
    lv_tls_budget_t tls_budget;        /* full handshakes' share of the loop (conn.c, tls/ctx.c) */
    uint64_t tick_req_seq;             /* req_seq at the last tick: requests seen since */
    uint64_t tls_busy_until_ns; /* the handshake budget applies until then (a saturated loop) */

    /* Mailbox from the main thread (guarded by lock). */
    uv_mutex_t lock;
    lv_config_t *next_cfg;
    uint32_t next_gen;
    bool want_drain, want_stop;
    bool sink_posted;            /* next_sink is to be taken (NULL: access log off) */
    lv_access_sink_t *next_sink; /* a reference */
};

/* A listening socket of listener `listener`. Bound (or inherited) on the main thread before the
 * workers start; a worker's uv handle owns it once taken (closes it when it drains). The fd
 * numbers stay valid until the drain, so that they can be handed to a successor. */
typedef struct lv__lsock {
    uint32_t listener;
    int fd;
    bool taken; /* a worker's handle owns it */
} lv__lsock_t;

/* A socket received from the predecessor, with its local address (getsockname). */
typedef struct lv__inherited {
    int fd; /* -1 once a listener or the admin took it */
    bool admin;
    struct sockaddr_storage sa;
} lv__inherited_t;

struct lv_server {
    lv_config_t *cfg; /* current (main thread) */
    uint32_t generation;
    uint32_t n_workers;
    lv_worker_t *workers;
    lv_metrics_shard_t **shards;
    atomic_uint conns_open; /* shared connection cap, across workers */
    uint32_t fd_conn_cap;   /* client connections RLIMIT_NOFILE allows (set before workers) */
    uint64_t nofile;        /* RLIMIT_NOFILE in force (0: unknown or unlimited) */
    atomic_uint workers_done;
    lv_access_sink_t *access_sink; /* main thread: the current one (workers hold their own refs) */
    lv_storm_t *storm;             /* shared retry-storm table (made for sharing) */
    lv_hosts_t *hosts;             /* shared upstream host health (made for sharing) */
    lv_backend_limits_t *backends; /* shared concurrency limits per backend (made for sharing) */
    struct lv_health_checks *health_checks; /* main thread: active checks of the config */
    lv_flags_t *flags;                      /* shared flags (atomics) */
    struct lv_faults *faults;               /* injected faults in force (made for sharing) */
    struct lv_cache_store *cache; /* shared response cache (made for sharing); NULL: off */
    lv_l2_drop_stats_t l2_drops;  /* the subscriber's counters (atomics; admin reads) */
    lv_flights_t *flights;        /* shared misses in flight, with cache */
    lv__lsock_t *lsocks;          /* every listening socket of every listener (see below) */
    uint32_t n_lsocks, cap_lsocks;
    lv__inherited_t *inherited; /* sockets a predecessor handed over (upgrade.c) */
    uint32_t n_inherited;
    lv_addr_t *bound; /* the actually bound addresses */
    uint32_t n_bound; /* listeners bound at start (a reload does not change them) */
    uint64_t reloads;
    uint64_t reloads_refused; /* bad files refused by SIGHUP */
    bool draining;
    uint64_t start_wall_ms;

    /* Main thread only: */
    uv_loop_t *loop;
    uv_async_t wake; /* worker -> main: a worker finished */
    uv_signal_t sig_hup, sig_term, sig_int, sig_usr1, sig_usr2;
    uv_timer_t drain_timer;
    uv_timer_t trim_timer;           /* gives freed heap pages back to the system (server.c) */
    uv_timer_t fault_timer;          /* ends the faults whose time is up, each second (server.c) */
    struct lv_l2_subscriber *l2_sub; /* drops L1 copies when the region says (cache.l2) */
    uv_timer_t ticket_timer;         /* rotates the TLS ticket keys (tls.ticket_rotate_ms) */
    lv_tls_tickets_t *tickets;       /* shared by every TLS listener and generation */
    uint32_t ticket_rotate_ms;       /* the timer's period */
    struct lv_admin *admin;
    int exit_code;
    /* upgrade.c, main thread: the predecessor (successor side) and upgrade_socket (old side). */
    int upgrade_from_fd; /* connected to the predecessor until it said it stopped; -1 */
    int upgrade_listen_fd, upgrade_conn_fd;
    uv_poll_t upgrade_listen, upgrade_conn;
    bool handed_over; /* a successor took the sockets: drained without unlinking the path */
    uint64_t upgrade_ino, upgrade_dev; /* the path as bound (unlinked at exit only if still it) */
    /* SIGUSR2 (upgrade.c): how this process was started, to start its successor the same way. */
    const char *self_exe;   /* absolute path of the binary as invoked; NULL: SIGUSR2 unusable */
    char *const *self_argv; /* NULL-terminated, argv[0] included (main's, never freed) */
    uv_process_t successor; /* the successor SIGUSR2 started, while it runs */
    bool successor_running; /* successor is a live handle (closed at exit or when it exits) */
    bool upgraded_from;     /* started with --upgrade-from: systemd hears MAINPID= too */
};

/* The request's head: the connection parser's, valid from the head's end to the request's. */
static inline const lv_http_head_t *lv__req_head(const lv_req_t *r)
{
    return &r->conn->parser->head;
}

/* worker.c */
int lv__worker_init(lv_worker_t *w, lv_server_t *s, uint32_t id);
int lv__worker_start(lv_worker_t *w);
void lv__worker_post(lv_worker_t *w, lv_config_t *cfg, uint32_t gen, bool drain, bool stop);
/* The access log was reopened or changed: the worker flushes its buffered lines into its old
 * sink, then writes to sink (whose reference this takes over; NULL: off). */
void lv__worker_post_sink(lv_worker_t *w, lv_access_sink_t *sink);
void lv__worker_fini(lv_worker_t *w);
lv_gen_t *lv__gen_ref(lv_gen_t *g);
void lv__gen_unref(lv_gen_t *g);
void lv__worker_maybe_finish(lv_worker_t *w);
/* Runs deferred work (pipelined requests, queue dispatch) from the worker's idle callback. */
void lv__worker_defer(lv_worker_t *w);
lv_req_t *lv__req_acquire(lv_worker_t *w);
void lv__req_release(lv_worker_t *w, lv_req_t *r);

/* conn.c: client connections: read, parse, write, close */
/* The expiry callback of worker->conn_timeouts. */
void lv__conn_timeout(lv_timeouts_t *ts, lv_timeout_t *t);
void lv__conn_accept(lv_worker_t *w, uv_stream_t *listener);
void lv__conn_close(lv_conn_t *c);
void lv__conn_drain(lv_conn_t *c);
/* Frees the worker's pooled parsers (after its loop has ended). */
void lv__conn_worker_fini(lv_worker_t *w);
void lv__conn_pause_read(lv_conn_t *c);
void lv__conn_resume_read(lv_conn_t *c);
void lv__conn_write_started(lv_conn_t *c);
/* Sends a write to the client: as it is, or encrypted on a TLS connection (w is taken either
 * way). Returns like lv_wreq_submit: 1 written at once, 0 queued (cb later), or a uv error. */
int lv__conn_send(lv_conn_t *c, lv_wreq_t *w, uv_write_cb cb);
/* The connection's TLS state once established (for the access log, X-Forwarded-Proto). */
static inline struct lv_tls_conn *lv__conn_tls(const lv_conn_t *c)
{
    return c->pp_wait ? NULL : c->tls;
}
void lv__conn_write_done(lv_conn_t *c, int status);
void lv__conn_request_finished(lv_conn_t *c);
void lv__conn_run_deferred(lv_worker_t *w);
/* Runs the handshakes that waited for this turn of the loop, for one slice (worker_idle). */
void lv__conn_run_handshakes(lv_worker_t *w);

/* Websocket tunnels' client side (proxy/tunnel.c drives them) */
/* The connection becomes t's client side: its parser goes, bytes read while the 101 was awaited
 * go to the upstream. May end the tunnel at once (the client had half-closed). */
void lv__conn_tunnel_start(lv_conn_t *c, lv_tunnel_t *t);
/* The upstream's FIN, passed on: c gets what is queued for it, then (over TLS) close_notify,
 * then FIN; it is still read. A failed shutdown closes c (the tunnel ends as an error). */
void lv__conn_tunnel_shutdown(lv_conn_t *c);
/* The tunnel let go of c: a graceful close (what is queued is sent, then FIN) or a close. After
 * lv__conn_tunnel_shutdown, the graceful close waits only for that FIN (no lingering). */
void lv__conn_tunnel_end(lv_conn_t *c, bool graceful);

/* The request path is proxy/pipeline.h: its stages are proxy/stage_*.c. What they share: */

/* request.c: a request's life around the stages */
/* What the request is, from its head: method, framing, ids, the real client. */
void lv__request_begin(lv_req_t *r, const lv_http_head_t *h);
/* Ends a request: counted (metrics, access log, the guard) before its last bytes are
 * written, then every reference released and the connection told. */
void lv__request_finish(lv_req_t *r);
/* The guard's outcome of the request (its slot, the breaker), once. */
void lv__request_release_slot(lv_req_t *r);
/* The request lets go of its upstream connection (the caller decides the connection's fate). */
void lv__request_detach_upstream(lv_req_t *r);
void lv__request_client_gone(lv_req_t *r);
/* Its client half-closed after sending the whole request, before any answer. */
void lv__request_half_closed(lv_req_t *r);
void lv__request_client_writable(lv_req_t *r);

/* write.c: a request's writes to its client and its upstream */
/* The write being built in *slot (r->client_out or r->up_out), acquired for owner if none. */
static inline lv_wreq_t *lv__write_out(lv_req_t *r, lv_wreq_t **slot, void *owner)
{
    if (!*slot)
        *slot = lv_wreq_acquire(&r->conn->worker->bufs, owner);
    return *slot;
}
/* Queues bytes (in chunk ch, or static with ch NULL) for the client, as they are. */
int lv__write_client_bytes(lv_req_t *r, lv_chunk_t *ch, const char *p, size_t len);
/* A chunk-size line "<hex>\r\n" into the write's scratch. */
void lv__write_chunk_line(lv_wreq_t *w, size_t len);
void lv__write_flush_client(lv_req_t *r);
/* The callback of a write to the client (w->owner: the connection): lv__conn_write_done. */
void lv__write_client_done(uv_write_t *wr, int status);
void lv__write_flush_upstream(lv_req_t *r);
void lv__write_upstream_writable(lv_req_t *r);

/* answer.c: levee's own answers, for any stage */
void lv__answer_error(lv_req_t *r, int status);
/* A refusal: a stale copy if one may answer, else the wait page (or a short body) with
 * Retry-After and the lv_retry cookie. */
void lv__answer_refuse(lv_req_t *r, int status, uint32_t retry_after_s);
void lv__answer_fallback(lv_req_t *r);
/* The request fails: its upstream connection is closed; an answer begun is cut. */
void lv__answer_fail(lv_req_t *r, int status);
/* An injected abort's answer: `status` (any 200..599) with a short body and X-Levee-Fault. */
void lv__answer_fault(lv_req_t *r, int status);

/* stage_fault.c: the fault stage's timer (worker->req_timeouts), its end when the client
 * leaves, and the bandwidth cap: after a read of n response bytes, the next waits. */
void lv__fault_timeout(lv_timeouts_t *ts, lv_timeout_t *t);
void lv__fault_cancel(lv_req_t *r);
void lv__fault_throttle(lv_req_t *r, lv_uconn_t *u, size_t n);

/* guard.c: the guard's state per service and worker, shared by the guard's stages */
/* Pressure lasts this long after the last standing queue or shed request. */
#define LV_PRESSURE_HOLD_US 1000000u
/* An `auto` flag comes back on only after this long without pressure (hysteresis). */
#define LV_AUTO_FLAG_HOLD_US 5000000u
/* The guard of the request's service (r->guard), looked up when the first guard stage asks;
 * NULL when the service runs unguarded. Sets r->guard_us, the time its guard stages use. */
lv_svc_guard_t *lv__guard_lookup(lv_req_t *r);
static inline lv_svc_guard_t *lv__guard_of(lv_req_t *r)
{
    return r->guard ? r->guard : lv__guard_lookup(r);
}
void lv__guard_note(lv_svc_guard_t *g, uint64_t now_us, bool refused);
bool lv__guard_pressure(const lv_svc_guard_t *g, uint64_t now_us, uint64_t hold_us);
void lv__guard_publish(lv_svc_guard_t *g, uint64_t now_us);
uint32_t lv__guard_retry_after_s(lv_worker_t *w, uint32_t base_ms);
/* A refusal by the guard: 503 or 429 with a jittered Retry-After. */
void lv__guard_refuse(lv_req_t *r, lv_svc_guard_t *g, int status);
/* The guard.client_id header or cookie value when configured and present, else empty. */
lv_str_t lv__guard_client_id(const lv_req_t *r, const lv_http_head_t *h);
/* Slots were handed to w: its waiters get them from the idle callback (stage_limit.c). */
void lv__guard_schedule_dispatch(lv_worker_t *w);
/* The request's upstream part ended: releases its slot with what happened. */
void lv__guard_release(lv_req_t *r, int upstream_status, bool timed_out, bool failed);
/* r's connect to one host has hung past the stall point: it gives its slot back. */
void lv__guard_connect_stalled(lv_req_t *r);
/* An orphan's upstream exchange ended: the slot it kept is released. */
void lv__guard_orphan_done(lv_uconn_t *u, bool failed, bool timed_out);
void lv__guard_tick(lv_worker_t *w);
void lv__guard_worker_fini(lv_worker_t *w);

/* stage_join.c: abandoned requests a repeat may take over */
/* The client left while the upstream works: the slot moves to the upstream connection. */
void lv__join_orphan(lv_req_t *r, lv_uconn_t *u);
/* The client of r (sent, unanswered) half-closed: a request of the same client may join it. */
void lv__join_half_closed(lv_req_t *r);
/* u's request can no longer be taken over (an answer began, it was taken, it closes). */
void lv__join_forget(lv_uconn_t *u);
/* r ends: what the join kept is released. */
void lv__join_req_end(lv_req_t *r);
/* Drain: work for clients who left is not waited for. */
void lv__join_drop_orphans(lv_worker_t *w);

/* stage_limit.c: the queue */
/* A queued request is abandoned (client gone, answered otherwise): leaves the queue. */
void lv__limit_cancel(lv_req_t *r);
/* Gives the slots handed to w to its waiters (idle callback, guard_wake). */
void lv__limit_run_dispatch(lv_worker_t *w);

/* stage_relay.c: the relay's entries besides the stage */
int lv__relay_body(lv_req_t *r, lv_chunk_t *chunk, const char *p, size_t len);
void lv__relay_body_done(lv_req_t *r);
/* Whether a response is meant for one person: Set-Cookie, Cache-Control private or no-store. */
bool lv__relay_personal(const lv_http_head_t *h);
/* A joined request whose taken-over answer is personal: its upstream connection is closed and
 * it is sent again on its own (it holds its slot; a GET without a body). */
void lv__relay_resend(lv_req_t *r);
/* Called by upstream.c */
void lv__relay_upstream_failed(lv_req_t *r, int status, bool connect_failed);
int lv__relay_resp_head(lv_req_t *r, lv_http_head_t *head);
int lv__relay_resp_body(lv_req_t *r, lv_chunk_t *chunk, const char *p, size_t len);
int lv__relay_resp_done(lv_req_t *r);

/* cache_store.c: the cache's store side on the worker */
typedef enum {
    LV_CACHE_NONE = 0,  /* not served from the cache */
    LV_CACHE_FOLLOWING, /* waits for another request's response (on cache_waiting) */
    LV_CACHE_SERVING,   /* sending centry's body */
    LV_CACHE_STARVED,   /* sending, waits for more body bytes (on cache_waiting) */
} lv_cache_mode_t;
typedef enum { LV_STALE_REVALIDATE, LV_STALE_ERROR, LV_STALE_REFUSED } lv_stale_why_t;
struct lv_cache_stored;
int lv__cache_server_init(lv_server_t *s);
void lv__cache_server_fini(lv_server_t *s);
void lv__cache_worker_init(lv_worker_t *w);
void lv__cache_worker_close(lv_worker_t *w);
void lv__cache_tick(lv_worker_t *w);
/* The request's key (host + target + the route's parts) into key; -1 when it has none. */
int lv__cache_key(const lv_req_t *r, const lv_http_head_t *h, char *key);
/* Finds the stored response for key (following a Vary marker to the request's variant) and
 * decodes its meta. key must have room for LV_CACHE_KEY_MAX more bytes (the variant's). */
lv_cache_entry_t *lv__cache_find(lv_cache_store_t *s, char *key, size_t len, size_t cap,
                                 const lv_http_head_t *h, struct lv_cache_stored *st);
lv_cache_fill_t *lv__cache_fill_new(lv_req_t *r, const lv_http_head_t *h, const char *key,
                                    size_t key_len, lv_flight_t *flight);
/* The fill sends stale's validators: a 304 refreshes stale instead of storing anew. */
void lv__cache_fill_revalidates(lv_cache_fill_t *f, lv_cache_entry_t *stale);
/* The fill r leads is not needed (the second tier answered): its flight resolves READY. */
void lv__cache_fill_release(lv_req_t *r);
/* Stores a second-tier value under key in L1. Returns the entry (a reference; *st decoded) or
 * NULL when the value is a tombstone or cannot be used. */
lv_cache_entry_t *lv__cache_store_l2_value(lv_server_t *s, const char *key, size_t key_len,
                                           const char *val, size_t len, struct lv_cache_stored *st);
/* A finished fill or a refresh: e (complete, stored under its key) goes to the second tier, and
 * the event to the region's stream. */
void lv__cache_l2_write(lv_worker_t *w, lv_cache_entry_t *e);
/* Sends the refresh of a stale entry on its own upstream connection; the answer goes into the
 * store with no client attached. Takes the flight's reference. */
void lv__cache_refresh_start(lv_req_t *r, const lv_http_head_t *h, lv_cache_entry_t *stale,
                             const struct lv_cache_stored *st, const char *key, size_t key_len,
                             lv_flight_t *flight);
/* A waiting request (a follower of a flight, a reader that caught up with a fill) sleeps on
 * its worker's cache_waiting list; the cache's wake-up resumes it. */
void lv__cache_sleep_on(lv_req_t *r, lv_cache_mode_t mode);
void lv__cache_stop_waiting(lv_req_t *r);
/* Whether a stale copy may answer now (its own stale-if-error window, or the service's
 * cache_serve_stale_ms). */
bool lv__cache_stale_usable(const lv_req_t *r, const struct lv_cache_stored *st, uint64_t now);
/* True when r leads a fill: the client's own conditionals are not sent (the fill needs the
 * whole response), and *etag / *last_modified (empty when none) are the stale copy's
 * validators to send instead. */
bool lv__cache_validators(const lv_req_t *r, lv_str_t *etag, lv_str_t *last_modified);
/* The request goes upstream on u: its fill moves to the connection. */
void lv__cache_attach(lv_req_t *r, lv_uconn_t *u);
/* The upstream connection failed before any response: the fill goes back to the request,
 * which may retry elsewhere (or end, which releases its followers). */
void lv__cache_reclaim(lv_req_t *r, lv_uconn_t *u);
/* An unsafe request got a non-error answer: its stored response is stale now (RFC 9111 4.4). */
void lv__cache_invalidate(lv_req_t *r, const lv_http_head_t *h);
void lv__cache_request_end(lv_req_t *r);
/* Fill hooks, from the upstream parser callbacks. fill_head may take u->req off the connection
 * (it is then answered from the cache); it returns 0 or an HTTP error status. */
int lv__cache_fill_head(lv_uconn_t *u, const lv_http_head_t *h);
void lv__cache_fill_body(lv_uconn_t *u, const char *p, size_t len);
void lv__cache_fill_done(lv_uconn_t *u);
void lv__cache_fill_abort(lv_uconn_t *u);

/* stage_cache.c: a follower's flight resolved (or it waited long enough): it resumes. */
void lv__cache_follower_resume(lv_req_t *r, bool timed_out);

/* cache_serve.c: answering from a stored response */
/* Answers r from e (whose reference it takes): 200, 206, 304, or the head alone for HEAD. */
void lv__cache_serve(lv_req_t *r, lv_cache_entry_t *e, const struct lv_cache_stored *st,
                     const lv_http_head_t *h, uint64_t now);
/* Sends what the entry holds of the body; sleeps when it has caught up with a fill. */
void lv__cache_pump(lv_req_t *r);
void lv__cache_client_writable(lv_req_t *r);
/* Answers with r->stale if it may serve for this reason. */
bool lv__cache_serve_stale(lv_req_t *r, lv_stale_why_t why);

/* upstream.c */
int lv__pools_init(lv_gen_t *g);
void lv__pools_fini(lv_gen_t *g);
lv_host_t *lv__pool_pick(lv_pool_t *p, const lv_host_t *avoid);
/* A request starts (+1) or stops (-1) being in flight to h: counted in this worker and, for
 * least_outstanding, across the workers (the shared health entry). */
void lv__host_outstanding(lv_host_t *h, int delta);
/* Gives an idle connection to host (reused) or starts a new one (always with fresh: a
 * websocket's connection is never a pooled one). NULL when out of memory. */
lv_uconn_t *lv__uconn_get(lv_pool_t *p, lv_host_t *h, bool fresh, bool *reused);
void lv__uconn_release(lv_uconn_t *u); /* back to the idle list, or closed */
void lv__uconn_close(lv_uconn_t *u);
void lv__uconn_fail(lv_uconn_t *u, int status, bool connect_failed);
/* An upstream failure of the given kind: counted, logged once (rate-limited) with the host, the
 * kind and the request id, told to the host's health, then failed like lv__uconn_fail. */
void lv__uconn_fail_kind(lv_uconn_t *u, int status, lv_upfail_t kind, const char *detail);
void lv__uconn_start_read(lv_uconn_t *u);
void lv__uconn_arm_read_timeout(lv_uconn_t *u);
/* Arms u's timer ms from now (a tunnel's timeouts: lv__tunnel_timeout when it fires). */
void lv__uconn_arm_timer(lv_uconn_t *u, uint64_t ms);

/* upstream_tls.c: TLS to a service's upstreams */
/* A new connection of a TLS service gets its TLS state (no-op otherwise). 0 or LV_E*. */
int lv__uconn_tls_init(lv_uconn_t *u);
void lv__uconn_tls_free(lv_uconn_t *u);
/* TCP is up: the handshake starts (the connect timer still bounds it). */
void lv__uconn_tls_connected(lv_uconn_t *u);
/* Bytes the upstream sent, in plaintext (u->rchunk holds them). */
typedef void (*lv_uconn_read_fn)(lv_uconn_t *u, ssize_t n);
/* Ciphertext read into ch (u->rchunk, released here): handshake, then the plaintext to
 * on_bytes. false: the upstream sent close_notify (the caller takes it as end of stream). */
bool lv__uconn_tls_read(lv_uconn_t *u, lv_chunk_t *ch, ssize_t nread, lv_uconn_read_fn on_bytes);
/* Sends a write to the upstream (encrypted on a TLS connection, held until its handshake is
 * done); w is taken. Returns like lv_wreq_submit. */
int lv__uconn_send(lv_uconn_t *u, lv_wreq_t *w, uv_write_cb cb);
/* Bytes queued to the upstream, held ones included (backpressure). */
size_t lv__uconn_queued(const lv_uconn_t *u);

/* tunnel.c: websocket tunnels, from the upstream's 101 until both sides closed */
/* A tunnel between r's client and u, the connection that answered 101 (u->tunnel is set; the
 * open tunnels gauge counts it). NULL when out of memory. */
lv_tunnel_t *lv__tunnel_new(lv_req_t *r, lv_uconn_t *u);
/* r ended (its 101 counted and queued): bytes flow from here on, both ways. */
void lv__tunnel_begin(lv_tunnel_t *t);
/* Bytes from the client (in ch) and from the upstream (in u->rchunk, or ch), relayed as they
 * are; backpressure stops reading a side while the other's queue is over LV_QUEUE_HIGH. */
void lv__tunnel_client_bytes(lv_tunnel_t *t, lv_chunk_t *ch, const char *p, size_t len);
void lv__tunnel_upstream_bytes(lv_tunnel_t *t, lv_chunk_t *ch, const char *p, size_t len);
void lv__tunnel_client_writable(lv_tunnel_t *t);
/* A side sent FIN (or close_notify): its writing direction is over, and the other side's
 * writing is shut down once what is queued for it is written; the other direction goes on. FIN
 * both ways ends the tunnel (closed), as does a reset (error): the other side is then closed
 * once what is queued for it is written. */
void lv__tunnel_client_eof(lv_tunnel_t *t);
void lv__tunnel_upstream_eof(lv_tunnel_t *t, ssize_t nread);
/* The client connection or the upstream connection is being closed by its owner. */
void lv__tunnel_client_closed(lv_tunnel_t *t);
void lv__tunnel_upstream_closed(lv_tunnel_t *t);
/* The upstream connection's timer fired: the idle or total timeout, or a flush took too long. */
void lv__tunnel_timeout(lv_tunnel_t *t);
/* Drain: the tunnel ends (closed). */
void lv__tunnel_drain(lv_tunnel_t *t);

/* Takes each listener's inherited sockets, or binds its first socket (port 0 resolved into
 * server->bound); the workers share them out and bind more where there are too few. */
int lv__server_bind(lv_server_t *s);
/* The inherited socket bound to a (same family, address and port), taken (-1 when none). */
int lv__inherited_take(lv_server_t *s, const lv_addr_t *a, bool admin);
/* Whether one is there, left in place. */
bool lv__inherited_has(const lv_server_t *s, const lv_addr_t *a, bool admin);

/* upgrade.c, main thread. The successor side: connects to path, receives the predecessor's
 * listening sockets into s->inherited and keeps the connection in s->upgrade_from_fd. Returns
 * 0; 1 when nobody listens at path (nothing to take over: bind anew); LV_EIO (logged) when the
 * predecessor is there but the hand-over failed. */
int lv__upgrade_receive(lv_server_t *s, const char *path);
/* The successor runs: tells the predecessor, waits (a few seconds at most) until it stopped
 * accepting, closes the inherited sockets nobody took. */
void lv__upgrade_finish(lv_server_t *s);
/* The old side: listens at cfg->upgrade_socket on s->loop (logged when it cannot). When a
 * successor says it runs, s stops accepting and drains (server.c's lv__server_handed_over). */
void lv__upgrade_listen(lv_server_t *s);
/* Closes the upgrade listener and any successor connection; unlinks the path unless handed
 * over. */
void lv__upgrade_close(lv_server_t *s);
/* SIGUSR2: starts the successor (s->self_exe with s->self_argv plus --upgrade-from the
 * upgrade_socket path) and watches it: one that exits before it is ready leaves s serving
 * (logged). Without an upgrade_socket, while draining or while a successor starts, it only
 * logs a warning. */
void lv__upgrade_spawn(lv_server_t *s);
/* Stops watching the successor (at exit: it runs on without s). */
void lv__upgrade_forget(lv_server_t *s);
/* server.c: the successor runs on the sockets: stop accepting, drain, exit. */
void lv__server_handed_over(lv_server_t *s, int successor_pid);
/* Server-level connection cap. */
bool lv__server_conn_try_acquire(lv_server_t *s, uint32_t limit);
void lv__server_conn_release(lv_server_t *s);

#endif
