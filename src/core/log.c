/* core/log.c: the process log writer and the quoting of logfmt values. Owns only the level
 * (an atomic: a reload may change it while workers log). Each line goes out in one write(2) so lines from worker threads
 * never interleave. Any thread. */
#include "core/log.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written by the main thread (start, reload), read by every thread: relaxed atomics. */
static atomic_int log_level = LV_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void lv_log_set_level(lv_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
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
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

size_t lv_log_utf8_len(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n == 0)
        return 0;
    if (u[0] < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* bounds of the second byte (overlongs, surrogates, max) */
    if (u[0] >= 0xc2 && u[0] <= 0xdf) {
        len = 2;
    } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
        len = 3;
        if (u[0] == 0xe0)
            lo = 0xa0;
        else if (u[0] == 0xed)
            hi = 0x9f;
    } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
        len = 4;
        if (u[0] == 0xf0)
            lo = 0x90;
        else if (u[0] == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (u[i] < 0x80 || u[i] > 0xbf)
            return 0;
    return len;
}

static bool bare_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return false;
    }
    return true;
}

const char *lv_log_quote(char *buf, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (cap < 3) {
        if (cap)
            buf[0] = '\0';
        return buf;
    }
    if (s == NULL)
        len = 0;
    if (len < cap && bare_ok(s, len)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        return buf;
    }
    size_t o = 0, end = cap - 2; /* room kept for the closing quote and the NUL */
    buf[o++] = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t n = 0, used = 1;
        const char *src = esc;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        } else if (c < 0x80) {
            esc[0] = (char)c;
            n = 1;
        } else if ((used = lv_log_utf8_len(s + i, len - i)) > 0) {
            src = s + i; /* a whole valid UTF-8 character, as it is */
            n = used;
        } else {
            src = "\\ufffd";
            n = 6;
            used = 1;
        }
        if (o + n > end)
            break; /* cut at a character boundary */
        memcpy(buf + o, src, n);
        o += n;
        i += used;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *lv_log_quote_str(char *buf, size_t cap, const char *s)
{
    return lv_log_quote(buf, cap, s, s ? strlen(s) : 0);
}

/* A line cut at the buffer's end may stop inside a quoted value, even inside an escape: cut
 * back to the last whole character and close the quote, so the line still parses (the value
 * is short, never glued to what follows). line[start..len) is the caller's part; cap - len >= 2
 * must hold for the quote and the newline. */
static size_t close_cut_line(char *line, size_t start, size_t len)
{
    bool quoted = false;
    size_t whole = start; /* end of the last whole character or escape */
    for (size_t i = start; i < len;) {
        size_t n = 1;
        if (quoted && line[i] == '\\')
            n = i + 1 < len && line[i + 1] == 'u' ? 6 : 2;
        else if (line[i] == '"')
            quoted = !quoted;
        if (i + n > len)
            break;
        i += n;
        whole = i;
    }
    if (!quoted)
        return len;
    line[whole] = '"';
    return whole + 1;
}

void lv_log(lv_log_level_t level, const char *comp, const char *fmt, ...)
{
    if (!lv_log_enabled(level))
        return;
    char line[2048];
    uint64_t wall = lv_clock_wall_ms();
    time_t secs = (time_t)(wall / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03uZ level=%s comp=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(wall % 1000), level_names[level], comp);
    if (n < 0 || (size_t)n >= sizeof line - 64)
        return;
    /* Two bytes are kept back: a closing quote for a cut line, and the newline. */
    size_t room = sizeof line - 2 - (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, room, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (m >= 0 && (size_t)m >= room) {
        len = (size_t)n + room - 1; /* what vsnprintf wrote */
        len = close_cut_line(line, (size_t)n, len);
    }
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
