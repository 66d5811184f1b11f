package algo

import (
	"context"

	shmem "github.com/gshmem/gshmem/hostshmem"
)

// OneShot is the one-shot allreduce: every member puts its whole source
// into a slot of every peer's workspace with a signal, waits for every
// peer's signal, then reduces the size sources locally in member order
// (ReduceN), so every member computes the same bits as
// hostshmem.AllReduce. One message latency, size-1 puts of n elements per
// member: the choice for small n.
//
// Slots. Member j's data for call e goes in slot (e%2)*size + j of each
// receiver, and the receiver's Signal(j) is set to e. Using the other half
// of the slots on alternate calls (double buffering by epoch) is what makes
// the call safe to repeat without a team sync at the end: a peer that has
// finished call e may already be putting call e+1 while this PE still
// reads call e, but into the other half. It cannot get to call e+2, the
// half this PE is reading, because finishing e+1 needs this PE's e+1
// data, which this PE sends only after it has finished reading e. (That
// argument needs every member to wait for every other, which an allreduce
// does.) A signal of e+1 also satisfies the wait for e, which is right:
// the sender wrote its call-e data before it.
//
// OneShot needs a workspace of 2*size slots of n elements (any workspace
// with MaxElems >= n; it has 2 slots per PE of the job).
func OneShot[T shmem.Elem](ctx context.Context, ws *Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	epoch, err := ws.Begin(t, op, dest, source, n)
	if err != nil {
		return err
	}
	pe, size, me := ws.PE(), t.NPEs(), t.MyPE()
	half := int(epoch%2) * size
	mine := shmem.Local(pe, source)[:n]
	for j := 0; j < size; j++ {
		if j == me {
			continue
		}
		if err := shmem.PutSignal(pe, ws.Slot(half+me, n), mine, ws.Signal(me), epoch, shmem.SignalSet, t.WorldPE(j)); err != nil {
			return err
		}
	}
	srcs := make([][]T, size)
	for j := range srcs {
		if j == me {
			srcs[j] = mine
			continue
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, ws.Signal(j), shmem.CmpGE, epoch); err != nil {
			return err
		}
		srcs[j] = shmem.Local(pe, ws.Slot(half+j, n))
	}
	// dest may be source: ReduceN allows dst to be one of the sources.
	return ReduceN(op, shmem.Local(pe, dest)[:n], srcs)
}
