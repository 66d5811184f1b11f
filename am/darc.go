package am

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/cause"
)

// Darc kinds.
const (
	kindDarc = iota + 1
	kindLocalRw
	kindGlobalRw
)

var kindNames = [...]string{"", "Darc", "LocalRwDarc", "GlobalRwDarc"}

const darcWireBytes = 16 // owner, slot, generation, kind: 4 bytes each

// darcID names a Darc on every PE: its owner (the team's first PE) keeps
// its global count in slot; gen tells reuses of a slot apart.
type darcID struct {
	owner, slot int
	gen         uint32
}

func (id darcID) String() string {
	return fmt.Sprintf("darc(owner %d, slot %d, gen %d)", id.owner, id.slot, id.gen)
}

// darcInst is this PE's instance of a Darc.
type darcInst struct {
	id      darcID
	team    *hostshmem.Team
	members int
	val     any // *T
	kind    atomic.Int32
	refs    atomic.Int64 // handles on this PE, plus references held by messages in flight
	rw      rwLock       // LocalRwDarc's lock
	freer   Freer        // val's, told when the Darc is freed here
}

// darcState is a World's Darcs: the one field of World that holds them.
// The Darc code (this file and darcleak.go) reaches the rest of the World
// through a few methods only: its fabric and symmetric words (fab,
// word, peerLoad), control frames to peers (ctl: kDarcFree, which the
// drainer hands to freeDarc), waiting while helping (retry), and its
// launcher's team and Options. A Darc travels in an AM through the codec's
// Ext (darcExt): the call holds the references its request carries
// (call.darcs), the task those its decoded value holds (task.darcs).
//
// The Darcs are in package am, not a package of their own, because they
// need the World's internals and the World needs them (decoding a handle
// finds this PE's instance; a kDarcFree frame frees one; Close reports
// undropped handles): a separate package would have to export those
// internals, or am would have to import it while it imports am.
type darcState struct {
	off    uintptr    // region offset of the Darc slot words (see the AM area's layout)
	table  darcTable  // this PE's instances, and the slots it owns
	tracks darcTracks // the Darc handles the program holds (darcleak.go)
}

// init readies d for slots Darc slots whose words start at region offset
// off.
func (d *darcState) init(off uintptr, slots int) {
	d.off = off
	d.table.m = map[darcID]*darcInst{}
	d.table.used = make([]bool, slots)
	d.table.gen = make([]uint32, slots)
}

// darcTable is this PE's Darc instances, and the slots it owns.
type darcTable struct {
	mu   sync.Mutex
	m    map[darcID]*darcInst
	used []bool   // slots this PE owns
	gen  []uint32 // next generation per slot
}

func (w *World) counterOff(slot int) uintptr { return w.darcs.off + uintptr(slot)*slotBytes }

// incRef takes a reference on this PE; the first one counts this PE in the
// owner's global count.
func (d *darcInst) incRef(w *World) error {
	if d.refs.Add(1) == 1 {
		if _, err := w.fab.AMO64(d.id.owner, w.counterOff(d.id.slot), fabric.AMOAdd, 1, 0); err != nil {
			return fmt.Errorf("am: %v: count a reference: %w", d.id, err)
		}
	}
	return nil
}

// decRef drops a reference; when this PE holds none any more it leaves the
// global count, and the PE that empties it frees the Darc everywhere.
func (d *darcInst) decRef(w *World) {
	if d.refs.Add(-1) != 0 {
		return
	}
	old, err := w.fab.AMO64(d.id.owner, w.counterOff(d.id.slot), fabric.AMOAdd, ^uint64(0), 0)
	if err != nil || old != 1 {
		return
	}
	for i := range d.members {
		pe := d.team.WorldPE(i)
		if pe == w.me {
			w.freeDarc(d.id)
			continue
		}
		w.ctl(pe, kDarcFree, packID(d.id))
	}
}

func packID(id darcID) uint64  { return uint64(id.owner)<<48 | uint64(id.slot)<<32 | uint64(id.gen) }
func unpackID(v uint64) darcID { return darcID{int(v >> 48), int(v >> 32 & 0xffff), uint32(v)} }

// freeDarc ends this PE's instance of id (its last reference anywhere is
// gone).
func (w *World) freeDarc(id darcID) {
	t := &w.darcs.table
	t.mu.Lock()
	inst := t.m[id]
	delete(t.m, id)
	if id.owner == w.me && id.slot < len(t.used) {
		t.used[id.slot] = false
	}
	t.mu.Unlock()
	if inst != nil && inst.freer != nil {
		inst.freer.DarcFreed()
	}
}

// LiveDarcs is the number of Darc instances alive on this PE: every Darc
// whose references have not all been dropped, on any PE (0 for a nil
// World).
func (w *World) LiveDarcs() int {
	if w == nil {
		return 0
	}
	w.darcs.table.mu.Lock()
	defer w.darcs.table.mu.Unlock()
	return len(w.darcs.table.m)
}

// darcCodecType is implemented by the Darc handle types (pointers), which
// encode as a reference to the receiver's instance: the encoder's Ctx is
// the *call whose request carries the handle, the decoder's Ctx the
// World's *decoder.
type darcCodecType interface {
	encodeDarc(e *codec.Encoder)
	decodeDarc(d *codec.Decoder)
	handle() *handle
}

var darcCodecIface = reflect.TypeFor[darcCodecType]()

// darcExt is wire's Config.Ext: the encoding of the Darc handle types,
// and of the Carrier types (hooks.go).
func darcExt(t reflect.Type) *codec.Ext {
	if t.Kind() == reflect.Pointer && t.Implements(carrierIface) {
		return carrierExt(t)
	}
	if t.Kind() != reflect.Pointer || !t.Implements(darcCodecIface) {
		return nil
	}
	return &codec.Ext{
		Size:   darcWireBytes,
		Encode: func(e *codec.Encoder, v reflect.Value) { v.Interface().(darcCodecType).encodeDarc(e) },
		Decode: func(d *codec.Decoder, v reflect.Value) {
			p := reflect.New(t.Elem())
			p.Interface().(darcCodecType).decodeDarc(d)
			v.Set(p)
		},
	}
}

// darcRef is a handle the decoder made, dropped after the handler ran.
type darcRef interface{ dropRef() }

func dropRefs(_ *World, rs []darcRef) {
	for _, r := range rs {
		r.dropRef()
	}
}

// handle is what the three Darc types share.
type handle struct {
	w       *World
	inst    *darcInst
	dropped atomic.Bool
	tr      *darcTrack // nil for the handles AMs carry
}

func (h *handle) check(op string) error {
	if h == nil || h.inst == nil {
		return fmt.Errorf("am: %s: %w: nil or zero Darc", op, ErrInvalidArg)
	}
	if h.dropped.Load() {
		return fmt.Errorf("am: %s: %w: %v handle already dropped (or converted)", op, ErrInvalidArg, h.inst.id)
	}
	return nil
}

// live is check for the operations that reach the Darc's count or global
// lock, which live in its World's symmetric memory: ErrClosed once that
// World stopped (the memory may belong to another object by now, or be
// unmapped with its PE).
func (h *handle) live(op string) error {
	if err := h.check(op); err != nil {
		return err
	}
	if h.w.state.shut.Load() {
		return fmt.Errorf("am: %s: %v: %w", op, h.inst.id, ErrClosed)
	}
	return nil
}

// localRefs is LocalRefs: 0 for a nil or zero handle.
func (h *handle) localRefs() int {
	if h == nil || h.inst == nil {
		return 0
	}
	return int(h.inst.refs.Load())
}

func (h *handle) drop() error {
	if err := h.live("drop"); err != nil {
		return err
	}
	if h.dropped.Swap(true) {
		return fmt.Errorf("am: drop: %w: %v handle already dropped", ErrInvalidArg, h.inst.id)
	}
	h.untrack()
	h.inst.decRef(h.w)
	return nil
}

func (h *handle) dropRef() { h.drop() }

// encode writes h as a reference to the receiver's instance; e.Ctx is the
// call whose request carries it (nil for results and returned AMs, which
// cannot carry one).
func (h *handle) encode(e *codec.Encoder) {
	if err := h.check("send Darc"); err != nil {
		e.Fail(err)
		return
	}
	c, _ := e.Ctx.(*call)
	if c == nil {
		e.Fail(fmt.Errorf("am: %v: a Darc can travel only in an AM, not in a result or a returned AM", h.inst.id))
		return
	}
	h.inst.refs.Add(1) // held by the message until its reply: never 0 here
	var ds []*darcInst
	if p := c.darcs.Load(); p != nil {
		ds = *p
	}
	ds = append(ds, h.inst)
	c.darcs.Store(&ds) // an atomic: the reply that reads it may come back through memory the race detector does not see
	id := h.inst.id
	var b [darcWireBytes]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(id.owner))
	binary.LittleEndian.PutUint32(b[4:], uint32(id.slot))
	binary.LittleEndian.PutUint32(b[8:], id.gen)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.inst.kind.Load()))
	e.Buf = append(e.Buf, b[:]...)
}

// decode resolves a Darc reference to this PE's instance and takes a
// reference that the handler's return drops; d.Ctx is the World's
// decoder, which collects the handles it makes.
func (h *handle) decode(d *codec.Decoder, kind int, self darcRef) *darcInst {
	b := d.Take(darcWireBytes)
	if b == nil {
		return nil
	}
	id := darcID{int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:])), binary.LittleEndian.Uint32(b[8:])}
	k := int(binary.LittleEndian.Uint32(b[12:]))
	wd, _ := d.Ctx.(*decoder)
	if wd == nil {
		d.Fail(fmt.Errorf("%v decoded outside a World", id))
		return nil
	}
	w := wd.w
	w.darcs.table.mu.Lock()
	inst := w.darcs.table.m[id]
	w.darcs.table.mu.Unlock()
	if inst == nil {
		d.Fail(fmt.Errorf("%v is not on PE %d (not created there, or freed)", id, w.me))
		return nil
	}
	if k != kind || int(inst.kind.Load()) != kind {
		d.Fail(fmt.Errorf("%v is a %s here, the AM carries it as a %s", id, kindNames[inst.kind.Load()], kindNames[kind]))
		return nil
	}
	if err := inst.incRef(w); err != nil {
		d.Fail(err)
		return nil
	}
	h.w, h.inst = w, inst
	wd.darcs = append(wd.darcs, self)
	return inst
}

// newDarc creates the instances of a Darc collectively on l's team. On a
// closed World it is ErrClosed and touches nothing: the Darc slots and the
// scratch words were freed with the queues (or unmapped with the PE).
func newDarc(ctx context.Context, l Launcher, val any, kind int) (*darcInst, *World, error) {
	op := "new " + kindNames[kind]
	if err := checkCtx(op, ctx); err != nil {
		return nil, nil, err
	}
	s, err := scopeOf(l)
	if err != nil {
		return nil, nil, fmt.Errorf("am: %s: %w", op, err)
	}
	w := s.w
	if w.state.closed.Load() {
		return nil, nil, fmt.Errorf("am: %s on PE %d: %w", op, w.me, ErrClosed)
	}
	team := s.team
	if team == nil {
		team = w.pe.TeamWorld()
	}
	owner := team.WorldPE(0)
	scratch := w.area.Slice(w.area.Len()-16, w.area.Len()-8)
	dst := w.area.Slice(w.area.Len()-8, w.area.Len())
	if owner == w.me {
		t := &w.darcs.table
		t.mu.Lock()
		slot := -1
		for i, u := range t.used {
			if !u {
				slot = i
				break
			}
		}
		var v uint64
		if slot >= 0 {
			t.used[slot] = true
			t.gen[slot]++
			v = uint64(slot)<<32 | uint64(t.gen[slot]) | 1<<63
			atomic.StoreUint64(w.word(w.counterOff(slot)), uint64(team.NPEs()))
			atomic.StoreUint64(w.word(w.counterOff(slot)+8), 0)
		}
		t.mu.Unlock()
		// P and G, not Local: a PE finalized meanwhile is an error, not a
		// nil slice.
		if err := hostshmem.P(w.pe, scratch, v, w.me); err != nil {
			return nil, nil, fmt.Errorf("am: %s: %w", op, err)
		}
	}
	if err := hostshmem.Broadcast(ctx, team, dst, scratch, 1, 0); err != nil {
		return nil, nil, fmt.Errorf("am: %s: %w", op, err)
	}
	v, err := hostshmem.G(w.pe, dst, w.me)
	if err != nil {
		return nil, nil, fmt.Errorf("am: %s: %w", op, err)
	}
	if v>>63 == 0 {
		team.Barrier(ctx)
		return nil, nil, fmt.Errorf("am: %s: %w: PE %d owns %d Darcs already (Options.DarcSlots)", op, ErrInvalidArg, owner, len(w.darcs.table.used))
	}
	id := darcID{owner: owner, slot: int(v >> 32 & 0x7fffffff), gen: uint32(v)}
	inst := &darcInst{id: id, team: team, members: team.NPEs(), val: val, freer: freerOf(val)}
	inst.kind.Store(int32(kind))
	inst.refs.Store(1)
	w.darcs.table.mu.Lock()
	w.darcs.table.m[id] = inst
	w.darcs.table.mu.Unlock()
	// No PE sends the Darc before every member has its instance.
	if err := team.Barrier(ctx); err != nil {
		return nil, nil, fmt.Errorf("am: %s: %w", op, err)
	}
	return inst, w, nil
}

// globalRefs reads the number of PEs holding references to inst.
func (w *World) globalRefs(inst *darcInst) (int, error) {
	v, err := w.peerLoad(inst.id.owner, w.counterOff(inst.id.slot))
	return int(v), err
}

// ---- Darc ----

// Darc is a distributed reference-counted object: every PE of the team it
// was created on holds its own instance of T. A *Darc inside an AM
// resolves, on the receiving PE, to that PE's instance; the handler may
// use it while it runs and Clone it to keep it. The instances live until
// no PE holds a reference: every handle is dropped (Drop) and no AM
// carrying one is in flight. T is shared by the goroutines of a PE: use
// atomics inside it, or a LocalRwDarc.
type Darc[T any] struct{ h handle }

// NewDarc makes a Darc collectively on l's team (the world for a World):
// every member calls it, each with its own initial value.
func NewDarc[T any](ctx context.Context, l Launcher, v T) (*Darc[T], error) {
	inst, w, err := newDarc(ctx, l, &v, kindDarc)
	if err != nil {
		return nil, err
	}
	d := &Darc[T]{handle{w: w, inst: inst}}
	return tracked(d, &d.h), nil
}

// handle returns d's handle, nil for a nil d (every handle method takes a
// nil handle as ErrInvalidArg).
func (d *Darc[T]) handle() *handle {
	if d == nil {
		return nil
	}
	return &d.h
}

// Get returns this PE's instance (nil after Drop, and for a nil Darc).
func (d *Darc[T]) Get() *T {
	if d.handle().check("get") != nil {
		return nil
	}
	return d.h.inst.val.(*T)
}

// Clone returns another handle to the same Darc.
func (d *Darc[T]) Clone() (*Darc[T], error) {
	if err := d.handle().live("clone"); err != nil {
		return nil, err
	}
	if err := d.h.inst.incRef(d.h.w); err != nil {
		return nil, err
	}
	c := &Darc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// Drop releases this handle. Dropping twice is an error, and so is
// dropping after the World closed (ErrClosed: the Darc went with it).
func (d *Darc[T]) Drop() error { return d.handle().drop() }

// LocalRefs is the number of references on this PE (handles and AMs in
// flight that carry one); 0 for a nil Darc.
func (d *Darc[T]) LocalRefs() int { return d.handle().localRefs() }

// GlobalRefs is the number of PEs holding a reference.
func (d *Darc[T]) GlobalRefs() (int, error) {
	if err := d.handle().live("global refs"); err != nil {
		return 0, err
	}
	return d.h.w.globalRefs(d.h.inst)
}

func (d *Darc[T]) encodeDarc(e *codec.Encoder) { d.h.encode(e) }
func (d *Darc[T]) decodeDarc(dd *codec.Decoder) {
	if inst := d.h.decode(dd, kindDarc, &d.h); inst != nil {
		if _, ok := inst.val.(*T); !ok {
			dd.Fail(fmt.Errorf("%v holds %T, the AM carries a Darc of %T", inst.id, inst.val, new(T)))
		}
	}
}

// ---- LocalRwDarc ----

// LocalRwDarc is a Darc whose instance on each PE is guarded by a
// read/write lock of that PE.
type LocalRwDarc[T any] struct{ h handle }

// NewLocalRwDarc makes a LocalRwDarc collectively on l's team.
func NewLocalRwDarc[T any](ctx context.Context, l Launcher, v T) (*LocalRwDarc[T], error) {
	inst, w, err := newDarc(ctx, l, &v, kindLocalRw)
	if err != nil {
		return nil, err
	}
	d := &LocalRwDarc[T]{handle{w: w, inst: inst}}
	return tracked(d, &d.h), nil
}

func (d *LocalRwDarc[T]) handle() *handle {
	if d == nil {
		return nil
	}
	return &d.h
}

// checkArgs refuses a nil context or function, for op.
func checkArgs[T any](op string, ctx context.Context, fn func(*T) error) error {
	if err := checkCtx(op, ctx); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("am: %s: %w: nil function", op, ErrInvalidArg)
	}
	return nil
}

// Read runs fn with this PE's instance under its read lock. It waits for
// the lock until ctx ends.
func (d *LocalRwDarc[T]) Read(ctx context.Context, fn func(*T) error) error {
	if err := d.handle().check("read"); err != nil {
		return err
	}
	if err := checkArgs("read", ctx, fn); err != nil {
		return err
	}
	if err := d.h.inst.rw.lock(ctx, false); err != nil {
		return fmt.Errorf("am: %v read lock: %w", d.h.inst.id, err)
	}
	defer d.h.inst.rw.unlock(false)
	return fn(d.h.inst.val.(*T))
}

// Write runs fn with this PE's instance under its write lock.
func (d *LocalRwDarc[T]) Write(ctx context.Context, fn func(*T) error) error {
	if err := d.handle().check("write"); err != nil {
		return err
	}
	if err := checkArgs("write", ctx, fn); err != nil {
		return err
	}
	if err := d.h.inst.rw.lock(ctx, true); err != nil {
		return fmt.Errorf("am: %v write lock: %w", d.h.inst.id, err)
	}
	defer d.h.inst.rw.unlock(true)
	return fn(d.h.inst.val.(*T))
}

// Clone returns another handle.
func (d *LocalRwDarc[T]) Clone() (*LocalRwDarc[T], error) {
	if err := d.handle().live("clone"); err != nil {
		return nil, err
	}
	if err := d.h.inst.incRef(d.h.w); err != nil {
		return nil, err
	}
	c := &LocalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// Drop releases this handle.
func (d *LocalRwDarc[T]) Drop() error { return d.handle().drop() }

// LocalRefs is the number of references on this PE (0 for a nil Darc).
func (d *LocalRwDarc[T]) LocalRefs() int { return d.handle().localRefs() }

func (d *LocalRwDarc[T]) encodeDarc(e *codec.Encoder) { d.h.encode(e) }
func (d *LocalRwDarc[T]) decodeDarc(dd *codec.Decoder) {
	if inst := d.h.decode(dd, kindLocalRw, &d.h); inst != nil {
		if _, ok := inst.val.(*T); !ok {
			dd.Fail(fmt.Errorf("%v holds %T, the AM carries a LocalRwDarc of %T", inst.id, inst.val, new(T)))
		}
	}
}

// rwLock is a read/write lock whose waits take a context.
type rwLock struct {
	mu      sync.Mutex
	readers int
	writer  bool
	ch      chan struct{}
}

func (l *rwLock) lock(ctx context.Context, write bool) error {
	for {
		l.mu.Lock()
		if !l.writer && (!write || l.readers == 0) {
			if write {
				l.writer = true
			} else {
				l.readers++
			}
			l.mu.Unlock()
			return nil
		}
		if l.ch == nil {
			l.ch = make(chan struct{})
		}
		ch := l.ch
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return cause.Err(ctx)
		}
	}
}

func (l *rwLock) unlock(write bool) {
	l.mu.Lock()
	if write {
		l.writer = false
	} else {
		l.readers--
	}
	if l.ch != nil {
		close(l.ch)
		l.ch = nil
	}
	l.mu.Unlock()
}

// ---- GlobalRwDarc ----

// GlobalRwDarc is a Darc guarded by one read/write lock across all PEs
// (kept on the owner, the team's first PE): a writer on any PE excludes
// every reader and writer everywhere. Each PE still reads and writes its
// own instance.
type GlobalRwDarc[T any] struct{ h handle }

const writerBit = 1 << 62

// NewGlobalRwDarc makes a GlobalRwDarc collectively on l's team.
func NewGlobalRwDarc[T any](ctx context.Context, l Launcher, v T) (*GlobalRwDarc[T], error) {
	inst, w, err := newDarc(ctx, l, &v, kindGlobalRw)
	if err != nil {
		return nil, err
	}
	d := &GlobalRwDarc[T]{handle{w: w, inst: inst}}
	return tracked(d, &d.h), nil
}

func (d *GlobalRwDarc[T]) handle() *handle {
	if d == nil {
		return nil
	}
	return &d.h
}

func (d *GlobalRwDarc[T]) lockOff() uintptr { return d.h.w.counterOff(d.h.inst.id.slot) + 8 }

// Read runs fn with this PE's instance under the global read lock.
func (d *GlobalRwDarc[T]) Read(ctx context.Context, fn func(*T) error) error {
	if err := d.handle().live("read"); err != nil {
		return err
	}
	if err := checkArgs("read", ctx, fn); err != nil {
		return err
	}
	w, owner, off := d.h.w, d.h.inst.id.owner, d.lockOff()
	err := w.retry(ctx, func() (bool, error) {
		old, err := w.fab.AMO64(owner, off, fabric.AMOAdd, 1, 0)
		if err != nil || old&writerBit == 0 {
			return err == nil, err
		}
		_, err = w.fab.AMO64(owner, off, fabric.AMOAdd, ^uint64(0), 0)
		return false, err
	})
	if err != nil {
		return fmt.Errorf("am: %v global read lock: %w", d.h.inst.id, err)
	}
	defer w.fab.AMO64(owner, off, fabric.AMOAdd, ^uint64(0), 0)
	// The local lock orders this PE's goroutines for the race detector,
	// which does not see atomics on the shared mapping; it is uncontended
	// when the global lock is.
	if err := d.h.inst.rw.lock(ctx, false); err != nil {
		return fmt.Errorf("am: %v read lock: %w", d.h.inst.id, err)
	}
	defer d.h.inst.rw.unlock(false)
	return fn(d.h.inst.val.(*T))
}

// Write runs fn with this PE's instance under the global write lock.
func (d *GlobalRwDarc[T]) Write(ctx context.Context, fn func(*T) error) error {
	if err := d.handle().live("write"); err != nil {
		return err
	}
	if err := checkArgs("write", ctx, fn); err != nil {
		return err
	}
	if err := d.wlock(ctx); err != nil {
		return err
	}
	defer d.wunlock()
	if err := d.h.inst.rw.lock(ctx, true); err != nil {
		return fmt.Errorf("am: %v write lock: %w", d.h.inst.id, err)
	}
	defer d.h.inst.rw.unlock(true)
	return fn(d.h.inst.val.(*T))
}

func (d *GlobalRwDarc[T]) wlock(ctx context.Context) error {
	w, owner, off := d.h.w, d.h.inst.id.owner, d.lockOff()
	err := w.retry(ctx, func() (bool, error) {
		old, err := w.fab.AMO64(owner, off, fabric.AMOCompareSwap, writerBit, 0)
		return err == nil && old == 0, err
	})
	if err != nil {
		return fmt.Errorf("am: %v global write lock: %w", d.h.inst.id, err)
	}
	return nil
}

func (d *GlobalRwDarc[T]) wunlock() {
	// Clear only the writer bit: readers that found it set are backing
	// out their increments concurrently.
	d.h.w.fab.AMO64(d.h.inst.id.owner, d.lockOff(), fabric.AMOAnd, ^uint64(writerBit), 0)
}

// CollectiveWrite is collective over the Darc's team: the team takes the
// global write lock once, every member runs fn on its own instance, and
// the lock is released when all are done.
func (d *GlobalRwDarc[T]) CollectiveWrite(ctx context.Context, fn func(*T) error) error {
	if err := d.handle().live("collective write"); err != nil {
		return err
	}
	if err := checkArgs("collective write", ctx, fn); err != nil {
		return err
	}
	team := d.h.inst.team
	lead := team.MyPE() == 0
	if lead {
		if err := d.wlock(ctx); err != nil {
			return err
		}
	}
	if err := team.Barrier(ctx); err != nil {
		return fmt.Errorf("am: collective write: %w", err)
	}
	ferr := d.h.inst.rw.lock(ctx, true)
	if ferr == nil {
		ferr = fn(d.h.inst.val.(*T))
		d.h.inst.rw.unlock(true)
	}
	err := team.Barrier(ctx)
	if lead {
		d.wunlock()
	}
	if err != nil {
		return fmt.Errorf("am: collective write: %w", err)
	}
	return ferr
}

// Clone returns another handle.
func (d *GlobalRwDarc[T]) Clone() (*GlobalRwDarc[T], error) {
	if err := d.handle().live("clone"); err != nil {
		return nil, err
	}
	if err := d.h.inst.incRef(d.h.w); err != nil {
		return nil, err
	}
	c := &GlobalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// Drop releases this handle.
func (d *GlobalRwDarc[T]) Drop() error { return d.handle().drop() }

// LocalRefs is the number of references on this PE (0 for a nil Darc).
func (d *GlobalRwDarc[T]) LocalRefs() int { return d.handle().localRefs() }

func (d *GlobalRwDarc[T]) encodeDarc(e *codec.Encoder) { d.h.encode(e) }
func (d *GlobalRwDarc[T]) decodeDarc(dd *codec.Decoder) {
	if inst := d.h.decode(dd, kindGlobalRw, &d.h); inst != nil {
		if _, ok := inst.val.(*T); !ok {
			dd.Fail(fmt.Errorf("%v holds %T, the AM carries a GlobalRwDarc of %T", inst.id, inst.val, new(T)))
		}
	}
}

// retry calls try until it succeeds, helping this PE progress meanwhile
// and backing off as the policy's Backoff says (yields, then sleeps).
func (w *World) retry(ctx context.Context, try func() (bool, error)) error {
	b := w.pol.Backoff()
	for {
		ok, err := try()
		if err != nil || ok {
			return err
		}
		if err := cause.Err(ctx); err != nil {
			return err
		}
		w.flushDirty()
		w.poll()
		if t := w.pop(); t != nil {
			w.run(t)
			continue
		}
		if err := b.Pause(ctx); err != nil {
			return err
		}
	}
}

// ---- conversions ----

// convert turns h's Darc into kind, collectively over its team: every
// member waits until its handle is the only reference on its PE and no PE
// outside the team holds one, then the instances change kind and h is
// consumed.
func convert(ctx context.Context, h *handle, kind int) error {
	op := "convert to " + kindNames[kind]
	if err := h.live(op); err != nil {
		return err
	}
	if err := checkCtx(op, ctx); err != nil {
		return err
	}
	w, inst := h.w, h.inst
	team := inst.team
	start := time.Now()
	warned := false
	warn := func(what string) {
		if !warned && time.Since(start) > w.opt.ConvertWarn {
			warned = true
			w.opt.Logf("am: PE %d: %s of %v waits for %s", w.me, op, inst.id, what)
		}
	}
	localWhat := func() string {
		return fmt.Sprintf("%d references on this PE to be dropped (want 1: the handle being converted)", inst.refs.Load())
	}
	err := w.retry(ctx, func() (bool, error) {
		if inst.refs.Load() == 1 {
			return true, nil
		}
		warn(localWhat())
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("am: %s of %v: still waiting for %s: %w", op, inst.id, localWhat(), err)
	}
	if err := team.Barrier(ctx); err != nil {
		return fmt.Errorf("am: %s: %w", op, err)
	}
	globalWhat := func(n int) string {
		return fmt.Sprintf("%d PEs holding references (want the %d members of its team: PEs outside it still hold some)", n, inst.members)
	}
	if team.MyPE() == 0 {
		n := 0
		err := w.retry(ctx, func() (bool, error) {
			var err error
			n, err = w.globalRefs(inst)
			if err != nil || n == inst.members {
				return err == nil, err
			}
			warn(globalWhat(n))
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("am: %s of %v: still waiting for %s: %w", op, inst.id, globalWhat(n), err)
		}
	}
	if err := team.Barrier(ctx); err != nil {
		return fmt.Errorf("am: %s: %w", op, err)
	}
	inst.kind.Store(int32(kind))
	h.dropped.Store(true) // its reference passes to the new handle
	h.untrack()
	if err := team.Barrier(ctx); err != nil {
		return fmt.Errorf("am: %s: %w", op, err)
	}
	return nil
}

// IntoLocalRw converts d collectively (see Darc conversions in the package
// doc); d is consumed.
func IntoLocalRw[T any](ctx context.Context, d *Darc[T]) (*LocalRwDarc[T], error) {
	if err := convert(ctx, d.handle(), kindLocalRw); err != nil {
		return nil, err
	}
	c := &LocalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// IntoGlobalRw converts d collectively; d is consumed.
func IntoGlobalRw[T any](ctx context.Context, d *Darc[T]) (*GlobalRwDarc[T], error) {
	if err := convert(ctx, d.handle(), kindGlobalRw); err != nil {
		return nil, err
	}
	c := &GlobalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// IntoDarc converts d collectively back to a Darc; d is consumed.
func (d *LocalRwDarc[T]) IntoDarc(ctx context.Context) (*Darc[T], error) {
	if err := convert(ctx, d.handle(), kindDarc); err != nil {
		return nil, err
	}
	c := &Darc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// IntoGlobalRw converts d collectively; d is consumed.
func (d *LocalRwDarc[T]) IntoGlobalRw(ctx context.Context) (*GlobalRwDarc[T], error) {
	if err := convert(ctx, d.handle(), kindGlobalRw); err != nil {
		return nil, err
	}
	c := &GlobalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// IntoDarc converts d collectively back to a Darc; d is consumed.
func (d *GlobalRwDarc[T]) IntoDarc(ctx context.Context) (*Darc[T], error) {
	if err := convert(ctx, d.handle(), kindDarc); err != nil {
		return nil, err
	}
	c := &Darc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}

// IntoLocalRw converts d collectively; d is consumed.
func (d *GlobalRwDarc[T]) IntoLocalRw(ctx context.Context) (*LocalRwDarc[T], error) {
	if err := convert(ctx, d.handle(), kindLocalRw); err != nil {
		return nil, err
	}
	c := &LocalRwDarc[T]{handle{w: d.h.w, inst: d.h.inst}}
	return tracked(c, &c.h), nil
}
