/* load/user.h: the user model of levee-load: a journey of paths, a patience, F5 retries and
 * Retry-After obedience, as a pure state machine (no I/O, no clock). The engine feeds it what
 * happened and does what it returns. Load loop thread, or unit tests. */
#ifndef LOAD_USER_H
#define LOAD_USER_H

#include <stdint.h>

#include "rng.h"

/* How a population of users behaves (from the scenario). */
typedef struct load_user_params {
    uint32_t n_steps;           /* journey length, >= 1 */
    load_dist_t patience_ms;    /* per user: a request unanswered this long is abandoned */
    load_dist_t think_ms;       /* pause between two steps of the journey */
    load_dist_t retry_delay_ms; /* delay before pressing F5 */
    double f5_prob;             /* chance to press F5 after a failure */
    uint32_t max_tries;         /* attempts per step (first try included), >= 1 */
    double obey_retry_after;    /* fraction of users who wait as Retry-After says */
    uint32_t max_waits;         /* Retry-After waits an obeying user accepts per step */
    double retry_after_jitter;  /* obeying users wait ra * (1 + U[0, jitter)) */
    uint32_t per_address;       /* consecutive users that share one source address, >= 1 */
} load_user_params_t;

void load_user_params_default(load_user_params_t *p);

typedef enum {
    LOAD_ACT_SEND = 0, /* send the request of `step` after delay_ms (0: now) */
    LOAD_ACT_DONE_OK,  /* journey complete */
    LOAD_ACT_DONE_FAIL /* the user leaves */
} load_act_kind_t;

typedef enum { LOAD_TRY_FIRST = 0, LOAD_TRY_F5, LOAD_TRY_OBEYED } load_try_kind_t;

typedef struct load_act {
    load_act_kind_t kind;
    load_try_kind_t try_kind; /* for SEND */
    double delay_ms;          /* for SEND */
} load_act_t;

typedef struct load_user_model {
    uint32_t step;  /* index in the journey */
    uint32_t tries; /* attempts on this step, F5 included (not obeyed waits) */
    uint32_t waits; /* Retry-After waits on this step */
    uint8_t obeys;  /* this user obeys Retry-After */
    double patience_ms;
} load_user_model_t;

/* Attempt number of the step's pending request (levee-load sends it as `X-Attempt`): 1 for the
 * first try, then one more for every retry of the same step, F5 or Retry-After wait alike. */
static inline uint32_t load_user_attempt(const load_user_model_t *m)
{
    return m->tries + m->waits;
}

/* Draws the user's traits; the first action is always SEND step 0, now. */
load_act_t load_user_begin(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r);
/* A complete response. retry_after_ms < 0 when absent. */
load_act_t load_user_on_response(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r,
                                 int status, double retry_after_ms);
/* Abandoned (patience ran out) or the connection failed (refused, reset, bad response). */
load_act_t load_user_on_failure(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r);

/* 1 when a status counts as goodput (2xx or 3xx). */
static inline int load_status_good(int status)
{
    return status >= 200 && status < 400;
}

#endif
