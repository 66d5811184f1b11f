package hostshmem

import (
	"fmt"

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
