package streams

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/hostshmem"
)

// cpuEngine runs ops to completion on the stream's worker goroutine by
// calling hostshmem: puts and gets on a context of its own (so the
// stream's Quiet completes exactly the stream's puts and gets), waits and
// collectives through hostshmem's waits and team collectives, whose waits
// end with an error naming a dead peer.
type cpuEngine struct {
	pe *hostshmem.PE
	c  *hostshmem.Ctx // used by the worker only (CtxSerialized)
}

func newCPUEngine(pe *hostshmem.PE) (*cpuEngine, error) {
	c, err := hostshmem.CtxCreate(pe, hostshmem.CtxSerialized)
	if err != nil {
		return nil, err
	}
	return &cpuEngine{pe: pe, c: c}, nil
}

func (e *cpuEngine) name() string { return "cpu" }

func (e *cpuEngine) flush(context.Context) (*op, error) { return nil, nil }

func (e *cpuEngine) close() error { return e.c.Destroy() }

func (e *cpuEngine) exec(ctx context.Context, o *op) (bool, error) {
	return false, e.run(ctx, o)
}

func (e *cpuEngine) run(ctx context.Context, o *op) error {
	switch o.kind {
	case opPut:
		src, err := e.local(o.srcB)
		if err != nil {
			return err
		}
		return hostshmem.PutMem(e.c, o.dstB, src, o.pe)
	case opGet:
		dst, err := e.local(o.dstB)
		if err != nil {
			return err
		}
		return hostshmem.GetMem(e.c, dst[:o.count], o.srcB, o.pe)
	case opPutSignal:
		src, err := e.local(o.srcB)
		if err != nil {
			return err
		}
		// The signal must not overtake the stream's earlier puts to pe.
		if err := e.c.Fence(); err != nil {
			return err
		}
		return hostshmem.PutSignal(e.c, o.dstB, src, o.sig, o.sigVal, o.sigOp, o.pe)
	case opSignalWait:
		_, err := hostshmem.SignalWaitUntil(ctx, e.pe, o.sig, o.cmp, o.sigVal)
		return err
	case opQuiet:
		return e.c.Quiet()
	case opBarrier:
		// Team.Barrier quiets every context of the PE, then syncs.
		return o.team.Barrier(ctx)
	case opAllReduce, opReduceScatter, opAllGather, opAllToAll, opBroadcast:
		switch o.dtype {
		case dtFloat32:
			return coll[float32](ctx, o)
		case dtFloat16:
			return coll[hostshmem.Float16](ctx, o)
		case dtBFloat16:
			return coll[hostshmem.BFloat16](ctx, o)
		case dtInt32:
			return coll[int32](ctx, o)
		case dtInt64:
			return coll[int64](ctx, o)
		}
		return fmt.Errorf("%w: element type %v", hostshmem.ErrInvalidArg, o.dtype)
	case opGo:
		return o.fn(ctx)
	case opRecord:
		return nil // the worker counts the op done; that completes the event
	case opWaitEvent:
		return o.event.s.waitDone(ctx, o.event.seq)
	}
	return fmt.Errorf("%w: unknown op kind %v", hostshmem.ErrInvalidArg, o.kind)
}

// local is this PE's copy of s, or an error when there is none (after
// Finalize).
func (e *cpuEngine) local(s hostshmem.Sym[byte]) ([]byte, error) {
	b := hostshmem.Local(e.pe, s)
	if b == nil && s.Len() > 0 {
		return nil, fmt.Errorf("%w: no local copy of %v", hostshmem.ErrFinalized, s)
	}
	return b, nil
}

// coll runs a collective op on elements of type T through hostshmem.
func coll[T CollElem](ctx context.Context, o *op) error {
	dst, src := o.dst.(hostshmem.Sym[T]), o.src.(hostshmem.Sym[T])
	switch o.kind {
	case opAllReduce:
		return hostshmem.AllReduce(ctx, o.team, o.reduce, dst, src, o.n)
	case opReduceScatter:
		return hostshmem.ReduceScatter(ctx, o.team, o.reduce, dst, src, o.n)
	case opAllGather:
		return hostshmem.AllGather(ctx, o.team, dst, src, o.n)
	case opAllToAll:
		return hostshmem.AllToAll(ctx, o.team, dst, src, o.n)
	case opBroadcast:
		return hostshmem.Broadcast(ctx, o.team, dst, src, o.n, o.pe)
	}
	return fmt.Errorf("%w: %v is not a collective", hostshmem.ErrInvalidArg, o.kind)
}
