package hostshmem

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/gshmem/gshmem/fabric"
)

// allocator hands out blocks of [lo, hi) first-fit. It is deterministic: the
// same calls in the same order give the same offsets on every PE, which is
// what makes allocations symmetric.
type allocator struct {
	lo, hi uintptr
	free   []block             // sorted by offset, coalesced
	used   map[uintptr]uintptr // offset -> block size
	objs   map[uintptr]object  // offset -> the object an allocation returned there
	live   map[uint32]uintptr  // Sym.id -> offset of the object
}

type block struct{ off, size uintptr }

// object is what an allocation returned: its serial (Sym.id) and bytes.
type object struct {
	id    uint32
	bytes uintptr
}

func (a *allocator) init(lo, hi uintptr) {
	a.lo, a.hi = lo, hi
	a.free = []block{{lo, hi - lo}}
	a.used = map[uintptr]uintptr{}
	a.objs = map[uintptr]object{}
	a.live = map[uint32]uintptr{}
}

// adopt records the object of bytes with serial id at off.
func (a *allocator) adopt(off uintptr, id uint32, bytes uintptr) {
	a.forget(off)
	a.objs[off] = object{id: id, bytes: bytes}
	a.live[id] = off
}

// forget drops the record of the object at off, if any.
func (a *allocator) forget(off uintptr) {
	if o, ok := a.objs[off]; ok {
		delete(a.live, o.id)
		delete(a.objs, off)
	}
}

// allocated checks (Config.Checked) that the nbytes at off of an object
// with serial id, s, lie in that object and that it is still allocated.
func (p *PE) allocated(op string, off, nbytes uintptr, tag symTag, s fmt.Stringer) error {
	p.coll.Lock()
	defer p.coll.Unlock()
	h, _, _ := p.heapOf(tag.space() == Device)
	base, ok := h.live[tag.id()]
	if !ok {
		return fmt.Errorf("gshmem: %s: %w: %v belongs to an object that was freed (or reallocated)", op, ErrInvalidArg, s)
	}
	if off < base || off+nbytes > base+h.objs[base].bytes {
		return fmt.Errorf("gshmem: %s: %w: %v lies outside the object it came from", op, ErrOutOfRange, s)
	}
	return nil
}

// owns checks that s is an object an allocation of a returned and that is
// still allocated (not freed, not a part of one), naming what it is
// instead.
func owns[T Elem](a *allocator, s Sym[T]) error {
	o, ok := a.objs[s.off]
	switch {
	case !ok:
		return fmt.Errorf("%w: %v is not an allocated object (freed already, or a part of one?)", ErrInvalidArg, s)
	case o.id != s.tag.id():
		return fmt.Errorf("%w: %v was freed (or reallocated); the object at its offset now is another one", ErrInvalidArg, s)
	case s.Size() != o.bytes:
		return fmt.Errorf("%w: %v is a part of the %d-byte object at its offset: pass the object itself", ErrInvalidArg, s, o.bytes)
	}
	return nil
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
		a.forget(start)
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
	a.forget(off)
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

// Allocation kinds, in the calls' records.
const (
	kindMalloc uint64 = iota + 1
	kindCalloc
	kindAlign

	kindDevice uint64 = 1 << 8 // or-ed in: the call is on the device heap
)

var kindNames = [...]string{"", "malloc", "calloc", "align"}

// describeAlloc describes an allocation call's record arguments.
func describeAlloc(code uint8, a [4]uint64) string {
	var s string
	switch code {
	case cRealloc:
		s = fmt.Sprintf("realloc(offset %d, %d bytes)", a[1], a[2])
	case cFree:
		s = fmt.Sprintf("free(offset %d)", a[1])
	default:
		k := "?"
		if kd := a[0] &^ kindDevice; kd < uint64(len(kindNames)) {
			k = kindNames[kd]
		}
		if a[0]&^kindDevice == kindAlign {
			s = fmt.Sprintf("%s(align %d, %d bytes)", k, a[2], a[1])
		} else {
			s = fmt.Sprintf("%s(%d bytes)", k, a[1])
		}
		if code == cAllocDone {
			s += ", zeroing"
		}
	}
	if a[0]&kindDevice != 0 {
		s += " on the device heap"
	}
	return s
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
// naming the requested and free bytes, on every PE alike. Like every
// allocation call it is collective: a call whose arguments do not fit on
// one PE fails on every PE with that PE's error, and calls that differ
// fail on every PE with ErrMismatch.
func Malloc[T Elem](ctx context.Context, p *PE, n int) (Sym[T], error) {
	return alloc[T](ctx, p, "malloc", kindMalloc, n, heapAlign, nil)
}

// MallocHint is a set of bits saying how a symmetric object will be used
// (the hints of OpenSHMEM shmem_malloc_with_hints, SHMEM_MALLOC_*).
// Combine them with |; 0 asks for nothing.
type MallocHint uint64

// Allocation hints. gshmem accepts them and changes nothing for them: what
// each asks for is what every object gets already.
const (
	// MallocAtomicsRemote (SHMEM_MALLOC_ATOMICS_REMOTE): other PEs will
	// mostly update the object with atomics. Here every symmetric word
	// takes remote atomics at full speed (CPU atomics on the shared
	// mapping, the fabric's AMOs elsewhere), and every object starts on a
	// cache line of its own and fills whole lines (64-byte alignment and
	// sizes), so no other object's traffic contends with its atomics.
	MallocAtomicsRemote MallocHint = 1 << iota
	// MallocSignalRemote (SHMEM_MALLOC_SIGNAL_REMOTE): the object holds
	// signal words that other PEs update with PutSignal. Any 8-byte
	// aligned uint64 of the symmetric heap is a signal word, woken on like
	// every other, and lines are not shared between objects (see
	// MallocAtomicsRemote).
	MallocSignalRemote

	mallocAllHints = MallocAtomicsRemote | MallocSignalRemote
)

var mallocHintNames = [...]string{"MallocAtomicsRemote", "MallocSignalRemote"}

func (h MallocHint) String() string {
	if h == 0 {
		return "0"
	}
	var parts []string
	for i, name := range mallocHintNames {
		if h&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if rest := h &^ mallocAllHints; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint64(rest)))
	}
	return strings.Join(parts, "|")
}

// MallocWithHints is Malloc with hints on how the object will be used
// (shmem_malloc_with_hints); see MallocHint for what each does here (in
// short: nothing, every object has what they ask for). It is collective
// like Malloc; the PEs' hints need not be the same. Bits that are not a
// MallocHint are an error matching ErrInvalidArg and naming them, on every
// PE (the error of the lowest PE that passed some).
func MallocWithHints[T Elem](ctx context.Context, p *PE, n int, hints MallocHint) (Sym[T], error) {
	var bad error
	if rest := hints &^ mallocAllHints; rest != 0 {
		bad = fmt.Errorf("%w: unknown hint bits %#x in %v", ErrInvalidArg, uint64(rest), hints)
	}
	return alloc[T](ctx, p, "malloc_with_hints", kindMalloc, n, heapAlign, bad)
}

// Calloc is Malloc with the memory zeroed on every PE before it returns.
func Calloc[T Elem](ctx context.Context, p *PE, n int) (Sym[T], error) {
	return alloc[T](ctx, p, "calloc", kindCalloc, n, heapAlign, nil)
}

// Align is Malloc with the object aligned to align bytes (a power of two,
// at most MaxAlign): its address is a multiple of align on every PE.
func Align[T Elem](ctx context.Context, p *PE, align uintptr, n int) (Sym[T], error) {
	var bad error
	if align == 0 || align&(align-1) != 0 {
		bad = fmt.Errorf("%w: alignment %d is not a power of two", ErrInvalidArg, align)
	} else if align > MaxAlign {
		bad = fmt.Errorf("%w: alignment %d is larger than %d (MaxAlign: the alignment of every PE's symmetric region)", ErrInvalidArg, align, MaxAlign)
	}
	return alloc[T](ctx, p, "align", kindAlign, n, max(align, heapAlign), bad)
}

// MaxAlign is the largest alignment Align accepts: every transport maps
// each PE's symmetric region at a multiple of it.
const MaxAlign = fabric.RegionAlign

func alloc[T Elem](ctx context.Context, p *PE, op string, kind uint64, n int, align uintptr, bad error) (Sym[T], error) {
	t := p.teams.all
	if err := t.lock(op); err != nil {
		return Sym[T]{}, err
	}
	defer t.unlock()
	size, err := byteSize[T](op, n)
	if bad == nil {
		bad = err
	}
	c := &call{op: op, code: cAlloc, args: [4]uint64{kind, uint64(size), uint64(align)}, err: bad}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return Sym[T]{}, err
	}
	if size == 0 {
		return Sym[T]{}, nil
	}
	p.coll.Lock()
	h, space, total := p.heapOf(kind&kindDevice != 0)
	off, ok := h.alloc(size, align)
	if !ok {
		free, largest := h.stats()
		p.coll.Unlock()
		// Every PE's heap holds the same objects: every PE fails alike.
		return Sym[T]{}, fmt.Errorf("gshmem: %s: %w: %d bytes requested (align %d), largest free block %d bytes, %d of %d bytes of the %v heap free",
			op, ErrHeapFull, size, align, largest, free, total, space)
	}
	s := adoptLocked[T](p, h, off, n, space)
	p.coll.Unlock()
	if kind&^kindDevice == kindCalloc {
		// Peers may put into the new object as soon as they return: zero,
		// then agree that every PE did.
		c.code, c.err = cAllocDone, p.zero(off, size)
		if _, err := t.enter(ctx, c, nil); err != nil {
			p.coll.Lock()
			h.release(off)
			p.coll.Unlock()
			return Sym[T]{}, err
		}
	}
	return s, nil
}

// adoptLocked records the object of n elements of T that an allocation
// put at off and returns it (p.coll held).
func adoptLocked[T Elem](p *PE, h *allocator, off uintptr, n int, space Space) Sym[T] {
	p.coll.serial++
	s := Sym[T]{off: off, n: n, tag: mkTag(space, p.coll.serial)}
	h.adopt(off, p.coll.serial, s.Size())
	return s
}

// Realloc collectively resizes s to n elements, keeping the first
// min(len, n) elements of every PE's copy. The object may move: use the
// returned Sym (s itself is freed). Realloc of an empty Sym is Malloc; to 0
// elements, Free.
func Realloc[T Elem](ctx context.Context, p *PE, s Sym[T], n int) (Sym[T], error) {
	const op = "realloc"
	t := p.teams.all
	if err := t.lock(op); err != nil {
		return Sym[T]{}, err
	}
	defer t.unlock()
	var kind uint64
	if s.Space() == Device {
		kind = kindDevice
	}
	size, bad := byteSize[T](op, n)
	h, space, total := p.heapOf(s.Space() == Device)
	if s.bad != nil {
		bad = s.bad
	} else if s.n > 0 && bad == nil {
		p.coll.Lock()
		bad = owns(h, s)
		p.coll.Unlock()
	}
	c := &call{op: op, code: cRealloc, args: [4]uint64{kind, uint64(s.off), uint64(size)}, err: bad}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return Sym[T]{}, err
	}
	p.coll.Lock()
	switch {
	case s.n == 0 && n == 0:
		p.coll.Unlock()
		return Sym[T]{}, nil
	case n == 0:
		h.release(s.off)
		p.coll.Unlock()
		return Sym[T]{}, nil
	case s.n > 0 && h.resize(s.off, size):
		defer p.coll.Unlock()
		return adoptLocked[T](p, h, s.off, n, space), nil
	}
	off, ok := h.alloc(size, heapAlign)
	free, largest := h.stats()
	p.coll.Unlock()
	if !ok {
		return Sym[T]{}, fmt.Errorf("gshmem: realloc: %w: %d bytes requested, largest free block %d bytes, %d of %d bytes of the %v heap free",
			ErrHeapFull, size, largest, free, total, space)
	}
	if s.n > 0 {
		c.err = p.move(off, s.off, min(size, s.Size()))
	}
	// Every PE's contents must be in place before peers use the new object.
	c.code = cAllocDone
	_, err := t.enter(ctx, c, nil)
	p.coll.Lock()
	defer p.coll.Unlock()
	if err != nil {
		h.release(off)
		return Sym[T]{}, err
	}
	if s.n > 0 {
		h.release(s.off)
	}
	return adoptLocked[T](p, h, off, n, space), nil
}

// Free collectively releases s, which must be an object an allocation
// returned (not a part of one) and not freed yet. Freeing an empty Sym
// does nothing but synchronise. Like every allocation call, it fails on
// every PE when s does not fit on one.
func Free[T Elem](ctx context.Context, p *PE, s Sym[T]) error {
	const op = "free"
	t := p.teams.all
	if err := t.lock(op); err != nil {
		return err
	}
	defer t.unlock()
	var kind uint64
	if s.Space() == Device {
		kind = kindDevice
	}
	h, _, _ := p.heapOf(s.Space() == Device)
	var bad error
	if s.bad != nil {
		bad = s.bad
	} else if s.n > 0 {
		p.coll.Lock()
		bad = owns(h, s)
		p.coll.Unlock()
	}
	c := &call{op: op, code: cFree, args: [4]uint64{kind, uint64(s.off)}, err: bad}
	if _, err := t.enter(ctx, c, nil); err != nil {
		return err
	}
	if s.n > 0 {
		p.coll.Lock()
		h.release(s.off)
		p.coll.Unlock()
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
// (dev) or the host heap. Callers hold p.coll to use the allocator.
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
