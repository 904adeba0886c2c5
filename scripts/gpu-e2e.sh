#!/usr/bin/env bash
# Usage on the GPU machine with gpu-bin/ holding wan22-cuda, dit.test and input.png (a PNG test image):
# OUT=results FRAMES=81,161 BUDGETS=32 scripts/gpu-e2e.sh
# Device run B: wan22 bench end to end (Q8_0 experts, synthetic umT5-XXL and VAE), wan22 i2v at full size
# within 32 GiB into a video, and the demo on the GPU.
set -uo pipefail
B=${GPUBIN:-gpu-bin}; D=${SYNTH_DIR:-/tmp/bs}; mkdir -p $D
rm -f /tmp/f16.gguf /tmp/q8.gguf
df -h /tmp | tail -1
$B/wan22-cuda bench --frames ${FRAMES:-81,161,241} --size 832x480 --vram-budget ${BUDGETS:-32} --expert-type Q8_0 --steps 2 \
  --synth-dir $D --json $OUT/bench_q8.json --html $OUT/bench_q8.html > $OUT/bench.log 2>&1; echo "bench rc=$?"
grep -v autotune $OUT/bench.log | tail -45
H=$(ls $D/synth-dit-i2v-Q8_0-seed*.gguf | head -1); T=$(ls $D/synth-umt5-*.gguf | head -1); V=$(ls $D/synth-vae-*.safetensors | head -1)
[ -f $D/low_q4k.gguf ] || $B/wan22-cuda synth -type Q4_K $D/low_q4k.gguf | tail -1
/usr/bin/time -v $B/wan22-cuda i2v --image $B/input.png --prompt "a red fox running through deep snow, cinematic" \
  --high $H --low $D/low_q4k.gguf --text-encoder $T --vae $V --frames 81 --size 832x480 --steps 4 --switch-step 2 \
  --vram-budget 32 --out $OUT/i2v_832x480_81f.avi --json > $OUT/i2v.jsonl 2> $OUT/i2v.err; echo "i2v rc=$?"
grep -v autotune $OUT/i2v.err | grep -E "Maximum resident|Elapsed|wan22|error|Error|plan|fallback|ffmpeg" | head -20
head -c 1500 $OUT/i2v.jsonl; echo; tail -c 1500 $OUT/i2v.jsonl; echo
ls -la $OUT
$B/wan22-cuda demo -device cuda -out $OUT/demo.avi 2>&1 | grep -v autotune | tail -6
WAN22_BACKEND_BENCH=1 $B/dit.test -test.run 'TestLoRA.*CUDA' -test.v 2>&1 | grep -v autotune | grep -vE "^=== RUN" | tail -25
