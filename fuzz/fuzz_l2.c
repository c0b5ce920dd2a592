/* fuzz/fuzz_l2.c: libFuzzer target for what the second tier reads from Redis and from other
 * regions (src/cache/l2_value.c, src/cache/l2_event.c): value decoding, replication events
 * (the input split at NUL bytes into field names and values) and L1-drop messages. Any bytes
 * must decode or be refused without fault; a value that decodes must encode back to a value that
 * decodes to the same parts; an event that parses must survive its own field list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/l2_event.h"
#include "cache/l2_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(lv_str_t a, lv_str_t b)
{
    if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0))
        abort();
}

static void check_value(const char *p, size_t n)
{
    lv_l2_value_t v;
    char *scratch = NULL;
    if (lv_l2_value_decode(p, n, &v, &scratch) != 0) {
        if (scratch)
            abort(); /* refused: nothing to free */
        return;
    }
    if (v.version != lv_l2_value_version(p, n))
        abort();
    char *again = NULL;
    size_t alen = 0;
    if (lv_l2_value_encode(&v, 64, &again, &alen) == 0) {
        lv_l2_value_t w;
        char *s2 = NULL;
        if (lv_l2_value_decode(again, alen, &w, &s2) != 0 || w.version != v.version ||
            w.tombstone != v.tombstone || w.ntags != v.ntags)
            abort();
        same(v.head, w.head);
        same(v.meta, w.meta);
        same(v.body, w.body);
        for (size_t i = 0; i < v.ntags; i++)
            same(v.tags[i], w.tags[i]);
        free(s2);
    }
    free(again);
    free(scratch);
}

static void check_event(const char *p, size_t n)
{
    const char *strs[64];
    size_t lens[64], k = 0;
    const char *start = p, *end = p + n;
    while (k < 64) {
        const char *z = memchr(start, '\0', (size_t)(end - start));
        strs[k] = start;
        lens[k++] = z ? (size_t)(z - start) : (size_t)(end - start);
        if (!z)
            break;
        start = z + 1;
    }
    lv_l2_event_t ev;
    if (lv_l2_event_parse(strs, lens, k, &ev) != 0)
        return;
    const char *argv[2 * LV_L2_EVENT_FIELDS];
    size_t alens[2 * LV_L2_EVENT_FIELDS];
    char num[3][24];
    size_t m = lv_l2_event_fields(&ev, argv, alens, num);
    lv_l2_event_t back;
    if (lv_l2_event_parse(argv, alens, m, &back) != 0 || back.type != ev.type ||
        back.version != ev.version)
        abort();
    same(back.key, ev.key);
    same(back.region, ev.region);
}

static void check_drop(const char *p, size_t n)
{
    lv_str_t s, t, k;
    if (lv_l2_drop_parse(p, n, &s, &t, &k) != 0)
        return;
    if (s.len + t.len + k.len + 2 != n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copies of exactly size bytes, so that ASan sees any read past the end. */
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    check_value(p, size);
    check_event(p, size);
    check_drop(p, size);
    free(p);
    return 0;
}
