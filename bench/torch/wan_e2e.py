#!/usr/bin/env python3
"""PyTorch reference for `wan22 bench`: the denoising time of WAN 2.2 I2V-A14B at the bench's full-size shapes.

Times one 14B DiT block (bench/torch/dit_block.py's Block: spec/wan22.md §2.5 with random bf16 weights, SDPA
attention) at the token counts of 832x480 at 81/161/241 frames and 1280x720 at 81 frames
(L = 32760, 63960, 95160, 75600), eager and compiled with torch.compile(mode="max-autotune-no-cudagraphs"),
without CFG (one forward) and with CFG (two forwards, conditional and unconditional context, as the official
pipeline runs them). Each time is a CUDA-event median after warm-ups (reference.timed_ms) and is scaled by the
40 blocks and the 40-step schedule: step_seconds = block_ms x 40 / 1000, schedule_seconds = step_seconds x 40.
The weights are resident in bf16 and the time outside the blocks (patch embedding, time and text embeddings,
head: well under 1% of a step) is not counted; wan22 bench's "wan22 denoise" column is the same part of its run.

No downloads, no diffusers: torch 2.x with CUDA only. The compiled runs compile once per shape and may take
minutes each; --no-compile skips them.

Usage: python3 bench/torch/wan_e2e.py [--no-compile] [--lengths 32760,75600] [--out torch.json]
Prints the JSON (schema wan22-torch-e2e/1) on stdout, progress on stderr; give the file to
`wan22 bench --torch-json FILE`.
"""
import argparse
import json
import sys

import torch

from dit_block import DIM, TEXT, Block, rope_freqs  # the block of the block benchmark
from reference import timed_ms  # CUDA-event median after warm-ups

BLOCKS, STEPS = 40, 40
SHAPES = [(832, 480, 81), (832, 480, 161), (832, 480, 241), (1280, 720, 81)]  # width, height, frames


def grid(w, h, frames):
    """The DiT's token grid: latent frames x patch rows x patch columns (VAE /4 in time, /8 and patch 2 in space)."""
    return (frames - 1) // 4 + 1, h // 16, w // 16


def tokens(shape):
    f, gh, gw = grid(*shape)
    return f * gh * gw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-compile", action="store_true", help="time the eager block only")
    ap.add_argument("--lengths", default="", help="comma-separated token counts to run (default: all four)")
    ap.add_argument("--out", default="", help="also write the JSON to this file")
    args = ap.parse_args()

    shapes = SHAPES
    if args.lengths:
        try:
            want = {int(v) for v in args.lengths.split(",")}
        except ValueError:
            sys.exit(f"wan_e2e.py: --lengths {args.lengths!r}: give token counts such as 32760,75600")
        known = {tokens(s) for s in SHAPES}
        if want - known:
            sys.exit(f"wan_e2e.py: --lengths {sorted(want - known)} not among the bench's shapes {sorted(known)}")
        shapes = [s for s in SHAPES if tokens(s) in want]
    if not torch.cuda.is_available():
        sys.exit("wan_e2e.py: needs a CUDA GPU")

    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(0)
    res = {"schema": "wan22-torch-e2e/1", "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
           "blocks": BLOCKS, "schedule_steps": STEPS, "entries": []}
    modes = ["eager"] if args.no_compile else ["eager", "compiled"]
    with torch.inference_mode():
        blk = Block(g)
        ctx = torch.randn(TEXT, DIM, device="cuda", generator=g).to(torch.bfloat16)
        ctx_null = torch.randn(TEXT, DIM, device="cuda", generator=g).to(torch.bfloat16)
        e0 = torch.randn(6, DIM, device="cuda", generator=g) * 0.05
        for w, h, frames in shapes:
            f, gh, gw = grid(w, h, frames)
            L = f * gh * gw
            freqs = rope_freqs(f, gh, gw)
            x = torch.randn(L, DIM, device="cuda", generator=g)
            reps = 5 if L < 40000 else 3
            for mode in modes:
                fwd = blk.forward
                if mode == "compiled":
                    torch._dynamo.reset()
                    fwd = torch.compile(blk.forward, mode="max-autotune-no-cudagraphs", dynamic=False)
                    print(f"compiling for L={L} (minutes)...", file=sys.stderr, flush=True)
                for cfg in (False, True):
                    if cfg:
                        def fn():
                            fwd(x, e0, ctx, freqs)
                            fwd(x, e0, ctx_null, freqs)
                    else:
                        def fn():
                            fwd(x, e0, ctx, freqs)
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    ms = timed_ms(fn, 1.0, reps)
                    peak = torch.cuda.max_memory_allocated()
                    step = ms * BLOCKS / 1000
                    res["entries"].append({"width": w, "height": h, "frames": frames, "tokens": L, "mode": mode, "cfg": cfg,
                                           "block_ms": ms, "step_seconds": step, "schedule_seconds": step * STEPS,
                                           "peak_bytes": peak})
                    print(f"{w}x{h} {frames:3d} frames L={L:6d} {mode:8s} cfg={cfg!s:5s}: block {ms:9.2f} ms, "
                          f"step {step:7.2f} s, {STEPS} steps {step * STEPS:8.1f} s, peak {peak / 2**30:.2f} GiB",
                          file=sys.stderr, flush=True)
            del x, freqs
            torch.cuda.empty_cache()
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
