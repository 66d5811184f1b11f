package array

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// agree is the collective step that ends a distributed consumer: every
// PE hands in its payload, or the error that stopped it, and gets every
// PE's payload in PE order, or an error on every PE when any PE failed:
// its own lerr where it failed, else one naming the lowest PE that did,
// with that PE's message. It runs on hostshmem's collectives: an
// FCollect of each PE's header (its payload's length, or its message's
// as a negative), then, unless every payload is empty, an FCollect of
// the payloads padded to the longest.
//
// It runs without ctx's cancellation and deadline: a PE whose ctx ended
// (which is then its lerr) still takes part, so that the others learn
// of its error rather than wait for it. A dead PE still ends it.
func agree(ctx context.Context, pe *shmem.PE, op string, payload []byte, lerr error) ([][]byte, error) {
	ctx = context.WithoutCancel(ctx)
	np := pe.NPEs()
	hdr := int64(len(payload))
	if lerr != nil {
		payload = []byte(lerr.Error())
		hdr = -int64(len(payload)) - 1
	}
	hs, err := fcollect(ctx, pe, []int64{hdr})
	if err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	length := func(h int64) int {
		if h < 0 {
			return int(-h - 1)
		}
		return int(h)
	}
	longest := 0
	for _, h := range hs {
		longest = max(longest, length(h))
	}
	all := make([][]byte, np)
	if longest > 0 {
		buf := make([]byte, longest)
		copy(buf, payload)
		got, err := fcollect(ctx, pe, buf)
		if err != nil {
			return nil, fmt.Errorf("array: %s: %w", op, err)
		}
		for q := range all {
			all[q] = got[q*longest : q*longest+length(hs[q])]
		}
	}
	if lerr != nil {
		return nil, lerr
	}
	for q, h := range hs {
		if h < 0 {
			return nil, fmt.Errorf("array: %s: PE %d failed: %s", op, q, all[q])
		}
	}
	return all, nil
}

// fcollect concatenates every PE's vals (one length on every PE) in PE
// order, through a symmetric buffer of its own.
func fcollect[T shmem.Elem](ctx context.Context, pe *shmem.PE, vals []T) ([]T, error) {
	n, np := len(vals), pe.NPEs()
	s, err := shmem.Malloc[T](ctx, pe, n*(np+1))
	if err != nil {
		return nil, err
	}
	copy(shmem.Local(pe, s), vals)
	err = shmem.FCollect(ctx, pe.TeamWorld(), s.Slice(n, n*(np+1)), s.Slice(0, n), n)
	out := slices.Clone(shmem.Local(pe, s)[n:])
	if ferr := shmem.Free(ctx, pe, s); err == nil {
		err = ferr
	}
	return out, err
}

// allReduce combines every PE's vals (one length on every PE) with op,
// with hostshmem's Reduce (in PE order), and returns the result on every
// PE.
func allReduce[T shmem.Elem](ctx context.Context, pe *shmem.PE, op shmem.ReduceOp, vals []T) ([]T, error) {
	n := len(vals)
	if n == 0 {
		return nil, nil
	}
	s, err := shmem.Malloc[T](ctx, pe, 2*n)
	if err != nil {
		return nil, err
	}
	copy(shmem.Local(pe, s), vals)
	err = shmem.Reduce(ctx, pe.TeamWorld(), op, s.Slice(n, 2*n), s.Slice(0, n), n)
	out := slices.Clone(shmem.Local(pe, s)[n:])
	if ferr := shmem.Free(ctx, pe, s); err == nil {
		err = ferr
	}
	return out, err
}

// encodeNumber and decodeNumber carry a number in 8 bytes.
func encodeNumber[N Number](v N) []byte { return binary.LittleEndian.AppendUint64(nil, bitsOf(v)) }

func decodeNumber[N Number](b []byte) N {
	if len(b) < 8 {
		return 0
	}
	return valueOf[N](binary.LittleEndian.Uint64(b))
}

// encodeFolded encodes a fold's state with am/codec: a byte for ok, then
// the value.
func encodeFolded[E any](f folded[E]) ([]byte, error) {
	if !f.ok {
		return []byte{0}, nil
	}
	c, err := codec.For[E](codec.Config{})
	if err != nil {
		return nil, err
	}
	enc := codec.Encoder{Buf: []byte{1}}
	c.Encode(&enc, f.v)
	return enc.Buf, enc.Err()
}

func decodeFolded[E any](b []byte) (folded[E], error) {
	if len(b) == 0 || b[0] == 0 {
		return folded[E]{}, nil
	}
	c, err := codec.For[E](codec.Config{})
	if err != nil {
		return folded[E]{}, err
	}
	var d codec.Decoder
	d.Reset(b[1:], false, nil)
	v, err := c.Decode(&d)
	if err != nil {
		return folded[E]{}, err
	}
	return folded[E]{true, v.(E)}, nil
}

// Collect stores the items, collectively, in a new AtomicArray spread by
// d, in the iterator's order: the global index order of the elements
// they came from (for a Cyclic array too), or, after Chunks, PE order
// then this PE's order. Each PE counts its items; the PEs agree on the
// total and on where each PE's items go (an exclusive scan of the counts
// for a Block array, a bitmap of the surviving positions, OR-reduced,
// for a Cyclic one); they create the array and each stores its items at
// their places with one batch store; a barrier ends it. Every PE gets
// the same array, or an error (see Iter).
func Collect[N Number](ctx context.Context, it Dist[N], d Distribution) (*AtomicArray[N], error) {
	const op = "collect"
	it, ctx, err := it.start(ctx, op)
	if err != nil {
		return nil, err
	}
	if d != Block && d != Cyclic {
		it = it.invalid(op, "%v", d)
	}
	var items []N
	var metas []meta
	lerr := it.run(ctx, op, func(p *pool, u units[N]) (err error) {
		items, metas, err = gather(p, u)
		return err
	})
	// The steps after the walk are collective: they run to the end on
	// every PE even when ctx ended (see agree).
	ctx = context.WithoutCancel(ctx)
	pe, l := it.src.pe, it.src.l
	byPE := it.unpos || l.dist == Block
	var payload []byte
	if byPE {
		payload = encodeNumber(int64(len(items)))
	}
	all, err := agree(ctx, pe, op, payload, lerr)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(items))
	total := 0
	if byPE {
		off := 0
		for q, b := range all {
			c := int(decodeNumber[int64](b))
			if q < pe.MyPE() {
				off += c
			}
			total += c
		}
		for k := range idx {
			idx[k] = off + k
		}
	} else {
		words := make([]uint64, (l.Len()+63)/64)
		for _, m := range metas {
			words[m.pos/64] |= 1 << (m.pos % 64)
		}
		if words, err = allReduce(ctx, pe, shmem.OpOr, words); err != nil {
			return nil, fmt.Errorf("array: %s: %w", op, err)
		}
		below := make([]int, len(words)+1)
		for k, w := range words {
			below[k+1] = below[k] + bits.OnesCount64(w)
		}
		total = below[len(words)]
		for k, m := range metas {
			idx[k] = below[m.pos/64] + bits.OnesCount64(words[m.pos/64]&(1<<(m.pos%64)-1))
		}
	}
	out, err := NewAtomicArray[N](ctx, it.src.w, total, d)
	if err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	_, serr := out.BatchStore(idx, items).Wait(ctx)
	if serr != nil {
		serr = fmt.Errorf("array: %s on PE %d: %w", op, pe.MyPE(), serr)
	}
	if _, err := agree(ctx, pe, op, nil, serr); err != nil {
		if cerr := out.Close(ctx); cerr != nil {
			err = fmt.Errorf("%w (and closing the new array: %w)", err, cerr)
		}
		return nil, err
	}
	if err := it.src.w.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	return out, nil
}

// values of the array kinds, for the reductions.
func (a *AtomicArray[T]) numbers() Dist[T] {
	return Map(a.DistIter(), func(e Elem[T]) T {
		v, _ := e.Load() // a load of this PE's element: no operand to refuse
		return v
	})
}

func (a *ReadOnlyArray[T]) numbers() Dist[T] {
	return Map(a.DistIter(), func(e Indexed[T]) T { return e.Value })
}

func (a *UnsafeArray[T]) numbers() Dist[T] {
	return Map(a.DistIter(), func(e Indexed[T]) T { return e.Value })
}

func (a *lockBase[T]) numbers() Dist[T] {
	return Map(a.DistIter(), func(e Indexed[T]) T { return e.Value })
}

// Sum returns, collectively, the sum of the elements, each PE's read
// under the read lock (see AtomicArray.Sum).
func (a *lockBase[T]) Sum(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "sum", add[T], 0)
}

// Prod returns, collectively, the product of the elements (see
// AtomicArray.Prod), read under the read lock.
func (a *lockBase[T]) Prod(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "prod", mul[T], 1)
}

// Min returns, collectively, the least element (see AtomicArray.Min),
// read under the read lock.
func (a *lockBase[T]) Min(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "min", least[T])
}

// Max returns, collectively, the greatest element (see AtomicArray.Max),
// read under the read lock.
func (a *lockBase[T]) Max(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "max", greatest[T])
}

// Reduce returns, collectively, the elements combined with op (see
// AtomicArray.Reduce), read under the read lock.
func (a *lockBase[T]) Reduce(ctx context.Context, op func(T, T) T) (T, error) {
	return extreme(ctx, a.numbers(), "reduce", op)
}

// arithmetic is Sum or Prod of an array: each PE folds its elements (in
// index order, on one goroutine for floats, so that every machine gets
// the same bits), then every PE combines the PEs' results in PE order,
// the same bits on every PE.
func arithmetic[T Number](ctx context.Context, it Dist[T], name string, f func(T, T) T, unit T) (T, error) {
	it, ctx, err := it.start(ctx, name)
	if err != nil {
		return 0, err
	}
	if traitsOf[T]().float {
		it = it.Workers(1)
	}
	acc := folded[T]{true, unit}
	lerr := it.run(ctx, name, func(p *pool, u units[T]) (err error) {
		if r, err := foldLocal(p, u, f); r.ok {
			acc.v = r.v
			return err
		}
		return err
	})
	all, err := it.finish(ctx, name, encodeNumber(acc.v), lerr)
	if err != nil {
		return 0, err
	}
	acc.v = unit
	for _, b := range all {
		acc.v = f(acc.v, decodeNumber[T](b))
	}
	return acc.v, nil
}

// extreme is Min, Max or a user reduction of an array: an error matching
// errdefs.ErrInvalidArg for an empty one.
func extreme[T Number](ctx context.Context, it Dist[T], name string, f func(T, T) T) (T, error) {
	if f == nil {
		it = it.invalid(name, "nil function")
	}
	v, ok, err := it.Reduce(ctx, f)
	if err == nil && !ok {
		err = fmt.Errorf("array: %s: %w: an empty array", name, errdefs.ErrInvalidArg)
	}
	return v, err
}

func add[T Number](a, b T) T { return a + b }

func mul[T Number](a, b T) T { return a * b }

func least[T Number](a, b T) T { return min(a, b) }

func greatest[T Number](a, b T) T { return max(a, b) }

// Sum returns, collectively, the sum of the elements on every PE (0 for
// an empty array): each PE adds its own in index order, then every PE
// adds the PEs' sums in PE order, so every PE gets the same bits.
// Integer sums wrap around.
func (a *AtomicArray[T]) Sum(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "sum", add[T], 0)
}

// Prod returns, collectively, the product of the elements (1 for an
// empty array), in the order Sum says.
func (a *AtomicArray[T]) Prod(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "prod", mul[T], 1)
}

// Min returns, collectively, the least element (a NaN if any is one), or
// an error matching errdefs.ErrInvalidArg for an empty array.
func (a *AtomicArray[T]) Min(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "min", least[T])
}

// Max returns, collectively, the greatest element (a NaN if any is one),
// or an error matching errdefs.ErrInvalidArg for an empty array.
func (a *AtomicArray[T]) Max(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "max", greatest[T])
}

// Reduce returns, collectively, the elements combined with op, in the
// order Iter.Reduce says, or an error matching errdefs.ErrInvalidArg for
// an empty array.
func (a *AtomicArray[T]) Reduce(ctx context.Context, op func(T, T) T) (T, error) {
	return extreme(ctx, a.numbers(), "reduce", op)
}

// Sum returns, collectively, the sum of the elements (see
// AtomicArray.Sum).
func (a *ReadOnlyArray[T]) Sum(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "sum", add[T], 0)
}

// Prod returns, collectively, the product of the elements (see
// AtomicArray.Prod).
func (a *ReadOnlyArray[T]) Prod(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "prod", mul[T], 1)
}

// Min returns, collectively, the least element (see AtomicArray.Min).
func (a *ReadOnlyArray[T]) Min(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "min", least[T])
}

// Max returns, collectively, the greatest element (see AtomicArray.Max).
func (a *ReadOnlyArray[T]) Max(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "max", greatest[T])
}

// Reduce returns, collectively, the elements combined with op (see
// AtomicArray.Reduce).
func (a *ReadOnlyArray[T]) Reduce(ctx context.Context, op func(T, T) T) (T, error) {
	return extreme(ctx, a.numbers(), "reduce", op)
}

// Sum returns, collectively, the sum of the elements (see
// AtomicArray.Sum).
func (a *UnsafeArray[T]) Sum(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "sum", add[T], 0)
}

// Prod returns, collectively, the product of the elements (see
// AtomicArray.Prod).
func (a *UnsafeArray[T]) Prod(ctx context.Context) (T, error) {
	return arithmetic(ctx, a.numbers(), "prod", mul[T], 1)
}

// Min returns, collectively, the least element (see AtomicArray.Min).
func (a *UnsafeArray[T]) Min(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "min", least[T])
}

// Max returns, collectively, the greatest element (see AtomicArray.Max).
func (a *UnsafeArray[T]) Max(ctx context.Context) (T, error) {
	return extreme(ctx, a.numbers(), "max", greatest[T])
}

// Reduce returns, collectively, the elements combined with op (see
// AtomicArray.Reduce).
func (a *UnsafeArray[T]) Reduce(ctx context.Context, op func(T, T) T) (T, error) {
	return extreme(ctx, a.numbers(), "reduce", op)
}

// Broadcast stores, collectively, PE root's vals (one per element, in
// index order) into the array: each PE's part comes from root with one
// Put, and when Broadcast returns, on every PE, every PE sees the array
// holding root's values (AllGather then gives each PE the whole of it:
// together, a broadcast of root's slice). The other PEs' vals are
// ignored. Stores and operations on the array's elements during the call
// race with it. A root out of range, or vals of another length on root,
// is an error on every PE (root's names the lengths).
func (a *AtomicArray[T]) Broadcast(ctx context.Context, root int, vals []T) error {
	return a.broadcast(ctx, root, vals)
}

// Broadcast stores, collectively, PE root's vals into the array (see
// AtomicArray.Broadcast).
func (a *UnsafeArray[T]) Broadcast(ctx context.Context, root int, vals []T) error {
	return a.broadcast(ctx, root, vals)
}

// AllReduce combines, collectively, every PE's vals (one per element, in
// index order, on every PE) element by element with op, in PE order, and
// stores the results in the array: element i becomes
// op(...op(op(vals₀[i], vals₁[i]), vals₂[i])..., vals₋₁[i]), the same bits
// on every PE. When it returns, on every PE, every PE sees the results.
// Each PE sends every other PE the values of its part with one Put, and
// each PE combines its own part, so op runs on the PE that holds the
// element. Stores and operations on the array's elements during the call
// race with it. vals of another length, or a nil op, on any PE, or a
// panic in op, is an error on every PE, naming the PE and the values.
func (a *AtomicArray[T]) AllReduce(ctx context.Context, vals []T, op func(T, T) T) error {
	return a.allReduceInto(ctx, vals, op)
}

// AllReduce combines, collectively, every PE's vals element by element
// into the array (see AtomicArray.AllReduce).
func (a *UnsafeArray[T]) AllReduce(ctx context.Context, vals []T, op func(T, T) T) error {
	return a.allReduceInto(ctx, vals, op)
}

// begin checks a write collective's arguments and agrees on them: every
// PE returns an error when any PE's lerr is one, or its ctx had ended.
// The steps after it run without ctx's cancellation (see agree): they
// are short, and a PE that left them would leave the others waiting.
func (b *base[T]) begin(ctx context.Context, op string, lerr error) error {
	if err := b.live(op); err != nil {
		return err
	}
	if ctx == nil {
		return fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	if err := ctx.Err(); err != nil && lerr == nil {
		lerr = fmt.Errorf("array: %s on PE %d: %w", op, b.pe.MyPE(), err)
	}
	_, err := agree(ctx, b.pe, op, nil, lerr)
	return err
}

// local is vals' values for PE q's part of the view, in q's local order,
// and the local offset of the first.
func (b *base[T]) local(vals []T, q int) (from int, part []T) {
	from, to := b.l.localRange(q)
	part = make([]T, to-from)
	for off := from; off < to; off++ {
		part[off-from] = vals[b.l.global(q, off)]
	}
	return from, part
}

func (b *base[T]) broadcast(ctx context.Context, root int, vals []T) error {
	const op = "broadcast"
	me := b.pe.MyPE()
	var lerr error
	switch {
	case b.live(op) != nil:
	case root < 0 || root >= b.NumPEs():
		lerr = fmt.Errorf("array: %s: %w: root PE %d of %d", op, errdefs.ErrInvalidPE, root, b.NumPEs())
	case me == root && len(vals) != b.Len():
		lerr = fmt.Errorf("array: %s from PE %d: %w: %d values for %d elements", op, me, errdefs.ErrInvalidArg, len(vals), b.Len())
	}
	if err := b.begin(ctx, op, lerr); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	var perr error
	if me == root {
		s := b.typed()
		for q := range b.NumPEs() {
			from, part := b.local(vals, q)
			if len(part) == 0 {
				continue
			}
			if err := shmem.Put(b.pe, s.Slice(from, from+len(part)), part, q); err != nil {
				perr = fmt.Errorf("array: %s from PE %d to PE %d: %w", op, me, q, err)
				break
			}
		}
	}
	// The barrier completes root's Puts; then every PE learns whether
	// they all went.
	if err := b.pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	_, err := agree(ctx, b.pe, op, nil, perr)
	return err
}

func (b *base[T]) allReduceInto(ctx context.Context, vals []T, f func(T, T) T) error {
	const op = "all-reduce"
	me, np := b.pe.MyPE(), b.NumPEs()
	var lerr error
	switch {
	case b.live(op) != nil:
	case len(vals) != b.Len():
		lerr = fmt.Errorf("array: %s on PE %d: %w: %d values for %d elements", op, me, errdefs.ErrInvalidArg, len(vals), b.Len())
	case f == nil:
		lerr = fmt.Errorf("array: %s on PE %d: %w: nil function", op, me, errdefs.ErrInvalidArg)
	}
	if err := b.begin(ctx, op, lerr); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	// stage holds, on every PE, one slot of width elements per PE: slot
	// q is PE q's values for this PE's part.
	width := 0
	for q := range np {
		width = max(width, b.l.LocalLen(q))
	}
	if width == 0 {
		return nil // an empty view: nothing to send, on every PE alike
	}
	stage, err := shmem.Malloc[T](ctx, b.pe, np*width)
	if err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	var perr error
	for q := range np {
		_, part := b.local(vals, q)
		if len(part) == 0 {
			continue
		}
		if err := shmem.Put(b.pe, stage.Slice(me*width, me*width+len(part)), part, q); err != nil {
			perr = fmt.Errorf("array: %s from PE %d to PE %d: %w", op, me, q, err)
			break
		}
	}
	if err := b.pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	if perr == nil {
		perr = b.combineStage(op, shmem.Local(b.pe, stage), width, f)
	}
	_, err = agree(ctx, b.pe, op, nil, perr)
	if ferr := shmem.Free(ctx, b.pe, stage); err == nil && ferr != nil {
		err = fmt.Errorf("array: %s: %w", op, ferr)
	}
	return err
}

// combineStage folds the staged slots of this PE's part in PE order and
// stores the results, and turns a panic of f into an error.
func (b *base[T]) combineStage(op string, stage []T, width int, f func(T, T) T) (err error) {
	me, np := b.pe.MyPE(), b.NumPEs()
	from, to := b.l.localRange(me)
	k := 0
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("array: %s on PE %d: panic in the function, element %d: %v", op, me, b.l.global(me, from+k), r)
		}
	}()
	for ; k < to-from; k++ {
		r := stage[k]
		for q := 1; q < np; q++ {
			r = f(r, stage[q*width+k])
		}
		if _, err := b.e.apply(me, from+k, OpStore, r); err != nil {
			return fmt.Errorf("array: %s on PE %d: %w", op, me, err)
		}
	}
	return nil
}
