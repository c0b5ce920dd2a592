/* load/file.c: reads a whole small file into a NUL-terminated buffer, refusing one over its
 * limit. Setup and offline paths only (allocation aborts when memory runs out). */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

char *load_read_file(const char *path, size_t max_bytes, size_t *len, char *why, size_t why_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_size, "%s", strerror(errno));
        return NULL;
    }
    size_t cap = LV_MIN(max_bytes, (size_t)1 << 16) + 1, n = 0, got;
    char *buf = lv_xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n > max_bytes)
            break;
        if (n == cap) {
            cap = LV_MIN(cap * 2, max_bytes + 1);
            char *nb = realloc(buf, cap + 1);
            LV_ASSERT(nb != NULL);
            buf = nb;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed || n > max_bytes) {
        if (failed)
            snprintf(why, why_size, "read error");
        else
            snprintf(why, why_size, "larger than %zu MiB", max_bytes >> 20);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
