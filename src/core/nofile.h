/* core/nofile.h: the open-files limit of the process: raised to its hard limit at start by
 * levee, levee-sim and levee-load, whose connections each hold one or two descriptors. */
#ifndef LV_CORE_NOFILE_H
#define LV_CORE_NOFILE_H

#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard one (when it is lower and finite) and returns the
 * soft limit now in force; 0 when unlimited or unknown. */
uint64_t lv_raise_nofile(void);

#endif
