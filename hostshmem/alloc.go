package hostshmem

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"slices"
	"sync/atomic"
)

// allocator hands out blocks of [lo, hi) first-fit. It is deterministic: the
// same calls in the same order give the same offsets on every PE, which is
// what makes allocations symmetric.
type allocator struct {
	lo, hi uintptr
	free   []block             // sorted by offset, coalesced
	used   map[uintptr]uintptr // offset -> block size
}

type block struct{ off, size uintptr }

func (a *allocator) init(lo, hi uintptr) {
	a.lo, a.hi = lo, hi
	a.free = []block{{lo, hi - lo}}
	a.used = map[uintptr]uintptr{}
}

func roundUp(x, a uintptr) uintptr { return (x + a - 1) &^ (a - 1) }

// alloc returns the offset of a block of size bytes aligned to align (a
// power of two >= heapAlign), or ok=false.
func (a *allocator) alloc(size, align uintptr) (off uintptr, ok bool) {
	size = roundUp(size, heapAlign)
	for i, b := range a.free {
		start := roundUp(b.off, align)
		if start < b.off || start-b.off > b.size || b.size-(start-b.off) < size {
			continue
		}
		end, bend := start+size, b.off+b.size
		var repl []block
		if start > b.off {
			repl = append(repl, block{b.off, start - b.off})
		}
		if end < bend {
			repl = append(repl, block{end, bend - end})
		}
		a.free = slices.Replace(a.free, i, i+1, repl...)
		a.used[start] = size
		return start, true
	}
	return 0, false
}

// find returns the index of the free block starting at off, or where one
// starting there would go.
func (a *allocator) find(off uintptr) (int, bool) {
	return slices.BinarySearchFunc(a.free, off, func(b block, o uintptr) int { return cmp.Compare(b.off, o) })
}

// release frees the block at off and coalesces it with its neighbours.
func (a *allocator) release(off uintptr) bool {
	size, ok := a.used[off]
	if !ok {
		return false
	}
	delete(a.used, off)
	i, _ := a.find(off)
	a.free = slices.Insert(a.free, i, block{off, size})
	if i+1 < len(a.free) && a.free[i].off+a.free[i].size == a.free[i+1].off {
		a.free[i].size += a.free[i+1].size
		a.free = slices.Delete(a.free, i+1, i+2)
	}
	if i > 0 && a.free[i-1].off+a.free[i-1].size == a.free[i].off {
		a.free[i-1].size += a.free[i].size
		a.free = slices.Delete(a.free, i, i+1)
	}
	return true
}

// resize grows or shrinks the block at off in place when it can.
func (a *allocator) resize(off, size uintptr) bool {
	old, ok := a.used[off]
	if !ok {
		return false
	}
	size = roundUp(size, heapAlign)
	if size <= old {
		if size < old {
			a.used[off] = size
			a.used[off+size] = old - size
			a.release(off + size)
		}
		return true
	}
	// Grow into a free block that starts where this one ends.
	i, found := a.find(off + old)
	if !found || a.free[i].size < size-old {
		return false
	}
	need := size - old
	if a.free[i].size == need {
		a.free = slices.Delete(a.free, i, i+1)
	} else {
		a.free[i].off += need
		a.free[i].size -= need
	}
	a.used[off] = size
	return true
}

func (a *allocator) stats() (free, largest uintptr) {
	for _, b := range a.free {
		free += b.size
		largest = max(largest, b.size)
	}
	return
}

// Allocation kinds recorded for the cross-PE check.
const (
	kindMalloc uint64 = iota + 1
	kindCalloc
	kindAlign
	kindRealloc
	kindFree

	kindDevice uint64 = 1 << 8 // or-ed in: the call is on the device heap
)

var kindNames = [...]string{"", "malloc", "calloc", "align", "realloc", "free"}

type allocRec struct{ seq, kind, a, b uint64 }

// agree publishes this PE's collective call, synchronises, and checks that
// every PE made the same call. On a mismatch every PE returns the same
// error, naming the first PE that differs from PE 0.
func (p *PE) agreeLocked(ctx context.Context, kind, a, b uint64) error {
	op := kindNames[kind&^kindDevice]
	p.coll.allocSeq++
	seq := p.coll.allocSeq
	slot := allocRecOff + uintptr(seq%2)*lineSize
	if len(p.regions) == 0 {
		return errFinalized(op)
	}
	w := func(i int) *uint64 { return wordAt[uint64](p.local, slot+uintptr(i)*8) }
	atomic.StoreUint64(w(1), kind)
	atomic.StoreUint64(w(2), a)
	atomic.StoreUint64(w(3), b)
	atomic.StoreUint64(w(0), seq)
	if err := p.syncLocked(ctx, op); err != nil {
		return err
	}
	recs := make([]allocRec, p.n)
	for pe := range recs {
		r := p.regions[pe]
		if r == nil {
			buf := make([]byte, 32)
			if err := p.fab.Get(pe, slot, buf); err != nil {
				return fmt.Errorf("gshmem: %s: read PE %d's call: %w", op, pe, err)
			}
			r = make([]byte, slot+32)
			copy(r[slot:], buf)
		}
		recs[pe] = allocRec{
			atomic.LoadUint64(wordAt[uint64](r, slot)), atomic.LoadUint64(wordAt[uint64](r, slot+8)),
			atomic.LoadUint64(wordAt[uint64](r, slot+16)), atomic.LoadUint64(wordAt[uint64](r, slot+24)),
		}
	}
	for pe := 1; pe < p.n; pe++ {
		if recs[pe] != recs[0] {
			return fmt.Errorf("gshmem: %s: %w: PE 0 called %s, PE %d called %s", op, ErrMismatch, describe(recs[0]), pe, describe(recs[pe]))
		}
	}
	return nil
}

func describe(r allocRec) string {
	k := "?"
	if kd := r.kind &^ kindDevice; kd < uint64(len(kindNames)) {
		k = kindNames[kd]
	}
	if r.kind&kindDevice != 0 {
		k += " on the device heap"
	}
	switch r.kind &^ kindDevice {
	case kindAlign:
		return fmt.Sprintf("%s(align %d, %d bytes) [call #%d]", k, r.a, r.b, r.seq)
	case kindRealloc:
		return fmt.Sprintf("%s(offset %d, %d bytes) [call #%d]", k, r.a, r.b, r.seq)
	case kindFree:
		return fmt.Sprintf("%s(offset %d) [call #%d]", k, r.a, r.seq)
	}
	return fmt.Sprintf("%s(%d bytes) [call #%d]", k, r.a, r.seq)
}

func byteSize[T Elem](op string, n int) (uintptr, error) {
	sz := sizeOf[T]()
	hi, lo := bits.Mul64(uint64(n), uint64(sz))
	if n < 0 || hi != 0 || lo > 1<<62 {
		return 0, fmt.Errorf("gshmem: %s: %w: %d elements of %d bytes", op, ErrInvalidArg, n, sz)
	}
	return uintptr(lo), nil
}

// Malloc collectively allocates n elements of T in the symmetric heap and
// returns the same object on every PE. The memory is not zeroed (see
// Calloc). Malloc(0) returns an empty Sym. A full heap returns ErrHeapFull
// naming the requested and free bytes, on every PE alike.
func Malloc[T Elem](ctx context.Context, p *PE, n int) (Sym[T], error) {
	return alloc[T](ctx, p, "malloc", kindMalloc, n, heapAlign)
}

// Calloc is Malloc with the memory zeroed on every PE before it returns.
func Calloc[T Elem](ctx context.Context, p *PE, n int) (Sym[T], error) {
	return alloc[T](ctx, p, "calloc", kindCalloc, n, heapAlign)
}

// Align is Malloc with the object aligned to align bytes (a power of two).
func Align[T Elem](ctx context.Context, p *PE, align uintptr, n int) (Sym[T], error) {
	if align == 0 || align&(align-1) != 0 {
		return Sym[T]{}, fmt.Errorf("gshmem: align: %w: alignment %d is not a power of two", ErrInvalidArg, align)
	}
	return alloc[T](ctx, p, "align", kindAlign, n, max(align, heapAlign))
}

func alloc[T Elem](ctx context.Context, p *PE, op string, kind uint64, n int, align uintptr) (Sym[T], error) {
	size, err := byteSize[T](op, n)
	if err != nil {
		return Sym[T]{}, err
	}
	p.coll.Lock()
	defer p.coll.Unlock()
	a, b := uint64(size), uint64(0)
	if kind == kindAlign {
		a, b = uint64(align), uint64(size)
	}
	if err := p.agreeLocked(ctx, kind, a, b); err != nil {
		return Sym[T]{}, err
	}
	if size == 0 {
		return Sym[T]{}, nil
	}
	h, space, total := p.heapOf(kind&kindDevice != 0)
	off, ok := h.alloc(size, align)
	if !ok {
		free, largest := h.stats()
		return Sym[T]{}, fmt.Errorf("gshmem: %s: %w: %d bytes requested (align %d), largest free block %d bytes, %d of %d bytes of the %v heap free",
			op, ErrHeapFull, size, align, largest, free, total, space)
	}
	s := Sym[T]{off: off, n: n, space: space}
	if kind&^kindDevice == kindCalloc {
		if err := p.zero(off, size); err != nil {
			h.release(off)
			return Sym[T]{}, fmt.Errorf("gshmem: %s: %w", op, err)
		}
		// Peers may put into the new object as soon as they return.
		if err := p.syncLocked(ctx, op); err != nil {
			return Sym[T]{}, err
		}
	}
	return s, nil
}

// Realloc collectively resizes s to n elements, keeping the first
// min(len, n) elements of every PE's copy. The object may move: use the
// returned Sym. Realloc of an empty Sym is Malloc; to 0 elements, Free.
func Realloc[T Elem](ctx context.Context, p *PE, s Sym[T], n int) (Sym[T], error) {
	if s.bad != nil {
		return Sym[T]{}, fmt.Errorf("gshmem: realloc: %w", s.bad)
	}
	size, err := byteSize[T]("realloc", n)
	if err != nil {
		return Sym[T]{}, err
	}
	p.coll.Lock()
	defer p.coll.Unlock()
	kind := kindRealloc
	if s.space == Device {
		kind |= kindDevice
	}
	if err := p.agreeLocked(ctx, kind, uint64(s.off), uint64(size)); err != nil {
		return Sym[T]{}, err
	}
	h, space, total := p.heapOf(s.space == Device)
	if s.n > 0 {
		if _, ok := h.used[s.off]; !ok {
			return Sym[T]{}, fmt.Errorf("gshmem: realloc: %w: %v is not an allocated object", ErrInvalidArg, s)
		}
	}
	switch {
	case s.n == 0 && n == 0:
		return Sym[T]{}, nil
	case n == 0:
		h.release(s.off)
		return Sym[T]{}, nil
	case s.n > 0 && h.resize(s.off, size):
		return Sym[T]{off: s.off, n: n, space: space}, nil
	}
	off, ok := h.alloc(size, heapAlign)
	if !ok {
		free, largest := h.stats()
		return Sym[T]{}, fmt.Errorf("gshmem: realloc: %w: %d bytes requested, largest free block %d bytes, %d of %d bytes of the %v heap free",
			ErrHeapFull, size, largest, free, total, space)
	}
	if s.n > 0 {
		if err := p.move(off, s.off, min(size, s.Size())); err != nil {
			h.release(off)
			return Sym[T]{}, fmt.Errorf("gshmem: realloc: %w", err)
		}
		h.release(s.off)
	}
	// Every PE's contents must be in place before peers use the new object.
	if err := p.syncLocked(ctx, "realloc"); err != nil {
		return Sym[T]{}, err
	}
	return Sym[T]{off: off, n: n, space: space}, nil
}

// Free collectively releases s. Freeing an empty Sym does nothing but
// synchronise; freeing an object that is not allocated is ErrInvalidArg.
func Free[T Elem](ctx context.Context, p *PE, s Sym[T]) error {
	if s.bad != nil {
		return fmt.Errorf("gshmem: free: %w", s.bad)
	}
	p.coll.Lock()
	defer p.coll.Unlock()
	kind := kindFree
	if s.space == Device {
		kind |= kindDevice
	}
	if err := p.agreeLocked(ctx, kind, uint64(s.off), 0); err != nil {
		return err
	}
	if s.n == 0 {
		return nil
	}
	if h, _, _ := p.heapOf(s.space == Device); !h.release(s.off) {
		return fmt.Errorf("gshmem: free: %w: %v is not an allocated object (freed twice, or a slice of one?)", ErrInvalidArg, s)
	}
	return nil
}

// HeapFree returns the free bytes of p's symmetric heap and the largest
// free block: the largest object Malloc can return now.
func (p *PE) HeapFree() (free, largest uintptr) {
	p.coll.Lock()
	defer p.coll.Unlock()
	return p.coll.heap.stats()
}

// DeviceHeapFree is HeapFree for the device heap.
func (p *PE) DeviceHeapFree() (free, largest uintptr) {
	p.coll.Lock()
	defer p.coll.Unlock()
	if p.devSize == 0 {
		return 0, 0
	}
	return p.coll.dev.stats()
}

// heapOf returns the allocator, space and user size of the device heap
// (dev) or the host heap. Callers hold p.coll.
func (p *PE) heapOf(dev bool) (*allocator, Space, uintptr) {
	if dev {
		return &p.coll.dev, Device, p.DeviceHeapSize()
	}
	return &p.coll.heap, Host, p.HeapSize()
}

// zero clears this PE's n bytes at off, in either heap.
func (p *PE) zero(off, n uintptr) error {
	if p.onGPU(off) {
		return p.gpu.Zero(off-p.devOff, n)
	}
	clear(p.local[off : off+n])
	return nil
}

// move copies this PE's n bytes at src to dst, within one heap.
func (p *PE) move(dst, src, n uintptr) error {
	if !p.onGPU(src) {
		copy(p.local[dst:dst+n], p.local[src:src+n])
		return nil
	}
	buf := make([]byte, n)
	if err := p.gpu.Get(p.me, src-p.devOff, buf); err != nil {
		return err
	}
	return p.gpu.Put(p.me, dst-p.devOff, buf)
}
