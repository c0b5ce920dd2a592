/* tests/unit/guard/test_flags.c: the flag table (config defaults, overrides, reload) and its
 * state file (read at start, rewritten atomically, bad files ignored), in a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
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
} fixture_t;

static void add_service(fixture_t *fx, const char *name, int flag)
{
    lv_service_conf_t *s = &fx->services[fx->cfg.n_services++];
    memset(s, 0, sizeof *s);
    s->name = (char *)name;
    s->guard.flag = flag;
    s->metrics_slot = (uint32_t)lv_metrics_slot_for(name);
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
    assert_false(f->overridden[0]);
    assert_false(f->overridden[1]);
    assert_int_equal(access(fx->path, F_OK), -1); /* nothing written until a change */
    lv_flags_free(f);
}

static void test_lv_flags_set_survives_restart(void **state)
{
    fixture_t *fx = *state;
    lv_flags_t *f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_set(f, "recs", LV_FLAG_OFF), 0);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_OFF);
    assert_true(f->overridden[1]);
    assert_string_equal(read_text(fx->path), "{\"flags\":{\"recs\":\"off\"}}\n");
    assert_int_equal(count_dir_entries(fx->dir), 1); /* no temp file left behind */
    lv_flags_free(f);

    lv_flags_t *g = lv_flags_new(&fx->cfg); /* the "restart" */
    assert_int_equal(lv_flags_get(g, 1), LV_FLAG_OFF);
    assert_true(g->overridden[1]);
    assert_int_equal(lv_flags_get(g, 0), LV_FLAG_ON);
    assert_false(g->overridden[0]);
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
        assert_false(f->overridden[0]);
        assert_false(f->overridden[1]);
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
    assert_true(f->overridden[0] && f->overridden[1]);
    lv_flags_free(f);

    write_text(fx->path, "{\"flags\":{}}");
    f = lv_flags_new(&fx->cfg);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_AUTO);
    assert_false(f->overridden[1]);
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
    assert_true(f->overridden[1]);
    assert_int_equal(lv_flags_find(f, "thumbs"), 2);
    assert_int_equal(lv_flags_get(f, 2), LV_FLAG_OFF);
    assert_false(f->overridden[2]);

    /* A service dropped from the config loses its flag. */
    fx->services[1] = fx->services[2];
    fx->cfg.n_services = 2;
    lv_flags_reload(f, &fx->cfg);
    assert_int_equal(lv_flags_find(f, "recs"), -1);
    assert_int_equal(lv_flags_get(f, 1), LV_FLAG_ON);
    assert_int_equal(lv_flags_find(f, "thumbs"), 2);
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
        cmocka_unit_test(test_lv_flag_state_parse_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
