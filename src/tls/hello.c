/* tls/hello.c: what levee reads itself in a ClientHello: the server_name extension and
 * certificate name matching for SNI. Pure functions over untrusted bytes (fuzz/fuzz_tls.c). */
#include "tls/tls.h"

#include <ctype.h>
#include <string.h>

/* RFC 6066 3: ServerNameList { NameType(1) HostName<1..2^16-1> }<1..2^16-1>. */
int lv_tls_sni_parse(const unsigned char *ext, size_t len, char *name, size_t cap)
{
    if (len < 2)
        return -1;
    size_t list = ((size_t)ext[0] << 8) | ext[1];
    if (list != len - 2 || list == 0)
        return -1;
    const unsigned char *p = ext + 2, *end = ext + len;
    while (p < end) {
        if (end - p < 3)
            return -1;
        unsigned type = p[0];
        size_t n = ((size_t)p[1] << 8) | p[2];
        p += 3;
        if ((size_t)(end - p) < n)
            return -1;
        if (type == 0) { /* host_name */
            if (n == 0 || n >= cap || n > 255)
                return -1;
            for (size_t i = 0; i < n; i++) {
                unsigned char c = p[i];
                if (!isalnum(c) && c != '-' && c != '.' && c != '_')
                    return -1;
                name[i] = (char)tolower(c);
            }
            name[n] = '\0';
            return (int)n;
        }
        p += n;
    }
    return 0;
}

bool lv_tls_name_match(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        /* One label only, never empty: "*.example.com" covers "a.example.com", neither
         * "example.com" nor "a.b.example.com". */
        return dot && dot != name && strcmp(dot, pattern + 1) == 0;
    }
    return strcmp(pattern, name) == 0;
}
