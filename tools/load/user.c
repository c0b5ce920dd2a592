/* load/user.c: the user model state machine (journey, patience, F5, Retry-After). Pure: the
 * engine owns sockets and timers and asks this file what the user does next. Load loop only. */
#include "user.h"

#include "core/common.h"

void load_user_params_default(load_user_params_t *p)
{
    *p = (load_user_params_t){.n_steps = 1,
                              .patience_ms = load_dist_fixed(2000),
                              .think_ms = load_dist_fixed(0),
                              .retry_delay_ms = load_dist_exp(1000),
                              .f5_prob = 0,
                              .max_tries = 3,
                              .obey_retry_after = 0,
                              .max_waits = 10,
                              .retry_after_jitter = 0.25,
                              .per_address = 1};
}

load_act_t load_user_begin(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r)
{
    m->step = 0;
    m->tries = 1;
    m->waits = 0;
    m->obeys = load_rng_uniform(r) < p->obey_retry_after;
    m->patience_ms = load_dist_sample(&p->patience_ms, r);
    if (m->patience_ms < 1)
        m->patience_ms = 1;
    return (load_act_t){.kind = LOAD_ACT_SEND, .try_kind = LOAD_TRY_FIRST, .delay_ms = 0};
}

load_act_t load_user_on_failure(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r)
{
    if (m->tries >= p->max_tries)
        return (load_act_t){.kind = LOAD_ACT_DONE_FAIL};
    /* Draw even when f5_prob is 0 or 1 so that the random stream does not depend on it. */
    if (!(load_rng_uniform(r) < p->f5_prob))
        return (load_act_t){.kind = LOAD_ACT_DONE_FAIL};
    m->tries++;
    double d = load_dist_sample(&p->retry_delay_ms, r);
    return (load_act_t){.kind = LOAD_ACT_SEND, .try_kind = LOAD_TRY_F5, .delay_ms = d};
}

load_act_t load_user_on_response(load_user_model_t *m, const load_user_params_t *p, load_rng_t *r,
                                 int status, double retry_after_ms)
{
    if (load_status_good(status)) {
        m->step++;
        if (m->step >= p->n_steps)
            return (load_act_t){.kind = LOAD_ACT_DONE_OK};
        m->tries = 1;
        m->waits = 0;
        double d = load_dist_sample(&p->think_ms, r);
        return (load_act_t){.kind = LOAD_ACT_SEND, .try_kind = LOAD_TRY_FIRST, .delay_ms = d};
    }
    int polite = status == 429 || status == 503;
    if (polite && retry_after_ms >= 0 && m->obeys) {
        /* The wait page: wait as told (never less), with jitter, without pressing F5. */
        if (m->waits >= p->max_waits)
            return (load_act_t){.kind = LOAD_ACT_DONE_FAIL};
        m->waits++;
        double d = retry_after_ms * (1.0 + load_rng_uniform(r) * p->retry_after_jitter);
        return (load_act_t){.kind = LOAD_ACT_SEND, .try_kind = LOAD_TRY_OBEYED, .delay_ms = d};
    }
    if (status >= 500 || status == 429)
        return load_user_on_failure(m, p, r);
    /* Other 4xx (and 1xx oddities): pressing F5 does not help; the user leaves. */
    return (load_act_t){.kind = LOAD_ACT_DONE_FAIL};
}
