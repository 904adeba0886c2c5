#!/usr/bin/env python3
"""PyTorch side of engine/dit's TestBlockVsTorchCUDA: one WAN 2.2 14B block served over a line protocol.

Builds bench/torch/dit_block.py's Block (spec/wan22.md §2.5, random bf16 weights, SDPA attention) for the
token grid of --tokens (32760: 480p 81 frames, grid 21x30x52; 75600: 720p 81 frames, grid 21x45x80), compiled
with torch.compile(mode="max-autotune-no-cudagraphs", dynamic=False) unless --eager, runs it until compiled
and warm (compiling takes minutes per shape; the inductor cache makes a second start on the same machine
faster), then answers on stdin/stdout, one line each way (internal/torchserver's protocol):

  ready:     {"ready": true, "tokens": L, "grid": [f, h, w], "mode": "compiled"|"eager", "gpu": ..., "torch": ...,
              "setup_s": seconds to build, compile and warm up, "base_bytes": memory allocated when idle}
  time N  -> {"ms": [N per-forward times], "peak_bytes": torch.cuda.max_memory_allocated() over the N, "finite":
              whether the last output is all finite}; each timed forward is queued right after an untimed
              forward of the same block, with no synchronization between them (the Go side does the same),
              so every timed run starts with the GPU busy on the same work; the time is the CUDA-event
              interval around the timed forward.
  quit    -> exits 0.  A command it cannot run gets {"error": "..."} and the server stays up.

Only protocol lines go to stdout (the file descriptor is moved aside at start and fd 1 points at stderr, so
library and compiler output cannot interleave with them); progress goes to stderr.

Usage (normally started by the Go test): python3 bench/torch/block_server.py --tokens 32760 [--eager]
On the device:
  cd engine/dit && WAN22_BLOCK_VS_TORCH=1 ../../gpu-bin/p/dit.test -test.run TestBlockVsTorchCUDA -test.v -test.timeout 30m
(see engine/dit/block_vs_torch_cuda_test.go for its settings).
"""
import argparse
import json
import os
import sys
import time

# The protocol channel: a private copy of stdout; fd 1 (and sys.stdout) then go to stderr.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

import torch  # noqa: E402 (after the redirection, so nothing torch prints reaches the protocol channel)

from dit_block import GRIDS, block_inputs  # noqa: E402 (the block of the block benchmark)

WARMUP = 3  # forwards run before the ready line, after compilation


def send(obj):
    _proto.write(json.dumps(obj) + "\n")
    _proto.flush()


def log(msg):
    print(f"block_server: {msg}", file=sys.stderr, flush=True)


def main():
    by_tokens = {f * h * w: (f, h, w) for f, h, w in GRIDS}
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, required=True, help=f"token count, one of {sorted(by_tokens)}")
    ap.add_argument("--eager", action="store_true", help="run the block eagerly instead of compiled")
    args = ap.parse_args()
    if args.tokens not in by_tokens:
        sys.exit(f"block_server.py: --tokens {args.tokens} is not one of the benchmark's shapes {sorted(by_tokens)}")
    if not torch.cuda.is_available():
        sys.exit("block_server.py: PyTorch sees no CUDA device")
    f, h, w = by_tokens[args.tokens]
    L = args.tokens
    mode = "eager" if args.eager else "compiled"

    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(0)
    begin = time.perf_counter()
    with torch.inference_mode():
        blk, ctx, e0, freqs, x = block_inputs(g, f, h, w)
        fwd = blk.forward
        if not args.eager:
            fwd = torch.compile(blk.forward, mode="max-autotune-no-cudagraphs", dynamic=False)
            log(f"compiling the block for L={L} (max-autotune: minutes)...")
        for i in range(WARMUP):
            y = fwd(x, e0, ctx, freqs)
            torch.cuda.synchronize()
            log(f"warm-up forward {i + 1}/{WARMUP} done after {time.perf_counter() - begin:.1f} s")
        del y
        torch.cuda.empty_cache()  # give back what compilation and autotuning cached: the GPU is shared
        send({"ready": True, "tokens": L, "grid": [f, h, w], "mode": mode, "gpu": torch.cuda.get_device_name(),
              "torch": torch.__version__, "setup_s": time.perf_counter() - begin,
              "base_bytes": torch.cuda.memory_allocated()})

        while True:
            line = sys.stdin.readline()
            if not line:  # the client is gone
                return
            cmd = line.split()
            if cmd == ["quit"]:
                return
            if len(cmd) != 2 or cmd[0] != "time" or not cmd[1].isdigit() or int(cmd[1]) < 1:
                send({"error": f"unknown command {line.strip()!r}: give 'time N' (N >= 1) or 'quit'"})
                continue
            n = int(cmd[1])
            try:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
                ms = []
                for s, e in events:
                    fwd(x, e0, ctx, freqs)  # untimed: the GPU is busy with the same work when the timed one starts
                    s.record()
                    y = fwd(x, e0, ctx, freqs)
                    e.record()
                    e.synchronize()
                    ms.append(s.elapsed_time(e))
                finite = bool(torch.isfinite(y).all())
                del y
                send({"ms": ms, "peak_bytes": torch.cuda.max_memory_allocated(), "finite": finite})
            except Exception as err:  # noqa: BLE001 (reported to the client, which fails the test)
                send({"error": f"time {n}: {type(err).__name__}: {err}"})


if __name__ == "__main__":
    main()
