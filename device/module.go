package device

import (
	"context"
	"errors"
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

// ErrSharedGPU is returned by Attach, on every PE, when PEs of several
// processes would share a GPU that MPS does not serve (the message names
// the PEs, the GPU and the ways out). Kernels of different processes on
// one GPU take turns in time slices, and the device barriers and
// collectives spin until their peers arrive. Plan.AllowSharedGPU
// (GSHMEM_SHARED_GPU=1) allows the layout anyway.
var ErrSharedGPU = errors.New("device: GPU shared by several processes without MPS")

// Module is a CUDA module (PTX or cubin) loaded on a PE's GPU with the
// device API's state initialised in it (nvshmemx_cumodule_init): kernels
// compiled with kernels/gshmem_device.cuh see this PE's number, the job's
// size and every mapped peer heap.
type Module struct {
	m   *cuda.Module
	h   *Heap
	own *hostshmem.Ownership // nil for the runtime's own module, which the heap closes
	// fns are the kernels resolved and loaded in the load window: every
	// kernel of the module when complete (the driver enumerates them, or
	// the runtime's module), else those named at LoadModule.
	fns      map[string]*cuda.Function
	complete bool
}

// LoadModule loads image (PTX text, a cubin or a fatbin) on pe's GPU,
// resolves its kernels, and, when the module includes the device header,
// initialises its device state. It returns ErrNoGPU on the CPU fallback:
// enqueue a Go function on a stream there instead (streams.Stream.Go). pe
// owns the module: one still loaded when pe is finalized is unloaded then
// (hostshmem.PE.Own), before the heap goes.
//
// LoadModule is collective: every PE of the job calls it, with its own
// image (usually the same). Loading code into a CUDA context waits until
// every kernel of the context has finished, and the PEs of a process share
// one context, so LoadModule runs in a load window: it waits, bounded by
// ctx, until every PE has entered and has quieted its streams (each
// stream's device work done and new device work held back; see
// Heap.OnQuiesce), loads, and lets the streams go on once every PE has
// loaded. Kernels the program launches outside streams must have finished
// before it calls LoadModule. If any PE fails, every PE fails (the others
// with ErrPeerFailed) and none keeps the module.
//
// Inside the window every kernel of the module is resolved and fully
// loaded (cuModuleEnumerateFunctions and cuFuncLoad, CUDA 12.4 drivers),
// so that neither Module.Function nor a launch loads code later, whatever
// CUDA_MODULE_LOADING says. On older drivers only the kernels named in
// kernels are resolved in the window, and Function looks up others
// later, which may load them then and wait for the context to be idle
// (under CUDA_MODULE_LOADING=LAZY, the default from CUDA 12.2): name every
// kernel the program launches, or set CUDA_MODULE_LOADING=EAGER. A name
// in kernels that the module lacks fails the load.
func LoadModule(ctx context.Context, pe *hostshmem.PE, image []byte, kernels ...string) (*Module, error) {
	pe.UsingDevice()
	h, ok := pe.DeviceMemory().(*Heap)
	if !ok {
		return nil, ErrNoGPU
	}
	var m *Module
	err := window(ctx, h.agree, &h.quiesce, "load module", func() (func(), error) {
		var err error
		if m, err = h.load(image, kernels, false); err != nil {
			return nil, err
		}
		return func() { m.m.Unload() }, nil
	})
	if err != nil {
		return nil, err
	}
	if m.own, err = pe.Own(ownedModule{m}); err != nil {
		m.m.Unload()
		return nil, fmt.Errorf("device: load module: %w", err)
	}
	return m, nil
}

// load loads image, resolves its kernels (all of them where the driver
// enumerates them, and names; complete: names are all of them), loads
// them fully where the driver can, and initialises the device state. Call
// it only inside a load window. On error nothing stays loaded.
func (h *Heap) load(image []byte, names []string, complete bool) (mod *Module, err error) {
	m, err := h.ctx.LoadModule(image)
	if err != nil {
		return nil, fmt.Errorf("device: load module: %w", err)
	}
	defer func() {
		if err != nil {
			m.Unload()
		}
	}()
	mod = &Module{m: m, h: h, fns: map[string]*cuda.Function{}, complete: complete}
	switch fs, err := m.Functions(); {
	case err == nil:
		for _, f := range fs {
			mod.fns[f.Name()] = f
		}
		mod.complete = true
	case !errors.Is(err, errors.ErrUnsupported):
		return nil, fmt.Errorf("device: load module: %w", err)
	}
	for _, name := range names {
		if _, ok := mod.fns[name]; ok {
			continue
		}
		f, err := m.Function(name)
		if err != nil {
			return nil, fmt.Errorf("device: load module: %w", err)
		}
		mod.fns[name] = f
	}
	for _, f := range mod.fns {
		if err := f.Load(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return nil, fmt.Errorf("device: load module: %w", err)
		}
	}
	g, size, err := m.Global(kernels.StateSymbol)
	switch {
	case cuda.IsNotFound(err):
		// A module that does not use the device API.
		return mod, nil
	case err != nil:
		return nil, fmt.Errorf("device: load module: %w", err)
	case size != kernels.StateSize:
		return nil, fmt.Errorf("device: load module: %s is %d bytes, this runtime's is %d: rebuild the module with this version's kernels/gshmem_device.cuh",
			kernels.StateSymbol, size, kernels.StateSize)
	}
	st, err := h.state()
	if err == nil {
		err = h.written("load module: initialising "+kernels.StateSymbol, h.ctx.CopyHtoDAsync(g, st, h.hs))
	}
	if err != nil {
		return nil, fmt.Errorf("device: load module: initialising %s: %w", kernels.StateSymbol, err)
	}
	return mod, nil
}

// Function returns the kernel name (an extern "C" __global__ function),
// resolved when the module was loaded: a lookup, no driver call. On a
// driver that cannot enumerate a module's kernels (before CUDA 12.4), a
// kernel not named at LoadModule is looked up now (cuModuleGetFunction),
// which under lazy loading may load it and wait for every kernel of the
// context to finish: see LoadModule.
func (m *Module) Function(name string) (*cuda.Function, error) {
	if f, ok := m.fns[name]; ok {
		return f, nil
	}
	if m.complete {
		return nil, fmt.Errorf("device: kernel %q: %w: the module has no such kernel", name, hostshmem.ErrInvalidArg)
	}
	f, err := m.m.Function(name)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	return f, nil
}

// Close unloads the module; using its functions afterwards is an error
// of the CUDA driver. ctx is not consulted. Unloading may wait for the
// kernels of the context (untested): close modules when no PE of the
// process has device work in flight, or leave them to Finalize, which
// closes them after its barrier.
func (m *Module) Close(ctx context.Context) error {
	m.own.Disown()
	return m.m.Unload()
}

// ownedModule is a Module as its PE owns it (hostshmem.Resource).
type ownedModule struct{ m *Module }

func (o ownedModule) Drain(context.Context) error { return nil }

func (o ownedModule) Close(ctx context.Context) error { return o.m.Close(ctx) }

func (o ownedModule) String() string { return fmt.Sprintf("a CUDA module of PE %d", o.m.h.me) }
