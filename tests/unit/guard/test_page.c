/* tests/unit/guard/test_page.c: refusal pages and fallbacks (guard/page.c): exact headers,
 * Content-Length against the body, placeholders and escaping, small buffers, HEAD, Accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/page.h"

/* A service conf as the loader leaves it: only what page.c reads. */
static lv_service_conf_t svc_conf(const char *name)
{
    lv_service_conf_t s;
    memset(&s, 0, sizeof(s));
    s.name = (char *)name;
    s.guard.fallback_status = 200;
    s.guard.fallback_content_type = (char *)"text/plain; charset=utf-8";
    return s;
}

static char buf[65536];

static const char *render(const lv_page_set_t *ps, int status, uint32_t secs, bool html, bool close,
                          bool head, ssize_t *len)
{
    lv_page_refusal_t r = {
        .status = status, .retry_after_s = secs, .html = html, .close = close, .head = head};
    *len = lv_page_render_refusal(ps, &r, buf, sizeof(buf) - 1);
    if (*len >= 0)
        buf[*len] = '\0';
    return buf;
}

/* Splits a response at the blank line; checks Content-Length equals the body's length. */
static const char *body_of(const char *resp, size_t len)
{
    const char *sep = strstr(resp, "\r\n\r\n");
    assert_non_null(sep);
    const char *cl = strstr(resp, "\r\nContent-Length: ");
    assert_non_null(cl);
    assert_true(cl < sep);
    size_t body_len = strtoul(cl + 18, NULL, 10);
    assert_int_equal(len - (size_t)(sep + 4 - resp), body_len);
    return sep + 4;
}

static void test_lv_page_render_refusal_text_headers_exact(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    ssize_t n;
    const char *r = render(ps, 503, 3, false, false, false, &n);
    assert_true(n > 0);
    assert_string_equal(r, "HTTP/1.1 503 Service Unavailable\r\n"
                           "Retry-After: 3\r\n"
                           "Cache-Control: no-store\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: 48\r\n"
                           "Connection: keep-alive\r\n"
                           "\r\n"
                           "The service is busy: please retry in 3 seconds.\n");
    body_of(r, (size_t)n);
    r = render(ps, 429, 7, false, true, false, &n);
    assert_string_equal(r, "HTTP/1.1 429 Too Many Requests\r\n"
                           "Retry-After: 7\r\n"
                           "Cache-Control: no-store\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: 57\r\n"
                           "Connection: close\r\n"
                           "\r\n"
                           "Too many retries: please wait 7 seconds before retrying.\n");
    body_of(r, (size_t)n);
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_zero_seconds_sent_as_one(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    ssize_t n;
    const char *r = render(ps, 503, 0, false, false, false, &n);
    assert_non_null(strstr(r, "\r\nRetry-After: 1\r\n"));
    assert_non_null(strstr(r, "retry in 1 seconds"));
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_builtin_page_filled(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("live<&>\"'");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    ssize_t n;
    const char *r = render(ps, 429, 12, true, false, false, &n);
    assert_true(n > 0);
    assert_memory_equal(r,
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 12\r\n"
                        "Cache-Control: no-store\r\nContent-Type: text/html; charset=utf-8\r\n",
                        114);
    const char *body = body_of(r, (size_t)n);
    assert_true(strncmp(body, "<!DOCTYPE html>", 15) == 0);
    assert_null(strstr(body, "{{"));
    assert_non_null(strstr(body, "data-retry-after=\"12\""));
    assert_non_null(strstr(body, "(HTTP 429)"));
    assert_non_null(strstr(body, "live&lt;&amp;&gt;&#34;&#39; is very busy"));
    assert_null(strstr(body, "live<"));
    assert_true((size_t)n <= lv_page_refusal_max_len(ps));
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_custom_template(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("a&b");
    s.guard.wait_page_html =
        (char *)"{{status}}|{{retry_after}}|{{service}}|{{other}}|{{retry_after}}{{ {";
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    ssize_t n;
    const char *r = render(ps, 503, 4294967295u, true, false, false, &n);
    assert_true(n > 0);
    assert_string_equal(body_of(r, (size_t)n), "503|4294967295|a&amp;b|{{other}}|4294967295{{ {");
    assert_non_null(strstr(r, "\r\nContent-Length: 47\r\n"));
    assert_true((size_t)n <= lv_page_refusal_max_len(ps));
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_head_has_no_body(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    s.guard.wait_page_html = (char *)"wait {{retry_after}}";
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    ssize_t n;
    const char *r = render(ps, 503, 5, true, false, true, &n);
    assert_true(n > 0);
    assert_non_null(strstr(r, "\r\nContent-Length: 6\r\n"));
    assert_int_equal(strlen(strstr(r, "\r\n\r\n")), 4); /* ends at the blank line */
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_buffer_too_small(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_page_refusal_t r = {.status = 503, .retry_after_s = 3, .html = true};
    char small[4096];
    ssize_t full = lv_page_render_refusal(ps, &r, small, sizeof(small));
    assert_true(full > 200);
    assert_int_equal(lv_page_render_refusal(ps, &r, small, (size_t)full - 1), LV_ELIMIT);
    assert_int_equal(lv_page_render_refusal(ps, &r, small, 10), LV_ELIMIT);
    assert_int_equal(lv_page_render_refusal(ps, &r, small, 0), LV_ELIMIT);
    assert_int_equal(lv_page_render_refusal(ps, &r, small, (size_t)full), full);
    r.html = false;
    full = lv_page_render_refusal(ps, &r, small, sizeof(small));
    assert_int_equal(lv_page_render_refusal(ps, &r, small, (size_t)full - 1), LV_ELIMIT);
    lv_page_set_free(ps);
}

static void test_lv_page_render_refusal_bad_status(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_page_refusal_t r = {.status = 500, .retry_after_s = 3};
    assert_int_equal(lv_page_render_refusal(ps, &r, buf, sizeof(buf)), LV_EINVAL);
    lv_page_set_free(ps);
}

static void test_lv_page_fallback_default_is_503_switched_off(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 9);
    lv_str_t f = lv_page_fallback(ps, false, false);
    static const char want[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Retry-After: 9\r\n"
                               "Cache-Control: no-store\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 62\r\n"
                               "Connection: keep-alive\r\n"
                               "\r\n"
                               "This feature is switched off for now; please try again later.\n";
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_memory_equal(f.p, want, f.len);
    lv_str_t h = lv_page_fallback(ps, true, true);
    assert_ptr_not_equal(h.p, f.p);
    assert_true(h.len > 4 && memcmp(h.p + h.len - 4, "\r\n\r\n", 4) == 0);
    assert_non_null(strstr(h.p, "Connection: close\r\n"));
    lv_page_set_free(ps);
}

static void test_lv_page_fallback_body_with_status_and_type(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("reco");
    s.guard.fallback_status = 200;
    s.guard.fallback_content_type = (char *)"application/json";
    s.guard.fallback_body = (char *)"{\"items\":[]}";
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_str_t f = lv_page_fallback(ps, true, false);
    static const char want[] = "HTTP/1.1 200 OK\r\n"
                               "Cache-Control: no-store\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 12\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "{\"items\":[]}";
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_memory_equal(f.p, want, f.len);
    lv_str_t h = lv_page_fallback(ps, true, true);
    assert_ptr_equal(h.p, f.p);
    assert_int_equal(h.len, f.len - 12);
    lv_page_set_free(ps);
}

static void test_lv_page_fallback_file_content_with_nul(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("img");
    static char file[] = {'G', 'I', 'F', '\0', '8', '9'};
    s.guard.fallback_status = 404;
    s.guard.fallback_content_type = (char *)"image/gif";
    s.guard.fallback_file = (char *)"x.gif";
    s.guard.fallback_file_body = file;
    s.guard.fallback_file_len = sizeof(file);
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_str_t f = lv_page_fallback(ps, false, false);
    const char *head = "HTTP/1.1 404 Not Found\r\nCache-Control: no-store\r\n"
                       "Content-Type: image/gif\r\nContent-Length: 6\r\n"
                       "Connection: keep-alive\r\n\r\n";
    assert_int_equal(f.len, strlen(head) + sizeof(file));
    assert_memory_equal(f.p, head, strlen(head));
    assert_memory_equal(f.p + strlen(head), file, sizeof(file));
    lv_page_set_free(ps);
}

static void test_lv_page_fallback_204_has_no_body_or_length(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    s.guard.fallback_status = 204;
    s.guard.fallback_body = (char *)"ignored";
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_str_t f = lv_page_fallback(ps, false, false);
    static const char want[] = "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n"
                               "Connection: keep-alive\r\n\r\n";
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_memory_equal(f.p, want, f.len);
    lv_page_set_free(ps);
}

static void test_lv_page_fallback_redirect(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("reco");
    s.guard.fallback_redirect = (char *)"https://static.example.com/off.html";
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_str_t f = lv_page_fallback(ps, false, false);
    static const char want[] = "HTTP/1.1 302 Found\r\n"
                               "Location: https://static.example.com/off.html\r\n"
                               "Cache-Control: no-store\r\n"
                               "Content-Length: 0\r\n"
                               "Connection: keep-alive\r\n"
                               "\r\n";
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_memory_equal(f.p, want, f.len);
    assert_int_equal(lv_page_fallback(ps, false, true).len, f.len);
    lv_page_set_free(ps);
}

static bool wants(const char *accept)
{
    return lv_page_wants_html((lv_str_t){accept, accept ? strlen(accept) : 0});
}

static void test_lv_page_wants_html_accept_forms(void **state)
{
    (void)state;
    assert_true(wants("text/html"));
    assert_true(wants("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    assert_true(wants("application/json, TEXT/HTML;q=0.5"));
    assert_true(wants("  text/html ; charset=utf-8"));
    assert_true(wants("text/html;q=0.1"));
    assert_false(wants(NULL));
    assert_false(wants(""));
    assert_false(wants("*/*"));
    assert_false(wants("application/json"));
    assert_false(wants("text/htmlx"));
    assert_false(wants("text/plain, xtext/html"));
    assert_false(wants("text/html;q=0"));
    assert_false(wants("text/html; q=0.000 "));
}

static void test_lv_page_render_refusal_sets_the_retry_cookie(void **state)
{
    (void)state;
    lv_service_conf_t s = svc_conf("api");
    lv_page_set_t *ps = lv_page_set_new(&s, 2);
    lv_page_refusal_t how = {
        .status = 503, .retry_after_s = 3, .cookie = LV_STR("abc.def"), .cookie_max_age_s = 13};
    ssize_t n = lv_page_render_refusal(ps, &how, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "HTTP/1.1 503 Service Unavailable\r\n"
                             "Retry-After: 3\r\n"
                             "Cache-Control: no-store\r\n"
                             "Set-Cookie: lv_retry=abc.def; Max-Age=13; Path=/; HttpOnly; "
                             "SameSite=Lax\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: 48\r\n"
                             "Connection: keep-alive\r\n"
                             "\r\n"
                             "The service is busy: please retry in 3 seconds.\n");
    /* The largest page still fits the bound with a cookie of the longest kind. */
    char longest[64];
    memset(longest, 'f', sizeof longest);
    how.cookie = (lv_str_t){longest, sizeof longest};
    how.cookie_max_age_s = UINT32_MAX;
    how.retry_after_s = UINT32_MAX;
    how.html = true;
    size_t max = lv_page_refusal_max_len(ps);
    n = lv_page_render_refusal(ps, &how, buf, max);
    assert_true(n > 0 && (size_t)n <= max);
    lv_page_set_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_page_render_refusal_text_headers_exact),
        cmocka_unit_test(test_lv_page_render_refusal_zero_seconds_sent_as_one),
        cmocka_unit_test(test_lv_page_render_refusal_builtin_page_filled),
        cmocka_unit_test(test_lv_page_render_refusal_custom_template),
        cmocka_unit_test(test_lv_page_render_refusal_head_has_no_body),
        cmocka_unit_test(test_lv_page_render_refusal_buffer_too_small),
        cmocka_unit_test(test_lv_page_render_refusal_bad_status),
        cmocka_unit_test(test_lv_page_fallback_default_is_503_switched_off),
        cmocka_unit_test(test_lv_page_fallback_body_with_status_and_type),
        cmocka_unit_test(test_lv_page_fallback_file_content_with_nul),
        cmocka_unit_test(test_lv_page_fallback_204_has_no_body_or_length),
        cmocka_unit_test(test_lv_page_fallback_redirect),
        cmocka_unit_test(test_lv_page_wants_html_accept_forms),
        cmocka_unit_test(test_lv_page_render_refusal_sets_the_retry_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
