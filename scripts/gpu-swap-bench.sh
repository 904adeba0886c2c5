#!/usr/bin/env bash
# Usage on the GPU machine, after `make cuda` and `go test -c -tags cuda -o gpu-bin/dit.test ./engine/dit` here
# (copy bin/wan22-cuda to gpu-bin/, carry gpu-bin): OUT=results RUNS_F16=... RUNS_Q8=... scripts/gpu-swap-bench.sh
# Device run A: synthetic full-size experts, cold read speed, block-swap sweep (F16 then Q8_0).
set -uo pipefail
B=${GPUBIN:-gpu-bin}
nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv | tee $OUT/machine.txt
[ -f /tmp/f16.gguf ] || $B/wan22-cuda synth -type F16 /tmp/f16.gguf | tail -1
[ -f /tmp/q8.gguf ] || $B/wan22-cuda synth -type Q8_0 /tmp/q8.gguf | tail -1
(dd if=/tmp/f16.gguf of=/dev/null bs=64M count=96 iflag=direct 2>&1 | tail -1) | tee $OUT/coldread.txt
export WAN22_SWAP_STEPS=2
WAN22_SWAP_EXPERTS=F16=/tmp/f16.gguf WAN22_SWAP_RUNS="${RUNS_F16:-81x832x480@32}" WAN22_SWAP_OUT=$OUT/f16.jsonl \
  $B/dit.test -test.run TestSwapBenchCUDA -test.v -test.timeout 20m 2>&1 | grep -v autotune | grep -E "FAIL|panic|Error|error" | head
WAN22_SWAP_EXPERTS=Q8_0=/tmp/q8.gguf WAN22_SWAP_RUNS="${RUNS_Q8:-81x832x480@32}" WAN22_SWAP_OUT=$OUT/q8.jsonl \
  $B/dit.test -test.run TestSwapBenchCUDA -test.v -test.timeout 20m 2>&1 | grep -v autotune | grep -E "FAIL|panic|Error|error" | head
cat $OUT/f16.jsonl $OUT/q8.jsonl | cut -c1-600
