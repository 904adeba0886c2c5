#!/usr/bin/env bash
# The main job on the tiny models: describe them, then run image-to-video end to end
# (tiny umT5 + VAE from the reference set, two random tiny DiT experts) into demo-out/.
set -euo pipefail
bin=${1:-bin/wan22}
top=$(cd "$(dirname "$0")/.." && pwd)
golden=${WAN22_GOLDEN:-$top/../shared/golden}
if [ ! -d "$golden" ]; then
  echo "demo: the tiny reference models in $golden are missing (set WAN22_GOLDEN to their folder)" >&2
  exit 1
fi
"$bin" inspect "$golden/t5_tiny_f32.gguf" "$golden/vae_tiny.safetensors"
rm -rf demo-out
"$bin" demo -models "$golden" -out demo-out
