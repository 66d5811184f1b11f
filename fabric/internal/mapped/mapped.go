package mapped

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/internal/cause"
	"github.com/gshmem/gshmem/internal/futex"
	"github.com/gshmem/gshmem/internal/memcopy"
	"github.com/gshmem/gshmem/internal/release"
	"github.com/gshmem/gshmem/internal/spin"

	"github.com/gshmem/gshmem/fabric"
)

// HeaderSize is the size of the control page at the start of every segment
// of a load/store transport; the symmetric region follows it.
const HeaderSize = 4096

// Magic marks an initialised segment header ("gshmem01").
const Magic = 0x31306d656d687367

// Layout version of Header; peers with another version refuse to connect.
// Bump it with every change to Header.
const headerVersion = 3

// Segment states.
const (
	StateCreating  = 0
	StateReady     = 1
	StateFinalized = 2
	StateFailed    = 3
	// StateExited: the PE ended the whole job with GlobalExit; Header.Exit
	// holds its status. Peers see it as dead.
	StateExited = 4
)

// Header is the control page of a segment, shared by every PE that maps it.
// Words that different PEs write live on separate cache lines.
type Header struct {
	Magic   uint64
	Version uint32
	PE      uint32
	NPEs    uint32
	Pid     uint32
	Size    uint64 // bytes in the symmetric region
	State   uint32 // StateCreating .. StateExited, written atomically
	Exit    uint32 // the status of a GlobalExit, written before State
	_       [64 - 40]byte

	// Seq is the futex word waiters of this PE sleep on; Notify bumps it.
	Seq uint32
	_   [60]byte
	// Sleepers counts this PE's waiters that are (about to be) asleep, so
	// that Notify costs one load when nobody sleeps. Pending is set by the
	// first Notify after a waiter armed it, so that further Notifies cost
	// loads, not wake-up system calls, until a waiter sleeps again. Both
	// live on one line: a notifier reads them together.
	Sleepers uint32
	Pending  uint32
	// Wild counts sleepers that watch every byte (no free slot, or n == 0).
	Wild uint32
	_    [52]byte
	// Watch holds what sleepers wait on, one slot per sleeper: the lines
	// [lo, hi] of the region packed as lo<<32 | (hi+1); 0 is a free slot.
	// A Notify wakes this PE only when it touches a watched line.
	Watch [8]uint64
	// Boot counts PEs that mapped every segment (used on PE 0 only).
	Boot uint32
	_    [60]byte
	// Cause is 1 + the PE whose death made this PE fail, 0 if none: a PE
	// that fails because a peer died points its own peers at the root
	// cause instead of at itself.
	Cause uint32
	_     [60]byte
}

func init() {
	if unsafe.Sizeof(Header{}) > HeaderSize {
		panic("fabric: Header larger than HeaderSize")
	}
	if unsafe.Offsetof(Header{}.Sleepers)%8 != 0 || unsafe.Offsetof(Header{}.Pending) != unsafe.Offsetof(Header{}.Sleepers)+4 {
		panic("fabric: Sleepers and Pending do not form one aligned word (SleepWord)")
	}
}

// HeaderOf returns the Header at the start of seg, which must be at least
// HeaderSize bytes of 8-byte aligned memory that is not managed by Go (an
// mmap'd segment).
func HeaderOf(seg []byte) *Header {
	return (*Header)(unsafe.Pointer(unsafe.SliceData(seg)))
}

// Liveness reports dead peers for a load/store transport.
type Liveness interface {
	// Check returns a peer found dead, or nil. A peer that left after a
	// clean finalize is not dead.
	Check() *fabric.PeerError
	// Describe says what happened to PE pe, which is known to be dead.
	Describe(pe int) *fabric.PeerError
}

// Config describes a load/store job as seen from one PE.
type Config struct {
	PE        int
	Transport string
	// Segments holds every PE's whole segment (Header, then region),
	// mapped into this process, indexed by PE. A nil segment is a PE this
	// process has not mapped (on another node): Region returns nil for it,
	// and the transport that built the Mapped reaches it another way; its
	// Put, Get, AMOs and Notify must not be called for it.
	Segments [][]byte
	// Liveness finds dead peers; nil means peers cannot die.
	Liveness Liveness
	// Yield gives up the processor while waiting (runtime.Gosched for
	// goroutine PEs, sched_yield for process PEs).
	Yield func()
	// Wait bounds Wait's spins, yields and sleep ticks, and is what
	// WaitPolicy returns to the layers above; the zero WaitPolicy means
	// DefaultWaitPolicy(false).
	Wait fabric.WaitPolicy
	// Sleeper puts waiters to sleep and wakes them; nil means a futex on
	// the sleeper's header Seq word (what processes need).
	Sleeper Sleeper
	// AlonePE says this process runs no other PE: every runnable goroutine
	// is this PE's, so a waiter yields to them rather than sleep in a
	// Sleeper that holds its thread (see localSleep). PEs that share a
	// process would keep each other awake that way.
	AlonePE bool
}

// Sleeper is how a waiter sleeps until a Notify. Notify bumps the target's
// header Seq before calling Wake, so Sleep must return at once when Seq no
// longer equals seq.
type Sleeper interface {
	// Sleep blocks PE pe's caller until Wake(pe), d passing or ctx ending,
	// unless pe's Seq already differs from seq.
	Sleep(ctx context.Context, pe int, seq uint32, d time.Duration)
	// Wake wakes every sleeper of PE pe.
	Wake(pe int)
}

// futexSleeper sleeps on the Seq word of the header itself.
type futexSleeper struct{ hdrs []*Header }

func (f futexSleeper) Sleep(_ context.Context, pe int, seq uint32, d time.Duration) {
	futex.Wait(&f.hdrs[pe].Seq, seq, d)
}

func (f futexSleeper) Wake(pe int) { futex.Wake(&f.hdrs[pe].Seq, math.MaxInt32) }

// Mapped is the engine shared by the load/store transports: every peer's
// segment is mapped, puts and gets are memmoves, AMOs are CPU atomics on the
// shared mapping, and waits sleep on a futex in the waiter's own header.
type Mapped struct {
	copier    memcopy.Copier // the data of Put, Get and PutSignal
	pe, npes  int
	transport string
	size      uintptr
	regions   [][]byte
	hdrs      []*Header
	live      Liveness
	yield     func()
	pol       fabric.WaitPolicy
	sleeper   Sleeper
	local     localSleep
	alone     bool

	fence atomic.Uint64 // target of the locked op that orders a PE's stores
	// spin is Wait's spin time now (ns), where the policy has a SpinTime:
	// it adapts to the waits of this PE's goroutines (AdaptSpin).
	spin atomic.Int64
}

// localSleep lets one goroutine of this process at a time (the leader)
// sleep in the Sleeper for this PE; the others (followers) park on a
// channel that the leader closes whenever it wakes. A goroutine asleep in
// a futex system call keeps its processor until the Go runtime takes it
// back, which can take 10 ms: with GOMAXPROCS=1 and two goroutines of one
// PE waiting (a barrier and an active-message handler loop, say), a wake
// that both threads saw left one holding the only processor asleep again
// while the other could not run. Followers park in the runtime instead,
// and the leader, after a wake, yields the processor to the followers it
// woke before it sleeps again.
//
// Goroutines that are runnable but not waiting in Mapped (an active
// message engine's poller yielding between polls, say) would starve the
// same way, so where the process runs this PE alone (Config.AlonePE)
// the leader sleeps only when the Go scheduler has no runnable goroutine:
// otherwise it yields and looks again.
type localSleep struct {
	mu       sync.Mutex
	leader   bool
	parked   int               // followers waiting on gen
	gen      chan struct{}     // closed when the leader wakes or resigns
	runnable [1]metrics.Sample // the leader's
}

// runnableMetric counts the goroutines of this process that wait for a
// processor.
const runnableMetric = "/sched/goroutines/runnable:goroutines"

// othersRunnable reports whether goroutines of this process wait for a
// processor. Only the leader calls it.
func (s *localSleep) othersRunnable() bool {
	metrics.Read(s.runnable[:])
	v := s.runnable[0].Value
	return v.Kind() == metrics.KindUint64 && v.Uint64() > 0
}

// lead makes the caller the leader if there is none.
func (s *localSleep) lead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leader {
		return false
	}
	s.leader = true
	return true
}

// wakeFollowers wakes the parked followers (to re-check their conditions)
// and reports whether there were any; resign also gives up leadership, so
// that one of them takes it.
func (s *localSleep) wakeFollowers(resign bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resign {
		s.leader = false
	}
	if s.parked == 0 {
		return false
	}
	close(s.gen)
	s.gen = make(chan struct{})
	return true
}

// follow parks the caller until the leader wakes or resigns, ctx ends or
// d passes; it returns at once when there is no leader (the caller should
// lead) or Seq moved past seq.
func (s *localSleep) follow(ctx context.Context, seqp *uint32, seq uint32, d time.Duration, t **time.Timer) {
	s.mu.Lock()
	if !s.leader || atomic.LoadUint32(seqp) != seq {
		s.mu.Unlock()
		return
	}
	ch := s.gen
	s.parked++
	s.mu.Unlock()
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	select {
	case <-ch:
	case <-ctx.Done():
	case <-(*t).C:
	}
	(*t).Stop()
	s.mu.Lock()
	s.parked--
	s.mu.Unlock()
}

var (
	_ fabric.Fabric   = (*Mapped)(nil)
	_ fabric.Sleepers = (*Mapped)(nil)
)

// New returns the engine for c. It checks that every segment carries a
// ready header of the same size.
func New(c Config) (*Mapped, error) {
	n := len(c.Segments)
	if c.PE < 0 || c.PE >= n {
		return nil, fmt.Errorf("fabric: PE %d out of range [0, %d)", c.PE, n)
	}
	m := &Mapped{
		pe: c.PE, npes: n, transport: c.Transport,
		regions: make([][]byte, n), hdrs: make([]*Header, n),
		live: c.Liveness, yield: c.Yield, pol: c.Wait, sleeper: c.Sleeper,
		alone: c.AlonePE, copier: memcopy.New("/sys"),
	}
	if m.pol == (fabric.WaitPolicy{}) {
		m.pol = fabric.DefaultWaitPolicy(false)
	}
	if err := m.pol.Check(); err != nil {
		return nil, err
	}
	m.spin.Store(int64(m.pol.SpinTime))
	m.local.gen = make(chan struct{})
	m.local.runnable[0].Name = runnableMetric
	if m.yield == nil {
		m.yield = futex.Yield
	}
	first := -1 // the first PE mapped here, whose size the others must have
	for i, seg := range c.Segments {
		if seg == nil && i != c.PE {
			continue // on another node
		}
		if len(seg) < HeaderSize {
			return nil, fmt.Errorf("fabric: segment of PE %d is %d bytes, smaller than its header", i, len(seg))
		}
		h := HeaderOf(seg)
		if h.Magic != Magic || h.Version != headerVersion {
			return nil, fmt.Errorf("fabric: segment of PE %d has no valid header (magic %#x version %d)", i, h.Magic, h.Version)
		}
		if int(h.PE) != i || int(h.NPEs) != n {
			return nil, fmt.Errorf("fabric: segment of PE %d claims PE %d of %d, want PE %d of %d", i, h.PE, h.NPEs, i, n)
		}
		if uintptr(len(seg)-HeaderSize) != uintptr(h.Size) {
			return nil, fmt.Errorf("fabric: segment of PE %d maps %d region bytes, header says %d", i, len(seg)-HeaderSize, h.Size)
		}
		if first < 0 {
			m.size, first = uintptr(h.Size), i
		} else if uintptr(h.Size) != m.size {
			return nil, fmt.Errorf("fabric: symmetric size differs: PE %d has %d bytes, PE %d has %d", first, m.size, i, h.Size)
		}
		m.hdrs[i] = h
		m.regions[i] = seg[HeaderSize:len(seg):len(seg)]
	}
	if m.sleeper == nil {
		m.sleeper = futexSleeper{m.hdrs}
	}
	return m, nil
}

// PE implements Fabric.
func (m *Mapped) PE() int { return m.pe }

// NPEs implements Fabric.
func (m *Mapped) NPEs() int { return m.npes }

// Transport implements Fabric.
func (m *Mapped) Transport() string { return m.transport }

// Size implements Fabric.
func (m *Mapped) Size() uintptr { return m.size }

// Region implements Fabric; every region of a Mapped fabric is mapped.
func (m *Mapped) Region(pe int) []byte { return m.regions[pe] }

// Header returns PE pe's control header, nil for a PE not mapped here.
func (m *Mapped) Header(pe int) *Header { return m.hdrs[pe] }

// SleepWord implements fabric.Sleepers: the Sleepers and Pending words of
// pe's header, which share one aligned 8-byte word (Sleepers the low half
// on a little-endian CPU, which every target of this package is).
func (m *Mapped) SleepWord(pe int) *uint64 {
	h := m.hdrs[pe]
	if h == nil {
		return nil
	}
	return (*uint64)(unsafe.Pointer(&h.Sleepers))
}

// Watches implements fabric.Sleepers: pe's header's Wild and Watch.
func (m *Mapped) Watches(pe int) (wild *uint32, slots []uint64, line uintptr) {
	h := m.hdrs[pe]
	if h == nil {
		return nil, nil, lineBytes
	}
	return &h.Wild, h.Watch[:], lineBytes
}

// Put implements Fabric with a memmove into the peer's mapping.
func (m *Mapped) Put(pe int, off uintptr, src []byte) error {
	m.copier.Copy(m.regions[pe][off:], src)
	m.Notify(pe, off, uintptr(len(src)))
	return nil
}

// Get implements Fabric with a memmove from the peer's mapping.
func (m *Mapped) Get(pe int, off uintptr, dst []byte) error {
	m.copier.Copy(dst, m.regions[pe][off:])
	return nil
}

// AMO64 implements Fabric with a CPU atomic on the shared mapping.
func (m *Mapped) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	p := (*uint64)(unsafe.Pointer(&m.regions[pe][off]))
	old := fabric.AMO64(p, op, operand, cmp)
	if op != fabric.AMOFetch {
		m.notify(pe, off, 8)
	}
	return old, nil
}

// AMO32 implements Fabric with a CPU atomic on the shared mapping.
func (m *Mapped) AMO32(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	p := (*uint32)(unsafe.Pointer(&m.regions[pe][off]))
	old := fabric.AMO32(p, op, operand, cmp)
	if op != fabric.AMOFetch {
		m.notify(pe, off, 4)
	}
	return old, nil
}

// PutSignal implements Fabric with a memmove and a locked update of the
// signal word, which orders the data before it.
func (m *Mapped) PutSignal(pe int, off uintptr, src []byte, sigOff uintptr, op fabric.AMOOp, sig uint64, _ fabric.Completion) error {
	r := m.regions[pe]
	m.copier.Copy(r[off:], src)
	if op == fabric.AMOSet {
		// A release store and a fence on a line of our own, not a locked
		// exchange on the signal's line, which holds this core until the
		// waiter polling that line gives it up (internal/release).
		release.Store64((*uint64)(unsafe.Pointer(&r[sigOff])), sig)
		m.fence.Add(1)
	} else {
		fabric.AMO64((*uint64)(unsafe.Pointer(&r[sigOff])), op, sig, 0)
	}
	if len(src) > 0 {
		m.notify(pe, off, uintptr(len(src)))
	}
	m.notify(pe, sigOff, 8)
	return nil
}

// Quiet implements Fabric. Stores to the mapping are complete when the
// memmove returns, and every Put has already ordered its stores and woken
// its watchers; Quiet drains this CPU's store buffer for good measure.
func (m *Mapped) Quiet() error {
	m.fence.Add(1)
	return nil
}

// Notify implements Fabric. It orders the caller's stores before its look
// at pe's sleepers (a locked instruction on a line of our own), then costs
// a load when pe has no sleepers or a wake is already on its way, a line of
// loads to match the watched ranges, and a wake only when one matches.
func (m *Mapped) Notify(pe int, off, n uintptr) {
	m.fence.Add(1)
	m.notify(pe, off, n)
}

// notify is Notify for callers whose last store was itself a locked
// instruction (an AMO), which already ordered it.
func (m *Mapped) notify(pe int, off, n uintptr) {
	h := m.hdrs[pe]
	if atomic.LoadUint32(&h.Sleepers) == 0 || atomic.LoadUint32(&h.Pending) != 0 {
		return
	}
	if n != 0 && atomic.LoadUint32(&h.Wild) == 0 {
		lo, hi := uint64(off/lineBytes), uint64((off+n-1)/lineBytes)
		hit := false
		for i := range h.Watch {
			w := atomic.LoadUint64(&h.Watch[i])
			if w != 0 && w>>32 <= hi && lo <= uint64(uint32(w))-1 {
				hit = true
				break
			}
		}
		if !hit {
			return
		}
	}
	if atomic.CompareAndSwapUint32(&h.Pending, 0, 1) {
		m.poke(pe)
	}
}

// poke wakes every sleeper of PE pe unconditionally.
func (m *Mapped) poke(pe int) {
	atomic.AddUint32(&m.hdrs[pe].Seq, 1)
	m.sleeper.Wake(pe)
}

// PokeAll wakes every sleeper of every PE, so that each re-checks its
// condition and its peers (after a failure).
func (m *Mapped) PokeAll() {
	for pe, h := range m.hdrs {
		if h != nil {
			m.poke(pe)
		}
	}
}

// WaitPolicy is the policy Wait follows (Config.Wait), for the
// layers above (PolicyOf).
func (m *Mapped) WaitPolicy() fabric.WaitPolicy { return m.pol }

// Wait implements Fabric: it checks cond for the policy's spin time (an
// adaptive bound, see fabric.WaitPolicy.AdaptSpin), or Spin times where
// the policy has no SpinTime, then yields WaitPolicy.Yields times, then
// sleeps (see sleep).
func (m *Mapped) Wait(ctx context.Context, cond func() bool, off, n uintptr) error {
	if m.pol.SpinTime <= 0 {
		for i := 0; i < m.pol.Spin; i++ {
			if cond() {
				return nil
			}
			spin.Pause()
		}
		return m.settle(ctx, cond, off, n)
	}
	// The clock is read every 64 looks, from the 64th: a wait that ends
	// sooner (a hand-off) never reads it.
	budget := time.Duration(m.spin.Load())
	var t0 time.Time
	for i := 1; ; i++ {
		if cond() {
			return nil
		}
		spin.Pause()
		if i%64 == 0 {
			if t0.IsZero() {
				t0 = time.Now()
			} else if time.Since(t0) >= budget {
				break
			}
		}
	}
	if err := m.settle(ctx, cond, off, n); err != nil {
		return err
	}
	m.spin.Store(int64(m.pol.AdaptSpin(budget, time.Since(t0))))
	return nil
}

// SpinTime is Wait's spin time now (fabric.WaitPolicy.SpinTime, adapted),
// or 0 where the policy counts looks instead.
func (m *Mapped) SpinTime() time.Duration { return time.Duration(m.spin.Load()) }

// settle is Wait after its spin phase: it yields WaitPolicy.Yields times,
// checking cond after each, then sleeps.
func (m *Mapped) settle(ctx context.Context, cond func() bool, off, n uintptr) error {
	for i := 0; i < m.pol.Yields; i++ {
		m.yield()
		if cond() {
			return nil
		}
	}
	return m.sleep(ctx, cond, off, n)
}

// sleep is Wait after its spins and yields: it sleeps until a Notify
// touches [off, off+n), as the leader of this PE's sleeping goroutines or
// as a follower (see localSleep), waking at least every tick (from the
// policy's MinTick, doubling up to its MaxTick).
func (m *Mapped) sleep(ctx context.Context, cond func() bool, off, n uintptr) error {
	lead := false
	defer func() {
		if lead {
			m.local.wakeFollowers(true)
		}
	}()
	var timer *time.Timer
	h := m.hdrs[m.pe]
	w := watchWord(off, n)
	tick := m.pol.MinTick
	for {
		if cond() {
			return nil
		}
		if err := cause.Err(ctx); err != nil {
			return err
		}
		// Arm: publish what we watch, count ourselves, take the sequence,
		// re-arm Pending, then re-check: a notifier either sees us armed or
		// we see its store. Seq is read before Pending is cleared: a wake
		// whose CAS on Pending could silence later notifiers then bumps Seq
		// after our snapshot, so our sleep returns at once.
		slot := -1
		if w != 0 {
			for i := range h.Watch {
				if atomic.CompareAndSwapUint64(&h.Watch[i], 0, w) {
					slot = i
					break
				}
			}
		}
		if slot < 0 {
			atomic.AddUint32(&h.Wild, 1)
		}
		atomic.AddUint32(&h.Sleepers, 1)
		seq := atomic.LoadUint32(&h.Seq)
		atomic.StoreUint32(&h.Pending, 0)
		ok := cond()
		yield := false
		if !ok {
			if !lead {
				lead = m.local.lead()
			}
			switch {
			case lead && m.alone && m.local.othersRunnable():
				yield = true // asleep in the futex, this thread would keep the processor from them
			case lead:
				m.sleeper.Sleep(ctx, m.pe, seq, tick)
				if m.local.wakeFollowers(false) {
					runtime.Gosched() // they look before this one sleeps again
				}
			default:
				m.local.follow(ctx, &h.Seq, seq, tick, &timer)
			}
		}
		atomic.AddUint32(&h.Sleepers, ^uint32(0))
		if slot >= 0 {
			atomic.StoreUint64(&h.Watch[slot], 0)
		} else {
			atomic.AddUint32(&h.Wild, ^uint32(0))
		}
		// Woken (or a tick passed) and still false: look at the peers.
		if ok || cond() {
			return nil
		}
		if yield { // disarmed first: notifiers need not wake a thread that is not asleep
			runtime.Gosched()
			continue
		}
		if err := m.Err(); err != nil {
			if cond() { // the peer's last writes landed before it died
				return nil
			}
			// Peers that fail because of this wait point at the root.
			m.RecordCause(err.(*fabric.PeerError).PE)
			return err
		}
		tick = min(2*tick, m.pol.MaxTick)
	}
}

// watchWord packs the lines of bytes [off, off+n) for a Watch slot; 0
// (watch everything) when n == 0 or the lines do not fit.
func watchWord(off, n uintptr) uint64 {
	if n == 0 {
		return 0
	}
	lo, hi := uint64(off/lineBytes), uint64((off+n-1)/lineBytes)
	if hi+1 >= 1<<32 {
		return 0
	}
	return lo<<32 | (hi + 1)
}

// lineBytes is the granularity of watched ranges.
const lineBytes = 64

// Err implements Fabric. When the dead peer itself failed because of
// another PE's death, the error names that root cause.
func (m *Mapped) Err() error {
	if m.live == nil {
		return nil
	}
	e := m.live.Check()
	if e == nil {
		return nil
	}
	root := e.PE
	for hops := 0; hops < m.npes && m.hdrs[root] != nil; hops++ {
		c := atomic.LoadUint32(&m.hdrs[root].Cause)
		if c == 0 || int(c-1) == root || int(c-1) == m.pe || int(c) > m.npes {
			break
		}
		root = int(c - 1)
	}
	if root != e.PE {
		if r := m.live.Describe(root); r != nil {
			r.How += fmt.Sprintf(" (seen through PE %d, which failed because of it)", e.PE)
			return r
		}
	}
	return e
}

// RecordCause records that this PE fails (or is about to) because PE pe
// died: peers that then find this PE dead are pointed at pe (see Err).
// The first cause recorded stays.
func (m *Mapped) RecordCause(pe int) {
	if pe >= 0 && pe < m.npes && pe != m.pe {
		atomic.CompareAndSwapUint32(&m.hdrs[m.pe].Cause, 0, uint32(pe)+1)
	}
}

// Close implements Fabric. It records how this PE leaves in its header; the
// transport that built the Mapped unmaps the segments. A Leave other than
// Finalized is a failure.
func (m *Mapped) Close(how fabric.Leave) error {
	finalized := how == fabric.Finalized
	st := uint32(StateFailed)
	if finalized {
		st = StateFinalized
	}
	h := m.hdrs[m.pe]
	if atomic.LoadUint32(&h.State) != StateExited { // a GlobalExit stays what peers see
		atomic.StoreUint32(&h.State, st)
	}
	if !finalized {
		m.PokeAll() // wake peers now so they see the failure without waiting a tick
	}
	return nil
}

// FailedPeer returns the first peer whose header says it failed (or ended
// the job with GlobalExit), or -1.
func (m *Mapped) FailedPeer() int {
	for pe, h := range m.hdrs {
		if h == nil {
			continue
		}
		if st := atomic.LoadUint32(&h.State); pe != m.pe && (st == StateFailed || st == StateExited) {
			return pe
		}
	}
	return -1
}

// GlobalExit implements Exiter: it records status in this PE's header,
// marks it StateExited and wakes every peer.
func (m *Mapped) GlobalExit(status int) {
	h := m.hdrs[m.pe]
	atomic.StoreUint32(&h.Exit, uint32(status))
	atomic.StoreUint32(&h.State, StateExited)
	m.PokeAll()
}

// Exited implements Exiter from the headers: the first PE marked
// StateExited, and its status.
func (m *Mapped) Exited() (pe, status int, ok bool) {
	for pe, h := range m.hdrs {
		if h != nil && atomic.LoadUint32(&h.State) == StateExited {
			return pe, int(int32(atomic.LoadUint32(&h.Exit))), true
		}
	}
	return -1, 0, false
}

// InitHeader writes a fresh header for PE pe of npes into seg and marks it
// ready. pid is 0 for goroutine PEs.
func InitHeader(seg []byte, pe, npes, pid int) {
	h := HeaderOf(seg)
	*h = Header{}
	h.Magic = Magic
	h.Version = headerVersion
	h.PE = uint32(pe)
	h.NPEs = uint32(npes)
	h.Pid = uint32(pid)
	h.Size = uint64(len(seg) - HeaderSize)
	atomic.StoreUint32(&h.State, StateReady)
}
