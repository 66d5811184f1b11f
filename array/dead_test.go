package array

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/testseam"
)

// TestArrayDeadPE: in the RMA-only mode (every array operation on another
// PE goes through the fabric or an AM, as across nodes), PE 2 dies holding
// part of an array. The survivors' operations that wait on it (a batch by
// AM, a collective ForEach) fail with errors naming it, and none hangs;
// operations on the survivors' own elements still work.
func TestArrayDeadPE(t *testing.T) {
	const n, npes, dead = 30, 3, 2
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	results := map[int]map[string]error{}
	cfg := gshmem.Config{NPEs: npes, HeapSize: 4 << 20}
	err := gshmem.RunWith(testseam.WithRMAOnly(ctx), cfg, func(runCtx context.Context, pe *shmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		a, err := NewAtomicArray[int64](ctx, w, n, Cyclic)
		if err != nil {
			return err
		}
		if pe.MyPE() == dead {
			w.Abort()
			runtime.Goexit() // the PE dies: the job fails it and ends the others' run context
		}
		<-runCtx.Done() // PE 2 is dead
		// A fresh context: the operations must end by themselves.
		opCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		onDead := []int{dead, dead + npes, n - 1} // Cyclic: i%3 == 2
		mine := pe.MyPE()
		r := map[string]error{}
		r["batch add"] = ignore(a.BatchAdd(onDead, []int64{1}).Wait(opCtx))
		r["batch load"] = ignore(a.BatchLoad(onDead).Wait(opCtx))
		r["fetch add"] = ignore(a.FetchAdd(dead, 1).Wait(opCtx))
		seq, done := a.OneSided(opCtx, 0)
		for range seq {
		}
		r["one-sided"] = done()
		r["for each"] = a.ForEach(opCtx, func(Elem[int64]) error { return nil })
		// This PE's own elements still work.
		r["own"] = ignore(a.FetchAdd(mine, 1).Wait(opCtx))
		mu.Lock()
		results[pe.MyPE()] = r
		mu.Unlock()
		w.Abort()
		return nil
	})
	require.Error(t, err, "PE 2's death is the job's error")
	require.ErrorContains(t, err, "PE 2")
	require.Len(t, results, npes-1)
	for me, r := range results {
		for _, op := range []string{"batch add", "batch load", "for each"} {
			require.ErrorIs(t, r[op], errdefs.ErrPeerDead, "PE %d: %s on the dead PE's elements", me, op)
			require.ErrorContains(t, r[op], "PE 2", "PE %d: %s names the dead PE", me, op)
		}
		require.NoError(t, r["own"], "PE %d: its own elements", me)
		// An element atomic is one fabric atomic and a one-sided walk
		// fabric Gets, as in hostshmem: where the dead PE's memory is
		// still reachable (in process, in shared memory) they complete
		// there; else they fail naming the PE.
		for _, op := range []string{"fetch add", "one-sided"} {
			if err := r[op]; err != nil {
				require.ErrorIs(t, err, errdefs.ErrPeerDead, "PE %d: %s on the dead PE", me, op)
				require.ErrorContains(t, err, "PE 2")
			}
		}
	}
}
