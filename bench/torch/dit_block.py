#!/usr/bin/env python3
"""PyTorch reference for engine/dit's TestCUDABlockBench: one WAN 2.2 14B DiT block, built from the spec.

The block follows spec/wan22.md §2.5 with random bf16 weights (dim 5120, 40 heads of 128, FFN 13824, 512 text
rows): LayerNorm without affine and the modulation in fp32, q/k/v/o Linear with bias in bf16, RMSNorm over
the full width (fp32 statistics, rounded to bf16, times the weight), RoPE as a complex multiply (complex64:
the official code uses complex128, which is slower still), scaled_dot_product_attention, the gated fp32
residual, cross-attention over the 512 text rows (norm3 with affine, no RoPE, no mask), and the GELU-tanh
FFN. Eager PyTorch, no torch.compile, as the official pipeline runs. It also times SDPA alone on
[1, 40, L, 128] bf16 (self-attention, and cross-attention over 512 keys).

Times are CUDA-event medians after warm-ups, on random data, at L = 32760 (480p, 81 frames) and 75600
(720p). Usage: python3 bench/torch/dit_block.py OUT.json
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

from reference import timed_ms  # bench/torch/reference.py: CUDA-event median after warm-ups

DIM, HEADS, HD, FFN, TEXT, EPS = 5120, 40, 128, 13824, 512, 1e-6
GRIDS = [(21, 30, 52), (21, 45, 80)]  # latent frames × patch rows × patch columns


def rope_freqs(f, h, w):
    """complex64 [L, 64]: the 3-D rotary angles of spec §2.7 for the tokens in (f, i, j) order."""
    c = HD // 2
    split = [c - 2 * (c // 3), c // 3, c // 3]

    def axis(n, positions):
        j = torch.arange(n, dtype=torch.float64)
        return torch.arange(positions, dtype=torch.float64)[:, None] * (10000.0 ** (-2 * j / (2 * n)))[None, :]

    tf, th, tw = axis(split[0], f), axis(split[1], h), axis(split[2], w)
    ang = torch.cat([
        tf[:, None, None, :].expand(f, h, w, split[0]),
        th[None, :, None, :].expand(f, h, w, split[1]),
        tw[None, None, :, :].expand(f, h, w, split[2]),
    ], dim=-1).reshape(f * h * w, c)
    return torch.polar(torch.ones_like(ang), ang).to(torch.complex64).cuda()


class Block:
    def __init__(self, g):
        def w(*shape, std):
            return (torch.randn(*shape, device="cuda", generator=g) * std).to(torch.bfloat16)

        s = 1 / math.sqrt(DIM)
        self.mod = torch.randn(6, DIM, device="cuda", generator=g) * s
        self.attn = {p: {n: (w(DIM, DIM, std=s), w(DIM, std=0.02)) for n in "qkvo"} for p in ("self", "cross")}
        self.norms = {p: (w(DIM, std=0.02) + 1, w(DIM, std=0.02) + 1) for p in ("self", "cross")}
        self.norm3 = (torch.randn(DIM, device="cuda", generator=g) * 0.02 + 1, torch.randn(DIM, device="cuda", generator=g) * 0.02)
        self.ffn0 = (w(FFN, DIM, std=s), w(FFN, std=0.02))
        self.ffn2 = (w(DIM, FFN, std=1 / math.sqrt(FFN)), w(DIM, std=0.02))

    @staticmethod
    def rms(x, weight):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).type_as(x) * weight

    @staticmethod
    def rope(x, freqs):
        L = x.shape[0]
        xc = torch.view_as_complex(x.float().reshape(L, HEADS, HD // 2, 2))
        return torch.view_as_real(xc * freqs[:, None, :]).reshape(L, DIM).to(torch.bfloat16)

    def attention(self, which, xq, xkv, freqs):
        p, (nq, nk) = self.attn[which], self.norms[which]
        q = self.rms(F.linear(xq, *p["q"]), nq)
        k = self.rms(F.linear(xkv, *p["k"]), nk)
        v = F.linear(xkv, *p["v"])
        if freqs is not None:
            q, k = self.rope(q, freqs), self.rope(k, freqs)
        Lq, Lk = q.shape[0], k.shape[0]
        o = F.scaled_dot_product_attention(
            q.view(1, Lq, HEADS, HD).transpose(1, 2), k.view(1, Lk, HEADS, HD).transpose(1, 2),
            v.view(1, Lk, HEADS, HD).transpose(1, 2), scale=1 / math.sqrt(HD))
        return F.linear(o.transpose(1, 2).reshape(Lq, DIM), *p["o"])

    def forward(self, x, e0, ctx, freqs):
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.mod + e0).unbind(0)
        a = (F.layer_norm(x, (DIM,), eps=EPS) * (1 + scale1) + shift1).to(torch.bfloat16)
        x = x + self.attention("self", a, a, freqs).float() * gate1
        n = F.layer_norm(x, (DIM,), *self.norm3, eps=EPS)
        x = x + self.attention("cross", n.to(torch.bfloat16), ctx, None).float()
        a = F.layer_norm(x, (DIM,), eps=EPS) * (1 + scale2) + shift2
        y = F.linear(F.gelu(F.linear(a.to(torch.bfloat16), *self.ffn0), approximate="tanh"), *self.ffn2)
        return x + y.float() * gate2


def block_inputs(g, f, h, w):
    """The block and its inputs for a (frames, rows, columns) token grid, drawn from the generator g in the
    order TestBlockVsTorchCUDA's server and profile_block.py share: Block, ctx [512, 5120] bf16, e0 [6, 5120],
    the rotary table, x [L, 5120] f32."""
    blk = Block(g)
    ctx = torch.randn(TEXT, DIM, device="cuda", generator=g).to(torch.bfloat16)
    e0 = torch.randn(6, DIM, device="cuda", generator=g) * 0.05
    freqs = rope_freqs(f, h, w)
    x = torch.randn(f * h * w, DIM, device="cuda", generator=g)
    return blk, ctx, e0, freqs, x


def block_flops(L):
    lin = 2 * L * DIM * DIM * 6 + 2 * TEXT * DIM * DIM * 2 + 2 * L * DIM * FFN * 2
    return lin + 4 * L * L * DIM + 4 * L * TEXT * DIM


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "dit_block_torch.json"
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(0)
    res = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "block": {}, "sdpa": {}}
    with torch.inference_mode():
        blk = Block(g)
        ctx = torch.randn(TEXT, DIM, device="cuda", generator=g).to(torch.bfloat16)
        e0 = torch.randn(6, DIM, device="cuda", generator=g) * 0.05
        for f, h, w in GRIDS:
            L = f * h * w
            freqs = rope_freqs(f, h, w)
            x = torch.randn(L, DIM, device="cuda", generator=g)
            reps = 5 if L < 40000 else 3
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            ms = timed_ms(lambda: blk.forward(x, e0, ctx, freqs), 1, reps)
            peak = torch.cuda.max_memory_allocated()
            res["block"][str(L)] = {"ms": ms, "tflops": block_flops(L) / ms / 1e9,
                                    "peak_gib": peak / 2**30, "peak_above_inputs_gib": (peak - base) / 2**30}
            print(f"torch block L={L:6d}: {ms:9.3f} ms {block_flops(L) / ms / 1e9:6.1f} TFLOP/s peak {peak / 2**30:.2f} GiB", flush=True)
            del x, freqs
            q, k, v = (torch.randn(1, HEADS, L, HD, device="cuda", generator=g).to(torch.bfloat16) for _ in range(3))
            for keys in (L, TEXT):
                kk, vv = k[:, :, :keys].contiguous(), v[:, :, :keys].contiguous()
                ms = timed_ms(lambda: F.scaled_dot_product_attention(q, kk, vv), 1, 3)
                tf = 4 * L * keys * HD * HEADS / ms / 1e9
                res["sdpa"][f"{L}x{keys}"] = {"ms": ms, "tflops": tf}
                print(f"torch sdpa  L={L:6d} keys={keys:6d}: {ms:9.3f} ms {tf:6.1f} TFLOP/s", flush=True)
            del q, k, v, kk, vv
            torch.cuda.empty_cache()
    with open(out_path, "w") as fh:
        json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
