package device

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/hostshmem"
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

	mod *Module // the runtime's kernels (kernels.PTX)

	// Host-mapped words the device reads and writes: abort (the host sets
	// it to make device-side waits give up), status (why a kernel gave up)
	// and the result of host-issued atomics.
	hostWords []byte
	wordsDev  cuda.DevicePtr

	amo struct { // host-issued atomics, one at a time
		sync.Mutex
		stream *cuda.Stream
		fn64   *cuda.Function
		fn32   *cuda.Function
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

// record is what each PE publishes about its heap at attach.
const recordSize = 128

func (h *Heap) record(ipc cuda.IpcMemHandle, ipcOK bool) []byte {
	r := make([]byte, recordSize)
	binary.LittleEndian.PutUint64(r[0:], uint64(os.Getpid()))
	copy(r[8:24], h.info.UUID[:])
	binary.LittleEndian.PutUint64(r[24:], uint64(h.base))
	if ipcOK {
		r[32] = 1
	}
	binary.LittleEndian.PutUint64(r[40:], uint64(h.ctx.Ordinal()))
	copy(r[64:128], ipc[:])
	return r
}

// Attach gives pe a GPU heap on the device plan chooses for local rank
// localRank, maps every peer's heap, loads the runtime's kernels and
// attaches the heap to pe. It is collective: every PE of the job calls it
// once, after hostshmem.New and before using device objects. pe must have
// been created with Config.DeviceExternal.
func Attach(ctx context.Context, pe *hostshmem.PE, plan *Plan, localRank int) (err error) {
	if !plan.GPU() {
		return fmt.Errorf("device: attach: the plan is the CPU fallback (%s)", plan.reason)
	}
	if n := pe.NPEs(); n > kernels.MaxPEs {
		return fmt.Errorf("device: attach: %d PEs: the device API maps at most %d", n, kernels.MaxPEs)
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
	if h.base, err = c.MemAlloc(h.size); err != nil {
		return fmt.Errorf("device: attach: device heap of %d bytes on GPU %d: %w", h.size, ordinal, err)
	}
	if err = c.MemsetD8(h.base, 0, h.size); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.hostWords, err = c.HostAlloc(hostWords); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	clear(h.hostWords)
	if h.wordsDev, err = c.HostDevicePtr(h.hostWords); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	ipc, ipcErr := c.IpcGetMemHandle(h.base)
	recs, err := exchange(ctx, pe, h.record(ipc, ipcErr == nil))
	if err != nil {
		return fmt.Errorf("device: attach: exchanging heap handles: %w", err)
	}
	h.peers = make([]cuda.DevicePtr, h.n)
	h.why = make([]string, h.n)
	h.opened = make([]bool, h.n)
	for j := range h.peers {
		h.mapPeer(j, recs[j*recordSize:(j+1)*recordSize], ipcErr)
	}
	// Every PE has mapped its peers before any uses them; a PE that cannot
	// map a peer fails only the operations that need that peer.
	if err = pe.BarrierAll(ctx); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.mod, err = h.load([]byte(kernels.PTX())); err != nil {
		return fmt.Errorf("device: attach: loading the runtime kernels: %w", err)
	}
	if h.amo.stream, err = c.NewStream(true); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.amo.fn64, err = h.mod.m.Function(kernels.KernelAMO64); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	if h.amo.fn32, err = h.mod.m.Function(kernels.KernelAMO32); err != nil {
		return fmt.Errorf("device: attach: %w", err)
	}
	return pe.AttachDevice(h)
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
func (h *Heap) mapPeer(j int, r []byte, ipcErr error) {
	if j == h.me {
		h.peers[j] = h.base
		return
	}
	pid := binary.LittleEndian.Uint64(r[0:])
	var uuid [16]byte
	copy(uuid[:], r[8:24])
	if pid == uint64(os.Getpid()) {
		if uuid == h.info.UUID {
			h.peers[j] = cuda.DevicePtr(binary.LittleEndian.Uint64(r[24:]))
			return
		}
		// Another GPU of this process: one address space (UVA), so its
		// pointer works here once this context may access that device.
		if err := h.enablePeer(int(binary.LittleEndian.Uint64(r[40:]))); err != nil {
			h.why[j] = "is in this process on another GPU that this one cannot access: " + err.Error()
			return
		}
		h.peers[j] = cuda.DevicePtr(binary.LittleEndian.Uint64(r[24:]))
		return
	}
	if r[32] == 0 {
		h.why[j] = "could not export its heap over CUDA IPC"
		return
	}
	if ipcErr != nil {
		h.why[j] = "is unreachable: this PE cannot use CUDA IPC (" + ipcErr.Error() + ")"
		return
	}
	var ipc cuda.IpcMemHandle
	copy(ipc[:], r[64:128])
	p, err := h.ctx.IpcOpenMemHandle(ipc)
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

// peer returns PE pe's heap base as mapped here.
func (h *Heap) peer(op string, pe int) (cuda.DevicePtr, error) {
	if h.closed.Load() {
		return 0, fmt.Errorf("device: %s: the device heap of PE %d is closed: %w", op, h.me, hostshmem.ErrFinalized)
	}
	if pe < 0 || pe >= h.n {
		return 0, fmt.Errorf("device: %s: %w: PE %d of %d", op, hostshmem.ErrInvalidPE, pe, h.n)
	}
	if h.peers[pe] == 0 {
		return 0, fmt.Errorf("device: %s: PE %d's device heap %s", op, pe, h.why[pe])
	}
	return h.peers[pe], nil
}

// at checks n bytes at off of PE pe's heap and returns their address.
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

// Put copies src into PE pe's device heap at byte offset off (from the
// heap's start) and returns when the copy is complete.
func (h *Heap) Put(pe int, off uintptr, src []byte) error {
	d, err := h.at("put", pe, off, uintptr(len(src)))
	if err != nil || len(src) == 0 {
		return err
	}
	return h.ctx.CopyHtoD(d, src)
}

// Get copies len(dst) bytes at off of PE pe's device heap into dst.
func (h *Heap) Get(pe int, off uintptr, dst []byte) error {
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
	err := cuda.Launch(fn, one, one, 0, h.amo.stream, args...)
	if err == nil {
		err = h.amo.stream.Synchronize()
	}
	if err != nil {
		return 0, fmt.Errorf("device: atomic %v on PE %d: %w", op, pe, err)
	}
	return *res, nil
}

// Zero clears n bytes at off of this PE's heap.
func (h *Heap) Zero(off, n uintptr) error {
	d, err := h.at("zero", h.me, off, n)
	if err != nil || n == 0 {
		return err
	}
	return h.ctx.MemsetD8(d, 0, n)
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
// or an error saying why pe's heap is not mapped.
func (h *Heap) PeerBase(pe int) (cuda.DevicePtr, error) { return h.peer("peer heap", pe) }

// Info describes the heap's GPU.
func (h *Heap) Info() cuda.Info { return h.info }

// Context is the CUDA context of the heap's GPU.
func (h *Heap) Context() *cuda.Context { return h.ctx }

// Kernels is the runtime's kernel module (kernels.PTX), initialised for
// this PE.
func (h *Heap) Kernels() *Module { return h.mod }

// Base is this PE's heap as a device pointer.
func (h *Heap) Base() cuda.DevicePtr { return h.base }

// Close unmaps the peers' heaps and frees this PE's; afterwards every
// method fails with an error matching hostshmem.ErrFinalized. The PE owns
// its heap and closes it when it is finalized or aborted (see
// hostshmem.DeviceMemory), after the modules loaded on it; the CUDA calls
// that release it do not block, and ctx is not consulted.
func (h *Heap) Close(ctx context.Context) error {
	var errs []error
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		if h.amo.stream != nil {
			errs = append(errs, h.amo.stream.Destroy())
		}
		if h.mod != nil {
			errs = append(errs, h.mod.m.Unload())
		}
		for j, o := range h.opened {
			if o {
				errs = append(errs, h.ctx.IpcCloseMemHandle(h.peers[j]))
			}
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
