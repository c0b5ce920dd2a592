/* http/parser.c: strict HTTP/1.1 parsing of client requests and upstream responses on top of
 * llhttp (no lenient flags). Owns each parser's head block. Runs on the owning connection's
 * worker loop only; no shared state. */
#include "http/parser.h"

#include <ctype.h>

#include <string.h>

/* Why a scanner next to llhttp: llhttp 8.1 (strict or loose build) accepts bare LF line
 * endings, obs-fold, extra spaces in the request line, and (loose) a CR followed by any byte
 * as a line end. Those are request-smuggling vectors, so one cheap pass per head line (memchr
 * for LF and CR, spaces on the request line) rejects them before llhttp sees the bytes. It
 * also counts raw head bytes, which bounds the head block: copied spans are never longer
 * than the raw head. NUL and other CTLs are refused by llhttp itself in the method, target,
 * version, names and values (unit tests check it on the loose build); the reason phrase is
 * checked here. */

enum { LV_PH_IDLE = 0, LV_PH_HEAD = 1, LV_PH_BODY = 2 };
enum { LV_SP_NONE = 0, LV_SP_URL, LV_SP_STATUS, LV_SP_FIELD, LV_SP_NAME_DONE, LV_SP_VALUE };
enum { LV_SC_DONE = 1, LV_SC_CR = 2 };
enum { LV_SEEN_HOST = 1, LV_SEEN_CL = 2, LV_SEEN_TE = 4, LV_SEEN_CONN = 8 };

#define LV_HTTP_DEFAULT_HEADER_BYTES 8192u
#define LV_HTTP_HDR_ARRAY_BYTES (LV_HTTP_MAX_HEADERS * sizeof(lv_http_header_t))

/* RFC 9110 tchar: the bytes allowed in a header name. */
static const uint8_t lv_http_tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static lv_http_parser_t *lv_http_of(llhttp_t *ll)
{
    return LV_CONTAINER_OF(ll, lv_http_parser_t, ll);
}

static char *lv_http_bytes(lv_http_parser_t *p)
{
    return p->block + LV_HTTP_HDR_ARRAY_BYTES;
}

/* Records the first error (requests get req_status, responses always 502) and returns -1 so
 * that llhttp stops. */
static int lv_http_fail(lv_http_parser_t *p, int req_status, const char *reason)
{
    if (p->error_status == 0) {
        p->error_status = (uint16_t)(p->kind == LV_HTTP_RESPONSE ? 502 : req_status);
        p->error_reason = reason;
    }
    return -1;
}

/* An owner callback refused: its status is kept as is. */
static int lv_http_fail_owner(lv_http_parser_t *p, int status)
{
    if (p->error_status == 0) {
        p->error_status = (uint16_t)(status >= 400 && status <= 599 ? status : 500);
        p->error_reason = "refused by the connection owner";
    }
    return -1;
}

bool lv_http_str_ieq(lv_str_t s, const char *lower_literal, size_t lit_len)
{
    if (s.len != lit_len)
        return false;
    for (size_t i = 0; i < lit_len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lower_literal[i])
            return false;
    }
    return true;
}

static lv_str_t lv_http_trim(lv_str_t s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* ---- the head-line scanner ---- */

static void lv_http_scan_reset(lv_http_parser_t *p)
{
    p->scan_flags = 0;
    p->rl_spaces = 0;
    p->scan_lines = 0;
    p->scan_bytes = 0;
    p->line_bytes = 0;
    p->scan_end = NULL;
}

/* Scans raw head bytes up to the empty line that ends the head (then sets LV_SC_DONE and
 * scan_end). Returns 0 or -1 (error recorded). */
static int lv_http_scan(lv_http_parser_t *p, const char *data, size_t len)
{
    const char *s = data, *end = data + len;
    bool req = p->kind == LV_HTTP_REQUEST;

    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *seg_end = nl ? nl : end;
        size_t seg = (size_t)(seg_end - s);
        size_t raw = seg + (nl != NULL);
        bool start_line = p->scan_lines == 0;

        if (raw > p->limits.header_bytes - p->scan_bytes)
            return lv_http_fail(p, req && start_line ? 414 : 431,
                                start_line ? "request line too long" : "head too large");
        p->scan_bytes += (uint32_t)raw;
        if (seg) {
            /* A CR is only allowed right before LF: loose llhttp ends the head at "\r" plus
             * any byte, where a backend may not (found by fuzz_request). */
            if ((p->scan_flags & LV_SC_CR) || memchr(s, '\r', seg - 1))
                return lv_http_fail(p, 400, "CR without LF in head");
            if (p->line_bytes == 0 && (s[0] == ' ' || s[0] == '\t'))
                return lv_http_fail(p, 400,
                                    start_line ? "whitespace before start line"
                                               : "obs-fold (line starts with whitespace)");
            if (req && start_line) {
                if (memchr(s, '\t', seg))
                    return lv_http_fail(p, 400, "tab in request line");
                for (const char *q = s; (q = memchr(q, ' ', (size_t)(seg_end - q))) != NULL; q++) {
                    if (++p->rl_spaces > 2)
                        return lv_http_fail(p, 400, "extra spaces in request line");
                }
            }
            p->line_bytes += (uint32_t)seg;
            if (s[seg - 1] == '\r')
                p->scan_flags |= LV_SC_CR;
            else
                p->scan_flags &= (uint8_t)~LV_SC_CR;
        }
        if (!nl)
            break;

        bool cr = (p->scan_flags & LV_SC_CR) != 0;
        if (!cr) /* llhttp takes bare LF at line ends of the start line and the head end */
            return lv_http_fail(p, 400, "bare LF line ending");
        uint32_t content = p->line_bytes - (cr ? 1u : 0u);
        p->line_bytes = 0;
        p->scan_flags &= (uint8_t)~LV_SC_CR;
        s = nl + 1;
        if (content == 0) {
            if (!start_line) {
                p->scan_flags |= LV_SC_DONE;
                p->scan_end = s;
                return 0;
            }
            continue; /* an empty line before the start line: llhttp skips it too */
        }
        if (req && start_line && p->rl_spaces != 2)
            return lv_http_fail(p, 400, "malformed request line");
        p->scan_lines++;
    }
    return 0;
}

/* ---- llhttp callbacks ---- */

static int lv_http_on_message_begin(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);

    if (p->block == NULL) {
        p->block = malloc(LV_HTTP_HDR_ARRAY_BYTES + p->limits.header_bytes);
        if (p->block == NULL)
            return lv_http_fail(p, 500, "out of memory for the head block");
    }
    memset(&p->head, 0, sizeof(p->head));
    p->head.headers = (lv_http_header_t *)(void *)p->block;
    p->head.content_length = -1;
    p->block_used = 0;
    p->state = LV_SP_NONE;
    p->head_done = false;
    p->seen = 0;
    p->body_seen = 0;
    p->trailer_bytes = 0;
    p->phase = LV_PH_HEAD;
    return 0;
}

static int lv_http_name_done(lv_http_parser_t *p);

/* Appends one piece of a head span (target, reason, name or value) to the head block. */
static int lv_http_span(lv_http_parser_t *p, uint8_t kind, const char *at, size_t len)
{
    if (p->head_done) { /* trailers: counted and bounded, never kept */
        if (len > p->limits.header_bytes - p->trailer_bytes)
            return lv_http_fail(p, 431, "trailers too large");
        p->trailer_bytes += (uint32_t)len;
        return 0;
    }
    if ((p->scan_flags & LV_SC_DONE) && at >= p->scan_end)
        return lv_http_fail(p, 400, "head framing mismatch");
    if (p->block == NULL)
        return lv_http_fail(p, 500, "head block released mid-head");
    if (kind != p->state) {
        if (kind == LV_SP_VALUE && lv_http_name_done(p) < 0)
            return -1;
        if (kind == LV_SP_FIELD && p->head.n_headers >= LV_HTTP_MAX_HEADERS)
            return lv_http_fail(p, 431, "too many header fields");
        p->state = kind;
        p->span_off = p->block_used;
    }
    if (kind == LV_SP_URL && len > p->limits.target_bytes - (p->block_used - p->span_off))
        return lv_http_fail(p, 414, "request target too long");
    if (len > p->limits.header_bytes - p->block_used)
        return lv_http_fail(p, 431, "head too large");
    memcpy(lv_http_bytes(p) + p->block_used, at, len);
    p->block_used += (uint32_t)len;
    return 0;
}

/* The span being accumulated, or an empty one if llhttp delivered no bytes for it. */
static lv_str_t lv_http_take_span(lv_http_parser_t *p, uint8_t kind)
{
    lv_str_t s = {lv_http_bytes(p) + p->block_used, 0};
    if (p->state == kind) {
        s.p = lv_http_bytes(p) + p->span_off;
        s.len = p->block_used - p->span_off;
    }
    return s;
}

static int lv_http_on_url(llhttp_t *ll, const char *at, size_t len)
{
    return lv_http_span(lv_http_of(ll), LV_SP_URL, at, len);
}

static int lv_http_on_status(llhttp_t *ll, const char *at, size_t len)
{
    return lv_http_span(lv_http_of(ll), LV_SP_STATUS, at, len);
}

static int lv_http_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    return lv_http_span(lv_http_of(ll), LV_SP_FIELD, at, len);
}

static int lv_http_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    return lv_http_span(lv_http_of(ll), LV_SP_VALUE, at, len);
}

static int lv_http_on_url_complete(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);
    if (p->head_done || p->block == NULL)
        return 0;
    lv_str_t t = lv_http_take_span(p, LV_SP_URL);
    p->state = LV_SP_NONE;
    if (t.len == 0)
        return lv_http_fail(p, 400, "missing request target");
    /* llhttp's loose build lets CTLs, tabs and 8-bit bytes through; targets are short. */
    for (size_t i = 0; i < t.len; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c <= 0x20 || c >= 0x7f)
            return lv_http_fail(p, 400, "invalid character in request target");
    }
    p->head.target = t;
    return 0;
}

static int lv_http_on_status_complete(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);
    if (p->head_done || p->block == NULL)
        return 0;
    lv_str_t r = lv_http_take_span(p, LV_SP_STATUS);
    p->state = LV_SP_NONE;
    /* llhttp lets NUL and CTLs through in the reason phrase (strict build too). */
    for (size_t i = 0; i < r.len; i++) {
        unsigned char c = (unsigned char)r.p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return lv_http_fail(p, 502, "control character in reason phrase");
    }
    p->head.reason = r;
    return 0;
}

/* Ends the header name being copied (called at its value's first byte or end). */
static int lv_http_name_done(lv_http_parser_t *p)
{
    lv_str_t name = lv_http_take_span(p, LV_SP_FIELD);
    if (name.len == 0)
        return lv_http_fail(p, 400, "empty header name");
    /* Strict llhttp checks this; the loose build lets "Transfer-Encoding : x" through. */
    for (size_t i = 0; i < name.len; i++) {
        if (!lv_http_tchar[(unsigned char)name.p[i]])
            return lv_http_fail(p, 400, "invalid character in header name");
    }
    if (p->head.n_headers >= LV_HTTP_MAX_HEADERS)
        return lv_http_fail(p, 431, "too many header fields");
    p->head.headers[p->head.n_headers].name = name;
    p->state = LV_SP_NAME_DONE;
    return 0;
}

/* Content-Length: 1*DIGIT, nothing else, no overflow. Returns -1 if invalid. */
static int64_t lv_http_parse_length(lv_str_t v)
{
    if (v.len == 0)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < '0' || c > '9')
            return -1;
        if (n > (INT64_MAX - (c - '0')) / 10)
            return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

static int lv_http_header_rules(lv_http_parser_t *p, lv_str_t name, lv_str_t value)
{
    lv_http_head_t *h = &p->head;
    bool req = p->kind == LV_HTTP_REQUEST;

    switch (name.len) { /* by length first: most headers match no case */
    case 4:
        if (req && LV_HTTP_IEQ(name, "host")) {
            if (p->seen & LV_SEEN_HOST)
                return lv_http_fail(p, 400, "more than one Host");
            p->seen |= LV_SEEN_HOST;
            if (!lv_http_host_valid(value))
                return lv_http_fail(p, 400, "invalid Host");
            if (!h->absolute_form) /* the target's authority, if any, stays the host */
                h->host = value;
        }
        break;
    case 6:
        if (req && LV_HTTP_IEQ(name, "expect")) {
            if (!LV_HTTP_IEQ(value, "100-continue"))
                return lv_http_fail(p, 417, "unsupported Expect");
            /* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 clients. */
            h->expect_continue = p->ll.http_minor >= 1;
        }
        break;
    case 10:
        if (LV_HTTP_IEQ(name, "connection")) {
            if (p->seen & LV_SEEN_CONN) { /* merge: every token names a hop-by-hop field */
                size_t n = h->connection.len + 2 + value.len;
                if (n > p->limits.header_bytes - p->block_used)
                    return lv_http_fail(p, 431, "head too large");
                char *dst = lv_http_bytes(p) + p->block_used;
                memcpy(dst, h->connection.p, h->connection.len);
                memcpy(dst + h->connection.len, ", ", 2);
                memcpy(dst + h->connection.len + 2, value.p, value.len);
                p->block_used += (uint32_t)n;
                h->connection = (lv_str_t){dst, n};
            } else {
                h->connection = value;
            }
            p->seen |= LV_SEEN_CONN;
        }
        break;
    case 12:
        if (LV_HTTP_IEQ(name, "x-request-id"))
            h->request_id = value;
        break;
    case 14:
        if (LV_HTTP_IEQ(name, "content-length")) {
            if (p->seen & LV_SEEN_CL)
                return lv_http_fail(p, 400, "more than one Content-Length");
            if (p->seen & LV_SEEN_TE)
                return lv_http_fail(p, 400, "both Content-Length and Transfer-Encoding");
            int64_t n = lv_http_parse_length(value);
            if (n < 0)
                return lv_http_fail(p, 400, "invalid Content-Length");
            p->seen |= LV_SEEN_CL;
            h->content_length = n;
        }
        break;
    case 17:
        if (LV_HTTP_IEQ(name, "transfer-encoding")) {
            if (p->seen & LV_SEEN_CL)
                return lv_http_fail(p, 400, "both Content-Length and Transfer-Encoding");
            if (req) {
                if (p->seen & LV_SEEN_TE)
                    return lv_http_fail(p, 400, "more than one Transfer-Encoding");
                if (!LV_HTTP_IEQ(value, "chunked"))
                    return lv_http_fail(p, 400, "Transfer-Encoding other than chunked");
                if (p->ll.http_major != 1 || p->ll.http_minor != 1)
                    return lv_http_fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
            }
            p->seen |= LV_SEEN_TE;
        }
        break;
    default:
        break;
    }
    return 0;
}

static int lv_http_on_header_value_complete(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);
    if (p->head_done || p->block == NULL)
        return 0;
    if (p->state != LV_SP_VALUE && lv_http_name_done(p) < 0)
        return -1;
    lv_http_header_t *hdr = &p->head.headers[p->head.n_headers];
    hdr->value = lv_http_trim(lv_http_take_span(p, LV_SP_VALUE));
    p->head.n_headers++;
    p->state = LV_SP_NONE;
    return lv_http_header_rules(p, hdr->name, hdr->value);
}

static lv_str_t lv_http_until_query(const char *s, size_t len)
{
    const char *q = memchr(s, '?', len);
    size_t n = q ? (size_t)(q - s) : len;
    const char *f = memchr(s, '#', n);
    return (lv_str_t){s, f ? (size_t)(f - s) : n};
}

/* Request-target forms (RFC 9112 3.2): origin, absolute (http/https only), asterisk
 * (OPTIONS only). Authority-form means CONNECT, which is refused before this. */
static int lv_http_target_rules(lv_http_parser_t *p)
{
    lv_http_head_t *h = &p->head;
    lv_str_t t = h->target;

    if (t.len == 0)
        return lv_http_fail(p, 400, "missing request target");
    if (t.p[0] == '/') {
        h->path = lv_http_until_query(t.p, t.len);
        return 0;
    }
    if (t.len == 1 && t.p[0] == '*') {
        if (h->method != HTTP_OPTIONS)
            return lv_http_fail(p, 400, "asterisk target outside OPTIONS");
        h->path = t;
        return 0;
    }
    size_t skip = 0;
    if (t.len > 7 && LV_HTTP_IEQ(((lv_str_t){t.p, 7}), "http://"))
        skip = 7;
    else if (t.len > 8 && LV_HTTP_IEQ(((lv_str_t){t.p, 8}), "https://"))
        skip = 8;
    if (skip == 0)
        return lv_http_fail(p, 400, "invalid request target");
    const char *a = t.p + skip, *end = t.p + t.len, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
        e++;
    if (e == a || memchr(a, '@', (size_t)(e - a)) ||
        !lv_http_host_valid((lv_str_t){a, (size_t)(e - a)}))
        return lv_http_fail(p, 400, "invalid authority in request target");
    /* RFC 9112 3.2.2: the target's authority replaces the Host header. */
    h->host = (lv_str_t){a, (size_t)(e - a)};
    h->absolute_form = true;
    h->path = (e < end && *e == '/') ? lv_http_until_query(e, (size_t)(end - e)) : LV_STR("/");
    return 0;
}

static int lv_http_on_headers_complete(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);
    lv_http_head_t *h = &p->head;
    bool req = p->kind == LV_HTTP_REQUEST;

    if (p->block == NULL)
        return lv_http_fail(p, 500, "head block released mid-head");
    if (!(p->scan_flags & LV_SC_DONE))
        return lv_http_fail(p, 400, "head framing mismatch");
    h->version_major = ll->http_major;
    h->version_minor = ll->http_minor;
    if (ll->http_major != 1 || ll->http_minor > 1)
        return lv_http_fail(p, 505, "unsupported HTTP version");

    bool skip = false;
    if (req) {
        h->method = ll->method;
        if (ll->method == HTTP_CONNECT || ll->method == HTTP_PRI)
            return lv_http_fail(p, 501, "method not supported by a reverse proxy");
        if (lv_http_target_rules(p) < 0)
            return -1;
        if (ll->http_minor == 1 && !(p->seen & LV_SEEN_HOST))
            return lv_http_fail(p, 400, "HTTP/1.1 request without Host");
    } else {
        h->status = ll->status_code;
        if (h->status < 100 || h->status > 599)
            return lv_http_fail(p, 502, "invalid status code");
        bool switched = h->status == 101 && p->may_switch;
        if (h->status == 101 && !switched)
            return lv_http_fail(p, 502, "protocol switch not supported");
        p->interim = h->status < 200 && !switched;
        skip = h->status < 200 || h->status == 204 || h->status == 304 || p->no_body;
        if (h->status >= 200 || switched) {
            p->no_body = false; /* expect_no_body covers one final response */
            p->may_switch = false;
        }
    }
    if ((p->seen & (LV_SEEN_CL | LV_SEEN_TE)) == (LV_SEEN_CL | LV_SEEN_TE))
        return lv_http_fail(p, 400, "both Content-Length and Transfer-Encoding");

    h->chunked = (ll->flags & F_CHUNKED) != 0;
    bool te = (ll->flags & F_TRANSFER_ENCODING) != 0;
    h->te_other = !req && te && !h->chunked;
    bool until_eof = !req && !skip && (h->te_other || (!te && h->content_length < 0));
    if (ll->http_minor == 1)
        h->keep_alive = !(ll->flags & F_CONNECTION_CLOSE);
    else
        h->keep_alive = (ll->flags & F_CONNECTION_KEEP_ALIVE) != 0;
    if (until_eof)
        h->keep_alive = false;
    h->has_body = !skip && (h->chunked || until_eof || h->content_length > 0);
    if (p->limits.body_bytes && h->content_length > 0 && !skip &&
        (uint64_t)h->content_length > p->limits.body_bytes)
        return lv_http_fail(p, 413, "Content-Length over the body limit");

    /* No protocol switch: Upgrade and Connection are hop-by-hop and never forwarded, so the
     * bytes after this message are HTTP again. */
    ll->upgrade = 0;
    p->head_done = true;
    p->phase = LV_PH_BODY;
    p->state = LV_SP_NONE;

    if (p->cbs && p->cbs->on_head) {
        int rc = p->cbs->on_head(p->owner, h);
        if (rc != 0)
            return lv_http_fail_owner(p, rc);
    }
    return skip ? 1 : 0;
}

static int lv_http_on_body(llhttp_t *ll, const char *at, size_t len)
{
    lv_http_parser_t *p = lv_http_of(ll);
    /* Cross-check with the scanner: a non-chunked body starts right where it saw the head
     * end (scan_end is the buffer start if the head ended in an earlier feed). */
    if (p->body_seen == 0 && !p->head.chunked && at != p->scan_end)
        return lv_http_fail(p, 400, "head framing mismatch");
    p->body_seen += len;
    if (p->limits.body_bytes && p->body_seen > p->limits.body_bytes)
        return lv_http_fail(p, 413, "body over the body limit");
    if (p->cbs && p->cbs->on_body) {
        int rc = p->cbs->on_body(p->owner, at, len);
        if (rc != 0)
            return lv_http_fail_owner(p, rc);
    }
    return 0;
}

static int lv_http_on_message_complete(llhttp_t *ll)
{
    lv_http_parser_t *p = lv_http_of(ll);
    p->phase = LV_PH_IDLE;
    if (p->cbs && p->cbs->on_done) {
        int rc = p->cbs->on_done(p->owner);
        if (rc != 0)
            return lv_http_fail_owner(p, rc);
    }
    return HPE_PAUSED; /* pipelined bytes stay unconsumed until resume */
}

/* RFC 3986 reg-name bytes: unreserved and sub-delims ('%' is checked apart). */
static const uint8_t lv_http_regname[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1,
    ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool lv_http_host_valid(lv_str_t v)
{
    /* RFC 9112 3.2 / RFC 3986 3.2.2: IP-literal / IPv4address / reg-name, then ":" *DIGIT.
     * Empty is allowed (a target without authority). */
    const unsigned char *p = (const unsigned char *)v.p;
    size_t i = 0, n = v.len;
    if (n && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++)
            if (!(isxdigit(p[i]) || p[i] == ':' || p[i] == '.' || p[i] == 'v' || p[i] == 'V'))
                return false;
        if (i >= n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && p[i] != ':'; i++) {
            if (lv_http_regname[p[i]])
                continue;
            if (p[i] != '%' || i + 2 >= n || !isxdigit(p[i + 1]) || !isxdigit(p[i + 2]))
                return false;
            i += 2;
        }
    }
    if (i == n)
        return true;
    if (p[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* ---- public API ---- */

/* One immutable callback table shared by every parser (it is ~200 bytes: keeping it out of
 * each connection keeps an idle connection under 1 KiB). */
static const llhttp_settings_t lv_http_settings = {
    .on_message_begin = lv_http_on_message_begin,
    .on_url = lv_http_on_url,
    .on_status = lv_http_on_status,
    .on_header_field = lv_http_on_header_field,
    .on_header_value = lv_http_on_header_value,
    .on_url_complete = lv_http_on_url_complete,
    .on_status_complete = lv_http_on_status_complete,
    .on_header_value_complete = lv_http_on_header_value_complete,
    .on_headers_complete = lv_http_on_headers_complete,
    .on_body = lv_http_on_body,
    .on_message_complete = lv_http_on_message_complete,
};

void lv_http_parser_init(lv_http_parser_t *p, lv_http_kind_t kind, const lv_http_limits_t *limits,
                         const lv_http_parser_cbs_t *cbs, void *owner)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->cbs = cbs;
    p->owner = owner;
    if (limits)
        p->limits = *limits;
    if (p->limits.header_bytes == 0)
        p->limits.header_bytes = LV_HTTP_DEFAULT_HEADER_BYTES;
    if (p->limits.target_bytes == 0 || p->limits.target_bytes > p->limits.header_bytes)
        p->limits.target_bytes = p->limits.header_bytes;
    p->head.content_length = -1;

    llhttp_init(&p->ll, kind == LV_HTTP_RESPONSE ? HTTP_RESPONSE : HTTP_REQUEST, &lv_http_settings);
    p->ll.data = p;
}

void lv_http_parser_reset(lv_http_parser_t *p, lv_http_kind_t kind, const lv_http_limits_t *limits,
                          const lv_http_parser_cbs_t *cbs, void *owner)
{
    char *block = p->block;
    uint32_t block_bytes = p->limits.header_bytes; /* what it was allocated for */
    lv_http_parser_init(p, kind, limits, cbs, owner);
    if (block && block_bytes == p->limits.header_bytes)
        p->block = block;
    else
        free(block);
}

void lv_http_parser_fini(lv_http_parser_t *p)
{
    free(p->block);
    p->block = NULL;
    p->block_used = 0;
    memset(&p->head, 0, sizeof(p->head));
    p->head.content_length = -1;
}

lv_http_result_t lv_http_parser_feed(lv_http_parser_t *p, const char *data, size_t len,
                                     size_t *consumed)
{
    *consumed = 0;
    if (p->error_status)
        return LV_HTTP_ERROR;
    if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
        return LV_HTTP_PAUSED;
    if (!(p->scan_flags & LV_SC_DONE)) {
        if (lv_http_scan(p, data, len) < 0)
            return LV_HTTP_ERROR;
    } else {
        p->scan_end = data; /* the head ended in an earlier feed */
    }

    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (e == HPE_OK) {
        *consumed = len;
        return LV_HTTP_NEED_MORE;
    }
    const char *pos = llhttp_get_error_pos(&p->ll);
    if (pos && pos >= data && pos <= data + len)
        *consumed = (size_t)(pos - data);
    if (e == HPE_PAUSED && p->error_status == 0) {
        /* A message without body bytes must end where the scanner saw its head end. */
        if (p->body_seen == 0 && !p->head.chunked && pos != p->scan_end) {
            lv_http_fail(p, 400, "head framing mismatch");
            return LV_HTTP_ERROR;
        }
        return LV_HTTP_PAUSED;
    }
    if (p->error_status == 0) {
        bool h2 = e == HPE_PAUSED_H2_UPGRADE; /* "PRI * HTTP/2.0": prior-knowledge HTTP/2 */
        p->error_status = p->kind == LV_HTTP_RESPONSE ? 502 : h2 ? 505 : 400;
        p->error_reason = llhttp_get_error_reason(&p->ll);
        if (p->error_reason == NULL)
            p->error_reason = llhttp_errno_name(e);
    }
    return LV_HTTP_ERROR;
}

void lv_http_parser_resume(lv_http_parser_t *p)
{
    if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
        llhttp_resume(&p->ll);
    lv_http_scan_reset(p);
}

lv_http_result_t lv_http_parser_finish(lv_http_parser_t *p)
{
    if (p->error_status)
        return LV_HTTP_ERROR;
    /* Between messages (llhttp may still be paused, or resumed with stale finish state). */
    if (p->phase == LV_PH_IDLE || llhttp_get_errno(&p->ll) == HPE_PAUSED)
        return LV_HTTP_NEED_MORE;
    llhttp_errno_t e = llhttp_finish(&p->ll);
    if (p->error_status)
        return LV_HTTP_ERROR;
    if ((e == HPE_OK || e == HPE_PAUSED) && p->phase == LV_PH_IDLE)
        return LV_HTTP_PAUSED; /* on_message_complete ran: the body was delimited by the close */
    lv_http_fail(p, 400, "message cut short by the peer");
    return LV_HTTP_ERROR;
}

void lv_http_parser_expect_no_body(lv_http_parser_t *p, bool no_body)
{
    p->no_body = no_body;
}

void lv_http_parser_expect_switch(lv_http_parser_t *p, bool may_switch)
{
    p->may_switch = may_switch;
}

bool lv_http_parser_interim(const lv_http_parser_t *p)
{
    return p->interim;
}

bool lv_http_parser_in_head(const lv_http_parser_t *p)
{
    return p->phase == LV_PH_HEAD;
}

void lv_http_parser_release_head(lv_http_parser_t *p)
{
    free(p->block);
    p->block = NULL;
    p->block_used = 0;
    memset(&p->head, 0, sizeof(p->head));
    p->head.content_length = -1;
}
