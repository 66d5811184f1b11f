package array

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() {
	scenarios["lock-local"] = scenarioLockLocal
	scenarios["lock-global"] = scenarioLockGlobal
	scenarios["lock-ops"] = scenarioLockOps
}

// TestLocalLockArray: goroutines of each PE change its local data with
// unguarded read-modify-writes under the write lock while every PE adds
// to the same elements through element operations (under the owner's
// lock) and readers check a pair the writers keep equal: no update is
// lost and no reader sees half a write.
func TestLocalLockArray(t *testing.T) { petest.Both(t, scenarios, "lock-local", 2, 3) }

// TestGlobalLockArray: goroutines of every PE increment a counter on PE 0
// with an unguarded get and put under the global write lock: no update is
// lost. CollectiveWrite writes every PE's part at once.
func TestGlobalLockArray(t *testing.T) { petest.Both(t, scenarios, "lock-global", 2, 3) }

// TestLockArrayOps: the lock kinds' element and batch operations against
// a model, and their errors.
func TestLockArrayOps(t *testing.T) { petest.Both(t, scenarios, "lock-ops", 2, 3) }

// goroutines runs f(g) for g in [0, n) at once and joins their errors.
func goroutines(n int, f func(g int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = f(g)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func scenarioLockLocal(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	const writers, rounds = 3, 40
	l, err := NewLocalLockArray[int64](ctx, w, 4*npes, Block)
	require.NoError(t, err)
	err = goroutines(writers+2, func(g int) error {
		for range rounds {
			switch {
			case g < writers: // d[0]++ unguarded, d[1] and d[2] set apart
				err := l.WriteLocalData(ctx, func(d []int64) error {
					x := d[0]
					runtime.Gosched()
					d[0] = x + 1
					d[1] = x + 1
					runtime.Gosched()
					d[2] = x + 1
					return nil
				})
				if err != nil {
					return err
				}
			case g == writers: // every PE's element 0, by element operation
				for q := range npes {
					first, _ := l.FirstGlobalIndexForPE(q)
					if err := ignore(l.Add(first, 1).Wait(ctx)); err != nil {
						return err
					}
				}
			default:
				err := l.ReadLocalData(ctx, func(d []int64) error {
					a := d[1]
					runtime.Gosched()
					if d[2] != a {
						return fmt.Errorf("a reader saw d[1] %d and d[2] %d: half a write", a, d[2])
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, w.Barrier(ctx))
	require.NoError(t, l.ReadLocalData(ctx, func(d []int64) error {
		require.Equal(t, int64(writers*rounds+npes*rounds), d[0], "PE %d: lost updates", me)
		return nil
	}))
	require.ErrorIs(t, l.ReadLocalData(ctx, nil), errdefs.ErrInvalidArg)
	require.NoError(t, l.Close(ctx))
	err = l.WriteLocalData(ctx, func([]int64) error { return nil })
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: write local data")
	require.NoError(t, w.Close(ctx))
}

func scenarioLockGlobal(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	const writers, rounds = 2, 25
	n := 3 * npes
	g, err := NewGlobalLockArray[int64](ctx, w, n, Block)
	require.NoError(t, err)
	counter, err := NewUnsafeArray[int64](ctx, w, 1, Block) // on PE 0
	require.NoError(t, err)
	err = goroutines(writers, func(int) error {
		for range rounds {
			err := g.Write(ctx, func(d []int64) error {
				v, err := counter.Load(0).Wait(ctx)
				if err != nil {
					return err
				}
				runtime.Gosched()
				d[0]++
				return ignore(counter.Store(0, v+1).Wait(ctx))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, w.Barrier(ctx))
	got, err := counter.Load(0).Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(npes*writers*rounds), got, "lost updates: the write lock is not job-wide")
	require.NoError(t, g.Read(ctx, func(d []int64) error {
		require.Equal(t, int64(writers*rounds), d[0])
		return nil
	}))

	require.NoError(t, g.CollectiveWrite(ctx, func(d []int64) error {
		for k := range d {
			d[k] = int64(100*me + k)
		}
		return nil
	}))
	for i := range n {
		q, off, err := g.PEAndOffset(i)
		require.NoError(t, err)
		v, err := g.Load(i).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(100*q+off), v, "element %d", i)
	}
	require.NoError(t, w.Barrier(ctx)) // every PE read before anyone writes again
	want := fmt.Errorf("PE %d refuses", me)
	require.ErrorIs(t, g.Write(ctx, func([]int64) error { return want }), want)
	require.NoError(t, counter.Close(ctx))
	require.NoError(t, g.Close(ctx))
	err = g.CollectiveWrite(ctx, func([]int64) error { return nil })
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: collective write")
	require.NoError(t, w.Close(ctx))
}

// lockOps is what both lock kinds offer (their element operations).
type lockOps = lockBase[int32]

func scenarioLockOps(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	me, npes := w.MyPE(), w.NPEs()
	n := 2*npes + 1
	l, err := NewLocalLockArray[int32](ctx, w, n, Cyclic)
	require.NoError(t, err)
	g, err := NewGlobalLockArray[int32](ctx, w, n, Block)
	require.NoError(t, err)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	for _, k := range []struct {
		name string
		a    *lockOps
	}{{"local-lock", &l.lockBase}, {"global-lock", &g.lockBase}} {
		a := k.a
		// Every PE adds me+1 to every element, in one batch.
		vals := make([]int32, n)
		for i := range vals {
			vals[i] = int32(me + 1)
		}
		require.NoError(t, ignore(a.BatchAdd(all, vals).Wait(ctx)), k.name)
		require.NoError(t, w.Barrier(ctx))
		sum := int32(npes * (npes + 1) / 2)
		got, err := a.BatchLoad(all).Wait(ctx)
		require.NoError(t, err, k.name)
		for i, v := range got {
			require.Equal(t, sum, v, "%s: element %d", k.name, i)
		}
		require.NoError(t, w.Barrier(ctx))
		// PE me owns element me in the single operations.
		old, err := a.FetchAdd(me, 5).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, sum, old, k.name)
		old, err = a.Swap(me, 3).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, sum+5, old, k.name)
		x, err := a.CompareExchange(me, 4, 9).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, Exchanged[int32]{3, false}, x, k.name)
		x, err = a.CompareExchange(me, 3, 9).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, Exchanged[int32]{3, true}, x, k.name)
		require.NoError(t, ignore(a.Mul(me, 2).Wait(ctx)))
		v, err := a.Load(me).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, int32(18), v, k.name)
		xs, err := a.BatchCompareExchange([]int{me, me}, []int32{18, 18}, []int32{1, 2}).Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, []Exchanged[int32]{{18, true}, {1, false}}, xs, "%s: in order", k.name)
		// Bad input: errors naming it, nothing changed.
		_, err = a.Load(n).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		_, err = a.BatchFetchAdd([]int{0, n + 3}, []int32{1}).Wait(ctx)
		require.ErrorIs(t, err, errdefs.ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprint(n+3))
		_, err = a.Div(0, 0).Wait(ctx)
		require.Error(t, err)
		require.NoError(t, w.Barrier(ctx))
	}
	require.NoError(t, l.Close(ctx))
	require.NoError(t, g.Close(ctx))
	_, err = g.Load(0).Wait(ctx)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.ErrorContains(t, err, "array: load")
	require.NoError(t, w.Close(ctx))
}
