/* proxy/join_sig.c: builds the request signature that F5 joins compare (see join_sig.h). A
 * pure function of a parsed head; no allocation; any thread. */
#include "proxy/join_sig.h"

#include "core/out.h"

bool lv_join_ignores(lv_str_t name, lv_str_t connection)
{
    return lv_http_is_hop_by_hop(name, connection) || LV_HTTP_IEQ(name, "cache-control") ||
           LV_HTTP_IEQ(name, "pragma");
}

size_t lv_join_signature_bound(const lv_http_head_t *h, size_t who_len)
{
    size_t n = who_len + h->host.len + h->target.len + 8;
    for (uint32_t i = 0; i < h->n_headers; i++)
        n += h->headers[i].name.len + h->headers[i].value.len + 2;
    return n;
}

size_t lv_join_signature(const lv_http_head_t *h, lv_str_t who, char *out, size_t cap)
{
    if (lv_join_signature_bound(h, who.len) > cap)
        return 0;
    lv_out_t o = {out, 0, cap};
    lv_out_put(&o, who.p, who.len);
    LV_OUT_LIT(&o, "\n");
    lv_out_put(&o, h->host.p, h->host.len);
    LV_OUT_LIT(&o, "\n");
    lv_out_put(&o, h->target.p, h->target.len);
    LV_OUT_LIT(&o, "\n");
    for (uint32_t i = 0; i < h->n_headers; i++) {
        const lv_http_header_t *hd = &h->headers[i];
        if (lv_join_ignores(hd->name, h->connection))
            continue;
        lv_out_put(&o, hd->name.p, hd->name.len);
        LV_OUT_LIT(&o, ":");
        lv_out_put(&o, hd->value.p, hd->value.len);
        LV_OUT_LIT(&o, "\n");
    }
    LV_ASSERT(o.len <= o.cap);
    return o.len;
}
