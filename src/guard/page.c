/* guard/page.c: builds each service's refusal pages and fallback response once per config, and
 * renders refusals into caller buffers. Owns the page sets (immutable after lv_page_set_new).
 * Never allocates while rendering; never decides who is refused. Any thread reads. */
#include "guard/page.h"
#include "guard/retry_cookie.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/errors.h"

enum { SEG_TEXT, SEG_RETRY_AFTER, SEG_SERVICE, SEG_STATUS };

/* One piece of a cut template: literal bytes, or a placeholder. */
typedef struct seg {
    int kind;
    size_t off, len; /* SEG_TEXT: bytes of tmpl */
} seg_t;

struct lv_page_set {
    char *tmpl; /* the wait page template (a copy) */
    seg_t *segs;
    size_t n_segs;
    size_t text_len;                     /* literal bytes of the template */
    size_t n_retry, n_service, n_status; /* placeholder counts */
    char *service_html;                  /* the service name, HTML-escaped */
    size_t service_html_len;
    char *fallback[2]; /* [0] keep-alive, [1] close */
    size_t fallback_len[2];
    size_t fallback_head_len[2];
};

static const struct {
    const char *name;
    size_t len;
    int kind;
} placeholders[] = {
    {"{{retry_after}}", 15, SEG_RETRY_AFTER},
    {"{{service}}", 11, SEG_SERVICE},
    {"{{status}}", 10, SEG_STATUS},
};

/* Longest headers of a refusal: status line, Retry-After (10 digits), Cache-Control,
 * Set-Cookie (a value of at most REFUSAL_COOKIE_MAX, Max-Age of 10 digits), Content-Type,
 * Content-Length (20 digits), Connection: keep-alive, blank line. */
#define REFUSAL_HEAD_MAX 384
#define REFUSAL_COOKIE_MAX 64
#define U32_DIGITS_MAX 10

static void add_seg(lv_page_set_t *ps, size_t *cap, int kind, size_t off, size_t len)
{
    if (kind == SEG_TEXT && len == 0)
        return;
    if (ps->n_segs == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        seg_t *segs = realloc(ps->segs, *cap * sizeof(*segs));
        LV_ASSERT(segs != NULL);
        ps->segs = segs;
    }
    ps->segs[ps->n_segs++] = (seg_t){.kind = kind, .off = off, .len = len};
}

/* Cuts the template at its placeholders; unknown "{{...}}" stay literal text. */
static void cut_template(lv_page_set_t *ps, const char *html, size_t len)
{
    size_t cap = 0, start = 0, i = 0;
    ps->tmpl = lv_xstrndup(html, len);
    while (i < len) {
        const char *brace = memchr(ps->tmpl + i, '{', len - i);
        if (!brace)
            break;
        i = (size_t)(brace - ps->tmpl);
        int kind = -1;
        size_t plen = 0;
        for (size_t k = 0; k < LV_ARRAY_LEN(placeholders) && kind < 0; k++)
            if (len - i >= placeholders[k].len &&
                memcmp(ps->tmpl + i, placeholders[k].name, placeholders[k].len) == 0) {
                kind = placeholders[k].kind;
                plen = placeholders[k].len;
            }
        if (kind < 0) {
            i++;
            continue;
        }
        add_seg(ps, &cap, SEG_TEXT, start, i - start);
        ps->text_len += i - start;
        add_seg(ps, &cap, kind, 0, 0);
        ps->n_retry += kind == SEG_RETRY_AFTER;
        ps->n_service += kind == SEG_SERVICE;
        ps->n_status += kind == SEG_STATUS;
        i += plen;
        start = i;
    }
    add_seg(ps, &cap, SEG_TEXT, start, len - start);
    ps->text_len += len - start;
}

static char *html_escape(const char *s, size_t *out_len)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"' || *p == '\'') ? 5 : 1;
    char *out = lv_xmalloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&'    ? "&amp;"
                          : *p == '<'  ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '"'  ? "&#34;"
                          : *p == '\'' ? "&#39;"
                                       : NULL;
        if (rep) {
            size_t rl = strlen(rep);
            memcpy(o, rep, rl);
            o += rl;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *out_len = n;
    return out;
}

/* Builds one form of the fallback response into a heap buffer. */
static void build_fallback(lv_page_set_t *ps, int form, const lv_service_conf_t *svc,
                           uint32_t retry_after_s)
{
    const lv_guard_conf_t *g = &svc->guard;
    const char *conn = form ? "close" : "keep-alive";
    static const char off_body[] =
        "This feature is switched off for now; please try again later.\n";
    const char *body = NULL, *ctype = g->fallback_content_type;
    size_t body_len = 0;
    char head[512 + 2048];
    int hl;

    if (!ctype || !ctype[0])
        ctype = "text/plain; charset=utf-8";
    if (g->fallback_redirect) {
        hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 302 Found\r\nLocation: %s\r\nCache-Control: no-store\r\n"
                      "Content-Length: 0\r\nConnection: %s\r\n\r\n",
                      g->fallback_redirect, conn);
    } else if (g->fallback_body || g->fallback_file_body) {
        int st = (int)g->fallback_status;
        if (g->fallback_body) {
            body = g->fallback_body;
            body_len = strlen(body);
        } else {
            body = g->fallback_file_body;
            body_len = g->fallback_file_len;
        }
        if (st == 204 || st == 304) { /* no body, no Content-Length (RFC 9110 8.6) */
            body_len = 0;
            hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: %s\r\n\r\n", st,
                          lv_http_reason(st), conn);
        } else {
            hl = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                          st, lv_http_reason(st), ctype, body_len, conn);
        }
    } else {
        body = off_body;
        body_len = sizeof(off_body) - 1;
        hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %u\r\n"
                      "Cache-Control: no-store\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                      retry_after_s ? retry_after_s : 1, body_len, conn);
    }
    /* The loader bounds redirect (2048) and content type (256), so the head always fits. */
    LV_ASSERT(hl > 0 && (size_t)hl < sizeof(head));
    char *out = lv_xmalloc((size_t)hl + body_len + 1);
    memcpy(out, head, (size_t)hl);
    if (body_len)
        memcpy(out + hl, body, body_len);
    out[(size_t)hl + body_len] = '\0';
    ps->fallback[form] = out;
    ps->fallback_len[form] = (size_t)hl + body_len;
    ps->fallback_head_len[form] = (size_t)hl;
}

lv_page_set_t *lv_page_set_new(const lv_service_conf_t *svc, uint32_t retry_after_s)
{
    lv_page_set_t *ps = lv_xcalloc(1, sizeof(*ps));
    const char *html = svc->guard.wait_page_html;
    if (html)
        cut_template(ps, html, strlen(html));
    else
        cut_template(ps, lv_page_builtin_wait_html, lv_page_builtin_wait_html_len);
    ps->service_html = html_escape(svc->name ? svc->name : "", &ps->service_html_len);
    build_fallback(ps, 0, svc, retry_after_s);
    build_fallback(ps, 1, svc, retry_after_s);
    return ps;
}

void lv_page_set_free(lv_page_set_t *ps)
{
    if (!ps)
        return;
    free(ps->tmpl);
    free(ps->segs);
    free(ps->service_html);
    free(ps->fallback[0]);
    free(ps->fallback[1]);
    free(ps);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* True when the parameters of one media range (after its type) carry q=0 (or 0.0, 0.00 ...). */
static bool q_is_zero(const char *p, const char *end)
{
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi ? semi : end;
        while (p < pe && is_ows(*p))
            p++;
        if (pe - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            const char *v = p + 2, *ve = pe;
            while (ve > v && is_ows(ve[-1]))
                ve--;
            if (v == ve || *v != '0')
                return false;
            for (v++; v < ve; v++)
                if (*v != '.' && *v != '0')
                    return false;
            return true;
        }
        p = semi ? semi + 1 : end;
    }
    return false;
}

bool lv_page_wants_html(lv_str_t accept)
{
    const char *p = accept.p, *end = accept.p ? accept.p + accept.len : NULL;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        while (p < ie && is_ows(*p))
            p++;
        const char *te = p;
        while (te < ie && *te != ';' && !is_ows(*te))
            te++;
        if (te - p == 9 && strncasecmp(p, "text/html", 9) == 0) {
            const char *params = te;
            while (params < ie && *params != ';')
                params++;
            return !q_is_zero(params, ie);
        }
        p = comma ? comma + 1 : end;
    }
    return false;
}

/* A bounded writer: once it overflows, it stops writing and remembers it. */
typedef struct out {
    char *p;
    size_t left;
    bool full;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->full || n > o->left) {
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
    o->left -= n;
}

size_t lv_page_refusal_max_len(const lv_page_set_t *ps)
{
    size_t html = ps->text_len + ps->n_retry * U32_DIGITS_MAX + ps->n_status * 3 +
                  ps->n_service * ps->service_html_len;
    return REFUSAL_HEAD_MAX + LV_MAX(html, (size_t)128);
}

ssize_t lv_page_render_refusal(const lv_page_set_t *ps, const lv_page_refusal_t *r, char *buf,
                               size_t size)
{
    const char *reason;
    if (r->status == 503)
        reason = "Service Unavailable";
    else if (r->status == 429)
        reason = "Too Many Requests";
    else
        return LV_EINVAL;
    uint32_t secs = r->retry_after_s ? r->retry_after_s : 1;
    char n[16], st[8], text[128], head[REFUSAL_HEAD_MAX], cookie[REFUSAL_COOKIE_MAX + 96];
    int cl = 0;
    if (r->cookie.len && r->cookie.len <= REFUSAL_COOKIE_MAX)
        cl = snprintf(cookie, sizeof(cookie),
                      "Set-Cookie: " LV_RETRY_COOKIE_NAME
                      "=%.*s; Max-Age=%u; Path=/; HttpOnly; SameSite=Lax\r\n",
                      (int)r->cookie.len, r->cookie.p, r->cookie_max_age_s);
    size_t nl = (size_t)snprintf(n, sizeof(n), "%u", secs);
    size_t sl = (size_t)snprintf(st, sizeof(st), "%d", r->status);
    size_t body_len, tl = 0;
    if (r->html) {
        body_len = ps->text_len + ps->n_retry * nl + ps->n_status * sl +
                   ps->n_service * ps->service_html_len;
    } else {
        tl = (size_t)snprintf(text, sizeof(text),
                              r->status == 429
                                  ? "Too many retries: please wait %u seconds before retrying.\n"
                                  : "The service is busy: please retry in %u seconds.\n",
                              secs);
        body_len = tl;
    }
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nRetry-After: %u\r\nCache-Control: no-store\r\n%.*s"
                      "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n",
                      r->status, reason, secs, cl, cookie,
                      r->html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8", body_len,
                      r->close ? "close" : "keep-alive");
    LV_ASSERT(hl > 0 && (size_t)hl < sizeof(head));

    out_t o = {.p = buf, .left = size, .full = false};
    put(&o, head, (size_t)hl);
    if (!r->head && !r->html) {
        put(&o, text, tl);
    } else if (!r->head) {
        for (size_t i = 0; i < ps->n_segs && !o.full; i++) {
            const seg_t *s = &ps->segs[i];
            switch (s->kind) {
            case SEG_TEXT:
                put(&o, ps->tmpl + s->off, s->len);
                break;
            case SEG_RETRY_AFTER:
                put(&o, n, nl);
                break;
            case SEG_SERVICE:
                put(&o, ps->service_html, ps->service_html_len);
                break;
            case SEG_STATUS:
                put(&o, st, sl);
                break;
            default:
                LV_UNREACHABLE("segment kinds are the four above");
            }
        }
    }
    if (o.full)
        return LV_ELIMIT;
    return (ssize_t)(size - o.left);
}

lv_str_t lv_page_fallback(const lv_page_set_t *ps, bool close, bool head)
{
    int form = close ? 1 : 0;
    return (lv_str_t){ps->fallback[form],
                      head ? ps->fallback_head_len[form] : ps->fallback_len[form]};
}
