package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/kernels"
)

// The CUDA engine runs a stream's ops on a CUstream of the PE's GPU: puts
// and gets between device objects are copy-engine copies to and from the
// peers' heaps (mapped over CUDA IPC), signals, signal waits, barriers and
// collectives are the runtime's kernels (package kernels), all in stream
// order with the user's kernels (Launch). Ops on host objects, Go functions
// and event waits run on the worker goroutine, after the device work queued
// before them has completed.
type cudaEngine struct {
	pe   *hostshmem.PE
	heap *device.Heap
	cs   *cuda.Stream
	cpu  *cpuEngine
	fns  map[string]*cuda.Function
	sms  int

	inflight []*op // queued on cs since the last flush
}

func init() { newDeviceEngine = newCUDAEngine }

// newCUDAEngine makes the engine of a new stream of pe, or nil when pe
// has no GPU heap.
func newCUDAEngine(pe *hostshmem.PE, _ *config) (engine, error) {
	d := device.Of(pe)
	if d.Kind() != device.GPU {
		return nil, nil
	}
	h := d.Heap()
	cs, err := h.Context().NewStream(true)
	if err != nil {
		return nil, err
	}
	cpu, err := newCPUEngine(pe)
	if err != nil {
		cs.Destroy()
		return nil, err
	}
	return &cudaEngine{pe: pe, heap: h, cs: cs, cpu: cpu, fns: map[string]*cuda.Function{}, sms: max(1, h.Info().MultiProcessors)}, nil
}

func (e *cudaEngine) name() string { return "cuda" }

func (e *cudaEngine) close() error {
	return errors.Join(e.cs.Destroy(), e.cpu.close())
}

// fn returns the runtime kernel name.
func (e *cudaEngine) fn(name string) (*cuda.Function, error) {
	if f, ok := e.fns[name]; ok {
		return f, nil
	}
	f, err := e.heap.Kernels().Function(name)
	if err != nil {
		return nil, err
	}
	e.fns[name] = f
	return f, nil
}

// onDev reports whether the symmetric offset off is in the device heap.
func (e *cudaEngine) onDev(off uintptr) bool { return off >= e.pe.DeviceOffset() }

// ptr is the device address of symmetric offset off on PE pe.
func (e *cudaEngine) ptr(pe int, off uintptr) (cuda.DevicePtr, error) {
	b, err := e.heap.PeerBase(pe)
	if err != nil {
		return 0, err
	}
	return b + cuda.DevicePtr(off-e.pe.DeviceOffset()), nil
}

func (e *cudaEngine) launch(name string, grid, block uint32, args ...any) error {
	f, err := e.fn(name)
	if err != nil {
		return err
	}
	return cuda.Launch(f, cuda.Dim3{X: grid, Y: 1, Z: 1}, cuda.Dim3{X: block, Y: 1, Z: 1}, 0, e.cs, args...)
}

// threads per block of the data-moving kernels, and the blocks for n units
// of work (one unit per thread per pass).
const blockThreads = 512

func (e *cudaEngine) grid(units uintptr) uint32 {
	g := (units + blockThreads - 1) / blockThreads
	return uint32(max(1, min(g, uintptr(4*e.sms))))
}

func (e *cudaEngine) exec(ctx context.Context, o *op) (bool, error) {
	me := e.pe.MyPE()
	switch o.kind {
	case opPut, opGet, opPutSignal:
		if !e.onDev(o.dstOff) || !e.onDev(o.srcOff) || (o.kind == opPutSignal && !e.onDev(o.sigOff)) {
			return e.host(ctx, o)
		}
		local, remote := o.srcOff, o.dstOff
		if o.kind == opGet {
			local, remote = o.dstOff, o.srcOff
		}
		l, err := e.ptr(me, local)
		if err != nil {
			return false, err
		}
		r, err := e.ptr(o.pe, remote)
		if err != nil {
			return false, err
		}
		if o.count > 0 {
			if o.kind == opGet {
				err = e.heap.Context().CopyDtoDAsync(l, r, o.count, e.cs)
			} else {
				err = e.heap.Context().CopyDtoDAsync(r, l, o.count, e.cs)
			}
			if err != nil {
				return false, err
			}
		}
		if o.kind == opPutSignal {
			// Stream order: the copy has completed before the kernel runs.
			sig, err := e.ptr(me, o.sigOff)
			if err != nil {
				return false, err
			}
			if err := e.launch(kernels.KernelSignalOp, 1, 32, sig, int32(o.pe), int32(o.sigOp), o.sigVal); err != nil {
				return false, err
			}
		}
		return e.queued(o)
	case opLaunch:
		l := o.launch
		if err := cuda.Launch(l.fn, l.grid, l.block, l.shared, e.cs, l.args...); err != nil {
			return false, err
		}
		return e.queued(o)
	case opSignalWait:
		if !e.onDev(o.sigOff) {
			return e.host(ctx, o)
		}
		sig, err := e.ptr(me, o.sigOff)
		if err != nil {
			return false, err
		}
		if err := e.launch(kernels.KernelSignalWait, 1, 32, sig, int32(o.cmp), o.sigVal); err != nil {
			return false, err
		}
		return e.queued(o)
	case opQuiet, opRecord:
		// Copies on a stream complete in order: ops after this one see
		// every earlier put complete. The worker completes a record after
		// the flush that covers the work before it.
		return e.queued(o)
	case opBarrier:
		if err := e.barrier(o.team); err != nil {
			return false, err
		}
		return e.queued(o)
	case opAllReduce, opReduceScatter, opAllGather, opAllToAll, opBroadcast:
		if !e.onDev(o.dstOff) || !e.onDev(o.srcOff) {
			return e.host(ctx, o)
		}
		if err := e.collective(o); err != nil {
			return false, err
		}
		return e.queued(o)
	}
	return e.host(ctx, o)
}

func (e *cudaEngine) queued(o *op) (bool, error) {
	e.inflight = append(e.inflight, o)
	return true, nil
}

// host runs o on the worker, after the device work before it.
func (e *cudaEngine) host(ctx context.Context, o *op) (bool, error) {
	if len(e.inflight) > 0 {
		if failed, err := e.flush(ctx); err != nil {
			return false, fmt.Errorf("device work before it failed (%v): %w", failed, err)
		}
	}
	// The CPU engine stages GPU memory through host buffers where an op
	// mixes it with host memory.
	return false, e.cpu.run(ctx, o)
}

// teamArgs are a team's members as the kernels take them.
func teamArgs(t *hostshmem.Team) (start, stride, size int32) {
	n := t.NPEs()
	start, stride = int32(t.WorldPE(0)), 1
	if n > 1 {
		stride = int32(t.WorldPE(1) - t.WorldPE(0))
	}
	return start, stride, int32(n)
}

func (e *cudaEngine) barrier(t *hostshmem.Team) error {
	start, stride, size := teamArgs(t)
	return e.launch(kernels.KernelBarrier, 1, 32, start, stride, size)
}

// oneShotMax is the largest allreduce (bytes per PE) done one-shot: every
// PE reads every peer's whole input, the fewest steps for small messages.
// Larger ones, and in-place ones, go two-shot (each PE reduces its chunk
// from every peer and writes it into every peer's output).
const oneShotMax = 256 << 10

// collective queues barrier, kernel, barrier: the kernels read peers'
// inputs directly, so every PE's input must be ready before and no PE may
// overwrite its input or output until every peer is done.
func (e *cudaEngine) collective(o *op) error {
	me := e.pe.MyPE()
	dst, err := e.ptr(me, o.dstOff)
	if err != nil {
		return err
	}
	src, err := e.ptr(me, o.srcOff)
	if err != nil {
		return err
	}
	start, stride, size := teamArgs(o.team)
	n := uint64(o.n)
	var name string
	var units uintptr
	var args []any
	switch o.kind {
	case opAllReduce, opReduceScatter:
		dt, err := kernelDType(o.dtype)
		if err != nil {
			return err
		}
		rop, err := kernelOp(o.reduce)
		if err != nil {
			return err
		}
		switch {
		case o.kind == opReduceScatter:
			name = kernels.ReduceScatterKernel(dt, rop)
		case o.dstOff != o.srcOff && uintptr(o.n)*o.elem <= oneShotMax:
			name = kernels.AllReduceKernel(dt, rop, false)
		default:
			name = kernels.AllReduceKernel(dt, rop, true)
		}
		args, units = []any{dst, src, n, start, stride, size}, uintptr(o.n)
	case opAllGather:
		name, args, units = kernels.KernelAllGather, []any{dst, src, n * uint64(o.elem), start, stride, size}, uintptr(o.n)*o.elem*uintptr(size)/16
	case opAllToAll:
		name, args, units = kernels.KernelAllToAll, []any{dst, src, n * uint64(o.elem), start, stride, size}, uintptr(o.n)*o.elem*uintptr(size)/16
	case opBroadcast:
		name, args, units = kernels.KernelBroadcast, []any{dst, src, n * uint64(o.elem), int32(o.pe), start, stride, size}, uintptr(o.n)*o.elem/16
	}
	if err := e.barrier(o.team); err != nil {
		return err
	}
	if err := e.launch(name, e.grid(units), blockThreads, args...); err != nil {
		return err
	}
	return e.barrier(o.team)
}

func kernelDType(d dtype) (kernels.DType, error) {
	switch d {
	case dtFloat32:
		return kernels.F32, nil
	case dtFloat16:
		return kernels.F16, nil
	case dtBFloat16:
		return kernels.BF16, nil
	case dtInt32:
		return kernels.I32, nil
	case dtInt64:
		return kernels.I64, nil
	}
	return 0, fmt.Errorf("%w: element type %v has no GPU kernel", hostshmem.ErrInvalidArg, d)
}

func kernelOp(op hostshmem.ReduceOp) (kernels.Op, error) {
	switch op {
	case hostshmem.OpSum:
		return kernels.OpSum, nil
	case hostshmem.OpProd:
		return kernels.OpProd, nil
	case hostshmem.OpMin:
		return kernels.OpMin, nil
	case hostshmem.OpMax:
		return kernels.OpMax, nil
	}
	return 0, fmt.Errorf("%w: reduction %v has no GPU kernel (sum, prod, min, max)", hostshmem.ErrInvalidArg, op)
}

// drainGrace is how long flush waits for a stream to drain after aborting
// its device-side waits.
const drainGrace = 2 * time.Second

// flush waits for the stream without blocking a thread in the driver: it
// polls, backing off from spinning to 1 ms sleeps, and checks the peers.
// When a peer has died or ctx ends, it makes the device-side waits give up
// (device.Heap.Abort) so the stream drains, and reports the first waiting
// op in flight as the failure.
func (e *cudaEngine) flush(ctx context.Context) (*op, error) {
	if len(e.inflight) == 0 {
		return nil, nil
	}
	var cause error
	var aborted time.Time
	sleep := time.Duration(0)
	last := time.Now()
	for {
		done, err := e.cs.Query()
		if err != nil {
			failed := e.inflight[0]
			e.inflight = e.inflight[:0]
			return failed, err
		}
		if done {
			break
		}
		if cause == nil && time.Since(last) > time.Millisecond {
			last = time.Now()
			if err := e.pe.Fabric().Err(); err != nil {
				cause = err
			} else if ctx.Err() != nil {
				cause = ctx.Err()
			}
			if cause != nil {
				e.heap.Abort()
				aborted = last
			}
		}
		if cause != nil && time.Since(aborted) > drainGrace {
			// A kernel that never looks at the abort word (a user's
			// spinning kernel) keeps the stream busy: give up on it.
			failed := e.inflight[0]
			e.inflight = e.inflight[:0]
			return failed, fmt.Errorf("%w (the GPU stream still had not drained %v after its waits were aborted)", cause, drainGrace)
		}
		switch {
		case sleep == 0:
			sleep = time.Microsecond
		case sleep < time.Millisecond:
			sleep *= 2
		}
		time.Sleep(sleep)
	}
	failed := e.inflight[0]
	for _, o := range e.inflight {
		if o.kind.waits() {
			failed = o
			break
		}
	}
	e.inflight = e.inflight[:0]
	if aborted, status := e.heap.Aborted(); cause != nil || aborted {
		if cause == nil {
			cause = fmt.Errorf("device waits were aborted (status %#x)", status)
		}
		return failed, cause
	}
	return nil, nil
}

// AllReduceAlgorithm names the algorithm an allreduce of nbytes per PE of
// device objects on team takes on s (inPlace: the same object in and out).
func (s *Stream) AllReduceAlgorithm(team *hostshmem.Team, nbytes int, inPlace bool) string {
	if _, ok := s.eng.(*cudaEngine); ok {
		if !inPlace && nbytes <= oneShotMax {
			return "one-shot kernel: every PE reduces every peer's input, read over CUDA IPC"
		}
		return "two-shot kernel: each PE reduces its chunk of every peer's input and writes it to every peer"
	}
	return team.Algorithm(nbytes) + " (CPU engine)"
}

// launch is a kernel launch on a stream.
type launch struct {
	fn          *cuda.Function
	grid, block cuda.Dim3
	shared      uint32
	args        []any
}

// Launch enqueues the kernel fn (from device.LoadModule) on s with the
// grid and block dimensions, dynamic shared memory and arguments (see
// cuda.Launch for the argument types; pass device.Ptr values as
// cuda.DevicePtr). The kernel runs in stream order with s's puts, signals
// and collectives; its failures surface at the next synchronisation. On a
// stream without a GPU Launch returns an error at once: enqueue a Go
// function instead (Go).
func (s *Stream) Launch(fn *cuda.Function, grid, block cuda.Dim3, sharedMem uint32, args ...any) error {
	if err := live(s, "launch"); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("streams: launch: %w: nil function", hostshmem.ErrInvalidArg)
	}
	if _, ok := s.eng.(*cudaEngine); !ok {
		return fmt.Errorf("streams: launch %s: %w: %v runs on the %s engine (use Go)", fn.Name(), device.ErrNoGPU, s, s.eng.name())
	}
	return s.enqueue(&op{kind: opLaunch, launch: &launch{fn: fn, grid: grid, block: block, shared: sharedMem, args: slices.Clone(args)}})
}
