package ring

import (
	"sort"
	"sync"
)

// Arena hands out chunks of a PE's arena, a symmetric allocation of its
// own: a sender encodes a large payload into a chunk, the receiver reads
// it in place (or Gets it: Rings.Chunk) and sends a release, and the
// sender frees the chunk. Init readies it; it is safe for concurrent use.
type Arena struct {
	mu    sync.Mutex
	base  uint64 // region offset
	size  uint64
	free_ []span // sorted by offset, coalesced
	used  map[uint64]chunk
}

type span struct{ off, n uint64 }

// chunk is a chunk in flight: its size and the PE whose release frees it.
type chunk struct {
	n  uint64
	pe int
}

// Init makes a an empty arena of size bytes at region offset base.
func (a *Arena) Init(base uintptr, size uint64) {
	a.base, a.size = uint64(base), size
	a.free_ = []span{{uint64(base), size}}
	a.used = map[uint64]chunk{}
}

// Size is the arena's size in bytes.
func (a *Arena) Size() uint64 { return a.size }

// TryAlloc takes n bytes (rounded up to LineBytes) first-fit for a
// message to PE pe and returns their region offset, or reports false.
func (a *Arena) TryAlloc(n uint64, pe int) (uint64, bool) {
	n = (n + LineBytes - 1) &^ (LineBytes - 1)
	if n == 0 {
		n = LineBytes
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range a.free_ {
		if s.n >= n {
			off := s.off
			if s.n == n {
				a.free_ = append(a.free_[:i], a.free_[i+1:]...)
			} else {
				a.free_[i] = span{s.off + n, s.n - n}
			}
			a.used[off] = chunk{n, pe}
			return off, true
		}
	}
	return 0, false
}

// Free returns the chunk at off. Unknown offsets are ignored (a release
// from a confused peer must not corrupt the arena).
func (a *Arena) Free(off uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.freeLocked(off)
}

// Reclaim frees every chunk in flight to PE pe, which died: no release
// will come from it.
func (a *Arena) Reclaim(pe int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for off, c := range a.used {
		if c.pe == pe {
			a.freeLocked(off)
		}
	}
}

func (a *Arena) freeLocked(off uint64) {
	c, ok := a.used[off]
	if !ok {
		return
	}
	n := c.n
	delete(a.used, off)
	i := sort.Search(len(a.free_), func(i int) bool { return a.free_[i].off > off })
	a.free_ = append(a.free_, span{})
	copy(a.free_[i+1:], a.free_[i:])
	a.free_[i] = span{off, n}
	// Coalesce with the neighbours.
	if i+1 < len(a.free_) && a.free_[i].off+a.free_[i].n == a.free_[i+1].off {
		a.free_[i].n += a.free_[i+1].n
		a.free_ = append(a.free_[:i+1], a.free_[i+2:]...)
	}
	if i > 0 && a.free_[i-1].off+a.free_[i-1].n == a.free_[i].off {
		a.free_[i-1].n += a.free_[i].n
		a.free_ = append(a.free_[:i], a.free_[i+1:]...)
	}
}

// InUse is the number of chunks in flight.
func (a *Arena) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}
