package array

import (
	"context"
	"errors"
	"fmt"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// base is what every array kind holds: the World, the layout of its view
// of the data, the operations on the data, and this handle's reference to
// the array (lifetime.go): a Darc handle of one of three types, by kind.
type base[T Number] struct {
	w  *am.World
	pe *shmem.PE
	l  layout
	s  *store
	e  *elems[T]
	d  *am.Darc[*shared[T]]         // the plain kinds' (atomic, read-only, unsafe); else nil
	ld *am.LocalRwDarc[*shared[T]]  // LocalLockArray's; else nil
	gd *am.GlobalRwDarc[*shared[T]] // GlobalLockArray's; else nil
	h  *ref                         // this handle's state
}

// newBase allocates, collectively, a zeroed array of n elements of T over
// every PE of w, whose handles are Darcs of kind k. It first frees the
// arrays whose last reference is gone (sweep).
func newBase[T Number](ctx context.Context, op string, w *am.World, n int, d Distribution, k darcKind) (base[T], error) {
	if w == nil {
		return base[T]{}, fmt.Errorf("array: %s: %w: nil World", op, errdefs.ErrInvalidArg)
	}
	if ctx == nil {
		return base[T]{}, fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	l, err := newLayout(n, w.NPEs(), d)
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	if err := sweep(ctx, w); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	pe := w.PE()
	nb := (l.capacity()*int(traitsOf[T]().size) + 7) &^ 7
	nb = max(nb, 8)
	all, err := shmem.Align[byte](ctx, pe, 8, nb+8) // the data, then the sweep word
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s of %d %s: %w", op, n, traitsOf[T]().name, err)
	}
	clear(shmem.Local(pe, all))
	data := all.Slice(0, nb)
	e := newElems[T](pe, data)
	s := &store{all: all, data: data, mark: shmem.As[uint64](all.Slice(nb, nb+8)), released: make(chan struct{})}
	s.free = func(ctx context.Context) error { return shmem.Free(ctx, pe, all) }
	sh := &shared[T]{w: w, pe: pe, l: l, e: e, s: s}
	// The batch AMs: T's types in the registry, sh in a Darc, on every PE
	// before any PE sends one (making a Darc is collective).
	if err := register[T](w); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, errors.Join(err, shmem.Free(ctx, pe, all)))
	}
	if err := registerLock[T](w); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, errors.Join(err, shmem.Free(ctx, pe, all)))
	}
	b := base[T]{w: w, pe: pe, l: l, s: s, e: e, h: &ref{}}
	switch k {
	case kindLocalLock:
		b.ld, err = am.NewLocalRwDarc(ctx, w, sh)
	case kindGlobalLock:
		b.gd, err = am.NewGlobalRwDarc(ctx, w, sh)
	default:
		b.d, err = am.NewDarc(ctx, w, sh)
	}
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, errors.Join(err, shmem.Free(ctx, pe, all)))
	}
	heapOf(w).add(s, sh)
	// No PE may change an element before its owner zeroed it.
	if err := pe.BarrierAll(ctx); err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	return b, nil
}

// live returns ErrClosed once this handle was dropped, closed or
// converted (or, for a handle an AM carried, once its handler returned).
func (b *base[T]) live(op string) error {
	if b == nil || b.s == nil || b.h == nil {
		return fmt.Errorf("array: %s: %w: nil or zero array", op, errdefs.ErrInvalidArg)
	}
	if b.h.dropped.Load() || (b.d != nil && b.d.Get() == nil) {
		return fmt.Errorf("array: %s: %w: the handle was dropped, closed or converted", op, errdefs.ErrClosed)
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

// sub is the base of the sub-array [lo, hi): another reference.
func (b *base[T]) sub(op string, lo, hi int) (base[T], error) {
	if err := b.live(op); err != nil {
		return base[T]{}, err
	}
	l, err := b.l.sub(lo, hi)
	if err != nil {
		return base[T]{}, err
	}
	c, err := b.clone(op)
	if err != nil {
		return base[T]{}, err
	}
	c.l = l
	return c, nil
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
