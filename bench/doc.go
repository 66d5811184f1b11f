// Package bench measures gshmem's peers on the same machine and prints the
// comparison: the numbers behind `gpurun bench`.
//
// It has three sources of [Result]s and one consumer:
//
//   - [Peers] compiles small C programs (embedded from peer/*.c) against Open
//     MPI's OpenSHMEM and MPI, runs them with oshrun/mpirun and parses what
//     they print. Without Open MPI it returns [ErrNoPeer], and the caller
//     leaves the peer columns out.
//   - [Memmove] measures plain Go copy between two pre-faulted buffers: the
//     ceiling for any shared-memory put on this machine.
//   - The caller measures gshmem itself, with the same op names ([OpPut] and
//     the rest), the same [Sizes] and the same method (below), and labels its
//     results [ImplGshmem]. [Result.Line] and [ParseResults] carry results out
//     of child processes in the peers' format.
//   - [WriteTable] lines the three up by (Op, PEs, Bytes) and prints values
//     and ratios.
//
// # Method
//
// Every measurement follows OSU's osu_oshm_* benchmarks: warm-up rounds of
// doubling length until a round takes an eighth of the target time (30 ms
// by default), then a timed loop sized from the last warm-up round to take
// the target time, timed with CLOCK_MONOTONIC. The timed loop runs three
// times ([PeerConfig.Reps]) and the fastest counts (the machine is small and shared: one loop
// in three is often slowed by someone else's work); Iters is the length of
// one loop.
//
//   - put, get, fadd, putbw: PE 0 alone runs the loop against PE 1 while the
//     other PEs wait; NsPerOp is the loop time over the iterations. Each put
//     is followed by shmem_quiet, so one op is "delivered", not "issued".
//   - barrier: every PE runs the loop; NsPerOp is the mean over PEs.
//   - bcast, reduce, allreduce: every PE times each call on its own, with an
//     untimed barrier between calls; NsPerOp is the mean over PEs of the mean
//     call time.
//
// # Units
//
// NsPerOp is nanoseconds of wall time per operation. Bandwidths are bytes
// per second; the table prints them with decimal units (1 MB/s = 1e6 B/s).
// allreduce is compared by bus bandwidth (see [Result.BusBandwidth]).
package bench
