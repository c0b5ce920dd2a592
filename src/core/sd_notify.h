/* core/sd_notify.h: tells the service manager (systemd, Type=notify) how the process is doing:
 * one datagram per call to the socket named by $NOTIFY_SOCKET. No libsystemd. */
#ifndef LV_CORE_SD_NOTIFY_H
#define LV_CORE_SD_NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

/* Turns a $NOTIFY_SOCKET value into an AF_UNIX address: "/path" names a file socket, "@name" an
 * abstract one (the '@' becomes the leading NUL byte; the length covers exactly the name, no
 * trailing NUL). Returns 0, or LV_EINVAL for an empty value, any other form (systemd's
 * "vsock:" addresses are not supported) or a name longer than sun_path. */
int lv_sd_notify_addr(const char *value, struct sockaddr_un *sun, socklen_t *len);

/* Sends state ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1", "STATUS=...", lines
 * joined by '\n') as one datagram to $NOTIFY_SOCKET. Returns 1 when sent, 0 when NOTIFY_SOCKET
 * is unset (not run by systemd: nothing to do), LV_EINVAL for an unusable NOTIFY_SOCKET,
 * LV_EIO when the socket cannot be made or the send fails (errno says why). Never blocks for
 * long (a datagram to a local socket). Any thread; levee calls it from the main thread. */
int lv_sd_notify(const char *state);

#endif
