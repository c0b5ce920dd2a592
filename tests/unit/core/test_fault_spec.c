/* tests/unit/core/test_fault_spec.c: the fault spec's spellings (delays, the admin API's JSON
 * object with its exact reasons, the test header), their round trip and comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault_spec.h"

static int ms_parse(const char *s, lv_fault_ms_t *out)
{
    return lv_fault_ms_parse(s, strlen(s), out);
}

/* The JSON of a spec's members, wrapped in braces (heap; the caller frees it). */
static char *members_json(const lv_fault_spec_t *spec)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    fputc('{', f);
    lv_fault_spec_write_json_members(f, spec);
    fputc('}', f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static char *ms_json(const lv_fault_ms_t *ms)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    lv_fault_ms_write_json(f, ms);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* Parses json, which must be good. */
static lv_fault_spec_t parse_ok(const char *json)
{
    lv_fault_spec_t spec;
    char err[256] = "";
    int rc = lv_fault_spec_parse_json(json, strlen(json), &spec, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: %s", json, err);
    return spec;
}

/* ---- delays ---- */

static void test_lv_fault_ms_parse_forms(void **state)
{
    (void)state;
    lv_fault_ms_t ms;
    assert_int_equal(ms_parse("50", &ms), 0);
    assert_int_equal(ms.dist, LV_FAULT_DIST_FIXED);
    assert_true(ms.a == 50 && ms.b == 0);
    assert_int_equal(ms_parse("0", &ms), 0);
    assert_true(ms.a == 0);
    assert_int_equal(ms_parse("12.5", &ms), 0);
    assert_true(ms.a == 12.5);
    assert_int_equal(ms_parse("60000", &ms), 0);
    assert_int_equal(ms_parse("uniform 10 100", &ms), 0);
    assert_int_equal(ms.dist, LV_FAULT_DIST_UNIFORM);
    assert_true(ms.a == 10 && ms.b == 100);
    assert_int_equal(ms_parse("uniform\t7 7", &ms), 0);
    assert_true(ms.a == 7 && ms.b == 7);
    assert_int_equal(ms_parse("exponential 50", &ms), 0);
    assert_int_equal(ms.dist, LV_FAULT_DIST_EXPONENTIAL);
    assert_true(ms.a == 50);
    assert_int_equal(ms_parse("lognormal 20 200", &ms), 0);
    assert_int_equal(ms.dist, LV_FAULT_DIST_LOGNORMAL);
    assert_true(ms.a == 20 && ms.b == 200);
    assert_int_equal(ms_parse("1e3", &ms), 0);
    assert_true(ms.a == 1000);
}

static void test_lv_fault_ms_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " 50",
        "50 ",
        "-1",
        "60000.5",
        "60001",
        "1e9",
        "abc",
        ".5",
        "05",
        "50ms",
        "uniform 100 10",
        "uniform 10",
        "uniform 10 100 1000",
        "uniform  10 100",
        "Uniform 10 100",
        "exponential 50 60",
        "exponential -1",
        "lognormal 0 10",
        "lognormal 20 10",
        "lognormal 20 60001",
        "normal 1 2",
        "nan",
        "inf",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lv_fault_ms_t ms = {.dist = LV_FAULT_DIST_UNIFORM, .a = 1, .b = 2};
        if (ms_parse(bad[i], &ms) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_true(ms.dist == LV_FAULT_DIST_UNIFORM && ms.a == 1 && ms.b == 2); /* untouched */
    }
    lv_fault_ms_t ms;
    assert_int_equal(lv_fault_ms_parse("50\0", 3, &ms), -1);
}

static void test_lv_fault_ms_write_json_reads_back(void **state)
{
    (void)state;
    static const struct {
        const char *in, *json;
    } cases[] = {
        {"50", "50"},
        {"0.1", "0.1"},
        {"12.25", "12.25"},
        {"uniform 10 100", "\"uniform 10 100\""},
        {"exponential 0.001", "\"exponential 0.001\""},
        {"lognormal 20 200", "\"lognormal 20 200\""},
        {"uniform 1e-5 60000", "\"uniform 1e-05 60000\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lv_fault_ms_t ms, back;
        assert_int_equal(ms_parse(cases[i].in, &ms), 0);
        char *json = ms_json(&ms);
        assert_string_equal(json, cases[i].json);
        /* A string reads back through lv_fault_ms_parse without its quotes. */
        const char *p = json[0] == '"' ? json + 1 : json;
        size_t len = strlen(p) - (json[0] == '"');
        assert_int_equal(lv_fault_ms_parse(p, len, &back), 0);
        assert_true(back.dist == ms.dist && back.a == ms.a && back.b == ms.b);
        free(json);
    }
}

/* ---- the JSON object ---- */

static void test_lv_fault_spec_parse_json_latency_defaults(void **state)
{
    (void)state;
    lv_fault_spec_t s = parse_ok(
        "{\"service\": \"app\", \"kind\": \"latency\", \"ms\": 50, \"duration_ms\": 30000}");
    assert_string_equal(s.service, "app");
    assert_string_equal(s.route, "");
    assert_int_equal(s.kind, LV_FAULT_LATENCY);
    assert_true(s.share == 1.0);
    assert_int_equal(s.duration_ms, 30000);
    assert_int_equal(s.ms.dist, LV_FAULT_DIST_FIXED);
    assert_true(s.ms.a == 50);
    assert_int_equal(s.status, 503);
}

static void test_lv_fault_spec_parse_json_every_kind(void **state)
{
    (void)state;
    lv_fault_spec_t s = parse_ok(" {\"route\":\"checkout\",\"kind\":\"abort\",\"status\":429,"
                                 "\"share\":0.25,\"duration_ms\":1}\r\n");
    assert_string_equal(s.route, "checkout");
    assert_string_equal(s.service, "");
    assert_int_equal(s.kind, LV_FAULT_ABORT);
    assert_int_equal(s.status, 429);
    assert_true(s.share == 0.25);
    assert_int_equal(s.duration_ms, 1);

    s = parse_ok("{\"service\":\"a\",\"kind\":\"abort\",\"duration_ms\":86400000}");
    assert_int_equal(s.status, 503);
    assert_int_equal(s.duration_ms, 86400000);

    s = parse_ok("{\"service\":\"a\",\"kind\":\"reset\",\"share\":0,\"duration_ms\":5}");
    assert_int_equal(s.kind, LV_FAULT_RESET);
    assert_true(s.share == 0);
    s = parse_ok("{\"service\":\"a\",\"kind\":\"blackhole\",\"share\":1e-1,\"duration_ms\":5}");
    assert_int_equal(s.kind, LV_FAULT_BLACKHOLE);
    assert_true(s.share == 0.1);
    s = parse_ok("{\"service\":\"a\",\"kind\":\"bandwidth\",\"bytes_per_s\":1024,"
                 "\"duration_ms\":5}");
    assert_int_equal(s.kind, LV_FAULT_BANDWIDTH);
    assert_int_equal(s.bytes_per_s, 1024);
    s = parse_ok("{\"service\":\"a.b-c_9\",\"kind\":\"host_down\",\"host\":\"[::1]:9000\","
                 "\"duration_ms\":5}");
    assert_int_equal(s.kind, LV_FAULT_HOST_DOWN);
    assert_string_equal(s.service, "a.b-c_9");
    assert_string_equal(s.host, "[::1]:9000");
    s = parse_ok("{\"service\":\"a\",\"kind\":\"latency\",\"ms\":\"lognormal 20 200\","
                 "\"duration_ms\":5}");
    assert_int_equal(s.ms.dist, LV_FAULT_DIST_LOGNORMAL);
}

static void test_lv_fault_spec_parse_json_escapes(void **state)
{
    (void)state;
    /* \u0061 is 'a', \/ is '/': names may be written with escapes (they decode to the same). */
    lv_fault_spec_t s = parse_ok("{\"serv\\u0069ce\":\"\\u0061pp\",\"kind\":\"res\\u0065t\","
                                 "\"duration_ms\":5}");
    assert_string_equal(s.service, "app");
    assert_int_equal(s.kind, LV_FAULT_RESET);
    char err[256];
    /* Escapes that decode to bytes a name may not hold still fail as that member. */
    const char *json = "{\"service\":\"a\\/b\",\"kind\":\"reset\",\"duration_ms\":5}";
    assert_int_equal(lv_fault_spec_parse_json(json, strlen(json), &s, err, sizeof err), -1);
    assert_string_equal(err, "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]");
    json = "{\"service\":\"\\ud83d\\ude00\",\"kind\":\"reset\",\"duration_ms\":5}";
    assert_int_equal(lv_fault_spec_parse_json(json, strlen(json), &s, err, sizeof err), -1);
    assert_string_equal(err, "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]");
}

typedef struct bad_json {
    const char *json, *reason;
} bad_json_t;

#define SVC "\"service\":\"a\","
#define DUR ",\"duration_ms\":5"

static const bad_json_t bad_json[] = {
    /* not an object */
    {"", "expected a JSON object"},
    {"  ", "expected a JSON object"},
    {"[]", "expected a JSON object"},
    {"\"x\"", "expected a JSON object"},
    {"{", "bad JSON at byte 1: expected a member name"},
    {"{\"service\"", "bad JSON at byte 10: expected ':'"},
    {"{\"service\":", "bad JSON: the object is cut short"},
    {"{\"service\":\"a", "bad JSON: unterminated string"},
    {"{\"service\":\"a\"", "bad JSON at byte 14: expected ',' or '}'"},
    {"{\"service\":\"a\",}", "bad JSON at byte 15: expected a member name"},
    {"{service:\"a\"}", "bad JSON at byte 1: expected a member name"},
    {"{'service':'a'}", "bad JSON at byte 1: expected a member name"},
    {"{\"service\":\"a\"} x", "bad JSON at byte 16: data after the object"},
    {"{\"service\":\"a\"}{}", "bad JSON at byte 15: data after the object"},
    {"{\"service\":\"a\tb\"}", "bad JSON at byte 13: control character in a string"},
    {"{\"service\":\"a\\x\"}", "bad JSON at byte 13: bad escape in a string"},
    {"{\"service\":\"\\u12\"}", "bad JSON at byte 12: bad escape in a string"},
    {"{\"service\":\"\\udc00\"}", "bad JSON at byte 12: bad escape in a string"},
    {"{\"service\":\"\\ud800x\"}", "bad JSON at byte 12: bad escape in a string"},
    {"{\"share\":01}", "bad JSON at byte 10: expected ',' or '}'"},
    {"{\"share\":1.}", "bad JSON at byte 9: bad number"},
    {"{\"share\":-}", "bad JSON at byte 9: bad number"},
    {"{\"share\":+1}", "bad JSON at byte 9: expected a value"},
    {"{\"share\":nul}", "bad JSON at byte 9: expected a value"},
    {"{\"share\":.5}", "bad JSON at byte 9: expected a value"},
    /* members */
    {"{\"sevice\":\"a\"}", "unknown member \"sevice\""},
    {"{\"a\\nb\":1}", "unknown member \"a\\x0ab\""},
    {"{\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":1}",
     "unknown member \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\""},
    {"{\"service\":\"a\",\"service\":\"b\"}", "duplicate member \"service\""},
    {"{\"service\":5}", "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]"},
    {"{\"service\":\"\"}", "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]"},
    {"{\"service\":\"a b\"}", "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]"},
    {"{\"service\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     "\"service\": expected a name of 1..64 characters [A-Za-z0-9_.-]"},
    {"{\"route\":null}", "\"route\": expected a name of 1..64 characters [A-Za-z0-9_.-]"},
    {"{\"kind\":\"Latency\"}",
     "\"kind\": expected one of latency, abort, reset, blackhole, bandwidth, host_down"},
    {"{\"kind\":[\"reset\"]}",
     "\"kind\": expected one of latency, abort, reset, blackhole, bandwidth, host_down"},
    {"{\"share\":1.5}", "\"share\": expected a number in 0..1"},
    {"{\"share\":-0.1}", "\"share\": expected a number in 0..1"},
    {"{\"share\":\"0.5\"}", "\"share\": expected a number in 0..1"},
    {"{\"share\":true}", "\"share\": expected a number in 0..1"},
    {"{\"share\":1e999}", "\"share\": expected a number in 0..1"},
    {"{\"duration_ms\":0}", "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"duration_ms\":86400001}", "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"duration_ms\":1.5}", "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"duration_ms\":\"30s\"}", "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"duration_ms\":99999999999999999999999}",
     "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"duration_ms\":{}}", "\"duration_ms\": expected an integer in 1..86400000"},
    {"{\"status\":199}", "\"status\": expected an integer in 200..599"},
    {"{\"status\":600}", "\"status\": expected an integer in 200..599"},
    {"{\"status\":\"503\"}", "\"status\": expected an integer in 200..599"},
    {"{\"bytes_per_s\":1023}", "\"bytes_per_s\": expected an integer of at least 1024"},
    {"{\"bytes_per_s\":\"64k\"}", "\"bytes_per_s\": expected an integer of at least 1024"},
    {"{\"host\":\"a b:1\"}", "\"host\": expected an upstream's HOST:PORT of 1..63 characters"},
    {"{\"host\":1}", "\"host\": expected an upstream's HOST:PORT of 1..63 characters"},
    {"{\"ms\":-1}", "\"ms\": expected a delay in 0..60000 ms: 50, \"uniform A B\" (A <= B), "
                    "\"exponential MEAN\" or \"lognormal MEDIAN P99\" (0 < MEDIAN <= P99)"},
    {"{\"ms\":\"uniform 9 1\"}",
     "\"ms\": expected a delay in 0..60000 ms: 50, \"uniform A B\" (A <= B), "
     "\"exponential MEAN\" or \"lognormal MEDIAN P99\" (0 < MEDIAN <= P99)"},
    /* the members together */
    {"{}", "\"service\" or \"route\" is required"},
    {"{\"kind\":\"reset\",\"duration_ms\":5}", "\"service\" or \"route\" is required"},
    {"{" SVC "\"route\":\"r\",\"kind\":\"reset\"" DUR "}",
     "\"route\": set \"service\" or \"route\", not both"},
    {"{" SVC "\"duration_ms\":5}", "\"kind\": required"},
    {"{" SVC "\"kind\":\"reset\"}", "\"duration_ms\": required"},
    {"{" SVC "\"kind\":\"latency\"" DUR "}", "\"ms\": required with kind latency"},
    {"{" SVC "\"kind\":\"bandwidth\"" DUR "}", "\"bytes_per_s\": required with kind bandwidth"},
    {"{" SVC "\"kind\":\"host_down\"" DUR "}", "\"host\": required with kind host_down"},
    {"{" SVC "\"kind\":\"reset\",\"status\":500" DUR "}", "\"status\": only with kind abort"},
    {"{" SVC "\"kind\":\"abort\",\"ms\":5" DUR "}", "\"ms\": only with kind latency"},
    {"{" SVC "\"kind\":\"latency\",\"ms\":5,\"bytes_per_s\":2048" DUR "}",
     "\"bytes_per_s\": only with kind bandwidth"},
    {"{" SVC "\"kind\":\"abort\",\"host\":\"127.0.0.1:1\"" DUR "}",
     "\"host\": only with kind host_down"},
    {"{\"route\":\"r\",\"kind\":\"host_down\",\"host\":\"127.0.0.1:1\"" DUR "}",
     "\"route\": kind host_down needs \"service\" (a host belongs to a service)"},
};

static void test_lv_fault_spec_parse_json_rejects_with_reason(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        lv_fault_spec_t spec;
        memset(&spec, 0x5a, sizeof spec);
        char err[256] = "";
        int rc = lv_fault_spec_parse_json(bad_json[i].json, strlen(bad_json[i].json), &spec, err,
                                          sizeof err);
        unsigned char first = ((unsigned char *)&spec)[0];
        if (rc != -1 || strcmp(err, bad_json[i].reason) != 0 || first != 0x5a) {
            fprintf(stderr, "input: %s\n  got %d: %s\n  want: %s\n", bad_json[i].json, rc, err,
                    bad_json[i].reason);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_lv_fault_spec_parse_json_nul_byte_and_long_string(void **state)
{
    (void)state;
    lv_fault_spec_t spec;
    char err[256];
    static const char nul[] = "{\"service\":\"a\"}\0";
    assert_int_equal(lv_fault_spec_parse_json(nul, sizeof nul - 1, &spec, err, sizeof err), -1);
    assert_string_equal(err, "bad JSON at byte 15: data after the object");
    /* A delay longer than any member's value is refused, not cut into another delay. */
    char json[1024];
    int n = snprintf(json, sizeof json,
                     "{\"service\":\"a\",\"kind\":\"latency\",\"duration_ms\":5,\"ms\":\"uniform 1 "
                     "2%0300d\"}",
                     0);
    assert_true(n > 0 && (size_t)n < sizeof json);
    assert_int_equal(lv_fault_spec_parse_json(json, (size_t)n, &spec, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"ms\": expected a delay"));
    /* A tiny err buffer is cut, never overrun. */
    char small[8];
    assert_int_equal(lv_fault_spec_parse_json("{}", 2, &spec, small, sizeof small), -1);
    assert_string_equal(small, "\"servic");
}

/* ---- round trip ---- */

static void test_lv_fault_spec_write_json_members_round_trip(void **state)
{
    (void)state;
    static const char *const specs[] = {
        "{\"service\":\"app\",\"kind\":\"latency\",\"share\":1,\"duration_ms\":30000,\"ms\":50}",
        "{\"service\":\"app\",\"kind\":\"latency\",\"share\":0.3,\"duration_ms\":1,"
        "\"ms\":\"uniform 0.5 100\"}",
        "{\"route\":\"r.1\",\"kind\":\"latency\",\"share\":1e-07,\"duration_ms\":2,"
        "\"ms\":\"exponential 12.125\"}",
        "{\"service\":\"app\",\"kind\":\"latency\",\"share\":1,\"duration_ms\":3,"
        "\"ms\":\"lognormal 20 200\"}",
        "{\"route\":\"r\",\"kind\":\"abort\",\"share\":0.5,\"duration_ms\":86400000,"
        "\"status\":503}",
        "{\"service\":\"app\",\"kind\":\"reset\",\"share\":0,\"duration_ms\":7}",
        "{\"service\":\"app\",\"kind\":\"blackhole\",\"share\":0.999,\"duration_ms\":7}",
        "{\"service\":\"app\",\"kind\":\"bandwidth\",\"share\":1,\"duration_ms\":7,"
        "\"bytes_per_s\":18446744073709551615}",
        "{\"service\":\"app\",\"kind\":\"host_down\",\"share\":1,\"duration_ms\":7,"
        "\"host\":\"[::1]:9000\"}",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        lv_fault_spec_t a = parse_ok(specs[i]), b;
        char *json = members_json(&a);
        assert_string_equal(json, specs[i]); /* already in the written form */
        b = parse_ok(json);
        assert_true(lv_fault_spec_equal(&a, &b));
        free(json);
    }
    /* The written form of a spec given in another form reads back equal. */
    lv_fault_spec_t a = parse_ok("{\"duration_ms\":5,\"share\":0.1,\"ms\":\"12.5\","
                                 "\"kind\":\"latency\",\"route\":\"x\"}");
    char *json = members_json(&a);
    assert_string_equal(json, "{\"route\":\"x\",\"kind\":\"latency\",\"share\":0.1,"
                              "\"duration_ms\":5,\"ms\":12.5}");
    lv_fault_spec_t b = parse_ok(json);
    assert_true(lv_fault_spec_equal(&a, &b));
    free(json);
}

/* ---- members one by one, and the check ---- */

static void test_lv_fault_spec_set_member_config_units(void **state)
{
    (void)state;
    lv_fault_spec_t s;
    char err[256];
    lv_fault_spec_init(&s);
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_DURATION_MS, "30s", 3,
                                              LV_FAULT_TEXT_CONFIG, err, sizeof err),
                     0);
    assert_int_equal(s.duration_ms, 30000);
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_BYTES_PER_S, "64k", 3,
                                              LV_FAULT_TEXT_CONFIG, err, sizeof err),
                     0);
    assert_int_equal(s.bytes_per_s, 65536);
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_DURATION_MS, "25h", 3,
                                              LV_FAULT_TEXT_CONFIG, err, sizeof err),
                     -1);
    assert_string_equal(err, "expected a duration in 1..86400000 ms (30000, 30s, 5m)");
    assert_int_equal(s.duration_ms, 30000); /* unchanged */
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_BYTES_PER_S, "1023", 4,
                                              LV_FAULT_TEXT_CONFIG, err, sizeof err),
                     -1);
    assert_string_equal(err, "expected a size of at least 1024 (65536, 64k)");
    /* A YAML scalar may be either type. */
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_SHARE, "0.5", 3, LV_FAULT_TEXT_CONFIG,
                                              err, sizeof err),
                     0);
    assert_true(s.share == 0.5);
    assert_int_equal(lv_fault_spec_set_member(&s, LV_FAULT_M_SERVICE, "app", 3,
                                              LV_FAULT_TEXT_CONFIG, err, sizeof err),
                     0);
    assert_string_equal(s.service, "app");
}

static void test_lv_fault_spec_check_needs_one_target(void **state)
{
    (void)state;
    lv_fault_spec_t s;
    char err[128];
    lv_fault_spec_init(&s);
    s.kind = LV_FAULT_RESET;
    uint32_t base = 1u << LV_FAULT_M_KIND | 1u << LV_FAULT_M_DURATION_MS;
    assert_int_equal(lv_fault_spec_check(&s, base | 1u << LV_FAULT_M_SERVICE, err, sizeof err), -1);
    assert_int_equal(lv_fault_spec_check(&s, base | 1u << LV_FAULT_M_ROUTE, err, sizeof err), -1);
    assert_int_equal(lv_fault_spec_check(&s, base, err, sizeof err), LV_FAULT_MEMBERS);
    assert_int_equal(lv_fault_spec_check(&s,
                                         base | 1u << LV_FAULT_M_SERVICE | 1u << LV_FAULT_M_ROUTE,
                                         err, sizeof err),
                     LV_FAULT_M_ROUTE);
    assert_int_equal(
        lv_fault_spec_check(&s, 1u << LV_FAULT_M_SERVICE | 1u << LV_FAULT_M_KIND, err, sizeof err),
        LV_FAULT_M_DURATION_MS);
}

/* ---- the header ---- */

static int header(const char *v, lv_fault_spec_t *out)
{
    return lv_fault_header_parse(v, strlen(v), out);
}

static void test_lv_fault_header_parse_forms(void **state)
{
    (void)state;
    lv_fault_spec_t s;
    assert_int_equal(header("latency 50", &s), 0);
    assert_int_equal(s.kind, LV_FAULT_LATENCY);
    assert_true(s.ms.a == 50 && s.share == 1.0);
    assert_string_equal(s.service, "");
    assert_string_equal(s.route, "");
    assert_int_equal(s.duration_ms, 0);
    assert_int_equal(header("latency\tuniform 10 100", &s), 0);
    assert_int_equal(s.ms.dist, LV_FAULT_DIST_UNIFORM);
    assert_true(s.ms.a == 10 && s.ms.b == 100);
    assert_int_equal(header("abort 429", &s), 0);
    assert_int_equal(s.kind, LV_FAULT_ABORT);
    assert_int_equal(s.status, 429);
    assert_int_equal(header("reset", &s), 0);
    assert_int_equal(s.kind, LV_FAULT_RESET);
    assert_int_equal(header(" blackhole \t", &s), 0); /* surrounding whitespace is not the value */
    assert_int_equal(s.kind, LV_FAULT_BLACKHOLE);
    assert_int_equal(header("bandwidth 4096", &s), 0);
    assert_int_equal(s.kind, LV_FAULT_BANDWIDTH);
    assert_int_equal(s.bytes_per_s, 4096);
}

static void test_lv_fault_header_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "latency",
        "latency ",
        "latency  50",
        "latency 50ms",
        "latency 60001",
        "Latency 50",
        "LATENCY 50",
        "abort",
        "abort 99",
        "abort 600",
        "abort 503 now",
        "abort five",
        "reset now",
        "reset  x",
        "blackhole 1",
        "bandwidth",
        "bandwidth 1023",
        "bandwidth 64k",
        "host_down 127.0.0.1:1",
        "latency\n50",
        "delay 50",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lv_fault_spec_t s;
        memset(&s, 0x5a, sizeof s);
        if (header(bad[i], &s) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(((unsigned char *)&s)[0], 0x5a);
    }
}

/* ---- comparing ---- */

static void test_lv_fault_spec_equal_compares_what_the_kind_uses(void **state)
{
    (void)state;
    lv_fault_spec_t a = parse_ok("{\"service\":\"a\",\"kind\":\"reset\",\"duration_ms\":5}");
    lv_fault_spec_t b = a;
    assert_true(lv_fault_spec_equal(&a, &b));
    b.status = 500; /* not a reset's member */
    b.ms.a = 3;
    assert_true(lv_fault_spec_equal(&a, &b));
    b = a;
    b.duration_ms = 6;
    assert_false(lv_fault_spec_equal(&a, &b));
    b = a;
    b.share = 0.5;
    assert_false(lv_fault_spec_equal(&a, &b));
    b = a;
    strcpy(b.service, "b");
    assert_false(lv_fault_spec_equal(&a, &b));
    b = a;
    b.service[0] = '\0';
    strcpy(b.route, "a");
    assert_false(lv_fault_spec_equal(&a, &b));
    b = a;
    b.kind = LV_FAULT_BLACKHOLE;
    assert_false(lv_fault_spec_equal(&a, &b));

    a = parse_ok("{\"service\":\"a\",\"kind\":\"latency\",\"ms\":\"uniform 1 2\","
                 "\"duration_ms\":5}");
    b = a;
    b.ms.b = 3;
    assert_false(lv_fault_spec_equal(&a, &b));
    a = parse_ok("{\"service\":\"a\",\"kind\":\"abort\",\"duration_ms\":5}");
    b = a;
    b.status = 500;
    assert_false(lv_fault_spec_equal(&a, &b));
    a = parse_ok("{\"service\":\"a\",\"kind\":\"bandwidth\",\"bytes_per_s\":2048,"
                 "\"duration_ms\":5}");
    b = a;
    b.bytes_per_s = 4096;
    assert_false(lv_fault_spec_equal(&a, &b));
    a = parse_ok("{\"service\":\"a\",\"kind\":\"host_down\",\"host\":\"127.0.0.1:1\","
                 "\"duration_ms\":5}");
    b = a;
    strcpy(b.host, "127.0.0.1:2");
    assert_false(lv_fault_spec_equal(&a, &b));
}

static void test_lv_fault_kind_names_in_enum_order(void **state)
{
    (void)state;
    assert_string_equal(lv_fault_kind_names[LV_FAULT_LATENCY], "latency");
    assert_string_equal(lv_fault_kind_names[LV_FAULT_ABORT], "abort");
    assert_string_equal(lv_fault_kind_names[LV_FAULT_RESET], "reset");
    assert_string_equal(lv_fault_kind_names[LV_FAULT_BLACKHOLE], "blackhole");
    assert_string_equal(lv_fault_kind_names[LV_FAULT_BANDWIDTH], "bandwidth");
    assert_string_equal(lv_fault_kind_names[LV_FAULT_HOST_DOWN], "host_down");
    assert_string_equal(lv_fault_member_names[LV_FAULT_M_BYTES_PER_S], "bytes_per_s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_fault_ms_parse_forms),
        cmocka_unit_test(test_lv_fault_ms_parse_rejects),
        cmocka_unit_test(test_lv_fault_ms_write_json_reads_back),
        cmocka_unit_test(test_lv_fault_spec_parse_json_latency_defaults),
        cmocka_unit_test(test_lv_fault_spec_parse_json_every_kind),
        cmocka_unit_test(test_lv_fault_spec_parse_json_escapes),
        cmocka_unit_test(test_lv_fault_spec_parse_json_rejects_with_reason),
        cmocka_unit_test(test_lv_fault_spec_parse_json_nul_byte_and_long_string),
        cmocka_unit_test(test_lv_fault_spec_write_json_members_round_trip),
        cmocka_unit_test(test_lv_fault_spec_set_member_config_units),
        cmocka_unit_test(test_lv_fault_spec_check_needs_one_target),
        cmocka_unit_test(test_lv_fault_header_parse_forms),
        cmocka_unit_test(test_lv_fault_header_parse_rejects),
        cmocka_unit_test(test_lv_fault_spec_equal_compares_what_the_kind_uses),
        cmocka_unit_test(test_lv_fault_kind_names_in_enum_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
