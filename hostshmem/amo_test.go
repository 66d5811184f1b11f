package hostshmem_test

import (
	"math"
	"sort"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

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
	all, err := shmem.Calloc[T](ctx, pe, n*2*K)
	require.NoError(t, err)
	require.NoError(t, shmem.Put(pe, all.Slice(me*2*K, (me+1)*2*K), fetched, 0))
	require.NoError(t, pe.BarrierAll(ctx))
	if me == 0 {
		vals := append([]T(nil), shmem.Local(pe, all)...)
		sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
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
	require.NoError(t, shmem.Free(ctx, pe, all))
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
