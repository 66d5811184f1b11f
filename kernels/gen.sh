#!/usr/bin/env bash
# kernels/gen.sh -- regenerate every committed PTX file and fatbin from its
# CUDA source:
#   kernels/*.cu                 -> kernels/*.ptx and kernels/*.fatbin
#                                   (package kernels embeds them)
#   examples/device_put/put.cu   -> examples/device_put/put.ptx
# with nvcc and the flags of the top-level CMakeLists.txt (its
# GSHMEM_NVCC_FLAGS line for PTX, GSHMEM_FATBIN_FLAGS for fatbins) plus
# -I kernels. The output is deterministic for a given nvcc (11.8 for the
# committed files): it carries no paths or dates.
#
#   kernels/gen.sh           run nvcc directly (NVCC=/path/to/nvcc to choose one)
#   kernels/gen.sh --cmake   build through CMake into the source tree
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# cmake_flags NAME: the flags of CMakeLists.txt's set(NAME ...) line.
cmake_flags() {
  local f
  f=$(sed -n "s/^set($1 \(.*\))\$/\1/p" CMakeLists.txt)
  if [ -z "$f" ]; then
    echo "kernels/gen.sh: no set($1 ...) line in CMakeLists.txt" >&2
    exit 1
  fi
  printf '%s\n' "$f"
}
ptx_flags=$(cmake_flags GSHMEM_NVCC_FLAGS)
fatbin_flags=$(cmake_flags GSHMEM_FATBIN_FLAGS)

if [ "${1:-}" = --cmake ]; then
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  cmake -S . -B "$build" -DGSHMEM_PTX_OUTPUT_DIR="$root" >/dev/null
  cmake --build "$build" --clean-first  # rebuild even where the outputs look newer
  exit 0
fi

nvcc=${NVCC:-nvcc}
if ! command -v "$nvcc" >/dev/null 2>&1; then
  echo "kernels/gen.sh: $nvcc not found (Debian: apt-get install nvidia-cuda-toolkit, from non-free)" >&2
  exit 1
fi
# gen SRC OUT FLAGS: compile SRC to OUT, replacing OUT only when nvcc succeeds.
gen() {
  # shellcheck disable=SC2086 # flags are words (none is a glob)
  "$nvcc" $3 -I kernels -o "$2.tmp" "$1"
  mv "$2.tmp" "$2"
  echo "$1 -> $2"
}
for src in kernels/*.cu examples/device_put/put.cu; do
  gen "$src" "${src%.cu}.ptx" "$ptx_flags"
done
for src in kernels/*.cu; do
  gen "$src" "${src%.cu}.fatbin" "$fatbin_flags"
done
