package array

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["gather"] = scenarioGather }

// TestGather: Gather and AllGather return the whole array (and a
// sub-array's view) in index order, on every distribution and length.
func TestGather(t *testing.T) { petest.Both(t, scenarios, "gather", 2, 3) }

func scenarioGather(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			name := fmt.Sprintf("%v n=%d", d, n)
			a, err := NewAtomicArray[int32](ctx, w, n, d)
			require.NoError(t, err)
			want := make([]int32, n)
			var mine []int
			var vals []int32
			for i := range want {
				want[i] = int32(10*i + 1)
				if i%npes == me {
					mine, vals = append(mine, i), append(vals, want[i])
				}
			}
			require.NoError(t, ignore(a.BatchStore(mine, vals).Wait(ctx)), name)
			// No barrier: Gather's own makes every PE's stores seen.
			root := n % npes
			got, err := a.Gather(ctx, root)
			require.NoError(t, err, name)
			if me == root {
				require.Equal(t, want, got, name)
			} else {
				require.Nil(t, got, "%s: not the root", name)
			}
			got, err = a.AllGather(ctx)
			require.NoError(t, err, name)
			require.Equal(t, want, got, name)
			sub, err := a.SubArray(1, n-1)
			require.NoError(t, err)
			got, err = sub.AllGather(ctx)
			require.NoError(t, err, name)
			require.Equal(t, want[1:n-1], got, "%s: sub-array", name)
			_, err = a.Gather(ctx, npes)
			require.ErrorIs(t, err, errdefs.ErrInvalidPE)
			require.ErrorContains(t, err, fmt.Sprintf("root PE %d of %d", npes, npes))
			require.NoError(t, sub.Drop()) // a reference: a conversion waits for it
			r, err := a.IntoReadOnly(ctx)
			require.NoError(t, err)
			got, err = r.AllGather(ctx)
			require.NoError(t, err, name)
			require.Equal(t, want, got, "%s: read-only", name)
			require.NoError(t, r.Close(ctx))
			_, err = a.AllGather(ctx) // consumed by the conversion
			require.ErrorIs(t, err, errdefs.ErrClosed)
			_, err = r.AllGather(ctx)
			require.ErrorIs(t, err, errdefs.ErrClosed)
		}
	}
	require.NoError(t, w.Close(ctx))
}
