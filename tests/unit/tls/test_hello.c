/* tests/unit/tls/test_hello.c: tls/hello.c: the server_name extension parser and certificate
 * name matching (exact and one-label wildcards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tls/tls.h"

static int sni(const char *ext, size_t len, char *name)
{
    return lv_tls_sni_parse((const unsigned char *)ext, len, name, 256);
}

static void test_lv_tls_sni_parse_host_name(void **state)
{
    (void)state;
    char name[256];
    /* list length 9, type 0, length 6, "A.Test" */
    assert_int_equal(sni("\x00\x09\x00\x00\x06"
                         "A.Test",
                         11, name),
                     6);
    assert_string_equal(name, "a.test");
    /* An unknown name type first, then the host name. */
    assert_int_equal(sni("\x00\x0b\x07\x00\x01x\x00\x00\x04"
                         "a.bc",
                         13, name),
                     4);
    assert_string_equal(name, "a.bc");
    /* No host_name entry. */
    assert_int_equal(sni("\x00\x04\x07\x00\x01x", 6, name), 0);
}

static void test_lv_tls_sni_parse_refuses_malformed(void **state)
{
    (void)state;
    char name[256];
    assert_int_equal(sni("", 0, name), -1);
    assert_int_equal(sni("\x00", 1, name), -1);
    assert_int_equal(sni("\x00\x00", 2, name), -1); /* empty list */
    assert_int_equal(sni("\x00\x0a\x00\x00\x06"
                         "a.test",
                         11, name),
                     -1); /* list too long */
    assert_int_equal(sni("\x00\x06\x00\x00\x09"
                         "a.t",
                         8, name),
                     -1);                                       /* name past end */
    assert_int_equal(sni("\x00\x03\x00\x00\x00", 5, name), -1); /* empty name */
    assert_int_equal(sni("\x00\x06\x00\x00\x03"
                         "a\x00z",
                         8, name),
                     -1); /* NUL inside */
    assert_int_equal(sni("\x00\x06\x00\x00\x03"
                         "a/b",
                         8, name),
                     -1); /* not a host */
    char small[4];
    assert_int_equal(lv_tls_sni_parse((const unsigned char *)"\x00\x09\x00\x00\x06"
                                                             "a.test",
                                      11, small, sizeof small),
                     -1);
}

static void test_lv_tls_name_match_exact_and_wildcard(void **state)
{
    (void)state;
    assert_true(lv_tls_name_match("a.test", "a.test"));
    assert_false(lv_tls_name_match("a.test", "b.test"));
    assert_true(lv_tls_name_match("*.wild.test", "x.wild.test"));
    assert_false(lv_tls_name_match("*.wild.test", "wild.test"));
    assert_false(lv_tls_name_match("*.wild.test", "y.x.wild.test"));
    assert_false(lv_tls_name_match("*.wild.test", ".wild.test"));
    assert_false(lv_tls_name_match("*.wild.test", "xwild.test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_tls_sni_parse_host_name),
        cmocka_unit_test(test_lv_tls_sni_parse_refuses_malformed),
        cmocka_unit_test(test_lv_tls_name_match_exact_and_wildcard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
