#!/usr/bin/env bash
# check.sh BUILD_DIR - install attn into a scratch prefix, then build and run
# a small consumer twice: with pkg-config and with CMake's find_package(attn).
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
pass=0 fail=0

# pkg-config, shared library
if PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 "$here/consumer.c" -o "$tmp/consumer_pc" \
     $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs attn) -Wl,-rpath,"$libdir" \
   && "$tmp/consumer_pc"; then pass=$((pass+1)); else echo "FAIL: pkg-config consumer"; fail=$((fail+1)); fi

# find_package(attn), static and shared targets
if cmake -S "$here" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null \
   && cmake --build "$tmp/cbuild" >/dev/null \
   && "$tmp/cbuild/consumer_shared" && "$tmp/cbuild/consumer_static"; then
  pass=$((pass+1)); else echo "FAIL: find_package consumer"; fail=$((fail+1)); fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
