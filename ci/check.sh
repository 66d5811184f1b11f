#!/usr/bin/env bash
# ci/check.sh -- every check a submission must pass, in one place. Run it
# yourself before pushing; CI runs it through .ci/run with --install.
#
#   bash ci/check.sh            check with what this machine has; install nothing
#   bash ci/check.sh --install  first install what the optional checks need
#                               (GSHMEM_CHECK_INSTALL=1 does the same)
#
# It needs Go and gcc. Some checks need more; without --install, each runs
# when its tool is already here and is otherwise skipped, and the script
# says what is missing and lists the skipped checks at the end:
#   - staticcheck of the pinned version (STATICCHECK_VERSION below), in
#     GOPATH/bin or on PATH;
#   - the PTX check (kernels/gen.sh regenerates the committed PTX and fatbins
#     and they must not change): nvcc of the release that generated the
#     committed files (11.8, Debian bookworm's nvidia-cuda-toolkit, in the
#     non-free component);
#   - the bench package's peer tests, which run Open MPI's OpenSHMEM and MPI
#     (oshcc, oshrun; Debian: openmpi-bin libopenmpi-dev) and skip themselves
#     without it;
#   - the Slurm tests (TestSlurm* in the root package, hostshmem, am,
#     internal/pmi and internal/pmi/pmix, and am/internal/ring's rings;
#     across 2 nodes with -tags ofi
#     when libfabric-dev is here), which run jobs under srun --mpi=pmi2 and
#     srun --mpi=pmix (one subtest each) on two nodes and skip themselves
#     unless a Slurm controller answers (sinfo) with two nodes; the pmix
#     ones also skip where srun has no pmix plugin or libpmix is missing
#     (ci/slurm.sh installs both);
#   - the C library from Python (ci/cffi_check.py under gpurun on 2 PEs):
#     a python3 with cffi and numpy (Debian: python3-cffi python3-numpy).
# With --install it installs staticcheck with `go install` and, as root with
# apt-get, Open MPI, python3-cffi and python3-numpy, and nvidia-cuda-toolkit
# (adding Debian's non-free
# component to apt's sources when no source has it), and, when no Slurm
# answers, installs and starts one on this machine (ci/slurm.sh up 2: two
# emulated nodes) and stops it when the script ends, however it ends. A
# check whose tool is still missing then is reported as skipped, with a
# warning.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
STATICCHECK_VERSION=v0.8.2

install=0
case "${GSHMEM_CHECK_INSTALL:-0}" in
  0 | "") ;;
  *) install=1 ;;
esac
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "ci/check.sh: unknown argument $arg (want --install or --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n=== %s\n' "$*"; }
skipped=()
# skip CHECK WHY: record a check that cannot run here (an error with --install).
skip() {
  skipped+=("$1: $2")
  echo "SKIPPED: $1: $2"
}
have() { command -v "$1" >/dev/null 2>&1; }
# slurm_nodes: how many nodes the Slurm controller says respond (0: none).
slurm_nodes() {
  have sinfo || { echo 0; return; }
  { timeout 10 sinfo -h -r -o %D 2>/dev/null || true; } | awk '{n += $1} END {print n + 0}'
}
t0=$(date +%s)
# cffi_python prints the first python3 that imports cffi and numpy (the
# one on PATH, else Debian's, where apt-get installs them).
cffi_python() {
  local py
  for py in python3 /usr/bin/python3; do
    if have "$py" && "$py" -c 'import cffi, numpy' >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

# The nvcc release the committed PTX was generated with, and nvcc's own.
ptx_release() { sed -n 's/^\/\/ Cuda compilation tools, release \([0-9.]*\),.*/\1/p' kernels/collectives.ptx | head -n 1; }
nvcc_release() { nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p' | head -n 1; }
# nonfree_sources DIR prints a deb822 source (apt's sources.list(5)) with
# the contrib and non-free components of the first Debian archive that the
# apt configuration under DIR already uses: its URIs, its suites other than
# -security and its Signed-By, from a deb822 *.sources file or else a
# one-line "deb" entry. It prints nothing when there is none. No mirror is
# named here: the machine's own sources say which one to use.
nonfree_sources() {
  local dir=$1 f out
  for f in "$dir"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    out=$(awk '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = suites = signed = types = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/ || !match($i, /^[A-Za-z-]+:/)) continue
          key = tolower(substr($i, 1, RLENGTH - 1)); val = substr($i, RLENGTH + 1)
          gsub(/^[ \t]+|[ \t]+$/, "", val)
          if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "signed-by") signed = val
          else if (key == "types") types = val
          else if (key == "enabled" && val == "no") enabled = 0
        }
        if (!enabled || types !~ /(^| )deb( |$)/ || uris !~ /\/debian(\/|$| )/) next
        n = split(suites, s, " "); keep = ""
        for (j = 1; j <= n; j++) if (s[j] !~ /-security$/) keep = keep (keep == "" ? "" : " ") s[j]
        if (keep == "") next
        print "Types: deb"; print "URIs: " uris; print "Suites: " keep
        print "Components: contrib non-free"
        if (signed ~ /^\//) print "Signed-By: " signed
        exit
      }' "$f")
    if [ -n "$out" ]; then printf '%s\n' "$out"; return 0; fi
  done
  # The one-line format: deb [options] URI SUITE COMPONENTS...
  cat "$dir"/sources.list "$dir"/sources.list.d/*.list 2>/dev/null | awk '
    $1 != "deb" { next }
    {
      i = 2; signed = ""
      if ($i ~ /^\[/) {
        for (; i <= NF; i++) {
          if ($i ~ /signed-by=/) { signed = $i; sub(/.*signed-by=/, "", signed); sub(/\]$/, "", signed) }
          if ($i ~ /\]$/) { i++; break }
        }
      }
      uri = $i; suite = $(i + 1)
      if (uri !~ /\/debian\/?$/ || suite ~ /-security$/) next
      print "Types: deb"; print "URIs: " uri; print "Suites: " suite
      print "Components: contrib non-free"
      if (signed ~ /^\//) print "Signed-By: " signed
      exit
    }'
}

SC="$(go env GOPATH)/bin/staticcheck"
staticcheck_ok() { "$SC" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; }
if ! staticcheck_ok && have staticcheck; then SC=$(command -v staticcheck); fi

if [ "$install" = 1 ]; then
  step "installing what the optional checks need (--install)"
  if ! staticcheck_ok; then
    SC="$(go env GOPATH)/bin/staticcheck"
    go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  fi
  pkgs=()
  if ! have oshcc || ! have oshrun; then pkgs+=(openmpi-bin libopenmpi-dev); fi
  if ! have nvcc; then pkgs+=(nvidia-cuda-toolkit); fi
  if ! cffi_python >/dev/null; then pkgs+=(python3-cffi python3-numpy); fi
  if [ "${#pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! have apt-get; then
      echo "cannot install ${pkgs[*]}: that needs root and apt-get"
    else
      if ! have nvcc && ! grep -rqs 'non-free' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # nvidia-cuda-toolkit is in Debian's non-free component: add it to
        # the Debian archive apt already uses (its mirror, suites and key).
        if entry=$(nonfree_sources /etc/apt) && [ -n "$entry" ]; then
          printf '%s\n' "$entry" >/etc/apt/sources.list.d/gshmem-nonfree.sources
          echo "added /etc/apt/sources.list.d/gshmem-nonfree.sources (Debian non-free):"
          printf '%s\n' "$entry" | sed 's/^/  /'
        else
          echo "no Debian archive in apt's sources to add the non-free component to"
        fi
      fi
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq || echo "apt-get update failed"
      # One install per tool, so that one failing leaves the other.
      if ! have oshcc || ! have oshrun; then
        apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev >/dev/null ||
          echo "apt-get install openmpi-bin libopenmpi-dev failed"
      fi
      if ! have nvcc; then
        apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null ||
          echo "apt-get install nvidia-cuda-toolkit failed"
      fi
      if ! cffi_python >/dev/null; then
        apt-get install -y -qq --no-install-recommends python3-cffi python3-numpy >/dev/null ||
          echo "apt-get install python3-cffi python3-numpy failed"
      fi
    fi
  fi
  if [ "$(slurm_nodes)" -lt 2 ]; then
    if [ "$(id -u)" != 0 ] || ! have apt-get; then
      echo "cannot start Slurm for the Slurm tests: that needs root and apt-get"
    else
      # Stopped when this script ends, passed or failed: no daemon, job
      # or state directory outlives the check.
      trap 'bash ci/slurm.sh down >/dev/null 2>&1 || true' EXIT
      bash ci/slurm.sh up 2 || echo "ci/slurm.sh up 2 failed"
    fi
  fi
fi

step "tools"
echo "go: $(go version)"
if staticcheck_ok; then echo "staticcheck: $SC"; else echo "staticcheck $STATICCHECK_VERSION: absent"; fi
if have nvcc; then echo "nvcc: $(command -v nvcc), release $(nvcc_release)"; else echo "nvcc: absent"; fi
if have oshcc && have oshrun; then echo "Open MPI OpenSHMEM: $(command -v oshcc)"; else echo "Open MPI OpenSHMEM (oshcc, oshrun): absent"; fi
if py=$(cffi_python); then echo "python3 with cffi and numpy: $py"; else echo "python3 with cffi and numpy: absent"; fi
slurm=$(slurm_nodes)
if [ "$slurm" -ge 2 ]; then echo "Slurm: $slurm nodes respond (sinfo)"; else echo "Slurm with 2 nodes: absent ($slurm respond)"; fi
if [ "$install" = 0 ]; then
  echo "(installing nothing; bash ci/check.sh --install installs what is absent)"
fi

step "committed PTX and fatbins match the CUDA sources (kernels/gen.sh)"
want=$(ptx_release)
if ! have nvcc; then
  skip "PTX check" "no nvcc (Debian: nvidia-cuda-toolkit, from non-free)"
elif [ "$(nvcc_release)" != "$want" ]; then
  skip "PTX check" "nvcc is release $(nvcc_release); the committed PTX comes from release $want"
else
  bash kernels/gen.sh
  new=$(git ls-files --others --exclude-standard -- '*.ptx' '*.fatbin')
  if ! git diff --exit-code --stat -- '*.ptx' '*.fatbin' || [ -n "$new" ]; then
    echo "committed PTX or fatbin is stale or missing${new:+ (uncommitted: $new)}:"
    echo "run kernels/gen.sh and commit the .ptx and .fatbin files with their .cu sources"
    exit 1
  fi
fi

step "gofmt"
bad=$(git ls-files -z '*.go' | xargs -0 gofmt -l)
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

step "the generated C interface is current (go run ./capi/gen: include/shmem.h, capi/z*.c)"
# Generate into a tree of the repository's layout and compare it with the
# committed files, both ways: a stale, hand-edited or orphaned z*.c fails.
gen=$(mktemp -d)
mkdir -p "$gen/new/include" "$gen/new/capi" "$gen/old/include" "$gen/old/capi"
go run ./capi/gen -root "$gen/new"
cp include/shmem.h "$gen/old/include/"
for f in capi/z*.c; do if [ -e "$f" ]; then cp "$f" "$gen/old/capi/"; fi; done
if ! diff -ru "$gen/old" "$gen/new" >"$gen/diff"; then
  head -n 60 "$gen/diff"
  echo "include/shmem.h or capi/z*.c differ from what capi/gen writes (committed: old, generated: new):"
  echo "run go generate ./capi and commit the result; never edit them by hand"
  rm -rf "$gen"
  exit 1
fi
rm -rf "$gen"

step "go vet"
go vet ./...

step "staticcheck $STATICCHECK_VERSION"
if staticcheck_ok; then
  "$SC" ./...
else
  skip "staticcheck" "staticcheck $STATICCHECK_VERSION is not installed (go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION)"
fi

step "build without cgo"
CGO_ENABLED=0 go build ./...

step "the GPU harness builds (ci/gpu.sh build; run .gpu-bin/run.sh on a GPU machine)"
bash -n ci/gpu-run.sh
bash ci/gpu.sh build

step "tests (the README's test command)"
if ! have oshcc || ! have oshrun; then
  skip "bench peer tests" "no Open MPI (oshcc, oshrun; Debian: openmpi-bin libopenmpi-dev): go test ./bench skips them"
fi
if [ "$slurm" -lt 2 ]; then
  skip "Slurm tests" "no Slurm with 2 responding nodes (bash ci/slurm.sh up 2 starts one): go test skips TestSlurm*"
fi
go test ./...
if [ "$slurm" -ge 2 ]; then
  # go test caches a skip from a run without Slurm: whether a controller
  # answers is outside what its cache looks at, so run them afresh here.
  step "Slurm tests against the running Slurm (srun --mpi=pmi2 and --mpi=pmix, 2 nodes)"
  go test -p 1 -count=1 -run Slurm -v . ./internal/pmi/... | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|SKIP'
  [ "${PIPESTATUS[0]}" = 0 ]
fi

step "the C library from Python (ci/cffi_check.py: CFFI on shmem.h, 2 PEs under gpurun)"
if py=$(cffi_python); then
  cffi=$(mktemp -d)
  go run ./cmd/gshmemcc -install "$cffi" >/dev/null
  go build -o "$cffi/bin/gpurun" ./cmd/gpurun
  if ! "$cffi/bin/gpurun" -n 2 "$py" ci/cffi_check.py --lib "$cffi/lib/libgshmem.so" --include "$cffi/include"; then
    rm -rf "$cffi"
    exit 1
  fi
  rm -rf "$cffi"
else
  skip "CFFI check" "no python3 with cffi and numpy (Debian: python3-cffi python3-numpy)"
fi

step "tests under the race detector"
go test -race ./...

# ---- fabric/ofi (libfabric transport, build tag ofi) -------------------
# Runs when libfabric's headers are here (Debian: libfabric-dev, which
# --install installs as root with apt-get): go vet and the tests of
# fabric/ofi built with -tags ofi, against the real tcp;ofi_rxm provider on
# the loopback interface, under the race detector. Without the tag the
# package is a stub, which the steps above already vet and test.
if [ "$install" = 1 ] && [ ! -f /usr/include/rdma/fi_rma.h ]; then
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "cannot install libfabric-dev: that needs root and apt-get"
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends libfabric-dev >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends libfabric-dev >/dev/null; } ||
      echo "apt-get install libfabric-dev failed"
  fi
fi
if [ -f /usr/include/rdma/fi_rma.h ]; then
  step "fabric/ofi with -tags ofi (libfabric, tcp;ofi_rxm on loopback)"
  go vet -tags ofi ./fabric/ofi/
  if staticcheck_ok; then "$SC" -tags ofi ./fabric/ofi/; fi
  FI_TCP_IFACE="${FI_TCP_IFACE:-lo}" go test -tags ofi -race ./fabric/ofi/
  step "fabric/hybrid with -tags ofi (shm within a node, libfabric across)"
  go vet -tags ofi ./fabric/hybrid/ . ./capi/
  FI_TCP_IFACE="${FI_TCP_IFACE:-lo}" go test -tags ofi -race -count=1 ./fabric/hybrid/
  if [ "$slurm" -ge 2 ]; then
    # The jobs of two emulated nodes: hello-style sums, a kill, the host
    # API and AM scenario suites, under srun --mpi=pmi2 and pmix, the AM
    # rings alone, and the C test programs on a libgshmem.so with libfabric.
    step "Slurm tests across 2 nodes with -tags ofi (srun -N 2 -n 4, tcp;ofi_rxm)"
    # -p 1: one package's jobs at a time on the one Slurm (a job queued
    # behind another package's would count the wait in its time bound).
    FI_TCP_IFACE="${FI_TCP_IFACE:-lo}" go test -tags ofi -p 1 -count=1 -run Slurm -v . ./hostshmem/ ./am/ ./am/internal/ring/ ./capi/ |
      grep -E '^(=== RUN|--- |ok|FAIL|PASS)|SKIP'
    [ "${PIPESTATUS[0]}" = 0 ]
  fi
else
  skip "fabric/ofi -tags ofi" "no libfabric headers (Debian: libfabric-dev)"
fi
# ---- end fabric/ofi ------------------------------------------------------

step "no files left in /dev/shm"
left=$(find /dev/shm -maxdepth 1 -iname '*gshmem*' 2>/dev/null || true)
if [ -n "$left" ]; then echo "left behind: $left"; exit 1; fi

echo
took=$(( $(date +%s) - t0 ))
if [ "${#skipped[@]}" -eq 0 ]; then
  echo "ci/check.sh: all checks passed in $took s"
  exit 0
fi
echo "ci/check.sh: the checks that ran passed in $took s; skipped:"
printf '  - %s\n' "${skipped[@]}"
if [ "$install" = 1 ]; then
  # An install that failed (no network, a mirror down) is the machine's
  # fault, not the submission's: say so loudly, fail nothing.
  echo "ci/check.sh: WARNING: --install could not provide every tool; the checks above did not run"
  exit 0
fi
echo "(bash ci/check.sh --install installs what they need: Open MPI, cffi and numpy, nvcc and Slurm as root with apt-get)"
