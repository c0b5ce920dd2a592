/* tests/unit/cache/test_store.c: the shared cache store of cache/store.h: byte bounds, replacement,
 * purges, refcounted entries outliving eviction, body append/read visibility, SIEVE's visited bit
 * and LRU order on small fixed sequences, and one 2-thread consistency run (lookups + inserts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cache/store.h"

static lv_cache_entry_t *mk(lv_cache_store_t *s, const char *key, const char *head, const char *tag)
{
    lv_str_t tags[1] = {{tag, tag ? strlen(tag) : 0}};
    lv_cache_entry_spec_t spec = {.key = {key, strlen(key)},
                                  .head = {head, strlen(head)},
                                  .meta = LV_STR("meta"),
                                  .tags = tag ? tags : NULL,
                                  .ntags = tag ? 1 : 0};
    lv_cache_entry_t *e = lv_cache_entry_new(s, &spec);
    assert_non_null(e);
    return e;
}

/* Inserts a complete entry with the given body and drops the caller's ref. */
static int put(lv_cache_store_t *s, const char *key, const char *body, const char *tag)
{
    lv_cache_entry_t *e = mk(s, key, "HTTP/1.1 200 OK\r\n\r\n", tag);
    int rc = lv_cache_store_insert(s, e);
    if (rc == 0 && body && *body)
        rc = lv_cache_entry_append(e, body, strlen(body));
    lv_cache_entry_finish(e);
    lv_cache_entry_unref(e);
    return rc;
}

static bool present(lv_cache_store_t *s, const char *key)
{
    lv_cache_entry_t *e = lv_cache_store_lookup(s, key, strlen(key));
    lv_cache_entry_unref(e);
    return e != NULL;
}

/* The bytes an entry with this key and the head used by put() is charged (no body). */
static size_t entry_size(lv_cache_store_t *s, const char *key)
{
    lv_cache_entry_t *e = mk(s, key, "HTTP/1.1 200 OK\r\n\r\n", NULL);
    size_t n = lv_cache_entry_size_bytes(e);
    lv_cache_entry_unref(e);
    return n;
}

static void sum_bytes(lv_cache_entry_t *e, void *arg)
{
    *(size_t *)arg += lv_cache_entry_size_bytes(e);
}

static void check_bounds(lv_cache_store_t *s)
{
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_true(st.bytes <= st.max_bytes);
    size_t sum = 0;
    assert_int_equal(lv_cache_store_foreach(s, sum_bytes, &sum), st.entries);
    assert_int_equal(sum, st.bytes);
}

static void test_lv_cache_store_insert_never_exceeds_bound(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 64 * 1024, .shards = 4, .chunk_bytes = 512};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_non_null(s);
    char body[3000];
    memset(body, 'b', sizeof body);
    uint32_t rnd = 12345;
    for (int i = 0; i < 2000; i++) {
        char key[32];
        rnd = rnd * 1103515245u + 12345u;
        snprintf(key, sizeof key, "GET h /k%u", (unsigned)(rnd >> 16) % 300);
        lv_cache_entry_t *e = mk(s, key, "HTTP/1.1 200 OK\r\n\r\n", NULL);
        assert_int_equal(lv_cache_store_insert(s, e), 0);
        size_t len = (rnd >> 8) % sizeof body;
        /* Appended in pieces after the insert, as a fill does: each piece is charged. */
        for (size_t off = 0; off < len; off += 700) {
            assert_int_equal(lv_cache_entry_append(e, body, LV_MIN(700, len - off)), 0);
            check_bounds(s);
        }
        lv_cache_entry_finish(e);
        lv_cache_entry_unref(e);
        check_bounds(s);
    }
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_true(st.evictions > 0);
    assert_int_equal(st.insertions, 2000);
    lv_cache_store_free(s);
}

static void test_lv_cache_store_insert_too_big_is_rejected(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 4096, .shards = 1, .chunk_bytes = 1024};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_int_equal(put(s, "a", "old", NULL), 0);
    /* Insert: too big up front. */
    char big[5000];
    memset(big, 'x', sizeof big);
    lv_cache_entry_spec_t spec = {.key = LV_STR("a"), .head = {big, sizeof big}};
    lv_cache_entry_t *e = lv_cache_entry_new(s, &spec);
    assert_int_equal(lv_cache_store_insert(s, e), LV_ELIMIT);
    assert_true(present(s, "a")); /* the older entry is kept */
    lv_cache_entry_unref(e);
    /* Append: outgrows the shard while filling; dropped from the index, bytes still readable. */
    e = mk(s, "b", "", NULL);
    assert_int_equal(lv_cache_store_insert(s, e), 0);
    assert_int_equal(lv_cache_entry_append(e, big, sizeof big), LV_ELIMIT);
    assert_false(present(s, "b"));
    assert_int_equal(lv_cache_entry_body_len(e, NULL, NULL), sizeof big);
    char out[sizeof big];
    assert_int_equal(lv_cache_entry_read(e, 0, out, sizeof out), sizeof big);
    assert_memory_equal(out, big, sizeof big);
    lv_cache_entry_unref(e);
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.rejected, 2);
    check_bounds(s);
    lv_cache_store_free(s);
}

static void test_lv_cache_store_insert_replaces_same_key(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 4};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_int_equal(put(s, "GET h /x", "v1", NULL), 0);
    lv_cache_entry_t *old = lv_cache_store_lookup(s, "GET h /x", 8);
    assert_non_null(old);
    assert_int_equal(put(s, "GET h /x", "v2", NULL), 0);
    lv_cache_entry_t *cur = lv_cache_store_lookup(s, "GET h /x", 8);
    assert_non_null(cur);
    assert_ptr_not_equal(old, cur);
    char b[8];
    assert_int_equal(lv_cache_entry_read(cur, 0, b, sizeof b), 2);
    assert_memory_equal(b, "v2", 2);
    assert_int_equal(lv_cache_entry_read(old, 0, b, sizeof b), 2); /* the old ref still reads */
    assert_memory_equal(b, "v1", 2);
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.replaced, 1);
    assert_int_equal(st.insertions, 2);
    assert_int_equal(st.hits, 2);
    /* Inserting the same entry twice is refused. */
    assert_int_equal(lv_cache_store_insert(s, cur), LV_EINVAL);
    lv_cache_entry_unref(old);
    lv_cache_entry_unref(cur);
    check_bounds(s);
    lv_cache_store_free(s);
}

static void test_lv_cache_store_purge_kinds(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 8};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_int_equal(put(s, "GET a.example /news/1", "1", "news"), 0);
    assert_int_equal(put(s, "GET a.example /news/2", "2", "news"), 0);
    assert_int_equal(put(s, "GET a.example /sport/1", "3", "sport"), 0);
    assert_int_equal(put(s, "GET b.example /news/1", "4", "news"), 0);
    assert_int_equal(put(s, "GET b.example /home", "5", NULL), 0);

    assert_int_equal(lv_cache_store_purge_key(s, "GET b.example /home", 19), 0);
    assert_int_equal(lv_cache_store_purge_key(s, "GET b.example /home", 19), LV_ENOTFOUND);
    assert_false(present(s, "GET b.example /home"));

    assert_int_equal(lv_cache_store_purge_prefix(s, "GET a.example /news/", 20), 2);
    assert_false(present(s, "GET a.example /news/1"));
    assert_true(present(s, "GET b.example /news/1"));

    assert_int_equal(lv_cache_store_purge_tag(s, "news", 4), 1);
    assert_int_equal(lv_cache_store_purge_tag(s, "new", 3), 0); /* exact tags only */
    assert_false(present(s, "GET b.example /news/1"));
    assert_true(present(s, "GET a.example /sport/1"));

    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.purged, 4);
    assert_int_equal(lv_cache_store_purge_prefix(s, "", 0), 1); /* empty prefix: everything */
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    lv_cache_store_free(s);
}

static void test_lv_cache_entry_ref_survives_eviction(void **state)
{
    (void)state;
    size_t one;
    {
        lv_cache_store_conf_t probe = {.max_bytes = 1 << 20, .shards = 1};
        lv_cache_store_t *p = lv_cache_store_new(&probe);
        one = entry_size(p, "k0");
        lv_cache_store_free(p);
    }
    lv_cache_store_conf_t conf = {.max_bytes = 2 * one, .shards = 1};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_int_equal(put(s, "k0", NULL, NULL), 0);
    lv_cache_entry_t *r = lv_cache_store_lookup(s, "k0", 2);
    assert_non_null(r);
    /* Fill and churn: k0 (visited once) goes within a few inserts. */
    for (int i = 1; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(put(s, k, NULL, NULL), 0);
    }
    assert_false(present(s, "k0"));
    /* The reader's ref still sees every part (ASan would flag a use after free). */
    assert_memory_equal(lv_cache_entry_key(r).p, "k0", 2);
    assert_memory_equal(lv_cache_entry_meta(r).p, "meta", 4);
    assert_int_equal(lv_cache_entry_head(r).len, strlen("HTTP/1.1 200 OK\r\n\r\n"));
    lv_cache_entry_unref(r); /* the last ref frees it */
    lv_cache_store_free(s);
}

static void test_lv_cache_entry_append_visible_to_reader(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20, .shards = 2, .chunk_bytes = 8};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    lv_cache_entry_spec_t spec = {.key = LV_STR("GET h /stream"), .body_hint_bytes = 5};
    lv_cache_entry_t *w = lv_cache_entry_new(s, &spec);
    assert_int_equal(lv_cache_store_insert(s, w), 0);
    lv_cache_entry_t *r = lv_cache_store_lookup(s, "GET h /stream", 13);
    assert_ptr_equal(r, w);

    lv_cache_reader_t cur;
    lv_cache_reader_init(&cur, r);
    const void *p;
    bool complete, aborted;
    assert_int_equal(lv_cache_entry_body_len(r, &complete, &aborted), 0);
    assert_false(complete);
    assert_int_equal(lv_cache_reader_next(&cur, &p), 0); /* nothing yet */

    const char *text = "hello, streaming world: chunks of eight";
    size_t len = strlen(text), got = 0;
    char out[64];
    for (size_t off = 0; off < len; off += 3) {
        assert_int_equal(lv_cache_entry_append(w, text + off, LV_MIN(3, len - off)), 0);
        size_t n;
        while ((n = lv_cache_reader_next(&cur, &p)) > 0) {
            memcpy(out + got, p, n);
            got += n;
        }
        assert_int_equal(got, LV_MIN(off + 3, len)); /* the reader saw every appended byte */
    }
    assert_memory_equal(out, text, len);
    assert_int_equal(lv_cache_entry_body_len(r, &complete, NULL), len);
    assert_false(complete);
    lv_cache_entry_finish(w);
    assert_int_equal(lv_cache_entry_body_len(r, &complete, &aborted), len);
    assert_true(complete);
    assert_false(aborted);
    assert_int_equal(lv_cache_entry_append(w, "x", 1), LV_EINVAL);
    /* Random-offset copies across chunk edges (first chunk 5 bytes, then 8). */
    for (size_t off = 0; off <= len; off++) {
        char b[64];
        size_t n = lv_cache_entry_read(r, off, b, 7);
        assert_int_equal(n, LV_MIN(7, len - off));
        assert_memory_equal(b, text + off, n);
    }
    lv_cache_entry_unref(r);
    lv_cache_entry_unref(w);
    lv_cache_store_free(s);
}

static void test_lv_cache_entry_abort_unindexes(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 1 << 20};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    lv_cache_entry_t *w = mk(s, "k", "", NULL);
    assert_int_equal(lv_cache_store_insert(s, w), 0);
    lv_cache_entry_t *r = lv_cache_store_lookup(s, "k", 1);
    assert_int_equal(lv_cache_entry_append(w, "abc", 3), 0);
    lv_cache_entry_abort(w);
    bool complete, aborted;
    assert_int_equal(lv_cache_entry_body_len(r, &complete, &aborted), 3);
    assert_true(aborted);
    assert_false(complete);
    assert_false(present(s, "k"));
    lv_cache_entry_unref(r);
    lv_cache_entry_unref(w);
    lv_cache_store_free(s);
}

/* Three slots, one shard. SIEVE: A B C, hit A, insert D -> the hand skips A (clearing its bit)
 * and evicts B; hit C, insert E -> the hand at C skips it and evicts D, the newest, unvisited.
 * LRU on the same sequence evicts B then A. */
static void run_sequence(lv_cache_policy_t policy, const char *expect_present,
                         const char *expect_gone)
{
    lv_cache_store_conf_t probe = {.max_bytes = 1 << 20, .shards = 1};
    lv_cache_store_t *p = lv_cache_store_new(&probe);
    size_t one = entry_size(p, "A");
    lv_cache_store_free(p);
    lv_cache_store_conf_t conf = {.max_bytes = 3 * one, .shards = 1, .policy = policy};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    assert_int_equal(put(s, "A", NULL, NULL), 0);
    assert_int_equal(put(s, "B", NULL, NULL), 0);
    assert_int_equal(put(s, "C", NULL, NULL), 0);
    assert_true(present(s, "A"));
    assert_int_equal(put(s, "D", NULL, NULL), 0);
    assert_true(present(s, "C"));
    assert_int_equal(put(s, "E", NULL, NULL), 0);
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.evictions, 2);
    for (const char *k = expect_gone; *k; k++) {
        char key[2] = {*k, 0};
        assert_false(present(s, key));
    }
    for (const char *k = expect_present; *k; k++) {
        char key[2] = {*k, 0};
        assert_true(present(s, key));
    }
    lv_cache_store_free(s);
}

static void test_lv_cache_store_sieve_visited_bit(void **state)
{
    (void)state;
    run_sequence(LV_CACHE_POLICY_SIEVE, "ACE", "BD");
}

static void test_lv_cache_store_lru_order(void **state)
{
    (void)state;
    run_sequence(LV_CACHE_POLICY_LRU, "CDE", "AB");
}

/* Two threads: one inserts (replacing) keys whose body spells the key, in pieces; the other
 * looks keys up and streams whatever it finds, checking the bytes it sees belong to that key. */
#define MT_KEYS 200
#define MT_ROUNDS 20000

typedef struct {
    lv_cache_store_t *s;
    size_t lookups, hits, bad;
} mt_arg_t;

static size_t body_for(unsigned k, char *b, size_t cap)
{
    size_t n = 0;
    while (n + 16 < cap && n < 40 + (k % 7) * 30)
        n += (size_t)snprintf(b + n, cap - n, "<%u>", k);
    return n;
}

static void *mt_writer(void *p)
{
    mt_arg_t *a = p;
    uint32_t rnd = 7;
    for (int i = 0; i < MT_ROUNDS; i++) {
        rnd = rnd * 1103515245u + 12345u;
        unsigned k = (rnd >> 16) % MT_KEYS;
        char key[16], body[512];
        snprintf(key, sizeof key, "k%u", k);
        size_t n = body_for(k, body, sizeof body);
        lv_cache_entry_t *e = mk(a->s, key, "H", NULL);
        if (lv_cache_store_insert(a->s, e) != 0)
            a->bad++;
        for (size_t off = 0; off < n; off += 37)
            (void)lv_cache_entry_append(e, body + off, LV_MIN(37, n - off));
        lv_cache_entry_finish(e);
        lv_cache_entry_unref(e);
        if (i % 1000 == 0)
            lv_cache_store_purge_prefix(a->s, "k1", 2);
    }
    return NULL;
}

static void *mt_reader(void *p)
{
    mt_arg_t *a = p;
    uint32_t rnd = 99;
    for (int i = 0; i < MT_ROUNDS * 2; i++) {
        rnd = rnd * 1103515245u + 12345u;
        unsigned k = (rnd >> 16) % MT_KEYS;
        char key[16], want[512], got[512];
        snprintf(key, sizeof key, "k%u", k);
        a->lookups++;
        lv_cache_entry_t *e = lv_cache_store_lookup(a->s, key, strlen(key));
        if (!e)
            continue;
        a->hits++;
        size_t wn = body_for(k, want, sizeof want);
        bool complete;
        size_t len = lv_cache_entry_body_len(e, &complete, NULL);
        size_t n = lv_cache_entry_read(e, 0, got, sizeof got);
        if (n < len || n > wn || memcmp(got, want, n) != 0 || (complete && len != wn))
            a->bad++;
        if (lv_cache_entry_key(e).len != strlen(key) ||
            memcmp(lv_cache_entry_key(e).p, key, strlen(key)))
            a->bad++;
        lv_cache_entry_unref(e);
    }
    return NULL;
}

static void test_lv_cache_store_two_threads_consistent(void **state)
{
    (void)state;
    lv_cache_store_conf_t conf = {.max_bytes = 48 * 1024, .shards = 4, .chunk_bytes = 64};
    lv_cache_store_t *s = lv_cache_store_new(&conf);
    mt_arg_t w = {.s = s}, r = {.s = s};
    pthread_t tw, tr;
    assert_int_equal(pthread_create(&tw, NULL, mt_writer, &w), 0);
    assert_int_equal(pthread_create(&tr, NULL, mt_reader, &r), 0);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(w.bad, 0);
    assert_int_equal(r.bad, 0);
    lv_cache_stats_t st;
    lv_cache_store_stats(s, &st);
    assert_int_equal(st.hits + st.misses, r.lookups);
    assert_int_equal(st.hits, r.hits);
    assert_int_equal(st.insertions, MT_ROUNDS);
    assert_true(st.evictions > 0);
    assert_true(r.hits > 0);
    check_bounds(s);
    lv_cache_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_cache_store_insert_never_exceeds_bound),
        cmocka_unit_test(test_lv_cache_store_insert_too_big_is_rejected),
        cmocka_unit_test(test_lv_cache_store_insert_replaces_same_key),
        cmocka_unit_test(test_lv_cache_store_purge_kinds),
        cmocka_unit_test(test_lv_cache_entry_ref_survives_eviction),
        cmocka_unit_test(test_lv_cache_entry_append_visible_to_reader),
        cmocka_unit_test(test_lv_cache_entry_abort_unindexes),
        cmocka_unit_test(test_lv_cache_store_sieve_visited_bit),
        cmocka_unit_test(test_lv_cache_store_lru_order),
        cmocka_unit_test(test_lv_cache_store_two_threads_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
