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
//   - [WriteTable] lines the three up by (Op, PEs, Bytes) and prints the
//     values and gshmem's speed-up over each of the others: above 1 means
//     gshmem is faster, in every row (latency: their time over gshmem's;
//     bandwidth: gshmem's bandwidth over theirs).
//
// [Main] (`gpurun bench`) runs each PE count of -n in turn, gshmem and the
// peers -rounds times (default 5) alternating, and prints one table whose
// every row is the median of its rounds ([Median]). A round has two
// phases, the latency ops and then the sized ones, and each phase runs
// gshmem, its C interface and Open MPI back to back (in the reverse order
// in odd rounds), with every program built once beforehand: a latency row
// and its peers' are measured seconds apart, which matters where the
// host's cross-core hand-off moves on that scale. -ops picks ops or groups of them ([OpGroups]:
// p2p, coll, dev, array, all). gshmem's PEs are processes over shm, or with -inproc
// goroutines of one process: on a GPU, PEs sharing one context, the layout
// in which device collectives run without time-slicing between processes.
//
// # Method
//
// Every measurement follows OSU's osu_oshm_* benchmarks: warm-up rounds of
// doubling length until a round takes an eighth of the target time (30 ms
// by default), then a timed loop sized from the last warm-up round to take
// the target time, timed with CLOCK_MONOTONIC. The timed loop runs three
// times ([PeerConfig.Reps]) and the fastest counts (the machine is small and shared: one loop
// in three is often slowed by someone else's work); Iters is the length of
// one loop. Where every PE runs the loop, each warm-up round and each timed
// loop starts after a barrier, PE 0's round decides the loop length for
// all, and "the fastest" is the fastest mean over PEs.
//
//   - put, p, get, g, fadd, putbw: PE 0 alone runs the loop against PE 1
//     while the other PEs wait; NsPerOp is the loop time over the
//     iterations. Each put or p is followed by shmem_quiet, so one op is
//     "delivered", not "issued". put and get move 8 bytes as a slice (the
//     C peer: shmem_putmem, shmem_getmem); p and g one 64-bit integer
//     (hostshmem.P and G; shmem_long_p and shmem_long_g, the forms
//     OpenSHMEM codes use most).
//   - barrier, sync: every PE runs the loop; NsPerOp is the mean over PEs
//     of each PE's loop time over the iterations.
//   - bcast, reduce, bcastbw, allreduce, fcollect, alltoall: every PE times
//     each call on its own, with an untimed barrier (shmem_barrier_all,
//     MPI_Barrier, BarrierAll) after each call; NsPerOp is the mean over PEs
//     of each PE's summed call time over the iterations (osu_oshm_broadcast,
//     osu_oshm_reduce, osu_oshm_fcollect, osu_oshm_alltoall, osu_allreduce).
//   - histo, igather, randperm (the bale kernels, one operation per
//     update, the "array" group): not calibrated. Every PE runs a fixed N
//     updates ([KernelSize]; N is bale's 100000 at the default target,
//     fewer under a shorter one) per loop, one untimed loop and then Reps
//     timed ones, each from a barrier to the barrier after the last update
//     (which completes the atomic adds), with random indices drawn before
//     the loop (randperm's in it: a miss draws again); NsPerOp is the
//     longest PE's loop time over N (the job's span: where PEs outnumber
//     cores they leave the first barrier a time slice apart, and a mean
//     over PEs would understate it), and Iters is N. Random indices are
//     uniform over the global table
//     (math/rand/v2 PCG in Go, splitmix64 in C, each seeded by the PE
//     number: the same distribution, not the same sequence).
//
// The collectives run on all PEs of the job (gshmem's world team, the
// active set 0..N-1 in OpenSHMEM 1.4, MPI_COMM_WORLD), with distinct source
// and destination buffers, the root PE 0 for broadcasts, and check their
// results after the measurement. What each op calls:
//
//	op         gshmem (world team)     Open MPI OpenSHMEM 1.4       Open MPI MPI
//	barrier    PE.BarrierAll           shmem_barrier_all            MPI_Barrier
//	sync       Team.Sync               shmem_sync_all               -
//	bcast      Broadcast, 4 bytes      shmem_broadcast32, 1 word    MPI_Bcast, 4 bytes
//	reduce     Reduce, 1 int64 sum     shmem_long_sum_to_all, 1     MPI_Allreduce, 1 long
//	bcastbw    Broadcast of bytes      shmem_broadcast64            MPI_Bcast (in place)
//	allreduce  AllReduce, float32 sum  shmem_float_sum_to_all       MPI_Allreduce, MPI_FLOAT
//	fcollect   FCollect of bytes       shmem_fcollect64             MPI_Allgather
//	alltoall   AllToAll of bytes       shmem_alltoall64             MPI_Alltoall
//	histo      AtomicAdd of int64 1    shmem_long_atomic_add        -
//	igather    G of int64              shmem_long_g                 -
//	randperm   AtomicCompareSwap int64 shmem_long_atomic_compare_swap -
//
// (the OpenSHMEM calls take the 32-bit forms where the size is not a
// multiple of 8; the sized collectives run only at multiples of 4, see
// [OpSizes]). Bytes of fcollect and alltoall is the block of one PE: each
// PE ends with NPEs blocks. OpenSHMEM 1.4 leaves the root's destination of
// a broadcast alone; gshmem's Broadcast (1.5 semantics) also copies the
// root's source to its destination, and that copy is in its time.
//
// The kernels' table is T int64 per PE on the symmetric heap (histo 1000,
// zeroed; igather 100000, element o on PE p holding p*T+o), and global
// element g lives on PE g/T at offset g%T (a Block layout). histo adds 1
// to N random elements; afterwards the sum of every PE's table (a sum
// reduction) must be NPEs*N per loop run. igather reads N random
// elements into a local array and checks that each holds its index.
// randperm throws N darts per PE (numbered me*N+i) into a target of T
// slots per PE (default 2N), all -1 before each loop, each with a
// compare-and-swap of -1 for the dart at a random slot, again at another
// after a miss, until it lands: its random slots are drawn in the loop,
// and its NsPerOp is per dart, throws included. After every loop each PE
// checks that its darts are in the slots they landed in, and the filled
// slots of every PE must number NPEs*N.
//
// Placement is the same on both sides: Open MPI binds rank i to core i
// when there are no more ranks than cores (and binds nothing when
// oversubscribed, as 4 PEs on this 2-core machine are); `gpurun bench`
// binds gshmem's PE i to CPU i under the same condition, as gpurun binds
// a user's PEs by default (-bind, default on).
//
// # Units
//
// NsPerOp is nanoseconds of wall time per operation. Bandwidths are bytes
// per second; the table prints them with decimal units (1 MB/s = 1e6 B/s).
// allreduce is compared by bus bandwidth (see [Result.BusBandwidth]),
// bcastbw by algorithm bandwidth (Bytes per call time, which nccl-tests
// also counts as a broadcast's bus bandwidth). The small-message latency of
// a bandwidth row is Bytes over its bandwidth (times 2(N-1)/N for
// allreduce), so its speed-up is also the speed-up in time.
//
// The kernels ([IsRate]) report NsPerOp as the time per update on one PE
// (Bytes 8, one int64), and the table prints it as a rate: million updates
// per second per PE, Mupd/s = 1e3/NsPerOp (an igather request counts as an
// update), with the speed-up gshmem's rate over the other's.
package bench
