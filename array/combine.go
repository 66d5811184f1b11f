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
func agree(ctx context.Context, pe *shmem.PE, op string, payload []byte, lerr error) ([][]byte, error) {
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

// arithmetic is Sum or Prod of an array: each PE folds its elements (in
// index order, on one goroutine for floats, so that every machine gets
// the same bits), then the PEs' results are combined in PE order (the
// order of hostshmem's Reduce), the same bits on every PE.
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
// an empty array): each PE adds its own in index order, then the PEs'
// sums are added in PE order (hostshmem's Reduce), so every PE gets the
// same bits. Integer sums wrap around.
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
