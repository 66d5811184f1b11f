// Package gshmem starts and joins gshmem jobs. The same program runs three
// ways without a change:
//
//   - go run ./prog: Run starts GSHMEM_NPES PEs (default 4) as goroutines of
//     this process, each with its own symmetric heap (fabric/inproc);
//   - gpurun -n N ./prog: N processes on this node, one PE each, over
//     shared memory (fabric/shm); Run in each process joins the job;
//   - srun --mpi=pmi2 -n N ./prog: N Slurm tasks, one PE each, PE
//     numbers their PMI ranks; the tasks meet through PMI-2 and, on one
//     node, run over shared memory (fabric/shm). Tasks on several nodes
//     fail with ErrOffNode (no network transport yet); a step of several
//     tasks without PMI (srun --mpi=none) fails with an error saying to
//     use --mpi=pmi2.
//
// # Life cycle
//
//	err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error {
//		// ... the PE's program, passing ctx to every blocking call
//		return nil
//	})
//
// Step by step:
//
//  1. Configuration: Run and Init read every GSHMEM_* variable once, at
//     start, into a Config (LoadConfig); nothing below them reads the
//     environment. RunWith takes a Config from its caller: Config{NPEs: 2}
//     is two goroutine PEs with the defaults, whatever the environment.
//  2. Run calls your function on every PE with a context and the PE. The
//     context ends when any PE of the job fails (its function returns
//     an error or panics, it aborts, or its process dies) or the job is
//     stopped; context.Cause says which PE and how. Pass it to every
//     blocking call, so that one PE's failure stops the others instead of
//     leaving them waiting for it.
//  3. A PE owns what is made on it (hostshmem.PE.Own): streams, AM Worlds,
//     CUDA modules. When your function returns nil, Run finalizes the PE:
//     whatever you left open is drained, the PEs meet at a barrier, and it
//     is closed, last made first, before any memory is released. When your
//     function fails, the PE aborts: what it owns is closed at once and its
//     peers' waits on it fail with an error naming it.
//  4. pe.GlobalExit(status) ends the whole job with status (OpenSHMEM's
//     shmem_global_exit): under gpurun every PE's process ends with it and
//     gpurun exits with it; in-process every other PE's context ends and
//     RunWith returns an *ExitError carrying it.
//
// Programs that manage their PE themselves call Init and Finalize instead
// of Run. The OpenSHMEM API itself (allocation, put/get, atomics, waits,
// barriers) is in package hostshmem; PE is its type.
package gshmem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	"github.com/gshmem/gshmem/fabric/shm"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/affinity"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/internal/testseam"
)

// PE is one processing element; see hostshmem.PE.
type PE = hostshmem.PE

// Run runs fn once on every PE of the job and returns when all are done:
// on goroutine PEs in this process, or, when gpurun started this process,
// on its one PE. It reads the configuration from the environment once
// (LoadConfig) and is RunWith with context.Background().
func Run(fn func(ctx context.Context, pe *PE) error) error {
	cfg, err := LoadConfig(nil)
	if err != nil {
		return err
	}
	return RunWith(context.Background(), cfg, fn)
}

// RunWith runs fn once on every PE of the job that cfg describes and
// returns when all are done: on cfg.NPEs goroutine PEs in this process
// (TransportInproc), or on this process's one PE of a job that gpurun
// started (TransportShm; LoadConfig reads what gpurun set).
//
// fn gets a context derived from ctx that is cancelled when any PE of the
// job fails: its fn returns an error or panics, it aborts, or its process
// dies; context.Cause then says which PE and how (a *fabric.PeerError, or
// the PE's own abort). Pass it to every blocking call, so that the PEs
// still running stop instead of waiting for the one that failed.
//
// After fn returns nil, RunWith finalizes the PE (a barrier with every
// other PE, bounded by ctx; what the PE owns and fn left open, streams and
// AM Worlds, is drained and closed then). If fn returns an error or panics
// on some PE, that PE leaves the job: peers waiting on it fail with an
// error naming it, and RunWith returns the errors, each naming its PE. A
// job that cannot start (more PEs than hostshmem.MaxPEs; in-process, more
// than the memory available holds) fails at once with an error matching
// ErrJobTooLarge; a Config that makes no sense fails with an error naming
// the field.
func RunWith(ctx context.Context, cfg Config, fn func(ctx context.Context, pe *PE) error) error {
	cfg, err := cfg.resolve()
	if err != nil {
		return err
	}
	plan, err := choose(cfg)
	if err != nil {
		return err
	}
	if cfg.Transport == TransportShm || cfg.slurm != nil {
		return runProcess(ctx, cfg, plan, fn)
	}
	if err := checkInproc(cfg.NPEs, cfg.npesFrom); err != nil {
		return err
	}
	return runInproc(ctx, cfg, plan, testseam.RMAOnly(ctx), fn)
}

// runProcess runs fn on this process's PE of a shm job.
func runProcess(ctx context.Context, cfg Config, plan *device.Plan, fn func(ctx context.Context, pe *PE) error) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pe, err := join(ctx, cfg, plan)
	if err != nil {
		return err
	}
	if err := watch(pe, cancel); err != nil {
		pe.Abort()
		return err
	}
	if err := call(runCtx, fn, pe); err != nil {
		pe.Abort() // ends the process instead if a peer called GlobalExit (see watcher.Close)
		return fmt.Errorf("PE %d: %w", pe.MyPE(), err)
	}
	if pe.Finalized() { // fn finalized it
		return nil
	}
	return pe.Finalize(ctx)
}

// runInproc runs fn on cfg.NPEs goroutine PEs. Their context is the job's:
// the first PE to fail (inproc.Job.Failed) cancels it for all.
func runInproc(ctx context.Context, cfg Config, plan *device.Plan, rmaOnly bool, fn func(ctx context.Context, pe *PE) error) error {
	job, err := inproc.New(cfg.NPEs, regionSize(cfg, plan))
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-job.Failed():
			if pe, status, ok := job.Exited(); ok {
				cancel(&ExitError{PE: pe, Status: status})
			} else {
				cancel(job.Failure())
			}
		case <-runCtx.Done():
		}
	}()
	defer func() {
		cancel(nil)
		<-watched
	}()
	errs := make([]error, cfg.NPEs)
	var wg sync.WaitGroup
	for i := 0; i < cfg.NPEs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := job.Fabric(i)
			if rmaOnly {
				f = testseam.HidePeers(f)
			}
			pe, err := newPE(ctx, f, cfg, plan, i, nil)
			if err != nil {
				errs[i] = fmt.Errorf("PE %d: %w", i, err)
				return
			}
			returned := false
			defer func() {
				if !returned { // fn ended its goroutine: GlobalExit, or runtime.Goexit
					if _, _, ok := job.Exited(); !ok {
						job.Fail(i, "failed: its function called runtime.Goexit")
						errs[i] = fmt.Errorf("PE %d: its function called runtime.Goexit", i)
					}
					pe.Abort()
				}
			}()
			err = call(runCtx, fn, pe)
			returned = true
			switch _, _, exit := job.Exited(); {
			case exit:
				pe.Abort() // the job is over: no closing barrier
			case err != nil:
				job.Fail(i, "failed: "+err.Error())
				pe.Abort()
				errs[i] = fmt.Errorf("PE %d: %w", i, err)
			case pe.Finalized(): // fn finalized it
			default:
				if err := pe.Finalize(ctx); err != nil {
					errs[i] = fmt.Errorf("PE %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	if pe, status, ok := job.Exited(); ok {
		return &ExitError{PE: pe, Status: status}
	}
	return errors.Join(errs...)
}

// watchEvery is how often a process PE looks at its peers' liveness for
// its run context (a poll(2) over their pidfds and a look at their
// headers).
const watchEvery = 10 * time.Millisecond

// watcher cancels a process PE's run context when a peer fails, and ends
// the process with the job's status when a peer called GlobalExit. The PE
// owns it (it is made first, so it stops last, before the PE's memory
// goes); when the PE aborts, the context is cancelled with the abort's
// cause.
type watcher struct {
	pe     *PE
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
}

// watch starts pe's watcher.
func watch(pe *PE, cancel context.CancelCauseFunc) error {
	w := &watcher{pe: pe, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := pe.Own(w); err != nil {
		return err
	}
	go w.run()
	return nil
}

func (w *watcher) run() {
	defer close(w.done)
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if err := w.pe.Fabric().Err(); err != nil {
			if e := exited(w.pe.Fabric()); e != nil {
				exitProcess(e.Status) // a peer ended the job: this process ends with it
			}
			// The PE's function is about to fail because of it: point
			// the peers that see this PE fail at the root cause.
			var perr *fabric.PeerError
			if c, ok := w.pe.Fabric().(interface{ RecordCause(pe int) }); ok && errors.As(err, &perr) {
				c.RecordCause(perr.PE)
			}
			w.cancel(err)
			return
		}
	}
}

func (w *watcher) Drain(context.Context) error { return nil }

// Close stops the watch. If a peer called GlobalExit (which may be why the
// PE closes: a wait or the closing barrier failed because of it), the
// process ends with its status here, before anything is released.
func (w *watcher) Close(ctx context.Context) error {
	close(w.stop)
	<-w.done
	if e := exited(w.pe.Fabric()); e != nil {
		exitProcess(e.Status)
	}
	if ctx.Err() != nil { // the PE aborts
		w.cancel(context.Cause(ctx))
	}
	return nil
}

func (w *watcher) String() string { return fmt.Sprintf("the failure watch of PE %d", w.pe.MyPE()) }

// choose places the device heaps: on GPUs when a CUDA driver and a device
// are present, else on the CPU fallback.
func choose(c Config) (*device.Plan, error) {
	plan, err := device.Choose(c.Device)
	if err != nil {
		return nil, fmt.Errorf("gshmem: %w", err)
	}
	return plan.AllowSharedGPU(c.SharedGPU), nil
}

// onDevice is what a PE does on the first use of its device side
// (hostshmem.Config.OnDevice): on the CPU fallback that nobody chose
// (GSHMEM_DEVICE=cpu chooses it quietly), say so, once per process, and
// under gpurun from PE 0 only (every process would say the same). A
// program that never uses the device side hears nothing.
func onDevice(c Config, plan *device.Plan) func() {
	if plan.GPU() || c.Device == DeviceCPU || c.Transport == TransportShm && c.PE != 0 {
		return nil
	}
	return func() {
		fallbackNotice.Do(func() {
			fmt.Fprintf(os.Stderr, "gshmem: no GPU (%s): the device heap and streams run on the CPU (%s=%s chooses this quietly)\n",
				plan.Reason(), config.EnvDevice, DeviceCPU)
		})
	}
}

// fallbackNotice says once per process (not once per Run) that the device
// side runs on the CPU fallback: the one piece of process-wide state here,
// as the driver it reports on is process-wide too.
var fallbackNotice sync.Once

// newPE makes the PE of fabric f and, on a GPU, gives it its device heap
// (collective: every PE of the job does it at start-up). On failure it
// closes f, so peers waiting on this PE fail instead of hanging.
func newPE(ctx context.Context, f fabric.Fabric, c Config, plan *device.Plan, localRank int, exit func(int)) (*PE, error) {
	pe, err := hostshmem.New(f, hostshmem.Config{
		CollPushMax: c.CollPushMax, Checked: c.Checked, Threads: c.Threads, AMSizeThreshold: c.AMSizeThreshold,
		DeviceHeap: c.DeviceHeapSize, DeviceExternal: plan.GPU(), Exit: exit,
		OnDevice: onDevice(c, plan),
	})
	if err != nil {
		f.Close(fabric.Failed)
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
func regionSize(c Config, plan *device.Plan) uintptr {
	if plan.GPU() {
		return hostshmem.RegionSize(c.HeapSize)
	}
	return hostshmem.RegionSize(c.HeapSize) + c.DeviceHeapSize
}

// call runs fn, turning a panic into an error with its stack.
func call(ctx context.Context, fn func(ctx context.Context, pe *PE) error, pe *PE) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(ctx, pe)
}

// Init joins the job this process was started in as one PE, for programs
// that manage their PE themselves (call Finalize at the end). It reads the
// configuration from the environment once (LoadConfig). Started by gpurun,
// it connects to the peers over shared memory; started alone, it returns
// the only PE of a one-PE job.
func Init(ctx context.Context) (*PE, error) {
	cfg, err := LoadConfig(nil)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.resolve(); err != nil {
		return nil, err
	}
	plan, err := choose(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Transport == TransportShm || cfg.slurm != nil {
		pe, err := join(ctx, cfg, plan)
		if err != nil {
			return nil, err
		}
		// No context to cancel: the watch is there for a peer's GlobalExit.
		if err := watch(pe, func(error) {}); err != nil {
			pe.Abort()
			return nil, err
		}
		return pe, nil
	}
	job, err := inproc.New(1, regionSize(cfg, plan))
	if err != nil {
		return nil, err
	}
	return newPE(ctx, job.Fabric(0), cfg, plan, 0, exitProcess)
}

// Finalize finalizes pe (see hostshmem.PE.Finalize).
func Finalize(ctx context.Context, pe *PE) error { return pe.Finalize(ctx) }

// join makes this process's PE of a job over shared memory: the job
// gpurun started, or, under srun, the job the step's tasks form through
// the process manager (PMI-2 or PMIx: bootSlurm).
func join(ctx context.Context, cfg Config, plan *device.Plan) (*PE, error) {
	var session *pmiSession
	switch cfg.Bootstrap {
	case BootstrapPMI2, BootstrapPMIx:
		var pm processManager
		var err error
		if cfg, pm, err = bootSlurm(ctx, cfg); err != nil {
			return nil, err
		}
		session = &pmiSession{pm: pm, pe: cfg.PE}
		if cfg.node != nil {
			pe, err := joinNodes(ctx, cfg, plan, pm)
			if err != nil {
				// Every task fails alike here (no provider, say), and
				// before any has a segment: end the step now rather than
				// leave the others in a fence until the boot timeout.
				pm.Abort(err.Error())
				return nil, err
			}
			if _, err := pe.Own(session); err != nil {
				pm.Close()
				pe.Abort()
				return nil, err
			}
			return pe, nil
		}
	}
	pe, err := joinShm(ctx, cfg, plan)
	if session == nil {
		return pe, err
	}
	if err != nil {
		session.pm.Close()
		return nil, err
	}
	if _, err := pe.Own(session); err != nil {
		session.pm.Close()
		pe.Abort()
		return nil, err
	}
	return pe, nil
}

// joinShm makes this process's PE of the shared-memory job cfg names.
func joinShm(ctx context.Context, cfg Config, plan *device.Plan) (*PE, error) {
	if err := checkNPEs(cfg.NPEs, cfg.npesFrom); err != nil {
		return nil, err
	}
	if cfg.bindCPU > 0 {
		// Before the segments are mapped and the PE's goroutines start,
		// so that its memory is first touched from its CPU.
		if err := affinity.Set([]int{cfg.bindCPU - 1}); err != nil {
			return nil, fmt.Errorf("gshmem: PE %d: %s=%d: %w", cfg.PE, config.EnvBind, cfg.bindCPU-1, err)
		}
	}
	f, err := shm.Open(ctx, shm.Options{
		Job: cfg.Job, PE: cfg.PE, NPEs: cfg.NPEs, Size: regionSize(cfg, plan),
		Dir: cfg.ShmDir, Prefault: !cfg.NoPrefault, BootTimeout: cfg.BootTimeout, LocalSize: cfg.LocalSize,
		SegmentFD: cfg.SegmentFD,
	})
	if err != nil {
		return nil, err
	}
	return newPE(ctx, f, cfg, plan, cfg.LocalRank, exitProcess)
}
