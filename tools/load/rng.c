/* load/rng.c: xoshiro256** generator and the millisecond distributions used by the user model.
 * Owns no state beyond the caller's load_rng_t; runs on the load loop (or in unit tests). */
#include "rng.h"

#include <math.h>

#include "core/common.h"
#include "core/rng.h"

void load_rng_seed(load_rng_t *r, uint64_t seed)
{
    lv_rng_seed(&r->g, seed);
}

uint64_t load_rng_next(load_rng_t *r)
{
    return lv_rng_next(&r->g);
}

double load_rng_uniform(load_rng_t *r)
{
    return (double)(load_rng_next(r) >> 11) * 0x1.0p-53;
}

double load_rng_exp(load_rng_t *r, double mean)
{
    if (mean <= 0)
        return 0;
    return -mean * log1p(-load_rng_uniform(r));
}

double load_rng_normal(load_rng_t *r)
{
    double u1 = load_rng_uniform(r);
    double u2 = load_rng_uniform(r);
    return sqrt(-2.0 * log1p(-u1)) * cos(2.0 * M_PI * u2);
}

load_dist_t load_dist_fixed(double v)
{
    return (load_dist_t){.kind = LOAD_DIST_FIXED, .mean = v};
}

load_dist_t load_dist_exp(double mean)
{
    return (load_dist_t){.kind = LOAD_DIST_EXP, .mean = mean};
}

/* z of the 99th percentile of a standard normal. */
#define LOAD_Z99 2.3263478740408408

int load_dist_lognormal(load_dist_t *d, double mean, double p99)
{
    if (!(mean > 0) || !(p99 > mean))
        return LV_EINVAL;
    /* mean = exp(mu + s^2/2), p99 = exp(mu + z s)  =>  s^2/2 - z s + ln(p99/mean) = 0. */
    double k = log(p99 / mean);
    double disc = LOAD_Z99 * LOAD_Z99 - 2.0 * k;
    if (disc < 0)
        return LV_EINVAL;
    double sigma = LOAD_Z99 - sqrt(disc);
    *d = (load_dist_t){.kind = LOAD_DIST_LOGNORMAL,
                       .mean = mean,
                       .p99 = p99,
                       .mu = log(mean) - sigma * sigma / 2.0,
                       .sigma = sigma};
    return LV_OK;
}

double load_dist_sample(const load_dist_t *d, load_rng_t *r)
{
    switch (d->kind) {
    case LOAD_DIST_FIXED:
        return d->mean;
    case LOAD_DIST_EXP:
        return load_rng_exp(r, d->mean);
    case LOAD_DIST_LOGNORMAL:
        return exp(d->mu + d->sigma * load_rng_normal(r));
    }
    return d->mean;
}

double load_dist_high(const load_dist_t *d)
{
    switch (d->kind) {
    case LOAD_DIST_FIXED:
        return d->mean;
    case LOAD_DIST_EXP:
        return d->mean * 6.9; /* p99.9 of an exponential */
    case LOAD_DIST_LOGNORMAL:
        return exp(d->mu + 3.09 * d->sigma);
    }
    return d->mean;
}
