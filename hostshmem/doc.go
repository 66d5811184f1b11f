// Package hostshmem is the OpenSHMEM host API of gshmem: a symmetric heap,
// one-sided puts and gets, atomics, signals, ordering (fence and quiet),
// point-to-point waits and barriers, over any fabric.Fabric.
//
// # Life cycle
//
//  1. Get a *PE: gshmem.Run starts every PE of a job and hands each one to
//     your function; gshmem.Init joins the job from a process started by
//     gpurun. (New builds a PE over a Fabric you made yourself.)
//  2. Allocate symmetric objects collectively: Malloc, Calloc, Align and
//     Realloc return a Sym[T], the same object on every PE. Every PE must
//     make the same allocation calls in the same order with the same
//     arguments; a mismatch is detected and returned as ErrMismatch on
//     every PE, never silently corrupting memory. Free takes only an
//     object an allocation returned, once.
//  3. Communicate: Put, Get, P, G, IPut, IGet and their NBI forms move
//     data; the Atomic* functions update words on any PE; PutSignal pairs
//     data with a flag; WaitUntil and SignalWaitUntil wait for a local word;
//     Fence orders and Quiet completes what you issued; BarrierAll and
//     SyncAll synchronise all PEs.
//  4. Work in groups: TeamWorld and TeamShared, SplitStrided and Split2D
//     make teams; Broadcast, Collect, FCollect, AllToAll, AllToAlls, Reduce
//     and ReduceScatter (and the ML names AllReduce and AllGather) run on a
//     team. CtxCreate makes a context: a separate stream of operations that
//     Quiet and Fence on it govern; Team.CreateCtx makes one whose
//     operations name target PEs by their number in the team. SetLock,
//     TestLock and ClearLock are a fair (FIFO) lock on a symmetric int64.
//  5. Finalize (gshmem.Run does it for you) waits for every PE and releases
//     the fabric. A PE must not be used after Finalize. What layers above
//     make on a PE (streams, AM Worlds, CUDA modules) registers with it
//     (Own): whatever the program left open, Finalize drains before its
//     closing barrier and closes after it, last made first, before any
//     memory is released; Abort closes it at once. GlobalExit ends the
//     whole job with a status (shmem_global_exit).
//
// # Addresses
//
// A Sym[T] is an offset and a length in the symmetric region, identical on
// every PE; the target PE is an argument of each operation. Local returns
// this PE's copy of a Sym as a Go slice, Ptr a peer's where the peer's
// memory is mapped into this process (and an error saying why where it is
// not). Sym.At and Sym.Slice derive smaller objects; an out-of-range index
// yields a Sym whose use is an error naming the indices, not a panic.
//
// # Completion and buffer reuse
//
// A blocking Put returns once src may be reused; the data is visible at the
// target after the next Quiet (or a barrier, which implies Quiet). A Get
// returns with dst filled. NBI forms may return before src may be reused or
// dst is filled: both belong to the runtime until the next Quiet. Atomics
// are complete when they return, except the NBI fetching ones
// (AtomicFetchAddNBI...), whose fetched value is there after the next
// Quiet.
//
// # Waits
//
// Every blocking call takes a context.Context. A wait spins briefly, yields,
// then sleeps on a futex; a put, atomic or signal aimed at this PE wakes it.
// It ends with ctx's error when ctx ends, and with an error matching
// fabric.ErrPeerDead (naming the PE) when a peer dies while the condition
// is still false: a dead peer never hangs the job.
//
// # Collective calls
//
// Allocation, BarrierAll, SyncAll and Finalize are collective calls over
// all PEs, a stream of their own; Broadcast, Reduce and the other
// collectives, Sync, Barrier, the splits and Destroy are collective calls
// on their team (the world team's are another stream: a goroutine may run
// them while another allocates). Every member makes the same calls on a
// stream in the same order. Each call starts by
// agreeing: every member learns what every other called and whether its
// arguments fit, in the synchronisation the call needs anyway. So a call
// either succeeds on every member or fails on every member with the same
// error, and the team stays usable after it:
//
//   - arguments that do not fit on some members (a root out of range, a
//     destination too small, overlapping buffers, a negative count) fail
//     the call everywhere with the error of the lowest such member,
//     naming it;
//   - calls that differ (another collective, count, root, operation or
//     element type) fail everywhere with ErrMismatch naming both calls;
//   - a context already done when the call starts fails it everywhere
//     (teams of up to 64 members; on larger teams the call returns at once
//     without taking part, and pairs with this member's next call).
//
// A context that ends while a call waits for other members is different:
// some members may have finished the call, so the members no longer agree
// on where they are. The team is then broken: members waiting in the call
// stop, and every later call on it fails on every member with ErrBroken,
// naming the member that gave up. Destroy a broken team (or, for the
// world team, end the job); give collectives a context that ends only
// when the job should.
//
// # Goroutines
//
// A PE may be used from several goroutines at once, except for collective
// calls (allocation, barriers, Finalize), which each PE makes from one
// goroutine at a time, in the same order on every PE.
//
// # Errors
//
// Errors name the operation and the values ("gshmem: put: PE out of range:
// PE 7 not in [0, 2)"); none is a panic. Those to branch on with
// errors.Is, besides a context's own errors:
//
//   - the shared kinds of package errdefs, re-exported here under their
//     old names (the same values, so am's and streams' errors of a kind
//     match them too): ErrInvalidArg, ErrInvalidPE, ErrOutOfRange,
//     ErrMismatch; and fabric.ErrPeerDead (errdefs.ErrPeerDead) from any
//     wait, barrier or collective when a peer dies;
//   - ErrFinalized and ErrCtxDestroyed, which are errdefs.ErrClosed: a
//     finalized PE, a destroyed context;
//   - ErrNoDevice, an errdefs.ErrUnavailable: no device heap;
//   - this package's own: ErrHeapFull, ErrOverlap, ErrTeam and ErrBroken.
package hostshmem
