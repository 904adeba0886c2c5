#!/usr/bin/env python3
"""PyTorch reference for engine/t5's TestCUDAEncoderBench: the umT5-XXL encoder (spec/wan22.md §6) with random
bf16 weights (vocab 256384, dim 4096, 64 heads of 64, FFN 10240, 24 layers, per-layer relative position
bias) encoding a 512-token prompt, in pure bf16 as wan/modules/t5.py runs it: T5 RMSNorm, unscaled q·kᵀ plus
the bucketed bias, fp32 softmax, gated GELU-tanh FFN, bf16 residual adds. Eager PyTorch.

Prints and writes the median time of Encode (event-timed, after a warm-up) and the peak GPU memory
(torch.cuda.max_memory_allocated, weights included). Usage: python3 bench/torch/umt5.py OUT.json
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from reference import timed_ms  # bench/torch/reference.py: CUDA-event median after warm-ups

VOCAB, DIM, HEADS, HD, FFN, LAYERS, BUCKETS, EPS, L = 256384, 4096, 64, 64, 10240, 24, 32, 1e-6, 512


def buckets(L):
    """bucket[i, j] of the offset j − i: bidirectional, 32 buckets, max distance 128 (spec §6.2)."""
    rel = torch.arange(L)[None, :] - torch.arange(L)[:, None]
    b = (rel > 0).long() * 16
    a = rel.abs()
    large = 8 + (torch.log(a.float() / 8) / math.log(128 / 8) * 8).long()
    large = torch.minimum(large, torch.full_like(large, 15))
    return (b + torch.where(a < 8, a, large)).cuda()


def rms(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(torch.bfloat16) * w


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "umt5_torch.json"
    g = torch.Generator(device="cuda").manual_seed(0)
    bf = torch.bfloat16

    def w(*shape, std=1.0, mean=0.0):
        return (torch.randn(*shape, device="cuda", generator=g) * std + mean).to(bf)

    with torch.inference_mode():
        emb = w(VOCAB, DIM)
        layers = []
        for _ in range(LAYERS):
            layers.append({
                "n1": w(DIM, std=0.1, mean=1), "q": w(DIM, DIM, std=DIM**-0.5), "k": w(DIM, DIM, std=DIM**-0.5),
                "v": w(DIM, DIM, std=DIM**-0.5), "o": w(DIM, DIM, std=DIM**-0.5), "rel": w(BUCKETS, HEADS, std=0.5),
                "n2": w(DIM, std=0.1, mean=1), "gate": w(FFN, DIM, std=DIM**-0.5), "up": w(FFN, DIM, std=DIM**-0.5),
                "down": w(DIM, FFN, std=FFN**-0.5)})
        norm = w(DIM, std=0.1, mean=1)
        weights = torch.cuda.memory_allocated()
        bk = buckets(L)
        ids = torch.randint(3, VOCAB, (L,), device="cuda", generator=g)
        mask = torch.ones(L, device="cuda", dtype=torch.long)

        def encode():
            x = emb[ids]
            neg = torch.zeros(L, device="cuda", dtype=bf).masked_fill(mask == 0, torch.finfo(bf).min)
            for p in layers:
                bias = p["rel"][bk].permute(2, 0, 1) + neg  # [H, L, L]
                h = rms(x, p["n1"])
                q, k, v = (F.linear(h, p[n]).view(L, HEADS, HD).transpose(0, 1) for n in "qkv")
                s = torch.matmul(q, k.transpose(1, 2)) + bias
                a = torch.matmul(F.softmax(s.float(), dim=-1).to(bf), v)
                x = x + F.linear(a.transpose(0, 1).reshape(L, DIM), p["o"])
                h = rms(x, p["n2"])
                x = x + F.linear(F.linear(h, p["up"]) * gelu_tanh(F.linear(h, p["gate"])), p["down"])
            return rms(x, norm)

        encode()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        ms = timed_ms(encode, 2, 5)
        peak = torch.cuda.max_memory_allocated()
    res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "tokens": L, "ms": ms,
           "weights_gib": weights / 2**30, "peak_gib": peak / 2**30}
    print(f"torch umT5-XXL bf16 {L} tokens: {res['ms']:.2f} ms, weights {res['weights_gib']:.2f} GiB, peak {res['peak_gib']:.2f} GiB", flush=True)
    with open(out_path, "w") as fh:
        json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
