package am

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/am/internal/ring"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// Options tune a World. Zero fields take the defaults; every PE must pass
// the same Options. New refuses a negative value (but FlushBytes's) or one
// beyond its limit with ErrInvalidArg naming the field, the value and the
// limit, before it allocates anything.
type Options struct {
	// Threads is the number of handler goroutines of this PE, at most
	// 65536. Default: the PE's hostshmem.Config.Threads (which gshmem.Run
	// reads from GSHMEM_THREADS, else LAMELLAR_THREADS), else GOMAXPROCS.
	Threads int
	// RingBytes is the size of each per-pair queue: a multiple of 64 from
	// 4 KiB to 1 GiB (default 64 KiB). The queues of all PEs, the Darc
	// slots and the arena must fit the symmetric heap together.
	RingBytes int
	// FlushBytes: small AMs to one PE are aggregated in a local buffer and
	// written to its queue in one piece when the buffer reaches this size
	// (at most RingBytes/2), when the receiver has drained everything sent
	// before, or when this PE waits or idles. Default 8 KiB; negative:
	// write every AM at once.
	FlushBytes int
	// LargeBytes: payloads and results of at least this many bytes go
	// through the sender's arena in its symmetric heap, which the receiver
	// decodes in place. Default, and at most, RingBytes/4.
	LargeBytes int
	// ArenaBytes is the arena for large payloads, rounded down to a
	// multiple of 64: at least 64 bytes, at most the symmetric heap
	// (default a quarter of the heap, at most 64 MiB). A payload larger
	// than it is ErrTooLarge.
	ArenaBytes int
	// DarcSlots bounds the Darcs a PE can own at once (default 256, at
	// most 65536).
	DarcSlots int
	// ConvertWarn is how long a Darc conversion waits for outstanding
	// references before it logs what it waits on (default 5s).
	ConvertWarn time.Duration
	// Logf reports slow conversions; log.Printf when nil.
	Logf func(format string, args ...any)
}

// World is one PE's active-message engine: its queues, handler goroutines,
// outstanding futures and Darcs. New makes it (collectively); Close ends
// it. A World may be used from several goroutines at once. Its goroutines,
// states and locks are described in sched.go.
type World struct {
	// Fixed by New.
	pe     *hostshmem.PE
	fab    fabric.Fabric
	me, n  int
	reg    *Registry
	opt    Options
	pol    fabric.WaitPolicy
	spinNs int64           // pol.SpinFor: how long waiters poll before sleeping
	t0     time.Time       // mono's origin
	ctx    context.Context // ends at Close: handlers' contexts derive from it
	cancel context.CancelFunc
	own    *hostshmem.Ownership // the PE's hold on w (hostshmem.PE.Own)

	// The AM area and the arena in the symmetric heap (fixed by New; see
	// the layout below).
	area    hostshmem.Sym[uint64]
	arenaS  hostshmem.Sym[byte]
	base    uintptr  // region offset of the AM area
	local   []byte   // this PE's region
	regions [][]byte // peers' regions, nil where reachable only by RMA
	watchN  uintptr  // bytes of the AM area that waiters watch

	state state     // open, closing, stopped (sched.go)
	sched scheduler // the run queue and who runs it (sched.go)
	tx    transport // the rings, the out queues and the arena (queue.go)

	calls callTable // calls waiting for a reply
	all   scope     // every AM launched through w (WaitAll)

	dead struct { // PEs that died, and the error that says so
		sync.Mutex
		pes map[int]error
	}
	deadAny atomic.Bool // dead.pes is not empty: read without the lock

	darcs darcState // the Darcs (darc.go)

	attach attachments // Attach's (hooks.go)

	bar struct { // Barrier's: one at a time per PE
		sync.Mutex
		epoch uint64
	}
}

// Layout of the AM area (offsets from its start; the area is a symmetric
// allocation, the same on every PE):
//
//	0                      doorbell line: local wake-ups (Notify of our own),
//	                       Barrier's arrival count (PE 0's) and release epoch
//	64                     the rings, one from each PE (package ring's
//	                       layout: ring.AreaBytes(n, RingBytes) bytes)
//	64 + rings             DarcSlots lines: a Darc's global count and lock
//	... + DarcSlots*64     two words of scratch for Darc creation
const (
	lineB     = ring.LineBytes
	frameHdr  = 24
	slotBytes = lineB
)

// Frame kinds.
const (
	kPad = ring.KindPad // a pad frame: the ring's own
	kReq = iota + ring.KindPad
	kReply
	kRelease
	kDarcFree
)

// Reply status (the tid word of a reply).
const (
	stOK = iota
	stErr
	stNext
)

const flagLarge = 1

// Limits of Options (New refuses values beyond them).
const (
	minRingBytes = 4096
	// maxRingBytes: a frame's size is a 32-bit word.
	maxRingBytes = 1 << 30
	// maxThreads: temporary handler goroutines (up to 4*Threads+64) are
	// counted in an int32.
	maxThreads = 1 << 16
	// maxDarcSlots: a Darc's id carries its slot in 16 bits (packID).
	maxDarcSlots = 1 << 16
)

// areaBytes is the size of the AM area (see its layout) for n PEs.
func areaBytes(n int, opt Options) uint64 {
	return lineB + ring.AreaBytes(n, opt.RingBytes) + uint64(opt.DarcSlots)*slotBytes + 2*lineB // + scratch for Darc creation
}

// resolve checks opt against its limits and fills in its defaults, for a
// World of n PEs on a symmetric heap of heap bytes with threads, the PE's
// configured handler goroutines (0: unset). Every size is bounded
// before it enters a sum, so none overflows.
func (opt Options) resolve(n int, heap uintptr, threads int) (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return opt, fmt.Errorf("am: new world: %w: %s", ErrInvalidArg, fmt.Sprintf(format, args...))
	}
	switch {
	case opt.Threads < 0:
		return bad("Options.Threads %d is negative (0: the default)", opt.Threads)
	case opt.Threads > maxThreads:
		return bad("Options.Threads %d exceeds the limit of %d", opt.Threads, maxThreads)
	case opt.Threads == 0 && threads > maxThreads:
		return bad("%d handler goroutines (the PE's Config.Threads: %s or %s) exceed the limit of %d", threads, config.EnvThreads, config.EnvThreadsCompat, maxThreads)
	case opt.Threads == 0 && threads > 0:
		opt.Threads = threads
	case opt.Threads == 0:
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if opt.RingBytes == 0 {
		opt.RingBytes = 64 << 10
	}
	if opt.RingBytes < minRingBytes || opt.RingBytes > maxRingBytes || opt.RingBytes%lineB != 0 {
		return bad("Options.RingBytes %d: want a multiple of %d from %d to %d", opt.RingBytes, lineB, minRingBytes, maxRingBytes)
	}
	if opt.FlushBytes == 0 {
		opt.FlushBytes = 8 << 10
	}
	opt.FlushBytes = min(opt.FlushBytes, opt.RingBytes/2)
	switch {
	case opt.LargeBytes < 0:
		return bad("Options.LargeBytes %d is negative (0: the default, RingBytes/4)", opt.LargeBytes)
	case opt.LargeBytes == 0 || opt.LargeBytes > opt.RingBytes/4:
		opt.LargeBytes = opt.RingBytes / 4
	}
	switch {
	case opt.ArenaBytes < 0:
		return bad("Options.ArenaBytes %d is negative (0: the default)", opt.ArenaBytes)
	case uint64(opt.ArenaBytes) > uint64(heap):
		return bad("Options.ArenaBytes %d exceeds the symmetric heap of %d bytes", opt.ArenaBytes, heap)
	case opt.ArenaBytes == 0:
		opt.ArenaBytes = int(min(heap/4, 64<<20))
	}
	if opt.ArenaBytes&^(lineB-1) < lineB {
		return bad("Options.ArenaBytes %d: want at least %d", opt.ArenaBytes, lineB)
	}
	opt.ArenaBytes &^= lineB - 1
	switch {
	case opt.DarcSlots < 0:
		return bad("Options.DarcSlots %d is negative (0: the default)", opt.DarcSlots)
	case opt.DarcSlots > maxDarcSlots:
		return bad("Options.DarcSlots %d exceeds the limit of %d", opt.DarcSlots, maxDarcSlots)
	case opt.DarcSlots == 0:
		opt.DarcSlots = 256
	}
	switch {
	case opt.ConvertWarn < 0:
		return bad("Options.ConvertWarn %v is negative (0: the default)", opt.ConvertWarn)
	case opt.ConvertWarn == 0:
		opt.ConvertWarn = 5 * time.Second
	}
	// RingBytes < 2^30 and DarcSlots < 2^16: the sum fits 64 bits.
	if area := areaBytes(n, opt); area+uint64(opt.ArenaBytes) > uint64(heap) {
		return bad("Options.RingBytes %d: the queues of %d PEs and %d Darc slots (%d bytes) and the arena (Options.ArenaBytes %d) exceed the symmetric heap of %d bytes",
			opt.RingBytes, n, opt.DarcSlots, area, opt.ArenaBytes, heap)
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	return opt, nil
}

// New makes the World of PE pe: it allocates the queues and the arena in
// the symmetric heap and starts the handler goroutines. It is collective:
// every PE of pe's job calls it, in the same order relative to other
// collective calls, with the same Options. reg holds the AM types; every
// PE must register the same ones. Bad Options (see Options) fail on every
// PE before the first collective step.
func New(ctx context.Context, pe *hostshmem.PE, reg *Registry, opt Options) (*World, error) {
	if pe == nil || reg == nil {
		return nil, fmt.Errorf("am: new world: %w: nil PE or registry", ErrInvalidArg)
	}
	if err := checkCtx("new world", ctx); err != nil {
		return nil, err
	}
	n := pe.NPEs()
	opt, err := opt.resolve(n, pe.HeapSize(), pe.Config().Threads)
	if err != nil {
		return nil, err
	}
	w := &World{pe: pe, fab: pe.Fabric(), me: pe.MyPE(), n: n, reg: reg, opt: opt, t0: time.Now()}
	w.pol = fabric.PolicyOf(w.fab)
	w.spinNs = int64(w.pol.SpinFor)
	bytes := areaBytes(n, opt)
	if w.area, err = hostshmem.Calloc[uint64](ctx, pe, int(bytes/8)); err != nil {
		return nil, fmt.Errorf("am: new world: queues: %w", err)
	}
	if w.arenaS, err = hostshmem.Malloc[byte](ctx, pe, opt.ArenaBytes); err != nil {
		hostshmem.Free(ctx, pe, w.area)
		return nil, fmt.Errorf("am: new world: arena of %d bytes: %w", opt.ArenaBytes, err)
	}
	w.base = w.area.Offset()
	rings := uintptr(ring.AreaBytes(n, opt.RingBytes))
	w.watchN = lineB + rings
	w.local = w.fab.Region(w.me)
	w.regions = make([][]byte, n)
	for i := range n {
		w.regions[i] = w.fab.Region(i)
	}
	w.tx.rings = ring.New(w.fab, ring.Config{Base: w.base + lineB, Size: opt.RingBytes, MinFrame: frameHdr})
	w.tx.arena.Init(w.arenaS.Offset(), uint64(opt.ArenaBytes))
	w.tx.out = make([]*outQ, n)
	for i := range w.tx.out {
		w.tx.out[i] = &outQ{}
	}
	w.all.w = w
	w.dead.pes = map[int]error{}
	w.darcs.init(w.base+lineB+rings, opt.DarcSlots)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.sched.idle = make(chan struct{}, opt.Threads+64)
	// Every PE's queues must be zero before anyone sends: the barrier
	// also orders Calloc's zeroing before the first remote write.
	if err := pe.BarrierAll(ctx); err != nil {
		w.cancel()
		return nil, fmt.Errorf("am: new world: %w", err)
	}
	for range opt.Threads {
		w.startWorker(false)
	}
	// A World left open when its PE goes away is closed with it rather
	// than touching unmapped memory.
	if w.own, err = pe.Own(ownedWorld{w}); err != nil {
		w.stop()
		return nil, fmt.Errorf("am: new world: %w", err)
	}
	return w, nil
}

// check says why w cannot be used: it is nil, or a zero World that New
// did not make.
func (w *World) check(op string) error {
	if w == nil {
		return fmt.Errorf("am: %s: %w: nil World", op, ErrInvalidArg)
	}
	if w.pe == nil {
		return fmt.Errorf("am: %s: %w: zero World (make one with New)", op, ErrInvalidArg)
	}
	return nil
}

// checkCtx refuses a nil context, and a nil or zero *Context passed as one.
func checkCtx(op string, ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("am: %s: %w: nil context", op, ErrInvalidArg)
	}
	if c, ok := ctx.(*Context); ok && (c == nil || c.Context == nil) {
		return fmt.Errorf("am: %s: %w: nil or zero *am.Context", op, ErrInvalidArg)
	}
	return nil
}

// PE returns the runtime PE under w (nil for a nil World).
func (w *World) PE() *hostshmem.PE {
	if w == nil {
		return nil
	}
	return w.pe
}

// MyPE is this PE's number (-1 for a nil World).
func (w *World) MyPE() int {
	if w == nil {
		return -1
	}
	return w.me
}

// NPEs is the number of PEs (-1 for a nil World).
func (w *World) NPEs() int {
	if w == nil {
		return -1
	}
	return w.n
}

// String names w, e.g. "am.World of PE 0".
func (w *World) String() string {
	if w == nil {
		return "nil am.World"
	}
	return fmt.Sprintf("am.World of PE %d", w.me)
}

// Registry is the Registry w was made with (nil for a nil World).
// Libraries built on AMs register their own types in it when their
// objects are created collectively, before the creation's barrier, so
// that every PE knows them before any is sent.
func (w *World) Registry() *Registry {
	if w == nil {
		return nil
	}
	return w.reg
}

// Threads is the number of handler goroutines w started (0 for a nil
// World).
func (w *World) Threads() int {
	if w == nil {
		return 0
	}
	return w.opt.Threads
}

// Close waits for every AM this PE launched (WaitAll), then for every PE
// to get there (a barrier), stops the handler goroutines and frees the
// queues. It is collective. Using w afterwards returns ErrClosed; closing
// it again does nothing.
//
// The PE owns its World (hostshmem.PE.Own): when the PE is finalized with
// the World still open, Finalize waits for this PE's AMs (WaitAll) before
// its closing barrier, while every PE's handlers still run, and stops the
// World after it, as Abort does; when the PE aborts, the World is aborted.
func (w *World) Close(ctx context.Context) error {
	if err := w.check("close"); err != nil {
		return err
	}
	if err := checkCtx("close", ctx); err != nil {
		return err
	}
	if w.state.closed.Swap(true) {
		return nil
	}
	w.own.Disown()
	errW := w.WaitAll(ctx)
	errB := w.pe.BarrierAll(ctx)
	w.closeTracks(true) // after every PE's AMs, whose handlers may drop handles
	w.stop()
	w.failAll(ErrClosed)
	if errB == nil {
		hostshmem.Free(ctx, w.pe, w.arenaS)
		hostshmem.Free(ctx, w.pe, w.area)
	}
	if err := errors.Join(errW, errB); err != nil {
		return fmt.Errorf("am: close: %w", err)
	}
	return nil
}

// Abort stops this PE's handler goroutines at once, without waiting for
// its AMs or its peers, and fails its pending futures with ErrClosed. It
// is for error paths. Abort after Close, and on a nil World, does
// nothing.
func (w *World) Abort() {
	if w.check("abort") != nil || w.state.closed.Swap(true) {
		return
	}
	w.own.Disown()
	w.closeTracks(false)
	w.stop()
	w.failAll(ErrClosed)
}

// ownedWorld is a World as its PE owns it (hostshmem.Resource): drained
// before the PE's closing barrier, stopped after it.
type ownedWorld struct{ w *World }

func (o ownedWorld) Drain(ctx context.Context) error { return o.w.WaitAll(ctx) }

func (o ownedWorld) Close(ctx context.Context) error {
	if ctx.Err() == nil { // Finalize, past its barrier: every PE's AMs are done
		o.w.closeTracks(true)
	}
	o.w.Abort()
	return nil
}

func (o ownedWorld) String() string { return o.w.String() + " (left open)" }

// stop stops the handler goroutines and fails the local AMs that they
// left queued (failAll fails the remote ones): their futures would
// otherwise never complete.
func (w *World) stop() {
	w.state.shut.Store(true)
	w.state.closing.Store(true)
	w.cancel()
	w.fab.Notify(w.me, w.base, 8)
	w.sched.wg.Wait()
	for t := w.pop(); t != nil; t = w.pop() {
		if t.call != nil {
			w.complete(t.call, nil, fmt.Errorf("am: %s on PE %d: %w", t.call.name(), w.me, ErrClosed))
		}
	}
}

// ---- words in the symmetric region ----

func (w *World) word(off uintptr) *uint64 {
	return (*uint64)(unsafe.Pointer(&w.local[off]))
}

// peerLoad reads the word at off on PE pe.
func (w *World) peerLoad(pe int, off uintptr) (uint64, error) {
	if r := w.regions[pe]; r != nil {
		return atomic.LoadUint64((*uint64)(unsafe.Pointer(&r[off]))), nil
	}
	return w.fab.AMO64(pe, off, fabric.AMOFetch, 0, 0)
}

// ---- dead peers ----

func (w *World) peerError(err error) {
	var pe *fabric.PeerError
	if !errors.As(err, &pe) {
		return
	}
	w.dead.Lock()
	if _, ok := w.dead.pes[pe.PE]; ok {
		w.dead.Unlock()
		return
	}
	w.dead.pes[pe.PE] = err
	w.dead.Unlock()
	w.deadAny.Store(true)
	// Fail every call waiting on that PE.
	for _, c := range w.calls.each(func(c *call) bool { return c.pe == pe.PE }) {
		w.complete(c, nil, fmt.Errorf("am: %s to PE %d: %w", c.name(), c.pe, err))
	}
	w.tx.arena.Reclaim(pe.PE) // its releases will never come
	// Drop what is staged for it. Whoever holds its queue's mutex (a flush
	// to it, perhaps this very caller) is left to do so: a flush to a dead
	// PE drops its stage (flushLocked), and taking the mutex here would
	// deadlock on a caller holding it.
	if q := w.tx.out[pe.PE]; q.mu.TryLock() {
		q.stage = q.stage[:0]
		q.mu.Unlock()
	}
}

// deadErr returns the error that killed PE pe, or nil.
func (w *World) deadErr(pe int) error {
	if !w.deadAny.Load() {
		return nil
	}
	w.dead.Lock()
	defer w.dead.Unlock()
	return w.dead.pes[pe]
}
