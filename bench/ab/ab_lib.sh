#!/bin/sh
# ab_lib.sh OLD_LIBATTN_A NEW_LIBATTN_A [N D causal threads reps [fwd|bwd|dec [H]]]
# Interleaved A/B of two whole builds of libattn.a in ONE process: the old
# library's global symbols get an old_ prefix (objcopy), and ab_lib.c calls
# old_attn_forward then attn_forward on one head in every round, so both see
# the same host load.  Prints min, 10th percentile and median of each, the
# percentiles of the per-round ratio new/old, and max |difference| of the
# outputs.  AB_DEC_LQ=L: L queries per head for dec; AB_GROUP=G: G query heads
# per key/value head (GQA, fwd and dec only); AB_KV_F16=1: f16 K and V.
# Example, HEAD against the working tree:
#   git worktree add /tmp/head HEAD && cmake -S /tmp/head -B /tmp/head/b -DCMAKE_BUILD_TYPE=Release &&
#   cmake --build /tmp/head/b --target attn_static && cmake --build build-speed --target attn_static &&
#   bench/ab/ab_lib.sh /tmp/head/b/libattn.a build-speed/libattn.a 4096 128 0 2 20
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
nm --defined-only -g "$1" 2>/dev/null | awk 'NF==3 {print $3" old_"$3}' | sort -u > "$T/syms"
objcopy --redefine-syms="$T/syms" "$1" "$T/libold.a"
gcc -O2 -fopenmp -I"$ROOT/include" "$ROOT/bench/ab/ab_lib.c" "$T/libold.a" "$2" -lm -o "$T/ab"
"$T/ab" "${3:-4096}" "${4:-128}" "${5:-0}" "${6:-1}" "${7:-20}" "${8:-fwd}" "${9:-1}"
rm -rf "$T"
