/* core/config.c: loads a YAML file into an immutable lv_config_t snapshot, driven by the
 * settings table; collects every error as "file:line:col: key: message". Main thread only
 * (loading); ref/unref and lv_config_route are safe from any thread. */
#include "core/config.h"

#include "cache/l2_event.h"
#include "core/redis_url.h"
#include "core/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_DEPTH 32     /* YAML nesting; the schema needs 4 */
#define MAX_NODES 200000 /* YAML nodes per file */
#define MAX_ERRORS 100   /* error lines kept */
#define MAX_FILE_BYTES (4u << 20)
#define MAX_SETTINGS 192
#define MAX_MAP_KEYS 256 /* keys in one mapping; the schema needs 28 */
#define MAX_WORKERS 64
#define MAX_GUARD_FILE_BYTES (1u << 20) /* fallback.file, wait_page */
#define MAX_CACHE_KEY_NAME 64           /* routes[].cache_key: one header or cookie name */

const char *const lv_criticality_names[LV_CRIT_COUNT] = {"critical", "default", "sheddable"};

/* LV_CONFIG_K_ENUM rows store the value index through an int. */
_Static_assert(sizeof(lv_criticality_t) == sizeof(int), "enum size");
_Static_assert(sizeof(lv_balance_t) == sizeof(int), "enum size");

/* ---- addresses ---- */

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5)
        return LV_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return LV_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return LV_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int lv_addr_parse(lv_addr_t *out, const char *text, bool allow_port0)
{
    char host[64];
    uint16_t port;
    size_t len = strlen(text);
    const char *colon;
    memset(out, 0, sizeof(*out));
    if (len == 0 || len >= 64)
        return LV_EINVAL;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':')
            return LV_EINVAL;
        size_t hl = (size_t)(end - text - 1);
        memcpy(host, text + 1, hl);
        host[hl] = '\0';
        colon = end + 1;
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->sa;
        if (hl == 0 || inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
            return LV_EINVAL;
        if (parse_port(colon + 1, strlen(colon + 1), &port) != 0)
            return LV_EINVAL;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        out->sa_len = sizeof(*sa);
        char norm[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &sa->sin6_addr, norm, sizeof(norm));
        snprintf(out->text, sizeof(out->text), "[%s]:%u", norm, (unsigned)port);
    } else {
        colon = strrchr(text, ':');
        if (!colon || colon == text)
            return LV_EINVAL;
        size_t hl = (size_t)(colon - text);
        memcpy(host, text, hl);
        host[hl] = '\0';
        if (parse_port(colon + 1, strlen(colon + 1), &port) != 0)
            return LV_EINVAL;
        struct sockaddr_in *sa = (struct sockaddr_in *)&out->sa;
        if (strcmp(host, "localhost") == 0)
            sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
            return LV_EINVAL;
        sa->sin_family = AF_INET;
        sa->sin_port = htons(port);
        out->sa_len = sizeof(*sa);
        char norm[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa->sin_addr, norm, sizeof(norm));
        snprintf(out->text, sizeof(out->text), "%s:%u", norm, (unsigned)port);
    }
    if (port == 0 && !allow_port0) {
        memset(out, 0, sizeof(*out));
        return LV_EINVAL;
    }
    return 0;
}

static uint16_t addr_port(const lv_addr_t *a)
{
    if (a->sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

/* ---- errors ---- */

void lv_config_errors_fini(lv_config_errors_t *errs)
{
    if (!errs)
        return;
    for (uint32_t i = 0; i < errs->n; i++)
        free(errs->lines[i]);
    free(errs->lines);
    errs->lines = NULL;
    errs->n = 0;
}

static void errs_push(lv_config_errors_t *errs, char *line)
{
    char **lines = realloc(errs->lines, (errs->n + 1) * sizeof(*lines));
    LV_ASSERT(lines != NULL);
    errs->lines = lines;
    errs->lines[errs->n++] = line;
}

/* ---- the YAML tree: built from libyaml events so nesting, size and aliases are bounded ---- */

enum { YN_SCALAR, YN_SEQ, YN_MAP };

typedef struct yn {
    int kind;
    bool plain;         /* a plain (unquoted) scalar: may be null */
    uint32_t line, col; /* 1-based */
    char *s;            /* scalar bytes, NUL-terminated (may hold inner NULs) */
    size_t len;
    struct yn **kids; /* SEQ: items; MAP: key, value, key, value ... */
    uint32_t n, cap;
} yn_t;

typedef struct loader_err {
    uint32_t line, col;
    char *text;
} loader_err_t;

typedef struct loader {
    const char *name;
    lv_config_errors_t *errs;
    uint32_t n_errs;     /* problems found (all counted, MAX_ERRORS kept) */
    loader_err_t *found; /* kept problems, sorted by position when handed to errs */
    lv_config_t *cfg;
    uint32_t n_nodes;
} loader_t;

static void yn_free(yn_t *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->n; i++)
        yn_free(n->kids[i]);
    free(n->kids);
    free(n->s);
    free(n);
}

static void yn_add(yn_t *parent, yn_t *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->kids = realloc(parent->kids, parent->cap * sizeof(*parent->kids));
        LV_ASSERT(parent->kids != NULL);
    }
    parent->kids[parent->n++] = kid;
}

static bool yn_null(const yn_t *n)
{
    if (!n)
        return true;
    if (n->kind != YN_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
           strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

/* Writes at most `max` bytes of s, quoted, with unprintable bytes escaped. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0, max = 48;
    if (size < 8)
        return;
    buf[o++] = '"';
    for (size_t i = 0; i < len && i < max && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    if (len > max && o + 4 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

static void err_at(loader_t *ld, uint32_t line, uint32_t col, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void err_at(loader_t *ld, uint32_t line, uint32_t col, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!ld->errs || ld->n_errs >= MAX_ERRORS) {
        ld->n_errs++;
        return;
    }
    if (!ld->found)
        ld->found = lv_xcalloc(MAX_ERRORS, sizeof(*ld->found));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t n = strlen(ld->name) + strlen(key) + strlen(msg) + 32;
    loader_err_t *e = &ld->found[ld->n_errs++];
    e->line = line;
    e->col = col;
    e->text = lv_xmalloc(n);
    snprintf(e->text, n, "%s:%u:%u: %s: %s", ld->name, line, col, key, msg);
}

/* Hands the kept problems to errs in file order (stable: equal positions keep their order). */
static void errs_flush(loader_t *ld)
{
    uint32_t kept = LV_MIN(ld->n_errs, (uint32_t)MAX_ERRORS);
    if (!ld->errs || !ld->found)
        return;
    for (uint32_t i = 1; i < kept; i++) { /* insertion sort: at most MAX_ERRORS items */
        loader_err_t e = ld->found[i];
        uint32_t j = i;
        while (j > 0 && (ld->found[j - 1].line > e.line ||
                         (ld->found[j - 1].line == e.line && ld->found[j - 1].col > e.col))) {
            ld->found[j] = ld->found[j - 1];
            j--;
        }
        ld->found[j] = e;
    }
    for (uint32_t i = 0; i < kept; i++)
        errs_push(ld->errs, ld->found[i].text);
    if (ld->n_errs > MAX_ERRORS) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: too many errors (%u), only the first %d are shown",
                 ld->name, ld->n_errs, MAX_ERRORS);
        errs_push(ld->errs, lv_xstrdup(msg));
    }
    free(ld->found);
    ld->found = NULL;
}

#define ERR(ld, node, key, ...) err_at((ld), (node)->line, (node)->col, (key), __VA_ARGS__)

/* Byte offset -> 1-based line and column, for reader errors that have no mark. */
static void offset_to_mark(const char *s, size_t len, size_t off, uint32_t *line, uint32_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static yn_t *yn_new(loader_t *ld, int kind, const yaml_mark_t *m)
{
    yn_t *n = lv_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (uint32_t)m->line + 1;
    n->col = (uint32_t)m->column + 1;
    ld->n_nodes++;
    return n;
}

/* Parses the whole stream. Returns 0 and *root (NULL for an empty stream) or an error (one
 * line already reported). */
static int yaml_build(loader_t *ld, const char *yaml, size_t len, yn_t **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    yn_t *stack[MAX_DEPTH + 1];
    int depth = 0, rc = 0, docs = 0;
    bool done = false;

    *root = NULL;
    int ok = yaml_parser_initialize(&p);
    LV_ASSERT(ok);
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            uint32_t line, col;
            if (p.error == YAML_READER_ERROR) {
                offset_to_mark(yaml, len, p.problem_offset, &line, &col);
            } else {
                line = (uint32_t)p.problem_mark.line + 1;
                col = (uint32_t)p.problem_mark.column + 1;
            }
            if (p.context)
                err_at(ld, line, col, "yaml", "%s %s (line %zu, column %zu)",
                       p.problem ? p.problem : "syntax error", p.context, p.context_mark.line + 1,
                       p.context_mark.column + 1);
            else
                err_at(ld, line, col, "yaml", "%s", p.problem ? p.problem : "syntax error");
            rc = LV_ECONFIG;
            break;
        }
        yn_t *node = NULL;
        const yaml_mark_t *m = &ev.start_mark;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                err_at(ld, (uint32_t)m->line + 1, (uint32_t)m->column + 1, "yaml",
                       "only one document is allowed");
                rc = LV_ECONFIG;
            }
            break;
        case YAML_ALIAS_EVENT:
            err_at(ld, (uint32_t)m->line + 1, (uint32_t)m->column + 1, "yaml",
                   "aliases are not supported");
            rc = LV_ECONFIG;
            break;
        case YAML_SCALAR_EVENT:
            node = yn_new(ld, YN_SCALAR, m);
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            node->len = ev.data.scalar.length;
            node->s = lv_xstrndup((const char *)ev.data.scalar.value, node->len);
            break;
        case YAML_SEQUENCE_START_EVENT:
            node = yn_new(ld, YN_SEQ, m);
            break;
        case YAML_MAPPING_START_EVENT:
            node = yn_new(ld, YN_MAP, m);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            LV_ASSERT(depth > 0);
            depth--;
            break;
        default:
            break;
        }
        if (node) {
            if (depth > 0)
                yn_add(stack[depth - 1], node);
            else if (!*root)
                *root = node;
            else {
                yn_free(node); /* cannot happen in one document; be safe */
                node = NULL;
            }
        }
        if (node) {
            if (node->kind != YN_SCALAR) {
                if (depth == MAX_DEPTH) {
                    err_at(ld, node->line, node->col, "yaml", "nesting deeper than %d levels",
                           MAX_DEPTH);
                    rc = LV_ECONFIG;
                } else {
                    stack[depth++] = node;
                }
            }
            if (ld->n_nodes > MAX_NODES) {
                err_at(ld, node->line, node->col, "yaml", "more than %d nodes", MAX_NODES);
                rc = LV_ECONFIG;
            }
        }
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&p);
    if (rc) {
        yn_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---- scalar parsing ---- */

static bool parse_u64(const char *s, size_t len, uint64_t *out, size_t *used)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == 0)
        return false;
    *out = v;
    *used = i;
    return true;
}

static bool mul_ok(uint64_t *v, uint64_t m)
{
    if (*v > UINT64_MAX / m)
        return false;
    *v *= m;
    return true;
}

/* "16384", "16k", "16KiB", "1m", "1g" */
static bool parse_bytes(const char *s, size_t len, uint64_t *out)
{
    size_t used;
    if (!parse_u64(s, len, out, &used))
        return false;
    const char *u = s + used;
    size_t ul = len - used;
    if (ul == 0)
        return true;
    uint64_t m;
    switch (tolower((unsigned char)u[0])) {
    case 'k':
        m = 1024;
        break;
    case 'm':
        m = 1024 * 1024;
        break;
    case 'g':
        m = 1024 * 1024 * 1024;
        break;
    default:
        return false;
    }
    if (!(ul == 1 || (ul == 2 && tolower((unsigned char)u[1]) == 'b') ||
          (ul == 3 && strncasecmp(u + 1, "ib", 2) == 0)))
        return false;
    return mul_ok(out, m);
}

int lv_config_parse_bytes(const char *text, uint64_t *bytes)
{
    return parse_bytes(text, strlen(text), bytes) ? 0 : LV_EINVAL;
}

/* "500" (ms), "500ms", "10s", "2m", "1h" */
static bool parse_duration(const char *s, size_t len, uint64_t *out)
{
    size_t used;
    if (!parse_u64(s, len, out, &used))
        return false;
    const char *u = s + used;
    size_t ul = len - used;
    if (ul == 0 || (ul == 2 && memcmp(u, "ms", 2) == 0))
        return true;
    if (ul != 1)
        return false;
    switch (u[0]) {
    case 's':
        return mul_ok(out, 1000);
    case 'm':
        return mul_ok(out, 60000);
    case 'h':
        return mul_ok(out, 3600000);
    default:
        return false;
    }
}

int lv_config_parse_duration(const char *text, size_t len, uint64_t *ms)
{
    return parse_duration(text, len, ms) ? 0 : LV_EINVAL;
}

/* Index of word in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *word, size_t len)
{
    int i = 0;
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && memcmp(p, word, n) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
        i++;
    }
    return -1;
}

/* Edit distance (optimal string alignment: a swap of two letters costs 1) of short
 * strings such as keys; 99 if either is too long. */
static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned d[65][65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned best = LV_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
            best = LV_MIN(best, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = LV_MIN(best, d[i - 2][j - 2] + 1);
            d[i][j] = best;
        }
    return d[la][lb];
}

/* ---- applying table rows ---- */

typedef struct scope {
    const char *prefix; /* table prefix: "", "limits.", "services[]." */
    char path[160];     /* display path of the map: "", "services[2]" */
    char *base;         /* struct the rows' offsets point into */
} scope_t;

static void key_path(char *buf, size_t size, const char *path, const char *key)
{
    int n = path[0] ? snprintf(buf, size, "%s.%s", path, key) : snprintf(buf, size, "%s", key);
    if (n < 0 || (size_t)n >= size)
        buf[size - 1] = '\0'; /* a display path: cut, never overflowed */
}

static const char *kind_name(int kind)
{
    return kind == YN_MAP ? "a mapping" : kind == YN_SEQ ? "a list" : "a scalar";
}

/* Checks that v is a scalar without NUL bytes; reports otherwise. */
static bool want_scalar(loader_t *ld, const yn_t *v, const char *key, const char *what)
{
    if (v->kind != YN_SCALAR) {
        ERR(ld, v, key, "expected %s, got %s", what, kind_name(v->kind));
        return false;
    }
    if (memchr(v->s, '\0', v->len)) {
        ERR(ld, v, key, "contains a NUL byte");
        return false;
    }
    return true;
}

static void set_str(char **field, const char *s, size_t len)
{
    free(*field);
    *field = s ? lv_xstrndup(s, len) : NULL;
}

static bool name_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static bool host_ok(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return false;
    if (s[0] == '[') {
        char buf[64];
        struct in6_addr a6;
        if (len < 3 || len - 2 >= sizeof(buf) || s[len - 1] != ']')
            return false;
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
            return false;
    return true;
}

/* HTTP token characters (RFC 9110 tchar): header and cookie names. */
static bool token_ok(const char *s, size_t len)
{
    if (len == 0 || len > 100)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

static void cache_key_parts_free(lv_cache_key_part_t *parts, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(parts[i].name);
}

/* routes[].cache_key: "" or at most row->max comma-separated items "header:NAME" or
 * "cookie:NAME", spaces around items allowed. Header names are stored lower-case (header
 * names match whatever their case), cookie names as written (cookie names are case-sensitive). */
static void apply_cache_key(loader_t *ld, const lv_config_setting_t *row, const yn_t *v,
                            const char *key, char *base)
{
    lv_cache_key_part_t *parts = (lv_cache_key_part_t *)(void *)(base + row->offset);
    uint32_t *count = (uint32_t *)(void *)(base + row->count_offset);
    lv_cache_key_part_t found[LV_CACHE_KEY_PARTS_MAX];
    uint32_t n = 0;
    const char *p = v->s, *end = v->s + v->len;
    char q[128];

    LV_ASSERT(row->max <= LV_CACHE_KEY_PARTS_MAX);
    while (v->len > 0) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item = p, *item_end = comma ? comma : end;
        while (item < item_end && (*item == ' ' || *item == '\t'))
            item++;
        while (item_end > item && (item_end[-1] == ' ' || item_end[-1] == '\t'))
            item_end--;
        size_t item_len = (size_t)(item_end - item);
        if (item_len == 0) {
            quote(q, sizeof(q), v->s, v->len);
            ERR(ld, v, key, "%s has an empty item", q);
            goto fail;
        }
        if (n == row->max) {
            ERR(ld, v, key, "more than %llu parts", (unsigned long long)row->max);
            goto fail;
        }
        quote(q, sizeof(q), item, item_len);
        bool header = item_len >= 7 && memcmp(item, "header:", 7) == 0;
        bool cookie = item_len >= 7 && memcmp(item, "cookie:", 7) == 0;
        if ((header || cookie) && item_len - 7 > MAX_CACHE_KEY_NAME) {
            ERR(ld, v, key, "%s: the name is longer than %d bytes", q, MAX_CACHE_KEY_NAME);
            goto fail;
        }
        if (!(header || cookie) || !token_ok(item + 7, item_len - 7)) {
            ERR(ld, v, key, "%s is not header:NAME or cookie:NAME", q);
            goto fail;
        }
        size_t name_len = item_len - 7;
        found[n].kind = header ? LV_CACHE_KEY_HEADER : LV_CACHE_KEY_COOKIE;
        found[n].name = lv_xstrndup(item + 7, name_len);
        found[n].name_len = name_len;
        for (size_t i = 0; header && i < name_len; i++)
            found[n].name[i] = (char)tolower((unsigned char)found[n].name[i]);
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    cache_key_parts_free(parts, *count);
    memcpy(parts, found, n * sizeof(found[0]));
    *count = n;
    return;
fail:
    cache_key_parts_free(found, n);
}

static void apply_addr_list(loader_t *ld, const lv_config_setting_t *row, const yn_t *v,
                            const char *key, char *base)
{
    lv_addr_t **list = (lv_addr_t **)(void *)(base + row->offset);
    uint32_t *count = (uint32_t *)(void *)(base + row->count_offset);
    const yn_t *const *items = (const yn_t *const *)v->kids;
    uint32_t n = v->n;
    bool port0 = (row->flags & LV_CONFIG_F_PORT0) != 0;

    if (v->kind == YN_SCALAR) { /* one address may be written without brackets */
        items = (const yn_t *const *)&v;
        n = 1;
    } else if (v->kind != YN_SEQ) {
        ERR(ld, v, key, "expected a list of HOST:PORT, got %s", kind_name(v->kind));
        return;
    }
    if (n < row->min) {
        ERR(ld, v, key, "must not be empty");
        return;
    }
    if (n > row->max) {
        ERR(ld, v, key, "more than %u addresses", (unsigned)row->max);
        return;
    }
    free(*list);
    *list = lv_xcalloc(n, sizeof(lv_addr_t));
    *count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const yn_t *it = items[i];
        char ik[200], q[128];
        if (v->kind == YN_SEQ)
            snprintf(ik, sizeof(ik), "%s[%u]", key, i);
        else
            snprintf(ik, sizeof(ik), "%s", key);
        if (!want_scalar(ld, it, ik, "HOST:PORT"))
            continue;
        lv_addr_t a;
        quote(q, sizeof(q), it->s, it->len);
        if (lv_addr_parse(&a, it->s, true) != 0) {
            ERR(ld, it, ik, "%s is not HOST:PORT", q);
            continue;
        }
        if (!port0 && addr_port(&a) == 0) {
            ERR(ld, it, ik, "%s: port 0 is not allowed here", q);
            continue;
        }
        bool dup = false;
        for (uint32_t j = 0; j < *count && !dup; j++)
            dup = addr_port(&a) != 0 && strcmp((*list)[j].text, a.text) == 0;
        if (dup) {
            ERR(ld, it, ik, "%s is listed twice", q);
            continue;
        }
        (*list)[(*count)++] = a;
    }
}

int lv_cidr_parse(lv_cidr_t *out, const char *text, size_t len)
{
    char buf[64];
    memset(out, 0, sizeof *out);
    if (len == 0 || len >= sizeof buf)
        return LV_EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    unsigned bits = 0;
    if (slash) {
        *slash = '\0';
        size_t n = strlen(slash + 1);
        if (n == 0 || n > 3)
            return LV_EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (slash[1 + i] < '0' || slash[1 + i] > '9')
                return LV_EINVAL;
            bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
        }
    }
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (!slash)
            bits = 32;
        if (bits > 32)
            return LV_EINVAL;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (!slash)
            bits = 128;
        if (bits > 128)
            return LV_EINVAL;
    } else {
        return LV_EINVAL;
    }
    out->bits = (uint8_t)bits;
    return 0;
}

static bool cidr_has(const lv_cidr_t *c, const uint8_t *a)
{
    unsigned full = c->bits / 8u, rest = c->bits % 8u;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

bool lv_cidr_contains(const lv_cidr_t *blocks, uint32_t n, const char *ip, size_t len)
{
    char buf[64];
    uint8_t a4[4], a6[16];
    if (n == 0 || len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, ip, len);
    buf[len] = '\0';
    bool v4 = inet_pton(AF_INET, buf, a4) == 1;
    bool v6 = !v4 && inet_pton(AF_INET6, buf, a6) == 1;
    /* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 address. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (v6 && memcmp(a6, mapped, 12) == 0) {
        memcpy(a4, a6 + 12, 4);
        v4 = true;
    }
    for (uint32_t i = 0; i < n; i++) {
        const lv_cidr_t *c = &blocks[i];
        if ((c->family == AF_INET && v4 && cidr_has(c, a4)) ||
            (c->family == AF_INET6 && v6 && cidr_has(c, a6)))
            return true;
    }
    return false;
}

static void apply_cidr_list(loader_t *ld, const lv_config_setting_t *row, const yn_t *v,
                            const char *key, char *base)
{
    lv_cidr_t **list = (lv_cidr_t **)(void *)(base + row->offset);
    uint32_t *count = (uint32_t *)(void *)(base + row->count_offset);
    const yn_t *const *items = (const yn_t *const *)v->kids;
    uint32_t n = v->n;
    if (v->kind == YN_SCALAR) {
        items = (const yn_t *const *)&v;
        n = 1;
    } else if (v->kind != YN_SEQ) {
        ERR(ld, v, key, "expected a list of addresses or address blocks, got %s",
            kind_name(v->kind));
        return;
    }
    if (n > row->max) {
        ERR(ld, v, key, "more than %u address blocks", (unsigned)row->max);
        return;
    }
    free(*list);
    *list = n ? lv_xcalloc(n, sizeof(lv_cidr_t)) : NULL;
    *count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const yn_t *it = items[i];
        char ik[200], q[128];
        snprintf(ik, sizeof(ik), v->kind == YN_SEQ ? "%s[%u]" : "%s", key, i);
        if (!want_scalar(ld, it, ik, "an address or ADDRESS/BITS"))
            continue;
        quote(q, sizeof(q), it->s, it->len);
        if (lv_cidr_parse(&(*list)[*count], it->s, it->len) != 0) {
            ERR(ld, it, ik, "%s is not an address nor an address block (10.0.0.0/8, ::1/128)", q);
            continue;
        }
        (*count)++;
    }
}

static void walk_services(loader_t *ld, const lv_config_setting_t *row, const yn_t *v);
static void walk_routes(loader_t *ld, const lv_config_setting_t *row, const yn_t *v);
static void walk_faults(loader_t *ld, const lv_config_setting_t *row, const yn_t *v);
static void walk_listeners(loader_t *ld, const lv_config_setting_t *row, const yn_t *v);
static void walk_tls_certs(loader_t *ld, const lv_config_setting_t *row, const yn_t *v,
                           const char *key, char *base);

/* The member a "faults[]." row reads (its key's last part). */
static lv_fault_member_t fault_member_of(const lv_config_setting_t *row)
{
    const char *name = strrchr(row->key, '.') + 1;
    for (int m = 0; m < LV_FAULT_MEMBERS; m++)
        if (strcmp(name, lv_fault_member_names[m]) == 0)
            return (lv_fault_member_t)m;
    LV_UNREACHABLE("a faults[] row names a member of lv_fault_spec_t");
}

/* Applies one scalar-valued row (or a list row) to scope base. */
static void apply(loader_t *ld, const lv_config_setting_t *row, const yn_t *v, const char *key,
                  char *base)
{
    void *field = base + row->offset;
    char q[128];
    uint64_t u;

    switch (row->kind) {
    case LV_CONFIG_K_ADDR_LIST:
        apply_addr_list(ld, row, v, key, base);
        return;
    case LV_CONFIG_K_CIDR_LIST:
        apply_cidr_list(ld, row, v, key, base);
        return;
    case LV_CONFIG_K_SERVICES:
        walk_services(ld, row, v);
        return;
    case LV_CONFIG_K_ROUTES:
        walk_routes(ld, row, v);
        return;
    case LV_CONFIG_K_FAULTS:
        walk_faults(ld, row, v);
        return;
    case LV_CONFIG_K_LISTENERS:
        walk_listeners(ld, row, v);
        return;
    case LV_CONFIG_K_TLS_CERTS:
        walk_tls_certs(ld, row, v, key, base);
        return;
    default:
        break;
    }
    if (!want_scalar(ld, v, key, "a scalar"))
        return;
    quote(q, sizeof(q), v->s, v->len);

    switch (row->kind) {
    case LV_CONFIG_K_UINT:
    case LV_CONFIG_K_BYTES32:
    case LV_CONFIG_K_BYTES64:
    case LV_CONFIG_K_DURATION: {
        bool ok;
        size_t used = 0;
        if (row->kind == LV_CONFIG_K_UINT)
            ok = parse_u64(v->s, v->len, &u, &used) && used == v->len;
        else if (row->kind == LV_CONFIG_K_DURATION)
            ok = parse_duration(v->s, v->len, &u);
        else
            ok = parse_bytes(v->s, v->len, &u);
        /* Digits that overflow, alone or times a unit, are out of range, not malformed. */
        size_t nd = strspn(v->s, "0123456789");
        bool range = nd == v->len;
        if (!ok && !range && nd > 0 && row->kind != LV_CONFIG_K_UINT && v->len - nd <= 3) {
            char unit[8]; /* "1" + the unit: valid means the number itself overflowed */
            uint64_t one;
            snprintf(unit, sizeof(unit), "1%s", v->s + nd);
            range = row->kind == LV_CONFIG_K_DURATION ? parse_duration(unit, strlen(unit), &one)
                                                      : parse_bytes(unit, strlen(unit), &one);
        }
        if (!ok && range && nd > 0) {
            ERR(ld, v, key, "%s is out of range %llu..%llu", q, (unsigned long long)row->min,
                (unsigned long long)row->max);
            return;
        }
        if (!ok) {
            const char *what = row->kind == LV_CONFIG_K_UINT       ? "an unsigned integer"
                               : row->kind == LV_CONFIG_K_DURATION ? "a duration (e.g. 500ms, 10s)"
                                                                   : "a size (e.g. 16384, 16k)";
            ERR(ld, v, key, "%s is not %s", q, what);
            return;
        }
        if (u < row->min || u > row->max) {
            ERR(ld, v, key, "%s is out of range %llu..%llu", q, (unsigned long long)row->min,
                (unsigned long long)row->max);
            return;
        }
        if (row->kind == LV_CONFIG_K_BYTES64)
            *(uint64_t *)field = u;
        else
            *(uint32_t *)field = (uint32_t)u;
        return;
    }
    case LV_CONFIG_K_BOOL:
        if (strcmp(v->s, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(v->s, "false") == 0)
            *(bool *)field = false;
        else
            ERR(ld, v, key, "%s is not true or false", q);
        return;
    case LV_CONFIG_K_ADDR: {
        lv_addr_t a;
        if (lv_addr_parse(&a, v->s, true) != 0)
            ERR(ld, v, key, "%s is not HOST:PORT", q);
        else if (!(row->flags & LV_CONFIG_F_PORT0) && addr_port(&a) == 0)
            ERR(ld, v, key, "%s: port 0 is not allowed here", q);
        else
            *(lv_addr_t *)field = a;
        return;
    }
    case LV_CONFIG_K_STRING:
        if (v->len > row->max) {
            ERR(ld, v, key, "longer than %llu bytes", (unsigned long long)row->max);
        } else if ((row->flags & LV_CONFIG_F_OFF_NULL) && strcmp(v->s, "off") == 0) {
            set_str(field, NULL, 0);
        } else if (v->len == 0) {
            if (row->flags & LV_CONFIG_F_EMPTY_NULL)
                set_str(field, NULL, 0);
            else
                ERR(ld, v, key, "must not be empty");
        } else {
            set_str(field, v->s, v->len);
        }
        return;
    case LV_CONFIG_K_ENUM_STR:
    case LV_CONFIG_K_ENUM: {
        int i = enum_index(row->bounds, v->s, v->len);
        if (i < 0)
            ERR(ld, v, key, "%s is not one of %s", q, row->bounds);
        else if (row->kind == LV_CONFIG_K_ENUM)
            *(int *)field = i;
        else
            set_str(field, v->s, v->len);
        return;
    }
    case LV_CONFIG_K_NAME:
        if (!name_ok(v->s, v->len, row->max))
            ERR(ld, v, key, "%s is not a name of 1..%llu characters [A-Za-z0-9_.-]", q,
                (unsigned long long)row->max);
        else
            set_str(field, v->s, v->len);
        return;
    case LV_CONFIG_K_HOST:
        if (v->len == 0) {
            set_str(field, NULL, 0);
        } else if (!host_ok(v->s, v->len)) {
            ERR(ld, v, key, "%s is not a host name (no port, no scheme)", q);
        } else {
            set_str(field, v->s, v->len);
            for (char *c = *(char **)field; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        }
        return;
    case LV_CONFIG_K_PATH: {
        bool ok = v->len >= row->min && v->len <= row->max && v->s[0] == '/';
        for (size_t i = 0; ok && i < v->len; i++)
            ok = (unsigned char)v->s[i] > 0x20 && v->s[i] != 0x7f;
        if (!ok) {
            ERR(ld, v, key, "%s must start with \"/\" and have no spaces (at most %llu bytes)", q,
                (unsigned long long)row->max);
            return;
        }
        set_str(field, v->s, v->len);
        *(size_t *)(void *)(base + row->count_offset) = v->len;
        return;
    }
    case LV_CONFIG_K_CACHE_KEY:
        apply_cache_key(ld, row, v, key, base);
        return;
    case LV_CONFIG_K_FAULT_MEMBER: {
        char why[256];
        if (lv_fault_spec_set_member((lv_fault_spec_t *)(void *)base, fault_member_of(row), v->s,
                                     v->len, LV_FAULT_TEXT_CONFIG, why, sizeof(why)) != 0)
            ERR(ld, v, key, "%s: %s", q, why);
        return;
    }
    case LV_CONFIG_K_SERVICE: {
        const lv_config_t *cfg = ld->cfg;
        const char *best = NULL;
        unsigned best_d = 3;
        /* The hint is quadratic work: only for small files that are not already broken. */
        bool hint = cfg->n_services <= 64 && ld->n_errs < MAX_ERRORS;
        for (uint32_t i = 0; i < cfg->n_services; i++) {
            const char *name = cfg->services[i].name;
            if (!name)
                continue;
            if (strlen(name) == v->len && memcmp(name, v->s, v->len) == 0) {
                *(uint32_t *)field = i;
                return;
            }
            unsigned d = hint ? edit_distance(v->s, name) : 99;
            if (d < best_d) {
                best_d = d;
                best = name;
            }
        }
        if (best)
            ERR(ld, v, key, "no service named %s (did you mean \"%s\"?)", q, best);
        else
            ERR(ld, v, key, "no service named %s", q);
        return;
    }
    default:
        LV_UNREACHABLE("list kinds handled above");
    }
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A row belongs directly to a scope when it starts with the prefix and has no further
 * "[]" (a row of a nested list). Sections like "limits." are part of the "" scope. */
static bool row_in_scope(const lv_config_setting_t *row, const char *prefix)
{
    return has_prefix(row->key, prefix) && !strstr(row->key + strlen(prefix), "[]");
}

/* Fills base with the defaults of every row of the scope, parsed from the table text. */
static void apply_defaults(loader_t *ld, const char *prefix, char *base)
{
    for (size_t i = 0; i < lv_config_n_settings; i++) {
        const lv_config_setting_t *row = &lv_config_settings[i];
        if (!row_in_scope(row, prefix) || (row->flags & LV_CONFIG_F_REQUIRED) ||
            row->kind == LV_CONFIG_K_SERVICES || row->kind == LV_CONFIG_K_ROUTES ||
            row->kind == LV_CONFIG_K_FAULTS || row->dflt[0] == '\0')
            continue;
        yn_t v = {.kind = YN_SCALAR, .line = 0, .col = 0, .s = (char *)row->dflt};
        v.len = strlen(row->dflt);
        uint32_t before = ld->n_errs;
        apply(ld, row, &v, row->key, base);
        LV_ASSERT(ld->n_errs == before); /* a default that does not parse is a table bug */
    }
}

/* The display name of a mapping: "services[0]", "limits", or "(top)". */
static void section_key(char *buf, size_t size, const scope_t *sc, const char *section)
{
    key_path(buf, size, sc->path, section);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    if (!buf[0])
        snprintf(buf, size, "(top)");
}

/* Lists whose items name items of other lists, handed back by walk_map to be read once those
 * are: routes name services; faults name services, routes and the services' hosts. */
typedef struct deferred {
    const yn_t *routes, *faults;
} deferred_t;

/* Walks one mapping: every key must be a row (or a section) of the scope. `required` rows
 * of the scope that are absent are reported at the mapping. With `later`, the routes and faults
 * lists are handed back there instead of applied. */
static void walk_map(loader_t *ld, const yn_t *map, const scope_t *sc, const char *section,
                     deferred_t *later)
{
    bool seen[MAX_SETTINGS] = {false};
    char full[256], key[256];

    LV_ASSERT(lv_config_n_settings <= MAX_SETTINGS);
    if (map->n / 2 > MAX_MAP_KEYS) { /* keeps the duplicate check below cheap */
        section_key(key, sizeof(key), sc, section);
        ERR(ld, map, key, "more than %d keys", MAX_MAP_KEYS);
        return;
    }
    for (uint32_t i = 0; i + 1 < map->n; i += 2) {
        const yn_t *k = map->kids[i], *v = map->kids[i + 1];
        if (k->kind != YN_SCALAR || memchr(k->s, '\0', k->len) || k->len > 100) {
            section_key(key, sizeof(key), sc, section);
            ERR(ld, k, key, "keys must be short plain strings");
            continue;
        }
        snprintf(full, sizeof(full), "%s%s%s", sc->prefix, section, k->s);
        char shown[160];
        snprintf(shown, sizeof(shown), "%s%s", section, k->s);
        key_path(key, sizeof(key), sc->path, shown);

        bool dup = false;
        for (uint32_t j = 0; j < i && !dup; j += 2) {
            const yn_t *pk = map->kids[j];
            if (pk->kind == YN_SCALAR && pk->len == k->len && memcmp(pk->s, k->s, k->len) == 0) {
                ERR(ld, k, key, "duplicate key (first at line %u)", pk->line);
                dup = true;
            }
        }
        if (dup)
            continue;

        const lv_config_setting_t *row = NULL;
        size_t ri = 0;
        for (; ri < lv_config_n_settings; ri++)
            if (row_in_scope(&lv_config_settings[ri], sc->prefix) &&
                strcmp(lv_config_settings[ri].key, full) == 0) {
                row = &lv_config_settings[ri];
                break;
            }
        if (row) {
            seen[ri] = true;
            if (yn_null(v)) {
                if (row->flags & LV_CONFIG_F_REQUIRED)
                    ERR(ld, v, key, "required");
            } else if (row->kind == LV_CONFIG_K_ROUTES && later) {
                later->routes = v;
            } else if (row->kind == LV_CONFIG_K_FAULTS && later) {
                later->faults = v;
            } else {
                apply(ld, row, v, key, sc->base);
            }
            continue;
        }

        /* A section: some row starts with "<full>." */
        char sect[160];
        snprintf(sect, sizeof(sect), "%s%s.", section, k->s);
        snprintf(full, sizeof(full), "%s%s", sc->prefix, sect);
        bool is_section = false;
        for (size_t j = 0; j < lv_config_n_settings && !is_section; j++)
            is_section = row_in_scope(&lv_config_settings[j], sc->prefix) &&
                         has_prefix(lv_config_settings[j].key, full);
        if (is_section && k->len < 64) {
            if (yn_null(v))
                continue;
            if (v->kind != YN_MAP)
                ERR(ld, v, key, "expected a mapping, got %s", kind_name(v->kind));
            else
                walk_map(ld, v, sc, sect, NULL);
            continue;
        }

        /* Unknown: hint at the nearest key of the same section. */
        const char *best = NULL;
        unsigned best_d = k->len <= 4 ? 2 : 3;
        snprintf(full, sizeof(full), "%s%s", sc->prefix, section);
        size_t fl = strlen(full);
        for (size_t j = 0; j < lv_config_n_settings && ld->n_errs < MAX_ERRORS; j++) {
            const char *rk = lv_config_settings[j].key;
            if (!row_in_scope(&lv_config_settings[j], sc->prefix) || !has_prefix(rk, full))
                continue;
            char cand[64];
            size_t cl = strcspn(rk + fl, ".");
            if (cl >= sizeof(cand))
                continue;
            memcpy(cand, rk + fl, cl);
            cand[cl] = '\0';
            unsigned d = edit_distance(k->s, cand);
            if (d < best_d) {
                best_d = d;
                best = rk + fl;
            }
        }
        if (best) {
            size_t bl = strcspn(best, ".");
            ERR(ld, k, key, "unknown key (did you mean \"%.*s\"?)", (int)bl, best);
        } else {
            ERR(ld, k, key, "unknown key");
        }
    }

    /* Required rows of this section that did not appear. */
    char full_sect[160];
    snprintf(full_sect, sizeof(full_sect), "%s%s", sc->prefix, section);
    for (size_t j = 0; j < lv_config_n_settings; j++) {
        const lv_config_setting_t *row = &lv_config_settings[j];
        if (!(row->flags & LV_CONFIG_F_REQUIRED) || seen[j] || !row_in_scope(row, sc->prefix) ||
            !has_prefix(row->key, full_sect) || strchr(row->key + strlen(full_sect), '.'))
            continue;
        if (row->kind == LV_CONFIG_K_ADDR_LIST && !sc->prefix[0] && ld->cfg->n_listener_items)
            continue; /* listen may be left out when listeners names the addresses */
        key_path(key, sizeof(key), sc->path, row->key + strlen(sc->prefix));
        ERR(ld, map, key, "required");
    }
}

/* Whether v is a list of at most row->max items; reports it otherwise. what: "services"... */
static bool list_ok(loader_t *ld, const lv_config_setting_t *row, const yn_t *v, const char *what)
{
    if (v->kind != YN_SEQ) {
        ERR(ld, v, row->key, "expected a list of %s, got %s", what, kind_name(v->kind));
        return false;
    }
    if (v->n > row->max) {
        ERR(ld, v, row->key, "more than %llu %s", (unsigned long long)row->max, what);
        return false;
    }
    return true;
}

/* Reads item i of a list whose rows start with prefix ("routes[].") into base, over its
 * defaults; sc becomes the item's scope ("routes[2]"). Returns the problems found in it, or -1
 * when it is not a mapping (reported). */
static int walk_item(loader_t *ld, const yn_t *it, const char *prefix, uint32_t i, char *base,
                     scope_t *sc)
{
    *sc = (scope_t){.prefix = prefix, .base = base};
    snprintf(sc->path, sizeof(sc->path), "%.*s[%u]", (int)(strlen(prefix) - 3), prefix, i);
    apply_defaults(ld, prefix, base);
    if (it->kind != YN_MAP) {
        ERR(ld, it, sc->path, "expected a mapping, got %s", kind_name(it->kind));
        return -1;
    }
    uint32_t before = ld->n_errs;
    walk_map(ld, it, sc, "", NULL);
    return (int)(ld->n_errs - before);
}

static void walk_services(loader_t *ld, const lv_config_setting_t *row, const yn_t *v)
{
    lv_config_t *cfg = ld->cfg;
    if (v->kind == YN_SEQ && v->n < row->min) {
        ERR(ld, v, row->key, "must list at least one service");
        return;
    }
    if (!list_ok(ld, row, v, "services"))
        return;
    cfg->services = lv_xcalloc(v->n, sizeof(*cfg->services));
    cfg->n_services = v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        lv_service_conf_t *svc = &cfg->services[i];
        const yn_t *it = v->kids[i];
        scope_t sc;
        if (walk_item(ld, it, "services[].", i, (char *)svc, &sc) < 0)
            continue;
        for (uint32_t j = 0; j < i && svc->name; j++)
            if (cfg->services[j].name && strcmp(cfg->services[j].name, svc->name) == 0) {
                /* Point at the name's value in this item. */
                const yn_t *at = it;
                for (uint32_t k = 0; k + 1 < it->n; k += 2)
                    if (it->kids[k]->kind == YN_SCALAR && strcmp(it->kids[k]->s, "name") == 0)
                        at = it->kids[k + 1];
                char key[200];
                snprintf(key, sizeof(key), "%s.name", sc.path);
                ERR(ld, at, key, "duplicate service name \"%s\" (first at services[%u])", svc->name,
                    j);
                break;
            }
    }
}

static void listener_conf_free(lv_listener_conf_t *l)
{
    for (uint32_t i = 0; i < l->n_certs; i++) {
        free(l->certs[i].cert);
        free(l->certs[i].key);
    }
    free(l->certs);
    free(l->tls_ciphers);
    free(l->tls_ciphersuites);
}

static void walk_listeners(loader_t *ld, const lv_config_setting_t *row, const yn_t *v)
{
    lv_config_t *cfg = ld->cfg;
    if (!list_ok(ld, row, v, "listeners"))
        return;
    cfg->listener_items = lv_xcalloc(v->n ? v->n : 1, sizeof(*cfg->listener_items));
    cfg->n_listener_items = v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        scope_t sc;
        walk_item(ld, v->kids[i], "listeners[].", i, (char *)&cfg->listener_items[i], &sc);
    }
}

/* listeners[i].tls.certificates: each item {cert, key}, read into a fresh array at base. */
static void walk_tls_certs(loader_t *ld, const lv_config_setting_t *row, const yn_t *v,
                           const char *key, char *base)
{
    lv_tls_cert_conf_t **list = (lv_tls_cert_conf_t **)(void *)(base + row->offset);
    uint32_t *count = (uint32_t *)(void *)(base + row->count_offset);
    if (v->kind != YN_SEQ) {
        ERR(ld, v, key, "expected a list of certificates, got %s", kind_name(v->kind));
        return;
    }
    if (v->n > row->max) {
        ERR(ld, v, key, "more than %llu certificates", (unsigned long long)row->max);
        return;
    }
    *list = lv_xcalloc(v->n ? v->n : 1, sizeof(**list));
    *count = v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        scope_t sc = {.prefix = "listeners[].tls.certificates[].", .base = (char *)&(*list)[i]};
        snprintf(sc.path, sizeof(sc.path), "%s[%u]", key, i);
        if (v->kids[i]->kind != YN_MAP) {
            ERR(ld, v->kids[i], sc.path, "expected a mapping, got %s", kind_name(v->kids[i]->kind));
            continue;
        }
        walk_map(ld, v->kids[i], &sc, "", NULL);
    }
}

/* The value node of key in the mapping it, or NULL (also when the value is null). */
static const yn_t *route_value(const yn_t *it, const char *key)
{
    for (uint32_t k = 0; k + 1 < it->n; k += 2)
        if (it->kids[k]->kind == YN_SCALAR && strcmp(it->kids[k]->s, key) == 0)
            return yn_null(it->kids[k + 1]) ? NULL : it->kids[k + 1];
    return NULL;
}

/* routes[i].name and routes[i].flag: a flag needs a name (the admin API finds flags by name),
 * and names are unique among routes and services (their flags share one namespace). */
static void check_route_flag(loader_t *ld, const yn_t *it, uint32_t i)
{
    const lv_config_t *cfg = ld->cfg;
    const lv_route_conf_t *r = &cfg->routes[i];
    char key[64];
    const yn_t *flag = route_value(it, "flag");
    if (flag && !r->name && !route_value(it, "name")) {
        snprintf(key, sizeof(key), "routes[%u].flag", i);
        ERR(ld, flag, key, "needs routes[%u].name (a route's flag is found by its name)", i);
    }
    if (!r->name)
        return;
    const yn_t *at = route_value(it, "name");
    snprintf(key, sizeof(key), "routes[%u].name", i);
    for (uint32_t j = 0; j < i; j++)
        if (cfg->routes[j].name && strcmp(cfg->routes[j].name, r->name) == 0) {
            ERR(ld, at ? at : it, key, "duplicate route name \"%s\" (first at routes[%u])", r->name,
                j);
            return;
        }
    for (uint32_t j = 0; j < cfg->n_services; j++)
        if (cfg->services[j].name && strcmp(cfg->services[j].name, r->name) == 0) {
            ERR(ld, at ? at : it, key,
                "\"%s\" is the name of services[%u] (flags of routes and services share one "
                "namespace)",
                r->name, j);
            return;
        }
}

static void walk_routes(loader_t *ld, const lv_config_setting_t *row, const yn_t *v)
{
    lv_config_t *cfg = ld->cfg;
    if (!list_ok(ld, row, v, "routes"))
        return;
    cfg->routes = lv_xcalloc(v->n, sizeof(*cfg->routes));
    cfg->n_routes = v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        lv_route_conf_t *r = &cfg->routes[i];
        const yn_t *it = v->kids[i];
        scope_t sc;
        int bad = walk_item(ld, it, "routes[].", i, (char *)r, &sc);
        if (bad < 0)
            continue;
        for (uint32_t j = 0; j < i && bad == 0; j++) {
            const lv_route_conf_t *o = &cfg->routes[j];
            bool same_host =
                (!o->host && !r->host) || (o->host && r->host && strcmp(o->host, r->host) == 0);
            if (same_host && o->path_prefix && r->path_prefix &&
                strcmp(o->path_prefix, r->path_prefix) == 0) {
                ERR(ld, it, sc.path, "same host and path as routes[%u]", j);
                break;
            }
        }
        check_route_flag(ld, it, i);
    }
}

/* ---- faults ---- */

int lv_config_resolve_fault_target(const lv_config_t *cfg, lv_fault_spec_t *spec)
{
    if (spec->route[0]) {
        for (uint32_t i = 0; i < cfg->n_routes; i++)
            if (cfg->routes[i].name && strcmp(cfg->routes[i].name, spec->route) == 0)
                return 0;
        return LV_ENOTFOUND;
    }
    const lv_service_conf_t *svc = NULL;
    for (uint32_t i = 0; i < cfg->n_services && !svc; i++)
        if (cfg->services[i].name && strcmp(cfg->services[i].name, spec->service) == 0)
            svc = &cfg->services[i];
    if (!svc)
        return LV_ENOTFOUND;
    if (spec->kind != LV_FAULT_HOST_DOWN)
        return 0;
    lv_addr_t a;
    const char *want = lv_addr_parse(&a, spec->host, false) == 0 ? a.text : spec->host;
    for (uint32_t u = 0; u < svc->n_upstreams; u++)
        if (strcmp(svc->upstreams[u].text, want) == 0) {
            _Static_assert(sizeof(spec->host) >= sizeof(svc->upstreams[u].text), "host fits");
            memcpy(spec->host, svc->upstreams[u].text, sizeof(svc->upstreams[u].text));
            return 0;
        }
    return LV_EINVAL;
}

/* One faults[] item once its members are read: the checks between them (lv_fault_spec_check,
 * as for the admin API) and its target against the services and routes. */
static void check_fault(loader_t *ld, const yn_t *it, uint32_t i)
{
    lv_fault_spec_t *spec = &ld->cfg->faults[i];
    uint32_t given = 0;
    char why[256], key[64], q[128];
    for (int m = 0; m < LV_FAULT_MEMBERS; m++)
        if (route_value(it, lv_fault_member_names[m]))
            given |= 1u << m;
    int bad = lv_fault_spec_check(spec, given, why, sizeof(why));
    if (bad >= 0) {
        const yn_t *at =
            bad < LV_FAULT_MEMBERS ? route_value(it, lv_fault_member_names[bad]) : NULL;
        if (bad < LV_FAULT_MEMBERS)
            snprintf(key, sizeof(key), "faults[%u].%s", i, lv_fault_member_names[bad]);
        else
            snprintf(key, sizeof(key), "faults[%u]", i);
        ERR(ld, at ? at : it, key, "%s", why);
        return;
    }
    char host[sizeof(spec->host)];
    memcpy(host, spec->host, sizeof(host));
    int rc = lv_config_resolve_fault_target(ld->cfg, spec);
    bool route = spec->route[0] != '\0';
    const char *member = rc == LV_EINVAL ? "host" : route ? "route" : "service";
    const yn_t *at = route_value(it, member);
    snprintf(key, sizeof(key), "faults[%u].%s", i, member);
    if (rc == LV_ENOTFOUND && route) {
        quote(q, sizeof(q), spec->route, strlen(spec->route));
        ERR(ld, at ? at : it, key, "no route named %s (routes[].name)", q);
    } else if (rc == LV_ENOTFOUND) {
        quote(q, sizeof(q), spec->service, strlen(spec->service));
        ERR(ld, at ? at : it, key, "no service named %s", q);
    } else if (rc != 0) {
        quote(q, sizeof(q), host, strlen(host));
        ERR(ld, at ? at : it, key, "%s is not one of the upstreams of service \"%s\"", q,
            spec->service);
    }
}

static void walk_faults(loader_t *ld, const lv_config_setting_t *row, const yn_t *v)
{
    lv_config_t *cfg = ld->cfg;
    if (!list_ok(ld, row, v, "faults"))
        return;
    cfg->faults = v->n ? lv_xcalloc(v->n, sizeof(*cfg->faults)) : NULL;
    cfg->n_faults = v->n;
    for (uint32_t i = 0; i < v->n; i++) {
        scope_t sc;
        /* After a bad member the checks between members would only say more. */
        if (walk_item(ld, v->kids[i], "faults[].", i, (char *)&cfg->faults[i], &sc) == 0)
            check_fault(ld, v->kids[i], i);
    }
}

/* ---- the guard: files read at load time and checks between guard keys ---- */

static void guard_conf_free(lv_guard_conf_t *g)
{
    free(g->fallback_body);
    free(g->fallback_file);
    free(g->fallback_redirect);
    free(g->fallback_content_type);
    free(g->wait_page);
    free(g->fallback_file_body);
    free(g->wait_page_html);
}

/* The value of key in a mapping node, or NULL. */
static const yn_t *yn_get(const yn_t *map, const char *key)
{
    for (uint32_t i = 0; map && map->kind == YN_MAP && i + 1 < map->n; i += 2)
        if (map->kids[i]->kind == YN_SCALAR && strcmp(map->kids[i]->s, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

/* Where to point at "sect.key" of a mapping: the value if written, else the section, else the
 * mapping itself (a default that conflicts with another key). sect may be NULL. */
static const yn_t *yn_at(const yn_t *map, const char *sect, const char *key)
{
    const yn_t *m = sect ? yn_get(map, sect) : map;
    if (!m || m->kind != YN_MAP)
        return m && sect ? m : map;
    const yn_t *v = yn_get(m, key);
    return v ? v : m;
}

/* guard.client_id: "ip", "header:NAME" or "cookie:NAME" with NAME a token. */
static bool client_id_ok(const char *id)
{
    if (!id)
        return false;
    if (strcmp(id, "ip") == 0)
        return true;
    if (strncmp(id, "header:", 7) != 0 && strncmp(id, "cookie:", 7) != 0)
        return false;
    return token_ok(id + 7, strlen(id + 7));
}

/* A header value levee writes itself: visible ASCII, spaces and tabs, nothing else. */
static bool header_value_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 ? *s != '\t' : (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* fallback.redirect: "http(s)://HOST..." or "/path", no spaces or control bytes (it becomes a
 * Location header as written). */
static bool redirect_ok(const char *s)
{
    size_t skip = 0;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else if (s[0] != '/' || s[1] == '/') /* "//host" is a scheme-relative URL, not a path */
        return false;
    if (skip && (s[skip] == '\0' || s[skip] == '/' || s[skip] == '?' || s[skip] == '#'))
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Reads a file named by a guard key: relative paths are relative to the directory of the
 * config file. Returns the content (NUL-terminated) and its length, or NULL after reporting
 * "cannot read PATH: REASON" at `at`. */
static char *guard_read_file(loader_t *ld, const yn_t *at, const char *key, const char *path,
                             size_t *len)
{
    char full[4096 + 512];
    const char *slash = strrchr(ld->name, '/');
    if (path[0] != '/' && slash)
        snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - ld->name), ld->name, path);
    else
        snprintf(full, sizeof(full), "%s", path);

    const char *why = NULL;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = strerror(errno);
    } else if (fstat(fd, &st) != 0) {
        why = strerror(errno);
    } else if (!S_ISREG(st.st_mode)) {
        why = "not a regular file";
    } else if ((uint64_t)st.st_size > MAX_GUARD_FILE_BYTES) {
        why = "larger than 1 MiB";
    } else {
        buf = lv_xmalloc(MAX_GUARD_FILE_BYTES + 1);
        while (n <= MAX_GUARD_FILE_BYTES) { /* the file may grow while we read it */
            ssize_t r = read(fd, buf + n, MAX_GUARD_FILE_BYTES + 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                why = strerror(errno);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (!why && n > MAX_GUARD_FILE_BYTES)
            why = "larger than 1 MiB";
    }
    if (fd >= 0)
        close(fd);
    if (why) {
        ERR(ld, at, key, "cannot read %s: %s", full, why);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void validate_service_guard(loader_t *ld, lv_service_conf_t *svc, uint32_t i,
                                   const yn_t *item)
{
    lv_guard_conf_t *g = &svc->guard;
    char key[200], q[128];

    if (g->limit_min > g->limit_max) {
        snprintf(key, sizeof(key), "services[%u].limit.min", i);
        ERR(ld, yn_at(item, "limit", "min"), key, "%u is more than limit.max (%u)", g->limit_min,
            g->limit_max);
    } else if (g->limit_initial < g->limit_min) {
        snprintf(key, sizeof(key), "services[%u].limit.initial", i);
        ERR(ld, yn_at(item, "limit", "initial"), key, "%u is less than limit.min (%u)",
            g->limit_initial, g->limit_min);
    } else if (g->limit_initial > g->limit_max) {
        snprintf(key, sizeof(key), "services[%u].limit.initial", i);
        ERR(ld, yn_at(item, "limit", "initial"), key, "%u is more than limit.max (%u)",
            g->limit_initial, g->limit_max);
    }
    if (g->queue_target_ms > g->queue_interval_ms) {
        snprintf(key, sizeof(key), "services[%u].queue.target_ms", i);
        ERR(ld, yn_at(item, "queue", "target_ms"), key, "%u is more than queue.interval_ms (%u)",
            g->queue_target_ms, g->queue_interval_ms);
    }

    int n_kinds =
        (g->fallback_body != NULL) + (g->fallback_file != NULL) + (g->fallback_redirect != NULL);
    if (n_kinds > 1) {
        snprintf(key, sizeof(key), "services[%u].fallback", i);
        ERR(ld, yn_at(item, NULL, "fallback"), key, "set only one of body, file and redirect");
    }
    if (g->fallback_redirect && !redirect_ok(g->fallback_redirect)) {
        snprintf(key, sizeof(key), "services[%u].fallback.redirect", i);
        quote(q, sizeof(q), g->fallback_redirect, strlen(g->fallback_redirect));
        ERR(ld, yn_at(item, "fallback", "redirect"), key,
            "%s is not an absolute http(s) URL or a path starting with \"/\"", q);
    }
    if (!g->fallback_content_type || !g->fallback_content_type[0] ||
        !header_value_ok(g->fallback_content_type)) {
        snprintf(key, sizeof(key), "services[%u].fallback.content_type", i);
        const char *ct = g->fallback_content_type ? g->fallback_content_type : "";
        quote(q, sizeof(q), ct, strlen(ct));
        ERR(ld, yn_at(item, "fallback", "content_type"), key, "%s is not a header value", q);
    }
    if (g->fallback_file) {
        snprintf(key, sizeof(key), "services[%u].fallback.file", i);
        g->fallback_file_body = guard_read_file(ld, yn_at(item, "fallback", "file"), key,
                                                g->fallback_file, &g->fallback_file_len);
    }
    if (g->wait_page) {
        size_t len = 0;
        const yn_t *at = yn_at(item, NULL, "wait_page");
        snprintf(key, sizeof(key), "services[%u].wait_page", i);
        char *html = guard_read_file(ld, at, key, g->wait_page, &len);
        if (html && memchr(html, '\0', len)) {
            ERR(ld, at, key, "%s contains a NUL byte", g->wait_page);
        } else if (html && !strstr(html, "{{retry_after}}")) {
            ERR(ld, at, key, "%s has no {{retry_after}} placeholder", g->wait_page);
        } else {
            g->wait_page_html = html;
            html = NULL;
        }
        free(html);
    }
}

/* Checks between guard keys and reads the guard's files, once everything is read. */
static void validate_guard(loader_t *ld, const yn_t *root)
{
    lv_config_t *cfg = ld->cfg;
    const yn_t *gsect = yn_get(root, "guard");
    char q[128];
    if (!client_id_ok(cfg->client_id)) {
        const char *s = cfg->client_id ? cfg->client_id : "";
        quote(q, sizeof(q), s, strlen(s));
        ERR(ld, yn_at(gsect ? gsect : root, NULL, "client_id"), "guard.client_id",
            "%s is not ip, header:NAME or cookie:NAME", q);
    }
    if (cfg->deadline_header && !token_ok(cfg->deadline_header, strlen(cfg->deadline_header))) {
        quote(q, sizeof(q), cfg->deadline_header, strlen(cfg->deadline_header));
        ERR(ld, yn_at(gsect ? gsect : root, NULL, "deadline_header"), "guard.deadline_header",
            "%s is not a header name", q);
    }
    const yn_t *list = yn_get(root, "services");
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        const yn_t *item = list && list->kind == YN_SEQ && i < list->n ? list->kids[i] : root;
        validate_service_guard(ld, &cfg->services[i], i, item);
    }
}

/* ---- snapshot lifetime ---- */

static void config_free(lv_config_t *cfg)
{
    if (!cfg)
        return;
    if (cfg->tls_free)
        cfg->tls_free(cfg->tls);
    free(cfg->path);
    free(cfg->listeners);
    for (uint32_t i = 0; cfg->listener_confs && i < cfg->n_listeners; i++)
        listener_conf_free(&cfg->listener_confs[i]);
    free(cfg->listener_confs);
    for (uint32_t i = 0; i < cfg->n_listener_items; i++)
        listener_conf_free(&cfg->listener_items[i]);
    free(cfg->listener_items);
    free(cfg->admin_token);
    free(cfg->access_log);
    free(cfg->upgrade_socket);
    free(cfg->trusted_proxies);
    free(cfg->log_level);
    free(cfg->client_id);
    free(cfg->deadline_header);
    free(cfg->state_file);
    free(cfg->region);
    free(cfg->cache_l2_url);
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        free(cfg->services[i].name);
        free(cfg->services[i].upstreams);
        free(cfg->services[i].health_check.path);
        free(cfg->services[i].health_check.host);
        guard_conf_free(&cfg->services[i].guard);
        free(cfg->services[i].tls.ca_file);
        free(cfg->services[i].tls.server_name);
        free(cfg->services[i].tls.cert);
        free(cfg->services[i].tls.key);
    }
    free(cfg->services);
    for (uint32_t i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].host);
        free(cfg->routes[i].path_prefix);
        free(cfg->routes[i].name);
        cache_key_parts_free(cfg->routes[i].cache_key, cfg->routes[i].n_cache_key);
    }
    free(cfg->routes);
    free(cfg->faults);
    free(cfg->fault_header_allow);
    free(cfg);
}

lv_config_t *lv_config_ref(lv_config_t *cfg)
{
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    return cfg;
}

void lv_config_unref(lv_config_t *cfg)
{
    if (cfg && atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        config_free(cfg);
}

static uint32_t resolve_workers(uint32_t w)
{
    if (w)
        return w;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return (uint32_t)LV_MIN(n, MAX_WORKERS);
}

static lv_config_t *config_alloc(loader_t *ld, const char *name)
{
    lv_config_t *cfg = lv_xcalloc(1, sizeof(*cfg));
    atomic_init(&cfg->refs, 1);
    cfg->path = lv_xstrdup(name);
    ld->cfg = cfg;
    apply_defaults(ld, "", (char *)cfg);
    return cfg;
}

lv_config_t *lv_config_new_default(void)
{
    loader_t ld = {.name = "<default>"};
    lv_config_t *cfg = config_alloc(&ld, "<quick>");
    cfg->workers = resolve_workers(cfg->workers);
    return cfg;
}

/* The value under key in a mapping node (or the node itself when there is none, so that an
 * error still points near the problem). */
static const yn_t *find_key(const yn_t *map, const char *key)
{
    for (uint32_t i = 0; map && map->kind == YN_MAP && i + 1 < map->n; i += 2)
        if (map->kids[i]->kind == YN_SCALAR && strcmp(map->kids[i]->s, key) == 0)
            return map->kids[i + 1];
    return map;
}

/* A path from the file, relative to the config file's directory, made usable from anywhere. */
static void resolve_path(loader_t *ld, char **path)
{
    const char *slash = strrchr(ld->name, '/');
    if (!*path || (*path)[0] == '/' || !slash)
        return;
    size_t n = (size_t)(slash - ld->name) + 1 + strlen(*path) + 1;
    char *full = lv_xmalloc(n);
    snprintf(full, n, "%.*s/%s", (int)(slash - ld->name), ld->name, *path);
    free(*path);
    *path = full;
}

/* listen[] and listeners[] become one list of addresses (listen's first) with the settings of
 * each beside it; TLS file paths are resolved. Files are read by the server (tls/ctx.c). */
static void merge_listeners(loader_t *ld, const yn_t *root)
{
    lv_config_t *cfg = ld->cfg;
    uint32_t n = cfg->n_listeners + cfg->n_listener_items;
    const yn_t *at = root;
    for (uint32_t k = 0; root && k + 1 < root->n; k += 2)
        if (root->kids[k]->kind == YN_SCALAR &&
            (strcmp(root->kids[k]->s, "listen") == 0 || strcmp(root->kids[k]->s, "listeners") == 0))
            at = root->kids[k + 1];
    if (n == 0)
        return; /* reported: listen is required without listeners */
    if (n > 64) {
        ERR(ld, at, "listeners", "more than 64 listeners with listen");
        return;
    }
    lv_addr_t *addrs = lv_xcalloc(n, sizeof(*addrs));
    lv_listener_conf_t *confs = lv_xcalloc(n, sizeof(*confs));
    for (uint32_t i = 0; i < cfg->n_listeners; i++)
        addrs[i] = confs[i].addr = cfg->listeners[i];
    for (uint32_t i = 0; i < cfg->n_listener_items; i++) {
        lv_listener_conf_t *l = &confs[cfg->n_listeners + i];
        *l = cfg->listener_items[i];
        addrs[cfg->n_listeners + i] = l->addr;
        for (uint32_t c = 0; c < l->n_certs; c++) {
            resolve_path(ld, &l->certs[c].cert);
            resolve_path(ld, &l->certs[c].key);
        }
        for (uint32_t j = 0; j < cfg->n_listeners + i; j++)
            if (addr_port(&l->addr) != 0 && strcmp(addrs[j].text, l->addr.text) == 0) {
                const yn_t *list = yn_get(root, "listeners"), *it = NULL;
                if (list && list->kind == YN_SEQ && i < list->n)
                    it = yn_get(list->kids[i], "listen");
                char key[64];
                snprintf(key, sizeof(key), "listeners[%u].listen", i);
                ERR(ld, it ? it : at, key, "\"%s\" is listed twice", l->addr.text);
                break;
            }
    }
    free(cfg->listeners);
    free(cfg->listener_items);
    cfg->listener_items = NULL;
    cfg->n_listener_items = 0;
    cfg->listeners = addrs;
    cfg->listener_confs = confs;
    cfg->n_listeners = n;
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        lv_upstream_tls_conf_t *t = &cfg->services[i].tls;
        resolve_path(ld, &t->ca_file);
        resolve_path(ld, &t->cert);
        resolve_path(ld, &t->key);
    }
}

/* Checks between keys, once everything is read. */
static void validate(loader_t *ld, const yn_t *root)
{
    lv_config_t *cfg = ld->cfg;
    merge_listeners(ld, root);
    if (cfg->limits.target_bytes > cfg->limits.header_bytes) {
        const yn_t *at = root; /* the value if written, else the limits section */
        const yn_t *lim = NULL;
        for (uint32_t i = 0; root && i + 1 < root->n; i += 2)
            if (root->kids[i]->kind == YN_SCALAR && strcmp(root->kids[i]->s, "limits") == 0)
                lim = root->kids[i + 1];
        if (lim && lim->kind == YN_MAP)
            at = lim;
        for (uint32_t i = 0; lim && lim->kind == YN_MAP && i + 1 < lim->n; i += 2)
            if (lim->kids[i]->kind == YN_SCALAR && strcmp(lim->kids[i]->s, "target_bytes") == 0)
                at = lim->kids[i + 1];
        ERR(ld, at, "limits.target_bytes", "%u is more than limits.header_bytes (%u)",
            cfg->limits.target_bytes, cfg->limits.header_bytes);
    }
    if (cfg->region && !lv_l2_region_valid(cfg->region))
        ERR(ld, find_key(root, "region"), "region",
            "\"%s\": use 1-32 of a-z, 0-9, '_' and '-' (it names Redis keys)", cfg->region);
    const char *why = NULL;
    lv_redis_url_t url;
    if (cfg->cache_l2_url && lv_redis_url_parse(cfg->cache_l2_url, &url, &why) < 0)
        ERR(ld, find_key(find_key(find_key(root, "cache"), "l2"), "url"), "cache.l2.url", "%s",
            why);
    if (cfg->cache_l2_url && !cfg->cache_size)
        ERR(ld, find_key(find_key(root, "cache"), "l2"), "cache.l2.url",
            "the second tier needs the first: set cache.size");
    if (cfg->admin_enabled && addr_port(&cfg->admin) != 0)
        for (uint32_t i = 0; i < cfg->n_listeners; i++)
            if (strcmp(cfg->listeners[i].text, cfg->admin.text) == 0) {
                const yn_t *at = root;
                for (uint32_t k = 0; root && k + 1 < root->n; k += 2)
                    if (root->kids[k]->kind == YN_SCALAR && strcmp(root->kids[k]->s, "admin") == 0)
                        at = root->kids[k + 1];
                ERR(ld, at, "admin.listen", "same address as listen[%u] (%s)", i, cfg->admin.text);
            }
}

/* The row of a list kind (there is one of each). */
static const lv_config_setting_t *row_of_kind(lv_config_kind_t kind)
{
    for (size_t i = 0; i < lv_config_n_settings; i++)
        if (lv_config_settings[i].kind == kind)
            return &lv_config_settings[i];
    LV_UNREACHABLE("every list kind has its row");
}

lv_config_t *lv_config_load_string(const char *name, const char *yaml, size_t len,
                                   lv_config_errors_t *errs)
{
    loader_t ld = {.name = name ? name : "<string>", .errs = errs};
    yn_t *root = NULL;
    lv_config_t *cfg = NULL;

    if (yaml_build(&ld, yaml, len, &root) != 0) {
        errs_flush(&ld);
        return NULL;
    }
    cfg = config_alloc(&ld, ld.name);
    yn_t empty = {.kind = YN_MAP, .line = 1, .col = 1};
    const yn_t *top = root;
    if (yn_null(root)) {
        top = &empty;
    } else if (root->kind != YN_MAP) {
        ERR(&ld, root, "(top)", "expected a mapping of settings, got %s", kind_name(root->kind));
        top = NULL;
    }
    if (top) {
        scope_t sc = {.prefix = "", .path = "", .base = (char *)cfg};
        deferred_t later = {NULL, NULL};
        walk_map(&ld, top, &sc, "", &later);
        if (later.routes) {
            walk_routes(&ld, row_of_kind(LV_CONFIG_K_ROUTES), later.routes);
        } else if (cfg->n_services > 0) {
            cfg->routes = lv_xcalloc(1, sizeof(*cfg->routes));
            cfg->n_routes = 1;
            /* Every default of a route (path "/", cache true...); service 0 from calloc. */
            apply_defaults(&ld, "routes[].", (char *)&cfg->routes[0]);
        }
        if (later.faults)
            walk_faults(&ld, row_of_kind(LV_CONFIG_K_FAULTS), later.faults);
        validate(&ld, top);
        validate_guard(&ld, top);
    }
    yn_free(root);
    errs_flush(&ld);
    if (ld.n_errs) {
        config_free(cfg);
        return NULL;
    }
    cfg->workers = resolve_workers(cfg->workers);
    return cfg;
}

lv_config_t *lv_config_load_file(const char *path, lv_config_errors_t *errs)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    const char *why = NULL;
    if (!f) {
        why = strerror(errno);
    } else {
        buf = lv_xmalloc(MAX_FILE_BYTES + 1);
        len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
        if (ferror(f))
            why = "read error";
        else if (len > MAX_FILE_BYTES)
            why = "file larger than 4 MiB";
        fclose(f);
    }
    if (why) {
        if (errs) {
            size_t n = strlen(path) + strlen(why) + 32;
            char *line = lv_xmalloc(n);
            snprintf(line, n, "%s: cannot read: %s", path, why);
            errs_push(errs, line);
        }
        free(buf);
        return NULL;
    }
    lv_config_t *cfg = lv_config_load_string(path, buf, len, errs);
    free(buf);
    return cfg;
}

/* ---- routing ---- */

int lv_config_route(const lv_config_t *cfg, const char *host, size_t host_len, const char *path,
                    size_t path_len)
{
    /* Strip ":port" from the request host ("[::1]:80" keeps its brackets). */
    if (host && host_len) {
        if (host[0] == '[') {
            const char *end = memchr(host, ']', host_len);
            if (end)
                host_len = (size_t)(end - host) + 1;
        } else {
            const char *colon = memchr(host, ':', host_len);
            if (colon)
                host_len = (size_t)(colon - host);
        }
    } else {
        host_len = 0;
    }
    int best_host = -1, best_any = -1;
    size_t best_host_len = 0, best_any_len = 0;
    for (uint32_t i = 0; i < cfg->n_routes; i++) {
        const lv_route_conf_t *r = &cfg->routes[i];
        if (r->path_prefix_len > path_len || memcmp(r->path_prefix, path, r->path_prefix_len))
            continue;
        if (r->host) {
            if (strlen(r->host) != host_len || strncasecmp(r->host, host, host_len) != 0)
                continue;
            if (best_host < 0 || r->path_prefix_len > best_host_len) {
                best_host = (int)i;
                best_host_len = r->path_prefix_len;
            }
        } else if (best_any < 0 || r->path_prefix_len > best_any_len) {
            best_any = (int)i;
            best_any_len = r->path_prefix_len;
        }
    }
    return best_host >= 0 ? best_host : best_any;
}
