// Package streams is stream-ordered communication: NVSHMEM's *_on_stream
// operations in Go. A Stream is an ordered queue of one PE's operations —
// puts, gets, put-with-signal, signal waits, quiet, barriers and the
// collectives (AllReduce, ReduceScatter, AllGather, AllToAll, Broadcast) —
// that runs them one after another, in the order they were enqueued, while
// the enqueueing goroutine goes on. On a GPU a stream is a CUstream and the
// operations are ordered with the PE's own kernels; on the CPU engine (the
// fallback, and the only engine without a GPU) a stream is a worker
// goroutine, and Go functions enqueued with Stream.Go are its kernels.
// Every operation has the same meaning on both.
//
// # Life cycle
//
//  1. New(pe) makes a stream of pe and starts its worker. Options bound its
//     waits: WithContext (the context its ops run under) and
//     WithWaitTimeout (a bound per waiting op).
//  2. Enqueue: Put, Get, PutSignal, SignalWait, Stream.Quiet,
//     Stream.Barrier, AllReduce, ReduceScatter, AllGather, AllToAll,
//     Broadcast, Stream.Go. Each checks what it can at once and returns an
//     error naming the values (a PE out of range, an object too short, an
//     operation not defined on the type, a team of another PE, a closed
//     stream), enqueueing nothing; otherwise it returns nil at once.
//  3. Order streams against each other with events: Stream.Record makes an
//     Event at the current end of a stream, and WaitEvent on another
//     stream makes that stream's later ops wait for it.
//  4. Wait from the host: Stream.Synchronize waits for every op enqueued
//     before it; Event.Synchronize for those before the event; Event.Done
//     polls. They report failures (see Errors).
//  5. Close(ctx) waits for what was enqueued (ctx bounds the wait), stops
//     the worker and releases the engine. The PE owns its streams
//     (hostshmem.PE.Own): one left open is closed when the PE is finalized
//     (gshmem.Run finalizes when your function returns), before anything
//     is unmapped, and Finalize returns its unreported failures; on an
//     abort it is closed without waiting. A stream never outlives its PE.
//
// # Ordering
//
// An op starts after every op enqueued before it on the same stream has
// finished, whichever goroutines enqueued them (ops enqueued concurrently
// from several goroutines are ordered as their enqueue calls return). A
// put is finished when its source may be reused; its data is visible at
// the target after a later Quiet or Barrier on the stream, and a later
// PutSignal on the stream to the same PE delivers its signal after the
// data of the stream's earlier puts to that PE. A Get, a collective or a
// SignalWait has its result in place when it has finished. So a Go function
// enqueued after a Get sees the data, and a host goroutine sees it after a
// Synchronize or an Event recorded after the Get.
//
// Streams are independent of each other and of the host: use events,
// Synchronize, or signals to order them. Collectives and barriers on a team
// must be made by every member in the same order; a team used on a stream
// must not be used at the same time by host calls or by other streams of
// the same PE unless events or synchronisation order them, or the members
// could disagree about the order (hostshmem reports the mismatches it
// detects as hostshmem.ErrMismatch). Stream collectives and barriers on
// different teams may be in flight at once, on one stream or several,
// even when the teams have the same members: on a GPU each team's barriers
// count arrivals apart from every other team's (hostshmem.Team.Slot names
// the team's counters), and apart from the device API's barriers in user
// kernels (kernels/gshmem_device.cuh).
//
// A stream barrier (Stream.Barrier) completes every earlier op of its
// stream — device copies, kernels, and puts to host objects, which a GPU
// stream runs on the host — and then meets the members' stream barriers
// on the team, on either engine. It meets stream barriers only: on the
// CPU engine it is Team.Barrier, on a GPU a kernel that never meets a
// host Team.Barrier, so do not pair the two. The members' streams used for
// a team's barriers and collectives must be on the same engine kind (all
// on GPUs, or all CPU streams).
//
// Buffers are symmetric objects (hostshmem.Sym). An op reads its source
// and writes its destination while it runs, not when it is enqueued: do not
// write a source or read a destination before the op has finished.
//
// # Errors
//
// A failure while an op runs (a dead peer, a timed-out wait, a Go function
// returning an error) is recorded as an *OpError naming the stream, the
// op's position, the op and its arguments, and wrapping the op's error. It
// is sticky: the stream skips the ops enqueued after the failed one (they
// do nothing and count as finished, so events still complete) until a
// Stream.Synchronize started after them reports the failure; OpError.Skipped
// says how many it skipped (on a GPU, ops already queued on the device
// behind the failed one count as skipped but may have run: their waits
// give up at once while the stream drains). Precisely, an op is skipped
// when an earlier op of the stream failed and no Stream.Synchronize was
// called between the enqueueing of the failed op and that of this op; so
// ops enqueued after the call of the Synchronize that reports the failure
// run normally — except after ErrDeviceLost (below). Each failure is
// reported once by Stream.Synchronize, or else by Close. Event.Synchronize reports (a copy
// of) the first unreported failure at or before its event without clearing
// it.
//
// A dead peer fails the op waiting on it instead of hanging the stream:
// hostshmem's waits (signal waits, barriers and collectives) end with an
// error matching fabric.ErrPeerDead that names the dead PE, and the stream
// reports it at the next synchronisation with the op named. A wait on a
// live peer that never signals is bounded by the stream's context
// (WithContext) and its wait bound (WithWaitTimeout; ErrWaitTimeout),
// counted from when the wait starts running. On a GPU, when either ends
// the stream's own device-side waits give up (its abort word, which the
// stream clears once it has drained), not the PE's other streams'; a dead
// peer makes every device wait of the PE give up, for good. A Synchronize
// whose own context ends returns that context's error, wrapped; the
// stream keeps running and the failures stay for the next
// synchronisation.
//
// A sticky CUDA error (an illegal address, a failed launch, ... see
// cuda.IsSticky) ends the GPU context for every PE of the process that
// uses it. The op that faulted fails with an error matching ErrDeviceLost
// and wrapping the driver's: the first op the device did not complete, as
// the stream's progress marks (one after every op) tell it. The ops after
// it are skipped, every later enqueue on the stream fails with
// ErrDeviceLost, every later Synchronize returns it, and the PE is aborted
// (hostshmem.PE.Abort) like a PE that died, so its peers' waits on it end
// with errdefs.ErrPeerDead instead of hanging. The other PEs of the
// process on that GPU find the same error at their streams' next look and
// go the same way.
//
// The errors to branch on (errors.Is), at enqueue: errdefs.ErrInvalidArg,
// errdefs.ErrInvalidPE and errdefs.ErrOutOfRange (hostshmem's names for
// them are the same values), hostshmem.ErrOverlap, hostshmem.ErrTeam, and
// ErrClosed (errdefs.ErrClosed) on a closed stream; device.ErrNoGPU (an
// errdefs.ErrUnavailable) from Launch on the CPU engine. At
// synchronisation, an *OpError wrapping the op's error: errdefs.ErrPeerDead
// (fabric.ErrPeerDead), errdefs.ErrMismatch (hostshmem.ErrMismatch),
// ErrWaitTimeout, ErrDeviceLost, a context's error, or what a Go function
// returned.
//
// # Goroutines
//
// Every Stream method and enqueue function may be called from any
// goroutine. On the CPU engine each stream has one worker goroutine,
// started by New and stopped by Close: it runs the ops (calling hostshmem
// on a communication context of its own, so the stream's Quiet completes
// exactly the stream's puts and gets), the Go functions and the waits on
// other streams' events, and it sleeps on a channel when the queue is
// empty. A Go function must not call Synchronize or Close on its own
// stream (it would wait for itself); it may enqueue more ops.
//
// # Engines
//
// The stream machinery (queue, worker, events, errors) is shared; an engine
// carries out the op descriptors (op.go). The CPU engine runs each op to
// completion on the worker. Objects may be on either heap (hostshmem.Host,
// hostshmem.Device). On the CPU fallback the device heap is host memory
// and every op works on it as on the host heap; on a PE whose device heap
// is GPU memory (hostshmem.PE.DeviceMemory not nil) the CPU engine stages
// puts and gets through host buffers, signal waits poll through hostshmem,
// and a collective on GPU memory is refused at enqueue (ErrInvalidArg):
// it needs the device engine. The CUDA engine (cuda.go), which New picks
// when the PE's device heap is on a GPU, queues the same descriptors on a
// CUstream — puts and gets between device objects as copies over the
// peers' mapped heaps, signals, waits, barriers and collectives as the
// kernels of package kernels, waits on other CUDA streams' events of the
// same GPU as cuStreamWaitEvent — and runs the rest (host objects, Go
// functions, other event waits) on the worker after the device work
// before them has completed. The worker keeps queueing device ops while
// earlier ones run, and learns how far the GPU has got from a host-mapped
// word the stream writes after each op (cuStreamWriteValue64), which it
// polls as the PE's fabric.WaitPolicy says: a few µs after short work,
// sleeps only for long work. WithCPU forces the CPU engine. WithCUstream
// runs a stream on a CUstream its caller made (CUDA runtime code, the C
// interface), without owning it; Stream.CUstream gives a stream's handle,
// and Stream.Submit waits until the ops so far are queued on it, so that
// kernels the caller launches there directly run after them.
package streams
