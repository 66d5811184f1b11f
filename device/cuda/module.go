package cuda

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Module is code loaded into a context: PTX (JIT-compiled by the driver for
// the device), a cubin or a fatbin.
type Module struct {
	c *Context
	h uintptr
}

// LoadModule loads a module image (cuModuleLoadDataEx). PTX is text; the
// image is copied and NUL-terminated here, so it needs no terminator. When
// the JIT rejects PTX the returned *Error carries the JIT's error log in Log
// (and in its message).
func (c *Context) LoadModule(image []byte) (*Module, error) {
	if len(image) == 0 {
		return nil, fmt.Errorf("cuda: LoadModule of an empty image")
	}
	h, log, r := c.lib.moduleLoad(c.ctx, image)
	if r != 0 {
		err := c.err("cuModuleLoadDataEx", r)
		if e, ok := err.(*Error); ok {
			e.Log = strings.TrimSpace(log)
		}
		return nil, err
	}
	return &Module{c: c, h: h}, nil
}

// Unload unloads the module (cuModuleUnload); its Functions and globals
// become invalid. Work already queued that uses them must have finished.
func (m *Module) Unload() error {
	if m.h == 0 {
		return errClosed
	}
	h := m.h
	m.h = 0
	if r := m.c.lib.moduleUnload(m.c.ctx, h); r != 0 {
		return m.c.err("cuModuleUnload", r)
	}
	return nil
}

// Function is a kernel of a loaded module.
type Function struct {
	m    *Module
	h    uintptr
	name string
}

// Function looks up the kernel with the given (mangled, for C++) name
// (cuModuleGetFunction); a missing name gives an error for which IsNotFound
// is true.
func (m *Module) Function(name string) (*Function, error) {
	h, r := m.c.lib.moduleFunction(m.c.ctx, m.h, name)
	if r != 0 {
		return nil, m.c.err("cuModuleGetFunction("+name+")", r)
	}
	return &Function{m: m, h: h, name: name}, nil
}

// missing is the error of a call whose optional entry point op the driver
// lacks; it matches errors.ErrUnsupported.
func (c *Context) missing(op string) error {
	return fmt.Errorf("cuda: %s: the driver %s lacks it (CUDA 12.4 and later have it): %w", op, c.d.path, errors.ErrUnsupported)
}

// Functions returns every kernel of the module, resolved
// (cuModuleGetFunctionCount, cuModuleEnumerateFunctions and cuFuncGetName:
// drivers of CUDA 12.4 and later). On an older driver it returns an error
// matching errors.ErrUnsupported: look kernels up by name with Function
// instead. Under lazy loading (CUDA_MODULE_LOADING=LAZY, the default from
// CUDA 12.2) the handles may be partially loaded: see Function.Load.
func (m *Module) Functions() ([]*Function, error) {
	n, r := m.c.lib.moduleFunctionCount(m.c.ctx, m.h)
	switch {
	case r == codeMissing:
		return nil, m.c.missing("cuModuleGetFunctionCount")
	case r != 0:
		return nil, m.c.err("cuModuleGetFunctionCount", r)
	}
	hs, names, r := m.c.lib.moduleFunctions(m.c.ctx, m.h, n)
	switch {
	case r == codeMissing:
		return nil, m.c.missing("cuModuleEnumerateFunctions")
	case r != 0:
		return nil, m.c.err("cuModuleEnumerateFunctions", r)
	}
	fs := make([]*Function, n)
	for i := range fs {
		fs[i] = &Function{m: m, h: hs[i], name: names[i]}
	}
	return fs, nil
}

// Load loads f completely on the device (cuFuncLoad, CUDA 12.4 and later
// drivers). Under lazy loading a Function may be only partially loaded,
// and the driver then finishes loading it at its first launch, waiting for
// the whole context to go idle: a deadlock when another kernel of the
// context is spinning until this one runs. Load it beforehand, while the
// context is idle. On an older driver Load returns an error matching
// errors.ErrUnsupported; Function's lookup then is the last chance the
// driver offers (set CUDA_MODULE_LOADING=EAGER to be sure).
func (f *Function) Load() error {
	switch r := f.m.c.lib.funcLoad(f.m.c.ctx, f.h); {
	case r == codeMissing:
		return f.m.c.missing("cuFuncLoad")
	case r != 0:
		return f.m.c.err("cuFuncLoad("+f.name+")", r)
	}
	return nil
}

// Global is the device address and size of the module's global variable
// with the given name (cuModuleGetGlobal_v2).
func (m *Module) Global(name string) (DevicePtr, uintptr, error) {
	p, n, r := m.c.lib.moduleGlobal(m.c.ctx, m.h, name)
	if r != 0 {
		return 0, 0, m.c.err("cuModuleGetGlobal_v2("+name+")", r)
	}
	return DevicePtr(p), n, nil
}

// Name is the kernel's name.
func (f *Function) Name() string { return f.name }

// MaxThreadsPerBlock is the largest block a launch of f may use on this
// device (cuFuncGetAttribute, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK).
func (f *Function) MaxThreadsPerBlock() (int, error) {
	const attrMaxThreadsPerBlock = 0
	v, r := f.m.c.lib.funcAttr(f.m.c.ctx, f.h, attrMaxThreadsPerBlock)
	if r != 0 {
		return 0, f.m.c.err("cuFuncGetAttribute", r)
	}
	return v, nil
}

// Dim3 is a grid or block shape; a zero component counts as 1, so
// Dim3{X: n} is a one-dimensional shape.
type Dim3 struct{ X, Y, Z uint32 }

func (d Dim3) norm() Dim3 {
	if d.X == 0 {
		d.X = 1
	}
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}

// packArgs turns kernel arguments into one 8-byte slot each (little-endian;
// 4-byte values in the low half). Only fixed-size types whose C size is
// unambiguous are accepted: DevicePtr, uintptr, int32, uint32, int64,
// uint64, float32, float64. Plain int and uint are refused, so that a
// 64-bit Go int can never be passed where the kernel reads a 32-bit C int.
func packArgs(args []any) ([]uint64, error) {
	if len(args) > maxArgs {
		return nil, fmt.Errorf("cuda: %d kernel arguments, more than the %d supported", len(args), maxArgs)
	}
	slots := make([]uint64, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case DevicePtr:
			slots[i] = uint64(v)
		case uintptr:
			slots[i] = uint64(v)
		case int32:
			slots[i] = uint64(uint32(v))
		case uint32:
			slots[i] = uint64(v)
		case int64:
			slots[i] = uint64(v)
		case uint64:
			slots[i] = v
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case float64:
			slots[i] = math.Float64bits(v)
		case int, uint:
			return nil, fmt.Errorf("cuda: kernel argument %d has type %T: say int32 or int64 (uint32 or uint64) to match the kernel's parameter", i, a)
		default:
			return nil, fmt.Errorf("cuda: kernel argument %d has unsupported type %T (want DevicePtr, uintptr, int32, uint32, int64, uint64, float32 or float64)", i, a)
		}
	}
	return slots, nil
}

// Launch queues f on s (nil: the legacy default stream) with the given grid
// and block shapes and dynamic shared memory bytes (cuLaunchKernel). args
// are the kernel's parameters in order, each of type DevicePtr, uintptr,
// int32, uint32, int64, uint64, float32 or float64, matching the kernel's
// declaration in size; they are copied before Launch returns.
func Launch(f *Function, grid, block Dim3, sharedMem uint32, s *Stream, args ...any) error {
	slots, err := packArgs(args)
	if err != nil {
		return err
	}
	c := f.m.c
	if r := c.lib.launch(c.ctx, f.h, grid.norm(), block.norm(), sharedMem, s.handle(), slots); r != 0 {
		return c.err("cuLaunchKernel("+f.name+")", r)
	}
	return nil
}
