package hostshmem

import (
	"fmt"

	"github.com/gshmem/gshmem/errdefs"
)

// Queries about the library, PEs and addresses (OpenSHMEM 1.5 sections
// 9.2 and 9.3).

// InfoVersion is the version of the OpenSHMEM specification gshmem
// implements (shmem_info_get_version): 1.5.
func InfoVersion() (major, minor int) { return 1, 5 }

// libVersion is gshmem's own version (launcher.Version, which a test keeps
// equal to it).
const libVersion = "0.1.0"

// InfoName is the name and version of the library (shmem_info_get_name),
// e.g. "gshmem 0.1.0".
func InfoName() string { return "gshmem " + libVersion }

// ThreadLevel says how a PE may be used from several goroutines
// (OpenSHMEM SHMEM_THREAD_*, in increasing order of what is allowed).
type ThreadLevel int

// Thread levels.
const (
	// ThreadSingle: one goroutine uses the PE.
	ThreadSingle ThreadLevel = iota
	// ThreadFunneled: several goroutines exist, one of them uses the PE.
	ThreadFunneled
	// ThreadSerialized: several goroutines use the PE, never at once.
	ThreadSerialized
	// ThreadMultiple: several goroutines use the PE at once.
	ThreadMultiple
)

var threadLevelNames = [...]string{"ThreadSingle", "ThreadFunneled", "ThreadSerialized", "ThreadMultiple"}

func (l ThreadLevel) String() string {
	if l >= 0 && int(l) < len(threadLevelNames) {
		return threadLevelNames[l]
	}
	return fmt.Sprintf("ThreadLevel(%d)", int(l))
}

// QueryThread is the thread level every PE provides (shmem_query_thread):
// ThreadMultiple. Any goroutine may make a PE's non-collective calls (puts,
// gets, atomics, signals, waits, tests, Quiet, Fence, CtxCreate) at any
// time, at once with others, with three exceptions. A PE makes the
// collective calls of one team (allocation, BarrierAll, SyncAll and
// Finalize are the world's) from one goroutine at a time, in the same
// order on every member; goroutines may run collectives on different
// teams at once (see the package doc). A context created with CtxPrivate
// or CtxSerialized is used by one goroutine at a time, as promised. And
// one goroutine at a time is in SetLock, TestLock or ClearLock of a given
// lock (see SetLock).
func QueryThread() ThreadLevel { return ThreadMultiple }

// PEAccessible reports whether p's puts, gets and atomics can reach PE pe
// (shmem_pe_accessible): every PE of the job can, on every transport, while
// p is not finalized; PEs outside [0, p.NPEs()) cannot. It does not say
// that pe is alive: an operation on a PE that died fails with an error
// matching fabric.ErrPeerDead.
func PEAccessible(p *PE, pe int) bool {
	return uint(pe) < uint(p.n) && !p.closed()
}

// AddrAccessible reports whether s on PE pe can be the target of p's
// puts, gets and atomics (shmem_addr_accessible): whether pe is accessible
// and s is a valid, non-empty object inside the symmetric space (the GPU
// heap attached, for an object in GPU memory; still allocated, under
// Config.Checked). Ptr says whether it can also be loaded from and stored
// to.
func AddrAccessible[T Elem](p *PE, s Sym[T], pe int) bool {
	if s.n == 0 || !PEAccessible(p, pe) {
		return false
	}
	_, err := target(p, "addr_accessible", s, s.n, pe)
	return err == nil
}

// Ptr returns PE pe's copy of s as a slice that this process loads from
// and stores to directly (shmem_ptr), when pe's memory is mapped into it:
// on the inproc and shm transports, and on any transport for this PE's
// own copy. Accesses through it are not ordered with anyone else's by the
// runtime: order them with a signal, a wait or a barrier, and use atomics
// (sync/atomic) where others access the same words at once. The slice
// must not be used after Finalize.
//
// Its error says why there is no slice. Bad arguments match sentinels: an
// invalid s (its own error, ErrOutOfRange), a PE outside [0, NPEs)
// (ErrInvalidPE), an empty s (ErrInvalidArg), a finalized p
// (ErrFinalized), a device object whose GPU heap is not attached
// (ErrNoDevice). Valid objects that are not mapped return an error that
// matches errdefs.ErrUnavailable and none of those (use Put and Get
// there): a peer reached only through the fabric (an RMA-only or network
// transport), and an object in GPU memory, which only the GPU loads
// (device.Ptr gives a device pointer).
func Ptr[T Elem](p *PE, s Sym[T], pe int) ([]T, error) {
	return ptr(p, "ptr", s, pe)
}

// TeamPtr is Ptr for member pe of t (shmem_team_ptr): pe is a number in t,
// and one outside [0, t.NPEs()) is an error matching ErrInvalidPE that
// names t's size. The null team and a destroyed one are an error matching
// ErrTeam.
func TeamPtr[T Elem](t *Team, s Sym[T], pe int) ([]T, error) {
	const op = "team_ptr"
	switch {
	case t == nil:
		return nil, fmt.Errorf("gshmem: %s: %w: null team", op, ErrTeam)
	case t.destroyed.Load():
		return nil, fmt.Errorf("gshmem: %s: %w: %v was destroyed", op, ErrTeam, t)
	case uint(pe) >= uint(t.size):
		return nil, fmt.Errorf("gshmem: %s: %w: PE %d not in [0, %d), the members of %v", op, ErrInvalidPE, pe, t.size, t)
	}
	return ptr(t.p, op, s, t.WorldPE(pe))
}

// ptr is Ptr for operation op.
func ptr[T Elem](p *PE, op string, s Sym[T], pe int) ([]T, error) {
	if s.bad == nil && s.n == 0 {
		return nil, fmt.Errorf("gshmem: %s: %w: empty object %v", op, ErrInvalidArg, s)
	}
	if _, err := target(p, op, s, s.n, pe); err != nil {
		return nil, err
	}
	if p.onGPU(s.off) {
		return nil, fmt.Errorf("gshmem: %s: %w: %v is in GPU memory, which this process does not load from: use Get and Put, or device.Ptr for a device pointer", op, errdefs.ErrUnavailable, s)
	}
	r := p.regions[pe]
	if r == nil {
		return nil, fmt.Errorf("gshmem: %s: %w: PE %d's memory is not mapped into this process (transport %s reaches it only through the fabric): use Get and Put",
			op, errdefs.ErrUnavailable, pe, p.fab.Transport())
	}
	v := view[T](r, s.off, s.n)
	if v == nil { // target checked the span: not reached
		return nil, fmt.Errorf("gshmem: %s: %w: %v outside PE %d's region of %d bytes", op, ErrOutOfRange, s, pe, len(r))
	}
	return v, nil
}
