/* core/redis_url.h: where a Redis server is, as written in configs and flags:
 * "redis://HOST:PORT[/DB]" (HOST a name, IPv4 or [IPv6]; PORT default 6379) or
 * "unix:PATH[?db=N]". No credentials: "user:pass@" is refused. */
#ifndef LV_CORE_REDIS_URL_H
#define LV_CORE_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define LV_REDIS_HOST_MAX 256
#define LV_REDIS_PATH_MAX 108 /* sun_path */

typedef struct lv_redis_url {
    bool unix_socket;
    char host[LV_REDIS_HOST_MAX]; /* without brackets; the socket path when unix_socket */
    int port;
    int db; /* SELECT this database after connecting (0: the default) */
} lv_redis_url_t;

/* Parses url. Returns 0, or LV_EINVAL with a reason in why (a static string). */
int lv_redis_url_parse(const char *url, lv_redis_url_t *out, const char **why);

#endif
