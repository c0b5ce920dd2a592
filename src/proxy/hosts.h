/* proxy/hosts.h: the health of every upstream host, shared by the workers: passive outlier
 * ejection (consecutive failures take a host out of rotation for a backoff that grows) and the
 * verdict of active health checks. Made for sharing: atomics only, no lock after lookup. */
#ifndef LV_PROXY_HOSTS_H
#define LV_PROXY_HOSTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin/metrics.h"
#include "core/config.h"

/* Why an upstream exchange failed (logged as kind=<name>, counted per kind). */
typedef enum {
    LV_UPFAIL_CONNECT = 0,     /* connect refused or failed at once */
    LV_UPFAIL_CONNECT_TIMEOUT, /* no connection within connect_timeout_ms */
    LV_UPFAIL_RESET,           /* read or write error (reset, broken pipe) */
    LV_UPFAIL_CLOSED,          /* closed before any byte of a response */
    LV_UPFAIL_CUT,             /* closed in the middle of a response */
    LV_UPFAIL_BAD_RESPONSE,    /* unparseable, oversized or refused response head or body */
    LV_UPFAIL_READ_TIMEOUT,    /* no response byte within read_timeout_ms */
    LV_UPFAIL_STATUS_5XX,      /* the host answered 5xx (counts for ejection only) */
    LV_UPFAIL_TLS,             /* the TLS handshake failed (services[].tls): like a connect */
    LV_UPFAIL_COUNT
} lv_upfail_t;

/* "connect", "connect_timeout", "reset", ... (metric label values and log kinds). */
extern const char *const lv_upfail_names[LV_UPFAIL_COUNT];

/* One host of one service (keyed by service name and address, so it outlives reloads). */
typedef struct lv_host_health {
    char service[65];
    char addr[64];
    atomic_uint consecutive_failures;  /* since the last success */
    atomic_uint ejections_in_row;      /* backoff exponent: ejections without a success between */
    _Atomic uint64_t ejected_until_ms; /* monotonic ms; in rotation once it has passed */
    atomic_bool ejected;               /* ejected and no success seen since (for the log) */
    atomic_bool check_down;            /* active health checks say it is down */
    atomic_uint outstanding;           /* requests in flight to it from every worker */
    /* monotonic ms until which a host_down fault refuses connections to it (proxy/faults.c) */
    _Atomic uint64_t fault_down_until_ms;
    lv_counter_t failures[LV_UPFAIL_COUNT];
    lv_counter_t ejections;
    lv_counter_t check_failures, check_successes;
    lv_counter_t check_tls[LV_UP_TLS_N]; /* the checks' TLS handshakes, by result */
} lv_host_health_t;

typedef struct lv_hosts lv_hosts_t;

/* Hosts remembered (service and address pairs, across reloads); past it, hosts go unwatched. */
#define LV_HOSTS_MAX 8192u

/* A table of at most `cap` hosts. NULL on allocation failure. Main thread. */
lv_hosts_t *lv_hosts_new(uint32_t cap);
void lv_hosts_free(lv_hosts_t *t);
/* The entry of (service, addr), made on first use; NULL when the table is full. Any thread
 * (a mutex guards the lookup; entries never move nor die before lv_hosts_free). */
lv_host_health_t *lv_hosts_get(lv_hosts_t *t, const char *service, const char *addr);

/* Whether the host takes requests: not ejected, not down by health checks. Any thread. */
bool lv_host_usable(const lv_host_health_t *h, uint64_t now_ms);

/* A failure of kind on h. Returns the ejection time in ms when this failure ejected the host
 * (the caller logs it once), else 0. may_eject: the pool allows one more host out of rotation
 * (never the last). Any thread. */
uint32_t lv_host_note_failure(lv_host_health_t *h, lv_upfail_t kind, const lv_outlier_conf_t *c,
                              bool may_eject, uint64_t now_ms);
/* A success on h (a response under 500). Returns true when the host was ejected before and this
 * is its first success since (the caller logs its return). Any thread. */
bool lv_host_note_success(lv_host_health_t *h);

/* An active health check's result; returns +1 when the host just went up, -1 when it just went
 * down, 0 otherwise. *streak is the checker's own count (positive: successes in a row, negative:
 * failures in a row). One checker per host. */
int lv_host_note_check(lv_host_health_t *h, bool ok, int32_t *streak, uint32_t healthy,
                       uint32_t unhealthy);

#endif
