/* http/parser.h: the strict HTTP/1.1 message parser (llhttp underneath) for requests from
 * clients and responses from upstreams: heads copied into a bounded block, bodies as spans. */
#ifndef LV_HTTP_PARSER_H
#define LV_HTTP_PARSER_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

#define LV_HTTP_MAX_HEADERS 100

typedef struct lv_http_header {
    lv_str_t name;
    lv_str_t value;
} lv_http_header_t;

/* A parsed message head. All spans point into the parser's head block and stay valid
 * until lv_http_parser_release_head() or the next message's first byte is fed. */
typedef struct lv_http_head {
    uint8_t method;        /* llhttp_method_t (requests) */
    uint8_t version_major; /* 1 */
    uint8_t version_minor; /* 0 or 1 */
    uint16_t status;       /* responses */
    lv_str_t target;       /* requests: the request-target as sent */
    lv_str_t path;   /* requests: target up to '?' (origin-form) or the path of absolute-form */
    lv_str_t reason; /* responses */
    lv_http_header_t *headers;
    uint32_t n_headers;

    /* Derived while parsing, so that callers never rescan the headers: */
    lv_str_t host;          /* Host header value, or the authority of an absolute-form target
                               (requests; required for HTTP/1.1) */
    bool absolute_form;     /* requests: the target is absolute-form ("http://host/path") */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked (as the final coding) */
    bool te_other;          /* responses: a Transfer-Encoding whose final coding is not chunked
                               (gzip, an unknown one): the body ends when the connection does */
    bool keep_alive;        /* the connection may carry another message after this one */
    bool expect_continue;   /* Expect: 100-continue */
    bool has_body;          /* a body follows (content_length > 0, or chunked, or until EOF) */
    lv_str_t connection;    /* raw Connection header value, tokens name extra hop-by-hop headers */
    lv_str_t request_id;    /* X-Request-Id if the client sent one */
} lv_http_head_t;

typedef enum { LV_HTTP_REQUEST = 0, LV_HTTP_RESPONSE = 1 } lv_http_kind_t;

typedef struct lv_http_limits {
    uint32_t header_bytes; /* request line + all headers (the head block size); over -> 431 */
    uint32_t target_bytes; /* over -> 414 */
    uint64_t body_bytes;   /* 0 = unlimited; over -> 413 (checked against Content-Length up
                              front, and while chunked data flows) */
} lv_http_limits_t;

/* Callbacks into the owner (a client or upstream connection). Each returns 0 to go on, or
 * an HTTP status >= 400 to stop parsing with that error (the parser reports it as an error). */
typedef struct lv_http_parser_cbs {
    int (*on_head)(void *owner, lv_http_head_t *head);
    int (*on_body)(void *owner, const char *data, size_t len); /* decoded (de-chunked) bytes */
    int (*on_done)(void *owner); /* message complete; the parser pauses right after it */
} lv_http_parser_cbs_t;

typedef enum {
    LV_HTTP_NEED_MORE = 0, /* all bytes consumed; feed more */
    LV_HTTP_PAUSED = 1,    /* a message ended: *consumed <= len; call resume, then feed the rest */
    LV_HTTP_ERROR = 2,     /* bad input: see error_status and error_reason; the parser is dead */
} lv_http_result_t;

typedef struct lv_http_parser {
    llhttp_t ll;
    const lv_http_parser_cbs_t *cbs;
    void *owner;
    lv_http_limits_t limits;
    lv_http_kind_t kind;

    /* Head block: allocated when a message starts, kept while the connection is busy,
     * freed by lv_http_parser_release_head() (so that idle connections hold no block). */
    char *block;
    uint32_t block_used;
    lv_http_head_t head;
    uint8_t state; /* internal: which span is being accumulated */
    bool head_done;
    bool interim;       /* responses: the last head was an interim (1xx) response */
    bool no_body;       /* responses: the request was HEAD (or a 204/304 is expected) */
    bool may_switch;    /* responses: a 101 is a final response without body (an upgrade) */
    uint64_t body_seen; /* bytes of body so far in this message */

    uint16_t error_status;    /* 400, 413, 414, 431 (requests) or 502 (responses) */
    const char *error_reason; /* static string: "both Content-Length and Transfer-Encoding" */

    /* Internal to parser.c (do not touch): the raw head-line scanner that rejects what
     * llhttp lets through (bare LF, obs-fold, NUL, extra spaces in the request line), and
     * per-message bookkeeping. */
    uint8_t phase;          /* idle, head, body */
    uint8_t scan_flags;     /* scanner: done, last byte CR */
    uint8_t seen;           /* singleton headers seen in this head (Host, CL, TE) */
    uint8_t rl_spaces;      /* spaces in the request line so far */
    uint32_t scan_lines;    /* non-empty head lines completed */
    uint32_t scan_bytes;    /* raw head bytes so far (bounded by limits.header_bytes) */
    uint32_t line_bytes;    /* bytes of the current head line */
    uint32_t span_off;      /* block offset where the span being copied starts */
    uint32_t trailer_bytes; /* raw trailer bytes (bounded by limits.header_bytes) */
    const char *scan_end;   /* where the scanner saw the head end in the buffer being fed */
} lv_http_parser_t;

/* Sets up a parser (caller's storage). limits are copied. Never fails. */
void lv_http_parser_init(lv_http_parser_t *p, lv_http_kind_t kind, const lv_http_limits_t *limits,
                         const lv_http_parser_cbs_t *cbs, void *owner);
/* Sets up a parser that was set up before, for a new message stream, like lv_http_parser_init;
 * keeps its head block when it is the size the new limits need (a pooled parser). */
void lv_http_parser_reset(lv_http_parser_t *p, lv_http_kind_t kind, const lv_http_limits_t *limits,
                          const lv_http_parser_cbs_t *cbs, void *owner);
/* Frees the head block. The parser can be re-inited afterwards. */
void lv_http_parser_fini(lv_http_parser_t *p);

/* Feeds bytes. Callbacks run inside. Sets *consumed to the bytes used (all of them unless
 * the result is PAUSED or ERROR). */
lv_http_result_t lv_http_parser_feed(lv_http_parser_t *p, const char *data, size_t len,
                                     size_t *consumed);
/* After PAUSED: lets the next message be parsed. */
void lv_http_parser_resume(lv_http_parser_t *p);
/* The peer closed. Returns PAUSED if that ended a message (a response read until EOF: on_done
 * has run), NEED_MORE if no message was in progress (nothing of it had arrived), ERROR if a
 * message was cut short. */
lv_http_result_t lv_http_parser_finish(lv_http_parser_t *p);
/* Responses only: the next response answers a HEAD request, so it has no body. */
void lv_http_parser_expect_no_body(lv_http_parser_t *p, bool no_body);
/* Responses only: the request asked for an upgrade, so a 101 is its final response (no body;
 * the bytes after its head are the new protocol's, left unconsumed when the parser pauses).
 * Otherwise a 101 is a malformed response (502). */
void lv_http_parser_expect_switch(lv_http_parser_t *p, bool may_switch);
/* After PAUSED: true if the message that ended was an interim (1xx) response, which a final
 * response follows on the same connection. */
bool lv_http_parser_interim(const lv_http_parser_t *p);
/* True between the first byte of a message and the end of its head. */
bool lv_http_parser_in_head(const lv_http_parser_t *p);
/* Gives the head block back (heads must no longer be used). Call when going idle. */
void lv_http_parser_release_head(lv_http_parser_t *p);

/* The value of the first header line named `name` (any case), or an empty span with .p NULL. */
lv_str_t lv_http_header_value(const lv_http_head_t *h, const char *name, size_t name_len);
/* The value of cookie `name` (exact case) in the Cookie lines (the first one found; OWS around
 * it trimmed), or an empty span with .p NULL. */
lv_str_t lv_http_cookie_value(const lv_http_head_t *h, const char *name, size_t name_len);
/* Whether v is a valid Host value (RFC 9112 3.2): uri-host [":" port], or empty. */
bool lv_http_host_valid(lv_str_t v);
/* Case-insensitive equality of two spans (header names). */
bool lv_http_name_eq(lv_str_t a, lv_str_t b);

/* Case-insensitive comparison of a span with a lowercase literal. */
bool lv_http_str_ieq(lv_str_t s, const char *lower_literal, size_t lit_len);
#define LV_HTTP_IEQ(s, lit) lv_http_str_ieq((s), (lit), sizeof(lit) - 1)

/* Hop-by-hop rules (RFC 9110 7.6.1): true for Connection, Keep-Alive, Proxy-Connection,
 * TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization, and any
 * name listed in the given Connection header value. */
bool lv_http_is_hop_by_hop(lv_str_t name, lv_str_t connection_value);
/* Whether a comma-separated header value (Connection, Upgrade) has the element `token`
 * (compared case-insensitively, optional whitespace around it). */
bool lv_http_list_has(lv_str_t list, lv_str_t token);

/* Method name for llhttp_method_t (e.g. "GET"), or "OTHER". */
const char *lv_http_method_name(uint8_t method);
/* Safe-to-retry methods (RFC 9110 9.2.2): GET, HEAD, OPTIONS, TRACE, PUT, DELETE. */
bool lv_http_method_idempotent(uint8_t method);
/* Safe methods (RFC 9110 9.2.1): GET, HEAD, OPTIONS, TRACE. */
bool lv_http_method_safe(uint8_t method);

#endif
