/* tests/unit/cache/test_flight.c: the shared table of cache misses in flight (cache/flight.h):
 * lead/follow/bypass roles, verdicts, pass markers and their per-shard cap, sweeping, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cache/flight.h"
#include "core/common.h"

/* Private to cache/flight.c: pass markers kept per shard at most. */
#define FLIGHT_MAX_PER_SHARD 4096u

static lv_flight_role_t join(lv_flights_t *t, const char *key, uint64_t now_us, lv_flight_t **out)
{
    return lv_flight_join(t, key, strlen(key), now_us, out);
}

/* Joins key expecting to lead, then resolves with st and drops the leader's reference. */
static void lead_and_resolve(lv_flights_t *t, const char *key, uint64_t now_us,
                             lv_flight_state_t st, uint64_t pass_until_us)
{
    lv_flight_t *f = NULL;
    assert_int_equal(join(t, key, now_us, &f), LV_FLIGHT_LEAD);
    assert_non_null(f);
    lv_flight_resolve(t, f, st, pass_until_us);
    lv_flight_unref(f);
}

static void test_lv_flight_join_lead_then_follow(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(0);
    assert_non_null(t);
    lv_flight_t *lead = NULL, *f1 = NULL, *f2 = NULL, *other = NULL;
    assert_int_equal(join(t, "GET h/a", 1, &lead), LV_FLIGHT_LEAD);
    assert_non_null(lead);
    assert_int_equal(lv_flight_state(lead), LV_FLIGHT_PENDING);
    assert_int_equal(join(t, "GET h/a", 2, &f1), LV_FLIGHT_FOLLOW);
    assert_int_equal(join(t, "GET h/a", 3, &f2), LV_FLIGHT_FOLLOW);
    assert_ptr_equal(f1, lead);
    assert_ptr_equal(f2, lead);
    assert_int_equal(lv_flights_count(t), 1);

    /* A different key (a prefix of the first, too) leads on its own. */
    assert_int_equal(join(t, "GET h/", 4, &other), LV_FLIGHT_LEAD);
    assert_ptr_not_equal(other, lead);
    assert_int_equal(lv_flights_count(t), 2);

    /* Followers see the verdict through their own reference. */
    lv_flight_resolve(t, lead, LV_FLIGHT_READY, 0);
    assert_int_equal(lv_flight_state(f1), LV_FLIGHT_READY);
    assert_int_equal(lv_flight_state(f2), LV_FLIGHT_READY);
    assert_int_equal(lv_flights_count(t), 1);
    /* The leader's reference may go first; followers still hold the flight (ASan checks). */
    lv_flight_unref(lead);
    assert_int_equal(lv_flight_state(f1), LV_FLIGHT_READY);
    lv_flight_unref(f1);
    lv_flight_unref(f2);

    lv_flight_resolve(t, other, LV_FLIGHT_FAILED, 0);
    lv_flight_unref(other);
    assert_int_equal(lv_flights_count(t), 0);
    lv_flights_free(t);
}

static void test_lv_flight_resolve_removes_flight(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(4);
    static const lv_flight_state_t verdicts[] = {LV_FLIGHT_READY, LV_FLIGHT_FAILED,
                                                 LV_FLIGHT_PASS /* pass_until 0: not kept */};
    for (size_t i = 0; i < LV_ARRAY_LEN(verdicts); i++) {
        lv_flight_t *a = NULL, *b = NULL, *c = NULL;
        assert_int_equal(join(t, "k", 10, &a), LV_FLIGHT_LEAD);
        assert_int_equal(join(t, "k", 11, &b), LV_FLIGHT_FOLLOW);
        lv_flight_resolve(t, a, verdicts[i], 0);
        assert_int_equal(lv_flight_state(b), verdicts[i]);
        assert_int_equal(lv_flights_count(t), 0);
        /* The next miss leads a new flight while the old one is still referenced. */
        assert_int_equal(join(t, "k", 12, &c), LV_FLIGHT_LEAD);
        assert_ptr_not_equal(c, a);
        assert_int_equal(lv_flight_state(c), LV_FLIGHT_PENDING);
        lv_flight_resolve(t, c, LV_FLIGHT_READY, 0);
        lv_flight_unref(a);
        lv_flight_unref(b);
        lv_flight_unref(c);
        assert_int_equal(lv_flights_count(t), 0);
    }
    lv_flights_free(t);
}

static void test_lv_flight_pass_marker_until(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(0);
    lv_flight_t *lead = NULL, *fol = NULL, *f = (lv_flight_t *)&f;
    assert_int_equal(join(t, "k", 1000, &lead), LV_FLIGHT_LEAD);
    assert_int_equal(join(t, "k", 1001, &fol), LV_FLIGHT_FOLLOW);
    lv_flight_resolve(t, lead, LV_FLIGHT_PASS, 5000);
    assert_int_equal(lv_flight_state(fol), LV_FLIGHT_PASS);
    lv_flight_unref(lead);
    lv_flight_unref(fol);
    assert_int_equal(lv_flights_count(t), 1); /* the marker */

    /* Before pass_until: bypass, no flight handed out, the marker stays. */
    assert_int_equal(join(t, "k", 1002, &f), LV_FLIGHT_BYPASS);
    assert_null(f);
    f = (lv_flight_t *)&f;
    assert_int_equal(join(t, "k", 4999, &f), LV_FLIGHT_BYPASS);
    assert_null(f);
    assert_int_equal(lv_flights_count(t), 1);
    /* Another key is not affected. */
    lead_and_resolve(t, "k2", 2000, LV_FLIGHT_READY, 0);
    assert_int_equal(lv_flights_count(t), 1);

    /* From pass_until on: the marker is swept and the next miss leads. */
    assert_int_equal(join(t, "k", 5000, &f), LV_FLIGHT_LEAD);
    assert_non_null(f);
    assert_int_equal(lv_flights_count(t), 1); /* the new flight only */
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    lv_flight_unref(f);
    assert_int_equal(lv_flights_count(t), 0);

    /* A marker that is already expired when resolved bypasses nobody. */
    lead_and_resolve(t, "k", 6000, LV_FLIGHT_PASS, 5500);
    lead_and_resolve(t, "k", 6001, LV_FLIGHT_READY, 0);
    assert_int_equal(lv_flights_count(t), 0);

    /* A marker still alive at free time is released by lv_flights_free (ASan checks). */
    lead_and_resolve(t, "k", 7000, LV_FLIGHT_PASS, 9000);
    assert_int_equal(lv_flights_count(t), 1);
    lv_flights_free(t);
}

static void test_lv_flight_resolve_twice_keeps_first(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(0);
    lv_flight_t *f = NULL, *g = NULL;

    /* READY then PASS: stays READY, and no marker appears. */
    assert_int_equal(join(t, "a", 1, &f), LV_FLIGHT_LEAD);
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    lv_flight_resolve(t, f, LV_FLIGHT_PASS, 1000000);
    assert_int_equal(lv_flight_state(f), LV_FLIGHT_READY);
    assert_int_equal(lv_flights_count(t), 0);
    assert_int_equal(join(t, "a", 2, &g), LV_FLIGHT_LEAD);
    lv_flight_resolve(t, g, LV_FLIGHT_FAILED, 0);
    lv_flight_unref(g);
    lv_flight_unref(f);

    /* PASS then READY: the marker stays and keeps its expiry. */
    assert_int_equal(join(t, "b", 10, &f), LV_FLIGHT_LEAD);
    lv_flight_resolve(t, f, LV_FLIGHT_PASS, 100);
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    lv_flight_resolve(t, f, LV_FLIGHT_PASS, 1000000);
    assert_int_equal(lv_flight_state(f), LV_FLIGHT_PASS);
    lv_flight_unref(f);
    assert_int_equal(lv_flights_count(t), 1);
    assert_int_equal(join(t, "b", 99, &g), LV_FLIGHT_BYPASS);
    assert_int_equal(join(t, "b", 100, &g), LV_FLIGHT_LEAD);
    lv_flight_resolve(t, g, LV_FLIGHT_READY, 0);
    lv_flight_unref(g);

    /* FAILED then READY: stays FAILED. */
    assert_int_equal(join(t, "c", 1, &f), LV_FLIGHT_LEAD);
    lv_flight_resolve(t, f, LV_FLIGHT_FAILED, 0);
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    assert_int_equal(lv_flight_state(f), LV_FLIGHT_FAILED);
    lv_flight_unref(f);
    assert_int_equal(lv_flights_count(t), 0);
    lv_flights_free(t);
}

static void test_lv_flights_count(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(8);
    assert_int_equal(lv_flights_count(t), 0);
    lv_flight_t *leads[20], *fol[20];
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(join(t, key, 1, &leads[i]), LV_FLIGHT_LEAD);
        assert_int_equal(join(t, key, 1, &fol[i]), LV_FLIGHT_FOLLOW); /* adds nothing */
        assert_int_equal(lv_flights_count(t), (size_t)i + 1);
    }
    /* 5 pass markers (kept), 5 immediate passes (not kept), 10 ready. */
    for (int i = 0; i < 20; i++) {
        if (i < 5)
            lv_flight_resolve(t, leads[i], LV_FLIGHT_PASS, 1000);
        else if (i < 10)
            lv_flight_resolve(t, leads[i], LV_FLIGHT_PASS, 0);
        else
            lv_flight_resolve(t, leads[i], LV_FLIGHT_READY, 0);
        lv_flight_unref(leads[i]);
        lv_flight_unref(fol[i]);
    }
    assert_int_equal(lv_flights_count(t), 5);
    lv_flights_free(t);
}

/* Expired markers of other keys on the chain a join walks are swept by that join (at most 8
 * per join), live ones are not. */
static void test_lv_flight_join_sweeps_old_verdicts(void **state)
{
    (void)state;
    enum { MARKERS = 2048, PROBES = 4096 };
    lv_flights_t *t = lv_flights_new(1); /* one shard, 256 chains: ~8 markers per chain */
    char key[32];
    for (int i = 0; i < MARKERS; i++) {
        snprintf(key, sizeof key, "marker-%d", i);
        lead_and_resolve(t, key, 1, LV_FLIGHT_PASS, 1000);
    }
    assert_int_equal(lv_flights_count(t), MARKERS);

    /* Joins of other keys before the expiry sweep nothing. */
    for (int i = 0; i < PROBES; i++) {
        snprintf(key, sizeof key, "probe-%d", i);
        lead_and_resolve(t, key, 999, LV_FLIGHT_READY, 0);
    }
    assert_int_equal(lv_flights_count(t), MARKERS);
    for (int i = 0; i < MARKERS; i += 97) {
        lv_flight_t *f = NULL;
        snprintf(key, sizeof key, "marker-%d", i);
        assert_int_equal(join(t, key, 999, &f), LV_FLIGHT_BYPASS);
    }

    /* After it, joins of other keys sweep them: the first join alone sweeps some... */
    lv_flight_t *f = NULL;
    assert_int_equal(join(t, "probe-0", 1000, &f), LV_FLIGHT_LEAD);
    size_t after_one = lv_flights_count(t);
    assert_true(after_one < MARKERS + 1);
    assert_true(after_one >= MARKERS + 1 - 8);
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    lv_flight_unref(f);
    /* ...and enough joins over every chain sweep them all (ASan: each table ref dropped). */
    for (int i = 0; i < PROBES; i++) {
        snprintf(key, sizeof key, "probe-%d", i);
        lead_and_resolve(t, key, 1000 + (uint64_t)i, LV_FLIGHT_READY, 0);
    }
    assert_int_equal(lv_flights_count(t), 0);
    lv_flights_free(t);
}

/* One shard holds at most FLIGHT_MAX_PER_SHARD entries when a PASS is resolved: beyond that
 * the PASS is not remembered (the next miss leads again). */
static void test_lv_flight_pass_markers_capped_per_shard(void **state)
{
    (void)state;
    lv_flights_t *t = lv_flights_new(1);
    char key[32];
    for (unsigned i = 0; i < FLIGHT_MAX_PER_SHARD; i++) {
        snprintf(key, sizeof key, "pass-%u", i);
        lead_and_resolve(t, key, 1, LV_FLIGHT_PASS, 1000000);
    }
    assert_int_equal(lv_flights_count(t), FLIGHT_MAX_PER_SHARD);

    /* One more PASS: the flight goes, no marker. */
    lead_and_resolve(t, "one-too-many", 2, LV_FLIGHT_PASS, 1000000);
    assert_int_equal(lv_flights_count(t), FLIGHT_MAX_PER_SHARD);
    lv_flight_t *f = NULL;
    assert_int_equal(join(t, "one-too-many", 3, &f), LV_FLIGHT_LEAD);
    /* Pending flights are still admitted above the cap (followers too). */
    lv_flight_t *g = NULL;
    assert_int_equal(join(t, "one-too-many", 3, &g), LV_FLIGHT_FOLLOW);
    assert_int_equal(lv_flights_count(t), FLIGHT_MAX_PER_SHARD + 1);
    lv_flight_resolve(t, f, LV_FLIGHT_READY, 0);
    lv_flight_unref(f);
    lv_flight_unref(g);

    /* The markers kept before the cap still hold. */
    for (unsigned i = 0; i < FLIGHT_MAX_PER_SHARD; i += 511) {
        snprintf(key, sizeof key, "pass-%u", i);
        assert_int_equal(join(t, key, 4, &f), LV_FLIGHT_BYPASS);
    }
    assert_int_equal(lv_flights_count(t), FLIGHT_MAX_PER_SHARD);

    lv_flights_free(t);

    /* Once an expired marker is swept, a PASS is remembered again. */

    t = lv_flights_new(1);
    for (unsigned i = 0; i < FLIGHT_MAX_PER_SHARD; i++) {
        snprintf(key, sizeof key, "pass-%u", i);
        lead_and_resolve(t, key, 1, LV_FLIGHT_PASS, i == 0 ? 10 : 1000000);
    }
    lead_and_resolve(t, "pass-0", 20, LV_FLIGHT_PASS, 1000000); /* sweeps the old pass-0 */
    assert_int_equal(lv_flights_count(t), FLIGHT_MAX_PER_SHARD);
    assert_int_equal(join(t, "pass-0", 21, &f), LV_FLIGHT_BYPASS);
    lv_flights_free(t);
}

/* ---- threads: 4 x 10,000 joins on 64 keys, leaders resolving at random ---- */

#define MT_THREADS 4
#define MT_JOINS 10000
#define MT_KEYS 64
#define MT_ROUNDS 8   /* independent runs */
#define MT_HELD 6     /* flights a thread leads at once at most */
#define MT_FOLLOWED 8 /* followed flights a thread keeps before dropping the oldest */

typedef struct mt_shared {
    lv_flights_t *t;
    pthread_barrier_t start;        /* all threads begin together */
    atomic_int open_leads[MT_KEYS]; /* unresolved LEADs per key: never above 1 */
    atomic_uint_fast64_t clock_us;  /* a shared logical clock: one tick per join */
    atomic_size_t violations, leads, follows, bypasses;
} mt_shared_t;

typedef struct mt_held {
    lv_flight_t *f;
    unsigned key;
} mt_held_t;

typedef struct mt_thread {
    mt_shared_t *sh;
    uint32_t rnd;
    mt_held_t held[MT_HELD];
    size_t n_held;
    lv_flight_t *followed[MT_FOLLOWED];
    size_t n_followed;
} mt_thread_t;

static uint32_t mt_rand(mt_thread_t *th)
{
    th->rnd = th->rnd * 1103515245u + 12345u;
    return th->rnd >> 8;
}

static void mt_key(unsigned k, char *buf, size_t cap)
{
    snprintf(buf, cap, "GET host/item/%u", k);
}

/* Resolves held[i]: the open count goes down first, so that a new LEAD for the key (possible
 * only once the flight is resolved) never sees this one as still open. */
static void mt_resolve(mt_thread_t *th, size_t i)
{
    mt_shared_t *sh = th->sh;
    mt_held_t h = th->held[i];
    th->held[i] = th->held[--th->n_held];
    if (atomic_fetch_sub(&sh->open_leads[h.key], 1) != 1)
        atomic_fetch_add(&sh->violations, 1);
    uint64_t now = atomic_load(&sh->clock_us);
    switch (mt_rand(th) % 4) {
    case 0:
        lv_flight_resolve(sh->t, h.f, LV_FLIGHT_READY, 0);
        break;
    case 1:
        lv_flight_resolve(sh->t, h.f, LV_FLIGHT_FAILED, 0);
        break;
    case 2:
        lv_flight_resolve(sh->t, h.f, LV_FLIGHT_PASS, now + mt_rand(th) % 400);
        break;
    default:
        lv_flight_resolve(sh->t, h.f, LV_FLIGHT_PASS, 0);
        break;
    }
    if (mt_rand(th) % 2)
        lv_flight_resolve(sh->t, h.f, LV_FLIGHT_READY, 0); /* a second verdict: no-op */
    lv_flight_unref(h.f);
}

static void *mt_run(void *p)
{
    mt_thread_t *th = p;
    mt_shared_t *sh = th->sh;
    char key[32];
    pthread_barrier_wait(&sh->start);
    for (int i = 0; i < MT_JOINS; i++) {
        unsigned k = mt_rand(th) % MT_KEYS;
        mt_key(k, key, sizeof key);
        uint64_t now = atomic_fetch_add(&sh->clock_us, 1);
        lv_flight_t *f = NULL;
        lv_flight_role_t role = join(sh->t, key, now, &f);
        if (role == LV_FLIGHT_LEAD) {
            atomic_fetch_add(&sh->leads, 1);
            if (atomic_fetch_add(&sh->open_leads[k], 1) != 0 || !f ||
                lv_flight_state(f) != LV_FLIGHT_PENDING)
                atomic_fetch_add(&sh->violations, 1);
            if (th->n_held == MT_HELD)
                mt_resolve(th, mt_rand(th) % th->n_held);
            th->held[th->n_held++] = (mt_held_t){f, k};
        } else if (role == LV_FLIGHT_FOLLOW) {
            atomic_fetch_add(&sh->follows, 1);
            if (!f)
                atomic_fetch_add(&sh->violations, 1);
            if (th->n_followed == MT_FOLLOWED) {
                lv_flight_unref(th->followed[0]);
                memmove(th->followed, th->followed + 1, (MT_FOLLOWED - 1) * sizeof f);
                th->n_followed--;
            }
            th->followed[th->n_followed++] = f;
        } else {
            atomic_fetch_add(&sh->bypasses, 1);
            if (f)
                atomic_fetch_add(&sh->violations, 1);
        }
        if (th->n_held && mt_rand(th) % 3 == 0)
            mt_resolve(th, mt_rand(th) % th->n_held);
    }
    while (th->n_held)
        mt_resolve(th, th->n_held - 1);
    return NULL;
}

/* One run: MT_THREADS threads x MT_JOINS joins on a fresh table, then every check. */
static void mt_round(uint32_t seed)
{
    static mt_shared_t sh;
    memset(&sh, 0, sizeof sh);
    sh.t = lv_flights_new(0);
    assert_non_null(sh.t);
    atomic_init(&sh.clock_us, 1);
    assert_int_equal(pthread_barrier_init(&sh.start, NULL, MT_THREADS), 0);
    mt_thread_t th[MT_THREADS];
    pthread_t tid[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++) {
        th[i] = (mt_thread_t){.sh = &sh, .rnd = seed + 7919u * (uint32_t)i};
        assert_int_equal(pthread_create(&tid[i], NULL, mt_run, &th[i]), 0);
    }
    for (int i = 0; i < MT_THREADS; i++)
        pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&sh.start);

    assert_int_equal(atomic_load(&sh.violations), 0);
    assert_int_equal(atomic_load(&sh.leads) + atomic_load(&sh.follows) + atomic_load(&sh.bypasses),
                     MT_THREADS * MT_JOINS);
    assert_true(atomic_load(&sh.leads) > 0);
    assert_true(atomic_load(&sh.follows) > 0);
    assert_true(atomic_load(&sh.bypasses) > 0);
    for (int k = 0; k < MT_KEYS; k++)
        assert_int_equal(atomic_load(&sh.open_leads[k]), 0);
    /* Every leader resolved: no follower is left waiting. */
    for (int i = 0; i < MT_THREADS; i++)
        for (size_t j = 0; j < th[i].n_followed; j++) {
            assert_int_not_equal(lv_flight_state(th[i].followed[j]), LV_FLIGHT_PENDING);
            lv_flight_unref(th[i].followed[j]);
        }

    /* Only pass markers are left; once expired, one join per key sweeps them all. */
    uint64_t later = atomic_load(&sh.clock_us) + 1000;
    char key[32];
    for (unsigned k = 0; k < MT_KEYS; k++) {
        mt_key(k, key, sizeof key);
        lead_and_resolve(sh.t, key, later, LV_FLIGHT_READY, 0);
    }
    assert_int_equal(lv_flights_count(sh.t), 0);
    lv_flights_free(sh.t); /* ASan: no flight leaked */
}

/* The run is repeated: a race shows up only when the threads happen to interleave on it. */
static void test_lv_flight_threads_one_leader_per_key(void **state)
{
    (void)state;
    for (uint32_t round = 0; round < MT_ROUNDS; round++)
        mt_round(17u + 104729u * round);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_flight_join_lead_then_follow),
        cmocka_unit_test(test_lv_flight_resolve_removes_flight),
        cmocka_unit_test(test_lv_flight_pass_marker_until),
        cmocka_unit_test(test_lv_flight_resolve_twice_keeps_first),
        cmocka_unit_test(test_lv_flights_count),
        cmocka_unit_test(test_lv_flight_join_sweeps_old_verdicts),
        cmocka_unit_test(test_lv_flight_pass_markers_capped_per_shard),
        cmocka_unit_test(test_lv_flight_threads_one_leader_per_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
