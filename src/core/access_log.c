/* core/access_log.c: formats access log lines (text or JSON) into a worker's buffer and
 * appends whole lines to the sink with one write(2).
 *
 * Reopening without losing or splitting lines: a sink (fd + format) never changes once open.
 * The main thread opens a new one for a reopen and hands each worker a reference through its
 * mailbox; the worker, on its own loop, flushes its buffer into the old sink and then writes to
 * the new one (lv_access_log_set_sink). The only thing workers share is the sink's atomic
 * reference count: the old fd stays open until the last worker has flushed into it and let go.
 * Each lv_access_log_t belongs to one worker thread. */
#include "core/access_log.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TARGET_MAX_BYTES 1024 /* bytes of the target kept (before escaping) */
#define FIELD_MAX_BYTES 256   /* client, service, request id, Host, User-Agent: bytes kept */
#define SHORT_MAX_BYTES 64    /* JSON: method, upstream, cache, refusal, tls (levee's own words) */
/* Worst case for one line: fixed fields + 4 bytes per escaped input byte (text), 6 (JSON). The
 * TLS version and cipher are OpenSSL's names, never escaped: 2 * SHORT_MAX_BYTES more. */
#define TEXT_LINE_MAX_BYTES (512 + 4 * (TARGET_MAX_BYTES + 3 * FIELD_MAX_BYTES) + 64 + 160)
#define JSON_LINE_MAX_BYTES                                                                        \
    (512 + 2 * SHORT_MAX_BYTES + 6 * (TARGET_MAX_BYTES + 5 * FIELD_MAX_BYTES + 4 * SHORT_MAX_BYTES))
#define LINE_MAX_BYTES LV_MAX(TEXT_LINE_MAX_BYTES, JSON_LINE_MAX_BYTES)

struct lv_access_sink {
    atomic_uint refs;
    int fd;
    bool owns_fd;
    lv_access_format_t format;
};

lv_access_sink_t *lv_access_sink_open(const char *path, lv_access_format_t format)
{
    int fd;
    bool owns = true;
    if (strcmp(path, "-") == 0) {
        fd = STDOUT_FILENO;
        owns = false;
    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int err = errno;
            char qpath[512];
            lv_log_error("access_log", "msg=\"cannot open access log\" path=%s err=\"%s\"",
                         lv_log_quote_str(qpath, sizeof qpath, path), strerror(err));
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
    atomic_init(&sink->refs, 1);
    sink->fd = fd;
    sink->owns_fd = owns;
    sink->format = format;
    return sink;
}

lv_access_sink_t *lv_access_sink_ref(lv_access_sink_t *sink)
{
    if (sink)
        atomic_fetch_add_explicit(&sink->refs, 1, memory_order_relaxed);
    return sink;
}

void lv_access_sink_unref(lv_access_sink_t *sink)
{
    if (sink == NULL)
        return;
    /* acq_rel: every write(2) of the other holders happens before the close. */
    if (atomic_fetch_sub_explicit(&sink->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (sink->owns_fd)
        close(sink->fd);
    free(sink);
}

void lv_access_log_init(lv_access_log_t *log, lv_access_sink_t *sink)
{
    log->sink = lv_access_sink_ref(sink);
    log->used = 0;
}

void lv_access_log_set_sink(lv_access_log_t *log, lv_access_sink_t *sink)
{
    lv_access_log_flush(log); /* buffered lines go whole into the file they were written for */
    lv_access_sink_t *old = log->sink;
    log->sink = lv_access_sink_ref(sink);
    lv_access_sink_unref(old);
}

void lv_access_log_fini(lv_access_log_t *log)
{
    lv_access_log_set_sink(log, NULL);
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

/* "2026-11-26T12:00:00.123Z" */
static void put_time(line_t *l, uint64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    put_fmt(l, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(wall_ms % 1000));
}

/* A JSON string of at most max input bytes (cut at a character boundary): '"' and '\' get a
 * backslash, control bytes become \u00XX (\n, \r, \t keep their short forms), valid UTF-8 goes
 * as it is and any other byte becomes \ufffd. Never more than 6 output bytes per input byte. */
static void put_json_str(line_t *l, lv_str_t v, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = v.p ? LV_MIN(v.len, max) : 0;
    put_bytes(l, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)v.p[i];
        size_t used = 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put_bytes(l, esc, 2);
        } else if (c == '\n') {
            put_bytes(l, "\\n", 2);
        } else if (c == '\r') {
            put_bytes(l, "\\r", 2);
        } else if (c == '\t') {
            put_bytes(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put_bytes(l, esc, 6);
        } else if (c < 0x80) {
            put_bytes(l, v.p + i, 1);
        } else if ((used = lv_log_utf8_len(v.p + i, n - i)) > 0) {
            put_bytes(l, v.p + i, used);
        } else {
            used = 1;
            put_bytes(l, "\\ufffd", 6);
        }
        i += used;
    }
    put_bytes(l, "\"", 1);
}

/* A JSON string, or null when s is NULL. */
static void put_json_cstr(line_t *l, const char *s)
{
    if (s == NULL)
        put_str(l, "null");
    else
        put_json_str(l, (lv_str_t){s, strlen(s)}, SHORT_MAX_BYTES);
}

static void format_json(line_t *l, const lv_access_entry_t *e)
{
    put_str(l, "{\"time\":\"");
    put_time(l, e->wall_ms);
    put_str(l, "\",\"client\":");
    put_json_str(l, e->client, FIELD_MAX_BYTES);
    put_str(l, ",\"method\":");
    put_json_cstr(l, e->method);
    put_str(l, ",\"target\":");
    put_json_str(l, e->target, TARGET_MAX_BYTES);
    put_str(l, ",\"host\":");
    put_json_str(l, e->host, FIELD_MAX_BYTES);
    put_str(l, ",\"user_agent\":");
    put_json_str(l, e->user_agent, FIELD_MAX_BYTES);
    put_fmt(l, ",\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"service\":",
            e->status, e->bytes_in, e->bytes_out);
    if (e->service.p && e->service.len)
        put_json_str(l, e->service, FIELD_MAX_BYTES);
    else
        put_str(l, "null");
    put_str(l, ",\"upstream\":");
    put_json_cstr(l, e->upstream);
    put_str(l, ",\"cache\":");
    put_json_cstr(l, e->cache);
    put_str(l, ",\"refusal\":");
    put_json_cstr(l, e->refusal);
    put_str(l, ",\"upstream_ms\":");
    if (e->upstream_us < 0)
        put_str(l, "null");
    else
        put_ms(l, (uint64_t)e->upstream_us);
    put_str(l, ",\"total_ms\":");
    put_ms(l, e->total_us);
    put_str(l, ",\"tls_version\":");
    put_json_cstr(l, e->tls_version);
    put_str(l, ",\"tls_cipher\":");
    put_json_cstr(l, e->tls_cipher);
    put_str(l, ",\"request_id\":");
    put_json_str(l, e->request_id, FIELD_MAX_BYTES);
    put_str(l, "}");
}

static void format_text(line_t *l, const lv_access_entry_t *e)
{
    put_str(l, "ts=");
    put_time(l, e->wall_ms);
    put_str(l, " client=");
    put_value(l, e->client, FIELD_MAX_BYTES);
    put_str(l, " service=");
    put_value(l, e->service, FIELD_MAX_BYTES);
    put_str(l, " method=");
    lv_str_t method = {e->method, e->method ? strlen(e->method) : 0};
    put_value(l, method, FIELD_MAX_BYTES);
    put_str(l, " target=");
    put_quoted(l, e->target.p ? e->target : (lv_str_t){"", 0}, TARGET_MAX_BYTES);
    put_fmt(l, " status=%d bytes_in=%" PRIu64 " bytes_out=%" PRIu64 " upstream_ms=", e->status,
            e->bytes_in, e->bytes_out);
    if (e->upstream_us < 0)
        put_str(l, "-");
    else
        put_ms(l, (uint64_t)e->upstream_us);
    put_str(l, " total_ms=");
    put_ms(l, e->total_us);
    put_str(l, " req_id=");
    put_value(l, e->request_id, FIELD_MAX_BYTES);
    if (e->tls_version) {
        put_fmt(l, " tls=%.*s cipher=%.*s", SHORT_MAX_BYTES, e->tls_version, SHORT_MAX_BYTES,
                e->tls_cipher ? e->tls_cipher : "-");
    }
}

static size_t format_line(char *buf, size_t cap, lv_access_format_t format,
                          const lv_access_entry_t *e)
{
    line_t l = {buf, 0, cap};
    if (format == LV_ACCESS_JSON)
        format_json(&l, e);
    else
        format_text(&l, e);
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
    size_t n = format_line(line, sizeof line, log->sink->format, e);
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
