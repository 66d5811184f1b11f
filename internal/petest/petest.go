// Package petest runs one test scenario on every PE of a job, on both
// transports: as goroutines (inproc) and as real processes over shared
// memory, started by the real launcher from the test binary itself.
//
// A test package lists its scenarios and hands them to Main from TestMain:
//
//	var scenarios = petest.Scenarios{"rma": scenarioRMA}
//	func TestMain(m *testing.M) { petest.Main(m, scenarios) }
//	func TestRMA(t *testing.T) { petest.Both(t, scenarios, "rma", 2, 3, 4) }
//
// A scenario asserts with testify through its *T (one per PE); a failed
// assertion fails that PE, and the test reports every PE's failures.
package petest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/fabric/ofi"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/slurmtest"
	"github.com/gshmem/gshmem/internal/testseam"
	"github.com/gshmem/gshmem/launcher"
)

// Scenario is the code one PE runs.
type Scenario func(t *T, pe *hostshmem.PE)

// Scenarios maps names to scenarios; child processes find theirs by name.
type Scenarios map[string]Scenario

const (
	envScenario = "GSHMEM_PETEST_SCENARIO"
	// HeapSize is the symmetric heap of every PE in scenario runs.
	HeapSize = 8 << 20
	// DeviceHeapSize is the device symmetric heap of every PE.
	DeviceHeapSize = 4 << 20
	// Timeout bounds one scenario run.
	Timeout = 90 * time.Second
)

// Main runs the tests, or, in a child process started by Shm, the scenario
// it was started for.
func Main(m *testing.M, s Scenarios) {
	if name := os.Getenv(envScenario); name != "" {
		os.Exit(child(name, s))
	}
	SweepStale()
	os.Exit(m.Run())
}

// child runs the scenarios named (a comma-separated list) one after the
// other in one job, with a barrier between two; each PE prints a line
// when it passed one (Slurm looks for them, one scenario or several).
func child(names string, s Scenarios) int {
	var fns []Scenario
	list := strings.Split(names, ",")
	for _, name := range list {
		fn, ok := s[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "petest: no scenario %q\n", name)
			return 3
		}
		fns = append(fns, fn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout*time.Duration(len(fns)))
	defer cancel()
	cfg, err := gshmem.LoadConfig(nil)
	if err == nil {
		err = gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *hostshmem.PE) error {
			for i, fn := range fns {
				if len(fns) > 1 && i > 0 {
					if err := pe.BarrierAll(ctx); err != nil {
						return fmt.Errorf("barrier before scenario %s: %w", list[i], err)
					}
				}
				if err := run(ctx, fn, pe); err != nil {
					return fmt.Errorf("scenario %s: %w", list[i], err)
				}
				fmt.Printf("PE %d of %d (%s): scenario %s passed\n", pe.MyPE(), pe.NPEs(), pe.Transport(), list[i])
			}
			return nil
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// T is what a scenario asserts with: testify's require.TestingT for one PE.
type T struct {
	ctx  context.Context
	pe   int
	mu   sync.Mutex
	errs []string
}

type failNow struct{}

// Errorf records a failure of this PE.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}

// FailNow ends this PE's scenario (the PE fails).
func (t *T) FailNow() { panic(failNow{}) }

// Helper does nothing; it lets testify skip this frame.
func (t *T) Helper() {}

// Context bounds the scenario, and ends when a PE of the job fails (it is
// the one gshmem.RunWith gives the PE); pass it to every blocking call.
func (t *T) Context() context.Context { return t.ctx }

// PE is the PE this T belongs to.
func (t *T) PE() int { return t.pe }

func run(ctx context.Context, fn Scenario, pe *hostshmem.PE) (err error) {
	t := &T{ctx: ctx, pe: pe.MyPE()}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(failNow); !ok {
				t.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}
		if len(t.errs) > 0 {
			err = errors.New(strings.Join(t.errs, "\n"))
		}
	}()
	fn(t, pe)
	return nil
}

// Inproc runs scenario name on n goroutine PEs.
func Inproc(t *testing.T, s Scenarios, name string, n int) {
	t.Helper()
	inproc(t, s, name, n, false)
}

// RMA runs scenario name on n goroutine PEs that reach each other only
// through the fabric's Put, Get and atomics (the network transports' paths).
func RMA(t *testing.T, s Scenarios, name string, n int) {
	t.Helper()
	inproc(t, s, name, n, true)
}

func inproc(t *testing.T, s Scenarios, name string, n int, rmaOnly bool) {
	t.Helper()
	fn := s[name]
	if fn == nil {
		t.Fatalf("petest: no scenario %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if rmaOnly {
		ctx = testseam.WithRMAOnly(ctx)
	}
	// Whatever the environment, with Checked, so that a use of a freed
	// object fails the scenario (process runs get it too).
	cfg := gshmem.Config{NPEs: n, HeapSize: HeapSize, DeviceHeapSize: DeviceHeapSize, Checked: true}
	err := gshmem.RunWith(ctx, cfg, func(ctx context.Context, pe *hostshmem.PE) error { return run(ctx, fn, pe) })
	if err != nil {
		t.Fatalf("scenario %s on %d inproc PEs (RMA only: %v):\n%v", name, n, rmaOnly, err)
	}
}

// Slurm runs scenarios names, one after the other, in one job of n tasks
// on nodes nodes of the Slurm cluster this machine reaches (srun -N nodes
// -n n --mpi=mpi), and requires every PE to pass every one. It skips t
// where no Slurm with that many nodes answers (slurmtest.Require). The
// PEs of different nodes reach each other through libfabric: the test
// binary must be built with -tags ofi, else the job fails, saying so.
func Slurm(t *testing.T, s Scenarios, mpi string, nodes, n int, names ...string) {
	t.Helper()
	slurmtest.Require(t, nodes)
	if nodes > 1 && !ofi.Available() {
		t.Skipf("PEs on %d nodes need libfabric: this test binary was built without it (go test -tags ofi, with libfabric's headers installed)", nodes)
	}
	for _, name := range names {
		if s[name] == nil {
			t.Fatalf("petest: no scenario %q", name)
		}
	}
	dir := ShmDir(t)
	env := []string{
		envScenario + "=" + strings.Join(names, ","), config.EnvChecked + "=1", "GSHMEM_SHM_DIR=" + dir,
		fmt.Sprintf("%s=%d", config.EnvSymSize, HeapSize), fmt.Sprintf("%s=%d", config.EnvDevSymSize, DeviceHeapSize),
		config.EnvDevice + "=cpu",
	}
	if os.Getenv("GORACE") == "" {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	args := []string{"--mpi=" + mpi, "-N", fmt.Sprint(nodes), "-n", fmt.Sprint(n), "--distribution=block"}
	r := slurmtest.Srun(t, Timeout*time.Duration(len(names)), args, env...)
	if r.Err != nil {
		t.Fatalf("scenarios %s under srun %s: %v\n%s", strings.Join(names, ","), strings.Join(args, " "), r.Err, r)
	}
	for _, name := range names {
		for pe := range n {
			re := regexp.MustCompile(fmt.Sprintf(`(?m)^PE %d of %d \([^)]*\): scenario %s passed$`, pe, n, regexp.QuoteMeta(name)))
			if !re.MatchString(r.Stdout) {
				t.Errorf("PE %d did not report that scenario %s passed\n%s", pe, name, r)
			}
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) > 0 {
		t.Errorf("petest: files left in the job's shm directory: %v", left)
	}
	t.Logf("%s", r)
}

// Result is what a process run produced.
type Result struct {
	Code    int
	Output  string // every PE's stdout and stderr, lines prefixed "PE i: "
	Elapsed time.Duration
}

// Launch runs scenario name on n processes (the test binary itself) over
// shm and returns how the job ended. The job's shm directory is a fresh one
// in /dev/shm; Launch fails the test if any file is left in it.
func Launch(t *testing.T, name string, n int, env ...string) Result {
	t.Helper()
	dir := ShmDir(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("petest: %v", err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	// On a machine with one GPU every process PE lands on it; the device
	// side refuses that layout without MPS (it is slow, not wrong), and the
	// scenarios test semantics: allow it.
	base := append(os.Environ(), envScenario+"="+name, config.EnvChecked+"=1", fmt.Sprintf("%s=%d", config.EnvSymSize, HeapSize),
		fmt.Sprintf("%s=%d", config.EnvDevSymSize, DeviceHeapSize), config.EnvSharedGPU+"=1")
	if os.Getenv("GORACE") == "" {
		// A race-enabled child otherwise sleeps 1 s at exit.
		base = append(base, "GORACE=atexit_sleep_ms=0")
	}
	t0 := time.Now()
	code, err := launcher.Run(ctx, launcher.Options{
		N: n, Program: exe, Args: []string{"-test.run=^$"}, Prefix: true,
		Stdout: &out, Stderr: &out, Env: append(base, env...), ShmDir: dir, KillGrace: time.Second,
	})
	r := Result{Code: code, Output: out.String(), Elapsed: time.Since(t0)}
	if err != nil {
		t.Fatalf("petest: launch %s on %d PEs: %v\n%s", name, n, err, r.Output)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) > 0 {
		t.Errorf("petest: files left in the job's shm directory: %v", left)
	}
	return r
}

// Shm runs scenario name on n processes and requires every PE to pass.
func Shm(t *testing.T, name string, n int) {
	t.Helper()
	r := Launch(t, name, n)
	if r.Code != 0 {
		t.Fatalf("scenario %s on %d shm PEs: exit %d\n%s", name, n, r.Code, r.Output)
	}
}

// Both runs scenario name on inproc and on shm with each PE count in ns,
// and RMA-only inproc with the last count, as subtests. Under -short the
// shm runs use only the first count.
func Both(t *testing.T, s Scenarios, name string, ns ...int) {
	t.Helper()
	for _, n := range ns {
		t.Run(fmt.Sprintf("inproc/%d", n), func(t *testing.T) { Inproc(t, s, name, n) })
	}
	t.Run(fmt.Sprintf("rma/%d", ns[len(ns)-1]), func(t *testing.T) { RMA(t, s, name, ns[len(ns)-1]) })
	for i, n := range ns {
		if testing.Short() && i > 0 {
			break
		}
		t.Run(fmt.Sprintf("shm/%d", n), func(t *testing.T) { Shm(t, name, n) })
	}
}
