#!/usr/bin/env python3
"""torch_compare.py - attn against PyTorch's CPU scaled_dot_product_attention.

Usage: python3 bench/torch_compare.py [--attn build/attn] [--threads 2] [--rounds 9] [--quick]

Creates a virtual environment with PyTorch (CPU) and NumPy from PyPI at
.venv-bench beside the repository's top (or $ATTN_BENCH_VENV) if it is
missing, re-runs itself inside it, then for each shape times torch's SDPA
forward and backward (fp32, same threads, median of short rounds) and
`attn bench --json` at the same shape, and prints the ratios
(torch time / attn time: above 1 means attn is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("ATTN_BENCH_VENV", os.path.join(ROOT, ".venv-bench"))
VPY = os.path.join(VENV, "bin", "python")

SHAPES = [  # op, B, H, L, D, causal
    ("fwd", 1, 8, 4096, 128, False),
    ("fwd", 1, 8, 4096, 64, True),
    ("bwd", 1, 8, 4096, 64, False),
    ("bwd", 1, 8, 4096, 128, False),
]
QUICK = [("fwd", 1, 8, 1024, 64, False), ("fwd", 1, 8, 1024, 64, True), ("bwd", 1, 8, 1024, 64, False)]


def ensure_venv():
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        return
    if not os.path.exists(VPY):
        print(f"creating {VENV} and installing torch, numpy from PyPI (large download)...", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([VPY, "-m", "pip", "install", "--quiet", "torch", "numpy"])
    os.execv(VPY, [VPY] + sys.argv)


def torch_time(op, B, H, L, D, causal, threads, rounds):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, L, D, generator=g) for _ in range(3))
    times = []
    if op == "fwd":
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # warm-up
            for _ in range(rounds):
                t0 = time.perf_counter()
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                times.append(time.perf_counter() - t0)
    else:
        q, k, v = (x.requires_grad_() for x in (q, k, v))
        dout = torch.randn(B, H, L, D, generator=g)
        for r in range(rounds + 1):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            t0 = time.perf_counter()
            out.backward(dout)
            if r:
                times.append(time.perf_counter() - t0)
            q.grad = k.grad = v.grad = None
    return statistics.median(times) * 1e3


def attn_time(attn, op, B, H, L, D, causal, threads, rounds):
    cmd = [attn, "bench", "--op", op, "--shape", f"{B},{H},{L},{L},{D}", "--threads", str(threads),
           "--rounds", str(rounds), "--json"] + (["--causal"] if causal else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]), " ".join(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn", default=os.path.join(ROOT, "build", "attn"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="small shapes (N=1024)")
    a = ap.parse_args()
    ensure_venv()
    import torch

    print(f"torch {torch.__version__}, threads {a.threads}, rounds {a.rounds}, attn {a.attn}")
    print(f"{'op':4} {'B':>2} {'H':>2} {'N':>5} {'D':>4} {'causal':6} {'torch ms':>10} {'attn ms':>10} "
          f"{'torch/attn':>10} {'attn GFLOP/s':>12} {'% peak':>7} {'kernel':>8}")
    for op, B, H, L, D, causal in (QUICK if a.quick else SHAPES):
        tt = torch_time(op, B, H, L, D, causal, a.threads, a.rounds)
        j, cmd = attn_time(a.attn, op, B, H, L, D, causal, a.threads, a.rounds)
        print(f"{op:4} {B:>2} {H:>2} {L:>5} {D:>4} {str(causal):6} {tt:10.2f} {j['median_ms']:10.2f} "
              f"{tt / j['median_ms']:10.2f} {j['gflops']:12.1f} {j['pct_peak']:7.1f} {j['kernel']:>8}", flush=True)


if __name__ == "__main__":
    main()
