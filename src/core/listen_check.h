/* core/listen_check.h: is another process already listening on an address, and who? levee's
 * listeners use SO_REUSEPORT (one socket per worker), which would also let a second levee
 * share the port silently; the server asks here first and refuses to start unless told to take
 * over. Linux only (/proc). */
#ifndef LV_CORE_LISTEN_CHECK_H
#define LV_CORE_LISTEN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

typedef struct lv_listen_holder {
    int pid;          /* 0: not found (another user's process, another namespace, or gone) */
    char command[64]; /* /proc/<pid>/comm when pid is set */
} lv_listen_holder_t;

/* Whether a socket already listens on a's address (or overlaps it: a wildcard address on the
 * same port), found by binding a probe socket with SO_REUSEADDR but without SO_REUSEPORT,
 * which fails with EADDRINUSE exactly then (sockets in TIME_WAIT do not count). Port 0 is never
 * taken. Any other bind error gives false: the real bind will report it. When true, fills
 * *holder (lv_listen_holder_find). Call before binding a itself. Any thread. */
bool lv_listen_taken(const lv_addr_t *a, lv_listen_holder_t *holder);

/* Finds the process holding a LISTEN socket on a's address: its inode from /proc/net/tcp and
 * /proc/net/tcp6, then the /proc/<pid>/fd link "socket:[inode]". A socket bound to exactly a's
 * address is preferred over a wildcard one. holder->pid is 0 when none is found. */
void lv_listen_holder_find(const lv_addr_t *a, lv_listen_holder_t *holder);

/* For lv_listen_holder_find and its tests: the inodes of the LISTEN sockets in text (the
 * contents of /proc/net/tcp, or of /proc/net/tcp6 when v6) whose address overlaps a's; those
 * bound to exactly a's address first. Writes at most cap; returns how many were written. */
size_t lv__listen_inodes(const char *text, bool v6, const lv_addr_t *a, unsigned long *inodes,
                         size_t cap);

#endif
