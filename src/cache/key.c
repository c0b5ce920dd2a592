/* cache/key.c: builds cache keys from requests and admin URLs (layout in cache/key.h). Pure
 * functions plus one purge helper; any thread. */
#include "cache/key.h"

#include <string.h>

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int lv_cache_key_primary(char *buf, size_t cap, lv_str_t host, lv_str_t target)
{
    /* The first '/' must end the host, or "Host: a/x" + "/y" and "Host: a" + "/x/y" (or an
     * absolute-form target) would share a key: such requests are not cached (LV_EINVAL). */
    if (!target.len || target.p[0] != '/' || (host.len && memchr(host.p, '/', host.len)))
        return LV_EINVAL;
    if (host.len + target.len > cap)
        return LV_ELIMIT;
    for (size_t i = 0; i < host.len; i++)
        buf[i] = lower(host.p[i]);
    if (target.len)
        memcpy(buf + host.len, target.p, target.len);
    return (int)(host.len + target.len);
}

/* Appends every line of header `name`, joined by "," as RFC 9110 5.3 combines them (so the key
 * holds whatever line an origin would read). Returns the new length or LV_ELIMIT. */
static int append_header_lines(char *buf, size_t len, size_t cap, const lv_http_head_t *h,
                               const char *name, size_t name_len)
{
    bool first = true;
    for (uint32_t i = 0; i < h->n_headers; i++) {
        if (h->headers[i].name.len != name_len ||
            !lv_http_str_ieq(h->headers[i].name, name, name_len))
            continue;
        lv_str_t v = h->headers[i].value;
        if (len + v.len + 1 > cap)
            return LV_ELIMIT;
        if (!first)
            buf[len++] = ',';
        if (v.len)
            memcpy(buf + len, v.p, v.len);
        len += v.len;
        first = false;
    }
    return (int)len;
}

int lv_cache_key_extra(char *buf, size_t len, size_t cap, const lv_cache_key_part_t *parts,
                       size_t n_parts, const lv_http_head_t *req)
{
    if (!n_parts)
        return (int)len;
    if (len + 1 > cap)
        return LV_ELIMIT;
    buf[len++] = LV_CACHE_KEY_EXTRA;
    for (size_t i = 0; i < n_parts; i++) {
        const lv_cache_key_part_t *pt = &parts[i];
        if (pt->kind == LV_CACHE_KEY_HEADER) {
            int n = append_header_lines(buf, len, cap, req, pt->name, pt->name_len);
            if (n < 0)
                return n;
            len = (size_t)n;
        } else {
            lv_str_t v = lv_http_cookie_value(req, pt->name, pt->name_len);
            if (len + v.len > cap)
                return LV_ELIMIT;
            if (v.len)
                memcpy(buf + len, v.p, v.len);
            len += v.len;
        }
        if (len + 1 > cap)
            return LV_ELIMIT;
        buf[len++] = LV_CACHE_KEY_EXTRA;
    }
    return (int)len;
}

int lv_cache_key_from_url(char *buf, size_t cap, const char *url, size_t len)
{
    const char *p = url, *end = url + len;
    if (len >= 7 && lv_http_str_ieq((lv_str_t){p, 7}, "http://", 7)) /* any case (RFC 3986) */
        p += 7;
    else if (len >= 8 && lv_http_str_ieq((lv_str_t){p, 8}, "https://", 8))
        p += 8;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || slash == p)
        return LV_EINVAL;
    for (const char *q = p; q < end; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return LV_EINVAL;
    lv_str_t host = {p, (size_t)(slash - p)}, target = {slash, (size_t)(end - slash)};
    return lv_cache_key_primary(buf, cap, host, target);
}

size_t lv_cache_key_purge_url(lv_cache_store_t *s, const char *key, size_t len)
{
    char tmp[LV_CACHE_KEY_MAX + 1];
    if (len > LV_CACHE_KEY_MAX)
        return 0;
    size_t n = lv_cache_store_purge_key(s, key, len) == 0 ? 1 : 0;
    memcpy(tmp, key, len);
    tmp[len] = LV_CACHE_KEY_EXTRA;
    n += lv_cache_store_purge_prefix(s, tmp, len + 1);
    tmp[len] = LV_CACHE_KEY_VARY;
    n += lv_cache_store_purge_prefix(s, tmp, len + 1);
    return n;
}
