package algo

import (
	"context"

	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Ring is the ring allreduce. The n elements are cut into one chunk per
// member (Chunk). In the reduce-scatter half, at step s each member sends
// chunk me-s to the next member and folds chunk me-s-1, arriving from the
// previous one, into its own copy; after size-1 steps member me holds chunk
// me+1 fully reduced. In the all-gather half the finished chunks travel
// round the ring once more, copied instead of folded. Each member sends
// 2(size-1) messages of about n/size elements: the bandwidth-optimal
// schedule for large n.
//
// Every chunk's result is computed by one member and copied to the rest,
// so every member ends with the same bits; but a chunk is folded in ring
// order starting after its owner, not member order, and Float16 and
// BFloat16 are rounded at every step, so inexact float results may differ
// from hostshmem.AllReduce in the last bits.
//
// Flow control. Messages to the next member go through two slots of its
// workspace, used alternately. Messages are numbered m = 0, 1, 2, ... for
// the life of the workspace (every call on it sends 2(size-1), so call e
// starts at (e-1)*2(size-1)); message m goes in slot m%2. The receiver's
// Signal(0) ("ready") is set to m+1 with the data, so "ready >= m+1" means
// message m has landed. After consuming it the receiver sets the sender's
// Signal(1) ("free") to m+1. Slot m%2 last held message m-2, so the sender
// may write message m once free >= m-1. Nothing else makes that safe: the
// ring carries no news from the next member back to this one until the
// data has gone all the way round. Two slots let a send overlap the
// receiver's folding of the previous message. The numbers only grow, so a
// signal left over from the previous call can never satisfy a wait.
//
// Ring needs a workspace of at least 2 slots of n/size elements, rounded
// up (any workspace with MaxElems >= n).
func Ring[T shmem.Elem](ctx context.Context, ws *Workspace[T], t *shmem.Team, op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
	epoch, err := ws.Begin(t, op, dest, source, n)
	if err != nil {
		return err
	}
	pe, size, me := ws.PE(), t.NPEs(), t.MyPE()
	out := shmem.Local(pe, dest)[:n]
	copy(out, shmem.Local(pe, source)[:n]) // in place, a copy onto itself
	if size == 1 {
		return nil
	}
	ready, free := ws.Signal(0), ws.Signal(1)
	next, prev := Next(t), Prev(t)
	send := func(m uint64, c int) error {
		if m >= 2 { // slot m%2 is free once the receiver consumed m-2
			if _, err := shmem.SignalWaitUntil(ctx, pe, free, shmem.CmpGE, m-1); err != nil {
				return err
			}
		}
		lo, hi := Chunk(n, size, c)
		return shmem.PutSignal(pe, ws.Slot(int(m%2), hi-lo), out[lo:hi], ready, m+1, shmem.SignalSet, next)
	}
	recv := func(m uint64, c int, fold bool) error {
		if _, err := shmem.SignalWaitUntil(ctx, pe, ready, shmem.CmpGE, m+1); err != nil {
			return err
		}
		lo, hi := Chunk(n, size, c)
		in := shmem.Local(pe, ws.Slot(int(m%2), hi-lo))
		if fold {
			if err := ReduceInto(op, out[lo:hi], in); err != nil {
				return err
			}
		} else {
			copy(out[lo:hi], in)
		}
		return shmem.AtomicSet(pe, free, m+1, prev) // slot m%2 is the sender's again
	}
	m := (epoch - 1) * uint64(2*(size-1)) // first message of this call
	for s := 0; s < size-1; s++ {         // reduce-scatter
		if err := send(m, Mod(me-s, size)); err != nil {
			return err
		}
		if err := recv(m, Mod(me-s-1, size), true); err != nil {
			return err
		}
		m++
	}
	for s := 0; s < size-1; s++ { // all-gather
		if err := send(m, Mod(me+1-s, size)); err != nil {
			return err
		}
		if err := recv(m, Mod(me-s, size), false); err != nil {
			return err
		}
		m++
	}
	return nil
}
