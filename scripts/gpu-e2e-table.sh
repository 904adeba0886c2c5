#!/usr/bin/env bash
# Device runs behind docs/BENCHMARKS.md's full end-to-end table (issue 12) and the 4-step LoRA run (issue 13).
# Usage on the GPU machine, from the repository root, gpu-bin/ holding wan22-cuda (go build -tags cuda):
#   OUT=results PHASE=torch,f16-32 scripts/gpu-e2e-table.sh   (OUT defaults to gpu-bin/out)
# Phases (comma-separated, run in order; each is skipped when fewer than its seconds are left of LIMIT, 560 s):
#   torch    bench/torch/wan_e2e.py at L = 32760, eager and compiled, in the background while the synthetic
#            F16 expert, umT5-XXL and VAE are written to $SYNTH_DIR (default /tmp/bs)
#   f16-32   wan22 bench, F16 experts, 32 GiB: 81 f 480p (2+2 steps, with the PyTorch column when torch ran,
#            compared with the committed Q8_0 report), then 161 f 480p and 81 f 720p (1+1 steps)
#   f16-241  241 f 480p at 32 and 24 GiB (1+1 steps)
#   f16-low  81 f 480p at 24 and 16 GiB, 81 f 720p at 24 and 16 GiB (1+1 steps)
#   distill  4 steps, guidance 1, distill solver, a synthetic rank-64 LoRA per expert, 81 f 480p at 32 GiB:
#            run-time LoRA, then --lora-merge
#   q8-720   Q8_0 experts: 81 f 720p at 32, 24 and 16 GiB, 81 f 480p at 24 GiB (1+1 steps); then the Q8_0
#            expert is deleted to leave disk for the F16 one
#   f16-720-low  only the 720p half of f16-low
#   merge    only the --lora-merge half of distill
#   synth-f16    write the synthetic F16 expert now (it is otherwise written by the first bench that needs it)
set -uo pipefail
OUT=${OUT:-gpu-bin/out}; B=${GPUBIN:-gpu-bin}; D=${SYNTH_DIR:-/tmp/bs}; LIMIT=${LIMIT:-560}; mkdir -p "$D" "$OUT"
bench() { # name, needed seconds, bench arguments…
  local name=$1 need=$2; shift 2
  if (( SECONDS + need > LIMIT )); then echo "skip $name: $((LIMIT - SECONDS)) s left, needs $need"; return; fi
  local t=$SECONDS
  $B/wan22-cuda bench --synth-dir "$D" --no-history "$@" --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
  echo "== $name rc=$? $((SECONDS - t)) s"
  grep -v autotune "$OUT/$name.log" | tail -${TAIL:-14}
}
echo "disk: $(df -h /tmp | tail -1)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
for phase in ${PHASE//,/ }; do
  case $phase in
  torch)
    (cd bench/torch && python3 wan_e2e.py --lengths 32760 --out "$OUT/torch.json" > /dev/null 2> "$OUT/torch.log") &
    tp=$!
    for kind in "dit -type F16 -seed 1 $D/synth-dit-i2v-F16-seed1.gguf" "t5 -type Q8_0 -seed 1 $D/synth-umt5-Q8_0-seed1.gguf" "vae -type BF16 -seed 1 $D/synth-vae-wan21-BF16-seed1.safetensors"; do
      set -- $kind; k=$1; shift
      [ -f "${!#}" ] || $B/wan22-cuda synth -kind $k "$@" 2>&1 | tail -1
    done
    echo "synth done at $SECONDS s"; wait $tp; echo "torch rc=$? at $SECONDS s"; grep -v Warning "$OUT/torch.log" | tail -8 ;;
  f16-32)
    tj=(); [ -s "$OUT/torch.json" ] && tj=(--torch-json "$OUT/torch.json")
    bench f16-32-81 90 --expert-type F16 --frames 81 --vram-budget 32 --steps 2 "${tj[@]}" \
      --compare docs/bench/2026-12-06-h100-q8_0-32gib.json --html "$OUT/f16-32-81.html"
    bench f16-32-161 110 --expert-type F16 --frames 161 --vram-budget 32 --steps 1
    bench f16-32-720 120 --expert-type F16 --frames 81 --size 1280x720 --vram-budget 32 --steps 1 ;;
  f16-241)
    bench f16-32-241 160 --expert-type F16 --frames 241 --vram-budget 32 --steps 1
    bench f16-24-241 160 --expert-type F16 --frames 241 --vram-budget 24 --steps 1 ;;
  f16-low)
    bench f16-low-81 150 --expert-type F16 --frames 81 --vram-budget 24,16 --steps 1
    bench f16-low-720 200 --expert-type F16 --frames 81 --size 1280x720 --vram-budget 24,16 --steps 1 ;;
  distill)
    bench distill-lora 90 --expert-type F16 --frames 81 --vram-budget 32 --solver distill --synth-lora 64 --switch-step 2 \
      --compare docs/bench/2026-12-06-h100-f16-32-81.json
    bench distill-merge 110 --expert-type F16 --frames 81 --vram-budget 32 --solver distill --synth-lora 64 --switch-step 2 --lora-merge ;;
  q8-720)
    bench q8-720 250 --expert-type Q8_0 --frames 81 --size 1280x720 --vram-budget 32,24,16 --steps 1
    bench q8-24-81 70 --expert-type Q8_0 --frames 81 --vram-budget 24 --steps 1
    rm -f "$D"/synth-dit-i2v-Q8_0-*.gguf ;;
  f16-720-low)
    bench f16-low-720 200 --expert-type F16 --frames 81 --size 1280x720 --vram-budget 24,16 --steps 1 ;;
  merge)
    bench distill-merge 110 --expert-type F16 --frames 81 --vram-budget 32 --solver distill --synth-lora 64 --switch-step 2 --lora-merge ;;
  synth-f16)
    f=$D/synth-dit-i2v-F16-seed1.gguf
    if [ -f "$f" ]; then echo "have $f"; elif (( SECONDS + 120 > LIMIT )); then echo "skip synth-f16: $((LIMIT - SECONDS)) s left"
    else $B/wan22-cuda synth -kind dit -type F16 -seed 1 "$f" 2>&1 | tail -1; echo "synth-f16 done at $SECONDS s"; fi ;;
  *) echo "unknown phase $phase" ;;
  esac
done
echo "done at $SECONDS s"; ls -la "$OUT" | tail -n +2 | awk '{print $5, $9}'
