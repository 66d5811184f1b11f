package array

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Mode is the kind of an Iter: Distributed (collective consumers, over
// every PE's part) or OnPE (this PE's part alone).
type Mode interface{ Distributed | OnPE }

// Distributed is the Mode of the iterators DistIter returns: every PE
// walks its own part of the array, and the consumers are collective.
type Distributed struct{}

// OnPE is the Mode of the iterators LocalIter returns: this PE's part of
// the array, with consumers that involve no other PE.
type OnPE struct{}

// Dist is a distributed iterator (Lamellar's DistributedIterator).
type Dist[E any] = Iter[Distributed, E]

// Local is a local iterator (Lamellar's LocalIterator).
type Local[E any] = Iter[OnPE, E]

// Indexed is an element's index and its value: the item of a read-only
// or unsafe array's iterators, and of Enumerate.
type Indexed[E any] struct {
	Index int
	Value E
}

// Pair is the item of Zip: an item of the first iterator and the other
// array's element at the same index.
type Pair[E, F any] struct {
	Left  E
	Right F
}

// Iter is an iterator over an array's elements, after Lamellar's
// distributed and local iterators: a source (an array's DistIter or
// LocalIter), adaptors that describe what to do with each item (Filter,
// Skip, StepBy, Take, and the functions Map, Enumerate, Zip and Chunks),
// and a consumer that runs it (ForEach, Count, Reduce, All, and the
// functions Sum, Collect and CollectLocal). An Iter is a value: adaptors
// return a new one and leave theirs as it was; nothing runs before a
// consumer.
//
// # Positions
//
// Every item has a position: its index in the array for a distributed
// iterator, its rank among this PE's elements (0, 1, ...) for a local
// one. Filter and Map keep it; Skip(n) drops the items at positions
// below n and numbers the rest from 0, StepBy(k) keeps the positions that
// are multiples of k and divides them by k, Take(n) keeps the positions
// below n, and Enumerate hands the position over. So on a distributed
// iterator Skip, StepBy and Take act on the whole array, as Lamellar's
// do: Skip(n) skips the first n elements of the array, each PE those that
// fall in its part. Chunks' items have no position: a positional adaptor
// or Zip after Chunks is an error.
//
// # Consumers
//
// A consumer runs the iterator on this PE with a pool of worker
// goroutines (Workers, GOMAXPROCS by default) handing out the items by a
// Schedule (Static by default): the functions the adaptors and consumers
// were given run on several goroutines at once, each on a contiguous
// piece of items in index order. The consumers of a distributed iterator
// are collective: every PE calls them, and each returns the job-wide
// result on every PE, after a barrier, so what any PE's functions did is
// seen by every PE once it returns. An error on any PE (a function's
// error or panic, a bad argument, a closed array, the context) stops that
// PE's walk, which still takes part in the collective steps (they run
// without ctx's cancellation and deadline; a dead PE ends them): then every
// PE returns an error, its own where it failed and one naming the lowest
// PE that failed elsewhere, and no PE hangs.
//
// Bad arguments (a nil function, Chunks(0), StepBy(0), a negative Skip
// or Take, Chunk(0), a Zip of arrays of other lengths or distributions)
// are errors matching errdefs.ErrInvalidArg, which the consumer returns;
// a closed array's are errors matching errdefs.ErrClosed.
type Iter[M Mode, E any] struct {
	src     *source
	err     error // the first bad argument of the chain
	sched   Schedule
	workers int
	unpos   bool                               // after Chunks: items have no position
	mk      func() (func(off, g int) E, error) // an array's own iterator: its item maker (for Zip)
	prep    func(p *pool) (units[E], error)
}

// source is the array view an iterator walks.
type source struct {
	pe         *shmem.PE
	w          *am.World
	l          layout
	live       func(op string) error
	collective bool
	// guard, when set, runs a consumer's walk of this PE's items (not its
	// collective steps) under the array's lock: the lock kinds'.
	guard func(ctx context.Context, op string, walk func() error) error
}

// meta is an item's position and its element's index in the view (-1
// after Chunks).
type meta struct{ pos, idx int }

// units are what a pool hands out: n of them, at(k) the k-th's item,
// and false for one an adaptor dropped. at is safe for concurrent use.
type units[E any] struct {
	n  int
	at func(k int) (E, meta, bool)
}

// fromArray is an array's own iterator: mk makes, when a consumer runs,
// the item of the element at local offset off, index g.
func fromArray[M Mode, T Number, E any](b *base[T], mk func() (func(off, g int) E, error)) Iter[M, E] {
	var m M
	_, coll := any(m).(Distributed)
	src := &source{pe: b.pe, w: b.w, l: b.l, live: b.live, collective: coll}
	me := b.pe.MyPE()
	from, to := b.l.localRange(me)
	prep := func(*pool) (units[E], error) {
		item, err := mk()
		if err != nil {
			return units[E]{}, err
		}
		return units[E]{n: to - from, at: func(k int) (E, meta, bool) {
			off := from + k
			g := b.l.global(me, off)
			pos := k
			if coll {
				pos = g
			}
			return item(off, g), meta{pos, g}, true
		}}, nil
	}
	return Iter[M, E]{src: src, mk: mk, prep: prep}
}

// nilArray is the iterator of a nil array: its consumers fail at once.
func nilArray[M Mode, E any](op string) Iter[M, E] {
	return Iter[M, E]{err: fmt.Errorf("%s: %w: nil array", op, errdefs.ErrInvalidArg)}
}

// DistIter returns the distributed iterator over the array: every PE's
// consumer walks the elements that PE holds, each an Elem (its index and
// atomic operations on it).
func (a *AtomicArray[T]) DistIter() Dist[Elem[T]] {
	if a == nil {
		return nilArray[Distributed, Elem[T]]("distributed iterator")
	}
	return fromArray[Distributed](&a.base, a.elemMaker)
}

// LocalIter returns the local iterator over this PE's elements, each an
// Elem.
func (a *AtomicArray[T]) LocalIter() Local[Elem[T]] {
	if a == nil {
		return nilArray[OnPE, Elem[T]]("local iterator")
	}
	return fromArray[OnPE](&a.base, a.elemMaker)
}

func (a *AtomicArray[T]) elemMaker() (func(off, g int) Elem[T], error) {
	if err := a.live("iterator"); err != nil {
		return nil, err
	}
	return func(off, g int) Elem[T] { return Elem[T]{a: a, i: g, off: off} }, nil
}

// values is the maker of (index, value) items over b's local data.
func (b *base[T]) values() (func(off, g int) Indexed[T], error) {
	if err := b.live("iterator"); err != nil {
		return nil, err
	}
	data := shmem.Local(b.pe, b.typed())
	return func(off, g int) Indexed[T] { return Indexed[T]{g, data[off]} }, nil
}

// refs is the maker of (index, pointer) items over b's local data.
func (b *base[T]) refs() (func(off, g int) Indexed[*T], error) {
	if err := b.live("iterator"); err != nil {
		return nil, err
	}
	data := shmem.Local(b.pe, b.typed())
	return func(off, g int) Indexed[*T] { return Indexed[*T]{g, &data[off]} }, nil
}

// DistIter returns the distributed iterator over the array, as (index,
// value) items.
func (a *ReadOnlyArray[T]) DistIter() Dist[Indexed[T]] {
	if a == nil {
		return nilArray[Distributed, Indexed[T]]("distributed iterator")
	}
	return fromArray[Distributed](&a.base, a.values)
}

// LocalIter returns the local iterator over this PE's elements, as
// (index, value) items.
func (a *ReadOnlyArray[T]) LocalIter() Local[Indexed[T]] {
	if a == nil {
		return nilArray[OnPE, Indexed[T]]("local iterator")
	}
	return fromArray[OnPE](&a.base, a.values)
}

// DistIter returns the distributed iterator over the array, as (index,
// value) items read with plain loads.
func (a *UnsafeArray[T]) DistIter() Dist[Indexed[T]] {
	if a == nil {
		return nilArray[Distributed, Indexed[T]]("distributed iterator")
	}
	return fromArray[Distributed](&a.base, a.values)
}

// LocalIter returns the local iterator over this PE's elements, as
// (index, value) items.
func (a *UnsafeArray[T]) LocalIter() Local[Indexed[T]] {
	if a == nil {
		return nilArray[OnPE, Indexed[T]]("local iterator")
	}
	return fromArray[OnPE](&a.base, a.values)
}

// DistIterMut returns the distributed iterator over the array as (index,
// pointer) items: each points into this PE's LocalData, to read or
// write the element in place (the program's race, as for LocalData).
func (a *UnsafeArray[T]) DistIterMut() Dist[Indexed[*T]] {
	if a == nil {
		return nilArray[Distributed, Indexed[*T]]("distributed iterator")
	}
	return fromArray[Distributed](&a.base, a.refs)
}

// LocalIterMut returns the local iterator over this PE's elements as
// (index, pointer) items (see DistIterMut).
func (a *UnsafeArray[T]) LocalIterMut() Local[Indexed[*T]] {
	if a == nil {
		return nilArray[OnPE, Indexed[*T]]("local iterator")
	}
	return fromArray[OnPE](&a.base, a.refs)
}

// invalid records a bad argument of adaptor op (the first one sticks).
func (it Iter[M, E]) invalid(op, format string, args ...any) Iter[M, E] {
	if it.err == nil {
		it.err = fmt.Errorf("%s: %w: %s", op, errdefs.ErrInvalidArg, fmt.Sprintf(format, args...))
	}
	return it
}

// derive is an iterator of items of B with it's source and settings, and
// no items yet (the caller sets prep, which consumers call only when the
// chain has a source and no bad argument).
func derive[M Mode, E, B any](it Iter[M, E]) Iter[M, B] {
	return Iter[M, B]{src: it.src, err: it.err, sched: it.sched, workers: it.workers, unpos: it.unpos}
}

// then is it with its items passed through f (which may drop them).
func then[M Mode, E, B any](it Iter[M, E], f func(e E, m meta) (B, meta, bool)) Iter[M, B] {
	prev := it.prep
	out := derive[M, E, B](it)
	out.prep = func(p *pool) (units[B], error) {
		u, err := prev(p)
		if err != nil {
			return units[B]{}, err
		}
		return units[B]{n: u.n, at: func(k int) (B, meta, bool) {
			e, m, ok := u.at(k)
			if !ok {
				var zero B
				return zero, m, false
			}
			return f(e, m)
		}}, nil
	}
	return out
}

// Filter keeps the items for which f returns true (their positions do
// not change).
func (it Iter[M, E]) Filter(f func(E) bool) Iter[M, E] {
	if f == nil {
		return it.invalid("filter", "nil function")
	}
	return then(it, func(e E, m meta) (E, meta, bool) { return e, m, f(e) })
}

// positional checks that a positional adaptor may follow it.
func (it Iter[M, E]) positional(op string, n, least int) (Iter[M, E], bool) {
	if n < least {
		return it.invalid(op, "%d (want at least %d)", n, least), false
	}
	if it.unpos {
		return it.invalid(op, "after Chunks, whose items have no position"), false
	}
	return it, true
}

// Skip drops the items at positions below n and numbers the rest from 0:
// on a distributed iterator, the first n elements of the array.
func (it Iter[M, E]) Skip(n int) Iter[M, E] {
	if it, ok := it.positional("skip", n, 0); !ok {
		return it
	}
	return then(it, func(e E, m meta) (E, meta, bool) {
		m.pos -= n
		return e, m, m.pos >= 0
	})
}

// StepBy keeps the items at positions that are multiples of k (k at
// least 1), and numbers them from 0.
func (it Iter[M, E]) StepBy(k int) Iter[M, E] {
	if it, ok := it.positional("step by", k, 1); !ok {
		return it
	}
	return then(it, func(e E, m meta) (E, meta, bool) {
		ok := m.pos%k == 0
		m.pos /= k
		return e, m, ok
	})
}

// Take keeps the items at positions below n: on a distributed iterator,
// those among the array's first n elements.
func (it Iter[M, E]) Take(n int) Iter[M, E] {
	if it, ok := it.positional("take", n, 0); !ok {
		return it
	}
	return then(it, func(e E, m meta) (E, meta, bool) { return e, m, m.pos < n })
}

// Schedule sets how the consumer hands the items to its workers.
func (it Iter[M, E]) Schedule(s Schedule) Iter[M, E] {
	it.sched = s
	return it
}

// Workers sets the consumer's number of worker goroutines (0: GOMAXPROCS;
// never more than the items). A worker never waits for work: it exits
// once the schedule has none left for it, so the default keeps at most
// GOMAXPROCS goroutines of a PE busy; more only help functions that
// block (on a remote element's future, say).
func (it Iter[M, E]) Workers(n int) Iter[M, E] {
	if n < 0 {
		return it.invalid("workers", "%d", n)
	}
	it.workers = n
	return it
}

// Map passes each item through f.
func Map[M Mode, E, B any](it Iter[M, E], f func(E) B) Iter[M, B] {
	if f == nil {
		it = it.invalid("map", "nil function")
	}
	return then(it, func(e E, m meta) (B, meta, bool) { return f(e), m, true })
}

// Enumerate pairs each item with its position (see Iter): on a
// distributed iterator with no positional adaptor before it, the
// element's index in the array.
func Enumerate[M Mode, E any](it Iter[M, E]) Iter[M, Indexed[E]] {
	if it.unpos {
		it = it.invalid("enumerate", "after Chunks, whose items have no position")
	}
	return then(it, func(e E, m meta) (Indexed[E], meta, bool) { return Indexed[E]{m.pos, e}, m, true })
}

// Zip pairs each item with the element of the same index of another
// array, other being that array's own iterator (DistIter, LocalIter, or
// their Mut forms, with no adaptor). The two arrays must have the same
// length and distribution over the same PEs (sub-arrays: the same
// indices on every PE), so that each PE holds both elements.
func Zip[M Mode, E, F any](it Iter[M, E], other Iter[M, F]) Iter[M, Pair[E, F]] {
	switch {
	case other.err != nil:
		if it.err == nil {
			it.err = other.err
		}
	case other.mk == nil || other.src == nil:
		it = it.invalid("zip", "the other iterator is not an array's own (it has adaptors)")
	case it.unpos:
		it = it.invalid("zip", "after Chunks, whose items have no index")
	case it.src != nil && !sameLayout(it.src.l, other.src.l):
		a, b := it.src.l, other.src.l
		it = it.invalid("zip", "arrays of %d elements by %v and of %d by %v over %d and %d PEs do not hold the same indices on every PE",
			a.Len(), a.dist, b.Len(), b.dist, a.npes, b.npes)
	}
	var ol layout
	if other.src != nil {
		ol = other.src.l
	}
	prev, mk := it.prep, other.mk
	out := derive[M, E, Pair[E, F]](it)
	if out.src != nil && other.src != nil && other.src.guard != nil {
		// The other array's lock too, inside this one's (in the zip's
		// order on every PE).
		s, g1, g2 := *out.src, out.src.guard, other.src.guard
		s.guard = func(ctx context.Context, op string, walk func() error) error {
			if g1 == nil {
				return g2(ctx, op, walk)
			}
			return g1(ctx, op, func() error { return g2(ctx, op, walk) })
		}
		out.src = &s
	}
	out.prep = func(p *pool) (units[Pair[E, F]], error) {
		u, err := prev(p)
		if err != nil {
			return units[Pair[E, F]]{}, err
		}
		item, err := mk()
		if err != nil {
			return units[Pair[E, F]]{}, err
		}
		return units[Pair[E, F]]{n: u.n, at: func(k int) (Pair[E, F], meta, bool) {
			e, m, ok := u.at(k)
			if !ok {
				return Pair[E, F]{}, m, false
			}
			_, off := ol.owner(ol.lo + m.idx)
			return Pair[E, F]{e, item(off, m.idx)}, m, true
		}}, nil
	}
	return out
}

// sameLayout reports whether views a and b put the same indices on the
// same PEs.
func sameLayout(a, b layout) bool {
	if a.npes != b.npes || a.Len() != b.Len() {
		return false
	}
	for pe := range a.npes {
		fa, la, oka := a.span(pe)
		fb, lb, okb := b.span(pe)
		if oka != okb || oka && (fa-a.lo != fb-b.lo || la-a.lo != lb-b.lo) {
			return false
		}
	}
	return true
}

// Chunks groups this PE's items, in order, into slices of n (the last
// one shorter): the items before it are worked out first, in parallel by
// the consumer's schedule, then the chunks are handed out. Chunks do not
// span PEs, and have no position.
func Chunks[M Mode, E any](it Iter[M, E], n int) Iter[M, []E] {
	if n < 1 {
		it = it.invalid("chunks", "size %d (want at least 1)", n)
	}
	prev := it.prep
	out := derive[M, E, []E](it)
	out.prep = func(p *pool) (units[[]E], error) {
		u, err := prev(p)
		if err != nil {
			return units[[]E]{}, err
		}
		items, _, err := gather(p, u)
		if err != nil {
			return units[[]E]{}, err
		}
		return units[[]E]{n: (len(items) + n - 1) / n, at: func(k int) ([]E, meta, bool) {
			c := items[k*n : min(k*n+n, len(items)) : min(k*n+n, len(items))]
			return c, meta{-1, -1}, true
		}}, nil
	}
	out.unpos = true
	return out
}

// piece is one contiguous piece's result.
type piece[R any] struct {
	lo int
	r  R
}

// pieces runs the units on the pool, each piece's result made by fold
// over its items, and returns the results in index order.
func pieces[E, R any](p *pool, u units[E], fold func(r *R, e E, m meta) error) ([]R, error) {
	var per [][]piece[R]
	err := p.run(u.n, func(nw int) { per = make([][]piece[R], nw) }, func(w, lo, hi int) error {
		pc := piece[R]{lo: lo}
		for k := lo; k < hi; k++ {
			if (k-lo)%ctxEvery == ctxEvery-1 && p.stopped() {
				return nil
			}
			e, m, ok := u.at(k)
			if !ok {
				continue
			}
			if err := fold(&pc.r, e, m); err != nil {
				return err
			}
		}
		per[w] = append(per[w], pc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := slices.Concat(per...)
	slices.SortFunc(all, func(a, b piece[R]) int { return cmp.Compare(a.lo, b.lo) })
	out := make([]R, len(all))
	for k, pc := range all {
		out[k] = pc.r
	}
	return out, nil
}

// walk runs f on the units' items on the pool, keeping no result (so no
// record of the pieces, which Dynamic makes one per item).
func walk[E any](p *pool, u units[E], f func(E) error) error {
	return p.run(u.n, nil, func(_, lo, hi int) error {
		for k := lo; k < hi; k++ {
			if (k-lo)%ctxEvery == ctxEvery-1 && p.stopped() {
				return nil
			}
			if e, _, ok := u.at(k); ok {
				if err := f(e); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// gather returns the units' items, and their metas, in order.
func gather[E any](p *pool, u units[E]) ([]E, []meta, error) {
	type got struct {
		items []E
		metas []meta
	}
	ps, err := pieces(p, u, func(r *got, e E, m meta) error {
		r.items, r.metas = append(r.items, e), append(r.metas, m)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var items []E
	var metas []meta
	for _, g := range ps {
		items, metas = append(items, g.items...), append(metas, g.metas...)
	}
	return items, metas, nil
}

// usable returns an error when no consumer can run: no array, no
// context (a distributed consumer then fails on this PE alone).
func (it Iter[M, E]) usable(op string) error {
	if it.src == nil {
		if it.err != nil {
			return fmt.Errorf("array: %s: %w", op, it.err)
		}
		return fmt.Errorf("array: %s: %w: zero iterator", op, errdefs.ErrInvalidArg)
	}
	return nil
}

// run runs body over the iterator's units on this PE, and returns
// this PE's error (a bad argument, a closed array, body's).
func (it Iter[M, E]) run(ctx context.Context, op string, body func(p *pool, u units[E]) error) error {
	me := it.src.pe.MyPE()
	if it.err != nil {
		return fmt.Errorf("array: %s on PE %d: %w", op, me, it.err)
	}
	if err := it.src.live(op); err != nil {
		return err
	}
	p := newPool(ctx, it.sched, it.workers, me)
	walk := func() error {
		u, err := it.prep(p)
		if err == nil {
			err = body(p, u)
		}
		return err
	}
	var err error
	if g := it.src.guard; g != nil {
		err = g(ctx, op, walk)
	} else {
		err = walk()
	}
	if err != nil {
		return fmt.Errorf("array: %s on PE %d: %w", op, me, err)
	}
	return nil
}

// start checks what a consumer needs before anything runs. A nil ctx is
// a bad argument, reported on every PE: the collective steps then run
// under context.Background.
func (it Iter[M, E]) start(ctx context.Context, op string) (Iter[M, E], context.Context, error) {
	if err := it.usable(op); err != nil {
		return it, ctx, err
	}
	if ctx == nil {
		return it.invalid(op, "nil context"), context.Background(), nil
	}
	return it, ctx, nil
}

// finish is a distributed consumer's collective end: it agrees on the
// PEs' payloads and errors, then waits at a barrier, both without ctx's
// cancellation (see agree), so that a PE whose ctx ended during its walk
// still meets the others there.
func (it Iter[M, E]) finish(ctx context.Context, op string, payload []byte, lerr error) ([][]byte, error) {
	all, err := agree(ctx, it.src.pe, op, payload, lerr)
	if berr := it.src.w.Barrier(context.WithoutCancel(ctx)); err == nil && berr != nil {
		err = fmt.Errorf("array: %s: %w", op, berr)
	}
	return all, err
}

// ForEach calls f on every item. On a distributed iterator it is
// collective, and returns once every PE's walk is done (see Iter); the
// first error f returns stops this PE's walk and is returned, on every
// PE.
func (it Iter[M, E]) ForEach(ctx context.Context, f func(E) error) error {
	const op = "for each"
	it, ctx, err := it.start(ctx, op)
	if err != nil {
		return err
	}
	if f == nil {
		it = it.invalid(op, "nil function")
	}
	lerr := it.run(ctx, op, func(p *pool, u units[E]) error {
		return walk(p, u, f)
	})
	if !it.src.collective {
		return lerr
	}
	_, err = it.finish(ctx, op, nil, lerr)
	return err
}

// Count returns the number of items (job-wide, on a distributed
// iterator).
func (it Iter[M, E]) Count(ctx context.Context) (int, error) {
	const op = "count"
	it, ctx, err := it.start(ctx, op)
	if err != nil {
		return 0, err
	}
	var n int
	lerr := it.run(ctx, op, func(p *pool, u units[E]) error {
		cs, err := pieces(p, u, func(c *int, _ E, _ meta) error {
			*c++
			return nil
		})
		for _, c := range cs {
			n += c
		}
		return err
	})
	if !it.src.collective {
		return n, lerr
	}
	all, err := it.finish(ctx, op, encodeNumber(int64(n)), lerr)
	if err != nil {
		return 0, err
	}
	n = 0
	for _, b := range all {
		n += int(decodeNumber[int64](b))
	}
	return n, nil
}

// folded is a fold's state: whether it met an item, and the result.
type folded[E any] struct {
	ok bool
	v  E
}

// foldLocal folds this PE's items with f: each piece in index order,
// then the pieces' results in index order.
func foldLocal[E any](p *pool, u units[E], f func(E, E) E) (folded[E], error) {
	ps, err := pieces(p, u, func(r *folded[E], e E, _ meta) error {
		if r.ok {
			r.v = f(r.v, e)
		} else {
			*r = folded[E]{true, e}
		}
		return nil
	})
	var acc folded[E]
	for _, r := range ps {
		switch {
		case !r.ok:
		case acc.ok:
			acc.v = f(acc.v, r.v)
		default:
			acc = r
		}
	}
	return acc, err
}

// Reduce combines the items with op, and returns false when there is
// none. The order: each worker folds its piece of this PE's items in
// index order, the pieces' results are combined in index order, and, on
// a distributed iterator, the PEs' results in PE order (for a Block
// array, the array's index order; for Cyclic, not). So op must be
// associative, and for a Cyclic distributed iterator commutative too, for
// the result to be the sequential fold. Floats are the exception to the
// rule that results do not depend on the schedule: how the items are cut
// into pieces groups the additions, so the last bits may differ between
// schedules and worker counts (not between runs of one, but for
// WorkStealing, whose pieces depend on timing).
//
// A distributed Reduce sends each PE's result to every PE encoded by
// am/codec: E must be a type it carries (its exported fields; an error
// otherwise).
func (it Iter[M, E]) Reduce(ctx context.Context, op func(E, E) E) (E, bool, error) {
	const name = "reduce"
	var zero E
	it, ctx, err := it.start(ctx, name)
	if err != nil {
		return zero, false, err
	}
	if op == nil {
		it = it.invalid(name, "nil function")
	}
	var acc folded[E]
	lerr := it.run(ctx, name, func(p *pool, u units[E]) (err error) {
		acc, err = foldLocal(p, u, op)
		return err
	})
	if !it.src.collective {
		if lerr != nil {
			return zero, false, lerr
		}
		return acc.v, acc.ok, nil
	}
	var payload []byte
	if lerr == nil {
		payload, lerr = encodeFolded(acc)
		if lerr != nil {
			lerr = fmt.Errorf("array: %s on PE %d: %w", name, it.src.pe.MyPE(), lerr)
		}
	}
	all, err := it.finish(ctx, name, payload, lerr)
	if err != nil {
		return zero, false, err
	}
	acc = folded[E]{}
	for pe, b := range all {
		r, err := decodeFolded[E](b)
		if err != nil {
			return zero, false, fmt.Errorf("array: %s: PE %d's result: %w", name, pe, err)
		}
		switch {
		case !r.ok:
		case acc.ok:
			acc.v = op(acc.v, r.v)
		default:
			acc = r
		}
	}
	return acc.v, acc.ok, nil
}

// Sum adds the items up (0 when there are none), in the order Reduce
// says.
func Sum[M Mode, N Number](ctx context.Context, it Iter[M, N]) (N, error) {
	const op = "sum"
	it, ctx, err := it.start(ctx, op)
	if err != nil {
		return 0, err
	}
	var s N
	lerr := it.run(ctx, op, func(p *pool, u units[N]) error {
		r, err := foldLocal(p, u, func(a, b N) N { return a + b })
		s = r.v
		return err
	})
	if !it.src.collective {
		return s, lerr
	}
	all, err := it.finish(ctx, op, encodeNumber(s), lerr)
	if err != nil {
		return 0, err
	}
	s = 0
	for _, b := range all {
		s += decodeNumber[N](b)
	}
	return s, nil
}

// CollectLocal returns the items of a local iterator, in order.
func CollectLocal[E any](ctx context.Context, it Local[E]) ([]E, error) {
	const op = "collect"
	it, ctx, err := it.start(ctx, op)
	if err != nil {
		return nil, err
	}
	var items []E
	err = it.run(ctx, op, func(p *pool, u units[E]) (err error) {
		items, _, err = gather(p, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// All returns the items as an iterator for range, in order, walked on
// the calling goroutine (not collective, for either Mode: this PE's
// items), and a function that reports why the walk stopped early, nil
// when it did not.
func (it Iter[M, E]) All() (iter.Seq[E], func() error) {
	var err error
	seq := func(yield func(E) bool) {
		const op = "all"
		if err = it.usable(op); err != nil {
			return
		}
		ctx := context.Background()
		err = it.Workers(1).run(ctx, op, func(p *pool, u units[E]) error {
			for k := range u.n {
				if e, _, ok := u.at(k); ok && !yield(e) {
					return nil
				}
			}
			return nil
		})
	}
	return seq, func() error { return err }
}
