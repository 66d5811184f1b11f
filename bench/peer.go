package bench

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed peer/common.h peer/shmem_bench.c peer/mpi_bench.c peer/ofi_bench.c
var peerSources embed.FS

// ErrNoPeer is returned (wrapped) by [Peers] when Open MPI's OpenSHMEM
// compiler wrapper or launcher (oshcc, oshrun) is not in PATH. Callers
// test it with errors.Is and print the table without peer columns.
var ErrNoPeer = errors.New("bench: no peer: Open MPI OpenSHMEM (oshcc, oshrun) not found")

// PeerConfig says what [Peers] measures and where. The zero value measures
// every op on 2 PEs at [Sizes] in a temporary directory.
type PeerConfig struct {
	// WorkDir receives the peer sources and binaries. Empty means a fresh
	// temporary directory, removed before Peers returns; a caller's
	// directory is left in place.
	WorkDir string
	// PEs is the number of PEs (ranks) per job: 2 or more, default 2. More
	// PEs than cores is allowed (oshrun --oversubscribe) but then spinning
	// waits share cores and collectives slow down by orders of magnitude.
	PEs int
	// Ops restricts the run to these Op constants; nil means all of them.
	Ops []string
	// Sizes are the bytes per message of OpPutBW, OpBcastBW and
	// OpAllreduce; nil means [Sizes]. At most 64 sizes; see [OpSizes] for
	// which each op runs.
	Sizes []int
	// CollSizes are the bytes per PE block of OpFCollect and OpAlltoall;
	// nil means [CollSizes]. At most 64 sizes.
	CollSizes []int
	// Target is how long one timed loop should take (a warm-up of about a
	// quarter of it comes first); default 30ms. Small values make a quick,
	// noisy run for tests. A measurement takes about (Reps + 1/4) * Target,
	// or longer where MinIters iterations take longer.
	Target time.Duration
	// MinIters and MaxIters bound the timed iterations of one measurement;
	// defaults 5 and 10,000,000.
	MinIters, MaxIters int
	// Reps is how many times each timed loop runs; the fastest counts.
	// Default 3: on a small shared machine one loop is often slowed by
	// someone else's work.
	Reps int
	// Log, if not nil, receives each command line before it runs and the
	// programs' stderr as they write it, from one goroutine at a time (not
	// always the caller's) and never after Peers returns.
	Log io.Writer
	// Histo, IGather and Randperm size the bale kernels (OpHisto,
	// OpIGather, OpRandperm) as [Config]'s fields do; zero fields take the
	// same defaults (see [KernelSize]). Each field is at most 1<<30.
	Histo, IGather, Randperm KernelSize
	// TCP forces the peers onto TCP between their processes, even on one
	// node: MPI through the ob1 PML and the tcp BTL, OpenSHMEM through
	// UCX's tcp transport, both on the loopback interface. It is the
	// comparison for gshmem's PEs on different nodes (`gpurun bench
	// -srun`), whose network is libfabric's tcp provider.
	TCP bool

	// built, when not nil, remembers the programs built in WorkDir, so
	// that Main's rounds and phases build each one once (see [builds]).
	built builds
}

// builds maps the path of a program built by Peers or CABI to the
// outcome of building it. Main shares one across its rounds and phases,
// in one WorkDir it owns: compiling between a measurement of gshmem and
// the same measurement of a peer would widen the time between them, and
// the host's state moves on the scale of seconds (BENCHMARKS.md, issue
// 16). Used from one goroutine at a time.
type builds map[string]error

// do runs build unless b already holds path's outcome, and returns the
// outcome; a nil b builds every time.
func (b builds) do(path string, build func() error) error {
	if b == nil {
		return build()
	}
	if err, ok := b[path]; ok {
		return err
	}
	err := build()
	b[path] = err
	return err
}

// shmemOps and mpiOps are the ops each peer program knows, in its order.
var (
	shmemOps = []string{OpPut, OpP, OpGet, OpG, OpFetchAdd, OpBarrier, OpSync, OpBcast, OpReduce, OpPutBW,
		OpBcastBW, OpAllreduce, OpFCollect, OpAlltoall, OpHisto, OpIGather, OpRandperm}
	mpiOps = []string{OpBarrier, OpBcast, OpReduce, OpBcastBW, OpAllreduce, OpFCollect, OpAlltoall}
)

// PeerOps returns the ops of ops that some peer program measures.
func PeerOps(ops []string) []string {
	return slices.DeleteFunc(slices.Clone(ops), func(op string) bool {
		return !slices.Contains(shmemOps, op) && !slices.Contains(mpiOps, op)
	})
}

// Peers compiles the embedded peer programs with oshcc and mpicc, runs them
// on cfg.PEs PEs with oshrun and mpirun (one job each, one after the
// other), and returns their results: Impl [ImplShmem] for every op but
// memmove; [ImplMPI] for barrier, bcast, reduce, bcastbw, allreduce,
// fcollect and alltoall (MPI_Barrier, MPI_Bcast, MPI_Allreduce,
// MPI_Allgather, MPI_Alltoall). Without oshcc or oshrun it returns an error
// wrapping [ErrNoPeer]; without mpicc or mpirun it returns the OpenSHMEM
// results alone.
//
// Cancelling ctx stops the running job: oshrun/mpirun gets SIGTERM (Open
// MPI then takes about 3 s to stop its ranks), and whatever is left of the
// job a few seconds later is killed, including its shared-memory files.
// Peers never leaves a process of its own running. A failing program's
// error carries the end of its stderr. On error the results measured
// before the failure are returned with it.
func Peers(ctx context.Context, cfg PeerConfig) ([]Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tools := map[string]string{}
	for _, name := range []string{"oshcc", "oshrun", "mpicc", "mpirun"} {
		if p, err := exec.LookPath(name); err == nil {
			tools[name] = p
		} else if name == "oshcc" || name == "oshrun" {
			return nil, fmt.Errorf("%w: %v", ErrNoPeer, err)
		}
	}
	work, cleanup, err := cfg.sources()
	if err != nil {
		return nil, err
	}
	defer cleanup()

	var out []Result
	jobs := []struct {
		impl, cc, run, src string
		known              []string
	}{
		{ImplShmem, "oshcc", "oshrun", "shmem_bench", shmemOps},
		{ImplMPI, "mpicc", "mpirun", "mpi_bench", mpiOps},
	}
	for _, j := range jobs {
		ops := intersect(j.known, cfg.Ops)
		if len(ops) == 0 {
			continue
		}
		if tools[j.cc] == "" || tools[j.run] == "" {
			cfg.logf("# bench: %s or %s not found, skipping %s\n", j.cc, j.run, j.impl)
			continue
		}
		// Ops with nothing to run at (sized ops whose sizes all fail
		// OpSizes) are left out.
		ops = slices.DeleteFunc(ops, func(op string) bool { return len(OpSizes(op, cfg.Sizes, cfg.CollSizes)) == 0 })
		if len(ops) == 0 {
			continue
		}
		bin := filepath.Join(work, j.src)
		if err := cfg.built.do(bin, func() error {
			_, err := runJob(ctx, cfg.Log, work, nil, tools[j.cc], "-O2", "-o", bin, filepath.Join(work, j.src+".c"))
			return err
		}); err != nil {
			return out, fmt.Errorf("bench: compiling %s: %w", j.src, err)
		}
		args := append([]string{"--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(cfg.PEs), bin},
			cfg.programArgs(ops)...)
		// Open MPI 4.1.4 segfaults at finalize in osc_rdma; ucx works.
		env := []string{"OMPI_MCA_osc=ucx"}
		if cfg.TCP {
			env = append(env, "OMPI_MCA_pml=ob1", "OMPI_MCA_btl=tcp,self", "OMPI_MCA_btl_tcp_if_include=lo",
				"UCX_TLS=tcp,self", "UCX_NET_DEVICES=lo")
			args = append([]string{"-x", "UCX_TLS", "-x", "UCX_NET_DEVICES"}, args...)
		}
		if j.impl == ImplShmem {
			env = append(env, fmt.Sprintf("SHMEM_SYMMETRIC_HEAP_SIZE=%dM", cfg.shmemHeap()>>20))
		}
		stdout, runErr := runJob(ctx, cfg.Log, work, env, tools[j.run], args...)
		res, err := ParseResults(bytes.NewReader(stdout), j.impl, cfg.PEs)
		out = append(out, res...)
		if runErr != nil {
			return out, fmt.Errorf("bench: running %s: %w", j.src, runErr)
		}
		if err != nil {
			return out, err
		}
		if err := checkComplete(res, ops, cfg.Sizes, cfg.CollSizes); err != nil {
			return out, fmt.Errorf("bench: %s: %w", j.src, err)
		}
	}
	return out, nil
}

func (cfg PeerConfig) withDefaults() (PeerConfig, error) {
	if cfg.PEs == 0 {
		cfg.PEs = 2
	}
	if cfg.PEs < 2 {
		return cfg, fmt.Errorf("bench: PeerConfig.PEs is %d, want 2 or more", cfg.PEs)
	}
	if cfg.Ops == nil {
		cfg.Ops = slices.Clone(shmemOps)
	}
	for _, op := range cfg.Ops {
		if !slices.Contains(shmemOps, op) && !slices.Contains(mpiOps, op) {
			return cfg, fmt.Errorf("bench: PeerConfig.Ops: no peer measures %q", op)
		}
	}
	if cfg.Sizes == nil {
		cfg.Sizes = Sizes
	}
	if cfg.CollSizes == nil {
		cfg.CollSizes = CollSizes
	}
	for _, l := range []struct {
		name  string
		sizes []int
	}{{"Sizes", cfg.Sizes}, {"CollSizes", cfg.CollSizes}} {
		if len(l.sizes) > 64 {
			return cfg, fmt.Errorf("bench: PeerConfig.%s has %d sizes, at most 64", l.name, len(l.sizes))
		}
		for _, n := range l.sizes {
			if n <= 0 || n > 1<<30 {
				return cfg, fmt.Errorf("bench: PeerConfig.%s: size %d is not in 1 B .. 1 GiB", l.name, n)
			}
		}
	}
	if cfg.Target == 0 {
		cfg.Target = 30 * time.Millisecond
	}
	if cfg.MinIters == 0 {
		cfg.MinIters = 5
	}
	if cfg.MaxIters == 0 {
		cfg.MaxIters = 10_000_000
	}
	if cfg.Reps == 0 {
		cfg.Reps = 3
	}
	for _, k := range []struct {
		name string
		k    KernelSize
	}{{"Histo", cfg.Histo}, {"IGather", cfg.IGather}, {"Randperm", cfg.Randperm}} {
		if k.k.Table < 0 || k.k.Table > 1<<30 || k.k.Updates < 0 || k.k.Updates > 1<<30 {
			return cfg, fmt.Errorf("bench: PeerConfig.%s: %+v: want sizes in 1 .. 1<<30, or 0 for the default", k.name, k.k)
		}
	}
	if cfg.Target > 0 {
		cfg.Histo = cfg.Histo.withDefaults(defaultHisto, cfg.Target)
		cfg.IGather = cfg.IGather.withDefaults(defaultIGather, cfg.Target)
		cfg.Randperm = cfg.Randperm.withDefaults(defaultRandperm, cfg.Target)
	}
	if cfg.Target <= 0 || cfg.MinIters < 1 || cfg.MaxIters < cfg.MinIters || cfg.Reps < 1 {
		return cfg, fmt.Errorf("bench: PeerConfig: bad Target %v, Reps %d or iteration bounds [%d, %d]",
			cfg.Target, cfg.Reps, cfg.MinIters, cfg.MaxIters)
	}
	return cfg, nil
}

// programArgs are the arguments of the peer programs (shmem_bench.c,
// mpi_bench.c) that measure ops as cfg says.
func (cfg PeerConfig) programArgs(ops []string) []string {
	return []string{"-o", strings.Join(ops, ","), "-t", strconv.FormatInt(cfg.Target.Nanoseconds(), 10),
		"-n", strconv.Itoa(cfg.MinIters), "-m", strconv.Itoa(cfg.MaxIters), "-r", strconv.Itoa(cfg.Reps),
		"-s", joinInts(cfg.Sizes), "-c", joinInts(cfg.CollSizes),
		"-histo", joinInts([]int{cfg.Histo.Table, cfg.Histo.Updates}),
		"-igather", joinInts([]int{cfg.IGather.Table, cfg.IGather.Updates}),
		"-randperm", joinInts([]int{cfg.Randperm.Table, cfg.Randperm.Updates})}
}

// shmemHeap is the symmetric heap shmem_bench.c needs: room for src and
// dst (each the largest message or PEs blocks of the largest
// fcollect/alltoall block), the allreduce's pWrk (half the largest
// message) and the largest kernel table, plus 64 MiB, in whole MiB.
func (cfg PeerConfig) shmemHeap() int {
	maxSize := slices.Max(append([]int{8}, cfg.Sizes...))
	buf := max(maxSize, cfg.PEs*slices.Max(append([]int{0}, cfg.CollSizes...)))
	tables := 8 * max(cfg.Histo.Table, cfg.IGather.Table, cfg.Randperm.Table)
	return ((2*buf+maxSize/2+tables)>>20 + 64) << 20
}

func (cfg PeerConfig) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format, args...)
	}
}

// sources returns the directory to build the peer programs in, with
// their sources written there: cfg.WorkDir, or a fresh temporary
// directory that cleanup removes.
func (cfg PeerConfig) sources() (dir string, cleanup func(), err error) {
	dir, cleanup = cfg.WorkDir, func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gshmem-bench-"); err != nil {
			return "", nil, fmt.Errorf("bench: %w", err)
		}
		cleanup = func() { os.RemoveAll(dir) }
	}
	if err := writeSources(dir); err != nil {
		cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

func writeSources(dir string) error {
	ents, err := peerSources.ReadDir("peer")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, e := range ents {
		b, err := peerSources.ReadFile("peer/" + e.Name())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("bench: writing peer sources: %w", err)
		}
	}
	return nil
}

// intersect returns the ops in known that are also in want, in known's order.
func intersect(known, want []string) []string {
	var out []string
	for _, op := range known {
		if slices.Contains(want, op) {
			out = append(out, op)
		}
	}
	return out
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// checkComplete reports an error unless res holds every expected
// measurement: each op once at each of its [OpSizes].
func checkComplete(res []Result, ops []string, sizes, csizes []int) error {
	type key struct {
		op    string
		bytes int
	}
	got := map[key]bool{}
	for _, r := range res {
		got[key{r.Op, r.Bytes}] = true
	}
	var missing []string
	for _, op := range ops {
		for _, b := range OpSizes(op, sizes, csizes) {
			if !got[key{op, b}] {
				missing = append(missing, fmt.Sprintf("%s/%d", op, b))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no result for %s", strings.Join(missing, ", "))
	}
	return nil
}

// stopGrace is how long a cancelled job gets to stop after SIGTERM before
// what is left of it is killed (Open MPI's launchers take about 3 s), and
// how long output is awaited from processes that escaped its session. A
// variable for tests.
var stopGrace = 5 * time.Second

// runJob runs name with args in dir, with env added to this process's
// environment, and returns its stdout.
//
// The command leads a new session, so that everything it starts can be
// found again: Open MPI puts each rank in a process group of its own, but
// all of them stay in the launcher's session. On ctx cancellation the
// command gets SIGTERM (oshrun and mpirun then stop their ranks and clean
// up); if it is still running stopGrace later, its whole session is killed
// (see killSession). As soon as it has exited, anything left in its session
// is killed too, so runJob never waits on a straggler holding its output
// open. Errors carry the end of stderr, which also goes to log if not nil.
func runJob(ctx context.Context, log io.Writer, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = newSessionAttr()
	exited := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	cmd.Cancel = func() error {
		wg.Go(func() {
			// Until Wait returns the launcher is not reaped, so its pid
			// still names this job's session.
			select {
			case <-time.After(stopGrace):
				killSession(cmd.Process.Pid)
			case <-exited:
			}
		})
		return cmd.Process.Signal(syscall.SIGTERM)
	}
	cmd.WaitDelay = 2 * stopGrace // backstop for the Cancel above

	// Output goes through pipes of our own rather than exec's, so that Wait
	// returns when the launcher exits, whoever else holds the pipes.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	defer outR.Close()
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	var stdout bytes.Buffer
	stderr := &tail{max: 4096}
	var errDst io.Writer = stderr
	if log != nil {
		fmt.Fprintf(log, "$ %s\n", strings.Join(append(slices.Clone(env), cmd.Args...), " "))
		errDst = io.MultiWriter(stderr, log)
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return nil, err
	}
	copied := make(chan struct{})
	go func() {
		var cw sync.WaitGroup
		cw.Go(func() { io.Copy(&stdout, outR) })
		cw.Go(func() { io.Copy(errDst, errR) })
		cw.Wait()
		close(copied)
	}()

	err = cmd.Wait()
	close(exited)
	killSession(cmd.Process.Pid)
	if ps := cmd.ProcessState; ps != nil && !ps.Exited() {
		removeLauncherDir(cmd.Process.Pid) // killed: it could not clean up
	}
	select {
	case <-copied:
	case <-time.After(stopGrace):
		// Something outside the session holds the pipes: stop reading.
		outR.Close()
		errR.Close()
		<-copied
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w; stderr ends:\n%s", err, s)
		} else if s := strings.TrimSpace(stdout.String()); s != "" {
			err = fmt.Errorf("%w; no stderr, stdout:\n%s", err, s)
		}
	}
	return stdout.Bytes(), err
}

// tail is an io.Writer that keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
