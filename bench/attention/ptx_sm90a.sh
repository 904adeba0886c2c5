#!/usr/bin/env bash
# Compiles the sm90a modules (kernels/sm90a/*.cu: wgmma, Hopper only) to kernels/sm90a/*.ptx with
# scripts/ptx.sh, which writes the source-hash and nvcc header lines. Needs nvcc 12 or newer (Debian's 11.8
# has no compute_90a), so it runs on the device machine (bench/attention/run.sh calls it); exits non-zero,
# saying why, when it cannot build them. NVCC=/path/to/nvcc picks the compiler.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top/kernels"
exec "$top/scripts/ptx.sh" sm90a/*.cu
