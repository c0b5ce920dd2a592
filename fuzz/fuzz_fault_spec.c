/* fuzz/fuzz_fault_spec.c: libFuzzer target for the fault spec's readers (src/core/fault_spec.c):
 * the admin API's JSON object, the X-Levee-Fault header and the delay. Any bytes must parse or be
 * refused without fault; whatever parses must write back to JSON that parses to an equal spec. */
#include "core/fault_spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* spec as a JSON object, read back: it must parse, equal spec, and write the same text again. */
static void round_trip(const lv_fault_spec_t *spec)
{
    char *text = NULL, *again = NULL;
    size_t n = 0, n2 = 0;
    FILE *f = open_memstream(&text, &n);
    if (f == NULL)
        abort();
    fputc('{', f);
    lv_fault_spec_write_json_members(f, spec);
    fputc('}', f);
    if (fclose(f) != 0)
        abort();
    lv_fault_spec_t back;
    char err[256];
    if (lv_fault_spec_parse_json(text, n, &back, err, sizeof err) != 0 ||
        !lv_fault_spec_equal(spec, &back))
        abort();
    f = open_memstream(&again, &n2);
    if (f == NULL)
        abort();
    fputc('{', f);
    lv_fault_spec_write_json_members(f, &back);
    fputc('}', f);
    if (fclose(f) != 0 || n != n2 || memcmp(text, again, n) != 0)
        abort();
    free(text);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    lv_fault_spec_t spec;
    char err[256];
    if (lv_fault_spec_parse_json(p, size, &spec, err, sizeof err) == 0)
        round_trip(&spec);
    else if (memchr(err, '\n', strnlen(err, sizeof err)) || strnlen(err, sizeof err) == 0)
        abort(); /* a reason is one line, never empty */

    /* The header's fault applies to one request: give it a target and a duration to write it. */
    if (lv_fault_header_parse(p, size, &spec) == 0) {
        if (spec.kind == LV_FAULT_HOST_DOWN || spec.share != 1.0 || spec.service[0] ||
            spec.route[0] || spec.duration_ms != 0)
            abort();
        memcpy(spec.service, "fuzz", 5);
        spec.duration_ms = 1;
        round_trip(&spec);
    }

    lv_fault_ms_t ms;
    if (lv_fault_ms_parse(p, size, &ms) == 0) {
        if (!(ms.a >= 0 && ms.a <= LV_FAULT_MS_MAX && ms.b >= 0 && ms.b <= LV_FAULT_MS_MAX))
            abort();
        lv_fault_spec_init(&spec);
        memcpy(spec.route, "fuzz", 5);
        spec.kind = LV_FAULT_LATENCY;
        spec.duration_ms = 1;
        spec.ms = ms;
        round_trip(&spec);
    }
    return 0;
}
