/* tests/unit/tls/test_conn.c: tls/conn.c and tls/ctx.c without sockets: a levee server
 * connection and a client connection wired to each other in memory (handshakes, data both
 * ways, records split at every byte, resumption, the handshake budget, SNI, bad input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fixtures/tls_selfsigned.h"
#include "tls/tls.h"

/* Bytes one side sent, waiting for the other. */
typedef struct wire {
    char *p;
    size_t len;
} wire_t;

static int wire_send(void *owner, lv_wreq_t *w)
{
    wire_t *to = owner;
    for (unsigned i = 0; i < w->n_bufs; i++) {
        to->p = realloc(to->p, to->len + w->bufs[i].len);
        memcpy(to->p + to->len, w->bufs[i].base, w->bufs[i].len);
        to->len += w->bufs[i].len;
    }
    lv_wreq_release(w);
    return 0;
}

typedef struct pair {
    lv_buf_pool_t pool;
    wire_t to_server, to_client;
    lv_tls_conn_t *server, *client;
    SSL_CTX *client_ctx;
} pair_t;

/* Moves what is on a wire into t, at most step bytes per chunk (0: all at once). */
static void deliver(pair_t *pr, wire_t *wire, lv_tls_conn_t *t, size_t step)
{
    size_t off = 0;
    while (off < wire->len) {
        size_t n = step ? step : wire->len - off;
        if (n > wire->len - off)
            n = wire->len - off;
        lv_chunk_t *ch = lv_chunk_acquire(&pr->pool, LV_CHUNK_BYTES);
        assert_non_null(ch);
        if (n > ch->cap)
            n = ch->cap;
        memcpy(ch->data, wire->p + off, n);
        lv_tls_conn_input(t, ch, ch->data, n);
        lv_chunk_release(ch);
        off += n;
        if (!lv_tls_conn_established(t))
            lv_tls_conn_handshake(t);
    }
    free(wire->p);
    wire->p = NULL;
    wire->len = 0;
}

static void pair_open(pair_t *pr, SSL_CTX *server_ctx, lv_tls_budget_t *budget)
{
    memset(pr, 0, sizeof *pr);
    lv_buf_pool_init(&pr->pool, 16);
    pr->client_ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(pr->client_ctx);

    pr->server = lv_tls_conn_new(server_ctx, true, &pr->pool, wire_send, &pr->to_client, budget);
    pr->client = lv_tls_conn_new(pr->client_ctx, false, &pr->pool, wire_send, &pr->to_server, NULL);
    assert_non_null(pr->server);
    assert_non_null(pr->client);
}

/* Runs both handshakes to their end; returns the server's result. */
static int pair_handshake(pair_t *pr, size_t step)
{
    int rs = 0;
    lv_tls_conn_handshake(pr->client); /* the ClientHello */
    for (int round = 0; round < 10; round++) {
        deliver(pr, &pr->to_server, pr->server, step);
        rs = lv_tls_conn_handshake(pr->server);
        deliver(pr, &pr->to_client, pr->client, step);
        int rc = lv_tls_conn_handshake(pr->client);
        if (rs != 0 && rc != 0)
            break;
        if (rs < 0)
            break;
    }
    return rs;
}

static void pair_close(pair_t *pr)
{
    lv_tls_conn_free(pr->server);
    lv_tls_conn_free(pr->client);
    SSL_CTX_free(pr->client_ctx);
    free(pr->to_server.p);
    free(pr->to_client.p);
    assert_int_equal(pr->pool.chunks_live, 0); /* the glue holds no buffer once freed */
    lv_buf_pool_fini(&pr->pool);
}

/* Reads all the plaintext t has into out. */
static size_t drain(lv_tls_conn_t *t, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = lv_tls_conn_read(t, out + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

static void test_lv_tls_conn_handshake_and_data_both_ways(void **state)
{
    (void)state;
    SSL_CTX *sctx = tls_selfsigned_server_ctx("levee.test");
    pair_t pr;
    pair_open(&pr, sctx, NULL);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    assert_true(lv_tls_conn_established(pr.client));
    assert_string_equal(lv_tls_conn_version(pr.server), "TLSv1.3");
    assert_false(lv_tls_conn_resumed(pr.server));

    /* Many small buffers and a large one: coalesced into records, every byte in order. */
    static char big[100000], got[120000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    uv_buf_t bufs[] = {uv_buf_init("a", 1), uv_buf_init("bc\r\n", 4), uv_buf_init(big, sizeof big),
                       uv_buf_init("\r\n", 2)};
    assert_int_equal(lv_tls_conn_write(pr.client, bufs, 4), 0);
    deliver(&pr, &pr.to_server, pr.server, 0);
    size_t n = drain(pr.server, got, sizeof got);
    assert_int_equal(n, 7 + sizeof big);
    assert_memory_equal(got, "abc\r\n", 5);
    assert_memory_equal(got + 5, big, sizeof big);
    assert_memory_equal(got + 5 + sizeof big, "\r\n", 2);
    assert_false(lv_tls_conn_has_input(pr.server));

    uv_buf_t reply = uv_buf_init("HTTP/1.1 200 OK\r\n\r\n", 19);
    assert_int_equal(lv_tls_conn_write(pr.server, &reply, 1), 0);
    deliver(&pr, &pr.to_client, pr.client, 0);
    assert_int_equal(drain(pr.client, got, sizeof got), 19);

    /* close_notify reads as the end. */
    lv_tls_conn_shutdown(pr.client);
    deliver(&pr, &pr.to_server, pr.server, 0);
    assert_int_equal(lv_tls_conn_read(pr.server, got, sizeof got), LV_TLS_EOF);
    pair_close(&pr);
    SSL_CTX_free(sctx);
}

static void test_lv_tls_conn_records_split_at_every_byte(void **state)
{
    (void)state;
    SSL_CTX *sctx = tls_selfsigned_server_ctx("levee.test");
    pair_t pr;
    pair_open(&pr, sctx, NULL);
    assert_int_equal(pair_handshake(&pr, 1), 1);
    uv_buf_t b = uv_buf_init("GET / HTTP/1.1\r\n\r\n", 18);
    assert_int_equal(lv_tls_conn_write(pr.client, &b, 1), 0);
    /* One byte at a time: OpenSSL keeps the partial record, the glue keeps nothing. */
    char got[64];
    size_t n = 0;
    wire_t *w = &pr.to_server;
    for (size_t i = 0; i < w->len; i++) {
        lv_chunk_t *ch = lv_chunk_acquire(&pr.pool, 1);
        ch->data[0] = w->p[i];
        lv_tls_conn_input(pr.server, ch, ch->data, 1);
        lv_chunk_release(ch);
        ssize_t r = lv_tls_conn_read(pr.server, got + n, sizeof got - n);
        assert_true(r >= 0);
        n += (size_t)r;
    }
    assert_int_equal(n, 18);
    assert_memory_equal(got, "GET / HTTP/1.1\r\n\r\n", 18);
    pair_close(&pr);
    SSL_CTX_free(sctx);
}

/* A config with one TLS listener: default.test, then a.test and *.wild.test by SNI. */
typedef struct files {
    char dir[64];
    char path[3][2][96];
} files_t;

static lv_config_t *tls_config(files_t *f, lv_tls_tickets_t *tickets)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/lv-tls-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    const char *names[3][2] = {
        {"default.test", "DNS:default.test"}, {"a.test", "DNS:a.test"}, {"w", "DNS:*.wild.test"}};
    char yaml[2048];
    int len = snprintf(yaml, sizeof yaml,
                       "services: [{name: a, upstreams: [\"127.0.0.1:1\"]}]\n"
                       "listeners:\n  - listen: 127.0.0.1:0\n    tls:\n      certificates:\n");
    for (int i = 0; i < 3; i++) {
        snprintf(f->path[i][0], sizeof f->path[i][0], "%s/%d.pem", f->dir, i);
        snprintf(f->path[i][1], sizeof f->path[i][1], "%s/%d.key", f->dir, i);
        assert_int_equal(
            tls_selfsigned_files(names[i][0], names[i][1], f->path[i][0], f->path[i][1]), 0);
        len += snprintf(yaml + len, sizeof yaml - (size_t)len,
                        "        - {cert: \"%s\", key: \"%s\"}\n", f->path[i][0], f->path[i][1]);
    }
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_string("t.yaml", yaml, (size_t)len, &errs);
    for (uint32_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.lines[i]);
    lv_config_errors_fini(&errs);
    assert_non_null(cfg);
    char err[512];
    bool failed = true;
    lv_tls_set_t *set = lv_tls_set_new(cfg, tickets, &failed, err, sizeof err);
    assert_false(failed);
    assert_non_null(set);
    cfg->tls = set;
    cfg->tls_free = lv_tls_set_free;
    return cfg;
}

static void files_remove(files_t *f)
{
    for (int i = 0; i < 3; i++) {
        unlink(f->path[i][0]);
        unlink(f->path[i][1]);
    }
    rmdir(f->dir);
}

static const char *served_cn(pair_t *pr, char *buf, size_t cap)
{
    X509 *x = SSL_get0_peer_certificate(lv_tls_conn_ssl(pr->client));
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)cap);
    return buf;
}

static void test_lv_tls_set_sni_picks_certificate(void **state)
{
    (void)state;
    lv_tls_tickets_t *tickets = lv_tls_tickets_new();
    files_t f;
    lv_config_t *cfg = tls_config(&f, tickets);
    SSL_CTX *ctx = lv_tls_set_listener(cfg->tls, 0);
    assert_non_null(ctx);
    assert_int_equal(lv_tls_set_n_certs(cfg->tls), 3);
    const char *sni[] = {"a.test", "x.wild.test", "y.x.wild.test", "other.test", NULL};
    const char *want[] = {"a.test", "w", "default.test", "default.test", "default.test"};
    for (int i = 0; i < 5; i++) {
        pair_t pr;
        pair_open(&pr, ctx, NULL);
        if (sni[i])
            assert_int_equal(lv_tls_conn_set_peer(pr.client, sni[i], NULL), 0);
        assert_int_equal(pair_handshake(&pr, 0), 1);
        char cn[64];
        assert_string_equal(served_cn(&pr, cn, sizeof cn), want[i]);
        pair_close(&pr);
    }
    lv_config_unref(cfg); /* the contexts go with it (connections were freed first) */
    lv_tls_tickets_free(tickets);
    files_remove(&f);
}

static void test_lv_tls_budget_limits_full_handshakes_not_resumptions(void **state)
{
    (void)state;
    lv_tls_tickets_t *tickets = lv_tls_tickets_new();
    files_t f;
    lv_config_t *cfg = tls_config(&f, tickets);
    SSL_CTX *ctx = lv_tls_set_listener(cfg->tls, 0);
    lv_tls_budget_t budget = {.spent_ns = 0, .allow_ns = 1000000000u, .enforce = true};

    pair_t pr;
    pair_open(&pr, ctx, &budget);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    assert_true(budget.spent_ns > 0); /* the handshake's time was counted */
    char buf[16];
    drain(pr.client, buf, sizeof buf); /* reads the session ticket */
    SSL_SESSION *sess = SSL_get1_session(lv_tls_conn_ssl(pr.client));
    assert_non_null(sess);
    pair_close(&pr);

    budget.spent_ns = budget.allow_ns; /* the window's share is used up */
    pair_open(&pr, ctx, &budget);
    assert_int_equal(pair_handshake(&pr, 0), -1);
    assert_int_equal(lv_tls_conn_failure(pr.server), LV_TLS_FAIL_LIMITED);
    pair_close(&pr);

    pair_open(&pr, ctx, &budget); /* a resumption still goes through */
    assert_true(SSL_SESSION_is_resumable(sess));
    SSL_set_session(lv_tls_conn_ssl(pr.client), sess);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    assert_true(lv_tls_conn_resumed(pr.server));
    pair_close(&pr);

    budget.enforce = false; /* a loop with room: not limited at all */
    pair_open(&pr, ctx, &budget);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    pair_close(&pr);

    /* Tickets made under the previous key still resume after a rotation, not after two. */
    assert_int_equal(lv_tls_tickets_rotate(tickets), 0);
    pair_open(&pr, ctx, NULL);
    SSL_set_session(lv_tls_conn_ssl(pr.client), sess);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    assert_true(lv_tls_conn_resumed(pr.server));
    pair_close(&pr);
    assert_int_equal(lv_tls_tickets_rotate(tickets), 0);
    pair_open(&pr, ctx, NULL);
    SSL_set_session(lv_tls_conn_ssl(pr.client), sess);
    assert_int_equal(pair_handshake(&pr, 0), 1);
    assert_false(lv_tls_conn_resumed(pr.server));
    pair_close(&pr);

    SSL_SESSION_free(sess);
    lv_config_unref(cfg);
    lv_tls_tickets_free(tickets);
    files_remove(&f);
}

static void test_lv_tls_set_refuses_bad_files(void **state)
{
    (void)state;
    lv_tls_tickets_t *tickets = lv_tls_tickets_new();
    files_t f;
    lv_config_t *cfg = tls_config(&f, tickets);
    /* The key of another certificate. */
    char *key0 = cfg->listener_confs[0].certs[0].key;
    cfg->listener_confs[0].certs[0].key = cfg->listener_confs[0].certs[1].key;
    char err[512];
    bool failed = false;
    assert_null(lv_tls_set_new(cfg, tickets, &failed, err, sizeof err));
    assert_true(failed);
    assert_non_null(strstr(err, "does not match the certificate"));
    cfg->listener_confs[0].certs[0].key = key0;
    /* A file that is not there. */
    unlink(f.path[2][0]);
    assert_null(lv_tls_set_new(cfg, tickets, &failed, err, sizeof err));
    assert_true(failed);
    assert_non_null(strstr(err, "listeners[0].tls.certificates[2]: cannot read certificate"));
    lv_config_unref(cfg);
    lv_tls_tickets_free(tickets);
    files_remove(&f);
}

static void test_lv_tls_conn_garbage_fails_handshake(void **state)
{
    (void)state;
    SSL_CTX *sctx = tls_selfsigned_server_ctx("levee.test");
    pair_t pr;
    pair_open(&pr, sctx, NULL);
    lv_chunk_t *ch = lv_chunk_acquire(&pr.pool, 64);
    memcpy(ch->data, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
    lv_tls_conn_input(pr.server, ch, ch->data, 27);
    lv_chunk_release(ch);
    assert_int_equal(lv_tls_conn_handshake(pr.server), -1);
    assert_int_equal(lv_tls_conn_failure(pr.server), LV_TLS_FAIL_PROTOCOL);
    assert_true(strlen(lv_tls_conn_error(pr.server)) > 0);
    pair_close(&pr);
    SSL_CTX_free(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_tls_conn_handshake_and_data_both_ways),
        cmocka_unit_test(test_lv_tls_conn_records_split_at_every_byte),
        cmocka_unit_test(test_lv_tls_set_sni_picks_certificate),
        cmocka_unit_test(test_lv_tls_budget_limits_full_handshakes_not_resumptions),
        cmocka_unit_test(test_lv_tls_set_refuses_bad_files),
        cmocka_unit_test(test_lv_tls_conn_garbage_fails_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
