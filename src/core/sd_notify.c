/* core/sd_notify.c: the sd_notify protocol by hand (see sd_notify.h): a datagram of
 * "KEY=VALUE\n" lines to the AF_UNIX socket in $NOTIFY_SOCKET. Owns no state; any thread. */
#include "core/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"

int lv_sd_notify_addr(const char *value, struct sockaddr_un *sun, socklen_t *len)
{
    if (!value || (value[0] != '/' && value[0] != '@'))
        return LV_EINVAL;
    size_t n = strlen(value);
    if (n < 2 && value[0] == '@')
        return LV_EINVAL;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (value[0] == '@') {
        /* Abstract: a NUL, then the name; the address length says where the name ends. */
        if (n > sizeof sun->sun_path)
            return LV_EINVAL;
        memcpy(sun->sun_path + 1, value + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n >= sizeof sun->sun_path) /* room for the terminating NUL */
        return LV_EINVAL;
    memcpy(sun->sun_path, value, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int lv_sd_notify(const char *state)
{
    const char *value = getenv("NOTIFY_SOCKET");
    if (!value)
        return 0;
    struct sockaddr_un sun;
    socklen_t len;
    if (lv_sd_notify_addr(value, &sun, &len) < 0)
        return LV_EINVAL;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return LV_EIO;
    size_t n = strlen(state);
    ssize_t sent;
    do
        sent = sendto(fd, state, n, MSG_NOSIGNAL, (const struct sockaddr *)&sun, len);
    while (sent < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)n ? 1 : LV_EIO;
}
