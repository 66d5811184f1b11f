package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/config"
	"github.com/gshmem/gshmem/kernels"
)

// Heap is one PE's device heap in GPU memory, with its peers' heaps mapped
// into this process: peers in other processes through CUDA IPC memory
// handles (cuIpcGetMemHandle / cuIpcOpenMemHandle, exchanged over the host
// fabric), peers in this process by their pointers (one address space;
// peer access is enabled for those on other GPUs). It
// implements hostshmem.DeviceMemory: host puts, gets and atomics on device
// objects use the copy engine and a one-thread kernel.
//
// Why IPC handles and not VMM export to a file descriptor: IPC needs no
// descriptor passing between processes (the 64-byte handle travels in the
// host symmetric heap like any other data), works on every CUDA 11+ driver
// and for several processes on one GPU, and one cuMemAlloc per PE makes
// exactly one handle. VMM would allow growing the heap in place, which a
// fixed GSHMEM_DEVICE_SYMMETRIC_SIZE does not need.
type Heap struct {
	ctx   *cuda.Context
	info  cuda.Info
	me, n int
	size  uintptr // bytes per PE, reserved area included
	sym   uintptr // symmetric offset of the heap's first byte
	base  cuda.DevicePtr

	peers  []cuda.DevicePtr // per PE as mapped here; 0: not mapped
	why    []string         // per unmapped PE: the reason
	opened []bool           // mapped with IpcOpenMemHandle (closed at Close)
	drv    *cuda.Driver
	others []*cuda.Context // primary contexts of this process's other GPUs we use peer access to

	// maps is held for reading while a host-side operation uses a peer's
	// mapping, and for writing by unmap, which ends them: a copy never
	// runs into a mapping being closed.
	maps struct {
		sync.RWMutex
		unmapped bool // unmap ran: the peers' heaps are gone from here
	}

	mod *Module // the runtime's kernels (kernels.Image), every one resolved at Attach

	// hs is the heap's own stream, for host-side writes and atomics: each
	// such call queues its work on hs and synchronizes hs before it
	// returns, so the write is complete on the GPU, not only staged.
	hs *cuda.Stream

	agree   *agreement // the collective steps of load windows
	quiesce quiescers  // the users of the context to quiet in a load window
	own     *hostshmem.Ownership

	// Host-mapped words the device reads and writes: abort (the host sets
	// it to make device-side waits give up), status (why a kernel gave up)
	// and the result of host-issued atomics.
	hostWords []byte
	wordsDev  cuda.DevicePtr

	amo struct { // host-issued atomics, one at a time
		sync.Mutex
		fn64 *cuda.Function
		fn32 *cuda.Function
	}
	closeOnce sync.Once
	closed    atomic.Bool // Close began: every method fails
}

const (
	wordAbort  = 0  // uint32
	wordStatus = 8  // uint64
	wordAMO    = 16 // uint64
	hostWords  = 64
)

// Attach gives pe a GPU heap on the device plan chooses for local rank
// localRank, maps every peer's heap, loads the runtime's kernels and
// attaches the heap to pe. It is collective: every PE of the job calls it
// once, after hostshmem.New and before using device objects. pe must have
// been created with Config.DeviceExternal.
//
// The runtime's module is loaded, and every kernel of it resolved and
// fully loaded (whatever CUDA_MODULE_LOADING says, on drivers with
// cuFuncLoad), between two collective steps: no PE has a stream yet when
// the first ends, and none can launch before the second, so no load waits
// for a spinning kernel of another PE of the process. Heap.Kernel then
// only looks kernels up.
//
// Attach fails on every PE alike, with ErrSharedGPU, when PEs of several
// processes would share a GPU without MPS (see Plan.AllowSharedGPU), and
// with an error matching ErrPeerFailed on the PEs whose own part worked
// when another PE's did not.
func Attach(ctx context.Context, pe *hostshmem.PE, plan *Plan, localRank int) (err error) {
	if !plan.GPU() {
		return fmt.Errorf("device: attach: the plan is the CPU fallback (%s)", plan.reason)
	}
	if n := pe.NPEs(); n > kernels.MaxPEs {
		// The device state (kernels.State) indexes the peers' heaps and
		// the barrier counters by PE number, node-local or not.
		return fmt.Errorf("device: attach: %d PEs: the device API addresses peers by PE number and has room for %d (kernels.MaxPEs); run fewer PEs, or the CPU fallback (%s=%s)",
			n, kernels.MaxPEs, config.EnvDevice, config.DeviceCPU)
	}
	ordinal := plan.Ordinal(localRank)
	c, err := plan.drv.Primary(ordinal)
	if err != nil {
		return fmt.Errorf("device: attach GPU %d: %w", ordinal, err)
	}
	h := &Heap{ctx: c, drv: plan.drv, me: pe.MyPE(), n: pe.NPEs(), size: pe.DeviceHeapSize() + hostshmem.DeviceReservedBytes, sym: pe.DeviceOffset()}
	defer func() {
		if err != nil {
			h.Close(ctx)
		}
	}()
	if h.info, err = plan.drv.DeviceInfo(ordinal); err != nil {
		return fmt.Errorf("device: attach GPU %d: %w", ordinal, err)
	}
	if h.hs, err = c.NewStream(true); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.base, err = c.MemAlloc(h.size); err != nil {
		return fmt.Errorf("device: attach: device heap of %d bytes on GPU %d: %w", h.size, ordinal, err)
	}
	// The reserved area (barrier counters) is zero before any peer can
	// reach it: complete here, before the exchange.
	if err = h.written("attach: zeroing the heap", c.MemsetD8Async(h.base, 0, h.size, h.hs)); err != nil {
		return err
	}
	if h.hostWords, err = c.HostAlloc(hostWords); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	clear(h.hostWords)
	if h.wordsDev, err = c.HostDevicePtr(h.hostWords); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.agree, err = newAgreement(ctx, pe); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	ipc, ipcErr := c.IpcGetMemHandle(h.base)
	mine := record{pid: uint64(os.Getpid()), uuid: h.info.UUID, base: h.base, ipcOK: ipcErr == nil,
		mps: plan.mps, allowShared: plan.allowShared, ordinal: ordinal, proc: plan.proc, ipc: ipc}
	all, err := exchange(ctx, pe, mine.marshal())
	if err != nil {
		return fmt.Errorf("device: attach: exchanging heap handles: %w", err)
	}
	recs := make([]record, h.n)
	for j := range recs {
		recs[j] = parseRecord(all[j*recordSize : (j+1)*recordSize])
	}
	// Every PE has every record: every PE reaches the same verdict.
	if err = checkSharing(recs, h.gpuName); err != nil {
		return err
	}
	h.peers = make([]cuda.DevicePtr, h.n)
	h.why = make([]string, h.n)
	h.opened = make([]bool, h.n)
	for j := range h.peers {
		h.mapPeer(j, recs[h.me], recs[j], ipcErr)
	}
	// The load window: every PE has mapped its peers (a PE that cannot map
	// a peer fails only the operations that need that peer), and no PE has
	// a stream yet; then every PE loads, then every PE has loaded.
	if err = h.agree.step(ctx, "attach: mapping the peers' heaps", nil); err != nil {
		return err
	}
	var loadErr error
	if h.mod, loadErr = h.load(kernels.Image(), kernels.Kernels(), true); loadErr != nil {
		loadErr = fmt.Errorf("loading the runtime kernels: %w", loadErr)
	} else {
		h.amo.fn64, h.amo.fn32 = h.mod.fns[kernels.KernelAMO64], h.mod.fns[kernels.KernelAMO32]
	}
	if err = h.agree.step(ctx, "attach: loading the runtime kernels", loadErr); err != nil {
		return err
	}
	// Close in two phases: the PE drains this resource, last of what it
	// owns, before its closing barrier (unmapping the peers' heaps), and
	// closes the heap after it (freeing this one), so that no PE frees a
	// heap that a peer still maps.
	if h.own, err = pe.Own(peerMappings{h}); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if err = pe.AttachDevice(h); err != nil {
		h.own.Disown()
	}
	return err
}

// gpuName describes the GPU with the given UUID for messages.
func (h *Heap) gpuName(u [16]byte) string {
	if u == h.info.UUID {
		return fmt.Sprintf("GPU %d (%s, %s)", h.ctx.Ordinal(), h.info.Name, uuidString(u))
	}
	return uuidString(u)
}

// exchange all-gathers every PE's record through the host heap.
func exchange(ctx context.Context, pe *hostshmem.PE, mine []byte) ([]byte, error) {
	src, err := hostshmem.Malloc[byte](ctx, pe, len(mine))
	if err != nil {
		return nil, err
	}
	dst, err := hostshmem.Malloc[byte](ctx, pe, len(mine)*pe.NPEs())
	if err != nil {
		return nil, err
	}
	if err := hostshmem.Put(pe, src, mine, pe.MyPE()); err != nil {
		return nil, err
	}
	if err := hostshmem.FCollect(ctx, pe.TeamWorld(), dst, src, len(mine)); err != nil {
		return nil, err
	}
	all := make([]byte, dst.Len())
	if err := hostshmem.Get(pe, all, dst, pe.MyPE()); err != nil {
		return nil, err
	}
	if err := hostshmem.Free(ctx, pe, dst); err != nil {
		return nil, err
	}
	return all, hostshmem.Free(ctx, pe, src)
}

// mapPeer maps PE j's heap from its record, or records why it cannot.
func (h *Heap) mapPeer(j int, me, r record, ipcErr error) {
	switch pathTo(me, r, j == h.me) {
	case pathSelf:
		h.peers[j] = h.base
		return
	case pathPointer:
		h.peers[j] = r.base
		return
	case pathPeerGPU:
		// Another GPU of this process: one address space (UVA), so its
		// pointer works here once this context may access that device.
		if err := h.enablePeer(r.ordinal); err != nil {
			h.why[j] = "is in this process on another GPU that this one cannot access: " + err.Error()
			return
		}
		h.peers[j] = r.base
		return
	}
	if !r.ipcOK {
		h.why[j] = "could not export its heap over CUDA IPC"
		return
	}
	if ipcErr != nil {
		h.why[j] = "is unreachable: this PE cannot use CUDA IPC (" + ipcErr.Error() + ")"
		return
	}
	p, err := h.ctx.IpcOpenMemHandle(r.ipc)
	if err != nil {
		h.why[j] = "could not be mapped over CUDA IPC: " + err.Error()
		return
	}
	h.peers[j], h.opened[j] = p, true
}

// enablePeer gives this heap's context access to GPU ordinal's memory.
func (h *Heap) enablePeer(ordinal int) error {
	for _, o := range h.others {
		if o.Ordinal() == ordinal {
			return nil
		}
	}
	pc, err := h.drv.Primary(ordinal)
	if err != nil {
		return err
	}
	can, err := h.ctx.CanAccessPeer(pc)
	if err == nil && !can {
		err = fmt.Errorf("no peer-to-peer path from GPU %d to GPU %d", h.ctx.Ordinal(), ordinal)
	}
	if err == nil {
		err = h.ctx.EnablePeerAccess(pc)
	}
	if err != nil {
		pc.Close()
		return err
	}
	h.others = append(h.others, pc)
	return nil
}

// peer returns PE pe's heap base as mapped here. The caller holds
// h.maps for reading.
func (h *Heap) peer(op string, pe int) (cuda.DevicePtr, error) {
	if h.closed.Load() {
		return 0, fmt.Errorf("device: %s: the device heap of PE %d is closed: %w", op, h.me, hostshmem.ErrFinalized)
	}
	if pe < 0 || pe >= h.n {
		return 0, fmt.Errorf("device: %s: %w: PE %d of %d", op, hostshmem.ErrInvalidPE, pe, h.n)
	}
	if h.maps.unmapped && pe != h.me {
		return 0, fmt.Errorf("device: %s: PE %d is finalizing and has unmapped its peers' device heaps: %w", op, h.me, hostshmem.ErrFinalized)
	}
	if h.peers[pe] == 0 {
		return 0, fmt.Errorf("device: %s: PE %d's device heap %s", op, pe, h.why[pe])
	}
	return h.peers[pe], nil
}

// at checks n bytes at off of PE pe's heap and returns their address. The
// caller holds h.maps for reading.
func (h *Heap) at(op string, pe int, off, n uintptr) (cuda.DevicePtr, error) {
	b, err := h.peer(op, pe)
	if err != nil {
		return 0, err
	}
	if off > h.size || n > h.size-off {
		return 0, fmt.Errorf("device: %s: %w: bytes [%d, %d) outside a device heap of %d bytes", op, hostshmem.ErrOutOfRange, off, off+n, h.size)
	}
	return b + cuda.DevicePtr(off), nil
}

// written finishes a host-side write queued on the heap's stream: it
// waits until the GPU has done it (enqueue is the error of queueing it).
// A synchronous cuMemcpyHtoD from pageable memory returns once the bytes
// are staged, and cuMemsetD8 may return before the device has written:
// neither is done when it returns, and a peer that the caller then tells
// to write there could be overwritten.
func (h *Heap) written(op string, enqueue error) error {
	err := enqueue
	if err == nil {
		err = h.hs.Synchronize()
	}
	if err != nil {
		return fmt.Errorf("device: %s: %w", op, err)
	}
	return nil
}

// Put copies src into PE pe's device heap at byte offset off (from the
// heap's start) and returns when the bytes are in GPU memory (not only
// staged), so that writes issued after it land after them. src may be
// reused at once.
func (h *Heap) Put(pe int, off uintptr, src []byte) error {
	h.maps.RLock()
	defer h.maps.RUnlock()
	d, err := h.at("put", pe, off, uintptr(len(src)))
	if err != nil || len(src) == 0 {
		return err
	}
	err = h.written(fmt.Sprintf("put to PE %d", pe), h.ctx.CopyHtoDAsync(d, src, h.hs))
	runtime.KeepAlive(src)
	return err
}

// Get copies len(dst) bytes at off of PE pe's device heap into dst and
// returns when they are there.
func (h *Heap) Get(pe int, off uintptr, dst []byte) error {
	h.maps.RLock()
	defer h.maps.RUnlock()
	s, err := h.at("get", pe, off, uintptr(len(dst)))
	if err != nil || len(dst) == 0 {
		return err
	}
	return h.ctx.CopyDtoH(dst, s)
}

// AMO64 applies op to the word at off on PE pe with a one-thread kernel
// (system-scope atomics) and returns the previous value.
func (h *Heap) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	return h.atomic(h.amo.fn64, pe, off, 8, op, operand, cmp)
}

// AMO32 is AMO64 for a 4-byte word.
func (h *Heap) AMO32(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	v, err := h.atomic(h.amo.fn32, pe, off, 4, op, uint64(operand), uint64(cmp))
	return uint32(v), err
}

func (h *Heap) atomic(fn *cuda.Function, pe int, off, size uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	if off%size != 0 {
		return 0, fmt.Errorf("device: atomic: %w: offset %d is not %d-byte aligned", hostshmem.ErrInvalidArg, off, size)
	}
	h.maps.RLock()
	defer h.maps.RUnlock()
	if _, err := h.at("atomic", pe, off, size); err != nil {
		return 0, err
	}
	h.amo.Lock()
	defer h.amo.Unlock()
	res := (*uint64)(unsafe.Pointer(&h.hostWords[wordAMO]))
	*res = 0
	one := cuda.Dim3{X: 1, Y: 1, Z: 1}
	args := []any{h.base + cuda.DevicePtr(off), int32(pe), int32(op), operand, cmp, h.wordsDev + wordAMO}
	if size == 4 {
		args[3], args[4] = uint32(operand), uint32(cmp)
	}
	if err := h.written(fmt.Sprintf("atomic %v on PE %d", op, pe), cuda.Launch(fn, one, one, 0, h.hs, args...)); err != nil {
		return 0, err
	}
	return *res, nil
}

// Zero clears n bytes at off of this PE's heap and returns when the GPU
// has cleared them: a peer told afterwards (CallocOn's closing step) may
// write there at once.
func (h *Heap) Zero(off, n uintptr) error {
	h.maps.RLock()
	defer h.maps.RUnlock()
	d, err := h.at("zero", h.me, off, n)
	if err != nil || n == 0 {
		return err
	}
	return h.written("zero", h.ctx.MemsetD8Async(d, 0, n, h.hs))
}

// Abort makes every device-side wait of this PE give up (a peer died):
// kernels spinning on it return, and the streams report the error.
func (h *Heap) Abort() {
	*(*uint32)(unsafe.Pointer(&h.hostWords[wordAbort])) = 1
}

// Aborted reports whether Abort was called, and the status a kernel that
// gave up recorded (kernels/gshmem_device.cuh: error code and PE).
func (h *Heap) Aborted() (bool, uint64) {
	a := *(*uint32)(unsafe.Pointer(&h.hostWords[wordAbort])) != 0
	return a, *(*uint64)(unsafe.Pointer(&h.hostWords[wordStatus]))
}

// PeerBase is PE pe's heap as mapped into this process: a device pointer,
// or an error saying why pe's heap is not mapped. The pointer is valid
// until the PE drains its heap in Finalize (after its streams), which
// unmaps the peers' heaps.
func (h *Heap) PeerBase(pe int) (cuda.DevicePtr, error) {
	h.maps.RLock()
	defer h.maps.RUnlock()
	return h.peer("peer heap", pe)
}

// Info describes the heap's GPU.
func (h *Heap) Info() cuda.Info { return h.info }

// Context is the CUDA context of the heap's GPU.
func (h *Heap) Context() *cuda.Context { return h.ctx }

// Kernels is the runtime's kernel module (kernels.Image), initialised for
// this PE, with every kernel resolved at Attach: its Function only looks
// kernels up. Kernel is the shorter way.
func (h *Heap) Kernels() *Module { return h.mod }

// Kernel returns the runtime kernel called name (one of kernels.Kernels),
// resolved and, on drivers with cuFuncLoad (CUDA 12.4), fully loaded at
// Attach inside its load window: launching it makes the driver load
// nothing, whatever CUDA_MODULE_LOADING says, so it never waits for a
// peer's spinning kernel. It does no driver call. A name the runtime does
// not have is an error matching errdefs.ErrInvalidArg.
func (h *Heap) Kernel(name string) (*cuda.Function, error) {
	if f, ok := h.mod.fns[name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("device: kernel %q: %w: not a kernel of the runtime (kernels.Kernels lists them)", name, hostshmem.ErrInvalidArg)
}

// OnQuiesce registers fn, which LoadModule calls on this PE inside its
// load window to quiet one user of the heap's GPU context (see
// QuiesceFunc); name says what fn quiets in errors ("stream 3 of PE 0").
// Package streams registers each stream that runs on the GPU when it is
// made, and calls the returned remove when the stream closes. fn runs on
// the goroutine that called LoadModule, never concurrently with another
// QuiesceFunc of this heap.
func (h *Heap) OnQuiesce(name string, fn QuiesceFunc) (remove func()) {
	return h.quiesce.add(name, fn)
}

// Base is this PE's heap as a device pointer.
func (h *Heap) Base() cuda.DevicePtr { return h.base }

// unmap unmaps the peers' heaps that this PE opened over CUDA IPC, once;
// afterwards host-side operations on peers fail with an error matching
// hostshmem.ErrFinalized. It waits for those in progress.
func (h *Heap) unmap() error {
	h.maps.Lock()
	defer h.maps.Unlock()
	if h.maps.unmapped {
		return nil
	}
	h.maps.unmapped = true
	var errs []error
	for j, o := range h.opened {
		if o {
			h.opened[j] = false
			if err := h.ctx.IpcCloseMemHandle(h.peers[j]); err != nil {
				errs = append(errs, fmt.Errorf("unmapping PE %d's device heap: %w", j, err))
			}
		}
	}
	return errors.Join(errs...)
}

// peerMappings is the heap as its PE owns it between Attach and the
// closing barrier (hostshmem.Resource): Drain, which Finalize runs last
// of its drains and before its barrier, unmaps the peers' heaps; Close
// does nothing (the heap's own Close, after the barrier, frees it). Abort
// skips Drain: the heap's Close then unmaps and frees at once.
type peerMappings struct{ h *Heap }

func (m peerMappings) Drain(context.Context) error { return m.h.unmap() }

func (m peerMappings) Close(context.Context) error { return nil }

func (m peerMappings) String() string {
	return fmt.Sprintf("the peers' device heaps as PE %d maps them", m.h.me)
}

// Close unmaps the peers' heaps (unless Finalize did, before its closing
// barrier) and frees this PE's; afterwards every method fails with an
// error matching hostshmem.ErrFinalized. The PE owns its heap and closes
// it when it is finalized or aborted (see hostshmem.DeviceMemory), after
// the modules loaded on it; the CUDA calls that release it do not wait
// for peers, and ctx is not consulted.
func (h *Heap) Close(ctx context.Context) error {
	var errs []error
	h.closeOnce.Do(func() {
		h.own.Disown()
		errs = append(errs, h.unmap())
		h.closed.Store(true)
		if h.hs != nil {
			errs = append(errs, h.hs.Synchronize(), h.hs.Destroy())
		}
		if h.mod != nil {
			errs = append(errs, h.mod.m.Unload())
		}
		if h.base != 0 {
			errs = append(errs, h.ctx.MemFree(h.base))
		}
		if h.hostWords != nil {
			errs = append(errs, h.ctx.HostFree(h.hostWords))
		}
		for _, o := range h.others {
			errs = append(errs, o.Close())
		}
		errs = append(errs, h.ctx.Close())
	})
	return errors.Join(errs...)
}

// state is the device-state struct of kernels/gshmem_device.cuh for this
// PE, in the device layout.
func (h *Heap) state() ([]byte, error) {
	st := kernels.State{
		MyPE: int32(h.me), NPEs: int32(h.n), HeapSize: uint64(h.size), SymBase: uint64(h.sym),
		AbortPtr: uint64(h.wordsDev + wordAbort), StatusPtr: uint64(h.wordsDev + wordStatus),
	}
	for j, p := range h.peers {
		st.PeerBase[j] = uint64(p)
	}
	return st.MarshalBinary()
}
