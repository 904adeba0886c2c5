#!/usr/bin/env python3
"""A PyTorch Wan 2.1 VAE written from the spec (spec/wan22.md §5), the reference for docs/BENCHMARKS.md
("VAE on CUDA").

It runs the VAE the way the official code does: fp32 (TF32 convolutions, PyTorch's default), causal 3-D
convolutions with a 2-frame cache, encode in chunks of 1, 4, 4, … frames, decode one latent frame at a time
into a preallocated output on the GPU. Weights are random (seeded), with the real structure (dim 96, z 16) and
the official tensor names; `--save PATH` writes them as an F32 safetensors file, which the Go benchmark
(engine/vae TestBenchCUDA, WAN22_VAE_BENCH=PATH) loads so both run the same model.

Each case is timed once after a warm-up on a small video (wall clock around a synchronized run) with the peak
of torch.cuda.max_memory_allocated / max_memory_reserved over the run.

Usage: python3 bench/torch/wan_vae.py [--golden DIR] [--save PATH] [--json OUT] [CASE ...]
  --golden DIR first checks the model against the tiny golden VAE (vae_tiny*.safetensors in DIR).
  CASE: enc81@832x480 (encode 81 frames), dec81@832x480 (decode the 21 latent frames of 81 frames), …
"""
import argparse
import json
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CACHE_T = 2
MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
       3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


class CausalConv3d(nn.Conv3d):
    """Conv3d whose declared padding (pt, ph, pw) becomes zeros (2·pt in front, none behind) in time and
    (ph, pw) on each spatial side; a cache of up to 2 earlier frames replaces front zeros."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        pt, ph, pw = padding if isinstance(padding, tuple) else (padding,) * 3
        self.front = 2 * pt
        self.spatial = (pw, pw, ph, ph)

    def forward(self, x, cache=None):
        front = self.front
        if cache is not None and front > 0:
            x = torch.cat([cache, x], dim=2)
            front -= cache.shape[2]
        return super().forward(F.pad(x, self.spatial + (front, 0)))


class RMSNorm(nn.Module):
    def __init__(self, dim, images=False):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))
        self.scale = dim ** 0.5

    def forward(self, x):
        return F.normalize(x, dim=1) * self.scale * self.gamma


class State:
    """Per-video memory: each caching conv's last input frames, and which time resamplers started."""

    def __init__(self):
        self.cache = {}
        self.started = set()

    def conv(self, m, x):
        if m.front == 0:
            return m(x)
        old = self.cache.get(m)
        keep = x[:, :, -CACHE_T:]
        if keep.shape[2] < CACHE_T and old is not None:
            keep = torch.cat([old[:, :, -1:], keep], dim=2)
        y = m(x, old)
        self.cache[m] = keep.clone()
        return y


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(RMSNorm(cin), nn.SiLU(), CausalConv3d(cin, cout, 3, padding=1),
                                      RMSNorm(cout), nn.SiLU(), nn.Dropout(0.0), CausalConv3d(cout, cout, 3, padding=1))
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, st):
        r = self.residual
        h = st.conv(r[2], F.silu(r[0](x)))
        h = st.conv(r[6], F.silu(r[3](h)))
        return h + self.shortcut(x)


def per_frame(fn, x):
    b, c, t, h, w = x.shape
    y = fn(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
    return y.reshape(b, t, *y.shape[1:]).permute(0, 2, 1, 3, 4)


class AttentionBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x, st):
        def frame(f):
            n, c, h, w = f.shape
            q, k, v = self.to_qkv(self.norm(f)).reshape(n, 1, 3 * c, h * w).permute(0, 1, 3, 2).chunk(3, dim=-1)
            o = F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous())
            return self.proj(o.squeeze(1).permute(0, 2, 1).reshape(n, c, h, w))
        return x + per_frame(frame, x)


class Upsample(nn.Upsample):
    def forward(self, x):
        return super().forward(x.float()).type_as(x)


class Resample(nn.Module):
    def __init__(self, dim, mode):
        super().__init__()
        self.mode = mode
        if mode.startswith("down"):
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        else:
            self.resample = nn.Sequential(Upsample(scale_factor=2.0, mode="nearest-exact"), nn.Conv2d(dim, dim // 2, 3, padding=1))
        if mode == "downsample3d":
            self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1), padding=(0, 0, 0))
        elif mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x, st):
        if self.mode == "upsample3d":
            if self not in st.started:
                st.started.add(self)  # the first frame: no time conv, not part of the later frames' history
            else:
                x = st.conv(self.time_conv, x)
                b, c2, t, h, w = x.shape
                x = x.reshape(b, 2, c2 // 2, t, h, w)
                x = torch.stack((x[:, 0], x[:, 1]), 3).reshape(b, c2 // 2, 2 * t, h, w)
        x = per_frame(self.resample, x)
        if self.mode == "downsample3d":
            prev = st.cache.get(self)
            st.cache[self] = x[:, :, -1:].clone()
            if self not in st.started:
                st.started.add(self)  # frame 0 passes through and is the history of frame 1
                return x
            x = self.time_conv(torch.cat([prev, x], dim=2))  # valid, stride 2
        return x


class Encoder(nn.Module):
    def __init__(self, dim=96, z=16):
        super().__init__()
        dims = [dim * m for m in (1, 1, 2, 4, 4)]
        self.conv1 = CausalConv3d(3, dims[0], 3, padding=1)
        layers = []
        for i in range(4):
            cin, cout = dims[i], dims[i + 1]
            for _ in range(2):
                layers.append(ResidualBlock(cin, cout))
                cin = cout
            if i < 3:
                layers.append(Resample(cout, "downsample3d" if i > 0 else "downsample2d"))
        self.downsamples = nn.Sequential(*layers)
        top = dims[-1]
        self.middle = nn.Sequential(ResidualBlock(top, top), AttentionBlock(top), ResidualBlock(top, top))
        self.head = nn.Sequential(RMSNorm(top), nn.SiLU(), CausalConv3d(top, 2 * z, 3, padding=1))

    def forward(self, x, st):
        x = st.conv(self.conv1, x)
        for m in list(self.downsamples) + list(self.middle):
            x = m(x, st)
        return st.conv(self.head[2], F.silu(self.head[0](x)))


class Decoder(nn.Module):
    def __init__(self, dim=96, z=16):
        super().__init__()
        dims = [dim * m for m in (4, 4, 4, 2, 1)]
        self.conv1 = CausalConv3d(z, dims[0], 3, padding=1)
        top = dims[0]
        self.middle = nn.Sequential(ResidualBlock(top, top), AttentionBlock(top), ResidualBlock(top, top))
        layers = []
        for i in range(4):
            cin, cout = dims[i], dims[i + 1]
            if i in (1, 2, 3):
                cin //= 2
            for _ in range(3):
                layers.append(ResidualBlock(cin, cout))
                cin = cout
            if i < 3:
                layers.append(Resample(cout, "upsample3d" if i < 2 else "upsample2d"))
        self.upsamples = nn.Sequential(*layers)
        self.head = nn.Sequential(RMSNorm(dims[-1]), nn.SiLU(), CausalConv3d(dims[-1], 3, 3, padding=1))

    def forward(self, x, st):
        x = st.conv(self.conv1, x)
        for m in list(self.middle) + list(self.upsamples):
            x = m(x, st)
        return st.conv(self.head[2], F.silu(self.head[0](x)))


class WanVAE(nn.Module):
    def __init__(self, dim=96, z=16):
        super().__init__()
        self.z = z
        self.encoder = Encoder(dim, z)
        self.conv1 = CausalConv3d(2 * z, 2 * z, 1)
        self.conv2 = CausalConv3d(z, z, 1)
        self.decoder = Decoder(dim, z)

    @torch.no_grad()
    def encode(self, video):  # [1, 3, F, H, W] → normalized mu [1, z, T, H/8, W/8]
        st, outs, f = State(), [], video.shape[2]
        for i in range(1 + (f - 1) // 4):
            chunk = video[:, :, :1] if i == 0 else video[:, :, 1 + 4 * (i - 1):1 + 4 * i]
            outs.append(self.encoder(chunk, st))
        mu = self.conv1(torch.cat(outs, 2))[:, :self.z]
        mean = torch.tensor(MEAN, device=mu.device).view(1, -1, 1, 1, 1)
        inv = (1.0 / torch.tensor(STD, device=mu.device)).view(1, -1, 1, 1, 1)
        return (mu - mean) * inv

    @torch.no_grad()
    def decode(self, z):  # [1, z, T, h, w] → clamp(video) [1, 3, 1 + 4(T−1), 8h, 8w], kept on the GPU
        mean = torch.tensor(MEAN, device=z.device).view(1, -1, 1, 1, 1)
        inv = (1.0 / torch.tensor(STD, device=z.device)).view(1, -1, 1, 1, 1)
        x = self.conv2(z / inv + mean)
        t, h, w = z.shape[2:]
        out = torch.empty(1, 3, 1 + 4 * (t - 1), 8 * h, 8 * w, device=z.device)
        st, f0 = State(), 0
        for i in range(t):
            y = self.decoder(x[:, :, i:i + 1], st)
            out[:, :, f0:f0 + y.shape[2]] = y.clamp_(-1, 1)
            f0 += y.shape[2]
        return out


def save_safetensors(model, path):
    """Writes the state dict as an F32 safetensors file (the official names)."""
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    header, off = {}, 0
    for k, v in tensors.items():
        n = v.numel() * 4
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for v in tensors.values():
            f.write(v.numpy().tobytes())
    return len(tensors), sum(v.numel() for v in tensors.values())


def load_safetensors(path):
    """Reads an F32 safetensors file into a dict of CPU tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(v["shape"])
    return out


def check_golden(folder):
    """Runs the tiny golden VAE (dim 16) on both cases in fp32 without TF32: the model matches the spec."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = WanVAE(dim=16)
    model.load_state_dict(load_safetensors(folder + "/vae_tiny.safetensors"), strict=True)
    model = model.to(dev).eval()
    cases = load_safetensors(folder + "/vae_tiny_cases.safetensors")
    rel = lambda a, b: ((a - b).norm() / b.norm()).item()
    for c in ("case0", "case1"):
        lat = model.encode(cases[c + ".video"][None].to(dev))[0].cpu()
        dec = model.decode(cases[c + ".z"][None].to(dev))[0].cpu()
        e1, e2 = rel(lat, cases[c + ".latent"]), rel(dec, cases[c + ".decoded"])
        print(f"wan_vae.py golden {c}: encode rel L2 {e1:.3g}, decode rel L2 {e2:.3g}", flush=True)
        assert e1 < 1e-4 and e2 < 1e-4, "the PyTorch VAE does not match the golden reference"
    torch.backends.cudnn.allow_tf32 = True


# The decoder's heaviest convolutions at 832×480 (engine/cuda TestConvBench): name, Cin, Cout, frames in
# (cache included), H, W of the conv's input frame, taps in time, upsampled.
CONV_SHAPES = [("96-96@480x832x4", 96, 96, 6, 480, 832, 3, False), ("192-192@240x416x4", 192, 192, 6, 240, 416, 3, False),
               ("384-384@120x208x2", 384, 384, 4, 120, 208, 3, False), ("384-384@60x104x1", 384, 384, 3, 60, 104, 3, False),
               ("up192-96@480x832x4", 192, 96, 4, 240, 416, 1, True), ("96-3@480x832x4", 96, 3, 6, 480, 832, 3, False)]


def bench_convs():
    """Times F.conv3d (fp32 with TF32, and bf16) at CONV_SHAPES: median of 10 event-timed runs."""
    def timed(fn):
        for _ in range(2):
            fn()
        ts = []
        for _ in range(10):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b))
        return sorted(ts)[len(ts) // 2]
    for name, cin, cout, t, h, w, kt, up in CONV_SHAPES:
        if up:
            h, w = 2 * h, 2 * w
        x = torch.randn(1, cin, t, h + 2, w + 2, device="cuda")
        wt = torch.randn(cout, cin, kt, 3, 3, device="cuda") * 0.05
        flop = 2 * cout * cin * kt * 9 * (t - kt + 1) * h * w
        row = []
        for dt in (torch.float32, torch.bfloat16):
            xd, wd = x.to(dt), wt.to(dt)
            ms = timed(lambda: F.conv3d(xd, wd))
            row.append(f"{str(dt)[6:]} {ms:8.3f} ms {flop / ms / 1e9:6.1f} TFLOP/s")
        print(f"torch conv {name:20s}: " + ", ".join(row), flush=True)
        del x, wt, xd, wd
    torch.cuda.empty_cache()


def parse_case(c):
    kind, rest = c.split("@")
    w, h = (int(s) for s in rest.split("x"))
    return kind[:3], int(kind[3:]), w, h


def run_case(model, case, gen):
    kind, frames, w, h = parse_case(case)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    if kind == "enc":
        x = torch.rand(1, 3, frames, h, w, device="cuda", generator=gen) * 2 - 1
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        y = model.encode(x)
    else:
        t = 1 + (frames - 1) // 4
        x = torch.randn(1, 16, t, h // 8, w // 8, device="cuda", generator=gen)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        y = model.decode(x)
    torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    assert torch.isfinite(y).all(), case
    res = {"case": case, "seconds": sec, "peak_alloc": torch.cuda.max_memory_allocated(),
           "peak_reserved": torch.cuda.max_memory_reserved(), "out_shape": list(y.shape)}
    del x, y
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save")
    ap.add_argument("--json")
    ap.add_argument("--convs", action="store_true", help="time F.conv3d at the decoder's layer shapes")
    ap.add_argument("--golden", help="check the model on the tiny golden VAE in this folder first")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if a.golden:
        check_golden(a.golden)
    if a.convs:
        bench_convs()
    torch.manual_seed(0)
    model = WanVAE().eval()
    if a.save:
        n, p = save_safetensors(model, a.save)
        print(f"wan_vae.py: saved {n} tensors, {p} params to {a.save}", flush=True)
    if not a.cases:
        return
    if not torch.cuda.is_available():
        sys.exit("wan_vae.py: PyTorch sees no CUDA device")
    model = model.cuda()
    gen = torch.Generator(device="cuda").manual_seed(1)
    weights = torch.cuda.memory_allocated()
    run_case(model, "enc5@64x64", gen)  # warm-up: kernels, cuDNN plans
    run_case(model, "dec9@64x64", gen)
    results = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "weights_bytes": weights,
               "cudnn_tf32": torch.backends.cudnn.allow_tf32, "cases": []}
    for c in a.cases:
        r = run_case(model, c, gen)
        results["cases"].append(r)
        print(f"torch {c}: {r['seconds']:.2f} s, peak allocated {r['peak_alloc'] / 2**30:.2f} GiB, "
              f"reserved {r['peak_reserved'] / 2**30:.2f} GiB", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
