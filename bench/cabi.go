package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gshmem/gshmem/internal/cbuild"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// ImplGshmemC is gshmem's C interface: libgshmem.so running the very
// program that measures Open MPI's OpenSHMEM (peer/shmem_bench.c), started
// as gpurun starts a user's C program.
const ImplGshmemC = "gshmem-c"

// ErrNoSource is returned (wrapped) by [CABI] when it does not run inside
// gshmem's source tree, which it needs to build libgshmem.so.
var ErrNoSource = errors.New("bench: not in gshmem's source tree")

// CABI builds libgshmem.so from the source tree around the working
// directory, compiles peer/shmem_bench.c against it (as gshmemcc does),
// runs it on cfg.PEs processes started by the launcher, bound to CPUs
// when bind is set, and returns its results with Impl [ImplGshmemC]: the
// C ABI against the Go API and against Open MPI in one run. Ops that
// shmem_bench.c does not measure are left out; without gshmem's source
// tree it returns an error wrapping [ErrNoSource], without a C compiler
// one wrapping [cbuild.ErrNoCC].
func CABI(ctx context.Context, cfg PeerConfig, bind bool) ([]Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ops := intersect(shmemOps, cfg.Ops)
	if len(ops) == 0 {
		return nil, nil
	}
	if err := cbuild.Available(); err != nil {
		return nil, err
	}
	wd, _ := os.Getwd()
	root, err := cbuild.Root(wd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoSource, err)
	}
	work, cleanup, err := cfg.sources()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	lib := filepath.Join(work, "lib")
	bin := filepath.Join(work, "shmem_bench_gshmem")
	if err := cfg.built.do(bin, func() error {
		if _, err := cbuild.BuildLib(ctx, root, lib); err != nil {
			return err
		}
		_, err := cbuild.Compile(ctx, filepath.Join(root, "include"), lib, "-O2", "-o", bin, filepath.Join(work, "shmem_bench.c"))
		return err
	}); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	stderr := &tail{max: 4096}
	env := append(os.Environ(), config.EnvSymSize+"="+strconv.Itoa(cfg.shmemHeap()))
	opts := launcher.Options{N: cfg.PEs, Program: bin, Args: cfg.programArgs(ops), Stdout: &out, Stderr: stderr, Env: env, Bind: bind}
	if cfg.Log != nil {
		opts.Stderr = io.MultiWriter(stderr, cfg.Log)
	}
	code, err := launcher.Run(ctx, opts)
	res, perr := ParseResults(&out, ImplGshmemC, cfg.PEs)
	if err != nil || code != 0 {
		return res, fmt.Errorf("bench: shmem_bench on libgshmem.so, %d PEs: exit %d (%v); stderr ends:\n%s", cfg.PEs, code, err, stderr)
	}
	if perr != nil {
		return res, perr
	}
	return res, checkComplete(res, ops, cfg.Sizes, cfg.CollSizes)
}
