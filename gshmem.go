// Package gshmem starts and joins gshmem jobs. The same program runs three
// ways without a change:
//
//   - go run ./prog: Run starts GSHMEM_NPES PEs (default 4) as goroutines of
//     this process, each with its own symmetric heap (fabric/inproc);
//   - gpurun -n N ./prog: N processes on this node, one PE each, over
//     shared memory (fabric/shm); Run in each process joins the job;
//   - under a resource manager's launcher (srun), through the same
//     environment seam (see internal/config).
//
// The OpenSHMEM API itself (allocation, put/get, atomics, waits, barriers)
// is in package hostshmem; PE is its type.
package gshmem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/fabric/shm"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
)

// PE is one processing element; see hostshmem.PE.
type PE = hostshmem.PE

// Options override the environment for RunWith. Zero fields take the
// environment's value (or its default).
type Options struct {
	// NPEs is the number of in-process PEs (GSHMEM_NPES). It is ignored
	// when the process was started as one PE of a job (by gpurun).
	NPEs int
	// HeapSize is the symmetric heap per PE in bytes
	// (GSHMEM_SYMMETRIC_SIZE).
	HeapSize uintptr
	// DeviceHeapSize is the device symmetric heap per PE in bytes
	// (GSHMEM_DEVICE_SYMMETRIC_SIZE).
	DeviceHeapSize uintptr
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// RMAOnly makes in-process PEs reach each other only through the
	// fabric's Put, Get and atomics, never by loads and stores, the way
	// they will over a network transport: for testing those paths.
	RMAOnly bool
}

// Run runs fn once on every PE of the job and returns when all are done:
// on GSHMEM_NPES goroutine PEs in this process, or, when gpurun started
// this process, on its one PE. After fn returns nil, Run finalizes the PE
// (a barrier with every other PE). If fn returns an error or panics on some
// PE, that PE leaves the job: peers waiting on it fail with an error naming
// it, and Run returns the errors, each naming its PE. A job that cannot
// start (more PEs than hostshmem.MaxPEs; in-process, more than the memory available
// holds) fails at once with an error matching ErrJobTooLarge.
func Run(fn func(pe *PE) error) error {
	return RunWith(context.Background(), Options{}, fn)
}

// RunWith is Run with a context (bounding start-up and the closing
// barrier) and explicit options.
func RunWith(ctx context.Context, o Options, fn func(pe *PE) error) error {
	cfg, err := loadConfig(o)
	if err != nil {
		return err
	}
	plan, err := choose(cfg, true)
	if err != nil {
		return err
	}
	if cfg.Transport == config.TransportShm {
		pe, err := join(ctx, cfg, plan)
		if err != nil {
			return err
		}
		if err := call(fn, pe); err != nil {
			pe.Abort()
			return fmt.Errorf("PE %d: %w", pe.MyPE(), err)
		}
		return pe.Finalize(ctx)
	}
	what := fmt.Sprintf("%s=%d", config.EnvNPES, cfg.NPES)
	if o.NPEs > 0 {
		what = fmt.Sprintf("Options.NPEs=%d", o.NPEs)
	}
	if err := checkInproc(cfg.NPES, what); err != nil {
		return err
	}
	return runInproc(ctx, cfg, plan, o.RMAOnly, fn)
}

func loadConfig(o Options) (config.Config, error) {
	cfg, err := config.Load(o.Getenv)
	if err != nil {
		return cfg, err
	}
	if o.NPEs > 0 && cfg.Transport == config.TransportInproc {
		cfg.NPES = o.NPEs
	}
	if o.HeapSize > 0 {
		cfg.SymSize = o.HeapSize
	}
	if o.DeviceHeapSize > 0 {
		cfg.DevSymSize = o.DeviceHeapSize
	}
	cfg.SymSize = (cfg.SymSize + 63) &^ 63
	cfg.DevSymSize = (cfg.DevSymSize + 63) &^ 63
	return cfg, nil
}

func runInproc(ctx context.Context, cfg config.Config, plan *device.Plan, rmaOnly bool, fn func(pe *PE) error) error {
	job, err := inproc.New(cfg.NPES, regionSize(cfg, plan))
	if err != nil {
		return err
	}
	if rmaOnly {
		job.RMAOnly()
	}
	errs := make([]error, cfg.NPES)
	var wg sync.WaitGroup
	for i := 0; i < cfg.NPES; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pe, err := newPE(ctx, job.Fabric(i), cfg, plan, i)
			if err != nil {
				errs[i] = fmt.Errorf("PE %d: %w", i, err)
				return
			}
			if err := call(fn, pe); err != nil {
				job.Fail(i, "failed: "+err.Error())
				pe.Abort()
				errs[i] = fmt.Errorf("PE %d: %w", i, err)
				return
			}
			if err := pe.Finalize(ctx); err != nil {
				errs[i] = fmt.Errorf("PE %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// choose places the device heaps: on GPUs when a CUDA driver and a device
// are present, else on the CPU fallback, which it says once per process
// (unless GSHMEM_DEVICE=cpu asked for it, or announce is false).
func choose(c config.Config, announce bool) (*device.Plan, error) {
	plan, err := device.Choose(c)
	if err != nil {
		return nil, fmt.Errorf("gshmem: %w", err)
	}
	if announce && !plan.GPU() && c.Device != config.DeviceCPU && c.PE <= 0 {
		fallbackNotice.Do(func() {
			fmt.Fprintf(os.Stderr, "gshmem: device heap and streams on the CPU fallback: %s\n", plan.Reason())
		})
	}
	return plan, nil
}

// fallbackNotice says once per process (not once per Run) that the device
// side runs on the CPU fallback: the one piece of process-wide state here,
// as the driver it reports on is process-wide too.
var fallbackNotice sync.Once

// newPE makes the PE of fabric f and, on a GPU, gives it its device heap
// (collective: every PE of the job does it at start-up). On failure it
// closes f, so peers waiting on this PE fail instead of hanging.
func newPE(ctx context.Context, f fabric.Fabric, c config.Config, plan *device.Plan, localRank int) (*PE, error) {
	pe, err := hostshmem.New(f, hostshmem.Config{CollPushMax: c.CollPushMax, Checked: c.Checked, DeviceHeap: c.DevSymSize, DeviceExternal: plan.GPU()})
	if err != nil {
		f.Close(false)
		return nil, err
	}
	if plan.GPU() {
		if err := device.Attach(ctx, pe, plan, localRank); err != nil {
			pe.Abort()
			return nil, err
		}
	}
	return pe, nil
}

// regionSize is the symmetric region of one PE: the reserved area and the
// host heap, then, on the CPU fallback, the device heap.
func regionSize(c config.Config, plan *device.Plan) uintptr {
	if plan.GPU() {
		return hostshmem.RegionSize(c.SymSize)
	}
	return hostshmem.RegionSize(c.SymSize) + c.DevSymSize
}

// call runs fn, turning a panic into an error with its stack.
func call(fn func(pe *PE) error, pe *PE) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(pe)
}

// Init joins the job this process was started in as one PE, for programs
// that manage their PE themselves (call Finalize at the end). Started by
// gpurun, it connects to the peers over shared memory; started alone, it
// returns the only PE of a one-PE job.
func Init(ctx context.Context) (*PE, error) {
	cfg, err := loadConfig(Options{})
	if err != nil {
		return nil, err
	}
	plan, err := choose(cfg, true)
	if err != nil {
		return nil, err
	}
	if cfg.Transport == config.TransportShm {
		return join(ctx, cfg, plan)
	}
	job, err := inproc.New(1, regionSize(cfg, plan))
	if err != nil {
		return nil, err
	}
	return newPE(ctx, job.Fabric(0), cfg, plan, 0)
}

// Finalize finalizes pe (see hostshmem.PE.Finalize).
func Finalize(ctx context.Context, pe *PE) error { return pe.Finalize(ctx) }

func join(ctx context.Context, cfg config.Config, plan *device.Plan) (*PE, error) {
	if err := checkNPEs(cfg.NPES, fmt.Sprintf("%s=%d", config.EnvNPES, cfg.NPES)); err != nil {
		return nil, err
	}
	f, err := shm.Open(ctx, shm.Options{
		Job: cfg.Job, PE: cfg.PE, NPEs: cfg.NPES, Size: regionSize(cfg, plan),
		Dir: cfg.ShmDir, Prefault: cfg.Prefault, BootTimeout: cfg.BootTimeout, LocalSize: cfg.LocalSize,
		SegmentFD: cfg.SegmentFD,
	})
	if err != nil {
		return nil, err
	}
	rank := cfg.LocalRank
	if rank < 0 {
		rank = cfg.PE
	}
	return newPE(ctx, f, cfg, plan, rank)
}
