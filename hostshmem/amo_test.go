package hostshmem_test

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["amo_nbi"] = scenarioAMONBI }

// TestAMONBI: the non-blocking fetching atomics store what the blocking
// ones return, on the default context and on created ones.
func TestAMONBI(t *testing.T) { petest.Both(t, scenarios, "amo_nbi", 1, 2, 3, 4) }

// amoInt checks every integer atomic on T: contended adds whose fetched
// values must be a permutation, then each bitwise and swap op against a
// serial model on a word only this PE touches (on its next PE).
func amoInt[T shmem.AMOInt](t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	const K = 200
	w, err := shmem.Calloc[T](ctx, pe, 1+n)
	require.NoError(t, err)
	counter := w.At(0)

	// Every PE fetch-adds/fetch-incs PE 0's counter K times; the values
	// fetched across all PEs are exactly 0..n*2K-1.
	fetched := make([]T, 0, 2*K)
	for i := 0; i < K; i++ {
		v, err := shmem.AtomicFetchAdd(pe, counter, 1, 0)
		require.NoError(t, err)
		fetched = append(fetched, v)
		v, err = shmem.AtomicFetchInc(pe, counter, 0)
		require.NoError(t, err)
		fetched = append(fetched, v)
	}
	require.NoError(t, pe.BarrierAll(ctx))
	for i := 0; i < K; i++ {
		require.NoError(t, shmem.AtomicAdd(pe, counter, 2, 0))
		require.NoError(t, shmem.AtomicInc(pe, counter, 0))
	}
	require.NoError(t, pe.BarrierAll(ctx))
	total, err := shmem.AtomicFetch(pe, counter, 0)
	require.NoError(t, err)
	require.Equal(t, T(n*5*K), total, "contended adds lost updates")
	// All fetched values are distinct: collect them on PE 0.
	if vals := gatherSorted(t, pe, fetched); me == 0 {
		for i, v := range vals {
			if v >= T(n*2*K) || (i > 0 && v == vals[i-1]) {
				t.Errorf("fetched values are not distinct in [0, %d): %v at %d", n*2*K, v, i)
				break
			}
		}
	}

	// Serial model on my own word on the next PE.
	next := (me + 1) % n
	word := w.At(1 + me)
	model := T(0)
	step := func(name string, got T, gerr error, wantOld T, newModel T) {
		require.NoError(t, gerr, name)
		require.Equal(t, wantOld, got, "%s returned the wrong old value", name)
		model = newModel
	}
	require.NoError(t, shmem.AtomicSet(pe, word, T(0x5a5a), next))
	model = 0x5a5a
	v, err := shmem.AtomicFetchAnd(pe, word, T(0x0ff0), next)
	step("fetch_and", v, err, model, model&0x0ff0)
	v, err = shmem.AtomicFetchOr(pe, word, T(0x1001), next)
	step("fetch_or", v, err, model, model|0x1001)
	v, err = shmem.AtomicFetchXor(pe, word, T(0x3333), next)
	step("fetch_xor", v, err, model, model^0x3333)
	require.NoError(t, shmem.AtomicAnd(pe, word, T(0x7777), next))
	model &= 0x7777
	require.NoError(t, shmem.AtomicOr(pe, word, T(0x8000), next))
	model |= 0x8000
	require.NoError(t, shmem.AtomicXor(pe, word, T(0x00ff), next))
	model ^= 0x00ff
	v, err = shmem.AtomicSwap(pe, word, T(77), next)
	step("swap", v, err, model, 77)
	v, err = shmem.AtomicCompareSwap(pe, word, T(76), T(99), next) // fails: holds 77
	step("compare_swap (miss)", v, err, 77, 77)
	v, err = shmem.AtomicCompareSwap(pe, word, T(77), T(99), next)
	step("compare_swap (hit)", v, err, 77, 99)
	v, err = shmem.AtomicFetch(pe, word, next)
	step("fetch", v, err, 99, 99)
	// Negative operands wrap as two's complement in signed types.
	require.NoError(t, shmem.AtomicAdd(pe, word, T(0)-T(1)+T(1), next))
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, w))
}

func amoFloat[T float32 | float64](t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	w, err := shmem.Calloc[T](ctx, pe, 1)
	require.NoError(t, err)
	require.NoError(t, shmem.AtomicSet(pe, w, T(math.Pi)+T(me), next))
	require.NoError(t, pe.BarrierAll(ctx))
	v, err := shmem.AtomicFetch(pe, w, pe.MyPE())
	require.NoError(t, err)
	assert.Equal(t, T(math.Pi)+T((me+n-1)%n), v)
	require.NoError(t, pe.BarrierAll(ctx))
	old, err := shmem.AtomicSwap(pe, w, T(-0.5), next)
	require.NoError(t, err)
	assert.Equal(t, T(math.Pi)+T(me), old)
	require.NoError(t, pe.BarrierAll(ctx))
	assert.Equal(t, T(-0.5), shmem.Local(pe, w)[0])
	require.NoError(t, shmem.Free(ctx, pe, w))
}

func scenarioAMO(t *petest.T, pe *shmem.PE) {
	amoInt[int32](t, pe)
	amoInt[uint32](t, pe)
	amoInt[int64](t, pe)
	amoInt[uint64](t, pe)
	amoFloat[float32](t, pe)
	amoFloat[float64](t, pe)
}

// amoNBIInt checks every non-blocking fetching atomic on T, on context c:
// contended fetch-adds and fetch-incs whose fetched values (read after
// Quiet) must be distinct, then each op against a serial model on a word
// only this PE touches (on its next PE), then the errors, which store
// nothing.
func amoNBIInt[T shmem.AMOInt](t *petest.T, pe *shmem.PE, c shmem.Comm, what string) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	const K = 100
	w, err := shmem.Calloc[T](ctx, pe, 1+n)
	require.NoError(t, err)
	counter, word := w.At(0), w.At(1+me)

	fetched := make([]T, 2*K)
	for i := range fetched {
		fetched[i] = ^T(0) // no fetch-add on a counter of n*2K returns it
	}
	for i := 0; i < K; i++ {
		require.NoError(t, shmem.AtomicFetchAddNBI(c, &fetched[2*i], counter, 1, 0), what)
		require.NoError(t, shmem.AtomicFetchIncNBI(c, &fetched[2*i+1], counter, 0), what)
	}
	require.NoError(t, shmem.Quiet(c), what)
	if vals := gatherSorted(t, pe, fetched); me == 0 {
		for i, v := range vals {
			require.Equal(t, T(i), v, "%s: the fetched values are not 0..%d: %d at %d", what, n*2*K-1, v, i)
		}
		assert.Equal(t, T(n*2*K), shmem.Local(pe, counter)[0], what)
	}

	// The serial model: each op, Quiet, then the fetched value.
	model := T(0x5a5a)
	require.NoError(t, shmem.AtomicSet(c, word, model, next), what)
	step := func(name string, err error, f *T, want, now T) {
		require.NoError(t, err, "%s: %s", what, name)
		require.NoError(t, shmem.Quiet(c), what)
		require.Equal(t, want, *f, "%s: %s fetched the wrong value", what, name)
		model = now
		*f = 0
	}
	var f T
	step("fetch_and_nbi", shmem.AtomicFetchAndNBI(c, &f, word, T(0x0ff0), next), &f, model, model&0x0ff0)
	step("fetch_or_nbi", shmem.AtomicFetchOrNBI(c, &f, word, T(0x1001), next), &f, model, model|0x1001)
	step("fetch_xor_nbi", shmem.AtomicFetchXorNBI(c, &f, word, T(0x3333), next), &f, model, model^0x3333)
	step("fetch_add_nbi", shmem.AtomicFetchAddNBI(c, &f, word, T(5), next), &f, model, model+5)
	step("fetch_inc_nbi", shmem.AtomicFetchIncNBI(c, &f, word, next), &f, model, model+1)
	step("swap_nbi", shmem.AtomicSwapNBI(c, &f, word, T(77), next), &f, model, 77)
	step("compare_swap_nbi (miss)", shmem.AtomicCompareSwapNBI(c, &f, word, T(76), T(99), next), &f, 77, 77)
	step("compare_swap_nbi (hit)", shmem.AtomicCompareSwapNBI(c, &f, word, T(77), T(99), next), &f, 77, 99)
	step("fetch_nbi", shmem.AtomicFetchNBI(c, &f, word, next), &f, 99, 99)

	// A nil fetch destination, a PE out of range and an invalid object
	// are errors that change neither the word nor *fetch.
	err = shmem.AtomicFetchAddNBI(c, nil, word, 1, next)
	require.ErrorIs(t, err, shmem.ErrInvalidArg, what)
	assert.Contains(t, err.Error(), "atomic_fetch_add_nbi: invalid argument: nil fetch destination", what)
	f = 42
	require.ErrorIs(t, shmem.AtomicSwapNBI(c, &f, word, 1, n), shmem.ErrInvalidPE, what)
	require.ErrorIs(t, shmem.AtomicFetchNBI(c, &f, w.At(1+n), next), shmem.ErrOutOfRange, what)
	require.NoError(t, shmem.Quiet(c), what)
	assert.Equal(t, T(42), f, "%s: a refused atomic stored a fetch", what)
	v, err := shmem.AtomicFetch(c, word, next)
	require.NoError(t, err, what)
	assert.Equal(t, model, v, "%s: a refused atomic changed the word", what)

	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, w))
}

// amoNBIFloat checks the non-blocking fetch and swap on float types.
func amoNBIFloat[T float32 | float64](t *petest.T, pe *shmem.PE, c shmem.Comm, what string) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	w, err := shmem.Calloc[T](ctx, pe, 1)
	require.NoError(t, err)
	require.NoError(t, shmem.AtomicSet(c, w, T(math.Pi)+T(me), next), what)
	require.NoError(t, shmem.Quiet(c), what)
	require.NoError(t, pe.BarrierAll(ctx))
	var f T
	require.NoError(t, shmem.AtomicFetchNBI(c, &f, w, me), what)
	require.NoError(t, shmem.Quiet(c), what)
	assert.Equal(t, T(math.Pi)+T(prev), f, what)
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.AtomicSwapNBI(c, &f, w, T(-0.5), next), what)
	require.NoError(t, shmem.Quiet(c), what)
	assert.Equal(t, T(math.Pi)+T(me), f, what)
	require.NoError(t, pe.BarrierAll(ctx))
	assert.Equal(t, T(-0.5), shmem.Local(pe, w)[0], what)
	require.NoError(t, shmem.Free(ctx, pe, w))
}

func scenarioAMONBI(t *petest.T, pe *shmem.PE) {
	for _, opts := range []shmem.CtxOption{0, shmem.CtxPrivate} {
		c, err := shmem.CtxCreate(pe, opts)
		require.NoError(t, err)
		for _, cm := range []struct {
			c    shmem.Comm
			what string
		}{{pe, "default context"}, {c, fmt.Sprintf("context %v", opts)}} {
			amoNBIInt[int32](t, pe, cm.c, cm.what+", int32")
			amoNBIInt[uint32](t, pe, cm.c, cm.what+", uint32")
			amoNBIInt[int64](t, pe, cm.c, cm.what+", int64")
			amoNBIInt[uint64](t, pe, cm.c, cm.what+", uint64")
			amoNBIFloat[float32](t, pe, cm.c, cm.what+", float32")
			amoNBIFloat[float64](t, pe, cm.c, cm.what+", float64")
		}
		require.NoError(t, c.Destroy())
	}
}

// gatherSorted collects every PE's fetched values (the same count on each)
// on PE 0 and returns them sorted there; nil on the other PEs.
func gatherSorted[T shmem.AMOInt](t *petest.T, pe *shmem.PE, fetched []T) []T {
	ctx := t.Context()
	me, n, k := pe.MyPE(), pe.NPEs(), len(fetched)
	all, err := shmem.Calloc[T](ctx, pe, n*k)
	require.NoError(t, err)
	require.NoError(t, shmem.Put(pe, all.Slice(me*k, (me+1)*k), fetched, 0))
	require.NoError(t, pe.BarrierAll(ctx))
	var vals []T
	if me == 0 {
		vals = append(vals, shmem.Local(pe, all)...)
		sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	}
	require.NoError(t, shmem.Free(ctx, pe, all))
	return vals
}
