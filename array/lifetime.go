package array

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/errdefs"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Lifetime. Every handle of an array (from a constructor, Clone,
// SubArray, a conversion) is a reference to it, a handle of the array's
// Darc (an am.Darc for the plain kinds, an am.LocalRwDarc or
// am.GlobalRwDarc for the lock kinds), whose value is this PE's shared.
// The Darc is freed, on every PE, when the last reference on every PE is
// gone and no AM carries one; am then tells shared (am.Freer), which marks
// the array's store released.
//
// The data is a symmetric allocation, which hostshmem frees only
// collectively, in the same order on every PE. So the store waits, in its
// World's heap (one per World, kept with World.Attach), for the next
// collective array call on that World: making an array, Close, a
// conversion, Reclaim. Each runs a sweep: PE 0, which owns the arrays'
// Darcs, writes the sweep's number into the mark word (after the data) of
// every array released on PE 0 on every PE; a barrier; then every PE frees,
// in creation order, the arrays whose mark holds that number. Every PE
// reads PE 0's one decision, so the frees match, although the news of a
// Darc's end reaches PEs at different times; a PE still reading the marks
// of an earlier sweep is not confused by a later one's (numbers differ).
// Nothing touches a released array's memory: every handle is gone.

// darcKind is the Darc type an array kind's handles are.
type darcKind uint8

const (
	kindPlain      darcKind = iota // am.Darc: AtomicArray, ReadOnlyArray, UnsafeArray
	kindLocalLock                  // am.LocalRwDarc: LocalLockArray
	kindGlobalLock                 // am.GlobalRwDarc: GlobalLockArray
)

// ref is one handle's state.
type ref struct{ dropped atomic.Bool }

// store is the memory of one array: its symmetric allocation, freed by a
// sweep once the array's Darc is freed.
type store struct {
	free     func(context.Context) error // frees the allocations (collective)
	all      shmem.Sym[byte]             // the allocation: data, then mark
	data     shmem.Sym[byte]             // the elements, in 8-byte words
	mark     shmem.Sym[uint64]           // the sweep that frees the array (PE 0 writes it)
	id       uint64                      // the array's number in its World, the same on every PE
	released chan struct{}               // closed when the Darc was freed on this PE
	once     sync.Once
	gone     atomic.Bool // the memory was freed
}

func (s *store) release() { s.once.Do(func() { close(s.released) }) }

func (s *store) isReleased() bool {
	select {
	case <-s.released:
		return true
	default:
		return false
	}
}

// shared is one PE's state of an array, the value of its Darc.
type shared[T Number] struct {
	w  *am.World
	pe *shmem.PE
	l  layout // the whole array
	e  *elems[T]
	s  *store
}

// DarcFreed implements am.Freer: the array's last reference is gone.
func (sh *shared[T]) DarcFreed() { sh.s.release() }

// heapKey is the World.Attach key of a World's heap.
type heapKey struct{}

// heap is a World's arrays whose memory is not freed yet, in creation
// order (the same on every PE).
type heap struct {
	mu    sync.Mutex
	next  uint64         // arrays made
	seq   uint64         // sweeps done
	live  []*store       // in creation order
	byID  map[uint64]any // store id -> *shared[T], for arrays landing from AMs
	freed int            // arrays freed
}

func heapOf(w *am.World) *heap {
	return w.Attach(heapKey{}, func() any { return &heap{byID: map[uint64]any{}} }).(*heap)
}

func (h *heap) add(s *store, sh any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	s.id = h.next
	h.live = append(h.live, s)
	h.byID[s.id] = sh
}

func (h *heap) lookup(id uint64) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[id]
}

// sweep frees, collectively, the arrays of w whose Darc PE 0 saw freed
// (see Lifetime above). It does nothing, on every PE, when w has no
// array.
func sweep(ctx context.Context, w *am.World) error {
	h := heapOf(w)
	h.mu.Lock()
	live := slices.Clone(h.live)
	next := h.seq + 1
	h.mu.Unlock()
	if len(live) == 0 {
		return nil
	}
	pe := w.PE()
	me := pe.MyPE()
	if me == 0 {
		for _, s := range live {
			if !s.isReleased() {
				continue
			}
			for q := range pe.NPEs() {
				if err := shmem.AtomicSet(pe, s.mark, next, q); err != nil {
					return fmt.Errorf("sweep: mark array %d on PE %d: %w", s.id, q, err)
				}
			}
		}
	}
	if err := pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	h.mu.Lock()
	h.seq = next
	h.mu.Unlock()
	var doomed []*store
	for _, s := range live {
		v, err := shmem.AtomicFetch(pe, s.mark, me)
		if err != nil {
			return fmt.Errorf("sweep: read the mark of array %d: %w", s.id, err)
		}
		if v == next {
			doomed = append(doomed, s)
		}
	}
	var errs []error
	for _, s := range doomed {
		if err := s.free(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sweep: free array %d: %w", s.id, err))
		}
		s.gone.Store(true)
		h.mu.Lock()
		h.live = slices.DeleteFunc(h.live, func(x *store) bool { return x == s })
		delete(h.byID, s.id)
		h.freed++
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Reclaim frees, collectively on every PE of w, the memory of w's arrays
// whose every reference is gone (dropped on every PE, none in an AM in
// flight) as PE 0 saw it when it entered. Making an array, Close and the
// conversions do the same first; Reclaim is for a program that drops
// arrays (Drop) and makes no more.
func Reclaim(ctx context.Context, w *am.World) error {
	if w == nil || ctx == nil {
		return fmt.Errorf("array: reclaim: %w: nil World or context", errdefs.ErrInvalidArg)
	}
	if err := sweep(ctx, w); err != nil {
		return fmt.Errorf("array: reclaim: %w", err)
	}
	return nil
}

// Live is the number of w's arrays whose memory is not freed yet on this
// PE: those with a reference somewhere, and those released but not yet
// swept (0 for a nil World).
func Live(w *am.World) int {
	if w == nil {
		return 0
	}
	h := heapOf(w)
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

// darcRefs is what the three Darc handle types share.
type darcRefs interface {
	Drop() error
	LocalRefs() int
}

// handle is b's Darc handle, whichever its type (nil for a zero base).
func (b *base[T]) handle() darcRefs {
	switch {
	case b.d != nil:
		return b.d
	case b.ld != nil:
		return b.ld
	case b.gd != nil:
		return b.gd
	}
	return nil
}

// clone is another reference to b's array, with b's view.
func (b *base[T]) clone(op string) (base[T], error) {
	if err := b.live(op); err != nil {
		return base[T]{}, err
	}
	c := *b
	c.h = &ref{}
	var err error
	switch {
	case b.d != nil:
		c.d, err = b.d.Clone()
	case b.ld != nil:
		c.ld, err = b.ld.Clone()
	default:
		c.gd, err = b.gd.Clone()
	}
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s: %w", op, err)
	}
	return c, nil
}

// drop releases b's reference.
func (b *base[T]) drop(op string) error {
	if b == nil || b.h == nil || b.s == nil {
		return fmt.Errorf("array: %s: %w: nil or zero array", op, errdefs.ErrInvalidArg)
	}
	if b.h.dropped.Swap(true) {
		return fmt.Errorf("array: %s: %w: the handle was dropped, closed or converted already", op, errdefs.ErrClosed)
	}
	if err := b.handle().Drop(); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// close drops b's reference and waits until the array is freed
// everywhere: collective.
func (b *base[T]) close(ctx context.Context, op string) error {
	if err := b.live(op); err != nil {
		return err
	}
	if ctx == nil {
		return fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	return closeStore(ctx, op, b.w, b.s, b.drop, b.handle().LocalRefs)
}

// closeStore drops a handle of s's array (drop), waits until the array's
// Darc is freed everywhere, and sweeps: the collective end of Close.
func closeStore(ctx context.Context, op string, w *am.World, s *store, drop func(string) error, refs func() int) error {
	if err := drop(op); err != nil {
		return err
	}
	select {
	case <-s.released:
	case <-ctx.Done():
		return fmt.Errorf("array: %s of array %d: still waiting for its other references to be dropped (%d on this PE; clones, sub-arrays and AMs carrying it count, on every PE): %w",
			op, s.id, refs(), context.Cause(ctx))
	}
	if err := sweep(ctx, w); err != nil {
		return fmt.Errorf("array: %s: %w", op, err)
	}
	return nil
}

// into converts b's handle, collectively, to one of kind k: it waits (as
// am's Darc conversions do, logging what it waits on after
// am.Options.ConvertWarn) until b is the only reference to the array on
// its PE and no AM carries one, and consumes b. A conversion between the
// plain kinds passes through a LocalRwDarc and back.
func (b *base[T]) into(ctx context.Context, op string, k darcKind) (base[T], error) {
	if err := b.live(op); err != nil {
		return base[T]{}, err
	}
	if ctx == nil {
		return base[T]{}, fmt.Errorf("array: %s: %w: nil context", op, errdefs.ErrInvalidArg)
	}
	c := *b
	c.h, c.d, c.ld, c.gd = &ref{}, nil, nil, nil
	var err error
	switch {
	case b.d != nil && k == kindPlain:
		var lr *am.LocalRwDarc[*shared[T]]
		if lr, err = am.IntoLocalRw(ctx, b.d); err == nil {
			b.h.dropped.Store(true)
			if c.d, err = lr.IntoDarc(ctx); err != nil {
				// The handle is lost: let its reference go.
				err = errors.Join(err, lr.Drop())
			}
		}
	case b.d != nil && k == kindLocalLock:
		c.ld, err = am.IntoLocalRw(ctx, b.d)
	case b.d != nil:
		c.gd, err = am.IntoGlobalRw(ctx, b.d)
	case b.ld != nil && k == kindPlain:
		c.d, err = b.ld.IntoDarc(ctx)
	case b.ld != nil:
		c.gd, err = b.ld.IntoGlobalRw(ctx)
	case k == kindPlain:
		c.d, err = b.gd.IntoDarc(ctx)
	default:
		c.ld, err = b.gd.IntoLocalRw(ctx)
	}
	if err != nil {
		return base[T]{}, fmt.Errorf("array: %s of array %d: %w", op, b.s.id, err)
	}
	b.h.dropped.Store(true)
	if err := sweep(ctx, b.w); err != nil {
		return c, fmt.Errorf("array: %s: %w", op, err)
	}
	return c, nil
}

// carryBytes is what an array carries in an AM besides its Darc handle:
// its number in its World and its view's range.
const carryBytes = 24

// carried is am.Carrier's Carried for every kind: the handle of b's kind
// (a typed nil for a zero b) and the array's number and range.
func (b *base[T]) carried(buf []byte, k darcKind) (any, []byte) {
	var id, lo, hi uint64
	if b.s != nil {
		id, lo, hi = b.s.id, uint64(b.l.lo), uint64(b.l.hi)
	}
	buf = binary.LittleEndian.AppendUint64(buf, id)
	buf = binary.LittleEndian.AppendUint64(buf, lo)
	buf = binary.LittleEndian.AppendUint64(buf, hi)
	switch k {
	case kindLocalLock:
		return b.ld, buf
	case kindGlobalLock:
		return b.gd, buf
	}
	return b.d, buf
}

// land is am.Carrier's Land for every kind: b becomes the receiver's
// handle of the array an AM carried, valid while its handler runs.
func (b *base[T]) land(w *am.World, d any, buf []byte) error {
	if len(buf) != carryBytes {
		return fmt.Errorf("array: land: %w: %d bytes, want %d", errdefs.ErrInvalidArg, len(buf), carryBytes)
	}
	id := binary.LittleEndian.Uint64(buf)
	lo, hi := binary.LittleEndian.Uint64(buf[8:]), binary.LittleEndian.Uint64(buf[16:])
	v := heapOf(w).lookup(id)
	sh, ok := v.(*shared[T])
	if !ok {
		return fmt.Errorf("array: land: %w: array %d is not an array of %s on PE %d (it holds %T)", errdefs.ErrInvalidArg, id, traitsOf[T]().name, w.MyPE(), v)
	}
	if lo > hi || hi > uint64(sh.l.n) {
		return fmt.Errorf("array: land: %w: range [%d, %d) of array %d of length %d", errdefs.ErrOutOfRange, lo, hi, id, sh.l.n)
	}
	l := sh.l
	l.lo, l.hi = int(lo), int(hi)
	*b = base[T]{w: sh.w, pe: sh.pe, l: l, s: sh.s, e: sh.e, h: &ref{}}
	switch d := d.(type) {
	case *am.Darc[*shared[T]]:
		if p := d.Get(); p == nil || *p != sh {
			return fmt.Errorf("array: land: %w: array %d's Darc does not hold it", errdefs.ErrInvalidArg, id)
		}
		b.d = d
	case *am.LocalRwDarc[*shared[T]]:
		b.ld = d
	case *am.GlobalRwDarc[*shared[T]]:
		b.gd = d
	default:
		return fmt.Errorf("array: land: %w: handle %T", errdefs.ErrInvalidArg, d)
	}
	return nil
}

// ---- the kinds' handles ----

// Clone returns another reference to the array, with this handle's view.
func (a *AtomicArray[T]) Clone() (*AtomicArray[T], error) {
	b, err := a.clone("clone")
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// Drop releases this handle (not collective). The array's memory is freed
// once every reference on every PE is gone, at the next collective array
// call (see Reclaim). Dropping twice is an error matching
// errdefs.ErrClosed.
func (a *AtomicArray[T]) Drop() error { return a.drop("drop") }

// IntoReadOnly converts the array to a ReadOnlyArray, collectively: it
// waits until this handle is the only reference to the array on its PE
// and no AM carries one (logging what it still waits on after
// am.Options.ConvertWarn; when ctx ends, the error says), and consumes it.
// The conversion's barriers make every PE's stores before it seen by
// every load after it.
func (a *AtomicArray[T]) IntoReadOnly(ctx context.Context) (*ReadOnlyArray[T], error) {
	b, err := a.into(ctx, "into read-only", kindPlain)
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// IntoUnsafe converts the array to an UnsafeArray (see IntoReadOnly).
func (a *AtomicArray[T]) IntoUnsafe(ctx context.Context) (*UnsafeArray[T], error) {
	b, err := a.into(ctx, "into unsafe", kindPlain)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// IntoLocalLock converts the array to a LocalLockArray (see IntoReadOnly).
func (a *AtomicArray[T]) IntoLocalLock(ctx context.Context) (*LocalLockArray[T], error) {
	b, err := a.into(ctx, "into local-lock", kindLocalLock)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// IntoGlobalLock converts the array to a GlobalLockArray (see
// IntoReadOnly).
func (a *AtomicArray[T]) IntoGlobalLock(ctx context.Context) (*GlobalLockArray[T], error) {
	b, err := a.into(ctx, "into global-lock", kindGlobalLock)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// Carried implements am.Carrier: an *AtomicArray field of an AM travels as
// the array's Darc and its range.
func (a *AtomicArray[T]) Carried(b []byte) (any, []byte) { return a.carried(b, kindPlain) }

// Land implements am.Carrier: on the receiver, the handle becomes that
// PE's handle of the array, valid while the handler runs (Clone it to
// keep it).
func (a *AtomicArray[T]) Land(w *am.World, d any, b []byte) error { return a.land(w, d, b) }

// Clone returns another reference to the array, with this handle's view.
func (a *ReadOnlyArray[T]) Clone() (*ReadOnlyArray[T], error) {
	b, err := a.clone("clone")
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// Drop releases this handle (see AtomicArray.Drop).
func (a *ReadOnlyArray[T]) Drop() error { return a.drop("drop") }

// IntoAtomic converts the array to an AtomicArray (see
// AtomicArray.IntoReadOnly).
func (a *ReadOnlyArray[T]) IntoAtomic(ctx context.Context) (*AtomicArray[T], error) {
	b, err := a.into(ctx, "into atomic", kindPlain)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// IntoUnsafe converts the array to an UnsafeArray (see
// AtomicArray.IntoReadOnly).
func (a *ReadOnlyArray[T]) IntoUnsafe(ctx context.Context) (*UnsafeArray[T], error) {
	b, err := a.into(ctx, "into unsafe", kindPlain)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// IntoLocalLock converts the array to a LocalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *ReadOnlyArray[T]) IntoLocalLock(ctx context.Context) (*LocalLockArray[T], error) {
	b, err := a.into(ctx, "into local-lock", kindLocalLock)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// IntoGlobalLock converts the array to a GlobalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *ReadOnlyArray[T]) IntoGlobalLock(ctx context.Context) (*GlobalLockArray[T], error) {
	b, err := a.into(ctx, "into global-lock", kindGlobalLock)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// Carried implements am.Carrier (see AtomicArray.Carried).
func (a *ReadOnlyArray[T]) Carried(b []byte) (any, []byte) { return a.carried(b, kindPlain) }

// Land implements am.Carrier (see AtomicArray.Land).
func (a *ReadOnlyArray[T]) Land(w *am.World, d any, b []byte) error { return a.land(w, d, b) }

// Clone returns another reference to the array, with this handle's view.
func (a *UnsafeArray[T]) Clone() (*UnsafeArray[T], error) {
	b, err := a.clone("clone")
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// Drop releases this handle (see AtomicArray.Drop).
func (a *UnsafeArray[T]) Drop() error { return a.drop("drop") }

// IntoReadOnly converts the array to a ReadOnlyArray (see
// AtomicArray.IntoReadOnly).
func (a *UnsafeArray[T]) IntoReadOnly(ctx context.Context) (*ReadOnlyArray[T], error) {
	b, err := a.into(ctx, "into read-only", kindPlain)
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// IntoAtomic converts the array to an AtomicArray (see
// AtomicArray.IntoReadOnly).
func (a *UnsafeArray[T]) IntoAtomic(ctx context.Context) (*AtomicArray[T], error) {
	b, err := a.into(ctx, "into atomic", kindPlain)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// IntoLocalLock converts the array to a LocalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *UnsafeArray[T]) IntoLocalLock(ctx context.Context) (*LocalLockArray[T], error) {
	b, err := a.into(ctx, "into local-lock", kindLocalLock)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// IntoGlobalLock converts the array to a GlobalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *UnsafeArray[T]) IntoGlobalLock(ctx context.Context) (*GlobalLockArray[T], error) {
	b, err := a.into(ctx, "into global-lock", kindGlobalLock)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// Carried implements am.Carrier (see AtomicArray.Carried).
func (a *UnsafeArray[T]) Carried(b []byte) (any, []byte) { return a.carried(b, kindPlain) }

// Land implements am.Carrier (see AtomicArray.Land).
func (a *UnsafeArray[T]) Land(w *am.World, d any, b []byte) error { return a.land(w, d, b) }

// Clone returns another reference to the array, with this handle's view.
func (a *LocalLockArray[T]) Clone() (*LocalLockArray[T], error) {
	b, err := a.clone("clone")
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// Drop releases this handle (see AtomicArray.Drop).
func (a *LocalLockArray[T]) Drop() error { return a.drop("drop") }

// Close drops this handle and waits until the array is freed (see
// AtomicArray.Close): collective.
func (a *LocalLockArray[T]) Close(ctx context.Context) error { return a.close(ctx, "close") }

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, to Drop. It shares the array's locks.
func (a *LocalLockArray[T]) SubArray(lo, hi int) (*LocalLockArray[T], error) {
	b, err := a.sub("sub-array", lo, hi)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// IntoAtomic converts the array to an AtomicArray (see
// AtomicArray.IntoReadOnly).
func (a *LocalLockArray[T]) IntoAtomic(ctx context.Context) (*AtomicArray[T], error) {
	b, err := a.into(ctx, "into atomic", kindPlain)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// IntoReadOnly converts the array to a ReadOnlyArray (see
// AtomicArray.IntoReadOnly).
func (a *LocalLockArray[T]) IntoReadOnly(ctx context.Context) (*ReadOnlyArray[T], error) {
	b, err := a.into(ctx, "into read-only", kindPlain)
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// IntoUnsafe converts the array to an UnsafeArray (see
// AtomicArray.IntoReadOnly).
func (a *LocalLockArray[T]) IntoUnsafe(ctx context.Context) (*UnsafeArray[T], error) {
	b, err := a.into(ctx, "into unsafe", kindPlain)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// IntoGlobalLock converts the array to a GlobalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *LocalLockArray[T]) IntoGlobalLock(ctx context.Context) (*GlobalLockArray[T], error) {
	b, err := a.into(ctx, "into global-lock", kindGlobalLock)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// Carried implements am.Carrier (see AtomicArray.Carried).
func (a *LocalLockArray[T]) Carried(b []byte) (any, []byte) { return a.carried(b, kindLocalLock) }

// Land implements am.Carrier (see AtomicArray.Land).
func (a *LocalLockArray[T]) Land(w *am.World, d any, b []byte) error { return a.land(w, d, b) }

// Clone returns another reference to the array, with this handle's view.
func (a *GlobalLockArray[T]) Clone() (*GlobalLockArray[T], error) {
	b, err := a.clone("clone")
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// Drop releases this handle (see AtomicArray.Drop).
func (a *GlobalLockArray[T]) Drop() error { return a.drop("drop") }

// Close drops this handle and waits until the array is freed (see
// AtomicArray.Close): collective.
func (a *GlobalLockArray[T]) Close(ctx context.Context) error { return a.close(ctx, "close") }

// SubArray is the view of elements [lo, hi), renumbered from 0: another
// reference to the array, to Drop. It shares the array's lock; Read and
// Write hand it this PE's part of the view.
func (a *GlobalLockArray[T]) SubArray(lo, hi int) (*GlobalLockArray[T], error) {
	b, err := a.sub("sub-array", lo, hi)
	if err != nil {
		return nil, err
	}
	return &GlobalLockArray[T]{lockBase[T]{b}}, nil
}

// IntoAtomic converts the array to an AtomicArray (see
// AtomicArray.IntoReadOnly).
func (a *GlobalLockArray[T]) IntoAtomic(ctx context.Context) (*AtomicArray[T], error) {
	b, err := a.into(ctx, "into atomic", kindPlain)
	if err != nil {
		return nil, err
	}
	return &AtomicArray[T]{b}, nil
}

// IntoReadOnly converts the array to a ReadOnlyArray (see
// AtomicArray.IntoReadOnly).
func (a *GlobalLockArray[T]) IntoReadOnly(ctx context.Context) (*ReadOnlyArray[T], error) {
	b, err := a.into(ctx, "into read-only", kindPlain)
	if err != nil {
		return nil, err
	}
	return &ReadOnlyArray[T]{b}, nil
}

// IntoUnsafe converts the array to an UnsafeArray (see
// AtomicArray.IntoReadOnly).
func (a *GlobalLockArray[T]) IntoUnsafe(ctx context.Context) (*UnsafeArray[T], error) {
	b, err := a.into(ctx, "into unsafe", kindPlain)
	if err != nil {
		return nil, err
	}
	return &UnsafeArray[T]{b}, nil
}

// IntoLocalLock converts the array to a LocalLockArray (see
// AtomicArray.IntoReadOnly).
func (a *GlobalLockArray[T]) IntoLocalLock(ctx context.Context) (*LocalLockArray[T], error) {
	b, err := a.into(ctx, "into local-lock", kindLocalLock)
	if err != nil {
		return nil, err
	}
	return &LocalLockArray[T]{lockBase[T]{b}}, nil
}

// Carried implements am.Carrier (see AtomicArray.Carried).
func (a *GlobalLockArray[T]) Carried(b []byte) (any, []byte) { return a.carried(b, kindGlobalLock) }

// Land implements am.Carrier (see AtomicArray.Land).
func (a *GlobalLockArray[T]) Land(w *am.World, d any, b []byte) error { return a.land(w, d, b) }
