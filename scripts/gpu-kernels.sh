#!/usr/bin/env bash
# Device run for the kernel work of issues 13 and 14, from the repository root, with gpu-bin/pack.tgz
# (wan22-cuda, cuda.test, dit.test, golden/ — made here by scripts/gpu-pack.sh). Logs and the rebuilt
# sm90a PTX go to $OUT. PART=k1: attention kernels (sm90a rebuild and check, attention8 check and
# timing), the engine/cuda GPU tests and the 8-bit attention backend timing; PART=k2: the DiT GPU tests
# (golden bf16/int8/fp8 attention, LoRA), the LoRA benchmarks, then gpu-e2e-table.sh's distill phase.
set -uo pipefail
out=${OUT:-gpu-bin/out}; mkdir -p "$out" gpu-bin/p
[ -x gpu-bin/p/cuda.test ] || tar -C gpu-bin/p -xzf gpu-bin/pack.tgz
export WAN22_GOLDEN=$PWD/gpu-bin/p/golden
t() { echo "== $* ($SECONDS s)"; }
case ${PART:-k1} in
k1)
  t attn_test build
  nvcc -O2 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o gpu-bin/attn_test bench/attention/attn_test.cu \
    -L/usr/local/cuda/lib64/stubs -lcuda || exit 1
  bench/attention/ptx_sm90a.sh && cp kernels/sm90a/attention.ptx "$out/attention_sm90a.ptx"
  t check attention8
  OMP_NUM_THREADS=$(nproc) timeout 150 gpu-bin/attn_test check kernels/attention8.ptx > "$out/check8.log" 2>&1; echo rc=$?
  tail -12 "$out/check8.log"
  t check sm90a
  ATTN_ENTRIES=attn_b128_w12_s3gq_bf16,attn_b128_w8_s3g_bf16 OMP_NUM_THREADS=$(nproc) timeout 90 \
    gpu-bin/attn_test check kernels/sm90a/attention.ptx > "$out/check90.log" 2>&1; echo rc=$?; tail -4 "$out/check90.log"
  t bench
  ATTN_ENTRIES=attn_b256_w8_s3_bf16,attn_b128_w4_s2_bf16,attn_b128_w12_s3gq_bf16,attn8_b128_w8_s3_bf16,attn8_b128_w4_s3_bf16,attn8_b256_w8_s3_bf16 \
    timeout 150 gpu-bin/attn_test bench kernels/attention.ptx,kernels/sm90a/attention.ptx,kernels/attention8.ptx "$out/attn8_bench.txt" > "$out/bench8.log" 2>&1
  echo rc=$?; tail -30 "$out/bench8.log"
  t cuda.test
  (cd engine/cuda && timeout 200 ../../gpu-bin/p/cuda.test -test.v -test.count=1 -test.timeout 190s > "$out/cuda-tests.log" 2>&1; echo rc=$?)
  grep -E '^(--- FAIL|FAIL|ok|PASS)|panic' "$out/cuda-tests.log" | head -20
  grep -c -- '--- PASS' "$out/cuda-tests.log"; grep -E "relative|L2|err" "$out/cuda-tests.log" | grep -i "attention8\|int8\|fp8\|bf16" | head -30
  t attn8 timing
  (cd engine/cuda && WAN22_CUDA_BENCH=attn8 timeout 120 ../../gpu-bin/p/cuda.test -test.run TestAttention8Bench -test.v > "$out/attn8-time.log" 2>&1; echo rc=$?)
  grep -v "^=== RUN" "$out/attn8-time.log" | tail -20 ;;
k2)
  t dit tests
  (cd engine/dit && timeout 240 ../../gpu-bin/p/dit.test -test.run 'CUDA' -test.v -test.count=1 -test.timeout 230s > "$out/dit-tests.log" 2>&1; echo rc=$?)
  grep -E '^(--- FAIL|FAIL|ok|PASS|--- SKIP)|panic' "$out/dit-tests.log" | head -20; grep -c -- '--- PASS' "$out/dit-tests.log"
  grep -iE "int8|fp8|relative|L2" "$out/dit-tests.log" | head -20
  t lora gemm bench
  (cd engine/cuda && WAN22_BACKEND_BENCH=1 timeout 120 ../../gpu-bin/p/cuda.test -test.v -test.run 'TestLoRAGemmBench' > "$out/lora-gemm.log" 2>&1; echo rc=$?)
  grep -v "^=== RUN" "$out/lora-gemm.log" | tail -30
  t lora block bench
  (cd engine/dit && WAN22_BACKEND_BENCH=1 WAN22_BACKEND_BENCH_OUT=$out timeout 240 ../../gpu-bin/p/dit.test -test.v -test.timeout 230s -test.run 'TestLoRABenchCUDA' > "$out/lora-block.log" 2>&1; echo rc=$?)
  grep -v "^=== RUN" "$out/lora-block.log" | tail -30
  t distill
  GPUBIN=gpu-bin/p PHASE=distill LIMIT=$((575 - SECONDS)) TAIL=10 scripts/gpu-e2e-table.sh 2>&1 | grep -v INFO ;;
esac
t done
