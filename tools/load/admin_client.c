/* load/admin_client.c: blocking HTTP/1.1 to levee's admin listener for `levee-load score` (see
 * admin_client.h): one short-lived connection per request, poll(2) for the deadline. */
#include "admin_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_RESP_MAX (16u << 20)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int send_all(int fd, const char *p, size_t n, long long deadline)
{
    while (n) {
        if (wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

int load_admin_request(const load_target_t *admin, const char *method, const char *path,
                       const char *token, const char *body, int timeout_ms, load_admin_resp_t *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    long long deadline = now_ms() + timeout_ms;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(admin->port)};
    if (inet_pton(AF_INET, admin->host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "admin: %s: not an IPv4 address", admin->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "admin: socket: %s", strerror(errno));
        return -1;
    }
    int rc = -1;
    char *req = NULL, *buf = NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "admin %s:%u: %s", admin->host, admin->port, strerror(errno));
        goto done;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (wait_fd(fd, POLLOUT, deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
        snprintf(err, errlen, "admin %s:%u: %s", admin->host, admin->port,
                 soerr ? strerror(soerr) : "connect timed out");
        goto done;
    }
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 512 + strlen(path) + (token ? strlen(token) : 0) + blen;
    req = malloc(cap);
    if (!req) {
        snprintf(err, errlen, "admin: out of memory");
        goto done;
    }
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, admin->host_header, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "", blen);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "admin: request too long");
        goto done;
    }
    memcpy(req + n, body ? body : "", blen);
    if (send_all(fd, req, (size_t)n + blen, deadline) < 0) {
        snprintf(err, errlen, "admin: send failed");
        goto done;
    }
    size_t len = 0, bcap = 4096;
    buf = malloc(bcap);
    for (;;) {
        if (!buf) {
            snprintf(err, errlen, "admin: out of memory");
            goto done;
        }
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            snprintf(err, errlen, "admin: %s %s: no answer within %d ms", method, path, timeout_ms);
            goto done;
        }
        ssize_t r = recv(fd, buf + len, bcap - len - 1, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            snprintf(err, errlen, "admin: recv: %s", strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len + 1 == bcap) {
            if (bcap >= ADMIN_RESP_MAX) {
                snprintf(err, errlen, "admin: response over 16 MiB");
                goto done;
            }
            char *nb = realloc(buf, bcap * 2);
            if (!nb) {
                snprintf(err, errlen, "admin: out of memory");
                goto done;
            }
            buf = nb;
            bcap *= 2;
        }
    }
    buf[len] = '\0';
    int status = 0;
    char *head_end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !head_end || status < 100 || status > 599) {
        snprintf(err, errlen, "admin: %s %s: not an HTTP response", method, path);
        goto done;
    }
    /* The admin listener answers with Content-Length and closes: the body is the rest. */
    size_t off = (size_t)(head_end + 4 - buf);
    memmove(buf, buf + off, len - off + 1);
    out->status = status;
    out->body = buf;
    out->len = len - off;
    buf = NULL;
    rc = 0;
done:
    free(req);
    free(buf);
    close(fd);
    return rc;
}

double load_metrics_sum(const char *text, const char *prefix)
{
    double sum = 0;
    size_t plen = strlen(prefix);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, prefix, plen) == 0) {
            const char *sp = memchr(line, ' ', nl ? (size_t)(nl - line) : strlen(line));
            if (sp)
                sum += strtod(sp + 1, NULL);
        }
        line = nl ? nl + 1 : NULL;
    }
    return sum;
}
