#!/usr/bin/env bash
# One device run for the kernel work of issues 13 and 14, from the repository root, with gpu-bin/pack.tgz
# (wan22-cuda, cuda.test, dit.test, wan22.test (the root package) and golden/, built here: go build -tags cuda /
# go test -c -tags cuda). The PTX built with the device's nvcc (sm90a and sm89 modules) comes back as
# $OUT/sm90a_attention.ptx, $OUT/sm90a_attention8.ptx and $OUT/sm89_attention8.ptx, every log in $OUT/logs.tgz
# (the device tool returns at most 8 files). Each step has its own time limit so that the
# whole run stays under the device tool's 600 s; STEPS (default all) picks some by name:
#   ptx check8 attn8h prof cuda dit demo8 lora lora-old vstorch attn8 attn8time loragemm
# (attn8h: the Hopper INT8 kernels attn8h and attn8hi, module sm90a/attention8; run it after ptx, which
# builds it; after ptx the engine steps run on the new PTX through WAN22_PTX_DIR, and the returned PTX files
# are what to commit)
# (prof: Nsight Compute profiles (--set full) of one launch at 32760² of each of PROF_ENTRIES, default s3gt and
# attn8h: details page and the SASS with its stall samples, as text in the logs)
# (vstorch: TestBlockVsTorchCUDA at VSTORCH_L, not in the default set: torch.compile alone takes minutes, so
# run it with STEPS=vstorch; lora-old: gpu-bin/p/dit-old.test, a build of an earlier commit, for an A/B of the
# block on the same machine)
set -uo pipefail
out=${OUT:-gpu-bin/out}; mkdir -p "$out" gpu-bin/p
[ -x gpu-bin/p/cuda.test ] || tar -C gpu-bin/p -xzf gpu-bin/pack.tgz
export WAN22_GOLDEN=$PWD/gpu-bin/p/golden
t() { echo "== $* ($SECONDS s)"; }
# want NAME: is step NAME asked for (STEPS unset: all but vstorch)?
want() { if [ -z "${STEPS:-}" ]; then [ "$1" != vstorch ]; else [[ " $STEPS " == *" $1 "* ]]; fi; }
# fits SECONDS: is there time for a step of that many seconds before DEADLINE (default 450 s)?
fits() { if (( SECONDS + $1 > ${DEADLINE:-450} )); then echo "== skipped: needs $1 s, $(( ${DEADLINE:-450} - SECONDS )) s left"; return 1; fi; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nvcc --version | tail -1
logs=${LOGS:-$PWD/gpu-bin/logs}; mkdir -p "$logs"   # LOGS=$OUT returns each log as it is written
want ptx && {
t ptx
timeout 150 scripts/ptx.sh sm90a/attention.cu sm90a/attention8.cu sm89/attention8.cu 2>&1 | tail -5
for f in sm90a/attention sm90a/attention8 sm89/attention8; do cp "kernels/$f.ptx" "$out/${f/\//_}.ptx" 2>/dev/null; done
# (the device tool returns at most 8 files and nothing below a subfolder: the 3 PTX files come back flat, as
# sm90a_attention.ptx …; with LOGS=$OUT, fewer logs make room for them)
# The engine steps below load the modules just built instead of those embedded in the pack's binaries.
export WAN22_PTX_DIR=$PWD/kernels
}
mods8=kernels/attention8.ptx; [ -f kernels/sm89/attention8.ptx ] && mods8=$mods8,kernels/sm89/attention8.ptx
want check8 || want attn8 || want attn8h || want prof && [ bench/attention/attn_test.cu -nt gpu-bin/attn_test ] && {
t attn_test build
timeout 120 nvcc -O2 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o gpu-bin/attn_test bench/attention/attn_test.cu \
  -L/usr/local/cuda/lib64/stubs -lcuda || exit 1
}
want check8 && {
t check 8-bit
OMP_NUM_THREADS=$(nproc) timeout 100 gpu-bin/attn_test check $mods8 > "$logs/check8.log" 2>&1; echo rc=$?; tail -12 "$logs/check8.log"
t check sm90a rebuilt
ATTN_ENTRIES=${CHECK90:-attn_b128_w12_s3gt_bf16,attn_b128_w12_s3gq_bf16} OMP_NUM_THREADS=$(nproc) timeout 60 gpu-bin/attn_test check kernels/sm90a/attention.ptx > "$logs/check90.log" 2>&1; echo rc=$?; tail -3 "$logs/check90.log"
}
want attn8h && {
t "attn8h, attn8hi (Hopper INT8, module sm90a/attention8): ptxas, check, bench against s3gt"
ptxas -arch=sm_90a -v kernels/sm90a/attention8.ptx -o /dev/null > "$logs/ptxas8h.log" 2>&1; echo "ptxas rc=$?"
grep -iE "error|warning|C75|registers|spill" "$logs/ptxas8h.log" | head -12
ATTN_ENTRIES=attn8h_b128_w12_s3gt_bf16,attn8hi_b128_w12_s3gt_bf16 OMP_NUM_THREADS=$(nproc) timeout 100 gpu-bin/attn_test check kernels/attention8.ptx,kernels/sm90a/attention8.ptx > "$logs/check8h.log" 2>&1; echo rc=$?; tail -4 "$logs/check8h.log"
ATTN_ENTRIES=attn8h_b128_w12_s3gt_bf16,attn8hi_b128_w12_s3gt_bf16,attn_b128_w12_s3gt_bf16 timeout 120 gpu-bin/attn_test bench kernels/attention8.ptx,kernels/sm90a/attention8.ptx,kernels/sm90a/attention.ptx "$logs/attn8h_bench.txt" > "$logs/bench8h.log" 2>&1; echo rc=$?; tail -20 "$logs/bench8h.log"
}
want prof && fits 300 && {
t "ncu profiles at 32760²: ${PROF_ENTRIES:=attn_b128_w12_s3gt_bf16 attn8h_b128_w12_s3gt_bf16}"
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ ! -x gpu-bin/attn_test ]; then echo "no attn_test: its build failed"
elif [ -z "$ncu" ]; then echo "no ncu"; else
for e in $PROF_ENTRIES; do
  mods=kernels/sm90a/attention.ptx; [[ $e == attn8* ]] && mods=kernels/attention8.ptx,kernels/sm90a/attention8.ptx
  ATTN_ENTRIES=$e timeout 150 "$ncu" --clock-control none --set full -k "regex:^$e\$" -s 1 -c 1 -f -o "gpu-bin/prof-$e" \
    gpu-bin/attn_test one $mods 32760 32760 > "$logs/prof-$e.log" 2>&1; echo "rc=$?"; tail -3 "$logs/prof-$e.log"
  "$ncu" -i "gpu-bin/prof-$e.ncu-rep" --page details > "$logs/prof-$e-details.txt" 2>&1
  "$ncu" -i "gpu-bin/prof-$e.ncu-rep" --page source --csv --print-source sass > "$logs/prof-$e-sass.csv" 2>&1
  grep -E "Duration|Compute \(SM\) Throughput|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|Registers Per|Local Memory Spill" "$logs/prof-$e-details.txt" | head -12
done; fi
}
want cuda && {
t cuda.test
(cd engine/cuda && timeout 130 ../../gpu-bin/p/cuda.test -test.v -test.count=1 -test.timeout 125s > "$logs/cuda-tests.log" 2>&1; echo rc=$?)
grep -E '^(--- FAIL|FAIL|ok|PASS)|panic' "$logs/cuda-tests.log" | head -20; grep -c -- '--- PASS' "$logs/cuda-tests.log"
grep -E 'relative|rel L2|PSNR' "$logs/cuda-tests.log" | head -30
}
want dit && {
t dit.test
(cd engine/dit && timeout 100 ../../gpu-bin/p/dit.test -test.run 'CUDA' -test.v -test.count=1 -test.timeout 95s > "$logs/dit-tests.log" 2>&1; echo rc=$?)
grep -E '^(--- FAIL|FAIL|ok|PASS)|panic' "$logs/dit-tests.log" | head -20; grep -c -- '--- PASS' "$logs/dit-tests.log"
}
want demo8 && fits 60 && {
t demo int8/fp8 vs bf16
timeout 60 gpu-bin/p/wan22.test -test.run TestDemoAttention8CUDA -test.v > "$logs/demo8.log" 2>&1; echo rc=$?
grep -E 'PSNR|FAIL|ok|PASS' "$logs/demo8.log" | head
}
want lora && fits 100 && {
t lora block bench
(cd engine/dit && WAN22_BACKEND_BENCH=1 WAN22_BACKEND_BENCH_OUT=$logs timeout 100 ../../gpu-bin/p/dit.test -test.v -test.timeout 95s -test.run 'TestLoRABenchCUDA' > "$logs/lora-block.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$logs/lora-block.log" | grep -E "median|profile|LinearLoRA|Linear |Attention|AddGated|LayerNorm|Modulate" | head -60
}
want lora-old && [ -x gpu-bin/p/dit-old.test ] && fits 100 && {
t lora block bench, the build before in gpu-bin/p/dit-old.test, same machine
(cd engine/dit && WAN22_BACKEND_BENCH=1 timeout 100 ../../gpu-bin/p/dit-old.test -test.v -test.timeout 95s -test.run 'TestLoRABenchCUDA' > "$logs/lora-block-old.log" 2>&1; echo rc=$?)
grep "median" "$logs/lora-block-old.log" | head -10
}
want vstorch && {
t "wan22 block vs the compiled PyTorch block, interleaved (L=${VSTORCH_L:-32760}; torch.compile takes minutes: run it alone)"
(cd engine/dit && WAN22_BLOCK_VS_TORCH=1 WAN22_BLOCK_VS_TORCH_L=${VSTORCH_L:-32760} WAN22_BACKEND_BENCH_OUT=$logs \
  timeout ${VSTORCH_TIMEOUT:-540} ../../gpu-bin/p/dit.test -test.run TestBlockVsTorchCUDA -test.v -test.timeout 30m > "$logs/block-vs-torch.log" 2>&1; echo rc=$?)
grep -E "ratio|peak memory|FAIL|panic" "$logs/block-vs-torch.log" | head -10
}
want attn8 && fits 70 && {
ATTN_ENTRIES=attn_b256_w8_s3_bf16,attn_b128_w12_s3gq_bf16,attn8_b128_w8_s3_bf16,attn8_b256_w8_s3_bf16,attn8f_b128_w8_s3_bf16,attn8f_b256_w8_s3_bf16 \
  timeout 80 gpu-bin/attn_test bench kernels/attention.ptx,kernels/sm90a/attention.ptx,$mods8 "$logs/attn8_bench.txt" > "$logs/bench8.log" 2>&1
echo rc=$?; tail -30 "$logs/bench8.log"
}
want attn8time && fits 50 && {
t attn8 backend timing
(cd engine/cuda && WAN22_CUDA_BENCH=attn8 timeout 60 ../../gpu-bin/p/cuda.test -test.run TestAttention8Bench -test.v > "$logs/attn8-time.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$logs/attn8-time.log" | tail -14
}
want loragemm && fits 35 && {
t lora gemm bench
(cd engine/cuda && WAN22_BACKEND_BENCH=1 timeout 40 ../../gpu-bin/p/cuda.test -test.v -test.run 'TestLoRAGemmBench' > "$logs/lora-gemm.log" 2>&1; echo rc=$?)
grep -v "^=== RUN" "$logs/lora-gemm.log" | tail -20
}
[ "$logs" -ef "$out" ] || tar -C "$logs" -czf "$out/logs.tgz" .
t done
