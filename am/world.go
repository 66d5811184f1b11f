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

	"github.com/gshmem/gshmem/am/codec"
	"github.com/gshmem/gshmem/am/internal/ring"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/cause"
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
// it. A World may be used from several goroutines at once.
type World struct {
	pe      *hostshmem.PE
	fab     fabric.Fabric
	me, n   int
	reg     *Registry
	opt     Options
	ctx     context.Context // ends at Close: handlers' contexts derive from it
	cancel  context.CancelFunc
	area    hostshmem.Sym[uint64]
	arenaS  hostshmem.Sym[byte]
	base    uintptr  // region offset of the AM area
	darcOff uintptr  // region offset of the Darc slot words
	local   []byte   // this PE's region
	regions [][]byte // peers' regions, nil where reachable only by RMA
	watchN  uintptr  // bytes of the AM area that waiters watch
	pol     fabric.WaitPolicy
	spinNs  int64 // pol.SpinFor: how long waiters poll before sleeping

	rings *ring.Rings // the per-pair rings: consumed under the poll token
	out   []*outQ
	poll1 atomic.Int32 // the poll token: 1 while someone drains the queues
	dec   decoder      // the poll token holder's

	rel struct { // releases of peers' arena chunks, sent on the next flush
		sync.Mutex
		q []relMsg
	}
	dirty atomic.Int32 // out queues with staged bytes, plus pending releases

	runq struct {
		sync.Mutex
		q    []*task
		head int
		pops uint64 // tasks taken, ever
	}
	runqN atomic.Int64
	stall struct { // the watchdog's: when it first saw runq.pops at its value
		sync.Mutex
		pops  uint64
		since int64
	}
	idle     chan struct{}
	parked   atomic.Int32
	workers  atomic.Int32
	busy     atomic.Int32
	sentinel atomic.Bool  // a goroutine watches the queues (an idle worker, or a waiter)
	roleWant atomic.Int32 // waiters that want the sentinel's role
	waiters  atomic.Int32 // goroutines asleep (or about to be) in the fabric's Wait

	calls callTable // calls waiting for a reply
	all   scope

	dead struct {
		sync.Mutex
		pes map[int]error
	}
	deadAny atomic.Bool

	arena  ring.Arena
	darcs  darcTable
	tracks darcTracks // the Darc handles the program holds (darcleak.go)

	bar struct { // Barrier's: one at a time per PE
		sync.Mutex
		epoch uint64
	}

	own     *hostshmem.Ownership // the PE's hold on w (hostshmem.PE.Own)
	wg      sync.WaitGroup
	closing atomic.Bool // the handler goroutines are stopping
	closed  atomic.Bool // Close or Abort was called
	shut    atomic.Bool // no more AMs may be launched
	t0      time.Time
}

// relMsg is a control frame to send on the next flush (it cannot be sent
// from where it arises: polling never blocks).
type relMsg struct {
	pe   int
	kind byte
	id   uint64
}

// outQ is this PE's producer side of the queue to one peer.
type outQ struct {
	mu    sync.Mutex
	stage []byte        // whole frames not yet in the ring
	prod  ring.Producer // the ring's tail and the consumer's head as last read
	dirty bool
	enc   codec.Encoder // encodes frames into stage
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
	w.darcOff = w.base + lineB + rings
	w.watchN = lineB + rings
	w.local = w.fab.Region(w.me)
	w.regions = make([][]byte, n)
	for i := range n {
		w.regions[i] = w.fab.Region(i)
	}
	w.rings = ring.New(w.fab, ring.Config{Base: w.base + lineB, Size: opt.RingBytes, MinFrame: frameHdr})
	w.arena.Init(w.arenaS.Offset(), uint64(opt.ArenaBytes))
	w.out = make([]*outQ, n)
	for i := range w.out {
		w.out[i] = &outQ{}
	}
	w.all.w = w
	w.dead.pes = map[int]error{}
	w.darcs.init(opt.DarcSlots)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.idle = make(chan struct{}, opt.Threads+64)
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
	if w.closed.Swap(true) {
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
	if w.check("abort") != nil || w.closed.Swap(true) {
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
	w.shut.Store(true)
	w.closing.Store(true)
	w.cancel()
	w.fab.Notify(w.me, w.base, 8)
	w.wg.Wait()
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

// ---- the run queue and the handler goroutines ----

// task is one handler to run on this PE.
type task struct {
	e     *entry
	arg   any
	src   int    // origin PE (where the reply goes)
	id    uint64 // call id at the origin
	call  *call  // set when the result completes a call here (local, returned AM)
	wrap  func(any) any
	err   error // set when the request failed before its handler (decode, unregistered)
	tid   uint64
	darcs []darcRef
	ctx   Context // the handler's (one allocation with the task)
	chunk uint64  // held: the chunk of src's arena that the argument's Bytes point into
	held  bool
}

func (w *World) push(ts ...*task) {
	if len(ts) == 0 {
		return
	}
	w.runq.Lock()
	w.runq.q = append(w.runq.q, ts...)
	w.runq.Unlock()
	w.runqN.Add(int64(len(ts)))
	w.wakeWorkers(len(ts))
}

func (w *World) wakeWorkers(k int) {
	woke := false
	for i := 0; i < k && w.parked.Load() > 0; i++ {
		select {
		case w.idle <- struct{}{}:
			woke = true
		default:
		}
	}
	if !woke {
		w.fab.Notify(w.me, w.base, 8) // wake a sleeping sentinel or waiter
	}
}

func (w *World) pop() *task {
	if w.runqN.Load() == 0 {
		return nil
	}
	w.runq.Lock()
	if w.runq.head == len(w.runq.q) {
		w.runq.Unlock()
		return nil
	}
	t := w.runq.q[w.runq.head]
	w.runq.q[w.runq.head] = nil
	w.runq.head++
	w.runq.pops++
	if w.runq.head == len(w.runq.q) {
		w.runq.q, w.runq.head = w.runq.q[:0], 0
	}
	w.runq.Unlock()
	w.runqN.Add(-1)
	return t
}

func (w *World) mono() int64 { return int64(time.Since(w.t0)) }

func (w *World) startWorker(temp bool) {
	w.workers.Add(1)
	w.wg.Add(1)
	go w.worker(temp)
}

// worker is a handler goroutine. It runs queued handlers; with none, one
// idle worker (the sentinel) drains the queues and sleeps in the fabric's
// Wait until a peer writes to them, the others park on a channel. A
// temporary worker (started when every worker is blocked) exits when it
// finds nothing to do.
func (w *World) worker(temp bool) {
	defer w.wg.Done()
	defer w.workers.Add(-1)
	for !w.closing.Load() {
		if t := w.pop(); t != nil {
			if w.runqN.Load() > 0 || !w.sentinel.Load() {
				w.wakeOne() // someone else polls (and takes the rest) while we run
			}
			w.busy.Add(1)
			w.run(t)
			w.busy.Add(-1)
			continue
		}
		w.flushDirty()
		n, t := w.pollTake(true)
		if t != nil { // the first request found runs here, not through the run queue
			if w.runqN.Load() > 0 || !w.sentinel.Load() {
				w.wakeOne() // someone else polls (and takes the rest) while we run
			}
			w.busy.Add(1)
			w.run(t)
			w.busy.Add(-1)
			continue
		}
		if n > 0 {
			continue
		}
		if temp {
			return
		}
		if w.roleWant.Load() == 0 && w.sentinel.CompareAndSwap(false, true) {
			var err error
			if !w.spinFor(w.sentinelReady) {
				err = w.fabWait(w.ctx, w.sentinelReady)
			}
			w.sentinel.Store(false)
			if err != nil && w.ctx.Err() == nil {
				w.peerError(err)
			}
			continue
		}
		w.parked.Add(1)
		if !w.sentinel.Load() && w.roleWant.Load() == 0 { // the role came free meanwhile
			w.parked.Add(-1)
			continue
		}
		select {
		case <-w.idle:
		case <-w.ctx.Done():
		}
		w.parked.Add(-1)
	}
}

// wakeOne wakes a parked worker, unless every parked worker already has a
// wake-up on its way.
func (w *World) wakeOne() {
	if w.parked.Load() > int32(len(w.idle)) {
		select {
		case w.idle <- struct{}{}:
		default:
		}
	}
}

func (w *World) sentinelReady() bool {
	return w.runqN.Load() > 0 || w.dirty.Load() > 0 || w.closing.Load() || w.roleWant.Load() > 0 || w.inboundReady()
}

// inboundReady reports whether a peer published frames we have not
// drained (ring.Rings.Ready: a hint; pollTake reads the rings again under
// the poll token).
func (w *World) inboundReady() bool { return w.rings.Ready() }

// fabWait waits in the fabric until cond (watching the AM area). Once a
// peer has died the fabric's Wait fails at once; then it polls, paced by
// the policy's Backoff.
func (w *World) fabWait(ctx context.Context, cond func() bool) error {
	if w.deadAny.Load() {
		b := w.pol.Backoff()
		for !cond() {
			if err := b.Pause(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	w.waiters.Add(1)
	err := w.fab.Wait(ctx, cond, w.base, w.watchN)
	w.waiters.Add(-1)
	return err
}

// waitCond is what block waits for. A *Future is one (so that waiting on
// it allocates nothing); condFunc makes one of a function.
type waitCond interface{ ready() bool }

type condFunc func() bool

func (f condFunc) ready() bool { return f() }

// block waits until cond holds, helping: it flushes staged AMs, drains the
// queues and runs queued handlers while it waits (so a handler that waits
// on an AM it launched never starves the pool). What wakes it: a peer's
// write to a queue, a local completion, ctx ending, or a peer dying. Once
// the World stops it returns ErrClosed: its queues may be freed, or
// unmapped with its PE.
func (w *World) block(ctx context.Context, cond waitCond) error {
	if cond.ready() {
		return nil
	}
	if w.closing.Load() {
		return ErrClosed
	}
	if w.spinWait(cond) {
		return nil
	}
	// The waiter takes the sentinel's role while it waits: one goroutine
	// watches the queues, and a peer's write wakes the goroutine that needs
	// it rather than an idle worker (whose wake-up would cost the writer a
	// system call per message). A sleeping sentinel is asked to step down.
	role, want := false, false
	defer func() {
		if role {
			w.sentinel.Store(false)
		}
		if want {
			w.roleWant.Add(-1)
		}
		if (role || want) && w.roleWant.Load() == 0 {
			w.wakeOne() // a worker takes the role back
		}
	}()
	wake := func() bool {
		return cond.ready() || w.runqN.Load() > 0 || w.dirty.Load() > 0 || w.closing.Load() || w.inboundReady()
	}
	for {
		if cond.ready() {
			return nil
		}
		if w.closing.Load() {
			return ErrClosed
		}
		if !role {
			if w.sentinel.CompareAndSwap(false, true) {
				role = true
				if want {
					want = false
					w.roleWant.Add(-1)
				}
			} else if !want {
				want = true
				w.roleWant.Add(1)
				w.fab.Notify(w.me, w.base, 8)
			}
		}
		done, t := w.help(cond)
		if done {
			return nil
		}
		if t != nil {
			if role { // a handler may block: let a worker watch meanwhile
				role = false
				w.sentinel.Store(false)
				w.wakeOne()
			}
			w.busy.Add(1)
			w.run(t)
			w.busy.Add(-1)
			continue
		}
		w.watchdog()
		if err := cause.Err(ctx); err != nil {
			return err
		}
		err := w.fabWait(ctx, wake)
		if err != nil {
			if ctx.Err() != nil {
				return cause.Err(ctx)
			}
			w.peerError(err)
		}
	}
}

// help is one look of a waiter: it flushes staged AMs, drains the queues
// and reports whether cond holds; if not, it returns a handler for the
// caller to run (the first request it found, else a queued one), or nil.
func (w *World) help(cond waitCond) (done bool, t *task) {
	w.flushDirty()
	_, t = w.pollTake(true)
	if cond.ready() {
		if t != nil {
			w.push(t)
		}
		return true, nil
	}
	if t == nil {
		t = w.pop()
	}
	return false, t
}

// yieldEvery is how many looks spinWait and spinFor make between reads of
// the clock and yields of the processor: a look costs tens of
// nanoseconds, so the PE's other goroutines get the processor every few
// microseconds and the clock costs the loop almost nothing. The time
// itself is the policy's SpinFor: a round trip to a peer is a few
// microseconds, and a goroutine that sleeps in the fabric, or wakes a
// worker to watch for it, pays tens (see fabric.WaitPolicy).
const yieldEvery = 256

// spinWait is block's first phase: the waiter polls the queues and runs
// queued handlers itself for up to the policy's SpinFor, without taking the
// sentinel's role. It counts in roleWant meanwhile, so that an idle worker
// stays parked (with one P per PE, a worker that wakes to watch the queues
// only takes the processor from the waiter) and a watching sentinel steps
// down when it next looks. It yields the processor now and then, so that
// the PE's other goroutines run, and reports whether cond came true.
func (w *World) spinWait(cond waitCond) bool {
	w.roleWant.Add(1)
	defer w.dropWant()
	t0 := int64(-1) // read at the first check: most waits end sooner
	for i := 1; ; i++ {
		done, t := w.help(cond)
		if done {
			return true
		}
		if t != nil {
			w.busy.Add(1)
			w.run(t)
			w.busy.Add(-1)
			continue
		}
		if i%yieldEvery == 0 {
			if t0 < 0 {
				t0 = w.mono()
			}
			if w.closing.Load() || w.deadAny.Load() || w.mono()-t0 > w.spinNs {
				return false
			}
			runtime.Gosched()
		}
	}
}

// spinFor polls cond for up to the policy's SpinFor, yielding the
// processor now and then, and reports whether it came true.
func (w *World) spinFor(cond func() bool) bool {
	t0 := w.mono()
	for i := 1; ; i++ {
		if cond() {
			return true
		}
		if i%yieldEvery == 0 {
			if w.deadAny.Load() || w.mono()-t0 > w.spinNs {
				return false
			}
			runtime.Gosched()
		}
	}
}

// dropWant ends a waiter's claim on the sentinel's role; the last one out
// makes sure someone watches the queues again.
func (w *World) dropWant() {
	if w.roleWant.Add(-1) == 0 && !w.sentinel.Load() {
		w.wakeOne()
	}
}

// watchdog starts a temporary worker when handlers have been queued for a
// while (no task was taken for the policy's Stall, by what the watchdog
// saw on its calls) and every worker is busy (blocked in a handler).
func (w *World) watchdog() {
	if w.runqN.Load() == 0 || w.parked.Load() > 0 || w.sentinel.Load() || w.workers.Load() >= int32(4*w.opt.Threads+64) {
		return
	}
	w.runq.Lock()
	pops := w.runq.pops
	w.runq.Unlock()
	now := w.mono()
	w.stall.Lock()
	stuck := pops == w.stall.pops && now-w.stall.since > int64(w.pol.Stall)
	if pops != w.stall.pops || stuck {
		w.stall.pops, w.stall.since = pops, now
	}
	w.stall.Unlock()
	if stuck {
		w.startWorker(true)
	}
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
	w.arena.Reclaim(pe.PE) // its releases will never come
	q := w.out[pe.PE]
	q.mu.Lock()
	q.stage = q.stage[:0]
	q.mu.Unlock()
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
