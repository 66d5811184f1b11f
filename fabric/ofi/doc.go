// Package ofi is gshmem's libfabric transport: one reliable-datagram (RDM)
// endpoint per process, through which it reads, writes and updates
// atomically the registered regions of its peers, and sends them small
// messages. It is the off-node half of the hybrid fabric; the fabric
// package's on-node engine reaches the others.
//
// The package binds libfabric through cgo, and is built only with the
// build tag ofi and cgo (go build -tags ofi; libfabric's headers and
// library, Debian's libfabric-dev, installed). In any other build it is a
// stub with the same API whose Open returns ErrNoLibfabric, which matches
// errdefs.ErrUnavailable. libfabric's data calls are static inline
// functions, which cgo cannot call: shim.h wraps them, with the completion
// handling, in C.
//
// # Use
//
// A process opens an endpoint (Open), registers its region (Register),
// publishes Addr and the Window through the process manager, gathers its
// peers' and calls Connect with all of them (its own included, at its own
// index), then calls Put, PutData, Get, AMO64, AMO32 and Send with peer
// indices, and Quiet to complete what it put and sent. Close ends it.
//
//	e, err := ofi.Open(ctx, ofi.Options{Provider: "tcp;ofi_rxm"})
//	win, err := e.Register(region)     // region: mmap'd, outlives e
//	// ... exchange e.Addr() and win with the peers ...
//	e.SetHandler(h)                    // before Connect
//	err = e.Connect(ctx, peers)        // peers[i] = {Addr, Win} of peer i
//	err = e.Put(1, off, src)           // src reusable at once
//	err = e.Quiet(ctx)                 // now in place at peer 1
//
// # Completion
//
// Put, PutData and Send return once the source is copied (injected by the
// provider when small, into a bounce buffer otherwise); they complete, with
// delivery-complete semantics (the bytes are placed at the target), by the
// next Quiet, which also reports their errors. A Put of 64 KiB or more is
// written straight from the caller's buffer and returns once delivered. Get, AMO64 and AMO32 block
// until the result is here. Messages of one sender to one target arrive in
// the order sent (FI_ORDER_SAS). A PutData's notification runs at the
// target after its bytes are placed.
//
// # Threading and progress
//
// Every method may be called from any goroutine. tcp;ofi_rxm, like most
// software providers, progresses only when its completion queue (CQ) is
// read: a peer's Get or atomic on this process's region is served only
// while someone here reads the CQ. Each endpoint therefore runs one
// progress goroutine, locked to its OS thread, from Open to Close. It reads
// the CQ, hands received messages and PutData notifications to the
// Handler (on itself, one at a time, in CQ order), and reposts receive
// buffers. When a read finds nothing it keeps reading for a short while
// (200 µs) as long as the CQ shows traffic, then sleeps in poll(2) on the
// CQ's wait fd, so an idle endpoint costs no CPU.
//
// A blocked call (Get, AMO64, AMO32, Quiet) reads the CQ itself while it
// waits, for latency: it polls for 50 µs (in cgo calls of at most 10 µs,
// so that the Go scheduler does not take its P), then sleeps on the CQ's
// wait fd between looks, 20 µs at first and at most 1 ms. While such a
// call waits, and for 100 µs after, the progress goroutine stands aside
// (it would race the caller for the caller's own completions and take its
// CPU): it sleeps 100 µs at a time without watching the CQ, so a peer's
// request to a process that has just stopped waiting can wait that long. Messages and notifications a caller reads go to the
// progress goroutine, which dispatches them in order.
//
// # Errors and peers that die
//
// Arguments are checked before anything is posted: a peer index out of
// range (errdefs.ErrInvalidPE), a peer without an address (ErrUnreachable,
// also errdefs.ErrInvalidPE), a range beyond the target's region
// (errdefs.ErrOutOfRange), a misaligned atomic or an oversized message
// (errdefs.ErrInvalidArg); each error names the values. A failure of the
// operation itself is an *OpError naming the operation and the peer,
// wrapping a *FabricError (libfabric's code, from a post or a CQ error
// entry), ErrTimeout or ErrClosed.
//
// A peer that dies is seen in one of two ways. When its connection is
// reset (a process killed with kill -9: its kernel closes the socket),
// tcp;ofi_rxm fails the operations on it with an error completion,
// "Transport endpoint is not connected" (ENOTCONN): in the TestDeadPeer
// scenario, Get, AMO64 and Quiet each return such an *OpError naming the
// peer within milliseconds. When nothing resets it (a lost node), the
// provider leaves the operations pending and never times them out, so
// every blocking call is bounded by Options.Timeout (DefaultTimeout, 5 s),
// after which it returns an *OpError wrapping ErrTimeout; Quiet's bound
// runs from its last completion. Whether either means a dead peer is for
// the layer above to decide (it knows the job's processes).
//
// # Remote CQ data
//
// PutData's notification and Send's sender travel in the remote CQ data
// that libfabric carries with a write or a message: 8 bytes on tcp;ofi_rxm
// and verbs;ofi_rxm (domain_attr.cq_data_size). The sender's index takes
// the top 16 bits, so data has 48 bits (Endpoint.DataBits; 16 where a
// provider carries 4 bytes) and Connect takes at most MaxPeers peers.
//
// # Atomics
//
// AMO64 and AMO32 use fi_fetch_atomic (add, and, or, xor, fetch, set,
// swap) and fi_compare_atomic (compare-swap) where fi_fetch_atomicvalid
// and fi_compare_atomicvalid say the provider does them (checked at Open,
// NativeAMO reports it), and otherwise a loop of compare-swaps. Every
// operation returns the word's previous value.
//
// tcp;ofi_rxm runs atomics in software at the target, in the progress of
// the target's endpoint: rxm's handler (prov/rxm/src/rxm_cq.c,
// rxm_do_atomic) calls libfabric's generic handlers
// (prov/util/src/util_atomic.c) on the registered memory. Built with
// HAVE_BUILTIN_MM_ATOMICS, as Debian's libfabric1 1.17.0 is (its library
// holds the lock cmpxchg instructions), those handlers use the compiler's
// __atomic builtins, sequentially consistent: __atomic_fetch_or/and/xor,
// __atomic_exchange, __atomic_load, __atomic_store,
// __atomic_compare_exchange, and a compare-exchange loop for sum. So a
// remote atomic is atomic with respect to the CPU atomics (Go's
// sync/atomic) that other processes on the target's node do on the same
// word through shared memory; the AMOWithCPUAtomics test checks it. A
// libfabric built without those builtins falls back to plain
// read-modify-write, which is not. Put and Get are plain copies, atomic
// with respect to nothing.
//
// # Providers
//
// Options.Provider names one, as fi_info -p prints it; "" takes the first
// that libfabric offers with what this package needs (see Options).
// tcp;ofi_rxm works everywhere. Providers that require local memory
// registration (FI_MR_LOCAL) are not used: bounce buffers and results live
// in unregistered memory. Device memory of a remote node is reached
// through host staging: the package registers host memory only.
package ofi
