/* guard/limiter.c: the adaptive concurrency limit of one backend (guard/backend_limit.c holds
 * it under a lock for all workers). Owns only its struct; pure arithmetic on the caller's
 * clock, no allocation, no I/O. After Envoy adaptive_concurrency and Netflix Gradient2 (a
 * no-load RTT measured at a reduced limit, a windowed RTT against it), with TCP's slow start.
 *
 * How it works
 * - No-load RTT: the mean RTT of requests sent while the limit is halved (a "probe"), long
 *   enough for the backend's own queue to drain first. The first probe starts at once, at a
 *   quarter of the initial limit. Probes come at times that depend only on (seed, clock): every
 *   6-20 s when settled (skipped while the limit has not bound for that long: the demand is
 *   below it), every 0.25-0.9 s while unsettled (after a probe that moved the no-load RTT by
 *   more than 30 %, after a run of windows with the gradient at its floor, or of windows much
 *   faster than the no-load RTT).
 * - Short-term RTT: the mean RTT of a window (at least 100 ms and one no-load RTT, at least 10
 *   samples), and its standard error. A mean, as for the no-load RTT: the two are compared, so
 *   they must be the same statistic (a minimum of exponential service times tends to 0).
 * - Allowed RTT: noload + max(10 %, 0.5 ms) (the absolute part for fast backends, whose RTT is
 *   mostly levee's and the network's jitter).
 * - Down: gradient = clamp(allowed / (short - 2 standard errors), 0.5, 1); the limit
 *   moves halfway to gradient * limit. Noise alone (exponential service times make a mean of 40
 *   samples wander by +-16 %) does not shrink it; a queue at the backend does.
 * - Up (step_up): in a window where the limit bound, by a step when the window showed no queue
 *   (short - 1 standard error within the allowed RTT); the next window judges the step: no
 *   queue, the step doubles (up to half the limit) and is taken again; a queue, the step goes
 *   back to 1 after a pause of 5 windows. A first probe's end starts this slow start from the
 *   probe's limit. So the limit settles at the knee (the backend's parallelism), not above it:
 *   a backend whose requests slow each other down when they queue (GC, locks: "thrash") loses
 *   throughput to any queue.
 * - Windows in which at most half the limit was used ("app-limited") do not move the limit: an
 *   idle service keeps its limit, it neither collapses nor grows without bound.
 * - DROPPED (upstream timeout, 503): limit *= 0.8, at most once per window (a burst of timeouts
 *   from one stall is one signal, as TCP reduces once per window of data).
 * Known limits: one mean per window is noisy under a few samples; other levee processes that
 * share the backend are not synchronised with this one (their queue inflates our probe); a
 * backend that slows down (longer service, same parallelism) keeps a stale no-load RTT until the
 * low-gradient run triggers a probe (about 0.5-1 s); requests still in flight when a probe ends
 * are left out of it, which makes the no-load RTT a little short (5-15 % for exponential
 * service times) and the limit a little under the knee. */
#include "guard/limiter.h"

#include <math.h>

#include "core/common.h"

/* Allowed short/no-load RTT excess before the limit shrinks: absorbs the noise of a mean of a
 * few dozen samples and the jitter of the network, while keeping the backend queue small. */
#define LV_LIM_TOLERANCE 0.1
/* And at least this much in absolute terms: levee's own event loop and the network jitter by
 * a few hundred microseconds, which is most of a fast backend's RTT. */
#define LV_LIM_TOLERANCE_MIN_US 500.0
/* The most a window can shrink the limit (before smoothing): Gradient2 and Envoy use 0.5. */
#define LV_LIM_GRADIENT_MIN 0.5
/* How far the limit moves toward the new value each window: halves the noise of one window. */
#define LV_LIM_SMOOTHING 0.5
/* The shortest window, and the samples a window needs before it counts. */
#define LV_LIM_WINDOW_US 100000u
#define LV_LIM_WINDOW_MIN_SAMPLES 10u
/* Multiplicative decrease on a DROPPED outcome (at most once per window). */
#define LV_LIM_DROP_FACTOR 0.8
/* Probe periods: settled, and unsettled (learning). The probe comes at a slot of the period
 * plus up to a quarter of it of seeded jitter, at least half a period after the last probe. */
#define LV_LIM_PROBE_PERIOD_US 12000000u
#define LV_LIM_PROBE_FAST_US 500000u
/* A probe measures for 4 no-load RTTs, within these bounds; it first waits 1.5 short RTTs for
 * the requests sent before it (and the backend queue they formed) to finish. */
#define LV_LIM_PROBE_MEASURE_MIN_US 100000u
#define LV_LIM_PROBE_MEASURE_MAX_US 2000000u
/* A probe with fewer samples keeps the old no-load RTT (unless there is none yet). */
#define LV_LIM_PROBE_MIN_SAMPLES 3u
/* The no-load RTT is a sample-weighted average of the probes; the past weighs at most this. */
#define LV_LIM_NOLOAD_MAX_WEIGHT 200.0
/* A probe that moves the no-load RTT by more than this factor leaves the limiter unsettled. */
#define LV_LIM_UNSETTLE_RATIO 1.3
/* This many windows in a row with the gradient at its floor: the no-load RTT may be stale. */
#define LV_LIM_LOW_GRADIENT_WINDOWS 5u
/* This many windows in a row with a short RTT under no-load / LV_LIM_UNSETTLE_RATIO: the
 * backend got faster (or the last probe was not clean). */
#define LV_LIM_FAST_WINDOWS 3u
/* After a step up that met a queue, this many windows pass before the next one (about 0.5 s). */
#define LV_LIM_UP_PAUSE_WINDOWS 5u

static uint32_t conf_min(const lv_limiter_t *l)
{
    return l->conf.min ? l->conf.min : 1;
}

static uint32_t conf_max(const lv_limiter_t *l)
{
    return LV_MAX(l->conf.max, conf_min(l));
}

static double clamp_limit(const lv_limiter_t *l, double v)
{
    double lo = conf_min(l), hi = conf_max(l);
    return v < lo ? lo : v > hi ? hi : v;
}

/* A hash of (seed, slot): every limiter with the same seed gets the same jitter. */
static uint32_t slot_jitter(uint32_t seed, uint64_t k)
{
    uint64_t z = k * 0x9e3779b97f4a7c15ull + seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(z ^ (z >> 31));
}

/* The first probe slot at least half a period from now: a function of (seed, now) only. */
static uint64_t probe_slot(uint32_t seed, uint64_t now_us, uint64_t period_us)
{
    for (uint64_t k = now_us / period_us;; k++) {
        uint64_t t = k * period_us + slot_jitter(seed, k) % (period_us / 4);
        if (t >= now_us + period_us / 2)
            return t;
    }
}

static uint64_t window_len_us(const lv_limiter_t *l)
{
    return LV_MAX((uint64_t)LV_LIM_WINDOW_US, (uint64_t)l->rtt_noload_us);
}

static void window_reset(lv_limiter_t *l, uint64_t now_us)
{
    l->window_start_us = now_us;
    l->window_samples = 0;
    l->window_sum_us = 0;
    l->window_sumsq_us2 = 0;
    l->window_min_us = 0;
    l->window_max_in_flight = l->in_flight;
}

static void probe_start(lv_limiter_t *l, uint64_t now_us);

static void schedule_soon(lv_limiter_t *l, uint64_t now_us)
{
    l->unsettled = true;
    uint64_t t = probe_slot(l->rng, now_us, LV_LIM_PROBE_FAST_US);
    if (t < l->next_probe_us)
        l->next_probe_us = t;
}

void lv_limiter_init(lv_limiter_t *l, const lv_limiter_conf_t *conf, uint64_t now_us, uint32_t seed)
{
    *l = (lv_limiter_t){0};
    l->conf = *conf;
    l->limit = clamp_limit(l, conf->initial ? conf->initial : 20);
    l->rng = seed;
    l->unsettled = true; /* no no-load RTT yet: the first probe comes within a second */
    l->next_probe_us = probe_slot(seed, now_us, LV_LIM_PROBE_FAST_US);
    l->last_gradient = 1.0;
    l->up_step = 1;
    window_reset(l, now_us);
    /* Nothing known yet: start by measuring the no-load RTT at a quarter of the initial limit,
     * then step up from there (a start at the initial limit overshoots a small backend 5x). */
    probe_start(l, now_us);
}

uint32_t lv_limiter_limit(const lv_limiter_t *l)
{
    if (l->probing)
        return l->probe_limit;
    uint32_t lim = (uint32_t)l->limit;
    return LV_MAX(lim, conf_min(l));
}

bool lv_limiter_try_acquire(lv_limiter_t *l)
{
    if (l->in_flight >= lv_limiter_limit(l))
        return false;
    l->in_flight++;
    if (l->in_flight > l->window_max_in_flight)
        l->window_max_in_flight = l->in_flight;
    return true;
}

void lv_limiter_cancel(lv_limiter_t *l)
{
    LV_ASSERT(l->in_flight > 0);
    l->in_flight--;
}

static void drop(lv_limiter_t *l, uint64_t now_us, double *limit)
{
    l->drops++;
    if (l->last_drop_us && now_us - l->last_drop_us < window_len_us(l))
        return;
    l->last_drop_us = now_us;
    *limit = clamp_limit(l, *limit * LV_LIM_DROP_FACTOR);
}

static void probe_start(lv_limiter_t *l, uint64_t now_us)
{
    double lim = l->limit;
    /* Half the limit: below the backend's parallelism whenever the limit is within 2x of it.
     * The first probe, with nothing known, goes to a quarter (the initial limit may be far
     * above the backend's parallelism). */
    uint32_t half = (uint32_t)(lim / (l->rtt_noload_us > 0 ? 2 : 4));
    l->probing = true;
    l->saved_limit = lim;
    l->probe_limit = LV_MAX(half, conf_min(l));
    l->probe_start_us = now_us;
    double ref = LV_MAX(l->rtt_short_us, l->rtt_noload_us);
    /* Samples count once the requests sent before the probe (and the backend queue they
     * formed) are done: about one loaded RTT; half as much again for the slow ones. */
    l->probe_valid_us = now_us + (uint64_t)(1.5 * ref);
    double base = l->rtt_noload_us > 0 ? l->rtt_noload_us : ref;
    double measure = 12 * base;
    if (measure < LV_LIM_PROBE_MEASURE_MIN_US)
        measure = LV_LIM_PROBE_MEASURE_MIN_US;
    if (measure > LV_LIM_PROBE_MEASURE_MAX_US)
        measure = LV_LIM_PROBE_MEASURE_MAX_US;
    l->probe_end_us = l->probe_valid_us + (uint64_t)measure;
    l->probe_samples = 0;
    l->probe_sum_us = 0;
    l->probe_sumsq_us2 = 0;
}

static void probe_end(lv_limiter_t *l, uint64_t now_us)
{
    uint32_t n = l->probe_samples;
    double old = l->rtt_noload_us;
    bool overdue = now_us - l->probe_start_us > LV_LIM_PROBE_MEASURE_MAX_US;
    if (old <= 0 && n < LV_LIM_WINDOW_MIN_SAMPLES && !(overdue && n)) {
        /* Nothing known yet and too little measured (idle): keep probing until samples come. */
        l->probe_end_us = now_us + LV_LIM_PROBE_MEASURE_MIN_US;
        return;
    }
    /* A probe that measured (almost) nothing (every slot it left was held by requests sent
     * before it, or no demand) says nothing: the next one comes at the settled period,
     * whatever the state; probing again soon would only block the service again. */
    bool empty = n < LV_LIM_PROBE_MIN_SAMPLES && old > 0;
    if (n >= LV_LIM_PROBE_MIN_SAMPLES || (n && old <= 0)) {
        double m = l->probe_sum_us / n;
        double var = l->probe_sumsq_us2 / n - m * m;
        double stderr_us = var > 0 ? sqrt(var / n) : 0;
        if (m < 1)
            m = 1; /* a zero RTT would make every later gradient 0 */
        /* A change is real when it is beyond both the noise of this mean (3 standard errors:
         * exponential service times make a mean of 20 samples wander by +-22 %) and the
         * unsettle ratio; then the new value replaces the old one and a confirming probe comes
         * soon. Otherwise the probes are averaged, weighted by their samples (the weight of the
         * past is capped so that slow drifts are still followed). */
        double diff = fabs(m - old);
        if (old <= 0 || (diff > 3 * stderr_us && diff > LV_LIM_TOLERANCE_MIN_US &&
                         (m > old * LV_LIM_UNSETTLE_RATIO || m * LV_LIM_UNSETTLE_RATIO < old))) {
            l->rtt_noload_us = m;
            l->noload_weight = n;
            l->unsettled = true;
        } else {
            double w = LV_MIN(l->noload_weight, LV_LIM_NOLOAD_MAX_WEIGHT);
            l->rtt_noload_us = (old * w + m * n) / (w + n);
            l->noload_weight = w + n;
            l->unsettled = false;
        }
    }
    l->probing = false;
    /* The first probe ends in slow start: from the probe's limit, stepping up (step_up) until
     * a queue shows, rather than back at the initial limit, which may be far above the knee. */
    l->limit = clamp_limit(l, old <= 0 ? l->probe_limit : l->saved_limit);
    l->probes++;
    l->sample_from_us = now_us;
    l->low_gradient_windows = 0;
    l->fast_windows = 0;
    l->next_probe_us = probe_slot(
        l->rng, now_us, l->unsettled && !empty ? LV_LIM_PROBE_FAST_US : LV_LIM_PROBE_PERIOD_US);
    window_reset(l, now_us);
}

void lv_limiter_tick(lv_limiter_t *l, uint64_t now_us)
{
    if (l->probing && now_us >= l->probe_end_us)
        probe_end(l, now_us);
}

/* One step up: the limit grows by up_step when the window before showed no queue at the
 * backend; the step doubles while each step up still shows none, and falls back to 1, with a
 * pause, at the first one that does. */
static void step_up(lv_limiter_t *l, bool queue_seen, bool bound)
{
    if (l->up_pending) { /* this window ran at the raised limit: was it free? */
        l->up_pending = false;
        if (queue_seen) {
            l->up_step = 1;
            l->up_wait = LV_LIM_UP_PAUSE_WINDOWS;
            return;
        }
        l->up_step = LV_MIN(l->up_step * 2, LV_MAX(1.0, l->limit / 2));
        l->up_wait = 0;
    }
    if (queue_seen || !bound)
        return;
    if (l->up_wait) {
        l->up_wait--;
        return;
    }
    l->limit = clamp_limit(l, l->limit + l->up_step);
    l->up_pending = true;
}

static void window_close(lv_limiter_t *l, uint64_t now_us)
{
    if (now_us - l->window_start_us < window_len_us(l) ||
        l->window_samples < LV_LIM_WINDOW_MIN_SAMPLES)
        return;
    double n = l->window_samples;
    double shortrtt = l->window_sum_us / n;
    double var = l->window_sumsq_us2 / n - shortrtt * shortrtt;
    double se = var > 0 ? sqrt(var / n) : 0;
    l->rtt_short_us = shortrtt;
    l->rtt_long_us = l->rtt_long_us > 0 ? 0.9 * l->rtt_long_us + 0.1 * shortrtt : shortrtt;
    double noload = l->rtt_noload_us;
    if (noload > 0) {
        /* The window's RTT, less two standard errors of its mean: a queue at the backend is
         * seen only when it is beyond the noise of the window (exponential service times make
         * a mean of 40 samples wander by +-16 %), so noise alone never shrinks the limit. */
        double low = LV_MAX(shortrtt - 2 * se, 1.0);
        double allowed = noload + LV_MAX(noload * LV_LIM_TOLERANCE, LV_LIM_TOLERANCE_MIN_US);
        double raw = allowed / low;
        double g = raw < LV_LIM_GRADIENT_MIN ? LV_LIM_GRADIENT_MIN : raw > 1 ? 1 : raw;
        l->last_gradient = g;
        bool app_limited = 2.0 * l->window_max_in_flight < l->limit;
        if (!app_limited) {
            /* Down as the queue says, smoothed; up only by steps (step_up) taken when the
             * backend showed no queue: the limit settles at the knee, not above it, which a
             * backend that thrashes under a queue needs. */
            if (g < 1)
                l->limit = clamp_limit(l, l->limit + LV_LIM_SMOOTHING * (g * l->limit - l->limit));
            /* A step up is judged more strictly than a step down (one standard error, not
             * two): the slots it added must not have made a queue. */
            bool bound = l->window_max_in_flight >= lv_limiter_limit(l);
            if (bound)
                l->last_bound_us = now_us;
            step_up(l, shortrtt - se > allowed, bound);
            if (raw < LV_LIM_GRADIENT_MIN) {
                if (++l->low_gradient_windows >= LV_LIM_LOW_GRADIENT_WINDOWS) {
                    l->low_gradient_windows = 0;
                    schedule_soon(l, now_us);
                }
            } else {
                l->low_gradient_windows = 0;
            }
        }
        /* The backend answers much faster than the no-load RTT, window after window: it got
         * faster, or the last probe was not clean. Re-measure soon rather than let the limit
         * grow on a wrong base. One window is not enough: a mean of a few dozen exponential
         * service times is a third below its expectation one window in a dozen. */
        if (shortrtt * LV_LIM_UNSETTLE_RATIO < noload &&
            noload - shortrtt > LV_LIM_TOLERANCE_MIN_US) {
            if (++l->fast_windows >= LV_LIM_FAST_WINDOWS) {
                l->fast_windows = 0;
                schedule_soon(l, now_us);
            }
        } else {
            l->fast_windows = 0;
        }
    }
    window_reset(l, now_us);
}

void lv_limiter_release(lv_limiter_t *l, uint64_t now_us, uint64_t rtt_us,
                        lv_limit_outcome_t outcome)
{
    LV_ASSERT(l->in_flight > 0);
    l->in_flight--;
    uint64_t sent_us = now_us >= rtt_us ? now_us - rtt_us : 0;
    if (l->probing) {
        /* Samples chosen by when they end (not when they were sent): choosing by send time
         * would keep only the requests short enough to end before the probe does. Requests
         * sent before the probe ran at the old limit and are left out. */
        if (outcome == LV_LIMIT_OK && now_us >= l->probe_valid_us && sent_us >= l->probe_start_us) {
            l->probe_samples++;
            l->probe_sum_us += (double)rtt_us;
            l->probe_sumsq_us2 += (double)rtt_us * (double)rtt_us;
        } else if (outcome == LV_LIMIT_DROPPED) {
            drop(l, now_us, &l->saved_limit);
        }
        if (now_us >= l->probe_end_us)
            probe_end(l, now_us);
        return;
    }
    if (outcome == LV_LIMIT_DROPPED) {
        drop(l, now_us, &l->limit);
    } else if (outcome == LV_LIMIT_OK && sent_us >= l->sample_from_us) {
        double r = (double)rtt_us;
        if (!l->window_samples || r < l->window_min_us)
            l->window_min_us = r;
        l->window_samples++;
        l->window_sum_us += r;
        l->window_sumsq_us2 += r * r;
    }
    window_close(l, now_us);
    if (now_us >= l->next_probe_us) {
        /* A settled limiter whose limit has not bound for a whole period skips its probe: the
         * demand is below the limit, so the no-load RTT changes nothing, and halving the limit
         * of a busy but calm service (0.8 of capacity) would queue its requests for nothing. */
        if (!l->unsettled && now_us - l->last_bound_us > LV_LIM_PROBE_PERIOD_US)
            l->next_probe_us = probe_slot(l->rng, now_us, LV_LIM_PROBE_PERIOD_US);
        else
            probe_start(l, now_us);
    }
}
