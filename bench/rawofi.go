package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoLibfabric is returned (wrapped) by [RawOFI] when the raw libfabric
// program cannot be built here: no C compiler, or no libfabric headers
// and library to link.
var ErrNoLibfabric = errors.New("bench: no raw libfabric peer")

// rawOFIOps maps the ops [RawOFI] measures to the names ofi_bench.c gives
// them.
var rawOFIOps = map[string]string{OpPut: "putq8", OpGet: "get8", OpFetchAdd: "fadd", OpPutBW: "putbw"}

// RawOFI measures, for the ops of cfg.Ops that it knows (put, get, fadd,
// putbw), the transport's own limit: the same operations written
// directly against libfabric in C (the embedded peer/ofi_bench.c, built
// with cc and -lfabric), between two processes of this host on provider
// (empty: tcp;ofi_rxm; FI_TCP_IFACE and the other FI_ variables apply as
// for gshmem). The target process busy-polls its CQ, as a program
// dedicated to the benchmark does. Results have Impl [ImplOFI] and PEs 2.
// cfg.PEs, cfg.TCP and the collective sizes are not used. Without a C
// compiler or libfabric it returns an error wrapping [ErrNoLibfabric].
func RawOFI(ctx context.Context, cfg PeerConfig, provider string) ([]Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var ops, names []string
	for _, op := range cfg.Ops {
		if name, ok := rawOFIOps[op]; ok && !slices.Contains(ops, op) {
			ops, names = append(ops, op), append(names, name)
		}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoLibfabric, err)
	}
	work, cleanup, err := cfg.sources()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	bin := filepath.Join(work, "ofi_bench")
	if _, err := runJob(ctx, cfg.Log, work, nil, cc, "-O2", "-o", bin, filepath.Join(work, "ofi_bench.c"), "-lfabric"); err != nil {
		return nil, fmt.Errorf("%w: compiling ofi_bench.c: %v", ErrNoLibfabric, err)
	}
	if provider == "" {
		provider = "tcp;ofi_rxm"
	}
	args := []string{"-p", provider, "-o", strings.Join(names, ","), "-t", strconv.FormatInt(cfg.Target.Nanoseconds(), 10),
		"-n", strconv.Itoa(cfg.MinIters), "-m", strconv.Itoa(cfg.MaxIters), "-r", strconv.Itoa(cfg.Reps),
		"-s", joinInts(cfg.Sizes), "-c", joinInts(cfg.CollSizes)}
	stdout, runErr := runJob(ctx, cfg.Log, work, nil, bin, args...)
	res, err := ParseResults(bytes.NewReader(stdout), ImplOFI, 2)
	for i := range res {
		for op, name := range rawOFIOps {
			if res[i].Op == name {
				res[i].Op = op
			}
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("bench: running ofi_bench: %w", runErr)
	}
	if err != nil {
		return res, err
	}
	// ofi_bench's region holds 64 MiB: larger putbw sizes are not run.
	sizes := slices.DeleteFunc(slices.Clone(cfg.Sizes), func(n int) bool { return n > 64<<20 })
	if err := checkComplete(res, ops, sizes, nil); err != nil {
		return res, fmt.Errorf("bench: ofi_bench: %w", err)
	}
	return res, nil
}
