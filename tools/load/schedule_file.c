/* load/schedule_file.c: parses schedule files (a cron time, then region=, target=, scenario=,
 * history=, tls_ca=, tls_insecure= and levee-load flags per line) and checks what they name.
 * Setup time only. */
#include "schedule_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "grow.h"
#include "file.h"
#include "scenario.h"

typedef struct load_sctx {
    const char *name;
    char *err;
    size_t err_size, err_len;
    int errors;
} load_sctx_t;

__attribute__((format(printf, 4, 5))) static void load_serr(load_sctx_t *c, unsigned line,
                                                            size_t col, const char *fmt, ...)
{
    c->errors++;
    if (c->err_len + 1 >= c->err_size)
        return;
    int n =
        snprintf(c->err + c->err_len, c->err_size - c->err_len, "%s:%u:%zu: ", c->name, line, col);
    if (n > 0)
        c->err_len = LV_MIN(c->err_len + (size_t)n, c->err_size - 1);
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(c->err + c->err_len, c->err_size - c->err_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->err_len = LV_MIN(c->err_len + (size_t)n, c->err_size - 1);
    if (c->err_len + 1 < c->err_size) {
        c->err[c->err_len++] = '\n';
        c->err[c->err_len] = '\0';
    }
}

static char *load_join_path(const char *dir, const char *p)
{
    if (!dir || p[0] == '/')
        return lv_xstrdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = lv_xmalloc(n);
    snprintf(out, n, "%s/%s", dir, p);
    return out;
}

static void load_entry_free(load_schedule_entry_t *e)
{
    free(e->text);
    free(e->region);
    free(e->target);
    free(e->scenario);
    free(e->history);
    free(e->tls_ca);
    for (size_t i = 0; i < e->n_args; i++)
        free(e->args[i]);
    free(e->args);
}

void load_schedule_free(load_schedule_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        load_entry_free(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int load_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* The flags that the keys set: given as flags they would contradict them. */
static const char *const load_keyed_flags[][2] = {
    {"--target", "target="},   {"--region", "region="},
    {"--history", "history="}, {"--scenario", "scenario="},
    {"--help", NULL},          {"--version", NULL},
    {"--tls-ca", "tls_ca="},   {"--tls-insecure", "tls_insecure=yes"},
};

/* The words after the time fields of line ln (s: the line, from offset i). */
static void load_schedule_words(load_sctx_t *c, unsigned ln, const char *s, size_t i,
                                const char *dir, load_schedule_entry_t *e)
{
    size_t cap = 0;
    int after_flag = 0;
    while (s[i]) {
        while (load_blank(s[i]))
            i++;
        if (!s[i])
            break;
        size_t at = i, len = 0;
        while (s[i + len] && !load_blank(s[i + len]))
            len++;
        i += len;
        char *w = lv_xstrndup(s + at, len);
        const char *eq = strchr(w, '=');
        size_t keylen = eq ? (size_t)(eq - w) : 0;
        if (w[0] != '-' && eq && keylen > 0 && strspn(w, "abcdefghijklmnopqrstuvwxyz_") == keylen) {
            const char *v = eq + 1;
            char **slot = NULL;
            if (keylen == 12 && strncmp(w, "tls_insecure", 12) == 0) {
                if (e->tls_insecure_col)
                    load_serr(c, ln, at + 1, "tls_insecure= given twice");
                else if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
                    load_serr(c, ln, at + keylen + 2, "tls_insecure=: expected yes or no");
                e->tls_insecure = strcmp(v, "yes") == 0;
                e->tls_insecure_col = (unsigned)(at + 1);
                free(w);
                after_flag = 0;
                continue;
            }
            if (strncmp(w, "region", keylen) == 0 && keylen == 6)
                slot = &e->region;
            else if (strncmp(w, "target", keylen) == 0 && keylen == 6)
                slot = &e->target;
            else if (strncmp(w, "scenario", keylen) == 0 && keylen == 8)
                slot = &e->scenario;
            else if (strncmp(w, "history", keylen) == 0 && keylen == 7)
                slot = &e->history;
            else if (strncmp(w, "tls_ca", keylen) == 0 && keylen == 6)
                slot = &e->tls_ca;
            load_target_t t;
            if (!slot)
                load_serr(c, ln, at + 1,
                          "unknown key '%.*s' (expected region=, target=, scenario=, history=, "
                          "tls_ca=, tls_insecure= or levee-load flags)",
                          (int)keylen, w);
            else if (*slot)
                load_serr(c, ln, at + 1, "%.*s= given twice", (int)keylen, w);
            else if (!*v)
                load_serr(c, ln, at + keylen + 2, "%.*s=: expected a value", (int)keylen, w);
            else if (slot == &e->target && load_target_parse(&t, v) != 0)
                load_serr(c, ln, at + keylen + 2,
                          "target=: expected http[s]://IPv4-or-localhost[:port][/path]");
            else if (slot == &e->scenario && strcmp(v, LOAD_SCHEDULE_SCORE) == 0)
                *slot = lv_xstrdup(v); /* the resilience battery, not a file */
            else if (slot == &e->scenario || slot == &e->history || slot == &e->tls_ca)
                *slot = load_join_path(dir, v);
            else
                *slot = lv_xstrdup(v);
            if (slot == &e->scenario)
                e->scenario_col = (unsigned)(at + keylen + 2);
            if (slot == &e->history)
                e->history_col = (unsigned)(at + keylen + 2);
            if (slot == &e->tls_ca)
                e->tls_ca_col = (unsigned)(at + keylen + 2);
            free(w);
            after_flag = 0;
            continue;
        }
        if (w[0] != '-' && !after_flag) {
            load_serr(c, ln, at + 1,
                      "expected region=, target=, scenario=, history= or a levee-load flag "
                      "(--name [value]), found '%s'",
                      w);
            free(w);
            continue;
        }
        for (size_t k = 0; w[0] == '-' && k < LV_ARRAY_LEN(load_keyed_flags); k++)
            if (strcmp(w, load_keyed_flags[k][0]) == 0) {
                if (load_keyed_flags[k][1])
                    load_serr(c, ln, at + 1, "%s: give it as %s", w, load_keyed_flags[k][1]);
                else
                    load_serr(c, ln, at + 1, "%s: not for a scheduled run", w);
            }
        after_flag = w[0] == '-';
        e->args = load_grow(e->args, e->n_args, &cap, sizeof(*e->args));
        e->args[e->n_args++] = w;
    }
}

/* The first due minute from 2000 on: a line never due (30 February) is a mistake. */
static int load_cron_ever_due(const load_cron_t *cr)
{
    load_civil_t from = {1999, 12, 31, 23, 59}, next;
    return load_cron_next(cr, &from, &next) == LV_OK;
}

static void load_schedule_line(load_sctx_t *c, unsigned ln, char *s, const char *dir,
                               load_schedule_t *out, size_t *cap)
{
    /* A comment: # at the start or after a blank. */
    for (size_t i = 0; s[i]; i++)
        if (s[i] == '#' && (i == 0 || load_blank(s[i - 1]))) {
            s[i] = '\0';
            break;
        }
    size_t first = 0, len = strlen(s);
    while (load_blank(s[first]))
        first++;
    while (len > first && load_blank(s[len - 1]))
        s[--len] = '\0';
    if (first == len)
        return;
    load_schedule_entry_t e = {.line = ln, .text = lv_xstrdup(s + first)};
    load_cron_error_t cerr;
    size_t end, field_at[5];
    int before = c->errors;
    if (load_cron_parse(s, &e.cron, &end, field_at, &cerr) != LV_OK) {
        load_serr(c, ln, cerr.col + 1, "%s", cerr.msg);
        load_entry_free(&e);
        return;
    }
    if (!load_cron_ever_due(&e.cron))
        load_serr(c, ln, field_at[2] + 1,
                  "day-of-month: never due (no month of the month field has that day)");
    if (s[end] && !load_blank(s[end]))
        load_serr(c, ln, end + 1, "expected a blank after the time fields");
    load_schedule_words(c, ln, s, end, dir, &e);
    if (c->errors == before && (!e.region || !e.target || !e.scenario))
        load_serr(c, ln, len + 1, "missing%s%s%s", e.region ? "" : " region=NAME",
                  e.target ? "" : " target=URL", e.scenario ? "" : " scenario=FILE.yaml");
    load_target_t t;
    if (c->errors == before && (e.tls_ca || e.tls_insecure) &&
        load_target_parse(&t, e.target) == 0 && !t.tls)
        load_serr(c, ln, e.tls_ca ? e.tls_ca_col - 7 : e.tls_insecure_col,
                  "%s: only for an https target (target=%s)",
                  e.tls_ca ? "tls_ca=" : "tls_insecure=", e.target);
    if (c->errors != before) {
        load_entry_free(&e);
        return;
    }
    out->v = load_grow(out->v, out->n, cap, sizeof(*out->v));
    out->v[out->n++] = e;
}

int load_schedule_parse(load_schedule_t *s, const char *name, const char *dir, const char *text,
                        size_t len, char *err, size_t err_size)
{
    memset(s, 0, sizeof(*s));
    load_sctx_t c = {.name = name, .err = err, .err_size = err_size};
    if (err_size)
        err[0] = '\0';
    size_t cap = 0;
    unsigned ln = 0;
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && text[i + n] != '\n')
            n++;
        ln++;
        char *line = lv_xstrndup(text + i, n);
        if (strlen(line) != n)
            load_serr(&c, ln, strlen(line) + 1, "a NUL byte");
        else
            load_schedule_line(&c, ln, line, dir, s, &cap);
        free(line);
        i += n + 1;
    }
    return c.errors ? LV_ECONFIG : LV_OK;
}

int load_schedule_load(load_schedule_t *s, const char *path, char *err, size_t err_size)
{
    memset(s, 0, sizeof(*s));
    char why[128];
    size_t n;
    char *buf = load_read_file(path, 1 << 20, &n, why, sizeof(why));
    if (!buf) {
        snprintf(err, err_size, "%s:0:0: %s\n", path, why);
        return LV_ECONFIG;
    }
    char *dir = lv_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    int rc = load_schedule_parse(s, path, slash ? dir : NULL, buf, n, err, err_size);
    free(buf);
    free(dir);
    /* The lines that parsed are checked too, so that one pass reports every problem. */
    size_t used = strlen(err);
    load_sctx_t c = {.name = path, .err = err, .err_size = err_size, .err_len = used};
    const char *env = getenv("LEVEE_LOAD_HISTORY");
    for (size_t i = 0; i < s->n; i++) {
        const load_schedule_entry_t *e = &s->v[i];
        if (strcmp(e->scenario, LOAD_SCHEDULE_SCORE) != 0 && access(e->scenario, R_OK) != 0)
            load_serr(&c, e->line, e->scenario_col, "scenario=%s: %s", e->scenario,
                      strerror(errno));
        char tls_why[LOAD_PATH_MAX + 128];
        if (e->tls_ca && load_tls_check(&(load_target_t){.tls = 1}, e->tls_ca, 0, "tls_ca=", "",
                                        tls_why, sizeof(tls_why)) != 0)
            load_serr(&c, e->line, e->tls_ca_col, "%s", tls_why);
        if (!e->history && !(env && *env))
            load_serr(&c, e->line, 1,
                      "no history=DB and LEVEE_LOAD_HISTORY is not set: the rehearsal would "
                      "not be recorded");
    }
    return rc != LV_OK || c.errors ? LV_ECONFIG : LV_OK;
}
