//go:build cgo

package cuda

// The mechanical layer: one Go method per shim.h call, taking and returning
// plain integers. No Go pointer passed here is kept by C after the call
// returns; the host pointers of the async copies and of host registration
// are the caller's (see doc.go).

/*
#cgo LDFLAGS: -ldl
#include "shim.h"
*/
import "C"

import "unsafe"

// result is a CUresult, possibly with ctxErrBit set when cuCtxSetCurrent
// failed before the call proper.
type result int32

const ctxErrBit = C.GSHM_CTX_ERR

const haveCgo = true

type driverLib struct {
	p *C.gshm_cuda
}

const (
	loadOK      = C.GSHM_LOAD_OK
	loadDlopen  = C.GSHM_LOAD_DLOPEN
	loadMissing = C.GSHM_LOAD_MISSING
)

// maxArgs is the most kernel parameters Launch passes.
const maxArgs = C.GSHM_MAX_ARGS

func openLib(path string) (driverLib, int, string) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	msg := (*C.char)(C.malloc(4096))
	defer C.free(unsafe.Pointer(msg))
	var p *C.gshm_cuda
	st := C.gshm_cuda_load(cpath, &p, msg, 4096)
	return driverLib{p}, int(st), C.GoString(msg)
}

// symbolNames lists every entry point Load resolves, with its fallback name
// ("" when none).
func symbolNames() (names, alts []string) {
	for i := 0; i < int(C.GSHM_CUDA_NSYMS); i++ {
		names = append(names, C.GoString(C.gshm_cuda_sym_name(C.int(i))))
		alts = append(alts, C.GoString(C.gshm_cuda_sym_alt(C.int(i))))
	}
	return names, alts
}

// optionalNames lists the entry points Load resolves when present.
func optionalNames() (names []string) {
	for i := 0; i < int(C.GSHM_CUDA_NOPT); i++ {
		names = append(names, C.GoString(C.gshm_cuda_opt_name(C.int(i))))
	}
	return names
}

// release frees the entry-point table of a Driver that Load gives up on. The
// library stays open: cuInit may have started driver threads.
func (l driverLib) release() { C.free(unsafe.Pointer(l.p)) }

func (l driverLib) memOpsV2() bool { return l.p.memops_v2 != 0 }

func (l driverLib) init() result { return result(C.gshm_init(l.p)) }

func (l driverLib) version() (int, result) {
	var v C.int
	r := C.gshm_version(l.p, &v)
	return int(v), result(r)
}

func (l driverLib) errorText(r result) (name, msg string) {
	var n, s *C.char
	C.gshm_error_text(l.p, C.CUresult(r), &n, &s)
	if n != nil {
		name = C.GoString(n)
	}
	if s != nil {
		msg = C.GoString(s)
	}
	return name, msg
}

func (l driverLib) deviceCount() (int, result) {
	var n C.int
	r := C.gshm_device_count(l.p, &n)
	return int(n), result(r)
}

func (l driverLib) deviceGet(ordinal int) (int32, result) {
	var d C.CUdevice
	r := C.gshm_device_get(l.p, &d, C.int(ordinal))
	return int32(d), result(r)
}

// deviceInfo returns the fixed-size facts; step says which call failed
// (0 name, 1 total memory, 2 PCI bus id, 3 UUID).
func (l driverLib) deviceInfo(dev int32) (name, pci string, uuid [16]byte, total uint64, step int, r result) {
	o := (*C.gshm_devinfo)(C.calloc(1, C.sizeof_gshm_devinfo))
	defer C.free(unsafe.Pointer(o))
	var st C.int
	r = result(C.gshm_device_info(l.p, C.CUdevice(dev), o, &st))
	name = C.GoString(&o.name[0])
	pci = C.GoString(&o.pci[0])
	for i := range uuid {
		uuid[i] = byte(o.uuid[i])
	}
	return name, pci, uuid, uint64(o.total), int(st), r
}

func (l driverLib) deviceAttr(dev int32, attr int) (int, result) {
	var v C.int
	r := C.gshm_device_attr(l.p, C.CUdevice(dev), C.int(attr), &v)
	return int(v), result(r)
}

func (l driverLib) primaryRetain(dev int32) (uintptr, result) {
	var c C.uintptr_t
	r := C.gshm_primary_retain(l.p, C.CUdevice(dev), &c)
	return uintptr(c), result(r)
}

func (l driverLib) primaryRelease(dev int32) result {
	return result(C.gshm_primary_release(l.p, C.CUdevice(dev)))
}

func (l driverLib) setCurrent(ctx uintptr) result {
	return result(C.gshm_set_current(l.p, C.uintptr_t(ctx)))
}

func (l driverLib) ctxSync(ctx uintptr) result {
	return result(C.gshm_ctx_sync(l.p, C.uintptr_t(ctx)))
}

func (l driverLib) memAlloc(ctx uintptr, n uintptr) (uint64, result) {
	var p C.CUdeviceptr
	r := C.gshm_mem_alloc(l.p, C.uintptr_t(ctx), &p, C.size_t(n))
	return uint64(p), result(r)
}

func (l driverLib) memFree(ctx uintptr, p uint64) result {
	return result(C.gshm_mem_free(l.p, C.uintptr_t(ctx), C.CUdeviceptr(p)))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (l driverLib) memset8(ctx uintptr, p uint64, v byte, n uintptr, s uintptr, async bool) result {
	return result(C.gshm_memset8(l.p, C.uintptr_t(ctx), C.CUdeviceptr(p), C.uchar(v), C.size_t(n),
		C.uintptr_t(s), cbool(async)))
}

func (l driverLib) htod(ctx uintptr, dst uint64, src unsafe.Pointer, n uintptr, s uintptr, async bool) result {
	return result(C.gshm_htod(l.p, C.uintptr_t(ctx), C.CUdeviceptr(dst), src, C.size_t(n),
		C.uintptr_t(s), cbool(async)))
}

func (l driverLib) dtoh(ctx uintptr, dst unsafe.Pointer, src uint64, n uintptr, s uintptr, async bool) result {
	return result(C.gshm_dtoh(l.p, C.uintptr_t(ctx), dst, C.CUdeviceptr(src), C.size_t(n),
		C.uintptr_t(s), cbool(async)))
}

func (l driverLib) dtod(ctx uintptr, dst, src uint64, n uintptr, s uintptr, async bool) result {
	return result(C.gshm_dtod(l.p, C.uintptr_t(ctx), C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n),
		C.uintptr_t(s), cbool(async)))
}

func (l driverLib) hostAlloc(ctx uintptr, n uintptr, flags uint32) (unsafe.Pointer, result) {
	var p unsafe.Pointer
	r := C.gshm_host_alloc(l.p, C.uintptr_t(ctx), C.size_t(n), C.uint(flags), &p)
	return p, result(r)
}

func (l driverLib) hostFree(ctx uintptr, p unsafe.Pointer) result {
	return result(C.gshm_host_free(l.p, C.uintptr_t(ctx), p))
}

func (l driverLib) hostRegister(ctx uintptr, p unsafe.Pointer, n uintptr, flags uint32) result {
	return result(C.gshm_host_register(l.p, C.uintptr_t(ctx), p, C.size_t(n), C.uint(flags)))
}

func (l driverLib) hostUnregister(ctx uintptr, p unsafe.Pointer) result {
	return result(C.gshm_host_unregister(l.p, C.uintptr_t(ctx), p))
}

func (l driverLib) hostDevPtr(ctx uintptr, p unsafe.Pointer) (uint64, result) {
	var d C.CUdeviceptr
	r := C.gshm_host_devptr(l.p, C.uintptr_t(ctx), p, &d)
	return uint64(d), result(r)
}

func (l driverLib) ipcGet(ctx uintptr, p uint64, h *[64]byte) result {
	return result(C.gshm_ipc_get(l.p, C.uintptr_t(ctx), C.CUdeviceptr(p), unsafe.Pointer(h)))
}

func (l driverLib) ipcOpen(ctx uintptr, h *[64]byte) (uint64, result) {
	var d C.CUdeviceptr
	r := C.gshm_ipc_open(l.p, C.uintptr_t(ctx), unsafe.Pointer(h), &d)
	return uint64(d), result(r)
}

func (l driverLib) ipcClose(ctx uintptr, p uint64) result {
	return result(C.gshm_ipc_close(l.p, C.uintptr_t(ctx), C.CUdeviceptr(p)))
}

func (l driverLib) canAccessPeer(dev, peer int32) (bool, result) {
	var can C.int
	r := C.gshm_can_access_peer(l.p, &can, C.CUdevice(dev), C.CUdevice(peer))
	return can != 0, result(r)
}

func (l driverLib) enablePeer(ctx, peer uintptr) result {
	return result(C.gshm_enable_peer(l.p, C.uintptr_t(ctx), C.uintptr_t(peer)))
}

func (l driverLib) streamCreate(ctx uintptr, flags uint32) (uintptr, result) {
	var s C.uintptr_t
	r := C.gshm_stream_create(l.p, C.uintptr_t(ctx), C.uint(flags), &s)
	return uintptr(s), result(r)
}

func (l driverLib) streamDestroy(ctx, s uintptr) result {
	return result(C.gshm_stream_destroy(l.p, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (l driverLib) streamSync(ctx, s uintptr) result {
	return result(C.gshm_stream_sync(l.p, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (l driverLib) streamQuery(ctx, s uintptr) result {
	return result(C.gshm_stream_query(l.p, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (l driverLib) streamWaitEvent(ctx, s, e uintptr) result {
	return result(C.gshm_stream_wait_event(l.p, C.uintptr_t(ctx), C.uintptr_t(s), C.uintptr_t(e)))
}

func (l driverLib) streamMemOp(ctx, s uintptr, op int, addr uint64, v uint64, flags uint32) result {
	return result(C.gshm_stream_memop(l.p, C.uintptr_t(ctx), C.uintptr_t(s), C.int(op),
		C.CUdeviceptr(addr), C.uint64_t(v), C.uint(flags)))
}

func (l driverLib) eventCreate(ctx uintptr, flags uint32) (uintptr, result) {
	var e C.uintptr_t
	r := C.gshm_event_create(l.p, C.uintptr_t(ctx), C.uint(flags), &e)
	return uintptr(e), result(r)
}

func (l driverLib) eventDestroy(ctx, e uintptr) result {
	return result(C.gshm_event_destroy(l.p, C.uintptr_t(ctx), C.uintptr_t(e)))
}

func (l driverLib) eventRecord(ctx, e, s uintptr) result {
	return result(C.gshm_event_record(l.p, C.uintptr_t(ctx), C.uintptr_t(e), C.uintptr_t(s)))
}

func (l driverLib) eventSync(ctx, e uintptr) result {
	return result(C.gshm_event_sync(l.p, C.uintptr_t(ctx), C.uintptr_t(e)))
}

func (l driverLib) eventQuery(ctx, e uintptr) result {
	return result(C.gshm_event_query(l.p, C.uintptr_t(ctx), C.uintptr_t(e)))
}

func (l driverLib) eventElapsed(ctx, a, b uintptr) (float32, result) {
	var ms C.float
	r := C.gshm_event_elapsed(l.p, C.uintptr_t(ctx), C.uintptr_t(a), C.uintptr_t(b), &ms)
	return float32(ms), result(r)
}

// moduleLoad copies image into C memory with a NUL appended (PTX is text
// the JIT reads up to its NUL; cubin and fatbin images ignore the extra
// byte) and returns the JIT error log alongside the result.
func (l driverLib) moduleLoad(ctx uintptr, image []byte) (uintptr, string, result) {
	n := len(image)
	buf := C.malloc(C.size_t(n + 1))
	defer C.free(buf)
	b := unsafe.Slice((*byte)(buf), n+1)
	copy(b, image)
	b[n] = 0
	const logLen = 16 << 10
	log := (*C.char)(C.calloc(1, logLen))
	defer C.free(unsafe.Pointer(log))
	var m C.uintptr_t
	r := C.gshm_module_load(l.p, C.uintptr_t(ctx), buf, log, logLen, &m)
	return uintptr(m), C.GoString(log), result(r)
}

func (l driverLib) moduleUnload(ctx, m uintptr) result {
	return result(C.gshm_module_unload(l.p, C.uintptr_t(ctx), C.uintptr_t(m)))
}

func (l driverLib) moduleFunction(ctx, m uintptr, name string) (uintptr, result) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.uintptr_t
	r := C.gshm_module_function(l.p, C.uintptr_t(ctx), C.uintptr_t(m), cname, &f)
	return uintptr(f), result(r)
}

func (l driverLib) moduleGlobal(ctx, m uintptr, name string) (uint64, uintptr, result) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var p C.CUdeviceptr
	var n C.size_t
	r := C.gshm_module_global(l.p, C.uintptr_t(ctx), C.uintptr_t(m), cname, &p, &n)
	return uint64(p), uintptr(n), result(r)
}

// codeMissing is the result of a call whose optional entry point the
// driver lacks.
const codeMissing = C.GSHM_MISSING

func (l driverLib) moduleFunctionCount(ctx, m uintptr) (int, result) {
	var n C.uint
	r := C.gshm_module_function_count(l.p, C.uintptr_t(ctx), C.uintptr_t(m), &n)
	return int(n), result(r)
}

// moduleFunctions returns the n kernels of m and their names.
func (l driverLib) moduleFunctions(ctx, m uintptr, n int) ([]uintptr, []string, result) {
	k := max(n, 1)
	fns := (*C.uintptr_t)(C.calloc(C.size_t(k), C.sizeof_uintptr_t))
	defer C.free(unsafe.Pointer(fns))
	names := (**C.char)(C.calloc(C.size_t(k), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(names))
	r := C.gshm_module_functions(l.p, C.uintptr_t(ctx), C.uintptr_t(m), fns, names, C.uint(n))
	if r != 0 {
		return nil, nil, result(r)
	}
	hs := make([]uintptr, n)
	ss := make([]string, n)
	for i, h := range unsafe.Slice(fns, n) {
		hs[i] = uintptr(h)
	}
	for i, p := range unsafe.Slice(names, n) {
		if p != nil {
			ss[i] = C.GoString(p)
		}
	}
	return hs, ss, 0
}

func (l driverLib) funcLoad(ctx, f uintptr) result {
	return result(C.gshm_func_load(l.p, C.uintptr_t(ctx), C.uintptr_t(f)))
}

func (l driverLib) funcAttr(ctx, f uintptr, attr int) (int, result) {
	var v C.int
	r := C.gshm_func_attr(l.p, C.uintptr_t(ctx), C.uintptr_t(f), C.int(attr), &v)
	return int(v), result(r)
}

func (l driverLib) launch(ctx, f uintptr, grid, block Dim3, shmem uint32, s uintptr, args []uint64) result {
	var ap *C.uint64_t
	if len(args) > 0 {
		ap = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	return result(C.gshm_launch(l.p, C.uintptr_t(ctx), C.uintptr_t(f),
		C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z),
		C.uint(block.X), C.uint(block.Y), C.uint(block.Z),
		C.uint(shmem), C.uintptr_t(s), ap, C.int(len(args))))
}
