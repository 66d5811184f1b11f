package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/internal/cause"
)

// The worker's side of a device engine: watching the ops in flight.

// drainGrace is how long flush waits for a stream to drain after aborting
// its device-side waits.
const drainGrace = 2 * time.Second

// slowLook is how often flush looks at what costs more than a load: the
// peers' liveness (a system call on some transports) and the device's
// health (a driver call).
const slowLook = 200 * time.Microsecond

// checkEvery is how many cheap looks flush makes between two looks at the
// device's health while it spins.
const checkEvery = 256

// flush waits for the device ops in flight and counts them done as they
// complete, in order. With partial it returns as soon as ops wait in the
// queue (so that the worker queues them behind the ones in flight) unless
// a failure is being handled; otherwise it returns when nothing is in
// flight. It waits as the PE's fabric.WaitPolicy says: it spins on the
// engine's progress (a load of host memory on the CUDA engine), then
// yields, then sleeps.
//
// While it waits it bounds the op running on the device: the first op in
// flight that progress has not reported complete, which started when the
// worker saw the op before it complete. When that op waits and has run
// for the stream's wait bound, or the stream's context ends, or a peer
// dies, the engine's waits are aborted and the op fails with the reason;
// the ops in flight after it count as skipped (on a GPU they were queued
// already and may have run: their waits gave up at once). A device that
// cannot go on (engine.check) fails the first op that has not completed;
// a sticky CUDA error marks the stream lost (ErrDeviceLost) and aborts the
// PE (see lose).
func (s *Stream) flush(partial bool) {
	pol := fabric.PolicyOf(s.pe.Fabric())
	b := pol.Backoff()
	spins := 0
	for {
		done, kerr := s.eng.progress()
		if s.complete(done, kerr) {
			break
		}
		now := time.Now()
		deep := spins%checkEvery == checkEvery-1 || spins >= pol.Spin || now.Sub(s.fl.lastSlow) > slowLook
		if deep {
			if err := s.eng.check(); err != nil {
				// Ops may have completed between progress and check.
				done, kerr = s.eng.progress()
				if s.complete(done, kerr) {
					break
				}
				s.deviceFailed(err)
				return
			}
		}
		s.mu.Lock()
		r := s.mu.inflight[0]
		queued := s.runnableLocked()
		s.mu.Unlock()
		if r.seq != s.fl.running {
			s.fl.running, s.fl.since = r.seq, now
			spins = 0
			b.Reset()
		}
		if s.fl.cause == nil {
			switch {
			case s.timeout > 0 && r.kind.waits() && now.Sub(s.fl.since) > s.timeout:
				s.abortFor(r, fmt.Errorf("%w after %v: %w", ErrWaitTimeout, s.timeout, context.DeadlineExceeded), false, now)
			case s.ctx.Err() != nil:
				s.abortFor(r, cause.Err(s.ctx), false, now)
			case now.Sub(s.fl.lastSlow) > slowLook:
				s.fl.lastSlow = now
				if err := s.pe.Fabric().Err(); err != nil {
					s.abortFor(r, err, true, now)
				}
			}
		} else if s.fl.aborted && now.Sub(s.fl.abortedAt) > drainGrace {
			// A kernel that never looks at the abort words (a user's
			// spinning kernel) keeps the stream busy: give up on it.
			s.giveUp(fmt.Errorf("%w (the GPU stream still had not drained %v after its waits were aborted)", s.fl.cause, drainGrace))
			return
		}
		if partial && queued && s.fl.cause == nil {
			return
		}
		if spins < pol.Spin {
			spins++
			continue
		}
		b.Pause(context.Background()) // never ends early: s.ctx is looked at above
	}
	s.eng.settle()
	s.fl.failed, s.fl.cause, s.fl.aborted = nil, nil, false
}

// abortFor records that op r fails with err and aborts the engine's
// waits so that the stream drains.
func (s *Stream) abortFor(r *op, err error, peerDead bool, now time.Time) {
	s.fl.failed, s.fl.cause = r, err
	s.fl.aborted, s.fl.abortedAt = true, now
	s.eng.abort(peerDead)
}

// complete counts the ops in flight up to seq done complete and reports
// whether none is left in flight. kerr is a failure the device recorded
// for an op in flight before this look: the first one that runs a runtime
// kernel that can fail (waits, signals, collectives), unless a failure is
// already being handled.
func (s *Stream) complete(done uint64, kerr error) bool {
	s.mu.Lock()
	in := s.mu.inflight
	n := 0
	for n < len(in) && in[n].seq <= done {
		n++
	}
	if kerr != nil && s.fl.cause == nil && len(in) > 0 {
		f := in[0]
		for _, o := range in {
			if o.kind.kernelFails() {
				f = o
				break
			}
		}
		s.fl.failed, s.fl.cause = f, fmt.Errorf("device: %w", kerr)
	}
	s.mu.inflight = in[n:]
	left := len(s.mu.inflight)
	s.mu.Unlock()
	for _, o := range in[:n] {
		s.settleOp(o)
	}
	if left == 0 {
		s.mu.Lock()
		s.mu.inflight = nil // let the backing array go
		s.mu.Unlock()
	}
	return left == 0
}

// settleOp finishes op o, which left the device: with the failure being
// handled if it is the failed op, skipped if it comes after it.
func (s *Stream) settleOp(o *op) {
	switch f := s.fl.failed; {
	case f == o:
		s.finish(o, s.fl.cause)
	case f != nil && o.seq > f.seq:
		s.skipped(o)
	default:
		s.finish(o, nil)
	}
}

// skipped finishes o as skipped by an earlier failure.
func (s *Stream) skipped(o *op) {
	s.mu.Lock()
	if s.mu.sticky != nil {
		s.mu.sticky.Skipped++
	}
	s.mu.Unlock()
	s.finish(o, nil)
}

// deviceFailed fails the first op in flight with err (the device cannot
// go on) and skips the rest. A sticky CUDA error loses the stream.
func (s *Stream) deviceFailed(err error) {
	s.mu.Lock()
	in := s.mu.inflight
	s.mu.inflight = nil
	s.mu.Unlock()
	if len(in) == 0 {
		return
	}
	sticky := cuda.IsSticky(err)
	if sticky {
		err = fmt.Errorf("%w: the op faulted or was the first one not complete when the device failed: %w", ErrDeviceLost, err)
	}
	s.fl.failed, s.fl.cause = in[0], err
	for _, o := range in {
		s.settleOp(o)
	}
	s.fl.failed, s.fl.cause, s.fl.aborted = nil, nil, false
	if sticky {
		s.lose(in[0])
	}
}

// giveUp fails the running op with err and counts every op in flight done
// (skipped) without waiting for the device: its waits did not end.
func (s *Stream) giveUp(err error) {
	s.mu.Lock()
	in := s.mu.inflight
	s.mu.inflight = nil
	s.mu.Unlock()
	if g, ok := s.eng.(interface{ gaveUp() }); ok {
		g.gaveUp()
	}
	if s.fl.failed == nil && len(in) > 0 {
		s.fl.failed = in[0]
	}
	s.fl.cause = err
	for _, o := range in {
		switch f := s.fl.failed; {
		case o == f:
			s.finish(o, err)
		case o.seq > f.seq:
			s.skipped(o)
		default:
			s.finish(o, nil) // before the running op: complete, not reported yet
		}
	}
	s.fl.failed, s.fl.cause, s.fl.aborted = nil, nil, false
}

// lose marks the stream lost after the sticky device failure of op o:
// every later enqueue fails with an error matching ErrDeviceLost, every
// op still queued is skipped, and the PE is aborted (hostshmem.PE.Abort,
// as if it died: its peers' waits on it fail naming it), since every PE
// of the process on that GPU has lost its device. The abort runs on a
// goroutine of its own: it closes the PE's streams, this one included,
// and so waits for this worker to return.
func (s *Stream) lose(o *op) {
	s.mu.Lock()
	var lost *OpError
	for _, f := range s.mu.failures {
		if f.Seq == o.seq {
			c := *f
			lost = &c
		}
	}
	if lost == nil { // reported already: keep a record anyway
		lost = &OpError{Stream: s.id, PE: s.pe.MyPE(), Seq: o.seq, Op: o.kind.String(), Args: o.String(), Err: ErrDeviceLost}
	}
	s.mu.lost = lost
	aborted := make(chan struct{})
	s.mu.lostAborted = aborted
	s.mu.Unlock()
	// Not on the worker: aborting the PE closes the streams it owns,
	// this one included, which waits for the worker to return.
	go func() {
		s.pe.Abort()
		close(aborted)
	}()
}

// awaitLost waits, when the stream's device was lost, until its PE has
// been aborted, so that whoever is told ErrDeviceLost finds the PE ended
// (peers see it dead; a Finalize after does nothing) rather than racing
// the abort. The abort closes what the PE owns with a done context, so it
// does not wait on peers.
func (s *Stream) awaitLost() {
	s.mu.Lock()
	ch := s.mu.lostAborted
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}
