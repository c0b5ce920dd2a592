/* fuzz/http_fuzz.h: the driver shared by fuzz_request.c and fuzz_response.c: feeds the input
 * in pieces, checks invariants of every head and body, and that the split never matters.
 * Include after defining FZ_KIND and declaring fz_check_head(o, h) (the kind's own checks). */
#ifndef LV_FUZZ_HTTP_FUZZ_H
#define LV_FUZZ_HTTP_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz_owner fz_owner_t;
static void fz_check_head(const fz_owner_t *o, const lv_http_head_t *h);

struct fz_owner {
    lv_http_parser_t *p;
    uint64_t body;
    uint64_t body_total;
    int heads;
    int dones;
    bool error;
};

static void fz_check_span(const lv_http_parser_t *p, lv_str_t s)
{
    if (s.len == 0)
        return;
    const char *lo = p->block, *hi = p->block + LV_HTTP_MAX_HEADERS * sizeof(lv_http_header_t) +
                                     p->limits.header_bytes;
    /* spans live in the head block, except the static "/" of an absolute-form target */
    if ((s.p < lo || s.p + s.len > hi) && !(s.len == 1 && s.p[0] == '/'))
        __builtin_trap();
}

/* Checks every head must pass whatever its kind; then the target's own fz_check_head. */
static int fz_head(void *owner, lv_http_head_t *h)
{
    fz_owner_t *o = owner;
    o->heads++;
    if (h->n_headers > LV_HTTP_MAX_HEADERS)
        __builtin_trap();
    if (h->chunked && h->content_length >= 0)
        __builtin_trap(); /* CL + TE must have been refused */
    fz_check_head(o, h);
    fz_check_span(o->p, h->target);
    fz_check_span(o->p, h->path);
    fz_check_span(o->p, h->host);
    fz_check_span(o->p, h->connection);
    for (uint32_t i = 0; i < h->n_headers; i++) {
        fz_check_span(o->p, h->headers[i].name);
        fz_check_span(o->p, h->headers[i].value);
        if (h->headers[i].name.len == 0)
            __builtin_trap();
        for (size_t k = 0; k < h->headers[i].value.len; k++) {
            unsigned char c = (unsigned char)h->headers[i].value.p[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                __builtin_trap();
        }
    }
    return 0;
}

static int fz_body(void *owner, const char *d, size_t len)
{
    fz_owner_t *o = owner;
    (void)d;
    o->body += len;
    o->body_total += len;
    if (o->p->limits.body_bytes && o->body > o->p->limits.body_bytes)
        __builtin_trap();
    return 0;
}

static int fz_done(void *owner)
{
    fz_owner_t *o = owner;
    o->dones++;
    o->body = 0;
    return 0;
}

/* Parses the whole input in pieces of `step` bytes (0 = at once); mode bits choose
 * release_head between messages and (responses) HEAD expectations. Fills *out. */
static void fz_run(const uint8_t *data, size_t size, unsigned step, unsigned mode, fz_owner_t *out)
{
    static const lv_http_parser_cbs_t cbs = {fz_head, fz_body, fz_done};
    static const lv_http_limits_t limits = {2048, 512, 4096};
    lv_http_parser_t p;
    fz_owner_t o = {&p, 0, 0, 0, 0, false};
    lv_http_parser_init(&p, FZ_KIND, &limits, &cbs, &o);
    if (FZ_KIND == LV_HTTP_RESPONSE)
        lv_http_parser_expect_no_body(&p, (mode & 2) != 0);
    size_t off = 0;
    lv_http_result_t r = LV_HTTP_NEED_MORE;
    while (off < size) {
        size_t n = step ? LV_MIN((size_t)step, size - off) : size - off;
        /* feed through a heap copy so ASan sees reads past the piece */
        char *piece = malloc(n ? n : 1);
        memcpy(piece, data + off, n);
        size_t used = 0;
        r = lv_http_parser_feed(&p, piece, n, &used);
        free(piece);
        if (used > n)
            __builtin_trap();
        off += used;
        if (r == LV_HTTP_ERROR) {
            if (p.error_status < 400 || p.error_reason == NULL)
                __builtin_trap();
            break;
        }
        if (r == LV_HTTP_PAUSED) {
            if (mode & 1)
                lv_http_parser_release_head(&p); /* idle between messages */
            lv_http_parser_resume(&p);
            if (FZ_KIND == LV_HTTP_RESPONSE)
                lv_http_parser_expect_no_body(&p, (mode & 4) != 0);
        }
    }
    if (r != LV_HTTP_ERROR)
        (void)lv_http_parser_finish(&p);
    o.error = r == LV_HTTP_ERROR || p.error_status != 0;
    o.p = NULL;
    *out = o;
    lv_http_parser_fini(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned step = data[0];
    fz_owner_t a, b;
    fz_run(data + 1, size - 1, step, step, &a);
    /* Split invariance: how bytes arrive must not change what the parser decides (the
     * head scanner and llhttp keep state across feed() calls). */
    fz_run(data + 1, size - 1, 0, step, &b);
    if (a.error != b.error || a.dones != b.dones || a.heads != b.heads ||
        a.body_total != b.body_total)
        __builtin_trap();
    return 0;
}

#endif
