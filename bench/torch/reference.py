#!/usr/bin/env python3
"""PyTorch reference numbers for the CUDA backend benchmark (docs/BENCHMARKS.md, "CUDA backend").

Measures, on the current GPU, what engine/cuda's TestBenchReport compares against in the same run:
  * pinned host->device bandwidth: torch.empty(1 GiB, pin_memory=True).to('cuda', non_blocking=True);
  * torch.matmul in bf16 at the WAN 2.2 linear shapes, y[M,N] = x[M,K] @ w[N,K]^T.
Each number is the median of 10 event-timed runs after 3 warm-ups, on random data.

Usage: python3 bench/torch/reference.py OUT.json
"""
import json
import statistics
import sys

import torch

SHAPES = [(32760, 5120, 5120), (32760, 5120, 13824), (32760, 13824, 5120)]  # (M, K, N)


def timed_ms(fn, warm=3, reps=10):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "torch-ref.json"
    if not torch.cuda.is_available():
        sys.exit("reference.py: PyTorch sees no CUDA device")
    res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "matmul": {}}

    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    src.random_(0, 256)
    ms = timed_ms(lambda: src.to("cuda", non_blocking=True))
    res["h2d_pinned_GBps"] = n / (ms / 1e3) / 1e9
    print(f"torch H2D pinned 1 GiB: {ms:.3f} ms, {res['h2d_pinned_GBps']:.2f} GB/s", flush=True)
    del src
    torch.cuda.empty_cache()

    for m, k, nn in SHAPES:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(nn, k, device="cuda", dtype=torch.bfloat16) * 0.02
        y = torch.empty(m, nn, device="cuda", dtype=torch.bfloat16)
        ms = timed_ms(lambda: torch.matmul(x, w.t(), out=y))
        tf = 2 * m * k * nn / (ms / 1e3) / 1e12
        res["matmul"][f"{m}x{k}x{nn}"] = {"ms": ms, "tflops": tf}
        print(f"torch.matmul bf16 M={m} K={k} N={nn}: {ms:.3f} ms, {tf:.1f} TFLOP/s", flush=True)
        del x, w, y
        torch.cuda.empty_cache()

    with open(out_path, "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
