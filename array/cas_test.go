package array

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/internal/testseam"
)

func init() {
	scenarios["cas"] = scenarioCAS
}

// TestBatchCompareExchange: compare-exchange batches on inproc PEs,
// RMA-only PEs (whose batches to other PEs go by AM) and shm processes:
// results in batch order, one winner per element when every PE races,
// the pairings, the epsilon form, and bad batches that change nothing.
func TestBatchCompareExchange(t *testing.T) { petest.Both(t, scenarios, "cas", 2, 3) }

func scenarioCAS(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	for _, d := range []Distribution{Block, Cyclic} {
		casGrid[int64](t, w, d, 37)
		casGrid[uint8](t, w, d, 37)
		casGrid[int32](t, w, d, 5)
		casGrid[float64](t, w, d, 37)
	}
	require.NoError(t, w.Close(t.Context()))
}

// casGrid checks BatchCompareExchange on one array of n elements of T.
func casGrid[T Number](t *petest.T, w *am.World, d Distribution, n int) {
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	name := fmt.Sprintf("%T %v n=%d", T(0), d, n)
	a, err := NewAtomicArray[T](ctx, w, n, d)
	require.NoError(t, err, name)

	// Every PE claims every element, from the last to the first: 0 -> me+1.
	// Exactly one PE wins each, and the element holds the winner's value.
	idx := make([]int, n)
	for k := range idx {
		idx[k] = n - 1 - k
	}
	got, err := a.BatchCompareExchange(idx, []T{0}, []T{T(me + 1)}).Wait(ctx)
	require.NoError(t, err, name)
	require.Len(t, got, n, name)
	require.NoError(t, w.Barrier(ctx))
	final, err := a.BatchLoad(idx).Wait(ctx)
	require.NoError(t, err, name)
	for k, x := range got {
		require.NotZero(t, final[k], "%s: element %d was claimed", name, idx[k])
		require.Equal(t, final[k] == T(me+1), x.Swapped, "%s: element %d holds %v: PE %d won it iff its result says so (%+v)", name, idx[k], final[k], me, x)
		if x.Swapped {
			require.Equal(t, T(0), x.Old, "%s: a win saw the 0", name)
		} else {
			require.Equal(t, final[k], x.Old, "%s: a loss saw the winner's value", name)
		}
	}
	require.NoError(t, w.Barrier(ctx))

	// Paired: this PE's share of the elements (i%npes == me), each to
	// 10+i, then back; results in batch order, misses name what they met.
	var mine []int
	for i := n - 1; i >= 0; i-- {
		if i%npes == me {
			mine = append(mine, i)
		}
	}
	cur, vals := make([]T, len(mine)), make([]T, len(mine))
	for k, i := range mine {
		cur[k], vals[k] = final[n-1-i], T(10+i)
	}
	if len(mine) > 1 {
		cur[1]++ // one miss
	}
	got, err = a.BatchCompareExchange(mine, cur, vals).Wait(ctx)
	require.NoError(t, err, name)
	for k, i := range mine {
		want := Exchanged[T]{final[n-1-i], k != 1}
		require.Equal(t, want, got[k], "%s: batch position %d (element %d)", name, k, i)
	}
	require.NoError(t, w.Barrier(ctx))

	// One index, many values: a sequence on one element, in order. PE 0
	// works on the last element (another PE's, where there are several).
	if me == 0 {
		last := n - 1
		v, err := a.Load(last).Wait(ctx)
		require.NoError(t, err)
		got, err := a.BatchCompareExchange([]int{last}, []T{v, v, 7, 99}, []T{7, 8, 9, 5}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, []Exchanged[T]{{v, true}, {7, false}, {7, true}, {9, false}}, got, name)
		// One current value, many new ones.
		got, err = a.BatchCompareExchange([]int{last}, []T{9}, []T{1, 2}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, []Exchanged[T]{{9, true}, {1, false}}, got, name)
		// One value to many indices (each once): all to 0 where they hold 1.
		got, err = a.BatchCompareExchange([]int{last, 0, last}, []T{1}, []T{0}).Wait(ctx)
		require.NoError(t, err)
		v0 := got[1].Old
		require.Equal(t, []Exchanged[T]{{1, true}, {v0, v0 == 1}, {0, false}}, got, name)

		// Bad batches: errors, and nothing changed.
		_, err = a.BatchCompareExchange([]int{last, 0, 1}, []T{0, 1}, []T{1, 2, 3}).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg)
		require.ErrorContains(t, err, "3 indices, 2 current values and 3 new values")
		_, err = a.BatchCompareExchange([]int{last, 0}, nil, []T{1, 2}).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrInvalidArg, "no current values for two indices")
		_, err = a.BatchCompareExchange([]int{last, n}, []T{0}, []T{42}).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("batch position 1: array: out of range: index %d, length %d", n, n))
		_, err = a.BatchCompareExchange([]int{-1}, []T{0}, []T{42}).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		v, err = a.Load(last).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, T(0), v, "%s: a failed batch changed nothing", name)
		got, err = a.BatchCompareExchange(nil, nil, nil).Wait(ctx)
		require.NoError(t, err)
		require.Empty(t, got)

		var zero T
		if _, isFloat := any(zero).(float64); isFloat {
			// Within epsilon: 0 is within 0.25 of 0.2, not of 0.5.
			cur, eps := []float64{0.2, 0.5}, 0.25
			got, err = a.BatchCompareExchangeEpsilon([]int{last}, []T{T(cur[0]), T(cur[1])}, []T{3}, T(eps)).Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, []Exchanged[T]{{0, true}, {3, false}}, got, name)
			got, err = a.BatchCompareExchange([]int{last}, []T{T(cur[1])}, []T{4}).Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, []Exchanged[T]{{3, false}}, got, "%s: the exact form compares bits", name)
		}
	}
	require.NoError(t, w.Barrier(ctx))
	require.NoError(t, a.Close(ctx))
	_, err = a.BatchCompareExchange([]int{0}, []T{0}, []T{1}).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = a.BatchCompareExchange(nil, nil, nil).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed, "an empty batch on a closed array")
}

// TestBatchThreshold: the operations per batch AM follow the PE's
// AMSizeThreshold, and batches split into many AMs (RMA-only PEs, a
// threshold of 64 bytes) still return every result in order.
func TestBatchThreshold(t *testing.T) {
	assert.Equal(t, 8192, opsPerAM(0, 8), "the default: 64 KiB of 8-byte operations")
	assert.Equal(t, 2, opsPerAM(64, 24))
	assert.Equal(t, 1, opsPerAM(1, 24), "at least one operation per AM")
	assert.Equal(t, 8, (&batch[int64]{vals: []int64{1}}).opBytes(), "an offset")
	assert.Equal(t, 16, (&batch[int64]{vals: []int64{1, 2}}).opBytes(), "an offset and a value")
	assert.Equal(t, 12, (&batch[int16]{vals: []int16{1, 2}, cur: []int16{1, 2}}).opBytes(), "an offset, a value and a current value")

	run := func(t *testing.T, threshold uintptr, fn func(t *testing.T, pe *shmem.PE, a *AtomicArray[int64])) {
		ctx, cancel := context.WithTimeout(context.Background(), petest.Timeout)
		defer cancel()
		cfg := gshmem.Config{NPEs: 3, HeapSize: petest.HeapSize, DeviceHeapSize: petest.DeviceHeapSize, Checked: true, AMSizeThreshold: threshold}
		err := gshmem.RunWith(testseam.WithRMAOnly(ctx), cfg, func(ctx context.Context, pe *shmem.PE) error {
			w, err := am.New(ctx, pe, reg, am.Options{})
			if err != nil {
				return err
			}
			defer w.Abort()
			a, err := NewAtomicArray[int64](ctx, w, 100, Cyclic)
			if err != nil {
				return err
			}
			fn(t, pe, a)
			if err := a.Close(ctx); err != nil {
				return err
			}
			return w.Close(ctx)
		})
		require.NoError(t, err)
	}
	t.Run("default", func(t *testing.T) {
		run(t, 0, func(t *testing.T, pe *shmem.PE, a *AtomicArray[int64]) {
			assert.Equal(t, uintptr(config.DefaultAMSizeThreshold), pe.Config().AMSizeThreshold)
			assert.Equal(t, 8192, a.amOps(&batch[int64]{vals: []int64{1}}))
		})
	})
	t.Run("64", func(t *testing.T) {
		run(t, 64, func(t *testing.T, pe *shmem.PE, a *AtomicArray[int64]) {
			ctx := context.Background()
			assert.Equal(t, 4, a.amOps(&batch[int64]{vals: []int64{1, 2}}))
			assert.Equal(t, 2, a.amOps(&batch[int64]{vals: []int64{1, 2}, cur: []int64{1, 2}}))
			// Every index, twice, paired values: 4 operations per AM.
			n, me := a.Len(), int64(pe.MyPE())
			idx, vals := make([]int, 2*n), make([]int64, 2*n)
			for k := range idx {
				idx[k], vals[k] = k%n, int64(k%n)
			}
			old, err := a.BatchFetchAdd(idx, vals).Wait(ctx)
			assert.NoError(t, err)
			for k, v := range old {
				// Each PE adds i twice to element i: the values before are
				// multiples of i, at most 2*(NPEs-1)+1 of them.
				i := int64(k % n)
				assert.True(t, i == 0 && v == 0 || i > 0 && v%i == 0 && v/i <= 2*int64(pe.NPEs())-1, "position %d: %d", k, v)
			}
			assert.NoError(t, pe.BarrierAll(ctx))
			// Every element i holds 2*NPEs*i: every PE swaps it for a value
			// of its own (paired current and new values: 2 per AM); one wins.
			cur, nv := make([]int64, n), make([]int64, n)
			for i := range n {
				idx[i], cur[i], nv[i] = i, int64(2*pe.NPEs()*i), 1000*me+int64(i)+1
			}
			got, err := a.BatchCompareExchange(idx[:n], cur, nv).Wait(ctx)
			assert.NoError(t, err)
			assert.NoError(t, pe.BarrierAll(ctx))
			now, err := a.BatchLoad(idx[:n]).Wait(ctx)
			assert.NoError(t, err)
			for i, x := range got {
				assert.Equal(t, now[i] == nv[i], x.Swapped, "element %d: %+v, now %d", i, x, now[i])
				if x.Swapped {
					assert.Equal(t, cur[i], x.Old, "element %d", i)
				} else {
					assert.Equal(t, now[i], x.Old, "element %d: a loss saw the winner's value", i)
				}
			}
		})
	})
	t.Run("config", func(t *testing.T) {
		c, err := gshmem.LoadConfig(func(k string) string {
			if k == config.EnvAMSizeThreshold {
				return "1k"
			}
			return ""
		})
		require.NoError(t, err)
		assert.Equal(t, uintptr(1024), c.AMSizeThreshold)
		_, err = gshmem.LoadConfig(func(k string) string {
			if k == config.EnvAMSizeThreshold {
				return "lots"
			}
			return ""
		})
		require.ErrorContains(t, err, `GSHMEM_AM_SIZE_THRESHOLD="lots"`)
		err = gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, AMSizeThreshold: 2 << 30}, func(context.Context, *shmem.PE) error { return nil })
		require.ErrorContains(t, err, "AMSizeThreshold 2147483648 exceeds 1073741824")
	})
}
