#!/bin/sh
# ab_uk.sh DIR_A DIR_B [D]
# Interleaved A/B of two versions of the micro-kernel template: DIR_X holds
# kernels/uk_tmpl.h and kernels/kernels.h, and may hold kernels/uk_ISA.c (a
# nonexistent DIR uses the working tree).  One tile of the forward (64 keys x 384 lanes: gemm_a, softmax,
# gemm_b) timed next to a short FMA probe in every round; prints the 90th
# percentile and median of (kernel speed / probe speed) and the softmax time
# in units of one ideal gemm.  ISA=avx2 compares the AVX2 tables instead.
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-speed}
T=$(mktemp -d)
ISA=${ISA:-avx512}
FLAGS="-mavx2 -mfma -mf16c"
[ "$ISA" = avx512 ] && FLAGS="-mavx512f -mavx512dq -mavx512bw -mavx512vl $FLAGS"
for v in a b; do
    d=$1; [ $v = b ] && d=$2
    src="$ROOT/src/kernels/uk_$ISA.c"
    [ -f "$d/kernels/uk_$ISA.c" ] && src="$d/kernels/uk_$ISA.c"
    gcc -O3 $FLAGS -I"$d" -I"$ROOT/src" -I"$ROOT/include" -c "$src" -o "$T/uk_$v.o"
    objcopy --redefine-sym attn_uk_$ISA=uk_$v "$T/uk_$v.o"
done
gcc -O2 -I"$ROOT/src" -I"$ROOT/include" "$ROOT/bench/ab/ab_uk.c" "$T/uk_a.o" "$T/uk_b.o" "$BUILD/libattn.a" \
    -fopenmp -lm -o "$T/ab_uk"
"$T/ab_uk" "${3:-128}"
rm -rf "$T"
