package array

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["struct"] = scenarioStruct
	scenarios["struct-wrong"] = scenarioStructWrong
}

// TestStructArray runs the custom-element grid on 2, 3 and 4 PEs, in
// process, RMA-only (every other PE's element by AM) and as processes.
func TestStructArray(t *testing.T) { petest.Both(t, scenarios, "struct", 2, 3, 4) }

// TestStructArrayWrong: element types a struct array cannot hold, unknown
// operations, bad indices and a closed array are errors that say so.
func TestStructArrayWrong(t *testing.T) { petest.Inproc(t, scenarios, "struct-wrong", 2) }

// particle is a custom element: fields of several sizes, an array, and a
// float, 32 bytes.
type particle struct {
	Count int64
	X, Y  float32
	Tag   [3]uint8
	Live  bool
	Owner int32
	Mass  float64
}

// particleOps are the user operations of the tests' arrays.
var particleOps = map[string]Update[particle]{
	// bump counts a visit by v.Owner: no update may be lost.
	"bump": func(old, v particle) particle {
		old.Count++
		old.X += v.X
		old.Owner = v.Owner
		return old
	},
	"scale": func(old, v particle) particle { old.Mass *= v.Mass; return old },
}

func scenarioStruct(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	for _, d := range []Distribution{Block, Cyclic} {
		for _, n := range lengths {
			structGrid(t, w, d, n)
		}
	}
	require.NoError(t, w.Close(t.Context()))
}

// structGrid checks one struct array: stores and loads, user operations
// from every PE at once, swap and compare-exchange, batches in order, a
// one-sided walk, a sub-array and Close.
func structGrid(t *petest.T, w *am.World, d Distribution, n int) {
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	name := fmt.Sprintf("%v n=%d", d, n)
	a, err := NewStructArray(ctx, w, n, d, StructOptions[particle]{Ops: particleOps})
	require.NoError(t, err, name)
	want := func(i int) particle {
		return particle{Count: int64(i), X: float32(i) / 2, Tag: [3]uint8{uint8(i), 1, 2}, Live: i%2 == 0, Owner: -1, Mass: 1.5}
	}

	// PE 0 stores every element, one by one for the first half and as a
	// batch for the rest; every PE then reads them all back.
	if me == 0 {
		var idx []int
		var vals []particle
		for i := range n {
			if i < n/2 {
				require.NoError(t, ignore(a.Store(i, want(i)).Wait(ctx)), name)
				continue
			}
			idx, vals = append(idx, i), append(vals, want(i))
		}
		require.NoError(t, ignore(a.BatchStore(idx, vals).Wait(ctx)), name)
	}
	require.NoError(t, w.Barrier(ctx))
	for i := range n {
		v, err := a.Load(i).Wait(ctx)
		require.NoError(t, err, name)
		require.Equal(t, want(i), v, "%s: element %d", name, i)
	}
	seq, done := a.OneSided(ctx, 5)
	count := 0
	for i, v := range seq {
		require.Equal(t, count, i, "%s: one-sided order", name)
		require.Equal(t, want(i), v, "%s: one-sided element %d", name, i)
		count++
	}
	require.NoError(t, done())
	require.Equal(t, n, count)
	require.NoError(t, w.Barrier(ctx))

	// Every PE bumps every element twice, once alone and once in a batch
	// (backwards, with its number as the operand): no update is lost.
	for i := range n {
		_, err := a.Apply("bump", i, particle{X: 1, Owner: int32(me)}).Wait(ctx)
		require.NoError(t, err, name)
	}
	var idx []int
	for i := n - 1; i >= 0; i-- {
		idx = append(idx, i)
	}
	before, err := a.BatchApply("bump", idx, []particle{{X: 1, Owner: int32(me)}}).Wait(ctx)
	require.NoError(t, err, name)
	require.Len(t, before, n)
	for k, i := range idx {
		require.GreaterOrEqual(t, before[k].Count, int64(i+1), "%s: batch position %d (element %d) before: at least this PE's own bump", name, k, i)
		require.Equal(t, want(i).Tag, before[k].Tag, "%s: batch results in batch order", name)
	}
	require.NoError(t, w.Barrier(ctx))
	for i, v := range a.Local() {
		pe, _, _ := a.PEAndOffset(i)
		require.Equal(t, me, pe, "%s: Local yields this PE's elements", name)
		require.Equal(t, int64(i+2*npes), v.Count, "%s: element %d after every PE bumped it twice", name, i)
		require.Equal(t, float32(i)/2+float32(2*npes), v.X, "%s: element %d", name, i)
	}
	require.NoError(t, w.Barrier(ctx))

	// Swap and compare-exchange, each on its own element per PE: a miss
	// returns the value and changes nothing, a hit replaces it.
	for i := me; i < n; i += npes {
		cur, err := a.Load(i).Wait(ctx)
		require.NoError(t, err)
		x, err := a.CompareExchange(i, particle{Count: -5}, want(0)).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, Exchanged[particle]{Old: cur}, x, "%s: a miss on element %d", name, i)
		x, err = a.CompareExchange(i, cur, want(i)).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, Exchanged[particle]{Old: cur, Swapped: true}, x, "%s: a hit on element %d", name, i)
		old, err := a.Swap(i, cur).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, want(i), old)
	}
	require.NoError(t, w.Barrier(ctx))
	// The batch form, on every element from PE 0: expected values paired,
	// odd positions miss.
	if me == 0 {
		var idx []int
		var cur, vals []particle
		for i := range n {
			v, err := a.Load(i).Wait(ctx)
			require.NoError(t, err)
			if i%2 == 1 {
				v.Count = -1
			}
			idx, cur, vals = append(idx, i), append(cur, v), append(vals, want(i))
		}
		xs, err := a.BatchCompareExchange(idx, cur, vals).Wait(ctx)
		require.NoError(t, err, name)
		for k, x := range xs {
			require.Equal(t, k%2 == 0, x.Swapped, "%s: batch compare-exchange position %d", name, k)
		}
		got, err := a.BatchLoad(idx).Wait(ctx)
		require.NoError(t, err)
		for i, v := range got {
			if i%2 == 0 {
				require.Equal(t, want(i), v, "%s: element %d replaced", name, i)
			} else {
				require.Equal(t, int64(i+2*npes), v.Count, "%s: element %d unchanged", name, i)
			}
		}
	}
	require.NoError(t, w.Barrier(ctx))

	// A sub-array shares the elements, renumbered.
	sub, err := a.SubArray(1, n)
	require.NoError(t, err)
	if me == npes-1 {
		_, err := sub.Apply("scale", 0, particle{Mass: 2}).Wait(ctx)
		require.NoError(t, err)
	}
	require.NoError(t, w.Barrier(ctx))
	v, err := a.Load(1).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 3.0, v.Mass, "%s: the sub-array's element 0 is element 1", name)

	require.NoError(t, sub.Drop()) // a reference: Close waits for it
	require.NoError(t, a.Close(ctx))
	_, err = a.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	_, err = sub.BatchLoad([]int{0}).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: batch load")
}

type withPointer struct {
	N int64
	P *int64
}

type withString struct {
	Name string
}

type hiddenField struct {
	N      int64
	secret int32
}

var _ = hiddenField{secret: 1} // the codec refuses the unexported field

func scenarioStructWrong(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	_, err := NewStructArray(ctx, w, 8, Block, StructOptions[withPointer]{})
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	require.ErrorContains(t, err, "array.withPointer.P is a ptr")
	_, err = NewStructArray(ctx, w, 8, Block, StructOptions[withString]{})
	require.ErrorContains(t, err, "array.withString.Name is a string")
	_, err = NewStructArray(ctx, w, 8, Block, StructOptions[hiddenField]{})
	require.ErrorIs(t, err, am.ErrCodec)
	require.ErrorContains(t, err, "secret")
	_, err = NewStructArray(ctx, w, 8, Block, StructOptions[particle]{Ops: map[string]Update[particle]{"nil": nil}})
	require.ErrorContains(t, err, `operation "nil" is nil`)
	_, err = NewStructArray[particle](context.Background(), nil, 8, Block, StructOptions[particle]{})
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)

	a, err := NewStructArray(ctx, w, 8, Cyclic, StructOptions[particle]{Ops: particleOps})
	require.NoError(t, err)
	_, err = a.Apply("nope", 0, particle{}).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	require.ErrorContains(t, err, `no operation "nope" (the array has ["bump" "scale"])`)
	for _, bad := range []int{-1, 8} {
		_, err := a.Load(bad).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("index %d, length 8", bad))
	}
	_, err = a.BatchStore([]int{0, 9}, []particle{{Count: 1}}).Wait(ctx)
	require.ErrorContains(t, err, "batch position 1: array: out of range: index 9, length 8")
	_, err = a.BatchCompareExchange([]int{0, 1, 2}, []particle{{}, {}}, []particle{{}}).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrInvalidArg)
	require.NoError(t, w.Barrier(ctx))
	v, err := a.Load(0).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, particle{}, v, "failed batches changed nothing")
	require.NoError(t, a.Close(ctx))
	require.ErrorIs(t, a.Close(ctx), errdefs.ErrClosed)
	require.NoError(t, w.Close(ctx))
}
