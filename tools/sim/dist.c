/* sim/dist.c: random numbers, service-time distributions and the thrash formula for levee-sim.
 * Owns no state (the caller owns the sim_rng_t); runs on the sim's single loop thread. */
#include "dist.h"

#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"

void lv_sim_rng_seed(sim_rng_t *r, uint64_t seed)
{
    lv_rng_seed(&r->g, seed);
}

uint64_t lv_sim_rng_next(sim_rng_t *r)
{
    return lv_rng_next(&r->g);
}

double lv_sim_rng_unit(sim_rng_t *r)
{
    /* 53 random bits -> (0, 1]. */
    return ((double)(lv_sim_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
}

int lv_sim_dist_init(sim_dist_t *d, sim_dist_kind_t kind, double mean_ms, double p99_ms,
                     const char **why)
{
    static const char *ignored;
    if (!why)
        why = &ignored;
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->mean_ms = mean_ms;
    if (!(mean_ms >= 0) || !isfinite(mean_ms)) {
        *why = "mean must be a finite number >= 0";
        return LV_EINVAL;
    }
    if (kind != SIM_DIST_LOGNORMAL)
        return LV_OK;
    if (mean_ms == 0) {
        d->p99_ms = 0;
        return LV_OK; /* degenerate: always 0 */
    }
    if (p99_ms <= 0)
        p99_ms = 4 * mean_ms;
    d->p99_ms = p99_ms;
    if (!isfinite(p99_ms) || p99_ms <= mean_ms) {
        *why = "log-normal needs p99 > mean";
        return LV_EINVAL;
    }
    /* mean = exp(mu + s^2/2), p99 = exp(mu + z s)  =>  s^2/2 - z s + ln(p99/mean) = 0.
     * Take the smaller root: the larger one describes a distribution whose mean is driven by
     * rare huge values, not what anyone means by "mean 10 ms, p99 40 ms". */
    double l = log(p99_ms / mean_ms);
    double disc = SIM_Z99 * SIM_Z99 - 2 * l;
    if (disc < 0) {
        *why = "log-normal p99 too far above the mean (at most ~14.9 x mean)";
        return LV_EINVAL;
    }
    d->sigma = SIM_Z99 - sqrt(disc);
    d->mu = log(mean_ms) - d->sigma * d->sigma / 2;
    return LV_OK;
}

double lv_sim_dist_draw(const sim_dist_t *d, sim_rng_t *r)
{
    switch (d->kind) {
    case SIM_DIST_FIXED:
        return d->mean_ms;
    case SIM_DIST_EXP:
        return -d->mean_ms * log(lv_sim_rng_unit(r));
    case SIM_DIST_LOGNORMAL: {
        if (d->mean_ms == 0)
            return 0;
        /* Box-Muller; the second normal is dropped to keep the generator state simple. */
        double u1 = lv_sim_rng_unit(r), u2 = lv_sim_rng_unit(r);
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        return exp(d->mu + d->sigma * z);
    }
    }
    LV_UNREACHABLE("bad dist kind");
}

int lv_sim_dist_parse(const char *name)
{
    if (strcmp(name, "fixed") == 0)
        return SIM_DIST_FIXED;
    if (strcmp(name, "exp") == 0 || strcmp(name, "exponential") == 0)
        return SIM_DIST_EXP;
    if (strcmp(name, "lognormal") == 0 || strcmp(name, "log-normal") == 0)
        return SIM_DIST_LOGNORMAL;
    return -1;
}

const char *lv_sim_dist_name(sim_dist_kind_t kind)
{
    switch (kind) {
    case SIM_DIST_FIXED:
        return "fixed";
    case SIM_DIST_EXP:
        return "exp";
    case SIM_DIST_LOGNORMAL:
        return "lognormal";
    }
    return "?";
}

double lv_sim_thrash_mult(double thrash, uint64_t queue_len, uint32_t workers)
{
    if (workers == 0 || thrash <= 0)
        return 1.0;
    return 1.0 + thrash * (double)queue_len / (double)workers;
}

uint64_t lv_sim_round_ms(double ms, sim_rng_t *r)
{
    if (!(ms > 0))
        return 0;
    if (ms > 1e12)
        ms = 1e12; /* ~30 years: a bound, not a use case */
    double whole = floor(ms);
    double frac = ms - whole;
    uint64_t out = (uint64_t)whole;
    if (frac > 0 && lv_sim_rng_unit(r) <= frac)
        out++;
    return out;
}
