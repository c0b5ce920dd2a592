/* load/grow.h: room for one more item in a growing array (doubling), for levee-load's offline
 * lists (history rows, trend series, schedule lines). Aborts when memory runs out. */
#ifndef LOAD_GROW_H
#define LOAD_GROW_H

#include <stdlib.h>

#include "core/common.h"

/* Returns v, or v reallocated with *cap doubled (at least 8) when its n items fill it. */
static inline void *load_grow(void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    *cap = *cap ? *cap * 2 : 8;
    void *nv = realloc(v, *cap * size);
    LV_ASSERT(nv != NULL);
    return nv;
}

#endif
