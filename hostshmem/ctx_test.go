package hostshmem_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["ctx"] = scenarioCtx
	scenarios["ctx_destroyed"] = scenarioCtxDestroyed
}

func TestCtx(t *testing.T) { petest.Both(t, scenarios, "ctx", 2, 3, 4) }

// TestCtxDestroyed: every kind of call on a destroyed context fails with
// ErrCtxDestroyed instead of crashing.
func TestCtxDestroyed(t *testing.T) {
	petest.Both(t, scenarios, "ctx_destroyed", 2, 3)
}

func TestCtxInprocMany(t *testing.T) { petest.Inproc(t, scenarios, "ctx", 8) }

func TestCtxOptionString(t *testing.T) {
	assert.Equal(t, "0", shmem.CtxOption(0).String())
	assert.Equal(t, "CtxPrivate", shmem.CtxPrivate.String())
	assert.Equal(t, "CtxSerialized|CtxNostore", (shmem.CtxSerialized | shmem.CtxNostore).String())
	assert.Equal(t, "CtxPrivate|0x40", (shmem.CtxPrivate | 0x40).String())
}

// ctxTraffic sends every kind of operation to the next PE on c and checks
// what the previous PE sent on its own context of the same kind.
func ctxTraffic(t *petest.T, pe *shmem.PE, c shmem.Comm, what string) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	const N = 64
	data, err := shmem.Calloc[int64](ctx, pe, 4*N)
	require.NoError(t, err)
	words, err := shmem.Calloc[uint64](ctx, pe, 2) // counter on PE 0, signal
	require.NoError(t, err)
	counter, sig := words.At(0), words.At(1)

	src := make([]int64, N)
	for i := range src {
		src[i] = int64(me*10_000 + i)
	}
	require.NoError(t, shmem.Put(c, data.Slice(0, N), src, next), what)
	require.NoError(t, shmem.PutNBI(c, data.Slice(N, 2*N), src, next), what)
	require.NoError(t, shmem.P(c, data.At(2*N), int64(-me), next), what)
	require.NoError(t, shmem.IPut(c, data.Slice(2*N+1, 3*N), src, 2, 1, N/2-1, next), what)
	require.NoError(t, shmem.Fence(c), what)
	old, err := shmem.AtomicFetchAdd(c, counter, 1, 0)
	require.NoError(t, err, what)
	assert.Less(t, old, uint64(n), what)
	require.NoError(t, shmem.PutSignal(c, data.Slice(3*N, 4*N), src, sig, uint64(me+1), shmem.SignalSet, next), what)
	require.NoError(t, shmem.Quiet(c), what)
	require.NoError(t, pe.BarrierAll(ctx))

	l := shmem.Local(pe, data)
	for i := 0; i < N; i++ {
		want := int64(prev*10_000 + i)
		require.Equal(t, want, l[i], "%s: put element %d", what, i)
		require.Equal(t, want, l[N+i], "%s: put_nbi element %d", what, i)
		require.Equal(t, want, l[3*N+i], "%s: put_signal element %d", what, i)
	}
	assert.Equal(t, int64(-prev), l[2*N], what)
	for i := 0; i < N/2-1; i++ {
		assert.Equal(t, int64(prev*10_000+i), l[2*N+1+2*i], "%s: iput element %d", what, i)
	}
	assert.Equal(t, uint64(prev+1), shmem.Local(pe, sig)[0], what)
	if me == 0 {
		assert.Equal(t, uint64(n), shmem.Local(pe, counter)[0], "%s: fetch-adds on PE 0", what)
	}

	// Gets from the next PE, which holds what this PE put.
	got := make([]int64, N)
	require.NoError(t, shmem.Get(c, got, data.Slice(0, N), next), what)
	assert.Equal(t, src, got, what)
	got2 := make([]int64, N)
	require.NoError(t, shmem.GetNBI(c, got2, data.Slice(N, 2*N), next), what)
	require.NoError(t, shmem.Quiet(c), what)
	assert.Equal(t, src, got2, what)
	v, err := shmem.G(c, data.At(2*N), next)
	require.NoError(t, err, what)
	assert.Equal(t, int64(-me), v, what)
	strided := make([]int64, N/2-1)
	require.NoError(t, shmem.IGet(c, strided, data.Slice(2*N+1, 3*N), 1, 2, N/2-1, next), what)
	assert.Equal(t, src[:N/2-1], strided, what)
	f, err := shmem.AtomicFetch(c, counter, 0)
	require.NoError(t, err, what)
	assert.Equal(t, uint64(n), f, what)

	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, words))
	require.NoError(t, shmem.Free(ctx, pe, data))
}

func scenarioCtx(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	require.Equal(t, 0, pe.Contexts())

	// Unknown option bits are refused, naming them.
	_, err := shmem.CtxCreate(pe, shmem.CtxPrivate|0x100)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
	assert.Contains(t, err.Error(), "0x100")
	require.Equal(t, 0, pe.Contexts(), "a refused context is not counted")

	// Operations on created contexts deliver like on the default one.
	ctxTraffic(t, pe, pe, "default context")
	for _, opts := range []shmem.CtxOption{0, shmem.CtxSerialized, shmem.CtxPrivate, shmem.CtxNostore,
		shmem.CtxPrivate | shmem.CtxSerialized | shmem.CtxNostore} {
		c, err := shmem.CtxCreate(pe, opts)
		require.NoError(t, err)
		assert.Same(t, pe, c.PE())
		assert.Equal(t, opts, c.Options())
		assert.Equal(t, 1, pe.Contexts())
		what := fmt.Sprintf("context %v", opts)
		ctxTraffic(t, pe, c, what)
		require.NoError(t, c.Fence(), what)
		require.NoError(t, c.Quiet(), what)
		require.NoError(t, c.Destroy(), what)
		assert.Equal(t, 0, pe.Contexts())
		assert.Same(t, pe, c.PE(), "a destroyed context still names its PE")
	}

	// Goroutines of one PE, each with a private context, and all of them
	// on one shared context, at once.
	const G, K = 4, 50
	slots, err := shmem.Calloc[int64](ctx, pe, 2*G*K)
	require.NoError(t, err)
	hits, err := shmem.Calloc[int64](ctx, pe, 1)
	require.NoError(t, err)
	shared, err := shmem.CtxCreate(pe, 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2*G)
	for g := 0; g < G; g++ {
		wg.Add(2)
		go func() { // private
			defer wg.Done()
			c, err := shmem.CtxCreate(pe, shmem.CtxPrivate)
			if err != nil {
				errs[g] = err
				return
			}
			for k := 0; k < K && err == nil; k++ {
				err = shmem.PutNBI(c, slots.At(g*K+k), []int64{int64(me<<20 | g<<10 | k)}, next)
				if err == nil {
					err = shmem.AtomicAdd(c, hits, 1, next)
				}
			}
			if err == nil {
				err = c.Quiet()
			}
			if derr := c.Destroy(); err == nil {
				err = derr
			}
			errs[g] = err
		}()
		go func() { // shared
			defer wg.Done()
			var err error
			for k := 0; k < K && err == nil; k++ {
				err = shmem.P(shared, slots.At((G+g)*K+k), int64(me<<20|(G+g)<<10|k), next)
				if err == nil {
					err = shmem.AtomicAdd(shared, hits, 1, next)
				}
			}
			if err == nil {
				err = shared.Quiet()
			}
			errs[G+g] = err
		}()
	}
	wg.Wait()
	for g, err := range errs {
		require.NoError(t, err, "goroutine %d", g)
	}
	require.NoError(t, shared.Destroy())
	require.NoError(t, pe.BarrierAll(ctx))
	prev := (me + n - 1) % n
	for i, v := range shmem.Local(pe, slots) {
		require.Equal(t, int64(prev<<20|(i/K)<<10|i%K), v, "slot %d", i)
	}
	assert.Equal(t, int64(2*G*K), shmem.Local(pe, hits)[0])
	require.NoError(t, pe.BarrierAll(ctx)) // before hits is written again

	// Many contexts created and destroyed leave none behind.
	cs := make([]*shmem.Ctx, 0, 1000)
	for i := 0; i < cap(cs); i++ {
		c, err := shmem.CtxCreate(pe, shmem.CtxOption(i%8))
		require.NoError(t, err)
		cs = append(cs, c)
	}
	assert.Equal(t, len(cs), pe.Contexts())
	for i, c := range cs {
		if i%3 == 0 { // some of them used
			require.NoError(t, shmem.P(c, hits, 0, next))
		}
		require.NoError(t, c.Destroy())
	}
	assert.Equal(t, 0, pe.Contexts())

	// Destroying twice, or the zero Ctx, is an error, not a panic.
	c, err := shmem.CtxCreate(pe, 0)
	require.NoError(t, err)
	require.NoError(t, c.Destroy())
	assert.ErrorIs(t, c.Destroy(), shmem.ErrCtxDestroyed)
	assert.Equal(t, 0, pe.Contexts(), "a second Destroy does not count twice")
	var zero shmem.Ctx
	assert.ErrorIs(t, zero.Destroy(), shmem.ErrCtxDestroyed)
	assert.Nil(t, zero.PE())

	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Free(ctx, pe, hits))
	require.NoError(t, shmem.Free(ctx, pe, slots))
}

func scenarioCtxDestroyed(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	x, err := shmem.Calloc[int64](ctx, pe, 4)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	buf := make([]int64, 2)

	for _, opts := range []shmem.CtxOption{0, shmem.CtxPrivate} {
		c, err := shmem.CtxCreate(pe, opts)
		require.NoError(t, err)
		require.NoError(t, shmem.Put(c, x.Slice(0, 2), buf, next))
		require.NoError(t, c.Destroy())
		for name, err := range ctxCalls(c, x, sig, buf, next) {
			if name == "destroy" {
				name = "destroy (the second)"
			}
			assert.ErrorIs(t, err, shmem.ErrCtxDestroyed, "%s on a destroyed %v context", name, opts)
		}
	}
	require.NoError(t, pe.BarrierAll(ctx))
	assert.Equal(t, []int64{0, 0, 0, 0}, shmem.Local(pe, x), "a destroyed context wrote")
	assert.Equal(t, uint64(0), shmem.Local(pe, sig)[0], "a destroyed context signalled")
	require.NoError(t, shmem.Free(ctx, pe, sig))
	require.NoError(t, shmem.Free(ctx, pe, x))
}

// ctxCalls makes every call that takes a context, on c, with object x,
// signal sig, buffer buf (2 elements) and target PE next: the error of
// each by name. Destroy comes last.
func ctxCalls(c *shmem.Ctx, x shmem.Sym[int64], sig shmem.Sym[uint64], buf []int64, next int) map[string]error {
	_, g := shmem.G(c, x, next)
	_, fa := shmem.AtomicFetchAdd(c, x, 1, next)
	_, f := shmem.AtomicFetch(c, x, next)
	_, cs := shmem.AtomicCompareSwap(c, x, 0, 1, next)
	var fetch int64
	errs := map[string]error{
		"atomic_fetch_nbi":        shmem.AtomicFetchNBI(c, &fetch, x, next),
		"atomic_swap_nbi":         shmem.AtomicSwapNBI(c, &fetch, x, 1, next),
		"atomic_compare_swap_nbi": shmem.AtomicCompareSwapNBI(c, &fetch, x, 0, 1, next),
		"atomic_fetch_inc_nbi":    shmem.AtomicFetchIncNBI(c, &fetch, x, next),
		"atomic_fetch_add_nbi":    shmem.AtomicFetchAddNBI(c, &fetch, x, 1, next),
		"atomic_fetch_and_nbi":    shmem.AtomicFetchAndNBI(c, &fetch, x, 1, next),
		"atomic_fetch_or_nbi":     shmem.AtomicFetchOrNBI(c, &fetch, x, 1, next),
		"atomic_fetch_xor_nbi":    shmem.AtomicFetchXorNBI(c, &fetch, x, 1, next),

		"put":              shmem.Put(c, x.Slice(0, 2), buf, next),
		"put_nbi":          shmem.PutNBI(c, x.Slice(0, 2), buf, next),
		"get":              shmem.Get(c, buf, x.Slice(0, 2), next),
		"get_nbi":          shmem.GetNBI(c, buf, x.Slice(0, 2), next),
		"putmem":           shmem.PutMem(c, shmem.Bytes(x), []byte{1}, next),
		"getmem":           shmem.GetMem(c, []byte{1}, shmem.Bytes(x), next),
		"p":                shmem.P(c, x, 1, next),
		"g":                g,
		"iput":             shmem.IPut(c, x, buf, 2, 1, 2, next),
		"iget":             shmem.IGet(c, buf, x, 1, 2, 2, next),
		"atomic_fetch_add": fa,
		"atomic_fetch":     f,
		"compare_swap":     cs,
		"atomic_add":       shmem.AtomicAdd(c, x, 1, next),
		"atomic_set":       shmem.AtomicSet(c, x, 1, next),
		"put_signal":       shmem.PutSignal(c, x.Slice(0, 2), buf, sig, 1, shmem.SignalSet, next),
		"put_signal_nbi":   shmem.PutSignalNBI(c, x.Slice(0, 2), buf, sig, 1, shmem.SignalAdd, next),
		"quiet":            shmem.Quiet(c),
		"fence":            shmem.Fence(c),
		"quiet (method)":   c.Quiet(),
		"fence (method)":   c.Fence(),
	}
	errs["destroy"] = c.Destroy()
	return errs
}
