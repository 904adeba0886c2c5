#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, after scripts/gpu-test.sh built DIR (default gpu-bin):
# every CUDA test, then PyTorch's reference numbers and the benchmark report compared with them.
# Logs and JSON go to $OUT when set (the device tool's output folder), else to DIR/out.
# Usage: scripts/gpu-run.sh [DIR]
set -uo pipefail
bin=${1:-gpu-bin}
out=${OUT:-$bin/out}
mkdir -p "$out"
export WAN22_GOLDEN=${WAN22_GOLDEN:-$bin/golden}
py=${PYTHON:-python3}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader || true
# cuBLASLt: PyTorch's copy when the loader does not find one.
if [ -z "${WAN22_CUBLASLT:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublasLt.so.1[123]'; then
  for d in $($py -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    f=$(find "$d/nvidia" -name 'libcublasLt.so.1[123]' 2>/dev/null | sort -r | head -1)
    if [ -n "$f" ]; then export WAN22_CUBLASLT=$f; break; fi
  done
fi
echo "WAN22_CUBLASLT=${WAN22_CUBLASLT:-<loader search>}"

status=0
echo "==== tests ===="
"$bin/cuda.test" -test.v -test.count=1 -test.timeout 300s >"$out/tests.log" 2>&1 || status=1
grep -E '^(--- (FAIL|SKIP)|FAIL|ok|PASS)|relative L2|differ|Error' "$out/tests.log" | head -60
grep -c -- '--- PASS' "$out/tests.log" | sed 's/^/tests passed: /'
[ $status -ne 0 ] && echo "TESTS FAILED (full log in $out/tests.log)"
if [ -x "$bin/dit.test" ]; then
  "$bin/dit.test" -test.run 'CUDA$' -test.v -test.count=1 -test.timeout 300s >"$out/dit-tests.log" 2>&1 || status=1
  grep -E '^(--- (FAIL|SKIP|PASS)|FAIL|ok|PASS)|rel L2|release:' "$out/dit-tests.log" | head -40
fi

echo "==== PyTorch reference ===="
PYTHONUNBUFFERED=1 $py bench/torch/reference.py "$out/torch.json" || status=1

echo "==== benchmark report ===="
WAN22_CUDA_BENCH=1 WAN22_TORCH_JSON="$out/torch.json" WAN22_BENCH_OUT="$out/go-bench.json" \
  "$bin/cuda.test" -test.run '^TestBenchReport$' -test.v -test.count=1 -test.timeout 300s >"$out/bench.log" 2>&1 || status=1
sed -n '/==== CUDA backend benchmark summary ====/,$p' "$out/bench.log" | grep -v '^=== \|^--- \|^PASS\|^ok' 
grep -E -- '--- FAIL|panic|Error' "$out/bench.log" | head -20

echo "==== cuBLASLt vs torch.matmul, alternating runs ===="
# GEMM speed on an H100 drifts by several percent with clocks and power from run to run; alternating the two
# programs and taking medians compares them under the same conditions.
alt=$(mktemp -d)
for i in 1 2 3; do
  PYTHONUNBUFFERED=1 $py bench/torch/reference.py "$alt/torch-gemm-$i.json" --gemm-only >/dev/null || status=1
  WAN22_CUDA_BENCH=gemm WAN22_BENCH_OUT="$alt/go-gemm-$i.json" \
    "$bin/cuda.test" -test.run '^TestBenchGemmLt$' -test.count=1 >"$alt/go-gemm-$i.log" 2>&1 || status=1
done
$py bench/torch/reference.py --compare "$alt" | tee "$out/gemm-alternating.txt" || status=1
exit $status
