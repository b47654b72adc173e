#!/usr/bin/env python3
"""Cross-check attn's .npy reader and writer against NumPy itself.

Usage: python3 tests/npy_crosscheck.py BUILD_DIR/test_npy

1. NumPy writes arrays (numpy.save, and numpy.lib.format.write_array with
   versions 2.0 and 3.0) plus files attn must refuse, into a temporary
   directory.
2. test_npy runs with ATTN_NUMPY_DIR pointing there: it reads NumPy's files,
   compares every value with the formula below, checks each refusal, and
   writes its own files (c_*.npy) with attn_npy_save.
3. NumPy reads attn's files back and compares them bit for bit.

Element i (C order) of every float array is i / 3 (+ a shift), an exactly
rounded IEEE division in both languages, so the comparison is exact (f16:
that float32 rounded to half by NumPy and by attn_f16_from_f32, which must
agree bit for bit); bools are i % 3 == 0.  Exits non-zero on any mismatch; prints
"skipped: numpy not installed" and exits 77 (skipped, for tests/python/run.sh)
when NumPy is missing.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skipped: numpy not installed")
    sys.exit(77)

from numpy.lib import format as npformat


def values(shape, dtype, shift=0.0):
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if dtype == np.float16:  # through float32, as the C side does
        return values(shape, np.float32, shift).astype(np.float16)
    return (np.arange(n, dtype=np.float64) / 3 + shift).astype(dtype).reshape(shape)


def write_version(path, array, version):
    with open(path, "wb") as f:
        npformat.write_array(f, array, version=version)


def write_numpy_files(d):
    np.save(os.path.join(d, "np_f32_2d.npy"), values((3, 4), np.float32))
    np.save(os.path.join(d, "np_f64_4d.npy"), values((2, 3, 1, 5), np.float64, -7.0))
    np.save(os.path.join(d, "np_bool_3d.npy"), values((2, 2, 3), np.bool_))
    np.save(os.path.join(d, "np_f32_1d.npy"), values((7,), np.float32))
    write_version(os.path.join(d, "np_f64_v2.npy"), values((4, 2), np.float64), (2, 0))
    write_version(os.path.join(d, "np_f32_v3.npy"), values((2, 2, 2), np.float32), (3, 0))
    write_version(os.path.join(d, "np_bool_v3.npy"), values((5,), np.bool_), (3, 0))
    np.save(os.path.join(d, "np_empty.npy"), np.zeros((0, 3), np.float32))
    np.save(os.path.join(d, "np_f16_2d.npy"), values((4, 9), np.float16, -5.0))
    halves = np.array([np.nan, np.inf, -np.inf, -0.0, 2.0**-24, 65504.0, 1e-8, 7e4], np.float32).astype(np.float16)
    np.save(os.path.join(d, "np_f16_special.npy"), halves)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308], np.float64)
    np.save(os.path.join(d, "np_special.npy"), special)
    # Files attn must refuse.
    np.save(os.path.join(d, "np_fortran.npy"), np.asfortranarray(values((3, 4), np.float32)))
    np.save(os.path.join(d, "np_big.npy"), values((3, 4), np.float32).astype(">f4"))
    np.save(os.path.join(d, "np_int.npy"), np.arange(6, dtype=np.int64))
    np.save(os.path.join(d, "np_scalar.npy"), np.float32(3.0))
    np.save(os.path.join(d, "np_rank5.npy"), np.zeros((1, 2, 1, 2, 1), np.float32))
    np.save(os.path.join(d, "np_complex.npy"), np.zeros(3, np.complex64))


# What test_npy writes with attn_npy_save (see test_numpy in test_npy.c).
C_FILES = {
    "c_f32_2d.npy": values((3, 4), np.float32),
    "c_f64_transposed.npy": values((3, 4), np.float64).T,
    "c_bool_4d.npy": values((2, 1, 3, 2), np.bool_),
    "c_f32_1d.npy": values((5,), np.float32),
    "c_f16_2d.npy": values((3, 4), np.float16),
    "c_empty.npy": np.zeros((0, 3), np.float64),
}


def check_c_files(d):
    errors = []
    for name, want in C_FILES.items():
        path = os.path.join(d, name)
        if not os.path.exists(path):
            errors.append(f"{name}: not written")
            continue
        with open(path, "rb") as f:
            version = npformat.read_magic(f)
            if version != (1, 0):
                errors.append(f"{name}: format version {version}, expected (1, 0)")
            shape, fortran, dtype = npformat.read_array_header_1_0(f)
            if f.tell() % 64 != 0:
                errors.append(f"{name}: data starts at byte {f.tell()}, not a multiple of 64")
            if fortran:
                errors.append(f"{name}: fortran_order is True")
        got = np.load(path, allow_pickle=False)
        if got.dtype != want.dtype or got.shape != want.shape:
            errors.append(f"{name}: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
        elif got.tobytes() != np.ascontiguousarray(want).tobytes():
            errors.append(f"{name}: values differ:\n got {got!r}\n want {want!r}")
    return errors


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="attn_npy_crosscheck.") as d:
        write_numpy_files(d)
        env = dict(os.environ, ATTN_NUMPY_DIR=d)
        run = subprocess.run([binary], env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        errors = []
        if run.returncode != 0:
            errors.append(f"{binary} exited with status {run.returncode}")
        if "numpy cross-check:" not in run.stdout:
            errors.append(f"{binary} did not run its NumPy part (no 'numpy cross-check:' line)")
        errors += check_c_files(d)
        for e in errors:
            print(f"npy_crosscheck: FAIL {e}", file=sys.stderr)
        if errors:
            return 1
        print(f"npy_crosscheck: ok (numpy {np.__version__})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
