/* sim/conf.c: builds levee-sim's sim_conf_t from YAML (libyaml document API) and validates it.
 * Owns the paths array of the conf it fills. Setup only: never runs on the data path. */
#include "conf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/common.h"

void lv_sim_errs_add(sim_errs_t *e, const char *fmt, ...)
{
    e->count++;
    if (e->len >= sizeof e->text - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->text + e->len, sizeof e->text - e->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    e->len += (size_t)n;
    if (e->len > sizeof e->text - 2)
        e->len = sizeof e->text - 2;
    e->text[e->len++] = '\n';
    e->text[e->len] = '\0';
}

void lv_sim_path_conf_init(sim_path_conf_t *p)
{
    memset(p, 0, sizeof *p);
    p->dist_kind = SIM_DIST_FIXED;
    p->service_ms = 10;
    p->body_bytes = 64;
    p->status = 200;
    p->fail_status = 500;
    p->max_age_s = 60;
}

void lv_sim_conf_init(sim_conf_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "%s", "127.0.0.1:9000");
    c->workers = 4;
    c->seed = 1;
    lv_sim_path_conf_init(&c->defaults);
}

void lv_sim_conf_fini(sim_conf_t *c)
{
    free(c->paths);
    c->paths = NULL;
    c->n_paths = 0;
}

static uint32_t sim_fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

void lv_sim_path_conf_set_key(sim_path_conf_t *p, const char *key, size_t len)
{
    if (len > SIM_PATH_KEY_MAX)
        len = SIM_PATH_KEY_MAX;
    memcpy(p->key, key, len);
    p->key[len] = '\0';
    if (p->etag_auto)
        snprintf(p->etag, sizeof p->etag, "\"sim-%08x\"", sim_fnv1a(p->key, len));
}

int lv_sim_http_date_parse(const char *s, size_t len, time_t *out)
{
    char buf[SIM_HTTP_DATE_MAX + 1];
    if (len == 0 || len > SIM_HTTP_DATE_MAX)
        return LV_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end != '\0')
        return LV_EINVAL;
    *out = timegm(&tm);
    return LV_OK;
}

void lv_sim_http_date_format(time_t t, char *out, size_t size)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int lv_sim_split_hostport(const char *s, char *host, size_t host_size, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return LV_EINVAL;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return LV_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_size)
        return LV_EINVAL;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return LV_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return LV_OK;
}

/* ---- YAML ---- */

typedef struct sim_ld {
    const char *name;
    yaml_document_t *doc;
    sim_errs_t *errs;
    sim_conf_t *c;
} sim_ld_t;

static void sim_ld_err(sim_ld_t *ld, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sim_ld_err(sim_ld_t *ld, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lv_sim_errs_add(ld->errs, "%s:%zu:%zu: %s: %s", ld->name, n ? n->start_mark.line + 1 : 0,
                    n ? n->start_mark.column + 1 : 0, key, msg);
}

/* Scalar text as a NUL-terminated string (libyaml terminates scalars), or NULL. */
static const char *sim_scalar(sim_ld_t *ld, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE) {
        sim_ld_err(ld, n, key, "expected a scalar value");
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int sim_get_u64(sim_ld_t *ld, const yaml_node_t *n, const char *key, uint64_t lo,
                       uint64_t hi, uint64_t *out)
{
    const char *s = sim_scalar(ld, n, key);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        sim_ld_err(ld, n, key, "expected an integer in [%llu, %llu], got '%s'",
                   (unsigned long long)lo, (unsigned long long)hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int sim_get_double(sim_ld_t *ld, const yaml_node_t *n, const char *key, double lo, double hi,
                          double *out)
{
    const char *s = sim_scalar(ld, n, key);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        sim_ld_err(ld, n, key, "expected a number in [%g, %g], got '%s'", lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int sim_get_bool(sim_ld_t *ld, const yaml_node_t *n, const char *key, bool *out)
{
    const char *s = sim_scalar(ld, n, key);
    if (!s)
        return -1;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return 0;
    }
    sim_ld_err(ld, n, key, "expected true or false, got '%s'", s);
    return -1;
}

static int sim_get_str(sim_ld_t *ld, const yaml_node_t *n, const char *key, char *out, size_t size)
{
    const char *s = sim_scalar(ld, n, key);
    if (!s)
        return -1;
    size_t len = n->data.scalar.length;
    if (len >= size) {
        sim_ld_err(ld, n, key, "too long (at most %zu bytes)", size - 1);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            sim_ld_err(ld, n, key, "control characters are not allowed");
            return -1;
        }
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* headers: a mapping of extra response header name -> value; replaces any inherited one. */
static void sim_ld_headers(sim_ld_t *ld, const yaml_node_t *map, sim_path_conf_t *p,
                           const char *where)
{
    static const char *const reserved[] = {
        "content-length", "transfer-encoding", "connection", "date", "server", NULL};
    if (map->type != YAML_MAPPING_NODE) {
        sim_ld_err(ld, map, where, "expected a mapping of header name -> value");
        return;
    }
    char out[SIM_XHDR_MAX + 1];
    size_t len = 0;
    int count = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE) {
            sim_ld_err(ld, kn, where, "expected header names as keys");
            return;
        }
        const char *name = (const char *)kn->data.scalar.value;
        size_t nlen = kn->data.scalar.length;
        bool token = nlen > 0;
        for (size_t i = 0; i < nlen; i++)
            token &= name[i] > 0x20 && name[i] < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", name[i]);
        for (const char *const *r = reserved; token && *r; r++)
            token &= !(strlen(*r) == nlen && strncasecmp(*r, name, nlen) == 0);
        if (!token) {
            sim_ld_err(ld, kn, where, "'%s': not a header name levee-sim may add", name);
            return;
        }
        char value[SIM_XHDR_MAX + 1];
        if (sim_get_str(ld, vn, where, value, sizeof value) != 0)
            return;
        size_t vlen = strlen(value);
        if (++count > SIM_XHDR_COUNT || len + nlen + vlen + 4 > SIM_XHDR_MAX) {
            sim_ld_err(ld, map, where, "at most %d headers, %d bytes in all", SIM_XHDR_COUNT,
                       SIM_XHDR_MAX);
            return;
        }
        memcpy(out + len, name, nlen);
        len += nlen;
        memcpy(out + len, ": ", 2);
        len += 2;
        memcpy(out + len, value, vlen);
        len += vlen;
        memcpy(out + len, "\r\n", 2);
        len += 2;
    }
    memcpy(p->headers, out, len);
    p->headers[len] = '\0';
}

/* Applies one mapping of path settings onto p. where is "default" or "paths./x". */
static void sim_ld_path(sim_ld_t *ld, const yaml_node_t *map, sim_path_conf_t *p, const char *where)
{
    char key[SIM_PATH_KEY_MAX + 64];
    if (map->type != YAML_MAPPING_NODE) {
        sim_ld_err(ld, map, where, "expected a mapping of path settings");
        return;
    }
    int before = ld->errs->count;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE) {
            sim_ld_err(ld, kn, where, "expected scalar keys");
            continue;
        }
        const char *k = (const char *)kn->data.scalar.value;
        snprintf(key, sizeof key, "%s.%s", where, k);
        uint64_t u;
        double d;
        if (!strcmp(k, "dist")) {
            const char *s = sim_scalar(ld, vn, key);
            int kind = s ? lv_sim_dist_parse(s) : -1;
            if (s && kind < 0)
                sim_ld_err(ld, vn, key, "expected fixed, exp or lognormal, got '%s'", s);
            else if (s)
                p->dist_kind = (sim_dist_kind_t)kind;
        } else if (!strcmp(k, "service_ms")) {
            if (!sim_get_double(ld, vn, key, 0, 3.6e6, &d))
                p->service_ms = d;
        } else if (!strcmp(k, "p99_ms")) {
            if (!sim_get_double(ld, vn, key, 0, 3.6e7, &d))
                p->p99_ms = d;
        } else if (!strcmp(k, "body_bytes")) {
            if (!sim_get_u64(ld, vn, key, 0, SIM_BODY_MAX, &u))
                p->body_bytes = (uint32_t)u;
        } else if (!strcmp(k, "status")) {
            if (!sim_get_u64(ld, vn, key, 200, 599, &u))
                p->status = (uint16_t)u;
        } else if (!strcmp(k, "fail_rate")) {
            if (!sim_get_double(ld, vn, key, 0, 1, &d))
                p->fail_rate = d;
        } else if (!strcmp(k, "fail_status")) {
            if (!sim_get_u64(ld, vn, key, 200, 599, &u))
                p->fail_status = (uint16_t)u;
        } else if (!strcmp(k, "chunked")) {
            sim_get_bool(ld, vn, key, &p->chunked);
        } else if (!strcmp(k, "cacheable")) {
            sim_get_bool(ld, vn, key, &p->cacheable);
        } else if (!strcmp(k, "max_age_s")) {
            if (!sim_get_u64(ld, vn, key, 0, 31536000, &u))
                p->max_age_s = (uint32_t)u;
        } else if (!strcmp(k, "etag")) {
            if (!sim_get_str(ld, vn, key, p->etag, sizeof p->etag)) {
                size_t n = strlen(p->etag);
                const char *e = p->etag;
                if (n >= 2 && e[0] == 'W' && e[1] == '/') {
                    e += 2;
                    n -= 2;
                }
                if (n < 2 || e[0] != '"' || e[n - 1] != '"')
                    sim_ld_err(ld, vn, key, "an entity tag is quoted: '\"v1\"' or 'W/\"v1\"'");
                p->etag_auto = false;
            }
        } else if (!strcmp(k, "last_modified")) {
            if (!sim_get_str(ld, vn, key, p->last_modified, sizeof p->last_modified) &&
                lv_sim_http_date_parse(p->last_modified, strlen(p->last_modified),
                                       &p->last_modified_t) != 0)
                sim_ld_err(ld, vn, key,
                           "expected an HTTP date like 'Sun, 06 Nov 1994 08:49:37 GMT'");
        } else if (!strcmp(k, "vary")) {
            sim_get_str(ld, vn, key, p->vary, sizeof p->vary);
        } else if (!strcmp(k, "cache_control")) {
            sim_get_str(ld, vn, key, p->cache_control, sizeof p->cache_control);
        } else if (!strcmp(k, "headers")) {
            sim_ld_headers(ld, vn, p, key);
        } else {
            sim_ld_err(ld, kn, key, "unknown key");
        }
    }
    if (ld->errs->count == before) {
        const char *why = NULL;
        sim_dist_t tmp;
        if (lv_sim_dist_init(&tmp, p->dist_kind, p->service_ms, p->p99_ms, &why) != 0)
            sim_ld_err(ld, map, where, "%s", why);
    }
}

static void sim_ld_paths(sim_ld_t *ld, const yaml_node_t *map)
{
    if (map->type != YAML_MAPPING_NODE) {
        sim_ld_err(ld, map, "paths", "expected a mapping of path -> settings");
        return;
    }
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n + 1 > SIM_MAX_PATHS) {
        sim_ld_err(ld, map, "paths", "at most %d paths", SIM_MAX_PATHS - 1);
        return;
    }
    free(ld->c->paths);
    ld->c->paths = lv_xcalloc(n ? n : 1, sizeof *ld->c->paths);
    ld->c->n_paths = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE) {
            sim_ld_err(ld, kn, "paths", "expected a path as key");
            continue;
        }
        const char *k = (const char *)kn->data.scalar.value;
        size_t klen = kn->data.scalar.length;
        char where[SIM_PATH_KEY_MAX + 16];
        snprintf(where, sizeof where, "paths.%s", k);
        if (klen == 0 || k[0] != '/' || klen > SIM_PATH_KEY_MAX || strpbrk(k, "? \t#")) {
            sim_ld_err(ld, kn, where, "a path starts with '/', has no query, at most %d bytes",
                       SIM_PATH_KEY_MAX);
            continue;
        }
        bool dup = false;
        for (uint32_t i = 0; i < ld->c->n_paths; i++)
            dup |= strcmp(ld->c->paths[i].key, k) == 0;
        if (dup) {
            sim_ld_err(ld, kn, where, "duplicate path");
            continue;
        }
        sim_path_conf_t *p = &ld->c->paths[ld->c->n_paths++];
        *p = ld->c->defaults; /* paths inherit the default settings */
        lv_sim_path_conf_set_key(p, k, klen);
        sim_ld_path(ld, vn, p, where);
    }
}

static int sim_ld_doc(sim_ld_t *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    if (!root)
        return 0; /* empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE) {
        sim_ld_err(ld, root, "(top)", "expected a mapping");
        return -1;
    }
    yaml_node_t *paths = NULL;
    /* Pass 1: everything but paths, so that paths inherit the final default settings. */
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE) {
            sim_ld_err(ld, kn, "(top)", "expected scalar keys");
            continue;
        }
        const char *k = (const char *)kn->data.scalar.value;
        uint64_t u;
        double d;
        if (!strcmp(k, "listen")) {
            char host[64];
            int port;
            char tmp[64];
            if (!sim_get_str(ld, vn, k, tmp, sizeof tmp)) {
                if (lv_sim_split_hostport(tmp, host, sizeof host, &port) != 0)
                    sim_ld_err(ld, vn, k, "expected HOST:PORT, got '%s'", tmp);
                else
                    memcpy(ld->c->listen, tmp, sizeof tmp);
            }
        } else if (!strcmp(k, "workers")) {
            if (!sim_get_u64(ld, vn, k, 0, SIM_WORKERS_MAX, &u))
                ld->c->workers = (uint32_t)u;
        } else if (!strcmp(k, "thrash")) {
            if (!sim_get_double(ld, vn, k, 0, 1000, &d))
                ld->c->thrash = d;
        } else if (!strcmp(k, "seed")) {
            if (!sim_get_u64(ld, vn, k, 0, UINT64_MAX, &u))
                ld->c->seed = u;
        } else if (!strcmp(k, "default")) {
            sim_ld_path(ld, vn, &ld->c->defaults, "default");
        } else if (!strcmp(k, "paths")) {
            paths = vn;
        } else {
            sim_ld_err(ld, kn, k, "unknown key");
        }
    }
    if (paths)
        sim_ld_paths(ld, paths);
    return 0;
}

static int sim_ld_parser(sim_conf_t *c, const char *name, yaml_parser_t *parser, sim_errs_t *errs)
{
    yaml_document_t doc;
    int before = errs->count;
    if (!yaml_parser_load(parser, &doc)) {
        lv_sim_errs_add(errs, "%s:%zu:%zu: (yaml): %s", name, parser->problem_mark.line + 1,
                        parser->problem_mark.column + 1,
                        parser->problem ? parser->problem : "syntax error");
        return LV_ECONFIG;
    }
    sim_ld_t ld = {.name = name, .doc = &doc, .errs = errs, .c = c};
    sim_ld_doc(&ld);
    yaml_document_delete(&doc);
    return errs->count == before ? LV_OK : LV_ECONFIG;
}

int lv_sim_conf_load_string(sim_conf_t *c, const char *name, const char *text, size_t len,
                            sim_errs_t *errs)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        lv_sim_errs_add(errs, "%s: (yaml): cannot initialise the parser", name);
        return LV_ECONFIG;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = sim_ld_parser(c, name, &parser, errs);
    yaml_parser_delete(&parser);
    return rc;
}

int lv_sim_conf_load_file(sim_conf_t *c, const char *file, sim_errs_t *errs)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        lv_sim_errs_add(errs, "%s:0:0: (file): %s", file, strerror(errno));
        return LV_ECONFIG;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        lv_sim_errs_add(errs, "%s: (yaml): cannot initialise the parser", file);
        return LV_ECONFIG;
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = sim_ld_parser(c, file, &parser, errs);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static int sim_finish_path(sim_path_conf_t *p, time_t start, const char *where, sim_errs_t *errs)
{
    const char *why = NULL;
    if (lv_sim_dist_init(&p->dist, p->dist_kind, p->service_ms, p->p99_ms, &why) != 0) {
        lv_sim_errs_add(errs, "%s: %s", where, why);
        return -1;
    }
    if (p->etag[0] == '\0') {
        p->etag_auto = true;
        lv_sim_path_conf_set_key(p, p->key, strlen(p->key));
    }
    if (p->last_modified[0] == '\0') {
        p->last_modified_t = start;
        lv_sim_http_date_format(start, p->last_modified, sizeof p->last_modified);
    }
    return 0;
}

int lv_sim_conf_finish(sim_conf_t *c, time_t start, sim_errs_t *errs)
{
    int before = errs->count;
    char host[64];
    int port;
    if (lv_sim_split_hostport(c->listen, host, sizeof host, &port) != 0)
        lv_sim_errs_add(errs, "listen: expected HOST:PORT, got '%s'", c->listen);
    if (c->workers > SIM_WORKERS_MAX)
        lv_sim_errs_add(errs, "workers: at most %u", SIM_WORKERS_MAX);
    if (!(c->thrash >= 0 && c->thrash <= 1000))
        lv_sim_errs_add(errs, "thrash: expected a number in [0, 1000]");
    sim_finish_path(&c->defaults, start, "default", errs);
    for (uint32_t i = 0; i < c->n_paths; i++) {
        char where[SIM_PATH_KEY_MAX + 16];
        snprintf(where, sizeof where, "paths.%s", c->paths[i].key);
        sim_finish_path(&c->paths[i], start, where, errs);
    }
    return errs->count == before ? LV_OK : LV_ECONFIG;
}
