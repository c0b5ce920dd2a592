/* http/proxy_protocol.c: parses the PROXY protocol header, v1 (text) and v2 (binary), as
 * HAProxy's proxy-protocol.txt specifies it. Strict: a header that is not exactly right is an
 * error (the connection is closed). Pure function of its input; any thread. */
#include "http/proxy_protocol.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

static const char v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* One space-free field of a v1 line: [*p, end) up to the next space; advances *p past it. */
static bool v1_field(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p, *e = memchr(s, ' ', (size_t)(end - s));
    if (!e)
        e = end;
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e < end ? e + 1 : e;
    return true;
}

static bool v1_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

static lv_pp_result_t parse_v1(const char *data, size_t len, lv_pp_info_t *out, size_t *used)
{
    size_t limit = len < 107 ? len : 107;
    const char *crlf = NULL;
    for (size_t i = 0; i < limit; i++) {
        if (data[i] == '\n')
            return LV_PP_ERROR; /* a line feed without its carriage return */
        if (data[i] != '\r' || i + 1 >= limit)
            continue;
        if (data[i + 1] != '\n')
            return LV_PP_ERROR;
        crlf = data + i;
        break;
    }
    if (!crlf)
        return len >= 107 ? LV_PP_ERROR : LV_PP_NEED_MORE;
    const char *p = data + 6, *end = crlf; /* after "PROXY " */
    char proto[8], src[46], dst[46], sport[8], dport[8];
    if (!v1_field(&p, end, proto, sizeof proto))
        return LV_PP_ERROR;
    *used = (size_t)(crlf - data) + 2;
    memset(out, 0, sizeof *out);
    if (!strcmp(proto, "UNKNOWN"))
        return LV_PP_OK; /* the rest of the line is ignored */
    int fam = !strcmp(proto, "TCP4") ? AF_INET : !strcmp(proto, "TCP6") ? AF_INET6 : 0;
    if (!fam || !v1_field(&p, end, src, sizeof src) || !v1_field(&p, end, dst, sizeof dst) ||
        !v1_field(&p, end, sport, sizeof sport) || !v1_field(&p, end, dport, sizeof dport) ||
        p != end)
        return LV_PP_ERROR;
    unsigned char bin[16];
    uint16_t sp, dp;
    if (inet_pton(fam, src, bin) != 1 || inet_pton(fam, dst, bin) != 1 || !v1_port(sport, &sp) ||
        !v1_port(dport, &dp))
        return LV_PP_ERROR;
    out->family = fam;
    memcpy(out->src, src, strlen(src) + 1);
    out->src_port = sp;
    return LV_PP_OK;
}

static lv_pp_result_t parse_v2(const unsigned char *d, size_t len, lv_pp_info_t *out, size_t *used)
{
    if (len < 16)
        return LV_PP_NEED_MORE;
    if ((d[12] & 0xf0) != 0x20)
        return LV_PP_ERROR; /* version 2 only */
    unsigned cmd = d[12] & 0x0f, fam = d[13] >> 4, proto = d[13] & 0x0f;
    size_t body = ((size_t)d[14] << 8) | d[15];
    if (16 + body > LV_PP_MAX_BYTES || cmd > 1)
        return LV_PP_ERROR;
    if (len < 16 + body)
        return LV_PP_NEED_MORE;
    *used = 16 + body;
    memset(out, 0, sizeof *out);
    if (cmd == 0)
        return LV_PP_OK; /* LOCAL: a health check of the balancer itself */
    if (proto != 1 && proto != 0)
        return LV_PP_ERROR;
    if (fam == 1) { /* AF_INET: src, dst, sport, dport */
        if (body < 12)
            return LV_PP_ERROR;
        if (!inet_ntop(AF_INET, d + 16, out->src, sizeof out->src))
            return LV_PP_ERROR;
        out->family = AF_INET;
        out->src_port = (uint16_t)((d[24] << 8) | d[25]);
    } else if (fam == 2) {
        if (body < 36)
            return LV_PP_ERROR;
        if (!inet_ntop(AF_INET6, d + 16, out->src, sizeof out->src))
            return LV_PP_ERROR;
        out->family = AF_INET6;
        out->src_port = (uint16_t)((d[48] << 8) | d[49]);
    } else if (fam != 0 && fam != 3) {
        return LV_PP_ERROR;
    } /* UNSPEC or UNIX: the socket's peer stays the client */
    return LV_PP_OK;
}

lv_pp_result_t lv_pp_parse(const char *data, size_t len, lv_pp_info_t *out, size_t *used)
{
    *used = 0;
    if (len == 0)
        return LV_PP_NEED_MORE;
    size_t n = len < 12 ? len : 12;
    if (memcmp(data, v2_sig, n) == 0)
        return len < 12 ? LV_PP_NEED_MORE : parse_v2((const unsigned char *)data, len, out, used);
    n = len < 6 ? len : 6;
    if (memcmp(data, "PROXY ", n) != 0)
        return LV_PP_ERROR;
    return len < 6 ? LV_PP_NEED_MORE : parse_v1(data, len, out, used);
}
