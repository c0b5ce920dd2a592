/* core/listen_check.c: finds out whether an address already has a listener (a probe bind
 * without SO_REUSEPORT) and which process holds it (/proc/net/tcp{,6}, then /proc/<pid>/fd).
 * Owns nothing past a call; reads /proc only. Runs on the main thread before the listeners are
 * bound; never on the request path. */
#include "core/listen_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROC_NET_MAX_BYTES (64u << 20) /* a million sockets; past that, names go unknown */
#define MAX_INODES 64

static unsigned addr_port(const lv_addr_t *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

bool lv_listen_taken(const lv_addr_t *a, lv_listen_holder_t *holder)
{
    memset(holder, 0, sizeof *holder);
    if (addr_port(a) == 0)
        return false;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool taken = bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) < 0 && errno == EADDRINUSE;
    close(fd);
    if (taken)
        lv_listen_holder_find(a, holder);
    return taken;
}

/* --- /proc/net/tcp{,6}: addresses as 16 bytes, IPv4 as ::ffff:a.b.c.d */

typedef struct ip16 {
    unsigned char b[16];
} ip16_t;

static const unsigned char v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static ip16_t ip_of(const lv_addr_t *a)
{
    ip16_t ip = {{0}};
    if (a->sa.ss_family == AF_INET6) {
        memcpy(ip.b, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, 16);
    } else {
        memcpy(ip.b, v4_prefix, 12);
        memcpy(ip.b + 12, &((const struct sockaddr_in *)&a->sa)->sin_addr, 4);
    }
    return ip;
}

static bool ip_is_v4(const ip16_t *ip)
{
    return memcmp(ip->b, v4_prefix, 12) == 0;
}

static bool ip_is_any6(const ip16_t *ip)
{
    static const unsigned char zero[16];
    return memcmp(ip->b, zero, 16) == 0;
}

static bool ip_is_any(const ip16_t *ip)
{
    static const unsigned char zero[4];
    return ip_is_any6(ip) || (ip_is_v4(ip) && memcmp(ip->b + 12, zero, 4) == 0);
}

/* A wildcard covers its family; "::" (dual stack) covers both. */
static bool ip_overlaps(const ip16_t *x, const ip16_t *y)
{
    if (memcmp(x->b, y->b, 16) == 0)
        return true;
    if (ip_is_any(x) && (ip_is_any6(x) || ip_is_v4(y)))
        return true;
    return ip_is_any(y) && (ip_is_any6(y) || ip_is_v4(x));
}

/* The kernel prints each 32-bit word of the address as a native-endian %08X. */
static bool parse_hex_ip(const char *hex, bool v6, ip16_t *out)
{
    size_t words = v6 ? 4 : 1;
    if (strlen(hex) != words * 8)
        return false;
    memset(out, 0, sizeof *out);
    if (!v6)
        memcpy(out->b, v4_prefix, 12);
    for (size_t i = 0; i < words; i++) {
        char part[9];
        memcpy(part, hex + i * 8, 8);
        part[8] = '\0';
        uint32_t w = (uint32_t)strtoul(part, NULL, 16);
        memcpy(out->b + (v6 ? i * 4 : 12), &w, 4);
    }
    return true;
}

/* Appends the inodes of matching LISTEN lines: bound to exactly want (exact) or overlapping it
 * through a wildcard (!exact). */
static size_t collect(const char *text, bool v6, const ip16_t *want, unsigned port, bool exact,
                      unsigned long *inodes, size_t n, size_t cap)
{
    const char *line = strchr(text, '\n'); /* the first line is the header */
    while (line && n < cap) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512], hex[33];
        unsigned lport, state;
        unsigned long inode;
        if (len > 0 && len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            ip16_t ip;
            if (sscanf(buf, " %*u: %32[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*u %*u %lu", hex, &lport,
                       &state, &inode) == 4 &&
                state == 0x0A /* TCP_LISTEN */ && lport == port && inode != 0 &&
                parse_hex_ip(hex, v6, &ip) &&
                (exact ? memcmp(ip.b, want->b, 16) == 0
                       : memcmp(ip.b, want->b, 16) != 0 && ip_overlaps(&ip, want)))
                inodes[n++] = inode;
        }
        line = end;
    }
    return n;
}

size_t lv__listen_inodes(const char *text, bool v6, const lv_addr_t *a, unsigned long *inodes,
                         size_t cap)
{
    ip16_t want = ip_of(a);
    size_t n = collect(text, v6, &want, addr_port(a), true, inodes, 0, cap);
    return collect(text, v6, &want, addr_port(a), false, inodes, n, cap);
}

/* The whole of a /proc file (its size is not known in advance), NUL-terminated; NULL if it
 * cannot be read. */
static char *read_proc(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 64 << 10, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *bigger = cap < PROC_NET_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        n += (size_t)got;
    }
    close(fd);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* Index of inode in inodes[0, n), or -1. */
static int inode_rank(const unsigned long *inodes, size_t n, unsigned long inode)
{
    for (size_t i = 0; i < n; i++)
        if (inodes[i] == inode)
            return (int)i;
    return -1;
}

/* The pid among /proc/<pid>/fd whose socket has the best (lowest) rank in inodes; stops at the
 * first whose rank is below n_exact. 0 when none is readable. */
static int find_pid(const unsigned long *inodes, size_t n, size_t n_exact)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    int best_pid = 0, best_rank = -1;
    struct dirent *p;
    while ((p = readdir(proc)) != NULL && !(best_rank >= 0 && (size_t)best_rank < n_exact)) {
        char *end;
        long pid = strtol(p->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        DIR *fds = opendir(path); /* EACCES for another user's process: skipped */
        if (fds == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(fds)) != NULL) {
            char link[300], target[64];
            if (e->d_name[0] == '.')
                continue;
            snprintf(link, sizeof link, "/proc/%ld/fd/%s", pid, e->d_name);
            ssize_t len = readlink(link, target, sizeof target - 1);
            unsigned long inode;
            if (len <= 0)
                continue;
            target[len] = '\0';
            if (sscanf(target, "socket:[%lu]", &inode) != 1)
                continue;
            int rank = inode_rank(inodes, n, inode);
            if (rank >= 0 && (best_rank < 0 || rank < best_rank)) {
                best_rank = rank;
                best_pid = (int)pid;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return best_pid;
}

void lv_listen_holder_find(const lv_addr_t *a, lv_listen_holder_t *holder)
{
    memset(holder, 0, sizeof *holder);
    unsigned long inodes[MAX_INODES];
    size_t n = 0, n_exact;
    ip16_t want = ip_of(a);
    unsigned port = addr_port(a);
    char *tcp = read_proc("/proc/net/tcp"), *tcp6 = read_proc("/proc/net/tcp6");
    if (tcp)
        n = collect(tcp, false, &want, port, true, inodes, n, MAX_INODES);
    if (tcp6)
        n = collect(tcp6, true, &want, port, true, inodes, n, MAX_INODES);
    n_exact = n;
    if (tcp)
        n = collect(tcp, false, &want, port, false, inodes, n, MAX_INODES);
    if (tcp6)
        n = collect(tcp6, true, &want, port, false, inodes, n, MAX_INODES);
    free(tcp);
    free(tcp6);
    if (n == 0)
        return;
    int pid = find_pid(inodes, n, n_exact);
    if (pid <= 0)
        return;
    holder->pid = pid;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "re");
    if (f == NULL || fgets(holder->command, sizeof holder->command, f) == NULL)
        snprintf(holder->command, sizeof holder->command, "?");
    if (f)
        fclose(f);
    holder->command[strcspn(holder->command, "\n")] = '\0';
    for (char *c = holder->command; *c; c++) /* it goes into a quoted log value */
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '?';
}
