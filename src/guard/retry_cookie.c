/* guard/retry_cookie.c: encodes, parses and authenticates the lv_retry cookie (SipHash-2-4
 * with a per-process key from getrandom). Pure functions of their arguments and the key; any
 * thread. Never reads HTTP: the caller hands it the cookie's value.
 *
 * The MAC covers the id, the not-before and the resource hash; the resource itself is not in
 * the value, so a cookie made for /play fails to verify for /home (and reads as no cookie).
 * The key dies with the process: after a restart every cookie reads as no cookie, which only
 * means those clients are not marked. The MAC only has to stop casual forgery: a client that
 * drops cookies escapes the premature check anyway. */
#include "guard/retry_cookie.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* k[0], k[1]: the MAC key; k[2], k[3]: the resource hash key (a separate domain). Written once
 * under pthread_once, then read-only. */
static uint64_t rc_key[4];
static pthread_once_t rc_key_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t rc_id_counter;

static void rc_key_init(void)
{
    size_t got = 0;
    while (got < sizeof rc_key) {
        ssize_t n = getrandom((char *)rc_key + got, sizeof rc_key - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof rc_key) {
        /* No getrandom (seccomp, old kernel): weaker, still unknown to clients. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
        x ^= (uint64_t)(uintptr_t)&got;
        for (size_t i = 0; i < 4; i++) {
            x += 0x9e3779b97f4a7c15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            rc_key[i] ^= z ^ (z >> 31);
        }
    }
}

/* ---- SipHash-2-4 ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0;
    uint64_t v3 = 0x7465646279746573ull ^ k1;
    size_t left = len & 7;
    const uint8_t *end = in + len - left;
    for (; in != end; in += 8) {
        uint64_t m = le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the cookie ---- */

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t mac_of(const lv_retry_cookie_t *c, uint64_t res)
{
    uint8_t m[24];
    put_le64(m, c->id);
    put_le64(m + 8, c->not_before_ms);
    put_le64(m + 16, res);
    return siphash24(rc_key[0], rc_key[1], m, sizeof m);
}

/* Computed for every guarded request, so cheaper than SipHash (which cost ~345 instructions a
 * request): 8 bytes at a time, multiply and xor-shift, keyed. It need not resist collisions:
 * the MAC (SipHash) covers it, and a cookie made to match another resource would only get its
 * bearer refused as premature there. */
uint64_t lv_retry_cookie_resource(const char *res, size_t len)
{
    pthread_once(&rc_key_once, rc_key_init);
    const uint8_t *p = (const uint8_t *)(res ? res : "");
    uint64_t h = rc_key[2] ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v; /* native order: the hash is never stored nor shared between machines */
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    uint64_t tail = rc_key[3];
    for (size_t i = 0; i < len; i++)
        tail = (tail << 8) | p[i];
    h = (h ^ tail) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h ? h : 1;
}

uint64_t lv_retry_cookie_new_id(void)
{
    pthread_once(&rc_key_once, rc_key_init);
    uint8_t m[9];
    put_le64(m, atomic_fetch_add_explicit(&rc_id_counter, 1, memory_order_relaxed));
    m[8] = 'i'; /* a domain of its own: never the input of a resource hash of 8 bytes */
    uint64_t id = siphash24(rc_key[2], rc_key[3], m, sizeof m);
    return id ? id : 1;
}

static void put_hex16(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        p[i] = digits[v & 15];
}

static bool get_hex16(const char *p, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return false; /* uppercase too: one spelling per value */
        x = (x << 4) | d;
    }
    *v = x;
    return true;
}

void lv_retry_cookie_encode(const lv_retry_cookie_t *c, uint64_t res,
                            char buf[static LV_RETRY_COOKIE_LEN])
{
    pthread_once(&rc_key_once, rc_key_init);
    put_hex16(buf, c->id);
    buf[16] = '.';
    put_hex16(buf + 17, c->not_before_ms);
    buf[33] = '.';
    put_hex16(buf + 34, mac_of(c, res));
}

bool lv_retry_cookie_try_parse(const char *v, size_t len, uint64_t res, lv_retry_cookie_t *out)
{
    pthread_once(&rc_key_once, rc_key_init);
    lv_retry_cookie_t c;
    uint64_t mac;
    if (!v || len != LV_RETRY_COOKIE_LEN || v[16] != '.' || v[33] != '.' || !get_hex16(v, &c.id) ||
        !get_hex16(v + 17, &c.not_before_ms) || !get_hex16(v + 34, &mac) || c.id == 0)
        return false;
    /* One 64-bit compare: no byte-by-byte early exit to time. */
    if ((mac ^ mac_of(&c, res)) != 0)
        return false;
    *out = c;
    return true;
}
