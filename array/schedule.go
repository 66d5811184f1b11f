package array

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gshmem/gshmem/errdefs"
)

// Schedule is how an iterator's consumer hands this PE's items to its
// pool of worker goroutines (Lamellar's Schedule). The zero Schedule is
// Static.
//
// The items are numbered 0 to n-1 in index order; a worker takes a
// contiguous piece of them at a time and handles it in order. Consumers
// that build a result (Reduce, Sum, Collect) keep each piece's result
// apart and combine the pieces in index order, so the result does not
// depend on which worker took which piece (see Iter.Reduce for floats).
type Schedule struct {
	kind  schedKind
	chunk int
}

type schedKind uint8

const (
	schedStatic schedKind = iota
	schedDynamic
	schedChunk
	schedGuided
	schedStealing
)

// Static gives each worker one contiguous share of the items, of equal
// size (the first ones one more).
func Static() Schedule { return Schedule{kind: schedStatic} }

// Dynamic hands out one item at a time, from a shared counter.
func Dynamic() Schedule { return Schedule{kind: schedDynamic} }

// Chunk hands out n items at a time, from a shared counter. n must be at
// least 1 (the consumer returns an error matching errdefs.ErrInvalidArg
// otherwise).
func Chunk(n int) Schedule { return Schedule{kind: schedChunk, chunk: n} }

// Guided hands out shrinking pieces from a shared counter: each of what
// is left divided by twice the number of workers, at least 1.
func Guided() Schedule { return Schedule{kind: schedGuided} }

// WorkStealing gives each worker a contiguous share, as Static does,
// which it works through from the front in pieces of an eighth of what
// is left; a worker whose share is done steals the back half of another
// worker's remaining range.
func WorkStealing() Schedule { return Schedule{kind: schedStealing} }

// String names the schedule as Lamellar does.
func (s Schedule) String() string {
	switch s.kind {
	case schedStatic:
		return "Static"
	case schedDynamic:
		return "Dynamic"
	case schedChunk:
		return fmt.Sprintf("Chunk(%d)", s.chunk)
	case schedGuided:
		return "Guided"
	case schedStealing:
		return "WorkStealing"
	}
	return fmt.Sprintf("Schedule(%d)", s.kind)
}

// check returns an error for a schedule that cannot run.
func (s Schedule) check() error {
	if s.kind > schedStealing {
		return fmt.Errorf("%w: %v", errdefs.ErrInvalidArg, s)
	}
	if s.kind == schedChunk && s.chunk < 1 {
		return fmt.Errorf("%w: chunk size %d (want at least 1)", errdefs.ErrInvalidArg, s.chunk)
	}
	return nil
}

// ctxEvery is how many items a worker handles between looks at its
// context and at the pool's stop flag.
const ctxEvery = 256

// pool runs one consumer's work on this PE: the pieces of n items, by a
// schedule, on workers goroutines (at most n), each a contiguous range
// handed to body in index order. The first error (a body's, a
// recovered panic's, the context's) stops the hand-out and is returned
// once every worker is done.
type pool struct {
	ctx     context.Context
	sched   Schedule
	workers int // 0: GOMAXPROCS
	me      int // the PE, for panic messages

	stop atomic.Bool
	mu   sync.Mutex
	err  error
}

func newPool(ctx context.Context, s Schedule, workers, me int) *pool {
	return &pool{ctx: ctx, sched: s, workers: workers, me: me}
}

// fail records err (the first one sticks) and stops the hand-out.
func (p *pool) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.stop.Store(true)
}

// stopped reports whether the pool was stopped, or its context ended
// (which stops it).
func (p *pool) stopped() bool {
	if p.stop.Load() {
		return true
	}
	if err := p.ctx.Err(); err != nil {
		p.fail(err)
		return true
	}
	return false
}

// run hands [0, n) out to the workers and waits for them. body(w, lo,
// hi) handles the items [lo, hi) on worker w (0 <= w < the number of
// workers, which run returns first thing through size when not nil).
func (p *pool) run(n int, size func(workers int), body func(w, lo, hi int) error) error {
	if err := p.sched.check(); err != nil {
		return err
	}
	nw := p.workers
	if nw <= 0 {
		nw = runtime.GOMAXPROCS(0)
	}
	nw = max(1, min(nw, n))
	if size != nil {
		size(nw)
	}
	if n == 0 || p.stopped() {
		return p.result()
	}
	next := p.source(n, nw)
	var wg sync.WaitGroup
	for w := range nw {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					p.fail(fmt.Errorf("PE %d: panic in a function the iterator called: %v", p.me, r))
				}
			}()
			for !p.stopped() {
				lo, hi, ok := next(w)
				if !ok {
					return
				}
				if err := body(w, lo, hi); err != nil {
					p.fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return p.result()
}

func (p *pool) result() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// source returns the schedule's hand-out: next(w) is worker w's next
// piece, and false when there is none left for it.
func (p *pool) source(n, nw int) func(w int) (lo, hi int, ok bool) {
	switch p.sched.kind {
	case schedDynamic, schedChunk:
		step := 1
		if p.sched.kind == schedChunk {
			step = p.sched.chunk
		}
		var cur atomic.Int64
		return func(int) (int, int, bool) {
			lo := int(cur.Add(int64(step))) - step
			if lo >= n {
				return 0, 0, false
			}
			return lo, min(lo+step, n), true
		}
	case schedGuided:
		var cur atomic.Int64
		return func(int) (int, int, bool) {
			for {
				lo := int(cur.Load())
				if lo >= n {
					return 0, 0, false
				}
				k := max(1, (n-lo)/(2*nw))
				if cur.CompareAndSwap(int64(lo), int64(lo+k)) {
					return lo, lo + k, true
				}
			}
		}
	case schedStealing:
		return stealing(n, nw)
	}
	done := make([]bool, nw)
	return func(w int) (int, int, bool) {
		if done[w] {
			return 0, 0, false
		}
		done[w] = true
		lo, hi := share(n, nw, w)
		return lo, hi, lo < hi
	}
}

// share is worker w's Static share of n items over nw workers.
func share(n, nw, w int) (lo, hi int) {
	q, r := n/nw, n%nw
	lo = w*q + min(w, r)
	hi = lo + q
	if w < r {
		hi++
	}
	return lo, hi
}

// stealing is WorkStealing's hand-out: each worker's remaining range,
// under its own lock.
func stealing(n, nw int) func(w int) (int, int, bool) {
	type rng struct {
		mu     sync.Mutex
		lo, hi int
	}
	rs := make([]rng, nw)
	for w := range rs {
		rs[w].lo, rs[w].hi = share(n, nw, w)
	}
	return func(w int) (int, int, bool) {
		own := &rs[w]
		for {
			own.mu.Lock()
			if own.lo < own.hi {
				k := max(1, (own.hi-own.lo)/8)
				lo := own.lo
				own.lo += k
				own.mu.Unlock()
				return lo, lo + k, true
			}
			own.mu.Unlock()
			stole := false
			for d := 1; d < nw && !stole; d++ {
				v := &rs[(w+d)%nw]
				v.mu.Lock()
				if v.lo < v.hi {
					mid := v.lo + (v.hi-v.lo)/2
					lo, hi := mid, v.hi
					v.hi = mid
					v.mu.Unlock()
					own.mu.Lock()
					own.lo, own.hi = lo, hi
					own.mu.Unlock()
					stole = true
					continue
				}
				v.mu.Unlock()
			}
			if !stole {
				return 0, 0, false
			}
		}
	}
}
