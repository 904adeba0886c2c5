#!/usr/bin/env python3
"""Which cuBLASLt kernels wan22's GEMM plans get, against PyTorch's F.linear at the same shapes (issue 14).

For each WAN 2.2 linear shape and epilogue, this script builds the matmul exactly as engine/cuda/shim.c's
wan22_lt_plan does (bf16 A/B/D, f32 compute and scale, W transposed, the pointers' alignments, a 32 MiB
workspace), asks cuBLASLt's heuristic for its first candidates, and for each candidate reports
  * its configuration (algo id, tile, stages, split-k, cluster shape) and its kernel's name (torch.profiler
    records every kernel of the process, cuBLASLt's included),
  * its time in a burst (one warm-up call, then three round-robin calls, median: what wan22's autotune sees),
  * its steady time (the GEMM run back to back for WARM seconds first, then the median of 20 event-timed calls).
It then times PyTorch's own F.linear (bf16, bf16 bias: cuBLASLt's gemm_and_bias) the same ways and names its
kernel. Everything runs in one process on one GPU, through the libcublasLt that PyTorch loaded.

Usage: python3 bench/torch/lt_probe.py [--candidates N] [--warm S] [--json OUT]
"""
import argparse
import ctypes
import json
import statistics

import torch
import torch.nn.functional as F

from reference import timed_ms as steady_ms  # warm for S seconds, then the median of 20 event-timed calls

# (name, M, K, N, epilogue): the block's six 5120² linears, ffn.0 (whole and one 8192-row chunk as
# engine/dit runs it), ffn.2.
CASES = [
    ("5120x5120", 32760, 5120, 5120, "none"),
    ("5120x5120", 32760, 5120, 5120, "bias"),
    ("ffn.0", 32760, 5120, 13824, "bias"),
    ("ffn.0", 32760, 5120, 13824, "gelu_bias"),
    ("ffn.0 chunk", 8192, 5120, 13824, "gelu_bias"),
    ("ffn.0 chunk", 8192, 5120, 13824, "bias"),
    ("ffn.2", 32760, 13824, 5120, "bias"),
]

R_32F, R_16BF, COMPUTE_32F = 0, 14, 68
DESC_TRANSA, DESC_TRANSB, DESC_EPILOGUE, DESC_BIAS_POINTER, DESC_BIAS_DATA_TYPE = 3, 4, 7, 8, 26
EPILOGUE = {"none": 1, "bias": 4, "gelu_bias": 36}
PREF_MAX_WORKSPACE, PREF_ALIGN = 1, (5, 6, 7, 8)
CFG_ATTRS = [("id", 0), ("tile", 1), ("splitk", 2), ("reduction", 3), ("swizzle", 4), ("custom", 5), ("stages", 6),
             ("inner", 7), ("cluster", 8)]
WORKSPACE = 32 << 20


class Heuristic(ctypes.Structure):
    _fields_ = [("algo", ctypes.c_uint64 * 8), ("workspace", ctypes.c_size_t), ("state", ctypes.c_int),
                ("waves", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


def loaded_cublaslt():
    torch.randn(64, 64, device="cuda", dtype=torch.bfloat16) @ torch.randn(64, 64, device="cuda", dtype=torch.bfloat16)
    F.linear(torch.randn(64, 64, device="cuda", dtype=torch.bfloat16), torch.randn(64, 64, device="cuda", dtype=torch.bfloat16),
             torch.randn(64, device="cuda", dtype=torch.bfloat16))
    torch.cuda.synchronize()
    with open("/proc/self/maps") as f:
        for line in f:
            if "libcublasLt.so" in line:
                return line.split()[-1]
    raise SystemExit("lt_probe: PyTorch loaded no libcublasLt")


def check(st, what):
    if st != 0:
        raise RuntimeError(f"{what}: cuBLAS status {st}")


def alignment(ptr):
    a = 256
    while ptr % a:
        a //= 2
    return a


class Lt:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.path = path
        self.handle = ctypes.c_void_p()
        check(self.lib.cublasLtCreate(ctypes.byref(self.handle)), "cublasLtCreate")
        self.version = self.lib.cublasLtGetVersion()
        self.ws = torch.empty(WORKSPACE, dtype=torch.uint8, device="cuda")

    def set_desc(self, desc, attr, value, ctype):
        v = ctype(value)
        check(self.lib.cublasLtMatmulDescSetAttribute(desc, attr, ctypes.byref(v), ctypes.c_size_t(ctypes.sizeof(v))), f"desc attr {attr}")

    def plan(self, x, w, y, bias, epi, want):
        M, K = x.shape
        N = w.shape[0]
        lib = self.lib
        desc = ctypes.c_void_p()
        check(lib.cublasLtMatmulDescCreate(ctypes.byref(desc), COMPUTE_32F, R_32F), "desc")
        self.set_desc(desc, DESC_TRANSA, 1, ctypes.c_int)
        self.set_desc(desc, DESC_TRANSB, 0, ctypes.c_int)
        if epi != "none":
            self.set_desc(desc, DESC_EPILOGUE, EPILOGUE[epi], ctypes.c_uint32)
            self.set_desc(desc, DESC_BIAS_DATA_TYPE, R_16BF, ctypes.c_int)
            self.set_desc(desc, DESC_BIAS_POINTER, bias.data_ptr(), ctypes.c_void_p)
        lw, lx, ly = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.cublasLtMatrixLayoutCreate(ctypes.byref(lw), R_16BF, ctypes.c_uint64(K), ctypes.c_uint64(N), ctypes.c_int64(K)), "lw")
        check(lib.cublasLtMatrixLayoutCreate(ctypes.byref(lx), R_16BF, ctypes.c_uint64(K), ctypes.c_uint64(M), ctypes.c_int64(K)), "lx")
        check(lib.cublasLtMatrixLayoutCreate(ctypes.byref(ly), R_16BF, ctypes.c_uint64(N), ctypes.c_uint64(M), ctypes.c_int64(N)), "ly")
        pref = ctypes.c_void_p()
        check(lib.cublasLtMatmulPreferenceCreate(ctypes.byref(pref)), "pref")
        wsz = ctypes.c_size_t(WORKSPACE)
        check(lib.cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE, ctypes.byref(wsz), ctypes.c_size_t(ctypes.sizeof(wsz))), "pref ws")
        for attr, t in zip(PREF_ALIGN, (w, x, y, y)):
            a = ctypes.c_uint32(alignment(t.data_ptr()))
            check(lib.cublasLtMatmulPreferenceSetAttribute(pref, attr, ctypes.byref(a), ctypes.c_size_t(ctypes.sizeof(a))), "pref align")
        hs = (Heuristic * want)()
        found = ctypes.c_int(0)
        check(lib.cublasLtMatmulAlgoGetHeuristic(self.handle, desc, lw, lx, ly, ly, pref, want, hs, ctypes.byref(found)), "heuristic")
        lib.cublasLtMatmulPreferenceDestroy(pref)
        algos = [hs[i] for i in range(found.value) if hs[i].state == 0 and hs[i].workspace <= WORKSPACE]
        return desc, (lw, lx, ly), algos

    def config(self, h):
        out = {}
        for name, attr in CFG_ATTRS:
            out[name] = None
            for ctype in (ctypes.c_uint32, ctypes.c_uint16):  # the inner and cluster shape ids are 16-bit
                v = ctype(0)
                written = ctypes.c_size_t(0)
                st = self.lib.cublasLtMatmulAlgoConfigGetAttribute(ctypes.byref(h.algo), attr, ctypes.byref(v), ctypes.c_size_t(ctypes.sizeof(v)), ctypes.byref(written))
                if st == 0:
                    out[name] = v.value
                    break
        out["workspace"] = h.workspace
        out["waves"] = round(h.waves, 3)
        return out

    def matmul(self, desc, layouts, algo, x, w, y):
        lw, lx, ly = layouts
        one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
        st = self.lib.cublasLtMatmul(self.handle, desc, ctypes.byref(one), ctypes.c_void_p(w.data_ptr()), lw,
                                     ctypes.c_void_p(x.data_ptr()), lx, ctypes.byref(zero), ctypes.c_void_p(y.data_ptr()), ly,
                                     ctypes.c_void_p(y.data_ptr()), ly, ctypes.byref(algo), ctypes.c_void_p(self.ws.data_ptr()),
                                     ctypes.c_size_t(WORKSPACE), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
        check(st, "cublasLtMatmul")


def burst_ms(fns, rounds=3):
    for fn in fns:
        fn()
    ev = [[(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in fns] for _ in range(rounds)]
    for r in range(rounds):
        for i, fn in enumerate(fns):
            ev[r][i][0].record()
            fn()
            ev[r][i][1].record()
    torch.cuda.synchronize()
    return [statistics.median(ev[r][i][0].elapsed_time(ev[r][i][1]) for r in range(rounds)) for i in range(len(fns))]


def kernel_names(fn):
    """The GPU kernels fn launches (as bench/torch/profile_block.py reads them: rows with device time)."""
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = []
    for a in prof.key_averages():
        dev_us = getattr(a, "device_time_total", None)
        if dev_us is None:
            dev_us = a.cuda_time_total
        if dev_us > 0:
            names.append(a.key)
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--warm", type=float, default=0.5)
    ap.add_argument("--json")
    a = ap.parse_args()
    lt = Lt(loaded_cublaslt())
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, {lt.path} (version {lt.version})")
    g = torch.Generator(device="cuda").manual_seed(1)
    big_x = torch.randn(32760 * 13824, device="cuda", dtype=torch.bfloat16, generator=g)
    big_w = torch.randn(13824 * 5120, device="cuda", dtype=torch.bfloat16, generator=g) * 0.02
    big_y = torch.empty(32760 * 13824, device="cuda", dtype=torch.bfloat16)
    bias_all = torch.randn(13824, device="cuda", dtype=torch.bfloat16, generator=g) * 0.1
    report = []
    for name, M, K, N, epi in CASES:
        x, w, y = big_x[: M * K].view(M, K), big_w[: N * K].view(N, K), big_y[: M * N].view(M, N)
        bias = bias_all[:N]
        flops = 2.0 * M * N * K
        desc, layouts, algos = lt.plan(x, w, y, bias, epi, a.candidates)
        fns = [(lambda h=h: lt.matmul(desc, layouts, h.algo, x, w, y)) for h in algos]
        bursts = burst_ms(fns)
        rows = []
        for i, (h, fn) in enumerate(zip(algos, fns)):
            cfg = lt.config(h)
            names = kernel_names(fn)
            st = steady_ms(fn, a.warm)
            rows.append({"candidate": i, "config": cfg, "kernels": names, "burst_ms": bursts[i], "steady_ms": st,
                         "burst_tflops": flops / bursts[i] / 1e9, "steady_tflops": flops / st / 1e9})
        if epi == "none":
            tfn = lambda: torch.matmul(x, w.t(), out=y)
        elif epi == "bias":
            tfn = lambda: F.linear(x, w, bias)
        else:
            tfn = lambda: F.gelu(F.linear(x, w, bias), approximate="tanh")
        tnames = kernel_names(tfn)
        tb = burst_ms([tfn])[0]
        ts = steady_ms(tfn, a.warm)
        case = {"case": name, "M": M, "K": K, "N": N, "epilogue": epi, "candidates": rows,
                "torch": {"kernels": tnames, "burst_ms": tb, "steady_ms": ts, "steady_tflops": flops / ts / 1e9}}
        report.append(case)
        print(f"\n{name} M={M} K={K} N={N} epilogue={epi}: {len(algos)} candidates")
        for r in rows:
            c = r["config"]
            kn = ";".join(k[:70] for k in r["kernels"])
            print(f"  #{r['candidate']} id={c['id']} tile={c['tile']} stages={c['stages']} splitk={c['splitk']} cluster={c['cluster']} "
                  f"ws={c['workspace']>>10}K burst {r['burst_ms']:.3f} ms ({r['burst_tflops']:.0f}) steady {r['steady_ms']:.3f} ms "
                  f"({r['steady_tflops']:.0f} TFLOP/s) {kn}")
        print(f"  torch: burst {tb:.3f} ms steady {ts:.3f} ms ({flops / ts / 1e9:.0f} TFLOP/s) " + ";".join(k[:70] for k in tnames))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cublaslt": lt.path,
                       "cublaslt_version": lt.version, "cases": report}, f, indent=1)


if __name__ == "__main__":
    main()
