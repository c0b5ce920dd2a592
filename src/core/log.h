/* core/log.h: the process log: one key=value line per event on stderr, with level and comp.
 * Thread-safe (one write(2) per line); repeated warnings are rate-limited by the caller. */
#ifndef LV_CORE_LOG_H
#define LV_CORE_LOG_H

#include <stdint.h>

typedef enum { LV_LOG_ERROR = 0, LV_LOG_WARN, LV_LOG_INFO, LV_LOG_DEBUG } lv_log_level_t;

/* Sets the least severe level printed (default info). Call before threads start. */
void lv_log_set_level(lv_log_level_t level);
/* Parses "error", "warn", "info" or "debug"; returns -1 if unknown. */
int lv_log_level_parse(const char *name);
int lv_log_enabled(lv_log_level_t level);

/* Writes "ts=... level=... comp=<comp> <fmt...>\n" as one write(2). Lines are cut at 2 KiB. */
void lv_log(lv_log_level_t level, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lv_log_error(comp, ...) lv_log(LV_LOG_ERROR, comp, __VA_ARGS__)
#define lv_log_warn(comp, ...) lv_log(LV_LOG_WARN, comp, __VA_ARGS__)
#define lv_log_info(comp, ...)                                                                     \
    do {                                                                                           \
        if (lv_log_enabled(LV_LOG_INFO))                                                           \
            lv_log(LV_LOG_INFO, comp, __VA_ARGS__);                                                \
    } while (0)
#define lv_log_debug(comp, ...)                                                                    \
    do {                                                                                           \
        if (lv_log_enabled(LV_LOG_DEBUG))                                                          \
            lv_log(LV_LOG_DEBUG, comp, __VA_ARGS__);                                               \
    } while (0)

/* A token bucket for rate-limited warnings: at most `per_s` lines a second per limiter.
 * Not shared between threads: keep one per worker. Returns 1 if the line may be printed. */
typedef struct lv_log_limit {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
} lv_log_limit_t;
int lv_log_limit_allow(lv_log_limit_t *lim, uint64_t now_ms, uint32_t per_s);

#endif
