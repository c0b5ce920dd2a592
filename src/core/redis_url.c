/* core/redis_url.c: parsing of Redis addresses (core/redis_url.h); used by the second cache
 * tier, its subscriber and the replicator. */
#include "core/redis_url.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"

static int fail(const char **why, const char *reason)
{
    *why = reason;
    return LV_EINVAL;
}

static bool digits(const char *p, size_t n, long max, long *out)
{
    if (n == 0 || n > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return v <= max;
}

int lv_redis_url_parse(const char *url, lv_redis_url_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5, *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (n == 0 || path[0] != '/')
            return fail(why, "unix: needs an absolute socket path");
        if (n >= LV_REDIS_PATH_MAX)
            return fail(why, "socket path too long");
        long v;
        if (q && (strncmp(q, "?db=", 4) != 0 || !digits(q + 4, strlen(q + 4), 9999, &v)))
            return fail(why, "after the path, only ?db=N");
        out->unix_socket = true;
        memcpy(out->host, path, n);
        out->db = q ? (int)v : 0;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return fail(why, "expected redis://HOST:PORT[/DB] or unix:PATH");
    const char *p = url + 8, *host_end, *rest;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return fail(why, "unclosed [ in the host");
        p++;
        rest = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        rest = host_end;
    }
    size_t hl = (size_t)(host_end - p);
    if (hl == 0)
        return fail(why, "no host");
    if (hl >= LV_REDIS_HOST_MAX)
        return fail(why, "host too long");
    for (size_t i = 0; i < hl; i++)
        if (p[i] == '@' || (unsigned char)p[i] <= ' ')
            return fail(why, "credentials and spaces are not supported in the host");
    memcpy(out->host, p, hl);
    out->port = 6379;
    long v;
    if (*rest == ':') {
        const char *ps = rest + 1;
        size_t n = strcspn(ps, "/");
        if (!digits(ps, n, 65535, &v) || v == 0)
            return fail(why, "port must be 1..65535");
        out->port = (int)v;
        rest = ps + n;
    }
    if (*rest == '/' && rest[1]) {
        if (!digits(rest + 1, strlen(rest + 1), 9999, &v))
            return fail(why, "database must be a number up to 9999");
        out->db = (int)v;
    } else if (*rest && strcmp(rest, "/") != 0) {
        return fail(why, "unexpected text after the host");
    }
    return 0;
}
