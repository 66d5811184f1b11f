package hostshmem

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
)

// SignalOp is how PutSignal updates the signal word.
type SignalOp int

// Signal operations.
const (
	SignalSet SignalOp = iota // the signal becomes the value
	SignalAdd                 // the value is added to the signal
)

// PutSignal puts src into dst on PE pe, then updates the signal word sig
// on pe with sigOp and sigVal: a PE that sees the signal updated also sees
// the data. It returns once src may be reused.
func PutSignal[T Elem](c Comm, dst Sym[T], src []T, sig Sym[uint64], sigVal uint64, sigOp SignalOp, pe int) error {
	return putSignal(c, "put_signal", opBlocking, dst, src, sig, sigVal, sigOp, pe)
}

// PutSignalNBI is PutSignal that may return before src may be reused: src
// belongs to the runtime until the next Quiet on c.
func PutSignalNBI[T Elem](c Comm, dst Sym[T], src []T, sig Sym[uint64], sigVal uint64, sigOp SignalOp, pe int) error {
	return putSignal(c, "put_signal_nbi", opNBI, dst, src, sig, sigVal, sigOp, pe)
}

func putSignal[T Elem](c Comm, op string, k opKind, dst Sym[T], src []T, sig Sym[uint64], sigVal uint64, sigOp SignalOp, pe int) error {
	p, pe, err := c.comm().live(op, k, pe)
	if err != nil {
		return err
	}
	var aop fabric.AMOOp
	switch sigOp {
	case SignalSet:
		aop = fabric.AMOSet
	case SignalAdd:
		aop = fabric.AMOAdd
	default:
		return fmt.Errorf("gshmem: %s: %w: signal operation %d", op, ErrInvalidArg, int(sigOp))
	}
	sr, err := target(p, op, sig, 1, pe)
	if err != nil {
		return err
	}
	if sig.off%8 != 0 {
		return fmt.Errorf("gshmem: %s: %w: signal offset %d is not 8-byte aligned", op, ErrInvalidArg, sig.off)
	}
	dr, err := target(p, op, dst, len(src), pe)
	if err != nil {
		return err
	}
	if d0, d1 := dst.off, dst.off+uintptr(len(src))*sizeOf[T](); sig.off < d1 && d0 < sig.off+8 {
		return fmt.Errorf("gshmem: %s: %w: signal %v inside destination %v", op, ErrOverlap, sig, dst)
	}
	if sr == nil || dr == nil {
		if err := p.rma.PutSignal(pe, dst.off, asBytes(src), sig.off, aop, sigVal, fabric.CompleteAtQuiet); err != nil {
			return fmt.Errorf("gshmem: %s: %w", op, err)
		}
		return nil
	}
	copy(dr, asBytes(src))
	// The locked update orders the data stores before the signal.
	fabric.AMO64((*uint64)(unsafe.Pointer(&sr[0])), aop, sigVal, 0)
	p.fab.Notify(pe, sig.off, 8)
	return nil
}

// SignalFetch atomically reads this PE's signal word sig.
func SignalFetch(p *PE, sig Sym[uint64]) (uint64, error) {
	r, err := target(p, "signal_fetch", sig, 1, p.me)
	if err != nil {
		return 0, err
	}
	if r == nil { // GPU memory
		return AtomicFetch(p, sig, p.me)
	}
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r[0]))), nil
}

// SignalWaitUntil blocks until this PE's signal word sig satisfies
// (sig cmp v) and returns its value then. ctx bounds the wait; a dead peer
// ends it with an error matching fabric.ErrPeerDead.
func SignalWaitUntil(ctx context.Context, p *PE, sig Sym[uint64], cmp Cmp, v uint64) (uint64, error) {
	vs, reload, err := ivars(p, "signal_wait_until", sig.Slice(0, min(sig.n, 1)), nil, cmp)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, fmt.Errorf("gshmem: signal_wait_until: %w: empty signal", ErrInvalidArg)
	}
	x := &vs[0]
	var got uint64
	err = p.waitVars(ctx, "signal_wait_until", reload, func() bool { got = load(x); return holds(cmp, got, v) }, sig.off, 8)
	return got, err
}
