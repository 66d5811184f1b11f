package array

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/am"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// ReadOnlyArray is a distributed array that no one changes: its loads are
// plain reads (a load on a PE this one maps, a Get over a network), with
// no atomics. Make one from the data of another kind with IntoReadOnly.
type ReadOnlyArray[T Number] struct{ base[T] }

// UnsafeArray is a distributed array with no guarantees: element loads
// and stores are plain reads and writes, and this PE's part is a slice
// (LocalData). Concurrent stores to one element, or a store beside a load
// of it, are the program's race.
type UnsafeArray[T Number] struct{ base[T] }

// NewUnsafeArray makes, collectively on every PE of w, a zeroed unsafe
// array of n elements of T spread by d.
func NewUnsafeArray[T Number](ctx context.Context, w *am.World, n int, d Distribution) (*UnsafeArray[T], error) {
	b, err := newBase[T](ctx, "new unsafe array", w, n, d, kindPlain)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// Close drops this handle and waits until the array is freed (see
// AtomicArray.Close): collective.
func (a *UnsafeArray[T]) Close(ctx context.Context) error { return a.close(ctx, "close") }

// Close drops this handle and waits until the array is freed (see
// AtomicArray.Close): collective.
func (a *ReadOnlyArray[T]) Close(ctx context.Context) error { return a.close(ctx, "close") }

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, to Drop.
func (a *UnsafeArray[T]) SubArray(lo, hi int) (*UnsafeArray[T], error) {
	b, err := a.sub("sub-array", lo, hi)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, to Drop.
func (a *ReadOnlyArray[T]) SubArray(lo, hi int) (*ReadOnlyArray[T], error) {
	b, err := a.sub("sub-array", lo, hi)
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// get reads element i with a plain read.
func (b *base[T]) get(op string, i int) (T, error) {
	pe, off, err := b.at(op, i)
	if err != nil {
		return 0, err
	}
	v, err := shmem.G(b.pe, b.typed().At(off), pe)
	if err != nil {
		return v, fmt.Errorf("array: %s of element %d: %w", op, i, err)
	}
	return v, nil
}

// Load returns element i.
func (a *ReadOnlyArray[T]) Load(i int) *am.Future[T] { return am.Completed(a.get("load", i)) }

// Load returns element i.
func (a *UnsafeArray[T]) Load(i int) *am.Future[T] { return am.Completed(a.get("load", i)) }

// Store sets element i to v with a plain write.
func (a *UnsafeArray[T]) Store(i int, v T) *am.Future[am.Unit] {
	pe, off, err := a.at("store", i)
	if err == nil {
		if err = shmem.P(a.pe, a.typed().At(off), v, pe); err != nil {
			err = fmt.Errorf("array: store of element %d: %w", i, err)
		}
	}
	return am.Completed(am.Unit{}, err)
}

// batchGet reads the elements idx, in order: with loads from the PEs this
// one maps, with one AM per other PE.
func (b *base[T]) batchGet(idx []int) *am.Future[[]T] {
	const name = "batch load"
	if err := b.checkBatch(name, idx); err != nil {
		return am.Completed[[]T](nil, err)
	}
	return runBatch(b, OpLoad, idx, []T{0}, len(idx), true, true, same[[]T])
}

// BatchLoad returns the elements idx, in order.
func (a *ReadOnlyArray[T]) BatchLoad(idx []int) *am.Future[[]T] { return a.batchGet(idx) }

// BatchLoad returns the elements idx, in order.
func (a *UnsafeArray[T]) BatchLoad(idx []int) *am.Future[[]T] { return a.batchGet(idx) }

// LocalData is this PE's part of the array, in index order: a slice of
// the symmetric heap that other PEs' stores reach (nil after Close).
func (a *UnsafeArray[T]) LocalData() []T {
	if a.live("local data") != nil {
		return nil
	}
	from, to := a.localIndices()
	return shmem.Local(a.pe, a.typed())[from:to]
}
