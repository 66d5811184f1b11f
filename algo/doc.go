// Package algo is a prototyping kit for collective algorithms: building
// blocks, two reference allreduce algorithms written with them (Ring and
// OneShot, one readable file each), and a harness that checks any
// allreduce against a serial reference. To try an idea, copy ring.go or
// oneshot.go, change it, and test it with one line.
//
// # An algorithm
//
// An allreduce is a function of type AllReduce:
//
//	func MyAllReduce[T shmem.Elem](ctx context.Context, ws *algo.Workspace[T], t *shmem.Team,
//		op shmem.ReduceOp, dest, source shmem.Sym[T], n int) error {
//		epoch, err := ws.Begin(t, op, dest, source, n) // checks arguments; 1, 2, 3... per call
//		if err != nil {
//			return err
//		}
//		pe := ws.PE()
//		// ... move data with PutSignal into peers' ws.Slot(k, m), wait
//		// with SignalWaitUntil on ws.Signal(k), fold with ReduceInto ...
//	}
//
// # Building blocks
//
//   - Workspace: this PE's scratch, the same symmetric objects on every PE:
//     2*NPEs slots of MaxElems elements (Slot) and as many signal words
//     (Signal), each on its own cache line and zero at first. NewWorkspace
//     and Free are collective over the world team.
//   - Moving data (hostshmem): PutSignal(pe, ws.Slot(k, m), local, ws.Signal(k), v,
//     SignalSet, peer) writes a peer's slot then its signal; SignalWaitUntil
//     waits for this PE's signal; Local(pe, sym) reads or writes this PE's
//     copy of any symmetric object in place; Put, Get, AtomicSet and Quiet
//     as usual; t.Sync (no completion) and t.Barrier (Quiet, then sync)
//     when nothing finer will do.
//   - Arithmetic: Chunk splits n elements into parts; Next, Prev and Mod do
//     ring arithmetic; ReduceInto folds one slice into another and ReduceN
//     reduces many in order (16-bit floats computed in float32).
//
// # Rules
//
//  1. A call is collective over t: every member calls with the same op and
//     n, in the same order as its other calls on the workspace.
//  2. Puts, gets and signals take world PE numbers: member j of t is
//     t.WorldPE(j); t.MyPE() and t.NPEs() are team indices and sizes.
//  3. Scratch is symmetric, so it is allocated over the world team, before
//     the call: make a Workspace per team (and per algorithm) up front.
//  4. dest may be source (in place); otherwise they do not overlap. Read
//     source, leave it unchanged; write dest[:n] and nothing past it.
//  5. A peer may start your next call while you are still in this one.
//     Either end each call with t.Sync, or make reuse safe: signal values
//     that grow from call to call (from the epoch Begin returns) and
//     double-buffered slots, or acknowledgements (see Ring and OneShot,
//     whose comments argue why each is safe).
//  6. Data put with PutSignal is visible once its signal is seen; a plain
//     Put is visible at the target after Quiet (or t.Barrier).
//
// # Testing
//
// In a test, one line per element type runs the harness on in-process
// jobs of 1, 2, 3, 4, 5 and 8 PEs, on the world team and on even and odd
// sub-teams, for every op the type supports and n from 0 to 4099:
//
//	func TestMyAllReduce(t *testing.T) { algo.TestAllReduce(t, MyAllReduce[float32]) }
//
// Check does the same with a Config and returns the error; CheckAllReduce
// checks one call pattern in a job of your own. Each call runs three times
// back to back with no synchronisation in between, so flow-control bugs
// show up as wrong results; a deadlock ends at Config.Timeout.
package algo
