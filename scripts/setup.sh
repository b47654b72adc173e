#!/usr/bin/env bash
# setup.sh - install what attn needs to build and test on a fresh Debian 12
# machine, and nothing when it is already there.  Idempotent.
#
#   scripts/setup.sh          build tools (compiler, CMake, OpenMP, pkg-config)
#   scripts/setup.sh --fuzz   also clang with libFuzzer (make fuzz)
#   scripts/setup.sh --python also a virtual environment .venv with NumPy and
#                             ml_dtypes, for the cross-checks in tests/ (skipped,
#                             with a note, when PyPI cannot be reached)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command to look for -> package that provides it.
need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
# the NumPy cross-checks make a venv: Debian splits venv support out of python3
command -v python3 >/dev/null 2>&1 && { python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv); }
# Libraries the tool will use (cairo, jansson) are added here with the
# features that need them: for each, `pkg-config --exists MOD || need+=(PKG)`.
# Pictures (attn viz): cairo, pango, and a CJK font so Chinese labels render.
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists cairo || need+=(libcairo2-dev)
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists pangocairo || need+=(libpango1.0-dev)
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists fontconfig || need+=(libfontconfig-dev)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
# Checkpoints (libattn_checkpoint): jansson parses and writes the safetensors header.
command -v pkg-config >/dev/null 2>&1 && pkg-config --exists jansson || need+=(libjansson-dev)

# make fuzz (scripts/setup.sh --fuzz): clang and its libFuzzer runtime.
if [ "${1:-}" = "--fuzz" ]; then
  command -v clang >/dev/null 2>&1 || need+=(clang)
  ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--python" ]; then
  # numpy for the .npy cross-check, ml_dtypes (bfloat16 for NumPy) for the bf16 one
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import numpy, ml_dtypes' 2>/dev/null; then
    echo "setup: creating .venv with numpy and ml_dtypes for the cross-checks"
    if ! { { [ -x .venv/bin/python ] || python3 -m venv .venv; } && .venv/bin/pip install -q numpy ml_dtypes; }; then
      echo "setup: note: could not install numpy and ml_dtypes in .venv; the cross-checks that need them will be skipped"
    fi
  fi
fi
