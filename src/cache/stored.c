/* cache/stored.c: the stored form of a response (head bytes and metadata blob), its parsing
 * back, the 304 merge and tag extraction (layout in cache/stored.h). */
#include "cache/stored.h"

#include <stddef.h>
#include <string.h>

#include "core/out.h"

#define LV_STORED_MAGIC 0x4c564331u /* "LVC1" */

static bool never_stored_field(lv_str_t name, lv_str_t connection)
{
    return lv_http_is_hop_by_hop(name, connection) || LV_HTTP_IEQ(name, "content-length") ||
           LV_HTTP_IEQ(name, "transfer-encoding") || LV_HTTP_IEQ(name, "age");
}

int lv_cache_stored_head(const lv_http_head_t *resp, uint64_t now_s, bool add_via, char *buf,
                         size_t cap, lv_cache_stored_t *out)
{
    lv_out_t o = {buf, 0, cap};
    char status[13] = "HTTP/1.1 000 ";
    status[9] = (char)('0' + resp->status / 100 % 10);
    status[10] = (char)('0' + resp->status / 10 % 10);
    status[11] = (char)('0' + resp->status % 10);
    lv_out_put(&o, status, sizeof status);
    lv_out_put(&o, resp->reason.p, resp->reason.len);
    LV_OUT_LIT(&o, "\r\n");
    bool date_seen = false;
    out->etag_off = out->etag_len = out->lm_off = out->lm_len = 0;
    /* Several Via lines are one list (RFC 9110 5.3): levee goes at its end, on the last line. */
    uint32_t last_via = UINT32_MAX;
    for (uint32_t i = 0; add_via && i < resp->n_headers; i++)
        if (LV_HTTP_IEQ(resp->headers[i].name, "via") &&
            !never_stored_field(resp->headers[i].name, resp->connection))
            last_via = i;
    for (uint32_t i = 0; i < resp->n_headers; i++) {
        const lv_http_header_t *hd = &resp->headers[i];
        if (never_stored_field(hd->name, resp->connection))
            continue;
        lv_out_put(&o, hd->name.p, hd->name.len);
        LV_OUT_LIT(&o, ": ");
        size_t value_off = o.len;
        lv_out_put(&o, hd->value.p, hd->value.len);
        if (LV_HTTP_IEQ(hd->name, "etag") && !out->etag_len) {
            out->etag_off = (uint32_t)value_off;
            out->etag_len = (uint32_t)hd->value.len;
        } else if (LV_HTTP_IEQ(hd->name, "last-modified") && !out->lm_len) {
            out->lm_off = (uint32_t)value_off;
            out->lm_len = (uint32_t)hd->value.len;
        } else if (LV_HTTP_IEQ(hd->name, "date")) {
            date_seen = true;
        } else if (i == last_via) {
            LV_OUT_LIT(&o, ", 1.1 levee");
        }
        LV_OUT_LIT(&o, "\r\n");
    }
    if (add_via && last_via == UINT32_MAX)
        LV_OUT_LIT(&o, "Via: 1.1 levee\r\n");
    if (!date_seen) {
        char date[LV_CACHE_DATE_LEN + 1];
        if (lv_cache_date_format(now_s, date, sizeof date) == LV_CACHE_DATE_LEN) {
            LV_OUT_LIT(&o, "Date: ");
            lv_out_put(&o, date, LV_CACHE_DATE_LEN);
            LV_OUT_LIT(&o, "\r\n");
        }
    }
    if (o.len > o.cap || o.len > UINT32_MAX)
        return LV_ELIMIT;
    return (int)o.len;
}

int lv_cache_stored_encode(const lv_cache_stored_t *st, char *buf, size_t cap)
{
    lv_cache_stored_t copy = *st;
    uint32_t magic = LV_STORED_MAGIC;
    memset(&copy.m.etag, 0, sizeof copy.m.etag);
    memset(&copy.m.last_modified, 0, sizeof copy.m.last_modified);
    memset(copy.m.vary, 0, sizeof copy.m.vary);
    size_t names = 0;
    for (uint16_t i = 0; i < st->m.n_vary && i < LV_CACHE_VARY_MAX; i++)
        names += st->m.vary[i].len + 1;
    copy.vary_bytes = (uint32_t)names;
    size_t need = sizeof magic + sizeof copy + names;
    if (need > cap)
        return LV_ELIMIT;
    memcpy(buf, &magic, sizeof magic);
    memcpy(buf + sizeof magic, &copy, sizeof copy);
    char *p = buf + sizeof magic + sizeof copy;
    for (uint16_t i = 0; i < st->m.n_vary && i < LV_CACHE_VARY_MAX; i++) {
        memcpy(p, st->m.vary[i].p, st->m.vary[i].len);
        p += st->m.vary[i].len;
        *p++ = '\n';
    }
    return (int)need;
}

int lv_cache_stored_decode(lv_str_t head, lv_str_t meta, lv_cache_stored_t *out)
{
    uint32_t magic;
    if (meta.len < sizeof magic + sizeof *out)
        return LV_EINVAL;
    memcpy(&magic, meta.p, sizeof magic);
    /* The blob may come from outside (the second tier): a bool must hold 0 or 1. */
    if (magic != LV_STORED_MAGIC ||
        (uint8_t)meta.p[sizeof magic + offsetof(lv_cache_stored_t, marker)] > 1)
        return LV_EINVAL;
    memcpy(out, meta.p + sizeof magic, sizeof *out);
    if ((uint64_t)out->etag_off + out->etag_len > head.len ||
        (uint64_t)out->lm_off + out->lm_len > head.len ||
        sizeof magic + sizeof *out + out->vary_bytes != meta.len ||
        out->m.n_vary > LV_CACHE_VARY_MAX)
        return LV_EINVAL;
    out->m.etag = (lv_str_t){head.p + out->etag_off, out->etag_len};
    out->m.last_modified = (lv_str_t){head.p + out->lm_off, out->lm_len};
    const char *p = meta.p + sizeof magic + sizeof *out, *end = meta.p + meta.len;
    for (uint16_t i = 0; i < out->m.n_vary; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return LV_EINVAL;
        out->m.vary[i] = (lv_str_t){p, (size_t)(nl - p)};
        p = nl + 1;
    }
    return 0;
}

int lv_cache_stored_parse(lv_str_t head, lv_http_head_t *out, lv_http_header_t *headers, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->headers = headers;
    out->content_length = -1;
    const char *p = head.p, *end = head.p + head.len;
    const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol || eol - p < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
        return LV_EINVAL;
    out->version_major = out->version_minor = 1;
    out->status = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    out->reason = (lv_str_t){p + 13, eol - p > 13 ? (size_t)(eol - p - 13) : 0};
    for (p = eol + 2; p < end; p = eol + 2) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *colon = eol ? memchr(p, ':', (size_t)(eol - p)) : NULL;
        if (!colon || colon + 2 > eol || out->n_headers >= cap)
            return LV_EINVAL;
        headers[out->n_headers++] =
            (lv_http_header_t){{p, (size_t)(colon - p)}, {colon + 2, (size_t)(eol - colon - 2)}};
    }
    return 0;
}

int lv_cache_stored_merge(const lv_http_head_t *stored, const lv_http_head_t *nm,
                          lv_http_head_t *out, lv_http_header_t *headers, size_t cap)
{
    *out = *stored;
    out->headers = headers;
    out->n_headers = 0;
    out->connection = (lv_str_t){NULL, 0};
    for (uint32_t i = 0; i < stored->n_headers; i++) {
        bool replaced = false;
        lv_str_t name = stored->headers[i].name;
        for (uint32_t j = 0; j < nm->n_headers && !replaced; j++)
            replaced = !never_stored_field(nm->headers[j].name, nm->connection) &&
                       lv_http_name_eq(nm->headers[j].name, name);
        if (replaced)
            continue;
        if (out->n_headers >= cap)
            return LV_ELIMIT;
        headers[out->n_headers++] = stored->headers[i];
    }
    for (uint32_t j = 0; j < nm->n_headers; j++) {
        if (never_stored_field(nm->headers[j].name, nm->connection))
            continue;
        if (out->n_headers >= cap)
            return LV_ELIMIT;
        headers[out->n_headers++] = nm->headers[j];
    }
    return 0;
}

/* Adds the members of value split at any byte of seps to tags. */
static size_t split_tags(lv_str_t value, const char *seps, lv_str_t *tags, size_t n, size_t cap)
{
    const char *p = value.p, *end = value.p + value.len;
    while (p < end && n < cap) {
        while (p < end && (strchr(seps, *p) || *p == ' ' || *p == '\t'))
            p++;
        const char *start = p;
        while (p < end && !strchr(seps, *p) && *p != ' ' && *p != '\t')
            p++;
        if (p > start)
            tags[n++] = (lv_str_t){start, (size_t)(p - start)};
    }
    return n;
}

size_t lv_cache_stored_tags(const lv_http_head_t *resp, lv_str_t *tags, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < resp->n_headers; i++) {
        const lv_http_header_t *hd = &resp->headers[i];
        if (LV_HTTP_IEQ(hd->name, "surrogate-key"))
            n = split_tags(hd->value, " ", tags, n, cap);
        else if (LV_HTTP_IEQ(hd->name, "cache-tag"))
            n = split_tags(hd->value, ",", tags, n, cap);
    }
    return n;
}
