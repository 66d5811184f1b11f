// Package cuda is a thin binding of the CUDA driver API (libcuda), loaded at
// run time. It needs no CUDA header or library to build, and the same binary
// runs on machines with and without a GPU.
//
// # Loading
//
// Load dlopens the driver library ("libcuda.so.1" by default, RTLD_NOW |
// RTLD_LOCAL) through a small C shim that carries its own declarations of
// the driver types. Every entry point the package uses is resolved with dlsym
// at load, under its current versioned name (cuMemAlloc_v2,
// cuStreamWaitValue64_v2, ...; the stream memory operations and
// cuDeviceGetUuid fall back to their older names on old drivers), and a
// missing one fails Load with ErrMissingSymbol naming it: nothing is resolved
// lazily, so no call can later jump to an unresolved symbol. A few newer
// entry points are optional (function enumeration and cuFuncLoad, CUDA
// 12.4): Load resolves them when present, and the methods that need them
// (Module.Functions, Function.Load) return an error matching
// errors.ErrUnsupported on a driver without them. Load then runs
// cuInit(0). The errors a caller branches on:
//
//   - ErrNoDriver: the library cannot be opened (the message holds
//     dlerror()), it is a stub, or the binary was built without cgo
//     (CGO_ENABLED=0 builds this package with a stub whose Load always
//     returns ErrNoDriver);
//   - ErrNoDevice: the driver works but there is no GPU (cuInit returned
//     CUDA_ERROR_NO_DEVICE, or no device is visible);
//   - ErrMissingSymbol: the driver is too old for this package.
//
// ErrNoDriver and ErrNoDevice are errdefs.ErrUnavailable, the kind every
// gshmem package returns when the machine or the build lacks what a call
// needs. A Driver used after Close, and a second Close, Destroy or Unload
// of a Context, Stream, Event or Module, return ErrClosed, the shared
// errdefs.ErrClosed.
//
// Load may be called any number of times; each *Driver has its own handle
// and entry-point table, and the package holds no global state. Once cuInit
// has run, the library stays mapped for the rest of the process (its own
// threads run its code), whatever Driver.Close does.
//
// Driver calls that fail return *Error, which names the entry point, the
// CUresult and the driver's name and description of it. CUDA_ERROR_NOT_READY
// from Stream.Query and Event.Query is not an error: they return
// (false, nil).
//
// # Contexts and threads
//
// The CUDA "current context" is per OS thread, while goroutines move between
// threads. Every Context method therefore makes its context current and
// makes the call inside one C call, during which the goroutine cannot change
// threads: Contexts may be used from any goroutine, concurrently, with no
// pinning by the caller, and several Contexts (devices) may be used from one
// goroutine. Context.Do pins the goroutine (runtime.LockOSThread) with the
// context current for code that relies on the thread's current context, such
// as other CUDA libraries called through cgo. Driver.Primary uses the
// device's primary context, which the process shares with any CUDA runtime
// code it also runs.
//
// # Memory and lifetimes
//
// DevicePtr is a device address; IpcMemHandle, Dim3 and the flag types are
// plain values. No exported signature exposes a C type or unsafe.Pointer.
//
// Synchronous copies (CopyHtoD, CopyDtoH) return when the host buffer may be
// reused. The async copies queue on a stream, and the rule for their host
// buffer is the same for every kind of memory: it must stay allocated (for a
// Go slice: reachable) and untouched until the stream has passed the copy
// (Stream.Synchronize, Event.Synchronize, a later Query that reports done).
// What differs is the cost:
//
//   - page-locked memory from Context.HostAlloc, or mmap'd memory registered
//     with Context.HostRegister, is copied by DMA later, truly
//     asynchronously;
//   - ordinary Go memory is pageable: the driver "might be synchronous"
//     (CUDA's API synchronization notes) and in practice stages it (host to
//     device) or completes the copy (device to host) before returning, so
//     the call blocks the host like the synchronous one.
//
// cgo forbids C from keeping a pointer to Go memory after a call returns,
// and the driver keeps the addresses of registered memory. So memory passed
// to HostRegister (and so any host memory the device reads or writes through
// HostDevicePtr) must not be Go-heap memory: use HostAlloc (page-locked,
// portable, device-mapped C memory) or an mmap'd region such as a
// shared-memory segment. HostAlloc memory is also what makes async copies
// overlap with the host.
//
// Kernel arguments (Launch) are copied into C memory before cuLaunchKernel;
// only fixed-size numeric types and DevicePtr are accepted, never plain int,
// so a Go value always has the size the kernel's parameter has.
//
// # Tests
//
// Tests that need a GPU skip without one. The loader's failure paths are
// tested everywhere against small fake driver libraries that the tests
// compile with gcc.
package cuda
