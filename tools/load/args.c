/* load/args.c: number flags of levee-load's commands, parsed whole and checked against their
 * range; the complaint goes to stderr. Process setup only. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int load_num_arg(const char *cmd, const char *flag, const char *v, double lo, double hi,
                 double *out)
{
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || errno || *end || end == v || !isfinite(d) || d < lo || d > hi) {
        fprintf(stderr, "%s: %s: expected a number in [%g, %g]\n", cmd, flag, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}
