package hostshmem

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/internal/memcopy"
)

// Layout of the runtime's reserved area at the start of every symmetric
// region. User objects start at ReservedBytes.
const (
	// ReservedBytes precede the user heap in every PE's symmetric region:
	// the team pool, where every team (the predefined ones included) keeps
	// its flags, call records and push slots. The heap starts on a
	// multiple of MaxAlign.
	ReservedBytes = teamPoolOff + teamPoolBytes

	maxRounds = 32 // dissemination rounds: up to 2^32 PEs
	lineSize  = 64
	heapAlign = 64 // default alignment of symmetric allocations
)

// RegionSize is the symmetric region a fabric must give each PE for a user
// heap of heap bytes.
func RegionSize(heap uintptr) uintptr { return ReservedBytes + heap }

// PE is one processing element: a rank of the job with its symmetric heap.
// Create one with New (or through gshmem.Run / gshmem.Init).
type PE struct {
	fab   fabric.Fabric
	rma   fabric.Fabric // fab, or devRoute once a GPU heap is attached
	me, n int
	size  uintptr // symmetric space bytes: the region, plus a GPU heap
	// loadable is where the region ends: bytes below it are host memory
	// (the CPU fallback's device heap included), above it a GPU heap.
	loadable uintptr
	regions  [][]byte // per PE, nil where not load/store; fixed by New
	local    []byte   // this PE's region; fixed by New

	// state is peOpen until Finalize or Abort begins to release p. Every
	// entry point checks it (closed) before it touches regions, local, gpu
	// or the fabric: one atomic load. Those fields never change after New
	// (AttachDevice aside), so a call racing with Finalize reads nothing
	// that close writes.
	state atomic.Uint32

	checked bool // Config.Checked
	// copier copies the data of puts and gets on mapped PEs.
	copier    memcopy.Copier
	finalized atomic.Bool // a Finalize released p (see Finalized)
	cfg       Config      // as New got it
	devUsed   atomic.Bool

	// The device heap is [devOff, devOff+devSize) of the symmetric space:
	// the end of the region on the CPU fallback, GPU memory past the region
	// when devExternal (reached through gpu once attached).
	devOff, devSize uintptr
	devExternal     bool
	gpu             DeviceMemory

	own    owned      // the resources the PE closes (Own)
	closer sync.Mutex // held while they are being closed (closeOwned)

	dflt    Ctx     // the default context
	pushMax uintptr // push-slot payload of new teams (Config.CollPushMax)

	teams struct { // the team pool; guarded for team creation and destruction
		sync.Mutex
		free          uint64 // bitmap of free chunks
		world, shared *Team
		// all is the world's stream of the PE's own collective calls
		// (allocation, BarrierAll, SyncAll, Finalize), apart from the
		// world team's, which streams may use concurrently.
		all *Team
	}

	coll struct { // the symmetric heaps' allocators (changed by world collectives only)
		sync.Mutex
		serial uint32 // objects allocated: the next one's Sym.id less one
		heap   allocator
		dev    allocator // the device heap's user part
	}
}

// Config tunes a PE. The zero Config takes the defaults.
type Config struct {
	// CollPushMax is the largest per-PE payload, in bytes, that collectives
	// move with the push (one-shot) algorithms: puts with a signal into
	// slots of each team's block, no barrier. Larger payloads use the
	// direct-load algorithms between team syncs. Default 2048
	// (GSHMEM_COLL_PUSH_MAX); at most 16 KiB; teams too large for slots of
	// this size get smaller ones.
	CollPushMax uintptr
	// DeviceHeap is the size in bytes of each PE's device heap, its
	// DeviceReservedBytes included; 0 for none. Unless DeviceExternal, it
	// is the last DeviceHeap bytes of the fabric's region (the CPU
	// fallback; the host heap is the rest).
	DeviceHeap uintptr
	// DeviceExternal says the device heap is GPU memory outside the
	// region, attached with AttachDevice (package device does it).
	DeviceExternal bool
	// Checked makes every RMA, atomic and wait on a symmetric object check
	// that the object is still allocated: a Sym of a freed (or
	// reallocated) object is then an error, not a write into whatever
	// took its place. It costs a lock and a map lookup per call
	// (GSHMEM_CHECKED=1; the project's tests run with it).
	Checked bool
	// Threads is the number of handler goroutines per PE that layers
	// above which run handlers (am.World) start by default
	// (GSHMEM_THREADS); 0 leaves it to them. hostshmem itself does not use
	// it: it travels with the PE so that no layer reads the environment.
	Threads int
	// AMSizeThreshold is the most bytes of operations in one active
	// message of a distributed array's batch (GSHMEM_AM_SIZE_THRESHOLD);
	// 0: package array's default, 64 KiB. Like Threads, it travels with
	// the PE for the layers above.
	AMSizeThreshold uintptr
	// Exit ends the job after GlobalExit has recorded it, with the status
	// GlobalExit got; it should not return. gshmem sets os.Exit for a PE
	// that runs alone in its process; nil (in-process PEs) ends the
	// goroutine that called GlobalExit instead.
	Exit func(status int)
	// OnDevice is called once per PE, on the first use of its device side
	// (UsingDevice): gshmem says there, once per process, that the device
	// side runs on the CPU fallback when it does. Nil: nothing is said.
	OnDevice func()
}

// DefaultCollPushMax is Config.CollPushMax's default.
const DefaultCollPushMax = 2048

// New makes the PE that f belongs to. Every PE of the job must call New on
// its own fabric with the same Config; New itself does not communicate.
func New(f fabric.Fabric, cfg Config) (*PE, error) {
	size := f.Size()
	if size < ReservedBytes+heapAlign {
		return nil, fmt.Errorf("gshmem: symmetric region of %d bytes is too small: need more than %d reserved bytes", size, ReservedBytes)
	}
	p := &PE{fab: f, rma: f, me: f.PE(), n: f.NPEs(), size: size, regions: make([][]byte, f.NPEs()), copier: memcopy.New("/sys")}
	for pe := range p.regions {
		p.regions[pe] = f.Region(pe)
	}
	p.local = p.regions[p.me]
	if p.local == nil {
		return nil, fmt.Errorf("gshmem: transport %s does not map this PE's own region", f.Transport())
	}
	p.dflt.owner, p.dflt.fast = p, opBlocking|opNBI
	hostEnd := size
	if d := cfg.DeviceHeap; d > 0 {
		d = (d + heapAlign - 1) &^ (heapAlign - 1)
		if d < DeviceReservedBytes+heapAlign {
			return nil, fmt.Errorf("gshmem: device heap of %d bytes is too small: need more than %d reserved bytes", d, DeviceReservedBytes)
		}
		if cfg.DeviceExternal {
			p.devOff, p.size = size, size+d
		} else {
			if size < ReservedBytes+heapAlign+d {
				return nil, fmt.Errorf("gshmem: symmetric region of %d bytes cannot hold a device heap of %d bytes and a host heap", size, d)
			}
			p.devOff = size - d
			hostEnd = p.devOff
		}
		p.devSize, p.devExternal = d, cfg.DeviceExternal
		p.coll.dev.init(p.devOff+DeviceReservedBytes, p.devOff+d)
	}
	p.coll.heap.init(ReservedBytes, hostEnd)
	p.loadable = size
	p.checked = cfg.Checked
	p.cfg = cfg
	p.pushMax = cfg.CollPushMax
	if p.pushMax == 0 {
		p.pushMax = DefaultCollPushMax
	}
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("gshmem: Config.Threads %d: %w: negative (0: the default)", cfg.Threads, ErrInvalidArg)
	}
	if p.pushMax > 16<<10 {
		return nil, fmt.Errorf("gshmem: collective push size %d: %w: at most %d", p.pushMax, ErrInvalidArg, 16<<10)
	}
	p.pushMax = (p.pushMax + 7) &^ 7
	if err := p.initTeams(); err != nil {
		return nil, err
	}
	return p, nil
}

// UsingDevice records that the program uses p's device side: an
// allocation on the device heap (MallocOn, CallocOn), a stream (package
// streams), a call of package device. The first call runs Config.OnDevice.
func (p *PE) UsingDevice() {
	if !p.devUsed.Load() && p.devUsed.CompareAndSwap(false, true) && p.cfg.OnDevice != nil {
		p.cfg.OnDevice()
	}
}

// Config is the Config the PE was made with.
func (p *PE) Config() Config { return p.cfg }

// MyPE is this PE's number, in [0, NPEs).
func (p *PE) MyPE() int { return p.me }

// NPEs is the number of PEs in the job.
func (p *PE) NPEs() int { return p.n }

// Fabric returns the transport under p, for layers built on the runtime.
func (p *PE) Fabric() fabric.Fabric { return p.fab }

// Transport names the transport under p ("inproc", "shm").
func (p *PE) Transport() string { return p.fab.Transport() }

// HeapSize is the number of bytes of user symmetric heap on each PE.
func (p *PE) HeapSize() uintptr { return p.coll.heap.hi - ReservedBytes }

// The states of a PE, in order; each is entered once.
const (
	peOpen    uint32 = iota
	peClosing        // Finalize or Abort is releasing p (past its owned resources and barrier)
	peClosed         // p's memory and fabric are released
)

// closed reports whether p is closing or closed: every operation then
// returns ErrFinalized. It is the check on entry of every operation: one
// atomic load.
func (p *PE) closed() bool { return p.state.Load() != peOpen }

// Finalize drains the resources p owns (see Own: streams, AM Worlds and
// the like that their users left open), waits at a barrier for every PE,
// closes those resources, last made first, and releases p: its device
// heap, then its fabric. Using p afterwards returns ErrFinalized. It
// returns the errors of the barrier and of those drains and closes (each
// naming its resource).
//
// Other goroutines may call p's non-collective operations (puts, gets,
// atomics, signals, tests, Local, CtxCreate, Quiet, Fence) while Finalize
// runs: each returns nil, having completed, or, once Finalize is past its
// barrier, ErrFinalized, having done nothing. A call that passed its entry
// check just before the PE began to close still runs to its end on the
// PE's memory, which the transport may release meanwhile (shm unmaps this
// PE's mappings in Finalize): stop such goroutines before Finalize, or
// make what runs them a Resource the PE owns.
func (p *PE) Finalize(ctx context.Context) error {
	if p.closed() {
		return errFinalized("finalize")
	}
	errDrain := p.drainOwned(ctx)
	err := p.barrierAll(ctx, &call{op: "finalize", code: cFinalize}) // names finalize
	closed, errClose := p.close(ctx, err == nil)
	if !closed && err == nil {
		err = errFinalized("finalize") // an Abort on another goroutine came first
	}
	p.finalized.Store(closed && err == nil)
	return errors.Join(err, errDrain, errClose)
}

// Finalized reports whether a Finalize of p passed its closing barrier and
// released p (not an Abort): gshmem.Run does not finalize such a PE again.
func (p *PE) Finalized() bool { return p.finalized.Load() }

// Abort releases p without the closing barrier, recording that this PE
// failed; peers waiting on it get an error naming it. The resources p owns
// are closed first, with a context that is already done (see Resource).
// Operations that race with it behave as with Finalize. Abort of a closed
// PE does nothing.
func (p *PE) Abort() {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("gshmem: PE %d is aborting: %w", p.me, ErrFinalized))
	p.close(ctx, false)
}

// close releases p, once: it reports whether this call did, and the
// errors of closing what p owns. The resources p owns close first (with
// ctx after a clean finalize, else with a context that is already done),
// then the device heap, then the fabric.
func (p *PE) close(ctx context.Context, clean bool) (bool, error) {
	if !p.state.CompareAndSwap(peOpen, peClosing) {
		return false, nil
	}
	var errs []error
	if clean {
		errs = append(errs, p.closeOwned(ctx, "finalize"))
	} else {
		p.abortOwned()
	}
	if p.gpu != nil {
		// Peers are past the closing barrier (or this PE is failing):
		// nothing reads this heap any more.
		if err := p.gpu.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gshmem: finalize: closing the device heap of PE %d: %w", p.me, err))
		}
	}
	if clean {
		p.fab.Close(fabric.Finalized)
	} else {
		p.fab.Close(fabric.Failed)
	}
	p.state.Store(peClosed)
	return true, errors.Join(errs...)
}

// span checks that nbytes at byte offset off exist on PE pe and returns
// them when pe's region is mapped (nil when it must go through the fabric).
func (p *PE) span(op string, pe int, off, nbytes uintptr) ([]byte, error) {
	if p.closed() {
		return nil, errFinalized(op)
	}
	if uint(pe) >= uint(p.n) {
		return nil, errPE(op, pe, p.n)
	}
	if off <= p.loadable && nbytes <= p.loadable-off {
		r := p.regions[pe]
		if r == nil {
			return nil, nil
		}
		return r[off : off+nbytes : off+nbytes], nil
	}
	if off > p.size || nbytes > p.size-off {
		return nil, fmt.Errorf("gshmem: %s: %w: bytes [%d, %d) outside the symmetric space of %d bytes", op, ErrOutOfRange, off, off+nbytes, p.size)
	}
	if !p.onGPU(off) {
		// A Sym of a PE whose host heap is bigger than this one's.
		return nil, fmt.Errorf("gshmem: %s: %w: bytes [%d, %d) run from the host heap into the GPU heap at %d", op, ErrOutOfRange, off, off+nbytes, p.devOff)
	}
	if p.gpu == nil {
		return nil, fmt.Errorf("gshmem: %s: %w: the GPU heap is not attached", op, ErrNoDevice)
	}
	return nil, nil
}

// target checks an access of count elements of s on PE pe.
func target[T Elem](p *PE, op string, s Sym[T], count int, pe int) ([]byte, error) {
	if s.bad != nil {
		return nil, fmt.Errorf("gshmem: %s: %w", op, s.bad)
	}
	if count < 0 || count > s.n {
		return nil, fmt.Errorf("gshmem: %s: %w: %d elements do not fit in %v", op, ErrOutOfRange, count, s)
	}
	nbytes, ok := bytesOf[T](count)
	if !ok {
		return nil, fmt.Errorf("gshmem: %s: %w: %d elements of %v overflow the address space", op, ErrOutOfRange, count, s)
	}
	if p.checked && s.tag.id() != 0 {
		if err := p.allocated(op, s.off, s.Size(), s.tag, s); err != nil {
			return nil, err
		}
	}
	return p.span(op, pe, s.off, nbytes)
}

// bytesOf is the size of n >= 0 elements of T, and false when it overflows
// uintptr (only a forged Sym can be that long: allocations are checked).
func bytesOf[T Elem](n int) (uintptr, bool) {
	hi, lo := bits.Mul(uint(n), uint(sizeOf[T]()))
	return uintptr(lo), hi == 0
}

// view is n elements of T at byte offset off of region r, or nil when they
// do not all lie inside r.
func view[T Elem](r []byte, off uintptr, n int) []T {
	nbytes, ok := bytesOf[T](n)
	if !ok || off > uintptr(len(r)) || nbytes > uintptr(len(r))-off || n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&r[off])), n)
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}

// wordAt returns the word of T at off in region r.
func wordAt[W uint32 | uint64](r []byte, off uintptr) *W {
	return (*W)(unsafe.Pointer(&r[off]))
}
