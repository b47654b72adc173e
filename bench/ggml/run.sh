#!/bin/sh
# run.sh - attn's CPU forward against ggml's ggml_flash_attn_ext, same shapes and threads.
#
#   bench/ggml/run.sh [--threads N] [--reps N] [--attn PATH] [--build-only]
#
# Fetches ggml as vendored by the PyPI sdist ggml-python 0.0.45 (ggml 0.15.3; there is no Debian
# package), builds it CPU-only (static, Release, GGML_NATIVE=ON) and bench/ggml/ggml_fa.c against it,
# all under bench/ggml/.cache (kept: a second run skips every finished step). Then, for each case,
# runs `attn bench --json` and ggml_fa with K/V in F32, then both with K/V in F16, --reps times (default 3:
# the host is shared, so the two sides alternate rather than run one after the other), and prints
# the JSON lines, then a table of the medians over the repetitions.
#
# attn is the existing binary build-speed/attn (override with --attn); this script never builds it.
# --build-only stops after building ggml_fa (bench/ggml/.cache/ggml_fa).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$here/.cache"
threads=2
reps=3
attn="$root/build-speed/attn"
build_only=0

die() { echo "run.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; threads=$2; shift 2 ;;
        --reps) [ $# -ge 2 ] || die "--reps needs a value"; reps=$2; shift 2 ;;
        --attn) [ $# -ge 2 ] || die "--attn needs a value"; attn=$2; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
done
case "$threads" in ''|*[!0-9]*) die "--threads is '$threads', expected a positive integer" ;; esac
case "$reps" in ''|*[!0-9]*) die "--reps is '$reps', expected a positive integer" ;; esac
[ "$threads" -ge 1 ] || die "--threads must be at least 1"
[ "$reps" -ge 1 ] || die "--reps must be at least 1"

for tool in pip cmake cc c++ python3 tar sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH (needed to fetch, build or summarise)"
done
[ "$build_only" = 1 ] || [ -x "$attn" ] || die "no attn binary at $attn (build it, or pass --attn PATH)"

version=0.0.45
sdist="$cache/ggml_python-$version.tar.gz"
sha256=10aac52075cf3c7ef2b00d6c35b1c23f7b018dbeff8ae8df67339b4be1166f05 # PyPI's file, checked once
src="$cache/ggml_python-$version/vendor/ggml"
build="$cache/ggml-build"
bin="$cache/ggml_fa"
mkdir -p "$cache"

# 1. the sdist
if [ ! -f "$sdist" ]; then
    echo "run.sh: downloading ggml-python $version (sdist) into $cache" >&2
    pip download "ggml-python==$version" --no-deps --no-binary :all: -d "$cache" >&2 ||
        die "pip download ggml-python==$version failed (network? PyPI?)"
    [ -f "$sdist" ] || die "pip download did not leave $sdist"
fi
echo "$sha256  $sdist" | sha256sum -c --status - || die "$sdist does not have the expected sha256 $sha256"

# 2. ggml's source
if [ ! -f "$src/include/ggml.h" ]; then
    echo "run.sh: extracting vendor/ggml" >&2
    tar -xzf "$sdist" -C "$cache" "ggml_python-$version/vendor/ggml" || die "cannot extract vendor/ggml from $sdist"
    [ -f "$src/include/ggml.h" ] || die "$sdist has no vendor/ggml/include/ggml.h"
fi

# 3. ggml, CPU only, static (the stamp is written only after a complete build)
if [ ! -f "$build/.done" ]; then
    echo "run.sh: building ggml (CPU only, Release, GGML_NATIVE=ON) in $build" >&2
    # GIT_CEILING_DIRECTORIES: ggml asks git for its commit, and must not find this repository's
    GIT_CEILING_DIRECTORIES="$cache" cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON -DGGML_OPENMP=ON -DGGML_BACKEND_DL=OFF \
        -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_HIP=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
        -DGGML_OPENCL=OFF -DGGML_SYCL=OFF -DGGML_RPC=OFF \
        -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_CCACHE=OFF >"$cache/cmake.log" 2>&1 ||
        die "cmake configure failed, see $cache/cmake.log"
    cmake --build "$build" -j "$(nproc)" >"$cache/build.log" 2>&1 || die "ggml build failed, see $cache/build.log"
    touch "$build/.done"
fi
libs=""
for l in ggml ggml-cpu ggml-base; do
    a=$(find "$build" -name "lib$l.a" | head -n 1)
    [ -n "$a" ] || die "lib$l.a not found under $build (remove $build to rebuild)"
    libs="$libs $a"
done

# 4. ggml_fa, rebuilt when its source is newer
if [ ! -x "$bin" ] || [ -n "$(find "$here/ggml_fa.c" -newer "$bin")" ]; then
    echo "run.sh: compiling ggml_fa.c" >&2
    # shellcheck disable=SC2086 # $libs is a list of paths without spaces
    cc -std=c11 -O2 -Wall -Wextra -I"$src/include" -o "$bin" "$here/ggml_fa.c" $libs \
        -lstdc++ -fopenmp -lpthread -lm || die "cannot compile $here/ggml_fa.c"
fi

[ "$build_only" = 0 ] || exit 0

# 5. the cases, alternating attn and ggml --reps times
out="$cache/results.jsonl"
: >"$out"
one() { # one program's JSON line, echoed and appended to $out; dies if the program fails
    "$@" >"$cache/last.json" || die "failed: $*"
    cat "$cache/last.json"
    cat "$cache/last.json" >>"$out"
}
echo "run.sh: $reps repetitions of 3 cases x (attn, ggml) x (F32 K/V, F16 K/V), $threads threads;" \
    "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
i=1
while [ "$i" -le "$reps" ]; do
    for c in "fwd 1,8,4096,4096,128" "fwd 1,8,4096,4096,64 causal" "decode 1,8,1,32768,128"; do
        # shellcheck disable=SC2086 # split the case into op, shape and the optional "causal"
        set -- $c
        op=$1 shape=$2 causal=${3:-}
        for kv in f32 f16; do
            one "$attn" bench --op "$op" --shape "$shape" ${causal:+--causal} --threads "$threads" --kv-dtype "$kv" \
                --json
            one "$bin" --op "$op" --shape "$shape" ${causal:+--causal} --threads "$threads" --kv "$kv"
        done
    done
    i=$((i + 1))
done
echo "run.sh: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# 6. the table: median over the repetitions of each side's GFLOP/s, then every run's figures
python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
key = lambda r: (r["op"], r["B"], r["H"], r["Lq"], r["Lk"], r["D"], r["causal"], r["threads"])
cases = list(dict.fromkeys(key(r) for r in rows))
sides = ("attn f32", "ggml f32", "attn f16", "ggml f16")
side = lambda r: f"ggml {r['kv_type']}" if "kv_type" in r else f"attn {r.get('kv_dtype', 'f32')}"
def runs(k, s, field):
    return [r[field] for r in rows if key(r) == k and side(r) == s]
def name(k):
    op, B, H, Lq, Lk, D, causal, th = k
    return f"{op} B={B} H={H} Lq={Lq} Lk={Lk} D={D}" + (" causal" if causal else "") + f", {th} threads"
print()
print("| case | attn, F32 K/V | ggml, F32 K/V | attn, F16 K/V | ggml, F16 K/V | attn/ggml F32 | attn/ggml F16 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for k in cases:
    a32, g32, a16, g16 = (statistics.median(runs(k, s, "gflops")) for s in sides)
    print(f"| {name(k)} | {a32:.1f} | {g32:.1f} | {a16:.1f} | {g16:.1f} | {a32 / g32:.2f} | {a16 / g16:.2f} |")
print()
print("every run, in order (GFLOP/s of rounds of one head; median ms; largest max_err on the check slice;")
print("for ggml also GFLOP/s of rounds of the whole problem in one graph):")
for k in cases:
    print(f"  {name(k)}")
    for s in sides:
        g = ", ".join(f"{x:.1f}" for x in runs(k, s, "gflops"))
        ms = ", ".join(f"{x:.2f}" for x in runs(k, s, "median_ms"))
        label = s.split()[0] + " " + s.split()[1].upper() + " K/V"
        line = f"    {label:13s} {g:22s} ms {ms:26s} max_err {max(runs(k, s, 'max_err')):.3g}"
        if s.startswith("ggml"):
            line += "; rounds of the whole call: " + ", ".join(f"{x:.1f}" for x in runs(k, s, "call_gflops"))
        print(line)
print(f"\nall JSON lines: {sys.argv[1]}")
EOF
