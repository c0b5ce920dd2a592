/* guard/pressure.c: the refused share over this second and the one before (see pressure.h).
 * Owns only the lv_pressure_t it is given; no allocation, no clock reads. */
#include "guard/pressure.h"

static void roll(lv_pressure_t *p, uint64_t now_us)
{
    uint64_t sec = now_us / 1000000u;
    if (sec <= p->sec)
        return; /* this second, or a reading taken just before it began */
    if (sec == p->sec + 1) {
        p->total[0] = p->total[1];
        p->refused[0] = p->refused[1];
    } else {
        p->total[0] = p->refused[0] = 0;
    }
    p->total[1] = p->refused[1] = 0;
    p->sec = sec;
}

void lv_pressure_note(lv_pressure_t *p, uint64_t now_us, bool refused)
{
    roll(p, now_us);
    p->total[1]++;
    if (refused)
        p->refused[1]++;
    uint32_t total = p->total[0] + p->total[1];
    uint32_t ref = p->refused[0] + p->refused[1];
    if (ref >= LV_PRESSURE_MIN_REFUSED && ref * LV_PRESSURE_SHARE_DIV >= total &&
        now_us > p->last_us)
        p->last_us = now_us;
}

bool lv_pressure_on(const lv_pressure_t *p, uint64_t now_us, uint64_t hold_us)
{
    return p->last_us && (now_us <= p->last_us || now_us - p->last_us < hold_us);
}
