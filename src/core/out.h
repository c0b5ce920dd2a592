/* core/out.h: bounded appends into a caller's buffer, for building heads and messages. A write
 * past the end copies nothing and shows as len > cap, so a message is checked once, at the end. */
#ifndef LV_CORE_OUT_H
#define LV_CORE_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"

typedef struct lv_out {
    char *p;
    size_t len, cap;
} lv_out_t;

static inline void lv_out_put(lv_out_t *o, const char *s, size_t n)
{
    if (LV_LIKELY(o->len + n <= o->cap) && n)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}
#define LV_OUT_LIT(o, lit) lv_out_put((o), (lit), sizeof(lit) - 1)

/* v in decimal. */
static inline void lv_out_u64(lv_out_t *o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    lv_out_put(o, tmp + sizeof tmp - n, n);
}

#endif
