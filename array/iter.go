package array

import (
	"context"
	"fmt"
	"iter"

	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// DefaultBuffer is the number of elements a one-sided iterator fetches
// at a time when asked for 0 or fewer.
const DefaultBuffer = 4096

// oneSided walks the whole view in index order from this PE, fetching
// buf elements at a time: each window of indices is one Get per PE that
// holds some of it, so the walk runs at the transport's bandwidth.
func (b *base[T]) oneSided(ctx context.Context, buf int) (iter.Seq2[int, T], func() error) {
	if buf <= 0 {
		buf = DefaultBuffer
	}
	var err error
	seq := func(yield func(int, T) bool) {
		if err = b.live("one-sided iterator"); err != nil {
			return
		}
		if ctx == nil {
			err = fmt.Errorf("array: one-sided iterator: %w: nil context", errdefs.ErrInvalidArg)
			return
		}
		s := b.typed()
		vals := make([]T, min(buf, b.Len()))
		stage := make([]T, len(vals))
		for i := 0; i < b.Len(); i += buf {
			if err = ctx.Err(); err != nil {
				return
			}
			w, _ := b.l.sub(i, min(i+buf, b.Len()))
			for pe := range w.npes {
				from, to := w.localRange(pe)
				if to == from {
					continue
				}
				// PE pe's elements of the window are a run of its data:
				// contiguous in the window too (Block), straight into
				// place, or every npes-th (Cyclic), staged.
				g := w.global(pe, from)
				got := vals[g : g+to-from]
				if w.dist == Cyclic {
					got = stage[:to-from]
				}
				if err = shmem.Get(b.pe, got, s.Slice(from, to), pe); err != nil {
					err = fmt.Errorf("array: one-sided iterator: elements %d-%d: %w", i, i+w.Len()-1, err)
					return
				}
				if w.dist == Cyclic {
					for k, v := range got {
						vals[g+k*w.npes] = v
					}
				}
			}
			for j, v := range vals[:w.Len()] {
				if !yield(i+j, v) {
					return
				}
			}
		}
	}
	return seq, func() error { return err }
}

// OneSided returns an iterator over the whole array in index order, as
// (index, value), for this PE alone: it fetches buf elements at a time (0
// or less: DefaultBuffer), a Get per PE holding some of them, and sees
// each window as it was when fetched. The function returned with it
// reports why the walk stopped early (ctx ended, a PE died, the array was
// closed), nil when it did not.
func (a *AtomicArray[T]) OneSided(ctx context.Context, buf int) (iter.Seq2[int, T], func() error) {
	return a.oneSided(ctx, buf)
}

// OneSided returns an iterator over the whole array (see
// AtomicArray.OneSided).
func (a *ReadOnlyArray[T]) OneSided(ctx context.Context, buf int) (iter.Seq2[int, T], func() error) {
	return a.oneSided(ctx, buf)
}

// OneSided returns an iterator over the whole array (see
// AtomicArray.OneSided).
func (a *UnsafeArray[T]) OneSided(ctx context.Context, buf int) (iter.Seq2[int, T], func() error) {
	return a.oneSided(ctx, buf)
}

// Local returns this PE's elements in index order, as (index, value),
// each read with an atomic load.
func (a *AtomicArray[T]) Local() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		if a.live("local iterator") != nil {
			return
		}
		me := a.pe.MyPE()
		from, to := a.localIndices()
		for off := from; off < to; off++ {
			v, err := a.e.apply(me, off, OpLoad, 0)
			if err != nil || !yield(a.l.global(me, off), v) {
				return
			}
		}
	}
}

// Local returns this PE's elements in index order, as (index, value).
func (a *ReadOnlyArray[T]) Local() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		if a.live("local iterator") != nil {
			return
		}
		me := a.pe.MyPE()
		from, to := a.localIndices()
		data := shmem.Local(a.pe, a.typed())
		for off := from; off < to; off++ {
			if !yield(a.l.global(me, off), data[off]) {
				return
			}
		}
	}
}

// Elem is one of this PE's elements of an AtomicArray, as a distributed
// iteration hands it over: its index and atomic operations on it.
type Elem[T Number] struct {
	a      *AtomicArray[T]
	i, off int
}

// Index is the element's index in the array.
func (e Elem[T]) Index() int { return e.i }

// Apply does op with operand v on the element and returns its value
// before (see AtomicArray.Apply).
func (e Elem[T]) Apply(op Op, v T) (T, error) {
	return e.a.e.applyAt(e.a.pe.MyPE(), e.off, e.i, op, v)
}

// Load returns the element's value.
func (e Elem[T]) Load() (T, error) { return e.Apply(OpLoad, 0) }

// Store sets the element to v.
func (e Elem[T]) Store(v T) error {
	_, err := e.Apply(OpStore, v)
	return err
}

// ForEach runs f on every element this PE holds, collectively: it is
// DistIter().ForEach, f running on a pool of goroutines (see Iter), and
// returns once every PE's walk is done, after a barrier, so that what
// any PE's f did is seen by every PE. An error of f on any PE stops that
// PE's walk and is returned on every PE.
func (a *AtomicArray[T]) ForEach(ctx context.Context, f func(Elem[T]) error) error {
	return a.DistIter().ForEach(ctx, f)
}
