// Package fabric defines the transport seam of gshmem: a Fabric connects the
// PEs of one job and moves bytes between their symmetric regions. The runtime
// (hostshmem, am, array) talks only to this interface; transports live in
// sub-packages: fabric/inproc (PEs as goroutines), fabric/shm (one process
// per PE on one node, over /dev/shm).
//
// Every PE owns a symmetric region of Size bytes. Offsets are byte offsets
// into that region and name the same object on every PE. Load/store
// transports also expose each peer's region as a slice (Region), which the
// runtime uses directly on its fast paths.
//
// # Waiting
//
// A PE waits in three phases: it spins on its condition, yields the
// processor, then sleeps until a peer's Notify (Fabric.Wait). The bounds
// of every phase, and of every loop above that polls because nothing can
// wake it, are the transport's WaitPolicy, chosen where the transport is
// made (fabric/inproc and fabric/shm spin less where PEs outnumber
// processors) and read by the layers above through PolicyOf: am's polling
// waiters and its stall watchdog, hostshmem's waits on GPU memory (each
// look a copy from the device, so they poll at the policy's ticks and never
// spin), and the backoffs (Backoff) of am's full queues and Darc locks,
// hostshmem's locks and shm's start-up.
//
// # Errors
//
// A transport reports a peer that died or left the job as a *PeerError
// naming it, which matches ErrPeerDead (errdefs.ErrPeerDead) under
// errors.Is. The packages above pass it on wrapped, so errors.Is(err,
// fabric.ErrPeerDead) holds for the errors of hostshmem's, am's and
// streams' waits as well. A transport's other errors (bad options, a
// system call that failed) name their cause for the program to report; they
// match no sentinel.
package fabric

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// AMOOp names an atomic memory operation.
type AMOOp uint8

// Atomic operations. Each returns the value the word held before the
// operation (AMOFetch returns it and changes nothing).
const (
	AMOFetch AMOOp = iota
	AMOSet
	AMOSwap
	AMOCompareSwap
	AMOAdd
	AMOAnd
	AMOOr
	AMOXor
)

var amoNames = [...]string{"fetch", "set", "swap", "compare-swap", "add", "and", "or", "xor"}

func (op AMOOp) String() string {
	if int(op) < len(amoNames) {
		return amoNames[op]
	}
	return fmt.Sprintf("AMOOp(%d)", op)
}

// Fabric connects the PEs of one job. A Fabric value belongs to one PE; its
// methods may be called from several goroutines of that PE at once.
//
// Put, Get and the AMOs take offsets the caller has already validated
// against Size; they do not check bounds again.
type Fabric interface {
	// PE is this PE's number in [0, NPEs).
	PE() int
	// NPEs is the number of PEs in the job.
	NPEs() int
	// Transport names the transport ("inproc", "shm").
	Transport() string
	// Size is the number of bytes in each PE's symmetric region.
	Size() uintptr
	// Region returns PE pe's symmetric region mapped into this address
	// space, or nil when pe's memory is reachable only through Put and Get.
	// A region starts at a multiple of RegionAlign.
	Region(pe int) []byte

	// Put copies src into PE pe's region at off. src may be reused when
	// Put returns; the data is visible at pe after Quiet.
	Put(pe int, off uintptr, src []byte) error
	// Get copies len(dst) bytes from PE pe's region at off into dst.
	Get(pe int, off uintptr, dst []byte) error
	// AMO64 applies op to the 8-byte aligned word at off on PE pe and
	// returns its previous value. cmp is used by AMOCompareSwap only.
	AMO64(pe int, off uintptr, op AMOOp, operand, cmp uint64) (uint64, error)
	// AMO32 is AMO64 for a 4-byte aligned word.
	AMO32(pe int, off uintptr, op AMOOp, operand, cmp uint32) (uint32, error)
	// PutSignal copies src (which may be empty) into PE pe's region at
	// off, then applies op (AMOSet or AMOAdd) with sig to the 8-byte
	// aligned word at sigOff there: a PE that sees the signal word's new
	// value also sees the data, and every Put and AMO this PE issued to pe
	// before. It wakes pe's waiters on the data and the signal word. src
	// may be reused when PutSignal returns; with CompleteAtQuiet both are
	// visible at pe after Quiet. It is OpenSHMEM's put-with-signal, and
	// the way the layers above publish data with a flag (collectives'
	// pushes, active messages' rings): one message where a network
	// carries it.
	PutSignal(pe int, off uintptr, src []byte, sigOff uintptr, op AMOOp, sig uint64, c Completion) error
	// Quiet waits until every Put, PutSignal and AMO this PE issued is
	// visible at its target.
	Quiet() error
	// Notify tells PE pe that bytes [off, off+n) of its region changed (by
	// a store of the caller's own): it wakes pe's waiters that watch those
	// bytes. n == 0 wakes every waiter of pe. Put and the AMOs notify by
	// themselves; callers that store into a Region directly call Notify,
	// which orders their stores before its look at pe's sleepers, so a
	// plain or release store followed by Notify misses no sleeper.
	Notify(pe int, off, n uintptr)

	// Wait blocks until cond returns true. It spins briefly, yields, then
	// sleeps until a Notify touches bytes [off, off+n) of this PE's region
	// (n == 0: any Notify), as the fabric's WaitPolicy bounds each phase.
	// It returns ctx's error when ctx ends first, and a *PeerError when a
	// peer has died and cond is still false. cond must be cheap and must
	// not block: it runs on the calling goroutine, thousands of times in
	// the spin. A condition whose look is I/O polls instead (a
	// WaitPolicy's PollBackoff, and Err).
	Wait(ctx context.Context, cond func() bool, off, n uintptr) error
	// Err returns a *PeerError if a peer has died, else nil. It costs a
	// system call on some transports: call it on slow paths only.
	Err() error
	// Close releases the fabric. how says why this PE leaves: peers
	// report it, and only a Failed close counts as a death.
	Close(how Leave) error
}

// Leave is why a PE closes its fabric (Fabric.Close).
type Leave uint8

const (
	// Finalized: the PE finalized cleanly; its peers go on without it.
	Finalized Leave = iota + 1
	// Failed: the PE leaves on an error (its own, or a peer's death); its
	// peers' waits on it fail, naming it.
	Failed
)

// String names l as peers report it.
func (l Leave) String() string {
	switch l {
	case Finalized:
		return "finalized"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Leave(%d)", uint8(l))
}

// Completion says how the caller of PutSignal learns that the signal was
// applied.
type Completion uint8

const (
	// CompleteAtQuiet: Quiet waits until it is (OpenSHMEM's
	// put-with-signal).
	CompleteAtQuiet Completion = iota
	// CompleteByProtocol: the caller's protocol tells (the target answers
	// the signal, as in a collective's rounds or an active message's
	// ring), and Quiet need not wait for it: on a network the target then
	// sends no acknowledgement, which halves the messages of a round.
	CompleteByProtocol
)

// Exiter is implemented by fabrics whose PEs can end the whole job, as
// OpenSHMEM's shmem_global_exit does (hostshmem.PE.GlobalExit).
type Exiter interface {
	// GlobalExit records that this PE ends the job with status and wakes
	// every peer: they see this PE as dead, having called GlobalExit with
	// status. It does not close the fabric.
	GlobalExit(status int)
	// Exited reports the PE that ended the job with GlobalExit and its
	// status, if one did.
	Exited() (pe, status int, ok bool)
}

// Topology is implemented by fabrics whose PEs run on several nodes
// (fabric/hybrid): it says on which node each PE runs, so that collectives
// can do a node's part over shared memory before the network's.
type Topology interface {
	// Node is the node PE pe runs on, numbered from 0 in the order of
	// the nodes' first PEs.
	Node(pe int) int
}

// NodeOf is the node PE pe runs on: f.Node(pe) when f implements
// Topology, else 0 (every PE of a one-node fabric).
func NodeOf(f Fabric, pe int) int {
	if t, ok := f.(Topology); ok {
		return t.Node(pe)
	}
	return 0
}

// ErrPeerDead is matched (errors.Is) by every *PeerError. It is
// errdefs.ErrPeerDead, the kind every package's errors share, so a caller
// that does not import fabric matches it too.
var ErrPeerDead = errdefs.ErrPeerDead

// PeerError reports that a peer PE died or left the job while this PE
// depended on it.
type PeerError struct {
	PE  int    // the peer
	Pid int    // its process id, 0 in-process
	How string // what happened to it, e.g. "exited", "failed: <error>"
}

func (e *PeerError) Error() string {
	if e.Pid != 0 {
		return fmt.Sprintf("gshmem: PE %d (pid %d) %s", e.PE, e.Pid, e.How)
	}
	return fmt.Sprintf("gshmem: PE %d %s", e.PE, e.How)
}

// Is makes errors.Is(err, ErrPeerDead) true for a *PeerError.
func (e *PeerError) Is(target error) bool { return target == ErrPeerDead }

// RegionAlign is the alignment of every PE's symmetric region in the address
// space of every process that maps it: on a load/store transport (inproc,
// shm), Region(pe) starts at a multiple of RegionAlign for every pe, so an
// object at an offset that is a multiple of some a <= RegionAlign is aligned
// to a in every PE's mapping of every PE's region, the peers' included.
// Allocators may promise alignments up to RegionAlign and no further.
//
// 2 MiB is the huge page of x86-64 (and of arm64 with 4 KiB pages): a region
// so aligned can be backed by transparent huge pages from its first byte,
// and it exceeds every alignment CPU and GPU code asks of an object (cache
// lines, pages, vector loads, CUDA's 256 bytes). Its cost is address space
// only: the shared-memory transports reserve RegionAlign bytes more than a segment and gives
// them back at once.
const RegionAlign = 2 << 20

// Sleepers is implemented by fabrics that map their peers' regions
// (fabric/inproc, fabric/shm, and fabric/hybrid for the PEs of its node):
// it lets code that stores into a mapped region without Put (the C ABI's
// hot paths, which run in C on the same mappings) skip Notify when nobody
// can need it.
type Sleepers interface {
	// SleepWord returns the word that a store into PE pe's region must
	// look at, after ordering the store before the look (a locked
	// instruction or a full fence): when its low 32 bits are nonzero
	// and its high 32 bits are zero, a waiter of pe may sleep on the
	// bytes stored, and the storer must call Notify; otherwise Notify
	// would do nothing. Nil for a PE whose region is not mapped here.
	SleepWord(pe int) *uint64
	// Watches returns what PE pe's sleepers watch, for a storer that
	// found its SleepWord armed: wild is nonzero while some sleeper
	// watches every byte; each slot is 0 (free) or lo<<32 | (hi+1) for
	// the lines [lo, hi] (of lineBytes bytes of pe's region) that one
	// sleeper watches. A store with wild zero whose lines meet no slot
	// need not Notify. Nil slots for a PE whose region is not mapped here.
	Watches(pe int) (wild *uint32, slots []uint64, lineBytes uintptr)
}
