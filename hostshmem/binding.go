package hostshmem

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/fabric"
)

// What a binding from another language needs to address the symmetric
// heap by raw pointers (the C ABI in package capi), and to run its hot
// paths on the same mappings as this package, following the same wake
// protocol. Go programs use Sym, Put and Get instead.

// Region returns PE pe's symmetric region as mapped into this process, the
// same bytes this package's puts and gets move on mapped transports, or nil
// where pe's memory is reached only through the fabric (another node, or
// pe out of range). A store into it must be followed by Notify, unless the
// fabric's SleepWord (SleepWord) says nobody can be waiting. It must not be
// used after Finalize.
func (p *PE) Region(pe int) []byte {
	if uint(pe) >= uint(p.n) {
		return nil
	}
	return p.regions[pe]
}

// HostHeap returns the offsets [lo, hi) of the host symmetric heap within
// every PE's region: the objects Malloc and its family return lie there,
// and the bytes below lo are the runtime's own.
func (p *PE) HostHeap() (lo, hi uintptr) { return p.coll.heap.lo, p.coll.heap.hi }

// SleepWord returns the word that a store into PE pe's mapped region must
// look at to learn whether it needs Notify (fabric.Sleepers), or nil when
// the fabric has no such word for pe: then every store needs Notify.
func (p *PE) SleepWord(pe int) *uint64 {
	s, ok := p.fab.(fabric.Sleepers)
	if !ok || uint(pe) >= uint(p.n) {
		return nil
	}
	return s.SleepWord(pe)
}

// Watches returns what PE pe's sleepers watch (fabric.Sleepers), or nil
// slots when the fabric does not say: then a store that found SleepWord
// armed must Notify.
func (p *PE) Watches(pe int) (wild *uint32, slots []uint64, lineBytes uintptr) {
	s, ok := p.fab.(fabric.Sleepers)
	if !ok || uint(pe) >= uint(p.n) {
		return nil, nil, 0
	}
	return s.Watches(pe)
}

// Notify tells PE pe that bytes [off, off+n) of its region changed by a
// store of this process into its mapping (Region): it wakes pe's waiters
// on them. Puts, atomics and signals of this package notify by themselves.
func (p *PE) Notify(pe int, off, n uintptr) {
	if p.closed() || uint(pe) >= uint(p.n) {
		return
	}
	p.fab.Notify(pe, off, n)
}

// SymAt returns the n elements of T at byte offset off of the symmetric
// space as a Sym, for bindings that hold raw addresses: off and n are
// checked to lie in one heap (host or device) and off to be aligned for T,
// not to lie in one allocated object (Config.Checked does not check the
// Syms SymAt returns). The error wraps ErrOutOfRange or ErrInvalidArg and
// names the values.
func SymAt[T Elem](p *PE, off uintptr, n int) (Sym[T], error) {
	sz := sizeOf[T]()
	nbytes, ok := bytesOf[T](n)
	switch {
	case n < 0 || !ok:
		return Sym[T]{}, fmt.Errorf("gshmem: %w: %d elements of %d bytes", ErrOutOfRange, n, sz)
	case off%sz != 0 && sz <= 8:
		return Sym[T]{}, fmt.Errorf("gshmem: %w: offset %d is not aligned to %d bytes", ErrInvalidArg, off, sz)
	}
	for _, h := range [...]struct {
		a     *allocator
		space Space
	}{{&p.coll.heap, Host}, {&p.coll.dev, Device}} {
		if h.a.hi == 0 || off < h.a.lo || off > h.a.hi {
			continue
		}
		if nbytes > h.a.hi-off {
			return Sym[T]{}, fmt.Errorf("gshmem: %w: %d bytes at offset %d run past the end of the %v heap at %d", ErrOutOfRange, nbytes, off, h.space, h.a.hi)
		}
		return Sym[T]{off: off, n: n, tag: mkTag(h.space, 0)}, nil
	}
	return Sym[T]{}, fmt.Errorf("gshmem: %w: offset %d is in no symmetric heap (host heap [%d, %d))", ErrOutOfRange, off, p.coll.heap.lo, p.coll.heap.hi)
}

// ObjectAt returns, as bytes, the object an allocation (Malloc and its
// family) returned at byte offset off and that is still allocated, for
// bindings that free or reallocate by address; an error wrapping
// ErrInvalidArg when there is none.
func ObjectAt(p *PE, off uintptr) (Sym[byte], error) {
	p.coll.Lock()
	defer p.coll.Unlock()
	for _, h := range [...]struct {
		a     *allocator
		space Space
	}{{&p.coll.heap, Host}, {&p.coll.dev, Device}} {
		if o, ok := h.a.objs[off]; ok {
			return Sym[byte]{off: off, n: int(o.bytes), tag: mkTag(h.space, o.id)}, nil
		}
	}
	return Sym[byte]{}, fmt.Errorf("gshmem: %w: no allocated object starts at offset %d (freed already, or inside an object?)", ErrInvalidArg, off)
}

// AllEntry describes, for a binding that enters BarrierAll and SyncAll by
// itself (the C ABI's shmem_barrier_all and shmem_sync_all, where a call
// into Go costs as much as the barrier), the entry step of the team
// those calls run on, as it lies in this PE's region and its peers'. The
// binding follows enterExchange exactly:
//
//  1. Take the team: compare-and-swap the uint32 at State from 0 to 1
//     (busy); on failure, or when the uint32 at State+4 (broken) or the
//     uint64 at State+24 (pending) is nonzero, release and call Go
//     instead.
//  2. Add 1 to the uint64 at State+8 (calls): seq. Write the call record
//     at Records + (seq%2)*RecordBytes: seq, the call's code, five zero
//     words, and the error word 0.
//  3. Add 1 to the uint64 at State+16 (push epochs): e. Into the slot of
//     parity e%2 of this member (Me) on every other member i (world PE
//     Start + i*Stride), at Slot(e%2, Me) of its region: the descriptor at
//     +8, then e at +0 with a locked store; then notify i unless its
//     sleep word says nobody sleeps.
//  4. Wait until every other member's slot of parity e%2 in this PE's
//     region holds an epoch >= e; a slot that holds Poisoned, or a
//     descriptor other than this call's, or a wait that lasts: call
//     FinishEntry (which releases the team).
//  5. Release the team: store 0 at State.
//
// ok is false where the binding must call Go for every call: a team that
// enters by dissemination (more than 64 PEs), spans nodes, or has a member
// whose region is not mapped here.
type AllEntry struct {
	Me, Size, Start, Stride int
	State                   uintptr // offset of this PE's entry state in its region
	Slots, SlotStride       uintptr // Slot(par, i) = Slots + (par*Size + i)*SlotStride
	Records, RecordBytes    uintptr
	// BarrierCode and SyncCode are the codes a record holds;
	// BarrierDesc and SyncDesc the descriptors the slots carry.
	BarrierCode, SyncCode uint64
	BarrierDesc, SyncDesc uint64
	Poisoned              uint64
}

// Slot is the offset of member from's slot of parity par in a member's
// region.
func (a AllEntry) Slot(par, from int) uintptr {
	return a.Slots + uintptr(par*a.Size+from)*a.SlotStride
}

// AllEntry returns the entry step of BarrierAll and SyncAll's team (see
// AllEntry), and whether a binding may run it.
func (p *PE) AllEntry() (AllEntry, bool) {
	t := p.teams.all
	if !t.exchanges() || t.hier != nil {
		return AllEntry{}, false
	}
	for i := 0; i < t.size; i++ {
		if p.regions[t.WorldPE(i)] == nil {
			return AllEntry{}, false
		}
	}
	return AllEntry{
		Me: t.me, Size: t.size, Start: t.start, Stride: t.stride,
		State: t.block + tbState,
		Slots: t.slotOff(0, 0), SlotStride: lineSize + t.pushMax,
		Records: t.recOff(0), RecordBytes: recBytes,
		BarrierCode: uint64(cBarrierAll), SyncCode: uint64(cSyncAll),
		BarrierDesc: (&call{code: cBarrierAll}).desc(), SyncDesc: (&call{code: cSyncAll}).desc(),
		Poisoned: poisoned,
	}, true
}

// FinishEntry finishes a BarrierAll (sync false) or SyncAll (sync true)
// whose entry a binding began (AllEntry, step 4): it waits for epoch e of
// call seq as BarrierAll would, reaches the verdict, and releases the team.
// ctx bounds the wait.
func (p *PE) FinishEntry(ctx context.Context, sync bool, seq, e uint64) error {
	t := p.teams.all
	defer atomic.StoreUint32(&t.st.busy, 0)
	c := &call{op: "barrier_all", code: cBarrierAll}
	if sync {
		c = &call{op: "sync_all", code: cSyncAll}
	}
	if t.broken != "" {
		return t.brokenErr(c.op)
	}
	_, err := t.finishExchange(ctx, c.op, seq, e, c.desc())
	return err
}
