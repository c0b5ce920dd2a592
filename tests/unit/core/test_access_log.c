/* tests/unit/core/test_access_log.c: line formats (text and JSON), escaping, truncation,
 * whole-line flushing and the switch to a reopened sink, written to temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/access_log.h"

typedef struct fixture {
    char path[64];
    lv_access_sink_t *sink;
    lv_access_log_t *log;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/lv_access_log_XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    f->sink = lv_access_sink_open(f->path, LV_ACCESS_TEXT);
    assert_non_null(f->sink);
    f->log = malloc(sizeof *f->log);
    lv_access_log_init(f->log, f->sink);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lv_access_log_fini(f->log);
    lv_access_sink_unref(f->sink);
    unlink(f->path);
    free(f->log);
    free(f);
    return 0;
}

/* The whole file, NUL-terminated; *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
    s[n] = '\0';
    fclose(fp);
    if (len)
        *len = (size_t)n;
    return s;
}

static lv_access_entry_t sample(void)
{
    lv_access_entry_t e = {
        .wall_ms = 1795694400123ull, /* 2026-11-26T12:00:00.123Z */
        .client = LV_STR("127.0.0.1:5000"),
        .service = LV_STR("demo"),
        .method = "GET",
        .target = LV_STR("/x?y"),
        .status = 200,
        .bytes_in = 78,
        .bytes_out = 512,
        .upstream_us = 1234,
        .total_us = 1500,
        .request_id = LV_STR("abc"),
    };
    return e;
}

static void test_lv_access_log_write_formats_line(void **state)
{
    fixture_t *f = *state;
    lv_access_entry_t e = sample();
    lv_access_log_write(f->log, &e);
    char *text = slurp(f->path, NULL);
    assert_string_equal(text, ""); /* buffered until flush */
    free(text);
    lv_access_log_flush(f->log);
    text = slurp(f->path, NULL);
    assert_string_equal(text, "ts=2026-11-26T12:00:00.123Z client=127.0.0.1:5000 service=demo "
                              "method=GET target=\"/x?y\" status=200 bytes_in=78 bytes_out=512 "
                              "upstream_ms=1.234 total_ms=1.500 req_id=abc\n");
    free(text);
}

static void test_lv_access_log_write_no_upstream_and_empty_fields(void **state)
{
    fixture_t *f = *state;
    lv_access_entry_t e = sample();
    e.service = (lv_str_t){"", 0};
    e.request_id = (lv_str_t){NULL, 0};
    e.upstream_us = -1;
    e.status = 404;
    e.total_us = 12345678;
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    assert_string_equal(text, "ts=2026-11-26T12:00:00.123Z client=127.0.0.1:5000 service=- "
                              "method=GET target=\"/x?y\" status=404 bytes_in=78 bytes_out=512 "
                              "upstream_ms=- total_ms=12345.678 req_id=-\n");
    free(text);
}

static void test_lv_access_log_write_escapes_target_and_request_id(void **state)
{
    fixture_t *f = *state;
    lv_access_entry_t e = sample();
    e.target = LV_STR("/a\"b\\c\x01\n\xff");
    e.request_id = LV_STR("id with space");
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    assert_non_null(strstr(text, " target=\"/a\\\"b\\\\c\\x01\\n\\xff\" status=200 "));
    assert_non_null(strstr(text, " req_id=\"id with space\"\n"));
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
    free(text);
}

static void test_lv_access_log_write_truncates_long_target(void **state)
{
    fixture_t *f = *state;
    char target[5000];
    memset(target, 'a', sizeof target);
    target[0] = '/';
    lv_access_entry_t e = sample();
    e.target = (lv_str_t){target, sizeof target};
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    char *start = strstr(text, "target=\"");
    assert_non_null(start);
    start += strlen("target=\"");
    char *end = strchr(start, '"');
    assert_non_null(end);
    assert_int_equal(end - start, 1024);
    assert_non_null(strstr(end, "\" status=200 "));
    free(text);
}

static void test_lv_access_log_write_flushes_whole_lines_when_full(void **state)
{
    fixture_t *f = *state;
    char target[1000];
    memset(target, 'b', sizeof target);
    target[0] = '/';
    lv_access_entry_t e = sample();
    e.target = (lv_str_t){target, sizeof target};
    /* ~1.2 KB per line: 200 lines pass through the 64 KiB buffer several times. */
    for (int i = 0; i < 200; i++) {
        e.status = 200 + i % 100;
        lv_access_log_write(f->log, &e);
    }
    size_t len = 0;
    char *text = slurp(f->path, &len);
    assert_true(len > 0);                  /* something was flushed without a call to flush */
    assert_int_equal(text[len - 1], '\n'); /* and only whole lines */
    free(text);
    lv_access_log_flush(f->log);
    text = slurp(f->path, &len);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 200);
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_memory_equal(line, "ts=2026-11-26T12:00:00.123Z ", 28);
    free(text);
}

static void test_lv_access_sink_open_appends(void **state)
{
    fixture_t *f = *state;
    lv_access_entry_t e = sample();
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    /* A second sink on the same file appends after the first line, never overwrites. */
    lv_access_sink_t *other = lv_access_sink_open(f->path, LV_ACCESS_TEXT);
    assert_non_null(other);
    lv_access_log_t *log2 = malloc(sizeof *log2);
    lv_access_log_init(log2, other);
    e.status = 500;
    lv_access_log_write(log2, &e);
    lv_access_log_fini(log2);
    lv_access_sink_unref(other);
    free(log2);
    char *text = slurp(f->path, NULL);
    char *second = strchr(text, '\n') + 1;
    assert_non_null(strstr(text, "status=200"));
    assert_non_null(strstr(second, "status=500"));
    free(text);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
}

static void test_lv_access_sink_open_bad_path(void **state)
{
    (void)state;
    assert_null(lv_access_sink_open("/nonexistent-dir/levee/access.log", LV_ACCESS_TEXT));
}

static void test_lv_access_log_write_without_sink(void **state)
{
    (void)state;
    lv_access_log_t *log = malloc(sizeof *log);
    lv_access_log_init(log, NULL);
    lv_access_entry_t e = sample();
    lv_access_log_write(log, &e);
    assert_int_equal(log->used, 0);
    lv_access_log_flush(log);
    lv_access_log_fini(log);
    free(log);
}

/* A rotation: the file is renamed, a new sink opened at the same path. Lines written before
 * the switch go whole to the renamed file (even those still buffered), the next ones to the
 * new file, and the old descriptor stays usable until the last holder lets go. */
static void test_lv_access_log_set_sink_keeps_lines_whole_across_reopen(void **state)
{
    fixture_t *f = *state;
    char rotated[80];
    snprintf(rotated, sizeof rotated, "%s.1", f->path);
    lv_access_entry_t e = sample();
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    e.status = 201;
    lv_access_log_write(f->log, &e); /* still buffered at the rename */
    assert_int_equal(rename(f->path, rotated), 0);
    lv_access_sink_t *fresh = lv_access_sink_open(f->path, LV_ACCESS_TEXT);
    assert_non_null(fresh);
    lv_access_log_set_sink(f->log, fresh);
    lv_access_sink_unref(f->sink); /* the log's reference kept the old one alive until now */
    f->sink = fresh;
    e.status = 202;
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *old_text = slurp(rotated, NULL);
    char *new_text = slurp(f->path, NULL);
    assert_non_null(strstr(old_text, "status=200 "));
    assert_non_null(strstr(old_text, "status=201 "));
    assert_null(strstr(old_text, "status=202 "));
    assert_int_equal(strchr(new_text, '\n') - new_text + 1, (long)strlen(new_text));
    assert_non_null(strstr(new_text, "status=202 "));
    free(old_text);
    free(new_text);
    unlink(rotated);
}

/* A reload that turns the log off, then on again: nothing is written while off. */
static void test_lv_access_log_set_sink_off_and_on(void **state)
{
    fixture_t *f = *state;
    lv_access_entry_t e = sample();
    lv_access_log_write(f->log, &e);
    lv_access_log_set_sink(f->log, NULL);
    e.status = 299;
    lv_access_log_write(f->log, &e);
    assert_int_equal(f->log->used, 0);
    lv_access_log_set_sink(f->log, f->sink);
    e.status = 203;
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    assert_non_null(strstr(text, "status=200 "));
    assert_null(strstr(text, "status=299 "));
    assert_non_null(strstr(text, "status=203 "));
    free(text);
}

static void test_lv_access_log_write_json_line(void **state)
{
    fixture_t *f = *state;
    lv_access_sink_t *json = lv_access_sink_open(f->path, LV_ACCESS_JSON);
    assert_non_null(json);
    lv_access_log_set_sink(f->log, json);
    lv_access_sink_unref(json);
    lv_access_entry_t e = sample();
    e.host = LV_STR("shop.example");
    e.user_agent = LV_STR("curl/8.0");
    e.upstream = "10.0.0.1:8080";
    e.cache = "miss";
    lv_access_log_write(f->log, &e);
    e.service = (lv_str_t){"", 0};
    e.upstream = NULL;
    e.cache = NULL;
    e.refusal = "shed";
    e.upstream_us = -1;
    e.status = 503;
    e.user_agent = (lv_str_t){NULL, 0};
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    assert_string_equal(
        text, "{\"time\":\"2026-11-26T12:00:00.123Z\",\"client\":\"127.0.0.1:5000\","
              "\"method\":\"GET\",\"target\":\"/x?y\",\"host\":\"shop.example\","
              "\"user_agent\":\"curl/8.0\",\"status\":200,\"bytes_in\":78,\"bytes_out\":512,"
              "\"service\":\"demo\",\"upstream\":\"10.0.0.1:8080\",\"cache\":\"miss\","
              "\"refusal\":null,\"upstream_ms\":1.234,\"total_ms\":1.500,\"tls_version\":null,"
              "\"tls_cipher\":null,\"request_id\":\"abc\"}\n"
              "{\"time\":\"2026-11-26T12:00:00.123Z\",\"client\":\"127.0.0.1:5000\","
              "\"method\":\"GET\",\"target\":\"/x?y\",\"host\":\"shop.example\","
              "\"user_agent\":\"\",\"status\":503,\"bytes_in\":78,\"bytes_out\":512,"
              "\"service\":null,\"upstream\":null,\"cache\":null,\"refusal\":\"shed\","
              "\"upstream_ms\":null,\"total_ms\":1.500,\"tls_version\":null,\"tls_cipher\":null,"
              "\"request_id\":\"abc\"}\n");
    free(text);
}

/* Untrusted bytes: quotes, backslashes and control bytes escaped, valid UTF-8 kept, anything
 * else replaced by U+FFFD; the line stays one line. */
static void test_lv_access_log_write_json_escapes(void **state)
{
    fixture_t *f = *state;
    lv_access_sink_t *json = lv_access_sink_open(f->path, LV_ACCESS_JSON);
    lv_access_log_set_sink(f->log, json);
    lv_access_sink_unref(json);
    lv_access_entry_t e = sample();
    e.target = LV_STR("/a\"b\\c\x01\n\x7f\xff\xc3\xa9");
    e.user_agent = LV_STR("x\"}, \"status\": 1\r\n");
    e.request_id = LV_STR("\xe2\x82"); /* a cut sequence */
    lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    char *text = slurp(f->path, NULL);
    assert_non_null(strstr(text, "\"target\":\"/a\\\"b\\\\c\\u0001\\n\\u007f\\ufffd\xc3\xa9\","));
    assert_non_null(strstr(text, "\"user_agent\":\"x\\\"}, \\\"status\\\": 1\\r\\n\","));
    assert_non_null(strstr(text, "\"request_id\":\"\\ufffd\\ufffd\"}\n"));
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));
    free(text);
}

/* The worst case (every byte escaped to 6) still fits one line, whole. */
static void test_lv_access_log_write_json_worst_case_fits(void **state)
{
    fixture_t *f = *state;
    lv_access_sink_t *json = lv_access_sink_open(f->path, LV_ACCESS_JSON);
    lv_access_log_set_sink(f->log, json);
    lv_access_sink_unref(json);
    static char ctl[4096];
    memset(ctl, 1, sizeof ctl);
    lv_access_entry_t e = sample();
    lv_str_t big = {ctl, sizeof ctl};
    e.client = e.service = e.target = e.host = e.user_agent = e.request_id = big;
    for (int i = 0; i < 20; i++)
        lv_access_log_write(f->log, &e);
    lv_access_log_flush(f->log);
    size_t len = 0;
    char *text = slurp(f->path, &len);
    int lines = 0;
    for (char *line = text; *line; line = strchr(line, '\n') + 1) {
        lines++;
        assert_memory_equal(line, "{\"time\":", 8);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        /* The last value came whole: 256 bytes kept, each as \u0001, then "} */
        char *rid = strstr(line, "\"request_id\":\"");
        assert_true(rid && rid < nl);
        assert_int_equal(nl - rid, 14 + 256 * 6 + 2);
        assert_memory_equal(nl - 2, "\"}", 2);
    }
    assert_int_equal(lines, 20);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_formats_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_no_upstream_and_empty_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_escapes_target_and_request_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_truncates_long_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_flushes_whole_lines_when_full,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_sink_open_appends, setup, teardown),
        cmocka_unit_test(test_lv_access_sink_open_bad_path),
        cmocka_unit_test(test_lv_access_log_write_without_sink),
        cmocka_unit_test_setup_teardown(test_lv_access_log_set_sink_keeps_lines_whole_across_reopen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_set_sink_off_and_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_json_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_json_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lv_access_log_write_json_worst_case_fits, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
