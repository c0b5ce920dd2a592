/* core/fault_spec.c: reads and writes an injected fault's three spellings (the admin API's JSON
 * object, a config faults[] item member by member, the X-Levee-Fault header) and checks them.
 * Pure functions over caller memory; no config lookups, no allocation; any thread. */
#include "core/fault_spec.h"
#include "core/common.h"
#include "core/config.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const lv_fault_kind_names[LV_FAULT_KINDS] = {
    "latency", "abort", "reset", "blackhole", "bandwidth", "host_down",
};

const char *const lv_fault_member_names[LV_FAULT_MEMBERS] = {
    "service", "route", "kind", "share", "duration_ms", "ms", "status", "bytes_per_s", "host",
};

static const char *const dist_names[] = {"", "uniform", "exponential", "lognormal"};

#define STATUS_MIN 200u
#define STATUS_MAX 599u
#define STATUS_DEFAULT 503u
#define BYTES_PER_S_MIN 1024u
#define NUMBER_MAX 64 /* characters of one number; more is not a number we take */

/* The kind a member belongs to, or -1 when every kind has it. */
static int member_kind(lv_fault_member_t m)
{
    switch (m) {
    case LV_FAULT_M_MS:
        return LV_FAULT_LATENCY;
    case LV_FAULT_M_STATUS:
        return LV_FAULT_ABORT;
    case LV_FAULT_M_BYTES_PER_S:
        return LV_FAULT_BANDWIDTH;
    case LV_FAULT_M_HOST:
        return LV_FAULT_HOST_DOWN;
    default:
        return -1;
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- numbers ---- */

/* The length of the JSON number at s (without its sign when allow_minus is false), or 0. */
static size_t number_span(const char *s, size_t len, bool allow_minus)
{
    size_t i = 0;
    if (allow_minus && i < len && s[i] == '-')
        i++;
    if (i < len && s[i] == '0')
        i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i;
}

/* The whole of s as a finite number (JSON's grammar). */
static bool parse_number(const char *s, size_t len, bool allow_minus, double *out)
{
    char buf[NUMBER_MAX + 1];
    if (len == 0 || len > NUMBER_MAX || number_span(s, len, allow_minus) != len)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v))
        return false;
    *out = v;
    return true;
}

/* The whole of s as decimal digits without overflow. */
static bool parse_digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The shortest text strtod reads back as v exactly; whole numbers without an exponent. */
static void format_number(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* ---- delays ---- */

static bool is_sep(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits s into at most max words separated by exactly one space or tab. Returns the count, or
 * -1 for an empty word (leading, trailing or doubled separators) or too many words. */
static int split_words(const char *s, size_t len, const char **w, size_t *wl, int max)
{
    int n = 0;
    size_t i = 0;
    while (i <= len) {
        size_t start = i;
        while (i < len && !is_sep(s[i]))
            i++;
        if (i == start || n == max)
            return -1;
        w[n] = s + start;
        wl[n] = i - start;
        n++;
        if (i == len)
            break;
        i++; /* the separator */
        if (i == len)
            return -1;
    }
    return n;
}

static bool delay_ok(double v)
{
    return v >= 0 && v <= LV_FAULT_MS_MAX;
}

int lv_fault_ms_parse(const char *s, size_t len, lv_fault_ms_t *out)
{
    const char *w[3];
    size_t wl[3];
    int n = split_words(s, len, w, wl, 3);
    lv_fault_ms_t ms = {.dist = LV_FAULT_DIST_FIXED};
    if (n == 1) {
        if (!parse_number(w[0], wl[0], false, &ms.a) || !delay_ok(ms.a))
            return -1;
        *out = ms;
        return 0;
    }
    if (n < 2)
        return -1;
    int dist = -1;
    for (int d = LV_FAULT_DIST_UNIFORM; d <= LV_FAULT_DIST_LOGNORMAL; d++)
        if (wl[0] == strlen(dist_names[d]) && memcmp(w[0], dist_names[d], wl[0]) == 0)
            dist = d;
    int want = dist == LV_FAULT_DIST_EXPONENTIAL ? 2 : 3;
    if (dist < 0 || n != want || !parse_number(w[1], wl[1], false, &ms.a) || !delay_ok(ms.a))
        return -1;
    ms.dist = (lv_fault_dist_t)dist;
    if (n == 3 && (!parse_number(w[2], wl[2], false, &ms.b) || !delay_ok(ms.b) || ms.a > ms.b))
        return -1;
    if (dist == LV_FAULT_DIST_LOGNORMAL && ms.a <= 0)
        return -1;
    *out = ms;
    return 0;
}

void lv_fault_ms_write_json(FILE *f, const lv_fault_ms_t *ms)
{
    char a[40], b[40];
    format_number(a, sizeof a, ms->a);
    format_number(b, sizeof b, ms->b);
    switch (ms->dist) {
    case LV_FAULT_DIST_FIXED:
        fputs(a, f);
        break;
    case LV_FAULT_DIST_EXPONENTIAL:
        fprintf(f, "\"%s %s\"", dist_names[ms->dist], a);
        break;
    case LV_FAULT_DIST_UNIFORM:
    case LV_FAULT_DIST_LOGNORMAL:
        fprintf(f, "\"%s %s %s\"", dist_names[ms->dist], a, b);
        break;
    }
}

/* ---- members ---- */

void lv_fault_spec_init(lv_fault_spec_t *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->share = 1.0;
    spec->status = STATUS_DEFAULT;
}

static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > LV_FAULT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* An upstream address as a config writes it: "127.0.0.1:9000", "[::1]:9000", "localhost:80". */
static bool host_ok(const char *s, size_t len)
{
    if (len == 0 || len > LV_FAULT_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

/* What member m takes, as the reason when its value is not that. */
static const char *member_expected(lv_fault_member_t m, lv_fault_text_t as)
{
    switch (m) {
    case LV_FAULT_M_SERVICE:
    case LV_FAULT_M_ROUTE:
        return "expected a name of 1..64 characters [A-Za-z0-9_.-]";
    case LV_FAULT_M_KIND:
        return "expected one of latency, abort, reset, blackhole, bandwidth, host_down";
    case LV_FAULT_M_SHARE:
        return "expected a number in 0..1";
    case LV_FAULT_M_DURATION_MS:
        return as == LV_FAULT_TEXT_CONFIG ? "expected a duration in 1..86400000 ms (30000, 30s, 5m)"
                                          : "expected an integer in 1..86400000";
    case LV_FAULT_M_MS:
        return "expected a delay in 0..60000 ms: 50, \"uniform A B\" (A <= B), "
               "\"exponential MEAN\" or \"lognormal MEDIAN P99\" (0 < MEDIAN <= P99)";
    case LV_FAULT_M_STATUS:
        return "expected an integer in 200..599";
    case LV_FAULT_M_BYTES_PER_S:
        return as == LV_FAULT_TEXT_CONFIG ? "expected a size of at least 1024 (65536, 64k)"
                                          : "expected an integer of at least 1024";
    case LV_FAULT_M_HOST:
        return "expected an upstream's HOST:PORT of 1..63 characters";
    case LV_FAULT_MEMBERS:
        break;
    }
    return "unexpected member";
}

/* Reads a size or a duration of the config (units allowed) from len bytes. */
static bool parse_config_units(lv_fault_member_t m, const char *s, size_t len, uint64_t *out)
{
    char buf[NUMBER_MAX + 1];
    if (len > NUMBER_MAX || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return m == LV_FAULT_M_DURATION_MS ? lv_config_parse_duration(buf, len, out) == 0
                                       : lv_config_parse_bytes(buf, out) == 0;
}

int lv_fault_spec_set_member(lv_fault_spec_t *spec, lv_fault_member_t m, const char *s, size_t len,
                             lv_fault_text_t as, char *err, size_t errlen)
{
    bool string_member = m == LV_FAULT_M_SERVICE || m == LV_FAULT_M_ROUTE || m == LV_FAULT_M_KIND ||
                         m == LV_FAULT_M_HOST;
    bool number_member = m == LV_FAULT_M_SHARE || m == LV_FAULT_M_DURATION_MS ||
                         m == LV_FAULT_M_STATUS || m == LV_FAULT_M_BYTES_PER_S;
    bool ok = (unsigned)m < LV_FAULT_MEMBERS && !(string_member && as == LV_FAULT_TEXT_NUMBER) &&
              !(number_member && as == LV_FAULT_TEXT_STRING);
    uint64_t u = 0;
    double d = 0;
    lv_fault_ms_t ms;
    switch (ok ? m : LV_FAULT_MEMBERS) {
    case LV_FAULT_M_SERVICE:
    case LV_FAULT_M_ROUTE:
        if ((ok = name_ok(s, len))) {
            char *name = m == LV_FAULT_M_SERVICE ? spec->service : spec->route;
            memcpy(name, s, len);
            name[len] = '\0';
        }
        break;
    case LV_FAULT_M_KIND:
        ok = false;
        for (int k = 0; k < LV_FAULT_KINDS && !ok; k++)
            if (len == strlen(lv_fault_kind_names[k]) &&
                memcmp(s, lv_fault_kind_names[k], len) == 0) {
                spec->kind = (lv_fault_kind_t)k;
                ok = true;
            }
        break;
    case LV_FAULT_M_SHARE:
        if ((ok = parse_number(s, len, true, &d) && d >= 0 && d <= 1))
            spec->share = d;
        break;
    case LV_FAULT_M_DURATION_MS:
        ok = as == LV_FAULT_TEXT_CONFIG ? parse_config_units(m, s, len, &u)
                                        : parse_digits(s, len, &u);
        if ((ok = ok && u >= 1 && u <= LV_FAULT_DURATION_MAX))
            spec->duration_ms = (uint32_t)u;
        break;
    case LV_FAULT_M_MS:
        if ((ok = lv_fault_ms_parse(s, len, &ms) == 0))
            spec->ms = ms;
        break;
    case LV_FAULT_M_STATUS:
        if ((ok = parse_digits(s, len, &u) && u >= STATUS_MIN && u <= STATUS_MAX))
            spec->status = (uint16_t)u;
        break;
    case LV_FAULT_M_BYTES_PER_S:
        ok = as == LV_FAULT_TEXT_CONFIG ? parse_config_units(m, s, len, &u)
                                        : parse_digits(s, len, &u);
        if ((ok = ok && u >= BYTES_PER_S_MIN))
            spec->bytes_per_s = u;
        break;
    case LV_FAULT_M_HOST:
        if ((ok = host_ok(s, len))) {
            memcpy(spec->host, s, len);
            spec->host[len] = '\0';
        }
        break;
    case LV_FAULT_MEMBERS:
        ok = false;
        break;
    }
    if (!ok)
        set_err(err, errlen, "%s", member_expected(m, as));
    return ok ? 0 : -1;
}

int lv_fault_spec_check(const lv_fault_spec_t *spec, uint32_t given, char *err, size_t errlen)
{
    bool service = given & (1u << LV_FAULT_M_SERVICE), route = given & (1u << LV_FAULT_M_ROUTE);
    if (service && route) {
        set_err(err, errlen, "set \"service\" or \"route\", not both");
        return LV_FAULT_M_ROUTE;
    }
    if (!service && !route) {
        set_err(err, errlen, "\"service\" or \"route\" is required");
        return LV_FAULT_MEMBERS;
    }
    for (int m = LV_FAULT_M_KIND; m <= LV_FAULT_M_DURATION_MS; m++)
        if (m != LV_FAULT_M_SHARE && !(given & (1u << m))) {
            set_err(err, errlen, "required");
            return m;
        }
    for (int i = 0; i < LV_FAULT_MEMBERS; i++) {
        lv_fault_member_t m = (lv_fault_member_t)i;
        int k = member_kind(m);
        if (k >= 0 && (given & (1u << m)) && k != (int)spec->kind) {
            set_err(err, errlen, "only with kind %s", lv_fault_kind_names[k]);
            return i;
        }
        if (k == (int)spec->kind && m != LV_FAULT_M_STATUS && !(given & (1u << m))) {
            set_err(err, errlen, "required with kind %s", lv_fault_kind_names[k]);
            return i;
        }
    }
    if (spec->kind == LV_FAULT_HOST_DOWN && route) {
        set_err(err, errlen, "kind host_down needs \"service\" (a host belongs to a service)");
        return LV_FAULT_M_ROUTE;
    }
    return -1;
}

/* ---- the JSON object ---- */

#define JSON_STRING_MAX 256 /* decoded bytes kept of one string; longer fails its member */
#define JSON_KEY_MAX 32

typedef struct jreader {
    const char *start, *p, *end;
    char *err;
    size_t errlen;
} jreader_t;

static void skip_ws(jreader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static size_t offset_of(const jreader_t *r)
{
    return (size_t)(r->p - r->start);
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Appends byte c to buf (cap bytes) while it fits; *len counts every byte, kept or not. */
static void put_byte(char *buf, size_t cap, size_t *len, unsigned c)
{
    if (*len < cap)
        buf[*len] = (char)c;
    (*len)++;
}

static void put_utf8(char *buf, size_t cap, size_t *len, uint32_t cp)
{
    if (cp < 0x80) {
        put_byte(buf, cap, len, cp);
    } else if (cp < 0x800) {
        put_byte(buf, cap, len, 0xc0 | cp >> 6);
        put_byte(buf, cap, len, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        put_byte(buf, cap, len, 0xe0 | cp >> 12);
        put_byte(buf, cap, len, 0x80 | (cp >> 6 & 0x3f));
        put_byte(buf, cap, len, 0x80 | (cp & 0x3f));
    } else {
        put_byte(buf, cap, len, 0xf0 | cp >> 18);
        put_byte(buf, cap, len, 0x80 | (cp >> 12 & 0x3f));
        put_byte(buf, cap, len, 0x80 | (cp >> 6 & 0x3f));
        put_byte(buf, cap, len, 0x80 | (cp & 0x3f));
    }
}

/* Reads the string at r->p (its opening quote) into buf. *len is its decoded length, which may
 * pass cap (the bytes past cap are dropped). Returns false with a reason in r->err. */
static bool read_string(jreader_t *r, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    r->p++; /* the opening quote */
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            return true;
        }
        if (c < 0x20) {
            set_err(r->err, r->errlen, "bad JSON at byte %zu: control character in a string",
                    offset_of(r));
            return false;
        }
        if (c != '\\') {
            put_byte(buf, cap, len, c);
            r->p++;
            continue;
        }
        const char *esc = r->p;
        if (r->end - r->p < 2)
            break;
        char e = r->p[1];
        r->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            put_byte(buf, cap, len, (unsigned char)decoded[simple - "\"\\/bfnrt"]);
            continue;
        }
        int cp = e == 'u' && r->end - r->p >= 4 ? hex4(r->p) : -1;
        if (cp >= 0)
            r->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate: its low half must follow */
            int lo = r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' ? hex4(r->p + 2) : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                r->p += 6;
            } else {
                cp = -1;
            }
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = -1;
        }
        if (cp < 0) {
            r->p = esc;
            set_err(r->err, r->errlen, "bad JSON at byte %zu: bad escape in a string",
                    offset_of(r));
            return false;
        }
        put_utf8(buf, cap, len, (uint32_t)cp);
    }
    set_err(r->err, r->errlen, "bad JSON: unterminated string");
    return false;
}

/* A member name for a reason: quoted, at most 32 bytes, unprintable bytes as \xNN. */
static void show_name(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && i < JSON_KEY_MAX && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (len > JSON_KEY_MAX && o + 5 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* Reads one member value at r->p and sets member m from it. */
static bool read_member_value(jreader_t *r, lv_fault_spec_t *spec, lv_fault_member_t m)
{
    char buf[JSON_STRING_MAX];
    size_t len = 0;
    char why[256];
    const char *name = lv_fault_member_names[m];
    lv_fault_text_t as;
    if (r->p == r->end) {
        set_err(r->err, r->errlen, "bad JSON: the object is cut short");
        return false;
    }
    char c = *r->p;
    if (c == '"') {
        if (!read_string(r, buf, sizeof buf, &len))
            return false;
        as = LV_FAULT_TEXT_STRING;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        len = number_span(r->p, (size_t)(r->end - r->p), true);
        if (len == 0) {
            set_err(r->err, r->errlen, "bad JSON at byte %zu: bad number", offset_of(r));
            return false;
        }
        memcpy(buf, r->p, LV_MIN(len, sizeof buf));
        r->p += len;
        as = LV_FAULT_TEXT_NUMBER;
    } else if (c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n') {
        static const char *const literals[] = {"true", "false", "null"};
        bool literal = false;
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(literals[i]);
            literal =
                literal || ((size_t)(r->end - r->p) >= n && memcmp(r->p, literals[i], n) == 0);
        }
        if (!literal && c != '{' && c != '[') {
            set_err(r->err, r->errlen, "bad JSON at byte %zu: expected a value", offset_of(r));
            return false;
        }
        set_err(r->err, r->errlen, "\"%s\": %s", name, member_expected(m, LV_FAULT_TEXT_STRING));
        return false;
    } else {
        set_err(r->err, r->errlen, "bad JSON at byte %zu: expected a value", offset_of(r));
        return false;
    }
    if (len > JSON_STRING_MAX) { /* longer than any member's value: cut, it could mean another */
        set_err(r->err, r->errlen, "\"%s\": %s", name, member_expected(m, as));
        return false;
    }
    if (lv_fault_spec_set_member(spec, m, buf, len, as, why, sizeof why) != 0) {
        set_err(r->err, r->errlen, "\"%s\": %s", name, why);
        return false;
    }
    return true;
}

int lv_fault_spec_parse_json(const char *p, size_t len, lv_fault_spec_t *out, char *err,
                             size_t errlen)
{
    jreader_t r = {.start = p, .p = p, .end = p + len, .err = err, .errlen = errlen};
    lv_fault_spec_t spec;
    uint32_t given = 0;
    lv_fault_spec_init(&spec);
    skip_ws(&r);
    if (r.p == r.end || *r.p != '{') {
        set_err(err, errlen, "expected a JSON object");
        return -1;
    }
    r.p++;
    skip_ws(&r);
    bool more = r.p == r.end || *r.p != '}';
    if (!more)
        r.p++;
    while (more) {
        skip_ws(&r);
        if (r.p == r.end || *r.p != '"') {
            set_err(err, errlen, "bad JSON at byte %zu: expected a member name", offset_of(&r));
            return -1;
        }
        char key[JSON_KEY_MAX + 1], shown[JSON_KEY_MAX * 4 + 8];
        size_t klen;
        if (!read_string(&r, key, sizeof key, &klen))
            return -1;
        int m = -1;
        for (int i = 0; i < LV_FAULT_MEMBERS && klen <= JSON_KEY_MAX; i++)
            if (klen == strlen(lv_fault_member_names[i]) &&
                memcmp(key, lv_fault_member_names[i], klen) == 0)
                m = i;
        show_name(shown, sizeof shown, key, LV_MIN(klen, sizeof key));
        if (m < 0) {
            set_err(err, errlen, "unknown member %s", shown);
            return -1;
        }
        if (given & (1u << m)) {
            set_err(err, errlen, "duplicate member %s", shown);
            return -1;
        }
        given |= 1u << m;
        skip_ws(&r);
        if (r.p == r.end || *r.p != ':') {
            set_err(err, errlen, "bad JSON at byte %zu: expected ':'", offset_of(&r));
            return -1;
        }
        r.p++;
        skip_ws(&r);
        if (!read_member_value(&r, &spec, (lv_fault_member_t)m))
            return -1;
        skip_ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
        } else if (r.p < r.end && *r.p == '}') {
            r.p++;
            more = false;
        } else {
            set_err(err, errlen, "bad JSON at byte %zu: expected ',' or '}'", offset_of(&r));
            return -1;
        }
    }
    skip_ws(&r);
    if (r.p != r.end) {
        set_err(err, errlen, "bad JSON at byte %zu: data after the object", offset_of(&r));
        return -1;
    }
    char why[200];
    int bad = lv_fault_spec_check(&spec, given, why, sizeof why);
    if (bad == LV_FAULT_MEMBERS)
        set_err(err, errlen, "%s", why);
    else if (bad >= 0)
        set_err(err, errlen, "\"%s\": %s", lv_fault_member_names[bad], why);
    if (bad >= 0)
        return -1;
    *out = spec;
    return 0;
}

/* A JSON string of s; names and hosts need no escapes once checked, but a spec that was never
 * checked must still give valid JSON. */
static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

void lv_fault_spec_write_json_members(FILE *f, const lv_fault_spec_t *spec)
{
    char share[40];
    bool route = spec->route[0] != '\0';
    fprintf(f, "\"%s\":", route ? "route" : "service");
    put_json_string(f, route ? spec->route : spec->service);
    format_number(share, sizeof share, spec->share);
    fprintf(f, ",\"kind\":\"%s\",\"share\":%s,\"duration_ms\":%" PRIu32,
            (unsigned)spec->kind < LV_FAULT_KINDS ? lv_fault_kind_names[spec->kind] : "unknown",
            share, spec->duration_ms);
    switch (spec->kind) {
    case LV_FAULT_LATENCY:
        fputs(",\"ms\":", f);
        lv_fault_ms_write_json(f, &spec->ms);
        break;
    case LV_FAULT_ABORT:
        fprintf(f, ",\"status\":%u", (unsigned)spec->status);
        break;
    case LV_FAULT_BANDWIDTH:
        fprintf(f, ",\"bytes_per_s\":%" PRIu64, spec->bytes_per_s);
        break;
    case LV_FAULT_HOST_DOWN:
        fputs(",\"host\":", f);
        put_json_string(f, spec->host);
        break;
    default:
        break;
    }
}

/* ---- the test header ---- */

int lv_fault_header_parse(const char *p, size_t len, lv_fault_spec_t *out)
{
    while (len && is_sep(*p)) { /* a field value's surrounding whitespace is not part of it */
        p++;
        len--;
    }
    while (len && is_sep(p[len - 1]))
        len--;
    size_t wl = 0;
    while (wl < len && !is_sep(p[wl]))
        wl++;
    const char *arg = wl < len ? p + wl + 1 : NULL;
    size_t arg_len = arg ? len - wl - 1 : 0;
    lv_fault_spec_t spec;
    lv_fault_spec_init(&spec);
    int kind = -1;
    for (int k = 0; k < LV_FAULT_HOST_DOWN; k++)
        if (wl == strlen(lv_fault_kind_names[k]) && memcmp(p, lv_fault_kind_names[k], wl) == 0)
            kind = k;
    if (kind < 0)
        return -1;
    spec.kind = (lv_fault_kind_t)kind;
    lv_fault_member_t m = (lv_fault_member_t)LV_FAULT_MEMBERS;
    for (int i = 0; i < LV_FAULT_MEMBERS; i++)
        if (member_kind((lv_fault_member_t)i) == kind)
            m = (lv_fault_member_t)i;
    if (m == LV_FAULT_MEMBERS
            ? arg != NULL
            : arg == NULL || lv_fault_spec_set_member(&spec, m, arg, arg_len, LV_FAULT_TEXT_NUMBER,
                                                      NULL, 0) != 0)
        return -1;
    *out = spec;
    return 0;
}

/* ---- comparing ---- */

static bool ms_equal(const lv_fault_ms_t *a, const lv_fault_ms_t *b)
{
    if (a->dist != b->dist || a->a != b->a)
        return false;
    return a->dist == LV_FAULT_DIST_FIXED || a->dist == LV_FAULT_DIST_EXPONENTIAL || a->b == b->b;
}

bool lv_fault_spec_equal(const lv_fault_spec_t *a, const lv_fault_spec_t *b)
{
    if (strcmp(a->service, b->service) != 0 || strcmp(a->route, b->route) != 0 ||
        a->kind != b->kind || a->share != b->share || a->duration_ms != b->duration_ms)
        return false;
    switch (a->kind) {
    case LV_FAULT_LATENCY:
        return ms_equal(&a->ms, &b->ms);
    case LV_FAULT_ABORT:
        return a->status == b->status;
    case LV_FAULT_BANDWIDTH:
        return a->bytes_per_s == b->bytes_per_s;
    case LV_FAULT_HOST_DOWN:
        return strcmp(a->host, b->host) == 0;
    default:
        return true;
    }
}
