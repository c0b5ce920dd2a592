/* guard/limiter.h: an adaptive concurrency limit: learns how many requests in flight a backend
 * takes before its latency grows. Pure logic, caller's clock (guard/backend_limit.h shares it). */
#ifndef LV_GUARD_LIMITER_H
#define LV_GUARD_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lv_limiter_conf {
    uint32_t initial; /* starting limit (default 20) */
    uint32_t min;     /* never below (default 1) */
    uint32_t max;     /* never above (default 1000) */
} lv_limiter_conf_t;

/* Outcome of a request that held a slot. */
typedef enum {
    LV_LIMIT_OK = 0,      /* answered: its RTT is a latency sample */
    LV_LIMIT_DROPPED = 1, /* upstream timeout or overload error: a strong "too much" signal */
    LV_LIMIT_IGNORE = 2,  /* client gone, local error: says nothing about the service */
} lv_limit_outcome_t;

typedef struct lv_limiter {
    lv_limiter_conf_t conf;
    double limit;       /* current limit (fractional internally) */
    uint32_t in_flight; /* slots held */
    /* Algorithm state (gradient of short-term RTT against a no-load RTT that is re-measured
     * periodically, with jitter; the implementation documents the details). */
    double rtt_noload_us;
    double rtt_short_us;
    double rtt_long_us;
    uint64_t window_start_us;
    uint32_t window_samples;
    double window_sum_us;
    double window_sumsq_us2;
    double window_min_us;
    uint64_t next_probe_us; /* when to re-measure the no-load RTT */
    uint32_t rng;           /* the seed: probe times derive from it, see lv_limiter_init */
    uint64_t drops;
    /* Added by the implementation (limiter.c documents them). */
    bool probing;                  /* re-measuring the no-load RTT at a reduced limit */
    bool unsettled;                /* the last probe moved the no-load RTT a lot: re-probe soon */
    uint32_t probe_limit;          /* the limit while probing */
    double saved_limit;            /* the limit to restore after the probe */
    uint64_t probe_start_us;       /* the probe began */
    uint64_t probe_valid_us;       /* only requests ending after this are no-load samples */
    uint64_t probe_end_us;         /* the probe ends */
    uint32_t probe_samples;        /* no-load samples gathered in this probe */
    double probe_sum_us;           /* their sum */
    double probe_sumsq_us2;        /* and sum of squares (the noise of the mean) */
    double noload_weight;          /* samples behind rtt_noload_us (capped) */
    uint64_t probes;               /* probes completed (metrics, tests) */
    uint64_t sample_from_us;       /* after a probe, requests sent before this are not samples */
    uint32_t window_max_in_flight; /* the most slots held at once in this window */
    uint32_t low_gradient_windows; /* consecutive windows whose gradient was well below steady */
    uint32_t fast_windows;         /* consecutive windows much faster than the no-load RTT */
    uint64_t last_drop_us;         /* the last multiplicative decrease */
    double last_gradient;          /* of the last window (metrics, tests) */
    double up_step;                /* the next step up of the limit (limiter.c, step_up) */
    uint32_t up_wait;              /* windows to wait before it */
    bool up_pending;               /* the last window raised the limit: judge it */
    uint64_t last_bound_us;        /* a window last reached the limit (settled probes need one) */
} lv_limiter_t;

/* seed: probe times are a function of (seed, clock) (limiters given the same seed probe
 * together); backend_limit.c gives each backend its own. Starts with a probe (limiter.c). */
void lv_limiter_init(lv_limiter_t *l, const lv_limiter_conf_t *conf, uint64_t now_us,
                     uint32_t seed);
/* Takes a slot if in_flight < limit. */
bool lv_limiter_try_acquire(lv_limiter_t *l);
/* Gives a slot back with what happened; may change the limit. rtt_us: time the request held
 * the slot (sent to the upstream until its response ended). */
void lv_limiter_release(lv_limiter_t *l, uint64_t now_us, uint64_t rtt_us,
                        lv_limit_outcome_t outcome);
/* Ends a probe that is over, even if no request ends (its slots are all held by requests that
 * wait on something else: a connect to a dead host). Call it before try_acquire. */
void lv_limiter_tick(lv_limiter_t *l, uint64_t now_us);
/* Gives back a slot taken by lv_limiter_try_acquire that was never used (nothing was sent). */
void lv_limiter_cancel(lv_limiter_t *l);
/* The current limit, rounded down, at least conf.min (the reduced one while probing). */
uint32_t lv_limiter_limit(const lv_limiter_t *l);

#endif
