package array

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Update is a user operation on a StructArray's element: the element's
// new value from its old one and the operand. It runs on the PE that
// holds the element, under the element's lock: it must not block, and
// must be the same function on every PE (it is named, not sent).
type Update[T any] func(old, v T) T

// StructOptions configures a StructArray.
type StructOptions[T any] struct {
	// Ops are the user operations, by name: every PE passes the same
	// names (the same functions). Apply and BatchApply name them.
	Ops map[string]Update[T]
}

// StructArray is a distributed array of a custom element type: a struct
// (or array) of numbers and bools, with exported fields, that the am
// codec carries. Every element operation is atomic, under a lock of the
// element: load, store, swap, compare-exchange (==), and the user
// operations given at creation. On a PE this one maps, the lock is taken
// in place with CPU atomics; on another, the operation goes as an AM to
// the element's PE, which runs it there (a batch: one AM per PE).
// Operations return futures, as AtomicArray's do.
//
// A StructArray is used by the goroutines of its PE at will. It is
// created collectively; each handle (this one, its clones and sub-arrays)
// is a reference to drop (Drop, or Close collectively), as for
// AtomicArray: the memory is freed once no PE holds one.
type StructArray[T comparable] struct {
	w  *am.World
	pe *shmem.PE
	l  layout
	s  *structStore[T]
	d  *am.Darc[*structInst[T]] // this handle's reference
	h  *ref
}

// structStore is the data of one StructArray, shared by its sub-arrays.
type structStore[T comparable] struct {
	data  shmem.Sym[byte]   // capacity elements of T, 8-byte aligned
	locks shmem.Sym[uint32] // one lock word per element
	inst  *structInst[T]
	names []string // the user operations' names, sorted: an op's number is its place
	life  *store   // the allocations' lifetime (lifetime.go)
}

// structInst is what the operations on one PE need: this PE's view of
// every PE's elements and locks where it maps them (nil where not), and
// the user operations. It is the Darc's value, so the AMs reach it.
type structInst[T comparable] struct {
	life  *store
	fab   interface{ Err() error }
	elems [][]T
	locks [][]uint32
	ops   []Update[T]
}

// The operations of a structAM.
const (
	structLoad uint8 = iota
	structSet
	structSwap
	structCAS
	structUser // user operation k is structUser+k
)

// NewStructArray makes, collectively on every PE of w, an array of n
// zero elements of T spread by d. T must be plain data: numbers, bools,
// and arrays and structs of them, with exported fields (the error names
// the field that is not).
func NewStructArray[T comparable](ctx context.Context, w *am.World, n int, d Distribution, opts StructOptions[T]) (*StructArray[T], error) {
	const op = "new struct array"
	if w == nil {
		return nil, fmt.Errorf("array: %s: %w: nil World", op, errdefs.ErrInvalidArg)
	}
	t := reflect.TypeFor[T]()
	if err := plainData(t, t.String()); err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	names := make([]string, 0, len(opts.Ops))
	for name, f := range opts.Ops {
		if f == nil {
			return nil, fmt.Errorf("array: %s: %w: operation %q is nil", op, errdefs.ErrInvalidArg, name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > 255-int(structUser) {
		return nil, fmt.Errorf("array: %s: %w: %d operations (at most %d)", op, errdefs.ErrInvalidArg, len(names), 255-int(structUser))
	}
	l, err := newLayout(n, w.NPEs(), d)
	if err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	if err := registerStruct[T](w); err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	pe := w.PE()
	size := int(t.Size())
	if err := sweep(ctx, w); err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	nb := max((l.capacity()*size+7)&^7, 8)
	all, err := shmem.Align[byte](ctx, pe, 8, nb+8) // the data, then the sweep word
	if err != nil {
		return nil, fmt.Errorf("array: %s of %d %s: %w", op, n, t, err)
	}
	locks, err := shmem.Calloc[uint32](ctx, pe, max(l.capacity(), 1))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("array: %s of %d %s: %w", op, n, t, err), shmem.Free(ctx, pe, all))
	}
	clear(shmem.Local(pe, all))
	data := all.Slice(0, nb)
	life := &store{all: all, data: data, mark: shmem.As[uint64](all.Slice(nb, nb+8)), released: make(chan struct{})}
	life.free = func(ctx context.Context) error {
		return errors.Join(shmem.Free(ctx, pe, locks), shmem.Free(ctx, pe, all))
	}
	inst := &structInst[T]{life: life, fab: pe.Fabric(), elems: make([][]T, w.NPEs()), locks: make([][]uint32, w.NPEs())}
	for _, name := range names {
		inst.ops = append(inst.ops, opts.Ops[name])
	}
	for p := range w.NPEs() {
		b, err1 := shmem.Ptr(pe, data, p)
		lk, err2 := shmem.Ptr(pe, locks, p)
		if err1 == nil && err2 == nil && size > 0 {
			inst.elems[p] = unsafe.Slice((*T)(unsafe.Pointer(&b[0])), l.capacity())
			inst.locks[p] = lk
		}
	}
	darc, err := am.NewDarc(ctx, w, inst)
	if err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, errors.Join(err, life.free(ctx)))
	}
	heapOf(w).add(life, inst)
	if err := pe.BarrierAll(ctx); err != nil { // no PE changes an element before its owner zeroed it
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	st := &structStore[T]{data: data, locks: locks, inst: inst, names: names, life: life}
	return &StructArray[T]{w: w, pe: pe, l: l, s: st, d: darc, h: &ref{}}, nil
}

// DarcFreed implements am.Freer: the array's last reference is gone.
func (in *structInst[T]) DarcFreed() { in.life.release() }

// plainData returns an error naming the part of t (at path) that is not
// plain data: what a StructArray keeps in the symmetric heap as bytes.
func plainData(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return plainData(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if err := plainData(f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s is a %s: a struct array's elements are numbers, bools, and arrays and structs of them", errdefs.ErrInvalidArg, path, t.Kind())
}

// structAM carries a batch's operations on the elements one PE holds, and
// runs them there under the elements' locks.
type structAM[T comparable] struct {
	Array *am.Darc[*structInst[T]]
	Op    uint8
	Offs  []int64 // local offsets, in the batch's order
	Vals  []T     // one per offset, or one for all
	Cur   []T     // compare-exchange: the expected values, one per offset or one
	Fetch bool
}

// structResult is what a structAM returns: the values before, and for a
// compare-exchange whether each was replaced.
type structResult[T any] struct {
	Old     []T
	Swapped []bool
}

// Exec runs the operations in order on this PE's elements.
func (b structAM[T]) Exec(ctx *am.Context) (structResult[T], error) {
	var r structResult[T]
	p := b.Array.Get()
	if p == nil || *p == nil {
		return r, fmt.Errorf("array: struct batch on PE %d: %w: the array is gone", ctx.MyPE(), am.ErrClosed)
	}
	in, me := *p, ctx.MyPE()
	n := len(in.elems[me])
	if len(b.Vals) != 1 && len(b.Vals) != len(b.Offs) || b.Op == structCAS && len(b.Cur) != 1 && len(b.Cur) != len(b.Offs) {
		return r, fmt.Errorf("array: struct batch on PE %d: %w: %d values, %d expected values for %d offsets", me, am.ErrInvalidArg, len(b.Vals), len(b.Cur), len(b.Offs))
	}
	if int(b.Op) >= int(structUser)+len(in.ops) {
		return r, fmt.Errorf("array: struct batch on PE %d: %w: operation %d", me, am.ErrInvalidArg, b.Op)
	}
	for _, off := range b.Offs {
		if off < 0 || off >= int64(n) {
			return r, fmt.Errorf("array: struct batch on PE %d: %w: offset %d of %d", me, am.ErrInvalidArg, off, n)
		}
	}
	if b.Fetch {
		r.Old = make([]T, len(b.Offs))
	}
	if b.Op == structCAS {
		r.Swapped = make([]bool, len(b.Offs))
	}
	for k, off := range b.Offs {
		var cur T
		if b.Op == structCAS {
			cur = pick(b.Cur, k)
		}
		old, ok, err := in.apply(ctx, me, int(off), b.Op, cur, pick(b.Vals, k))
		if err != nil {
			return structResult[T]{}, fmt.Errorf("array: struct batch on PE %d, offset %d: %w", me, off, err)
		}
		if b.Fetch {
			r.Old[k] = old
		}
		if r.Swapped != nil {
			r.Swapped[k] = ok
		}
	}
	return r, nil
}

// registerStruct adds T's struct AM to w's registry (once per type); its
// error names a field the codec cannot carry.
func registerStruct[T comparable](w *am.World) error {
	t := reflect.TypeFor[T]()
	err := am.Register[structAM[T], structResult[T]](w.Registry(), "gshmem.array.struct."+t.PkgPath()+"."+t.String())
	if errors.Is(err, am.ErrDuplicate) {
		return nil
	}
	return err
}

// lockSpin is how many yields a lock wait makes between looks at whether
// a peer died (the holder may be a process that died holding it).
const lockSpin = 256

// lock takes the lock word l; it gives up, with the error that says so,
// when ctx ends or a peer has died while it waited.
func (in *structInst[T]) lock(ctx context.Context, l *uint32) error {
	for i := 1; !atomic.CompareAndSwapUint32(l, 0, 1); i++ {
		runtime.Gosched()
		if i%lockSpin == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := in.fab.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply runs op on element off of PE pe, which this PE maps, under its
// lock: it returns the element's value before and, for a
// compare-exchange, whether it replaced it.
func (in *structInst[T]) apply(ctx context.Context, pe, off int, op uint8, cur, v T) (T, bool, error) {
	l := &in.locks[pe][off]
	if err := in.lock(ctx, l); err != nil {
		var zero T
		return zero, false, err
	}
	e := &in.elems[pe][off]
	old := *e
	swapped := false
	switch op {
	case structLoad:
	case structSet, structSwap:
		*e = v
	case structCAS:
		if old == cur {
			*e, swapped = v, true
		}
	default:
		*e = in.ops[op-structUser](old, v)
	}
	atomic.StoreUint32(l, 0)
	return old, swapped, nil
}

// live returns ErrClosed once this handle was dropped or closed.
func (a *StructArray[T]) live(op string) error {
	if a == nil || a.s == nil || a.h == nil || a.d == nil {
		return fmt.Errorf("array: %s: %w: nil or zero array", op, errdefs.ErrInvalidArg)
	}
	if a.h.dropped.Load() || a.d.Get() == nil {
		return fmt.Errorf("array: %s: %w: the handle was dropped or closed", op, errdefs.ErrClosed)
	}
	return nil
}

// opNumber is the number of user operation name.
func (a *StructArray[T]) opNumber(op, name string) (uint8, error) {
	k, ok := slices.BinarySearch(a.s.names, name)
	if !ok {
		return 0, fmt.Errorf("array: %s: %w: no operation %q (the array has %q)", op, errdefs.ErrInvalidArg, name, a.s.names)
	}
	return structUser + uint8(k), nil
}

// Len is the number of elements.
func (a *StructArray[T]) Len() int { return a.l.Len() }

// Distribution is how the elements are spread over the PEs.
func (a *StructArray[T]) Distribution() Distribution { return a.l.dist }

// NumPEs is the number of PEs the array spans.
func (a *StructArray[T]) NumPEs() int { return a.l.npes }

// PEAndOffset returns the PE that holds element i and its offset there
// (see AtomicArray.PEAndOffset).
func (a *StructArray[T]) PEAndOffset(i int) (pe, off int, err error) { return a.l.PEAndOffset(i) }

// NumElemsLocal is the number of elements this PE holds.
func (a *StructArray[T]) NumElemsLocal() int { return a.l.LocalLen(a.pe.MyPE()) }

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, sharing its data, to Drop.
func (a *StructArray[T]) SubArray(lo, hi int) (*StructArray[T], error) {
	const op = "sub-array"
	if err := a.live(op); err != nil {
		return nil, err
	}
	l, err := a.l.sub(lo, hi)
	if err != nil {
		return nil, err
	}
	c, err := a.clone(op)
	if err != nil {
		return nil, err
	}
	c.l = l
	return c, nil
}

// Clone returns another reference to the array, with this handle's view.
func (a *StructArray[T]) Clone() (*StructArray[T], error) { return a.clone("clone") }

func (a *StructArray[T]) clone(op string) (*StructArray[T], error) {
	if err := a.live(op); err != nil {
		return nil, err
	}
	d, err := a.d.Clone()
	if err != nil {
		return nil, fmt.Errorf("array: %s: %w", op, err)
	}
	c := *a
	c.d, c.h = d, &ref{}
	return &c, nil
}

// Drop releases this handle (see AtomicArray.Drop).
func (a *StructArray[T]) Drop() error { return a.drop("drop") }

func (a *StructArray[T]) drop(op string) error {
	if a == nil || a.s == nil || a.h == nil || a.d == nil {
		return fmt.Errorf("array: %s: %w: nil or zero array", op, errdefs.ErrInvalidArg)
	}
	if a.h.dropped.Swap(true) {
		return fmt.Errorf("array: %s: %w: the handle was dropped or closed already", op, errdefs.ErrClosed)
	}
	if err := a.d.Drop(); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// Close drops this handle and waits until the array is freed (see
// AtomicArray.Close): collective.
func (a *StructArray[T]) Close(ctx context.Context) error {
	const op = "close"
	if err := a.live(op); err != nil {
		return err
	}
	if ctx == nil {
		return fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	return closeStore(ctx, op, a.w, a.s.life, a.drop, a.d.LocalRefs)
}

// one does one operation on element i and returns a future of finish of
// its result: done at once on a PE this one maps, else by an AM.
func one[T comparable, S any](a *StructArray[T], op string, code uint8, i int, cur, v T, finish func(Exchanged[T]) S) *am.Future[S] {
	var zero S
	if err := a.live(op); err != nil {
		return am.Completed(zero, err)
	}
	pe, off, err := a.l.PEAndOffset(i)
	if err != nil {
		return am.Completed(zero, fmt.Errorf("array: %s: %w", op, err))
	}
	if a.s.inst.elems[pe] != nil {
		old, ok, err := a.s.inst.apply(context.Background(), pe, off, code, cur, v)
		if err != nil {
			return am.Completed(zero, fmt.Errorf("array: %s of element %d: %w", op, i, err))
		}
		return am.Completed(finish(Exchanged[T]{old, ok}), nil)
	}
	m := structAM[T]{Array: a.d, Op: code, Offs: []int64{int64(off)}, Vals: []T{v}, Cur: []T{cur}, Fetch: true}
	return am.ExecMany(a.w, []int{pe}, []structAM[T]{m}, func(rs []structResult[T]) (S, error) {
		x := Exchanged[T]{Old: rs[0].Old[0]}
		if rs[0].Swapped != nil {
			x.Swapped = rs[0].Swapped[0]
		}
		return finish(x), nil
	})
}

// Load returns element i.
func (a *StructArray[T]) Load(i int) *am.Future[T] {
	var zero T
	return one(a, "load", structLoad, i, zero, zero, old[T])
}

// Store sets element i to v.
func (a *StructArray[T]) Store(i int, v T) *am.Future[am.Unit] {
	var zero T
	return one(a, "store", structSet, i, zero, v, unit[Exchanged[T]])
}

// Swap sets element i to v and returns its value before.
func (a *StructArray[T]) Swap(i int, v T) *am.Future[T] {
	var zero T
	return one(a, "swap", structSwap, i, zero, v, old[T])
}

// CompareExchange sets element i to v if it equals cur (==) and returns
// its value before and whether it replaced it.
func (a *StructArray[T]) CompareExchange(i int, cur, v T) *am.Future[Exchanged[T]] {
	return one(a, "compare-exchange", structCAS, i, cur, v, same[Exchanged[T]])
}

// Apply runs the user operation name with operand v on element i, on the
// element's PE under its lock, and returns the element's value before.
func (a *StructArray[T]) Apply(name string, i int, v T) *am.Future[T] {
	code, err := a.opNumber("apply", name)
	if err != nil {
		return am.Completed(v, err)
	}
	var zero T
	return one(a, "apply "+name, code, i, zero, v, old[T])
}

func old[T any](x Exchanged[T]) T { return x.Old }

// structBatch runs op on the elements idx (vals and, for a
// compare-exchange, cur paired with them as BatchApply says): in place on
// the PEs this one maps, by one AM per other PE (per AMSizeThreshold bytes
// of operations: each an offset and its operands).
func structBatch[T comparable, S any](a *StructArray[T], op string, code uint8, idx []int, cur, vals []T, finish func([]Exchanged[T]) S) *am.Future[S] {
	var zero S
	n, err := batchLen(op, len(idx), len(vals))
	if err == nil && code == structCAS && n > 0 {
		// The expected values pair up too: one, or one per operation.
		if n = max(n, len(cur)); len(cur) != n && len(cur) != 1 || len(idx) != n && len(idx) != 1 || len(vals) != n && len(vals) != 1 {
			err = fmt.Errorf("array: %s: %w: %d indices, %d expected values and %d new ones (want equal counts, or one of any)", op, errdefs.ErrInvalidArg, len(idx), len(cur), len(vals))
		}
	}
	if err == nil {
		err = a.live(op)
	}
	for k := 0; err == nil && k < len(idx); k++ {
		if idx[k] < 0 || idx[k] >= a.l.Len() {
			err = fmt.Errorf("array: %s: batch position %d: %w", op, k, a.l.check(idx[k]))
		}
	}
	if err != nil || n == 0 {
		return am.Completed(zero, err)
	}
	in := a.s.inst
	out := make([]Exchanged[T], n)
	type bucket struct {
		pos        []int
		offs       []int64
		vals, curs []T
	}
	buckets := map[int]*bucket{}
	for k := range n {
		i := pick(idx, k)
		pe, off := a.l.owner(a.l.lo + i)
		var c T
		if code == structCAS {
			c = pick(cur, k)
		}
		if in.elems[pe] == nil {
			bk := buckets[pe]
			if bk == nil {
				bk = &bucket{}
				buckets[pe] = bk
			}
			bk.pos, bk.offs = append(bk.pos, k), append(bk.offs, int64(off))
			bk.vals = append(bk.vals, pick(vals, k))
			if code == structCAS {
				bk.curs = append(bk.curs, c)
			}
			continue
		}
		o, ok, err := in.apply(context.Background(), pe, off, code, c, pick(vals, k))
		if err != nil {
			return am.Completed(zero, fmt.Errorf("array: %s: element %d (batch position %d): %w", op, i, k, err))
		}
		out[k] = Exchanged[T]{o, ok}
	}
	if len(buckets) == 0 {
		return am.Completed(finish(out), nil)
	}
	opBytes := 8 + int(reflect.TypeFor[T]().Size())
	if code == structCAS {
		opBytes += int(reflect.TypeFor[T]().Size())
	}
	perAM := opsPerAM(a.pe.Config().AMSizeThreshold, opBytes)
	var pes []int
	var ams []structAM[T]
	var pos [][]int
	for pe := range a.l.npes {
		bk := buckets[pe]
		if bk == nil {
			continue
		}
		for lo := 0; lo < len(bk.offs); lo += perAM {
			hi := min(lo+perAM, len(bk.offs))
			m := structAM[T]{Array: a.d, Op: code, Offs: bk.offs[lo:hi], Vals: bk.vals[lo:hi], Fetch: true}
			if code == structCAS {
				m.Cur = bk.curs[lo:hi]
			}
			pes, ams, pos = append(pes, pe), append(ams, m), append(pos, bk.pos[lo:hi])
		}
	}
	return am.ExecMany(a.w, pes, ams, func(rs []structResult[T]) (S, error) {
		for i, r := range rs {
			for k, p := range pos[i] {
				out[p].Old = r.Old[k]
				if r.Swapped != nil {
					out[p].Swapped = r.Swapped[k]
				}
			}
		}
		return finish(out), nil
	})
}

// olds is the values before of a batch's results.
func olds[T any](xs []Exchanged[T]) []T {
	out := make([]T, len(xs))
	for k, x := range xs {
		out[k] = x.Old
	}
	return out
}

// BatchLoad returns the elements idx, in order.
func (a *StructArray[T]) BatchLoad(idx []int) *am.Future[[]T] {
	return structBatch(a, "batch load", structLoad, idx, nil, make([]T, 1), olds[T])
}

// BatchStore stores vals at idx (paired as AtomicArray.BatchApply says).
func (a *StructArray[T]) BatchStore(idx []int, vals []T) *am.Future[am.Unit] {
	return structBatch(a, "batch store", structSet, idx, nil, vals, unit[[]Exchanged[T]])
}

// BatchSwap stores vals at idx and returns the values before, in order.
func (a *StructArray[T]) BatchSwap(idx []int, vals []T) *am.Future[[]T] {
	return structBatch(a, "batch swap", structSwap, idx, nil, vals, olds[T])
}

// BatchCompareExchange does a compare-exchange per index (cur and vals
// paired with idx as in BatchApply) and returns the results in order.
func (a *StructArray[T]) BatchCompareExchange(idx []int, cur, vals []T) *am.Future[[]Exchanged[T]] {
	return structBatch(a, "batch compare-exchange", structCAS, idx, cur, vals, same[[]Exchanged[T]])
}

// BatchApply runs the user operation name on the elements idx with vals
// (paired as AtomicArray.BatchApply says) and returns the values before,
// in order.
func (a *StructArray[T]) BatchApply(name string, idx []int, vals []T) *am.Future[[]T] {
	code, err := a.opNumber("batch apply", name)
	if err != nil {
		return am.Completed[[]T](nil, err)
	}
	return structBatch(a, "batch apply "+name, code, idx, nil, vals, olds[T])
}

// Local returns this PE's elements in index order, as (index, value),
// each read under its lock.
func (a *StructArray[T]) Local() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		if a.live("local iterator") != nil {
			return
		}
		me := a.pe.MyPE()
		from, to := a.l.localRange(me)
		var zero T
		for off := from; off < to; off++ {
			v, _, err := a.s.inst.apply(context.Background(), me, off, structLoad, zero, zero)
			if err != nil || !yield(a.l.global(me, off), v) {
				return
			}
		}
	}
}

// OneSided returns an iterator over the whole array in index order, as
// (index, value), for this PE alone: it loads buf elements at a time (0
// or less: DefaultBuffer) with a batch load, each element read under its
// lock. The function returned with it reports why the walk stopped early.
func (a *StructArray[T]) OneSided(ctx context.Context, buf int) (iter.Seq2[int, T], func() error) {
	if buf <= 0 {
		buf = DefaultBuffer
	}
	var err error
	seq := func(yield func(int, T) bool) {
		if err = a.live("one-sided iterator"); err != nil {
			return
		}
		idx := make([]int, 0, min(buf, a.Len()))
		for lo := 0; lo < a.Len(); lo += buf {
			idx = idx[:0]
			for i := lo; i < min(lo+buf, a.Len()); i++ {
				idx = append(idx, i)
			}
			var vals []T
			if vals, err = a.BatchLoad(idx).Wait(ctx); err != nil {
				return
			}
			for k, v := range vals {
				if !yield(lo+k, v) {
					return
				}
			}
		}
	}
	return seq, func() error { return err }
}
