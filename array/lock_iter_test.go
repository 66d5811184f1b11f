package array

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/am"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["lock-iter"] = scenarioLockIter }

// TestLockArrayIters: the lock kinds' iterators walk under the array's
// lock (a writer trying to take it during a walk waits), their mutable
// walks' unguarded read-modify-writes lose nothing beside element
// operations from every PE, and their reductions, local walks and zips
// see every element.
func TestLockArrayIters(t *testing.T) { petest.Both(t, scenarios, "lock-iter", 2, 3) }

// lockKind is what the scenario needs of either lock kind.
type lockKind interface {
	DistIter() Dist[Indexed[int64]]
	LocalIter() Local[Indexed[int64]]
	DistIterMut() Dist[Indexed[*int64]]
	Add(i int, v int64) *am.Future[am.Unit]
	Sum(ctx context.Context) (int64, error)
	FirstGlobalIndexForPE(pe int) (int, bool)
	NumElemsLocal() int
	Len() int
	Close(ctx context.Context) error
}

func scenarioLockIter(t *petest.T, pe *shmem.PE) {
	w := newWorld(t, pe)
	ctx := t.Context()
	npes := w.NPEs()
	const rounds = 20
	n := 5*npes + 1
	for _, kind := range []string{"local", "global"} {
		var l lockKind
		var write func(ctx context.Context) error // takes the write lock a walk must hold
		switch kind {
		case "local":
			a, err := NewLocalLockArray[int64](ctx, w, n, Cyclic)
			require.NoError(t, err)
			l = localLock{a}
			write = func(ctx context.Context) error {
				return a.WriteLocalData(ctx, func([]int64) error { return nil })
			}
		default:
			a, err := NewGlobalLockArray[int64](ctx, w, n, Cyclic)
			require.NoError(t, err)
			l = globalLock{a}
			write = func(ctx context.Context) error { return a.Write(ctx, func([]int64) error { return nil }) }
		}
		// During a walk the lock is held: a writer on this PE waits
		// until its own deadline.
		var tried atomic.Bool
		err := l.DistIter().ForEach(ctx, func(Indexed[int64]) error {
			if tried.Swap(true) {
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if err := write(wctx); !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%s: a writer during a read walk got %v, want it to wait", kind, err)
			}
			return nil
		})
		require.NoError(t, err, kind)
		require.True(t, tried.Load() || l.NumElemsLocal() == 0, kind)

		// Unguarded increments in a mutable walk, beside element adds to
		// every PE's first element from every PE: nothing is lost.
		err = goroutines(2, func(g int) error {
			if g == 1 {
				for range rounds {
					for q := range npes {
						first, _ := l.FirstGlobalIndexForPE(q)
						if _, err := l.Add(first, 1).Wait(ctx); err != nil {
							return err
						}
					}
				}
				return nil
			}
			for range rounds {
				err := l.DistIterMut().Schedule(Dynamic()).ForEach(ctx, func(x Indexed[*int64]) error {
					v := *x.Value
					runtime.Gosched()
					*x.Value = v + 1
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err, kind)
		require.NoError(t, w.Barrier(ctx))
		want := int64(n*rounds + npes*npes*rounds) // every element +rounds; each PE's first +npes*rounds
		sum, err := l.Sum(ctx)
		require.NoError(t, err, kind)
		require.Equal(t, want, sum, "%s: lost updates", kind)
		got, err := l.LocalIter().Count(ctx)
		require.NoError(t, err, kind)
		require.Equal(t, l.NumElemsLocal(), got, kind)

		// Zip with an unsafe array of the same layout: both walked, under
		// the lock array's lock.
		u, err := NewUnsafeArray[int64](ctx, w, n, Cyclic)
		require.NoError(t, err)
		pairs, err := Map(Zip(l.DistIter(), u.DistIter()), func(p Pair[Indexed[int64], Indexed[int64]]) int64 {
			return p.Left.Value + p.Right.Value
		}).Count(ctx)
		require.NoError(t, err, kind)
		require.Equal(t, n, pairs, kind)
		require.NoError(t, u.Close(ctx))
		require.NoError(t, l.Close(ctx), kind)
	}
	require.NoError(t, w.Close(ctx))
}

// localLock and globalLock give the two kinds one interface.
type localLock struct{ *LocalLockArray[int64] }
type globalLock struct{ *GlobalLockArray[int64] }
