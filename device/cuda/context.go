package cuda

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// DevicePtr is a device address (CUdeviceptr). With unified addressing it is
// also a valid address in the process's virtual address space, but only the
// device may dereference it unless it came from HostDevicePtr.
type DevicePtr uint64

// Context is a retained primary context of one device. Each method makes the
// context current on the calling OS thread inside the same C call that does
// the work, so a Context may be used from any goroutine, concurrently, with
// no thread pinning by the caller. A Context is safe for concurrent use;
// Close must not race with other calls.
type Context struct {
	d       *Driver
	lib     driverLib
	ctx     uintptr
	dev     int32
	ordinal int
	closed  atomic.Bool
}

// Driver is the Driver the context came from.
func (c *Context) Driver() *Driver { return c.d }

// Ordinal is the device ordinal the context belongs to.
func (c *Context) Ordinal() int { return c.ordinal }

func (c *Context) err(op string, r result) error { return c.d.err(op, r) }

// Close releases the primary context (cuDevicePrimaryCtxRelease_v2). When the
// last retain in the process is released, the driver destroys the context
// and every allocation, stream, event and module in it.
func (c *Context) Close() error {
	if c.closed.Swap(true) {
		return errClosed
	}
	if r := c.lib.primaryRelease(c.dev); r != 0 {
		return c.err("cuDevicePrimaryCtxRelease_v2", r)
	}
	return nil
}

// Do runs fn on one OS thread (runtime.LockOSThread) with the context
// current, for a batch of work that depends on the thread's current context
// (for example calls into another CUDA library through cgo). Methods of c
// called inside fn work as anywhere else; a method of another Context called
// inside fn leaves that other context current.
func (c *Context) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if r := c.lib.setCurrent(c.ctx); r != 0 {
		return c.err("cuCtxSetCurrent", r)
	}
	return fn()
}

// Synchronize waits until all work queued in the context has finished
// (cuCtxSynchronize).
func (c *Context) Synchronize() error {
	if r := c.lib.ctxSync(c.ctx); r != 0 {
		return c.err("cuCtxSynchronize", r)
	}
	return nil
}

// MemAlloc allocates n bytes of device memory (cuMemAlloc_v2), aligned for
// any kind of variable. Free it with MemFree.
func (c *Context) MemAlloc(n uintptr) (DevicePtr, error) {
	p, r := c.lib.memAlloc(c.ctx, n)
	if r != 0 {
		return 0, c.err("cuMemAlloc_v2", r)
	}
	return DevicePtr(p), nil
}

// MemFree frees memory from MemAlloc (cuMemFree_v2).
func (c *Context) MemFree(p DevicePtr) error {
	if r := c.lib.memFree(c.ctx, uint64(p)); r != 0 {
		return c.err("cuMemFree_v2", r)
	}
	return nil
}

// MemsetD8 sets n bytes at p to v (cuMemsetD8_v2). Like all synchronous
// driver calls it is ordered after earlier work on the legacy default
// stream; it may return before the device has finished.
func (c *Context) MemsetD8(p DevicePtr, v byte, n uintptr) error {
	if r := c.lib.memset8(c.ctx, uint64(p), v, n, 0, false); r != 0 {
		return c.err("cuMemsetD8_v2", r)
	}
	return nil
}

// MemsetD8Async queues the setting of n bytes at p to v on s
// (cuMemsetD8Async); a nil s is the legacy default stream.
func (c *Context) MemsetD8Async(p DevicePtr, v byte, n uintptr, s *Stream) error {
	if r := c.lib.memset8(c.ctx, uint64(p), v, n, s.handle(), true); r != 0 {
		return c.err("cuMemsetD8Async", r)
	}
	return nil
}

// CopyHtoD copies src to device memory at dst (cuMemcpyHtoD_v2) and returns
// when src may be reused.
func (c *Context) CopyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	if r := c.lib.htod(c.ctx, uint64(dst), unsafe.Pointer(&src[0]), uintptr(len(src)), 0, false); r != 0 {
		return c.err("cuMemcpyHtoD_v2", r)
	}
	return nil
}

// CopyDtoH copies len(dst) bytes from device memory at src into dst
// (cuMemcpyDtoH_v2) and returns when they are there.
func (c *Context) CopyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	if r := c.lib.dtoh(c.ctx, unsafe.Pointer(&dst[0]), uint64(src), uintptr(len(dst)), 0, false); r != 0 {
		return c.err("cuMemcpyDtoH_v2", r)
	}
	return nil
}

// CopyDtoD copies n bytes of device memory from src to dst
// (cuMemcpyDtoD_v2).
func (c *Context) CopyDtoD(dst, src DevicePtr, n uintptr) error {
	if r := c.lib.dtod(c.ctx, uint64(dst), uint64(src), n, 0, false); r != 0 {
		return c.err("cuMemcpyDtoD_v2", r)
	}
	return nil
}

// CopyHtoDAsync queues a copy of src to dst on s (cuMemcpyHtoDAsync_v2; a
// nil s is the legacy default stream).
//
// Lifetime of src: src must stay alive and unchanged until the stream has
// passed the copy (Stream.Synchronize, an Event, ...; keep a Go slice
// reachable until then, e.g. with runtime.KeepAlive). For page-locked memory
// from HostAlloc (or registered mmap memory) the copy is truly asynchronous.
// For ordinary (pageable) Go memory the CUDA documentation says the call
// "might be synchronous": current drivers stage the bytes before returning,
// so the call then costs as much as CopyHtoD; do not rely on it.
func (c *Context) CopyHtoDAsync(dst DevicePtr, src []byte, s *Stream) error {
	if len(src) == 0 {
		return nil
	}
	if r := c.lib.htod(c.ctx, uint64(dst), unsafe.Pointer(&src[0]), uintptr(len(src)), s.handle(), true); r != 0 {
		return c.err("cuMemcpyHtoDAsync_v2", r)
	}
	return nil
}

// CopyDtoHAsync queues a copy of len(dst) bytes from src into dst on s
// (cuMemcpyDtoHAsync_v2). dst must stay alive and must not be read or
// written until the stream has passed the copy. With HostAlloc memory the
// copy is truly asynchronous; with pageable Go memory it may complete before
// the call returns (see CopyHtoDAsync).
func (c *Context) CopyDtoHAsync(dst []byte, src DevicePtr, s *Stream) error {
	if len(dst) == 0 {
		return nil
	}
	if r := c.lib.dtoh(c.ctx, unsafe.Pointer(&dst[0]), uint64(src), uintptr(len(dst)), s.handle(), true); r != 0 {
		return c.err("cuMemcpyDtoHAsync_v2", r)
	}
	return nil
}

// CopyDtoDAsync queues a copy of n bytes of device memory from src to dst on
// s (cuMemcpyDtoDAsync_v2).
func (c *Context) CopyDtoDAsync(dst, src DevicePtr, n uintptr, s *Stream) error {
	if r := c.lib.dtod(c.ctx, uint64(dst), uint64(src), n, s.handle(), true); r != 0 {
		return c.err("cuMemcpyDtoDAsync_v2", r)
	}
	return nil
}

// cuMemHostAlloc and cuMemHostRegister flags (cuda.h).
const (
	hostAllocPortable  = 0x01
	hostAllocDeviceMap = 0x02
)

// HostRegisterFlags are the flags of HostRegister (CU_MEMHOSTREGISTER_*).
type HostRegisterFlags uint32

// HostRegister flags.
const (
	// HostRegisterPortable: the memory is pinned for all contexts.
	HostRegisterPortable HostRegisterFlags = 0x01
	// HostRegisterDeviceMap: map the memory into the device address space
	// (HostDevicePtr).
	HostRegisterDeviceMap HostRegisterFlags = 0x02
	// HostRegisterIOMemory: the memory is I/O memory (a PCI BAR).
	HostRegisterIOMemory HostRegisterFlags = 0x04
	// HostRegisterReadOnly: the device only reads the memory.
	HostRegisterReadOnly HostRegisterFlags = 0x08
)

// HostAlloc allocates n bytes of page-locked host memory, mapped into the
// device address space and usable from every context
// (cuMemHostAlloc with CU_MEMHOSTALLOC_PORTABLE|CU_MEMHOSTALLOC_DEVICEMAP).
// The memory is not managed by Go: it never moves, the Go collector ignores
// it (store no Go pointers in it), and it is the memory to use for
// asynchronous copies and for host words the device reads or writes. Free it
// with HostFree.
func (c *Context) HostAlloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: HostAlloc of %d bytes", n)
	}
	p, r := c.lib.hostAlloc(c.ctx, uintptr(n), hostAllocPortable|hostAllocDeviceMap)
	if r != 0 {
		return nil, c.err("cuMemHostAlloc", r)
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// HostFree frees memory from HostAlloc (cuMemFreeHost); b must be the slice
// HostAlloc returned (or start where it started).
func (c *Context) HostFree(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if r := c.lib.hostFree(c.ctx, unsafe.Pointer(&b[0])); r != 0 {
		return c.err("cuMemFreeHost", r)
	}
	return nil
}

// HostRegister page-locks b and makes it known to the driver
// (cuMemHostRegister_v2) until HostUnregister.
//
// b must not be Go-heap memory: the driver keeps the address after the call,
// which cgo's pointer-passing rules forbid for Go memory. Use memory from
// mmap (syscall.Mmap, a shared-memory segment) or from C; page-aligned
// regions are best.
func (c *Context) HostRegister(b []byte, flags HostRegisterFlags) error {
	if len(b) == 0 {
		return fmt.Errorf("cuda: HostRegister of an empty slice")
	}
	if r := c.lib.hostRegister(c.ctx, unsafe.Pointer(&b[0]), uintptr(len(b)), uint32(flags)); r != 0 {
		return c.err("cuMemHostRegister_v2", r)
	}
	return nil
}

// HostUnregister undoes HostRegister(b, ...) (cuMemHostUnregister).
func (c *Context) HostUnregister(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("cuda: HostUnregister of an empty slice")
	}
	if r := c.lib.hostUnregister(c.ctx, unsafe.Pointer(&b[0])); r != 0 {
		return c.err("cuMemHostUnregister", r)
	}
	return nil
}

// HostDevicePtr is the device address of &b[0], where b lies in memory from
// HostAlloc or registered with HostRegisterDeviceMap
// (cuMemHostGetDevicePointer_v2).
func (c *Context) HostDevicePtr(b []byte) (DevicePtr, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("cuda: HostDevicePtr of an empty slice")
	}
	p, r := c.lib.hostDevPtr(c.ctx, unsafe.Pointer(&b[0]))
	if r != 0 {
		return 0, c.err("cuMemHostGetDevicePointer_v2", r)
	}
	return DevicePtr(p), nil
}

// IpcMemHandle names a MemAlloc allocation to other processes
// (CUipcMemHandle, 64 opaque bytes). It may be copied and sent as bytes.
type IpcMemHandle [64]byte

// IpcGetMemHandle returns a handle to the allocation containing p, which
// must come from MemAlloc (cuIpcGetMemHandle).
func (c *Context) IpcGetMemHandle(p DevicePtr) (IpcMemHandle, error) {
	var h IpcMemHandle
	if r := c.lib.ipcGet(c.ctx, uint64(p), (*[64]byte)(&h)); r != 0 {
		return IpcMemHandle{}, c.err("cuIpcGetMemHandle", r)
	}
	return h, nil
}

// IpcOpenMemHandle maps another process's allocation into this context and
// returns its base address here (cuIpcOpenMemHandle_v2 with
// CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS). A process cannot open a handle it
// created itself (the driver returns an error); several other processes, on
// the same GPU or on peer-capable ones, can each open it, once per context.
// Unmap with IpcCloseMemHandle before the exporting process frees the memory.
func (c *Context) IpcOpenMemHandle(h IpcMemHandle) (DevicePtr, error) {
	p, r := c.lib.ipcOpen(c.ctx, (*[64]byte)(&h))
	if r != 0 {
		return 0, c.err("cuIpcOpenMemHandle_v2", r)
	}
	return DevicePtr(p), nil
}

// IpcCloseMemHandle unmaps memory from IpcOpenMemHandle
// (cuIpcCloseMemHandle).
func (c *Context) IpcCloseMemHandle(p DevicePtr) error {
	if r := c.lib.ipcClose(c.ctx, uint64(p)); r != 0 {
		return c.err("cuIpcCloseMemHandle", r)
	}
	return nil
}

// codePeerAccessAlreadyEnabled is CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED.
const codePeerAccessAlreadyEnabled = 704

// CanAccessPeer reports whether kernels on this context's device can load
// and store the memory of peer's device (cuDeviceCanAccessPeer): NVLink or
// PCIe peer-to-peer. Devices of one ordinal can.
func (c *Context) CanAccessPeer(peer *Context) (bool, error) {
	if c.dev == peer.dev {
		return true, nil
	}
	can, r := c.lib.canAccessPeer(c.dev, peer.dev)
	if r != 0 {
		return false, c.err("cuDeviceCanAccessPeer", r)
	}
	return can, nil
}

// EnablePeerAccess lets kernels and copies of this context use pointers
// into peer's allocations (cuCtxEnablePeerAccess); enabling it twice is
// not an error. Contexts of one device need nothing.
func (c *Context) EnablePeerAccess(peer *Context) error {
	if c.ctx == peer.ctx {
		return nil
	}
	if r := c.lib.enablePeer(c.ctx, peer.ctx); r != 0 && r != codePeerAccessAlreadyEnabled {
		return c.err("cuCtxEnablePeerAccess", r)
	}
	return nil
}
