//go:build cgo && ofi

package capi_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/internal/cbuild"
	"github.com/gshmem/gshmem/internal/slurmtest"
)

// TestCSlurm runs every C test program as the tasks of a Slurm step on
// two nodes (srun -N 2 -n 4, PMI-2 and PMIx), with libgshmem.so built with
// libfabric: PEs on the other node are not mapped, so the C interface
// reaches them through Go (gs_go_rma and the Go halves of every family),
// the path the in-process and shm runs never take.
func TestCSlurm(t *testing.T) {
	slurmtest.Require(t, 2)
	root, err := cbuild.Root(".")
	require.NoError(t, err)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lib, err := cbuild.BuildLib(ctx, root, filepath.Join(dir, "lib"), "-tags", "ofi")
	require.NoError(t, err)
	srcs, err := filepath.Glob("testdata/*.c")
	require.NoError(t, err)
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		bin := filepath.Join(dir, name)
		_, err := cbuild.Compile(ctx, filepath.Join(root, "include"), filepath.Dir(lib),
			"-std=c11", "-O1", "-g", "-Wall", "-Werror", "-o", bin, src)
		require.NoError(t, err)
		for _, mpi := range []string{"pmi2", "pmix"} {
			t.Run(name+"/"+mpi, func(t *testing.T) {
				r := slurmtest.SrunProgram(t, 2*time.Minute, []string{"--mpi=" + mpi, "-N", "2", "-n", "4", "--distribution=cyclic"},
					[]string{bin}, "GSHMEM_CHECKED=1")
				require.Equal(t, 0, r.Code(), "%s", r)
			})
		}
	}
}
