package hostshmem_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/testseam"
)

// TestSingleElementNoAlloc: P, G and the single-element atomics do not
// allocate, whether the peer is mapped (loads and stores) or reached
// through the transport (P and G: mapped only, see below): the most common RMA calls of OpenSHMEM codes
// must cost no more than a Put or Get of one element. (P and G once
// paid an allocation on every call, mapped or not, because the value's
// address escaped on the transport's path.)
func TestSingleElementNoAlloc(t *testing.T) {
	for _, rmaOnly := range []bool{false, true} {
		ctx := context.Background()
		if rmaOnly {
			ctx = testseam.WithRMAOnly(ctx)
		}
		err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *shmem.PE) error {
			x, err := shmem.Calloc[int64](ctx, pe, 1)
			if err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				ops := map[string]func(){
					"p":         func() { require.NoError(t, shmem.P(pe, x, 7, 1)) },
					"g":         func() { _, err := shmem.G(pe, x, 1); require.NoError(t, err) },
					"fetch_add": func() { _, err := shmem.AtomicFetchAdd(pe, x, 1, 1); require.NoError(t, err) },
					"add":       func() { require.NoError(t, shmem.AtomicAdd(pe, x, 1, 1)) },
					"fetch":     func() { _, err := shmem.AtomicFetch(pe, x, 1); require.NoError(t, err) },
					"cswap":     func() { _, err := shmem.AtomicCompareSwap(pe, x, 0, 1, 1); require.NoError(t, err) },
				}
				if rmaOnly {
					// Through a transport, P and G hand it the value's
					// bytes, which escape: 8 bytes against a network
					// round trip.
					delete(ops, "p")
					delete(ops, "g")
				}
				for name, op := range ops {
					assert.Zero(t, testing.AllocsPerRun(100, op), "%s allocates (rma-only %v)", name, rmaOnly)
				}
			}
			return pe.BarrierAll(ctx)
		})
		require.NoError(t, err, "rma-only %v", rmaOnly)
	}
}

// TestSmallCollectivesAllocFree: the small collectives (barrier, syncs,
// and the one-shot broadcast, reductions, collects and all-to-alls, whose
// data rides in the entry's pushes) allocate nothing per call on mapped
// PEs. On two busy cores an allocation costs a small collective more than
// its work: the collection it brings on takes a processor from a PE its
// peer waits for (a two-PE 8-byte reduction went from ~220 to ~150 ns
// when its per-call slice went). The count is the whole process's, so a
// wait that sleeps now and then (a timer) is tolerated: less than one
// allocation per call.
func TestSmallCollectivesAllocFree(t *testing.T) {
	const calls = 200
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *shmem.PE) error {
		x, err := shmem.Calloc[int64](ctx, pe, 16)
		if err != nil {
			return err
		}
		w := pe.TeamWorld()
		src, dst := x.Slice(0, 4), x.Slice(8, 12)
		ops := []struct {
			name string
			op   func() error
		}{
			{"barrier_all", func() error { return pe.BarrierAll(ctx) }},
			{"sync_all", func() error { return pe.SyncAll(ctx) }},
			{"team_sync", func() error { return w.Sync(ctx) }},
			{"team_barrier", func() error { return w.Barrier(ctx) }},
			{"broadcast", func() error { return shmem.Broadcast(ctx, w, dst, src, 1, 0) }},
			{"reduce", func() error { return shmem.Reduce(ctx, w, shmem.OpSum, dst, src, 1) }},
			{"reduce_scatter", func() error { return shmem.ReduceScatter(ctx, w, shmem.OpMax, dst, src, 1) }},
			{"fcollect", func() error { return shmem.FCollect(ctx, w, dst, src, 1) }},
			{"collect", func() error { _, err := shmem.Collect(ctx, w, dst, src, 1); return err }},
			{"alltoall", func() error { return shmem.AllToAll(ctx, w, dst, src, 1) }},
			{"alltoalls", func() error { return shmem.AllToAlls(ctx, w, dst, src, 1, 1, 1) }},
		}
		var before, after runtime.MemStats
		for _, o := range ops {
			for i := 0; i < 5; i++ { // warm: scratch, first-use state
				if err := o.op(); err != nil {
					return err
				}
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				runtime.ReadMemStats(&before)
			}
			for i := 0; i < calls; i++ {
				if err := o.op(); err != nil {
					return err
				}
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if pe.MyPE() == 0 {
				runtime.ReadMemStats(&after)
				// Two PEs made calls calls each.
				assert.Less(t, after.Mallocs-before.Mallocs, uint64(calls), "%s: %d allocations in %d calls on each of 2 PEs", o.name, after.Mallocs-before.Mallocs, calls)
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}
