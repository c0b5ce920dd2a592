/* tests/unit/core/test_listen_check.c: reading /proc/net/tcp{,6} text for the LISTEN sockets that
 * overlap an address (exact ones first, wildcards, other states and ports skipped, IPv4 in
 * tcp6), on text made here the way the kernel prints it. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/listen_check.h"

static lv_addr_t addr(const char *text)
{
    lv_addr_t a;
    assert_int_equal(lv_addr_parse(&a, text, true), 0);
    return a;
}

static const char header[] = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                             "retrnsmt   uid  timeout inode\n";

/* One /proc/net/tcp line: the address as the kernel prints it (the 32-bit word in host order,
 * %08X), the port %04X. */
static void line4(char *out, size_t cap, int sl, const char *ip, unsigned port, unsigned state,
                  unsigned long inode)
{
    struct in_addr in;
    assert_int_equal(inet_pton(AF_INET, ip, &in), 1);
    size_t len = strlen(out);
    snprintf(out + len, cap - len,
             "%4d: %08X:%04X 00000000:0000 %02X 00000000:00000000 00:00000000 00000000  1000    "
             "    0 %lu 1 0000000000000000 100 0 0 10 0\n",
             sl, in.s_addr, port, state, inode);
}

static void line6(char *out, size_t cap, int sl, const char *ip, unsigned port, unsigned state,
                  unsigned long inode)
{
    struct in6_addr in6;
    assert_int_equal(inet_pton(AF_INET6, ip, &in6), 1);
    uint32_t w[4];
    memcpy(w, &in6, 16);
    size_t len = strlen(out);
    snprintf(out + len, cap - len,
             "%4d: %08X%08X%08X%08X:%04X 00000000000000000000000000000000:0000 %02X "
             "00000000:00000000 00:00000000 00000000  1000        0 %lu 1 0000000000000000 100 "
             "0 0 10 0\n",
             sl, w[0], w[1], w[2], w[3], port, state, inode);
}

static void test_lv__listen_inodes_exact_before_wildcard(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text, "%s", header);
    line4(text, sizeof text, 0, "0.0.0.0", 8080, 0x0A, 101);   /* wildcard, same port */
    line4(text, sizeof text, 1, "127.0.0.1", 8080, 0x01, 102); /* established */
    line4(text, sizeof text, 2, "127.0.0.1", 8081, 0x0A, 103); /* other port */
    line4(text, sizeof text, 3, "127.0.0.1", 8080, 0x0A, 104); /* exact */
    line4(text, sizeof text, 4, "10.0.0.1", 8080, 0x0A, 105);  /* other address */
    line4(text, sizeof text, 5, "127.0.0.1", 8080, 0x06, 106); /* TIME_WAIT */
    line4(text, sizeof text, 6, "127.0.0.1", 8080, 0x0A, 107); /* another worker's socket */
    unsigned long inodes[8];
    lv_addr_t a = addr("127.0.0.1:8080");
    assert_int_equal(lv__listen_inodes(text, false, &a, inodes, 8), 3);
    assert_int_equal(inodes[0], 104);
    assert_int_equal(inodes[1], 107);
    assert_int_equal(inodes[2], 101);
    /* cap bounds what is written */
    assert_int_equal(lv__listen_inodes(text, false, &a, inodes, 1), 1);
    assert_int_equal(inodes[0], 104);
}

static void test_lv__listen_inodes_wildcard_wants_every_address(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text, "%s", header);
    line4(text, sizeof text, 0, "10.0.0.1", 443, 0x0A, 201);
    line4(text, sizeof text, 1, "127.0.0.1", 443, 0x0A, 202);
    line4(text, sizeof text, 2, "127.0.0.1", 444, 0x0A, 203);
    unsigned long inodes[8];
    lv_addr_t a = addr("0.0.0.0:443");
    assert_int_equal(lv__listen_inodes(text, false, &a, inodes, 8), 2);
    assert_int_equal(inodes[0], 201);
    assert_int_equal(inodes[1], 202);
}

static void test_lv__listen_inodes_tcp6(void **state)
{
    (void)state;
    char text[4096];
    snprintf(text, sizeof text, "%s", header);
    line6(text, sizeof text, 0, "::", 9901, 0x0A, 301);               /* dual stack */
    line6(text, sizeof text, 1, "::1", 9901, 0x0A, 302);              /* exact for [::1] */
    line6(text, sizeof text, 2, "::ffff:127.0.0.1", 9901, 0x0A, 303); /* IPv4 in tcp6 */
    line6(text, sizeof text, 3, "fe80::1", 9901, 0x0A, 304);
    line6(text, sizeof text, 4, "::1", 9902, 0x0A, 305);
    unsigned long inodes[8];
    lv_addr_t v6 = addr("[::1]:9901");
    assert_int_equal(lv__listen_inodes(text, true, &v6, inodes, 8), 2);
    assert_int_equal(inodes[0], 302);
    assert_int_equal(inodes[1], 301);
    lv_addr_t v4 = addr("127.0.0.1:9901");
    assert_int_equal(lv__listen_inodes(text, true, &v4, inodes, 8), 2);
    assert_int_equal(inodes[0], 303);
    assert_int_equal(inodes[1], 301);
    lv_addr_t any6 = addr("[::]:9901");
    assert_int_equal(lv__listen_inodes(text, true, &any6, inodes, 8), 4);
    assert_int_equal(inodes[0], 301);
}

static void test_lv__listen_inodes_bad_text(void **state)
{
    (void)state;
    unsigned long inodes[4];
    lv_addr_t a = addr("127.0.0.1:80");
    const char *bad[] = {
        "",
        "no newline at all",
        "header\n   0: 0100007F:0050\n",                              /* cut short */
        "header\n   0: 0100007:0050 00000000:0000 0A a b c 0 0 9\n",  /* short address */
        "header\n   0: zz00007F:0050 00000000:0000 0A a b c 0 0 9\n", /* not hex */
        "header\n   0: 0100007F:0050 00000000:0000 0A a b c 0 0 0\n", /* inode 0 */
    };
    for (size_t i = 0; i < LV_ARRAY_LEN(bad); i++)
        assert_int_equal(lv__listen_inodes(bad[i], false, &a, inodes, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv__listen_inodes_exact_before_wildcard),
        cmocka_unit_test(test_lv__listen_inodes_wildcard_wants_every_address),
        cmocka_unit_test(test_lv__listen_inodes_tcp6),
        cmocka_unit_test(test_lv__listen_inodes_bad_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
