#!/usr/bin/env bash
# One device run for the kernel work of issues 13 and 14, from the repository root, with gpu-bin/pack.tgz
# (wan22-cuda, cuda.test, dit.test and golden/, built here: go build -tags cuda / go test -c -tags cuda).
# Logs and the PTX built with the device's nvcc (sm90a and sm89 modules) go to $OUT. Each step has its own
# time limit so that the whole run stays under the device tool's 600 s.
set -uo pipefail
out=${OUT:-gpu-bin/out}; mkdir -p "$out" gpu-bin/p
[ -x gpu-bin/p/cuda.test ] || tar -C gpu-bin/p -xzf gpu-bin/pack.tgz
export WAN22_GOLDEN=$PWD/gpu-bin/p/golden
t() { echo "== $* ($SECONDS s)"; }
# fits SECONDS: is there time for a step of that many seconds before DEADLINE (default 450 s)?
fits() { if (( SECONDS + $1 > ${DEADLINE:-450} )); then echo "== skipped: needs $1 s, $(( ${DEADLINE:-450} - SECONDS )) s left"; return 1; fi; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nvcc --version | tail -1
t ptx
timeout 120 scripts/ptx.sh sm90a/attention.cu sm89/attention8.cu 2>&1 | tail -5
mkdir -p "$out/ptx/sm90a" "$out/ptx/sm89"; cp kernels/sm90a/attention.ptx "$out/ptx/sm90a/"; cp kernels/sm89/attention8.ptx "$out/ptx/sm89/" 2>/dev/null
t attn_test build
timeout 120 nvcc -O2 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o gpu-bin/attn_test bench/attention/attn_test.cu \
  -L/usr/local/cuda/lib64/stubs -lcuda || exit 1
mods8=kernels/attention8.ptx; [ -f kernels/sm89/attention8.ptx ] && mods8=$mods8,kernels/sm89/attention8.ptx
t check 8-bit
OMP_NUM_THREADS=$(nproc) timeout 100 gpu-bin/attn_test check $mods8 > "$out/check8.log" 2>&1; echo rc=$?; tail -8 "$out/check8.log"
t check sm90a rebuilt
ATTN_ENTRIES=attn_b128_w12_s3gq_bf16 OMP_NUM_THREADS=$(nproc) timeout 40 gpu-bin/attn_test check kernels/sm90a/attention.ptx > "$out/check90.log" 2>&1; echo rc=$?; tail -3 "$out/check90.log"
t cuda.test
(cd engine/cuda && timeout 130 ../../gpu-bin/p/cuda.test -test.v -test.count=1 -test.timeout 125s > "$out/cuda-tests.log" 2>&1; echo rc=$?)
grep -E '^(--- FAIL|FAIL|ok|PASS)|panic' "$out/cuda-tests.log" | head -20; grep -c -- '--- PASS' "$out/cuda-tests.log"
t dit.test
(cd engine/dit && timeout 100 ../../gpu-bin/p/dit.test -test.run 'CUDA' -test.v -test.count=1 -test.timeout 95s > "$out/dit-tests.log" 2>&1; echo rc=$?)
grep -E '^(--- FAIL|FAIL|ok|PASS)|panic' "$out/dit-tests.log" | head -20; grep -c -- '--- PASS' "$out/dit-tests.log"
t lora block bench
fits 90 && {
(cd engine/dit && WAN22_BACKEND_BENCH=1 WAN22_BACKEND_BENCH_OUT=$out timeout 90 ../../gpu-bin/p/dit.test -test.v -test.timeout 85s -test.run 'TestLoRABenchCUDA' > "$out/lora-block.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$out/lora-block.log" | tail -22
}
t attn bench
fits 70 && {
ATTN_ENTRIES=attn_b256_w8_s3_bf16,attn_b128_w12_s3gq_bf16,attn8_b128_w8_s3_bf16,attn8_b256_w8_s3_bf16,attn8f_b128_w8_s3_bf16,attn8f_b256_w8_s3_bf16 \
  timeout 80 gpu-bin/attn_test bench kernels/attention.ptx,kernels/sm90a/attention.ptx,$mods8 "$out/attn8_bench.txt" > "$out/bench8.log" 2>&1
echo rc=$?; tail -30 "$out/bench8.log"
}
t attn8 backend timing
fits 50 && {
(cd engine/cuda && WAN22_CUDA_BENCH=attn8 timeout 60 ../../gpu-bin/p/cuda.test -test.run TestAttention8Bench -test.v > "$out/attn8-time.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$out/attn8-time.log" | tail -14
}
t lora gemm bench
fits 35 && {
(cd engine/cuda && WAN22_BACKEND_BENCH=1 timeout 40 ../../gpu-bin/p/cuda.test -test.v -test.run 'TestLoRAGemmBench' > "$out/lora-gemm.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$out/lora-gemm.log" | tail -20
}
t done
