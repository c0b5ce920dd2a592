/* core/clock.h: the one monotonic time type (milliseconds and nanoseconds since boot)
 * and wall-clock helpers for HTTP dates and logs. Stateless; any thread. */
#ifndef LV_CORE_CLOCK_H
#define LV_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t lv_clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t lv_clock_now_ms(void)
{
    return lv_clock_now_ns() / 1000000u;
}

static inline uint64_t lv_clock_now_us(void)
{
    return lv_clock_now_ns() / 1000u;
}

/* Wall clock in milliseconds since the epoch (for logs, never for intervals). */
static inline uint64_t lv_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
