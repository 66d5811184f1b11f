package streams

import (
	"context"
	"errors"
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

// The CPU engine queues nothing: every op runs on the worker.
func (e *cpuEngine) onHost(*op) bool           { return true }
func (e *cpuEngine) progress() (uint64, error) { return 0, nil }
func (e *cpuEngine) check() error              { return nil }
func (e *cpuEngine) abort(bool)                {}
func (e *cpuEngine) settle()                   {}

// close destroys the engine's context; a PE closing (a stream it owns,
// closed by its Finalize) takes its contexts with it.
func (e *cpuEngine) close() error {
	if err := e.c.Destroy(); err != nil && !errors.Is(err, hostshmem.ErrFinalized) {
		return err
	}
	return nil
}

func (e *cpuEngine) exec(ctx context.Context, o *op) (bool, error) {
	return false, e.run(ctx, o)
}

func (e *cpuEngine) run(ctx context.Context, o *op) error {
	switch o.kind {
	case opPut:
		src, err := e.read(o.srcB)
		if err != nil {
			return err
		}
		return hostshmem.PutMem(e.c, o.dstB, src, o.pe)
	case opGet:
		dst := o.dstB.Slice(0, int(o.count))
		if b := hostshmem.Local(e.pe, dst); b != nil || o.count == 0 {
			return hostshmem.GetMem(e.c, b, o.srcB, o.pe)
		}
		// dst is in GPU memory: stage through the host.
		buf := make([]byte, o.count)
		if err := hostshmem.GetMem(e.c, buf, o.srcB, o.pe); err != nil {
			return err
		}
		return hostshmem.PutMem(e.c, dst, buf, e.pe.MyPE())
	case opPutSignal:
		src, err := e.read(o.srcB)
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

// read returns this PE's copy of s to read from: the object itself where
// the host can load it (the host heap, the device heap on the CPU
// fallback), else, for GPU memory, a host copy.
func (e *cpuEngine) read(s hostshmem.Sym[byte]) ([]byte, error) {
	if b := hostshmem.Local(e.pe, s); b != nil || s.Len() == 0 {
		return b, nil
	}
	buf := make([]byte, s.Len())
	if err := hostshmem.GetMem(e.c, buf, s, e.pe.MyPE()); err != nil {
		return nil, err
	}
	return buf, nil
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
