package array

import (
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// Distribution says how an array's elements are spread over the PEs of
// its team.
type Distribution uint8

const (
	// Block gives each PE one contiguous chunk, in PE order: with n
	// elements on p PEs, every PE holds n/p of them and the first n%p
	// PEs one more.
	Block Distribution = iota
	// Cyclic deals the elements out round robin: element i lives on PE
	// i%p, at local offset i/p.
	Cyclic
)

// String names the distribution as Lamellar does.
func (d Distribution) String() string {
	switch d {
	case Block:
		return "Block"
	case Cyclic:
		return "Cyclic"
	}
	return fmt.Sprintf("Distribution(%d)", uint8(d))
}

// layout maps the global indices of an array, or of a sub-array of it,
// to PEs and local offsets. A whole array of n elements over p PEs is
// layout{n, p, dist, 0, n}; a sub-array is the range [lo, hi) of its
// parent's indices, renumbered from 0.
type layout struct {
	n, npes int // the whole array
	dist    Distribution
	lo, hi  int // this view: [lo, hi) of the whole array's indices
}

func newLayout(n, npes int, dist Distribution) (layout, error) {
	if n < 0 {
		return layout{}, fmt.Errorf("array: %w: length %d", errdefs.ErrInvalidArg, n)
	}
	if npes < 1 {
		return layout{}, fmt.Errorf("array: %w: a team of %d PEs", errdefs.ErrInvalidArg, npes)
	}
	if dist != Block && dist != Cyclic {
		return layout{}, fmt.Errorf("array: %w: %v", errdefs.ErrInvalidArg, dist)
	}
	return layout{n: n, npes: npes, dist: dist, lo: 0, hi: n}, nil
}

// Len is the number of elements of the view.
func (l layout) Len() int { return l.hi - l.lo }

// capacity is the number of elements every PE allocates for the whole
// array: the most any PE holds.
func (l layout) capacity() int { return (l.n + l.npes - 1) / l.npes }

// wholeLocal is the number of elements of the whole array on PE pe.
func (l layout) wholeLocal(pe int) int {
	k := l.n / l.npes
	if pe < l.n%l.npes {
		k++
	}
	return k
}

// blockStart is the whole array's first index on PE pe (Block).
func (l layout) blockStart(pe int) int {
	return pe*(l.n/l.npes) + min(pe, l.n%l.npes)
}

// owner maps an index of the whole array to its PE and local offset.
func (l layout) owner(j int) (pe, off int) {
	if l.dist == Cyclic {
		return j % l.npes, j / l.npes
	}
	q, r := l.n/l.npes, l.n%l.npes
	if j < r*(q+1) {
		return j / (q + 1), j % (q + 1)
	}
	j -= r * (q + 1)
	return r + j/q, j % q
}

// check returns an error naming i and the view's length when i is not an
// index of the view.
func (l layout) check(i int) error {
	if i < 0 || i >= l.Len() {
		return fmt.Errorf("array: %w: index %d, length %d", errdefs.ErrOutOfRange, i, l.Len())
	}
	return nil
}

// PEAndOffset returns the PE that holds element i of the view and the
// element's offset in that PE's local data of the whole array.
func (l layout) PEAndOffset(i int) (pe, off int, err error) {
	if err := l.check(i); err != nil {
		return 0, 0, err
	}
	pe, off = l.owner(l.lo + i)
	return pe, off, nil
}

// span returns the whole array's first and last index on PE pe that lie
// in the view, and whether there is any.
func (l layout) span(pe int) (first, last int, ok bool) {
	if pe < 0 || pe >= l.npes || l.hi <= l.lo {
		return 0, 0, false
	}
	if l.dist == Block {
		s := l.blockStart(pe)
		e := s + l.wholeLocal(pe)
		first, last = max(s, l.lo), min(e, l.hi)-1
		return first, last, first <= last
	}
	p := l.npes
	first = l.lo + ((pe-l.lo%p)%p+p)%p
	last = l.hi - 1 - (((l.hi-1)%p-pe)%p+p)%p
	return first, last, first <= last
}

// FirstGlobalIndex returns the view's first index held by PE pe, and
// false when pe holds none of the view.
func (l layout) FirstGlobalIndex(pe int) (int, bool) {
	first, _, ok := l.span(pe)
	return first - l.lo, ok
}

// LastGlobalIndex returns the view's last index held by PE pe, and false
// when pe holds none of the view.
func (l layout) LastGlobalIndex(pe int) (int, bool) {
	_, last, ok := l.span(pe)
	return last - l.lo, ok
}

// localRange returns the local offsets [from, to) of the whole array's
// data on PE pe that hold the view's elements: they are contiguous for
// both distributions.
func (l layout) localRange(pe int) (from, to int) {
	first, last, ok := l.span(pe)
	if !ok {
		return 0, 0
	}
	_, from = l.owner(first)
	_, to = l.owner(last)
	return from, to + 1
}

// LocalLen is the number of the view's elements on PE pe.
func (l layout) LocalLen(pe int) int {
	from, to := l.localRange(pe)
	return to - from
}

// global returns the view's index of the element at local offset off of
// PE pe's data of the whole array (which must hold one of the view's).
func (l layout) global(pe, off int) int {
	if l.dist == Cyclic {
		return off*l.npes + pe - l.lo
	}
	return l.blockStart(pe) + off - l.lo
}

// sub returns the view of this view's range [lo, hi).
func (l layout) sub(lo, hi int) (layout, error) {
	if lo < 0 || hi < lo || hi > l.Len() {
		return layout{}, fmt.Errorf("array: sub-array: %w: range [%d, %d) of an array of length %d", errdefs.ErrOutOfRange, lo, hi, l.Len())
	}
	l.lo, l.hi = l.lo+lo, l.lo+hi
	return l, nil
}
