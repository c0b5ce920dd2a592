/* load/cron.c: parses cron time expressions into sets (with the column of any mistake), and
 * finds the next due minute on the civil calendar. Pure: no clock, no time zone, no I/O. */
#include "cron.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"

typedef struct load_cron_field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is value names_base + i */
    int names_base;
} load_cron_field_t;

static const char *const load_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                               "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const load_day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const load_cron_field_t load_cron_fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, load_month_names, 1},
    {"day-of-week", 0, 7, load_day_names, 0},
};

/* Sets the error's place and message; evaluates to LV_EINVAL. */
#define LOAD_CRON_FAIL(err, at, ...)                                                               \
    ((err)->col = (at), snprintf((err)->msg, sizeof((err)->msg), __VA_ARGS__), LV_EINVAL)

/* A number or a name at s[*i]; advances *i. */
static int load_cron_value(const char *s, size_t *i, const load_cron_field_t *f, int *v,
                           load_cron_error_t *err)
{
    size_t at = *i;
    if (isdigit((unsigned char)s[at])) {
        long n = 0;
        while (isdigit((unsigned char)s[*i]) && n < 1000)
            n = n * 10 + (s[(*i)++] - '0');
        if (n < f->lo || n > f->hi)
            return LOAD_CRON_FAIL(err, at, "%s: %ld%s is not in %d-%d", f->name, n,
                                  n >= 1000 ? "..." : "", f->lo, f->hi);
        *v = (int)n;
        return LV_OK;
    }
    for (int k = 0; f->names && f->names[k]; k++)
        if (strncasecmp(s + at, f->names[k], 3) == 0 && !isalpha((unsigned char)s[at + 3])) {
            *i += 3;
            *v = f->names_base + k;
            return LV_OK;
        }
    if (f->names)
        return LOAD_CRON_FAIL(err, at, "%s: expected *, a number in %d-%d or a name", f->name,
                              f->lo, f->hi);
    return LOAD_CRON_FAIL(err, at, "%s: expected * or a number in %d-%d", f->name, f->lo, f->hi);
}

/* One field at s[*i] (up to a blank or the end) into the bit set *bits. */
static int load_cron_field(const char *s, size_t *i, const load_cron_field_t *f, uint64_t *bits,
                           load_cron_error_t *err)
{
    *bits = 0;
    for (;;) {
        int lo = f->lo, hi = f->hi, step = 1, range = 0;
        if (s[*i] == '*') {
            (*i)++;
            range = 1;
        } else {
            if (load_cron_value(s, i, f, &lo, err) != LV_OK)
                return LV_EINVAL;
            hi = lo;
            if (s[*i] == '-') {
                (*i)++;
                size_t at = *i;
                if (load_cron_value(s, i, f, &hi, err) != LV_OK)
                    return LV_EINVAL;
                if (hi < lo)
                    return LOAD_CRON_FAIL(err, at, "%s: the range ends at %d, before its start %d",
                                          f->name, hi, lo);
                range = 1;
            }
        }
        if (s[*i] == '/') {
            (*i)++;
            size_t at = *i;
            long n = 0;
            while (isdigit((unsigned char)s[*i]) && n < 1000)
                n = n * 10 + (s[(*i)++] - '0');
            if (at == *i || n < 1 || n > f->hi - f->lo + 1)
                return LOAD_CRON_FAIL(err, at, "%s: expected a step in 1-%d after /", f->name,
                                      f->hi - f->lo + 1);
            step = (int)n;
            if (!range)
                hi = f->hi; /* a/n: from a to the end */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= (uint64_t)1 << (f->lo == 0 && f->hi == 7 ? v % 7 : v);
        if (s[*i] == ',') {
            (*i)++;
            continue;
        }
        if (s[*i] == '\0' || s[*i] == ' ' || s[*i] == '\t')
            return LV_OK;
        return LOAD_CRON_FAIL(err, *i, "%s: expected a digit, -, /, a comma or a blank here",
                              f->name);
    }
}

int load_cron_parse(const char *s, load_cron_t *c, size_t *end, size_t field_at[5],
                    load_cron_error_t *err)
{
    memset(c, 0, sizeof(*c));
    size_t i = 0;
    uint64_t bits[5];
    for (int k = 0; k < 5; k++) {
        while (s[i] == ' ' || s[i] == '\t')
            i++;
        if (s[i] == '\0')
            return LOAD_CRON_FAIL(err, i,
                                  "expected 5 time fields (minute hour day-of-month month "
                                  "day-of-week), found %d",
                                  k);
        if (field_at)
            field_at[k] = i;
        if (k == 2)
            c->days_star = s[i] == '*';
        if (k == 4)
            c->weekdays_star = s[i] == '*';
        if (load_cron_field(s, &i, &load_cron_fields[k], &bits[k], err) != LV_OK)
            return LV_EINVAL;
    }
    c->minutes = bits[0];
    c->hours = (uint32_t)bits[1];
    c->days = (uint32_t)bits[2];
    c->months = (uint16_t)bits[3];
    c->weekdays = (uint8_t)bits[4];
    *end = i;
    return LV_OK;
}

int load_civil_days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[(m - 1) % 12];
}

int load_civil_weekday(int y, int m, int d)
{
    /* Days since 1970-01-01 (a Thursday), after H. Hinnant's days_from_civil. */
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    long w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static int load_cron_day(const load_cron_t *c, const load_civil_t *t)
{
    int dom = (c->days >> t->day) & 1;
    int dow = (c->weekdays >> load_civil_weekday(t->year, t->month, t->day)) & 1;
    return c->days_star || c->weekdays_star ? dom && dow : dom || dow;
}

int load_cron_matches(const load_cron_t *c, const load_civil_t *t)
{
    return ((c->months >> t->month) & 1) && load_cron_day(c, t) && ((c->hours >> t->hour) & 1) &&
           ((c->minutes >> t->minute) & 1);
}

/* Carries minute -> hour -> day -> month -> year. */
static void load_civil_carry(load_civil_t *t)
{
    if (t->minute > 59) {
        t->minute = 0;
        t->hour++;
    }
    if (t->hour > 23) {
        t->hour = 0;
        t->day++;
    }
    if (t->day > load_civil_days_in_month(t->year, t->month)) {
        t->day = 1;
        t->month++;
    }
    if (t->month > 12) {
        t->month = 1;
        t->year++;
    }
}

int load_cron_next(const load_cron_t *c, const load_civil_t *after, load_civil_t *next)
{
    load_civil_t t = *after;
    t.minute++;
    load_civil_carry(&t);
    /* Each step skips a whole month, day, hour or minute that cannot match. */
    while (t.year <= after->year + 9) {
        if (!((c->months >> t.month) & 1)) {
            t.month++;
            t.day = 1;
            t.hour = t.minute = 0;
        } else if (!load_cron_day(c, &t)) {
            t.day++;
            t.hour = t.minute = 0;
        } else if (!((c->hours >> t.hour) & 1)) {
            t.hour++;
            t.minute = 0;
        } else if (!((c->minutes >> t.minute) & 1)) {
            t.minute++;
        } else {
            *next = t;
            return LV_OK;
        }
        load_civil_carry(&t);
    }
    return LV_ENOTFOUND;
}
