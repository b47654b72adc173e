#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...] - fuzz the readers of untrusted input
# with clang's libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   SECONDS   per target (default 60; libFuzzer's 0 = forever is refused)
#   TARGET    npy, checkpoint, csv (default: all three, one after the other)
#
# Each target, tests/fuzz/fuzz_TARGET.c with the library sources it needs,
# is built with clang -fsanitize=fuzzer,address,undefined into build-fuzz/
# (FUZZ_BUILD overrides; FUZZ_CC=clang-14 picks the compiler).  Each
# runs from its seed corpus (tests/fuzz/corpus/TARGET, read only) and the
# crash reproducers (tests/fuzz/regress/TARGET), adding what it finds to
# build-fuzz/corpus/TARGET, which later runs reuse.  A crash, a sanitizer
# report, a leak, a timeout or a failed property (FUZZ_CHECK) stops that
# target and leaves the input in build-fuzz/artifacts/TARGET/; the script
# then goes on with the next target and exits 1 at the end.
#
# To replay a reproducer:  build-fuzz/fuzz_npy build-fuzz/artifacts/npy/crash-...
# or through any build's replay binary:  build/tests/fuzz/fuzz_npy_replay FILE
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy checkpoint csv)
out=${FUZZ_BUILD:-$root/build-fuzz}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" >/dev/null; then
    echo "fuzz: $cc not found: clang with libFuzzer is needed (apt-get install clang; FUZZ_CC=clang-14 picks one)" >&2
    exit 1
fi
case $secs in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS >= 1] [npy|checkpoint|csv ...]" >&2; exit 2 ;; esac

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

# The readers and what they call, compiled into each target with the same
# instrumentation (the fast kernels are left out: they take minutes to build
# under ASan and no reader reaches them).  A link error here means a reader
# gained a dependency: add its source to this list.
lib=(src/core/status.c src/core/tensor.c src/core/threads.c src/io/file.c src/io/npy.c src/nn/model.c
    src/nn/optim.c)
mkdir -p "$out"
cflags="-std=c11 -fopenmp -Wall -Wextra -Wno-unknown-pragmas -Wno-format-zero-length -I$root/include -I$root/src -I$root/tools -I$root/tests/fuzz"
for t in "${targets[@]}"; do
    case $t in
    npy) extra=() ;;
    checkpoint) extra=("$root/ext/checkpoint/checkpoint.c" $(pkg-config --libs jansson)) ;;
    csv) extra=("$root/tools/csv.c") ;;
    *) echo "fuzz: unknown target '$t' (npy, checkpoint or csv)" >&2; exit 2 ;;
    esac
    echo "fuzz: building $out/fuzz_$t"
    # shellcheck disable=SC2086
    (cd "$root" && "$cc" $san -fsanitize=fuzzer $cflags -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" "${lib[@]}" \
        "${extra[@]}" -lm)
done

# One target at a time: the machine may be shared.
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$root/tests/fuzz/regress/$t"
    echo "== fuzz_$t: $secs s"
    dict=()
    [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
        "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 "${dict[@]}" -artifact_prefix="$out/artifacts/$t/" \
        "$out/corpus/$t" "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regress/$t"; then
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in $out/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]} ($secs s each)"
