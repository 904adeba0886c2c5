#!/usr/bin/env bash
# GPU tests and benchmarks of the CUDA engine.Backend (engine/cuda/backend*.go) with the DiT and the umT5
# encoder on it. Two halves, because the device machine has no Go:
#
#   scripts/gpu-backend.sh build        here: test binaries and the golden files they read into gpu-bin/i45
#   scripts/gpu-backend.sh [STEP ...]   there (device tool, carry gpu-bin/i45), from the repository root:
#       test      op-by-op tests against the CPU reference, DiT and umT5 golden cases on the GPU
#       bench     bench-dit and bench-t5: one full-size DiT block (480p, 720p; bf16 and Q8_0) with its op
#                 profile and flash attention alone; the umT5-XXL encoder on a 512-token prompt
#       torch     torch-dit and torch-t5: bench/torch/dit_block.py and bench/torch/umt5.py
#     (default: test bench torch). Logs and JSON land in $OUT (the device tool's output folder) or
#     gpu-bin/i45/out.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=gpu-bin/i45

if [ "${1:-}" = build ]; then
  set -e
  mkdir -p "$dir/golden"
  for p in cuda dit t5; do
    go test -c -tags cuda -ldflags="-s -w" -o "$dir/$p.test" "./engine/$p"
  done
  golden=${WAN22_GOLDEN:-$top/../shared/golden}
  for f in dit_tiny_f32.gguf dit_tiny_q8_0.gguf dit_tiny_cases.safetensors t5_tiny_f32.gguf t5_tiny_cases.safetensors; do
    cp -f "$golden/$f" "$dir/golden/"
  done
  du -sh "$dir"
  exit 0
fi

out=${OUT:-$dir/out}
mkdir -p "$out"
export WAN22_GOLDEN=$top/$dir/golden
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(test bench torch)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,memory.used --format=csv,noheader || true
rc=0
for s in "${steps[@]}"; do
  case $s in
    test)
      timeout 240 "$dir/cuda.test" -test.run 'TestBackend' -test.v -test.count=1 >"$out/test_cuda.log" 2>&1 || rc=1
      (cd engine/dit && timeout 120 "$top/$dir/dit.test" -test.run 'TestGoldenCUDA' -test.v -test.count=1) >"$out/test_dit.log" 2>&1 || rc=1
      (cd engine/t5 && timeout 120 "$top/$dir/t5.test" -test.run 'TestGoldenCUDA' -test.v -test.count=1) >"$out/test_t5.log" 2>&1 || rc=1
      grep -hE '^(--- |ok|FAIL|PASS|panic)|rel L2|error|flash kernels' "$out"/test_*.log | grep -v '^=== ' | tail -80
      ;;
    bench) set -- bench-dit bench-t5; for b in "$@"; do "$0" "$b" || rc=1; done ;;
    torch) set -- torch-dit torch-t5; for b in "$@"; do "$0" "$b" || rc=1; done ;;
    bench-dit | bench-t5)
      pkg=${s#bench-}
      test=TestCUDABlockBench
      [ "$pkg" = t5 ] && test=TestCUDAEncoderBench
      (cd "engine/$pkg" && WAN22_BACKEND_BENCH=1 WAN22_BACKEND_BENCH_OUT=$out timeout 300 "$top/$dir/$pkg.test" \
        -test.run "$test" -test.v -test.timeout 10m) >"$out/bench_$pkg.log" 2>&1 || rc=1
      grep -hE 'ms|GiB|^(--- |ok|FAIL|panic)' "$out/bench_$pkg.log" | grep -v -e '^=== ' -e 'autotune'
      ;;
    torch-dit)
      PYTHONUNBUFFERED=1 timeout 300 python3 bench/torch/dit_block.py "$out/dit_block_torch.json" >"$out/torch_dit.log" 2>&1 || rc=1
      cat "$out/torch_dit.log"
      ;;
    torch-t5)
      PYTHONUNBUFFERED=1 timeout 200 python3 bench/torch/umt5.py "$out/umt5_torch.json" >"$out/torch_t5.log" 2>&1 || rc=1
      cat "$out/torch_t5.log"
      ;;
    *) echo "gpu-backend.sh: unknown step $s" >&2; rc=2 ;;
  esac
done
exit $rc
