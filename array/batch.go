package array

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/internal/config"
)

// opCompareExchange is the batch AMs' code for a compare-exchange: past
// the Ops, so that no Op names it.
const opCompareExchange = uint8(numOps)

// batchAM carries a batch's operations on the elements one PE holds, and
// runs them there, on that PE's data, with its CPU atomics: one message
// for many updates where the PE is not mapped (another node).
type batchAM[T Number] struct {
	Array *am.Darc[*shared[T]] // the array on the receiving PE
	Op    uint8                // an Op, or opCompareExchange
	Offs  []int64              // local offsets, in the batch's order
	Vals  []T                  // one per offset, or one for all
	Cur   []T                  // compare-exchange: the current values, one per offset or one for all
	Eps   T                    // compare-exchange: the epsilon (floats)
	Fetch bool                 // return the values before
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
	cas := b.Op == opCompareExchange
	if len(b.Vals) != 1 && len(b.Vals) != len(b.Offs) || cas && len(b.Cur) != 1 && len(b.Cur) != len(b.Offs) {
		return nil, fmt.Errorf("array: batch on PE %d: %w: %d values and %d current values for %d offsets", me, am.ErrInvalidArg, len(b.Vals), len(b.Cur), len(b.Offs))
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
		var old T
		var err error
		if cas {
			old, err = e.cas(me, int(off), pick(b.Cur, k), pick(b.Vals, k), b.Eps)
		} else {
			old, err = e.apply(me, int(off), Op(b.Op), pick(b.Vals, k))
		}
		if err != nil {
			return nil, fmt.Errorf("array: batch %s on PE %d, offset %d: %w", opName(b.Op), me, off, err)
		}
		if b.Fetch {
			out[k] = old
		}
	}
	return out, nil
}

// cas is compareExchange for batches: it returns the value the element
// held, and it swapped exactly when that value matches cur (see
// elems.matches), which is how a batch tells its Swapped. An element of a
// word of its own compared by bits is one compare-and-swap, retried only
// where it failed on a value that matches (as compareExchange does: a
// value that changed back between the failed swap and the load that read
// it).
func (e *elems[T]) cas(pe, off int, cur, v, eps T) (T, error) {
	if e.tr.size < 4 || e.tr.float && eps > 0 {
		old, _, err := e.compareExchange(pe, off, cur, v, eps)
		return old, err
	}
	c := bitsOf(cur)
	for {
		old, ok, err := e.casWord(pe, off, c, bitsOf(v))
		if err != nil || ok || old != c {
			return valueOf[T](old), err
		}
	}
}

// opName names a batch AM's operation.
func opName(op uint8) string {
	if op == opCompareExchange {
		return "compare-exchange"
	}
	return Op(op).String()
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

// batch is one batch operation, checked: n operations op (an Op, or
// opCompareExchange) on the elements idx with vals (and, for a
// compare-exchange, cur and eps), paired as BatchApply says. fetch
// collects the values before; plain reads with plain loads (OpLoad of
// the read-only and unsafe kinds).
type batch[T Number] struct {
	op           uint8
	idx          []int
	vals, cur    []T
	eps          T
	n            int
	fetch, plain bool
}

// opBytes is the bytes of one operation in a batch AM: its offset, and
// its operands where each operation has its own.
func (bt *batch[T]) opBytes() int {
	size := int(traitsOf[T]().size)
	n := 8
	if len(bt.vals) > 1 {
		n += size
	}
	if len(bt.cur) > 1 {
		n += size
	}
	return n
}

// opsPerAM is the most operations of opBytes bytes each that one batch AM
// of at most threshold bytes of operations carries (at least 1; a
// threshold of 0 is config.DefaultAMSizeThreshold).
func opsPerAM(threshold uintptr, opBytes int) int {
	if threshold == 0 {
		threshold = config.DefaultAMSizeThreshold
	}
	return max(1, int(threshold/uintptr(opBytes)))
}

// amOps is how many operations of bt one batch AM of this array carries:
// the PE's AMSizeThreshold (GSHMEM_AM_SIZE_THRESHOLD) over their size.
func (b *base[T]) amOps(bt *batch[T]) int {
	return opsPerAM(b.pe.Config().AMSizeThreshold, bt.opBytes())
}

// runBatch does op on the elements idx with vals (paired as BatchApply
// says), collecting the values before when fetch, and returns a future of
// finish's result over them (see runOps). Indices were checked.
func runBatch[T Number, S any](b *base[T], op Op, idx []int, vals []T, n int, fetch, plain bool, finish func([]T) S) *am.Future[S] {
	return runOps(b, &batch[T]{op: uint8(op), idx: idx, vals: vals, n: n, fetch: fetch, plain: plain}, finish)
}

// runOps does the batch bt and returns a future of finish's result over
// the values before (for a compare-exchange, with the current values it
// compared them with). Elements of PEs this one maps change here, with
// CPU atomics (plain loads, for a plain batch: the read-only and unsafe
// kinds); the others' go to their PEs in one AM per PE (per amOps
// operations). Indices were checked.
func runOps[T Number, S any](b *base[T], bt *batch[T], finish func([]T) S) *am.Future[S] {
	out := make([]T, bt.n)
	type bucket struct {
		pos  []int
		offs []int64
		vals []T
		cur  []T
	}
	var buckets []bucket
	var data [][]T
	if bt.plain {
		data = make([][]T, b.l.npes)
		for pe := range data {
			data[pe] = b.e.peerData(pe)
		}
	}
	cas := bt.op == opCompareExchange
	for k := range bt.n {
		j := min(k, len(bt.idx)-1)
		pe, off := b.owner(bt.idx[j])
		if b.e.mapped[pe] == nil {
			if buckets == nil {
				buckets = make([]bucket, b.l.npes)
			}
			bk := &buckets[pe]
			bk.pos, bk.offs = append(bk.pos, k), append(bk.offs, int64(off))
			if len(bt.vals) > 1 {
				bk.vals = append(bk.vals, bt.vals[k])
			}
			if len(bt.cur) > 1 {
				bk.cur = append(bk.cur, bt.cur[k])
			}
			continue
		}
		if bt.plain {
			out[k] = data[pe][off]
			continue
		}
		var old T
		var err error
		if cas {
			old, err = b.e.cas(pe, off, pick(bt.cur, k), pick(bt.vals, k), bt.eps)
		} else {
			old, err = b.e.apply(pe, off, Op(bt.op), pick(bt.vals, k))
		}
		if err != nil {
			var zero S
			return am.Completed(zero, fmt.Errorf("array: batch %s: element %d (batch position %d): %w", opName(bt.op), bt.idx[j], k, err))
		}
		out[k] = old
	}
	if buckets == nil {
		return am.Completed(finish(out), nil)
	}
	per := b.amOps(bt)
	var pes []int
	var ams []batchAM[T]
	var pos [][]int
	for pe := range buckets {
		bk := &buckets[pe]
		for lo := 0; lo < len(bk.offs); lo += per {
			hi := min(lo+per, len(bk.offs))
			a := batchAM[T]{Array: b.d, Op: bt.op, Offs: bk.offs[lo:hi], Fetch: bt.fetch, Eps: bt.eps}
			a.Vals = chunk(bt.vals, bk.vals, lo, hi)
			if cas {
				a.Cur = chunk(bt.cur, bk.cur, lo, hi)
			}
			pes, ams, pos = append(pes, pe), append(ams, a), append(pos, bk.pos[lo:hi])
		}
	}
	return am.ExecMany(b.w, pes, ams, func(rs [][]T) (S, error) {
		if bt.fetch {
			for i, r := range rs {
				for k, p := range pos[i] {
					out[p] = r[k]
				}
			}
		}
		return finish(out), nil
	})
}

// chunk is the operands of a batch AM's operations [lo, hi) of one PE:
// the one operand of the batch, or that PE's own from lo to hi.
func chunk[T any](all, mine []T, lo, hi int) []T {
	if len(all) > 1 {
		return mine[lo:hi]
	}
	return all[:1]
}

func same[T any](v T) T { return v }

func unit[T any](T) am.Unit { return am.Unit{} }
