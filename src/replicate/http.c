/* replicate/http.c: the replicator's --metrics listener: GET /metrics (Prometheus text) and
 * GET /status (JSON), one short connection at a time, on a thread of its own. Reads at most
 * 4 KiB of a request with a 2 s deadline; it reads the peers' counters, never writes them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "replicate/replicate.h"

struct lv_repl_http {
    int fd;
    pthread_t thread;
    atomic_bool stop;
    const lv_repl_opts_t *opts;
    lv_repl_peer_t *peers;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, int status, const char *type, const char *body)
{
    char head[256];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Error",
                     type, blen);
    write_all(fd, head, (size_t)n);
    if (blen)
        write_all(fd, body, blen);
}

static void serve(lv_repl_http_t *h, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1 && !memmem(req, len, "\r\n\r\n", 4)) {
        ssize_t r = read(fd, req + len, sizeof req - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        len += (size_t)r;
    }
    req[len] = '\0';
    char *body = NULL;
    if (strncmp(req, "GET /metrics ", 13) == 0) {
        body = lv_repl_metrics_text(h->opts, h->peers);
        answer(fd, body ? 200 : 500, "text/plain; version=0.0.4", body ? body : "out of memory\n");
    } else if (strncmp(req, "GET /status ", 12) == 0) {
        body = lv_repl_status_json(h->opts, h->peers);
        answer(fd, body ? 200 : 500, "application/json", body ? body : "out of memory\n");
    } else {
        answer(fd, 404, "text/plain", "GET /metrics or GET /status\n");
    }
    free(body);
}

static void *http_thread(void *arg)
{
    lv_repl_http_t *h = arg;
    while (!atomic_load(&h->stop)) {
        struct pollfd pfd = {h->fd, POLLIN, 0};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        int c = accept(h->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve(h, c);
        close(c);
    }
    return NULL;
}

lv_repl_http_t *lv_repl_http_start(const char *hostport, const lv_repl_opts_t *o,
                                   lv_repl_peer_t *peers)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) {
        lv_log_error("replicate", "msg=\"--metrics is not HOST:PORT\"");
        return NULL;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host[0] == '[' ? host + 1 : host, colon + 1, &hints, &ai) != 0 || !ai) {
        lv_log_error("replicate", "msg=\"--metrics is not a numeric HOST:PORT\"");
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        lv_log_error("replicate", "msg=\"cannot listen for --metrics\" errno=%d", errno);
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
            port = ntohs(in->sin_port);
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
            port = ntohs(in6->sin6_port);
        }
    }
    lv_repl_http_t *h = lv_xcalloc(1, sizeof *h);
    h->fd = fd;
    h->opts = o;
    h->peers = peers;
    atomic_init(&h->stop, false);
    if (pthread_create(&h->thread, NULL, http_thread, h) != 0) {
        close(fd);
        free(h);
        return NULL;
    }
    lv_log_info("replicate", "msg=\"metrics listening\" addr=%s:%d", addr, port);
    return h;
}

void lv_repl_http_stop(lv_repl_http_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    close(h->fd);
    free(h);
}
