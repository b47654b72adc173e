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

# pkg-config, the checkpoint library (shared)
if PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 "$here/consumer_ckpt.c" -o "$tmp/consumer_ckpt_pc" \
     $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs attn-checkpoint) -Wl,-rpath,"$libdir" \
   && "$tmp/consumer_ckpt_pc" "$tmp/pc.safetensors"; then pass=$((pass+1)); else echo "FAIL: pkg-config checkpoint consumer"; fail=$((fail+1)); fi

# find_package(attn), static and shared targets (attn and attn_checkpoint)
if cmake -S "$here" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null \
   && cmake --build "$tmp/cbuild" >/dev/null \
   && "$tmp/cbuild/consumer_shared" && "$tmp/cbuild/consumer_static" \
   && "$tmp/cbuild/consumer_ckpt_shared" "$tmp/s.safetensors" && "$tmp/cbuild/consumer_ckpt_static" "$tmp/t.safetensors"; then
  pass=$((pass+1)); else echo "FAIL: find_package consumer"; fail=$((fail+1)); fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
