/* admin/metrics.h: per-worker metric shards (single writer: the worker) and the registry of
 * service slots. The admin thread sums shards at scrape time; nothing is locked on the hot path. */
#ifndef LV_ADMIN_METRICS_H
#define LV_ADMIN_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

#define LV_METRICS_MAX_SERVICES 256
#define LV_METRICS_N_METHODS 10 /* GET HEAD POST PUT DELETE PATCH OPTIONS CONNECT TRACE other */
#define LV_METRICS_N_CLASSES 5  /* 1xx..5xx */
/* Latency histogram bucket upper bounds in ms; the last bucket is +Inf. */
#define LV_METRICS_N_BUCKETS 16
/* Why levee answered in the backend's place (proxy.h lv_refusal_t less NONE, same order):
 * flag, storm, premature, breaker, shed, queue_timeout, deadline, body_timeout. */
#define LV_METRICS_N_REFUSALS 8
extern const char *const lv_metrics_refusal_names[LV_METRICS_N_REFUSALS];
extern const double lv_metrics_bucket_le_ms[LV_METRICS_N_BUCKETS - 1];

/* A counter written by one thread and read by others: relaxed atomics, no lock prefix. */
typedef _Atomic uint64_t lv_counter_t;

static inline void lv_counter_add(lv_counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline uint64_t lv_counter_get(lv_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* TLS handshakes with clients, by outcome (levee_tls_handshakes_total{result,reason}). */
enum {
    LV_TLS_HS_FULL,          /* ok: a full handshake */
    LV_TLS_HS_RESUMED,       /* ok: a resumed session (ticket or cache) */
    LV_TLS_HS_FAIL_PROTOCOL, /* failed: not TLS, no common version or cipher, an alert */
    LV_TLS_HS_FAIL_TIMEOUT,  /* failed: not done within timeouts.header_ms */
    LV_TLS_HS_FAIL_CLOSED,   /* failed: the client closed or reset first */
    LV_TLS_HS_LIMITED,       /* limited: refused by tls.handshake_cpu_percent */
    LV_TLS_HS_N
};
/* TLS handshakes with a service's upstreams (levee_upstream_tls_handshakes_total{result}). */
enum { LV_UP_TLS_OK, LV_UP_TLS_VERIFY_FAILED, LV_UP_TLS_FAILED, LV_UP_TLS_N };
extern const char *const lv_up_tls_results[LV_UP_TLS_N]; /* their label values */
/* Websocket tunnels, by how they ended (levee_websocket_tunnels_total{result}). */
enum {
    LV_WS_CLOSED,        /* both sides closed (FIN each way), or a drain */
    LV_WS_IDLE_TIMEOUT,  /* routes[].websocket_idle_ms without a byte */
    LV_WS_TOTAL_TIMEOUT, /* routes[].websocket_max_ms */
    LV_WS_ERROR,         /* a reset, a failed write, out of memory, a stalled client */
    LV_WS_REFUSED,       /* never opened: over services[].websocket_max_tunnels (503) */
    LV_WS_N
};

typedef struct lv_service_metrics {
    lv_counter_t requests[LV_METRICS_N_METHODS][LV_METRICS_N_CLASSES];
    lv_counter_t latency_buckets[LV_METRICS_N_BUCKETS]; /* total time, not cumulative */
    lv_counter_t latency_sum_us;
    lv_counter_t upstream_connects; /* new TCP connections opened */
    lv_counter_t upstream_reuses;   /* requests sent on a kept-alive connection */
    lv_counter_t upstream_connect_errors;
    lv_counter_t upstream_connect_stalls; /* past the stall point: slot given back */
    lv_counter_t upstream_errors;         /* reset, bad response, closed early -> 502 */
    lv_counter_t upstream_timeouts;       /* -> 504 */
    lv_counter_t upstream_retries;        /* connect failure retried on the next host */
    lv_counter_t in_flight;               /* gauge (written by the worker) */

    /* The guard: every decision it makes is counted (levee_guard_* families). */
    lv_counter_t guard_admitted;            /* took a concurrency slot at once */
    lv_counter_t guard_queued;              /* waited in the queue */
    lv_counter_t guard_dropped_wait;        /* left the queue: waited longer than allowed -> 503 */
    lv_counter_t guard_dropped_deadline;    /* left the queue: its deadline passed -> 503 */
    lv_counter_t guard_dropped_client_gone; /* left the queue: the client closed */
    lv_counter_t guard_shed;                /* refused at once: queue full for its criticality */
    /* Shed, or dropped from the queue for waiting too long, by the request's criticality
     * (lv_criticality_t: the route's, else the service's). */
    lv_counter_t guard_refused_by_crit[LV_CRIT_COUNT];
    lv_counter_t guard_storm_blocked;     /* 429: same client + resource repeated under pressure */
    lv_counter_t guard_premature_blocked; /* 429: its lv_retry cookie, before its Retry-After */
    lv_counter_t guard_orphaned;    /* client closed (FIN or reset) while the backend worked */
    lv_counter_t guard_joined;      /* took over the upstream request its client had left (F5) */
    lv_counter_t guard_join_resent; /* joined, but the answer was personal: sent on its own */
    lv_counter_t guard_breaker_rejected; /* breaker open: failed fast */
    lv_counter_t guard_breaker_transitions;
    lv_counter_t guard_breaker_state;   /* gauge: 0 closed, 1 open, 2 half-open (worker max) */
    lv_counter_t guard_retries_denied;  /* a retry the retry budget refused */
    lv_counter_t guard_fallback_served; /* flag off (or auto under pressure): fallback sent */
    lv_counter_t guard_wait_pages;      /* refusals answered with the HTML wait page */
    lv_counter_t guard_limit;           /* gauge: the backend's limit (max over shards) */
    lv_counter_t guard_queue_len;       /* gauge: requests waiting (summed) */
    lv_counter_t guard_pressure;        /* gauge: 1 while under pressure (worker max) */
    lv_counter_t queue_wait_buckets[LV_METRICS_N_BUCKETS]; /* time waited by served requests */
    lv_counter_t queue_wait_sum_us;
    /* Injected faults (proxy/stage_fault.c) by lv_fault_kind_t; host_down: connects refused. */
    lv_counter_t faults_injected[LV_FAULT_KINDS];
    /* Requests levee answered in the backend's place, by reason (lv_refusal_t - 1), counted
     * when the request ends (a stale copy sent instead counts too). */
    lv_counter_t refusals[LV_METRICS_N_REFUSALS];
    lv_counter_t upstream_tls[LV_UP_TLS_N]; /* TLS handshakes with its upstreams, by result */
    lv_counter_t ws_tunnels;                /* gauge: websocket tunnels open */
    lv_counter_t ws_tunnels_end[LV_WS_N];   /* websocket tunnels ended, by result */
} lv_service_metrics_t;

/* The response cache's decisions (levee_cache_* families); store-wide numbers (entries, bytes,
 * evictions, purges) come from the store itself (cache/store.h lv_cache_store_stats). */
typedef struct lv_cache_metrics {
    lv_counter_t hits;              /* answered from a fresh stored response */
    lv_counter_t misses;            /* looked up, nothing usable: went to the origin */
    lv_counter_t passes;            /* not cacheable (method, route off, remembered pass...) */
    lv_counter_t coalesced;         /* waited for another request's response (no upstream) */
    lv_counter_t coalesce_timeouts; /* waited past cache.lock_timeout_ms: went on alone */
    lv_counter_t stale_swr;         /* stale served: stale-while-revalidate */
    lv_counter_t stale_error;       /* stale served: origin failed (stale-if-error) */
    lv_counter_t stale_refused;     /* stale served: the guard refused or the breaker is open */
    lv_counter_t revalidations;     /* conditional requests sent to the origin */
    lv_counter_t revalidated;       /* ... answered 304: the stored response was refreshed */
    lv_counter_t stored;            /* responses stored */
    lv_counter_t not_stored;        /* responses the rules refused to store */
    lv_counter_t not_modified;      /* client conditional requests answered 304 from cache */
} lv_cache_metrics_t;

/* The second cache tier (Redis), one worker's client: lookups, writes, events, its breaker. */
#define LV_L2_METRICS_EVENT_TYPES 6 /* cache/l2_event.h LV_L2_EV_TYPES */
typedef struct lv_l2_metrics {
    lv_counter_t hits, misses; /* lookups answered: a value (not a tombstone), or none */
    lv_counter_t timeouts;     /* no answer within cache.l2.timeout_ms: the request went on */
    lv_counter_t errors;       /* error replies, undecodable values, lost connections */
    lv_counter_t skipped;      /* not asked: Redis down, the breaker open or too much pending */
    lv_counter_t writes, write_errors, write_bytes; /* values (and tombstones) sent */
    lv_counter_t too_large;                         /* fills not written: over max_value_bytes */
    lv_counter_t events[LV_L2_METRICS_EVENT_TYPES]; /* published to the region's stream */
    lv_counter_t event_bytes;                       /* their fields' bytes */
    lv_counter_t breaker_opens;
    lv_counter_t up; /* gauge: 1 while connected with the breaker closed */
} lv_l2_metrics_t;

/* One per worker thread. */
typedef struct lv_metrics_shard {
    lv_cache_metrics_t cache;
    lv_l2_metrics_t l2;
    lv_counter_t connections_open; /* gauge */
    lv_counter_t connections_accepted;
    lv_counter_t connections_refused;   /* over limits.connections */
    lv_counter_t client_errors[6];      /* 400, 408, 413, 414, 431, other 4xx from parsing */
    lv_counter_t requests_unrouted;     /* 404: no route */
    lv_counter_t body_timeouts;         /* 408: a request body too slow (timeouts.body_*) */
    lv_counter_t proxy_protocol_errors; /* connections closed: no valid PROXY header */
    lv_counter_t bytes_in, bytes_out;   /* client side */
    lv_counter_t tls_handshakes[LV_TLS_HS_N];
    lv_counter_t tls_handshake_us;       /* time spent in server handshakes (OpenSSL calls) */
    lv_counter_t tls_handshakes_yielded; /* handshake steps that waited a turn of the loop */
    lv_service_metrics_t services[LV_METRICS_MAX_SERVICES];
} lv_metrics_shard_t;

enum { LV_CERR_400, LV_CERR_408, LV_CERR_413, LV_CERR_414, LV_CERR_431, LV_CERR_OTHER };

/* Method index for the requests table (llhttp method -> 0..9). */
unsigned lv_metrics_method_index(uint8_t llhttp_method);
/* Records one finished request: method, status, total time. */
void lv_metrics_record_request(lv_service_metrics_t *m, uint8_t llhttp_method, int status,
                               uint64_t total_us);

/* Registry (main thread only): maps a service name to a stable slot, so counters survive a
 * reload. Returns the slot, or -1 when LV_METRICS_MAX_SERVICES names are already taken. */
int lv_metrics_slot_for(const char *service_name);
/* Name of a slot, or NULL if unused. */
const char *lv_metrics_slot_name(uint32_t slot);
uint32_t lv_metrics_n_slots(void);

/* Frees every registered name and empties the registry (main thread; at shutdown and in
 * tests). Slots handed out before are invalid afterwards. */
void lv_metrics_registry_reset(void);

/* "GET".."TRACE", "other" for index 9; idx must be < LV_METRICS_N_METHODS. */
const char *lv_metrics_method_name(unsigned idx);

/* Sums over shards (any thread may call them; values are relaxed snapshots). */
uint64_t lv_metrics_sum_service_requests(lv_metrics_shard_t *const *shards, uint32_t n_shards,
                                         uint32_t slot);
uint64_t lv_metrics_sum_service_in_flight(lv_metrics_shard_t *const *shards, uint32_t n_shards,
                                          uint32_t slot);
uint64_t lv_metrics_sum_connections_open(lv_metrics_shard_t *const *shards, uint32_t n_shards);

/* Writes the Prometheus text exposition of the summed shards to out (main thread). */
void lv_metrics_write_prometheus(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards);

#endif
