package am

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/fabric"
)

// Words of the doorbell line (the AM area's first line, which waiters
// watch) that Barrier uses: PE 0's arrival count and every PE's release
// epoch. Notify on the doorbell carries no data, so they share its line.
const (
	barArriveOff  = 8
	barReleaseOff = 16
)

// Barrier waits until every PE has called it, flushing this PE's staged
// AMs first and running this PE's handlers while it waits. It is
// collective over the world, and calls on one PE must not overlap.
//
// Prefer it to hostshmem's BarrierAll while AMs may be in flight to
// this PE: BarrierAll runs no handlers itself, so arriving AMs wait for a
// handler goroutine to be scheduled, while Barrier's own goroutine runs
// them (with one processor per PE, the one that is already running).
// Barrier does not wait for AMs: call WaitAll first to know that this
// PE's AMs have run.
//
// What wakes it: the last PE's arrival (on PE 0) or PE 0's release (on
// the others), a peer's write to this PE's queues, ctx ending, or a peer
// dying (then it returns an error naming that PE).
func (w *World) Barrier(ctx context.Context) error {
	if err := w.check("barrier"); err != nil {
		return err
	}
	if err := checkCtx("barrier", ctx); err != nil {
		return err
	}
	if w.state.shut.Load() {
		return fmt.Errorf("am: barrier: %w", ErrClosed)
	}
	w.bar.Lock()
	defer w.bar.Unlock()
	w.bar.epoch++
	ep := w.bar.epoch
	w.flushDirty()
	if err := w.fab.PutSignal(0, 0, nil, w.base+barArriveOff, fabric.AMOAdd, 1, fabric.CompleteByProtocol); err != nil {
		return fmt.Errorf("am: barrier: %w", err)
	}
	wait := func(off uintptr, want uint64) error {
		p := w.word(w.base + off)
		err := w.block(ctx, condFunc(func() bool { return atomic.LoadUint64(p) >= want || w.deadAny.Load() }))
		if err != nil {
			return fmt.Errorf("am: barrier: %w", err)
		}
		if atomic.LoadUint64(p) < want {
			return fmt.Errorf("am: barrier: %w", w.anyDead())
		}
		return nil
	}
	if w.me != 0 {
		return wait(barReleaseOff, ep)
	}
	if err := wait(barArriveOff, ep*uint64(w.n)); err != nil {
		return err
	}
	for pe := range w.n {
		if err := w.fab.PutSignal(pe, 0, nil, w.base+barReleaseOff, fabric.AMOSet, ep, fabric.CompleteByProtocol); err != nil {
			return fmt.Errorf("am: barrier: release PE %d: %w", pe, err)
		}
	}
	return nil
}

// anyDead returns the error of a PE that died (the lowest-numbered one).
func (w *World) anyDead() error {
	w.dead.Lock()
	defer w.dead.Unlock()
	pe := -1
	for p := range w.dead.pes {
		if pe < 0 || p < pe {
			pe = p
		}
	}
	if pe < 0 {
		return fabric.ErrPeerDead
	}
	return w.dead.pes[pe]
}
