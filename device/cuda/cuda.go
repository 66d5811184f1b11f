package cuda

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gshmem/gshmem/errdefs"
)

// Sentinel errors. Load wraps them with %w; test with errors.Is. ErrNoDriver
// and ErrNoDevice are errdefs.ErrUnavailable (no GPU here: run without
// one); ErrClosed is the shared errdefs.ErrClosed; ErrMissingSymbol is this
// package's own (a driver too old for it is no reason to fall back
// silently).
var (
	// ErrNoDriver: the driver library could not be opened (not installed,
	// a stub library, or a binary built without cgo). It is an
	// errdefs.ErrUnavailable.
	ErrNoDriver = errdefs.Refine(errdefs.ErrUnavailable, "cuda: no CUDA driver")
	// ErrNoDevice: the driver loaded but reports no usable device
	// (cuInit returned CUDA_ERROR_NO_DEVICE, or the device count is 0).
	// It is an errdefs.ErrUnavailable.
	ErrNoDevice = errdefs.Refine(errdefs.ErrUnavailable, "cuda: no CUDA device")
	// ErrMissingSymbol: the driver library lacks an entry point this
	// package needs (the message names it); the driver is too old.
	ErrMissingSymbol = errors.New("cuda: driver lacks a required entry point")
	// ErrClosed (errdefs.ErrClosed): the Driver, Context or object was
	// closed or destroyed.
	ErrClosed = errdefs.ErrClosed
)

// errClosed is ErrClosed as this package returns it, naming the package.
var errClosed = fmt.Errorf("cuda: %w", ErrClosed)

// CUresult values this package branches on (cuda.h, CUDA 12).
const (
	codeOutOfMemory  = 2
	codeStubLibrary  = 34
	codeNoDevice     = 100
	codeNotFound     = 500
	codeNotReady     = 600
	codeNotSupported = 801
)

// Error is a failed driver call: Op is the entry point (for example
// "cuMemAlloc_v2"), Code the CUresult, Name and Msg the driver's
// cuGetErrorName and cuGetErrorString for it. An Error with Code
// CUDA_ERROR_NO_DEVICE matches ErrNoDevice under errors.Is, and one with
// CUDA_ERROR_STUB_LIBRARY matches ErrNoDriver; both match
// errdefs.ErrUnavailable.
type Error struct {
	Op   string
	Code int
	Name string
	Msg  string
	// Log is extra text from the driver, such as the JIT error log of
	// LoadModule; empty otherwise.
	Log string
}

// Error formats as "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of
// memory", followed by the log, if any, on the next lines.
func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = "CUresult"
	}
	s := fmt.Sprintf("cuda: %s: %s (%d)", e.Op, name, e.Code)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Log != "" {
		s += "\n" + e.Log
	}
	return s
}

// Is reports whether e is an instance of target (see Error).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNoDevice:
		return e.Code == codeNoDevice
	case ErrNoDriver:
		return e.Code == codeStubLibrary
	case errdefs.ErrUnavailable:
		return e.Code == codeNoDevice || e.Code == codeStubLibrary
	}
	return false
}

func hasCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsOutOfMemory reports whether err is a driver error
// CUDA_ERROR_OUT_OF_MEMORY.
func IsOutOfMemory(err error) bool { return hasCode(err, codeOutOfMemory) }

// IsNotSupported reports whether err is a driver error
// CUDA_ERROR_NOT_SUPPORTED (for example a stream memory operation the
// device or platform does not offer).
func IsNotSupported(err error) bool { return hasCode(err, codeNotSupported) }

// IsNotFound reports whether err is a driver error CUDA_ERROR_NOT_FOUND (for
// example a kernel or global name absent from a module).
func IsNotFound(err error) bool { return hasCode(err, codeNotFound) }

// IsNotReady reports whether err is a driver error CUDA_ERROR_NOT_READY.
// Stream.Query and Event.Query never return it: they report (false, nil).
func IsNotReady(err error) bool { return hasCode(err, codeNotReady) }

// Driver is one loaded CUDA driver library. Load may be called more than
// once; each Driver has its own handle and entry-point table. A Driver is
// safe for concurrent use.
type Driver struct {
	lib     driverLib
	path    string
	version int
	closed  atomic.Bool
}

// Load opens the CUDA driver library at path ("" means "libcuda.so.1", found
// through the dynamic loader's search path), resolves every entry point this
// package uses, and initializes the driver (cuInit). Errors wrap ErrNoDriver
// (the library cannot be opened; the message includes dlerror), ErrMissingSymbol
// (the message names each missing entry point) or ErrNoDevice (no GPU).
func Load(path string) (*Driver, error) {
	if path == "" {
		path = "libcuda.so.1"
	}
	if !haveCgo {
		return nil, fmt.Errorf("%w: the binary was built without cgo (CGO_ENABLED=0), so %s cannot be loaded", ErrNoDriver, path)
	}
	lib, st, msg := openLib(path)
	switch st {
	case loadOK:
	case loadDlopen:
		return nil, fmt.Errorf("%w: dlopen %s: %s", ErrNoDriver, path, msg)
	case loadMissing:
		return nil, fmt.Errorf("%w: %s lacks %s", ErrMissingSymbol, path, msg)
	default:
		return nil, fmt.Errorf("%w: loading %s failed (status %d)", ErrNoDriver, path, st)
	}
	// From here on the library stays loaded for the life of the process:
	// once cuInit has run, driver threads execute its code, and unloading
	// it is not supported.
	d := &Driver{lib: lib, path: path}
	if err := d.start(); err != nil {
		lib.release()
		return nil, err
	}
	return d, nil
}

// start runs cuInit and checks that there is a device.
func (d *Driver) start() error {
	if r := d.lib.init(); r != 0 {
		err := d.err("cuInit", r)
		switch r {
		case codeNoDevice:
			return fmt.Errorf("%w: %s: %w", ErrNoDevice, d.path, err)
		case codeStubLibrary:
			return fmt.Errorf("%w: %s is a stub library: %w", ErrNoDriver, d.path, err)
		}
		return fmt.Errorf("cuda: initializing %s: %w", d.path, err)
	}
	v, r := d.lib.version()
	if r != 0 {
		return d.err("cuDriverGetVersion", r)
	}
	d.version = v
	n, r := d.lib.deviceCount()
	if r != 0 {
		return d.err("cuDeviceGetCount", r)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s reports 0 devices", ErrNoDevice, d.path)
	}
	return nil
}

// err builds the Error for result r of op. Only failures come here.
func (d *Driver) err(op string, r result) error {
	if r&ctxErrBit != 0 {
		op = "cuCtxSetCurrent (before " + op + ")"
		r &^= ctxErrBit
	}
	e := &Error{Op: op, Code: int(r)}
	e.Name, e.Msg = d.lib.errorText(r)
	return e
}

// Close marks the Driver closed: later Driver methods return ErrClosed.
// Contexts and objects made from it must be closed first. The library itself
// stays mapped (the CUDA driver cannot be unloaded once initialized).
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return errClosed
	}
	return nil
}

// Path is the library path the Driver was loaded from.
func (d *Driver) Path() string { return d.path }

// Version is the driver's CUDA version, 1000*major + 10*minor (12040 is
// CUDA 12.4), from cuDriverGetVersion.
func (d *Driver) Version() int { return d.version }

// MemOpsV2 reports whether the stream memory operations resolved to the
// _v2 entry points (CUDA 11.7 and later drivers), which need no kernel
// module option; the older ones need NVreg_EnableStreamMemOPs=1.
func (d *Driver) MemOpsV2() bool { return d.lib.memOpsV2() }

// DeviceCount is the number of CUDA devices the process can see.
func (d *Driver) DeviceCount() (int, error) {
	if d.closed.Load() {
		return 0, errClosed
	}
	n, r := d.lib.deviceCount()
	if r != 0 {
		return 0, d.err("cuDeviceGetCount", r)
	}
	return n, nil
}

// Info describes one device.
type Info struct {
	Name               string
	TotalMem           uint64   // bytes
	PCIBusID           string   // "domain:bus:device.function", e.g. "0000:3b:00.0"
	UUID               [16]byte // cuDeviceGetUuid_v2 (a MIG instance's own UUID)
	ComputeCapability  [2]int   // major, minor
	MemoryClockKHz     int      // peak memory clock; 0 when the driver no longer reports it
	MemoryBusWidthBits int      // 0 when the driver no longer reports it
	MultiProcessors    int
	// CanUseStreamMemOps reports that Stream.WaitValue32/64 and
	// WriteValue32/64 work on this device with the entry points loaded:
	// with the _v2 entry points, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS
	// (the 32-bit ones are always there); with the v1 ones,
	// CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1 and its 64-bit twin.
	CanUseStreamMemOps bool
	UnifiedAddressing  bool
}

// CUdevice_attribute values (cuda.h, CUDA 12).
const (
	attrMultiprocessorCount     = 16
	attrMemoryClockRate         = 36
	attrGlobalMemoryBusWidth    = 37
	attrUnifiedAddressing       = 41
	attrComputeCapabilityMajor  = 75
	attrComputeCapabilityMinor  = 76
	attrCanUseStreamMemOpsV1    = 92
	attrCanUse64BitMemOpsV1     = 93
	attrCanUse64BitStreamMemOps = 122
)

var infoSteps = [...]string{"cuDeviceGetName", "cuDeviceTotalMem_v2", "cuDeviceGetPCIBusId", "cuDeviceGetUuid_v2"}

// DeviceInfo describes the device with the given ordinal (0 ≤ ordinal <
// DeviceCount).
func (d *Driver) DeviceInfo(ordinal int) (Info, error) {
	var in Info
	if d.closed.Load() {
		return in, errClosed
	}
	dev, r := d.lib.deviceGet(ordinal)
	if r != 0 {
		return in, d.err("cuDeviceGet", r)
	}
	name, pci, uuid, total, step, r := d.lib.deviceInfo(dev)
	if r != 0 {
		return in, d.err(infoSteps[step], r)
	}
	in.Name, in.PCIBusID, in.UUID, in.TotalMem = name, pci, uuid, total
	attr := func(a int, dst *int) error {
		v, r := d.lib.deviceAttr(dev, a)
		if r != 0 {
			return d.err(fmt.Sprintf("cuDeviceGetAttribute(%d)", a), r)
		}
		*dst = v
		return nil
	}
	var unified, memops, memops64 int
	for _, a := range []struct {
		attr int
		dst  *int
	}{
		{attrComputeCapabilityMajor, &in.ComputeCapability[0]},
		{attrComputeCapabilityMinor, &in.ComputeCapability[1]},
		{attrMultiprocessorCount, &in.MultiProcessors},
		{attrUnifiedAddressing, &unified},
	} {
		if err := attr(a.attr, a.dst); err != nil {
			return in, err
		}
	}
	// Informational only: newer drivers may deprecate these.
	_ = attr(attrMemoryClockRate, &in.MemoryClockKHz)
	_ = attr(attrGlobalMemoryBusWidth, &in.MemoryBusWidthBits)
	if d.lib.memOpsV2() {
		// An older driver may not know the attribute: then no.
		_ = attr(attrCanUse64BitStreamMemOps, &memops)
		memops64 = memops
	} else {
		_ = attr(attrCanUseStreamMemOpsV1, &memops)
		_ = attr(attrCanUse64BitMemOpsV1, &memops64)
	}
	in.UnifiedAddressing = unified != 0
	in.CanUseStreamMemOps = memops != 0 && memops64 != 0
	return in, nil
}

// Primary retains the primary context of the device with the given ordinal
// (cuDeviceGet + cuDevicePrimaryCtxRetain). Every process using a device
// shares its primary context; each Primary must be paired with a
// Context.Close.
func (d *Driver) Primary(ordinal int) (*Context, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	dev, r := d.lib.deviceGet(ordinal)
	if r != 0 {
		return nil, d.err("cuDeviceGet", r)
	}
	ctx, r := d.lib.primaryRetain(dev)
	if r != 0 {
		return nil, d.err("cuDevicePrimaryCtxRetain", r)
	}
	return &Context{d: d, lib: d.lib, ctx: ctx, dev: dev, ordinal: ordinal}, nil
}
