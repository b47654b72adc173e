#!/bin/sh
# ab_fwd.sh OLD.c NEW.c [N D causal threads reps]
# Interleaved A/B of two versions of src/kernels/flash_fwd.c in ONE process
# (A then B in every round, plus an FMA probe), so both see the same host
# load.  Prints min and median of each, B/A, and whether the outputs are
# bitwise equal.  Needs a Release build of libattn.a in $BUILD (default
# build-speed).  Example, HEAD against the working tree:
#   git show HEAD:src/kernels/flash_fwd.c > /tmp/old_fwd.c
#   bench/ab/ab_fwd.sh /tmp/old_fwd.c src/kernels/flash_fwd.c 4096 128 0 1 10
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-speed}
T=$(mktemp -d)
for v in a b; do
    f=$1; [ $v = b ] && f=$2
    gcc -O3 -fopenmp -I"$ROOT/src/kernels" -I"$ROOT/src" -I"$ROOT/include" -c "$f" -o "$T/fwd_$v.o"
    objcopy --redefine-sym attn_flash_forward=fwd_$v "$T/fwd_$v.o"
done
gcc -O2 -fopenmp -I"$ROOT/src" -I"$ROOT/include" "$ROOT/bench/ab/ab_fwd.c" "$T/fwd_a.o" "$T/fwd_b.o" \
    "$BUILD/libattn.a" -lm -o "$T/ab_fwd"
"$T/ab_fwd" "${3:-4096}" "${4:-128}" "${5:-0}" "${6:-1}" "${7:-10}"
rm -rf "$T"
