/* core/access_log.h: the access log: one line per request, buffered per worker, appended to
 * a file (or stdout) with one write(2) per flush so workers never interleave within a line. */
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
} lv_access_entry_t;

/* The shared sink: an fd opened with O_APPEND. Opened on the main thread, shared read-only. */
typedef struct lv_access_sink lv_access_sink_t;
/* path "-" means stdout. Returns NULL and logs on failure. */
lv_access_sink_t *lv_access_sink_open(const char *path);
void lv_access_sink_close(lv_access_sink_t *sink);

/* A worker's buffer (caller's storage, 64 KiB inside). Lines are flushed when the buffer is
 * nearly full and by lv_access_log_flush(), which the worker calls from a 1 s timer. */
typedef struct lv_access_log {
    lv_access_sink_t *sink;
    uint32_t used;
    char buf[65536];
} lv_access_log_t;

void lv_access_log_init(lv_access_log_t *log, lv_access_sink_t *sink);
/* Appends one line: ts client service method target status bytes_in bytes_out upstream_ms
 * total_ms req_id, as key=value pairs; values with spaces or quotes are quoted and escaped. */
void lv_access_log_write(lv_access_log_t *log, const lv_access_entry_t *e);
void lv_access_log_flush(lv_access_log_t *log);

#endif
