package hostshmem

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/fabric"
)

// DeviceReservedBytes precede the user objects of every PE's device heap:
// the device side's barrier counters and records (kernels/gshmem_device.cuh
// lays them out; package kernels checks that the two agree).
const DeviceReservedBytes = 64 << 10

// DeviceMemory moves bytes in and out of device heaps that this process
// cannot load from or store to: GPU memory. Package device implements it
// with the GPU's copy engines and kernels; a PE gets one through
// AttachDevice. Offsets are byte offsets from the start of a device heap.
// All methods are synchronous: they return when the copy or atomic is
// complete and visible at pe, and the caller's buffer may be reused.
type DeviceMemory interface {
	// Put copies src into PE pe's device heap at off.
	Put(pe int, off uintptr, src []byte) error
	// Get copies len(dst) bytes at off of PE pe's device heap into dst.
	Get(pe int, off uintptr, dst []byte) error
	// AMO64 applies op to the 8-byte word at off on PE pe and returns its
	// previous value (fabric.Fabric.AMO64's contract).
	AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error)
	// AMO32 is AMO64 for a 4-byte word.
	AMO32(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error)
	// Zero clears n bytes at off of this PE's device heap.
	Zero(off, n uintptr) error
	// Close unmaps the peers' heaps and frees this PE's. The PE owns dm
	// from AttachDevice on and calls Close once, last of what it owns:
	// after its closing barrier with Finalize's context, or on Abort with a
	// context that is already done. It never uses dm again.
	Close(ctx context.Context) error
}

// DeviceHeapSize is the number of bytes of user device heap on each PE.
func (p *PE) DeviceHeapSize() uintptr {
	if p.devSize == 0 {
		return 0
	}
	return p.devSize - DeviceReservedBytes
}

// DeviceOffset is the symmetric offset at which the device heap starts
// (its reserved area first): a device object's offset minus DeviceOffset is
// its byte offset in every PE's device heap. Zero when p has no device heap.
func (p *PE) DeviceOffset() uintptr { return p.devOff }

// DeviceMemory returns the GPU memory attached with AttachDevice, or nil:
// on the CPU fallback the device heap lives in the symmetric region, where
// Local, Peer and every transport reach it like the host heap.
func (p *PE) DeviceMemory() DeviceMemory { return p.gpu }

// AttachDevice makes dm this PE's device heap, which the PE then owns (it
// closes dm when it is finalized or aborted; see DeviceMemory.Close). Only a PE created with
// Config.DeviceHeap and Config.DeviceExternal takes one, once, before any
// device object is used; every PE of the job attaches its own.
func (p *PE) AttachDevice(dm DeviceMemory) error {
	switch {
	case dm == nil:
		return fmt.Errorf("gshmem: attach device: %w: nil DeviceMemory", ErrInvalidArg)
	case p.devSize == 0 || !p.devExternal:
		return fmt.Errorf("gshmem: attach device: %w: the PE was not created for an external device heap", ErrInvalidArg)
	case p.gpu != nil:
		return fmt.Errorf("gshmem: attach device: %w: already attached", ErrInvalidArg)
	}
	p.gpu = dm
	p.rma = devRoute{Fabric: p.fab, dm: dm, base: p.devOff}
	return nil
}

// onGPU reports whether bytes at off are in GPU memory.
func (p *PE) onGPU(off uintptr) bool { return p.devExternal && p.devSize != 0 && off >= p.devOff }

// devRoute sends Put, Get and the AMOs at device offsets to the GPU and the
// rest to the fabric; hostshmem's RMA paths issue through it. Writes to
// GPU memory notify nobody: host waits on GPU memory poll (pollVars), as
// they must for a kernel's writes.
type devRoute struct {
	fabric.Fabric
	dm   DeviceMemory
	base uintptr
}

func (r devRoute) Put(pe int, off uintptr, src []byte) error {
	if off < r.base {
		return r.Fabric.Put(pe, off, src)
	}
	return r.dm.Put(pe, off-r.base, src)
}

func (r devRoute) Get(pe int, off uintptr, dst []byte) error {
	if off < r.base {
		return r.Fabric.Get(pe, off, dst)
	}
	return r.dm.Get(pe, off-r.base, dst)
}

func (r devRoute) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	if off < r.base {
		return r.Fabric.AMO64(pe, off, op, operand, cmp)
	}
	return r.dm.AMO64(pe, off-r.base, op, operand, cmp)
}

func (r devRoute) AMO32(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint32) (uint32, error) {
	if off < r.base {
		return r.Fabric.AMO32(pe, off, op, operand, cmp)
	}
	return r.dm.AMO32(pe, off-r.base, op, operand, cmp)
}

// PutSignal is the fabric's where data and signal are host memory;
// otherwise a Put, then the signal's AMO, each where its memory is.
func (r devRoute) PutSignal(pe int, off uintptr, src []byte, sigOff uintptr, op fabric.AMOOp, sig uint64, c fabric.Completion) error {
	if off < r.base && sigOff < r.base {
		return r.Fabric.PutSignal(pe, off, src, sigOff, op, sig, c)
	}
	if err := r.Put(pe, off, src); err != nil {
		return err
	}
	_, err := r.AMO64(pe, sigOff, op, sig, 0)
	return err
}

// MallocOn is Malloc on the heap space: Host or Device. Device objects have
// offsets of their own (past the host heap), the same on every PE.
func MallocOn[T Elem](ctx context.Context, p *PE, space Space, n int) (Sym[T], error) {
	return allocOn[T](ctx, p, space, "malloc", kindMalloc, n, heapAlign)
}

// CallocOn is Calloc on the heap space.
func CallocOn[T Elem](ctx context.Context, p *PE, space Space, n int) (Sym[T], error) {
	return allocOn[T](ctx, p, space, "calloc", kindCalloc, n, heapAlign)
}

func allocOn[T Elem](ctx context.Context, p *PE, space Space, op string, kind uint64, n int, align uintptr) (Sym[T], error) {
	switch space {
	case Host:
		return alloc[T](ctx, p, op, kind, n, align, nil)
	case Device:
		p.UsingDevice()
		// A PE without the heap still takes part, so that all fail alike.
		var bad error
		if p.devSize == 0 {
			bad = fmt.Errorf("%w: this PE has no device heap (set GSHMEM_DEVICE_SYMMETRIC_SIZE)", ErrNoDevice)
		} else if p.devExternal && p.gpu == nil {
			bad = fmt.Errorf("%w: the GPU heap is not attached", ErrNoDevice)
		}
		return alloc[T](ctx, p, op, kind|kindDevice, n, align, bad)
	}
	return Sym[T]{}, fmt.Errorf("gshmem: %s: %w: %v", op, ErrInvalidArg, space)
}

// hostLoadable rejects objects in GPU memory, which the host cannot load
// or store, for the host collectives (package streams runs collectives on
// GPU memory).
func hostLoadable[T Elem](p *PE, op, name string, s Sym[T]) error {
	if s.n > 0 && p.onGPU(s.off) {
		return fmt.Errorf("gshmem: %s: %s %v is in GPU memory: run the collective on a stream (package streams)", op, name, s)
	}
	return nil
}
