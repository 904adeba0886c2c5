#!/usr/bin/env python3
"""Sustained dense GEMM throughput per data type on this GPU: the tensor limit under its power cap (issue 14).

8192^3 products back to back for SECONDS (default 15) each, in bf16 (torch.matmul), e4m3 (torch._scaled_mm, bf16
out) and int8 (torch._int_mm); TFLOP/s (TOP/s for int8) per batch of 40, then the first three and the median of
each kind. Run beside `nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_event_reasons.active -lms 250` to see the
clock the power cap leaves (docs/BENCHMARKS.md, "The physical limits of issue 14's goals").

    python3 bench/torch/gemm_sustained.py [SECONDS]
"""
import statistics, sys, time, torch
secs = float(sys.argv[1]) if len(sys.argv) > 1 else 15
n = 8192
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(), flush=True)
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
one = torch.ones((), device="cuda", dtype=torch.float32)
a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn).t().contiguous().t()
ai, bi = (a * 20).round().clamp(-127, 127).to(torch.int8), (b * 20).round().clamp(-127, 127).to(torch.int8).t().contiguous().t()
kinds = {
    "bf16": lambda: torch.matmul(a, b),
    "e4m3": lambda: torch._scaled_mm(a8, b8, one, one, out_dtype=torch.bfloat16),
    "int8": lambda: torch._int_mm(ai, bi),
}
for name, f in kinds.items():
    try:
        for _ in range(5): f()
        torch.cuda.synchronize()
    except Exception as e:
        print(f"{name}: unavailable: {e}", flush=True)
        continue
    rates = []
    t_end = time.time() + secs
    while time.time() < t_end:
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(40): f()
        e.record(); e.synchronize()
        rates.append(40 * 2 * n**3 / s.elapsed_time(e) / 1e9)
        print(f"{time.time():.2f} {name} {rates[-1]:.1f}", flush=True)
    print(f"SUMMARY {name}: first3 {' '.join(f'{r:.0f}' for r in rates[:3])} median {statistics.median(rates):.1f} "
          f"of {len(rates)} batches", flush=True)
    time.sleep(8)  # cool down a little between kinds
try:
    import flash_attn_interface  # FlashAttention-3, if this image has it
    print("flash_attn_interface present:", flash_attn_interface.__file__)
except Exception as e:
    print("no FlashAttention-3 module:", e)
import torch.nn.attention as tna
print("torch.nn.attention:", [x for x in dir(tna) if not x.startswith("_")])
