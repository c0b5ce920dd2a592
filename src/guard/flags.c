/* guard/flags.c: the feature flag table per service and per named route, and its state file
 * (overrides made through the admin API, read at start, rewritten atomically on every change,
 * an override removed when its flag is reset). Owns the table and the file. Main thread writes;
 * workers only read state[] through lv_flags_get. */
#include "guard/flags.h"
#include "core/common.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE_MAX_BYTES (1u << 20) /* far above 256 services; more is not our file */
#define STATE_NAME_MAX 128

static const char *const state_names[] = {"on", "off", "auto"};
static const char *const source_names[] = {"config", "state_file", "api"};

const char *lv_flag_state_name(lv_flag_state_t st)
{
    return (unsigned)st < LV_ARRAY_LEN(state_names) ? state_names[st] : "unknown";
}

const char *lv_flag_source_name(lv_flag_source_t src)
{
    return (unsigned)src < LV_ARRAY_LEN(source_names) ? source_names[src] : "unknown";
}

int lv_flag_state_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < LV_ARRAY_LEN(state_names); i++)
        if (len == strlen(state_names[i]) && memcmp(s, state_names[i], len) == 0)
            return (int)i;
    return -1;
}

/* Slot of name among the slots [from, to), or -1. */
static int find_in(const lv_flags_t *f, int from, int to, const char *name)
{
    for (int i = from; i < to; i++)
        if (f->names[i] && strcmp(f->names[i], name) == 0)
            return i;
    return -1;
}

int lv_flags_find(const lv_flags_t *f, const char *name)
{
    return find_in(f, 0, LV_FLAGS_MAX, name);
}

static int find_route(const lv_flags_t *f, const char *name)
{
    return find_in(f, LV_FLAGS_SERVICES, LV_FLAGS_MAX, name);
}

static lv_flag_state_t configured_state(int flag)
{
    return flag >= LV_FLAG_ON && flag <= LV_FLAG_AUTO ? (lv_flag_state_t)flag : LV_FLAG_ON;
}

/* --- the state file reader: exactly {"flags":{"service":"state",...}} (what the first
 * version wrote), or {"flags":{...},"routes":{"route":"state",...}}, with optional whitespace */

typedef struct reader {
    const char *p, *end;
} reader_t;

static void skip_ws(reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool eat(reader_t *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

/* A string without escapes (service names and states never need them), at most cap-1 bytes. */
static bool read_string(reader_t *r, char *out, size_t cap)
{
    if (!eat(r, '"'))
        return false;
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c == '\\' || c < 0x20 || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
        r->p++;
    }
    if (r->p == r->end)
        return false;
    r->p++;
    out[n] = '\0';
    return true;
}

/* One {"name":"state",...} object. With apply, each entry overrides the flag of that name
 * among the slots [from, to) (names not there are logged and skipped). Returns 0 or
 * LV_EINVAL. */
static int parse_section(lv_flags_t *f, reader_t *r, bool apply, int from, int to, const char *kind)
{
    char key[STATE_NAME_MAX], val[16];
    if (!eat(r, '{'))
        return LV_EINVAL;
    if (eat(r, '}'))
        return 0;
    do {
        if (!read_string(r, key, sizeof key) || !eat(r, ':') || !read_string(r, val, sizeof val))
            return LV_EINVAL;
        int st = lv_flag_state_parse(val, strlen(val));
        if (st < 0)
            return LV_EINVAL;
        if (!apply)
            continue;
        int slot = find_in(f, from, to, key);
        if (slot < 0) {
            char qkey[STATE_NAME_MAX * 6 + 3];
            lv_log_warn("flags", "msg=\"state file names an unknown %s; ignored\" %s=%s", kind,
                        kind, lv_log_quote_str(qkey, sizeof qkey, key));
            continue;
        }
        atomic_store_explicit(&f->state[slot], st, memory_order_relaxed);
        f->source[slot] = LV_FLAG_FROM_STATE_FILE;
    } while (eat(r, ','));
    return eat(r, '}') ? 0 : LV_EINVAL;
}

/* Applies the entries (apply) only once the whole text parsed: a bad file changes nothing.
 * Returns 0 or LV_EINVAL. */
static int parse_state(lv_flags_t *f, const char *text, size_t len, bool apply)
{
    reader_t r = {text, text + len};
    char key[STATE_NAME_MAX];
    if (!eat(&r, '{') || !read_string(&r, key, sizeof key) || strcmp(key, "flags") != 0 ||
        !eat(&r, ':') || parse_section(f, &r, apply, 0, LV_FLAGS_SERVICES, "service") != 0)
        return LV_EINVAL;
    if (eat(&r, ',') &&
        (!read_string(&r, key, sizeof key) || strcmp(key, "routes") != 0 || !eat(&r, ':') ||
         parse_section(f, &r, apply, LV_FLAGS_SERVICES, LV_FLAGS_MAX, "route") != 0))
        return LV_EINVAL;
    if (!eat(&r, '}'))
        return LV_EINVAL;
    skip_ws(&r);
    return r.p == r.end ? 0 : LV_EINVAL;
}

/* Reads the whole file into a heap buffer. Returns 0, LV_ENOTFOUND (no file), LV_ELIMIT (too
 * big) or LV_EIO. */
static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LV_ENOTFOUND : LV_EIO;
    char *buf = malloc(STATE_FILE_MAX_BYTES + 1);
    size_t n = 0;
    int rc = buf ? 0 : LV_ENOMEM;
    while (rc == 0) {
        ssize_t got = read(fd, buf + n, STATE_FILE_MAX_BYTES + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = LV_EIO;
        else if (got == 0)
            break;
        else if ((n += (size_t)got) > STATE_FILE_MAX_BYTES)
            rc = LV_ELIMIT;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void load_state_file(lv_flags_t *f)
{
    char *text = NULL;
    size_t len = 0;
    char qfile[512];
    lv_log_quote_str(qfile, sizeof qfile, f->state_file);
    int rc = read_file(f->state_file, &text, &len);
    if (rc == LV_ENOTFOUND) {
        lv_log_info("flags", "msg=\"no state file yet\" file=%s", qfile);
        return;
    }
    if (rc != 0) {
        lv_log_warn("flags", "msg=\"cannot read the state file; ignored\" file=%s err=%s", qfile,
                    rc == LV_ELIMIT ? "too_big" : "read_failed");
        return;
    }
    if (parse_state(f, text, len, false) != 0)
        lv_log_warn("flags",
                    "msg=\"state file is not {\\\"flags\\\":{\\\"service\\\":\\\"on|off|auto\\\"},"
                    "\\\"routes\\\":{\\\"route\\\":\\\"on|off|auto\\\"}}; ignored\" file=%s",
                    qfile);
    else
        parse_state(f, text, len, true);
    free(text);
}

/* --- the state file writer */

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The overrides of the slots [from, to) as "name":"state" pairs. */
static void put_overrides(FILE *out, const lv_flags_t *f, int from, int to)
{
    bool first = true;
    for (int i = from; i < to; i++) {
        if (!f->names[i] || !lv_flags_overridden(f, i))
            continue;
        fprintf(out, "%s\"%s\":\"%s\"", first ? "" : ",", f->names[i],
                lv_flag_state_name(lv_flags_get(f, i)));
        first = false;
    }
}

static bool any_route_override(const lv_flags_t *f)
{
    for (int i = LV_FLAGS_SERVICES; i < LV_FLAGS_MAX; i++)
        if (f->names[i] && lv_flags_overridden(f, i))
            return true;
    return false;
}

/* The overrides as {"flags":{...}} plus ,"routes":{...} when a route has one: only flags set
 * through the admin API are kept, so a config change of a flag's default still applies to the
 * others. Without route overrides the file is what the first version wrote (and reads). */
static char *state_text(const lv_flags_t *f, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (out == NULL)
        return NULL;
    fputs("{\"flags\":{", out);
    put_overrides(out, f, 0, LV_FLAGS_SERVICES);
    fputc('}', out);
    if (any_route_override(f)) {
        fputs(",\"routes\":{", out);
        put_overrides(out, f, LV_FLAGS_SERVICES, LV_FLAGS_MAX);
        fputc('}', out);
    }
    fputs("}\n", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Temp file in the same directory, write, fsync, rename over the old file, fsync the directory:
 * after a crash the file is either the old one or the new one, never a torn mix. */
static int save_state_file(const lv_flags_t *f)
{
    size_t len = 0;
    char *text = state_text(f, &len);
    if (text == NULL)
        return LV_ENOMEM;
    size_t plen = strlen(f->state_file);
    char *tmp = malloc(plen + 32);
    char *dir = malloc(plen + 2);
    int rc = LV_ENOMEM, fd = -1;
    bool tmp_created = false;
    int saved_errno;
    const char *step = "alloc";
    if (!tmp || !dir)
        goto fail;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", f->state_file, (long)getpid());
    const char *slash = strrchr(f->state_file, '/');
    if (slash == NULL)
        snprintf(dir, plen + 2, ".");
    else if (slash == f->state_file)
        snprintf(dir, plen + 2, "/");
    else
        snprintf(dir, plen + 2, "%.*s", (int)(slash - f->state_file), f->state_file);

    rc = LV_EIO;
    step = "open";
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    tmp_created = true;
    step = "write";
    if (write_all(fd, text, len) != 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int cl = close(fd);
    fd = -1;
    if (cl != 0)
        goto fail;
    step = "rename";
    if (rename(tmp, f->state_file) != 0)
        goto fail;
    tmp_created = false;
    step = "fsync dir";
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto fail_renamed;
    int sync_rc = fsync(dfd);
    close(dfd);
    if (sync_rc != 0)
        goto fail_renamed;
    free(text);
    free(tmp);
    free(dir);
    return 0;

fail:
    saved_errno = errno;
    if (fd >= 0)
        close(fd);
    if (tmp_created)
        unlink(tmp);
    errno = saved_errno;
fail_renamed:
    if (rc == LV_EIO) {
        char qfile[512];
        lv_log_error("flags", "msg=\"cannot write the state file\" file=%s step=\"%s\" err=\"%s\"",
                     lv_log_quote_str(qfile, sizeof qfile, f->state_file), step, strerror(errno));
    }
    free(text);
    free(tmp);
    free(dir);
    return rc;
}

/* --- the table */

static void adopt_services(lv_flags_t *f, const lv_config_t *cfg, bool keep_overrides)
{
    bool seen[LV_FLAGS_SERVICES] = {0};
    for (uint32_t i = 0; i < cfg->n_services; i++) {
        const lv_service_conf_t *s = &cfg->services[i];
        uint32_t slot = s->metrics_slot;
        if (slot >= LV_FLAGS_SERVICES) {
            lv_log_error("flags", "msg=\"service slot out of range; flag stays on\" service=%s",
                         s->name);
            continue;
        }
        seen[slot] = true;
        if (f->names[slot] && strcmp(f->names[slot], s->name) != 0) {
            /* Slots are stable per name, so this only happens if the registry was reset. */
            free(f->names[slot]);
            f->names[slot] = NULL;
        }
        if (f->names[slot] == NULL) {
            f->names[slot] = lv_xstrdup(s->name);
            f->source[slot] = LV_FLAG_FROM_CONFIG;
        }
        f->configured[slot] = (uint8_t)configured_state(s->guard.flag);
        if (!(keep_overrides && lv_flags_overridden(f, (int)slot)))
            atomic_store_explicit(&f->state[slot], (int)f->configured[slot], memory_order_relaxed);
    }
    /* Services gone from the config lose their flag (and their override, at the next save). */
    for (int i = 0; i < LV_FLAGS_SERVICES; i++)
        if (!seen[i] && f->names[i]) {
            free(f->names[i]);
            f->names[i] = NULL;
            f->source[i] = LV_FLAG_FROM_CONFIG;
            f->configured[i] = LV_FLAG_ON;
            atomic_store_explicit(&f->state[i], LV_FLAG_ON, memory_order_relaxed);
        }
}

static void free_route_slot(lv_flags_t *f, int slot)
{
    free(f->names[slot]);
    f->names[slot] = NULL;
    free(f->route_service[slot - LV_FLAGS_SERVICES]);
    f->route_service[slot - LV_FLAGS_SERVICES] = NULL;
    f->source[slot] = LV_FLAG_FROM_CONFIG;
    f->configured[slot] = LV_FLAG_ON;
    atomic_store_explicit(&f->state[slot], LV_FLAG_ON, memory_order_relaxed);
}

/* A free route slot, searched from next_route on (round robin); -1 when every one is taken. */
static int take_route_slot(lv_flags_t *f)
{
    for (uint32_t k = 0; k < LV_FLAGS_ROUTES; k++) {
        uint32_t i = (f->next_route + k) % LV_FLAGS_ROUTES;
        if (f->names[LV_FLAGS_SERVICES + i] == NULL) {
            f->next_route = (i + 1) % LV_FLAGS_ROUTES;
            return LV_FLAGS_SERVICES + (int)i;
        }
    }
    return -1;
}

/* Gives each named route of cfg its slot (the one its name had, else a free one) and writes it
 * to the route's flag_slot; routes without a name get 0 (no flag). Names that are gone free
 * their slot first, so a config of LV_FLAGS_ROUTES new names still fits. Finding a name is a
 * scan of the route slots: quadratic in named routes, on the main thread, once per reload. */
static void adopt_routes(lv_flags_t *f, lv_config_t *cfg, bool keep_overrides)
{
    int *slot_of = lv_xcalloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *slot_of);
    bool kept[LV_FLAGS_ROUTES] = {0};
    for (uint32_t i = 0; i < cfg->n_routes; i++) {
        lv_route_conf_t *r = &cfg->routes[i];
        r->flag_slot = 0;
        slot_of[i] = r->name ? find_route(f, r->name) : -1;
        if (slot_of[i] >= 0)
            kept[slot_of[i] - LV_FLAGS_SERVICES] = true;
    }
    /* Routes gone from the config (or now without a name) lose their flag and override. */
    for (int i = 0; i < LV_FLAGS_ROUTES; i++)
        if (!kept[i] && f->names[LV_FLAGS_SERVICES + i])
            free_route_slot(f, LV_FLAGS_SERVICES + i);
    for (uint32_t i = 0; i < cfg->n_routes; i++) {
        lv_route_conf_t *r = &cfg->routes[i];
        if (r->name == NULL)
            continue;
        int slot = slot_of[i];
        if (slot < 0) {
            slot = take_route_slot(f);
            if (slot < 0) {
                lv_log_error("flags", "msg=\"no free route flag slot; flag stays on\" route=%s",
                             r->name);
                continue;
            }
            f->names[slot] = lv_xstrdup(r->name);
            f->source[slot] = LV_FLAG_FROM_CONFIG;
        }
        /* A route may move to another service and keep its name (and its override). */
        const char *svc = r->service < cfg->n_services ? cfg->services[r->service].name : "";
        char **owner = &f->route_service[slot - LV_FLAGS_SERVICES];
        if (*owner == NULL || strcmp(*owner, svc) != 0) {
            free(*owner);
            *owner = lv_xstrdup(svc);
        }
        f->configured[slot] = (uint8_t)configured_state(r->flag);
        if (!(keep_overrides && lv_flags_overridden(f, slot)))
            atomic_store_explicit(&f->state[slot], (int)f->configured[slot], memory_order_relaxed);
        r->flag_slot = (uint32_t)slot;
    }
    free(slot_of);
}

/* One warn line per flag whose state in force is not its config's, so that an override made
 * long ago (kept in the state file) never goes unnoticed after a restart or a reload. */
static void warn_overrides(const lv_flags_t *f)
{
    for (int i = 0; i < LV_FLAGS_MAX; i++)
        if (f->names[i] && lv_flags_overridden(f, i))
            lv_log_warn("flags", "msg=\"flag overridden\" flag=%s config=%s value=%s source=%s",
                        f->names[i], lv_flag_state_name((lv_flag_state_t)f->configured[i]),
                        lv_flag_state_name(lv_flags_get(f, i)),
                        lv_flag_source_name((lv_flag_source_t)f->source[i]));
}

lv_flags_t *lv_flags_new(lv_config_t *cfg)
{
    lv_flags_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    for (int i = 0; i < LV_FLAGS_MAX; i++)
        atomic_init(&f->state[i], LV_FLAG_ON);
    if (cfg->state_file && cfg->state_file[0])
        f->state_file = lv_xstrdup(cfg->state_file);
    adopt_services(f, cfg, false);
    adopt_routes(f, cfg, false);
    if (f->state_file)
        load_state_file(f);
    warn_overrides(f);
    return f;
}

void lv_flags_free(lv_flags_t *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < LV_FLAGS_MAX; i++)
        free(f->names[i]);
    for (int i = 0; i < LV_FLAGS_ROUTES; i++)
        free(f->route_service[i]);
    free(f->state_file);
    free(f);
}

void lv_flags_reload(lv_flags_t *f, lv_config_t *cfg)
{
    const char *want = cfg->state_file && cfg->state_file[0] ? cfg->state_file : NULL;
    if ((want == NULL) != (f->state_file == NULL) || (want && strcmp(want, f->state_file) != 0))
        lv_log_warn("flags", "msg=\"guard.state_file changes need a restart; running value kept\"");
    adopt_services(f, cfg, true);
    adopt_routes(f, cfg, true);
    warn_overrides(f);
}

static void log_change(const lv_flags_t *f, int slot, const char *what, lv_flag_state_t from,
                       lv_flag_state_t to)
{
    if (lv_flags_is_route(slot))
        lv_log_info("flags", "msg=\"%s\" route=%s service=%s from=%s to=%s", what, f->names[slot],
                    f->route_service[slot - LV_FLAGS_SERVICES], lv_flag_state_name(from),
                    lv_flag_state_name(to));
    else
        lv_log_info("flags", "msg=\"%s\" service=%s from=%s to=%s", what, f->names[slot],
                    lv_flag_state_name(from), lv_flag_state_name(to));
}

/* The state file rewritten after a change, when there is one. Returns 0 or LV_EIO. */
static int save_if_kept(const lv_flags_t *f)
{
    if (f->state_file == NULL)
        return 0;
    return save_state_file(f) == 0 ? 0 : LV_EIO;
}

int lv_flags_set(lv_flags_t *f, const char *name, lv_flag_state_t st)
{
    if ((unsigned)st > LV_FLAG_AUTO)
        return LV_EINVAL;
    int slot = lv_flags_find(f, name);
    if (slot < 0)
        return LV_ENOTFOUND;
    int old = atomic_exchange_explicit(&f->state[slot], (int)st, memory_order_relaxed);
    f->source[slot] = LV_FLAG_FROM_API;
    log_change(f, slot, "flag set", (lv_flag_state_t)old, st);
    return save_if_kept(f);
}

int lv_flags_reset(lv_flags_t *f, const char *name)
{
    int slot = lv_flags_find(f, name);
    if (slot < 0)
        return LV_ENOTFOUND;
    lv_flag_state_t st = (lv_flag_state_t)f->configured[slot];
    int old = atomic_exchange_explicit(&f->state[slot], (int)st, memory_order_relaxed);
    f->source[slot] = LV_FLAG_FROM_CONFIG;
    log_change(f, slot, "flag reset to its config", (lv_flag_state_t)old, st);
    /* Written even when there was no override: a file an earlier write failed to update may
     * still hold one. */
    return save_if_kept(f);
}
