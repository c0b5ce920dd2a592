/* http/headers.c: header and method rules shared by the request and response paths
 * (header and cookie lookup, hop-by-hop fields, method names, safety, idempotency). Pure functions;
 * no state; any thread. */
#include "http/parser.h"

#include <string.h>

/* Case-insensitive equality of two spans (neither is a literal). */
static bool lv_http_ieq2(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

bool lv_http_name_eq(lv_str_t a, lv_str_t b)
{
    return a.len == b.len && lv_http_ieq2(a.p, b.p, a.len);
}

lv_str_t lv_http_header_value(const lv_http_head_t *h, const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < h->n_headers; i++)
        if (h->headers[i].name.len == name_len &&
            lv_http_ieq2(h->headers[i].name.p, name, name_len))
            return h->headers[i].value;
    return (lv_str_t){NULL, 0};
}

lv_str_t lv_http_cookie_value(const lv_http_head_t *req, const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < req->n_headers; i++) {
        const lv_http_header_t *hd = &req->headers[i];
        if (!LV_HTTP_IEQ(hd->name, "cookie"))
            continue;
        const char *p = hd->value.p, *end = p + hd->value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
                p++;
            const char *pair = p;
            while (p < end && *p != ';')
                p++;
            const char *eq = memchr(pair, '=', (size_t)(p - pair));
            if (eq && (size_t)(eq - pair) == name_len && memcmp(pair, name, name_len) == 0) {
                const char *v = eq + 1, *ve = p;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                return (lv_str_t){v, (size_t)(ve - v)};
            }
        }
    }
    return (lv_str_t){NULL, 0};
}

static bool lv_http_hop_fixed(lv_str_t n)
{
    switch (n.len) { /* by length first: most names match no case */
    case 2:
        return LV_HTTP_IEQ(n, "te");
    case 7:
        return LV_HTTP_IEQ(n, "trailer") || LV_HTTP_IEQ(n, "upgrade");
    case 10:
        return LV_HTTP_IEQ(n, "connection") || LV_HTTP_IEQ(n, "keep-alive");
    case 16:
        return LV_HTTP_IEQ(n, "proxy-connection");
    case 17:
        return LV_HTTP_IEQ(n, "transfer-encoding");
    case 18:
        return LV_HTTP_IEQ(n, "proxy-authenticate");
    case 19:
        return LV_HTTP_IEQ(n, "proxy-authorization");
    default:
        return false;
    }
}

bool lv_http_list_has(lv_str_t list, lv_str_t token)
{
    if (!list.len)
        return false; /* no header (its span may be NULL: no arithmetic on it) */
    /* #element: comma-separated tokens with optional whitespace. */
    const char *s = list.p, *end = s + list.len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *a = s;
        while (a < e && (*a == ' ' || *a == '\t'))
            a++;
        const char *b = e;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == token.len && token.len > 0 && lv_http_ieq2(a, token.p, token.len))
            return true;
        if (!comma)
            break;
        s = comma + 1;
    }
    return false;
}

bool lv_http_is_hop_by_hop(lv_str_t name, lv_str_t connection_value)
{
    return lv_http_hop_fixed(name) || lv_http_list_has(connection_value, name);
}

const char *lv_http_method_name(uint8_t method)
{
#define LV_HTTP_METHOD_CASE(num, name, string)                                                     \
    case HTTP_##name:                                                                              \
        return #string;
    switch (method) {
        HTTP_ALL_METHOD_MAP(LV_HTTP_METHOD_CASE)
    default:
        return "OTHER";
    }
#undef LV_HTTP_METHOD_CASE
}

bool lv_http_method_safe(uint8_t method)
{
    return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
           method == HTTP_TRACE;
}

bool lv_http_method_idempotent(uint8_t method)
{
    switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
        return true;
    default:
        return false;
    }
}
