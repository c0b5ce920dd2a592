/* fuzz/fuzz_retry_cookie.c: libFuzzer target for the lv_retry cookie parser
 * (src/guard/retry_cookie.c). Any bytes must parse or be refused without fault; a value that
 * parses must be exactly what lv_retry_cookie_encode makes for what it parsed to, and must not
 * parse for another resource. */
#include "guard/retry_cookie.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t res = lv_retry_cookie_resource("GET fuzz.test /", 15);
    lv_retry_cookie_t c;
    if (lv_retry_cookie_try_parse((const char *)data, size, res, &c)) {
        char again[LV_RETRY_COOKIE_LEN];
        lv_retry_cookie_encode(&c, res, again);
        if (size != sizeof again || memcmp(again, data, size) != 0)
            abort();
        if (lv_retry_cookie_try_parse((const char *)data, size,
                                      lv_retry_cookie_resource("GET fuzz.test /x", 16), &c))
            abort(); /* 2^-64 by chance: a fault, not luck */
    }
    /* A genuine value made from the input's first bytes always parses back. */
    lv_retry_cookie_t m = {0, 0};
    memcpy(&m, data, size < sizeof m ? size : sizeof m);
    if (m.id) {
        char v[LV_RETRY_COOKIE_LEN];
        lv_retry_cookie_encode(&m, res, v);
        lv_retry_cookie_t back;
        if (!lv_retry_cookie_try_parse(v, sizeof v, res, &back) || back.id != m.id ||
            back.not_before_ms != m.not_before_ms)
            abort();
    }
    return 0;
}
