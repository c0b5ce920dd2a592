/* tests/unit/proxy/test_buf.c: chunk refcounts, freelist bounds and write batching of
 * proxy/buf.c. No sockets: lv_wreq_submit is covered by the integration tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/buf.h"

static void test_lv_chunk_acquire_reuses_released_chunk(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 4);
    lv_chunk_t *a = lv_chunk_acquire(&pool, 100);
    assert_non_null(a);
    assert_int_equal(a->cap, LV_CHUNK_BYTES);
    assert_int_equal(pool.chunks_live, 1);
    lv_chunk_release(a);
    assert_int_equal(pool.chunks_live, 0);
    assert_int_equal(pool.n_free_chunks, 1);
    lv_chunk_t *b = lv_chunk_acquire(&pool, LV_CHUNK_BYTES);
    assert_ptr_equal(a, b); /* LIFO freelist: the hot chunk comes back */
    lv_chunk_release(b);
    lv_buf_pool_fini(&pool);
}

static void test_lv_chunk_acquire_large_is_not_cached(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 4);
    lv_chunk_t *big = lv_chunk_acquire(&pool, LV_CHUNK_BYTES * 3);
    assert_non_null(big);
    assert_true(big->cap >= LV_CHUNK_BYTES * 3);
    memset(big->data, 'x', big->cap);
    lv_chunk_release(big);
    assert_int_equal(pool.n_free_chunks, 0);
    lv_buf_pool_fini(&pool);
}

static void test_lv_chunk_release_keeps_chunk_while_referenced(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 4);
    lv_chunk_t *c = lv_chunk_acquire(&pool, 10);
    lv_chunk_ref(c);
    lv_chunk_release(c);
    assert_int_equal(pool.chunks_live, 1);
    assert_int_equal(c->refs, 1);
    lv_chunk_release(c);
    assert_int_equal(pool.chunks_live, 0);
    lv_buf_pool_fini(&pool);
}

static void test_lv_buf_pool_freelist_is_bounded(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 2);
    lv_chunk_t *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = lv_chunk_acquire(&pool, 1);
    for (int i = 0; i < 5; i++)
        lv_chunk_release(c[i]);
    assert_int_equal(pool.n_free_chunks, 2);
    lv_buf_pool_fini(&pool);
    assert_int_equal(pool.n_free_chunks, 0);
}

static void test_lv_wreq_add_refs_each_chunk_once(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 4);
    lv_chunk_t *c = lv_chunk_acquire(&pool, 10);
    memcpy(c->data, "hello world", 11);
    lv_wreq_t *w = lv_wreq_acquire(&pool, NULL);
    assert_int_equal(lv_wreq_add(w, c, c->data, 5), 0);
    assert_int_equal(lv_wreq_add(w, NULL, "\r\n", 2), 0);
    assert_int_equal(lv_wreq_add_copy(w, "a\r\n", 3), 0);
    assert_int_equal(w->n_bufs, 3);
    assert_int_equal(w->n_refs, 1);
    assert_int_equal(c->refs, 2);
    assert_int_equal(w->bytes, 10);
    assert_memory_equal(w->bufs[2].base, "a\r\n", 3);
    assert_ptr_not_equal(w->bufs[2].base, "a\r\n"); /* copied into scratch */
    lv_chunk_release(c);
    assert_int_equal(pool.chunks_live, 1); /* the write still holds it */
    lv_wreq_release(w);
    assert_int_equal(pool.chunks_live, 0);
    lv_buf_pool_fini(&pool);
}

static void test_lv_wreq_add_full_returns_limit(void **state)
{
    (void)state;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 4);
    lv_wreq_t *w = lv_wreq_acquire(&pool, NULL);
    for (int i = 0; i < LV_WREQ_MAX_BUFS; i++)
        assert_int_equal(lv_wreq_add(w, NULL, "x", 1), 0);
    assert_int_equal(lv_wreq_add(w, NULL, "x", 1), LV_ELIMIT);
    assert_false(lv_wreq_room(w, 1, 0));
    lv_wreq_release(w);
    w = lv_wreq_acquire(&pool, NULL);
    char big[LV_WREQ_SCRATCH + 1];
    memset(big, 'y', sizeof big);
    assert_int_equal(lv_wreq_add_copy(w, big, sizeof big), LV_ELIMIT);
    assert_int_equal(w->n_bufs, 0);
    lv_wreq_release(w);
    lv_buf_pool_fini(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_chunk_acquire_reuses_released_chunk),
        cmocka_unit_test(test_lv_chunk_acquire_large_is_not_cached),
        cmocka_unit_test(test_lv_chunk_release_keeps_chunk_while_referenced),
        cmocka_unit_test(test_lv_buf_pool_freelist_is_bounded),
        cmocka_unit_test(test_lv_wreq_add_refs_each_chunk_once),
        cmocka_unit_test(test_lv_wreq_add_full_returns_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
