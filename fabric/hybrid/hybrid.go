// Package hybrid is the fabric of a job whose PEs run on several nodes:
// the PEs of this PE's node are mapped over shared memory (fabric/shm) and
// reached by loads and stores, the others are reached over the network
// through libfabric (fabric/ofi). The layers above see one fabric.Fabric:
// Region is nil for the PEs of other nodes, and Put, Get and the AMOs go
// to whichever transport reaches the PE.
//
// # Remote writes wake local waiters
//
// A waiter sleeps on its own segment's futex (fabric/shm), which only
// stores of this node can wake. A Put to another node is therefore an RMA
// write that carries remote completion data (ofi.Endpoint.PutData) naming
// the lines it wrote: the target's progress goroutine sees the completion
// once the bytes are in place and wakes the target's waiters that watch
// those lines, as a local Put's Notify would.
//
// # Atomics are executed by the target
//
// The PEs of a node update their words with CPU atomics. An atomic that a
// provider executes for a remote initiator is not atomic with respect to
// those unless the provider uses the same CPU instructions on the same
// memory, which no provider promises. So an AMO on a PE of another node is
// a message to that PE, whose progress goroutine applies it with the CPU
// atomic a local peer would use (fabric.AMO64) and replies with the old
// value: one round trip, as a provider's fetching atomic costs, and atomic
// with every other update of the word.
//
// # Ordering
//
// Puts and Gets travel as RMA and AMOs as messages; the provider need not
// order the two. An AMO or Get to a PE that this PE has written to since
// its last Quiet first waits for those writes (a Quiet), so that a put
// followed by a signal, or by a get of the same bytes, is seen in order.
//
// # Failure
//
// A PE of another node that fails, calls GlobalExit or finalizes says so to
// every PE of other nodes before it closes; a PE that dies without saying
// (killed, its node lost) is found by its node's survivors, which relay its
// death, or, when its whole node is gone, by its silence: every PE sends a
// heartbeat to the PEs of other nodes, and one that sends nothing for
// Options.PeerTimeout is dead. Waits on this node see those deaths through
// shm's liveness (shm.Options.Remote), and are woken when one is recorded.
package hybrid

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/internal/mapped"
	"github.com/gshmem/gshmem/fabric/ofi"
	"github.com/gshmem/gshmem/fabric/shm"
)

// Transport is what a hybrid fabric's Transport returns.
const Transport = "shm+ofi"

// DefaultPeerTimeout is Options.PeerTimeout when it is zero.
const DefaultPeerTimeout = 10 * time.Second

// Options describe this PE's place in a job that spans nodes.
type Options struct {
	// Shm are the options of the shared-memory part; its Node must say
	// which node each PE runs on. Its Remote is set by Open.
	Shm shm.Options
	// OFI chooses the libfabric provider.
	OFI ofi.Options
	// Exchange publishes mine (this PE's network address and registered
	// window) to every PE and returns what every PE published, indexed by
	// PE: an allgather through the process manager. It is called once, by
	// every PE of the job.
	Exchange func(ctx context.Context, mine []byte) ([][]byte, error)
	// PeerTimeout is how long a PE of another node may send nothing
	// before it is taken for dead (its heartbeat comes every quarter of
	// it). DefaultPeerTimeout when zero.
	PeerTimeout time.Duration
	// MessageAMO makes every remote AMO a message the target applies and
	// answers, even where the provider applies fabric atomics with the
	// target's CPU atomics (ofi.Endpoint.CPUAtomics), which are used then
	// by default (a round trip without the hand-offs to the goroutines
	// that handle messages). For tests and comparisons.
	MessageAMO bool
}

// Fabric is one PE's view of a job over shared memory and libfabric. It
// implements fabric.Fabric, fabric.Exiter and fabric.PolicyOf's
// Node implements fabric.Topology.
func (f *Fabric) Node(pe int) int { return f.node[pe] }

// WaitPolicy.
type Fabric struct {
	loc      *shm.Fabric
	net      *ofi.Endpoint
	me, npes int
	remote   []bool // remote[pe]: pe runs on another node
	node     []int  // node[pe], numbered in the order of the nodes' first PEs
	nremote  int
	timeout  time.Duration
	// netSpin is how long Wait drives the network itself before it
	// sleeps: 4 times the wait policy's SpinFor (200 µs for PEs that have
	// a CPU each, 8 µs for crowded ones, which must not spin).
	netSpin time.Duration

	peers []peerState
	dirty []atomic.Bool // written to since this PE's last Quiet (remote PEs)
	dead  atomic.Pointer[fabric.PeerError]
	exit  atomic.Pointer[exitRecord]
	// down ends when a remote PE is found dead: it bounds the network
	// calls that would otherwise wait for it.
	down       context.Context
	downCancel context.CancelCauseFunc

	calls struct {
		sync.Mutex
		next uint32
		m    map[uint32]*call
	}
	relayed []atomic.Bool // local PEs whose death this PE told the other nodes

	// cpuAtomics: the provider applies fabric atomics with the target's
	// CPU atomics (ofi.Endpoint.CPUAtomics); remote AMOs use them.
	cpuAtomics bool

	// unacked counts the PutSignal messages no acknowledgement covers yet,
	// over every PE; Quiet waits for them. acks.ch is closed, and
	// replaced, when an acknowledgement comes or a PE leaves while some
	// Quiet waits (acks.waiting).
	unacked atomic.Int64
	acks    struct {
		sync.Mutex
		waiting bool
		ch      chan struct{}
	}

	// unwired counts the PEs of other nodes whose connection is not up
	// yet; wiredUp closes when it reaches 0 (see wireUp).
	unwired atomic.Int32
	wiredUp chan struct{}
	// hellos holds the hellos that arrived before Connect, when no answer
	// can be sent yet: wireUp answers them once connected.
	hellos struct {
		sync.Mutex
		connected bool
		pending   []int
	}

	// serve orders the AMOs this PE applies for other nodes before its
	// leave messages: a request is applied and answered before Close
	// says this PE leaves, or not at all (its sender then fails the call
	// when the leave message arrives, which follows the reply on the
	// same endpoint pair when there is one).
	serve struct {
		sync.Mutex
		leaving bool
	}

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// peerState is what this PE knows of a PE of another node.
type peerState struct {
	last atomic.Int64  // time.Now().UnixNano() of its last message
	left atomic.Uint32 // leftNone, or how it left
	code atomic.Int32  // GlobalExit status, or 1 + the PE it failed because of
	how  atomic.Pointer[string]
	// wired: the connection to this PE is up (see wireUp).
	wired atomic.Bool
	// sent counts this PE's PutSignal messages to it, acked those it
	// acknowledged applying; applied counts the ones it sent here that
	// this PE applied (see PutSignal).
	sent, acked, applied atomic.Uint64
}

// How a PE left (peerState.left, and the first byte of a leave message).
const (
	leftNone uint32 = iota
	leftFinalized
	leftFailed
	leftExited
	leftDead // found dead by this PE, a relay or its silence
)

type exitRecord struct{ pe, status int }

// call is a pending AMO on a remote PE.
type call struct {
	pe   int
	done chan struct{}
	old  uint64
	err  error
}

var _ fabric.Fabric = (*Fabric)(nil)
var _ fabric.Exiter = (*Fabric)(nil)
var _ fabric.Topology = (*Fabric)(nil)

// Open makes this PE's fabric: it opens a libfabric endpoint, maps the
// segments of this node's PEs (shm.Open), registers this PE's region with
// the endpoint, exchanges addresses and windows through o.Exchange and
// connects to the PEs of other nodes. A job whose PEs all run on one node
// does not need it (use fabric/shm).
func Open(ctx context.Context, o Options) (_ *Fabric, err error) {
	so := o.Shm
	if len(so.Node) != so.NPEs || so.PE < 0 || so.PE >= so.NPEs {
		return nil, fmt.Errorf("hybrid: PE %d of %d with a node list of %d PEs: want one node per PE", so.PE, so.NPEs, len(so.Node))
	}
	if o.Exchange == nil {
		return nil, fmt.Errorf("hybrid: no Exchange: the PEs cannot learn each other's addresses")
	}
	if o.PeerTimeout < 0 {
		return nil, fmt.Errorf("hybrid: peer timeout %v: want a positive duration, or 0 for %v", o.PeerTimeout, DefaultPeerTimeout)
	}
	f := &Fabric{
		me: so.PE, npes: so.NPEs, remote: make([]bool, so.NPEs), timeout: o.PeerTimeout,
		peers: make([]peerState, so.NPEs), dirty: make([]atomic.Bool, so.NPEs), relayed: make([]atomic.Bool, so.NPEs),
		stop: make(chan struct{}), done: make(chan struct{}), wiredUp: make(chan struct{}),
	}
	if f.timeout == 0 {
		f.timeout = DefaultPeerTimeout
	}
	f.calls.m = map[uint32]*call{}
	f.acks.ch = make(chan struct{})
	f.down, f.downCancel = context.WithCancelCause(context.Background())
	for pe, n := range so.Node {
		if n != so.Node[so.PE] {
			f.remote[pe] = true
			f.nremote++
		}
	}
	f.unwired.Store(int32(f.nremote)) // before a hello can arrive
	f.node = make([]int, f.npes)
	ids := map[int]int{}
	for pe, n := range so.Node {
		id, ok := ids[n]
		if !ok {
			id = len(ids)
			ids[n] = id
		}
		f.node[pe] = id
	}
	defer func() {
		if err != nil {
			f.downCancel(err)
			if f.net != nil {
				f.net.Close()
			}
			if f.loc != nil {
				f.loc.Close(fabric.Failed)
			}
		}
	}()
	if f.net, err = ofi.Open(ctx, o.OFI); err != nil {
		return nil, fmt.Errorf("hybrid: PE %d: the job's PEs run on several nodes, which needs a libfabric endpoint: %w", f.me, err)
	}
	// The handler before the exchange: from then on peers know this
	// endpoint's address and may send it their hellos, and the endpoint
	// drops what arrives with no handler (a lost hello held both PEs in
	// wireUp until start-up timed out, about one srun job in ten).
	f.net.SetHandler(handler{f})
	f.cpuAtomics = f.net.CPUAtomics() && !o.MessageAMO
	so.Remote = remoteLiveness{f}
	if f.loc, err = shm.Open(ctx, so); err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	f.netSpin = 4 * f.loc.WaitPolicy().SpinFor
	win, err := f.net.Register(f.loc.Region(f.me))
	if err != nil {
		return nil, fmt.Errorf("hybrid: PE %d: register the symmetric region (%d bytes) with %s: %w", f.me, len(f.loc.Region(f.me)), f.net.Provider(), err)
	}
	mine := encodeCard(f.net.Addr(), win)
	all, err := o.Exchange(ctx, mine)
	if err != nil {
		return nil, fmt.Errorf("hybrid: PE %d: exchange network addresses: %w", f.me, err)
	}
	if len(all) != f.npes {
		return nil, fmt.Errorf("hybrid: PE %d: the exchange returned %d addresses for %d PEs", f.me, len(all), f.npes)
	}
	peers := make([]ofi.Peer, f.npes)
	for pe, card := range all {
		if pe == f.me {
			card = mine // the endpoint sends its own index with every message: it must know itself
		}
		if !f.remote[pe] && pe != f.me {
			continue
		}
		if peers[pe], err = decodeCard(card); err != nil {
			return nil, fmt.Errorf("hybrid: PE %d: the address PE %d published: %w", f.me, pe, err)
		}
	}
	if err := f.net.Connect(ctx, peers); err != nil {
		return nil, fmt.Errorf("hybrid: PE %d: connect to the PEs of other nodes over %s: %w", f.me, f.net.Provider(), err)
	}
	if err := f.wireUp(ctx); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	for pe := range f.peers {
		f.peers[pe].last.Store(now)
	}
	go f.watch()
	return f, nil
}

// encodeCard packs what a peer needs to reach this PE: the window, then
// the endpoint's address.
func encodeCard(addr []byte, w ofi.Window) []byte {
	b := binary.LittleEndian.AppendUint64(nil, w.Base)
	b = binary.LittleEndian.AppendUint64(b, w.Key)
	return append(b, addr...)
}

func decodeCard(b []byte) (ofi.Peer, error) {
	if len(b) <= 16 {
		return ofi.Peer{}, fmt.Errorf("%d bytes, want a 16-byte window and an address", len(b))
	}
	return ofi.Peer{
		Win:  ofi.Window{Base: binary.LittleEndian.Uint64(b), Key: binary.LittleEndian.Uint64(b[8:])},
		Addr: b[16:],
	}, nil
}

// PE implements fabric.Fabric.
func (f *Fabric) PE() int { return f.me }

// NPEs implements fabric.Fabric.
func (f *Fabric) NPEs() int { return f.npes }

// Transport implements fabric.Fabric: "shm+ofi".
func (f *Fabric) Transport() string { return Transport }

// Provider names the libfabric provider that reaches the other nodes.
func (f *Fabric) Provider() string { return f.net.Provider() }

// Size implements fabric.Fabric.
func (f *Fabric) Size() uintptr { return f.loc.Size() }

// Region implements fabric.Fabric: the region of a PE of this node, nil
// for the others.
func (f *Fabric) Region(pe int) []byte { return f.loc.Region(pe) }

// Header returns the control header of a PE of this node, nil for the
// PEs of other nodes.
func (f *Fabric) Header(pe int) *mapped.Header { return f.loc.Header(pe) }

// SleepWord implements fabric.Sleepers for the PEs of this node; nil for
// the others.
func (f *Fabric) SleepWord(pe int) *uint64 { return f.loc.SleepWord(pe) }

// Watches implements fabric.Sleepers for the PEs of this node.
func (f *Fabric) Watches(pe int) (*uint32, []uint64, uintptr) { return f.loc.Watches(pe) }

// WaitPolicy is shm's: every wait sleeps on this node's futex.
func (f *Fabric) WaitPolicy() fabric.WaitPolicy { return f.loc.WaitPolicy() }

// Put implements fabric.Fabric. A Put to another node is an RMA write
// whose completion at the target wakes the target's waiters on those
// bytes.
func (f *Fabric) Put(pe int, off uintptr, src []byte) error {
	if !f.remote[pe] {
		return f.loc.Put(pe, off, src)
	}
	if err := f.usable(pe); err != nil {
		return err
	}
	f.dirty[pe].Store(true)
	if err := f.net.PutData(pe, off, src, watchData(off, uintptr(len(src)))); err != nil {
		return f.netErr("put", pe, err)
	}
	return nil
}

// Get implements fabric.Fabric.
func (f *Fabric) Get(pe int, off uintptr, dst []byte) error {
	if !f.remote[pe] {
		return f.loc.Get(pe, off, dst)
	}
	if err := f.ordered(pe); err != nil {
		return err
	}
	if err := f.net.Get(pe, off, dst); err != nil {
		return f.netErr("get", pe, err)
	}
	return nil
}

// AMO64 implements fabric.Fabric; on another node the target applies it.
func (f *Fabric) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	if !f.remote[pe] {
		return f.loc.AMO64(pe, off, op, operand, cmp)
	}
	if f.cpuAtomics {
		return f.fabricAMO(pe, off, 8, op, operand, cmp)
	}
	return f.remoteAMO(pe, off, 8, op, operand, cmp)
}

// AMO32 implements fabric.Fabric; on another node the target applies it.
func (f *Fabric) AMO32(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	if !f.remote[pe] {
		return f.loc.AMO32(pe, off, op, operand, cmp)
	}
	if f.cpuAtomics {
		old, err := f.fabricAMO(pe, off, 4, op, uint64(operand), uint64(cmp))
		return uint32(old), err
	}
	old, err := f.remoteAMO(pe, off, 4, op, uint64(operand), uint64(cmp))
	return uint32(old), err
}

// fabricAMO runs an AMO on a PE of another node as a fabric atomic, when
// the provider applies those with the target's CPU atomics (so they stay
// atomic with what that node's PEs do to the word): a round trip the
// initiator drives itself, where a message the target applies takes two
// hand-offs between goroutines on each side. An AMO that may have changed
// the word then sends the target a wake for its waiters (the fabric
// atomic makes no completion there); it arrives after the change, since
// the atomic returned only once the change was made.
func (f *Fabric) fabricAMO(pe int, off uintptr, width byte, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	if err := f.ordered(pe); err != nil {
		return 0, err
	}
	if f.peers[pe].left.Load() != leftNone {
		return 0, fmt.Errorf("hybrid: %s on PE %d: %w", op, pe, f.describe(pe))
	}
	var old uint64
	var err error
	if width == 8 {
		old, err = f.net.AMO64(pe, off, op, operand, cmp)
	} else {
		var o32 uint32
		o32, err = f.net.AMO32(pe, off, op, uint32(operand), uint32(cmp))
		old = uint64(o32)
	}
	if err != nil {
		return 0, f.netErr(op.String(), pe, err)
	}
	if op != fabric.AMOFetch && (op != fabric.AMOCompareSwap || old == cmp) {
		var m [17]byte
		m[0] = msgWake
		binary.LittleEndian.PutUint64(m[1:], uint64(off))
		binary.LittleEndian.PutUint64(m[9:], uint64(width))
		if err := f.net.Send(pe, m[:]); err != nil {
			return old, f.netErr("wake after "+op.String(), pe, err)
		}
	}
	return old, nil
}

// PutSignal implements fabric.Fabric. To a PE of another node it is one
// message that the target applies (the data, then the signal, then a wake
// for its waiters) and, with CompleteAtQuiet, acknowledges: a one-way
// latency for the target to see it, where a Put, a Quiet and an AMO take
// three round trips. Data too long for a message (ofi.Endpoint.MaxMsg
// less the header) goes ahead as a Put, completed before the message
// goes. Quiet waits for the acknowledgements, and so do a Get or an AMO
// on the same PE.
func (f *Fabric) PutSignal(pe int, off uintptr, src []byte, sigOff uintptr, op fabric.AMOOp, sig uint64, c fabric.Completion) error {
	if !f.remote[pe] {
		return f.loc.PutSignal(pe, off, src, sigOff, op, sig, c)
	}
	if op != fabric.AMOSet && op != fabric.AMOAdd {
		return fmt.Errorf("hybrid: put_signal to PE %d: %w: signal operation %v, want set or add", pe, errdefs.ErrInvalidArg, op)
	}
	if err := f.usable(pe); err != nil {
		return err
	}
	if sigOff%8 != 0 || sigOff > f.Size()-8 || off > f.Size() || uintptr(len(src)) > f.Size()-off {
		return fmt.Errorf("hybrid: put_signal to PE %d: %w: %d bytes at %#x with a signal at %#x, in a region of %d bytes", pe, errdefs.ErrInvalidArg, len(src), off, sigOff, f.Size())
	}
	inline := len(src) <= f.net.MaxMsg()-sigMsgHdr
	if !inline {
		if err := f.Put(pe, off, src); err != nil {
			return err
		}
		src = nil
	}
	// Messages to pe keep their order; its earlier writes are RMA, which
	// must complete first.
	if f.dirty[pe].Load() {
		if err := f.Quiet(); err != nil {
			return err
		}
	}
	m := make([]byte, sigMsgHdr+len(src))
	m[0], m[1] = msgSignal, byte(op)
	binary.LittleEndian.PutUint64(m[8:], uint64(sigOff))
	binary.LittleEndian.PutUint64(m[16:], sig)
	binary.LittleEndian.PutUint64(m[24:], uint64(off))
	copy(m[sigMsgHdr:], src)
	if c != fabric.CompleteAtQuiet {
		m[2] = sigNoAck
		return f.sendSignal(pe, m)
	}
	st := &f.peers[pe]
	st.sent.Add(1)
	f.unacked.Add(1)
	if err := f.sendSignal(pe, m); err != nil {
		st.sent.Add(^uint64(0))
		f.unacked.Add(-1)
		return err
	}
	return nil
}

// sendSignal sends a PutSignal message.
func (f *Fabric) sendSignal(pe int, m []byte) error {
	if err := f.net.Send(pe, m); err != nil {
		return f.netErr("put_signal", pe, err)
	}
	return nil
}

// applySignal applies a PutSignal message from PE from and, unless it
// says not to, acknowledges it with the number of from's signals to
// acknowledge applied so far.
func (f *Fabric) applySignal(from int, msg []byte) {
	op := fabric.AMOOp(msg[1])
	sigOff, sig := uintptr(binary.LittleEndian.Uint64(msg[8:])), binary.LittleEndian.Uint64(msg[16:])
	off, data := uintptr(binary.LittleEndian.Uint64(msg[24:])), msg[sigMsgHdr:]
	f.serve.Lock()
	defer f.serve.Unlock()
	if f.serve.leaving {
		return // the sender learns from the leave message that it was not applied
	}
	r := f.loc.Region(f.me)
	// The initiator validated it: a corrupt message is acknowledged (its
	// sender's Quiet would wait for ever otherwise) and not applied.
	if (op == fabric.AMOSet || op == fabric.AMOAdd) && sigOff%8 == 0 && sigOff <= uintptr(len(r))-8 && off <= uintptr(len(r)) && uintptr(len(data)) <= uintptr(len(r))-off {
		copy(r[off:], data)
		fabric.AMO64((*uint64)(unsafe.Pointer(&r[sigOff])), op, sig, 0)
		if len(data) > 0 {
			f.loc.Notify(f.me, off, uintptr(len(data)))
		}
		f.loc.Notify(f.me, sigOff, 8)
	}
	if msg[2] == sigNoAck {
		return
	}
	var m [16]byte
	m[0] = msgSignalAck
	binary.LittleEndian.PutUint64(m[8:], f.peers[from].applied.Add(1))
	f.net.Send(from, m[:])
}

// signalAcked records that PE from applied n of this PE's signals.
func (f *Fabric) signalAcked(from int, n uint64) {
	st := &f.peers[from]
	for {
		a := st.acked.Load()
		if n <= a || n > st.sent.Load() {
			return
		}
		if st.acked.CompareAndSwap(a, n) {
			f.unacked.Add(-int64(n - a))
			break
		}
	}
	f.wakeAckWaiters()
}

// wakeAckWaiters wakes the Quiets waiting for acknowledgements.
func (f *Fabric) wakeAckWaiters() {
	f.acks.Lock()
	if f.acks.waiting {
		close(f.acks.ch)
		f.acks.ch = make(chan struct{})
		f.acks.waiting = false
	}
	f.acks.Unlock()
}

// awaitAcks waits until the PEs of other nodes acknowledged every
// PutSignal this PE sent them. A PE that left before it acknowledged them
// fails it; so does one whose acknowledgements do not all come within the
// peer timeout.
func (f *Fabric) awaitAcks() error {
	var timer *time.Timer
	for f.unacked.Load() != 0 {
		f.acks.Lock()
		f.acks.waiting = true
		ch := f.acks.ch
		f.acks.Unlock()
		late := -1
		for pe := range f.peers {
			st := &f.peers[pe]
			if !f.remote[pe] || st.acked.Load() >= st.sent.Load() {
				continue
			}
			if st.left.Load() != leftNone {
				return fmt.Errorf("hybrid: quiet: put_signal to PE %d: not applied: %w", pe, f.describe(pe))
			}
			late = pe
		}
		if late < 0 {
			return nil
		}
		if timer == nil {
			// They come in a round trip: look for them on the network
			// first, as Wait does.
			if f.netSpin > 0 && f.net.Drive(func() bool { return f.unacked.Load() == 0 }, f.netSpin) {
				continue
			}
			f.net.Unblock()
			timer = time.NewTimer(f.timeout)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return fmt.Errorf("hybrid: PE %d: quiet: put_signal to PE %d: not acknowledged in %v over %s: %w", f.me, late, f.timeout, f.net.Provider(), ofi.ErrTimeout)
		}
	}
	return nil
}

// Quiet implements fabric.Fabric: this node's stores are complete at once;
// the network's writes when the endpoint says they are, PutSignal's
// messages when their targets acknowledge them.
func (f *Fabric) Quiet() error {
	if err := f.loc.Quiet(); err != nil {
		return err
	}
	for pe := range f.dirty {
		f.dirty[pe].Store(false)
	}
	if err := f.net.Quiet(f.down); err != nil {
		f.lost(err)
		if e := f.dead.Load(); e != nil {
			return fmt.Errorf("hybrid: quiet: %w", e)
		}
		return fmt.Errorf("hybrid: PE %d: quiet over %s: %w", f.me, f.net.Provider(), err)
	}
	return f.awaitAcks()
}

// Notify implements fabric.Fabric.
func (f *Fabric) Notify(pe int, off, n uintptr) {
	if !f.remote[pe] {
		f.loc.Notify(pe, off, n)
		return
	}
	var m [17]byte
	m[0] = msgWake
	binary.LittleEndian.PutUint64(m[1:], uint64(off))
	binary.LittleEndian.PutUint64(m[9:], uint64(n))
	f.net.Send(pe, m[:]) // a PE that cannot be reached has no waiters to wake
}

// Wait implements fabric.Fabric on this node's futex; writes from other
// nodes wake it through their completions, deaths through remoteLiveness.
func (f *Fabric) Wait(ctx context.Context, cond func() bool, off, n uintptr) error {
	if f.nremote > 0 && !cond() {
		// What ends the wait may come from another node: look for it on
		// the network first (the way MPI waits), then sleep with the
		// progress goroutine watching for it, not standing aside for
		// this PE's last blocking call.
		if f.netSpin > 0 && f.net.Drive(cond, f.netSpin) {
			return nil
		}
		f.net.Unblock()
	}
	return f.loc.Wait(ctx, cond, off, n)
}

// Err implements fabric.Fabric: a dead PE of this node or of another.
func (f *Fabric) Err() error { return f.loc.Err() }

// RecordCause records that this PE fails because PE pe died, for the
// peers that then find this PE dead: this node's read it in this PE's
// header, the other nodes' in the message this PE sends when it closes.
func (f *Fabric) RecordCause(pe int) { f.loc.RecordCause(pe) }

// GlobalExit implements fabric.Exiter: this node's PEs see it in this PE's
// header, the other nodes' in a message.
func (f *Fabric) GlobalExit(status int) {
	f.loc.GlobalExit(status)
	f.leave(leftExited, int32(status))
}

// Exited implements fabric.Exiter.
func (f *Fabric) Exited() (pe, status int, ok bool) {
	if pe, status, ok := f.loc.Exited(); ok {
		return pe, status, ok
	}
	if r := f.exit.Load(); r != nil {
		return r.pe, r.status, true
	}
	return -1, 0, false
}

// Close implements fabric.Fabric. It tells the other nodes how this PE
// leaves, stops the network (so that nothing writes into this PE's region
// any more), then unmaps this node's segments.
func (f *Fabric) Close(how fabric.Leave) error {
	finalized := how == fabric.Finalized
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.done
		f.serve.Lock()
		f.serve.leaving = true
		f.serve.Unlock()
		st, code := leftFailed, int32(0)
		if finalized {
			st = leftFinalized
		} else if h := f.loc.Header(f.me); h != nil {
			code = int32(atomic.LoadUint32(&h.Cause))
		}
		if _, _, exited := f.loc.Exited(); !exited || finalized {
			if !finalized {
				// This PE may fail because a PE of its node died, and
				// leave before the heartbeat would have said so: say it
				// now, so the other nodes stop waiting for that PE.
				f.relayLocalDeath()
			}
			f.leave(st, code)
		}
		netErr := f.net.Close()
		f.downCancel(errdefs.ErrClosed)
		f.failCalls(-1, fmt.Errorf("hybrid: PE %d closed its fabric: %w", f.me, errdefs.ErrClosed))
		f.closeErr = errors.Join(netErr, f.loc.Close(how))
	})
	return f.closeErr
}

// leave tells every PE of another node how this PE leaves and waits, at
// most a second, for the messages to go.
func (f *Fabric) leave(how uint32, code int32) {
	var m [6]byte
	m[0], m[1] = msgLeave, byte(how)
	binary.LittleEndian.PutUint32(m[2:], uint32(code))
	for pe := range f.remote {
		if f.remote[pe] && f.peers[pe].left.Load() == leftNone {
			f.net.Send(pe, m[:])
		}
	}
	ctx, cancel := context.WithTimeout(f.down, time.Second)
	defer cancel()
	f.net.Quiet(ctx)
}

// usable returns the error of a PE of another node that cannot be
// reached any more.
func (f *Fabric) usable(pe int) error {
	if st := f.peers[pe].left.Load(); st != leftNone && st != leftFinalized {
		return f.describe(pe)
	}
	return nil
}

// ordered makes the writes and signals this PE issued to pe complete
// before what follows (a Get or an AMO) reaches it.
func (f *Fabric) ordered(pe int) error {
	if err := f.usable(pe); err != nil {
		return err
	}
	if st := &f.peers[pe]; f.dirty[pe].Load() || st.acked.Load() < st.sent.Load() {
		return f.Quiet()
	}
	return nil
}

// netErr wraps an error of the endpoint; when pe is dead meanwhile, the
// error says so (and matches fabric.ErrPeerDead).
func (f *Fabric) netErr(op string, pe int, err error) error {
	f.lost(err)
	if e := f.usable(pe); e != nil {
		return fmt.Errorf("hybrid: %s to PE %d: %w", op, pe, e)
	}
	return fmt.Errorf("hybrid: PE %d: %s to PE %d over %s: %w", f.me, op, pe, f.net.Provider(), err)
}

// lost takes the peer that a network error names for dead: an operation
// on it failed to complete (its connection was reset or cancelled, or it
// timed out), which a live peer's does not.
func (f *Fabric) lost(err error) {
	var oe *ofi.OpError
	if errors.As(err, &oe) && oe.Peer >= 0 && oe.Peer < f.npes && f.remote[oe.Peer] && !errors.Is(err, errdefs.ErrClosed) {
		f.left(oe.Peer, leftDead, 0, fmt.Sprintf("cannot be reached any more (%v)", oe.Err))
	}
}

// ---- messages ----

// Message kinds (the first byte of every message).
const (
	msgAMO       = 1 + iota // width, op, id u32, off u64, operand u64, cmp u64
	msgReply                // id u32 (at 4), old u64 (at 8)
	msgWake                 // off u64, n u64: wake the target's waiters on those bytes
	msgLeave                // how, code i32: the sender leaves the job
	msgDead                 // pe u32, then why: a PE of the sender's node died
	msgPing                 // the sender is alive
	msgHello                // from the lower PE of a pair: the connection is up (see wireUp)
	msgHelloAck             // the higher PE's answer
	msgSignal               // op, flags, sigOff u64 (at 8), sig u64, off u64, data: a PutSignal
	msgSignalAck            // n u64 (at 8): the sender applied n of the receiver's PutSignals
)

// sigMsgHdr is the length of a PutSignal message without its data.
const sigMsgHdr = 32

// sigNoAck, in a PutSignal message's flags (at 2): no acknowledgement
// (fabric.CompleteByProtocol).
const sigNoAck = 1

const amoMsgLen = 32

// remoteAMO sends an AMO to pe and waits for the old value.
func (f *Fabric) remoteAMO(pe int, off uintptr, width byte, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	if err := f.ordered(pe); err != nil {
		return 0, err
	}
	c := &call{pe: pe, done: make(chan struct{})}
	f.calls.Lock()
	f.calls.next++
	id := f.calls.next
	f.calls.m[id] = c
	f.calls.Unlock()
	if f.peers[pe].left.Load() != leftNone {
		// pe left (finalized, even) before or while this call was
		// registered: left() may have failed the calls before this one
		// was in the table, and pe answers nothing any more.
		f.calls.Lock()
		delete(f.calls.m, id)
		f.calls.Unlock()
		return 0, fmt.Errorf("hybrid: %s on PE %d: %w", op, pe, f.describe(pe))
	}
	var m [amoMsgLen]byte
	m[0], m[1], m[2] = msgAMO, width, byte(op)
	binary.LittleEndian.PutUint32(m[4:], id)
	binary.LittleEndian.PutUint64(m[8:], uint64(off))
	binary.LittleEndian.PutUint64(m[16:], operand)
	binary.LittleEndian.PutUint64(m[24:], cmp)
	if err := f.net.Send(pe, m[:]); err != nil {
		f.calls.Lock()
		delete(f.calls.m, id)
		f.calls.Unlock()
		return 0, f.netErr(op.String(), pe, err)
	}
	timer := time.NewTimer(f.timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return c.old, c.err
	case <-timer.C:
	}
	f.calls.Lock()
	_, pending := f.calls.m[id]
	delete(f.calls.m, id)
	f.calls.Unlock()
	if !pending {
		<-c.done // answered (or failed) just now
		return c.old, c.err
	}
	// pe is alive (its heartbeat comes) but did not answer: the request
	// or the answer was lost. Fail rather than wait for ever.
	return 0, fmt.Errorf("hybrid: PE %d: %s on PE %d: no answer in %v over %s: %w", f.me, op, pe, f.timeout, f.net.Provider(), ofi.ErrTimeout)
}

// failCalls ends the pending AMOs on pe (every PE when pe < 0) with err.
func (f *Fabric) failCalls(pe int, err error) {
	f.calls.Lock()
	defer f.calls.Unlock()
	for id, c := range f.calls.m {
		if pe < 0 || c.pe == pe {
			c.err = err
			close(c.done)
			delete(f.calls.m, id)
		}
	}
}

// handler receives the endpoint's messages and completion data on its
// progress goroutine.
type handler struct{ f *Fabric }

// OnData wakes this PE's waiters on the lines a remote write filled.
func (h handler) OnData(from int, data uint64) {
	off, n := unwatchData(data)
	h.f.loc.Notify(h.f.me, off, n)
	if from >= 0 && from < h.f.npes {
		h.f.peers[from].last.Store(time.Now().UnixNano())
	}
}

// OnMessage handles a message from PE from.
func (h handler) OnMessage(from int, msg []byte) {
	f := h.f
	if from < 0 || from >= f.npes || len(msg) == 0 {
		return
	}
	f.peers[from].last.Store(time.Now().UnixNano())
	switch msg[0] {
	case msgAMO:
		if len(msg) < amoMsgLen {
			return
		}
		f.applyAMO(from, msg)
	case msgReply:
		if len(msg) < 16 {
			return
		}
		id := binary.LittleEndian.Uint32(msg[4:])
		f.calls.Lock()
		c := f.calls.m[id]
		delete(f.calls.m, id)
		f.calls.Unlock()
		if c != nil {
			c.old = binary.LittleEndian.Uint64(msg[8:])
			close(c.done)
		}
	case msgWake:
		if len(msg) >= 17 {
			f.loc.Notify(f.me, uintptr(binary.LittleEndian.Uint64(msg[1:])), uintptr(binary.LittleEndian.Uint64(msg[9:])))
		}
	case msgLeave:
		if len(msg) < 6 {
			return
		}
		if how := uint32(msg[1]); how >= leftFinalized && how <= leftExited {
			f.left(from, how, int32(binary.LittleEndian.Uint32(msg[2:])), "")
		}
	case msgDead:
		if len(msg) >= 5 {
			pe := int(binary.LittleEndian.Uint32(msg[1:]))
			if pe >= 0 && pe < f.npes && f.remote[pe] {
				f.left(pe, leftDead, 0, fmt.Sprintf("%s (seen by PE %d, on its node)", msg[5:], from))
			}
		}
	case msgPing:
	case msgHello:
		// Only the lower PE of a pair connects (wireUp): from now on the
		// connection it made carries this PE's messages to it too.
		if from < f.me && f.remote[from] {
			f.hellos.Lock()
			if !f.hellos.connected { // answered by wireUp, once it can send
				f.hellos.pending = append(f.hellos.pending, from)
				f.hellos.Unlock()
				return
			}
			f.hellos.Unlock()
			f.answerHello(from)
		}
	case msgHelloAck:
		if from > f.me && f.remote[from] {
			f.wired(from)
		}
	case msgSignal:
		if len(msg) >= sigMsgHdr && f.remote[from] {
			f.applySignal(from, msg)
		}
	case msgSignalAck:
		if len(msg) >= 16 && f.remote[from] {
			f.signalAcked(from, binary.LittleEndian.Uint64(msg[8:]))
		}
	}
}

// wireUp connects this PE to the PEs of other nodes before any other
// message goes: to each higher PE it sends a hello and waits for the
// answer; from each lower PE it waits for the hello, and answers it. So
// each connection is made by one side only. (tcp;ofi_rxm connects on
// first use, and when two PEs first send to each other at the same time it
// may keep one connection on one side and the other on the other, and an
// injected message on the one torn down is lost without an error: a
// remote AMO that never returned. This is libfabric issue #7396.)
// Connections are all made at start-up, which costs one round trip per
// pair, in parallel; at the job sizes gshmem runs, every pair talks in
// the first collective anyway.
func (f *Fabric) wireUp(ctx context.Context) error {
	if f.nremote == 0 {
		close(f.wiredUp)
		return nil
	}
	f.hellos.Lock()
	f.hellos.connected = true
	early := f.hellos.pending
	f.hellos.pending = nil
	f.hellos.Unlock()
	for _, pe := range early {
		f.answerHello(pe)
	}
	hello := []byte{msgHello}
	for pe := f.me + 1; pe < f.npes; pe++ {
		if !f.remote[pe] {
			continue
		}
		if err := f.net.Send(pe, hello); err != nil {
			return fmt.Errorf("hybrid: PE %d: connect to PE %d over %s: %w", f.me, pe, f.net.Provider(), err)
		}
	}
	select {
	case <-f.wiredUp:
		return nil
	case <-ctx.Done():
	}
	var missing []int
	for pe := range f.peers {
		if f.remote[pe] && !f.peers[pe].wired.Load() {
			missing = append(missing, pe)
		}
	}
	return fmt.Errorf("hybrid: PE %d: no answer over %s from PEs %v of other nodes before start-up ended: %w", f.me, f.net.Provider(), missing, context.Cause(ctx))
}

// answerHello answers lower PE pe's hello, whose connection is now up.
func (f *Fabric) answerHello(pe int) {
	f.net.Send(pe, []byte{msgHelloAck})
	f.wired(pe)
}

// wired records that the connection to pe is up.
func (f *Fabric) wired(pe int) {
	if !f.peers[pe].wired.Swap(true) && f.unwired.Add(-1) == 0 {
		close(f.wiredUp)
	}
}

// applyAMO applies an AMO message on this PE's region, wakes the waiters
// on the word and replies with its old value.
func (f *Fabric) applyAMO(from int, msg []byte) {
	width, op := msg[1], fabric.AMOOp(msg[2])
	off := uintptr(binary.LittleEndian.Uint64(msg[8:]))
	operand, cmp := binary.LittleEndian.Uint64(msg[16:]), binary.LittleEndian.Uint64(msg[24:])
	f.serve.Lock()
	defer f.serve.Unlock()
	if f.serve.leaving {
		return // the sender learns from the leave message that no reply comes
	}
	r := f.loc.Region(f.me)
	var old uint64
	if uintptr(width) != 4 && uintptr(width) != 8 || off%uintptr(width) != 0 || off > uintptr(len(r))-uintptr(width) || op > fabric.AMOXor {
		return // the initiator validated it: a corrupt message, which no reply answers
	}
	p := unsafe.Pointer(&r[off])
	if width == 8 {
		old = fabric.AMO64((*uint64)(p), op, operand, cmp)
	} else {
		old = uint64(fabric.AMO32((*uint32)(p), op, uint32(operand), uint32(cmp)))
	}
	if op != fabric.AMOFetch {
		f.loc.Notify(f.me, off, uintptr(width))
	}
	var m [16]byte
	m[0] = msgReply
	copy(m[4:8], msg[4:8])
	binary.LittleEndian.PutUint64(m[8:], old)
	f.net.Send(from, m[:])
}

// left records how PE pe left the job. A finalize is not a death; anything
// else makes pe dead for every later wait and call on it.
func (f *Fabric) left(pe int, how uint32, code int32, why string) {
	st := &f.peers[pe]
	if !st.left.CompareAndSwap(leftNone, how) {
		if how == leftNone || !st.left.CompareAndSwap(leftFinalized, how) {
			return
		}
	}
	st.code.Store(code)
	if why != "" {
		st.how.Store(&why)
	}
	// Nothing more goes to pe: a send to a process that is gone would
	// retry until the endpoint's timeout.
	f.net.Gone(pe)
	f.wakeAckWaiters() // its acknowledgements will not come
	if how == leftFinalized {
		// Not a death, but pe answers nothing more: an AMO still waiting
		// on it was sent after its last reply (a program that uses a PE
		// after that PE's Finalize).
		f.failCalls(pe, fmt.Errorf("hybrid: AMO on PE %d: %w", pe, f.describe(pe)))
		return
	}
	e := f.describe(pe)
	// This PE is about to fail because of it: its peers that then find
	// this PE dead are pointed at the root cause (see describe).
	f.loc.RecordCause(e.PE)
	f.dead.CompareAndSwap(nil, e)
	if how == leftExited {
		// After dead: whoever sees the exit also sees Err say so.
		f.exit.CompareAndSwap(nil, &exitRecord{pe: pe, status: int(code)})
	}
	f.downCancel(e)
	f.failCalls(pe, fmt.Errorf("hybrid: AMO on PE %d: %w", pe, e))
	f.loc.PokeAll() // this node's waiters look at the peers again
}

// describe says what happened to PE pe of another node.
func (f *Fabric) describe(pe int) *fabric.PeerError {
	st := &f.peers[pe]
	e := &fabric.PeerError{PE: pe}
	switch st.left.Load() {
	case leftFinalized:
		e.How = "exited after finalize"
	case leftFailed:
		e.How = "failed"
		if c := int(st.code.Load()) - 1; c >= 0 && c < f.npes && c != pe && c != f.me {
			e = &fabric.PeerError{PE: c, How: fmt.Sprintf("%s (seen through PE %d, which failed because of it)", f.describe(c).How, pe)}
			if !f.remote[c] {
				if d := f.loc.Describe(c); d != nil {
					e.Pid, e.How = d.Pid, fmt.Sprintf("%s (seen through PE %d, which failed because of it)", d.How, pe)
				}
			}
		}
	case leftExited:
		e.How = fmt.Sprintf("called GlobalExit(%d)", st.code.Load())
	default:
		e.How = "died"
	}
	if p := st.how.Load(); p != nil {
		e.How = *p
	}
	return e
}

// remoteLiveness is the liveness of the PEs of other nodes, for shm's
// waits.
type remoteLiveness struct{ f *Fabric }

func (r remoteLiveness) Check() *fabric.PeerError          { return r.f.dead.Load() }
func (r remoteLiveness) Describe(pe int) *fabric.PeerError { return r.f.describe(pe) }

// watch is the heartbeat: every quarter of the peer timeout it pings the
// PEs of other nodes, tells them of this node's dead PEs, and takes a PE
// that sent nothing for the timeout for dead.
func (f *Fabric) watch() {
	defer close(f.done)
	tick := time.NewTicker(min(f.timeout/4, watchEvery))
	defer tick.Stop()
	ping := []byte{msgPing}
	lastPing := time.Now()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		f.relayLocalDeath()
		if time.Since(lastPing) < f.timeout/4 {
			continue
		}
		lastPing = time.Now()
		for pe := range f.remote {
			if !f.remote[pe] || f.peers[pe].left.Load() != leftNone {
				continue
			}
			if silent := time.Duration(now - f.peers[pe].last.Load()); silent > f.timeout {
				f.left(pe, leftDead, 0, fmt.Sprintf("sent nothing for %v, not even its heartbeat (its node lost, or the process stopped?)", silent.Round(time.Millisecond)))
				continue
			}
			if err := f.net.Send(pe, ping); err != nil && !errors.Is(err, errdefs.ErrClosed) {
				f.left(pe, leftDead, 0, fmt.Sprintf("cannot be reached any more (%v)", err))
			}
		}
	}
}

// relayLocalDeath tells the PEs of other nodes of a PE of this node that
// died, once.
func (f *Fabric) relayLocalDeath() {
	e := f.loc.CheckLocal()
	if e == nil || e.PE == f.me || f.relayed[e.PE].Swap(true) {
		return
	}
	m := append([]byte{msgDead, 0, 0, 0, 0}, e.How...)
	binary.LittleEndian.PutUint32(m[1:], uint32(e.PE))
	if e.Pid != 0 {
		m = fmt.Appendf(m, " (pid %d)", e.Pid)
	}
	for pe := range f.remote {
		if f.remote[pe] && f.peers[pe].left.Load() == leftNone {
			f.net.Send(pe, m)
		}
	}
}

// watchEvery is how often the heartbeat looks at this node's PEs for one
// that died, to tell the other nodes.
const watchEvery = 200 * time.Millisecond

// watchData packs the lines of [off, off+n) for a write's completion data
// (ofi.DataBits = 48 bits: the first line in the high 24, the number of
// lines in the low 24); 0 wakes every waiter, as do writes beyond 1 GiB or
// longer than 1 GiB.
func watchData(off, n uintptr) uint64 {
	const line = 64
	if n == 0 {
		return 0
	}
	lo, hi := uint64(off/line), uint64((off+n-1)/line)
	if lo >= 1<<24 || hi-lo+1 >= 1<<24 {
		return 0
	}
	return lo<<24 | (hi - lo + 1)
}

// unwatchData is watchData's inverse: the bytes to notify (n == 0: all).
func unwatchData(d uint64) (off, n uintptr) {
	const line = 64
	return uintptr((d >> 24) * line), uintptr((d & (1<<24 - 1)) * line)
}
