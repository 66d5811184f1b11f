package am

import (
	"fmt"
	"sort"
	"sync"
)

// arena hands out chunks of this PE's large-message arena (a symmetric
// allocation made by New): a sender encodes a large payload into a chunk,
// the receiver decodes it in place (or Gets it), then sends a release.
type arena struct {
	mu    sync.Mutex
	base  uint64 // region offset
	size  uint64
	free_ []span // sorted by offset, coalesced
	used  map[uint64]uint64
}

type span struct{ off, n uint64 }

func (a *arena) init(base uintptr, size uint64) {
	a.base, a.size = uint64(base), size
	a.free_ = []span{{uint64(base), size}}
	a.used = map[uint64]uint64{}
}

// tryAlloc takes n bytes (rounded to 64) first-fit, or reports false.
func (a *arena) tryAlloc(n uint64) (uint64, bool) {
	n = (n + lineB - 1) &^ (lineB - 1)
	if n == 0 {
		n = lineB
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
			a.used[off] = n
			return off, true
		}
	}
	return 0, false
}

// alloc takes n bytes, waiting (and helping w progress) while the arena is
// full of payloads in flight.
func (a *arena) alloc(w *World, n uint64) (uint64, error) {
	if n > a.size {
		return 0, fmt.Errorf("%w: %d bytes exceed the arena of %d (Options.ArenaBytes)", ErrTooLarge, n, a.size)
	}
	if off, ok := a.tryAlloc(n); ok {
		return off, nil
	}
	// block may ask again after the answer was yes: allocate once.
	var off uint64
	got := false
	err := w.block(w.ctx, condFunc(func() bool {
		if !got {
			off, got = a.tryAlloc(n)
		}
		return got
	}))
	if err != nil {
		return 0, fmt.Errorf("am: waiting for %d bytes of arena: %w", n, err)
	}
	return off, nil
}

// free returns the chunk at off. Unknown offsets are ignored (a release
// from a confused peer must not corrupt the arena).
func (a *arena) free(off uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.used[off]
	if !ok {
		return
	}
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

// inUse is the number of chunks in flight.
func (a *arena) inUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}
