package bench

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Implementation names for [Result.Impl].
const (
	ImplGshmem  = "gshmem"        // gshmem itself, measured by the caller
	ImplShmem   = "openmpi-shmem" // Open MPI's OpenSHMEM (oshrun)
	ImplMPI     = "openmpi-mpi"   // Open MPI's MPI (mpirun)
	ImplMemmove = "memmove"       // plain Go copy, from [Memmove]
	ImplOFI     = "libfabric"     // raw libfabric in C, from [RawOFI]
	ImplDirect  = "gshmem-direct" // gshmem with one operation per update, beside its array version (the bale kernels)
)

// Operation names for [Result.Op]. The Bytes each one reports is fixed
// except for the sized ops: OpPutBW, OpBcastBW and OpAllreduce run at
// [Sizes], OpFCollect and OpAlltoall at [CollSizes] (see [OpSizes]).
// Collectives run on every PE of the job (the world team).
const (
	OpPut       = "put"       // 8-byte put + quiet, PE 0 to PE 1 (latency)
	OpGet       = "get"       // 8-byte get from PE 1 (latency)
	OpP         = "p"         // single-element put of a 64-bit integer + quiet (shmem_long_p), PE 0 to PE 1 (latency)
	OpG         = "g"         // single-element get of a 64-bit integer from PE 1 (shmem_long_g) (latency)
	OpFetchAdd  = "fadd"      // 64-bit atomic fetch-add on PE 1 (latency)
	OpBarrier   = "barrier"   // barrier of all PEs, Bytes 0 (latency)
	OpSync      = "sync"      // barrier without quiet (team sync, shmem_sync_all), Bytes 0 (latency)
	OpBcast     = "bcast"     // 4-byte broadcast from PE 0 (latency)
	OpReduce    = "reduce"    // sum allreduce of one 64-bit integer, Bytes 8 (latency)
	OpFCollect  = "fcollect"  // all-gather: Bytes from each PE, NPEs*Bytes on each (latency)
	OpAlltoall  = "alltoall"  // Bytes from every PE to every PE (latency)
	OpPutBW     = "putbw"     // put of Bytes + quiet, PE 0 to PE 1 (bandwidth)
	OpBcastBW   = "bcastbw"   // broadcast of Bytes from PE 0 (bandwidth)
	OpAllreduce = "allreduce" // float32 sum allreduce of Bytes (bus bandwidth)
	OpMemmove   = "memmove"   // copy of Bytes within one process (bandwidth)

	// OpHisto is bale's histogram kernel: every PE holds a table of T
	// int64 counters ([KernelSize].Table, default 1000) and adds 1 to N
	// ([KernelSize].Updates, default 100000) uniformly random elements of
	// the global table of NPEs*T (element g on PE g/T at offset g%T: a
	// Block layout). gshmem measures it twice: with an array.AtomicArray's
	// BatchAdd of all N ([ImplGshmem]) and with one hostshmem.AtomicAdd per
	// update ([ImplDirect]); the C peer with one shmem_long_atomic_add per
	// update. Bytes 8; NsPerOp is the time per update on one PE, shown as
	// a rate (see [IsRate]). The sum of all tables is checked afterwards.
	OpHisto = "histo"
	// OpIGather is bale's index-gather kernel: every PE holds a table of T
	// int64 (default 100000) whose element at offset o on PE p is the
	// global index p*T+o, and reads N (default 100000) uniformly random
	// elements of the global table into a local array: gshmem with an
	// array.ReadOnlyArray's BatchLoad of all N ([ImplGshmem]) and with one
	// hostshmem.G per request ([ImplDirect]), the C peer with one
	// shmem_long_g per request. Bytes 8; NsPerOp is the time per request
	// on one PE, shown as a rate. Every value read is checked.
	OpIGather = "igather"
	// OpRandperm is bale's random permutation by dart throwing: every PE
	// throws N darts (default 100000), its global numbers me*N+i, into a
	// target of NPEs*T int64 slots (T default 2N: bale's factor of 2),
	// all -1 at first, each with a compare-and-swap of -1 for the dart at a
	// uniformly random slot, throwing the misses again until every dart
	// has landed; the slots that are not -1 then hold, in order, a random
	// permutation of 0..NPEs*N-1. gshmem measures it with an
	// array.AtomicArray's BatchCompareExchange of every dart in flight,
	// round after round ([ImplGshmem]), and with one
	// hostshmem.AtomicCompareSwap per throw ([ImplDirect]); the C peer with
	// one shmem_long_atomic_compare_swap per throw. Bytes 8; NsPerOp is
	// the time per dart (not per throw: about 1.4 throws per dart at a
	// factor of 2) on one PE, shown as a rate. After every loop each PE
	// checks that each of its darts is where it landed, and the count of
	// filled slots over every PE is NPEs*N: every value exactly once.
	OpRandperm = "randperm"
)

// opOrder is the order of ops in a table; ops not in it follow, by name.
var opOrder = []string{OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpSync, OpBcast, OpReduce,
	OpFCollect, OpAlltoall, OpPutBW, OpBcastBW, OpAllreduce, OpMemmove, OpDevPutSync, OpStreamAllreduceSync,
	OpDevPutBW, OpStreamAllreduce, OpHisto, OpIGather, OpRandperm}

// IsBandwidth reports whether op is compared by bandwidth (higher is better)
// rather than by latency (lower is better).
func IsBandwidth(op string) bool {
	return op == OpPutBW || op == OpBcastBW || op == OpAllreduce || op == OpMemmove ||
		op == OpDevPutBW || op == OpStreamAllreduce || op == OpAMBW || op == OpAMBWView
}

// IsRate reports whether op is shown as a rate of updates, in million
// updates per second per PE (1e3/NsPerOp, higher is better) rather than as
// a time per operation: the bale kernels [OpHisto], [OpIGather] and
// [OpRandperm]. Their speed-ups are the same numbers either way (a rate
// is one over a time).
func IsRate(op string) bool { return op == OpHisto || op == OpIGather || op == OpRandperm }

// OpGroups are the names `gpurun bench -ops` accepts for sets of ops:
// "p2p" the point-to-point ops and the barrier (the issue-2 set), "coll"
// the collectives, "dev" the device ops, "array" the bale kernels (in
// their one-operation-per-update form: the bounds the distributed arrays'
// versions are compared against), "all" every one of these ([GshmemOps];
// the kernels add well under a second to it).
var OpGroups = map[string][]string{
	"p2p":   {OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpPutBW},
	"coll":  {OpBarrier, OpSync, OpBcast, OpReduce, OpFCollect, OpAlltoall, OpBcastBW, OpAllreduce},
	"dev":   DeviceOps,
	"array": {OpHisto, OpIGather, OpRandperm},
	"all":   GshmemOps,
}

// ExpandOps turns a -ops list (op names and [OpGroups] names) into the
// ops it names, each once, in [GshmemOps] order. An unknown name is an
// error.
func ExpandOps(names []string) ([]string, error) {
	want := map[string]bool{}
	for _, n := range names {
		if g, ok := OpGroups[n]; ok {
			for _, op := range g {
				want[op] = true
			}
			continue
		}
		if !slices.Contains(GshmemOps, n) {
			return nil, fmt.Errorf("unknown benchmark %q (have %s, or a group: %s)",
				n, strings.Join(GshmemOps, ","), strings.Join(slices.Sorted(maps.Keys(OpGroups)), ", "))
		}
		want[n] = true
	}
	var ops []string
	for _, op := range GshmemOps {
		if want[op] {
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// Sizes are the message sizes in bytes of the sized ops (OpPutBW,
// OpBcastBW, OpAllreduce, OpMemmove): every power of two from 8 B to
// 64 MiB. The gshmem side measures the same list so that rows line up. Do
// not modify it; copy it to measure other sizes.
var Sizes = powersOfTwo(8, 64<<20)

// CollSizes are the block sizes in bytes (per PE) of OpFCollect and
// OpAlltoall: 8 B and 1 KiB (small messages, one-shot in gshmem), 64 KiB
// and 1 MiB (large ones). Do not modify it.
var CollSizes = []int{8, 1 << 10, 64 << 10, 1 << 20}

// fixedBytes is the Bytes of each op that runs at one size only.
var fixedBytes = map[string]int{OpPut: 8, OpP: 8, OpGet: 8, OpG: 8, OpFetchAdd: 8, OpBarrier: 0, OpSync: 0, OpBcast: 4, OpReduce: 8,
	OpDevPutSync: 8, OpStreamAllreduceSync: 1024, OpHisto: 8, OpIGather: 8, OpRandperm: 8}

// OpSizes returns the Bytes op runs at, given the lists of the sized ops
// (sizes, for OpPutBW, OpBcastBW and OpAllreduce) and of the collective
// blocks (csizes, for OpFCollect and OpAlltoall): its fixed size, or the
// sizes of its list it accepts. OpPutBW takes any size; the other sized
// ops move 32- or 64-bit elements in the peers and take only multiples of
// 4, everywhere, so that rows line up. Nil for an unknown op.
func OpSizes(op string, sizes, csizes []int) []int {
	if b, ok := fixedBytes[op]; ok {
		return []int{b}
	}
	words := func(ns []int) []int {
		return slices.DeleteFunc(slices.Clone(ns), func(n int) bool { return n%4 != 0 })
	}
	switch op {
	case OpPutBW, OpDevPutBW:
		return slices.Clone(sizes)
	case OpBcastBW, OpAllreduce, OpStreamAllreduce:
		return words(sizes)
	case OpFCollect, OpAlltoall:
		return words(csizes)
	}
	return nil
}

func powersOfTwo(lo, hi int) []int {
	var s []int
	for n := lo; n <= hi; n *= 2 {
		s = append(s, n)
	}
	return s
}

// Result is one measurement: Iters operations of Op, each moving Bytes,
// took NsPerOp nanoseconds each on average.
type Result struct {
	Impl    string  // who was measured: ImplGshmem, ImplShmem, ImplMPI, ImplMemmove
	Op      string  // what was measured: one of the Op constants
	PEs     int     // PEs (ranks) in the job; 1 for memmove
	Bytes   int     // payload bytes per operation (per PE block for fcollect, alltoall); 0 for barrier, sync
	Iters   int     // timed iterations the mean is over
	NsPerOp float64 // mean wall time of one operation, in nanoseconds
}

// Bandwidth returns the algorithm bandwidth, Bytes per NsPerOp, in bytes
// per second; 0 if NsPerOp is not positive.
func (r Result) Bandwidth() float64 {
	if r.NsPerOp <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.NsPerOp * 1e9
}

// BusBandwidth returns the bandwidth in bytes per second under the
// nccl-tests convention, which makes collectives comparable with a
// point-to-point link: for OpAllreduce on N PEs it is Bandwidth * 2(N-1)/N;
// for every other op it equals Bandwidth.
func (r Result) BusBandwidth() float64 {
	if (r.Op == OpAllreduce || r.Op == OpStreamAllreduce) && r.PEs > 1 {
		return r.Bandwidth() * 2 * float64(r.PEs-1) / float64(r.PEs)
	}
	return r.Bandwidth()
}

// Line returns r as the peer programs print it, without a newline:
// "RESULT <op> <bytes> <iters> <ns_per_op>". [ParseResults] reads it back,
// so a gshmem benchmark running in child processes can report the same way.
func (r Result) Line() string {
	op := r.Op
	if r.Impl != "" && r.Impl != ImplGshmem {
		op += "@" + r.Impl // a reference measured in the same run
	}
	return fmt.Sprintf("RESULT %s %d %d %.3f", op, r.Bytes, r.Iters, r.NsPerOp)
}

// ParseResults reads the output of a peer program: one
// "RESULT <op> <bytes> <iters> <ns_per_op>" line per measurement. Lines
// that do not start with the word RESULT (banners, warnings from the MPI
// runtime) are skipped; a RESULT line that does not parse is an error
// naming its line number and text. Each result gets the given impl and PE
// count.
func ParseResults(r io.Reader, impl string, pes int) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "RESULT" {
			continue
		}
		res, err := parseFields(f)
		if err != nil {
			return out, fmt.Errorf("bench: line %d %q: %w", n, line, err)
		}
		res.Impl, res.PEs = impl, pes
		if op, ref, ok := strings.Cut(res.Op, "@"); ok {
			res.Op, res.Impl = op, ref
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("bench: reading results: %w", err)
	}
	return out, nil
}

func parseFields(f []string) (Result, error) {
	if len(f) != 5 {
		return Result{}, fmt.Errorf("want 5 fields (RESULT op bytes iters ns_per_op), got %d", len(f))
	}
	bytes, err := strconv.Atoi(f[2])
	if err != nil || bytes < 0 {
		return Result{}, fmt.Errorf("bytes %q is not a non-negative integer", f[2])
	}
	iters, err := strconv.Atoi(f[3])
	if err != nil || iters <= 0 {
		return Result{}, fmt.Errorf("iters %q is not a positive integer", f[3])
	}
	ns, err := strconv.ParseFloat(f[4], 64)
	if err != nil || ns <= 0 || math.IsInf(ns, 0) || math.IsNaN(ns) {
		return Result{}, fmt.Errorf("ns_per_op %q is not a positive number", f[4])
	}
	return Result{Op: f[1], Bytes: bytes, Iters: iters, NsPerOp: ns}, nil
}

// Median returns one result per (Impl, Op, PEs, Bytes) of rs, in the
// order each first appears: of several runs of one row, the one of median
// NsPerOp (the lower middle one of an even count), so that a row of
// `gpurun bench -rounds 5` is a measurement that was made, not an
// average of differently placed runs.
func Median(rs []Result) []Result {
	type key struct {
		impl, op   string
		pes, bytes int
	}
	groups := map[key][]Result{}
	var order []key
	for _, r := range rs {
		k := key{r.Impl, r.Op, r.PEs, r.Bytes}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		g := groups[k]
		slices.SortStableFunc(g, func(a, b Result) int { return cmp.Compare(a.NsPerOp, b.NsPerOp) })
		out = append(out, g[(len(g)-1)/2])
	}
	return out
}
