#!/usr/bin/env bash
# Builds and runs the attention check and benchmark on the device machine (nvcc 13, H100, PyTorch), from the
# repository root: bench/attention/run.sh [check|bench|sdpa ...] (default: all three).
#
# attn_test loads the committed kernels/attention.ptx (compute_80, what ships for every GPU) and
# kernels/sm90a/attention.ptx (wgmma, rebuilt here first with ptx_sm90a.sh) through cuModuleLoadDataEx,
# checks every entry point of each against a double-precision CPU reference over the shape table, then times
# them at the WAN 2.2 lengths; sdpa_ref.py times PyTorch's SDPA the same way and prints the ratios. An
# sm90a module that fails its check is left out of the benchmark. Logs, the timings file and the rebuilt
# sm90a PTX go to $OUT when set (the device tool's output folder), else gpu-bin/.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-bin}
mkdir -p gpu-bin "$out"
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(check bench sdpa)

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader || true
nvcc --version | tail -1
nvcc -O2 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o gpu-bin/attn_test bench/attention/attn_test.cu \
  -L/usr/local/cuda/lib64/stubs -lcuda || exit 1
modules=kernels/attention.ptx
sm90a=0
if bench/attention/ptx_sm90a.sh && cp kernels/sm90a/attention.ptx "$out/attention_sm90a.ptx"; then
  sm90a=1
fi

rc=0
for s in "${steps[@]}"; do
  case $s in
    check)
      OMP_NUM_THREADS=$(nproc) timeout 300 gpu-bin/attn_test check kernels/attention.ptx 2>&1 | tee "$out/check.log" || rc=1
      if [ $sm90a = 1 ]; then
        if OMP_NUM_THREADS=$(nproc) timeout 120 gpu-bin/attn_test check kernels/sm90a/attention.ptx 2>&1 |
          tee "$out/check_sm90a.log"; then
          modules=$modules,kernels/sm90a/attention.ptx
        else
          echo "run.sh: the sm90a module failed its check; benchmarking the compute_80 module only"
          rc=1
        fi
      fi ;;
    bench) [ $sm90a = 1 ] && ptxas -arch=sm_90a -v kernels/sm90a/attention.ptx -o /dev/null 2>&1 |
        grep -iE "wgmma|registers|spill|warn" | tee "$out/ptxas_sm90a.log"
      timeout 300 gpu-bin/attn_test bench "$modules" "$out/attn_bench.txt" 2>&1 | tee "$out/bench.log" || rc=1 ;;
    sdpa) PYTHONUNBUFFERED=1 timeout 300 python3 bench/attention/sdpa_ref.py --ours "$out/attn_bench.txt" 2>&1 |
      tee "$out/sdpa.log" || rc=1 ;;
    *) echo "run.sh: unknown step $s" >&2; rc=2 ;;
  esac
done
exit $rc
