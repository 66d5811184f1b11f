package array

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

var reg = am.NewRegistry()

func init() {
	scenarios["atomic"] = scenarioAtomic
	scenarios["unsafe"] = scenarioUnsafe
}

// newWorld makes an AM World for a scenario (which closes it).
func newWorld(t *petest.T, pe *shmem.PE) *am.World {
	w, err := am.New(t.Context(), pe, reg, am.Options{})
	require.NoError(t, err)
	return w
}

// lengths are the grid's: small, odd, a few words, and one no PE count
// divides.
var lengths = []int{4, 19, 128, 1001}

// TestAtomicArray runs the atomic-array grid on 2, 3 and 4 PEs, in
// process, RMA-only and as processes over shared memory.
func TestAtomicArray(t *testing.T) { petest.Both(t, scenarios, "atomic", 2, 3, 4) }

// TestUnsafeArray: local data, conversion to read-only, batch loads.
func TestUnsafeArray(t *testing.T) { petest.Both(t, scenarios, "unsafe", 2, 3) }

func scenarioAtomic(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			atomicGrid[uint8](t, w, d, n)
			atomicGrid[int16](t, w, d, n)
			atomicGrid[uint32](t, w, d, n)
			atomicGrid[int64](t, w, d, n)
			atomicGrid[float32](t, w, d, n)
			atomicGrid[float64](t, w, d, n)
		}
	}
	atomicGrid[int8](t, w, Cyclic, 19)
	atomicGrid[uint16](t, w, Block, 19)
	atomicGrid[int32](t, w, Cyclic, 19)
	atomicGrid[uint64](t, w, Block, 19)
	atomicGrid[int](t, w, Cyclic, 19)
	require.NoError(t, w.Close(t.Context()))
}

// atomicGrid checks one array: writes through the distributed iterator,
// a one-sided walk, concurrent adds from every PE, batch fetch results in
// batch order, bad indices, a sub-array and Close.
func atomicGrid[T Number](t *petest.T, w *am.World, d Distribution, n int) {
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	name := fmt.Sprintf("%T %v n=%d", T(0), d, n)
	a, err := NewAtomicArray[T](ctx, w, n, d)
	require.NoError(t, err, name)

	// Every PE stores its number into its elements.
	require.NoError(t, a.ForEach(ctx, func(e Elem[T]) error { return e.Store(T(me)) }), name)
	seq, done := a.OneSided(ctx, 7)
	count := 0
	for i, v := range seq {
		pe, _, err := a.PEAndOffset(i)
		require.NoError(t, err)
		require.Equal(t, T(pe), v, "%s: element %d", name, i)
		require.Equal(t, count, i, "%s: one-sided order", name)
		count++
	}
	require.NoError(t, done())
	require.Equal(t, n, count, name)
	require.NoError(t, w.Barrier(ctx))

	// Every PE adds 1 to every element.
	for i := range n {
		_, err := a.FetchAdd(i, 1).Wait(ctx)
		require.NoError(t, err, "%s: fetch-add %d", name, i)
	}
	require.NoError(t, w.Barrier(ctx))
	local := 0
	for i, v := range a.Local() {
		pe, _, _ := a.PEAndOffset(i)
		require.Equal(t, me, pe, "%s: Local yields this PE's elements", name)
		require.Equal(t, T(pe+npes), v, "%s: element %d after every PE added 1", name, i)
		local++
	}
	require.Equal(t, a.NumElemsLocal(), local, name)
	require.NoError(t, w.Barrier(ctx))

	// Batch: this PE's share of the indices (i%npes == me), backwards, each
	// twice; the fetch results come back in batch order.
	var idx []int
	for i := n - 1; i >= 0; i-- {
		if i%npes == me {
			idx = append(idx, i, i)
		}
	}
	old, err := a.BatchFetchAdd(idx, []T{2}).Wait(ctx)
	require.NoError(t, err, name)
	require.Len(t, old, len(idx))
	for k, i := range idx {
		pe, _, _ := a.PEAndOffset(i)
		want := T(pe + npes)
		if k%2 == 1 {
			want += 2
		}
		require.Equal(t, want, old[k], "%s: batch position %d (element %d)", name, k, i)
	}
	got, err := a.BatchLoad(idx).Wait(ctx)
	require.NoError(t, err, name)
	for k, i := range idx {
		pe, _, _ := a.PEAndOffset(i)
		require.Equal(t, T(pe+npes+4), got[k], "%s: batch load position %d", name, k)
	}

	// Compare-exchange: a miss, then a hit.
	require.NoError(t, w.Barrier(ctx))
	if me == 0 {
		x, err := a.CompareExchange(n-1, 99, 5).Wait(ctx)
		require.NoError(t, err)
		require.False(t, x.Swapped)
		x, err = a.CompareExchange(n-1, x.Old, 5).Wait(ctx)
		require.NoError(t, err)
		require.True(t, x.Swapped)
	}

	// Bad indices: errors that name them, nothing changed.
	for _, bad := range []int{-1, n} {
		_, err := a.Load(bad).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("index %d, length %d", bad, n))
	}
	_, err = a.BatchFetchAdd([]int{0, n + 3}, []T{1}).Wait(ctx)
	require.ErrorContains(t, err, fmt.Sprintf("batch position 1: array: out of range: index %d, length %d", n+3, n))
	_, err = a.BatchFetchAdd([]int{0, 1, 2}, []T{1, 2}).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	require.NoError(t, w.Barrier(ctx))
	v0, err := a.Load(0).Wait(ctx)
	require.NoError(t, err)
	pe0, _, _ := a.PEAndOffset(0)
	if npes > 1 || n > 1 {
		require.Equal(t, T(pe0+npes+4), v0, "%s: a failed batch changed nothing", name)
	}

	// A sub-array: the same elements, renumbered.
	sub, err := a.SubArray(1, n-1)
	require.NoError(t, err)
	require.Equal(t, n-2, sub.Len())
	for i := range sub.Len() {
		spe, soff, err := sub.PEAndOffset(i)
		require.NoError(t, err)
		ppe, poff, _ := a.PEAndOffset(i + 1)
		require.Equal(t, [2]int{ppe, poff}, [2]int{spe, soff}, "%s: sub-array element %d", name, i)
	}
	if me == 0 {
		require.NoError(t, ignore(sub.Store(0, 3).Wait(ctx)))
	}
	require.NoError(t, w.Barrier(ctx))
	v1, err := a.Load(1).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, T(3), v1, "%s: a store through the sub-array", name)
	_, err = sub.SubArray(2, n)
	require.ErrorIs(t, err, errdefs.ErrOutOfRange)

	require.NoError(t, sub.Drop()) // a reference, like a clone
	require.NoError(t, a.Close(ctx))
	_, err = a.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = sub.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
}

func ignore[V any](_ V, err error) error { return err }

func scenarioUnsafe(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me := w.MyPE()
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			u, err := NewUnsafeArray[int64](ctx, w, n, d)
			require.NoError(t, err)
			data := u.LocalData()
			require.Len(t, data, u.NumElemsLocal())
			first, ok := u.FirstGlobalIndexForPE(me)
			for k := range data {
				// Element i holds 10*i: local offset k is this PE's k-th index.
				i := first + k
				if d == Cyclic {
					i = first + k*w.NPEs()
				}
				data[k] = int64(10 * i)
			}
			require.Equal(t, len(data) > 0, ok)
			if last, ok := u.LastGlobalIndexForPE(me); ok {
				require.Equal(t, int64(10*last), data[len(data)-1], "the last local element is the last index")
			}
			r, err := u.IntoReadOnly(ctx)
			require.NoError(t, err)
			idx := []int{n - 1, 0, n / 2, n / 3, n - 1}
			got, err := r.BatchLoad(idx).Wait(ctx)
			require.NoError(t, err)
			for k, i := range idx {
				require.Equal(t, int64(10*i), got[k], "%v n=%d: element %d", d, n, i)
			}
			seq, done := r.OneSided(ctx, 0)
			for i, v := range seq {
				require.Equal(t, int64(10*i), v)
			}
			require.NoError(t, done())
			require.NoError(t, r.Close(ctx))
		}
	}
	require.NoError(t, w.Close(ctx))
}
