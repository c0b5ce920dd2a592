/* core/access_log.h: the access log: one line per request (text key=value, or JSON), buffered
 * per worker, appended to a file (or stdout) with one write(2) per flush so workers never
 * interleave within a line. The file can be reopened (log rotation) while workers write. */
#ifndef LV_CORE_ACCESS_LOG_H
#define LV_CORE_ACCESS_LOG_H

#include <stdint.h>

#include "core/common.h"

typedef struct lv_access_entry {
    uint64_t wall_ms;   /* when the request ended */
    lv_str_t client;    /* "127.0.0.1:53422" */
    lv_str_t service;   /* "" when unrouted */
    const char *method; /* "GET" */
    lv_str_t target;    /* request target as sent (may be truncated by the writer) */
    int status;
    uint64_t bytes_in;   /* request bytes from the client (head + body) */
    uint64_t bytes_out;  /* response bytes to the client (head + body) */
    int64_t upstream_us; /* time from sending to the upstream to its last byte; -1 none */
    uint64_t total_us;   /* first request byte to last response byte */
    lv_str_t request_id;
    /* Written in the JSON format only (the text format is kept as it was): */
    lv_str_t host;        /* the request's Host; empty when none */
    lv_str_t user_agent;  /* its User-Agent; empty when none */
    const char *upstream; /* the upstream host that served it ("10.0.0.1:80"); NULL: none */
    const char *cache;    /* what the cache did ("hit", "miss", ...); NULL: not looked up */
    const char *refusal;  /* why levee answered in the backend's place ("shed"...); NULL: not */
    /* The client connection's TLS ("TLSv1.3", "TLS_AES_128_GCM_SHA256"); NULL: plaintext. Text
     * lines get them at the end (tls=, cipher=) only when set. */
    const char *tls_version;
    const char *tls_cipher;
} lv_access_entry_t;

typedef enum { LV_ACCESS_TEXT = 0, LV_ACCESS_JSON = 1 } lv_access_format_t;

/* The sink: an fd opened with O_APPEND and the line format. Immutable once open; shared by the
 * workers through an atomic reference count, and closed by whoever drops the last reference
 * (any thread). Reopening the file (SIGUSR1, reload) makes a new sink: see
 * lv_access_log_set_sink. */
typedef struct lv_access_sink lv_access_sink_t;
/* path "-" means stdout. Returns a sink with one reference, or NULL (logged) on failure. */
lv_access_sink_t *lv_access_sink_open(const char *path, lv_access_format_t format);
lv_access_sink_t *lv_access_sink_ref(lv_access_sink_t *sink);
void lv_access_sink_unref(lv_access_sink_t *sink); /* NULL is fine */

/* A worker's buffer (caller's storage, 64 KiB inside), used by one thread. Lines are flushed
 * when the buffer is nearly full and by lv_access_log_flush(), which the worker calls from a
 * 1 s timer. Holds a reference to its sink. */
typedef struct lv_access_log {
    lv_access_sink_t *sink; /* NULL: off */
    uint32_t used;
    char buf[65536];
} lv_access_log_t;

/* Takes its own reference to sink (NULL: off). */
void lv_access_log_init(lv_access_log_t *log, lv_access_sink_t *sink);
/* Flushes what is buffered into the current sink, then writes to sink (its own reference;
 * NULL: off) from the next line on. So a line always goes whole into the file that was open
 * when it was written, and none is lost across a reopen. */
void lv_access_log_set_sink(lv_access_log_t *log, lv_access_sink_t *sink);
/* Flushes, then drops the sink reference. */
void lv_access_log_fini(lv_access_log_t *log);
/* Appends one line in the sink's format. Text: ts client service method target status
 * bytes_in bytes_out upstream_ms total_ms req_id, as key=value pairs; values with spaces or
 * quotes are quoted and escaped. JSON: one object per line (see docs/config.md,
 * access_log_format); strings escaped, invalid UTF-8 as U+FFFD. */
void lv_access_log_write(lv_access_log_t *log, const lv_access_entry_t *e);
void lv_access_log_flush(lv_access_log_t *log);

#endif
