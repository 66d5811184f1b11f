package hostshmem

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// Lock word layout, as uint64.
const (
	lockNextMask  = 1<<30 - 1 // successor PE + 1
	lockAbandoned = 1 << 30
	lockGranted   = 1 << 31
	lockNodeMask  = 1<<32 - 1 // the queue node: the low half
	lockTailShift = 32        // PE 0's high half: the tail
)

// lockState is what a PE's table says about one lock.
type lockState uint8

const (
	lockFree      lockState = iota // not in the table
	lockAcquiring                  // a SetLock or TestLock is under way
	lockHeld
	lockReleasing // a ClearLock is under way
)

// lockRef is one use of a lock by PE p.
type lockRef struct {
	p   *PE
	me  int
	w   Sym[uint64] // the lock word, unsigned
	own *uint64     // p's copy
}

func newLockRef(p *PE, op string, lock Sym[int64]) (*lockRef, error) {
	if lock.bad != nil {
		return nil, fmt.Errorf("gshmem: %s: %w", op, lock.bad)
	}
	if lock.n != 1 {
		return nil, fmt.Errorf("gshmem: %s: %w: a lock is one int64, %v has %d elements", op, ErrInvalidArg, lock, lock.n)
	}
	if lock.off%8 != 0 {
		return nil, fmt.Errorf("gshmem: %s: %w: lock offset %d is not 8-byte aligned", op, ErrInvalidArg, lock.off)
	}
	if p.n > lockNextMask-1 {
		return nil, fmt.Errorf("gshmem: %s: %w: locks support at most %d PEs, job has %d", op, ErrInvalidArg, lockNextMask-1, p.n)
	}
	r, err := target(p, op, lock, 1, p.me)
	if err != nil {
		return nil, err
	}
	if r == nil && p.onGPU(lock.off) {
		return nil, fmt.Errorf("gshmem: %s: %w: lock %v is in GPU memory; locks live in the host heap", op, ErrInvalidArg, lock)
	}
	if r == nil {
		return nil, fmt.Errorf("gshmem: %s: transport %s does not map this PE's own region", op, p.fab.Transport())
	}
	return &lockRef{p: p, me: p.me, w: Sym[uint64]{off: lock.off, n: 1}, own: (*uint64)(unsafe.Pointer(&r[0]))}, nil
}

// move changes this PE's table entry for l from `from` to `to`, or says
// why it cannot.
func (l *lockRef) move(op string, from, to lockState) error {
	b := &l.p.dflt.books.locks
	b.Lock()
	defer b.Unlock()
	if st := b.m[l.w.off]; st != from {
		return l.errState(op, st)
	}
	if to == lockFree {
		delete(b.m, l.w.off)
		return nil
	}
	if b.m == nil {
		b.m = make(map[uintptr]lockState)
	}
	b.m[l.w.off] = to
	return nil
}

// settle sets this PE's table entry for l after a transition move allowed.
func (l *lockRef) settle(to lockState) {
	b := &l.p.dflt.books.locks
	b.Lock()
	defer b.Unlock()
	if to == lockFree {
		delete(b.m, l.w.off)
	} else {
		b.m[l.w.off] = to
	}
}

func (l *lockRef) errState(op string, st lockState) error {
	var why string
	switch st {
	case lockFree:
		why = "does not hold it"
	case lockAcquiring:
		why = "is already acquiring it in another goroutine"
	case lockHeld:
		why = "already holds it (setting it again would deadlock)"
	case lockReleasing:
		why = "is releasing it in another goroutine"
	}
	return fmt.Errorf("gshmem: %s: %w: PE %d %s: lock %v", op, ErrInvalidArg, l.me, why, Sym[int64]{off: l.w.off, n: 1})
}

// SetLock acquires lock for this PE (OpenSHMEM shmem_set_lock), waiting
// in FIFO order behind the PEs that asked before it. While it waits it
// sleeps until its predecessor hands the lock over, a write to this PE's
// own copy of lock. It returns ctx's error if ctx ends first, and an error
// matching fabric.ErrPeerDead if a peer dies; either way this PE does not
// hold the lock, and after ctx's error the lock stays usable by everyone.
// lock must be a one-element Sym[int64] that every PE allocated
// collectively and that was 0 on every PE before its first use (Calloc).
// SetLock of a lock this PE already holds is an error matching
// ErrInvalidArg (it would deadlock).
//
// The lock is an MCS queue lock spread over the copies of the lock word,
// viewed as uint64:
//
//   - The low 32 bits of PE i's copy are PE i's queue node: bits 0-29
//     hold the successor's PE number + 1 (0: none linked yet), bit 30
//     "abandoned" (PE i gave up waiting, see below) and bit 31 "granted"
//     (PE i's predecessor handed the lock to it).
//   - The high 32 bits of PE 0's copy are the queue's tail: the last
//     queued PE + 1, 0 when the lock is free. It is updated with a
//     compare-swap loop that keeps PE 0's node, in the low half of the
//     same word, as it is; nodes are updated with AND and OR, which keep
//     the tail.
//
// SetLock makes this PE the tail; if there was one before, it links
// itself into that predecessor's node (an OR) and sleeps on its own node
// until the predecessor sets its granted bit. So a waiter watches only its
// own memory, and the one write that wakes it comes from its predecessor.
// PEs get the lock in the order they took the tail.
//
// ClearLock quiets this PE (its stores in the critical section are
// visible before the lock moves on), then reads its node. With a
// successor linked, it sets the successor's granted bit. With none, it
// tries to swing the tail from itself back to 0 (free); if that fails, a
// successor has taken the tail but not yet linked itself (the classic MCS
// race), and ClearLock waits for the link, which follows the swap at once,
// then grants. Last it resets its node to 0 for its next SetLock: no one
// else writes that node any more by then.
//
// A SetLock that ends before its turn (ctx ends, or a peer dies) leaves
// the queue consistent: it marks its node abandoned with a compare-swap
// that fails if the grant has arrived meanwhile (then it holds the lock,
// hands it on at once as ClearLock would, and still returns the error).
// The PE that grants an abandoned node sees the mark in the value its OR
// returns, takes that node's place, hands the lock on from it (waiting for
// its link if need be, by polling, the one wait on remote memory) and
// resets it. A later SetLock by the PE that gave up takes its node back if
// it is still queued (clearing the mark, again by compare-swap against the
// grant), or waits until the PE passing over it has reset it. After a
// peer's death the lock is not usable: the job is broken.
//
// Each PE keeps a table of the locks it holds or is queued for, keyed by
// the lock's offset. A PE has one queue node per lock, so at most one of
// its goroutines may be in SetLock, TestLock or ClearLock of a given lock
// at a time (a second gets an error matching ErrInvalidArg). A lock
// belongs to the PE, not to the goroutine that set it: any goroutine of
// the PE may clear it.
func SetLock(ctx context.Context, p *PE, lock Sym[int64]) error {
	const op = "set_lock"
	l, err := newLockRef(p, op, lock)
	if err != nil {
		return err
	}
	if err := l.move(op, lockFree, lockAcquiring); err != nil {
		return err
	}
	if err := l.acquire(ctx, op); err != nil {
		l.settle(lockFree)
		return err
	}
	l.settle(lockHeld)
	return nil
}

// TestLock acquires lock if it is free and reports whether it did
// (OpenSHMEM shmem_test_lock); it never queues. It may wait briefly while
// another PE is handing the lock on over a queue node that this PE's
// earlier SetLock abandoned. See SetLock for the lock's design.
func TestLock(p *PE, lock Sym[int64]) (acquired bool, err error) {
	const op = "test_lock"
	l, err := newLockRef(p, op, lock)
	if err != nil {
		return false, err
	}
	if err := l.move(op, lockFree, lockAcquiring); err != nil {
		return false, err
	}
	ok, err := l.try(op)
	if ok && err == nil {
		l.settle(lockHeld)
		return true, nil
	}
	l.settle(lockFree)
	return false, err
}

// ClearLock completes the puts and atomics this PE issued on its default
// context (Quiet(p): on load/store transports that is every context's;
// quiet other contexts you used in the critical section yourself), then
// releases lock, handing it to the next PE in the queue (OpenSHMEM
// shmem_clear_lock); see SetLock for the lock's design. Clearing a lock this PE
// does not hold is an error matching ErrInvalidArg and changes nothing.
// It may wait for a successor that has queued but not yet linked itself;
// a peer's death ends that wait with an error matching fabric.ErrPeerDead.
func ClearLock(p *PE, lock Sym[int64]) error {
	const op = "clear_lock"
	l, err := newLockRef(p, op, lock)
	if err != nil {
		return err
	}
	if err := l.move(op, lockHeld, lockReleasing); err != nil {
		return err
	}
	if err := Quiet(p); err != nil {
		l.settle(lockHeld)
		return err
	}
	err = l.passOn(op, l.me)
	l.settle(lockFree)
	return err
}

// acquire queues this PE's node and waits for its turn.
func (l *lockRef) acquire(ctx context.Context, op string) error {
	for {
		w := atomic.LoadUint64(l.own)
		switch node := w & lockNodeMask; {
		case node == 0:
			pred, err := l.updateTail(func(uint64) (uint64, bool) { return uint64(l.me) + 1, true })
			if err != nil {
				return err
			}
			if pred == 0 {
				return nil // the lock was free
			}
			if err := AtomicOr(l.p, l.w, uint64(l.me)+1, int(pred-1)); err != nil {
				return err
			}
			return l.await(ctx, op)
		case node&(lockAbandoned|lockGranted) == lockAbandoned:
			// An earlier SetLock gave up and its node is still queued:
			// take it back, unless its turn comes meanwhile.
			ok, err := l.cas(l.me, w, w&^lockAbandoned)
			if err != nil {
				return err
			}
			if ok {
				return l.await(ctx, op)
			}
		case node&(lockAbandoned|lockGranted) == lockAbandoned|lockGranted:
			// Another PE is handing the lock on over that node; it
			// resets the node when done.
			if err := l.waitReset(ctx, op); err != nil {
				return err
			}
		default:
			return l.errCorrupt(op, w)
		}
	}
}

// await waits until this PE's queued node is granted; if the wait ends
// first, it abandons the node (or, granted after all, hands the lock on).
func (l *lockRef) await(ctx context.Context, op string) error {
	err := l.p.wait(ctx, op, func() bool { return atomic.LoadUint64(l.own)&lockGranted != 0 }, l.w.off, 8)
	if err == nil {
		return nil
	}
	for {
		w := atomic.LoadUint64(l.own)
		if w&lockGranted != 0 {
			if perr := l.passOn(op, l.me); perr != nil {
				return errors.Join(err, perr)
			}
			return err
		}
		ok, cerr := l.cas(l.me, w, w|lockAbandoned)
		if cerr != nil {
			return errors.Join(err, cerr)
		}
		if ok {
			return err
		}
	}
}

// try takes the lock if it is free.
func (l *lockRef) try(op string) (bool, error) {
	for {
		w := atomic.LoadUint64(l.own)
		switch node := w & lockNodeMask; {
		case node == 0:
			prev, err := l.updateTail(func(t uint64) (uint64, bool) { return uint64(l.me) + 1, t == 0 })
			return err == nil && prev == 0, err
		case node&(lockAbandoned|lockGranted) == lockAbandoned:
			return false, nil // queued behind the holder: taken
		case node&(lockAbandoned|lockGranted) == lockAbandoned|lockGranted:
			if err := l.waitReset(context.Background(), op); err != nil {
				return false, err
			}
		default:
			return false, l.errCorrupt(op, w)
		}
	}
}

// waitReset waits until the PE passing the lock over this PE's abandoned
// node has reset it.
func (l *lockRef) waitReset(ctx context.Context, op string) error {
	return l.p.wait(ctx, op, func() bool { return atomic.LoadUint64(l.own)&lockGranted == 0 }, l.w.off, 8)
}

// passOn hands the lock on from node `from`: this PE's (the holder's), or
// an abandoned node whose turn came. Abandoned successors are passed over
// in turn. Each node left behind is reset to 0.
func (l *lockRef) passOn(op string, from int) error {
	for {
		next, err := l.successor(op, from)
		if err != nil {
			return err
		}
		// Nobody writes from's node any more: reset it for its owner's
		// next SetLock (AND keeps PE 0's tail).
		if err := AtomicAnd(l.p, l.w, ^uint64(lockNodeMask), from); err != nil {
			return err
		}
		if next == 0 {
			return nil // the queue is empty: the lock is free
		}
		old, err := AtomicFetchOr(l.p, l.w, lockGranted, int(next-1))
		if err != nil {
			return err
		}
		if old&lockAbandoned == 0 {
			return nil
		}
		from = int(next - 1) // its owner gave up: its turn passes on
	}
}

// successor returns the PE + 1 linked after node `from`, or 0 after
// swinging the tail from `from` back to 0 when nobody is.
func (l *lockRef) successor(op string, from int) (uint64, error) {
	w, err := AtomicFetch(l.p, l.w, from)
	if err != nil {
		return 0, err
	}
	if next := w & lockNextMask; next != 0 {
		return next, nil
	}
	tail := uint64(from) + 1
	prev, err := l.updateTail(func(t uint64) (uint64, bool) { return 0, t == tail })
	if err != nil {
		return 0, err
	}
	if prev == tail {
		return 0, nil
	}
	// A successor took the tail but has not yet linked itself into
	// from's node; its link follows at once.
	if from == l.me {
		var next uint64
		err := l.p.wait(context.Background(), op, func() bool {
			next = atomic.LoadUint64(l.own) & lockNextMask
			return next != 0
		}, l.w.off, 8)
		return next, err
	}
	return l.pollLink(op, from)
}

// pollLink waits for a successor to link itself into the abandoned node of
// PE from. Waits watch only local memory, so it polls, paced by the
// fabric's Backoff (fabric.WaitPolicy), and looks at the peers once it
// sleeps; this path is rare (an abandoned node at the tail's end while its
// successor enqueues) and short.
func (l *lockRef) pollLink(op string, from int) (uint64, error) {
	b := fabric.PolicyOf(l.p.fab).Backoff()
	for {
		w, err := AtomicFetch(l.p, l.w, from)
		if err != nil {
			return 0, err
		}
		if next := w & lockNextMask; next != 0 {
			return next, nil
		}
		if b.Sleeping() {
			if err := l.p.fab.Err(); err != nil {
				return 0, fmt.Errorf("gshmem: %s on PE %d: waiting for PE %d's successor: %w", op, l.me, from, err)
			}
		}
		b.Pause(context.Background()) // ends only with its context
	}
}

// updateTail replaces the tail on PE 0 with f's result when f says so,
// keeping PE 0's node in the low half, and returns the tail f saw last.
func (l *lockRef) updateTail(f func(tail uint64) (uint64, bool)) (uint64, error) {
	old, err := AtomicFetch(l.p, l.w, 0)
	for err == nil {
		t, ok := f(old >> lockTailShift)
		if !ok {
			return old >> lockTailShift, nil
		}
		var got uint64
		got, err = AtomicCompareSwap(l.p, l.w, old, old&lockNodeMask|t<<lockTailShift, 0)
		if err == nil && got == old {
			return old >> lockTailShift, nil
		}
		old = got
	}
	return 0, err
}

// cas compare-swaps PE pe's copy of the lock word.
func (l *lockRef) cas(pe int, old, v uint64) (bool, error) {
	got, err := AtomicCompareSwap(l.p, l.w, old, v, pe)
	return err == nil && got == old, err
}

func (l *lockRef) errCorrupt(op string, w uint64) error {
	return fmt.Errorf("gshmem: %s: %w: PE %d's copy of lock %v holds %#x: not a lock word (was it 0 before first use?)",
		op, ErrInvalidArg, l.me, Sym[int64]{off: l.w.off, n: 1}, w)
}
