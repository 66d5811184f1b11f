package hostshmem

import (
	"context"
)

// BarrierAll completes this PE's outstanding puts and atomics (Quiet), then
// waits until every PE has entered the barrier. It is collective, like the
// allocation calls: the same calls in the same order on every PE. (They
// are a stream of their own, apart from the world team's collectives,
// which a stream's CPU engine may run at the same time.) ctx bounds the
// wait, and a dead peer ends it with an error naming that PE.
func (p *PE) BarrierAll(ctx context.Context) error {
	return p.barrierAll(ctx, &call{op: "barrier_all", code: cBarrierAll})
}

func (p *PE) barrierAll(ctx context.Context, c *call) error {
	t := p.teams.all
	if err := t.lock(c.op); err != nil {
		return err
	}
	defer t.unlock()
	return t.barrierLocked(ctx, c)
}

// SyncAll waits until every PE has entered it, without completing
// outstanding operations (unlike BarrierAll). It is collective.
func (p *PE) SyncAll(ctx context.Context) error {
	t := p.teams.all
	if err := t.lock("sync_all"); err != nil {
		return err
	}
	defer t.unlock()
	_, err := t.enter(ctx, &call{op: "sync_all", code: cSyncAll}, nil)
	return err
}
