#!/bin/sh
# bench/cache/run.sh: builds bench/cache/eviction.c with the store's sources (gcc -O2, no CMake)
# and runs it. Arguments go to the program: [keys] [requests] [alpha] [seed] [shards].
# Example: bench/cache/run.sh 1000000 10000000 0.9 42 1
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-/tmp/levee-bench-eviction}
gcc -std=c17 -O2 -DNDEBUG -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wvla \
    -I"$root/src" "$here/eviction.c" "$root/src/cache/store.c" "$root/src/core/common.c" \
    -o "$out" -lm -lpthread
exec "$out" "$@"
