/* fuzz/fuzz_request.c: libFuzzer target for the strict request parser (src/http/parser.c).
 * The first input byte picks how the rest is split into feed() calls; invariants trap. */
#define FZ_KIND LV_HTTP_REQUEST
#include "http_fuzz.h"

static void fz_check_head(const fz_owner_t *o, const lv_http_head_t *h)
{
    if (h->target.len == 0 || h->target.len > o->p->limits.target_bytes)
        __builtin_trap();
    if (h->version_major != 1 || h->version_minor > 1)
        __builtin_trap();
}
