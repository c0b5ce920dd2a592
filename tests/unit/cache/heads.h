/* tests/unit/cache/heads.h: real HTTP heads for the cache's unit tests, parsed from raw text by
 * the real parser (http/parser.h), valid until the test's teardown (msgs_free). */
#ifndef LV_TEST_CACHE_HEADS_H
#define LV_TEST_CACHE_HEADS_H

#include <string.h>

#include "http/parser.h"

typedef struct msg {
    lv_http_parser_t p;
    lv_http_head_t *head;
    char raw[4096];
} msg_t;

static msg_t g_msgs[16];
static int g_n_msgs;

static inline int msg_on_head(void *owner, lv_http_head_t *h)
{
    ((msg_t *)owner)->head = h;
    return 0;
}

static const lv_http_parser_cbs_t msg_cbs = {msg_on_head, NULL, NULL};
static const lv_http_limits_t msg_limits = {8192, 4096, 1 << 20};

/* Parses text (lines end in "\n"; the head's final empty line is added) and returns the head,
 * valid until the test's teardown, or NULL when the parser refuses it. */
static inline const lv_http_head_t *try_parse_head(lv_http_kind_t kind, const char *text)
{
    assert_true(g_n_msgs < (int)LV_ARRAY_LEN(g_msgs));
    msg_t *m = &g_msgs[g_n_msgs++];
    size_t n = 0;
    for (const char *s = text; *s; s++) {
        assert_true(n + 4 < sizeof(m->raw));
        if (*s == '\n')
            m->raw[n++] = '\r';
        m->raw[n++] = *s;
    }
    memcpy(m->raw + n, "\r\n", 2);
    n += 2;
    m->head = NULL;
    lv_http_parser_init(&m->p, kind, &msg_limits, &msg_cbs, m);
    size_t used = 0;
    if (lv_http_parser_feed(&m->p, m->raw, n, &used) == LV_HTTP_ERROR)
        return NULL;
    return m->head;
}

/* The same, for heads the test expects to parse. */
static inline const lv_http_head_t *parse_head(lv_http_kind_t kind, const char *text)
{
    const lv_http_head_t *h = try_parse_head(kind, text);
    if (!h) {
        const lv_http_parser_t *p = &g_msgs[g_n_msgs - 1].p;
        print_error("parse error %d (%s) in:\n%s\n", p->error_status, p->error_reason, text);
    }
    assert_non_null(h);
    return h;
}
#define REQ(text) parse_head(LV_HTTP_REQUEST, text)
#define RESP(text) parse_head(LV_HTTP_RESPONSE, text)

static inline int msgs_free(void **state)
{
    (void)state;
    for (int i = 0; i < g_n_msgs; i++)
        lv_http_parser_fini(&g_msgs[i].p);
    g_n_msgs = 0;
    return 0;
}

static inline lv_str_t S(const char *s)
{
    return (lv_str_t){s, strlen(s)};
}

#endif
