#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root: wan22's block GEMMs against compiled PyTorch's (issue 14;
# docs/BENCHMARKS.md, "The GEMM question answered", which has this study's results on an H100).
#   1. bench/torch/lt_probe.py: the kernels and times of cuBLASLt's heuristic candidates for wan22's own
#      matmul recipe, next to PyTorch's F.linear, at the block's shapes and epilogues;
#   2. engine/cuda TestBenchGemmLt with the default plan, with the heuristic's first candidate only
#      (WAN22_CUBLASLT_CANDIDATES=1, what PyTorch does) and with GELU as a separate pass
#      (WAN22_CUBLASLT_GELU=separate), and the GELU tests under the separate pass;
#   3. the block against the compiled PyTorch block at L=32760 with each variant (engine/dit
#      TestBlockVsTorchCUDA; the first run compiles for minutes unless the inductor cache in /tmp is warm).
# DIR holds cuda.test and dit.test built with `go test -c -tags cuda` (scripts/gpu-test.sh builds them).
# Logs go to $OUT when set, else DIR/out. VARIANTS (default "default cand1 sep") picks the block runs;
# DEADLINE (seconds, default 570) skips what would not finish in time.
# Usage: scripts/gpu-gemm-study.sh [DIR]
set -uo pipefail
bin=$(cd "${1:-gpu-bin}" && pwd)
out=${OUT:-$bin/out}
mkdir -p "$out"
py=${PYTHON:-python3}
deadline=${DEADLINE:-570}
fits() { if ((SECONDS + $1 > deadline)); then echo "== skipped ($1 s needed, $((deadline - SECONDS)) s left)"; return 1; fi; }
envof() {
  case $1 in
  default) echo "" ;;
  cand1) echo "WAN22_CUBLASLT_CANDIDATES=1" ;;
  sep) echo "WAN22_CUBLASLT_GELU=separate" ;;
  *) echo "unknown variant $1" >&2; return 1 ;;
  esac
}
for v in ${VARIANTS:-default cand1 sep}; do envof "$v" >/dev/null || exit 2; done
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.draw --format=csv,noheader || true

echo "== cuBLASLt candidates against F.linear ($SECONDS s)"
timeout 200 "$py" bench/torch/lt_probe.py --json "$out/lt_probe.json" >"$out/lt_probe.log" 2>"$out/lt_probe.err"
echo "rc=$?"; cut -c1-330 "$out/lt_probe.log"; tail -3 "$out/lt_probe.err"

for v in default cand1 sep; do
  fits 40 || break
  echo "== TestBenchGemmLt, $v ($SECONDS s)"
  (cd engine/cuda && env $(envof $v) WAN22_CUDA_BENCH=gemm timeout 60 "$bin/cuda.test" -test.run TestBenchGemmLt -test.v \
    -test.count=1 >"$out/gemm_$v.log" 2>&1; echo "rc=$?")
  grep TFLOP "$out/gemm_$v.log"
done
if fits 40; then
  echo "== GELU tests with the separate pass ($SECONDS s)"
  (cd engine/cuda && timeout 60 "$bin/cuda.test" -test.run 'GemmGELU|LinearGELU|SeparateGELU' -test.v -test.count=1 \
    >"$out/gelu.log" 2>&1; echo "rc=$?")
  grep -E '^(--- |FAIL|ok)' "$out/gelu.log" | head
fi

compiled=0
for v in ${VARIANTS:-default cand1 sep}; do
  if ((compiled)); then fits 60 || break; else fits 240 || break; fi
  echo "== the block against compiled PyTorch, $v ($SECONDS s)"
  (cd engine/dit && env $(envof $v) WAN22_BLOCK_VS_TORCH=1 WAN22_BLOCK_VS_TORCH_L=${BL:-32760} \
    WAN22_BLOCK_VS_TORCH_ROUNDS=${ROUNDS:-4} WAN22_BACKEND_BENCH_OUT="$out" timeout $((deadline - SECONDS)) \
    "$bin/dit.test" -test.run TestBlockVsTorchCUDA -test.v -test.count=1 -test.timeout 30m \
    >"$out/vs_$v.log" 2>"$out/vs_$v.err"; echo "rc=$?")
  mv "$out/block_vs_torch.json" "$out/vs_$v.json" 2>/dev/null
  grep -i -E "ratio|median|fail|peak" "$out/vs_$v.log" | head -12
  compiled=1
done
echo "== done ($SECONDS s)"
