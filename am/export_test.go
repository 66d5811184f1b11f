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

// InprocPEs makes n in-process PEs with 8 MiB heaps. The job comes back so
// that a test can fail a PE.
func InprocPEs(t *testing.T, n int) (*inproc.Job, []*hostshmem.PE) {
	t.Helper()
	job, err := inproc.New(n, hostshmem.RegionSize(8<<20))
	require.NoError(t, err)
	pes := make([]*hostshmem.PE, n)
	for i := range pes {
		pes[i], err = hostshmem.New(job.Fabric(i), hostshmem.Config{})
		require.NoError(t, err)
	}
	return job, pes
}

// OnEachPE runs fn(i) for i in [0, n) on n goroutines at once (a
// collective call of every PE) and returns their errors, in PE order.
func OnEachPE(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// InprocWorlds makes n in-process PEs (8 MiB heaps) and a World with opt
// on each, collectively, for tests in this package and in am_test that
// drive the PEs from one goroutine (kill one, watch them idle). The job
// comes back so that a test can fail a PE.
func InprocWorlds(t *testing.T, ctx context.Context, reg *Registry, n int, opt Options) (*inproc.Job, []*hostshmem.PE, []*World) {
	t.Helper()
	job, pes := InprocPEs(t, n)
	ws := make([]*World, n)
	errs := OnEachPE(n, func(i int) (err error) {
		ws[i], err = New(ctx, pes[i], reg, opt)
		return err
	})
	require.NoError(t, errors.Join(errs...))
	return job, pes, ws
}
