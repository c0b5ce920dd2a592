/* core/rng.h: the project's seeded pseudo-random source, xoshiro256** seeded through splitmix64.
 * Header only; the caller owns the state (one generator per thread, never shared). */
#ifndef LV_CORE_RNG_H
#define LV_CORE_RNG_H

#include <stdint.h>

typedef struct lv_rng {
    uint64_t s[4];
} lv_rng_t;

static inline uint64_t lv_rng_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void lv_rng_seed(lv_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = lv_rng_splitmix(&x);
}

static inline uint64_t lv_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t lv_rng_next(lv_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = lv_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = lv_rng_rotl(s[3], 45);
    return result;
}

#endif
