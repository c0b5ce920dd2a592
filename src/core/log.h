/* core/log.h: the process log: one key=value line per event on stderr, with level and comp.
 * Thread-safe (one write(2) per line); repeated warnings are rate-limited by the caller.
 * Values that are not levee's own words (paths, names, request ids, error details, anything a
 * client or an origin sent) go through lv_log_quote, so that a line stays one logfmt line. */
#ifndef LV_CORE_LOG_H
#define LV_CORE_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LV_LOG_ERROR = 0, LV_LOG_WARN, LV_LOG_INFO, LV_LOG_DEBUG } lv_log_level_t;

/* Sets the least severe level printed (default info). Any thread (a reload changes it). */
void lv_log_set_level(lv_log_level_t level);
/* Parses "error", "warn", "info" or "debug"; returns -1 if unknown. */
int lv_log_level_parse(const char *name);
int lv_log_enabled(lv_log_level_t level);

/* Writes "ts=... level=... comp=<comp> <fmt...>\n" as one write(2). Lines are cut at 2 KiB; a
 * cut inside a quoted value closes the quote, so a long line still parses. */
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

/* Writes s (len bytes; s may be NULL when len is 0) into buf as a logfmt value, NUL-terminated,
 * and returns buf, for a "%s" in lv_log's format. Bare when every byte is printable ASCII other
 * than space, '"', '\\' and '=' (and s is not empty); else in double quotes, with \" \\ \n \r
 * \t, other control bytes as \u00XX and bytes that are not valid UTF-8 as \ufffd, so that any
 * logfmt (or JSON string) parser reads it back and no value can end a line or start a key.
 * A value longer than cap allows is cut at a character boundary, the quote still closed.
 * cap must be at least 3. Any thread. */
const char *lv_log_quote(char *buf, size_t cap, const char *s, size_t len);
/* Same for a C string (NULL is written as ""). */
const char *lv_log_quote_str(char *buf, size_t cap, const char *s);

/* The length (1..4) of the valid UTF-8 sequence at p (n bytes available), or 0 when the bytes
 * there are not one (a stray continuation byte, a cut, overlong or surrogate form). */
size_t lv_log_utf8_len(const char *p, size_t n);

/* A token bucket for rate-limited warnings: at most `per_s` lines a second per limiter.
 * Not shared between threads: keep one per worker. Returns 1 if the line may be printed. */
typedef struct lv_log_limit {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
} lv_log_limit_t;
int lv_log_limit_allow(lv_log_limit_t *lim, uint64_t now_ms, uint32_t per_s);

#endif
