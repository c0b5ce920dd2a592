/* http/proxy_protocol.h: the PROXY protocol header (HAProxy's, versions 1 and 2) that a load
 * balancer in front of levee sends before the first byte of HTTP, naming the real client. */
#ifndef LV_HTTP_PROXY_PROTOCOL_H
#define LV_HTTP_PROXY_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* The longest header accepted: v1 is at most 107 bytes; v2 is 16 bytes plus its addresses and
 * TLVs, bounded here (TLVs are skipped). */
#define LV_PP_MAX_BYTES 536u

typedef enum {
    LV_PP_NEED_MORE = 0, /* a valid prefix: more bytes are needed */
    LV_PP_OK = 1,        /* a whole header: *used bytes of it */
    LV_PP_ERROR = 2,     /* not a PROXY header, or a malformed one */
} lv_pp_result_t;

typedef struct lv_pp_info {
    int family;   /* AF_INET, AF_INET6, or 0: LOCAL / UNKNOWN (keep the socket's peer) */
    char src[46]; /* the client's address as text ("192.0.2.1", "2001:db8::1") */
    uint16_t src_port;
} lv_pp_info_t;

/* Parses the start of a connection's bytes. Never reads past len; no allocation. */
lv_pp_result_t lv_pp_parse(const char *data, size_t len, lv_pp_info_t *out, size_t *used);

#endif
