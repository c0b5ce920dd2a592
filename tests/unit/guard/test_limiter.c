/* tests/unit/guard/test_limiter.c: the adaptive concurrency limit of guard/limiter.h, alone and
 * in a deterministic simulation (K servers, an unbounded FIFO, fake time, seeded RNG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/limiter.h"

#define MS 1000ull
#define SEC 1000000ull

static lv_limiter_conf_t conf_default(void)
{
    return (lv_limiter_conf_t){20, 1, 1000};
}

/* ---- the simulation ---- */

#define SIM_MAX_K 64
#define SIM_FIFO 8192
#define SIM_TRACE 1024

typedef struct sim {
    lv_limiter_t lim;
    uint64_t now;
    uint32_t k;          /* servers taking new work */
    uint64_t service_us; /* mean service time */
    bool exp_service;
    double thrash; /* levee-sim --thrash: service x (1 + thrash x queue / K) */
    uint64_t rng;
    /* servers: busy until done[i], serving a request sent at sent[i] */
    bool busy[SIM_MAX_K];
    uint64_t done[SIM_MAX_K], sent[SIM_MAX_K];
    /* the backend's FIFO of send times */
    uint64_t fifo[SIM_FIFO];
    uint32_t fifo_head, fifo_len;
    /* demand: infinite when arrival_gap_us == 0, else Poisson with that mean gap */
    uint64_t arrival_gap_us, next_arrival;
    uint32_t waiting; /* requests of the Poisson demand waiting for a slot */
    /* measures between mark and now */
    uint64_t mark_us, completed, rtt_sum_us;
    double limit_area; /* integral of the (non-probe) limit over time */
    uint64_t in_band_us, band_lo, band_hi, out_band_us;
    uint64_t last_us;
    /* trajectory, one point per 100 ms, printed on failure */
    uint32_t trace[SIM_TRACE];
    uint32_t trace_noload_ms[SIM_TRACE];
    uint32_t n_trace;
    uint64_t next_trace;
} sim_t;

static double sim_rand(sim_t *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (double)(s->rng >> 11) / 9007199254740992.0; /* [0, 1) */
}

static uint64_t sim_service(sim_t *s)
{
    double mult = 1.0 + s->thrash * (double)s->fifo_len / (double)s->k;
    if (!s->exp_service)
        return (uint64_t)((double)s->service_us * mult);
    return (uint64_t)(-(double)s->service_us * mult * log(1.0 - sim_rand(s))) + 1;
}

static double sim_limit_now(const sim_t *s)
{
    return s->lim.probing ? s->lim.saved_limit : s->lim.limit;
}

static void sim_init(sim_t *s, uint32_t k, uint64_t service_us, bool exp_service, uint64_t seed,
                     const lv_limiter_conf_t *conf)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->service_us = service_us;
    s->exp_service = exp_service;
    s->rng = seed * 2654435761ull + 88172645463325252ull;
    s->now = 1000 * SEC; /* a monotonic clock far from 0 */
    s->last_us = s->now;
    s->next_trace = s->now;
    lv_limiter_init(&s->lim, conf, s->now, 0x5eed);
}

static void sim_send(sim_t *s)
{
    for (uint32_t i = 0; i < s->k; i++) {
        if (!s->busy[i]) {
            s->busy[i] = true;
            s->sent[i] = s->now;
            s->done[i] = s->now + sim_service(s);
            return;
        }
    }
    assert_true(s->fifo_len < SIM_FIFO);
    s->fifo[(s->fifo_head + s->fifo_len++) % SIM_FIFO] = s->now;
}

/* Sends what the demand has and the limiter allows. */
static void sim_fill(sim_t *s)
{
    for (;;) {
        if (s->arrival_gap_us && !s->waiting)
            return;
        if (!lv_limiter_try_acquire(&s->lim))
            return;
        if (s->arrival_gap_us)
            s->waiting--;
        sim_send(s);
    }
}

static void sim_account(sim_t *s, uint64_t to)
{
    double lim = sim_limit_now(s);
    uint64_t dt = to - s->last_us;
    s->limit_area += lim * (double)dt;
    uint32_t enforced = (uint32_t)lim; /* try_acquire compares with the limit rounded down */
    if (enforced >= s->band_lo && enforced <= s->band_hi)
        s->in_band_us += dt;
    else
        s->out_band_us += dt;
    s->last_us = to;
    while (s->next_trace <= to) {
        if (s->n_trace < SIM_TRACE) {
            s->trace_noload_ms[s->n_trace] = (uint32_t)(s->lim.rtt_noload_us / 1000 + 0.5);
            s->trace[s->n_trace++] = (uint32_t)lim;
        }
        s->next_trace += 100 * MS;
    }
}

/* Runs the simulation until `until` (absolute fake time). */
static void sim_run(sim_t *s, uint64_t until)
{
    sim_fill(s);
    for (;;) {
        uint64_t t = UINT64_MAX;
        int who = -1;
        for (uint32_t i = 0; i < SIM_MAX_K; i++) {
            if (s->busy[i] && s->done[i] < t) {
                t = s->done[i];
                who = (int)i;
            }
        }
        bool arrival = false;
        if (s->arrival_gap_us && s->next_arrival < t) {
            t = s->next_arrival;
            arrival = true;
        }
        if (t > until) {
            sim_account(s, until);
            s->now = until;
            return;
        }
        sim_account(s, t);
        s->now = t;
        if (arrival) {
            s->waiting++;
            double gap = -(double)s->arrival_gap_us * log(1.0 - sim_rand(s));
            s->next_arrival = s->now + (uint64_t)gap + 1;
        } else {
            uint32_t i = (uint32_t)who;
            uint64_t rtt = s->now - s->sent[i];
            s->busy[i] = false;
            lv_limiter_release(&s->lim, s->now, rtt, LV_LIMIT_OK);
            s->completed++;
            s->rtt_sum_us += rtt;
            /* A server past the current K finishes its request but takes no new one. */
            if (i < s->k && s->fifo_len) {
                s->busy[i] = true;
                s->sent[i] = s->fifo[s->fifo_head];
                s->fifo_head = (s->fifo_head + 1) % SIM_FIFO;
                s->fifo_len--;
                s->done[i] = s->now + sim_service(s);
            }
        }
        sim_fill(s);
    }
}

/* Starts measuring: throughput, RTT, time-weighted limit and time inside [lo, hi]. */
static void sim_mark(sim_t *s, uint64_t lo, uint64_t hi)
{
    s->mark_us = s->now;
    s->completed = 0;
    s->rtt_sum_us = 0;
    s->limit_area = 0;
    s->in_band_us = s->out_band_us = 0;
    s->band_lo = lo;
    s->band_hi = hi;
}

static double sim_mean_limit(const sim_t *s)
{
    return s->limit_area / (double)(s->now - s->mark_us);
}

static double sim_in_band(const sim_t *s)
{
    return (double)s->in_band_us / (double)(s->in_band_us + s->out_band_us);
}

static double sim_throughput_per_s(const sim_t *s)
{
    return (double)s->completed * 1e6 / (double)(s->now - s->mark_us);
}

static double sim_mean_rtt_us(const sim_t *s)
{
    return s->completed ? (double)s->rtt_sum_us / (double)s->completed : 0;
}

static void sim_print(const sim_t *s, const char *what)
{
    print_message("%s: mean limit %.2f, in band %.1f %%, %.0f/s, rtt %.1f ms, noload %.1f ms, "
                  "probes %llu\n",
                  what, sim_mean_limit(s), 100 * sim_in_band(s), sim_throughput_per_s(s),
                  sim_mean_rtt_us(s) / 1000, s->lim.rtt_noload_us / 1000,
                  (unsigned long long)s->lim.probes);
    char line[1100];
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_trace; i++) {
        n += (size_t)snprintf(line + n, sizeof line - n, "%u/%u ", s->trace[i],
                              s->trace_noload_ms[i]);
        if (n > 1000 || i + 1 == s->n_trace) {
            print_message("  limit/noload ms, every 100 ms: %s\n", line);
            n = 0;
        }
    }
}

static bool sim_check(const sim_t *s, const char *what, bool ok)
{
    if (!ok)
        sim_print(s, what);
    return ok;
}

/* Full demand on K servers of service S: after warm-up the limit sits in [K, 2K] nearly all
 * the time, the backend runs at >= 95 % of capacity and the RTT stays under twice S plus the
 * queue it is allowed (the p99 target of issue 4 is 2x the unloaded p99 plus the queue target). */
static void converge_case(uint32_t k, uint64_t service_us, bool exp_service, uint64_t seed)
{
    static sim_t s;
    lv_limiter_conf_t c = conf_default();
    sim_init(&s, k, service_us, exp_service, seed, &c);
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 5 * SEC); /* warm-up */
    sim_mark(&s, k, 2 * k);
    sim_run(&s, t0 + 65 * SEC);
    double cap = (double)k * 1e6 / (double)service_us;
    bool ok = sim_mean_limit(&s) >= k && sim_mean_limit(&s) <= 2.0 * k &&
              sim_in_band(&s) >= (exp_service ? 0.85 : 0.95) &&
              sim_throughput_per_s(&s) >= (exp_service ? 0.93 : 0.95) * cap &&
              sim_mean_rtt_us(&s) <= 2.0 * (double)service_us;
    assert_true(sim_check(&s, "converge", ok));
    ok = s.lim.probes >= 6 && s.lim.rtt_noload_us >= 0.8 * (double)service_us &&
         s.lim.rtt_noload_us <= 1.25 * (double)service_us;
    assert_true(sim_check(&s, "no-load RTT", ok));
    /* The probes re-measured the no-load RTT, periodically, and found S (within noise). */
    assert_true(s.lim.probes >= 6);
    assert_true(s.lim.rtt_noload_us >= 0.8 * (double)service_us);
    assert_true(s.lim.rtt_noload_us <= 1.25 * (double)service_us);
}

static void test_lv_limiter_release_converges_k4_fixed(void **state)
{
    (void)state;
    converge_case(4, 10 * MS, false, 1);
}

static void test_lv_limiter_release_converges_k4_exponential(void **state)
{
    (void)state;
    converge_case(4, 10 * MS, true, 2);
    converge_case(4, 10 * MS, true, 3);
}

static void test_lv_limiter_release_converges_k16_fixed(void **state)
{
    (void)state;
    converge_case(16, 50 * MS, false, 4);
}

static void test_lv_limiter_release_converges_k16_exponential(void **state)
{
    (void)state;
    converge_case(16, 50 * MS, true, 5);
}

/* Throughput of [from, to) of fake time as a share of what K servers of S give (no thrash). */
static double sim_share(sim_t *s, uint64_t from, uint64_t to, uint32_t k)
{
    sim_run(s, from);
    sim_mark(s, 0, UINT32_MAX);
    sim_run(s, to);
    return sim_throughput_per_s(s) * (double)s->service_us / 1e6 / (double)k;
}

/* Issue 12: a backend that thrashes (each request beyond its K servers slows every one) is
 * served at its capacity only if the limit sits at K, not above: from a start at 20, within
 * 2 s, and after its servers drop 4x and come back. */
static void knee_case(double thrash, bool exp_service, uint64_t seed)
{
    static sim_t s;
    lv_limiter_conf_t c = conf_default();
    sim_init(&s, 4, 10 * MS, exp_service, seed, &c);
    s.thrash = thrash;
    uint64_t t0 = s.now;
    double first = sim_share(&s, t0, t0 + 2 * SEC, 4);
    double steady = sim_share(&s, t0 + 2 * SEC, t0 + 20 * SEC, 4);
    s.k = 1;
    double drop5 = sim_share(&s, t0 + 20 * SEC, t0 + 25 * SEC, 1);
    double drop = sim_share(&s, t0 + 25 * SEC, t0 + 40 * SEC, 1);
    double rtt_drop = sim_mean_rtt_us(&s);
    s.k = 4;
    double back5 = sim_share(&s, t0 + 40 * SEC, t0 + 45 * SEC, 4);
    double back = sim_share(&s, t0 + 45 * SEC, t0 + 60 * SEC, 4);
    if (getenv("LV_TEST_VERBOSE"))
        print_message("knee thrash %.1f %s: first 2 s %.2f, steady %.2f, after drop 5 s %.2f then "
                      "%.2f (rtt %.1f ms), back 5 s %.2f then %.2f\n",
                      thrash, exp_service ? "exp" : "fixed", first, steady, drop5, drop,
                      rtt_drop / 1000, back5, back);
    /* What the limiter at this commit reaches (the limiter before it: thrash 1, 0.72 steady and
     * 0.39 after the drop; thrash 2, 0.68 and 0.27); issue 12 asks 0.98 of a real backend. */
    bool ok = first >= 0.8 && steady >= 0.9 && drop5 >= 0.6 && drop >= 0.85 && back5 >= 0.8 &&
              back >= 0.9;
    if (getenv("LV_TEST_VERBOSE") || !ok)
        sim_print(&s, "knee");
    assert_true(ok);
}

static void test_lv_limiter_release_knee_no_thrash(void **state)
{
    (void)state;
    knee_case(0, true, 11);
    knee_case(0, false, 12);
}

static void test_lv_limiter_release_knee_thrash_1(void **state)
{
    (void)state;
    knee_case(1, true, 13);
    knee_case(1, false, 14);
}

static void test_lv_limiter_release_knee_thrash_2(void **state)
{
    (void)state;
    knee_case(2, true, 15);
}

/* The backend loses half its servers mid-run (levee-sim /control/workers): within 3 s of
 * simulated time the limit follows from [8, 16] into [4, 8], with no config change. */
static void follow_case(bool exp_service, uint64_t seed)
{
    static sim_t s;
    lv_limiter_conf_t c = conf_default();
    sim_init(&s, 8, 10 * MS, exp_service, seed, &c);
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 5 * SEC);
    sim_mark(&s, 8, 16);
    sim_run(&s, t0 + 20 * SEC);
    bool before = sim_mean_limit(&s) >= 8 && sim_mean_limit(&s) <= 16;
    assert_true(sim_check(&s, "before the drop", before));
    s.k = 4;
    sim_run(&s, t0 + 23 * SEC);
    sim_mark(&s, 4, 8);
    sim_run(&s, t0 + 33 * SEC);
    bool after = sim_mean_limit(&s) >= 4 && sim_mean_limit(&s) <= 8 &&
                 sim_in_band(&s) >= (exp_service ? 0.8 : 0.95) &&
                 sim_throughput_per_s(&s) >= 0.95 * 400;
    assert_true(sim_check(&s, "after the drop", after));
    /* And back up when the servers return. */
    s.k = 8;
    sim_run(&s, t0 + 36 * SEC);
    sim_mark(&s, 8, 16);
    sim_run(&s, t0 + 46 * SEC);
    bool up = sim_mean_limit(&s) >= 8 && sim_mean_limit(&s) <= 16 &&
              sim_throughput_per_s(&s) >= 0.95 * 800;
    assert_true(sim_check(&s, "after the rise", up));
}

static void test_lv_limiter_release_follows_capacity_drop_fixed(void **state)
{
    (void)state;
    follow_case(false, 6);
}

static void test_lv_limiter_release_follows_capacity_drop_exponential(void **state)
{
    (void)state;
    follow_case(true, 7);
}

/* Low demand (100/s on a 400/s backend, ~1 in flight): the limit neither collapses nor grows;
 * when full demand arrives it finds [K, 2K] within 2 s. */
static void test_lv_limiter_release_low_demand_keeps_limit(void **state)
{
    (void)state;
    static sim_t s;
    lv_limiter_conf_t c = conf_default();
    sim_init(&s, 4, 10 * MS, true, 8, &c);
    s.arrival_gap_us = 10 * MS;
    s.next_arrival = s.now;
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 30 * SEC);
    /* Slow start from the first probe grows the limit only while the demand uses it. */
    bool kept = lv_limiter_limit(&s.lim) >= 4 && s.completed > 2500 && s.waiting < 10;
    assert_true(sim_check(&s, "low demand", kept));
    assert_true(s.lim.rtt_noload_us > 0); /* probes still learned the no-load RTT */
    s.arrival_gap_us = 0;
    s.waiting = 0;
    sim_run(&s, t0 + 32 * SEC);
    sim_mark(&s, 4, 8);
    sim_run(&s, t0 + 42 * SEC);
    bool ok = sim_mean_limit(&s) >= 4 && sim_mean_limit(&s) <= 8 &&
              sim_throughput_per_s(&s) >= 0.85 * 400;
    assert_true(sim_check(&s, "demand after calm", ok));
}

/* Poisson demand at 0.8 of capacity on K = 4 exponential servers: the backend's own queue makes
 * the RTT ~1.7x the no-load RTT, which is the gradient limiter's steady state, not a slower
 * backend. The limiter must stay settled (a probe every 6-20 s, each one queues requests at
 * half the limit), and keep up with the demand. */
static void test_lv_limiter_release_busy_but_calm_stays_settled(void **state)
{
    (void)state;
    static sim_t s;
    lv_limiter_conf_t c = conf_default();
    sim_init(&s, 4, 10 * MS, true, 9, &c);
    s.arrival_gap_us = 3125; /* 320/s */
    s.next_arrival = s.now;
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 10 * SEC);
    uint64_t probes0 = s.lim.probes;
    sim_mark(&s, 4, 1000);
    sim_run(&s, t0 + 70 * SEC);
    uint64_t probes = s.lim.probes - probes0;
    bool ok = probes <= 60 / 4 + 1 && s.waiting < 50 && sim_throughput_per_s(&s) >= 0.75 * 400;
    if (!ok || getenv("LV_TEST_VERBOSE"))
        print_message("probes in 60 s: %llu, waiting %u\n", (unsigned long long)probes, s.waiting);
    assert_true(sim_check(&s, "busy but calm", ok));
}

/* ---- the contract, piece by piece ---- */

/* A limiter at its initial limit, its starting probe (at a quarter of it, then slow start)
 * skipped: the mechanics tested below start from there. */
static void init_past_start(lv_limiter_t *l, const lv_limiter_conf_t *c, uint64_t now,
                            uint32_t seed)
{
    lv_limiter_init(l, c, now, seed);
    l->probing = false;
}

static void test_lv_limiter_try_acquire_stops_at_limit(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = {3, 1, 10};
    init_past_start(&l, &c, 0, 1);
    assert_int_equal(lv_limiter_limit(&l), 3);
    assert_true(lv_limiter_try_acquire(&l));
    assert_true(lv_limiter_try_acquire(&l));
    assert_true(lv_limiter_try_acquire(&l));
    assert_false(lv_limiter_try_acquire(&l));
    assert_int_equal(l.in_flight, 3);
    lv_limiter_cancel(&l);
    assert_int_equal(l.in_flight, 2);
    assert_true(lv_limiter_try_acquire(&l));
}

static void test_lv_limiter_init_clamps_initial(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = {50, 2, 10};
    init_past_start(&l, &c, 0, 1);
    assert_int_equal(lv_limiter_limit(&l), 10);
    c = (lv_limiter_conf_t){0, 0, 0}; /* all defaults: initial 20, min 1 */
    init_past_start(&l, &c, 0, 1);
    assert_int_equal(lv_limiter_limit(&l), 1); /* max 0 means max = min */
}

static void test_lv_limiter_release_dropped_decreases_once_per_window(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    for (int i = 0; i < 10; i++)
        assert_true(lv_limiter_try_acquire(&l));
    /* A burst of timeouts at the same moment: one decrease (x0.8). */
    for (int i = 0; i < 5; i++)
        lv_limiter_release(&l, now + 1000, 5 * SEC, LV_LIMIT_DROPPED);
    assert_int_equal(lv_limiter_limit(&l), 16);
    assert_int_equal(l.drops, 5);
    /* A window later, another decrease. */
    lv_limiter_release(&l, now + 200 * MS, 5 * SEC, LV_LIMIT_DROPPED);
    assert_int_equal(lv_limiter_limit(&l), 12); /* 20 * 0.8 * 0.8 = 12.8 */
}

static void test_lv_limiter_release_dropped_never_below_min(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = {4, 3, 100};
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    for (int i = 0; i < 20; i++) {
        assert_true(lv_limiter_try_acquire(&l));
        now += SEC;
        lv_limiter_release(&l, now, SEC, LV_LIMIT_DROPPED);
        assert_true(l.limit >= 3.0);
    }
    assert_int_equal(lv_limiter_limit(&l), 3);
}

static void test_lv_limiter_release_ignore_changes_nothing(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    for (int i = 0; i < 100; i++) {
        assert_true(lv_limiter_try_acquire(&l));
        now += MS;
        lv_limiter_release(&l, now, 10 * SEC, LV_LIMIT_IGNORE);
    }
    assert_int_equal(l.window_samples, 0);
    assert_true(l.limit == 20.0);
    assert_int_equal(l.drops, 0);
    assert_int_equal(l.in_flight, 0);
}

/* Drives n requests of a fixed rtt at full use of the limit, time stepping by rtt. */
static uint64_t drive(lv_limiter_t *l, uint64_t now, uint64_t rtt_us, uint32_t rounds)
{
    for (uint32_t r = 0; r < rounds; r++) {
        uint32_t n = 0;
        while (lv_limiter_try_acquire(l))
            n++;
        now += rtt_us;
        for (uint32_t i = 0; i < n; i++)
            lv_limiter_release(l, now, rtt_us, LV_LIMIT_OK);
    }
    return now;
}

static void test_lv_limiter_release_probe_halves_then_restores(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    /* Step until the first probe starts (within a second: there is no no-load RTT yet). */
    uint32_t guard = 0;
    while (!l.probing && guard++ < 1000)
        now = drive(&l, now, MS, 1);
    assert_true(l.probing);
    assert_true(now - 10 * SEC <= SEC);
    double saved = l.saved_limit;
    /* Nothing known yet: the first probe goes to a quarter of the limit. */
    assert_int_equal(lv_limiter_limit(&l), (uint32_t)(saved / 4));
    /* RTT while probing: 2 ms. The probe ends with that as the no-load RTT and the limit at
     * the probe's, where slow start (step_up) begins. */
    while (l.probing && guard++ < 2000)
        now = drive(&l, now, 2 * MS, 1);
    assert_false(l.probing);
    assert_int_equal(l.probes, 1);
    assert_true(fabs(l.rtt_noload_us - 2000) < 1);
    assert_true(l.limit <= saved / 4 + 1);
    /* The next probe (soon: the first one unsettles) halves the limit. */
    uint64_t was = now;
    while (!l.probing && guard++ < 3000)
        now = drive(&l, now, 2 * MS, 1);
    assert_true(l.probing);
    assert_true(now - was <= SEC);
    assert_int_equal(lv_limiter_limit(&l), (uint32_t)(l.saved_limit / 2));
    /* Same RTT again: the no-load RTT stays and the limiter settles (next probe in 6-20 s). */
    while (l.probing && guard++ < 4000)
        now = drive(&l, now, 2 * MS, 1);
    assert_int_equal(l.probes, 2);
    assert_false(l.unsettled);
    assert_true(fabs(l.rtt_noload_us - 2000) < 1);
    assert_true(l.next_probe_us >= now + 6 * SEC);
    assert_true(l.next_probe_us <= now + 20 * SEC);
}

/* A probe whose slots are all held by requests sent before it (stuck on a connect to a dead
 * host) ends on time through lv_limiter_tick, and having measured nothing, the next one waits
 * for the settled period: probing again soon would block the service again. */
static void test_lv_limiter_tick_ends_an_empty_probe(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    l.rtt_noload_us = 2000;
    l.unsettled = true;
    l.next_probe_us = now;
    for (int i = 0; i < 12; i++)
        assert_true(lv_limiter_try_acquire(&l));
    lv_limiter_release(&l, now, 2000, LV_LIMIT_IGNORE); /* starts the probe: limit 10 */
    assert_true(l.probing);
    assert_false(lv_limiter_try_acquire(&l)); /* 11 held, all sent before the probe */
    lv_limiter_tick(&l, now + 50 * MS);
    assert_true(l.probing);
    lv_limiter_tick(&l, now + 3 * SEC);
    assert_false(l.probing);
    assert_int_equal(l.probes, 1);
    assert_true(l.rtt_noload_us == 2000);
    assert_true(l.next_probe_us >= now + 3 * SEC + 6 * SEC);
}

static void test_lv_limiter_release_gradient_shrinks_when_rtt_grows(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    l.rtt_noload_us = 2000; /* as if a probe had measured it, and no probe for now */
    l.unsettled = false;
    l.next_probe_us = UINT64_MAX;
    double before = l.limit;
    /* RTT 4x the no-load RTT: gradient at the floor, the limit shrinks. */
    now = drive(&l, now, 8 * MS, 100);
    assert_true(l.last_gradient == 0.5);
    assert_true(l.limit < before);
    /* A run of windows at the floor: the no-load RTT may be stale, a probe comes soon. */
    assert_true(l.unsettled);
    assert_true(l.next_probe_us <= now + SEC);
    l.next_probe_us = UINT64_MAX;
    /* RTT back at the no-load value: gradient 1, the limit grows by its headroom. */
    double low = l.limit;
    now = drive(&l, now, 2 * MS, 300);
    assert_true(l.last_gradient == 1.0);
    assert_true(l.limit > low);
    (void)now;
}

static void test_lv_limiter_release_app_limited_keeps_limit(void **state)
{
    (void)state;
    lv_limiter_t l;
    lv_limiter_conf_t c = conf_default();
    uint64_t now = 10 * SEC;
    init_past_start(&l, &c, now, 1);
    l.rtt_noload_us = 2000;
    l.unsettled = false;
    l.next_probe_us = UINT64_MAX;
    /* One request at a time, slow (5x the no-load RTT), for 10 s: the limit does not move. */
    for (int i = 0; i < 1000; i++) {
        assert_true(lv_limiter_try_acquire(&l));
        now += 10 * MS;
        lv_limiter_release(&l, now, 10 * MS, LV_LIMIT_OK);
    }
    assert_true(l.limit == 20.0);
    assert_true(l.rtt_short_us == 10000); /* windows did close: the samples were seen */
}

static void test_lv_limiter_init_same_seed_probes_together(void **state)
{
    (void)state;
    lv_limiter_t a, b, d;
    lv_limiter_conf_t c = conf_default();
    lv_limiter_init(&a, &c, 10 * SEC, 42);
    lv_limiter_init(&b, &c, 10 * SEC + 3 * MS, 42); /* another worker, a little later */
    lv_limiter_init(&d, &c, 10 * SEC, 43);
    assert_int_equal(a.next_probe_us, b.next_probe_us);
    assert_true(a.next_probe_us > 10 * SEC);
    /* Different seeds jitter differently across slots (not necessarily this one). */
    int differ = 0;
    for (uint64_t t = 0; t < 50; t++) {
        lv_limiter_init(&a, &c, t * SEC, 42);
        lv_limiter_init(&d, &c, t * SEC, 43);
        differ += a.next_probe_us != d.next_probe_us;
    }
    assert_true(differ > 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_limiter_try_acquire_stops_at_limit),
        cmocka_unit_test(test_lv_limiter_init_clamps_initial),
        cmocka_unit_test(test_lv_limiter_release_dropped_decreases_once_per_window),
        cmocka_unit_test(test_lv_limiter_release_dropped_never_below_min),
        cmocka_unit_test(test_lv_limiter_release_ignore_changes_nothing),
        cmocka_unit_test(test_lv_limiter_release_probe_halves_then_restores),
        cmocka_unit_test(test_lv_limiter_tick_ends_an_empty_probe),
        cmocka_unit_test(test_lv_limiter_release_gradient_shrinks_when_rtt_grows),
        cmocka_unit_test(test_lv_limiter_release_app_limited_keeps_limit),
        cmocka_unit_test(test_lv_limiter_init_same_seed_probes_together),
        cmocka_unit_test(test_lv_limiter_release_converges_k4_fixed),
        cmocka_unit_test(test_lv_limiter_release_converges_k4_exponential),
        cmocka_unit_test(test_lv_limiter_release_converges_k16_fixed),
        cmocka_unit_test(test_lv_limiter_release_converges_k16_exponential),
        cmocka_unit_test(test_lv_limiter_release_follows_capacity_drop_fixed),
        cmocka_unit_test(test_lv_limiter_release_follows_capacity_drop_exponential),
        cmocka_unit_test(test_lv_limiter_release_low_demand_keeps_limit),
        cmocka_unit_test(test_lv_limiter_release_busy_but_calm_stays_settled),
        cmocka_unit_test(test_lv_limiter_release_knee_no_thrash),
        cmocka_unit_test(test_lv_limiter_release_knee_thrash_1),
        cmocka_unit_test(test_lv_limiter_release_knee_thrash_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
