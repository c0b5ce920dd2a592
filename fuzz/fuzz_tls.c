/* fuzz/fuzz_tls.c: libFuzzer target for what levee writes around OpenSSL's records
 * (src/tls/conn.c, src/tls/ctx.c, src/tls/hello.c): client bytes, split where the input says,
 * fed to a server connection of a listener with SNI certificates and the handshake budget;
 * and the server_name parser alone. Nothing may crash, and every buffer comes back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tests/fixtures/tls_selfsigned.h"
#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lv_config_t *cfg;
static lv_tls_tickets_t *tickets;

/* A listener with two certificates (default.test, then *.b.test), as levee builds it. */
static void setup(void)
{
    char dir[] = "/tmp/lv-fuzz-tls-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char p[4][64], yaml[1024];
    const char *names[2][2] = {{"default.test", "DNS:default.test"}, {"b", "DNS:*.b.test"}};
    for (int i = 0; i < 2; i++) {
        snprintf(p[2 * i], sizeof p[0], "%s/%d.pem", dir, i);
        snprintf(p[2 * i + 1], sizeof p[0], "%s/%d.key", dir, i);
        if (tls_selfsigned_files(names[i][0], names[i][1], p[2 * i], p[2 * i + 1]) < 0)
            abort();
    }
    int n =
        snprintf(yaml, sizeof yaml,
                 "services: [{name: a, upstreams: [\"127.0.0.1:1\"]}]\n"
                 "listeners:\n  - listen: 127.0.0.1:0\n    tls:\n      certificates:\n"
                 "        - {cert: \"%s\", key: \"%s\"}\n        - {cert: \"%s\", key: \"%s\"}\n",
                 p[0], p[1], p[2], p[3]);
    cfg = lv_config_load_string("fuzz.yaml", yaml, (size_t)n, NULL);
    tickets = lv_tls_tickets_new();
    char err[256];
    bool failed;
    if (!cfg || !tickets || !(cfg->tls = lv_tls_set_new(cfg, tickets, &failed, err, sizeof err)))
        abort();
    cfg->tls_free = lv_tls_set_free;
    for (int i = 0; i < 4; i++)
        unlink(p[i]);
    rmdir(dir);
}

static int sink(void *owner, lv_wreq_t *w)
{
    size_t *sent = owner;
    *sent += w->bytes;
    lv_wreq_release(w);
    return 0;
}

static void fuzz_sni(const uint8_t *data, size_t size)
{
    char name[256];
    int n = lv_tls_sni_parse(data, size, name, sizeof name);
    if (n < -1 || n > 255)
        __builtin_trap();
    if (n > 0) {
        if ((size_t)n != strlen(name))
            __builtin_trap();
        for (int i = 0; i < n; i++)
            if (name[i] >= 'A' && name[i] <= 'Z')
                __builtin_trap();
        if (!lv_tls_name_match(name, name) && name[0] != '*')
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (data[0] & 1) {
        fuzz_sni(data + 1, size - 1);
        return 0;
    }
    if (!cfg)
        setup();
    /* data[0]: the budget's state; data[1]: the size of each read (0: everything at once). */
    lv_tls_budget_t budget = {.spent_ns = (data[0] & 2) ? 1u << 30 : 0,
                              .allow_ns = 1000000,
                              .enforce = (data[0] & 4) != 0};
    size_t step = data[1] ? data[1] : size;
    data += 2;
    size -= 2;
    lv_buf_pool_t pool;
    lv_buf_pool_init(&pool, 8);
    size_t sent = 0;
    lv_tls_conn_t *t =
        lv_tls_conn_new(lv_tls_set_listener(cfg->tls, 0), true, &pool, sink, &sent, &budget);
    if (!t)
        abort();
    int hs = 0;
    for (size_t off = 0; off < size && hs >= 0;) {
        size_t n = size - off < step ? size - off : step;
        lv_chunk_t *ch = lv_chunk_acquire(&pool, n);
        memcpy(ch->data, data + off, n);
        lv_tls_conn_input(t, ch, ch->data, n);
        lv_chunk_release(ch);
        off += n;
        hs = lv_tls_conn_handshake(t);
        if (hs == 1) {
            char buf[4096];
            ssize_t r;
            while ((r = lv_tls_conn_read(t, buf, sizeof buf)) > 0) {
                uv_buf_t echo = uv_buf_init(buf, (unsigned)r);
                lv_tls_conn_write(t, &echo, 1);
            }
            if (r < 0)
                break;
        }
    }
    if (hs < 0 && lv_tls_conn_failure(t) == LV_TLS_FAIL_NONE)
        __builtin_trap(); /* a failure always says why */
    lv_tls_conn_shutdown(t);
    lv_tls_conn_free(t);
    if (pool.chunks_live != 0)
        __builtin_trap(); /* the glue gave back every buffer */
    lv_buf_pool_fini(&pool);
    return 0;
}
