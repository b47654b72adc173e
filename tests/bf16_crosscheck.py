#!/usr/bin/env python3
"""Cross-check attn's bfloat16 conversions against ml_dtypes (the bfloat16
NumPy type of JAX and TensorFlow), through libattn's C API (ctypes).

Usage: python3 tests/bf16_crosscheck.py BUILD_DIR/test_bf16
(tests/python/run.sh passes BUILD/test_NAME; only its directory is used:
BUILD_DIR/libattn.so.)

1. attn_bf16_from_f32 against ml_dtypes' float32 -> bfloat16 on random
   float32 bit patterns (every exponent, subnormals, NaNs), the midpoints
   between neighbouring bfloat16 values and the floats either side of them,
   and the special values: the same 16 bits for every number, NaN for NaN.
2. attn_f32_from_bf16 against ml_dtypes' bfloat16 -> float32 on all 65536
   bit patterns: the same float bits (NaN: NaN).

Exits 1 on a mismatch; prints "skipped: ..." and exits 77 (counted as skipped
by tests/python/run.sh) when NumPy or ml_dtypes is missing.
"""
import ctypes
import os
import sys

try:
    import numpy as np
    import ml_dtypes
except ImportError as e:
    print(f"skipped: {e.name} not installed")
    sys.exit(77)


def lib_of(arg):
    path = os.path.join(os.path.dirname(os.path.abspath(arg)), "libattn.so")
    lib = ctypes.CDLL(path)
    for name in ("attn_bf16_from_f32", "attn_f32_from_bf16"):
        getattr(lib, name).restype = None
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return lib


def attn_to_bf16(lib, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape, dtype=np.uint16)
    lib.attn_bf16_from_f32(out.ctypes.data, x.ctypes.data, x.size)
    return out


def attn_from_bf16(lib, b):
    b = np.ascontiguousarray(b, dtype=np.uint16)
    out = np.empty(b.shape, dtype=np.float32)
    lib.attn_f32_from_bf16(out.ctypes.data, b.ctypes.data, b.size)
    return out


def main():
    np.seterr(all="ignore")  # NaN and overflow casts are part of the test
    lib = lib_of(sys.argv[1])
    rng = np.random.default_rng(20261202)
    bad = 0

    # 1. float32 -> bfloat16
    rand = rng.integers(0, 2**32, size=1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    allb = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    finite = allb[np.isfinite(allb.view(ml_dtypes.bfloat16).astype(np.float32))]
    lo = finite.view(ml_dtypes.bfloat16).astype(np.float64)
    hi_bits = finite.astype(np.uint32) + 1
    hi_bits = hi_bits[hi_bits < 65536].astype(np.uint16)
    lo = lo[: hi_bits.size]
    hi = hi_bits.view(ml_dtypes.bfloat16).astype(np.float64)
    ok = np.isfinite(hi) & ((hi_bits & 0x7FFF) != 0)  # neighbours on one side of zero
    mid = ((lo[ok] + hi[ok]) / 2).astype(np.float32)  # exact: 9 significant bits
    around = np.concatenate([mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf) * np.sign(mid))])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, 1e-45, -1e-45, float.fromhex("0x1.ffp127"), float.fromhex("-0x1.ffp127")], dtype=np.float32)
    xs = np.concatenate([rand, around.astype(np.float32), special])
    got = attn_to_bf16(lib, xs)
    want = xs.astype(ml_dtypes.bfloat16).view(np.uint16)
    nan_x = np.isnan(xs)
    got_nan = (got & 0x7F80) == 0x7F80
    got_nan &= (got & 0x007F) != 0
    mism = np.flatnonzero((got != want) & ~nan_x)
    if mism.size or not np.all(got_nan[nan_x]):
        bad += 1
        i = mism[0] if mism.size else np.flatnonzero(nan_x & ~got_nan)[0]
        print(f"FAIL: bf16 of {xs[i]!r} (0x{xs.view(np.uint32)[i]:08x}): attn 0x{got[i]:04x}, ml_dtypes 0x{want[i]:04x}"
              f" ({mism.size} numbers differ)")
    print(f"  float32 -> bfloat16: {xs.size} values ({mid.size} midpoints and their neighbours), "
          f"{mism.size} differ from ml_dtypes")

    # 2. bfloat16 -> float32, every pattern
    back = attn_from_bf16(lib, allb)
    want = allb.view(ml_dtypes.bfloat16).astype(np.float32)
    nan_w = np.isnan(want)
    mism = np.flatnonzero((back.view(np.uint32) != want.view(np.uint32)) & ~nan_w)
    if mism.size or not np.all(np.isnan(back[nan_w])):
        bad += 1
        i = mism[0] if mism.size else np.flatnonzero(nan_w & ~np.isnan(back))[0]
        print(f"FAIL: float of bf16 0x{allb[i]:04x}: attn {back[i]!r}, ml_dtypes {want[i]!r}")
    print(f"  bfloat16 -> float32: all 65536 patterns, {mism.size} differ from ml_dtypes")
    print("bf16_crosscheck: " + ("FAILED" if bad else f"passed (ml_dtypes {ml_dtypes.__version__})"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
