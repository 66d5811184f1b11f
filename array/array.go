package array

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// store is the data of one array: its symmetric allocation, shared by the
// array, its sub-arrays and the handles conversions return.
type store struct {
	data   shmem.Sym[byte] // the whole array's local data, in 8-byte words
	closed atomic.Bool
}

// base is what every array kind holds: the World, the layout of its view
// of the data, and the operations on the data.
type base[T Number] struct {
	w  *am.World
	pe *shmem.PE
	l  layout
	s  *store
	e  *elems[T]
	d  *am.Darc[*elems[T]] // e on every PE, for the batch AMs
}

// newBase allocates, collectively, a zeroed array of n elements of T over
// every PE of w.
func newBase[T Number](ctx context.Context, op string, w *am.World, n int, d Distribution) (base[T], error) {
	if w == nil {
		return base[T]{}, fmt.Errorf("array: %s: %w: nil World", op, errdefs.ErrInvalidArg)
	}
	l, err := newLayout(n, w.NPEs(), d)
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	pe := w.PE()
	nb := (l.capacity()*int(traitsOf[T]().size) + 7) &^ 7
	data, err := shmem.Align[byte](ctx, pe, 8, max(nb, 8))
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s of %d %s: %w", op, n, traitsOf[T]().name, err)
	}
	clear(shmem.Local(pe, data))
	e := newElems[T](pe, data)
	// The batch AMs: T's type in the registry, e in a Darc, on every PE
	// before any PE sends one (NewDarc is collective).
	if err := register[T](w); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	darc, err := am.NewDarc(ctx, w, e)
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	// No PE may change an element before its owner zeroed it.
	if err := pe.BarrierAll(ctx); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	return base[T]{w: w, pe: pe, l: l, s: &store{data: data}, e: e, d: darc}, nil
}

// live returns ErrClosed once the array's data was freed.
func (b *base[T]) live(op string) error {
	if b == nil || b.s == nil {
		return fmt.Errorf("array: %s: %w: nil or zero array", op, errdefs.ErrInvalidArg)
	}
	if b.s.closed.Load() {
		return fmt.Errorf("array: %s: %w", op, errdefs.ErrClosed)
	}
	return nil
}

// at locates element i for operation op.
func (b *base[T]) at(op string, i int) (pe, off int, err error) {
	if err := b.live(op); err != nil {
		return 0, 0, err
	}
	pe, off, err = b.l.PEAndOffset(i)
	if err != nil {
		return 0, 0, fmt.Errorf("array: %s: %w", op, err)
	}
	return pe, off, nil
}

// typed is the data as a Sym of T.
func (b *base[T]) typed() shmem.Sym[T] {
	return shmem.As[T](b.s.data).Slice(0, b.l.capacity())
}

// Len is the number of elements.
func (b *base[T]) Len() int { return b.l.Len() }

// Distribution is how the elements are spread over the PEs.
func (b *base[T]) Distribution() Distribution { return b.l.dist }

// NumPEs is the number of PEs the array spans.
func (b *base[T]) NumPEs() int { return b.l.npes }

// PEAndOffset returns the PE that holds element i and the element's
// offset in that PE's local data (of the whole array, for a sub-array),
// or an error matching errdefs.ErrOutOfRange naming i and the length.
func (b *base[T]) PEAndOffset(i int) (pe, off int, err error) { return b.l.PEAndOffset(i) }

// FirstGlobalIndexForPE returns the first index that PE pe holds, and
// false when it holds none.
func (b *base[T]) FirstGlobalIndexForPE(pe int) (int, bool) { return b.l.FirstGlobalIndex(pe) }

// LastGlobalIndexForPE returns the last index that PE pe holds, and false
// when it holds none.
func (b *base[T]) LastGlobalIndexForPE(pe int) (int, bool) { return b.l.LastGlobalIndex(pe) }

// NumElemsLocal is the number of elements this PE holds.
func (b *base[T]) NumElemsLocal() int { return b.l.LocalLen(b.pe.MyPE()) }

// sub is the base of the sub-array [lo, hi).
func (b *base[T]) sub(op string, lo, hi int) (base[T], error) {
	if err := b.live(op); err != nil {
		return base[T]{}, err
	}
	l, err := b.l.sub(lo, hi)
	if err != nil {
		return base[T]{}, err
	}
	c := *b
	c.l = l
	return c, nil
}

// close frees the data collectively: after a barrier, so that no PE
// still reaches this one's elements.
func (b *base[T]) close(ctx context.Context, op string) error {
	if err := b.live(op); err != nil {
		return err
	}
	if err := b.pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	b.s.closed.Store(true)
	if err := b.d.Drop(); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	if err := shmem.Free(ctx, b.pe, b.s.data); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// localIndices returns this PE's local offsets [from, to) of the view.
func (b *base[T]) localIndices() (from, to int) { return b.l.localRange(b.pe.MyPE()) }

// batchLen checks a batch of len(idx) indices and len(vals) values: equal
// lengths pair them, one index takes every value in turn, one value goes
// to every index. It returns the number of operations.
func batchLen(op string, nidx, nvals int) (int, error) {
	n := max(nidx, nvals)
	if (nidx == 0 || nvals == 0) && n <= 1 {
		return 0, nil
	}
	if (nidx != n && nidx != 1) || (nvals != n && nvals != 1) {
		return 0, fmt.Errorf("array: %s: %w: %d indices and %d values (want equal counts, or one of either)", op, errdefs.ErrInvalidArg, nidx, nvals)
	}
	return n, nil
}

// pick returns the k-th of a batch's items: the only one, or the k-th.
func pick[E any](s []E, k int) E {
	if len(s) == 1 {
		return s[0]
	}
	return s[k]
}

// checkBatch checks a batch's indices, before any element changes.
func (b *base[T]) checkBatch(op string, idx []int) error {
	if err := b.live(op); err != nil {
		return err
	}
	for k, i := range idx {
		if i < 0 || i >= b.l.Len() {
			return fmt.Errorf("array: %s: batch position %d: %w", op, k, b.l.check(i))
		}
	}
	return nil
}

// owner is PEAndOffset of an index checkBatch passed.
func (b *base[T]) owner(i int) (pe, off int) { return b.l.owner(b.l.lo + i) }
