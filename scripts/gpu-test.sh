#!/usr/bin/env bash
# Builds the CUDA test binaries into a folder (default gpu-bin/) for a GPU machine, with the golden files
# they need, so that the folder alone (plus scripts/gpu-run.sh) runs every GPU test and benchmark there.
# Needs what `go build -tags cuda` needs (scripts/install-cuda.sh). Usage: scripts/gpu-test.sh [DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-gpu-bin}
case "$out" in /*) ;; *) out="$top/$out" ;; esac
mkdir -p "$out"
cd "$top"
go test -c -tags cuda -o "$out/cuda.test" ./engine/cuda
go test -c -tags cuda -o "$out/dit.test" ./engine/dit
echo "gpu-test.sh: built $out/cuda.test and $out/dit.test (DiT golden, block swapping, LoRA)"
golden=${WAN22_GOLDEN:-$top/../shared/golden}
if [ -f "$golden/quants.gguf" ]; then
  mkdir -p "$out/golden"
  cp "$golden/quants.gguf" "$out/golden/"
  echo "gpu-test.sh: copied quants.gguf into $out/golden (run with WAN22_GOLDEN=$out/golden)"
else
  echo "gpu-test.sh: no golden folder at $golden: the golden dequantization test will skip" >&2
fi
