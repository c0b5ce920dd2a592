/* load/cron.h: cron time expressions (minute hour day-of-month month day-of-week) for
 * `levee-load schedule`: parsing with error columns, matching, the next due minute. Pure. */
#ifndef LOAD_CRON_H
#define LOAD_CRON_H

#include <stddef.h>
#include <stdint.h>

/* A wall-clock minute, without a time zone: month 1-12, day 1-31. */
typedef struct load_civil {
    int year, month, day, hour, minute;
} load_civil_t;

/* The five fields as sets. Syntax per field: `*`, a number or a name (jan-dec, sun-sat), a
 * range `a-b`, a step `/n` after `*`, after a range, or after a number a (a to the field's
 * end), lists of these with `,`. Day of week 0-7 (0 and 7: Sunday). As in Vixie cron: when both day
 * fields are restricted (neither starts with `*`), a day is due when either matches, else when both
 * do. */
typedef struct load_cron {
    uint64_t minutes;  /* bit m: minute m, 0-59 */
    uint32_t hours;    /* bit h: 0-23 */
    uint32_t days;     /* bit d: day of month d, 1-31 */
    uint16_t months;   /* bit m: 1-12 */
    uint8_t weekdays;  /* bit w: 0 Sunday .. 6 Saturday */
    int days_star;     /* the day-of-month field starts with `*` */
    int weekdays_star; /* the day-of-week field starts with `*` */
} load_cron_t;

typedef struct load_cron_error {
    size_t col;    /* 0-based offset in the parsed text */
    char msg[160]; /* what was expected */
} load_cron_error_t;

/* Parses the five fields at the start of s (blanks before and between them). Returns 0 with
 * *end the offset just past the fifth field and field_at[i] the offset of field i (may be
 * NULL), or LV_EINVAL with the place and the reason in err. */
int load_cron_parse(const char *s, load_cron_t *c, size_t *end, size_t field_at[5],
                    load_cron_error_t *err);

/* 1 when minute t is due under c. */
int load_cron_matches(const load_cron_t *c, const load_civil_t *t);

/* The first due minute strictly after `after`. Returns 0, or LV_ENOTFOUND when none comes in
 * the next 9 years (a schedule such as `0 0 30 2 *` is never due). */
int load_cron_next(const load_cron_t *c, const load_civil_t *after, load_civil_t *next);

/* 0 Sunday .. 6 Saturday, proleptic Gregorian calendar. */
int load_civil_weekday(int year, int month, int day);
int load_civil_days_in_month(int year, int month);

#endif
