#!/usr/bin/env bash
# Runs the main job on the tiny models: inspects them, then runs what the engine can do on them.
set -euo pipefail
bin=${1:-bin/wan22}
top=$(cd "$(dirname "$0")/.." && pwd)
golden=${WAN22_GOLDEN:-$top/../shared/golden}
if [ ! -d "$golden" ]; then
  echo "demo: the tiny reference models in $golden are missing (set WAN22_GOLDEN)" >&2
  exit 1
fi
"$bin" inspect "$golden/dit_tiny_q8_0.gguf" "$golden/t5_tiny_f32.gguf" "$golden/vae_tiny.safetensors"
