#!/usr/bin/env bash
# Compiles kernels/*.cu to the committed PTX that engine/cuda embeds (make ptx).
#
# Target: compute_80 PTX, the portable baseline that the driver JIT-compiles for Ampere, Ada, Hopper and
# Blackwell. The committed PTX is made with Debian's nvcc 11.8 (scripts/install-cuda.sh --nvcc): its PTX
# (ISA 7.8) loads on every driver from 520 up, including the CUDA 13 drivers, and the machine code is made
# by the driver's own JIT for the GPU at hand, so a newer nvcc gains little for this target.
#
# The first line of every .ptx records the sha256 of its sources: the .cu followed by every kernels/*.cuh in
# name order (all kernels include common.cuh). kernels/kernels_test.go fails when a source changed and the
# PTX was not regenerated. Usage: scripts/ptx.sh [name.cu ...]   (NVCC=/path/to/nvcc to pick a compiler)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/kernels"
nvcc=${NVCC:-nvcc}
if ! command -v "$nvcc" >/dev/null 2>&1; then
  echo "ptx.sh: $nvcc not found: install it with 'sudo scripts/install-cuda.sh --nvcc' or set NVCC" >&2
  exit 1
fi
srcs=("$@")
[ ${#srcs[@]} -eq 0 ] && srcs=(*.cu)
headers=$(ls *.cuh 2>/dev/null | LC_ALL=C sort || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cu in "${srcs[@]}"; do
  name=${cu%.cu}
  # shellcheck disable=SC2086
  hash=$(cat "$cu" $headers | sha256sum | cut -d' ' -f1)
  "$nvcc" -ptx -arch=compute_80 -O3 -std=c++17 -o "$tmp/$name.ptx" "$cu"
  { echo "// wan22-source-sha256: $hash"; cat "$tmp/$name.ptx"; } >"$name.ptx"
  echo "ptx.sh: $name.ptx ($(wc -c <"$name.ptx") bytes, sources $hash)"
done
