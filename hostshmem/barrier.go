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

// syncLocked is the world's dissemination barrier (see disseminate).
func (p *PE) syncLocked(ctx context.Context, op string) error {
	if len(p.regions) == 0 {
		return errFinalized(op)
	}
	p.coll.epoch++
	return p.disseminate(ctx, op, p.coll.epoch, p.n, p.me, func(i int) int { return i }, barrierOff)
}

// disseminate is a dissemination barrier among n members (this PE is
// member me; member i is PE pe(i)) on flags at byte offset flags of every
// member's region, maxRounds cache lines. In round k member i raises flag k
// of member i+2^k and waits for its own flag k. Flag k of a member has
// exactly one writer (the member 2^k below it) and holds that writer's
// latest epoch e, so flags never need resetting: a waiter accepts any epoch
// at least its own.
func (p *PE) disseminate(ctx context.Context, op string, e uint64, n, me int, pe func(int) int, flags uintptr) error {
	for k, d := 0, 1; d < n; k, d = k+1, d*2 {
		to := me + d
		if to >= n {
			to -= n
		}
		tpe := pe(to)
		off := flags + uintptr(k)*lineSize
		if r := p.regions[tpe]; r != nil {
			atomic.StoreUint64(wordAt[uint64](r, off), e)
			p.fab.Notify(tpe, off, 8)
		} else if _, err := p.fab.AMO64(tpe, off, fabric.AMOSet, e, 0); err != nil {
			return fmt.Errorf("gshmem: %s: signal PE %d: %w", op, tpe, err)
		}
		flag := wordAt[uint64](p.local, off)
		if atomic.LoadUint64(flag) >= e {
			continue
		}
		if err := p.fab.Wait(ctx, func() bool { return atomic.LoadUint64(flag) >= e }, off, 8); err != nil {
			return fmt.Errorf("gshmem: %s: PE %d waiting for PE %d: %w", op, p.me, pe((me-d+n)%n), err)
		}
	}
	return nil
}
