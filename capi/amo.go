//go:build cgo

package capi

/*
#include "gs_amo.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/gshmem/gshmem/hostshmem"
)

// The Go half of the atomics, signals, waits and locks (gs_amo.h,
// sync.c): what C cannot do on the mappings itself. Atomics and signals
// reach unmapped peers and the device heap here; waits sleep here, in the
// fabric, after C's spin; locks are hostshmem's queue lock.

// cmps maps the C interface's SHMEM_CMP_* values (EQ, NE, GT, LE, LT, GE)
// to hostshmem's comparisons.
var cmps = [...]hostshmem.Cmp{hostshmem.CmpEQ, hostshmem.CmpNE, hostshmem.CmpGT, hostshmem.CmpLE, hostshmem.CmpLT, hostshmem.CmpGE}

//export gshmemGoAMO
func gshmemGoAMO(h, ctxh C.uintptr_t, call *C.char, op, pe C.int, off C.uintptr_t, size C.size_t, v, cond C.uint64_t) C.uint64_t {
	b := lookup(h)
	c := b.comm(ctxh)
	var (
		old uint64
		err error
	)
	if size == 4 {
		var o uint32
		o, err = amo[uint32](c, b, int(op), uintptr(off), uint32(v), uint32(cond), int(pe))
		old = uint64(o)
	} else {
		old, err = amo[uint64](c, b, int(op), uintptr(off), uint64(v), uint64(cond), int(pe))
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
	return C.uint64_t(old)
}

// amo applies the C interface's atomic op (GS_AMO_*) to the word at off on
// PE pe and returns what it held: integers and floats alike as their bit
// patterns.
func amo[T uint32 | uint64](c hostshmem.Comm, b *binding, op int, off uintptr, v, cond T, pe int) (T, error) {
	s, err := hostshmem.SymAt[T](b.pe, off, 1)
	if err != nil {
		return 0, err
	}
	switch op {
	case C.GS_AMO_FETCH:
		return hostshmem.AtomicFetch(c, s, pe)
	case C.GS_AMO_SET:
		return 0, hostshmem.AtomicSet(c, s, v, pe)
	case C.GS_AMO_SWAP:
		return hostshmem.AtomicSwap(c, s, v, pe)
	case C.GS_AMO_CSWAP:
		return hostshmem.AtomicCompareSwap(c, s, cond, v, pe)
	case C.GS_AMO_ADD:
		return hostshmem.AtomicFetchAdd(c, s, v, pe)
	case C.GS_AMO_AND:
		return hostshmem.AtomicFetchAnd(c, s, v, pe)
	case C.GS_AMO_OR:
		return hostshmem.AtomicFetchOr(c, s, v, pe)
	case C.GS_AMO_XOR:
		return hostshmem.AtomicFetchXor(c, s, v, pe)
	}
	return 0, fmt.Errorf("%w: atomic operation %d", hostshmem.ErrInvalidArg, op)
}

//export gshmemGoPutSignal
func gshmemGoPutSignal(h, ctxh C.uintptr_t, call *C.char, nbi, pe C.int, off C.uintptr_t, src unsafe.Pointer, n C.size_t, soff C.uintptr_t, signal C.uint64_t, sigOp C.int) {
	b := lookup(h)
	d, err := hostshmem.SymAt[byte](b.pe, uintptr(off), int(n))
	if err == nil {
		var sig hostshmem.Sym[uint64]
		if sig, err = hostshmem.SymAt[uint64](b.pe, uintptr(soff), 1); err == nil {
			buf := unsafe.Slice((*byte)(src), int(n))
			c := b.comm(ctxh)
			if nbi != 0 {
				err = hostshmem.PutSignalNBI(c, d, buf, sig, uint64(signal), hostshmem.SignalOp(sigOp), int(pe))
			} else {
				err = hostshmem.PutSignal(c, d, buf, sig, uint64(signal), hostshmem.SignalOp(sigOp), int(pe))
			}
		}
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
}

//export gshmemGoWaitCond
func gshmemGoWaitCond(h C.uintptr_t, call *C.char, a *C.gs_waitargs) {
	b := lookup(h)
	// No offset to watch (static data lies outside the region): any
	// Notify of this PE wakes the wait, and the fabric looks again at
	// least every tick, which is how a lock's waiters, whom the unlock
	// does not notify, see it.
	cond := func() bool { return C.gs_wait_cond(a) != 0 }
	if err := b.pe.Fabric().Wait(b.ctx, cond, 0, 0); err != nil {
		b.fatal(C.GoString(call), err)
	}
}

//export gshmemGoWait
func gshmemGoWait(h C.uintptr_t, call *C.char, test, op, kind C.int, off C.uintptr_t, n C.size_t, status *C.int, cmp C.int, v C.uint64_t, values unsafe.Pointer, indices *C.size_t) C.uint64_t {
	b := lookup(h)
	w := wait{b: b, test: test != 0, op: int(op), off: uintptr(off), n: int(n), cmp: cmps[cmp], v: uint64(v), values: values}
	if status != nil {
		w.status = make([]int, w.n)
		for i, s := range unsafe.Slice(status, w.n) {
			w.status[i] = int(s)
		}
	}
	if op == C.GS_W_SOME {
		w.indices = make([]int, w.n)
	}
	var (
		r   uint64
		err error
	)
	switch kind {
	case C.GS_I16:
		r, err = waitFor[int16](w)
	case C.GS_U16:
		r, err = waitFor[uint16](w)
	case C.GS_I32:
		r, err = waitFor[int32](w)
	case C.GS_U32:
		r, err = waitFor[uint32](w)
	case C.GS_I64:
		r, err = waitFor[int64](w)
	default:
		r, err = waitFor[uint64](w)
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
	if op == C.GS_W_SOME {
		out := unsafe.Slice(indices, w.n)
		for i := range int(r) {
			out[i] = C.size_t(w.indices[i])
		}
	}
	return C.uint64_t(r)
}

// wait is one wait or test of the C interface (gs_wait in gs_amo.h).
type wait struct {
	b       *binding
	test    bool
	op      int // GS_W_ALL, _ANY, _SOME or _SIGNAL
	off     uintptr
	n       int
	status  []int // nil: every variable
	cmp     hostshmem.Cmp
	v       uint64         // the value's bits, when values is nil
	values  unsafe.Pointer // the vector forms' values (C memory), or nil
	indices []int          // GS_W_SOME's
}

// waitFor runs w on variables of type T and returns what the C function
// returns: 1 or 0 (all, test), an index or SIZE_MAX (any), a count
// (some), the signal's value (signal).
func waitFor[T hostshmem.WaitInt](w wait) (uint64, error) {
	p, ctx := w.b.pe, w.b.ctx
	if w.op == C.GS_W_SIGNAL {
		sig, err := hostshmem.SymAt[uint64](p, w.off, 1)
		if err != nil {
			return 0, err
		}
		if w.test {
			return hostshmem.SignalFetch(p, sig)
		}
		return hostshmem.SignalWaitUntil(ctx, p, sig, w.cmp, w.v)
	}
	s, err := hostshmem.SymAt[T](p, w.off, w.n)
	if err != nil {
		return 0, err
	}
	v := T(w.v) // the bits, truncated to T
	var values []T
	if w.values != nil {
		values = unsafe.Slice((*T)(w.values), w.n)
	}
	bit := func(ok bool, err error) (uint64, error) {
		if ok {
			return 1, err
		}
		return 0, err
	}
	index := func(i int, err error) (uint64, error) {
		if i < 0 {
			return ^uint64(0), err
		}
		return uint64(i), err
	}
	switch {
	case w.op == C.GS_W_ALL && w.test && values == nil:
		return bit(hostshmem.TestAll(p, s, w.status, w.cmp, v))
	case w.op == C.GS_W_ALL && w.test:
		return bit(hostshmem.TestAllVector(p, s, w.status, w.cmp, values))
	case w.op == C.GS_W_ALL && values == nil:
		return bit(true, hostshmem.WaitUntilAll(ctx, p, s, w.status, w.cmp, v))
	case w.op == C.GS_W_ALL:
		return bit(true, hostshmem.WaitUntilAllVector(ctx, p, s, w.status, w.cmp, values))
	case w.op == C.GS_W_ANY && w.test && values == nil:
		return index(hostshmem.TestAny(p, s, w.status, w.cmp, v))
	case w.op == C.GS_W_ANY && w.test:
		return index(hostshmem.TestAnyVector(p, s, w.status, w.cmp, values))
	case w.op == C.GS_W_ANY && values == nil:
		return index(hostshmem.WaitUntilAny(ctx, p, s, w.status, w.cmp, v))
	case w.op == C.GS_W_ANY:
		return index(hostshmem.WaitUntilAnyVector(ctx, p, s, w.status, w.cmp, values))
	}
	var k int
	switch {
	case w.test && values == nil:
		k, err = hostshmem.TestSome(p, s, w.indices, w.status, w.cmp, v)
	case w.test:
		k, err = hostshmem.TestSomeVector(p, s, w.indices, w.status, w.cmp, values)
	case values == nil:
		k, err = hostshmem.WaitUntilSome(ctx, p, s, w.indices, w.status, w.cmp, v)
	default:
		k, err = hostshmem.WaitUntilSomeVector(ctx, p, s, w.indices, w.status, w.cmp, values)
	}
	return uint64(k), err
}

// Operations of gshmemGoLock (sync.c).
const (
	lockSet = iota
	lockTest
	lockClear
)

//export gshmemGoLock
func gshmemGoLock(h C.uintptr_t, call *C.char, op C.int, off C.uintptr_t) C.int {
	b := lookup(h)
	lock, err := hostshmem.SymAt[int64](b.pe, uintptr(off), 1)
	held := false
	if err == nil {
		switch op {
		case lockSet:
			err = hostshmem.SetLock(b.ctx, b.pe, lock)
		case lockTest:
			held, err = hostshmem.TestLock(b.pe, lock)
		case lockClear:
			err = hostshmem.ClearLock(b.pe, lock)
		}
	}
	if err != nil {
		b.fatal(C.GoString(call), err)
	}
	if op == lockTest && !held {
		return 1 // shmem_test_lock: 0 when it took the lock, 1 when another holds it
	}
	return 0
}
