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
	used  map[uint64]chunk
}

type span struct{ off, n uint64 }

// chunk is a chunk in flight: its size and the PE whose release frees it.
type chunk struct {
	n  uint64
	pe int
}

func (a *arena) init(base uintptr, size uint64) {
	a.base, a.size = uint64(base), size
	a.free_ = []span{{uint64(base), size}}
	a.used = map[uint64]chunk{}
}

// tryAlloc takes n bytes (rounded to 64) first-fit for a message to PE
// pe, or reports false.
func (a *arena) tryAlloc(n uint64, pe int) (uint64, bool) {
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
			a.used[off] = chunk{n, pe}
			return off, true
		}
	}
	return 0, false
}

// alloc takes n bytes, waiting (and helping w progress) while the arena is
// full of payloads in flight.
func (a *arena) alloc(w *World, n uint64, pe int) (uint64, error) {
	if n > a.size {
		return 0, fmt.Errorf("%w: %d bytes exceed the arena of %d (Options.ArenaBytes)", ErrTooLarge, n, a.size)
	}
	if off, ok := a.tryAlloc(n, pe); ok {
		return off, nil
	}
	// block may ask again after the answer was yes: allocate once. Chunks
	// come back as receivers release them, or all at once from a PE that
	// died (peerError reclaims them); a message to a dead PE stops waiting.
	var off uint64
	got := false
	err := w.block(w.ctx, condFunc(func() bool {
		if !got {
			off, got = a.tryAlloc(n, pe)
		}
		return got || w.deadErr(pe) != nil
	}))
	if err == nil && !got {
		err = w.deadErr(pe)
	}
	if err != nil {
		if got {
			a.free(off)
		}
		return 0, fmt.Errorf("am: waiting for %d bytes of arena: %w", n, err)
	}
	return off, nil
}

// free returns the chunk at off. Unknown offsets are ignored (a release
// from a confused peer must not corrupt the arena).
func (a *arena) free(off uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.freeLocked(off)
}

// reclaim frees every chunk in flight to PE pe, which died: no release
// will come from it.
func (a *arena) reclaim(pe int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for off, c := range a.used {
		if c.pe == pe {
			a.freeLocked(off)
		}
	}
}

func (a *arena) freeLocked(off uint64) {
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

// inUse is the number of chunks in flight.
func (a *arena) inUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}
