#!/usr/bin/env bash
# Installs what the CUDA build (go build -tags cuda) needs on Debian 12 (bookworm):
# CUDA 11.8 headers and libcuda for linking (nvidia-cuda-dev, from contrib/non-free), and gcc for cgo.
# With --nvcc it also installs nvcc 11.8 (nvidia-cuda-toolkit), which `make ptx` needs;
# CI does not need it (the PTX is committed). Run as root. Idempotent.
#
# gorgonia.org/cu v0.9.6 compiles against CUDA 11.x/12.x headers, not CUDA 13.
# At run time only the NVIDIA driver is needed (any driver new enough for CUDA 11.8).
set -euo pipefail

want_nvcc=0
for a in "$@"; do
  case "$a" in
    --nvcc) want_nvcc=1 ;;
    *) echo "install-cuda.sh: unknown argument $a (the only option is --nvcc, to add nvcc for make ptx)" >&2; exit 2 ;;
  esac
done

# Nothing to install (the header, the link library, gcc, and nvcc when asked for): no root, no apt source needed.
if [ -f /usr/include/cuda.h ] && { ls /usr/lib/x86_64-linux-gnu/libcuda.so* || ls /usr/lib/*/libcuda.so*; } >/dev/null 2>&1 &&
  command -v gcc >/dev/null 2>&1 && { [ "$want_nvcc" = 0 ] || command -v nvcc >/dev/null 2>&1; }; then
  echo "install-cuda.sh: CUDA headers $(awk '/define CUDA_VERSION/ {print $3}' /usr/include/cuda.h) ready (already installed)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-cuda.sh: the CUDA headers, libcuda or gcc are missing, and installing them (apt-get) needs root: run it as root (Debian 12), or install the CUDA 11.x/12.x headers another way; make test runs the tests without it" >&2
  exit 1
fi

src=/etc/apt/sources.list.d/wan22-cuda.sources
if [ ! -f "$src" ]; then
  # Same mirror and keyring as the distribution's own entry.
  mirror=http://deb.debian.org/debian
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -n "$m" ] && mirror=$m
    k=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [ -n "$k" ] && keyring=$k
  fi
  cat >"$src" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm
Components: contrib non-free
Signed-By: $keyring
SRC
  echo "install-cuda.sh: added $src (contrib non-free from $mirror)"
fi

pkgs=(nvidia-cuda-dev gcc libc6-dev)
[ "$want_nvcc" = 1 ] && pkgs+=(nvidia-cuda-toolkit)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-cuda.sh: ${pkgs[*]} already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Sanity: the header and the link library the cgo build uses.
test -f /usr/include/cuda.h || { echo "install-cuda.sh: /usr/include/cuda.h missing after install" >&2; exit 1; }
ls /usr/lib/x86_64-linux-gnu/libcuda.so* >/dev/null 2>&1 || ls /usr/lib/*/libcuda.so* >/dev/null 2>&1 ||
  { echo "install-cuda.sh: libcuda.so (link stub) missing after install" >&2; exit 1; }
echo "install-cuda.sh: CUDA headers $(awk '/define CUDA_VERSION/ {print $3}' /usr/include/cuda.h) ready"
