/* core/fault_spec.h: what an injected fault is (kind, target, share, duration, parameters) and
 * its three spellings: the admin API's JSON, the config's faults[] items, the test header. */
#ifndef LV_CORE_FAULT_SPEC_H
#define LV_CORE_FAULT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the fault does to a request that draws it (proxy/stage_fault.c), or to a host. */
typedef enum {
    LV_FAULT_LATENCY = 0, /* the backend answers ms later (ms: a distribution) */
    LV_FAULT_ABORT,       /* the backend answers `status` instead */
    LV_FAULT_RESET,       /* the backend resets the connection: as an upstream reset (502) */
    LV_FAULT_BLACKHOLE,   /* the backend stalls: held until the read timeout (504), or on to
                             the backend when the fault ends first */
    LV_FAULT_BANDWIDTH,   /* the response comes at most bytes_per_s */
    LV_FAULT_HOST_DOWN,   /* connections to `host` are refused (not per request) */
    LV_FAULT_KINDS
} lv_fault_kind_t;

/* "latency", "abort", "reset", "blackhole", "bandwidth", "host_down". */
extern const char *const lv_fault_kind_names[LV_FAULT_KINDS];

typedef enum {
    LV_FAULT_DIST_FIXED = 0,   /* a */
    LV_FAULT_DIST_UNIFORM,     /* between a and b */
    LV_FAULT_DIST_EXPONENTIAL, /* mean a */
    LV_FAULT_DIST_LOGNORMAL,   /* median a, 99th percentile b (b >= a) */
} lv_fault_dist_t;

/* A delay in ms, fixed or drawn per request. Spelled "50", "uniform 10 100",
 * "exponential 50", "lognormal 20 200"; a JSON number is a fixed delay. Values 0..60000. */
typedef struct lv_fault_ms {
    lv_fault_dist_t dist;
    double a, b;
} lv_fault_ms_t;

#define LV_FAULT_NAME_MAX 64
#define LV_FAULT_HOST_MAX 63
#define LV_FAULT_MS_MAX 60000.0
#define LV_FAULT_DURATION_MAX 86400000u /* a day */

typedef struct lv_fault_spec {
    /* Exactly one of service and route is set (a service name, or a named route's name). */
    char service[LV_FAULT_NAME_MAX + 1];
    char route[LV_FAULT_NAME_MAX + 1];
    lv_fault_kind_t kind;
    double share;         /* 0..1: the share of the target's requests that draw it (1: all) */
    uint32_t duration_ms; /* 1..LV_FAULT_DURATION_MAX: it ends by itself after this long */
    lv_fault_ms_t ms;     /* latency */
    uint16_t status;      /* abort: 200..599, default 503 */
    uint64_t bytes_per_s; /* bandwidth: 1024.. */
    char host[LV_FAULT_HOST_MAX + 1]; /* host_down: one of the service's hosts, as written in
                                         its config ("127.0.0.1:9000") */
} lv_fault_spec_t;

/* Parses a delay (see lv_fault_ms_t). Returns 0 or -1. */
int lv_fault_ms_parse(const char *s, size_t len, lv_fault_ms_t *out);
/* Writes the delay as lv_fault_ms_parse reads it (a JSON string, or a number when fixed). */
void lv_fault_ms_write_json(FILE *f, const lv_fault_ms_t *ms);

/* Parses the admin API's JSON object (POST /faults), e.g. {"service": "app", "kind": "latency",
 * "ms": 50, "share": 1.0, "duration_ms": 30000}: members service or route, kind, share
 * (default 1), duration_ms (required), ms (latency: a number or a string as above), status
 * (abort, default 503), bytes_per_s (bandwidth), host (host_down, needs service). Unknown
 * members, duplicates, wrong types, out-of-range values and missing ones are errors. Returns 0,
 * or -1 with a one-line reason in err. Names are not checked against any config. */
int lv_fault_spec_parse_json(const char *p, size_t len, lv_fault_spec_t *out, char *err,
                             size_t errlen);
/* The members of spec as the JSON object above reads them back, without braces (the caller
 * adds its own members: id, remaining time, count). */
void lv_fault_spec_write_json_members(FILE *f, const lv_fault_spec_t *spec);

/* Parses the value of the X-Levee-Fault test header: "latency MS" (MS as lv_fault_ms_parse),
 * "abort STATUS", "reset", "blackhole", "bandwidth BYTES_PER_S"; case-sensitive words, one space
 * or tab between them, spaces and tabs around the value ignored. The result applies to that
 * request only (share 1; no target, no duration). Returns 0 or -1. */
int lv_fault_header_parse(const char *p, size_t len, lv_fault_spec_t *out);

/* The members of the JSON object and of a config faults[] item, in the order they are written.
 * As bits of `given` (1u << member) for lv_fault_spec_check. */
typedef enum {
    LV_FAULT_M_SERVICE = 0,
    LV_FAULT_M_ROUTE,
    LV_FAULT_M_KIND,
    LV_FAULT_M_SHARE,
    LV_FAULT_M_DURATION_MS,
    LV_FAULT_M_MS,
    LV_FAULT_M_STATUS,
    LV_FAULT_M_BYTES_PER_S,
    LV_FAULT_M_HOST,
    LV_FAULT_MEMBERS
} lv_fault_member_t;

/* "service", "route", "kind", "share", "duration_ms", "ms", "status", "bytes_per_s", "host": the
 * JSON member names and the config keys alike. */
extern const char *const lv_fault_member_names[LV_FAULT_MEMBERS];

/* How a member's text was spelled. */
typedef enum {
    LV_FAULT_TEXT_STRING = 0, /* a JSON string's decoded bytes */
    LV_FAULT_TEXT_NUMBER,     /* a JSON number's text */
    LV_FAULT_TEXT_CONFIG,     /* a YAML scalar: either; duration_ms and bytes_per_s may carry the
                                 config's units ("30s", "64k") */
} lv_fault_text_t;

/* A spec holding the defaults of the members that have one (share 1, status 503); the rest 0. */
void lv_fault_spec_init(lv_fault_spec_t *spec);

/* Sets member m of spec from its text (len bytes), checking its type and bounds: names
 * [A-Za-z0-9_.-]{1,64}, kind one of lv_fault_kind_names, share a number in 0..1, duration_ms an
 * integer in 1..LV_FAULT_DURATION_MAX, ms as lv_fault_ms_parse, status 200..599, bytes_per_s at
 * least 1024, host HOST:PORT of at most LV_FAULT_HOST_MAX characters. The JSON parser, the config
 * loader and the header parser read every member through here. Returns 0, or -1 with the reason
 * in err ("expected a number in 0..1", no member name), spec then unchanged. */
int lv_fault_spec_set_member(lv_fault_spec_t *spec, lv_fault_member_t m, const char *s, size_t len,
                             lv_fault_text_t as, char *err, size_t errlen);

/* Checks what concerns the members together, once each was set: exactly one of service and
 * route; kind and duration_ms present; no member of another kind (status is abort's, ms
 * latency's, bytes_per_s bandwidth's, host host_down's); ms, bytes_per_s and host present for
 * their kind; host_down on a service, not a route. given: the members the input named, as bits
 * (1u << lv_fault_member_t). Returns -1 when the spec is whole, else the member at fault
 * (LV_FAULT_MEMBERS: the object as a whole) with the reason in err. */
int lv_fault_spec_check(const lv_fault_spec_t *spec, uint32_t given, char *err, size_t errlen);

/* Whether two specs are the same fault (a reload keeps a config fault that did not change). */
bool lv_fault_spec_equal(const lv_fault_spec_t *a, const lv_fault_spec_t *b);

#endif
