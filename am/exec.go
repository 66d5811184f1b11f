package am

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/hostshmem"
)

// Context is what a handler gets: the PE it runs on, the PE that sent the
// AM, and a context.Context that ends when the World closes. Pass it to the
// waits a handler makes (Future.Wait, WaitAll, Darc locks). The runtime
// makes it: a nil or zero *Context is not a context.Context, and passing
// one where a context is expected is ErrInvalidArg.
type Context struct {
	context.Context
	w      *World
	origin int
}

// World is the World the handler runs in: launch AMs from a handler with
// it (nil for a nil Context).
func (c *Context) World() *World {
	if c == nil {
		return nil
	}
	return c.w
}

// MyPE is the PE the handler runs on (-1 for a nil Context).
func (c *Context) MyPE() int { return c.World().MyPE() }

// NPEs is the number of PEs (-1 for a nil Context).
func (c *Context) NPEs() int { return c.World().NPEs() }

// Origin is the PE that sent the AM (MyPE for a local AM; -1 for a nil
// Context).
func (c *Context) Origin() int {
	if c == nil || c.w == nil {
		return -1
	}
	return c.origin
}

// Next is the result type of an AM that returns another AM: ReturnAM makes
// one in a handler, the returned AM runs back on the PE that sent the first
// one, and the first one's future completes with a Next holding the
// returned AM's result.
type Next[R any] struct {
	am  any
	val R
}

// ReturnAM makes the result of a handler that returns AM b: b (whose type
// must be registered) runs on the PE that sent the AM being handled.
func ReturnAM[B Handler[R], R any](b B) Next[R] { return Next[R]{am: b} }

// Value is the returned AM's result.
func (n Next[R]) Value() R { return n.val }

type nextResult interface {
	wrap(v any) any
	returned() any
}

func (Next[R]) wrap(v any) any  { return Next[R]{val: v.(R)} }
func (n Next[R]) returned() any { return n.am }

// ---- calls and scopes ----

// scope counts the AMs launched through it (WaitAll).
type scope struct {
	w       *World
	team    *hostshmem.Team // nil: the world
	pending atomic.Int64
	parent  *scope
}

// call is one AM in flight, from launch to result.
type call struct {
	w      *World
	id     uint64
	pe     int // target world PE
	e      *entry
	state  atomic.Int32
	doneMu sync.Mutex
	done   chan struct{} // made by Done only: most futures are waited on, not selected on
	res    any
	err    error
	s      *scope
	darcs  atomic.Pointer[[]*darcInst] // references the message carries
	parent *multi
}

type multi struct {
	left atomic.Int32
	done chan struct{}
}

func (c *call) name() string {
	if c.e != nil {
		return c.e.name
	}
	return "unregistered AM" // only calls that failed at launch have no entry, and their errors name the type
}

// initCall makes c the call of an AM of type e (nil: unregistered, named
// failed at launch) to world PE pe, counted in s and its parents and in m.
func (w *World) initCall(c *call, e *entry, pe int, s *scope, m *multi) {
	*c = call{w: w, pe: pe, e: e, s: s, parent: m}
	for p := s; p != nil; p = p.parent {
		p.pending.Add(1)
	}
}

// newFuture returns a Future of one AM with its call, in one allocation.
func newFuture[R any](w *World, e *entry, pe int, s *scope, m *multi) *Future[R] {
	fc := &struct {
		f Future[R]
		c call
	}{}
	w.initCall(&fc.c, e, pe, s, m)
	fc.f.c = &fc.c
	return &fc.f
}

func (w *World) track(c *call) { w.calls.add(c) }

// callTable holds the calls that wait for a reply. The low 32 bits of a
// call's id index its slot; the high bits count launches, so that a reply
// for a call that failed already (its slot since reused) matches nothing.
type callTable struct {
	sync.Mutex
	slots []*call
	free  []uint32
	seq   uint64
}

// add gives c an id (never 0) and a slot.
func (t *callTable) add(c *call) {
	t.Lock()
	t.seq++
	var i uint32
	if k := len(t.free); k > 0 {
		i = t.free[k-1]
		t.free = t.free[:k-1]
	} else {
		i = uint32(len(t.slots))
		t.slots = append(t.slots, nil)
	}
	c.id = t.seq<<32 | uint64(i)
	t.slots[i] = c
	t.Unlock()
}

// get returns the call with id, or nil.
func (t *callTable) get(id uint64) *call {
	i := uint32(id)
	t.Lock()
	var c *call
	if int(i) < len(t.slots) {
		if c = t.slots[i]; c != nil && c.id != id {
			c = nil
		}
	}
	t.Unlock()
	return c
}

// remove frees c's slot.
func (t *callTable) remove(c *call) {
	i := uint32(c.id)
	t.Lock()
	if int(i) < len(t.slots) && t.slots[i] == c {
		t.slots[i] = nil
		t.free = append(t.free, i)
	}
	t.Unlock()
}

// each returns the calls waiting for a reply that match keep.
func (t *callTable) each(keep func(*call) bool) []*call {
	t.Lock()
	defer t.Unlock()
	var cs []*call
	for _, c := range t.slots {
		if c != nil && keep(c) {
			cs = append(cs, c)
		}
	}
	return cs
}

// complete finishes c once; later completions are ignored.
func (w *World) complete(c *call, res any, err error) {
	if !c.state.CompareAndSwap(0, 1) {
		return
	}
	if c.id != 0 {
		w.calls.remove(c)
	}
	c.res, c.err = res, err
	if ds := c.darcs.Swap(nil); ds != nil {
		for _, d := range *ds {
			d.decRef(w)
		}
	}
	c.doneMu.Lock()
	c.state.Store(2)
	if c.done != nil {
		close(c.done)
	}
	c.doneMu.Unlock()
	if c.parent != nil && c.parent.left.Add(-1) == 0 {
		close(c.parent.done)
	}
	for p := c.s; p != nil; p = p.parent {
		p.pending.Add(-1)
	}
	if w.sched.waiters.Load() > 0 {
		w.fab.Notify(w.me, w.base, 8)
	}
}

func (w *World) failAll(err error) {
	for _, c := range w.calls.each(func(*call) bool { return true }) {
		w.complete(c, nil, fmt.Errorf("am: %s to PE %d: %w", c.name(), c.pe, err))
	}
}

// ---- futures ----

// Future is the result of an AM (or of one AM on every PE of a team) that
// is already on its way: launching is eager, so an AM runs whether or not
// anyone waits on its future.
type Future[R any] struct {
	c   *call // one AM
	all *allOf[R]
}

// allOf is the part of a Future that ExecAll makes: one call per PE.
type allOf[R any] struct {
	w     *World
	cs    []*call // in PE order
	m     *multi
	build func() (R, error)
}

// world returns the World f's AMs were launched on: nil when the launch
// failed without one (a nil Launcher), and then f is complete.
func (f *Future[R]) world() *World {
	if f.all != nil {
		return f.all.w
	}
	return f.c.w
}

// empty reports whether f is nil or zero (not made by a launch).
func (f *Future[R]) empty() bool { return f == nil || (f.all == nil && f.c == nil) }

// Wait blocks until the AM has run and returns its result. While it waits
// the calling goroutine drains this PE's queues and may run other AMs'
// handlers (so a handler that waits on AMs it launched cannot starve the
// pool). It returns ctx's error when ctx ends first (the AM still runs),
// an *Error when the handler failed on its PE, an error matching
// fabric.ErrPeerDead when that PE died, ErrClosed when the World was
// closed meanwhile, and ErrInvalidArg for a nil or zero Future or a nil
// ctx.
func (f *Future[R]) Wait(ctx context.Context) (R, error) {
	var zero R
	if f.empty() {
		return zero, fmt.Errorf("am: wait: %w: nil or zero Future", ErrInvalidArg)
	}
	if err := checkCtx("wait", ctx); err != nil {
		return zero, err
	}
	if w := f.world(); w != nil {
		if err := w.block(ctx, f); err != nil {
			return zero, fmt.Errorf("am: wait: %w", err)
		}
	}
	if f.all != nil {
		return f.all.build()
	}
	if f.c.err != nil {
		return zero, f.c.err
	}
	r, _ := f.c.res.(R) // a nil interface R was stored as nil
	return r, nil
}

// Completed returns a Future that is complete already, with v and err:
// the result of work done at once (an array element changed with a
// direct atomic, say), for APIs whose other results come from AMs. Its
// Wait returns v and err at once and Done is closed.
func Completed[R any](v R, err error) *Future[R] {
	c := &call{res: v, err: err}
	c.state.Store(2)
	return &Future[R]{c: c}
}

func (f *Future[R]) ready() bool { return f.Ready() }

// Ready reports whether Wait would return at once (true for a nil or zero
// Future, whose Wait fails at once).
func (f *Future[R]) Ready() bool {
	if f.empty() {
		return true
	}
	if f.all != nil {
		return f.all.m.left.Load() == 0
	}
	return f.c.state.Load() == 2
}

// Done returns a channel that is closed when the AM has run, for select
// (closed already for a nil or zero Future). Unlike Wait, selecting on
// Done does not drain queues: this PE's handler goroutines do.
func (f *Future[R]) Done() <-chan struct{} {
	if f.empty() {
		return closedChan
	}
	if w := f.world(); w != nil && !w.state.shut.Load() {
		w.flushDirty()
	}
	if f.all != nil {
		return f.all.m.done
	}
	c := f.c
	c.doneMu.Lock()
	defer c.doneMu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.state.Load() == 2 {
			close(c.done)
		}
	}
	return c.done
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func failed[R any](w *World, s *scope, m *multi, pe int, err error) *Future[R] {
	f := newFuture[R](w, nil, pe, s, m)
	w.complete(f.c, nil, err)
	return f
}

// failedAlone returns a Future failed at launch with err, for a launch
// without a World to count it in (a nil or zero Launcher).
func failedAlone[R any](pe int, err error) *Future[R] {
	c := &call{pe: pe, err: err}
	c.state.Store(2)
	return &Future[R]{c: c}
}

// ---- launching ----

// Launcher is where AMs are launched from: a *World, a *Team or a
// *TaskGroup. Its WaitAll waits for what was launched through it.
type Launcher interface {
	scope() *scope
}

func (w *World) scope() *scope {
	if w == nil {
		return nil
	}
	return &w.all
}

// scopeOf returns l's scope, or says why l cannot launch: it is nil, or a
// nil or zero World, Team or TaskGroup.
func scopeOf(l Launcher) (*scope, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil Launcher", ErrInvalidArg)
	}
	s := l.scope()
	if s == nil || s.w == nil || s.w.pe == nil {
		return nil, fmt.Errorf("%w: nil or zero %T (make a World with New, a Team with World.Team, a TaskGroup with NewTaskGroup)", ErrInvalidArg, l)
	}
	return s, nil
}

// worldPE maps a PE index of s's team to a world PE.
func (s *scope) worldPE(pe int) (int, error) {
	n := s.w.n
	if s.team != nil {
		n = s.team.NPEs()
	}
	if pe < 0 || pe >= n {
		return -1, fmt.Errorf("%w: PE %d not in [0, %d)", errInvalidPE, pe, n)
	}
	if s.team != nil {
		return s.team.WorldPE(pe), nil
	}
	return pe, nil
}

func (s *scope) size() int {
	if s.team != nil {
		return s.team.NPEs()
	}
	return s.w.n
}

// Exec sends a to PE pe of l's team (the world for a *World), where its
// handler runs, and returns the future of its result. To this PE itself
// it runs like ExecLocal, without serialization. Errors (a bad PE, an
// unregistered type, a closed World, a nil Launcher) come back through the
// future.
func Exec[A Handler[R], R any](l Launcher, pe int, a A) *Future[R] {
	s, err := scopeOf(l)
	if err != nil {
		return failedAlone[R](pe, fmt.Errorf("am: exec %v on PE %d: %w", reflect.TypeFor[A](), pe, err))
	}
	wpe, err := s.worldPE(pe)
	if err != nil {
		return failed[R](s.w, s, nil, pe, fmt.Errorf("am: exec %v: %w", reflect.TypeFor[A](), err))
	}
	return execWorld[A, R](s, wpe, a, nil)
}

// ExecLocal runs a on this PE, without serialization, on a handler
// goroutine (or a goroutine waiting in this PE), and returns its future.
func ExecLocal[A Handler[R], R any](l Launcher, a A) *Future[R] {
	s, err := scopeOf(l)
	if err != nil {
		return failedAlone[R](-1, fmt.Errorf("am: exec %v locally: %w", reflect.TypeFor[A](), err))
	}
	return execWorld[A, R](s, s.w.me, a, nil)
}

func execWorld[A Handler[R], R any](s *scope, wpe int, a A, m *multi) *Future[R] {
	w := s.w
	if w.state.shut.Load() {
		return failed[R](w, s, m, wpe, fmt.Errorf("am: exec %v: %w", reflect.TypeFor[A](), ErrClosed))
	}
	e := w.reg.lookupType(reflect.TypeFor[A]())
	if e == nil {
		t := reflect.TypeFor[A]().String()
		return failed[R](w, s, m, wpe, fmt.Errorf("am: exec %s on PE %d: %w: register it with am.Register", t, wpe, ErrUnregistered))
	}
	f := newFuture[R](w, e, wpe, s, m)
	w.launch(f.c, e, a)
	return f
}

// ExecAll sends a to every PE of l's team (this one included) and returns
// one future of all results, ordered by PE index in the team. If some
// fail, Wait returns the results it has and an error joining the failures.
func ExecAll[A Handler[R], R any](l Launcher, a A) *Future[[]R] {
	s, err := scopeOf(l)
	if err != nil {
		return failedAlone[[]R](-1, fmt.Errorf("am: exec %v on every PE: %w", reflect.TypeFor[A](), err))
	}
	w := s.w
	n := s.size()
	m := &multi{done: make(chan struct{})}
	m.left.Store(int32(n))
	cs := make([]*call, n)
	for i := range n {
		wpe, _ := s.worldPE(i)
		cs[i] = execWorld[A, R](s, wpe, a, m).c
	}
	f := &Future[[]R]{all: &allOf[[]R]{w: w, cs: cs, m: m}}
	f.all.build = func() ([]R, error) {
		out := make([]R, n)
		var errs []error
		for i, c := range cs {
			if c.err != nil {
				errs = append(errs, c.err)
				continue
			}
			out[i] = c.res.(R)
		}
		return out, errors.Join(errs...)
	}
	return f
}

// ExecMany sends as[i] to PE pes[i] of l's team, for every i, and returns
// one future of all of them whose result is build's, called by Wait with
// the results in the order of as (with no AMs, at once). If some fail,
// Wait returns an error joining the failures and does not call build.
// It is how a library returns one future for work it splits among PEs
// (a distributed array's batch: one AM per PE that owns some of it).
func ExecMany[A Handler[R], R, S any](l Launcher, pes []int, as []A, build func([]R) (S, error)) *Future[S] {
	s, err := scopeOf(l)
	if err == nil && len(pes) != len(as) {
		err = fmt.Errorf("%w: %d PEs for %d AMs", ErrInvalidArg, len(pes), len(as))
	}
	if err == nil && build == nil {
		err = fmt.Errorf("%w: nil build function", ErrInvalidArg)
	}
	if err != nil {
		return failedAlone[S](-1, fmt.Errorf("am: exec many %v: %w", reflect.TypeFor[A](), err))
	}
	n := len(as)
	m := &multi{done: make(chan struct{})}
	m.left.Store(int32(n))
	if n == 0 {
		close(m.done)
	}
	cs := make([]*call, n)
	for i, a := range as {
		wpe, err := s.worldPE(pes[i])
		if err != nil {
			cs[i] = failed[R](s.w, s, m, pes[i], fmt.Errorf("am: exec %v: %w", reflect.TypeFor[A](), err)).c
			continue
		}
		cs[i] = execWorld[A, R](s, wpe, a, m).c
	}
	f := &Future[S]{all: &allOf[S]{w: s.w, cs: cs, m: m}}
	f.all.build = func() (S, error) {
		out := make([]R, n)
		var errs []error
		for i, c := range cs {
			if c.err != nil {
				errs = append(errs, c.err)
				continue
			}
			out[i], _ = c.res.(R)
		}
		if len(errs) > 0 {
			var zero S
			return zero, errors.Join(errs...)
		}
		return build(out)
	}
	return f
}

// launch sends c's AM a (or queues it here when c targets this PE).
func (w *World) launch(c *call, e *entry, a any) {
	if c.pe == w.me {
		w.push(&task{e: e, arg: a, src: w.me, call: c})
		return
	}
	if err := w.deadErr(c.pe); err != nil {
		w.complete(c, nil, fmt.Errorf("am: %s to PE %d: %w", e.name, c.pe, err))
		return
	}
	w.track(c)
	err := w.encodeSend(c.pe, kReq, c.id, e.id, e.arg, a, c) // the receiver releases a large payload's chunk
	if err != nil {
		w.complete(c, nil, fmt.Errorf("am: %s to PE %d: %w", e.name, c.pe, err))
	}
}

// encodeSend encodes v with cd as the body of a frame to pe: in the frame
// when small, else in a chunk of our arena, which the receiver releases
// when it is done with it (or which peerError reclaims). c, when not
// nil, is the call whose request this is: it holds the Darc references
// the message carries.
func (w *World) encodeSend(pe int, kind byte, id, tid uint64, cd *codec.Codec, v any, c *call) error {
	return w.encodeSendPrefix(pe, kind, id, tid, nil, cd, v, c)
}

func (w *World) encodeSendPrefix(pe int, kind byte, id, tid uint64, prefix []byte, cd *codec.Codec, v any, c *call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: encoding %v panicked: %v", ErrCodec, cd.Type(), r)
		}
	}()
	size := cd.Size(v)
	if size >= 0 && size+len(prefix) < w.opt.LargeBytes {
		return w.sendFrame(pe, kind, 0, id, tid, c, func(e *codec.Encoder) {
			e.Buf = append(e.Buf, prefix...)
			cd.Encode(e, v)
		})
	}
	e := &codec.Encoder{Ctx: c} // the large path: one allocation is nothing beside the copy
	var buf []byte
	if size < 0 { // only encoding tells: encode into a Go buffer first
		e.Buf = append([]byte(nil), prefix...)
		cd.Encode(e, v)
		if err := e.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrCodec, err)
		}
		buf = e.Buf
		if len(buf) < w.opt.LargeBytes {
			return w.sendFrame(pe, kind, 0, id, tid, nil, func(e *codec.Encoder) { e.Buf = append(e.Buf, buf...) })
		}
		size = len(buf) - len(prefix)
	}
	total := size + len(prefix)
	off, err := w.allocArena(uint64(total), pe)
	if err != nil {
		return err
	}
	mem := w.local[off : off+uint64(total) : off+uint64(total)]
	if buf != nil {
		copy(mem, buf)
	} else {
		e.Buf = append(mem[:0], prefix...)
		cd.Encode(e, v)
		if e.Err() != nil || len(e.Buf) != total || unsafe.SliceData(e.Buf) != unsafe.SliceData(mem) {
			w.tx.arena.Free(off)
			if err := e.Err(); err != nil {
				return fmt.Errorf("%w: %w", ErrCodec, err)
			}
			return fmt.Errorf("%w: %v encoded to %d bytes, its size said %d", ErrCodec, cd.Type(), len(e.Buf), total)
		}
	}
	var ref [16]byte
	binary.LittleEndian.PutUint64(ref[:], off)
	binary.LittleEndian.PutUint64(ref[8:], uint64(total))
	if err := w.sendFrame(pe, kind, flagLarge, id, tid, nil, func(e *codec.Encoder) { e.Buf = append(e.Buf, ref[:]...) }); err != nil {
		w.tx.arena.Free(off)
		return err
	}
	return nil
}

// run runs task t's handler on the calling goroutine and delivers its
// result: to the call it completes here, or as a reply to its origin.
func (w *World) run(t *task) {
	if t.held {
		defer w.release(t.src, t.chunk)
	}
	if t.err != nil { // failed before its handler: say so to the origin
		w.reply(t, nil, t.err)
		return
	}
	t.ctx = Context{Context: w.ctx, w: w, origin: t.src}
	ctx := &t.ctx
	res, err := w.safeExec(t.e, ctx, t.arg)
	dropRefs(w, t.darcs)
	if err == nil && t.e.isNext && (t.call != nil || t.src == w.me) {
		// Returned AM of a local AM: run it here and now.
		nx := res.(nextResult)
		ne := w.reg.lookupType(reflect.TypeOf(nx.returned()))
		if ne == nil {
			err = fmt.Errorf("%w: returned AM %T", ErrUnregistered, nx.returned())
		} else {
			var r2 any
			r2, err = w.safeExec(ne, ctx, nx.returned())
			if err == nil {
				res = t.e.mkNext(r2)
			}
		}
	}
	if t.call != nil {
		if err == nil && t.wrap != nil {
			res = t.wrap(res)
		}
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				err = &Error{PE: w.me, AM: t.e.name, Kind: wireKindErr(err), Msg: err.Error()}
			}
		}
		w.complete(t.call, res, err)
		return
	}
	w.reply(t, res, err)
}

func wireKindErr(err error) error { return wireKinds[wireKind(err)] }

// safeExec runs e's handler, turning a panic into an ErrPanic error.
func (w *World) safeExec(e *entry, ctx *Context, a any) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())
		}
	}()
	res, err = e.exec(ctx, a)
	if err != nil && !errors.Is(err, ErrPanic) {
		err = fmt.Errorf("%w: %w", ErrHandler, err)
	}
	return res, err
}

// reply sends t's result (or error) back to t.src.
func (w *World) reply(t *task, res any, err error) {
	if err == nil && t.e.isNext {
		nx := res.(nextResult)
		ne := w.reg.lookupType(reflect.TypeOf(nx.returned()))
		if ne == nil {
			err = fmt.Errorf("%w: returned AM %T", ErrUnregistered, nx.returned())
		} else {
			var pre [8]byte
			binary.LittleEndian.PutUint64(pre[:], ne.id)
			if ne.arg.HasExt() {
				err = fmt.Errorf("%w: returned AM %s carries a Darc, which a reply cannot carry", ErrCodec, ne.name)
			} else if err = w.encodeSendPrefix(t.src, kReply, t.id, stNext, pre[:], ne.arg, nx.returned(), nil); err == nil {
				return
			}
		}
	}
	if err == nil {
		if err = w.encodeSend(t.src, kReply, t.id, stOK, t.e.res, res, nil); err == nil {
			return
		}
		err = fmt.Errorf("%w: result: %w", ErrCodec, err)
	}
	msg := strings.TrimPrefix(err.Error(), wireKindErr(err).Error()+": ")
	if errors.Is(err, ErrUnregistered) && t.e == nil {
		msg = fmt.Sprintf("type id %#x is not registered on PE %d", t.tid, w.me)
	}
	if len(msg) > 1024 {
		msg = msg[:1024] + "..."
	}
	st := uint64(stErr) | uint64(wireKind(err))<<8
	if ferr := w.sendFrame(t.src, kReply, 0, t.id, st, nil, func(e *codec.Encoder) { e.Buf = append(e.Buf, msg...) }); ferr != nil && w.deadErr(t.src) == nil {
		w.opt.Logf("am: PE %d: cannot reply to PE %d: %v", w.me, t.src, ferr)
	}
}

// ---- waiting for groups ----

// WaitAll blocks until every AM launched on this PE through w (from any
// goroutine, scope or handler) has completed, and returns ctx's error if
// it ends first. Failed AMs do not make WaitAll fail: their futures say why.
func (w *World) WaitAll(ctx context.Context) error {
	if err := w.check("wait all"); err != nil {
		return err
	}
	return w.all.waitAll(ctx)
}

func (s *scope) waitAll(ctx context.Context) error {
	if err := checkCtx("wait all", ctx); err != nil {
		return err
	}
	if err := s.w.block(ctx, condFunc(func() bool { return s.pending.Load() == 0 })); err != nil {
		return fmt.Errorf("am: wait all: %d AMs still pending: %w", s.pending.Load(), err)
	}
	return nil
}

// Team is a World restricted to a hostshmem team: ExecAll runs on its
// members, PE numbers are team indices, and WaitAll waits for what was
// launched through the Team.
type Team struct {
	s scope
}

// Team returns the view of w on team t (nil: the world team); nil for a
// nil World.
func (w *World) Team(t *hostshmem.Team) *Team {
	if w == nil {
		return nil
	}
	tm := &Team{}
	tm.s.w, tm.s.team, tm.s.parent = w, t, &w.all
	return tm
}

func (t *Team) scope() *scope {
	if t == nil {
		return nil
	}
	return &t.s
}

// WaitAll waits for every AM launched through t.
func (t *Team) WaitAll(ctx context.Context) error {
	if t == nil || t.s.w == nil {
		return fmt.Errorf("am: wait all: %w: nil or zero Team", ErrInvalidArg)
	}
	return t.s.waitAll(ctx)
}

// NewTaskGroup returns a group on the team's PEs (nil for a nil Team).
func (t *Team) NewTaskGroup() *TaskGroup {
	if t == nil {
		return nil
	}
	g := &TaskGroup{}
	g.s.w, g.s.team, g.s.parent = t.s.w, t.s.team, &t.s
	return g
}

// TaskGroup is a scope for AMs: launch through it (it is a Launcher) and
// WaitAll waits for those only.
type TaskGroup struct {
	s scope
}

// NewTaskGroup returns an empty task group over the whole world (nil for a
// nil World).
func (w *World) NewTaskGroup() *TaskGroup {
	if w == nil {
		return nil
	}
	g := &TaskGroup{}
	g.s.w, g.s.parent = w, &w.all
	return g
}

func (g *TaskGroup) scope() *scope {
	if g == nil {
		return nil
	}
	return &g.s
}

// WaitAll waits for every AM launched through g.
func (g *TaskGroup) WaitAll(ctx context.Context) error {
	if g == nil || g.s.w == nil {
		return fmt.Errorf("am: wait all: %w: nil or zero TaskGroup", ErrInvalidArg)
	}
	return g.s.waitAll(ctx)
}

// TypedGroup collects AMs of one type whose results come back in the order
// they were added. Adding launches at once. On a nil group, Add and AddAll
// do nothing and Wait returns ErrInvalidArg; through a nil Launcher, each
// Add fails its place with ErrInvalidArg.
type TypedGroup[A Handler[R], R any] struct {
	l    Launcher
	mu   sync.Mutex
	futs []*Future[R]
}

// NewTypedGroup returns an empty group launching through l.
func NewTypedGroup[A Handler[R], R any](l Launcher) *TypedGroup[A, R] {
	return &TypedGroup[A, R]{l: l}
}

// Add launches a on PE pe; its result takes the next place.
func (g *TypedGroup[A, R]) Add(pe int, a A) {
	if g == nil {
		return
	}
	f := Exec[A, R](g.l, pe, a)
	g.mu.Lock()
	g.futs = append(g.futs, f)
	g.mu.Unlock()
}

// AddAll launches a on every PE of the launcher's team; its results take
// the next places, in PE order.
func (g *TypedGroup[A, R]) AddAll(a A) {
	if g == nil {
		return
	}
	n := 1 // a bad launcher: one place says why
	if s, err := scopeOf(g.l); err == nil {
		n = s.size()
	}
	for pe := range n {
		g.Add(pe, a)
	}
}

// Len is the number of AMs added (0 for a nil group).
func (g *TypedGroup[A, R]) Len() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.futs)
}

// Wait waits for every AM added so far and returns their results in
// insertion order; failed ones leave a zero value and are joined in the
// error.
func (g *TypedGroup[A, R]) Wait(ctx context.Context) ([]R, error) {
	if g == nil {
		return nil, fmt.Errorf("am: wait: %w: nil TypedGroup", ErrInvalidArg)
	}
	if err := checkCtx("wait", ctx); err != nil {
		return nil, err
	}
	g.mu.Lock()
	futs := append([]*Future[R](nil), g.futs...)
	g.mu.Unlock()
	out := make([]R, len(futs))
	var errs []error
	for i, f := range futs {
		r, err := f.Wait(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			errs = append(errs, err)
		}
		out[i] = r
	}
	return out, errors.Join(errs...)
}
