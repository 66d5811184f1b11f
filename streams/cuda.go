package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/cause"
	"github.com/gshmem/gshmem/kernels"
)

// The CUDA engine runs a stream's ops on a CUstream of the PE's GPU: puts
// and gets between device objects are copy-engine copies to and from the
// peers' heaps (mapped over CUDA IPC), signals, signal waits, barriers and
// collectives are the runtime's kernels (package kernels), all in stream
// order with the user's kernels (Launch). Ops on host objects, Go functions
// and waits on events of other engines run on the worker goroutine, after
// the device work queued before them has completed (the worker's flush).
//
// Each stream has its own host-mapped words (kernels.StreamWordsBytes):
// an abort word its waiting kernels watch besides the PE's (so aborting
// one stream leaves the PE's other streams alone; the PE's word is set
// only when a peer dies), a status word where they record why they gave
// up, and a done word: after each op it queues, the engine queues a write
// of the op's seq there (cuStreamWriteValue64, or a one-thread kernel
// where the device lacks stream memory operations), so the worker learns
// which op runs on the GPU from a load of host memory.
type cudaEngine struct {
	pe   *hostshmem.PE
	heap *device.Heap
	cs   *cuda.Stream
	cpu  *cpuEngine
	sms  int

	words    []byte         // the stream's words, host-mapped
	wordsDev cuda.DevicePtr // their device address
	memops   bool           // cuStreamWriteValue64 marks progress
	stuck    bool           // the worker gave up on a device that would not drain
	// hostDirty: ops ran puts on the host path (e.cpu's context) since
	// the last quiet.
	hostDirty bool
	events    []*cuda.Event // free CUDA events for Record
}

func init() { newDeviceEngine = newCUDAEngine }

// newCUDAEngine makes the engine of a new stream of pe, or nil when pe
// has no GPU heap.
func newCUDAEngine(pe *hostshmem.PE, c *config) (engine, error) {
	d := device.Of(pe)
	if d.Kind() != device.GPU {
		return nil, nil
	}
	h := d.Heap()
	var cs *cuda.Stream
	if c.cu != nil {
		cs = h.Context().BorrowStream(*c.cu) // close lets go of it
	} else {
		var err error
		if cs, err = h.Context().NewStream(true); err != nil {
			return nil, err
		}
	}
	cpu, err := newCPUEngine(pe)
	if err != nil {
		cs.Destroy()
		return nil, err
	}
	e := &cudaEngine{pe: pe, heap: h, cs: cs, cpu: cpu, sms: max(1, h.Info().MultiProcessors),
		memops: h.Info().CanUseStreamMemOps}
	if e.words, err = h.Context().HostAlloc(kernels.StreamWordsBytes); err == nil {
		clear(e.words)
		e.wordsDev, err = h.Context().HostDevicePtr(e.words)
	}
	if err != nil {
		e.close()
		return nil, fmt.Errorf("the stream's host-mapped words: %w", err)
	}
	return e, nil
}

func (e *cudaEngine) name() string { return "cuda" }

func (e *cudaEngine) close() error {
	errs := []error{e.cs.Destroy(), e.cpu.close()}
	for _, ev := range e.events {
		errs = append(errs, ev.Destroy())
	}
	if e.words != nil && !e.stuck { // a stuck stream may still write them
		errs = append(errs, e.heap.Context().HostFree(e.words))
	}
	return errors.Join(errs...)
}

// gaveUp: the worker stopped waiting for work that did not drain; the
// device may still write the stream's words, so close keeps them.
func (e *cudaEngine) gaveUp() { e.stuck = true }

// word is the stream word at byte offset off.
func (e *cudaEngine) word(off int) *uint64 { return (*uint64)(unsafe.Pointer(&e.words[off])) }

func (e *cudaEngine) progress() (uint64, error) {
	done := atomic.LoadUint64(e.word(kernels.StreamDoneOffset))
	// The status is read after done: a kernel records it before the
	// stream writes the done word of its op.
	if st := atomic.LoadUint64(e.word(kernels.StreamStatusOffset)); st != 0 {
		code, pe := kernels.DecodeStatus(st)
		if pe >= 0 {
			return done, fmt.Errorf("a runtime kernel failed: %v (PE %d)", code, pe)
		}
		return done, fmt.Errorf("a runtime kernel failed: %v", code)
	}
	return done, nil
}

func (e *cudaEngine) check() error {
	_, err := e.cs.Query()
	return err
}

func (e *cudaEngine) abort(peerDead bool) {
	if peerDead {
		e.heap.Abort()
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&e.words[kernels.StreamAbortOffset])), 1)
}

func (e *cudaEngine) settle() {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&e.words[kernels.StreamAbortOffset])), 0)
	atomic.StoreUint64(e.word(kernels.StreamStatusOffset), 0)
}

// mark queues the write of seq to the stream's done word, after the work
// queued before it.
func (e *cudaEngine) mark(seq uint64) error {
	done := e.wordsDev + kernels.StreamDoneOffset
	if e.memops {
		err := e.cs.WriteValue64(done, seq, cuda.WriteDefault)
		if err == nil || !cuda.IsNotSupported(err) {
			return err
		}
		e.memops = false // e.g. host memory refused: use the kernel from now on
	}
	return e.launch(kernels.KernelStore64, 1, 32, done, seq)
}

// fn returns the runtime kernel name, resolved (and loaded) by the heap
// at Attach: looking it up here makes no driver call, so it cannot wait
// for a context where a peer's kernel spins.
func (e *cudaEngine) fn(name string) (*cuda.Function, error) {
	return e.heap.Kernel(name)
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
		if err := e.launch(kernels.KernelSignalWait, 1, 32, sig, int32(o.cmp), o.sigVal, e.wordsDev); err != nil {
			return false, err
		}
		return e.queued(o)
	case opQuiet:
		// Copies on a stream complete in order: ops after this one see
		// every earlier put complete. Puts that ran on the host path are
		// complete once the host context is quiet.
		if err := e.quietHost(); err != nil {
			return false, err
		}
		return e.queued(o)
	case opRecord:
		// The worker completes a record once the device has done the
		// work before it; meanwhile a device stream that waits on it
		// waits on a CUDA event recorded here.
		if err := e.record(o.event); err != nil {
			return false, err
		}
		return e.queued(o)
	case opWaitEvent:
		return e.waitEvent(ctx, o)
	case opBarrier:
		if err := e.quietHost(); err != nil {
			return false, err
		}
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

// queued marks o's end on the stream: it is in flight.
func (e *cudaEngine) queued(o *op) (bool, error) {
	if err := e.mark(o.seq); err != nil {
		// o's work is queued but its end cannot be seen: fail it now
		// (the device is most likely broken; the worker's next check
		// says so).
		return false, fmt.Errorf("marking its end on the stream: %w", err)
	}
	return true, nil
}

// onHost reports whether exec runs o on the worker.
func (e *cudaEngine) onHost(o *op) bool {
	switch o.kind {
	case opPut, opGet, opPutSignal:
		return !e.onDev(o.dstOff) || !e.onDev(o.srcOff) || (o.kind == opPutSignal && !e.onDev(o.sigOff))
	case opSignalWait:
		return !e.onDev(o.sigOff)
	case opAllReduce, opReduceScatter, opAllGather, opAllToAll, opBroadcast:
		return !e.onDev(o.dstOff) || !e.onDev(o.srcOff)
	case opLaunch, opQuiet, opRecord, opBarrier:
		return false
	case opWaitEvent:
		// A device-side wait, or a host wait that needs nothing of this
		// stream's device work.
		return false
	}
	return true // go
}

// host runs o on the worker; the worker has waited for the device work
// before it (onHost).
func (e *cudaEngine) host(ctx context.Context, o *op) (bool, error) {
	if err := e.drain(ctx); err != nil {
		return false, err
	}
	switch o.kind {
	case opPut, opPutSignal:
		e.hostDirty = true
	}
	// The CPU engine stages GPU memory through host buffers where an op
	// mixes it with host memory.
	return false, e.cpu.run(ctx, o)
}

// quietHost completes the puts that ran on the host path, so that a quiet
// or barrier on the stream covers them as it covers the device's.
func (e *cudaEngine) quietHost() error {
	if !e.hostDirty {
		return nil
	}
	if err := e.cpu.c.Quiet(); err != nil {
		return fmt.Errorf("completing the stream's host-path puts: %w", err)
	}
	e.hostDirty = false
	return nil
}

// devEvent is what a device stream waits on for an Event (WaitEvent): a
// CUDA event recorded at the record op, while that op is in flight on a
// CUDA stream. The recording engine sets it in exec and takes it back
// when the worker finishes the op (then the Event has completed and no
// device wait is needed).
type devEvent struct {
	mu      sync.Mutex
	ev      *cuda.Event // nil: not in flight on a device
	ordinal int         // the GPU of the stream that recorded it
	owner   *cudaEngine
}

// record records a CUDA event for ev at the current end of the stream.
func (e *cudaEngine) record(ev *Event) error {
	var ce *cuda.Event
	if n := len(e.events); n > 0 {
		ce, e.events = e.events[n-1], e.events[:n-1]
	} else {
		var err error
		if ce, err = e.heap.Context().NewEvent(false); err != nil {
			return err
		}
	}
	if err := ce.Record(e.cs); err != nil {
		e.events = append(e.events, ce)
		return err
	}
	ev.dev.mu.Lock()
	ev.dev.ev, ev.dev.ordinal, ev.dev.owner = ce, e.heap.Context().Ordinal(), e
	ev.dev.mu.Unlock()
	return nil
}

// releaseEvent takes back the CUDA event of ev, whose record op the
// worker has finished: no device wait on it is needed any more. Called on
// the worker of ev's stream.
func (e *cudaEngine) releaseEvent(ev *Event) {
	ev.dev.mu.Lock()
	ce := ev.dev.ev
	if ev.dev.owner == e {
		ev.dev.ev, ev.dev.owner = nil, nil
	}
	ev.dev.mu.Unlock()
	if ce != nil {
		e.events = append(e.events, ce)
	}
}

// waitEvent makes the stream wait for o.event: on the device
// (cuStreamWaitEvent) when the event's stream has queued its record op on
// a CUDA stream of the same GPU; else on the host.
func (e *cudaEngine) waitEvent(ctx context.Context, o *op) (bool, error) {
	ev := o.event
	if src, ok := ev.s.eng.(*cudaEngine); ok && src.heap.Context().Ordinal() == e.heap.Context().Ordinal() {
		// Wait until the other stream's worker has handled the record op
		// (queued it, usually at once), so that the CUDA event is the
		// one for this Event.
		select {
		case <-ev.handled:
		case <-ctx.Done():
			return false, cause.Err(ctx)
		}
		ev.dev.mu.Lock()
		var err error
		queued := ev.dev.ev != nil
		if queued {
			err = e.cs.WaitEvent(ev.dev.ev) // captures the event now: a later reuse does not matter
		}
		ev.dev.mu.Unlock()
		if err != nil {
			return false, err
		}
		if queued {
			return e.queued(o)
		}
		// Finished (or skipped) already: nothing to wait for.
	}
	return false, ev.s.waitDone(ctx, ev.seq)
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

// barrier queues the barrier kernel on t's barrier channel (one per team
// slot: barriers of different teams, and of streams on different teams,
// never take each other's arrivals).
func (e *cudaEngine) barrier(t *hostshmem.Team) error {
	ch := kernels.TeamChannel(t.Slot())
	if ch < 0 {
		return fmt.Errorf("%w: %v has no device barrier channel (slot %d)", hostshmem.ErrTeam, t, t.Slot())
	}
	start, stride, size := teamArgs(t)
	return e.launch(kernels.KernelBarrier, 1, 32, e.wordsDev, int32(ch), start, stride, size)
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
