//go:build ofi && cgo

package ofi

// The real endpoint: Go-shaped methods over shim.h. No Go pointer passed to
// C here is kept after the call returns: Put and Send copy or inject the
// source before returning, Get and the AMOs land in C memory that C copies
// out, and the registered region is the caller's memory that must outlive
// the endpoint (see Register).

/*
#cgo LDFLAGS: -lfabric
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric"
)

// progressSpinNs is how long the progress goroutine keeps polling the CQ
// after it last saw traffic on it, before it sleeps: a process that serves
// a stream of peers' Gets and AMOs answers them without a wake-up each.
const progressSpinNs = 200_000

// asideNs is how long after a blocking call last drove the CQ the progress
// goroutine keeps standing aside (sleeping without watching the CQ): long
// enough to cover the gap between back-to-back blocking calls, short
// because a peer's request to this process waits out the rest of it.
const asideNs = 100_000

// putWaitMin is the size from which Put writes straight from the caller's
// buffer and waits for delivery, rather than copying it to a bounce buffer
// and returning at once.
const putWaitMin = 64 << 10

// spinNs is how long a blocking call polls the CQ before it sleeps on the
// CQ's wait fd between looks; sliceNs and napSliceNs are the longest one
// cgo call of its wait lasts while it spins and while it naps.
const (
	spinNs     = 50_000
	sliceNs    = 10_000
	napSliceNs = 2_000_000
)

// Endpoint is one libfabric RDM endpoint with its fabric, domain, address
// vector, completion queue, registered region and progress goroutine.
// Its methods may be called from several goroutines at once.
type Endpoint struct {
	c        *C.gshm_ofi
	provider string
	addr     []byte
	timeout  time.Duration
	dataBits uint
	mrVirt   bool
	// native[w][op]: the provider does fabric.AMOOp op natively on width w
	// (0: 32 bits, 1: 64 bits); cswap[w]: it does compare-swap, which
	// emulates the others.
	native [2][8]bool
	cswap  [2]bool

	closing atomic.Bool
	handler atomic.Pointer[handlerBox]
	done    chan struct{} // closed when the progress goroutine ends
	// dispatch is held while events are taken from the ring and handed
	// to the Handler (by the progress goroutine, or a caller in Drive), so
	// that they reach it one at a time and in order. drivers counts the
	// callers in Drive; Close waits for them.
	dispatch sync.Mutex
	drivers  atomic.Int32

	// mu: every operation holds it shared; Register, Connect and Close
	// hold it exclusively. The fields below change only under it
	// exclusively.
	mu     sync.RWMutex
	closed bool
	regLen uintptr
	win    Window
	peers  []peerInfo
	self   int // own index among the peers, -1 when not among them
}

type handlerBox struct{ h Handler }

type peerInfo struct {
	ok  bool
	fa  C.fi_addr_t
	win Window
}

// Open opens an endpoint on the provider o names and starts its progress
// goroutine. It returns an error matching errdefs.ErrUnavailable when
// libfabric has no such provider (or none with what this package needs).
func Open(ctx context.Context, o Options) (*Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cprov := C.CString(o.Provider)
	defer C.free(unsafe.Pointer(cprov))
	var msg [512]C.char
	var c *C.gshm_ofi
	if r := C.gshm_open(cprov, &c, &msg[0], C.size_t(len(msg))); r != 0 {
		return nil, fmt.Errorf("ofi: open: %w: %s", errdefs.ErrUnavailable, C.GoString(&msg[0]))
	}
	e := &Endpoint{
		c:        c,
		provider: C.GoString(C.gshm_prov(c)),
		addr:     C.GoBytes(unsafe.Pointer(C.gshm_name(c)), C.int(C.gshm_namelen(c))),
		timeout:  o.Timeout,
		mrVirt:   C.gshm_mr_mode(c)&C.FI_MR_VIRT_ADDR != 0,
		done:     make(chan struct{}),
		self:     -1,
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	switch n := C.gshm_cq_data_size(c); {
	case n >= 8:
		e.dataBits = 48
	case n >= 4:
		e.dataBits = 16
	}
	for w, dt := range [2]C.int{C.FI_UINT32, C.FI_UINT64} {
		for op := fabric.AMOFetch; op <= fabric.AMOXor; op++ {
			fop, compare := fiOp(op)
			kind := C.int(1)
			if compare {
				kind = 2
			}
			e.native[w][op] = C.gshm_atomic_ok(c, kind, dt, fop) != 0
		}
		e.cswap[w] = e.native[w][fabric.AMOCompareSwap]
	}
	go e.progress()
	return e, nil
}

// fiOp maps an AMOOp to a libfabric atomic op, and whether it is a compare
// atomic.
func fiOp(op fabric.AMOOp) (C.int, bool) {
	switch op {
	case fabric.AMOFetch:
		return C.FI_ATOMIC_READ, false
	case fabric.AMOSet, fabric.AMOSwap:
		return C.FI_ATOMIC_WRITE, false
	case fabric.AMOCompareSwap:
		return C.FI_CSWAP, true
	case fabric.AMOAdd:
		return C.FI_SUM, false
	case fabric.AMOAnd:
		return C.FI_BAND, false
	case fabric.AMOOr:
		return C.FI_BOR, false
	default:
		return C.FI_BXOR, false
	}
}

// Provider returns the name of the provider Open chose, e.g.
// "tcp;ofi_rxm".
func (e *Endpoint) Provider() string { return e.provider }

// Addr returns this endpoint's name (fi_getname), for peers' Connect. The
// caller must not modify it.
func (e *Endpoint) Addr() []byte { return e.addr }

// MaxMsg is the largest message Send takes, in bytes.
func (e *Endpoint) MaxMsg() int { return C.GSHM_MSGSIZE }

// DataBits is how many low bits of PutData's data reach the target: 48
// where the provider carries 8 bytes of remote CQ data, 16 where it carries
// 4, 0 where it carries none (PutData then fails).
func (e *Endpoint) DataBits() int { return int(e.dataBits) }

// NativeAMO reports whether the provider executes op on a word of bits
// (32 or 64) itself; where it does not, AMO64 and AMO32 emulate op with a
// loop of compare-swaps (and fail with an error matching
// errdefs.ErrUnavailable when the provider has no compare-swap either).
func (e *Endpoint) NativeAMO(bits int, op fabric.AMOOp) bool {
	if op > fabric.AMOXor {
		return false
	}
	return e.native[bits/64][op]
}

// CPUAtomics reports whether the provider applies AMO64 and AMO32 at the
// target with the target CPU's atomic instructions, so that they are
// atomic with respect to what other processes on the target's node do to
// the same word with sync/atomic (see the package doc's Atomics):
// tcp;ofi_rxm, whose atomics run in software in the target's progress, in
// a libfabric built with the compiler's __atomic builtins (Debian's is;
// the AMOWithCPUAtomics test checks the one it runs against). A NIC's
// atomics (verbs, EFA, CXI) are not: false for every other provider.
func (e *Endpoint) CPUAtomics() bool { return e.provider == "tcp;ofi_rxm" }

// Register registers mem for remote read, write and atomics and returns
// the Window that peers address it by. One region per endpoint: a second
// call fails. mem must stay valid, and must not move, until Close returns:
// memory from mmap (a shared-memory segment) or C, not Go memory that may
// be freed.
func (e *Endpoint) Register(mem []byte) (Window, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return Window{}, fmt.Errorf("ofi: register: %w", ErrClosed)
	case len(mem) == 0:
		return Window{}, fmt.Errorf("ofi: register: %w: empty region", errdefs.ErrInvalidArg)
	case e.regLen != 0:
		return Window{}, fmt.Errorf("ofi: register: %w: a region is already registered", errdefs.ErrInvalidArg)
	}
	var key C.uint64_t
	if r := C.gshm_register(e.c, unsafe.Pointer(&mem[0]), C.size_t(len(mem)), &key); r != 0 {
		return Window{}, fmt.Errorf("ofi: register: %w", fabricErr("fi_mr_reg", r, 0))
	}
	e.regLen = uintptr(len(mem))
	e.win = Window{Key: uint64(key), Len: uint64(len(mem))}
	if e.mrVirt {
		e.win.Base = uint64(uintptr(unsafe.Pointer(&mem[0])))
	}
	return e.win, nil
}

// SetHandler sets the Handler that receives peers' Send messages and
// PutData notifications. Call it before Connect: what arrives with no
// handler set is dropped.
func (e *Endpoint) SetHandler(h Handler) { e.handler.Store(&handlerBox{h}) }

// Connect inserts the peers' addresses into the address vector: peer i is
// index i of every other method. peers should include this endpoint's own
// Addr at its own index: Send and PutData tell the target who sent them by
// that index, and fail without it. Peers with a nil Addr are unreachable
// here. Connect may be called once; it opens no connection (the provider
// connects on first use).
func (e *Endpoint) Connect(ctx context.Context, peers []Peer) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return fmt.Errorf("ofi: connect: %w", ErrClosed)
	case e.peers != nil:
		return fmt.Errorf("ofi: connect: %w: already connected", errdefs.ErrInvalidArg)
	case len(peers) > MaxPeers:
		return fmt.Errorf("ofi: connect: %w: %d peers, at most %d", errdefs.ErrInvalidArg, len(peers), MaxPeers)
	}
	ps := make([]peerInfo, len(peers))
	self := -1
	for i, p := range peers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.Addr == nil {
			continue
		}
		if self < 0 && bytes.Equal(p.Addr, e.addr) {
			self = i
		}
		var fa C.fi_addr_t
		if r := C.gshm_av_insert(e.c, unsafe.Pointer(&p.Addr[0]), &fa); r != 0 {
			return fmt.Errorf("ofi: connect: peer %d: %w", i, fabricErr("fi_av_insert", r, 0))
		}
		ps[i] = peerInfo{ok: true, fa: fa, win: p.Win}
	}
	e.peers, e.self = ps, self
	return nil
}

// fabricErr makes a *FabricError of libfabric code r (either sign).
func fabricErr(call string, r C.int, prov C.int) error {
	if r < 0 {
		r = -r
	}
	return &FabricError{Call: call, Errno: int(r), ProvErrno: int(prov), Text: C.GoString(C.fi_strerror(r))}
}

// opErr turns a shim result into the error of op on peer: nil for 0.
func opErr(op string, peer int, call string, r C.int) error {
	switch r {
	case 0:
		return nil
	case C.GSHM_ETIMEDOUT:
		return &OpError{Op: op, Peer: peer, Err: ErrTimeout}
	case C.GSHM_ECLOSED:
		return &OpError{Op: op, Peer: peer, Err: ErrClosed}
	case C.GSHM_EGONE:
		return &OpError{Op: op, Peer: peer, Err: ErrPeerGone}
	}
	if r > 0 { // a CQ error entry
		call = "completion"
	}
	return &OpError{Op: op, Peer: peer, Err: fabricErr(call, r, 0)}
}

// target checks peer and [off, off+n) for op and returns the peer with
// the remote address of off. The caller holds e.mu shared.
func (e *Endpoint) target(op string, peer int, off, n uintptr) (peerInfo, uint64, error) {
	if e.closed || e.closing.Load() {
		return peerInfo{}, 0, &OpError{Op: op, Peer: peer, Err: ErrClosed}
	}
	if peer < 0 || peer >= len(e.peers) {
		return peerInfo{}, 0, fmt.Errorf("ofi: %s: %w: peer %d not in [0, %d)", op, errdefs.ErrInvalidPE, peer, len(e.peers))
	}
	p := e.peers[peer]
	if !p.ok {
		return peerInfo{}, 0, fmt.Errorf("ofi: %s: %w: peer %d has no address", op, ErrUnreachable, peer)
	}
	if C.gshm_is_gone(e.c, C.uint64_t(peer)) != 0 {
		return peerInfo{}, 0, &OpError{Op: op, Peer: peer, Err: ErrPeerGone}
	}
	size := uintptr(p.win.Len)
	if size == 0 {
		size = e.regLen
	}
	if off > size || n > size-off {
		return peerInfo{}, 0, fmt.Errorf("ofi: %s: %w: bytes [%d, %d) beyond peer %d's region of %d bytes",
			op, errdefs.ErrOutOfRange, off, off+n, peer, size)
	}
	return p, p.win.Base + uint64(off), nil
}

func (e *Endpoint) deadline() C.int64_t {
	return C.gshm_now() + C.int64_t(e.timeout.Nanoseconds())
}

// Put copies src to peer's region at off. src may be reused when Put
// returns. Below 64 KiB Put does not wait for the transfer (the provider
// injects small sources, larger ones are copied to a bounce buffer): the
// bytes are in place at the target when Quiet returns, and an error of the
// transfer is reported by the next Quiet. From 64 KiB on Put writes
// straight from src and returns once the bytes are in place at the target
// (a copy would cost more than the wait), with the transfer's error.
func (e *Endpoint) Put(peer int, off uintptr, src []byte) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, raddr, err := e.target("put", peer, off, uintptr(len(src)))
	if err != nil || len(src) == 0 {
		return err
	}
	if len(src) >= putWaitMin {
		var op *C.gshm_op
		deadline := e.deadline()
		r := C.gshm_put_wait_post(e.c, p.fa, C.uint64_t(raddr), C.uint64_t(p.win.Key), unsafe.Pointer(&src[0]),
			C.size_t(len(src)), C.uint64_t(peer), deadline, &op)
		if r == 0 {
			r = e.wait(op, deadline)
			if r != C.GSHM_ETIMEDOUT && r != C.GSHM_ECLOSED {
				C.gshm_op_free(op)
			}
		}
		return opErr("put", peer, "fi_writemsg", r)
	}
	r := C.gshm_put(e.c, p.fa, C.uint64_t(raddr), C.uint64_t(p.win.Key), unsafe.Pointer(&src[0]),
		C.size_t(len(src)), C.uint64_t(peer), 0, 0, e.deadline())
	return opErr("put", peer, "fi_writemsg", r)
}

// PutData is Put with a notification: after the bytes are placed at the
// target, the target's Handler.OnData(from, data) runs, from being this
// endpoint's index among the target's peers... more precisely this
// endpoint's own index in the peers it passed to Connect (the indices agree
// when every process passes the same list). data must fit in DataBits
// bits. len(src) may be 0.
func (e *Endpoint) PutData(peer int, off uintptr, src []byte, data uint64) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, raddr, err := e.target("putdata", peer, off, uintptr(len(src)))
	if err != nil {
		return err
	}
	if e.self < 0 {
		return fmt.Errorf("ofi: putdata: %w: this endpoint's address was not among Connect's peers", errdefs.ErrInvalidArg)
	}
	if e.dataBits == 0 || data>>e.dataBits != 0 {
		return fmt.Errorf("ofi: putdata: %w: data %#x does not fit in %d bits", errdefs.ErrInvalidArg, data, e.dataBits)
	}
	var sp unsafe.Pointer
	if len(src) > 0 {
		sp = unsafe.Pointer(&src[0])
	}
	cqd := uint64(e.self)<<e.dataBits | data
	r := C.gshm_put(e.c, p.fa, C.uint64_t(raddr), C.uint64_t(p.win.Key), sp,
		C.size_t(len(src)), C.uint64_t(peer), 1, C.uint64_t(cqd), e.deadline())
	return opErr("putdata", peer, "fi_writemsg", r)
}

// wait drives the CQ until op completes, deadline passes or the endpoint
// closes, and returns gshm_wait_slice's result. It spins for spinNs in
// slices of sliceNs (each one cgo call short enough to keep its P), then
// naps between looks in longer slices.
func (e *Endpoint) wait(op *C.gshm_op, deadline C.int64_t) C.int {
	C.gshm_enter(e.c)
	defer C.gshm_leave(e.c)
	backoff := C.int64_t(20_000)
	start := C.gshm_now()
	for {
		now := C.gshm_now()
		nap := C.int(0)
		end := now + sliceNs
		if now-start > spinNs {
			nap, end = 1, now+napSliceNs
		}
		if r := C.gshm_wait_slice(e.c, op, deadline, end, nap, &backoff); r != C.GSHM_EAGAIN {
			return r
		}
	}
}

// Unblock tells the endpoint that no call of this process will drive the
// CQ for a while: the caller is about to wait for a peer's message or
// write (which the progress goroutine hands to the Handler). The progress
// goroutine, which stands aside while calls drive the CQ and for a moment
// after (so as not to take their CPU), watches the CQ again at once.
func (e *Endpoint) Unblock() {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.c != nil && !e.closing.Load() {
		C.gshm_unblock(e.c)
	}
}

// Drive is the network side of a caller's wait for a peer's message or
// write: until cond returns true or d passes, it reads the CQ itself and
// hands what it read to the Handler on the calling goroutine, as the
// progress goroutine would (which stands aside meanwhile). So a message
// reaches a waiting caller without two thread wake-ups (the progress
// goroutine's, then the caller's). It reports whether cond returned true.
// cond must be cheap: Drive calls it between looks at the CQ. After Close
// it only returns cond(). A Handler must not call Drive.
func (e *Endpoint) Drive(cond func() bool, d time.Duration) bool {
	e.drivers.Add(1)
	defer e.drivers.Add(-1)
	if e.closing.Load() {
		return cond()
	}
	C.gshm_enter(e.c)
	defer C.gshm_leave(e.c)
	var evs [16]C.gshm_event
	end := time.Now().Add(d)
	for i := 0; ; i++ {
		for range 32 {
			if cond() {
				return true
			}
		}
		if e.closing.Load() {
			return false
		}
		C.gshm_poll(e.c, 0)
		if e.dispatch.TryLock() {
			k := int(C.gshm_events(e.c, &evs[0], C.int(len(evs))))
			for _, ev := range evs[:k] {
				e.handle(ev)
			}
			e.dispatch.Unlock()
		} else {
			// The progress goroutine hands them over: it is awake.
			runtime.Gosched()
		}
		if i%8 == 7 {
			if time.Now().After(end) {
				if C.gshm_queued(e.c) > 0 {
					C.gshm_kick(e.c)
				}
				return cond()
			}
			// Let other processes have this CPU now and then: PEs whose
			// wait policy says they have a CPU each may still share
			// one (emulated nodes on one host, another job).
			C.sched_yield()
		}
	}
}

// Get copies len(dst) bytes from peer's region at off into dst, and
// returns when they are there (or with an error, dst then unchanged).
func (e *Endpoint) Get(peer int, off uintptr, dst []byte) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, raddr, err := e.target("get", peer, off, uintptr(len(dst)))
	if err != nil || len(dst) == 0 {
		return err
	}
	var op *C.gshm_op
	deadline := e.deadline()
	r := C.gshm_get_post(e.c, p.fa, C.uint64_t(raddr), C.uint64_t(p.win.Key), C.size_t(len(dst)),
		C.uint64_t(peer), deadline, &op)
	if r == 0 {
		switch r = e.wait(op, deadline); r {
		case 0:
			C.gshm_get_done(op, unsafe.Pointer(&dst[0]), C.size_t(len(dst)))
		case C.GSHM_ETIMEDOUT, C.GSHM_ECLOSED: // abandoned
		default:
			C.gshm_op_free(op)
		}
	}
	return opErr("get", peer, "fi_read", r)
}

// amoName names an AMO of 32 (w 0) or 64 bits (w 1) in errors: string
// constants, so that naming one costs nothing on the fast path.
func amoName(w int, op fabric.AMOOp) string {
	names := [2][8]string{
		{"amo32 fetch", "amo32 set", "amo32 swap", "amo32 compare-swap", "amo32 add", "amo32 and", "amo32 or", "amo32 xor"},
		{"amo64 fetch", "amo64 set", "amo64 swap", "amo64 compare-swap", "amo64 add", "amo64 and", "amo64 or", "amo64 xor"},
	}
	return names[w][op]
}

// AMO64 applies op to the 8-byte aligned uint64 at off in peer's region
// and returns the value it held before. cmp is used by AMOCompareSwap only.
// It blocks until the operation is done at the target. Operations the
// provider lacks (NativeAMO) are emulated with compare-swap.
func (e *Endpoint) AMO64(peer int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	return e.amo(peer, off, op, operand, cmp, 1)
}

// AMO32 is AMO64 on a 4-byte aligned uint32.
func (e *Endpoint) AMO32(peer int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	v, err := e.amo(peer, off, op, uint64(operand), uint64(cmp), 0)
	return uint32(v), err
}

func (e *Endpoint) amo(peer int, off uintptr, op fabric.AMOOp, operand, cmp uint64, w int) (uint64, error) {
	size := uintptr(4) << w
	dt := C.int(C.FI_UINT32)
	if w == 1 {
		dt = C.FI_UINT64
	}
	if op > fabric.AMOXor {
		return 0, fmt.Errorf("ofi: amo: %w: operation %v", errdefs.ErrInvalidArg, op)
	}
	name := amoName(w, op)
	if off%size != 0 {
		return 0, fmt.Errorf("ofi: %s: %w: offset %d not %d-byte aligned", name, errdefs.ErrInvalidArg, off, size)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, raddr, err := e.target(name, peer, off, size)
	if err != nil {
		return 0, err
	}
	do := func(op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
		fop, compare := fiOp(op)
		c := C.int(0)
		if compare {
			c = 1
		}
		var cop *C.gshm_op
		var old uint64
		deadline := e.deadline()
		r := C.gshm_amo_post(e.c, p.fa, C.uint64_t(raddr), C.uint64_t(p.win.Key), dt, fop, c,
			C.uint64_t(operand), C.uint64_t(cmp), C.uint64_t(peer), deadline, &cop)
		if r == 0 {
			r = e.wait(cop, deadline)
			if r != C.GSHM_ETIMEDOUT && r != C.GSHM_ECLOSED {
				old = uint64(C.gshm_amo_result(cop, dt))
				C.gshm_op_free(cop)
			}
		}
		return old, opErr(name, peer, "fi_fetch_atomic", r)
	}
	if e.native[w][op] {
		return do(op, operand, cmp)
	}
	if !e.cswap[w] {
		return 0, fmt.Errorf("ofi: %s: %w: provider %s has neither this atomic nor compare-swap on %d bits",
			name, errdefs.ErrUnavailable, e.provider, size*8)
	}
	// Emulation: read (a compare-swap that cannot match, where the
	// provider cannot fetch), then compare-swap the new value in until
	// no one changed the word in between.
	mask := uint64(1)<<(size*8) - 1
	if w == 1 {
		mask = ^uint64(0)
	}
	var cur uint64
	if e.native[w][fabric.AMOFetch] {
		cur, err = do(fabric.AMOFetch, 0, 0)
	} else {
		cur, err = do(fabric.AMOCompareSwap, 0, 0)
	}
	for err == nil {
		var next uint64
		switch op {
		case fabric.AMOFetch:
			return cur, nil
		case fabric.AMOSet, fabric.AMOSwap:
			next = operand
		case fabric.AMOAdd:
			next = cur + operand
		case fabric.AMOAnd:
			next = cur & operand
		case fabric.AMOOr:
			next = cur | operand
		case fabric.AMOXor:
			next = cur ^ operand
		}
		var got uint64
		got, err = do(fabric.AMOCompareSwap, next&mask, cur)
		if err == nil && got == cur {
			return cur, nil
		}
		cur = got
	}
	return 0, err
}

// Send sends msg (at most MaxMsg bytes) to peer's Handler.OnMessage.
// Messages from one endpoint to one peer arrive in the order sent. msg may
// be reused when Send returns; Quiet waits until it is delivered.
func (e *Endpoint) Send(peer int, msg []byte) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, _, err := e.target("send", peer, 0, 0)
	if err != nil {
		return err
	}
	if len(msg) > C.GSHM_MSGSIZE {
		return fmt.Errorf("ofi: send: %w: message of %d bytes, at most %d", errdefs.ErrInvalidArg, len(msg), C.GSHM_MSGSIZE)
	}
	if e.self < 0 {
		return fmt.Errorf("ofi: send: %w: this endpoint's address was not among Connect's peers", errdefs.ErrInvalidArg)
	}
	var sp unsafe.Pointer
	if len(msg) > 0 {
		sp = unsafe.Pointer(&msg[0])
	}
	r := C.gshm_send(e.c, p.fa, sp, C.size_t(len(msg)), C.uint64_t(peer), C.uint64_t(e.self), e.deadline())
	return opErr("send", peer, "fi_sendmsg", r)
}

// Gone marks peer as gone from the job (its process exited or died, as
// the caller learned some other way): from then on an operation on it, or
// one still retrying or waiting on it, fails at once with an OpError
// wrapping ErrPeerGone, where it would otherwise retry until
// Options.Timeout (tcp;ofi_rxm answers a send to a process that is gone
// with "try again"). Quiet still waits for operations on it already
// posted: their completions, with an error, come when the provider
// notices the connection is lost (bound Quiet with its ctx). Gone of a
// peer out of range does nothing.
func (e *Endpoint) Gone(peer int) {
	if peer >= 0 && peer < MaxPeers {
		e.mu.RLock()
		defer e.mu.RUnlock()
		if e.c != nil {
			C.gshm_set_gone(e.c, C.uint64_t(peer))
		}
	}
}

// Quiet returns when every Put, PutData and Send this endpoint issued is
// complete at its target (AMOs and Gets are complete when they return). It
// returns the first error of those operations since the last Quiet (naming
// the peer and the operation), ctx's error when ctx ends first, or an error
// wrapping ErrTimeout when Options.Timeout passes with no operation
// completing.
func (e *Endpoint) Quiet(ctx context.Context) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed || e.closing.Load() {
		return &OpError{Op: "quiet", Peer: -1, Err: ErrClosed}
	}
	// The timeout runs from the last completion seen, so a long queue of
	// large puts that drains steadily never times out.
	if C.gshm_pending(e.c) > 0 {
		C.gshm_enter(e.c)
		defer C.gshm_leave(e.c)
	}
	ctxEnd, hasEnd := ctx.Deadline()
	pending := C.gshm_pending(e.c)
	final := time.Now().Add(e.timeout)
	backoff := C.int64_t(20_000)
	start := C.gshm_now()
	for i := 0; ; i++ {
		now := C.gshm_now()
		nap := C.int(0)
		end := now + sliceNs
		if now-start > spinNs {
			nap, end = 1, now+napSliceNs
		}
		r := C.gshm_quiet_slice(e.c, end, nap, &backoff)
		if r == 0 {
			break
		}
		if r != C.GSHM_EAGAIN {
			return opErr("quiet", -1, "", r)
		}
		if nap == 0 && i%64 != 0 {
			continue // spinning: look at the clock and ctx now and then
		}
		if p := C.gshm_pending(e.c); p < pending {
			pending, final = p, time.Now().Add(e.timeout)
		}
		if hasEnd && ctxEnd.Before(final) {
			final = ctxEnd
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ofi: quiet: %w", err)
		}
		if !time.Now().Before(final) {
			return &OpError{Op: "quiet", Peer: -1, Err: ErrTimeout}
		}
	}
	if ce := C.gshm_take_err(e.c); ce.set != 0 {
		op := [...]string{"?", "put", "putdata", "send", "get", "amo"}[ce.op]
		return &OpError{Op: op, Peer: int(ce.peer), Err: fabricErr("completion", ce.err, ce.prov_err)}
	}
	return nil
}

// progress is the endpoint's progress goroutine: it drives the CQ (which
// makes the provider serve peers' RMA and atomics on this endpoint's
// region, since tcp;ofi_rxm progresses only when its CQ is read), hands
// messages and PutData notifications to the Handler, and reposts receive
// buffers. It keeps polling for progressSpinNs after the CQ's wait fd last
// showed traffic; then it sleeps in poll(2) on the CQ's wait fd (after
// fi_trywait) and on an eventfd that other goroutines write when they read
// events from the CQ for it, and that Close writes.
func (e *Endpoint) progress() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(e.done)
	var evs [64]C.gshm_event
	idle := 0
	for !e.closing.Load() {
		n := C.gshm_poll(e.c, 0)
		e.dispatch.Lock()
		k := int(C.gshm_events(e.c, &evs[0], C.int(len(evs))))
		for _, ev := range evs[:k] {
			e.handle(ev)
		}
		e.dispatch.Unlock()
		if n > 0 || k > 0 {
			idle = 0
			continue
		}
		if idle++; idle > 4 {
			C.gshm_idle(e.c, progressSpinNs, asideNs, 100)
		}
	}
}

// handle hands one event to the Handler.
func (e *Endpoint) handle(ev C.gshm_event) {
	var h Handler
	if b := e.handler.Load(); b != nil {
		h = b.h
	}
	switch ev.kind {
	case C.GSHM_EV_MSG:
		if h != nil {
			msg := unsafe.Slice((*byte)(unsafe.Pointer(C.gshm_rx_buf(e.c, ev.rx))), int(ev.len))
			h.OnMessage(int(uint64(ev.data)&(MaxPeers-1)), msg)
		}
		C.gshm_repost(e.c, ev.rx)
	case C.GSHM_EV_DATA:
		if h != nil && e.dataBits > 0 {
			d := uint64(ev.data)
			h.OnData(int(d>>e.dataBits)&(MaxPeers-1), d&(1<<e.dataBits-1))
		}
	}
}

// Close stops the progress goroutine, wakes every blocked call (which
// returns an error matching ErrClosed) and closes the libfabric objects.
// Operations after Close return an error matching ErrClosed. Operations
// still in flight at the provider are abandoned.
func (e *Endpoint) Close() error {
	if e.closing.Swap(true) {
		return fmt.Errorf("ofi: close: %w", ErrClosed)
	}
	C.gshm_shutdown(e.c)
	<-e.done
	for e.drivers.Load() > 0 { // each looks at closing between events
		time.Sleep(10 * time.Microsecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	C.gshm_free(e.c)
	e.c = nil
	return nil
}

// Available reports whether this build has libfabric: true here (the ofi
// tag, with cgo).
func Available() bool { return true }
