/* load/file.h: reading a whole small file (a scenario, a schedule, a JSON summary) into memory,
 * with a size limit and a reason on failure. Setup and offline paths only. */
#ifndef LOAD_FILE_H
#define LOAD_FILE_H

#include <stddef.h>

/* Reads path, at most max_bytes. Returns a NUL-terminated buffer (the caller frees it) with
 * its length in *len, or NULL with the reason in why (strerror's text, or "larger than N
 * MiB"). */
char *load_read_file(const char *path, size_t max_bytes, size_t *len, char *why, size_t why_size);

#endif
