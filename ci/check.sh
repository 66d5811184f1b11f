#!/usr/bin/env bash
# ci/check.sh -- every check a submission must pass, in one place (run by
# .ci/run; run it yourself before pushing). Needs Go; installs staticcheck
# and, where apt-get works as root, Open MPI for the peer-benchmark tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
STATICCHECK_VERSION=v0.8.2
step() { printf '\n=== %s\n' "$*"; }
t0=$(date +%s)

step "extras (optional for users)"
if ! command -v oshcc >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # Open MPI's OpenSHMEM is the peer `gpurun bench` compares against; the
  # bench tests run it when present and skip it otherwise.
  (export DEBIAN_FRONTEND=noninteractive
   apt-get update -qq && apt-get install -y -qq --no-install-recommends openmpi-bin libopenmpi-dev >/dev/null) \
    || echo "Open MPI not installed: peer benchmark tests will skip"
fi
command -v oshcc >/dev/null 2>&1 && echo "oshcc: $(command -v oshcc)" || echo "oshcc: absent"

step "committed PTX matches the CUDA sources (kernels/gen.sh)"
if [ "$(id -u)" = 0 ] || command -v nvcc >/dev/null 2>&1; then
  if ! command -v nvcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    # nvcc comes from Debian's nvidia-cuda-toolkit, in the non-free component.
    if ! grep -rqs 'non-free' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
        'Suites: bookworm bookworm-updates' 'Components: main contrib non-free' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        >/etc/apt/sources.list.d/gshmem-nonfree.sources
    fi
    (export DEBIAN_FRONTEND=noninteractive
     apt-get update -qq && apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null) \
      || echo "nvidia-cuda-toolkit not installed"
  fi
  if command -v nvcc >/dev/null 2>&1; then
    bash kernels/gen.sh
    new=$(git ls-files --others --exclude-standard -- '*.ptx')
    if ! git diff --exit-code --stat -- '*.ptx' || [ -n "$new" ]; then
      echo "committed PTX is stale or missing${new:+ (uncommitted: $new)}:"
      echo "run kernels/gen.sh and commit the .ptx files with their .cu sources"
      exit 1
    fi
  else
    echo "nvcc unavailable: PTX check skipped"
  fi
else
  echo "not root and no nvcc: PTX check skipped"
fi

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck $STATICCHECK_VERSION"
SC="$(go env GOPATH)/bin/staticcheck"
if ! "$SC" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$SC" ./...

step "build without cgo"
CGO_ENABLED=0 go build ./...

step "tests (the README's test command)"
go test ./...

step "tests under the race detector"
go test -race ./...

step "no files left in /dev/shm"
left=$(ls /dev/shm | grep -i gshmem || true)
if [ -n "$left" ]; then echo "left behind: $left"; exit 1; fi

echo
echo "ci/check.sh: all checks passed in $(( $(date +%s) - t0 )) s"
