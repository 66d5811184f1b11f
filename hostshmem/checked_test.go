package hostshmem_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

// TestCheckedUseAfterFree: with Config.Checked, a put, get or atomic on a
// Sym of a freed object (or a part of one) is an error, even when the
// offset now belongs to a new object; without it, it is accepted.
func TestCheckedUseAfterFree(t *testing.T) {
	for _, checked := range []bool{true, false} {
		petest.RunPEs(t, 2, shmem.Config{Checked: checked}, func(pe *shmem.PE) error {
			ctx := context.Background()
			x, err := shmem.Calloc[int64](ctx, pe, 8)
			require.NoError(t, err)
			part := x.Slice(2, 4)
			require.NoError(t, shmem.Put(pe, part, []int64{1, 2}, 1-pe.MyPE()))
			require.NoError(t, shmem.Free(ctx, pe, x))
			y, err := shmem.Calloc[int64](ctx, pe, 8) // takes x's place
			require.NoError(t, err)
			require.Equal(t, x.Offset(), y.Offset())
			calls := map[string]error{
				"put":      shmem.Put(pe, x, []int64{7}, 1-pe.MyPE()),
				"put part": shmem.Put(pe, part, []int64{7}, 1-pe.MyPE()),
				"p":        shmem.P(pe, x.At(0), 7, 0),
				"get":      shmem.Get(pe, make([]int64, 1), x, 0),
				"atomic": func() error {
					_, err := shmem.AtomicFetchAdd(pe, x.At(1), 1, 0)
					return err
				}(),
			}
			for name, err := range calls {
				if checked {
					require.ErrorIs(t, err, shmem.ErrInvalidArg, name)
					assert.Contains(t, err.Error(), "freed", name)
				} else {
					require.NoError(t, err, name)
				}
			}
			// The live object works either way.
			require.NoError(t, shmem.Put(pe, y.Slice(1, 3), []int64{5, 6}, 0))
			require.NoError(t, pe.BarrierAll(ctx))
			return nil
		})
	}
}
