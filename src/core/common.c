/* core/common.c: assertion failure and the aborting allocators for setup code.
 * Never used on the data path, where allocation failure fails one request. */
#include "core/common.h"

#include <string.h>

void lv_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "level=error comp=assert msg=\"assertion failed\" expr=\"%s\" at=%s:%d\n", expr,
            file, line);
    abort();
}

static void *oom(size_t n)
{
    fprintf(stderr, "level=error comp=core msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *lv_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *lv_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

char *lv_xstrdup(const char *s)
{
    return lv_xstrndup(s, strlen(s));
}

char *lv_xstrndup(const char *s, size_t n)
{
    char *p = lv_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
