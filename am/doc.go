// Package am is gshmem's active messages: send a value of a registered
// type to a PE, its handler runs there, and a typed result comes back.
// It also has Darcs, objects with an instance on every PE of a team whose
// lifetime is counted across PEs. The model is Lamellar's, in Go.
//
//	type Hello struct{ Msg string }
//	func (h Hello) Exec(ctx *am.Context) (int, error) { return ctx.MyPE(), nil }
//
//	var reg = am.NewRegistry()
//	func init() { am.MustRegister[Hello](reg, "hello") }
//
//	w, err := am.New(ctx, pe, reg, am.Options{})  // collective
//	n, err := am.Exec(w, 1, Hello{"hi"}).Wait(ctx) // runs on PE 1
//	all, err := am.ExecAll(w, Hello{}).Wait(ctx)   // on every PE, in PE order
//	err = w.Close(ctx)                             // collective
//
// # Life cycle
//
//  1. Register every AM type, by a stable name, in a Registry: every PE
//     runs the same binary and registers the same types (do it in init).
//     A name or type registered twice is ErrDuplicate; a type the default
//     codec cannot carry is ErrCodec, naming the field.
//  2. Make one World per PE with New, collectively, after the PE exists
//     and before it is finalized. New checks the Options against their
//     limits (ErrInvalidArg naming the field, before anything is
//     allocated), allocates the queues and the arena in the symmetric
//     heap and starts the handler goroutines.
//  3. Launch: Exec (one PE of the launcher's team), ExecAll (every PE),
//     ExecLocal (this PE, no serialization). Launching is eager: the AM is
//     on its way when Exec returns, whether or not anyone waits on its
//     Future. Wait on a Future (or select on Done); WaitAll on the World,
//     a Team or a TaskGroup waits for everything launched through it;
//     a TypedGroup returns results in insertion order. To line PEs up
//     while AMs may be in flight, use the World's Barrier, which runs
//     this PE's handlers while it waits; hostshmem's BarrierAll runs
//     none itself (the handler goroutines answer meanwhile).
//  4. Close the World collectively before finalizing the PE: it waits for
//     this PE's AMs, then for every PE, then stops the handler goroutines.
//     On an error path, Abort it instead (not collective). After either,
//     launching, waiting and Darc operations return ErrClosed.
//
// # Handlers: which goroutine, and what they may do
//
// A handler runs on one of the World's handler goroutines (Options.Threads:
// GSHMEM_THREADS, else LAMELLAR_THREADS, else GOMAXPROCS), or on a
// goroutine of the same PE that is blocked in Wait, WaitAll or a Darc lock
// wait: waiters help, draining the queues and running queued handlers, so
// a handler that launches AMs and waits on them never starves the pool,
// however deep the recursion. Handlers run concurrently with each other.
// A handler may launch AMs (ctx.World()), wait on them (pass ctx), and
// return another AM with ReturnAM, which then runs back on the sending
// PE. A handler that panics or returns an error fails its future on the
// sender with an *Error naming the PE, the AM and the message; the PE it
// ran on keeps running. A handler blocked on something else (a channel, a
// mutex) holds its goroutine; when every handler goroutine has been busy
// for a while with handlers queued, a waiter starts a temporary one.
//
// # Payloads and buffers
//
// An AM value is encoded when it is launched (Exec returns once it is in
// a local buffer or the queue): the caller may reuse or change it at once.
// Types that implement encoding.BinaryAppender and
// encoding.BinaryUnmarshaler (on the pointer) encode themselves (the fast
// path, for hand-written or generated code); UnmarshalBinary must copy
// what it keeps, as usual. Every other type gets a codec (package
// am/codec) compiled once at registration: numbers little-endian, lengths as uvarints, structs field
// by field (exported fields only), slices (of numbers: in one copy),
// arrays, maps, pointers. Interfaces, channels and functions are refused
// at registration. A value nests at most 10000 pointers, slices and maps
// deep: a deeper one, or one that points to itself, fails at launch with
// ErrCodec naming its type and the limit (and a message that nests deeper
// fails to decode). A decoded value owns its memory (the handler may keep
// it), with one exception the type names: a Bytes field of a request
// large enough to travel through the arena points into the sender's
// arena while the handler runs, so that the payload is copied once, by
// the sender, and the handler reads it in place (copy what you keep). A
// result never aliases the queue or the arena. AMs to this PE (ExecLocal,
// Exec to MyPE) are not encoded at all: the handler gets the caller's value.
//
// # Transport
//
// Every ordered pair of PEs has a ring (Options.RingBytes) in the
// receiver's symmetric heap: a single producer (the sender, under a lock of
// its own) and a single consumer (whoever drains the receiver's queues).
// Small AMs to one PE aggregate in a local buffer and go into the ring in
// one piece when it reaches Options.FlushBytes, when the receiver has
// drained everything sent before (then there is nothing to aggregate
// with, and latency wins), or when this PE waits or idles. A ring carries
// its own signal: the consumer watches the header word at its head, and
// the producer writes a run of frames, a zero word after it, then the
// run's first header word with one atomic exchange (which also wakes a
// sleeping consumer), so a lone AM reaches the receiver in the cache line
// that announces it. Where the receiver's memory is mapped (shm, inproc)
// these are stores into it; over RMA-only transports, Puts, a Quiet and
// an atomic set of the header word. A payload or result of at least
// Options.LargeBytes is encoded straight into the sender's arena in its
// symmetric heap; the ring carries its offset, the receiver decodes it in
// place (or Gets it over RMA) and sends a release (after the handler when
// it reads Bytes in place). A waiting PE spins
// briefly, yields, then sleeps on the fabric's futex until a peer writes
// to its queues: an idle World costs no CPU.
//
// # Failure
//
// A dead PE (fabric.ErrPeerDead) fails every future waiting on it with an
// error naming it, and later AMs to it fail at once. Bad arguments (a PE
// out of range, an unregistered type, a closed World, a payload larger
// than the arena) fail the future with an error naming the values; they
// never panic. Nor do nil ones: a method on a nil (or zero) World,
// Team, TaskGroup, TypedGroup, Future or Darc, a nil Launcher, context or
// function returns ErrInvalidArg, and a getter its documented zero value
// (MyPE and NPEs -1, counts 0). MustRegister alone panics, by design.
//
// # Errors
//
// Errors name the operation and the values ("am: exec main.Hello: PE out
// of range: PE 7 not in [0, 4)"). Those to branch on with errors.Is,
// besides a context's own:
//
//   - ErrInvalidArg (errdefs.ErrInvalidArg): a nil or zero value, an empty
//     name, an Option beyond its limit, a dropped Darc handle;
//   - errdefs.ErrInvalidPE (hostshmem.ErrInvalidPE): a PE outside the
//     launcher's team (it matches ErrInvalidArg too);
//   - ErrClosed (errdefs.ErrClosed): the World was closed or aborted;
//   - errdefs.ErrPeerDead (fabric.ErrPeerDead): the PE an AM went to, or a
//     PE a Barrier waits for, died (errors.As finds the *fabric.PeerError
//     naming it);
//   - errdefs.ErrMismatch (hostshmem.ErrMismatch), and hostshmem's other
//     errors, from New and Close, which allocate and synchronise through
//     hostshmem (New with Options that differ across PEs, say);
//   - ErrDuplicate and ErrCodec from Register;
//   - ErrTooLarge: a payload larger than the arena;
//   - an *Error, matching ErrHandler, ErrPanic, ErrCodec or
//     ErrUnregistered: the AM failed on the PE it ran on.
//
// # Darcs
//
// NewDarc, NewLocalRwDarc and NewGlobalRwDarc are collective over a
// launcher's team: every member passes its own initial value and gets a
// handle to its own instance. A handle inside an AM resolves, on the
// receiver, to the receiver's instance; it is valid while the handler
// runs (Clone it to keep it). A PE that holds any reference counts once
// in a global count kept by atomics on the team's first PE; the Darc is
// freed everywhere when that count drops to zero (every handle dropped,
// no AM carrying one in flight); LiveDarcs tells how many instances a PE
// still has. LocalRwDarc guards each instance with a lock of its PE;
// GlobalRwDarc with one lock across all PEs, and CollectiveWrite takes it
// once for the whole team. The conversions (IntoLocalRw, IntoGlobalRw,
// IntoDarc) are collective: each waits until the converted handle is the
// only reference on its PE and no PE outside the team holds one, logs
// what it still waits on after Options.ConvertWarn, and returns an error
// saying so when its context ends. Darcs travel in AMs, not in results.
//
// Every handle the program holds (from a constructor, Clone or a
// conversion) must be dropped. World.Close reports, through Options.Logf,
// each one never dropped: its kind, type and id, and the file, line and
// function that made it. A handle that becomes unreachable undropped is
// caught by a runtime cleanup (runtime.AddCleanup) after a garbage
// collection: it is reported the same way and its reference dropped, so
// the Darc can still be freed. (A Darc whose value holds a handle to
// itself is never unreachable: drop it.)
package am
