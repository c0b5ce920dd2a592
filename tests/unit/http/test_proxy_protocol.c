/* tests/unit/http/test_proxy_protocol.c: the PROXY protocol header parser
 * (src/http/proxy_protocol.c): v1 and v2, whole, in pieces, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http/proxy_protocol.h"

static lv_pp_result_t parse(const char *s, size_t len, lv_pp_info_t *info, size_t *used)
{
    return lv_pp_parse(s, len, info, used);
}

static void test_lv_pp_parse_v1_tcp4(void **state)
{
    (void)state;
    static const char s[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    lv_pp_info_t info;
    size_t used;
    assert_int_equal(parse(s, sizeof s - 1, &info, &used), LV_PP_OK);
    assert_int_equal(used, 45);
    assert_int_equal(info.family, AF_INET);
    assert_string_equal(info.src, "192.0.2.1");
    assert_int_equal(info.src_port, 56324);
}

static void test_lv_pp_parse_v1_every_prefix_needs_more(void **state)
{
    (void)state;
    static const char s[] = "PROXY TCP6 2001:db8::1 ::1 1 2\r\n";
    lv_pp_info_t info;
    size_t used;
    for (size_t n = 0; n < sizeof s - 1; n++)
        assert_int_equal(parse(s, n, &info, &used), LV_PP_NEED_MORE);
    assert_int_equal(parse(s, sizeof s - 1, &info, &used), LV_PP_OK);
    assert_int_equal(info.family, AF_INET6);
    assert_string_equal(info.src, "2001:db8::1");
}

static void test_lv_pp_parse_v1_unknown_keeps_peer(void **state)
{
    (void)state;
    static const char s[] = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    lv_pp_info_t info;
    size_t used;
    assert_int_equal(parse(s, sizeof s - 1, &info, &used), LV_PP_OK);
    assert_int_equal(info.family, 0);
    assert_int_equal(used, sizeof s - 1);
}

static void test_lv_pp_parse_v1_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",         /* bare LF */
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",   /* port */
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",      /* leading zero */
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",         /* address */
        "PROXY TCP4 ::1 ::1 1 2\r\n",               /* family */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 extra\r\n", /* extra field */
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",      /* two spaces */
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",       /* protocol */
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",       /* case */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lv_pp_info_t info;
        size_t used;
        assert_int_equal(parse(bad[i], strlen(bad[i]), &info, &used), LV_PP_ERROR);
    }
    char longline[200];
    memset(longline, 'a', sizeof longline);
    memcpy(longline, "PROXY TCP4 ", 11);
    lv_pp_info_t info;
    size_t used;
    assert_int_equal(parse(longline, sizeof longline, &info, &used), LV_PP_ERROR);
}

static size_t v2(char *out, unsigned char ver_cmd, unsigned char fam, const unsigned char *body,
                 size_t len)
{
    memcpy(out, "\r\n\r\n\0\r\nQUIT\n", 12);
    out[12] = (char)ver_cmd;
    out[13] = (char)fam;
    out[14] = (char)(len >> 8);
    out[15] = (char)(len & 0xff);
    if (len)
        memcpy(out + 16, body, len);
    return 16 + len;
}

static void test_lv_pp_parse_v2_ipv4_and_ipv6(void **state)
{
    (void)state;
    char buf[600];
    lv_pp_info_t info;
    size_t used;
    const unsigned char a4[12 + 5] = {192, 0, 2, 9, 10, 0, 0, 1, 0x9c, 0x40, 0, 80, 4, 0, 2, 1, 1};
    size_t n = v2(buf, 0x21, 0x11, a4, sizeof a4);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(parse(buf, k, &info, &used), LV_PP_NEED_MORE);
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_OK);
    assert_int_equal(used, n);
    assert_string_equal(info.src, "192.0.2.9");
    assert_int_equal(info.src_port, 40000);

    unsigned char a6[36] = {0x20, 0x01, 0x0d, 0xb8};
    a6[15] = 7;
    a6[32] = 0x01;
    a6[33] = 0xbb;
    n = v2(buf, 0x21, 0x21, a6, sizeof a6);
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_OK);
    assert_int_equal(info.family, AF_INET6);
    assert_string_equal(info.src, "2001:db8::7");
    assert_int_equal(info.src_port, 443);

    n = v2(buf, 0x20, 0x00, NULL, 0); /* LOCAL */
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_OK);
    assert_int_equal(info.family, 0);
}

static void test_lv_pp_parse_v2_refused(void **state)
{
    (void)state;
    char buf[600];
    lv_pp_info_t info;
    size_t used;
    unsigned char a4[12] = {1, 2, 3, 4};
    size_t n = v2(buf, 0x11, 0x11, a4, sizeof a4); /* version 1 in a v2 signature */
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_ERROR);
    n = v2(buf, 0x22, 0x11, a4, sizeof a4); /* command 2 */
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_ERROR);
    n = v2(buf, 0x21, 0x11, a4, 8); /* too short for its family */
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_ERROR);
    n = v2(buf, 0x21, 0x41, a4, sizeof a4); /* unknown family */
    assert_int_equal(parse(buf, n, &info, &used), LV_PP_ERROR);
    memcpy(buf, "\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", 16); /* longer than allowed */
    assert_int_equal(parse(buf, 16, &info, &used), LV_PP_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_pp_parse_v1_tcp4),
        cmocka_unit_test(test_lv_pp_parse_v1_every_prefix_needs_more),
        cmocka_unit_test(test_lv_pp_parse_v1_unknown_keeps_peer),
        cmocka_unit_test(test_lv_pp_parse_v1_refused),
        cmocka_unit_test(test_lv_pp_parse_v2_ipv4_and_ipv6),
        cmocka_unit_test(test_lv_pp_parse_v2_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
