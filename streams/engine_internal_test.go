package streams

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/hostshmem"
)

// asyncEngine is a stand-in for a device engine: it queues every op but Go
// functions and event waits (which the worker flushes before) and runs the
// queue on the CPU engine only when flushed, failing the op of seq fail.
type asyncEngine struct {
	cpu    *cpuEngine
	fail   uint64
	mu     sync.Mutex // exec and flush run on the worker; the test reads flushes
	queued []*op
	done   uint64 // the worker's only
	broken error  // the worker's only
	counts struct{ flushes, maxQueued int }
}

var errDevice = errors.New("device fault")

func (e *asyncEngine) name() string { return "async-test" }

func (e *asyncEngine) onHost(o *op) bool { return o.kind == opGo || o.kind == opWaitEvent }

func (e *asyncEngine) exec(ctx context.Context, o *op) (bool, error) {
	if o.kind == opGo || o.kind == opWaitEvent {
		e.mu.Lock()
		n := len(e.queued)
		e.mu.Unlock()
		if n != 0 {
			return false, errors.New("host op exec'd with device ops in flight")
		}
		return e.cpu.exec(ctx, o)
	}
	e.mu.Lock()
	e.queued = append(e.queued, o)
	e.counts.maxQueued = max(e.counts.maxQueued, len(e.queued))
	e.mu.Unlock()
	return true, nil
}

// progress runs the queue: the "device" makes progress only when the
// worker looks. The op of seq fail breaks it (check reports it once) and
// the rest of the queue is lost.
func (e *asyncEngine) progress() (uint64, error) {
	e.mu.Lock()
	q := e.queued
	e.queued = nil
	e.counts.flushes++
	e.mu.Unlock()
	for _, o := range q {
		if o.seq == e.fail {
			e.broken = errDevice
			break
		}
		if err := e.cpu.run(context.Background(), o); err != nil {
			e.broken = err
			break
		}
		e.done = o.seq
	}
	return e.done, nil
}

func (e *asyncEngine) check() error {
	err := e.broken
	e.broken = nil
	return err
}

func (e *asyncEngine) abort(bool)   {}
func (e *asyncEngine) settle()      {}
func (e *asyncEngine) close() error { return e.cpu.close() }

// TestAsyncEngine drives the worker's path for engines that queue ops:
// ops complete (events, Synchronize) only after a flush, host ops see the
// device ops before them done, and a failure found by a flush is
// attributed to its op and skips the queued ops after it.
func TestAsyncEngine(t *testing.T) {
	ctx := context.Background()
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 1, HeapSize: 1 << 20}, func(ctx context.Context, pe *hostshmem.PE) error {
		x, err := hostshmem.Calloc[int64](ctx, pe, 4)
		require.NoError(t, err)
		y, err := hostshmem.Calloc[int64](ctx, pe, 4)
		require.NoError(t, err)
		sig, err := hostshmem.Calloc[uint64](ctx, pe, 1)
		require.NoError(t, err)
		cpu, err := newCPUEngine(pe)
		require.NoError(t, err)
		eng := &asyncEngine{cpu: cpu}
		s := start(pe, eng, &config{ctx: ctx})
		assert.Equal(t, "async-test", s.Engine())

		gate := make(chan struct{})
		require.NoError(t, s.Go(func(context.Context) error {
			<-gate // hold the worker so that the next ops queue up behind it
			copy(hostshmem.Local(pe, x), []int64{1, 2, 3, 4})
			return nil
		}))
		require.NoError(t, Put(s, y, x, 0))
		require.NoError(t, PutSignal(s, y, x, sig, 7, hostshmem.SignalSet, 0))
		require.NoError(t, SignalWait(s, sig, hostshmem.CmpEQ, 7))
		ev, err := s.Record()
		require.NoError(t, err)
		var seen []int64
		require.NoError(t, s.Go(func(context.Context) error {
			seen = append([]int64(nil), hostshmem.Local(pe, y)...)
			return nil
		}))
		close(gate)
		require.NoError(t, s.Synchronize(ctx))
		assert.True(t, ev.Done())
		assert.Equal(t, []int64{1, 2, 3, 4}, seen, "the Go function ran after a flush of the puts")
		assert.Equal(t, 4, eng.counts.maxQueued, "put, put_signal, signal_wait and record were in flight together")

		// A failure found by a flush: the queued ops after it are skipped.
		eng.fail = s.mu.next + 3 // the second put
		require.NoError(t, s.Go(func(context.Context) error { return nil }))
		require.NoError(t, Put(s, y, x, 0))
		require.NoError(t, Put(s, y, x, 0)) // fails on the "device"
		require.NoError(t, s.Quiet())
		require.NoError(t, Put(s, y, x, 0))
		ran := false
		require.NoError(t, s.Go(func(context.Context) error { ran = true; return nil }))
		err = s.Synchronize(ctx)
		require.ErrorIs(t, err, errDevice)
		var oe *OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, eng.fail, oe.Seq)
		assert.Equal(t, "put", oe.Op)
		assert.Equal(t, 3, oe.Skipped, "quiet and put in flight, then the Go function")
		assert.False(t, ran)
		require.NoError(t, s.Quiet())
		require.NoError(t, s.Synchronize(ctx))
		require.NoError(t, s.Close(ctx))
		return nil
	})
	require.NoError(t, err)
}
