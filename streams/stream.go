package streams

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/cause"
)

// config is what the Options set.
type config struct {
	ctx     context.Context
	timeout time.Duration
	cpu     bool
	cu      *uintptr // WithCUstream's handle: run on it, not on a stream of our own
}

// Option configures New.
type Option func(*config)

// WithContext runs the stream's ops under ctx: a Go function gets it and
// every waiting op (signal wait, barrier, collective, event wait) ends
// with its error when it ends, failing that op. The default is
// context.Background(): waits are then bounded only by WithWaitTimeout and
// by peers' liveness (a dead peer always ends a wait with an error).
func WithContext(ctx context.Context) Option {
	return func(c *config) { c.ctx = ctx }
}

// WithWaitTimeout bounds each waiting op (signal wait, barrier, collective,
// event wait) by d, counted from when the op starts running (on a GPU,
// from when the device has finished the ops before it, as far as the
// worker sees): one that has not finished after d fails with an error
// matching ErrWaitTimeout and context.DeadlineExceeded, and on a GPU the
// stream's device-side waits are made to give up (the stream's own, not
// the PE's other streams'). Puts, gets, quiet, Go functions and kernels
// launched with Launch are not bounded. Zero (the default) means no bound.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithCPU makes the stream use the CPU engine even where a device engine
// is available.
func WithCPU() Option {
	return func(c *config) { c.cpu = true }
}

var streamIDs atomic.Int64

// Stream is an ordered queue of communication operations of one PE: a
// CUstream on a GPU, a worker goroutine on the CPU engine. The enqueue
// functions (Put, AllReduce, Go, ...) may be called from any goroutine;
// each op runs after every op enqueued on the stream before it. See the
// package doc for the life cycle, the ordering rules and the error policy.
type Stream struct {
	pe      *hostshmem.PE
	id      int
	eng     engine
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	stall   time.Duration // finalizeStall; tests shorten it

	wake   chan struct{} // capacity 1: ops were enqueued or the stream closed
	exited chan struct{} // closed when the worker has returned
	own    *hostshmem.Ownership

	mu struct {
		sync.Mutex
		q        []*op
		next     uint64 // seq of the last op enqueued
		done     uint64 // seq of the last op complete (or skipped)
		closed   bool
		sticky   *OpError       // the failure that makes the worker skip ops
		failures []*OpError     // failures not yet reported by Synchronize or Close
		bounds   map[uint64]int // targets of Synchronize calls in progress
		progress chan struct{}  // closed when done advances, if watched
		watched  bool           // someone waits on progress
		inflight []*op          // ops a device engine queued, not yet complete
		// lost is set when the stream's device failed for good (a
		// sticky CUDA error, ErrDeviceLost): the failure naming the op
		// that faulted. Every later enqueue fails with it.
		lost        *OpError
		lostAborted chan struct{} // closed when the PE abort that lost began has returned
		// holdAfter, when not 0, holds back the ops after it from the
		// engine: a load window of the PE's device heap is open (see
		// quiesce); holds counts the windows holding it.
		holdAfter uint64
		holds     int
	}
	unquiesce func() // removes quiesce from the device heap's registry; nil on the CPU engine

	// fl is the worker's view of the device ops in flight (flush); only
	// the worker touches it.
	fl struct {
		running   uint64    // seq of the op running on the device, as last seen
		since     time.Time // when the worker first saw it running
		failed    *op       // the op that failed while in flight, if any
		cause     error     // its failure
		aborted   bool      // the engine's waits were aborted for it
		abortedAt time.Time
		lastSlow  time.Time // of the last slow look (peers, the device)
	}
}

// New makes a stream of pe and starts its worker. Close it when done; pe
// owns it too (hostshmem.PE.Own): a stream still open when pe is finalized
// is closed by Finalize (gshmem.Run finalizes when your function returns),
// and one still open when pe aborts is closed without waiting for its ops.
// A device engine is used where one is built in and pe has a device;
// otherwise the CPU engine.
func New(pe *hostshmem.PE, opts ...Option) (*Stream, error) {
	if pe == nil {
		return nil, fmt.Errorf("streams: new: %w: nil PE", hostshmem.ErrInvalidArg)
	}
	c := config{ctx: context.Background()}
	for _, o := range opts {
		o(&c)
	}
	if c.ctx == nil {
		return nil, fmt.Errorf("streams: new: %w: nil context", hostshmem.ErrInvalidArg)
	}
	if c.timeout < 0 {
		return nil, fmt.Errorf("streams: new: %w: wait timeout %v", hostshmem.ErrInvalidArg, c.timeout)
	}
	if c.cu != nil && c.cpu {
		return nil, fmt.Errorf("streams: new: %w: WithCUstream and WithCPU together", hostshmem.ErrInvalidArg)
	}
	pe.UsingDevice()
	var eng engine
	if newDeviceEngine != nil && !c.cpu {
		e, err := newDeviceEngine(pe, &c)
		if err != nil {
			return nil, fmt.Errorf("streams: new: %w", err)
		}
		eng = e
	}
	if eng == nil && c.cu != nil {
		return nil, fmt.Errorf("streams: new: CUstream %#x: %w: PE %d has no GPU heap (%v)", *c.cu, device.ErrNoGPU, pe.MyPE(), device.Of(pe))
	}
	if eng == nil {
		e, err := newCPUEngine(pe)
		if err != nil {
			return nil, fmt.Errorf("streams: new: %w", err)
		}
		eng = e
	}
	s := start(pe, eng, &c)
	if ce, ok := eng.(*cudaEngine); ok {
		// The heap's load windows wait for this stream's device work.
		s.unquiesce = ce.heap.OnQuiesce(s.String(), s.quiesce)
	}
	own, err := pe.Own(ownedStream{s})
	if err != nil {
		s.Close(context.Background())
		return nil, fmt.Errorf("streams: new: %w", err)
	}
	s.own = own
	return s, nil
}

// start makes the stream of pe on eng and starts its worker.
func start(pe *hostshmem.PE, eng engine, c *config) *Stream {
	s := &Stream{
		pe:      pe,
		id:      int(streamIDs.Add(1)),
		eng:     eng,
		timeout: c.timeout,
		stall:   finalizeStall,
		wake:    make(chan struct{}, 1),
		exited:  make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	s.mu.bounds = make(map[uint64]int)
	go s.run()
	return s
}

// ID is the stream's number in this process, as errors show it.
func (s *Stream) ID() int { return s.id }

// PE is the PE the stream belongs to.
func (s *Stream) PE() *hostshmem.PE { return s.pe }

// Engine names the engine running the stream: "cpu" or "cuda".
func (s *Stream) Engine() string { return s.eng.name() }

// String describes the stream, e.g. "stream 3 of PE 0 (cpu)".
func (s *Stream) String() string {
	return fmt.Sprintf("stream %d of PE %d (%s)", s.id, s.pe.MyPE(), s.eng.name())
}

// enqueue gives o its sequence number and queues it. It fails only on a
// closed stream, or one whose device was lost.
func (s *Stream) enqueue(o *op) error {
	s.mu.Lock()
	if s.mu.lost != nil {
		lost := s.mu.lost
		s.mu.Unlock()
		s.awaitLost()
		return fmt.Errorf("streams: %s: %v: %w", o.kind, s, lost)
	}
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("streams: %s: %w: %v", o.kind, ErrClosed, s)
	}
	s.mu.next++
	o.seq = s.mu.next
	if o.kind == opRecord {
		o.event.seq = o.seq
	}
	s.mu.q = append(s.mu.q, o)
	s.mu.Unlock()
	s.poke()
	return nil
}

// poke wakes the worker if it sleeps.
func (s *Stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close waits until every op enqueued so far has finished (or been
// skipped), stops the worker and releases the engine. Enqueueing on the
// stream afterwards returns an error matching ErrClosed. Close returns the
// failures no Synchronize has reported yet (joined, each an *OpError) and
// the engine's own error; a second Close returns ErrClosed.
//
// Close does not end waiting ops by itself: those end when their condition
// holds, a peer dies, the stream's context ends or its wait bound passes.
// If ctx ends first, Close ends the stream's context (WithContext's is its
// parent): waiting ops fail (and the ops after them are skipped, as after
// any failure), Go functions see their context done, and Close returns
// once the worker has stopped, with ctx's error among the others. It must
// not be called from one of the stream's own Go functions.
func (s *Stream) Close(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("streams: close: %w: nil context", hostshmem.ErrInvalidArg)
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("streams: close: %w: %v", ErrClosed, s)
	}
	s.mu.closed = true
	s.mu.Unlock()
	s.own.Disown()
	if s.unquiesce != nil {
		s.unquiesce()
	}
	s.poke()
	var errCtx error
	select {
	case <-s.exited:
	case <-ctx.Done():
		errCtx = fmt.Errorf("streams: close %v: gave up waiting for its ops: %w", s, context.Cause(ctx))
		s.cancel()
		<-s.exited
	}
	s.cancel()
	s.mu.Lock()
	errs := make([]error, 0, len(s.mu.failures)+2)
	if errCtx != nil {
		errs = append(errs, errCtx)
	}
	for _, f := range s.mu.failures {
		errs = append(errs, f)
	}
	s.mu.failures = nil
	s.mu.sticky = nil
	s.mu.Unlock()
	if err := s.eng.close(); err != nil {
		errs = append(errs, fmt.Errorf("streams: close %v: %w", s, err))
	}
	return errors.Join(errs...)
}

// finalizeStall is how long Finalize waits for a left-open stream's next
// op to finish before it stops the stream's waits.
const finalizeStall = 10 * time.Second

// ownedStream is a Stream as its PE owns it (hostshmem.Resource): its ops
// run to their end before the PE's closing barrier; it is closed after.
// An op that makes no progress for finalizeStall then (a signal wait whose
// signal never comes) is stopped, and Finalize returns an error naming it,
// rather than waiting forever.
type ownedStream struct{ s *Stream }

func (o ownedStream) Drain(ctx context.Context) error {
	s := o.s
	s.mu.Lock()
	target := s.mu.next
	s.mu.Unlock()
	// Wait while ops finish; an op that makes no progress for s.stall
	// waits for something nobody will do now that its PE is finalizing (a
	// signal never sent): stop the stream's waits rather than hang.
	for {
		s.mu.Lock()
		done := s.mu.done
		s.mu.Unlock()
		if done >= target {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, s.stall)
		err := s.waitDone(wctx, done+1)
		cancel()
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return fmt.Errorf("streams: %v: waiting for op %d: %w", s, target, err)
		}
		s.cancel() // waiting ops fail, the rest are skipped
		if err := s.waitDone(ctx, target); err != nil {
			return fmt.Errorf("streams: %v: waiting for op %d: %w", s, target, err)
		}
		return fmt.Errorf("streams: %v: op %d made no progress for %v while its PE finalized: the stream's waits were stopped (synchronize streams before Finalize)", s, done+1, s.stall)
	}
}
func (o ownedStream) Close(ctx context.Context) error { return o.s.Close(ctx) }

func (o ownedStream) String() string { return o.s.String() + " (left open)" }

// Synchronize waits until every op enqueued before the call has finished
// and returns the failures among them that no earlier Synchronize
// reported: an *OpError naming the first failed op (errors.Join of several
// when earlier synchronisations gave up on their context). Reporting a
// failure clears it: ops enqueued after this call run normally. If ctx ends
// first, Synchronize returns its error wrapped, the failures stay for the
// next synchronisation and the stream keeps running. It must not be called
// from one of the stream's own Go functions.
func (s *Stream) Synchronize(ctx context.Context) error {
	s.mu.Lock()
	if lost := s.mu.lost; lost != nil && (s.mu.closed || len(s.mu.failures) == 0) {
		// The device is gone: nothing enqueued since will run, and the
		// PE was aborted (which may have closed the stream).
		s.mu.Unlock()
		s.awaitLost()
		c := *lost
		return &c
	}
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("streams: synchronize: %w: %v", ErrClosed, s)
	}
	target := s.mu.next
	if s.mu.done < target {
		s.mu.bounds[target]++
		for s.mu.done < target {
			ch := s.progressLocked()
			s.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				s.mu.Lock()
				if s.mu.done < target {
					if s.mu.bounds[target]--; s.mu.bounds[target] == 0 {
						delete(s.mu.bounds, target)
					}
				}
				s.mu.Unlock()
				return fmt.Errorf("streams: synchronize %v: waiting for op %d: %w", s, target, cause.Err(ctx))
			}
			s.mu.Lock()
		}
	} else if s.mu.sticky != nil {
		s.mu.sticky = nil // every op so far is done: the report below covers it
	}
	var errs []error
	keep := s.mu.failures[:0]
	for _, f := range s.mu.failures {
		if f.Seq <= target {
			errs = append(errs, f)
		} else {
			keep = append(keep, f)
		}
	}
	clear(s.mu.failures[len(keep):])
	s.mu.failures = keep
	lost := s.mu.lost != nil
	s.mu.Unlock()
	if lost {
		s.awaitLost()
	}
	return errors.Join(errs...)
}

// progressLocked returns a channel closed when done next advances.
func (s *Stream) progressLocked() chan struct{} {
	if s.mu.progress == nil {
		s.mu.progress = make(chan struct{})
	}
	s.mu.watched = true
	return s.mu.progress
}

// waitDone waits until op seq of s is done, or ctx ends.
func (s *Stream) waitDone(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	for s.mu.done < seq {
		ch := s.progressLocked()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return cause.Err(ctx)
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// run is the worker: it takes ops off the queue in order and hands them to
// the engine. It sleeps on s.wake when the queue is empty and returns when
// the stream is closed and the queue drained. It is the only goroutine that
// calls the engine (and so, on the CPU engine, the only one that runs the
// stream's Go functions).
func (s *Stream) run() {
	defer close(s.exited)
	for {
		s.mu.Lock()
		for !s.runnableLocked() {
			if len(s.mu.inflight) > 0 {
				s.mu.Unlock()
				s.flush(true) // returns early when ops are enqueued
				s.mu.Lock()
				continue
			}
			if s.mu.closed && len(s.mu.q) == 0 {
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		o := s.mu.q[0]
		s.mu.q[0] = nil
		s.mu.q = s.mu.q[1:]
		if len(s.mu.q) == 0 {
			s.mu.q = nil // let the backing array go
		}
		skip := s.mu.sticky != nil || s.mu.lost != nil
		if skip && s.mu.sticky != nil {
			s.mu.sticky.Skipped++
		}
		flush := !skip && len(s.mu.inflight) > 0 && s.eng.onHost(o)
		s.mu.Unlock()
		if flush {
			s.flush(false)
			s.mu.Lock()
			if s.mu.sticky != nil || s.mu.lost != nil { // the flush found a failure
				skip = true
				if s.mu.sticky != nil {
					s.mu.sticky.Skipped++
				}
			}
			s.mu.Unlock()
		}
		if skip {
			s.finish(o, nil)
			continue
		}
		queued, err := s.exec(o)
		if queued {
			s.mu.Lock()
			s.mu.inflight = append(s.mu.inflight, o)
			s.mu.Unlock()
			if o.kind == opRecord {
				o.event.handle()
			}
			continue
		}
		s.finish(o, err)
	}
}

// exec hands o to the engine, bounding waiting ops, and turns a panic in a
// Go function into o's error.
func (s *Stream) exec(o *op) (queued bool, err error) {
	ctx := s.ctx
	if s.timeout > 0 && o.kind.waits() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.timeout, ErrWaitTimeout)
		defer cancel()
		defer func() {
			if err != nil && errors.Is(context.Cause(ctx), ErrWaitTimeout) && !errors.Is(err, ErrWaitTimeout) {
				err = fmt.Errorf("%w after %v: %w", ErrWaitTimeout, s.timeout, err)
			}
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			queued, err = false, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return s.eng.exec(ctx, o)
}

// finish records that o is done, with its failure if err is not nil.
func (s *Stream) finish(o *op, err error) {
	if o.kind == opRecord {
		if r, ok := s.eng.(interface{ releaseEvent(*Event) }); ok {
			r.releaseEvent(o.event) // complete: no device wait needs it now
		}
		o.event.handle()
	}
	s.mu.Lock()
	if err != nil {
		f := &OpError{Stream: s.id, PE: s.pe.MyPE(), Seq: o.seq, Op: o.kind.String(), Args: o.String(), Err: err}
		s.mu.failures = append(s.mu.failures, f)
		s.mu.sticky = f
	}
	s.mu.done = o.seq
	if s.mu.bounds[o.seq] > 0 {
		// A Synchronize started after op o was enqueued and before the
		// next one: it reports the failure, so ops after o run.
		delete(s.mu.bounds, o.seq)
		s.mu.sticky = nil
	}
	if s.mu.watched {
		close(s.mu.progress)
		s.mu.progress, s.mu.watched = nil, false
	}
	s.mu.Unlock()
}

// Event marks a point in a stream: it completes when every op enqueued on
// the stream before Record made it has finished. Events order streams
// against each other (WaitEvent) and let the host wait for part of a
// stream (Synchronize). An Event is a small handle; it may be used from
// any goroutine and waited on any number of times.
type Event struct {
	s   *Stream
	seq uint64
	// handled is closed once the worker of s has handled the record op:
	// queued it on its device (dev then holds what a device stream waits
	// on) or finished or skipped it.
	handled     chan struct{}
	handledOnce sync.Once
	dev         devEvent // the device engine's (cuda.go)
}

// handle closes e.handled, once.
func (e *Event) handle() { e.handledOnce.Do(func() { close(e.handled) }) }

// Record makes an Event at the current end of s.
func (s *Stream) Record() (*Event, error) {
	e := &Event{s: s, handled: make(chan struct{})}
	if err := s.enqueue(&op{kind: opRecord, event: e}); err != nil {
		return nil, err // enqueue set e.seq under the stream's lock
	}
	return e, nil
}

// String describes the event, e.g. "event 4 of stream 2".
func (e *Event) String() string {
	if e == nil {
		return "nil event"
	}
	return fmt.Sprintf("event %d of stream %d", e.seq, e.s.id)
}

// Done reports whether the event has completed. It does not block.
func (e *Event) Done() bool {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.s.mu.done >= e.seq
}

// Synchronize waits until the event has completed and returns the failure
// of the first op at or before it that no Stream.Synchronize has reported
// yet (a copy of its *OpError, as of this call), or nil. It does not clear
// the failure: the stream keeps skipping ops until Stream.Synchronize (or
// Close) reports it. If ctx ends first it returns ctx's error, wrapped.
func (e *Event) Synchronize(ctx context.Context) error {
	if e == nil {
		return fmt.Errorf("streams: event synchronize: %w: nil event", hostshmem.ErrInvalidArg)
	}
	s := e.s
	if err := s.waitDone(ctx, e.seq); err != nil {
		return fmt.Errorf("streams: synchronize %v: %w", e, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.mu.failures {
		if f.Seq <= e.seq {
			c := *f
			return &c
		}
	}
	return nil
}

// WaitEvent makes the ops enqueued on s after this call wait until e has
// completed. e may belong to any stream; waiting on an event of s itself
// is a no-op. When s and e's stream both run on the CUDA engine of one GPU,
// the wait is the device's (cuStreamWaitEvent): the worker of s only waits
// until e's stream has queued the ops before e, and the host is not
// involved after that; the wait bound (WithWaitTimeout) then fails the op
// but cannot end the device's wait, which lasts as long as e's stream
// takes to get there. Otherwise the worker of s waits on the host, bounded
// like every waiting op (WithContext, WithWaitTimeout).
func (s *Stream) WaitEvent(e *Event) error {
	if e == nil {
		return fmt.Errorf("streams: wait_event: %w: nil event", hostshmem.ErrInvalidArg)
	}
	if e.s == s {
		s.mu.Lock()
		closed := s.mu.closed
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("streams: wait_event: %w: %v", ErrClosed, s)
		}
		return nil
	}
	return s.enqueue(&op{kind: opWaitEvent, event: e})
}

// runnableLocked reports whether the worker may take the op at the head
// of the queue: there is one and no load window holds it back.
func (s *Stream) runnableLocked() bool {
	return len(s.mu.q) > 0 && (s.mu.holdAfter == 0 || s.mu.q[0].seq <= s.mu.holdAfter)
}

// quiesce is the stream's device.QuiesceFunc: it waits, bounded by ctx,
// until every op enqueued before the call has finished (on the GPU too),
// then holds back the ops enqueued later until resume is called, so that
// the PE's device heap can load code into the CUDA context while none of
// this stream's kernels runs there.
func (s *Stream) quiesce(ctx context.Context) (resume func(), err error) {
	s.mu.Lock()
	target := s.mu.next
	if s.mu.holds == 0 || target < s.mu.holdAfter {
		s.mu.holdAfter = max(target, 1) // seqs start at 1: 0 means no hold
	}
	s.mu.holds++
	s.mu.Unlock()
	var once sync.Once
	resume = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.mu.holds--; s.mu.holds == 0 {
				s.mu.holdAfter = 0
			}
			s.mu.Unlock()
			s.poke()
		})
	}
	if err := s.waitDone(ctx, target); err != nil {
		resume()
		return nil, fmt.Errorf("%v: waiting for op %d to finish: %w", s, target, err)
	}
	return resume, nil
}
