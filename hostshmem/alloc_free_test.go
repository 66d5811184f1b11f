package hostshmem_test

import (
	"context"
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
