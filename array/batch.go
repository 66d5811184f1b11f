package array

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/gshmem/gshmem/am"
)

// batchMax is the most operations one batch AM carries: a batch's share
// of a PE larger than that goes in several.
const batchMax = 8192

// batchAM carries a batch's operations on the elements one PE holds, and
// runs them there, on that PE's data, with its CPU atomics: one message
// for many updates where the PE is not mapped (another node).
type batchAM[T Number] struct {
	Array *am.Darc[*shared[T]] // the array on the receiving PE
	Op    uint8
	Offs  []int64 // local offsets, in the batch's order
	Vals  []T     // one per offset, or one for all
	Fetch bool    // return the values before
}

// Exec applies the operations in order and returns the values before
// (nil without Fetch). An offset outside the data fails the AM (a
// sender's bug, or a corrupt message) before anything changes.
func (b batchAM[T]) Exec(ctx *am.Context) ([]T, error) {
	p := b.Array.Get()
	if p == nil || *p == nil {
		return nil, fmt.Errorf("array: batch on PE %d: %w: the array is gone", ctx.MyPE(), am.ErrClosed)
	}
	e, me := (*p).e, ctx.MyPE()
	words := len(e.mapped[me])
	if len(b.Vals) != 1 && len(b.Vals) != len(b.Offs) {
		return nil, fmt.Errorf("array: batch on PE %d: %w: %d values for %d offsets", me, am.ErrInvalidArg, len(b.Vals), len(b.Offs))
	}
	for _, off := range b.Offs {
		if off < 0 || uintptr(off+1)*e.tr.size > uintptr(words) {
			return nil, fmt.Errorf("array: batch on PE %d: %w: offset %d", me, am.ErrInvalidArg, off)
		}
	}
	var out []T
	if b.Fetch {
		out = make([]T, len(b.Offs))
	}
	for k, off := range b.Offs {
		old, err := e.apply(me, int(off), Op(b.Op), pick(b.Vals, k))
		if err != nil {
			return nil, fmt.Errorf("array: batch %v on PE %d, offset %d: %w", Op(b.Op), me, off, err)
		}
		if b.Fetch {
			out[k] = old
		}
	}
	return out, nil
}

// register adds T's batch AM to w's registry (once per type: later
// arrays of T find it there).
func register[T Number](w *am.World) error {
	t := reflect.TypeFor[T]()
	name := "gshmem.array.batch." + t.PkgPath() + "." + t.Name()
	err := am.Register[batchAM[T], []T](w.Registry(), name)
	if errors.Is(err, am.ErrDuplicate) {
		return nil
	}
	return err
}

// runBatch does op on the elements idx with vals (paired as BatchApply
// says), collecting the values before when fetch, and returns a future of
// finish's result over them. Elements of PEs this one maps change here,
// with CPU atomics (plain loads, for a plain OpLoad: the read-only and
// unsafe kinds); the others' go to their PEs in one AM per PE (per
// batchMax operations). Indices were checked.
func runBatch[T Number, S any](b *base[T], op Op, idx []int, vals []T, n int, fetch, plain bool, finish func([]T) S) *am.Future[S] {
	out := make([]T, n)
	type bucket struct {
		pos  []int
		offs []int64
		vals []T
	}
	var buckets []bucket
	var data [][]T
	if plain {
		data = make([][]T, b.l.npes)
		for pe := range data {
			data[pe] = b.e.peerData(pe)
		}
	}
	for k := range n {
		j := min(k, len(idx)-1)
		pe, off := b.owner(idx[j])
		if b.e.mapped[pe] == nil {
			if buckets == nil {
				buckets = make([]bucket, b.l.npes)
			}
			bk := &buckets[pe]
			bk.pos, bk.offs = append(bk.pos, k), append(bk.offs, int64(off))
			if len(vals) > 1 {
				bk.vals = append(bk.vals, vals[k])
			}
			continue
		}
		if plain {
			out[k] = data[pe][off]
			continue
		}
		old, err := b.e.apply(pe, off, op, pick(vals, k))
		if err != nil {
			var zero S
			return am.Completed(zero, fmt.Errorf("array: batch %v: element %d (batch position %d): %w", op, idx[j], k, err))
		}
		out[k] = old
	}
	if buckets == nil {
		return am.Completed(finish(out), nil)
	}
	var pes []int
	var ams []batchAM[T]
	var pos [][]int
	for pe := range buckets {
		bk := &buckets[pe]
		for lo := 0; lo < len(bk.offs); lo += batchMax {
			hi := min(lo+batchMax, len(bk.offs))
			a := batchAM[T]{Array: b.d, Op: uint8(op), Offs: bk.offs[lo:hi], Fetch: fetch}
			if len(vals) > 1 {
				a.Vals = bk.vals[lo:hi]
			} else {
				a.Vals = vals[:1]
			}
			pes, ams, pos = append(pes, pe), append(ams, a), append(pos, bk.pos[lo:hi])
		}
	}
	return am.ExecMany(b.w, pes, ams, func(rs [][]T) (S, error) {
		if fetch {
			for i, r := range rs {
				for k, p := range pos[i] {
					out[p] = r[k]
				}
			}
		}
		return finish(out), nil
	})
}

func same[T any](v T) T { return v }

func unit[T any](T) am.Unit { return am.Unit{} }
