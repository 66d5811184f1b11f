#!/usr/bin/env bash
# kernels/gen.sh -- regenerate every committed PTX file from its CUDA source:
#   kernels/*.cu                 -> kernels/*.ptx (package kernels embeds them)
#   examples/device_put/put.cu   -> examples/device_put/put.ptx
# with nvcc and the flags of the top-level CMakeLists.txt (its
# GSHMEM_NVCC_FLAGS line) plus -I kernels. The output is deterministic for
# a given nvcc (11.8 for the committed files): it carries no paths or dates.
#
#   kernels/gen.sh           run nvcc directly (NVCC=/path/to/nvcc to choose one)
#   kernels/gen.sh --cmake   build through CMake into the source tree
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

flags=$(sed -n 's/^set(GSHMEM_NVCC_FLAGS \(.*\))$/\1/p' CMakeLists.txt)
if [ -z "$flags" ]; then
  echo "kernels/gen.sh: no set(GSHMEM_NVCC_FLAGS ...) line in CMakeLists.txt" >&2
  exit 1
fi

if [ "${1:-}" = --cmake ]; then
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  cmake -S . -B "$build" -DGSHMEM_PTX_OUTPUT_DIR="$root" >/dev/null
  cmake --build "$build" --clean-first  # rebuild even where the PTX looks newer
  exit 0
fi

nvcc=${NVCC:-nvcc}
if ! command -v "$nvcc" >/dev/null 2>&1; then
  echo "kernels/gen.sh: $nvcc not found (Debian: apt-get install nvidia-cuda-toolkit, from non-free)" >&2
  exit 1
fi
for src in kernels/*.cu examples/device_put/put.cu; do
  out=${src%.cu}.ptx
  # shellcheck disable=SC2086 # flags are words
  "$nvcc" $flags -I kernels -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
  echo "$src -> $out"
done
