package device

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem/device/cuda"
	"github.com/gshmem/gshmem/errdefs"
	"github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/kernels"
)

// ErrNoGPU is returned for GPU-only calls (loading a CUDA module) on a PE
// without a GPU heap: the CPU fallback, or no device heap at all. It is an
// errdefs.ErrUnavailable.
var ErrNoGPU = errdefs.Refine(errdefs.ErrUnavailable, "device: no GPU (the PE runs the CPU fallback)")

// Module is a CUDA module (PTX or cubin) loaded on a PE's GPU with the
// device API's state initialised in it (nvshmemx_cumodule_init): kernels
// compiled with kernels/gshmem_device.cuh see this PE's number, the job's
// size and every mapped peer heap.
type Module struct {
	m   *cuda.Module
	h   *Heap
	own *hostshmem.Ownership // nil for the runtime's own module, which the heap closes
}

// LoadModule loads image (PTX text or a cubin) on pe's GPU and, when the
// module includes the device header, initialises its device state. It
// returns ErrNoGPU on the CPU fallback: enqueue a Go function on a stream
// there instead (streams.Stream.Go). pe owns the module: one still loaded
// when pe is finalized is unloaded then (hostshmem.PE.Own), before the
// heap goes.
func LoadModule(pe *hostshmem.PE, image []byte) (*Module, error) {
	pe.UsingDevice()
	h, ok := pe.DeviceMemory().(*Heap)
	if !ok {
		return nil, ErrNoGPU
	}
	m, err := h.load(image)
	if err != nil {
		return nil, err
	}
	if m.own, err = pe.Own(ownedModule{m}); err != nil {
		m.m.Unload()
		return nil, fmt.Errorf("device: load module: %w", err)
	}
	return m, nil
}

func (h *Heap) load(image []byte) (*Module, error) {
	m, err := h.ctx.LoadModule(image)
	if err != nil {
		return nil, fmt.Errorf("device: load module: %w", err)
	}
	g, size, err := m.Global(kernels.StateSymbol)
	switch {
	case cuda.IsNotFound(err):
		// A module that does not use the device API.
		return &Module{m: m, h: h}, nil
	case err != nil:
		m.Unload()
		return nil, fmt.Errorf("device: load module: %w", err)
	case size != kernels.StateSize:
		m.Unload()
		return nil, fmt.Errorf("device: load module: %s is %d bytes, this runtime's is %d: rebuild the module with this version's kernels/gshmem_device.cuh",
			kernels.StateSymbol, size, kernels.StateSize)
	}
	st, err := h.state()
	if err == nil {
		err = h.ctx.CopyHtoD(g, st)
	}
	if err != nil {
		m.Unload()
		return nil, fmt.Errorf("device: load module: initialising %s: %w", kernels.StateSymbol, err)
	}
	return &Module{m: m, h: h}, nil
}

// Function looks up the kernel name (an extern "C" __global__ function).
func (m *Module) Function(name string) (*cuda.Function, error) {
	f, err := m.m.Function(name)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	return f, nil
}

// Close unloads the module; using its functions afterwards is an error
// of the CUDA driver. Unloading does not block: ctx is not consulted.
func (m *Module) Close(ctx context.Context) error {
	m.own.Disown()
	return m.m.Unload()
}

// ownedModule is a Module as its PE owns it (hostshmem.Resource).
type ownedModule struct{ m *Module }

func (o ownedModule) Drain(context.Context) error { return nil }

func (o ownedModule) Close(ctx context.Context) error { return o.m.Close(ctx) }

func (o ownedModule) String() string { return fmt.Sprintf("a CUDA module of PE %d", o.m.h.me) }
