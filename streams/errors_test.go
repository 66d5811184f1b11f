package streams_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// scenarioErrors: failures while ops run surface at the next
// synchronisation with the op named, skip the ops after them until
// reported, and leave the stream usable.
func scenarioErrors(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	x, err := shmem.Calloc[int32](ctx, pe, 8)
	require.NoError(t, err)
	s := newStream(t, pe)
	boom := errors.New("boom")
	var ran [8]bool
	mark := func(i int) func(context.Context) error {
		return func(context.Context) error { ran[i] = true; return nil }
	}

	// A failure skips what follows until Synchronize reports it.
	require.NoError(t, s.Go(mark(0)))
	require.NoError(t, s.Go(func(context.Context) error { return boom }))
	require.NoError(t, s.Go(mark(1)))
	require.NoError(t, streams.Put(s, x, x, pe.MyPE()))
	require.NoError(t, s.Go(mark(2)))
	err = s.Synchronize(ctx)
	require.ErrorIs(t, err, boom)
	var oe *streams.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "go", oe.Op)
	assert.Equal(t, uint64(2), oe.Seq)
	assert.Equal(t, 3, oe.Skipped)
	assert.Equal(t, pe.MyPE(), oe.PE)
	assert.Equal(t, s.ID(), oe.Stream)
	assert.Contains(t, err.Error(), "op 2 go(): boom (3 later ops skipped)")
	assert.Equal(t, [8]bool{0: true}, ran)
	// Reported: the stream runs again, and has nothing more to report.
	require.NoError(t, s.Go(mark(3)))
	require.NoError(t, s.Synchronize(ctx))
	assert.True(t, ran[3])
	require.NoError(t, s.Synchronize(ctx))

	// An event after a failure reports it without clearing it.
	require.NoError(t, s.Go(func(context.Context) error { return boom }))
	ev, err := s.Record()
	require.NoError(t, err)
	require.NoError(t, s.Go(mark(4)))
	err = ev.Synchronize(ctx)
	require.ErrorIs(t, err, boom)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "go", oe.Op)
	err = s.Synchronize(ctx)
	require.ErrorIs(t, err, boom)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, 2, oe.Skipped, "the record and mark(4)")
	assert.False(t, ran[4])
	require.NoError(t, ev.Synchronize(ctx), "reported by Stream.Synchronize")

	// A panic in a Go function is its op's failure.
	require.NoError(t, s.Go(func(context.Context) error { panic("kaboom") }))
	err = s.Synchronize(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go(): panic: kaboom")

	// A hostshmem failure at run time names the op and its arguments: a
	// collective on a team that an earlier op of the stream destroyed.
	sub, err := pe.TeamWorld().SplitStrided(ctx, 0, 1, pe.NPEs(), nil)
	require.NoError(t, err)
	require.NoError(t, s.Go(func(ctx context.Context) error { return sub.Destroy(ctx) }))
	require.NoError(t, streams.AllReduce(s, sub, shmem.OpSum, x, x, 8))
	err = s.Synchronize(ctx)
	require.ErrorIs(t, err, shmem.ErrTeam)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "allreduce", oe.Op)
	assert.Contains(t, oe.Args, "allreduce(sum, int32, n=8, dst=Sym[int32]{off=")

	// A wait bound fails a wait that never ends, naming it.
	w := newStream(t, pe, streams.WithWaitTimeout(30*time.Millisecond))
	require.NoError(t, streams.SignalWait(w, sig, shmem.CmpEQ, 12345))
	require.NoError(t, w.Go(mark(5)))
	t0 := time.Now()
	err = w.Synchronize(ctx)
	assert.Less(t, time.Since(t0), 10*time.Second)
	require.ErrorIs(t, err, streams.ErrWaitTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "signal_wait", oe.Op)
	assert.Contains(t, err.Error(), fmt.Sprintf("signal_wait(sig=%v == 12345)", sig))
	assert.Equal(t, 1, oe.Skipped)
	assert.False(t, ran[5])
	require.NoError(t, w.Close(ctx))

	// The stream's context ends its waits.
	cctx, cancel := context.WithCancel(ctx)
	c := newStream(t, pe, streams.WithContext(cctx))
	require.NoError(t, streams.SignalWait(c, sig, shmem.CmpEQ, 12345))
	time.AfterFunc(10*time.Millisecond, cancel)
	err = c.Synchronize(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "signal_wait", oe.Op)
	require.NoError(t, c.Close(ctx))

	// Synchronize's own context: it gives up, the stream goes on.
	gate := make(chan struct{})
	require.NoError(t, s.Go(func(context.Context) error { <-gate; return nil }))
	require.NoError(t, s.Go(mark(6)))
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	err = s.Synchronize(short)
	cancel2()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorAs(t, err, &oe)
	close(gate)
	require.NoError(t, s.Synchronize(ctx))
	assert.True(t, ran[6])

	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioValidate: bad arguments are errors at enqueue time, naming the
// values, and enqueue nothing.
func scenarioValidate(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	n := pe.NPEs()
	world := pe.TeamWorld()
	x, err := shmem.Calloc[int32](ctx, pe, 8)
	require.NoError(t, err)
	y, err := shmem.Calloc[int32](ctx, pe, 8*n)
	require.NoError(t, err)
	f, err := shmem.Calloc[float32](ctx, pe, 8*n)
	require.NoError(t, err)
	sig, err := shmem.Calloc[uint64](ctx, pe, 2)
	require.NoError(t, err)
	s := newStream(t, pe)
	is := func(err error, target error, parts ...string) {
		t.Helper()
		if assert.ErrorIs(t, err, target) {
			for _, p := range parts {
				assert.Contains(t, err.Error(), p)
			}
		}
	}
	is(streams.Put(s, x, x, n), shmem.ErrInvalidPE, fmt.Sprintf("put: PE out of range: PE %d not in [0, %d)", n, n))
	is(streams.Get(s, x, x, -1), shmem.ErrInvalidPE, "get", "PE -1")
	is(streams.Put(s, x, y, 0), shmem.ErrOutOfRange, "src", fmt.Sprintf("has %d elements", 8*n), "only 8")
	is(streams.Put(s, x.Slice(3, 1), x, 0), shmem.ErrOutOfRange, "put: dst: Sym.Slice(3, 1)")
	is(streams.Put(s, y.Slice(1, 5), y.Slice(0, 4), pe.MyPE()), shmem.ErrOverlap, "overlap")
	is(streams.PutSignal(s, x, x, sig, 1, shmem.SignalOp(7), 0), shmem.ErrInvalidArg, "signal operation 7")
	is(streams.PutSignal(s, x, x, sig.Slice(2, 2), 1, shmem.SignalSet, 0), shmem.ErrInvalidArg, "empty signal")
	is(streams.SignalWait(s, sig, shmem.Cmp(9), 1), shmem.ErrInvalidArg, "comparison 9")
	is(streams.SignalWait(s, sig.At(5), shmem.CmpEQ, 1), shmem.ErrOutOfRange, "At(5)")
	is(streams.AllReduce(s, world, shmem.OpXor, x, x, 8), shmem.ErrInvalidArg, "xor")
	is(streams.AllReduce(s, world, shmem.OpAnd, f, f, 8), shmem.ErrInvalidArg, "and")
	is(streams.AllReduce(s, world, shmem.ReduceOp(42), f, f, 8), shmem.ErrInvalidArg, "ReduceOp(42)")
	is(streams.AllReduce(s, nil, shmem.OpSum, x, x, 8), shmem.ErrTeam, "null team")
	is(streams.AllReduce(s, world, shmem.OpSum, x, x, 9), shmem.ErrOutOfRange, "holds 8 elements, the call needs 9")
	is(streams.AllReduce(s, world, shmem.OpSum, x, x, -1), shmem.ErrInvalidArg, "-1 elements")
	is(streams.AllReduce(s, world, shmem.OpSum, y.Slice(1, 9), y.Slice(0, 8), 8), shmem.ErrOverlap, "overlap")
	is(streams.ReduceScatter(s, world, shmem.OpSum, x, x, 8), shmem.ErrOutOfRange, fmt.Sprintf("needs %d", 8*n))
	is(streams.AllGather(s, world, x, x, 8), shmem.ErrOutOfRange, "dst", fmt.Sprintf("needs %d", 8*n))
	is(streams.AllToAll(s, world, y, x, 8), shmem.ErrOutOfRange, "src")
	is(streams.AllGather(s, world, y, y.Slice(0, 8), 8), shmem.ErrOverlap, "overlap")
	is(streams.Broadcast(s, world, x, x, 8, n), shmem.ErrInvalidPE, fmt.Sprintf("root %d not in a team of %d", n, n))
	is(s.Barrier(nil), shmem.ErrTeam, "barrier")
	is(s.Go(nil), shmem.ErrInvalidArg, "nil function")
	is(s.WaitEvent(nil), shmem.ErrInvalidArg, "nil event")
	_, err = streams.New(nil)
	is(err, shmem.ErrInvalidArg, "nil PE")
	_, err = streams.New(pe, streams.WithWaitTimeout(-time.Second))
	is(err, shmem.ErrInvalidArg, "wait timeout -1s")
	// Nothing was enqueued: nothing fails, nothing waits.
	ev, err := s.Record()
	require.NoError(t, err)
	require.NoError(t, s.Synchronize(ctx))
	assert.True(t, ev.Done())
	assert.Equal(t, wantEngine(pe), s.Engine())
	require.NoError(t, s.Close(ctx))
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioClose: Close waits for enqueued work and reports what no
// Synchronize reported; a closed stream refuses everything.
func scenarioClose(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	x, err := shmem.Calloc[int32](ctx, pe, 8)
	require.NoError(t, err)
	contexts := pe.Contexts()
	s := newStream(t, pe)
	assert.Equal(t, contexts+1, pe.Contexts(), "a CPU stream has a context of its own")
	ran := false
	require.NoError(t, s.Go(func(context.Context) error { time.Sleep(20 * time.Millisecond); ran = true; return nil }))
	ev, err := s.Record()
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx))
	assert.True(t, ran, "Close waited for the Go function")
	assert.True(t, ev.Done())
	require.NoError(t, ev.Synchronize(ctx), "an event of a closed stream")
	assert.Equal(t, contexts, pe.Contexts(), "Close destroyed the context")
	for name, err := range map[string]error{
		"put":         streams.Put(s, x, x, 0),
		"get":         streams.Get(s, x, x, 0),
		"signal_wait": streams.SignalWait(s, shmem.Sym[uint64]{}, shmem.CmpEQ, 0),
		"quiet":       s.Quiet(),
		"barrier":     s.Barrier(pe.TeamWorld()),
		"allreduce":   streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, x, x, 8),
		"go":          s.Go(func(context.Context) error { return nil }),
		"synchronize": s.Synchronize(ctx),
		"close":       s.Close(ctx),
	} {
		assert.ErrorIs(t, err, streams.ErrClosed, name)
		if err != nil {
			assert.Contains(t, err.Error(), name, name)
		}
	}
	_, err = s.Record()
	assert.ErrorIs(t, err, streams.ErrClosed)

	// Close reports the failures no Synchronize reported.
	s = newStream(t, pe)
	boom := errors.New("boom")
	require.NoError(t, s.Go(func(context.Context) error { return boom }))
	require.NoError(t, s.Go(func(context.Context) error { return nil }))
	err = s.Close(ctx)
	require.ErrorIs(t, err, boom)
	var oe *streams.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, 1, oe.Skipped)

	// Many streams, each closed: no goroutine is left behind (the test
	// binary's leak check is the race detector's; here, Close returns).
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := streams.New(pe)
			if !assert.NoError(t, err) {
				return
			}
			assert.NoError(t, s.Go(func(context.Context) error { return nil }))
			assert.NoError(t, s.Close(ctx))
		}()
	}
	wg.Wait()
	require.NoError(t, pe.BarrierAll(ctx))
}

// scenarioDeadPeer (shm processes): the last PE dies (SIGKILL) while the
// others wait on a stream for a signal it will never send; their
// Synchronize must return an error naming the op and the dead PE.
// Survivors ignore the launcher's SIGTERM so that their own detection is
// what the test sees.
func scenarioDeadPeer(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	signal.Ignore(syscall.SIGTERM)
	sig, err := shmem.Calloc[uint64](ctx, pe, 1)
	require.NoError(t, err)
	require.NoError(t, pe.BarrierAll(ctx))
	if me == n-1 {
		time.Sleep(50 * time.Millisecond) // let the others start waiting
		fmt.Printf("PE %d: dying now\n", me)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	s := newStream(t, pe)
	require.NoError(t, streams.SignalWait(s, sig, shmem.CmpEQ, 1))
	// Not under the scenario's context, which Run ends when PE 2 dies:
	// what is tested is the stream's own detection.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), petest.Timeout)
	defer cancel()
	err = s.Synchronize(sctx)
	fmt.Printf("PE %d: synchronize: %v\n", me, err)
	var oe *streams.OpError
	var perr *fabric.PeerError
	if errors.As(err, &oe) && oe.Op == "signal_wait" && errors.As(err, &perr) && perr.PE == n-1 && errors.Is(err, fabric.ErrPeerDead) {
		fmt.Printf("PE %d: detected PE %d dead at stream %s\n", me, perr.PE, oe.Op)
	}
	os.Exit(3)
}

// TestDeadPeerShm kills one of 3 processes while the others wait on their
// streams: both report it at Synchronize, within seconds.
func TestDeadPeerShm(t *testing.T) {
	r := petest.Launch(t, "deadpeer", 3)
	t.Log(r.Output)
	assert.Less(t, r.Elapsed, 10*time.Second)
	for _, survivor := range []int{0, 1} {
		assert.Contains(t, r.Output, fmt.Sprintf("PE %d: detected PE 2 dead at stream signal_wait", survivor))
	}
}

// TestDeadPeerInproc: a goroutine PE whose function fails leaves the job;
// its peers' stream waits (a signal wait, then a collective) fail at
// Synchronize with the op named and an error matching fabric.ErrPeerDead.
func TestDeadPeerInproc(t *testing.T) {
	const n = 3
	ctx, cancel := context.WithTimeout(context.Background(), petest.Timeout)
	defer cancel()
	syncErrs := make([][]error, n)
	t0 := time.Now()
	// The PEs wait under the test's context, not the one RunWith gives
	// them (which ends when PE 2 fails): what is tested is the streams'
	// own detection.
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: n, HeapSize: 1 << 20},
		func(_ context.Context, pe *shmem.PE) error {
			sig, err := shmem.Calloc[uint64](ctx, pe, 1)
			if err != nil {
				return err
			}
			x, err := shmem.Calloc[float32](ctx, pe, 4)
			if err != nil {
				return err
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
			if pe.MyPE() == n-1 {
				time.Sleep(20 * time.Millisecond)
				return errors.New("simulated crash")
			}
			s, err := streams.New(pe)
			if err != nil {
				return err
			}
			defer s.Close(ctx)
			if err := streams.SignalWait(s, sig, shmem.CmpEQ, 1); err != nil {
				return err
			}
			e1 := s.Synchronize(ctx)
			if err := streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, x, x, 4); err != nil {
				return err
			}
			e2 := s.Synchronize(ctx)
			syncErrs[pe.MyPE()] = []error{e1, e2}
			return nil
		})
	require.Error(t, err) // the crashed PE, and the survivors' final barriers
	assert.Less(t, time.Since(t0), 10*time.Second)
	assert.Contains(t, err.Error(), "PE 2: simulated crash")
	for me := 0; me < n-1; me++ {
		require.Len(t, syncErrs[me], 2, "PE %d", me)
		for i, op := range []string{"signal_wait", "allreduce"} {
			e := syncErrs[me][i]
			require.ErrorIs(t, e, fabric.ErrPeerDead, "PE %d %s", me, op)
			var oe *streams.OpError
			require.ErrorAs(t, e, &oe)
			assert.Equal(t, op, oe.Op)
			var perr *fabric.PeerError
			require.ErrorAs(t, e, &perr)
			assert.Equal(t, n-1, perr.PE)
			assert.True(t, strings.Contains(e.Error(), "PE 2 failed: simulated crash"), e.Error())
		}
	}
}
