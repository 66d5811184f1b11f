// Package device is the device side of a PE: where its device symmetric
// heap lives, and the GPU behind it.
//
// Every PE has two symmetric heaps sharing one offset space (see
// hostshmem.Space): the host heap, and the device heap of
// GSHMEM_DEVICE_SYMMETRIC_SIZE bytes. Allocate on it with
// hostshmem.MallocOn(ctx, pe, hostshmem.Device, n); the returned Sym names
// the object on every PE, and every way of moving data accepts it: Go calls
// (hostshmem.Put, Get, atomics, waits), stream-ordered operations (package
// streams) and CUDA kernels using kernels/gshmem_device.cuh.
//
// At start-up package gshmem calls Choose once per process: GSHMEM_DEVICE=cpu,
// no libcuda.so.1, or no GPU select the CPU fallback, where the device heap is
// host memory at the end of the symmetric region and streams are ordered
// worker goroutines (the same semantics, slower). On a fallback nobody chose
// (GSHMEM_DEVICE=cpu chooses it quietly), the first use of the device side
// (a device allocation, a stream, a call of this package) says so once per
// process on stderr, with the reason; a host-only program hears nothing.
// Otherwise each PE gets GPU GSHMEM_DEVICE, or its local rank modulo the
// visible GPUs, and Attach allocates its heap with cuMemAlloc, exchanges CUDA
// IPC handles with the other PEs over the host fabric, maps theirs, and loads
// the runtime's kernels (package kernels), resolving every one. Several PEs
// of one process may share one GPU (one context: their kernels run side by
// side); PEs of several processes may share one only when MPS serves them,
// or Plan.AllowSharedGPU (GSHMEM_SHARED_GPU=1) says so: Attach otherwise
// fails with ErrSharedGPU, as their spinning device barriers would take
// turns in time slices.
//
// Code is loaded into a GPU context only in load windows, collectives in
// which no PE of the process has device work in flight (loading waits for
// the whole context to go idle, which a peer's spinning kernel never
// does): Attach loads the runtime's module in one, LoadModule each user
// module, after quieting the streams that registered with Heap.OnQuiesce.
//
// Host-side writes to GPU memory (Put, the zeroing of CallocOn, module
// state) are complete on the GPU when the call returns: each is queued on
// the heap's own stream and waited for. A PE's Finalize unmaps its peers'
// heaps before its closing barrier and frees its own after it, so no heap
// is freed while a peer still maps it.
//
// Ptr translates a symmetric object to a peer's address (nvshmem_ptr);
// LoadModule loads a user's PTX and initialises the device API state in it
// (nvshmemx_cumodule_init); streams.Stream.Launch runs its kernels in stream
// order.
//
// The CUDA driver itself is package device/cuda, loaded with dlopen at run
// time: the same binary runs with or without a GPU, and builds without CUDA.
//
// # Errors
//
// Errors name the operation and the values ("device: ptr: PE out of
// range: PE 5 of 4"). Those to branch on with errors.Is are the shared
// kinds of package errdefs (hostshmem's names for them are the same
// values): ErrInvalidPE (a peer outside the job), ErrInvalidArg (an empty
// object, a misaligned atomic), ErrOutOfRange (an invalid Sym, bytes
// outside a device heap); and ErrNoGPU, an errdefs.ErrUnavailable, from
// GPU-only calls on a PE without a GPU. Choose passes on device/cuda's
// errors when the driver is broken (ErrMissingSymbol, say) or a GPU it was
// told to use is missing (ErrNoDriver, ErrNoDevice: also
// errdefs.ErrUnavailable); the driver calls' own failures are
// *cuda.Error.
package device
