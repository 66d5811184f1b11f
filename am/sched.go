package am

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gshmem/gshmem/internal/cause"
)

// The scheduler: which goroutines run handlers and drain the rings, the
// states of a World and of an AM, and the order of the World's locks.
// This comment is the one place that says so; the code in this file, in
// queue.go (the transport), exec.go (calls and futures), barrier.go and
// darc.go follows it.
//
// # Goroutines
//
//   - Handler workers, Options.Threads of them: started by New
//     (startWorker), counted in sched.wg. A worker loops: it runs a queued
//     task; else it flushes staged frames and drains the rings, running
//     the first request it finds itself; else it takes the sentinel's role
//     (below) or parks on sched.idle. It stops when state.closing is set:
//     stop sets it, cancels the World's ctx (which wakes parked workers)
//     and rings the doorbell (which wakes the sentinel), then waits for
//     sched.wg.
//   - Temporary workers: started by a waiter's watchdog when tasks have
//     been queued for the policy's Stall with none taken and no worker free
//     (every one blocked in a handler), at most 4*Threads+64 workers in
//     all. Counted and stopped like the others, they also exit as soon as
//     they find nothing to do.
//   - Waiters: the program's goroutines, and handlers, blocked in block
//     (Future.Wait, WaitAll, Barrier, a launch waiting for arena space) or
//     retry (Darc locks and conversions), or waiting for room in a full
//     ring (flushLocked). They are not the World's: they help while they
//     wait (flush, drain the rings, run tasks), and block returns ErrClosed
//     once the World stops.
//   - The runtime's cleanup goroutine runs darcTrack.collected for Darc
//     handles that became unreachable undropped (darcleak.go).
//
// The World starts no other goroutine.
//
// # Roles
//
//   - The poll token (tx.poll1): its holder drains the rings (pollTake),
//     turning frames into completed calls and tasks; the World's decoder
//     (tx.dec) and the rings' consumer side are its. It is taken by a
//     compare-and-swap and never waited for: a goroutine that finds it
//     held moves on.
//   - The sentinel (sched.sentinel): the one goroutine that watches the
//     rings for the PE, spinning, then asleep in the fabric's Wait over
//     the AM area, so that a peer's write wakes one goroutine. An idle
//     worker takes the role when no waiter wants it; a waiter takes it
//     after its spin (spinWait), and sched.roleWant counts the waiters that
//     want it: a sentinel worker steps down when that count is not zero. A
//     waiter about to run a handler gives the role up first.
//   - Parked workers (sched.parked) sleep on sched.idle: push wakes up to
//     one per task (else it rings the doorbell), wakeOne one when someone
//     must watch the rings again.
//   - What wakes a sleeper: a peer's write to a ring (the publishing
//     atomic store or PutSignal), the doorbell (a Notify on the AM area's
//     first line: a local task, staged frames, a completion while someone
//     sleeps in the fabric's Wait (sched.waiters), stop), and a peer's death
//     (the fabric's Wait fails).
//
// # States of a World
//
//	open ──Close──▶ closing ──▶ stopped ──▶ freed
//	  └──────────Abort, or its PE aborts───▶ stopped
//
//   - open: New returned it.
//   - closing: Close was called (state.closed): it waits for this PE's AMs
//     (WaitAll), then for every PE (a barrier), then reports the Darc
//     handles never dropped. AMs may still be launched and run meanwhile.
//     The PE's Finalize, on a World left open, drains it the same way
//     before its own barrier (ownedWorld.Drain).
//   - stopped (stop): state.shut is set (launches, Barrier and Darc
//     operations on symmetric memory fail with ErrClosed), then
//     state.closing (workers exit, waiters return ErrClosed), the World's
//     ctx is cancelled and the workers are waited for; tasks left queued
//     fail their local calls, and failAll fails the calls still waiting for
//     replies. Abort, and the PE's abort, go here straight from open,
//     without waiting for anything; the PE's Finalize, on a World left
//     open, drains it first (above) and stops it after its barrier.
//   - freed: after Close's barrier succeeded, the AM area and the arena go
//     back to the symmetric heap. (After Abort, or a failed barrier, they
//     stay allocated.)
//
// # States of an AM
//
// A call (exec.go) is one AM from launch to result. It is counted in its
// scopes (WaitAll) from launch to completion, then:
//
//   - to this PE: a task on the run queue (push), run by a worker or a
//     waiter, which completes the call;
//   - to a peer: tracked (calls: a slot and an id), encoded into the out
//     queue's stage (sendFrame), published into the peer's ring
//     (flushLocked: at once when alone and the peer keeps up, at
//     FlushBytes, or when this PE waits or idles). There the drainer turns
//     it into a task, queued or run at once, whose handler runs and whose
//     reply is staged and published back. Here the drainer completes the
//     call with the reply (or queues the AM the handler returned, whose
//     run completes it).
//
// Completion: call.state goes 0 → 1 (the one completer, by a
// compare-and-swap) → 2 (result visible, Done closed); the scopes' counts
// drop and sleeping waiters are notified. A call completes early, with an
// error, when its target dies (peerError), when the World stops (failAll,
// stop), or when its AM fails to encode. A reply for a call that completed
// already finds no call (the launch counter in its id differs) and is
// dropped.
//
// A task (a handler to run here) is made by the drainer (a request, or an
// AM a reply returned) or by a local launch; it is queued in sched.runq or
// handed straight to the goroutine that drained it, run by a worker or a
// waiter, and done when its reply is staged (or its call completed) and
// the Darc references and arena chunk it held are released.
//
// # Locks
//
// The World's mutexes, outermost first: a goroutine holding one takes only
// mutexes of later levels.
//
//  1. bar: held by Barrier while it waits, running handlers (calls of
//     Barrier on one PE must not overlap).
//  2. outQ.mu, one per peer: held while a frame is staged and while the
//     stage is flushed, which waits for room draining the rings
//     meanwhile, so any of the mutexes below may be taken under it.
//     flushDirty only tries it (TryLock): whoever holds it flushes.
//     darcTracks' mutex, at this level too, is never held with an outQ.mu;
//     under it collected drops a reference (tx.rel, darcTable.mu).
//  3. The leaves, under which nothing else is taken: callTable's, dead,
//     tx.rel, sched.runq, sched.stall, darcTable.mu, the arena's,
//     call.doneMu, rwLock.mu, TypedGroup.mu.
//
// The poll token is a lock too, though never waited for: it is taken
// under bar and outQ.mu, and its holder takes leaves (decoding a Darc
// handle takes darcTable.mu; completing a call, callTable's and doneMu),
// and, on a corrupt ring, tries peerError's outQ.mu (below). As nothing waits
// for it, no cycle through it can deadlock.
//
// peerError, which can run with an outQ.mu held (flushLocked when the
// fabric reports a death while it waits for room, pollTake on a corrupt
// ring under flushLocked's poll), only tries the dead PE's outQ.mu: when
// it is held (by the very caller, flushing to the PE that died), the
// holder's flush finds the PE dead and drops the stage itself.
//
// Darc locks (LocalRwDarc's rwLock, GlobalRwDarc's lock word) are the
// program's: held while its function runs, which may launch and wait; the
// World holds none of its mutexes across them.

// state is where a World is in its life (see States of a World).
type state struct {
	closed  atomic.Bool // Close or Abort was called
	shut    atomic.Bool // stopped: no more AMs may be launched
	closing atomic.Bool // stopped: the handler goroutines exit, waiters return ErrClosed
}

// scheduler is the run queue and the goroutines that run it (see
// Goroutines and Roles).
type scheduler struct {
	runq struct {
		sync.Mutex
		q    []*task
		head int
		pops uint64 // tasks taken, ever
	}
	runqN atomic.Int64 // tasks in runq: read without its lock
	stall struct {     // the watchdog's: when it first saw runq.pops at its value
		sync.Mutex
		pops  uint64
		since int64
	}
	idle     chan struct{}  // parked workers' wake-ups (room for Threads+64)
	parked   atomic.Int32   // workers parked on idle
	workers  atomic.Int32   // handler goroutines, temporary ones included
	sentinel atomic.Bool    // a goroutine watches the rings (an idle worker, or a waiter)
	roleWant atomic.Int32   // waiters that want the sentinel's role
	waiters  atomic.Int32   // goroutines asleep (or about to be) in the fabric's Wait
	wg       sync.WaitGroup // the handler goroutines: stop waits for them
}

// task is one handler to run on this PE.
type task struct {
	e     *entry
	arg   any
	src   int    // origin PE (where the reply goes)
	id    uint64 // call id at the origin
	call  *call  // set when the result completes a call here (local, returned AM)
	wrap  func(any) any
	err   error // set when the request failed before its handler (decode, unregistered)
	tid   uint64
	darcs []darcRef
	ctx   Context // the handler's (one allocation with the task)
	chunk uint64  // held: the chunk of src's arena that the argument's Bytes point into
	held  bool
}

func (w *World) push(ts ...*task) {
	if len(ts) == 0 {
		return
	}
	w.sched.runq.Lock()
	w.sched.runq.q = append(w.sched.runq.q, ts...)
	w.sched.runq.Unlock()
	w.sched.runqN.Add(int64(len(ts)))
	w.wakeWorkers(len(ts))
}

func (w *World) wakeWorkers(k int) {
	woke := false
	for i := 0; i < k && w.sched.parked.Load() > 0; i++ {
		select {
		case w.sched.idle <- struct{}{}:
			woke = true
		default:
		}
	}
	if !woke {
		w.fab.Notify(w.me, w.base, 8) // wake a sleeping sentinel or waiter
	}
}

func (w *World) pop() *task {
	if w.sched.runqN.Load() == 0 {
		return nil
	}
	w.sched.runq.Lock()
	if w.sched.runq.head == len(w.sched.runq.q) {
		w.sched.runq.Unlock()
		return nil
	}
	t := w.sched.runq.q[w.sched.runq.head]
	w.sched.runq.q[w.sched.runq.head] = nil
	w.sched.runq.head++
	w.sched.runq.pops++
	if w.sched.runq.head == len(w.sched.runq.q) {
		w.sched.runq.q, w.sched.runq.head = w.sched.runq.q[:0], 0
	}
	w.sched.runq.Unlock()
	w.sched.runqN.Add(-1)
	return t
}

func (w *World) mono() int64 { return int64(time.Since(w.t0)) }

func (w *World) startWorker(temp bool) {
	w.sched.workers.Add(1)
	w.sched.wg.Add(1)
	go w.worker(temp)
}

// worker is a handler goroutine. It runs queued handlers; with none, one
// idle worker (the sentinel) drains the queues and sleeps in the fabric's
// Wait until a peer writes to them, the others park on a channel. A
// temporary worker (started when every worker is blocked) exits when it
// finds nothing to do.
func (w *World) worker(temp bool) {
	defer w.sched.wg.Done()
	defer w.sched.workers.Add(-1)
	for !w.state.closing.Load() {
		if t := w.pop(); t != nil {
			if w.sched.runqN.Load() > 0 || !w.sched.sentinel.Load() {
				w.wakeOne() // someone else polls (and takes the rest) while we run
			}
			w.run(t)
			continue
		}
		w.flushDirty()
		n, t := w.pollTake(true)
		if t != nil { // the first request found runs here, not through the run queue
			if w.sched.runqN.Load() > 0 || !w.sched.sentinel.Load() {
				w.wakeOne() // someone else polls (and takes the rest) while we run
			}
			w.run(t)
			continue
		}
		if n > 0 {
			continue
		}
		if temp {
			return
		}
		if w.sched.roleWant.Load() == 0 && w.sched.sentinel.CompareAndSwap(false, true) {
			var err error
			if !w.spinFor(w.sentinelReady) {
				err = w.fabWait(w.ctx, w.sentinelReady)
			}
			w.sched.sentinel.Store(false)
			if err != nil && w.ctx.Err() == nil {
				w.peerError(err)
			}
			continue
		}
		w.sched.parked.Add(1)
		if !w.sched.sentinel.Load() && w.sched.roleWant.Load() == 0 { // the role came free meanwhile
			w.sched.parked.Add(-1)
			continue
		}
		select {
		case <-w.sched.idle:
		case <-w.ctx.Done():
		}
		w.sched.parked.Add(-1)
	}
}

// wakeOne wakes a parked worker, unless every parked worker already has a
// wake-up on its way.
func (w *World) wakeOne() {
	if w.sched.parked.Load() > int32(len(w.sched.idle)) {
		select {
		case w.sched.idle <- struct{}{}:
		default:
		}
	}
}

func (w *World) sentinelReady() bool {
	return w.sched.runqN.Load() > 0 || w.tx.dirty.Load() > 0 || w.state.closing.Load() || w.sched.roleWant.Load() > 0 || w.inboundReady()
}

// inboundReady reports whether a peer published frames we have not
// drained (ring.Rings.Ready: a hint; pollTake reads the rings again under
// the poll token).
func (w *World) inboundReady() bool { return w.tx.rings.Ready() }

// fabWait waits in the fabric until cond (watching the AM area). Once a
// peer has died the fabric's Wait fails at once; then it polls, paced by
// the policy's Backoff.
func (w *World) fabWait(ctx context.Context, cond func() bool) error {
	if w.deadAny.Load() {
		b := w.pol.Backoff()
		for !cond() {
			if err := b.Pause(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	w.sched.waiters.Add(1)
	err := w.fab.Wait(ctx, cond, w.base, w.watchN)
	w.sched.waiters.Add(-1)
	return err
}

// waitCond is what block waits for. A *Future is one (so that waiting on
// it allocates nothing); condFunc makes one of a function.
type waitCond interface{ ready() bool }

type condFunc func() bool

func (f condFunc) ready() bool { return f() }

// block waits until cond holds, helping: it flushes staged AMs, drains the
// queues and runs queued handlers while it waits (so a handler that waits
// on an AM it launched never starves the pool). What wakes it: a peer's
// write to a queue, a local completion, ctx ending, or a peer dying. Once
// the World stops it returns ErrClosed: its queues may be freed, or
// unmapped with its PE.
func (w *World) block(ctx context.Context, cond waitCond) error {
	if cond.ready() {
		return nil
	}
	if w.state.closing.Load() {
		return ErrClosed
	}
	if w.spinWait(cond) {
		return nil
	}
	// The waiter takes the sentinel's role while it waits: one goroutine
	// watches the queues, and a peer's write wakes the goroutine that needs
	// it rather than an idle worker (whose wake-up would cost the writer a
	// system call per message). A sleeping sentinel is asked to step down.
	role, want := false, false
	defer func() {
		if role {
			w.sched.sentinel.Store(false)
		}
		if want {
			w.sched.roleWant.Add(-1)
		}
		if (role || want) && w.sched.roleWant.Load() == 0 {
			w.wakeOne() // a worker takes the role back
		}
	}()
	wake := func() bool {
		return cond.ready() || w.sched.runqN.Load() > 0 || w.tx.dirty.Load() > 0 || w.state.closing.Load() || w.inboundReady()
	}
	for {
		if cond.ready() {
			return nil
		}
		if w.state.closing.Load() {
			return ErrClosed
		}
		if !role {
			if w.sched.sentinel.CompareAndSwap(false, true) {
				role = true
				if want {
					want = false
					w.sched.roleWant.Add(-1)
				}
			} else if !want {
				want = true
				w.sched.roleWant.Add(1)
				w.fab.Notify(w.me, w.base, 8)
			}
		}
		done, t := w.help(cond)
		if done {
			return nil
		}
		if t != nil {
			if role { // a handler may block: let a worker watch meanwhile
				role = false
				w.sched.sentinel.Store(false)
				w.wakeOne()
			}
			w.run(t)
			continue
		}
		w.watchdog()
		if err := cause.Err(ctx); err != nil {
			return err
		}
		err := w.fabWait(ctx, wake)
		if err != nil {
			if ctx.Err() != nil {
				return cause.Err(ctx)
			}
			w.peerError(err)
		}
	}
}

// help is one look of a waiter: it flushes staged AMs, drains the queues
// and reports whether cond holds; if not, it returns a handler for the
// caller to run (the first request it found, else a queued one), or nil.
func (w *World) help(cond waitCond) (done bool, t *task) {
	w.flushDirty()
	_, t = w.pollTake(true)
	if cond.ready() {
		if t != nil {
			w.push(t)
		}
		return true, nil
	}
	if t == nil {
		t = w.pop()
	}
	return false, t
}

// yieldEvery is how many looks spinWait and spinFor make between reads of
// the clock and yields of the processor: a look costs tens of
// nanoseconds, so the PE's other goroutines get the processor every few
// microseconds and the clock costs the loop almost nothing. The time
// itself is the policy's SpinFor: a round trip to a peer is a few
// microseconds, and a goroutine that sleeps in the fabric, or wakes a
// worker to watch for it, pays tens (see fabric.WaitPolicy).
const yieldEvery = 256

// spinWait is block's first phase: the waiter polls the queues and runs
// queued handlers itself for up to the policy's SpinFor, without taking the
// sentinel's role. It counts in roleWant meanwhile, so that an idle worker
// stays parked (with one P per PE, a worker that wakes to watch the queues
// only takes the processor from the waiter) and a watching sentinel steps
// down when it next looks. It yields the processor now and then, so that
// the PE's other goroutines run, and reports whether cond came true.
func (w *World) spinWait(cond waitCond) bool {
	w.sched.roleWant.Add(1)
	defer w.dropWant()
	t0 := int64(-1) // read at the first check: most waits end sooner
	for i := 1; ; i++ {
		done, t := w.help(cond)
		if done {
			return true
		}
		if t != nil {
			w.run(t)
			continue
		}
		if i%yieldEvery == 0 {
			if t0 < 0 {
				t0 = w.mono()
			}
			if w.state.closing.Load() || w.deadAny.Load() || w.mono()-t0 > w.spinNs {
				return false
			}
			runtime.Gosched()
		}
	}
}

// spinFor polls cond for up to the policy's SpinFor, yielding the
// processor now and then, and reports whether it came true.
func (w *World) spinFor(cond func() bool) bool {
	t0 := w.mono()
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i%yieldEvery == 0 {
			if w.deadAny.Load() || w.mono()-t0 > w.spinNs {
				return false
			}
			runtime.Gosched()
		}
	}
}

// dropWant ends a waiter's claim on the sentinel's role; the last one out
// makes sure someone watches the queues again.
func (w *World) dropWant() {
	if w.sched.roleWant.Add(-1) == 0 && !w.sched.sentinel.Load() {
		w.wakeOne()
	}
}

// watchdog starts a temporary worker when handlers have been queued for a
// while (no task was taken for the policy's Stall, by what the watchdog
// saw on its calls) and every worker is busy (blocked in a handler).
func (w *World) watchdog() {
	if w.sched.runqN.Load() == 0 || w.sched.parked.Load() > 0 || w.sched.sentinel.Load() || w.sched.workers.Load() >= int32(4*w.opt.Threads+64) {
		return
	}
	w.sched.runq.Lock()
	pops := w.sched.runq.pops
	w.sched.runq.Unlock()
	now := w.mono()
	w.sched.stall.Lock()
	stuck := pops == w.sched.stall.pops && now-w.sched.stall.since > int64(w.pol.Stall)
	if pops != w.sched.stall.pops || stuck {
		w.sched.stall.pops, w.sched.stall.since = pops, now
	}
	w.sched.stall.Unlock()
	if stuck {
		w.startWorker(true)
	}
}
