#!/usr/bin/env bash
# Compiles the kernel sources to the committed PTX that engine/cuda embeds (make ptx): every module it can
# with the nvcc at hand, and a summary of what it built and what it skipped, and why.
#
#   kernels/*.cu        -> kernels/*.ptx        compute_80, any nvcc from 11.8 on
#   kernels/sm90a/*.cu  -> kernels/sm90a/*.ptx  compute_90a (wgmma, Hopper only), nvcc 12.0 or newer
#   kernels/sm89/*.cu   -> kernels/sm89/*.ptx   compute_89 (FP8 e4m3 mma.sync m16n8k32: Ada, Hopper, Blackwell;
#                                               PTX ISA 8.4), nvcc 12.4 or newer
#
# compute_80 is the portable baseline that the driver JIT-compiles for Ampere, Ada, Hopper and Blackwell.
# The committed compute_80 PTX is made with Debian's nvcc 11.8 (scripts/install-cuda.sh --nvcc): its PTX
# (ISA 7.8) loads on every driver from 520 up, including the CUDA 13 drivers, and the machine code is made
# by the driver's own JIT for the GPU at hand, so a newer nvcc gains little for this target. Debian's 11.8
# has no compute_90a: the sm90a modules are built on a machine with nvcc 12 or newer (the device machine;
# bench/attention/ptx_sm90a.sh builds just them).
#
# Each .ptx starts with two comment lines: the sha256 of its sources (the .cu followed by every
# kernels/*.cuh in name order: all kernels include common.cuh), which kernels/kernels_test.go checks without
# a compiler, and the nvcc release and flags that made it:
#   // wan22-source-sha256: <hex>
#   // wan22-nvcc: release <x.y>, V<x.y.z> (<build line>); flags: <flags>
#
# Usage: scripts/ptx.sh [file.cu | sm90a/file.cu | sm89/file.cu ...]   (paths relative to kernels/; none: every module)
#   NVCC=/path/to/nvcc picks the compiler.
# Exit status: 0 when every module asked for was built — with no arguments, when at least the compute_80
# ones were (the sm90a and sm89 ones skipped for an old nvcc are listed, not an error); 1 otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
nvcc=${NVCC:-nvcc}
case "$nvcc" in
  /*) ;;
  */*) nvcc="$PWD/$nvcc" ;; # a relative path, from where the script was started
esac
cd "$top/kernels"

srcs=("$@")
explicit=1
if [ ${#srcs[@]} -eq 0 ]; then
  explicit=0
  srcs=(*.cu sm90a/*.cu)
  for cu in sm89/*.cu; do [ -f "$cu" ] && srcs+=("$cu"); done
fi
for cu in "${srcs[@]}"; do
  if [ ! -f "$cu" ]; then
    echo "ptx.sh: no kernel source kernels/$cu (give paths relative to kernels/, e.g. gemm.cu or sm90a/attention.cu)" >&2
    exit 1
  fi
done

built=()
skipped=()
summary() {
  for b in ${built[@]+"${built[@]}"}; do echo "ptx.sh: built   $b"; done
  for s in ${skipped[@]+"${skipped[@]}"}; do echo "ptx.sh: SKIPPED $s" >&2; done
}

# nvcc's release as major*100+minor ("release 12.4," -> 1204), 0 when there is no nvcc.
release=""
ver=0
if command -v "$nvcc" >/dev/null 2>&1; then
  release=$("$nvcc" --version | grep -o 'release [0-9]*\.[0-9]*' | head -1 | cut -d' ' -f2 || true)
  [ -n "$release" ] && ver=$(( ${release%%.*} * 100 + ${release##*.} ))
  nvcc_line="$("$nvcc" --version | grep -o 'release .*' | head -1) ($("$nvcc" --version | tail -1))"
fi
if [ "$ver" -eq 0 ]; then
  why="$nvcc not found or its version unreadable: install it with 'sudo scripts/install-cuda.sh --nvcc' (11.8: the compute_80 modules) or set NVCC to a CUDA 12+ nvcc (every module)"
  echo "ptx.sh: SKIPPED all of ${srcs[*]}: $why" >&2
  exit 1
fi

headers=$(ls *.cuh 2>/dev/null | LC_ALL=C sort || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cu in "${srcs[@]}"; do
  name=${cu%.cu}
  case "$cu" in
    sm90a/*) arch=compute_90a; need=1200 ;;
    sm89/*) arch=compute_89; need=1204 ;;
    */*) skipped+=("$name.ptx: kernels/$cu is in a folder without a target (only kernels/*.cu, kernels/sm90a/*.cu and kernels/sm89/*.cu are built)"); continue ;;
    *) arch=compute_80; need=1108 ;;
  esac
  if [ "$ver" -lt "$need" ]; then
    skipped+=("$name.ptx: $arch needs nvcc $((need / 100)).$((need % 100)) or newer, $nvcc is $release (set NVCC, or run scripts/ptx.sh ${cu} where CUDA $((need / 100)).$((need % 100))+ is installed)")
    continue
  fi
  flags="-ptx -arch=$arch -O3 -std=c++17"
  # shellcheck disable=SC2086
  hash=$(cat "$cu" $headers | sha256sum | cut -d' ' -f1)
  mkdir -p "$tmp/$(dirname "$name")"
  # shellcheck disable=SC2086
  if ! "$nvcc" $flags -o "$tmp/$name.ptx" "$cu"; then
    summary
    echo "ptx.sh: nvcc failed on kernels/$cu (its PTX is left as it was)" >&2
    exit 1
  fi
  { echo "// wan22-source-sha256: $hash"; echo "// wan22-nvcc: $nvcc_line; flags: $flags"; cat "$tmp/$name.ptx"; } >"$name.ptx"
  built+=("$name.ptx ($(wc -c <"$name.ptx") bytes, $arch, sources $hash)")
done
summary
if [ ${#built[@]} -eq 0 ] || { [ "$explicit" = 1 ] && [ ${#skipped[@]} -gt 0 ]; }; then
  exit 1
fi
