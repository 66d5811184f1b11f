#!/usr/bin/env bash
# ci/gpu.sh -- gshmem's GPU checks, for a GPU machine that has no Go.
#
#   bash ci/gpu.sh build    on a machine with Go and gcc (no CUDA, no GPU
#                           needed): builds into .gpu-bin/ (git-ignored) the
#                           test binaries of every package with GPU tests and
#                           gpurun (gzipped), a VERSION file and the runner,
#                           run.sh
#   bash .gpu-bin/run.sh    on the GPU machine, from anywhere: runs them all,
#                           each bounded, in at most 8 minutes (BUDGET=secs),
#                           and writes $OUT/gpu.log (OUT: a fresh temporary
#                           directory unless set), ending with a summary
#   bash ci/gpu.sh run      build, then run here (a GPU machine with Go)
#
# The packages: those whose tests import internal/gputest (found with go
# list), and those that run on the GPU without naming it (the list below).
# The runner is ci/gpu-run.sh; its top comment says what it runs. ci/check.sh
# runs `bash ci/gpu.sh build` so that this cannot rot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# Packages whose tests run on a GPU when there is one, whether or not they
# import internal/gputest: their PEs get GPU heaps.
always=(device/cuda device streams kernels examples/device_put examples/stream_allreduce bench)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

build() {
  local bin=$root/.gpu-bin mod pkgs p name
  mod=$(go list -m)
  # The packages whose tests import internal/gputest, as paths like "device".
  mapfile -t pkgs < <(
    {
      printf '%s\n' "${always[@]}"
      go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... |
        awk -v g="$mod/internal/gputest" '{ for (i = 2; i <= NF; i++) if ($i == g) { print $1; next } }' |
        sed "s|^$mod/||"
    } | sort -u)
  rm -rf "$bin"
  mkdir -p "$bin"
  {
    echo "gshmem $(git describe --always --dirty 2>/dev/null || echo unknown) ($(git log -1 --format='%h %s' 2>/dev/null || true))"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version | cut -d' ' -f3-)"
    echo "packages: ${pkgs[*]}"
  } >"$bin/VERSION"
  # cgo: device/cuda's driver binding is cgo (it dlopens libcuda at run
  # time, so no CUDA is needed here). Stripped, so that the folder stays
  # small enough to copy.
  export CGO_ENABLED=1
  local flags=(-trimpath -ldflags=-s\ -w)
  for p in "${pkgs[@]}"; do
    name=$(echo "$p" | tr / _).test
    go test -c "${flags[@]}" -o "$bin/$name" "./$p"
    if [ ! -f "$bin/$name" ]; then
      echo "ci/gpu.sh: ./$p has no tests (remove it from the list)" >&2
      exit 1
    fi
  done
  go build "${flags[@]}" -o "$bin/gpurun" ./cmd/gpurun
  # gzipped: a third of the size, for the copy to the GPU machine (the
  # device tool carries at most 64 MiB); run.sh unpacks them.
  gzip -6 "$bin"/*.test "$bin/gpurun"
  cp ci/gpu-run.sh "$bin/run.sh"
  chmod +x "$bin/run.sh"
  echo "ci/gpu.sh: built $(du -sh "$bin" | cut -f1) in .gpu-bin/ ($(cat "$bin/VERSION" | head -n 1))"
  echo "run it on a GPU machine: bash .gpu-bin/run.sh   (the log: \$OUT/gpu.log)"
}

case "${1:-}" in
  build) build ;;
  run) build; bash "$root/.gpu-bin/run.sh" ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
