/* tests/unit/core/test_sd_notify.c: $NOTIFY_SOCKET values turned into AF_UNIX addresses (file
 * paths, abstract '@' names, what is refused) and lv_sd_notify without a socket. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/sd_notify.h"

static void test_lv_sd_notify_addr_path(void **state)
{
    (void)state;
    struct sockaddr_un sun;
    socklen_t len = 0;
    assert_int_equal(lv_sd_notify_addr("/run/systemd/notify", &sun, &len), 0);
    assert_int_equal(sun.sun_family, AF_UNIX);
    assert_string_equal(sun.sun_path, "/run/systemd/notify");
    /* The path and its NUL, as systemd's own clients send it. */
    assert_int_equal(len,
                     offsetof(struct sockaddr_un, sun_path) + strlen("/run/systemd/notify") + 1);
}

static void test_lv_sd_notify_addr_abstract(void **state)
{
    (void)state;
    struct sockaddr_un sun;
    socklen_t len = 0;
    assert_int_equal(lv_sd_notify_addr("@levee/notify", &sun, &len), 0);
    assert_int_equal(sun.sun_path[0], '\0');
    assert_memory_equal(sun.sun_path + 1, "levee/notify", 12);
    /* The length ends the name: no trailing NUL, which would be part of an abstract name. */
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 1 + 12);
}

static void test_lv_sd_notify_addr_refused(void **state)
{
    (void)state;
    struct sockaddr_un sun;
    socklen_t len = 0;
    assert_int_equal(lv_sd_notify_addr("", &sun, &len), LV_EINVAL);
    assert_int_equal(lv_sd_notify_addr("@", &sun, &len), LV_EINVAL);
    assert_int_equal(lv_sd_notify_addr("relative/path", &sun, &len), LV_EINVAL);
    assert_int_equal(lv_sd_notify_addr("vsock:2:1234", &sun, &len), LV_EINVAL);
    assert_int_equal(lv_sd_notify_addr(NULL, &sun, &len), LV_EINVAL);

    /* sun_path holds 108 bytes: a path of 107 and its NUL fit, 108 does not; an abstract name
     * may use all 108 ('@' and 107 bytes of name). */
    char longest[sizeof sun.sun_path + 2];
    memset(longest, 'a', sizeof longest);
    longest[0] = '/';
    longest[sizeof sun.sun_path - 1] = '\0';
    assert_int_equal(lv_sd_notify_addr(longest, &sun, &len), 0);
    longest[sizeof sun.sun_path - 1] = 'a';
    longest[sizeof sun.sun_path] = '\0';
    assert_int_equal(lv_sd_notify_addr(longest, &sun, &len), LV_EINVAL);
    longest[0] = '@';
    assert_int_equal(lv_sd_notify_addr(longest, &sun, &len), 0);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + sizeof sun.sun_path);
    longest[sizeof sun.sun_path] = 'a';
    longest[sizeof sun.sun_path + 1] = '\0';
    assert_int_equal(lv_sd_notify_addr(longest, &sun, &len), LV_EINVAL);
}

static void test_lv_sd_notify_without_socket(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(lv_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "not-a-socket", 1);
    assert_int_equal(lv_sd_notify("READY=1"), LV_EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_sd_notify_addr_path),
        cmocka_unit_test(test_lv_sd_notify_addr_abstract),
        cmocka_unit_test(test_lv_sd_notify_addr_refused),
        cmocka_unit_test(test_lv_sd_notify_without_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
