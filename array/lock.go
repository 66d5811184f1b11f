package array

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// LocalLockArray is a distributed array whose data on each PE is guarded
// by a read/write lock of that PE (its am.LocalRwDarc's). An element
// operation runs on the PE that holds the element, under that PE's lock,
// as an AM (on this PE too, run by a handler goroutine): loads under the
// read lock, everything else under the write lock. A batch sends one AM
// per PE (per 8192 operations), which takes that PE's lock once: the
// batch's operations on one PE are one step for that PE's readers and
// writers, not across PEs. ReadLocalData and WriteLocalData hand this PE's
// part to a function under its lock.
//
// A function holding the lock must not wait for an operation that needs
// it (an element operation on this PE's elements, from WriteLocalData):
// the wait ends only with its context.
type LocalLockArray[T Number] struct{ lockBase[T] }

// GlobalLockArray is a distributed array guarded by one read/write lock
// across every PE (its am.GlobalRwDarc's, kept on PE 0). Read and Write
// hand this PE's part to a function under the global read or write lock;
// CollectiveWrite does so on every PE at once, under one write lock.
// Element operations run from this PE, by a handler goroutine, under the
// global lock: loads (Load, BatchLoad) under the read lock, as they change
// nothing, so they run beside each other and beside Read; every operation
// that changes an element (a batch of them too) under the write lock,
// held for the whole operation or batch, so that no Read on any PE sees
// an element change and no one sees half a batch. Under the lock, the
// elements are reached as AtomicArray's are (CPU atomics where mapped,
// the fabric's otherwise).
//
// A function holding the lock must not wait for an element operation of
// the array that needs it: the wait ends only with its context.
type GlobalLockArray[T Number] struct{ lockBase[T] }

// lockBase is what the two lock kinds share: their element operations.
type lockBase[T Number] struct{ base[T] }

// NewLocalLockArray makes, collectively on every PE of w, a zeroed
// local-lock array of n elements of T spread by d.
func NewLocalLockArray[T Number](ctx context.Context, w *am.World, n int, d Distribution) (*LocalLockArray[T], error) {
	b, err := newBase[T](ctx, "new local-lock array", w, n, d, kindLocalLock)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// NewGlobalLockArray makes, collectively on every PE of w, a zeroed
// global-lock array of n elements of T spread by d.
func NewGlobalLockArray[T Number](ctx context.Context, w *am.World, n int, d Distribution) (*GlobalLockArray[T], error) {
	b, err := newBase[T](ctx, "new global-lock array", w, n, d, kindGlobalLock)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// localPart is this PE's part of the view in sh's data.
func (b *base[T]) localPart(sh *shared[T]) []T {
	from, to := b.localIndices()
	return shmem.Local(sh.pe, shmem.As[T](sh.s.data).Slice(0, b.l.capacity()))[from:to]
}

// withLocal runs fn on this PE's part under the lock (write: the write
// lock) of a lock kind's handle.
func (a *lockBase[T]) withLocal(ctx context.Context, op string, write bool, fn func([]T) error) error {
	if err := a.live(op); err != nil {
		return err
	}
	if ctx == nil || fn == nil {
		return fmt.Errorf("array: %s: %w: nil context or function", op, errdefs.ErrInvalidArg)
	}
	if err := a.locked(ctx, write, func(sh *shared[T]) error { return fn(a.localPart(sh)) }); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// locked runs fn under the array's lock: this PE's (LocalLockArray) or
// the global one (GlobalLockArray), for writing or for reading.
func (a *lockBase[T]) locked(ctx context.Context, write bool, fn func(*shared[T]) error) error {
	f := func(p **shared[T]) error { return fn(*p) }
	switch {
	case a.ld != nil && write:
		return a.ld.Write(ctx, f)
	case a.ld != nil:
		return a.ld.Read(ctx, f)
	case write:
		return a.gd.Write(ctx, f)
	default:
		return a.gd.Read(ctx, f)
	}
}

// lockIter is an iterator over a's elements whose consumers walk this
// PE's part under the array's lock (read or write): taken for the walk,
// released before a distributed consumer's collective end, so that no
// PE holds it while it waits for the others.
func lockIter[M Mode, T Number, E any](a *lockBase[T], write bool, mk func() (func(off, g int) E, error)) Iter[M, E] {
	it := fromArray[M](&a.base, mk)
	it.src.guard = func(ctx context.Context, _ string, walk func() error) error {
		return a.locked(ctx, write, func(*shared[T]) error { return walk() })
	}
	return it
}

// DistIter returns the distributed iterator over the array as (index,
// value) items: each PE's consumer walks the elements it holds under the
// read lock (a LocalLockArray's of that PE, a GlobalLockArray's global
// one), so no writer changes them during the walk.
func (a *lockBase[T]) DistIter() Dist[Indexed[T]] {
	if a == nil {
		return nilArray[Distributed, Indexed[T]]("distributed iterator")
	}
	return lockIter[Distributed](a, false, a.values)
}

// LocalIter returns the local iterator over this PE's elements as
// (index, value) items, walked under the read lock (see DistIter).
func (a *lockBase[T]) LocalIter() Local[Indexed[T]] {
	if a == nil {
		return nilArray[OnPE, Indexed[T]]("local iterator")
	}
	return lockIter[OnPE](a, false, a.values)
}

// DistIterMut returns the distributed iterator over the array as (index,
// pointer) items into this PE's part, walked under the write lock: no
// other reader or writer (on a GlobalLockArray, on any PE: the PEs' walks
// take turns) while a consumer changes the elements in place.
func (a *lockBase[T]) DistIterMut() Dist[Indexed[*T]] {
	if a == nil {
		return nilArray[Distributed, Indexed[*T]]("distributed iterator")
	}
	return lockIter[Distributed](a, true, a.refs)
}

// LocalIterMut returns the local iterator over this PE's elements as
// (index, pointer) items, walked under the write lock (see DistIterMut).
func (a *lockBase[T]) LocalIterMut() Local[Indexed[*T]] {
	if a == nil {
		return nilArray[OnPE, Indexed[*T]]("local iterator")
	}
	return lockIter[OnPE](a, true, a.refs)
}

// ReadLocalData runs fn on this PE's part of the array, in index order,
// under this PE's read lock (shared with other readers), and returns its
// error. The slice is valid only while fn runs; fn must not change it.
func (a *LocalLockArray[T]) ReadLocalData(ctx context.Context, fn func([]T) error) error {
	return a.withLocal(ctx, "read local data", false, fn)
}

// WriteLocalData runs fn on this PE's part of the array under this PE's
// write lock (no reader or writer beside it) and returns its error. The
// slice is valid only while fn runs.
func (a *LocalLockArray[T]) WriteLocalData(ctx context.Context, fn func([]T) error) error {
	return a.withLocal(ctx, "write local data", true, fn)
}

// Read runs fn on this PE's part of the array, in index order, under the
// global read lock (shared with readers on every PE, excluding writers
// everywhere), and returns its error. The slice is valid only while fn
// runs; fn must not change it.
func (a *GlobalLockArray[T]) Read(ctx context.Context, fn func([]T) error) error {
	return a.withLocal(ctx, "read", false, fn)
}

// Write runs fn on this PE's part of the array under the global write
// lock (no reader or writer on any PE beside it) and returns its error.
func (a *GlobalLockArray[T]) Write(ctx context.Context, fn func([]T) error) error {
	return a.withLocal(ctx, "write", true, fn)
}

// CollectiveWrite is collective: after a barrier (every PE's Read and
// Write before it are done), the PEs take the global write lock once,
// every PE runs fn on its own part, and the lock is released when all are
// done. It returns this PE's fn's error.
func (a *GlobalLockArray[T]) CollectiveWrite(ctx context.Context, fn func([]T) error) error {
	const op = "collective write"
	if err := a.live(op); err != nil {
		return err
	}
	if ctx == nil || fn == nil {
		return fmt.Errorf("array: %s: %w: nil context or function", op, errdefs.ErrInvalidArg)
	}
	// A barrier first: PE 0 takes the write lock as it enters, so a PE
	// still in a Read or Write of its own before this call would wait for
	// it, and PE 0 for that PE.
	if err := a.pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	if err := a.gd.CollectiveWrite(ctx, func(p **shared[T]) error { return fn(a.localPart(*p)) }); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// ---- element operations ----

// opCAS is the compare-exchange, in the lock AMs' Op field.
const opCAS = 255

// lockAM runs a LocalLockArray's operations on the elements of the PE it
// is sent to, under that PE's lock: loads under the read lock, the rest
// under the write lock.
type lockAM[T Number] struct {
	A     *LocalLockArray[T] // the array on the receiving PE
	Op    uint8              // an Op, or opCAS
	Offs  []int64            // local offsets, in the batch's order
	Vals  []T                // one per offset, or one for all
	Cur   []T                // compare-exchange: the values expected (one per offset, or one)
	Eps   T                  // compare-exchange: the tolerance (floats)
	Fetch bool               // return the values before
}

// Exec applies the operations in order under the lock and returns the
// values before (nil without Fetch).
func (m lockAM[T]) Exec(ctx *am.Context) ([]T, error) {
	if ctx.Origin() == ctx.MyPE() && m.A != nil {
		// Sent to this PE, so not encoded: A is a clone run made for
		// it (an AM from another PE carries a handle am drops).
		defer m.A.Drop()
	}
	me := ctx.MyPE()
	if m.A == nil || m.A.ld == nil {
		return nil, fmt.Errorf("array: local-lock batch on PE %d: %w: no array", me, errdefs.ErrInvalidArg)
	}
	job := lockJob[T]{op: m.Op, vals: m.Vals, cur: m.Cur, eps: m.Eps, fetch: m.Fetch}
	if len(m.Vals) != 1 && len(m.Vals) != len(m.Offs) || m.Op == opCAS && len(m.Cur) != 1 && len(m.Cur) != len(m.Offs) {
		return nil, fmt.Errorf("array: local-lock batch on PE %d: %w: %d values and %d current values for %d offsets", me, errdefs.ErrInvalidArg, len(m.Vals), len(m.Cur), len(m.Offs))
	}
	if m.Op != opCAS && Op(m.Op) >= numOps {
		return nil, fmt.Errorf("array: local-lock batch on PE %d: %w: %v", me, errdefs.ErrInvalidArg, Op(m.Op))
	}
	f := func(p **shared[T]) error {
		e := (*p).e
		words := len(e.mapped[me])
		for _, off := range m.Offs {
			if off < 0 || uintptr(off+1)*e.tr.size > uintptr(words) {
				return fmt.Errorf("%w: offset %d", errdefs.ErrInvalidArg, off)
			}
		}
		var err error
		job.out, err = job.apply(e, me, nil, m.Offs)
		return err
	}
	var err error
	if job.reads() {
		err = m.A.ld.Read(ctx, f)
	} else {
		err = m.A.ld.Write(ctx, f)
	}
	if err != nil {
		return nil, fmt.Errorf("array: local-lock %s on PE %d: %w", job.name(), me, err)
	}
	return job.out, nil
}

// globalAM runs a GlobalLockArray's operation or batch on this PE, under
// the global lock. It never travels: job is not encoded.
type globalAM[T Number] struct {
	G   *GlobalLockArray[T] // a clone the handler drops
	job *lockJob[T]
}

// AppendBinary implements encoding.BinaryAppender: a globalAM runs only
// on the PE that made it, so encoding one is an error.
func (m globalAM[T]) AppendBinary(b []byte) ([]byte, error) {
	return b, fmt.Errorf("array: global-lock operation: %w: it runs only on the PE that made it", errdefs.ErrInvalidArg)
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler (see
// AppendBinary).
func (m *globalAM[T]) UnmarshalBinary([]byte) error {
	return fmt.Errorf("array: global-lock operation: %w: it runs only on the PE that made it", errdefs.ErrInvalidArg)
}

// Exec takes the global lock, applies the job and returns the values
// before (nil without fetch).
func (m globalAM[T]) Exec(ctx *am.Context) ([]T, error) {
	if m.G != nil {
		defer m.G.Drop()
	}
	if m.G == nil || m.G.gd == nil || m.job == nil {
		return nil, fmt.Errorf("array: global-lock operation on PE %d: %w: it came from another PE", ctx.MyPE(), errdefs.ErrInvalidArg)
	}
	job := m.job
	f := func(p **shared[T]) error {
		var err error
		job.out, err = job.apply((*p).e, -1, job.pes, job.offs)
		return err
	}
	var err error
	if job.reads() {
		err = m.G.gd.Read(ctx, f)
	} else {
		err = m.G.gd.Write(ctx, f)
	}
	if err != nil {
		return nil, fmt.Errorf("array: global-lock %s: %w", job.name(), err)
	}
	return job.out, nil
}

// lockJob is a batch of one operation under a lock.
type lockJob[T Number] struct {
	op        uint8 // an Op, or opCAS
	vals, cur []T
	eps       T
	fetch     bool
	idx       []int   // the indices, for errors (global jobs)
	pes       []int   // the elements' PEs (global jobs)
	offs      []int64 // their offsets (global jobs)
	out       []T
}

func (j *lockJob[T]) reads() bool { return j.op == uint8(OpLoad) }

func (j *lockJob[T]) name() string {
	if j.op == opCAS {
		return "compare-exchange"
	}
	return Op(j.op).String()
}

// apply does the job's operations on the elements at offs (on PE pe, or
// on pes[k] for the k-th), in order, and returns the values before (with
// fetch or for compare-exchange).
func (j *lockJob[T]) apply(e *elems[T], pe int, pes []int, offs []int64) ([]T, error) {
	var out []T
	if j.fetch || j.op == opCAS {
		out = make([]T, len(offs))
	}
	for k, off := range offs {
		if pes != nil {
			pe = pes[k]
		}
		var old T
		var err error
		if j.op == opCAS {
			old, _, err = e.compareExchange(pe, int(off), pick(j.cur, k), pick(j.vals, k), j.eps)
		} else {
			old, err = e.apply(pe, int(off), Op(j.op), pick(j.vals, k))
		}
		if err != nil {
			at := fmt.Sprintf("offset %d on PE %d", off, pe)
			if j.idx != nil {
				at = fmt.Sprintf("element %d (batch position %d)", j.idx[min(k, len(j.idx)-1)], k)
			}
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if out != nil {
			out[k] = old
		}
	}
	return out, nil
}

// registerLock adds T's lock AMs to w's registry (once per type).
func registerLock[T Number](w *am.World) error {
	t := reflect.TypeFor[T]()
	name := "gshmem.array.lock." + t.PkgPath() + "." + t.Name()
	err := am.Register[lockAM[T], []T](w.Registry(), name)
	if err == nil || errors.Is(err, am.ErrDuplicate) {
		err = am.Register[globalAM[T], []T](w.Registry(), "gshmem.array.globallock."+t.PkgPath()+"."+t.Name())
	}
	if errors.Is(err, am.ErrDuplicate) {
		return nil
	}
	return err
}

// check checks a batch of op (or opCAS) of n operations on idx with vals
// (and cur) before anything runs.
func (a *lockBase[T]) check(name string, op uint8, idx []int, vals, cur []T) (int, error) {
	nv := len(vals)
	if op == opCAS {
		if len(cur) != len(vals) && len(cur) != 1 && len(vals) != 1 {
			return 0, fmt.Errorf("array: %s: %w: %d current values and %d new ones", name, errdefs.ErrInvalidArg, len(cur), len(vals))
		}
		nv = max(len(cur), len(vals))
	}
	n, err := batchLen(name, len(idx), nv)
	if err != nil {
		return 0, err
	}
	if err := a.checkBatch(name, idx); err != nil {
		return 0, err
	}
	if n > 0 && op != opCAS {
		for _, v := range vals {
			if err := a.e.check(Op(op), v); err != nil {
				return 0, fmt.Errorf("array: %s: %w", name, err)
			}
		}
	}
	return n, nil
}

// run does a checked job of n operations on idx and returns a future of
// finish over the values before, in the batch's order.
func run[T Number, S any](a *lockBase[T], j *lockJob[T], idx []int, n int, finish func([]T) (S, error)) *am.Future[S] {
	var zero S
	if n == 0 {
		return am.Completed(finish(nil))
	}
	if a.gd != nil {
		j.idx = idx
		j.pes, j.offs = make([]int, n), make([]int64, n)
		for k := range n {
			pe, off := a.owner(idx[min(k, len(idx)-1)])
			j.pes[k], j.offs[k] = pe, int64(off)
		}
		c, err := a.clone("clone for an operation")
		if err != nil {
			return am.Completed(zero, err)
		}
		g := &GlobalLockArray[T]{lockBase[T]{c}}
		return am.ExecMany(a.w, []int{a.pe.MyPE()}, []globalAM[T]{{G: g, job: j}}, func(rs [][]T) (S, error) {
			return finish(rs[0])
		})
	}
	type bucket struct {
		pos       []int
		offs      []int64
		vals, cur []T
	}
	buckets := make([]bucket, a.l.npes)
	for k := range n {
		pe, off := a.owner(idx[min(k, len(idx)-1)])
		bk := &buckets[pe]
		bk.pos, bk.offs = append(bk.pos, k), append(bk.offs, int64(off))
		if len(j.vals) > 1 {
			bk.vals = append(bk.vals, j.vals[k])
		}
		if len(j.cur) > 1 {
			bk.cur = append(bk.cur, j.cur[k])
		}
	}
	me := a.pe.MyPE()
	var pes []int
	var ams []lockAM[T]
	var pos [][]int
	// As the other kinds' batches: GSHMEM_AM_SIZE_THRESHOLD bytes of
	// operations per AM (an offset, and each operand given per index).
	opBytes := 8
	if len(j.vals) > 1 {
		opBytes += int(traitsOf[T]().size)
	}
	if len(j.cur) > 1 {
		opBytes += int(traitsOf[T]().size)
	}
	perAM := opsPerAM(a.pe.Config().AMSizeThreshold, opBytes)
	for pe := range buckets {
		bk := &buckets[pe]
		for lo := 0; lo < len(bk.offs); lo += perAM {
			hi := min(lo+perAM, len(bk.offs))
			m := lockAM[T]{A: &LocalLockArray[T]{*a}, Op: j.op, Offs: bk.offs[lo:hi], Eps: j.eps, Fetch: j.fetch || j.op == opCAS}
			m.Vals = pickRange(j.vals, bk.vals, lo, hi)
			if j.op == opCAS {
				m.Cur = pickRange(j.cur, bk.cur, lo, hi)
			}
			if pe == me {
				c, err := a.clone("clone for an operation")
				if err != nil {
					for i, m := range ams {
						if pes[i] == me {
							m.A.Drop()
						}
					}
					return am.Completed(zero, err)
				}
				m.A = &LocalLockArray[T]{lockBase[T]{c}}
			}
			pes, ams, pos = append(pes, pe), append(ams, m), append(pos, bk.pos[lo:hi])
		}
	}
	fetch := j.fetch || j.op == opCAS
	return am.ExecMany(a.w, pes, ams, func(rs [][]T) (S, error) {
		out := make([]T, n)
		if fetch {
			for i, r := range rs {
				if len(r) != len(pos[i]) {
					return zero, fmt.Errorf("array: local-lock %s: PE %d returned %d values for %d operations", j.name(), pes[i], len(r), len(pos[i]))
				}
				for k, p := range pos[i] {
					out[p] = r[k]
				}
			}
		}
		return finish(out)
	})
}

// pickRange is the values of a bucket's operations [lo, hi): the one
// value for all, or the bucket's share.
func pickRange[T any](all, bucket []T, lo, hi int) []T {
	if len(all) <= 1 {
		return all
	}
	return bucket[lo:hi]
}

// Apply does op with operand v on element i, under the lock, and returns
// the element's value before (for OpStore, v; OpLoad ignores v).
func (a *lockBase[T]) Apply(op Op, i int, v T) *am.Future[T] {
	return a.one(uint8(op), i, v, 0, 0, true)
}

// one runs a single operation and returns its value before.
func (a *lockBase[T]) one(op uint8, i int, v, cur, eps T, fetch bool) *am.Future[T] {
	name := Op(op).String()
	if op == opCAS {
		name = "compare-exchange"
	}
	if _, _, err := a.at(name, i); err != nil {
		return am.Completed(v, err)
	}
	if op != opCAS {
		if err := a.e.check(Op(op), v); err != nil {
			return am.Completed(v, fmt.Errorf("array: %s of element %d: %w", name, i, err))
		}
	}
	j := &lockJob[T]{op: op, vals: []T{v}, cur: []T{cur}, eps: eps, fetch: fetch}
	return run(a, j, []int{i}, 1, func(r []T) (T, error) {
		if len(r) == 0 {
			return v, nil
		}
		return r[0], nil
	})
}

// unit is Apply for the operations whose result is only their error.
func (a *lockBase[T]) unit(op Op, i int, v T) *am.Future[am.Unit] {
	name := op.String()
	if _, _, err := a.at(name, i); err != nil {
		return am.Completed(am.Unit{}, err)
	}
	if err := a.e.check(op, v); err != nil {
		return am.Completed(am.Unit{}, fmt.Errorf("array: %s of element %d: %w", name, i, err))
	}
	j := &lockJob[T]{op: uint8(op), vals: []T{v}}
	return run(a, j, []int{i}, 1, func([]T) (am.Unit, error) { return am.Unit{}, nil })
}

// Load returns element i (under the read lock).
func (a *lockBase[T]) Load(i int) *am.Future[T] { return a.Apply(OpLoad, i, 0) }

// Store sets element i to v.
func (a *lockBase[T]) Store(i int, v T) *am.Future[am.Unit] { return a.unit(OpStore, i, v) }

// Swap sets element i to v and returns its value before.
func (a *lockBase[T]) Swap(i int, v T) *am.Future[T] { return a.Apply(OpSwap, i, v) }

// Add adds v to element i.
func (a *lockBase[T]) Add(i int, v T) *am.Future[am.Unit] { return a.unit(OpAdd, i, v) }

// FetchAdd adds v to element i and returns its value before.
func (a *lockBase[T]) FetchAdd(i int, v T) *am.Future[T] { return a.Apply(OpAdd, i, v) }

// Sub subtracts v from element i.
func (a *lockBase[T]) Sub(i int, v T) *am.Future[am.Unit] { return a.unit(OpSub, i, v) }

// FetchSub subtracts v from element i and returns its value before.
func (a *lockBase[T]) FetchSub(i int, v T) *am.Future[T] { return a.Apply(OpSub, i, v) }

// Mul multiplies element i by v.
func (a *lockBase[T]) Mul(i int, v T) *am.Future[am.Unit] { return a.unit(OpMul, i, v) }

// FetchMul multiplies element i by v and returns its value before.
func (a *lockBase[T]) FetchMul(i int, v T) *am.Future[T] { return a.Apply(OpMul, i, v) }

// Div divides element i by v (an integer v of 0 is an error).
func (a *lockBase[T]) Div(i int, v T) *am.Future[am.Unit] { return a.unit(OpDiv, i, v) }

// FetchDiv divides element i by v and returns its value before.
func (a *lockBase[T]) FetchDiv(i int, v T) *am.Future[T] { return a.Apply(OpDiv, i, v) }

// Rem sets element i to its remainder by v (integers).
func (a *lockBase[T]) Rem(i int, v T) *am.Future[am.Unit] { return a.unit(OpRem, i, v) }

// FetchRem sets element i to its remainder by v and returns its value
// before.
func (a *lockBase[T]) FetchRem(i int, v T) *am.Future[T] { return a.Apply(OpRem, i, v) }

// And ands element i with v (integers).
func (a *lockBase[T]) And(i int, v T) *am.Future[am.Unit] { return a.unit(OpAnd, i, v) }

// FetchAnd ands element i with v and returns its value before.
func (a *lockBase[T]) FetchAnd(i int, v T) *am.Future[T] { return a.Apply(OpAnd, i, v) }

// Or ors element i with v (integers).
func (a *lockBase[T]) Or(i int, v T) *am.Future[am.Unit] { return a.unit(OpOr, i, v) }

// FetchOr ors element i with v and returns its value before.
func (a *lockBase[T]) FetchOr(i int, v T) *am.Future[T] { return a.Apply(OpOr, i, v) }

// Xor xors element i with v (integers).
func (a *lockBase[T]) Xor(i int, v T) *am.Future[am.Unit] { return a.unit(OpXor, i, v) }

// FetchXor xors element i with v and returns its value before.
func (a *lockBase[T]) FetchXor(i int, v T) *am.Future[T] { return a.Apply(OpXor, i, v) }

// Shl shifts element i left by v bits (integers, v at least 0).
func (a *lockBase[T]) Shl(i int, v T) *am.Future[am.Unit] { return a.unit(OpShl, i, v) }

// FetchShl shifts element i left by v bits and returns its value before.
func (a *lockBase[T]) FetchShl(i int, v T) *am.Future[T] { return a.Apply(OpShl, i, v) }

// Shr shifts element i right by v bits (integers, v at least 0).
func (a *lockBase[T]) Shr(i int, v T) *am.Future[am.Unit] { return a.unit(OpShr, i, v) }

// FetchShr shifts element i right by v bits and returns its value before.
func (a *lockBase[T]) FetchShr(i int, v T) *am.Future[T] { return a.Apply(OpShr, i, v) }

// CompareExchange sets element i to v if it holds cur (the same bits).
func (a *lockBase[T]) CompareExchange(i int, cur, v T) *am.Future[Exchanged[T]] {
	return a.CompareExchangeEpsilon(i, cur, v, 0)
}

// CompareExchangeEpsilon sets element i to v if it is within eps of cur
// (for floats; integers and eps 0 compare bits).
func (a *lockBase[T]) CompareExchangeEpsilon(i int, cur, v, eps T) *am.Future[Exchanged[T]] {
	if _, _, err := a.at("compare-exchange", i); err != nil {
		return am.Completed(Exchanged[T]{}, err)
	}
	j := &lockJob[T]{op: opCAS, vals: []T{v}, cur: []T{cur}, eps: eps}
	return run(a, j, []int{i}, 1, func(r []T) (Exchanged[T], error) {
		return Exchanged[T]{r[0], a.e.matches(r[0], cur, eps)}, nil
	})
}

// BatchApply does op on many elements (paired as AtomicArray.BatchApply
// says) and returns their values before, in the batch's order. Indices
// and operands are checked before anything changes.
func (a *lockBase[T]) BatchApply(op Op, idx []int, vals []T) *am.Future[[]T] {
	return lockBatch(a, uint8(op), idx, vals, true, same[[]T])
}

// lockBatch checks and runs a batch of op.
func lockBatch[T Number, S any](a *lockBase[T], op uint8, idx []int, vals []T, fetch bool, finish func([]T) S) *am.Future[S] {
	name := "batch " + Op(op).String()
	n, err := a.check(name, op, idx, vals, nil)
	if err != nil {
		var zero S
		return am.Completed(zero, err)
	}
	j := &lockJob[T]{op: op, vals: vals, fetch: fetch}
	return run(a, j, idx, n, func(r []T) (S, error) { return finish(r), nil })
}

// BatchLoad returns the elements idx, in order.
func (a *lockBase[T]) BatchLoad(idx []int) *am.Future[[]T] {
	return a.BatchApply(OpLoad, idx, []T{0})
}

// BatchStore stores vals at idx.
func (a *lockBase[T]) BatchStore(idx []int, vals []T) *am.Future[am.Unit] {
	return lockBatch(a, uint8(OpStore), idx, vals, false, unit[[]T])
}

// BatchAdd adds vals to the elements idx.
func (a *lockBase[T]) BatchAdd(idx []int, vals []T) *am.Future[am.Unit] {
	return lockBatch(a, uint8(OpAdd), idx, vals, false, unit[[]T])
}

// BatchFetchAdd adds vals to the elements idx and returns their values
// before, in order.
func (a *lockBase[T]) BatchFetchAdd(idx []int, vals []T) *am.Future[[]T] {
	return a.BatchApply(OpAdd, idx, vals)
}

// BatchCompareExchange does a compare-exchange per index (cur and vals
// pair up with idx as in BatchApply) and returns the results in order.
func (a *lockBase[T]) BatchCompareExchange(idx []int, cur, vals []T) *am.Future[[]Exchanged[T]] {
	const name = "batch compare-exchange"
	n, err := a.check(name, opCAS, idx, vals, cur)
	if err != nil {
		return am.Completed[[]Exchanged[T]](nil, err)
	}
	j := &lockJob[T]{op: opCAS, vals: vals, cur: cur}
	return run(a, j, idx, n, func(r []T) ([]Exchanged[T], error) {
		out := make([]Exchanged[T], len(r))
		for k, old := range r {
			out[k] = Exchanged[T]{old, a.e.matches(old, pick(cur, k), 0)}
		}
		return out, nil
	})
}
