#!/usr/bin/env bash
# tests/fuzz/gen_corpus.sh [BUILD_DIR] - regenerate the fuzzers' seed corpus
# (tests/fuzz/corpus/{npy,checkpoint,csv}) with gen_corpus.c, built in an
# existing CMake build directory (default: build).  The files are small and
# kept in the repository; rerun after a change of the formats or writers.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
cmake --build "$build" --target fuzz_gen_corpus
rm -rf "$root/tests/fuzz/corpus"
"$build/tests/fuzz/fuzz_gen_corpus" "$root/tests/fuzz/corpus"
ls -l "$root"/tests/fuzz/corpus/*
