/* tests/unit/guard/test_flags.c: the flag table of services and named routes (config
 * defaults, overrides and where they come from, resets back to the config, reload and its
 * warnings) and its state file (read at start, rewritten atomically, bad files ignored, the
 * format before route flags still read), in a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/metrics.h"
#include "core/common.h"
#include "core/log.h"
#include "guard/flags.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    lv_config_t cfg;
    lv_service_conf_t services[3];
    lv_route_conf_t routes[4];
} fixture_t;

static void add_service(fixture_t *fx, const char *name, int flag)
{
    lv_service_conf_t *s = &fx->services[fx->cfg.n_services++];
    memset(s, 0, sizeof *s);
    s->name = (char *)name;
    s->guard.flag = flag;
    s->metrics_slot = (uint32_t)lv_metrics_slot_for(name);
}

/* A route of service index svc; name NULL: a route without a flag. */
static void add_route(fixture_t *fx, const char *path, uint32_t svc, const char *name, int flag)
{
    lv_route_conf_t *r = &fx->routes[fx->cfg.n_routes++];
    memset(r, 0, sizeof *r);
    r->path_prefix = (char *)path;
    r->path_prefix_len = strlen(path);
    r->service = svc;
    r->name = (char *)name;
    r->flag = flag;
}

static int setup(void **state)
{
    lv_log_set_level(LV_LOG_ERROR);
    lv_metrics_registry_reset();
    fixture_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/levee-flags-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/state.json", fx->dir);
    fx->cfg.services = fx->services;
    fx->cfg.routes = fx->routes;
    fx->cfg.state_file = fx->path;
    add_service(fx, "playback", LV_FLAG_ON);
    add_service(fx, "recs", LV_FLAG_AUTO);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    char p[400];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(fx->dir);
    free(fx);
    lv_metrics_registry_reset();
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_lv_flags_new_defaults_from_config(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_non_null(f);
    assert_int_equal(lv_flags_find(f, "playback"), 0);
    assert_int_equal(lv_flags_find(f, "recs"), 1);
    assert_int_equal(lv_flags_find(f, "nope"), -1);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_ON);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_int_equal(lv_flags_get(f, -1), LV_FLAG_ON);
    assert_false(lv_flags_overridden(f, 0));
    assert_false(lv_flags_overridden(f, 1));
    assert_int_equal(access(fx->path, F_OK), -1); /* nothing written until a change */
    lv_flags_free(f);
}

static void test_lv_flags_set_survives_restart(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(f, 1));
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"recs\":\"off\"}}\n");
    assert_int_equal(count_dir_entries(fx->dir), 1); /* no temp file left behind */
    lv_flags_free(f);

    lv_flags_t *g = lv_flags_new(&fx->cfg); /* the "restart" */
    assert_int_equal(lv_flags_get(g, 1), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(g, 1));
    assert_int_equal(lv_flags_get(g, 0), LV_FLAG_ON);
    assert_false(lv_flags_overridden(g, 0));
    assert_int_equal(lv_flags_set(g, "playback", LV_FLAG_AUTO), 0);
    assert_string_equal(read_text(fx->path),
                        "{\"flags\":{\"playback\":\"auto\",\"recs\":\"off\"}}\n");
    lv_flags_free(g);
}

static void test_lv_flags_set_unknown_service_not_found(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "nope", LV_FLAG_OFF), LV_ENOTFOUND);
    assert_int_equal(lv_flags_set(f, "recs", (lv_flag_state_t)7), LV_EINVAL);
    assert_int_equal(access(fx->path, F_OK), -1);
    lv_flags_free(f);
}

static void test_lv_flags_set_without_state_file(void **state)
{
    fixture_t *fx = *state;
    fx->cfg.state_file = NULL;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "playback", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_OFF);
    assert_int_equal(count_dir_entries(fx->dir), 0);
    lv_flags_free(f);
}

static void test_lv_flags_set_unwritable_dir_eio(void **state)
{
    fixture_t *fx = *state;
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing-dir/state.json", fx->dir);
    fx->cfg.state_file = bad;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "playback", LV_FLAG_OFF), LV_EIO);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_OFF); /* still set in memory */
    lv_flags_free(f);
}

static void test_lv_flags_new_bad_state_file_ignored(void **state)
{
    fixture_t *fx = *state;
    const char *bad[] = {
        "",
        "not json",
        "{\"flags\":{\"recs\":\"off\"}",                 /* truncated */
        "{\"flags\":{\"recs\":\"sideways\"}}",           /* unknown state */
        "{\"flags\":{\"playback\":\"off\",\"recs\":1}}", /* bad value after a good one */
        "{\"flags\":{\"recs\":\"off\",}}",               /* trailing comma */
        "{\"flags\":{\"recs\":\"off\"}} trailing",       /* garbage after */
        "{\"other\":{\"recs\":\"off\"}}",                /* wrong top key */
        "{\"flags\":{\"re\\\"cs\":\"off\"}}",            /* escapes are not ours */
        "{\"flags\":[\"recs\"]}",                        /* wrong shape */
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++) {
        write_text(fx->path, bad[i]);
        lv_flags_t *f = lv_flags_new(&fx->cfg);
        assert_non_null(f);
        assert_int_equal(lv_flags_get(f, 0), LV_FLAG_ON);
        assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
        assert_false(lv_flags_overridden(f, 0));
        assert_false(lv_flags_overridden(f, 1));
        lv_flags_free(f);
    }
}

static void test_lv_flags_new_accepts_whitespace_and_empty(void **state)
{
    fixture_t *fx = *state;
    write_text(fx->path, " {\n \"flags\" : { \"recs\" : \"on\" ,\t\"playback\":\"off\" } }\n\n");
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_OFF);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_ON);
    assert_true(lv_flags_overridden(f, 0) && lv_flags_overridden(f, 1));
    lv_flags_free(f);

    write_text(fx->path, "{\"flags\":{}}");
    f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_false(lv_flags_overridden(f, 1));
    lv_flags_free(f);
}

static void test_lv_flags_new_unknown_names_ignored(void **state)
{
    fixture_t *fx = *state;
    write_text(fx->path, "{\"flags\":{\"ghost\":\"off\",\"recs\":\"off\"}}");
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_find(f, "ghost"), -1);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    /* The next write keeps only services that exist. */
    assert_int_equal(lv_flags_set(f, "playback", LV_FLAG_OFF), 0);
    assert_string_equal(read_text(fx->path),
                        "{\"flags\":{\"playback\":\"off\",\"recs\":\"off\"}}\n");
    lv_flags_free(f);
}

static void test_lv_flags_reload_keeps_overrides(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);

    /* New config: playback's default changes, recs' too (its override wins), a new service. */
    fx->services[0].guard.flag = LV_FLAG_AUTO;
    fx->services[1].guard.flag = LV_FLAG_ON;
    add_service(fx, "thumbs", LV_FLAG_OFF);
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_AUTO);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(f, 1));
    assert_int_equal(lv_flags_find(f, "thumbs"), 2);
    assert_int_equal(lv_flags_get(f, 2), LV_FLAG_OFF);
    assert_false(lv_flags_overridden(f, 2));

    /* A service dropped from the config loses its flag. */
    fx->services[1] = fx->services[2];
    fx->cfg.n_services = 2;
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(lv_flags_find(f, "recs"), -1);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_ON);
    assert_int_equal(lv_flags_find(f, "thumbs"), 2);
    lv_flags_free(f);
}

/* setup's services plus three routes: checkout (recs, off), an unnamed one, search (playback,
 * auto). */
static void add_three_routes(fixture_t *fx)
{
    add_route(fx, "/recs/checkout", 1, "checkout", LV_FLAG_OFF);
    add_route(fx, "/recs/", 1, NULL, LV_FLAG_ON);
    add_route(fx, "/search", 0, "search", LV_FLAG_AUTO);
}

static void test_lv_flags_new_routes_get_slots(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    fx->routes[1].flag_slot = 77; /* stale value: the table owns this field */
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    int checkout = (int)fx->routes[0].flag_slot, search = (int)fx->routes[2].flag_slot;
    assert_true(lv_flags_is_route(checkout));
    assert_true(lv_flags_is_route(search));
    assert_int_not_equal(checkout, search);
    assert_int_equal(fx->routes[1].flag_slot, 0); /* no name, no flag */
    assert_false(lv_flags_is_route(1));
    assert_int_equal(lv_flags_find(f, "checkout"), checkout);
    assert_int_equal(lv_flags_find(f, "search"), search);
    assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_OFF);
    assert_int_equal(lv_flags_get(f, search), LV_FLAG_AUTO);
    assert_string_equal(f->route_service[checkout - LV_FLAGS_SERVICES], "recs");
    assert_string_equal(f->route_service[search - LV_FLAGS_SERVICES], "playback");
    assert_false(lv_flags_overridden(f, checkout));
    /* Service flags are where they were. */
    assert_int_equal(lv_flags_find(f, "recs"), 1);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_int_equal(access(fx->path, F_OK), -1);
    lv_flags_free(f);
}

static void test_lv_flags_set_route_survives_restart(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "checkout", LV_FLAG_ON), 0);
    assert_int_equal(lv_flags_get(f, (int)fx->routes[0].flag_slot), LV_FLAG_ON);
    assert_string_equal(read_text(fx->path), "{\"flags\":{},\"routes\":{\"checkout\":\"on\"}}\n");
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_set(f, "search", LV_FLAG_OFF), 0);
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"recs\":\"off\"},\"routes\":"
                                             "{\"checkout\":\"on\",\"search\":\"off\"}}\n");
    assert_int_equal(count_dir_entries(fx->dir), 1);
    lv_flags_free(f);

    lv_flags_t *g = lv_flags_new(&fx->cfg); /* the "restart" */
    int checkout = (int)fx->routes[0].flag_slot, search = (int)fx->routes[2].flag_slot;
    assert_int_equal(lv_flags_get(g, checkout), LV_FLAG_ON);
    assert_true(lv_flags_overridden(g, checkout));
    assert_int_equal(lv_flags_get(g, search), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(g, search));
    assert_int_equal(lv_flags_get(g, 1), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(g, 1));
    assert_false(lv_flags_overridden(g, 0));
    lv_flags_free(g);
}

/* A file written before route flags existed: {"flags":{...}} only. */
static void test_lv_flags_new_old_format_file_with_routes(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    write_text(fx->path, "{\"flags\":{\"recs\":\"off\",\"playback\":\"auto\"}}\n");
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_AUTO);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    assert_true(lv_flags_overridden(f, 0) && lv_flags_overridden(f, 1));
    int checkout = (int)fx->routes[0].flag_slot;
    assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_OFF); /* configured */
    assert_false(lv_flags_overridden(f, checkout));
    /* Without route overrides the file keeps the old format (an older levee still reads it). */
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_ON), 0);
    assert_string_equal(read_text(fx->path),
                        "{\"flags\":{\"playback\":\"auto\",\"recs\":\"on\"}}\n");
    lv_flags_free(f);
}

static void test_lv_flags_new_route_section_by_kind(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    /* A route named under "flags" or a service under "routes" is not that flag: ignored. */
    write_text(fx->path, " { \"flags\" : { \"checkout\" : \"on\" } ,\n \"routes\" : { \"recs\" : "
                         "\"off\", \"ghost\": \"off\", \"search\" : \"on\" } }\n");
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    int checkout = (int)fx->routes[0].flag_slot, search = (int)fx->routes[2].flag_slot;
    assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_OFF);
    assert_false(lv_flags_overridden(f, checkout));
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_false(lv_flags_overridden(f, 1));
    assert_int_equal(lv_flags_get(f, search), LV_FLAG_ON);
    assert_true(lv_flags_overridden(f, search));
    lv_flags_free(f);
}

static void test_lv_flags_new_bad_route_section_ignored(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    const char *bad[] = {
        "{\"routes\":{\"checkout\":\"on\"}}",                            /* no "flags" */
        "{\"routes\":{\"checkout\":\"on\"},\"flags\":{}}",               /* order */
        "{\"flags\":{},\"routes\":{\"checkout\":\"sideways\"}}",         /* unknown state */
        "{\"flags\":{},\"routes\":{\"checkout\":\"on\"}",                /* truncated */
        "{\"flags\":{},\"other\":{\"checkout\":\"on\"}}",                /* unknown section */
        "{\"flags\":{},\"routes\":{\"checkout\":\"on\"},\"routes\":{}}", /* twice */
        "{\"flags\":{\"recs\":\"off\"},}",                               /* trailing comma */
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++) {
        write_text(fx->path, bad[i]);
        lv_flags_t *f = lv_flags_new(&fx->cfg);
        int checkout = (int)fx->routes[0].flag_slot;
        assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_OFF);
        assert_false(lv_flags_overridden(f, checkout));
        assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
        assert_false(lv_flags_overridden(f, 1));
        lv_flags_free(f);
    }
}

static void test_lv_flags_reload_keeps_route_overrides(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    int checkout = (int)fx->routes[0].flag_slot, search = (int)fx->routes[2].flag_slot;
    assert_int_equal(lv_flags_set(f, "checkout", LV_FLAG_AUTO), 0);

    /* New config: checkout moves first -> last and to playback with another default; search is
     * gone; promo is new; the unnamed route gets a name. */
    lv_route_conf_t old_checkout = fx->routes[0];
    fx->cfg.n_routes = 0;
    add_route(fx, "/promo", 0, "promo", LV_FLAG_OFF);
    add_route(fx, "/recs/", 1, "recs-page", LV_FLAG_ON);
    add_route(fx, "/pay", 0, "checkout", LV_FLAG_ON);
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(fx->routes[2].flag_slot, checkout); /* same name, same slot */
    assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_AUTO);
    assert_true(lv_flags_overridden(f, checkout));
    assert_string_equal(f->route_service[checkout - LV_FLAGS_SERVICES], "playback");
    assert_int_equal(lv_flags_find(f, "search"), -1);
    assert_int_equal(lv_flags_get(f, search), LV_FLAG_ON); /* a freed slot reads on */
    int promo = (int)fx->routes[0].flag_slot, page = (int)fx->routes[1].flag_slot;
    assert_true(lv_flags_is_route(promo) && lv_flags_is_route(page));
    /* Freed slots are not handed out again at once (old generations may still read them). */
    assert_int_not_equal(promo, search);
    assert_int_not_equal(page, search);
    assert_int_not_equal(promo, page);
    assert_int_equal(lv_flags_get(f, promo), LV_FLAG_OFF);
    assert_false(lv_flags_overridden(f, promo));
    assert_int_equal(lv_flags_get(f, page), LV_FLAG_ON);

    /* The state file follows: search's override (none) and checkout's (kept). */
    assert_int_equal(lv_flags_set(f, "promo", LV_FLAG_ON), 0);
    assert_string_equal(read_text(fx->path),
                        "{\"flags\":{},\"routes\":{\"checkout\":\"auto\",\"promo\":\"on\"}}\n");

    /* A route that loses its name loses its flag; back with its name, it gets its config. */
    fx->routes[2].name = NULL;
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(fx->routes[2].flag_slot, 0);
    assert_int_equal(lv_flags_find(f, "checkout"), -1);
    fx->routes[2] = old_checkout;
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(lv_flags_get(f, (int)fx->routes[2].flag_slot), LV_FLAG_OFF);
    assert_false(lv_flags_overridden(f, (int)fx->routes[2].flag_slot));
    lv_flags_free(f);
}

/* Every route of routes[] (4096) may have a flag, and a reload that renames them all fits. */
static void test_lv_flags_reload_every_route_named(void **state)
{
    fixture_t *fx = *state;
    enum { N = LV_FLAGS_ROUTES };
    lv_route_conf_t *routes = calloc(N, sizeof *routes);
    char(*names)[16] = calloc(N, 16);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 16, "a%d", i);
        routes[i] = (lv_route_conf_t){.path_prefix = "/", .name = names[i], .flag = LV_FLAG_OFF};
    }
    fx->cfg.routes = routes;
    fx->cfg.n_routes = N;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_find(f, "a4095"), (int)routes[N - 1].flag_slot);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 16, "b%d", i);
        routes[i].flag = LV_FLAG_AUTO;
    }
    lv_flags_reload(f, &fx->cfg);
    for (int i = 0; i < N; i++)
        assert_true(lv_flags_is_route((int)routes[i].flag_slot));
    assert_int_equal(lv_flags_get(f, (int)routes[17].flag_slot), LV_FLAG_AUTO);
    assert_int_equal(lv_flags_find(f, "a17"), -1);
    lv_flags_free(f);
    free(names);
    free(routes);
}

/* The log lines written while capturing (stderr into a file of the fixture's directory, warn
 * level), read back by log_capture_end. */
static int log_capture_begin(fixture_t *fx)
{
    char p[160];
    snprintf(p, sizeof p, "%s/log.txt", fx->dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    lv_log_set_level(LV_LOG_WARN);
    return saved;
}

static char *log_capture_end(fixture_t *fx, int saved)
{
    lv_log_set_level(LV_LOG_ERROR);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    char p[160];
    snprintf(p, sizeof p, "%s/log.txt", fx->dir);
    char *text = lv_xstrdup(read_text(p));
    unlink(p);
    return text;
}

static int count_lines_with(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void test_lv_flags_reset_back_to_config(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_set(f, "playback", LV_FLAG_AUTO), 0);
    assert_int_equal(f->source[1], LV_FLAG_FROM_API);
    assert_int_equal(f->configured[1], LV_FLAG_AUTO);

    assert_int_equal(lv_flags_reset(f, "recs"), 0);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_false(lv_flags_overridden(f, 1));
    assert_int_equal(f->source[1], LV_FLAG_FROM_CONFIG);
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"playback\":\"auto\"}}\n");
    assert_int_equal(count_dir_entries(fx->dir), 1);
    /* A flag without an override: still 0, and the file is rewritten the same. */
    assert_int_equal(lv_flags_reset(f, "recs"), 0);
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"playback\":\"auto\"}}\n");
    assert_int_equal(lv_flags_reset(f, "playback"), 0);
    assert_int_equal(lv_flags_get(f, 0), LV_FLAG_ON);
    assert_string_equal(read_text(fx->path), "{\"flags\":{}}\n");
    lv_flags_free(f);

    lv_flags_t *g = lv_flags_new(&fx->cfg); /* the "restart": nothing comes back */
    assert_int_equal(lv_flags_get(g, 0), LV_FLAG_ON);
    assert_int_equal(lv_flags_get(g, 1), LV_FLAG_AUTO);
    assert_false(lv_flags_overridden(g, 0) || lv_flags_overridden(g, 1));
    lv_flags_free(g);
}

static void test_lv_flags_reset_unknown_not_found(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_reset(f, "nope"), LV_ENOTFOUND);
    assert_int_equal(access(fx->path, F_OK), -1);
    lv_flags_free(f);
}

/* Reset after a reload goes to the config in force now, not to the one the override hid. */
static void test_lv_flags_reset_after_reload_takes_new_config(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    fx->services[1].guard.flag = LV_FLAG_ON;
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    assert_int_equal(f->configured[1], LV_FLAG_ON);
    assert_int_equal(lv_flags_reset(f, "recs"), 0);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_ON);
    lv_flags_free(f);
}

static void test_lv_flags_reset_route(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    int checkout = (int)fx->routes[0].flag_slot;
    assert_int_equal(lv_flags_set(f, "checkout", LV_FLAG_ON), 0);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_reset(f, "checkout"), 0);
    assert_int_equal(lv_flags_get(f, checkout), LV_FLAG_OFF);
    assert_false(lv_flags_overridden(f, checkout));
    /* No route override left: the file is back to the first format. */
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"recs\":\"off\"}}\n");
    lv_flags_free(f);
}

static void test_lv_flags_reset_unwritable_dir_eio(void **state)
{
    fixture_t *fx = *state;
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing-dir/state.json", fx->dir);
    fx->cfg.state_file = bad;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), LV_EIO);
    assert_int_equal(lv_flags_reset(f, "recs"), LV_EIO);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO); /* back in memory all the same */
    assert_false(lv_flags_overridden(f, 1));
    lv_flags_free(f);
}

static void test_lv_flags_new_source_state_file_then_api(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    write_text(fx->path, "{\"flags\":{\"recs\":\"off\"},\"routes\":{\"search\":\"on\"}}");
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    int search = (int)fx->routes[2].flag_slot;
    assert_int_equal(f->source[1], LV_FLAG_FROM_STATE_FILE);
    assert_int_equal(f->source[search], LV_FLAG_FROM_STATE_FILE);
    assert_int_equal(f->configured[search], LV_FLAG_AUTO);
    assert_int_equal(f->source[0], LV_FLAG_FROM_CONFIG);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_ON), 0);
    assert_int_equal(f->source[1], LV_FLAG_FROM_API);
    assert_string_equal(lv_flag_source_name(LV_FLAG_FROM_API), "api");
    assert_string_equal(lv_flag_source_name(LV_FLAG_FROM_STATE_FILE), "state_file");
    assert_string_equal(lv_flag_source_name(LV_FLAG_FROM_CONFIG), "config");
    assert_string_equal(lv_flag_source_name((lv_flag_source_t)7), "unknown");
    lv_flags_free(f);
}

/* Each override in force is one warn line, at start (from the state file) and on every reload
 * (from the API or the state file); flags at their config's say nothing. */
static void test_lv_flags_reload_warns_each_override(void **state)
{
    fixture_t *fx = *state;
    add_three_routes(fx);
    write_text(fx->path, "{\"flags\":{\"recs\":\"off\"}}");
    int saved = log_capture_begin(fx);
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    char *log = log_capture_end(fx, saved);
    assert_int_equal(count_lines_with(log, "msg=\"flag overridden\""), 1);
    assert_non_null(strstr(log, "level=warn comp=flags msg=\"flag overridden\" flag=recs "
                                "config=auto value=off source=state_file\n"));
    free(log);

    assert_int_equal(lv_flags_set(f, "checkout", LV_FLAG_AUTO), 0);
    saved = log_capture_begin(fx);
    lv_flags_reload(f, &fx->cfg);
    log = log_capture_end(fx, saved);
    assert_int_equal(count_lines_with(log, "msg=\"flag overridden\""), 2);
    assert_non_null(strstr(log, "msg=\"flag overridden\" flag=recs config=auto value=off "
                                "source=state_file\n"));
    assert_non_null(strstr(log, "msg=\"flag overridden\" flag=checkout config=off value=auto "
                                "source=api\n"));
    free(log);

    /* Reset: no line for it at the next reload. */
    assert_int_equal(lv_flags_reset(f, "recs"), 0);
    assert_int_equal(lv_flags_reset(f, "checkout"), 0);
    saved = log_capture_begin(fx);
    lv_flags_reload(f, &fx->cfg);
    log = log_capture_end(fx, saved);
    assert_int_equal(count_lines_with(log, "flag overridden"), 0);
    free(log);
    lv_flags_free(f);
}

static void test_lv_flag_state_parse_and_name(void **state)
{
    (void)state;
    assert_int_equal(lv_flag_state_parse("on", 2), LV_FLAG_ON);
    assert_int_equal(lv_flag_state_parse("off", 3), LV_FLAG_OFF);
    assert_int_equal(lv_flag_state_parse("auto", 4), LV_FLAG_AUTO);
    assert_int_equal(lv_flag_state_parse("autox", 4), LV_FLAG_AUTO); /* len bounds the compare */
    assert_int_equal(lv_flag_state_parse("OFF", 3), -1);
    assert_int_equal(lv_flag_state_parse("", 0), -1);
    assert_string_equal(lv_flag_state_name(LV_FLAG_AUTO), "auto");
    assert_string_equal(lv_flag_state_name((lv_flag_state_t)9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lv_flags_new_defaults_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_set_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_set_unknown_service_not_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_set_without_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_set_unwritable_dir_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_bad_state_file_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_accepts_whitespace_and_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_unknown_names_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reload_keeps_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_routes_get_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_set_route_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_old_format_file_with_routes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_route_section_by_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_bad_route_section_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reload_keeps_route_overrides, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reload_every_route_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reset_back_to_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reset_unknown_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reset_after_reload_takes_new_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reset_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reset_unwritable_dir_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_new_source_state_file_then_api, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_flags_reload_warns_each_override, setup, teardown),
        cmocka_unit_test(test_lv_flag_state_parse_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
