package am

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/hostshmem"
)

// InprocWorlds makes n in-process PEs (8 MiB heaps) and a World with opt
// on each, collectively, for tests in this package and in am_test that
// drive the PEs from one goroutine (kill one, watch them idle). The job
// comes back so that a test can fail a PE.
func InprocWorlds(t *testing.T, ctx context.Context, reg *Registry, n int, opt Options) (*inproc.Job, []*hostshmem.PE, []*World) {
	t.Helper()
	job, err := inproc.New(n, hostshmem.RegionSize(8<<20))
	require.NoError(t, err)
	pes := make([]*hostshmem.PE, n)
	for i := range pes {
		pes[i], err = hostshmem.New(job.Fabric(i), hostshmem.Config{})
		require.NoError(t, err)
	}
	ws := make([]*World, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = New(ctx, pes[i], reg, opt)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return job, pes, ws
}
