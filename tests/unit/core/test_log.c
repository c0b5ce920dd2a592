/* tests/unit/core/test_log.c: logfmt values (lv_log_quote), UTF-8 checking, and lines cut at
 * the 2 KiB bound that still parse (lv_log writes to stderr, redirected to a file here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Reads one logfmt value back as a parser would: bare up to a space, or quoted with \" \\ \n
 * \r \t and \uXXXX (written as UTF-8). Returns the bytes after the value, or NULL when the
 * value is malformed (an unknown escape, no closing quote). */
static const char *parse_value(const char *p, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    if (*p != '"') {
        while (*p && *p != ' ' && *p != '\n' && n < cap)
            out[n++] = *p++;
        *out_len = n;
        return p;
    }
    p++;
    while (*p != '"') {
        if (*p == '\0' || *p == '\n' || n + 4 > cap)
            return NULL;
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        if (c == '"' || c == '\\')
            out[n++] = c;
        else if (c == 'n')
            out[n++] = '\n';
        else if (c == 'r')
            out[n++] = '\r';
        else if (c == 't')
            out[n++] = '\t';
        else if (c == 'u') {
            unsigned v = 0;
            for (int i = 0; i < 4; i++, p++) {
                char h = *p;
                if (h >= '0' && h <= '9')
                    v = v * 16 + (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    v = v * 16 + (unsigned)(h - 'a' + 10);
                else
                    return NULL;
            }
            if (v < 0x80) {
                out[n++] = (char)v;
            } else if (v == 0xfffd) {
                memcpy(out + n, "\xef\xbf\xbd", 3);
                n += 3;
            } else {
                return NULL; /* the writer uses no other */
            }
        } else {
            return NULL;
        }
    }
    *out_len = n;
    return p + 1;
}

static void assert_quotes_to(const char *in, size_t len, const char *want)
{
    char buf[256];
    assert_string_equal(lv_log_quote(buf, sizeof buf, in, len), want);
}

static void test_lv_log_quote_bare_when_safe(void **state)
{
    (void)state;
    assert_quotes_to("abc", 3, "abc");
    assert_quotes_to("/p?x&y:1", 8, "/p?x&y:1");
    assert_quotes_to("rid-1.2_3", 9, "rid-1.2_3");
}

static void test_lv_log_quote_empty_and_null(void **state)
{
    (void)state;
    char buf[8];
    assert_string_equal(lv_log_quote(buf, sizeof buf, "", 0), "\"\"");
    assert_string_equal(lv_log_quote(buf, sizeof buf, NULL, 0), "\"\"");
    assert_string_equal(lv_log_quote_str(buf, sizeof buf, NULL), "\"\"");
}

static void test_lv_log_quote_escapes(void **state)
{
    (void)state;
    assert_quotes_to("a b", 3, "\"a b\"");
    assert_quotes_to("k=v", 3, "\"k=v\"");
    assert_quotes_to("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    assert_quotes_to("l1\nl2\r\t", 7, "\"l1\\nl2\\r\\t\"");
    assert_quotes_to("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
    assert_quotes_to("nul\0x", 5, "\"nul\\u0000x\"");
}

static void test_lv_log_quote_utf8_kept_invalid_replaced(void **state)
{
    (void)state;
    assert_quotes_to("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");
    assert_quotes_to("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"");
    assert_quotes_to("\xff", 1, "\"\\ufffd\"");
    assert_quotes_to("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");            /* cut sequence */
    assert_quotes_to("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");            /* overlong '/' */
    assert_quotes_to("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
}

/* The injection the issue was about: a value cannot end its quote, add a key or a line. */
static void test_lv_log_quote_cannot_inject_a_key_or_line(void **state)
{
    (void)state;
    const char *evil = "x\" level=error msg=\"pwned\nts=0 level=error";
    char buf[256], back[256];
    char line[512];
    snprintf(line, sizeof line, "req=%s kind=reset", lv_log_quote_str(buf, sizeof buf, evil));
    assert_null(strchr(line, '\n'));
    size_t n = 0;
    const char *rest = parse_value(line + 4, back, sizeof back, &n);
    assert_non_null(rest);
    assert_int_equal(n, strlen(evil));
    assert_memory_equal(back, evil, n);
    assert_string_equal(rest, " kind=reset");
}

static void test_lv_log_quote_cuts_at_a_character_boundary(void **state)
{
    (void)state;
    char buf[10];
    /* 7 bytes of room inside the quotes: abcdef\" would need 8: cut before the escape. */
    assert_string_equal(lv_log_quote(buf, sizeof buf, "abcdef\"", 7), "\"abcdef\"");
    assert_string_equal(lv_log_quote(buf, sizeof buf, "a\x01zzzz", 6), "\"a\\u0001\"");
    assert_string_equal(lv_log_quote(buf, sizeof buf, "abcdefghijklm", 13), "\"abcdefg\"");
    char tiny[3];
    assert_string_equal(lv_log_quote(tiny, sizeof tiny, "abc", 3), "\"\"");
}

/* Every value, whatever its bytes, reads back as itself (invalid UTF-8 as U+FFFD). */
static void test_lv_log_quote_round_trips(void **state)
{
    (void)state;
    uint32_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        char in[40];
        size_t len = (size_t)(round % 40);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            /* Mostly ASCII, some controls and high bytes. */
            unsigned b = (x >> 16) & 0xff;
            in[i] = (char)(b < 160 ? 0x20 + b % 95 : b);
        }
        char buf[40 * 6 + 3], back[40 * 3 + 4];
        lv_log_quote(buf, sizeof buf, in, len);
        for (const char *p = buf; *p; p++)
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        size_t n = 0;
        const char *rest = parse_value(buf, back, sizeof back, &n);
        assert_non_null(rest);
        assert_int_equal(*rest, '\0');
        /* The same bytes, with each invalid byte as U+FFFD. */
        char want[40 * 3];
        size_t w = 0;
        for (size_t i = 0; i < len;) {
            size_t k = lv_log_utf8_len(in + i, len - i);
            if (k == 0) {
                memcpy(want + w, "\xef\xbf\xbd", 3);
                w += 3;
                i++;
            } else {
                memcpy(want + w, in + i, k);
                w += k;
                i += k;
            }
        }
        assert_int_equal(n, w);
        assert_memory_equal(back, want, n);
    }
}

static void test_lv_log_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(lv_log_utf8_len("a", 1), 1);
    assert_int_equal(lv_log_utf8_len("\xc3\xa9", 2), 2);
    assert_int_equal(lv_log_utf8_len("\xe2\x82\xac", 3), 3);
    assert_int_equal(lv_log_utf8_len("\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(lv_log_utf8_len("\xe2\x82\xac", 2), 0);     /* cut */
    assert_int_equal(lv_log_utf8_len("\x80", 1), 0);             /* continuation */
    assert_int_equal(lv_log_utf8_len("\xc1\xbf", 2), 0);         /* overlong */
    assert_int_equal(lv_log_utf8_len("\xe0\x9f\xbf", 3), 0);     /* overlong */
    assert_int_equal(lv_log_utf8_len("\xed\xa0\x80", 3), 0);     /* surrogate */
    assert_int_equal(lv_log_utf8_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
    assert_int_equal(lv_log_utf8_len("\xf8\x88\x80\x80", 4), 0);
    assert_int_equal(lv_log_utf8_len("", 0), 0);
}

/* A line longer than 2 KiB whose cut falls inside a quoted value still parses: the quote is
 * closed, no escape is left half, and the line ends with a newline. */
static void test_lv_log_long_line_is_cut_and_closed(void **state)
{
    (void)state;
    char path[] = "/tmp/lv_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    dup2(fd, STDERR_FILENO);
    static char value[3000];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = i % 3 == 0 ? '"' : 'v';
    for (int shift = 0; shift < 6; shift++) {
        char q[sizeof value * 2 + 3];
        lv_log_quote(q, sizeof q, value + shift, sizeof value - (size_t)shift);
        lv_log_error("test", "msg=long v=%s", q);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    lseek(fd, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(read(fd, text, (size_t)size), size);
    text[size] = '\0';
    close(fd);
    unlink(path);
    int lines = 0;
    for (char *line = text; *line; lines++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line <= 2048);
        *nl = '\0';
        char *v = strstr(line, " v=");
        assert_non_null(v);
        static char back[4096];
        size_t n = 0;
        const char *rest = parse_value(v + 3, back, sizeof back, &n);
        assert_non_null(rest);
        assert_int_equal(*rest, '\0');
        assert_true(n > 1000);
        line = nl + 1;
    }
    assert_int_equal(lines, 6);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_log_quote_bare_when_safe),
        cmocka_unit_test(test_lv_log_quote_empty_and_null),
        cmocka_unit_test(test_lv_log_quote_escapes),
        cmocka_unit_test(test_lv_log_quote_utf8_kept_invalid_replaced),
        cmocka_unit_test(test_lv_log_quote_cannot_inject_a_key_or_line),
        cmocka_unit_test(test_lv_log_quote_cuts_at_a_character_boundary),
        cmocka_unit_test(test_lv_log_quote_round_trips),
        cmocka_unit_test(test_lv_log_utf8_len),
        cmocka_unit_test(test_lv_log_long_line_is_cut_and_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
