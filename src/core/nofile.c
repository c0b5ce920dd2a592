/* core/nofile.c: raises the open-files limit to its hard limit (see nofile.h). Past the soft
 * limit, accept() fails with EMFILE, and libuv then accepts and closes pending connections. */
#include "core/nofile.h"

#include <sys/resource.h>

uint64_t lv_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = was;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
}
