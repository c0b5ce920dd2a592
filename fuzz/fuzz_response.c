/* fuzz/fuzz_response.c: libFuzzer target for the upstream response parser (src/http/parser.c).
 * The first input byte picks the split and the HEAD expectations; invariants trap. */
#define FZ_KIND LV_HTTP_RESPONSE
#include "http_fuzz.h"

static void fz_check_head(const fz_owner_t *o, const lv_http_head_t *h)
{
    (void)o;
    if (h->status < 100 || h->status > 599 || h->status == 101)
        __builtin_trap();
    if (h->has_body && (h->status < 200 || h->status == 204 || h->status == 304))
        __builtin_trap();
}
