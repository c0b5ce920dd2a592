/* core/access_log.c: formats access log lines into a worker's buffer and appends whole lines to
 * the shared sink with one write(2). The sink is opened on the main thread and only read after;
 * each lv_access_log_t belongs to one worker thread. */
#include "core/access_log.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TARGET_MAX_BYTES 1024 /* bytes of the target kept (before escaping) */
#define FIELD_MAX_BYTES 256   /* client, service, request id: bytes kept before escaping */
/* Worst case for one line: fixed fields + 4 bytes per escaped input byte. */
#define LINE_MAX_BYTES (512 + 4 * (TARGET_MAX_BYTES + 3 * FIELD_MAX_BYTES) + 64)

struct lv_access_sink {
    int fd;
    bool owns_fd;
};

lv_access_sink_t *lv_access_sink_open(const char *path)
{
    int fd;
    bool owns = true;
    if (strcmp(path, "-") == 0) {
        fd = STDOUT_FILENO;
        owns = false;
    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            lv_log_error("access_log", "msg=\"cannot open access log\" path=%s err=\"%s\"", path,
                         strerror(errno));
            return NULL;
        }
    }
    lv_access_sink_t *sink = malloc(sizeof *sink);
    if (sink == NULL) {
        if (owns)
            close(fd);
        lv_log_error("access_log", "msg=\"out of memory\"");
        return NULL;
    }
    sink->fd = fd;
    sink->owns_fd = owns;
    return sink;
}

void lv_access_sink_close(lv_access_sink_t *sink)
{
    if (sink == NULL)
        return;
    if (sink->owns_fd)
        close(sink->fd);
    free(sink);
}

void lv_access_log_init(lv_access_log_t *log, lv_access_sink_t *sink)
{
    log->sink = sink;
    log->used = 0;
}

/* A bounded writer over a caller's array: output past the end is dropped, never overflows. */
typedef struct line {
    char *p;
    size_t len, cap;
} line_t;

static void put_bytes(line_t *l, const char *s, size_t n)
{
    size_t room = l->cap - l->len;
    if (n > room)
        n = room;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void put_str(line_t *l, const char *s)
{
    put_bytes(l, s, strlen(s));
}

static void put_fmt(line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(line_t *l, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put_bytes(l, tmp, LV_MIN((size_t)n, sizeof tmp - 1));
}

static bool needs_quotes(lv_str_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return true;
    }
    return false;
}

/* Writes v inside double quotes: '"' and '\' get a backslash; control bytes, space-less
 * oddities and non-ASCII bytes become \xNN (\n, \r, \t keep their short forms). */
static void put_quoted(line_t *l, lv_str_t v, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = LV_MIN(v.len, max);
    put_bytes(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        char esc[4];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put_bytes(l, esc, 2);
        } else if (c == '\n') {
            put_bytes(l, "\\n", 2);
        } else if (c == '\r') {
            put_bytes(l, "\\r", 2);
        } else if (c == '\t') {
            put_bytes(l, "\\t", 2);
        } else if (c < 0x20 || c >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            put_bytes(l, esc, 4);
        } else {
            put_bytes(l, (const char *)&v.p[i], 1);
        }
    }
    put_bytes(l, "\"", 1);
}

/* A plain value: "-" when empty, bare when safe, else quoted and escaped. */
static void put_value(line_t *l, lv_str_t v, size_t max)
{
    if (v.p == NULL || v.len == 0)
        put_bytes(l, "-", 1);
    else if (needs_quotes(v) || v.len > max)
        put_quoted(l, v, max);
    else
        put_bytes(l, v.p, v.len);
}

/* Microseconds as milliseconds with three decimals, without floating point. */
static void put_ms(line_t *l, uint64_t us)
{
    put_fmt(l, "%" PRIu64 ".%03u", us / 1000u, (unsigned)(us % 1000u));
}

static size_t format_line(char *buf, size_t cap, const lv_access_entry_t *e)
{
    line_t l = {buf, 0, cap};
    time_t secs = (time_t)(e->wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    put_fmt(&l, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03uZ client=", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(e->wall_ms % 1000));
    put_value(&l, e->client, FIELD_MAX_BYTES);
    put_str(&l, " service=");
    put_value(&l, e->service, FIELD_MAX_BYTES);
    put_str(&l, " method=");
    lv_str_t method = {e->method, e->method ? strlen(e->method) : 0};
    put_value(&l, method, FIELD_MAX_BYTES);
    put_str(&l, " target=");
    put_quoted(&l, e->target.p ? e->target : (lv_str_t){"", 0}, TARGET_MAX_BYTES);
    put_fmt(&l, " status=%d bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " upstream_ms=", e->status,
            e->bytes_in, e->bytes_out);
    if (e->upstream_us < 0)
        put_str(&l, "-");
    else
        put_ms(&l, (uint64_t)e->upstream_us);
    put_str(&l, " total_ms=");
    put_ms(&l, e->total_us);
    put_str(&l, " req_id=");
    put_value(&l, e->request_id, FIELD_MAX_BYTES);
    /* The newline always fits: the line was sized for the worst case, and if it were not, the
     * last byte is overwritten so that a line is never glued to the next one. */
    if (l.len == l.cap)
        l.len--;
    put_bytes(&l, "\n", 1);
    return l.len;
}

void lv_access_log_write(lv_access_log_t *log, const lv_access_entry_t *e)
{
    if (log->sink == NULL)
        return;
    char line[LINE_MAX_BYTES];
    size_t n = format_line(line, sizeof line, e);
    _Static_assert(LINE_MAX_BYTES * 4 < sizeof log->buf, "buffer holds several whole lines");
    if (log->used + n > sizeof log->buf)
        lv_access_log_flush(log);
    memcpy(log->buf + log->used, line, n);
    log->used += (uint32_t)n;
    /* Nearly full: flush now so the next line never has to wait for the timer. */
    if (sizeof log->buf - log->used < LINE_MAX_BYTES)
        lv_access_log_flush(log);
}

void lv_access_log_flush(lv_access_log_t *log)
{
    if (log->sink == NULL || log->used == 0) {
        log->used = 0;
        return;
    }
    size_t off = 0;
    while (off < log->used) {
        ssize_t w = write(log->sink->fd, log->buf + off, log->used - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* Disk full, closed pipe...: the buffered lines are dropped, the worker lives on. */
            lv_log_warn("access_log", "msg=\"write failed, lines dropped\" bytes=%u err=\"%s\"",
                        (unsigned)(log->used - off), strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    log->used = 0;
}
