package hostshmem_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/testseam"
)

// TestFinalizeRace: goroutines using a PE while another goroutine
// finalizes or aborts it get nil or ErrFinalized from every call, and
// ErrFinalized from every call once they have seen it: never a data race
// (run it under -race), a nil dereference or a read of released state.
//
// It runs on inproc, with and without load/store access to the peer. A
// call already past its entry check when the PE starts closing still
// touches the memory; inproc unmaps only when every PE has closed, and the
// peer's fabric holds its close until the users are done, so such a call
// finds the memory there. (On shm a PE's close unmaps at once: see
// Finalize.)
func TestFinalizeRace(t *testing.T) {
	for _, how := range []string{"finalize", "abort"} {
		for _, rmaOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/rma_only=%v", how, rmaOnly), func(t *testing.T) { finalizeRace(t, how, rmaOnly) })
		}
	}
}

func finalizeRace(t *testing.T, how string, rmaOnly bool) {
	const users, warmup, N = 4, 200, 16
	job, err := inprocfab.New(2, shmem.RegionSize(1<<20))
	require.NoError(t, err)
	var used, warm sync.WaitGroup // PE 0's users: done, and past their warm-up
	used.Add(users)
	warm.Add(users)
	var pes sync.WaitGroup
	for i := range 2 {
		pes.Add(1)
		go func() {
			defer pes.Done()
			ctx := context.Background()
			f := closeHook{Fabric: job.Fabric(i)}
			if rmaOnly {
				f.Fabric = testseam.HidePeers(f.Fabric)
			}
			if i == 1 {
				// Keep PE 1's region (and the job's mappings) until PE 0's
				// users are done.
				f.before = used.Wait
			}
			var pe *shmem.PE
			var x shmem.Sym[int64]
			if i == 0 {
				f.before = func() { // the PE is closing: calls already fail
					assert.ErrorIs(t, shmem.P(pe, x, 1, 1), shmem.ErrFinalized, "P while PE 0 closes")
					assert.Nil(t, shmem.Local(pe, x), "Local while PE 0 closes")
				}
			}
			pe, err := shmem.New(f, shmem.Config{})
			if !assert.NoError(t, err, "PE %d", i) {
				job.Fail(i, "new")
				job.Fabric(i).Close(fabric.Failed)
				return
			}
			x, err = shmem.Calloc[int64](ctx, pe, N)
			assert.NoError(t, err, "PE %d", i)
			sig, err := shmem.Calloc[uint64](ctx, pe, 1)
			assert.NoError(t, err, "PE %d", i)
			if i == 1 {
				err := pe.Finalize(ctx)
				if how == "abort" {
					assert.ErrorIs(t, err, fabric.ErrPeerDead, "PE 1's Finalize after PE 0's Abort")
				} else {
					assert.NoError(t, err, "PE 1's Finalize")
				}
				return
			}
			for u := range users {
				go func() {
					defer used.Done()
					raceUser(t, pe, x, sig, u, warmup, warm.Done)
				}()
			}
			warm.Wait()
			if how == "abort" {
				pe.Abort()
			} else {
				assert.NoError(t, pe.Finalize(ctx), "PE 0's Finalize")
			}
		}()
	}
	pes.Wait()
}

// closeHook is a fabric that runs before when it is closed.
type closeHook struct {
	fabric.Fabric
	before func()
}

func (f closeHook) Close(how fabric.Leave) error {
	if f.before != nil {
		f.before()
	}
	return f.Fabric.Close(how)
}

// raceUser calls every kind of non-collective operation of PE 0 in turn
// until one returns ErrFinalized, then checks that each returns it (or nil,
// for Local and Peer) from then on. It calls warm after warmup calls.
func raceUser(t *testing.T, pe *shmem.PE, x shmem.Sym[int64], sig shmem.Sym[uint64], u, warmup int, warm func()) {
	src := make([]int64, 4)
	dst := make([]int64, 4)
	local := func(l []int64) error {
		if l != nil && len(l) != x.Len() {
			return fmt.Errorf("a view of %d elements of %v", len(l), x)
		}
		return nil
	}
	ops := []struct {
		name string
		do   func(k int) error
	}{
		{"put", func(k int) error { return shmem.Put(pe, x.Slice(4*(u%2), 4*(u%2)+4), src, k%2) }},
		{"put_nbi", func(k int) error { return shmem.PutNBI(pe, x.Slice(8, 12), src, k%2) }},
		{"get", func(k int) error { return shmem.Get(pe, dst, x.Slice(0, 4), k%2) }},
		{"p", func(k int) error { return shmem.P(pe, x.At(12), int64(k), k%2) }},
		{"g", func(k int) error { _, err := shmem.G(pe, x.At(12), k%2); return err }},
		{"iput", func(k int) error { return shmem.IPut(pe, x.Slice(8, 16), src, 2, 1, 4, k%2) }},
		{"fetch_add", func(k int) error { _, err := shmem.AtomicFetchAdd(pe, x.At(15), 1, k%2); return err }},
		{"put_signal", func(k int) error {
			return shmem.PutSignal(pe, x.Slice(0, 4), src, sig, 1, shmem.SignalAdd, k%2)
		}},
		{"signal_fetch", func(int) error { _, err := shmem.SignalFetch(pe, sig); return err }},
		{"test_all", func(int) error { _, err := shmem.TestAll(pe, x, nil, shmem.CmpGE, 0); return err }},
		{"quiet", func(int) error { return pe.Quiet() }},
		{"fence", func(int) error { return pe.Fence() }},
		{"ctx", func(k int) error {
			c, err := shmem.CtxCreate(pe, 0)
			if err != nil {
				return err
			}
			err = shmem.Put(c, x.Slice(0, 4), src, k%2)
			if derr := c.Destroy(); err == nil {
				err = derr
			}
			return err
		}},
		{"local", func(int) error { return local(shmem.Local(pe, x)) }},
		{"peer", func(k int) error { return local(shmem.Peer(pe, x, k%2)) }},
	}
	var once sync.Once
	defer once.Do(warm) // on a failed assertion too: PE 0 waits for it
	closed := -1        // the call that first saw ErrFinalized
	for k := 0; closed < 0 || k < closed+2*len(ops); k++ {
		if k == warmup {
			once.Do(warm)
		}
		op := ops[(k+u)%len(ops)]
		err := op.do(k)
		switch {
		case closed >= 0 && (op.name == "local" || op.name == "peer"):
			if !assert.Nil(t, shmem.Local(pe, x), "Local after ErrFinalized") ||
				!assert.Nil(t, shmem.Peer(pe, x, k%2), "Peer after ErrFinalized") {
				return
			}
		case closed >= 0:
			if !assert.ErrorIs(t, err, shmem.ErrFinalized, "%s after ErrFinalized", op.name) {
				return
			}
		case err != nil:
			if !assert.ErrorIs(t, err, shmem.ErrFinalized, "%s racing with close", op.name) {
				return
			}
			closed = k
		}
	}
}
