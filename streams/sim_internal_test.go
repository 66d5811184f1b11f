package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
)

// simEngine stands in for a device engine with a device of its own: a
// goroutine that runs the queued ops in order, as a GPU runs a CUstream,
// while the worker watches it only through progress and check, as it
// watches a GPU. Waiting ops wait under a context that abort cancels (the
// stream's abort word); one that gives up records errSimAborted in the
// status, as a kernel does. The op of seq fault breaks the device for
// good with a sticky CUDA error.
type simEngine struct {
	cpu   *cpuEngine
	delay func(o *op) time.Duration // before running o
	fault uint64

	mu     sync.Mutex
	q      []*op
	abortC context.CancelFunc
	abortX context.Context
	aborts []bool // peerDead of each abort call
	execAt map[uint64]time.Time
	doneAt map[uint64]time.Time

	wake   chan struct{}
	stop   chan struct{}
	exited chan struct{}
	done   atomic.Uint64
	status atomic.Pointer[error]
	broken atomic.Pointer[error]
}

var errSimAborted = errors.New("sim: a wait gave up (aborted)")

func newSim(pe *hostshmem.PE) (*simEngine, error) {
	cpu, err := newCPUEngine(pe)
	if err != nil {
		return nil, err
	}
	e := &simEngine{cpu: cpu, wake: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{}),
		execAt: map[uint64]time.Time{}, doneAt: map[uint64]time.Time{}}
	e.abortX, e.abortC = context.WithCancel(context.Background())
	go e.device()
	return e, nil
}

func (e *simEngine) device() {
	defer close(e.exited)
	for {
		e.mu.Lock()
		for len(e.q) == 0 {
			e.mu.Unlock()
			select {
			case <-e.wake:
			case <-e.stop:
				return
			}
			e.mu.Lock()
		}
		o := e.q[0]
		e.q = e.q[1:]
		actx := e.abortX
		e.mu.Unlock()
		if o.seq == e.fault {
			err := error(&cuda.Error{Op: "cuStreamQuery", Code: 700, Name: "CUDA_ERROR_ILLEGAL_ADDRESS", Msg: "an illegal memory access was encountered"})
			e.broken.Store(&err)
			<-e.stop
			return
		}
		if e.delay != nil {
			time.Sleep(e.delay(o))
		}
		if err := e.cpu.run(actx, o); err != nil && actx.Err() != nil {
			st := errSimAborted
			e.status.CompareAndSwap(nil, &st)
		}
		e.mu.Lock()
		e.doneAt[o.seq] = time.Now()
		e.mu.Unlock()
		e.done.Store(o.seq)
	}
}

func (e *simEngine) name() string      { return "sim" }
func (e *simEngine) onHost(o *op) bool { return o.kind == opGo || o.kind == opWaitEvent }
func (e *simEngine) exec(ctx context.Context, o *op) (bool, error) {
	if e.onHost(o) {
		return e.cpu.exec(ctx, o)
	}
	e.mu.Lock()
	e.q = append(e.q, o)
	e.execAt[o.seq] = time.Now()
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return true, nil
}

func (e *simEngine) progress() (uint64, error) {
	d := e.done.Load()
	if st := e.status.Load(); st != nil {
		return d, *st
	}
	return d, nil
}

func (e *simEngine) check() error {
	if b := e.broken.Load(); b != nil {
		return *b
	}
	return nil
}

func (e *simEngine) abort(peerDead bool) {
	e.mu.Lock()
	e.aborts = append(e.aborts, peerDead)
	e.abortC()
	e.mu.Unlock()
}

func (e *simEngine) settle() {
	e.mu.Lock()
	e.abortX, e.abortC = context.WithCancel(context.Background())
	e.mu.Unlock()
	e.status.Store(nil)
}

func (e *simEngine) close() error {
	close(e.stop)
	<-e.exited
	e.abortC()
	return e.cpu.close()
}

// TestDeviceWaitBound: on an engine that queues ops, a waiting op's bound
// (WithWaitTimeout) counts from when the op starts running on the device,
// not from when the worker queued it (before, it ended at the enqueue and
// device waits were never bounded): a signal wait behind a put that takes
// longer than the bound still waits its whole bound, then fails with
// ErrWaitTimeout, its waits aborted for this stream only. After the
// Synchronize that reports it the stream works again.
func TestDeviceWaitBound(t *testing.T) {
	const bound, slow = 150 * time.Millisecond, 400 * time.Millisecond
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 4)
		require.NoError(t, err)
		sig, err := hostshmem.Calloc[uint64](ctx, pe, 1)
		require.NoError(t, err)
		eng, err := newSim(pe)
		require.NoError(t, err)
		eng.delay = func(o *op) time.Duration {
			if o.kind == opPut {
				return slow
			}
			return 0
		}
		s := start(pe, eng, &config{ctx: ctx, timeout: bound})
		defer s.Close(ctx)

		t0 := time.Now()
		require.NoError(t, Put(s, x, x, 0))                        // seq 1: slow
		require.NoError(t, SignalWait(s, sig, hostshmem.CmpEQ, 1)) // seq 2: nobody signals
		require.NoError(t, Put(s, x, x, 0))                        // seq 3: skipped
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = s.Synchronize(sctx)
		el := time.Since(t0)
		require.ErrorIs(t, err, ErrWaitTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var oe *OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, uint64(2), oe.Seq, "the wait is named")
		assert.Equal(t, 1, oe.Skipped)
		assert.GreaterOrEqual(t, el, slow+bound, "the bound counts from when the wait started running")
		assert.Less(t, el, slow+bound+2*time.Second)
		assert.Equal(t, []bool{false}, eng.aborts, "the stream's own waits were aborted, not the PE's")

		// The abort ended with the drain: the stream's waits work again.
		require.NoError(t, hostshmem.Put(pe, sig, []uint64{1}, 0))
		require.NoError(t, SignalWait(s, sig, hostshmem.CmpEQ, 1))
		require.NoError(t, s.Synchronize(ctx))
		return nil
	})
	require.NoError(t, err)
}

// TestDeviceAbortPerStream: cancelling a stream's context aborts that
// stream's device waits (abort without peerDead: not the PE's word), fails
// the op running, and the stream (and a fresh one) work afterwards; before,
// the PE's abort word was set and never cleared, so every later device
// wait of the PE gave up.
func TestDeviceAbortPerStream(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		sig, err := hostshmem.Calloc[uint64](ctx, pe, 1)
		require.NoError(t, err)
		eng, err := newSim(pe)
		require.NoError(t, err)
		sctx, cancel := context.WithCancel(ctx)
		s := start(pe, eng, &config{ctx: sctx})
		require.NoError(t, SignalWait(s, sig, hostshmem.CmpEQ, 1))
		time.Sleep(20 * time.Millisecond)
		cancel()
		err = s.Synchronize(ctx)
		require.ErrorIs(t, err, context.Canceled)
		var oe *OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "signal_wait", oe.Op)
		assert.Equal(t, []bool{false}, eng.aborts)
		require.NoError(t, s.Close(ctx))

		eng2, err := newSim(pe)
		require.NoError(t, err)
		s2 := start(pe, eng2, &config{ctx: ctx})
		defer s2.Close(ctx)
		require.NoError(t, hostshmem.Put(pe, sig, []uint64{1}, 0))
		require.NoError(t, SignalWait(s2, sig, hostshmem.CmpEQ, 1))
		require.NoError(t, s2.Synchronize(ctx))
		return nil
	})
	require.NoError(t, err)
}

// TestWorkerQueuesWhileDeviceRuns: while ops run on the device the worker
// keeps queueing new ones behind them (it used to wait for everything in
// flight before it looked at the queue again, so a pipeline of device
// ops ran one batch at a time).
func TestWorkerQueuesWhileDeviceRuns(t *testing.T) {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 4)
		require.NoError(t, err)
		eng, err := newSim(pe)
		require.NoError(t, err)
		eng.delay = func(o *op) time.Duration {
			if o.seq == 1 {
				return 300 * time.Millisecond
			}
			return 0
		}
		s := start(pe, eng, &config{ctx: ctx})
		defer s.Close(ctx)
		require.NoError(t, Put(s, x, x, 0))
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, Put(s, x, x, 0))
		require.NoError(t, s.Synchronize(ctx))
		eng.mu.Lock()
		defer eng.mu.Unlock()
		assert.True(t, eng.execAt[2].Before(eng.doneAt[1]), "op 2 was queued at %v, op 1 completed at %v", eng.execAt[2], eng.doneAt[1])
		return nil
	})
	require.NoError(t, err)
}

// TestStickyDeviceError: a sticky CUDA error (an illegal address) fails
// the op that faulted -- the first one the device did not complete, not
// the first in flight -- with an error matching ErrDeviceLost and the
// driver's error; every later enqueue on the stream fails with it; and
// the PE is aborted like a dead PE, so a peer waiting on it fails instead
// of hanging. Before, the failure was an ordinary one: ops after the
// reporting Synchronize were promised to run normally on a context that
// could run nothing.
func TestStickyDeviceError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var peerErr, lostErr, laterErr, syncAgain error
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 4)
		if err != nil {
			return err
		}
		if pe.MyPE() == 1 {
			peerErr = pe.BarrierAll(ctx) // PE 0 never comes: it is aborted
			return nil
		}
		eng, err := newSim(pe)
		if err != nil {
			return err
		}
		eng.fault = 3
		s := start(pe, eng, &config{ctx: ctx})
		gate := make(chan struct{})
		eng.delay = func(o *op) time.Duration {
			if o.seq == 1 {
				<-gate // hold the device until every op is queued
			}
			return 0
		}
		for range 4 {
			if err := Put(s, x, x, 0); err != nil {
				return err
			}
		}
		time.Sleep(20 * time.Millisecond)
		close(gate)
		lostErr = s.Synchronize(ctx)
		laterErr = Put(s, x, x, 0)
		syncAgain = s.Synchronize(ctx)
		return nil
	})
	t.Logf("RunWith: %v", err)
	require.ErrorIs(t, lostErr, ErrDeviceLost)
	var ce *cuda.Error
	require.ErrorAs(t, lostErr, &ce)
	assert.Equal(t, 700, ce.Code)
	var oe *OpError
	require.ErrorAs(t, lostErr, &oe)
	assert.Equal(t, uint64(3), oe.Seq, "the op that faulted, not the first in flight: %v", lostErr)
	assert.ErrorIs(t, laterErr, ErrDeviceLost)
	assert.ErrorIs(t, syncAgain, ErrDeviceLost)
	require.ErrorIs(t, peerErr, fabric.ErrPeerDead, "the peer's barrier: %v", peerErr)
	assert.Contains(t, fmt.Sprint(peerErr), "PE 0")
}
