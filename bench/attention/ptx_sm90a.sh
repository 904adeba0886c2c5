#!/usr/bin/env bash
# Compiles kernels/sm90a/attention.cu (wgmma, Hopper only) to kernels/sm90a/attention.ptx. Needs nvcc 12 or
# newer (Debian's 11.8 has no sm_90a), so it runs on the device machine (bench/attention/run.sh calls it).
# The first line records the sha256 of the sources the way scripts/ptx.sh does for the compute_80 modules:
# the .cu followed by every kernels/*.cuh in name order.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top/kernels"
nvcc=${NVCC:-nvcc}
headers=$(ls *.cuh | LC_ALL=C sort)
# shellcheck disable=SC2086
hash=$(cat sm90a/attention.cu $headers | sha256sum | cut -d' ' -f1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$nvcc" -ptx -arch=compute_90a -O3 -std=c++17 -o "$tmp/attention.ptx" sm90a/attention.cu
{ echo "// wan22-source-sha256: $hash"; cat "$tmp/attention.ptx"; } >sm90a/attention.ptx
echo "ptx_sm90a.sh: sm90a/attention.ptx ($(wc -c <sm90a/attention.ptx) bytes, sources $hash, $("$nvcc" --version | tail -1))"
