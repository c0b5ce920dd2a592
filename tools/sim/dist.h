/* sim/dist.h: levee-sim's random numbers and service-time distributions (fixed, exponential,
 * log-normal from mean and p99) and the thrash formula. Pure functions on caller's state. */
#ifndef LV_SIM_DIST_H
#define LV_SIM_DIST_H

#include <stdint.h>

#include "core/rng.h"

/* xoshiro256** seeded through splitmix64; one per server loop, never shared across threads. */
typedef struct sim_rng {
    lv_rng_t g;
} sim_rng_t;

void lv_sim_rng_seed(sim_rng_t *r, uint64_t seed);
uint64_t lv_sim_rng_next(sim_rng_t *r);
/* Uniform in (0, 1]: never 0, so log() of it is finite. */
double lv_sim_rng_unit(sim_rng_t *r);

typedef enum { SIM_DIST_FIXED = 0, SIM_DIST_EXP = 1, SIM_DIST_LOGNORMAL = 2 } sim_dist_kind_t;

typedef struct sim_dist {
    sim_dist_kind_t kind;
    double mean_ms;
    double p99_ms; /* log-normal only */
    double mu;     /* log-normal: derived by lv_sim_dist_init */
    double sigma;
} sim_dist_t;

/* The z-score of the 99th percentile of a standard normal. */
#define SIM_Z99 2.3263478740408408

/* Fills d. Log-normal solves mu and sigma from mean and p99 (p99_ms <= 0 means 4 * mean).
 * Returns 0, or LV_EINVAL with a reason in *why (static string) when the numbers are impossible:
 * negative mean, or for log-normal p99 <= mean or p99 > ~14.97 * mean (no sigma fits). */
int lv_sim_dist_init(sim_dist_t *d, sim_dist_kind_t kind, double mean_ms, double p99_ms,
                     const char **why);
/* One draw in milliseconds (>= 0). */
double lv_sim_dist_draw(const sim_dist_t *d, sim_rng_t *r);
/* "fixed", "exp" (or "exponential"), "lognormal"; returns -1 if unknown. */
int lv_sim_dist_parse(const char *name);
const char *lv_sim_dist_name(sim_dist_kind_t kind);

/* Thrash multiplier for a request that starts service: 1 + F * queue_len / K (1 if K == 0). */
double lv_sim_thrash_mult(double thrash, uint64_t queue_len, uint32_t workers);

/* Rounds ms to whole milliseconds up or down at random so that the mean is kept exactly
 * (libuv timers have millisecond resolution). */
uint64_t lv_sim_round_ms(double ms, sim_rng_t *r);

#endif
