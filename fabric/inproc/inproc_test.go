package inproc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/fabrictest"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
)

// newJob returns a job whose segments are unmapped at cleanup (the test
// must have stopped every goroutine using it by then).
func newJob(t *testing.T, npes int, size uintptr) *Job {
	t.Helper()
	j, err := New(npes, size)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, j.Close()) })
	return j
}

func word64(r []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&r[off])) }

func never() bool { return false }

// waitErr runs f.Wait(never) on a goroutine and returns its result channel.
func waitErr(f fabric.Fabric, d time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ch <- f.Wait(ctx, never, 0, 0)
	}()
	return ch
}

func recv(t *testing.T, ch <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(within):
		t.Fatalf("no result within %v", within)
		return nil
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	for _, tc := range []struct {
		npes int
		size uintptr
		want string
	}{
		{0, 4096, "inproc: 0 PEs: need at least 1"},
		{-2, 4096, "inproc: -2 PEs: need at least 1"},
		{2, 0, "inproc: symmetric size 0: want a positive multiple of 8"},
		{2, 12, "inproc: symmetric size 12: want a positive multiple of 8"},
		{2, 4095, "symmetric size 4095"},
	} {
		j, err := New(tc.npes, tc.size)
		assert.Nil(t, j)
		if assert.Error(t, err, "New(%d, %d)", tc.npes, tc.size) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}

func TestNewSizeBeyondAddressSpace(t *testing.T) {
	j, err := New(2, 1<<50)
	assert.Nil(t, j)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("inproc: map %d bytes for PE 0", mapped.HeaderSize+1<<50))
}

func TestJobViews(t *testing.T) {
	j := newJob(t, 3, 8192)
	assert.Equal(t, 3, j.NPEs())
	fs := []fabric.Fabric{j.Fabric(0), j.Fabric(1), j.Fabric(2)}
	for pe, f := range fs {
		assert.Equal(t, pe, f.PE())
		assert.Equal(t, 3, f.NPEs())
		assert.Equal(t, "inproc", f.Transport())
		assert.Equal(t, uintptr(8192), f.Size())
		assert.NoError(t, f.Err())
		for q := range 3 {
			assert.Len(t, f.Region(q), 8192)
		}
	}
	// Every PE sees PE 2's region as the same memory.
	fs[0].Region(2)[100] = 42
	assert.Equal(t, byte(42), fs[1].Region(2)[100])
	assert.Equal(t, byte(42), fs[2].Region(2)[100])
	assert.Zero(t, fs[2].Region(1)[100], "regions of different PEs are distinct")
	assert.Zero(t, fs[2].Region(0)[100])

	require.NoError(t, fs[0].Put(2, 8192-5, []byte("hello")))
	got := make([]byte, 5)
	require.NoError(t, fs[1].Get(2, 8192-5, got))
	assert.Equal(t, "hello", string(got))
	require.NoError(t, fs[1].Quiet())
}

func TestJobAMO(t *testing.T) {
	j := newJob(t, 2, 4096)
	f0, f1 := j.Fabric(0), j.Fabric(1)
	r := f1.Region(1)
	for _, tc := range []struct {
		op                 fabric.AMOOp
		old, operand, cmp  uint64
		wantRet, wantAfter uint64
	}{
		{fabric.AMOFetch, 7, 99, 0, 7, 7},
		{fabric.AMOSet, 7, 99, 0, 7, 99},
		{fabric.AMOSwap, 7, 99, 0, 7, 99},
		{fabric.AMOCompareSwap, 7, 99, 7, 7, 99},
		{fabric.AMOCompareSwap, 7, 99, 8, 7, 7},
		{fabric.AMOAdd, 7, 1 << 40, 0, 7, 7 + 1<<40},
		{fabric.AMOAnd, 0b1100, 0b1010, 0, 0b1100, 0b1000},
		{fabric.AMOOr, 0b1100, 0b1010, 0, 0b1100, 0b1110},
		{fabric.AMOXor, 0b1100, 0b1010, 0, 0b1100, 0b0110},
	} {
		*word64(r, 64) = tc.old
		got, err := f0.AMO64(1, 64, tc.op, tc.operand, tc.cmp)
		require.NoError(t, err)
		assert.Equal(t, tc.wantRet, got, "AMO64 %v returned", tc.op)
		assert.Equal(t, tc.wantAfter, *word64(r, 64), "AMO64 %v left", tc.op)

		p32 := (*uint32)(unsafe.Pointer(&r[128]))
		*p32 = uint32(tc.old)
		got32, err := f0.AMO32(1, 128, tc.op, uint32(tc.operand), uint32(tc.cmp))
		require.NoError(t, err)
		assert.Equal(t, uint32(tc.wantRet), got32, "AMO32 %v returned", tc.op)
		assert.Equal(t, uint32(tc.wantAfter), *p32, "AMO32 %v left", tc.op)
	}
}

func TestWaitWokenByPeer(t *testing.T) {
	j := newJob(t, 2, 4096)
	f0, f1 := j.Fabric(0), j.Fabric(1)
	flag := word64(f0.Region(0), 0)
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ch <- f0.Wait(ctx, func() bool { return atomic.LoadUint64(flag) == 1 }, 0, 8)
	}()
	time.Sleep(20 * time.Millisecond) // let PE 0 spin out and sleep
	start := time.Now()
	_, err := f1.AMO64(0, 0, fabric.AMOSet, 1, 0)
	require.NoError(t, err)
	require.NoError(t, recv(t, ch, 5*time.Second))
	assert.Less(t, time.Since(start), time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f0.Wait(ctx, never, 0, 0), context.DeadlineExceeded)
}

func TestFailWakesEveryPeer(t *testing.T) {
	j := newJob(t, 4, 4096)
	chs := map[int]<-chan error{}
	for _, pe := range []int{0, 2, 3} {
		chs[pe] = waitErr(j.Fabric(pe), 10*time.Second)
	}
	time.Sleep(20 * time.Millisecond) // let the waiters fall asleep
	start := time.Now()
	j.Fail(1, "x")
	for pe, ch := range chs {
		err := recv(t, ch, 5*time.Second)
		var perr *fabric.PeerError
		require.ErrorAs(t, err, &perr, "PE %d", pe)
		assert.ErrorIs(t, err, fabric.ErrPeerDead)
		assert.Equal(t, fabric.PeerError{PE: 1, How: "x"}, *perr, "PE %d", pe)
		assert.Equal(t, "gshmem: PE 1 x", err.Error())
		assert.Equal(t, uint32(2), atomic.LoadUint32(&j.fabs[pe].Header(pe).Cause), "PE %d records PE 1 as its cause", pe)
	}
	assert.Less(t, time.Since(start), time.Second)
	for _, pe := range []int{0, 2, 3} {
		var perr *fabric.PeerError
		require.ErrorAs(t, j.Fabric(pe).Err(), &perr)
		assert.Equal(t, 1, perr.PE)
	}
}

func TestFailFirstReasonWins(t *testing.T) {
	j := newJob(t, 2, 4096)
	j.Fail(1, "first")
	j.Fail(1, "second")
	var perr *fabric.PeerError
	require.ErrorAs(t, j.Fabric(0).Err(), &perr)
	assert.Equal(t, "first", perr.How)
}

func TestWaitConditionBeatsDeadPeer(t *testing.T) {
	j := newJob(t, 2, 4096)
	j.Fail(1, "x")
	// A PE whose condition holds is not failed by a dead peer.
	assert.NoError(t, j.Fabric(0).Wait(context.Background(), func() bool { return true }, 0, 0))
}

func TestCloseReportsHowAPELeft(t *testing.T) {
	j := newJob(t, 3, 4096)
	f0 := j.Fabric(0)
	require.NoError(t, j.Fabric(2).Close(fabric.Finalized))
	assert.NoError(t, f0.Err(), "a finalized PE is not dead")
	assert.Equal(t, uint32(mapped.StateFinalized), atomic.LoadUint32(&j.fabs[0].Header(2).State))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, f0.Wait(ctx, never, 0, 8), context.DeadlineExceeded)

	ch := waitErr(f0, 10*time.Second)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, j.Fabric(1).Close(fabric.Failed))
	err := recv(t, ch, 5*time.Second)
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, 1, perr.PE)
	assert.Equal(t, "failed", perr.How)
	assert.Equal(t, uint32(mapped.StateFailed), atomic.LoadUint32(&j.fabs[0].Header(1).State))
}

// TestRootCause: PE 2 dies; PE 1 fails because of it and leaves; PE 0 must
// be told about PE 2, the root cause, not about PE 1.
func TestRootCause(t *testing.T) {
	j := newJob(t, 3, 4096)
	f0, f1 := j.Fabric(0), j.Fabric(1)
	j.Fail(2, "failed: boom")

	err := f1.Wait(context.Background(), never, 0, 8)
	var perr *fabric.PeerError
	require.ErrorAs(t, err, &perr)
	require.Equal(t, 2, perr.PE)
	require.NoError(t, f1.Close(fabric.Failed)) // PE 1 gives up because of PE 2

	err = f0.Wait(context.Background(), never, 0, 0)
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.Equal(t, 2, perr.PE, "PE 0 must be pointed at the root cause, not at PE 1: %v", err)
	assert.Contains(t, perr.How, "failed: boom")
	assert.Contains(t, perr.How, "seen through PE 1")
}

// Without a recorded cause, the PE that failed is reported as itself.
func TestNoRootCause(t *testing.T) {
	j := newJob(t, 3, 4096)
	j.Fail(1, "failed: own bug")
	j.Fail(2, "failed: other")
	var perr *fabric.PeerError
	require.ErrorAs(t, j.Fabric(0).Wait(context.Background(), never, 0, 8), &perr)
	assert.Equal(t, fabric.PeerError{PE: 1, How: "failed: own bug"}, *perr)
}

func TestCloseUnmapsAfterLastPE(t *testing.T) {
	j, err := New(2, 4096)
	require.NoError(t, err)
	f0, f1 := j.Fabric(0), j.Fabric(1)
	require.NoError(t, f0.Close(fabric.Finalized))
	require.NoError(t, f0.Close(fabric.Finalized), "Close is idempotent")
	require.NoError(t, f0.Close(fabric.Failed), "a second Close changes nothing")
	assert.Equal(t, uint32(mapped.StateFinalized), atomic.LoadUint32(&j.fabs[1].Header(0).State))
	var perr *fabric.PeerError
	require.ErrorAs(t, f1.Err(), &perr, "PE 1 has no peer left")
	assert.Equal(t, "exited after finalize; no peer is left", perr.How, "a repeated Close(Failed) must not fail a finalized PE")

	// PE 1 still runs on mapped memory.
	f1.Region(1)[0] = 1
	f1.Region(0)[0] = 2
	j.mu.Lock()
	closed := j.mu.closed
	j.mu.Unlock()
	require.False(t, closed, "segments unmapped while PE 1 still uses them")

	require.NoError(t, f1.Close(fabric.Finalized))
	j.mu.Lock()
	closed = j.mu.closed
	j.mu.Unlock()
	assert.True(t, closed, "segments still mapped after every PE closed")
	for i, s := range j.segs {
		assert.Nil(t, s, "segment %d not released", i)
	}
	assert.NoError(t, f1.Close(fabric.Finalized))
	assert.NoError(t, j.Close())
}

// Fabric(pe) may be called more than once for a PE (each call returns a
// new view). Closing two views of the same PE is still one PE leaving: it
// must not unmap the segments under the PEs that are still running.
func TestTwoViewsOfOnePECloseOnce(t *testing.T) {
	j := newJob(t, 2, 4096)
	a, b := j.Fabric(0), j.Fabric(0)
	require.NoError(t, a.Close(fabric.Finalized))
	require.NoError(t, b.Close(fabric.Finalized))
	j.mu.Lock()
	closed := j.mu.closed
	j.mu.Unlock()
	assert.False(t, closed, "segments unmapped while PE 1 is still open")
}

// manyPEs is more PEs than Go can run at once, the case the channel gates
// exist for.
func manyPEs() int { return max(8, runtime.GOMAXPROCS(0)+2) }

// With more PEs than Ps, a token passed round a ring must still move: every
// hop is a sleeping PE woken by its neighbour.
func TestManyPEsRing(t *testing.T) {
	n := manyPEs()
	j := newJob(t, n, 4096)
	const laps = 20
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for pe := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := j.Fabric(pe)
			mine := word64(f.Region(pe), 0)
			for lap := range laps {
				want := uint64(lap*n + pe)
				if err := f.Wait(ctx, func() bool { return atomic.LoadUint64(mine) == want }, 0, 8); err != nil {
					errs[pe] = fmt.Errorf("PE %d lap %d: %w", pe, lap, err)
					cancel()
					return
				}
				if _, err := f.AMO64((pe+1)%n, 0, fabric.AMOSet, want+1, 0); err != nil {
					errs[pe] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// With more PEs than Ps, a sleeping PE wakes promptly on a Notify and on
// its context ending.
func TestManyPEsSleeperWakesPromptly(t *testing.T) {
	n := manyPEs()
	j := newJob(t, n, 4096)
	last := j.Fabric(n - 1)
	asleep := func(pe int) bool { return atomic.LoadUint32(&j.fabs[pe].Header(pe).Sleepers) > 0 }

	t.Run("notify", func(t *testing.T) {
		flag := word64(j.Fabric(0).Region(0), 8)
		ch := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ch <- j.Fabric(0).Wait(ctx, func() bool { return atomic.LoadUint64(flag) != 0 }, 8, 8)
		}()
		require.Eventually(t, func() bool { return asleep(0) }, 5*time.Second, 100*time.Microsecond)
		start := time.Now()
		_, err := last.AMO64(0, 8, fabric.AMOSet, 1, 0)
		require.NoError(t, err)
		require.NoError(t, recv(t, ch, 5*time.Second))
		assert.Less(t, time.Since(start), 100*time.Millisecond)
	})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := make(chan error, 1)
		go func() { ch <- j.Fabric(1).Wait(ctx, never, 0, 8) }()
		require.Eventually(t, func() bool { return asleep(1) }, 5*time.Second, 100*time.Microsecond)
		time.Sleep(20 * time.Millisecond) // let the sleeper's tick grow
		start := time.Now()
		cancel()
		err := recv(t, ch, 5*time.Second)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), 100*time.Millisecond)
	})
}

// Goroutine PEs that outnumber the Ps must not sleep in a futex (it holds
// the P the waker needs): New installs the channel gates for them, and keeps
// the futex when every PE has a P.
func TestManyPEsSleepOnGates(t *testing.T) {
	sleeper := func(m *mapped.Mapped) reflect.Value {
		// Mapped keeps its Sleeper unexported; read its dynamic type.
		v := reflect.ValueOf(m).Elem().FieldByName("sleeper")
		require.True(t, v.IsValid(), "mapped.Mapped has no sleeper field any more: update this test")
		return v
	}
	one := newJob(t, 1, 4096)
	if v := sleeper(one.fabs[0]); !v.IsNil() {
		assert.NotEqual(t, reflect.TypeFor[gates](), v.Elem().Type(), "a lone PE has a P: it sleeps on the futex")
	}

	j := newJob(t, manyPEs(), 4096)
	for pe, m := range j.fabs {
		v := sleeper(m)
		require.False(t, v.IsNil(), "PE %d sleeps on the default futex sleeper", pe)
		assert.Equal(t, reflect.TypeFor[gates](), v.Elem().Type(), "PE %d", pe)
	}
}

// TestGates drives the channel sleeper directly.
func TestGates(t *testing.T) {
	j := newJob(t, 2, 4096)
	g := newGates(j.segs)
	seq := &j.fabs[0].Header(1).Seq

	// Sleep returns at once when Seq moved on since the caller read it.
	atomic.StoreUint32(seq, 5)
	start := time.Now()
	g.Sleep(context.Background(), 1, 4, time.Minute)
	assert.Less(t, time.Since(start), time.Second)

	// Sleep ends when d passes.
	start = time.Now()
	g.Sleep(context.Background(), 1, 5, 20*time.Millisecond)
	el := time.Since(start)
	assert.GreaterOrEqual(t, el, 20*time.Millisecond)
	assert.Less(t, el, 2*time.Second)

	// Sleep ends on a context's end.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Sleep(ctx, 1, 5, time.Minute); close(done) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sleep ignored its context")
	}

	// Wake ends every sleep of that PE and none of another PE.
	var woke, other atomic.Int32
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); g.Sleep(context.Background(), 1, 5, time.Minute); woke.Add(1) }()
	}
	otherCtx, stopOther := context.WithCancel(context.Background())
	defer stopOther()
	otherDone := make(chan struct{})
	go func() { g.Sleep(otherCtx, 0, 0, time.Minute); other.Add(1); close(otherDone) }()
	time.Sleep(20 * time.Millisecond)
	// A sleeper may still be between reading the channel and selecting on
	// it; Wake, as Notify does, after bumping Seq so no sleep can start.
	atomic.AddUint32(seq, 1)
	g.Wake(1)
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end every sleep")
	}
	assert.Equal(t, int32(3), woke.Load())
	assert.Zero(t, other.Load(), "Wake(1) woke PE 0's sleeper")
	stopOther()
	<-otherDone

	// Wake with nobody asleep does not block, and leaves the gate usable.
	g.Wake(0)
	g.Wake(0)
	start = time.Now()
	g.Sleep(context.Background(), 0, 0, 10*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond, "a Wake before Sleep must not end a later sleep")
}

// When every other PE has finalized and closed, nobody is left to satisfy
// a wait: it ends with a PeerError naming one of them, as on shm.
func TestWaitEndsWhenEveryPeerFinalized(t *testing.T) {
	t.Run("already gone", func(t *testing.T) {
		j := newJob(t, 3, 4096)
		require.NoError(t, j.Fabric(1).Close(fabric.Finalized))
		require.NoError(t, j.Fabric(2).Close(fabric.Finalized))
		start := time.Now()
		err := recv(t, waitErr(j.Fabric(0), 10*time.Second), 5*time.Second)
		var perr *fabric.PeerError
		require.ErrorAs(t, err, &perr)
		assert.ErrorIs(t, err, fabric.ErrPeerDead)
		assert.Contains(t, []int{1, 2}, perr.PE)
		assert.Equal(t, "exited after finalize; no peer is left", perr.How)
		assert.Less(t, time.Since(start), time.Second)
		require.ErrorAs(t, j.Fabric(0).Err(), &perr, "Err says so too")
		require.NoError(t, j.Fabric(0).Close(fabric.Finalized))
	})
	t.Run("while asleep", func(t *testing.T) {
		j := newJob(t, 3, 4096)
		ch := waitErr(j.Fabric(0), 10*time.Second)
		require.Eventually(t, func() bool { return atomic.LoadUint32(&j.fabs[0].Header(0).Sleepers) > 0 }, 5*time.Second, 100*time.Microsecond)
		require.NoError(t, j.Fabric(2).Close(fabric.Finalized))
		assert.NoError(t, j.Fabric(0).Err(), "PE 1 is still there")
		start := time.Now()
		require.NoError(t, j.Fabric(1).Close(fabric.Finalized))
		err := recv(t, ch, 5*time.Second)
		var perr *fabric.PeerError
		require.ErrorAs(t, err, &perr)
		assert.Contains(t, perr.Error(), "no peer is left")
		assert.Less(t, time.Since(start), 100*time.Millisecond, "the last close wakes the sleeper")
		require.NoError(t, j.Fabric(0).Close(fabric.Finalized))
	})
	t.Run("one PE", func(t *testing.T) {
		// A lone PE has no peer to lose: its wait runs to its context.
		j := newJob(t, 1, 4096)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, j.Fabric(0).Wait(ctx, never, 0, 0), context.DeadlineExceeded)
	})
}

// Every PE's region starts on a fabric.RegionAlign boundary.
func TestRegionsAligned(t *testing.T) {
	for _, size := range []uintptr{8, 4096, 4104, 3<<20 + 64} {
		j := newJob(t, 5, size)
		for pe := range 5 {
			for q := range 5 {
				r := j.Fabric(pe).Region(q)
				require.Len(t, r, int(size))
				assert.Zero(t, uintptr(unsafe.Pointer(&r[0]))%fabric.RegionAlign, "size %d: PE %d's region at %p", size, q, &r[0])
			}
		}
	}
}

// Failed closes at the first failure, which Failure names; a GlobalExit is
// one, recorded with its status where it outlives the segments, and a
// waiter on the PE that called it is told so.
func TestFailedAndGlobalExit(t *testing.T) {
	j := newJob(t, 3, 1<<16)
	select {
	case <-j.Failed():
		t.Fatal("Failed closed before any failure")
	default:
	}
	assert.Nil(t, j.Failure())
	_, _, ok := j.Exited()
	assert.False(t, ok)

	ch := waitErr(j.Fabric(0), 10*time.Second)
	j.Fabric(2).(fabric.Exiter).GlobalExit(5)
	<-j.Failed()
	assert.Equal(t, &fabric.PeerError{PE: 2, How: "called GlobalExit(5)"}, j.Failure())
	pe, status, ok := j.Fabric(1).(fabric.Exiter).Exited()
	assert.True(t, ok)
	assert.Equal(t, [2]int{2, 5}, [2]int{pe, status})
	err := <-ch
	require.ErrorIs(t, err, fabric.ErrPeerDead)
	assert.ErrorContains(t, err, "PE 2 called GlobalExit(5)")

	j.Fail(1, "failed later") // the first failure stays the one reported
	assert.Equal(t, 2, j.Failure().PE)
	for i := range 3 {
		require.NoError(t, j.Fabric(i).Close(fabric.Failed))
	}
	pe, status, ok = j.Exited()
	assert.True(t, ok, "known after the job is unmapped")
	assert.Equal(t, [2]int{2, 5}, [2]int{pe, status})
}

// With a P per PE a job waits by the default policy; with more PEs than
// Ps, by the crowded one (and sleeps on gates).
func TestWaitPolicy(t *testing.T) {
	ps := runtime.GOMAXPROCS(0)
	j := newJob(t, ps, 4096)
	assert.Equal(t, fabric.DefaultWaitPolicy(false), fabric.PolicyOf(j.Fabric(0)))
	j = newJob(t, ps+1, 4096)
	assert.Equal(t, fabric.DefaultWaitPolicy(true), fabric.PolicyOf(j.Fabric(ps)))
}

// The transport passes the fabric conformance suite.
func TestConformance(t *testing.T) {
	j := newJob(t, 3, 1<<20)
	fs := []fabric.Fabric{j.Fabric(0), j.Fabric(1), j.Fabric(2)}
	fabrictest.Run(t, fs)
}
