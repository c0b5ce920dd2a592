/* fuzz/fuzz_config.c: libFuzzer target for the YAML config loader (lv_config_load_string).
 * Every input must load or fail cleanly, with everything freed (ASan checks leaks). */
#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_string("fuzz.yaml", (const char *)data, size, &errs);
    if (cfg) {
        /* Exercise the router on a loaded config too. */
        (void)lv_config_route(cfg, "Example.COM:8080", 16, "/api/x", 6);
        lv_config_unref(cfg);
    }
    lv_config_errors_fini(&errs);
    return 0;
}
