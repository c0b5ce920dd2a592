/* core/common.h: error codes, assertions and small helpers used by every module.
 * Header only; no state. */
#ifndef LV_CORE_COMMON_H
#define LV_CORE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Functions return 0 or a negative LV_E* code; constructors return NULL. */
enum {
    LV_OK = 0,
    LV_ENOMEM = -1,   /* allocation failed */
    LV_EINVAL = -2,   /* bad argument or bad input */
    LV_ELIMIT = -3,   /* a configured bound was reached */
    LV_EIO = -4,      /* system call failed; errno or the uv code was logged */
    LV_ECONFIG = -5,  /* configuration rejected */
    LV_ENOTFOUND = -6 /* no such thing */
};

#define LV_LIKELY(x) __builtin_expect(!!(x), 1)
#define LV_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define LV_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define LV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LV_MAX(a, b) ((a) > (b) ? (a) : (b))

void lv_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Always on: failure means corrupted state, so the process stops with a message. */
#define LV_ASSERT(e) (LV_LIKELY(e) ? (void)0 : lv_assert_fail(#e, __FILE__, __LINE__))
/* Hot-path checks: on in dev and CI builds (no NDEBUG), off in release. */
#ifdef NDEBUG
#define LV_DASSERT(e) ((void)0)
#else
#define LV_DASSERT(e) LV_ASSERT(e)
#endif
#define LV_UNREACHABLE(why) lv_assert_fail("unreachable: " why, __FILE__, __LINE__)

/* A borrowed byte span: never owns its memory. */
typedef struct lv_str {
    const char *p;
    size_t len;
} lv_str_t;

#define LV_STR(lit) ((lv_str_t){(lit), sizeof(lit) - 1})

/* Allocation that aborts on failure: only for setup and config, never on the data path. */
void *lv_xmalloc(size_t n);
void *lv_xcalloc(size_t n, size_t size);
char *lv_xstrdup(const char *s);
char *lv_xstrndup(const char *s, size_t n);

#endif
