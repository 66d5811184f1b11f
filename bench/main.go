package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/internal/cbuild"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/launcher"
)

// flags are the options `gpurun bench` and its workers share.
type flags struct {
	fs                *flag.FlagSet
	pes               *string
	ops               *string
	maxSize           *string
	target            *time.Duration
	reps              *int
	rounds            *int
	peers, memmoveCol *bool
	cabi              *bool
	bind              *bool
	inproc            *bool
	srun              *string
}

func newFlags(name string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{
		fs:  fs,
		pes: fs.String("n", "2", "PEs (processes over shm); a comma-separated list runs each count in turn"),
		ops: fs.String("ops", "all", "comma-separated benchmarks ("+strings.Join(GshmemOps, ",")+
			") or groups (p2p: "+strings.Join(OpGroups["p2p"], ",")+"; coll: "+strings.Join(OpGroups["coll"], ",")+
			"; array: "+strings.Join(OpGroups["array"], ",")+"; am: "+strings.Join(AMOps, ",")+", not in all; all)"),
		maxSize: fs.String("max-size", "64m", "largest message of the sized ops, and of an fcollect/alltoall block (k, m, g suffixes)"),
		target:  fs.Duration("target", 30*time.Millisecond, "length of one timed loop (histo, igather, randperm: a fixed N per loop, 100000, fewer below 30ms)"),
		reps:    fs.Int("reps", 3, "timed loops per measurement; the fastest counts"),
		rounds: fs.Int("rounds", 5, "runs of gshmem and of its peers, alternating, for each PE count (each round the "+
			"latency ops on every side, then the sized ones); each row is the median of its runs, so that one lucky or "+
			"unlucky placement does not decide a ratio"),
		peers:      fs.Bool("peers", true, "also measure Open MPI's OpenSHMEM and MPI (skipped when absent)"),
		memmoveCol: fs.Bool("memmove", true, "also measure plain memmove for the bandwidth rows"),
		cabi: fs.Bool("c", true, "also measure gshmem's C interface: libgshmem.so running the Open MPI peer's own program "+
			"(needs gshmem's source tree around the working directory and a C compiler; skipped otherwise, and with -srun or -inproc)"),
		bind: fs.Bool("bind", true, "bind gshmem PE i to CPU i when there are no more PEs than CPUs (as gpurun does by default), "+
			"as Open MPI binds its ranks to cores then (not when oversubscribed)"),
		inproc: fs.Bool("inproc", false, "run gshmem's PEs as goroutines of this process instead of processes over shm "+
			"(on a GPU: every PE on one context, the layout of in-process device collectives)"),
		srun: fs.String("srun", "", "cross-node mode: run gshmem's PEs as the tasks of `srun ARGS -n N` "+
			"(e.g. \"--mpi=pmi2 -N 2 --distribution=cyclic\": PE 0 and PE 1 on different nodes, over libfabric; "+
			"needs gpurun built with -tags ofi), and Open MPI's peers over TCP"),
	}
}

func (f *flags) config() (Config, error) {
	c, _, err := f.configAM()
	return c, err
}

// configAM is config and the AM ops of -ops (the "am" group and the
// AMOps, which MeasureAM measures).
func (f *flags) configAM() (Config, []string, error) {
	max, err := config.ParseSize(*f.maxSize)
	if err != nil {
		return Config{}, nil, fmt.Errorf("-max-size %q: %w", *f.maxSize, err)
	}
	amOps, rest, _ := splitAMOps(strings.Split(*f.ops, ","))
	ops := []string{} // only AM ops: Measure measures nothing
	if len(rest) > 0 {
		if ops, err = ExpandOps(rest); err != nil {
			return Config{}, nil, fmt.Errorf("-ops: %w", err)
		}
	}
	upTo := func(ns []int) []int {
		return slices.DeleteFunc(slices.Clone(ns), func(n int) bool { return int64(n) > max })
	}
	// The PEs read GSHMEM_AM_SIZE_THRESHOLD themselves; the heap for
	// their kernels' AM arena is sized here, before they start.
	var threshold int64
	if v := os.Getenv(config.EnvAMSizeThreshold); v != "" {
		if threshold, err = config.ParseSize(v); err != nil || threshold <= 0 || threshold > config.MaxAMSizeThreshold {
			return Config{}, nil, fmt.Errorf("%s=%q: want a size from 1 to 1g, such as 64k", config.EnvAMSizeThreshold, v)
		}
	}
	return Config{Ops: ops, Sizes: upTo(Sizes), CollSizes: upTo(CollSizes), Target: *f.target, Reps: *f.reps,
		AMSizeThreshold: uintptr(threshold)}, amOps, nil
}

// peCounts parses -n: PE counts of 2 or more, comma-separated.
func (f *flags) peCounts() ([]int, error) {
	var ns []int
	for _, s := range strings.Split(*f.pes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("-n %q: want PE counts of at least 2, comma-separated", *f.pes)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// argsWithOps returns the flags as a worker's command line, with -ops
// set to ops.
func (f *flags) argsWithOps(ops []string) []string {
	var a []string
	f.fs.VisitAll(func(fl *flag.Flag) {
		v := fl.Value.String()
		if fl.Name == "ops" {
			v = strings.Join(ops, ",")
		}
		a = append(a, "-"+fl.Name+"="+v)
	})
	return a
}

// Main is `gpurun bench [flags]`: for each PE count of -n in turn it runs
// the gshmem benchmarks on that many PEs (processes over shm started with
// self, a command line that runs this binary as a bench worker, see
// Worker; with -inproc, goroutines of this process), then the same
// measurements with Open MPI where it is installed, -rounds times in turn,
// each round in phases (see phases and runRound; each row of the table is
// the median of its rounds: see Median); then
// memmove, for the bandwidth rows; and it writes one comparison table
// to stdout. It returns the process exit status: 1 if a gshmem run failed
// (the table is still written, without it), 0 otherwise; a failing peer is
// reported on stderr and leaves its cells empty.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, self []string) int {
	f := newFlags("gpurun bench", stderr)
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	c, amOps, err := f.configAM()
	var counts []int
	if err == nil {
		counts, err = f.peCounts()
	}
	if err != nil {
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 2
	}
	status := 0
	var ours, peers []Result
	if *f.rounds < 1 {
		fmt.Fprintf(stderr, "gpurun bench: -rounds %d: want at least 1\n", *f.rounds)
		return 2
	}
	work, err := os.MkdirTemp("", "gshmem-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 1
	}
	defer os.RemoveAll(work)
	built := builds{}
	for _, n := range counts {
		start := time.Now()
		for round := range *f.rounds {
			if *f.rounds > 1 {
				fmt.Fprintf(stderr, "gpurun bench: %d PEs, round %d of %d\n", n, round+1, *f.rounds)
			}
			o, p, ok := runRound(ctx, f, c, n, amOps, round, round == 0 && n == counts[0], work, built, stderr, self)
			ours, peers = append(ours, o...), append(peers, p...)
			if !ok {
				status = 1
			}
		}
		fmt.Fprintf(stderr, "gpurun bench: %d PEs took %v\n", n, time.Since(start).Round(time.Second))
	}
	ours, peers = Median(ours), Median(peers)
	var mm []Result
	if *f.memmoveCol && (slices.ContainsFunc(c.Ops, IsBandwidth) || slices.ContainsFunc(amOps, IsBandwidth)) {
		sizes := c.Sizes
		if slices.ContainsFunc(amOps, IsBandwidth) {
			sizes = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(sizes), AMSizes...))))
		}
		mm = Memmove(sizes)
	}
	if err := WriteTable(stdout, ours, peers, mm); err != nil {
		fmt.Fprintln(stderr, "gpurun bench:", err)
		return 1
	}
	WriteAMSummary(stdout, ours, mm)
	return status
}

// runGshmem runs the gshmem benchmarks c on n PEs: workers started with
// self and the flags args, bound to CPUs as gpurun binds a user's PEs
// (launcher.Options.Bind) when bind is set.
func runGshmem(ctx context.Context, c Config, n int, withAM, bind bool, stderr io.Writer, self, args []string) ([]Result, error) {
	var out bytes.Buffer
	heap := c.HeapFor(n)
	if withAM {
		heap = max(heap, AMHeap(n))
	}
	env := append(os.Environ(), fmt.Sprintf("%s=%d", config.EnvSymSize, heap),
		fmt.Sprintf("%s=%d", config.EnvDevSymSize, c.DeviceHeapFor()))
	code, err := launcher.Run(ctx, launcher.Options{
		N: n, Program: self[0], Args: append(slices.Clone(self[1:]), args...),
		Stdout: &out, Stderr: stderr, Env: env, Bind: bind,
	})
	if err != nil || code != 0 {
		return nil, fmt.Errorf("gshmem run on %d PEs failed (exit %d): %v\n%s", n, code, err, out.String())
	}
	return ParseResults(&out, ImplGshmem, n)
}

// runSrun runs the gshmem benchmarks c on n PEs that are the tasks of
// `srun srunArgs -n n`, each a worker started with self and the flags
// args: under -N 2 the PEs of different nodes reach each other over
// libfabric. Only PE 0 prints results.
func runSrun(ctx context.Context, c Config, n int, withAM bool, stderr io.Writer, srunArgs, self, args []string) ([]Result, error) {
	if _, err := exec.LookPath("srun"); err != nil {
		return nil, fmt.Errorf("-srun: %w", err)
	}
	heap := c.HeapFor(n)
	if withAM {
		heap = max(heap, AMHeap(n))
	}
	env := []string{fmt.Sprintf("%s=%d", config.EnvSymSize, heap), fmt.Sprintf("%s=%d", config.EnvDevSymSize, c.DeviceHeapFor())}
	argv := append(slices.Clone(srunArgs), "-n", strconv.Itoa(n))
	argv = append(argv, self...)
	argv = append(argv, args...)
	out, err := runJob(ctx, stderr, "", env, "srun", argv...)
	if err != nil {
		return nil, fmt.Errorf("gshmem run on %d PEs under srun failed: %w\n%s", n, err, out)
	}
	return ParseResults(bytes.NewReader(out), ImplGshmem, n)
}

// runInproc runs the gshmem benchmarks c, and the AM ops amOps, on n
// goroutine PEs of this process (-inproc), with the rest of the
// configuration from the environment as a worker reads it. The results come
// back through their RESULT lines, as a worker's do.
func runInproc(ctx context.Context, c Config, n int, amOps []string) ([]Result, error) {
	cfg, err := gshmem.LoadConfig(nil)
	if err != nil {
		return nil, err
	}
	cfg.NPEs, cfg.Transport = n, gshmem.TransportInproc
	cfg.HeapSize, cfg.DeviceHeapSize = c.HeapFor(n), c.DeviceHeapFor()
	if len(amOps) > 0 {
		cfg.HeapSize = max(cfg.HeapSize, AMHeap(n))
	}
	var out bytes.Buffer // PE 0's lines: the other PEs return none
	err = gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *gshmem.PE) error {
		rs, err := Measure(ctx, pe, c)
		if err == nil && len(amOps) > 0 {
			var ars []Result
			ars, err = MeasureAM(ctx, pe, c, amOps)
			rs = append(rs, ars...)
		}
		if pe.MyPE() == 0 {
			for _, r := range rs {
				fmt.Fprintln(&out, r.Line())
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gshmem run on %d in-process PEs failed: %w", n, err)
	}
	return ParseResults(&out, ImplGshmem, n)
}

// phase is one part of a round: ops measured by gshmem and its peers
// back to back.
type phase struct {
	name  string
	ops   []string // Config.Ops
	amOps []string // gshmem's AM ops (MeasureAM)
}

// phases splits a round's ops in two: the latency ops (neither
// [IsBandwidth] nor [IsRate]: a few seconds in all), then the rest and the
// AM ops. Each phase runs gshmem, its C interface and Open MPI in turn,
// so a latency row of gshmem and the same row of a peer are measured
// seconds apart rather than a whole job's sweep of message sizes apart.
// Empty phases are left out.
func phases(ops, amOps []string) []phase {
	lat := slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return IsBandwidth(op) || IsRate(op) })
	rest := slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return slices.Contains(lat, op) })
	var ps []phase
	if len(lat) > 0 {
		ps = append(ps, phase{name: "latency", ops: lat})
	}
	if len(rest) > 0 || len(amOps) > 0 {
		ps = append(ps, phase{name: "bandwidth", ops: rest, amOps: amOps})
	}
	return ps
}

// runRound runs round number round of Main for n PEs: for each of the
// round's phases, gshmem, its C interface and its peers, in that order in
// even rounds and in the reverse order in odd ones, so that neither side
// always runs first (and, in the first round of a cross-node run, raw
// libfabric once). It returns gshmem's results, the others', and false
// when a gshmem run failed. work is the directory the peer programs are
// built in, once (built).
func runRound(ctx context.Context, f *flags, c Config, n int, amOps []string, round int, first bool, work string, built builds,
	stderr io.Writer, self []string) (ours, peers []Result, ok bool) {
	ok = true
	for _, ph := range phases(c.Ops, amOps) {
		pc := c
		pc.Ops = ph.ops
		steps := []func(){
			func() {
				o, err := runGshmemPhase(ctx, f, pc, n, ph, stderr, self)
				for _, r := range o {
					if r.Impl == ImplGshmem {
						ours = append(ours, r)
					} else { // a reference measured in the same run: a column of its own
						peers = append(peers, r)
					}
				}
				if err != nil {
					fmt.Fprintln(stderr, "gpurun bench:", err)
					ok = false
				}
			},
			func() { peers = append(peers, runCPhase(ctx, f, pc, n, ph.name, work, built, stderr)...) },
			func() { peers = append(peers, runPeersPhase(ctx, f, pc, n, ph.name, work, built, stderr)...) },
		}
		if round%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			step()
		}
	}
	if *f.srun != "" && *f.peers && first {
		// The transport's own limit, between two processes: once.
		fmt.Fprintf(stderr, "gpurun bench: raw libfabric (C) between 2 processes...\n")
		rs, err := RawOFI(ctx, PeerConfig{Ops: c.Ops, Sizes: c.Sizes, Target: c.Target, Reps: c.Reps}, os.Getenv("GSHMEM_OFI_PROVIDER"))
		peers = append(peers, rs...)
		switch {
		case errors.Is(err, ErrNoLibfabric):
			fmt.Fprintln(stderr, "gpurun bench: no raw libfabric column:", err)
		case err != nil:
			fmt.Fprintln(stderr, "gpurun bench: raw libfabric:", err)
		}
	}
	return ours, peers, ok
}

// runGshmemPhase measures gshmem on n PEs for one phase: c.Ops and
// ph.amOps, in the mode the flags choose.
func runGshmemPhase(ctx context.Context, f *flags, c Config, n int, ph phase, stderr io.Writer, self []string) ([]Result, error) {
	args := f.argsWithOps(append(slices.Clone(ph.ops), ph.amOps...))
	switch {
	case *f.srun != "":
		fmt.Fprintf(stderr, "gpurun bench: gshmem on %d PEs (srun %s), %s...\n", n, *f.srun, ph.name)
		return runSrun(ctx, c, n, len(ph.amOps) > 0, stderr, strings.Fields(*f.srun), self, args)
	case *f.inproc:
		fmt.Fprintf(stderr, "gpurun bench: gshmem on %d PEs (in-process), %s...\n", n, ph.name)
		return runInproc(ctx, c, n, ph.amOps)
	default:
		fmt.Fprintf(stderr, "gpurun bench: gshmem on %d PEs (shm), %s...\n", n, ph.name)
		return runGshmem(ctx, c, n, len(ph.amOps) > 0, *f.bind, stderr, self, args)
	}
}

// runCPhase measures gshmem's C interface (-c) on n PEs for c.Ops,
// reporting a failure on stderr.
func runCPhase(ctx context.Context, f *flags, c Config, n int, name, work string, built builds, stderr io.Writer) []Result {
	if !*f.cabi || *f.srun != "" || *f.inproc || len(PeerOps(c.Ops)) == 0 {
		return nil
	}
	fmt.Fprintf(stderr, "gpurun bench: gshmem's C interface on %d PEs (shm), %s...\n", n, name)
	rs, err := CABI(ctx, PeerConfig{WorkDir: work, built: built, PEs: n, Ops: PeerOps(c.Ops), Sizes: c.Sizes, CollSizes: c.CollSizes,
		Target: c.Target, Reps: c.Reps, Histo: c.Histo, IGather: c.IGather, Randperm: c.Randperm}, *f.bind)
	switch {
	case errors.Is(err, ErrNoSource), errors.Is(err, cbuild.ErrNoCC):
		fmt.Fprintln(stderr, "gpurun bench: no C interface column:", err)
	case err != nil:
		fmt.Fprintln(stderr, "gpurun bench: C interface:", err)
	}
	return rs
}

// runPeersPhase measures Open MPI (-peers) on n PEs for c.Ops, reporting
// a failure on stderr.
func runPeersPhase(ctx context.Context, f *flags, c Config, n int, name, work string, built builds, stderr io.Writer) []Result {
	pops := PeerOps(c.Ops)
	if !*f.peers || len(pops) == 0 {
		return nil
	}
	over := ""
	if *f.srun != "" {
		over = " (over TCP)"
	}
	fmt.Fprintf(stderr, "gpurun bench: Open MPI on %d PEs%s, %s...\n", n, over, name)
	rs, err := Peers(ctx, PeerConfig{WorkDir: work, built: built, PEs: n, Ops: pops, Sizes: c.Sizes, CollSizes: c.CollSizes,
		Target: c.Target, Reps: c.Reps, Histo: c.Histo, IGather: c.IGather, Randperm: c.Randperm, TCP: *f.srun != ""})
	switch {
	case errors.Is(err, ErrNoPeer):
		fmt.Fprintln(stderr, "gpurun bench: no Open MPI (oshcc/oshrun): peer columns left out")
	case err != nil:
		fmt.Fprintln(stderr, "gpurun bench: peers:", err)
	}
	return rs
}

// Worker is the PE side of Main: run in each process of the job, it
// measures and prints PE 0's results as RESULT lines on stdout.
func Worker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newFlags("gpurun bench-worker", stderr)
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	c, amOps, err := f.configAM()
	if err != nil {
		fmt.Fprintln(stderr, "bench worker:", err)
		return 2
	}
	cfg, err := gshmem.LoadConfig(nil)
	if err != nil {
		fmt.Fprintln(stderr, "bench worker:", err)
		return 2
	}
	err = gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *gshmem.PE) error {
		rs, err := Measure(ctx, pe, c)
		if err == nil && len(amOps) > 0 {
			var ars []Result
			ars, err = MeasureAM(ctx, pe, c, amOps)
			rs = append(rs, ars...)
		}
		for _, r := range rs {
			fmt.Fprintln(stdout, r.Line())
		}
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "bench worker:", err)
		return 1
	}
	return 0
}
