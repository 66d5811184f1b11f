package hostshmem

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/fabric"
)

// BarrierAll completes this PE's outstanding puts and atomics (Quiet), then
// waits until every PE has entered the barrier. It is collective; ctx bounds
// the wait, and a dead peer ends it with an error naming that PE.
func (p *PE) BarrierAll(ctx context.Context) error {
	if len(p.regions) == 0 {
		return errFinalized("barrier_all")
	}
	if err := p.fab.Quiet(); err != nil {
		return fmt.Errorf("gshmem: barrier_all: %w", err)
	}
	p.coll.Lock()
	defer p.coll.Unlock()
	return p.syncLocked(ctx, "barrier_all")
}

// SyncAll waits until every PE has entered it, without completing
// outstanding operations (unlike BarrierAll). It is collective.
func (p *PE) SyncAll(ctx context.Context) error {
	p.coll.Lock()
	defer p.coll.Unlock()
	return p.syncLocked(ctx, "sync_all")
}

// syncLocked is a dissemination barrier over all PEs: in round k PE i
// raises flag k of PE i+2^k and waits for its own flag k. Flag k of a PE
// has exactly one writer (the PE 2^k below it) and holds the epoch of that
// writer's latest barrier, so flags never need resetting: a waiter accepts
// any epoch at least its own.
func (p *PE) syncLocked(ctx context.Context, op string) error {
	if len(p.regions) == 0 {
		return errFinalized(op)
	}
	p.coll.epoch++
	e := p.coll.epoch
	for k, d := 0, 1; d < p.n; k, d = k+1, d*2 {
		to := p.me + d
		if to >= p.n {
			to -= p.n
		}
		off := barrierOff + uintptr(k)*lineSize
		if r := p.regions[to]; r != nil {
			atomic.StoreUint64(wordAt[uint64](r, off), e)
			p.fab.Notify(to, off, 8)
		} else if _, err := p.fab.AMO64(to, off, fabric.AMOSet, e, 0); err != nil {
			return fmt.Errorf("gshmem: %s: signal PE %d: %w", op, to, err)
		}
		flag := wordAt[uint64](p.local, off)
		if atomic.LoadUint64(flag) >= e {
			continue
		}
		if err := p.fab.Wait(ctx, func() bool { return atomic.LoadUint64(flag) >= e }, off, 8); err != nil {
			return fmt.Errorf("gshmem: %s: PE %d waiting for PE %d: %w", op, p.me, (p.me-d+p.n)%p.n, err)
		}
	}
	return nil
}
