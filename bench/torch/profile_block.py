#!/usr/bin/env python3
"""Where the compiled PyTorch 14B block spends its time, kernel by kernel (issue 14, "the rest of the block").

Builds bench/torch/dit_block.py's Block (the one TestBlockVsTorchCUDA races against), compiles it with
torch.compile(mode="max-autotune-no-cudagraphs", dynamic=False) unless --eager, warms it up, then records
--reps forwards under torch.profiler and prints every GPU kernel with its calls and time per forward, longest
first, grouped into classes (attention, GEMM, fused elementwise/normalization, other), with the sum per class
beside the forward's CUDA-event time. Compare it with engine/dit's per-op profile of wan22's block
(TestCUDABlockBench, "profile of one BF16 block").

Usage (on the device): python3 bench/torch/profile_block.py [--tokens 32760] [--reps 3] [--eager] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dit_block import GRIDS, block_inputs  # noqa: E402


def kind(name):
    """The class of a kernel, from its name."""
    n = name.lower()
    if any(s in n for s in ("flash", "fmha", "attention", "sdpa", "cudnn")):
        return "attention"
    if any(s in n for s in ("gemm", "cutlass", "sm90_xmma", "nvjet", "matmul", "mm_", "triton_tem")):
        return "gemm"
    if n.startswith("triton_") or "elementwise" in n or "reduce" in n or "norm" in n:
        return "elementwise/norm"
    return "other"


def main():
    by_tokens = {f * h * w: (f, h, w) for f, h, w in GRIDS}
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=32760, help=f"one of {sorted(by_tokens)}")
    ap.add_argument("--reps", type=int, default=3, help="profiled forwards")
    ap.add_argument("--eager", action="store_true", help="profile the eager block instead of the compiled one")
    ap.add_argument("--json", help="also write the kernel table here")
    args = ap.parse_args()
    if args.tokens not in by_tokens:
        sys.exit(f"profile_block.py: --tokens {args.tokens} is not one of {sorted(by_tokens)}")
    if args.reps < 1:
        sys.exit("profile_block.py: --reps must be at least 1")
    if not torch.cuda.is_available():
        sys.exit("profile_block.py: PyTorch sees no CUDA device")
    f, h, w = by_tokens[args.tokens]
    L = args.tokens
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(0)
    begin = time.perf_counter()
    with torch.inference_mode():
        blk, ctx, e0, freqs, x = block_inputs(g, f, h, w)
        fwd = blk.forward if args.eager else torch.compile(blk.forward, mode="max-autotune-no-cudagraphs", dynamic=False)
        for _ in range(3):
            fwd(x, e0, ctx, freqs)
        torch.cuda.synchronize()
        print(f"profile_block: built and warm after {time.perf_counter() - begin:.1f} s", file=sys.stderr, flush=True)
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(args.reps)]
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for s, e in ev:
                s.record()
                fwd(x, e0, ctx, freqs)
                e.record()
            torch.cuda.synchronize()
    fwd_ms = sorted(s.elapsed_time(e) for s, e in ev)[len(ev) // 2]
    rows = []
    for a in prof.key_averages():
        dev_us = getattr(a, "device_time_total", None)
        if dev_us is None:
            dev_us = a.cuda_time_total
        if dev_us <= 0:
            continue
        rows.append({"kernel": a.key, "class": kind(a.key), "calls_per_forward": a.count / args.reps,
                     "ms_per_forward": dev_us / 1000 / args.reps})
    rows.sort(key=lambda r: -r["ms_per_forward"])
    mode = "eager" if args.eager else "compiled"
    print(f"PyTorch {torch.__version__} block, {mode}, L={L}, {torch.cuda.get_device_name()}: forward {fwd_ms:.2f} ms (median of {args.reps})")
    total = sum(r["ms_per_forward"] for r in rows)
    for c in ("attention", "gemm", "elementwise/norm", "other"):
        print(f"  {c:17s} {sum(r['ms_per_forward'] for r in rows if r['class'] == c):8.3f} ms")
    print(f"  {'all kernels':17s} {total:8.3f} ms")
    for r in rows:
        print(f"{r['ms_per_forward']:9.3f} ms {r['calls_per_forward']:5.1f}x  {r['class']:16s} {r['kernel'][:150]}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"tokens": L, "mode": mode, "forward_ms": fwd_ms, "kernels": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
