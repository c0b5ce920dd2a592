/* proxy/upgrade.c: hands the listening sockets from a running levee to its successor over a
 * Unix socket (upgrade_socket; levee --upgrade-from), so that no queued connection is lost.
 * Owns both ends of that conversation. Never touches a worker's loop: the old side only reads
 * the fd numbers recorded at start. Runs on the main thread.
 *
 * The conversation (SOCK_SEQPACKET, one message each):
 *   old -> new  "LVUP1 <kinds>" with one SCM_RIGHTS descriptor per kind letter (L: a listen
 *               socket, A: the admin's), 64 at most per message, as often as needed;
 *   old -> new  "LVUP1 END";
 *   new -> old  "READY <pid>" once its workers accept on them;
 *   old -> new  "BYE": the old one closed its upgrade listener (the path is free to bind) and
 *               drains. Its copies of the sockets close as its workers stop: the new process
 *               holds the same open sockets, so their queues live on and it accepts them.
 * A successor that goes away before READY changes nothing: the old one keeps serving.
 *
 * SIGUSR2 starts that successor from here (nginx's pattern, and the one that works under
 * systemd: the service's main process starts its own successor, which then tells systemd
 * MAINPID=<its pid>): the binary at the path this process was invoked by (a package upgrade
 * replaced the file there), with this process's arguments and --upgrade-from PATH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/log.h"
#include "proxy/proxy.h"

#define LV_UP_MAX_FDS 64   /* per message (the kernel allows 253) */
#define LV_UP_TIMEOUT_S 10 /* the successor waits this long for each message */
#define LV_UP_MAX_SOCKETS 65536

static int unix_addr(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path)
        return -1;
    memcpy(sun->sun_path, path, strlen(path));
    return 0;
}

/* ---- the successor ---- */

/* One "LVUP1 ..." message with its descriptors into s->inherited. 1: END; 0: more; <0: error
 * (every descriptor received is in s->inherited or closed). */
static int receive_one(lv_server_t *s, int fd)
{
    char text[128];
    union {
        char buf[CMSG_SPACE(LV_UP_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {text, sizeof text - 1};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return LV_EIO;
    text[n] = '\0';
    int fds[LV_UP_MAX_FDS];
    uint32_t n_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && n_fds < LV_UP_MAX_FDS; i++)
            memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    int rc = 0;
    const char *kinds = text + 6;
    if (strncmp(text, "LVUP1 ", 6) != 0 || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
        rc = LV_EIO;
    else if (strcmp(kinds, "END") == 0)
        rc = n_fds ? LV_EIO : 1;
    else if (strlen(kinds) != n_fds || s->n_inherited + n_fds > LV_UP_MAX_SOCKETS)
        rc = LV_EIO;
    lv__inherited_t *grown = NULL;
    if (rc == 0) {
        grown = realloc(s->inherited, (s->n_inherited + n_fds) * sizeof *grown);
        if (!grown)
            rc = LV_ENOMEM;
        else
            s->inherited = grown;
    }
    for (uint32_t i = 0; i < n_fds; i++) {
        if (rc != 0) {
            close(fds[i]);
            continue;
        }
        lv__inherited_t *in = &s->inherited[s->n_inherited++];
        memset(in, 0, sizeof *in);
        in->fd = fds[i];
        in->admin = kinds[i] == 'A';
        socklen_t len = sizeof in->sa;
        if (getsockname(fds[i], (struct sockaddr *)&in->sa, &len) < 0)
            in->sa.ss_family = AF_UNSPEC; /* matches no address: closed at the end */
    }
    return rc;
}

int lv__upgrade_receive(lv_server_t *s, const char *path)
{
    char qpath[256];
    lv_log_quote_str(qpath, sizeof qpath, path);
    struct sockaddr_un sun;
    if (unix_addr(&sun, path) < 0) {
        lv_log_error("upgrade", "msg=\"--upgrade-from: path too long\" path=%s", qpath);
        return LV_EIO;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return LV_EIO;
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED) {
            lv_log_warn("upgrade",
                        "msg=\"no levee to take over from; binding the addresses anew\" path=%s",
                        qpath);
            return 1;
        }
        lv_log_error("upgrade", "msg=\"cannot reach the running levee\" path=%s error=\"%s\"",
                     qpath, strerror(e));
        return LV_EIO;
    }
    struct timeval tv = {.tv_sec = LV_UP_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    while ((rc = receive_one(s, fd)) == 0)
        ;
    if (rc < 0) {
        lv_log_error("upgrade",
                     "msg=\"the running levee did not hand its sockets over\" path=%s error=\"%s\"",
                     qpath, rc == LV_ENOMEM ? "out of memory" : "bad or missing message");
        close(fd);
        return LV_EIO;
    }
    s->upgrade_from_fd = fd;
    lv_log_info("upgrade", "msg=\"received the listening sockets\" path=%s sockets=%u", qpath,
                s->n_inherited);
    return 0;
}

void lv__upgrade_finish(lv_server_t *s)
{
    int fd = s->upgrade_from_fd;
    if (fd < 0)
        return;
    char msg[32];
    int len = snprintf(msg, sizeof msg, "READY %d", (int)getpid());
    char reply[16] = "";
    ssize_t n = -1;
    if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) == len)
        n = recv(fd, reply, sizeof reply - 1, 0);
    if (n == 3 && memcmp(reply, "BYE", 3) == 0)
        lv_log_info("upgrade", "msg=\"the previous levee stopped accepting and drains\"");
    else
        lv_log_warn("upgrade", "msg=\"the previous levee did not confirm; it may still accept\"");
    close(fd);
    s->upgrade_from_fd = -1;
    /* Sockets of addresses this config no longer lists: their queues go with the old process. */
    for (uint32_t i = 0; i < s->n_inherited; i++)
        if (s->inherited[i].fd >= 0) {
            lv_log_warn("upgrade", "msg=\"a socket handed over matches no listener; closed\"");
            close(s->inherited[i].fd);
            s->inherited[i].fd = -1;
        }
}

/* ---- the running levee: SIGUSR2 starts the successor ---- */

static void on_successor_exit(uv_process_t *p, int64_t status, int signum)
{
    lv_server_t *s = p->data;
    if (!s->handed_over)
        lv_log_warn("upgrade",
                    "msg=\"the successor exited before it was ready; still serving\" pid=%d "
                    "status=%lld signal=%d",
                    p->pid, (long long)status, signum);
    else
        lv_log_info("upgrade", "msg=\"the successor exited\" pid=%d status=%lld signal=%d", p->pid,
                    (long long)status, signum);
    lv__upgrade_forget(s);
}

void lv__upgrade_forget(lv_server_t *s)
{
    if (!s->successor_running)
        return;
    s->successor_running = false;
    uv_close((uv_handle_t *)&s->successor, NULL);
}

/* self_argv with --upgrade-from path: the value replaced where the option is given already
 * (as "--upgrade-from X" or "--upgrade-from=X"), else appended. NULL when out of memory;
 * *owned is the one string allocated here (free it with the array). */
static char **successor_args(char *const *argv, const char *path, char **owned)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **args = calloc(n + 3, sizeof *args);
    if (!args)
        return NULL;
    *owned = NULL;
    bool given = false;
    for (size_t i = 0; i < n; i++) {
        args[i] = argv[i];
        if (i == 0 || given)
            continue;
        if (strcmp(argv[i], "--upgrade-from") == 0 && i + 1 < n) {
            args[++i] = (char *)path;
            given = true;
        } else if (strncmp(argv[i], "--upgrade-from=", 15) == 0) {
            size_t len = 15 + strlen(path) + 1;
            if (!(*owned = malloc(len))) {
                free(args);
                return NULL;
            }
            snprintf(*owned, len, "--upgrade-from=%s", path);
            args[i] = *owned;
            given = true;
        }
    }
    if (!given) {
        args[n] = "--upgrade-from";
        args[n + 1] = (char *)path;
    }
    return args;
}

void lv__upgrade_spawn(lv_server_t *s)
{
    const char *path = s->cfg->upgrade_socket;
    if (!path || s->upgrade_listen_fd < 0) {
        lv_log_warn("upgrade", "msg=\"SIGUSR2 ignored: %s\"",
                    path ? "not listening at upgrade_socket"
                         : "no upgrade_socket configured (needed to hand the sockets over)");
        return;
    }
    if (s->draining || s->successor_running || s->upgrade_conn_fd >= 0 || !s->self_exe) {
        lv_log_warn("upgrade", "msg=\"SIGUSR2 ignored: %s\"",
                    s->draining    ? "draining"
                    : !s->self_exe ? "the path of the binary is unknown"
                                   : "a successor is starting");
        return;
    }
    char *owned;
    char **args = successor_args(s->self_argv, path, &owned);
    if (!args) {
        lv_log_error("upgrade", "msg=\"cannot start the successor\" error=\"out of memory\"");
        return;
    }
    /* libuv's child resets every signal's disposition and the signal mask before exec (this
     * process blocks signals in its workers and handles some through libuv), and the
     * descriptors levee opens are close-on-exec: the successor gets stdout, stderr, the
     * environment (NOTIFY_SOCKET) and the working directory, nothing else
     * (stdin is /dev/null). */
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}}; /* stdin: /dev/null */
    for (int i = 1; i < 3; i++) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = i;
    }
    uv_process_options_t opts = {
        .exit_cb = on_successor_exit,
        .file = s->self_exe,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    char qexe[512];
    lv_log_quote_str(qexe, sizeof qexe, s->self_exe);
    int rc = uv_spawn(s->loop, &s->successor, &opts);
    free(owned);
    free(args);
    if (rc < 0) {
        /* The handle is initialised even then, and must be closed. */
        uv_close((uv_handle_t *)&s->successor, NULL);
        lv_log_error("upgrade",
                     "msg=\"cannot start the successor; still serving\" exe=%s "
                     "error=\"%s\"",
                     qexe, uv_strerror(rc));
        return;
    }
    s->successor.data = s;
    s->successor_running = true;
    lv_log_info("upgrade", "msg=\"SIGUSR2: started a successor\" pid=%d exe=%s", s->successor.pid,
                qexe);
}

/* ---- the running levee ---- */

static void close_conn(lv_server_t *s)
{
    if (s->upgrade_conn_fd < 0)
        return;
    uv_close((uv_handle_t *)&s->upgrade_conn, NULL);
    close(s->upgrade_conn_fd);
    s->upgrade_conn_fd = -1;
}

static void close_listener(lv_server_t *s)
{
    if (s->upgrade_listen_fd < 0)
        return;
    uv_close((uv_handle_t *)&s->upgrade_listen, NULL);
    close(s->upgrade_listen_fd);
    s->upgrade_listen_fd = -1;
}

void lv__upgrade_close(lv_server_t *s)
{
    close_conn(s);
    /* Unless a successor bound its own there since (handed over, or started with --takeover). */
    struct stat st;
    const char *path = s->cfg->upgrade_socket;
    if (s->upgrade_listen_fd >= 0 && !s->handed_over && path && stat(path, &st) == 0 &&
        st.st_ino == s->upgrade_ino && st.st_dev == s->upgrade_dev)
        unlink(path);
    close_listener(s);
}

static int send_fds(int fd, const char *kinds, const int *fds, uint32_t n)
{
    char text[8 + LV_UP_MAX_FDS];
    int len = snprintf(text, sizeof text, "LVUP1 %s", kinds);
    union {
        char buf[CMSG_SPACE(LV_UP_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {text, (size_t)len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    return sendmsg(fd, &msg, MSG_NOSIGNAL) == len ? 0 : LV_EIO;
}

/* Every listening socket (the workers' handles hold them open until the drain, which has not
 * begun) and the admin's. */
static int send_sockets(lv_server_t *s, int fd)
{
    char kinds[LV_UP_MAX_FDS + 1];
    int fds[LV_UP_MAX_FDS];
    int admin_fd = lv_admin_fd(s->admin);
    uint32_t total = s->n_lsocks + (admin_fd >= 0);
    for (uint32_t i = 0, n; i < total; i += n) {
        n = LV_MIN(total - i, LV_UP_MAX_FDS);
        for (uint32_t j = 0; j < n; j++) {
            bool admin = i + j == s->n_lsocks;
            fds[j] = admin ? admin_fd : s->lsocks[i + j].fd;
            kinds[j] = admin ? 'A' : 'L';
        }
        kinds[n] = '\0';
        if (send_fds(fd, kinds, fds, n) < 0)
            return LV_EIO;
    }
    return send_fds(fd, "END", NULL, 0);
}

static void on_successor_msg(uv_poll_t *p, int status, int events)
{
    (void)events;
    lv_server_t *s = p->data;
    char buf[64];
    ssize_t n = status < 0 ? -1 : recv(s->upgrade_conn_fd, buf, sizeof buf - 1, 0);
    if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        buf[n] = '\0';
    if (n <= 0 || strncmp(buf, "READY ", 6) != 0) {
        lv_log_warn("upgrade", "msg=\"the successor went away before it was ready; still "
                               "serving\"");
        close_conn(s);
        return;
    }
    int pid = atoi(buf + 6);
    /* The path is the successor's from now on: close without unlinking, then say so. */
    s->handed_over = true;
    close_listener(s);
    if (send(s->upgrade_conn_fd, "BYE", 3, MSG_NOSIGNAL) != 3)
        lv_log_warn("upgrade", "msg=\"could not confirm to the successor\" pid=%d", pid);
    close_conn(s);
    lv__server_handed_over(s, pid);
}

static void on_successor(uv_poll_t *p, int status, int events)
{
    (void)events;
    lv_server_t *s = p->data;
    if (status < 0)
        return;
    int fd = accept4(s->upgrade_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
        lv_log_warn("upgrade", "msg=\"refused a successor of another user\"");
        close(fd);
        return;
    }
    if (s->upgrade_conn_fd >= 0 || s->draining) {
        lv_log_warn("upgrade", "msg=\"refused a successor: %s\" pid=%d",
                    s->draining ? "draining" : "another one is starting", (int)cred.pid);
        close(fd);
        return;
    }
    if (send_sockets(s, fd) < 0) {
        lv_log_warn("upgrade", "msg=\"could not hand the sockets over\" pid=%d error=\"%s\"",
                    (int)cred.pid, strerror(errno));
        close(fd);
        return;
    }
    lv_log_info("upgrade",
                "msg=\"sockets handed to a successor; serving until it is ready\" "
                "pid=%d sockets=%u",
                (int)cred.pid, s->n_lsocks + (lv_admin_fd(s->admin) >= 0));
    s->upgrade_conn_fd = fd;
    uv_poll_init(s->loop, &s->upgrade_conn, fd);
    s->upgrade_conn.data = s;
    uv_poll_start(&s->upgrade_conn, UV_READABLE | UV_DISCONNECT, on_successor_msg);
}

void lv__upgrade_listen(lv_server_t *s)
{
    const char *path = s->cfg->upgrade_socket;
    if (!path)
        return;
    char qpath[256];
    lv_log_quote_str(qpath, sizeof qpath, path);
    struct sockaddr_un sun;
    int fd = -1;
    if (unix_addr(&sun, path) < 0) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    unlink(path); /* a predecessor's (it closed it without unlinking) or a crashed one's */
    mode_t old_mask = umask(0177); /* only this user may connect */
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old_mask);
    struct stat st;
    if (rc < 0 || listen(fd, 4) < 0 || stat(path, &st) < 0)
        goto fail;
    s->upgrade_ino = st.st_ino;
    s->upgrade_dev = st.st_dev;
    s->upgrade_listen_fd = fd;
    uv_poll_init(s->loop, &s->upgrade_listen, fd);
    s->upgrade_listen.data = s;
    uv_poll_start(&s->upgrade_listen, UV_READABLE, on_successor);
    lv_log_info("upgrade", "msg=\"waiting for a successor\" path=%s", qpath);
    return;
fail:
    lv_log_error("upgrade",
                 "msg=\"cannot listen for a successor; upgrades will not work\" "
                 "path=%s error=\"%s\"",
                 qpath, strerror(errno));
    if (fd >= 0)
        close(fd);
}
