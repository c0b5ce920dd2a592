/* fuzz/fuzz_join.c: libFuzzer target for the F5 join signature (src/proxy/join_sig.c). The
 * input is two request heads split at the first "\n--\n" (and a client identity byte): both
 * are parsed by the real request parser; when the signatures are equal the requests must be
 * the same in everything a join compares (client, host, target, every end-to-end header line
 * in order), and when those are the same the signatures must be equal. No answer may reach a
 * client whose request differed from the one it was made for. */
#include "proxy/join_sig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    lv_http_head_t *head;
} fz_msg_t;

static int fz_on_head(void *owner, lv_http_head_t *h)
{
    ((fz_msg_t *)owner)->head = h;
    return 0;
}

static const lv_http_parser_cbs_t fz_cbs = {fz_on_head, NULL, NULL};
static const lv_http_limits_t fz_limits = {8192, 4096, 0};

static const lv_http_head_t *fz_parse(lv_http_parser_t *p, fz_msg_t *m, const char *s, size_t n)
{
    m->head = NULL;
    lv_http_parser_init(p, LV_HTTP_REQUEST, &fz_limits, &fz_cbs, m);
    size_t used = 0;
    if (lv_http_parser_feed(p, s, n, &used) != LV_HTTP_PAUSED)
        return NULL;
    return m->head;
}

static bool span_eq(lv_str_t a, lv_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The same in everything a join compares. */
static bool same_request(const lv_http_head_t *a, lv_str_t wa, const lv_http_head_t *b, lv_str_t wb)
{
    if (!span_eq(wa, wb) || !span_eq(a->host, b->host) || !span_eq(a->target, b->target))
        return false;
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < a->n_headers && lv_join_ignores(a->headers[i].name, a->connection))
            i++;
        while (j < b->n_headers && lv_join_ignores(b->headers[j].name, b->connection))
            j++;
        if (i == a->n_headers || j == b->n_headers)
            return i == a->n_headers && j == b->n_headers;
        if (!span_eq(a->headers[i].name, b->headers[j].name) ||
            !span_eq(a->headers[i].value, b->headers[j].value))
            return false;
        i++;
        j++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* Identities as the guard has them: a peer address, or a header or cookie value. */
    static const char *const whos[] = {"10.0.0.1", "10.0.0.2", "", "alice", "alic"};
    lv_str_t wa = {whos[data[0] % 5], strlen(whos[data[0] % 5])};
    lv_str_t wb = {whos[(data[0] / 5) % 5], strlen(whos[(data[0] / 5) % 5])};
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    const char *sep = memmem(s, n, "\n--\n", 4);
    if (!sep)
        return 0;
    lv_http_parser_t pa, pb;
    fz_msg_t ma, mb;
    const lv_http_head_t *a = fz_parse(&pa, &ma, s, (size_t)(sep - s));
    const lv_http_head_t *b = fz_parse(&pb, &mb, sep + 4, n - (size_t)(sep - s) - 4);
    if (a && b) {
        static char sa[65536], sb[65536];
        size_t la = lv_join_signature(a, wa, sa, sizeof sa);
        size_t lb = lv_join_signature(b, wb, sb, sizeof sb);
        if (!la || !lb)
            __builtin_trap(); /* heads are bounded far below the buffers */
        bool sig_eq = la == lb && memcmp(sa, sb, la) == 0;
        if (sig_eq != same_request(a, wa, b, wb))
            __builtin_trap();
    }
    lv_http_parser_fini(&pa);
    lv_http_parser_fini(&pb);
    return 0;
}
