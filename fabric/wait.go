package fabric

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/gshmem/gshmem/internal/cause"
)

// WaitPolicy is how the PEs of a transport wait: every bound on spinning,
// yielding and sleeping in the runtime comes from one, chosen where the
// transport is made and read by the layers above from their Fabric
// (PolicyOf). The numbers behind the defaults were measured on a 2-core
// machine (docs/DESIGN.md): a flag hand-off between two cores lands in
// ~80 ns, a futex wait/wake round trip costs 1-2.5 µs, and more spinners
// than cores make every hand-off 10-100x slower, as each spinner holds the
// core its peer needs. Hence every wait spins briefly, then yields, then
// sleeps, and spins less where PEs outnumber processors.
//
// Which field governs what:
//
//   - Spin or SpinTime, and Yields: Fabric.Wait's phases before it
//     sleeps (SpinTime adapts, see AdaptSpin).
//   - SpinFor: how long a waiter that also has work of its own (am's
//     waiters and sentinel, which drain queues and run handlers between
//     looks) polls before it sleeps in Fabric.Wait; how long a Backoff
//     yields before its first sleep (longer while other goroutines want
//     the processor, see Backoff).
//   - MinTick and MaxTick: how often a sleeping waiter looks again at its
//     condition, its context and its peers (from MinTick, doubling up to
//     MaxTick); the sleeps of a Backoff; the looks of a poll whose every
//     look is I/O (PollBackoff: a wait on GPU memory, a peer's segment file
//     at start-up).
//   - Stall: how long queued handlers may wait, none taken, with every
//     handler goroutine of a PE busy, before am starts another.
type WaitPolicy struct {
	// Spin is how many times Wait checks its condition, back to back,
	// before it yields, where SpinTime is zero. A PE with a core of its
	// own sees a peer's store 25-500 ns after it is made: a few thousand
	// checks (a few µs) catch a round trip to a peer without a system
	// call on either side. Where PEs outnumber processors the peer cannot
	// run while we spin: a few dozen. Code that spins in loops of its own
	// (the C interface's waits, a stream's flush) takes it as the count of
	// a few µs of looks.
	Spin int
	// SpinTime, where it is not zero, bounds Wait's spin phase in time
	// instead of in looks, and that bound adapts to what the PE's waits
	// see (AdaptSpin): it starts at SpinTime and stays within [SpinTime,
	// 8*SpinTime]. A count of looks is a different time on every machine
	// and for every condition (a look at a 64-member team's slots reads 64
	// lines), and a hand-off between two cores of one virtual machine
	// took 25 ns to 500 ns from one minute to the next on the machine the
	// defaults were tuned on.
	SpinTime time.Duration
	// Yields is how many times Wait then gives up the processor (to the
	// peer, when it shares our core), checking after each, before it
	// sleeps. A yield costs far less than a futex sleep and its wake-up
	// (1-2.5 µs, and a system call for the waker).
	Yields int
	// SpinFor is how long a waiter with work of its own between looks
	// polls before it sleeps in Wait, and how long a Backoff yields before
	// it sleeps. A round trip to a peer is a few µs; a goroutine that
	// sleeps pays tens to wake (the wake-up, and with one Go processor per
	// PE the processor held in the system call until the runtime takes it
	// back). Where PEs outnumber processors a spinning PE only delays the
	// peer it waits for: 2 µs.
	SpinFor time.Duration
	// MinTick and MaxTick bound a sleep: a sleeping waiter wakes at least
	// every tick, from MinTick doubling up to MaxTick, to look at its
	// condition, its context and its peers, so a lost wake costs latency,
	// never a hang, and an idle PE costs a wake-up every MaxTick (a small
	// fraction of a core). A Backoff sleeps the same ticks, and a poll
	// whose looks are I/O looks that often (PollBackoff): the first look
	// after a short wait costs at most MinTick of latency, a long wait at
	// most one look per MaxTick.
	MinTick, MaxTick time.Duration
	// Stall is how long handlers queued on a PE may wait, none of them
	// taken, while every handler goroutine of that PE is busy (blocked in
	// a handler, waiting on another), before am starts a temporary one:
	// thousands of hand-offs long, so that a pool that is merely busy is
	// not grown, and short enough that a handler that waits on a queued
	// one waits milliseconds, not forever.
	Stall time.Duration
}

// DefaultWaitPolicy returns the policy of PEs that each have a processor
// of their own (a Go P for goroutine PEs, a CPU for process PEs), or, when
// crowded, of PEs that outnumber them: those spin 64 times, yield 8 times
// and poll for 2 µs before they sleep. Transports adjust it where they are
// made (fabric/inproc, fabric/shm); PolicyOf returns the uncrowded one for
// a Fabric that has no policy of its own.
func DefaultWaitPolicy(crowded bool) WaitPolicy {
	p := WaitPolicy{
		Spin:     4096,
		SpinTime: 10 * time.Microsecond,
		Yields:   16,
		SpinFor:  50 * time.Microsecond,
		MinTick:  50 * time.Microsecond,
		MaxTick:  4 * time.Millisecond,
		Stall:    2 * time.Millisecond,
	}
	if crowded {
		p.Spin, p.SpinTime, p.Yields, p.SpinFor = 64, 0, 8, 2*time.Microsecond
	}
	return p
}

// AdaptSpin returns the spin time that follows a wait that its spin
// phase, spin long, did not catch (a yield or a sleep ended it), under a
// policy with SpinTime set; waited is how long the wait lasted from the
// start of its spin. A wait that its spin caught leaves the spin time as
// it is. The rule, within [SpinTime, 8*SpinTime]:
//
//   - waited <= 8*SpinTime: a hand-off that a longer spin would have
//     caught, without the yields and often a sleep and its wake-up (a
//     futex wake-up round trip costs 1-2.5 µs on the machine the defaults
//     were tuned on, and a sleeper there wakes tens of µs late at times):
//     spin at least 2*waited, so that the next wait like it is caught.
//   - longer: the peer was far off (a computation, not a hand-off), or
//     the wait slept and woke late; spinning longer would not have
//     helped: spin half as long.
//
// The floor is SpinTime itself: waited includes a sleeper's own wake-up,
// which on a virtual machine can outlast the peer's lateness many times,
// and a floor below it let waits that woke late shrink the spin until
// every short wait slept (a 2-PE allreduce of 64 KiB-2 MiB ran at a third
// of its bandwidth).
func (p WaitPolicy) AdaptSpin(spin, waited time.Duration) time.Duration {
	hi := 8 * p.SpinTime
	if waited <= hi {
		spin = max(spin, 2*waited)
	} else {
		spin /= 2
	}
	return min(max(spin, p.SpinTime), hi)
}

// Check says what is wrong with p, or nil: counts and SpinFor must not be
// negative, 0 < MinTick <= MaxTick, and Stall must be positive.
func (p WaitPolicy) Check() error {
	switch {
	case p.Spin < 0 || p.Yields < 0 || p.SpinFor < 0 || p.SpinTime < 0:
		return fmt.Errorf("fabric: wait policy: Spin %d, SpinTime %v, Yields %d and SpinFor %v must not be negative", p.Spin, p.SpinTime, p.Yields, p.SpinFor)
	case p.MinTick <= 0 || p.MaxTick < p.MinTick:
		return fmt.Errorf("fabric: wait policy: want 0 < MinTick (%v) <= MaxTick (%v)", p.MinTick, p.MaxTick)
	case p.Stall <= 0:
		return fmt.Errorf("fabric: wait policy: Stall %v must be positive", p.Stall)
	}
	return nil
}

// PolicyOf returns f's wait policy: f.WaitPolicy() when f has that method
// (Mapped, and so the inproc and shm fabrics, have it), else
// DefaultWaitPolicy(false). A Fabric that wraps another should forward it.
func PolicyOf(f Fabric) WaitPolicy {
	if p, ok := f.(interface{ WaitPolicy() WaitPolicy }); ok {
		return p.WaitPolicy()
	}
	return DefaultWaitPolicy(false)
}

// Backoff paces a loop that looks again and again for something no
// Notify announces (room in a peer's queue, a word on a peer, a file
// another process creates, GPU memory) or that cannot sleep in
// Fabric.Wait (a fabric whose Wait fails once a peer died). Its Pauses
// yield the processor for the policy's SpinFor, and on while other
// goroutines of the process wait for a processor (up to MaxTick from the
// first Pause), then sleep from MinTick, doubling up to MaxTick;
// PollBackoff sleeps from the first Pause. Its zero value is not usable:
// get one from a WaitPolicy. A Backoff belongs to one goroutine.
//
// Go's timers wake a process that has nothing else to run in whole
// milliseconds (the runtime's poller waits in milliseconds: a 50 µs
// time.Sleep lasts ~1.1 ms on the development machine), so a sleep shorter
// than a millisecond with no other goroutine runnable sleeps in the kernel
// instead, holding its thread: nobody wants the processor, and the runtime
// hands it on if someone comes to want it. It ends on time, at the cost of
// noticing ctx's end up to that sleep late.
type Backoff struct {
	yieldFor time.Duration
	min, max time.Duration
	poll     bool
	start    time.Time     // of the first Pause; zero before
	next     time.Duration // the next sleep; 0 while yielding
	timer    *time.Timer
	runnable *[1]metrics.Sample // made at first use: metrics.Read would move b to the heap
}

// Backoff returns a Backoff for a loop whose look is cheap (a few loads):
// it yields for SpinFor (see Backoff), then sleeps MinTick, 2*MinTick,
// ... MaxTick. A policy that fails Check gives the default policy's.
func (p WaitPolicy) Backoff() Backoff {
	if p.Check() != nil {
		p = DefaultWaitPolicy(false)
	}
	return Backoff{yieldFor: p.SpinFor, min: p.MinTick, max: p.MaxTick}
}

// PollBackoff returns a Backoff for a loop whose every look is I/O (a copy
// from GPU memory, system calls): it sleeps from its first Pause, so the
// loop looks about log2(MaxTick/MinTick) times in its first MaxTick, then
// once per MaxTick.
func (p WaitPolicy) PollBackoff() Backoff {
	b := p.Backoff()
	b.poll, b.next = true, b.min
	return b
}

// Pause waits before the loop's next look: it yields or sleeps as b's
// phase says. It returns ctx's error (with its cause, see
// internal/cause) when ctx has ended, or ends during a sleep of a
// millisecond or more.
func (b *Backoff) Pause(ctx context.Context) error {
	if err := cause.Err(ctx); err != nil {
		return err
	}
	if b.next <= 0 && b.yielding() {
		runtime.Gosched()
		return nil
	}
	d := b.next
	b.next = min(2*d, b.max)
	if d < timerGrain && !b.othersRunnable() {
		ts := syscall.NsecToTimespec(int64(d))
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR { // a signal: sleep the rest
		}
		return cause.Err(ctx)
	}
	done := ctx.Done()
	if done == nil {
		time.Sleep(d)
		return nil
	}
	if b.timer == nil {
		b.timer = time.NewTimer(d)
	} else {
		b.timer.Reset(d)
	}
	select {
	case <-b.timer.C:
		return nil
	case <-done:
		b.timer.Stop()
		return cause.Err(ctx)
	}
}

// timerGrain is how late Go's timers wake a process with nothing else to
// run: the runtime's poller waits in whole milliseconds.
const timerGrain = time.Millisecond

// yielding says whether b, still yielding, yields once more; when not, it
// moves b to its sleeps. It yields for SpinFor from the first Pause, and
// on, up to MaxTick, while other goroutines of the process wait for a
// processor: the loop's wait then often ends when they have run (am's
// handlers, which drain the queues a full queue waits on), and a yield
// looks again as soon as they have, where a sleep would look a tick later.
func (b *Backoff) yielding() bool {
	now := time.Now()
	if b.start.IsZero() {
		b.start = now
	}
	if t := now.Sub(b.start); t < b.yieldFor || t < b.max && b.othersRunnable() {
		return true
	}
	b.next = b.min
	return false
}

// othersRunnable reports whether goroutines of this process wait for a
// processor.
func (b *Backoff) othersRunnable() bool {
	if b.runnable == nil {
		b.runnable = &[1]metrics.Sample{{Name: runnableMetric}}
	}
	metrics.Read(b.runnable[:])
	v := b.runnable[0].Value
	return v.Kind() == metrics.KindUint64 && v.Uint64() > 0
}

// Sleeping reports whether b is past its yields: its Pauses sleep. Slow
// looks a loop makes now and then (Fabric.Err, a system call on some
// transports) belong there.
func (b *Backoff) Sleeping() bool { return b.next > 0 }

// Reset starts b over (the loop made progress): yields first again.
func (b *Backoff) Reset() {
	b.start, b.next = time.Time{}, 0
	if b.poll {
		b.next = b.min
	}
}

// runnableMetric counts the goroutines of this process that wait for a
// processor (a Backoff yields while there are some). The load/store engine
// (fabric/internal/mapped) reads the same metric for its sleepers.
const runnableMetric = "/sched/goroutines/runnable:goroutines"
