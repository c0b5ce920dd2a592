/* load/profile.c: piecewise-linear rate profiles and non-homogeneous Poisson arrivals
 * (time rescaling, closed-form inverse). Owns only the caller's structs; load loop thread. */
#include "profile.h"

#include <math.h>

#include "core/common.h"

void load_profile_init(load_profile_t *p)
{
    p->n = 0;
}

int load_profile_add(load_profile_t *p, double t_s, double rate)
{
    if (!(t_s >= 0) || !(rate >= 0) || !isfinite(t_s) || !isfinite(rate))
        return LV_EINVAL;
    if (p->n > 0 && t_s < p->t[p->n - 1])
        return LV_EINVAL;
    if (p->n >= LOAD_PROFILE_MAX_POINTS)
        return LV_ELIMIT;
    p->t[p->n] = t_s;
    p->rate[p->n] = rate;
    p->n++;
    return LV_OK;
}

double load_profile_end(const load_profile_t *p)
{
    return p->n ? p->t[p->n - 1] : 0;
}

double load_profile_last_rate(const load_profile_t *p)
{
    return p->n ? p->rate[p->n - 1] : 0;
}

int load_profile_plateau(load_profile_t *p, double rate, double for_s)
{
    return load_profile_ramp(p, rate, rate, for_s);
}

int load_profile_ramp(load_profile_t *p, double from, double to, double for_s)
{
    if (!(for_s > 0))
        return LV_EINVAL;
    double t0 = load_profile_end(p);
    int rc = load_profile_add(p, t0, from);
    if (rc == 0)
        rc = load_profile_add(p, t0 + for_s, to);
    return rc;
}

int load_profile_spike(load_profile_t *p, double rate, double for_s)
{
    double before = load_profile_last_rate(p);
    int rc = load_profile_plateau(p, rate, for_s);
    if (rc == 0)
        rc = load_profile_add(p, load_profile_end(p), before);
    return rc;
}

int load_profile_finish(load_profile_t *p, double duration_s)
{
    if (!(duration_s > 0))
        return LV_EINVAL;
    if (p->n == 0)
        return LV_EINVAL;
    double end = load_profile_end(p);
    if (end < duration_s)
        return load_profile_add(p, duration_s, load_profile_last_rate(p));
    /* Cut: keep the points before duration, and interpolate one at it. */
    double r = load_profile_rate(p, duration_s);
    uint32_t k = 0;
    while (k < p->n && p->t[k] < duration_s)
        k++;
    p->n = k;
    return load_profile_add(p, duration_s, r);
}

double load_profile_rate(const load_profile_t *p, double t)
{
    if (p->n == 0 || t < p->t[0] || t > p->t[p->n - 1])
        return 0;
    /* Right-continuous at steps: take the last segment that starts at or before t. */
    for (uint32_t i = p->n - 1; i > 0; i--) {
        double t0 = p->t[i - 1], t1 = p->t[i];
        if (t >= t0 && t <= t1) {
            if (t1 == t0)
                return p->rate[i];
            return p->rate[i - 1] + (p->rate[i] - p->rate[i - 1]) * (t - t0) / (t1 - t0);
        }
    }
    return p->rate[0];
}

/* Area of segment i-1..i from its start over x seconds. */
static double load_seg_area(const load_profile_t *p, uint32_t i, double x)
{
    double t0 = p->t[i - 1], t1 = p->t[i];
    double d = t1 - t0;
    if (d <= 0)
        return 0;
    double r0 = p->rate[i - 1], r1 = p->rate[i];
    return r0 * x + (r1 - r0) * x * x / (2.0 * d);
}

double load_profile_cum(const load_profile_t *p, double t)
{
    double acc = 0;
    for (uint32_t i = 1; i < p->n; i++) {
        double t0 = p->t[i - 1], t1 = p->t[i];
        if (t <= t0)
            break;
        double x = (t < t1 ? t : t1) - t0;
        acc += load_seg_area(p, i, x);
    }
    return acc;
}

double load_profile_invert(const load_profile_t *p, double l)
{
    if (p->n == 0)
        return INFINITY;
    if (l <= 0)
        return p->t[0];
    double acc = 0;
    for (uint32_t i = 1; i < p->n; i++) {
        double t0 = p->t[i - 1], t1 = p->t[i];
        double d = t1 - t0;
        if (d <= 0)
            continue;
        double area = load_seg_area(p, i, d);
        if (acc + area >= l && area > 0) {
            double need = l - acc;
            double r0 = p->rate[i - 1], r1 = p->rate[i];
            double a = (r1 - r0) / (2.0 * d);
            /* a x^2 + r0 x = need; the stable root of the quadratic. */
            double disc = r0 * r0 + 4.0 * a * need;
            if (disc < 0)
                disc = 0;
            double den = r0 + sqrt(disc);
            double x = den > 0 ? 2.0 * need / den : d;
            if (x > d)
                x = d;
            return t0 + x;
        }
        acc += area;
    }
    return INFINITY;
}

void load_arrivals_init(load_arrivals_t *a, const load_profile_t *p)
{
    a->profile = p;
    a->cum = 0;
}

double load_arrivals_next(load_arrivals_t *a, load_rng_t *r)
{
    a->cum += load_rng_exp(r, 1.0);
    return load_profile_invert(a->profile, a->cum);
}
