#!/usr/bin/env bash
# .gpu-bin/run.sh -- run gshmem's GPU checks on a GPU machine without Go.
# `bash ci/gpu.sh build` builds .gpu-bin/ and copies this file (ci/gpu-run.sh)
# into it; copy the folder to the GPU machine and run
#
#   bash .gpu-bin/run.sh
#
# from the checkout's root (the tests run in their packages' directories,
# as go test runs them, when the checkout is there). It runs, each
# step bounded by a timeout and all of them by BUDGET seconds (default 450;
# no step starts after that, and a step's timeout never runs past it):
#
#   1. every test binary (-test.short), three rounds in a row, under the
#      CUDA_MODULE_LOADING the driver defaults to (the variable is unset for
#      them); examples_device_put.test is `go test ./examples/device_put`;
#   2. gpurun bench -ops dev with the PEs in one process (-inproc -n 2,4) and
#      as processes (-n 2, GSHMEM_SHARED_GPU=1 so that two processes may
#      share one GPU without MPS), the reference columns beside them.
#
# It writes $OUT/gpu.log (OUT defaults to a fresh temporary directory): the
# machine, every step's verdict and time, the failing tests' output, the
# bench tables, and at the end a summary of failures and timeouts. Each
# step's full output is in $OUT/steps/. It exits 0 when every step passed,
# 1 when one failed, timed out or did not start, 2 when there is no GPU (set
# GSHMEM_GPU_RUN_ANYWAY=1 to run everything on the CPU fallback, to check
# the harness itself; it still exits 2 when all of that passed). The binaries come gzipped (the folder must travel);
# it unpacks them into a scratch directory first.
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gshmem-gpu.XXXXXX")}
mkdir -p "$OUT/steps"
LOG=$OUT/gpu.log
SUMMARY=$OUT/summary.txt
BUDGET=${BUDGET:-450}
ROUNDS=${ROUNDS:-3}
T0=$(date +%s)
: >"$SUMMARY"

elapsed() { echo $(($(date +%s) - T0)); }
note() { echo "$*" >>"$SUMMARY"; }

# step NAME DIR TIMEOUT CMD...: run CMD in DIR, its output in
# $OUT/steps/NAME.log, bounded by TIMEOUT and by what is left of BUDGET. An
# argument @TESTTIMEOUT@ becomes 10 s less than the bound, so that a test
# binary's own alarm prints its goroutines before the bound kills it.
step() {
  local name=$1 dir=$2 t=$3 rc s took out a args=()
  shift 3
  local left=$((BUDGET - $(elapsed)))
  if [ "$left" -lt 20 ]; then
    echo "=== SKIPPED (budget of ${BUDGET}s spent): $name"
    note "SKIPPED (budget) $name"
    return 0
  fi
  [ "$t" -gt "$left" ] && t=$left
  for a in "$@"; do
    [ "$a" = @TESTTIMEOUT@ ] && a="$((t - 10))s"
    args+=("$a")
  done
  out=$OUT/steps/$name.log
  echo "=== [$(elapsed)s] $name: ${args[*]} (in $dir, timeout ${t}s)"
  s=$(date +%s)
  (cd "$dir" && timeout -k 10 "$t" "${args[@]}") >"$out" 2>&1
  rc=$?
  took=$(($(date +%s) - s))
  case $rc in
    0)
      echo "=== PASS $name (${took}s)"
      ;;
    124 | 137)
      echo "=== TIMEOUT $name after ${took}s (hang?); the end of its output:"
      tail -n 60 "$out" | sed 's/^/    /'
      note "TIMEOUT $name after ${took}s (bound ${t}s): $out"
      ;;
    *)
      echo "=== FAIL $name (exit $rc, ${took}s); its failures:"
      # The failing tests' lines and what they logged, or the end.
      if grep -q -- '--- FAIL' "$out"; then
        grep -E -B2 -A25 -- '--- FAIL' "$out" | head -n 200 | sed 's/^/    /'
      else
        tail -n 40 "$out" | sed 's/^/    /'
      fi
      note "FAIL $name (exit $rc): $out"
      grep -E -- '--- FAIL' "$out" | sed "s/^ */      /" >>"$SUMMARY"
      ;;
  esac
  local skipped
  skipped=$(grep -c -E -- '^ *--- SKIP' "$out")
  if [ "$skipped" -gt 0 ]; then echo "    ($skipped tests skipped)"; fi
  return 0
}

have_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && return 0
  [ -e /dev/nvidia0 ]
}

main() {
  echo "=== gshmem GPU checks (.gpu-bin/run.sh), budget ${BUDGET}s, log $LOG"
  cat "$B/VERSION"
  echo "host: $(uname -srm), $(nproc) CPUs"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_mode --format=csv 2>&1
    nvidia-smi 2>/dev/null | grep -m1 'CUDA Version' || true
  else
    echo "nvidia-smi: absent"
  fi
  echo "CUDA_MODULE_LOADING=${CUDA_MODULE_LOADING-<unset>} (unset for the tests: they run under the driver's default)"
  if ! have_gpu; then
    echo "NO GPU: nvidia-smi lists no GPU and there is no /dev/nvidia0; the GPU tests would skip."
    if [ "${GSHMEM_GPU_RUN_ANYWAY:-0}" != 1 ]; then
      note "NO GPU on this machine: nothing checked (GSHMEM_GPU_RUN_ANYWAY=1 runs the harness on the CPU fallback)"
      return 2
    fi
    echo "GSHMEM_GPU_RUN_ANYWAY=1: running everything on the CPU fallback (this checks the harness, not the GPU)"
    note "NO GPU: ran on the CPU fallback (GSHMEM_GPU_RUN_ANYWAY=1); no GPU result here"
  fi

  local f t
  for f in "$B"/*.gz; do
    t=$BIN/$(basename "$f" .gz)
    if ! gzip -dc "$f" >"$t"; then
      echo "cannot unpack $f"
      note "FAIL unpacking $f"
      return 1
    fi
    chmod +x "$t"
  done
  # The test binaries, in an order that reports the driver binding first.
  local tests=()
  for t in device_cuda kernels device streams examples_device_put examples_stream_allreduce bench; do
    [ -x "$BIN/$t.test" ] && tests+=("$t")
  done
  for t in "$BIN"/*.test; do
    t=$(basename "$t" .test)
    case " ${tests[*]} " in *" $t "*) ;; *) tests+=("$t") ;; esac
  done
  # Go runs a package's tests in its source directory, and some read files
  # there: use the checkout's when there is one (.gpu-bin/ sits in it, or
  # run.sh runs from its root), else a scratch directory.
  local src="" p dir r to
  for dir in "$B/.." "$PWD"; do
    if [ -f "$dir/go.mod" ] && [ -d "$dir/kernels" ]; then
      src=$(cd "$dir" && pwd)
      break
    fi
  done
  echo "sources: ${src:-none (the tests that read files beside them fail)}"
  local pkgs
  pkgs=$(sed -n 's/^packages: //p' "$B/VERSION")
  for r in $(seq 1 "$ROUNDS"); do
    echo "=== round $r of $ROUNDS of the test binaries"
    for t in "${tests[@]}"; do
      dir=$SCRATCH
      for p in $pkgs; do
        if [ "$(echo "$p" | tr / _)" = "$t" ] && [ -n "$src" ] && [ -d "$src/$p" ]; then dir=$src/$p; fi
      done
      case $t in streams) to=180 ;; device | bench) to=120 ;; *) to=90 ;; esac
      step "$t.r$r" "$dir" "$to" env -u CUDA_MODULE_LOADING "$BIN/$t.test" -test.short -test.count=1 -test.v \
        -test.timeout @TESTTIMEOUT@
    done
  done

  echo "=== gpurun bench -ops dev"
  step bench-dev-inproc "$SCRATCH" 120 "$BIN/gpurun" bench -inproc -n 2,4 -ops dev -peers=false
  # Two processes on a one-GPU machine share it: without MPS gshmem refuses
  # that layout (issue 12 item 10); GSHMEM_SHARED_GPU=1 lets the bench
  # measure it, time slices and all, which is the number item 10 is about.
  step bench-dev-procs "$SCRATCH" 120 env GSHMEM_SHARED_GPU=1 "$BIN/gpurun" bench -n 2 -ops dev -peers=false
  local b
  for b in bench-dev-inproc bench-dev-procs; do
    [ -f "$OUT/steps/$b.log" ] || continue
    echo "--- $b:"
    cat "$OUT/steps/$b.log"
  done
  return 0
}

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gshmem-gpu-scratch.XXXXXX")
BIN=$SCRATCH/bin
mkdir -p "$BIN"
trap 'rm -rf "$SCRATCH"' EXIT
main 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
{
  echo
  echo "=== summary after $(elapsed)s (budget ${BUDGET}s): $(cat "$B/VERSION" | head -n 1)"
  if [ -s "$SUMMARY" ]; then
    cat "$SUMMARY"
  else
    echo "every step passed"
  fi
} | tee -a "$LOG"
if [ "$status" = 0 ] && grep -qE '^(FAIL|TIMEOUT|SKIPPED)' "$SUMMARY"; then
  status=1
elif [ "$status" = 0 ] && grep -q '^NO GPU' "$SUMMARY"; then
  status=2 # everything passed, but on the CPU fallback: no GPU result
fi
echo "(log: $LOG; every step's output: $OUT/steps/)"
exit "$status"
