/* core/log.c: the process log writer. Owns only the level (set before threads start).
 * Each line goes out in one write(2) so lines from worker threads never interleave. */
#include "core/log.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static lv_log_level_t log_level = LV_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void lv_log_set_level(lv_log_level_t level)
{
    log_level = level;
}

int lv_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int lv_log_enabled(lv_log_level_t level)
{
    return level <= log_level;
}

void lv_log(lv_log_level_t level, const char *comp, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char line[2048];
    uint64_t wall = lv_clock_wall_ms();
    time_t secs = (time_t)(wall / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03uZ level=%s comp=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(wall % 1000), level_names[level], comp);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int lv_log_limit_allow(lv_log_limit_t *lim, uint64_t now_ms, uint32_t per_s)
{
    if (now_ms - lim->window_start_ms >= 1000) {
        lim->window_start_ms = now_ms;
        lim->count = 0;
    }
    if (lim->count < per_s) {
        lim->count++;
        return 1;
    }
    lim->suppressed++;
    return 0;
}
