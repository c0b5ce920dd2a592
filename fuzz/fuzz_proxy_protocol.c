/* fuzz/fuzz_proxy_protocol.c: libFuzzer target for the PROXY protocol header parser
 * (src/http/proxy_protocol.c). Every prefix of the input must give the answer the whole input
 * gives once the header is complete, never read past its end, and name a sane client. */
#include "http/proxy_protocol.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_pp_info_t info;
    size_t used = 0;
    lv_pp_result_t whole = lv_pp_parse((const char *)data, size, &info, &used);
    if (whole == LV_PP_OK) {
        if (used == 0 || used > size || used > LV_PP_MAX_BYTES)
            __builtin_trap();
        if (memchr(info.src, '\0', sizeof info.src) == NULL)
            __builtin_trap();
        /* The header alone parses the same; any shorter prefix needs more. */
        lv_pp_info_t again;
        size_t used2 = 0;
        if (lv_pp_parse((const char *)data, used, &again, &used2) != LV_PP_OK || used2 != used)
            __builtin_trap();
        for (size_t n = 0; n < used; n++)
            if (lv_pp_parse((const char *)data, n, &again, &used2) == LV_PP_OK)
                __builtin_trap();
    }
    return 0;
}
