package array

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
)

// AtomicArray is a distributed array whose every element operation is
// atomic, from any PE, on any element: the operations of Op on Number
// types (see the package doc for how). Operations return futures, as
// am.Exec does; the ones on an element this PE reaches with a direct
// atomic are complete when they return.
//
// An AtomicArray is used by the goroutines of its PE at will. It is
// created collectively; each handle (this one, its clones, sub-arrays and
// conversions) is a reference to drop (Drop, or Close collectively).
type AtomicArray[T Number] struct{ base[T] }

// Exchanged is the result of a compare-exchange: the element's value
// before, and whether it was replaced.
type Exchanged[T any] struct {
	Old     T
	Swapped bool
}

// NewAtomicArray makes, collectively on every PE of w, a zeroed atomic
// array of n elements of T spread by d. Every PE must pass the same n and
// d (a different n is an error on every PE).
func NewAtomicArray[T Number](ctx context.Context, w *am.World, n int, d Distribution) (*AtomicArray[T], error) {
	b, err := newBase[T](ctx, "new atomic array", w, n, d, kindPlain)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// Close drops this handle and waits, until ctx ends, for the array to be
// freed: for every other reference to be dropped, on every PE (clones,
// sub-arrays, handles AMs carry), and then frees its memory. It is
// collective: every PE calls it, with its last handle. Later operations
// on the handle return an error matching errdefs.ErrClosed. When ctx ends
// first, the error says how many references this PE still holds.
func (a *AtomicArray[T]) Close(ctx context.Context) error { return a.close(ctx, "close") }

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, sharing its data, to Drop.
func (a *AtomicArray[T]) SubArray(lo, hi int) (*AtomicArray[T], error) {
	b, err := a.sub("sub-array", lo, hi)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// Apply does op with operand v on element i and returns the element's
// value before (for OpStore, v; OpLoad ignores v).
func (a *AtomicArray[T]) Apply(op Op, i int, v T) *am.Future[T] {
	return am.Completed(a.apply(op, i, v))
}

// unit is Apply for the operations whose result is only their error.
func (a *AtomicArray[T]) unit(op Op, i int, v T) *am.Future[am.Unit] {
	_, err := a.apply(op, i, v)
	return am.Completed(am.Unit{}, err)
}

// apply does op with operand v on element i, at once.
func (a *AtomicArray[T]) apply(op Op, i int, v T) (T, error) {
	pe, off, err := a.at(op.String(), i)
	if err != nil {
		return v, err
	}
	return a.e.applyAt(pe, off, i, op, v)
}

// Load returns element i.
func (a *AtomicArray[T]) Load(i int) *am.Future[T] { return a.Apply(OpLoad, i, 0) }

// Store sets element i to v.
func (a *AtomicArray[T]) Store(i int, v T) *am.Future[am.Unit] { return a.unit(OpStore, i, v) }

// Swap sets element i to v and returns its value before.
func (a *AtomicArray[T]) Swap(i int, v T) *am.Future[T] { return a.Apply(OpSwap, i, v) }

// Add adds v to element i.
func (a *AtomicArray[T]) Add(i int, v T) *am.Future[am.Unit] { return a.unit(OpAdd, i, v) }

// FetchAdd adds v to element i and returns its value before.
func (a *AtomicArray[T]) FetchAdd(i int, v T) *am.Future[T] { return a.Apply(OpAdd, i, v) }

// Sub subtracts v from element i.
func (a *AtomicArray[T]) Sub(i int, v T) *am.Future[am.Unit] { return a.unit(OpSub, i, v) }

// FetchSub subtracts v from element i and returns its value before.
func (a *AtomicArray[T]) FetchSub(i int, v T) *am.Future[T] { return a.Apply(OpSub, i, v) }

// Mul multiplies element i by v.
func (a *AtomicArray[T]) Mul(i int, v T) *am.Future[am.Unit] { return a.unit(OpMul, i, v) }

// FetchMul multiplies element i by v and returns its value before.
func (a *AtomicArray[T]) FetchMul(i int, v T) *am.Future[T] { return a.Apply(OpMul, i, v) }

// Div divides element i by v (an integer v of 0 is an error).
func (a *AtomicArray[T]) Div(i int, v T) *am.Future[am.Unit] { return a.unit(OpDiv, i, v) }

// FetchDiv divides element i by v and returns its value before.
func (a *AtomicArray[T]) FetchDiv(i int, v T) *am.Future[T] { return a.Apply(OpDiv, i, v) }

// Rem sets element i to its remainder by v (integers).
func (a *AtomicArray[T]) Rem(i int, v T) *am.Future[am.Unit] { return a.unit(OpRem, i, v) }

// FetchRem sets element i to its remainder by v and returns its value
// before.
func (a *AtomicArray[T]) FetchRem(i int, v T) *am.Future[T] { return a.Apply(OpRem, i, v) }

// And ands element i with v (integers).
func (a *AtomicArray[T]) And(i int, v T) *am.Future[am.Unit] { return a.unit(OpAnd, i, v) }

// FetchAnd ands element i with v and returns its value before.
func (a *AtomicArray[T]) FetchAnd(i int, v T) *am.Future[T] { return a.Apply(OpAnd, i, v) }

// Or ors element i with v (integers).
func (a *AtomicArray[T]) Or(i int, v T) *am.Future[am.Unit] { return a.unit(OpOr, i, v) }

// FetchOr ors element i with v and returns its value before.
func (a *AtomicArray[T]) FetchOr(i int, v T) *am.Future[T] { return a.Apply(OpOr, i, v) }

// Xor xors element i with v (integers).
func (a *AtomicArray[T]) Xor(i int, v T) *am.Future[am.Unit] { return a.unit(OpXor, i, v) }

// FetchXor xors element i with v and returns its value before.
func (a *AtomicArray[T]) FetchXor(i int, v T) *am.Future[T] { return a.Apply(OpXor, i, v) }

// Shl shifts element i left by v bits (integers, v at least 0).
func (a *AtomicArray[T]) Shl(i int, v T) *am.Future[am.Unit] { return a.unit(OpShl, i, v) }

// FetchShl shifts element i left by v bits and returns its value before.
func (a *AtomicArray[T]) FetchShl(i int, v T) *am.Future[T] { return a.Apply(OpShl, i, v) }

// Shr shifts element i right by v bits (integers, v at least 0; a signed
// element keeps its sign).
func (a *AtomicArray[T]) Shr(i int, v T) *am.Future[am.Unit] { return a.unit(OpShr, i, v) }

// FetchShr shifts element i right by v bits and returns its value before.
func (a *AtomicArray[T]) FetchShr(i int, v T) *am.Future[T] { return a.Apply(OpShr, i, v) }

// CompareExchange sets element i to v if it holds cur (the same bits).
func (a *AtomicArray[T]) CompareExchange(i int, cur, v T) *am.Future[Exchanged[T]] {
	return a.CompareExchangeEpsilon(i, cur, v, 0)
}

// CompareExchangeEpsilon sets element i to v if it is within eps of cur
// (for floats; integers and eps 0 compare bits).
func (a *AtomicArray[T]) CompareExchangeEpsilon(i int, cur, v, eps T) *am.Future[Exchanged[T]] {
	pe, off, err := a.at("compare-exchange", i)
	if err != nil {
		return am.Completed(Exchanged[T]{}, err)
	}
	old, ok, err := a.e.compareExchange(pe, off, cur, v, eps)
	if err != nil {
		err = fmt.Errorf("array: compare-exchange of element %d: %w", i, err)
	}
	return am.Completed(Exchanged[T]{old, ok}, err)
}

// BatchApply does op on many elements: idx and vals of one length pair
// up; one index takes every value in turn; one value goes to every index.
// It returns the elements' values before, in the batch's order. Indices
// are checked first: an index out of range fails the batch (naming it and
// its position) before any element changes. The operations on the
// elements of PEs this one maps are done when BatchApply returns; the
// others go in one AM per PE (the future completes when they ran). An
// operation that fails (a division by 0) fails the batch, with some of
// the others done.
func (a *AtomicArray[T]) BatchApply(op Op, idx []int, vals []T) *am.Future[[]T] {
	return batchOf(a, op, idx, vals, true, same[[]T])
}

// batchOf checks a batch and runs it.
func batchOf[T Number, S any](a *AtomicArray[T], op Op, idx []int, vals []T, fetch bool, finish func([]T) S) *am.Future[S] {
	name := "batch " + op.String()
	var zero S
	n, err := batchLen(name, len(idx), len(vals))
	if err == nil {
		err = a.checkBatch(name, idx)
	}
	if err == nil && n > 0 {
		err = a.e.check(op, vals[0])
		for _, v := range vals[1:] {
			if err != nil {
				break
			}
			err = a.e.check(op, v)
		}
		if err != nil {
			err = fmt.Errorf("array: %s: %w", name, err)
		}
	}
	if err != nil {
		return am.Completed(zero, err)
	}
	return runBatch(&a.base, op, idx, vals, n, fetch, false, finish)
}

// BatchLoad returns the elements idx, in order.
func (a *AtomicArray[T]) BatchLoad(idx []int) *am.Future[[]T] {
	return a.BatchApply(OpLoad, idx, []T{0})
}

// BatchStore stores vals at idx (see BatchApply for the pairing).
func (a *AtomicArray[T]) BatchStore(idx []int, vals []T) *am.Future[am.Unit] {
	return batchOf(a, OpStore, idx, vals, false, unit[[]T])
}

// BatchAdd adds vals to the elements idx (see BatchApply for the pairing).
func (a *AtomicArray[T]) BatchAdd(idx []int, vals []T) *am.Future[am.Unit] {
	return batchOf(a, OpAdd, idx, vals, false, unit[[]T])
}

// BatchFetchAdd adds vals to the elements idx and returns their values
// before, in order.
func (a *AtomicArray[T]) BatchFetchAdd(idx []int, vals []T) *am.Future[[]T] {
	return a.BatchApply(OpAdd, idx, vals)
}

// BatchCompareExchange does a compare-exchange per operation: element
// idx[k] becomes vals[k] if it holds cur[k] (the same bits). idx, cur and
// vals pair up as BatchApply's indices and values do: each has the
// batch's length or one item, used by every operation (one index and
// many values: a sequence of compare-exchanges on one element). It
// returns the results in the batch's order. Indices are checked first: an
// index out of range fails the batch (naming it and its position) before
// any element changes. The operations on elements of PEs this one maps
// are done when it returns, in the batch's order; the others go in one
// AM per PE (and per GSHMEM_AM_SIZE_THRESHOLD bytes of operations),
// which runs them there in the batch's order. A batch larger than that
// to one PE goes in several AMs, which may run at once: the order of its
// operations on one element across them is not defined (each stays
// atomic).
func (a *AtomicArray[T]) BatchCompareExchange(idx []int, cur, vals []T) *am.Future[[]Exchanged[T]] {
	return a.BatchCompareExchangeEpsilon(idx, cur, vals, 0)
}

// BatchCompareExchangeEpsilon is BatchCompareExchange for floats: element
// idx[k] becomes vals[k] if it is within eps of cur[k] (integers, and eps
// 0, compare bits).
func (a *AtomicArray[T]) BatchCompareExchangeEpsilon(idx []int, cur, vals []T, eps T) *am.Future[[]Exchanged[T]] {
	const name = "batch compare-exchange"
	n := max(len(idx), len(cur), len(vals))
	var err error
	switch {
	case min(len(idx), len(cur), len(vals)) == 0 && n <= 1:
		n = 0
	case !fits(len(idx), n) || !fits(len(cur), n) || !fits(len(vals), n):
		err = fmt.Errorf("array: %s: %w: %d indices, %d current values and %d new values (want equal counts, or one of any)", name, errdefs.ErrInvalidArg, len(idx), len(cur), len(vals))
	default:
		err = a.checkBatch(name, idx)
	}
	if err == nil && n == 0 {
		err = a.live(name)
	}
	if err != nil {
		return am.Completed[[]Exchanged[T]](nil, err)
	}
	if n == 0 {
		return am.Completed([]Exchanged[T]{}, nil)
	}
	bt := &batch[T]{op: opCompareExchange, idx: idx, vals: vals, cur: cur, eps: eps, n: n, fetch: true}
	return runOps(&a.base, bt, func(olds []T) []Exchanged[T] {
		out := make([]Exchanged[T], n)
		for k, old := range olds {
			// compareExchange swapped exactly when the value it met
			// matched: it retries a failed word CAS until it does or the
			// value no longer matches.
			out[k] = Exchanged[T]{old, a.e.matches(old, pick(cur, k), eps)}
		}
		return out
	})
}

// fits reports whether a batch operand of length l serves a batch of n
// operations: l is n, or 1.
func fits(l, n int) bool { return l == n || l == 1 }
