/* cache/l2_value.c: encoding and decoding of the second tier's values (cache/l2_value.h): the
 * versioned header the Redis functions read, the payload, zstd above a size. */
#include "cache/l2_value.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "cache/stored.h"

/* The meta blob is this build's lv_cache_stored_t: a value written by a build with another
 * layout is refused, not misread. */
#define META_LAYOUT ((uint16_t)sizeof(lv_cache_stored_t))
#define FIXED_LEN (LV_L2_HEADER_LEN + 2 + 4)
#define PAYLOAD_FIXED (4 + 4 + 4 + 2)

static void put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (24 - 8 * i));
}

static uint16_t get_u16(const char *p)
{
    return (uint16_t)((uint8_t)p[0] << 8 | (uint8_t)p[1]);
}

static uint32_t get_u32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | (uint8_t)p[i];
    return v;
}

void lv_l2_version_format(uint64_t version, char dst[LV_L2_VERSION_DIGITS])
{
    for (int i = LV_L2_VERSION_DIGITS - 1; i >= 0; i--, version /= 10)
        dst[i] = (char)('0' + version % 10);
}

uint64_t lv_l2_version_now(void)
{
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    uint64_t prev = atomic_load_explicit(&last, memory_order_relaxed);
    uint64_t next;
    do
        next = now > prev ? now : prev + 1;
    while (!atomic_compare_exchange_weak_explicit(&last, &prev, next, memory_order_relaxed,
                                                  memory_order_relaxed));
    return next;
}

static void put_header(char *p, uint64_t version, unsigned flags)
{
    memcpy(p, "LVL21", 5);
    p[5] = (char)('0' + flags);
    lv_l2_version_format(version, p + 6);
}

uint64_t lv_l2_value_version(const char *buf, size_t len)
{
    if (len < LV_L2_HEADER_LEN || memcmp(buf, "LVL21", 5) != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 6; i < LV_L2_HEADER_LEN; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    return v;
}

int lv_l2_value_encode(const lv_l2_value_t *v, size_t compress_min, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (v->tombstone) {
        char *b = malloc(LV_L2_HEADER_LEN);
        if (!b)
            return LV_ENOMEM;
        put_header(b, v->version, LV_L2_F_TOMBSTONE);
        *out = b;
        *out_len = LV_L2_HEADER_LEN;
        return 0;
    }
    if (v->ntags > LV_L2_TAGS_MAX || v->head.len > UINT32_MAX || v->meta.len > UINT32_MAX ||
        v->body.len > UINT32_MAX)
        return LV_ELIMIT;
    size_t payload = PAYLOAD_FIXED + v->head.len + v->meta.len + v->body.len;
    for (size_t i = 0; i < v->ntags; i++) {
        if (v->tags[i].len > UINT16_MAX)
            return LV_ELIMIT;
        payload += 2 + v->tags[i].len;
    }
    if (payload > LV_L2_VALUE_MAX)
        return LV_ELIMIT;
    char *b = malloc(FIXED_LEN + payload);
    if (!b)
        return LV_ENOMEM;
    char *p = b + FIXED_LEN;
    put_u32(p, (uint32_t)v->head.len);
    put_u32(p + 4, (uint32_t)v->meta.len);
    put_u32(p + 8, (uint32_t)v->body.len);
    put_u16(p + 12, (uint16_t)v->ntags);
    p += PAYLOAD_FIXED;
    for (size_t i = 0; i < v->ntags; i++) {
        put_u16(p, (uint16_t)v->tags[i].len);
        memcpy(p + 2, v->tags[i].p, v->tags[i].len);
        p += 2 + v->tags[i].len;
    }
    const lv_str_t parts[] = {v->head, v->meta, v->body};
    for (size_t i = 0; i < LV_ARRAY_LEN(parts); i++) {
        if (parts[i].len)
            memcpy(p, parts[i].p, parts[i].len);
        p += parts[i].len;
    }
    unsigned flags = 0;
    size_t len = FIXED_LEN + payload;
    if (compress_min && payload >= compress_min) {
        size_t bound = ZSTD_compressBound(payload);
        char *z = malloc(FIXED_LEN + bound);
        size_t zn = z ? ZSTD_compress(z + FIXED_LEN, bound, b + FIXED_LEN, payload, 1) : 0;
        if (z && !ZSTD_isError(zn) && zn < payload) {
            free(b);
            b = z;
            len = FIXED_LEN + zn;
            flags |= LV_L2_F_ZSTD;
        } else {
            free(z);
        }
    }
    put_header(b, v->version, flags);
    put_u16(b + LV_L2_HEADER_LEN, META_LAYOUT);
    put_u32(b + LV_L2_HEADER_LEN + 2, (uint32_t)payload);
    *out = b;
    *out_len = len;
    return 0;
}

int lv_l2_value_decode(const char *buf, size_t len, lv_l2_value_t *out, char **scratch)
{
    memset(out, 0, sizeof *out);
    *scratch = NULL;
    out->version = lv_l2_value_version(buf, len);
    if (!out->version)
        return LV_EINVAL;
    unsigned flags = (unsigned)(buf[5] - '0');
    if (flags > (LV_L2_F_TOMBSTONE | LV_L2_F_ZSTD))
        return LV_EINVAL;
    if (flags & LV_L2_F_TOMBSTONE) {
        out->tombstone = true;
        return len == LV_L2_HEADER_LEN ? 0 : LV_EINVAL;
    }
    if (len < FIXED_LEN || get_u16(buf + LV_L2_HEADER_LEN) != META_LAYOUT)
        return LV_EINVAL;
    size_t payload = get_u32(buf + LV_L2_HEADER_LEN + 2);
    if (payload < PAYLOAD_FIXED || payload > LV_L2_VALUE_MAX)
        return LV_EINVAL;
    const char *p = buf + FIXED_LEN;
    if (flags & LV_L2_F_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(p, len - FIXED_LEN);
        if (size != payload)
            return LV_EINVAL;
        char *z = malloc(payload);
        if (!z)
            return LV_ENOMEM;
        size_t n = ZSTD_decompress(z, payload, p, len - FIXED_LEN);
        if (ZSTD_isError(n) || n != payload) {
            free(z);
            return LV_EINVAL;
        }
        *scratch = z;
        p = z;
    } else if (len - FIXED_LEN != payload) {
        return LV_EINVAL;
    }
    const char *end = p + payload;
    size_t head = get_u32(p), meta = get_u32(p + 4), body = get_u32(p + 8);
    out->ntags = get_u16(p + 12);
    p += PAYLOAD_FIXED;
    if (out->ntags > LV_L2_TAGS_MAX)
        goto bad;
    for (size_t i = 0; i < out->ntags; i++) {
        if (end - p < 2 || (size_t)(end - p - 2) < get_u16(p))
            goto bad;
        out->tags[i] = (lv_str_t){p + 2, get_u16(p)};
        p += 2 + out->tags[i].len;
    }
    if ((size_t)(end - p) != head + meta + body)
        goto bad;
    out->head = (lv_str_t){p, head};
    out->meta = (lv_str_t){p + head, meta};
    out->body = (lv_str_t){p + head + meta, body};
    return 0;
bad:
    free(*scratch);
    *scratch = NULL;
    memset(out, 0, sizeof *out);
    return LV_EINVAL;
}
