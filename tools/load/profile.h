/* load/profile.h: arrival-rate profiles (piecewise linear in time) and the Poisson arrival
 * schedule they drive, by time rescaling. Pure; no allocation; the load loop or unit tests. */
#ifndef LOAD_PROFILE_H
#define LOAD_PROFILE_H

#include <stdint.h>

#include "rng.h"

#define LOAD_PROFILE_MAX_POINTS 256

/* Rate (users/s) through points (t_s, rate), linear between them; two points at the same
 * time make a step (the later one wins). Before the first point and after the last the rate
 * is 0: load_profile_finish() closes the profile at the run's duration. */
typedef struct load_profile {
    uint32_t n;
    double t[LOAD_PROFILE_MAX_POINTS];
    double rate[LOAD_PROFILE_MAX_POINTS];
} load_profile_t;

void load_profile_init(load_profile_t *p);
/* Appends a point; t must not go back in time. LV_ELIMIT when full, LV_EINVAL otherwise. */
int load_profile_add(load_profile_t *p, double t_s, double rate);
/* End time of the last point (0 when empty) and the rate there. */
double load_profile_end(const load_profile_t *p);
double load_profile_last_rate(const load_profile_t *p);
/* Segment builders, each starting at the profile's current end. */
int load_profile_plateau(load_profile_t *p, double rate, double for_s);
int load_profile_ramp(load_profile_t *p, double from, double to, double for_s);
/* A jump to `rate` for for_s, then back to the rate before it. */
int load_profile_spike(load_profile_t *p, double rate, double for_s);
/* Holds the last rate until duration_s, or cuts the profile there. */
int load_profile_finish(load_profile_t *p, double duration_s);

double load_profile_rate(const load_profile_t *p, double t_s);
/* Expected arrivals in [0, t_s] (the integral of the rate). */
double load_profile_cum(const load_profile_t *p, double t_s);
/* Smallest t with cum(t) == l; INFINITY when l exceeds the whole profile. */
double load_profile_invert(const load_profile_t *p, double l);

/* Poisson arrivals: the time of each next arrival, drawn with a unit exponential in
 * cumulative-rate space. */
typedef struct load_arrivals {
    const load_profile_t *profile;
    double cum; /* position in cumulative-rate space */
} load_arrivals_t;

void load_arrivals_init(load_arrivals_t *a, const load_profile_t *p);
/* Next arrival time in seconds from the start, INFINITY when the profile is over. */
double load_arrivals_next(load_arrivals_t *a, load_rng_t *r);

#endif
