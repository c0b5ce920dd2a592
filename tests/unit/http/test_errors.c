/* tests/unit/http/test_errors.c: the static error responses and reason phrases
 * (src/http/errors.c): exact bytes, Content-Length matches the body, Retry-After on 5xx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/errors.h"

static const int all_statuses[] = {400, 404, 405, 408, 413, 414, 417, 429,
                                   431, 500, 501, 502, 503, 504, 505};

static void test_error_response_400_close_exact(void **state)
{
    (void)state;
    lv_str_t r = lv_http_error_response(400, true);
    static const char want[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
    assert_int_equal(r.len, sizeof(want) - 1);
    assert_memory_equal(r.p, want, r.len);
}

static void test_error_response_503_keep_alive_retry_after(void **state)
{
    (void)state;
    lv_str_t r = lv_http_error_response(503, false);
    char buf[512];
    assert_true(r.len < sizeof(buf));
    memcpy(buf, r.p, r.len);
    buf[r.len] = 0;
    assert_non_null(strstr(buf, "HTTP/1.1 503 Service Unavailable\r\n"));
    assert_non_null(strstr(buf, "\r\nRetry-After: 1\r\n"));
    assert_non_null(strstr(buf, "\r\nConnection: keep-alive\r\n"));
}

/* Every status: well-formed head, Content-Length equals the body, Retry-After only on
 * 502/503/504, same pointer on every call (static). */
static void test_error_response_all_consistent(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(all_statuses) / sizeof(all_statuses[0]); i++) {
        for (int c = 0; c < 2; c++) {
            int st = all_statuses[i];
            lv_str_t r = lv_http_error_response(st, c);
            char buf[512];
            assert_true(r.len > 0 && r.len < sizeof(buf));
            memcpy(buf, r.p, r.len);
            buf[r.len] = 0;
            char line[64];
            snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", st, lv_http_reason(st));
            assert_int_equal(strncmp(buf, line, strlen(line)), 0);
            char *end = strstr(buf, "\r\n\r\n");
            assert_non_null(end);
            const char *body = end + 4;
            char *cl = strstr(buf, "Content-Length: ");
            assert_non_null(cl);
            assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body));
            assert_true(strlen(body) > 1 && body[strlen(body) - 1] == '\n');
            bool retry = strstr(buf, "Retry-After: 1\r\n") != NULL;
            assert_int_equal(retry, st == 502 || st == 503 || st == 504);
            assert_non_null(
                strstr(buf, c ? "Connection: close\r\n" : "Connection: keep-alive\r\n"));
            assert_ptr_equal(lv_http_error_response(st, c).p, r.p);
        }
    }
}

static void test_error_response_unknown_is_500(void **state)
{
    (void)state;
    lv_str_t r = lv_http_error_response(418, true);
    assert_int_equal(strncmp(r.p, "HTTP/1.1 500 ", 13), 0);
    lv_str_t z = lv_http_error_response(0, false);
    assert_int_equal(strncmp(z.p, "HTTP/1.1 500 ", 13), 0);
}

static void test_reason_known_and_unknown(void **state)
{
    (void)state;
    assert_string_equal(lv_http_reason(200), "OK");
    assert_string_equal(lv_http_reason(404), "Not Found");
    assert_string_equal(lv_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(lv_http_reason(504), "Gateway Timeout");
    assert_string_equal(lv_http_reason(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_response_400_close_exact),
        cmocka_unit_test(test_error_response_503_keep_alive_retry_after),
        cmocka_unit_test(test_error_response_all_consistent),
        cmocka_unit_test(test_error_response_unknown_is_500),
        cmocka_unit_test(test_reason_known_and_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
