/* load/rng.h: the seeded random source and the distributions of levee-load (patience, delays).
 * Pure and deterministic for a given seed; one generator per run, used on the load loop only. */
#ifndef LOAD_RNG_H
#define LOAD_RNG_H

#include <stdint.h>

#include "core/rng.h"

/* xoshiro256** seeded through splitmix64. */
typedef struct load_rng {
    lv_rng_t g;
} load_rng_t;

void load_rng_seed(load_rng_t *r, uint64_t seed);
uint64_t load_rng_next(load_rng_t *r);
/* Uniform in [0, 1). */
double load_rng_uniform(load_rng_t *r);
/* Exponential with the given mean (mean <= 0 returns 0). */
double load_rng_exp(load_rng_t *r, double mean);
/* Standard normal (Box-Muller). */
double load_rng_normal(load_rng_t *r);

/* A distribution of milliseconds: fixed, exponential (mean) or log-normal (mean and p99). */
typedef enum { LOAD_DIST_FIXED = 0, LOAD_DIST_EXP, LOAD_DIST_LOGNORMAL } load_dist_kind_t;

typedef struct load_dist {
    load_dist_kind_t kind;
    double mean; /* fixed value, or mean */
    double p99;  /* log-normal only */
    double mu, sigma;
} load_dist_t;

load_dist_t load_dist_fixed(double v);
load_dist_t load_dist_exp(double mean);
/* Returns 0 and fills *d, or LV_EINVAL when p99 <= mean or p99/mean is too large (> ~14.9)
 * for a log-normal with that mean. */
int load_dist_lognormal(load_dist_t *d, double mean, double p99);
double load_dist_sample(const load_dist_t *d, load_rng_t *r);
/* Largest plausible value (fixed value, or p99.9-ish bound), used to size drains. */
double load_dist_high(const load_dist_t *d);

#endif
