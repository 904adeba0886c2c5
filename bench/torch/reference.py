#!/usr/bin/env python3
"""PyTorch reference numbers for the CUDA backend benchmark (docs/BENCHMARKS.md, "CUDA backend").

Measures, on the current GPU, what engine/cuda's TestBenchReport compares against in the same run:
  * pinned host->device bandwidth: torch.empty(1 GiB, pin_memory=True).to('cuda', non_blocking=True);
  * torch.matmul in bf16 at the WAN 2.2 linear shapes, y[M,N] = x[M,K] @ w[N,K]^T.
Each number is the median of event-timed runs recorded back to back, after the operation has run for about a
second (0.3 s for copies) so that clocks and power draw have settled, on random data. engine/cuda's
benchmark measures its own operations the same way.

Usage: python3 bench/torch/reference.py OUT.json [--gemm-only] [--lt]
       python3 bench/torch/reference.py --compare DIR
--gemm-only skips the copy; --lt also times the products through cuBLASLt (information only). --compare reads
DIR/torch-gemm-*.json and DIR/go-gemm-*.json (alternating runs made by scripts/gpu-run.sh) and prints, per
shape, the median TFLOP/s of each and their ratio.
"""
import json
import statistics
import sys
import time

import torch

SHAPES = [(32760, 5120, 5120), (32760, 5120, 13824), (32760, 13824, 5120)]  # (M, K, N)


def timed_ms(fn, warm_s=1.0, reps=20):
    start = time.perf_counter()
    n = 1
    while time.perf_counter() - start < warm_s:
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        n *= 2
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for s, e in events:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)


def compare(d):
    import glob
    import os

    def load(pattern):
        runs = []
        for p in sorted(glob.glob(os.path.join(d, pattern))):
            with open(p) as f:
                runs.append(json.load(f)["matmul"])
        return runs

    torch_runs, go_runs = load("torch-gemm-*.json"), load("go-gemm-*.json")
    if not torch_runs or not go_runs:
        sys.exit(f"reference.py --compare: no runs in {d}")
    print(f"alternating runs: {len(torch_runs)} PyTorch, {len(go_runs)} wan22")
    for m, k, n in SHAPES:
        key = f"{m}x{k}x{n}"
        t = [r[key]["tflops"] for r in torch_runs]
        g = [r[key]["tflops"] for r in go_runs]
        tm, gm = statistics.median(t), statistics.median(g)
        print(f"M={m} K={k} N={n}: torch.matmul {tm:.1f} TFLOP/s (runs {' '.join(f'{v:.0f}' for v in t)}), "
              f"wan22 cuBLASLt {gm:.1f} TFLOP/s (runs {' '.join(f'{v:.0f}' for v in g)}): ratio {gm / tm:.3f}")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--compare":
        compare(sys.argv[2])
        return
    out_path = sys.argv[1] if len(sys.argv) > 1 else "torch-ref.json"
    if not torch.cuda.is_available():
        sys.exit("reference.py: PyTorch sees no CUDA device")
    res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "matmul": {}}

    if "--gemm-only" not in sys.argv:
        n = 1 << 30
        src = torch.empty(n, dtype=torch.uint8, pin_memory=True)
        src.random_(0, 256)
        ms = timed_ms(lambda: src.to("cuda", non_blocking=True), warm_s=0.3, reps=10)
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

    # For information: the same products through cuBLASLt (PyTorch's default for a plain matmul is cuBLAS).
    if "--lt" in sys.argv and hasattr(torch.backends.cuda, "preferred_blas_library"):
        torch.backends.cuda.preferred_blas_library("cublaslt")
        for m, k, nn in SHAPES:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(nn, k, device="cuda", dtype=torch.bfloat16) * 0.02
            y = torch.empty(m, nn, device="cuda", dtype=torch.bfloat16)
            ms = timed_ms(lambda: torch.matmul(x, w.t(), out=y))
            print(f"torch.matmul bf16 via cublasLt M={m} K={k} N={nn}: {ms:.3f} ms, {2*m*k*nn/(ms/1e3)/1e12:.1f} TFLOP/s", flush=True)
            del x, w, y
            torch.cuda.empty_cache()
        torch.backends.cuda.preferred_blas_library("cublas")

    with open(out_path, "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
