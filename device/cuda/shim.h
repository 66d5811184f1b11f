// shim.h -- the C half of package cuda: its own declarations of the few CUDA
// driver types it uses (no CUDA header or library is needed to build), the
// table of entry points resolved with dlsym at load, and one small static
// function per call. Included once, from raw_cgo.go.
//
// Every call that needs a context takes it as its first argument and makes
// it current on the calling thread inside the same C call, so the "set
// current, then call" pair can never be split across OS threads. A failure of
// cuCtxSetCurrent is returned with GSHM_CTX_ERR or-ed in, so that the Go side
// can name the right operation.
//
// Handles cross into Go as uintptr_t (CUcontext, CUstream, CUevent, CUmodule,
// CUfunction are pointers to driver-owned memory, never Go memory).

#ifndef GSHM_CUDA_SHIM_H
#define GSHM_CUDA_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- declarations (values from the CUDA 12 cuda.h) ----

typedef int CUresult;                 // enum cudaError_enum, int-sized
typedef int CUdevice;                 // CUdevice_v1
typedef unsigned long long CUdeviceptr; // CUdeviceptr_v2 on LP64
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUevent_st *CUevent;
typedef struct CUstream_st *CUstream;
typedef struct { char bytes[16]; } CUuuid;
typedef struct { char reserved[64]; } CUipcMemHandle; // CU_IPC_HANDLE_SIZE
typedef int CUjit_option;             // enum CUjit_option_enum
typedef int CUdevice_attribute;       // enum CUdevice_attribute_enum
typedef int CUfunction_attribute;     // enum CUfunction_attribute_enum

enum {
	GSHM_CU_JIT_ERROR_LOG_BUFFER = 5,
	GSHM_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
	GSHM_CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 0x1,
};

#define GSHM_CTX_ERR 0x40000000

// ---- the entry points ----

typedef struct gshm_cuda {
	void *dl;
	int memops_v2; // the cuStream{Wait,Write}Value*_v2 names were found

	CUresult (*Init)(unsigned int);
	CUresult (*DriverGetVersion)(int *);
	CUresult (*GetErrorName)(CUresult, const char **);
	CUresult (*GetErrorString)(CUresult, const char **);

	CUresult (*DeviceGetCount)(int *);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*DeviceGetName)(char *, int, CUdevice);
	CUresult (*DeviceTotalMem)(size_t *, CUdevice);
	CUresult (*DeviceGetPCIBusId)(char *, int, CUdevice);
	CUresult (*DeviceGetUuid)(CUuuid *, CUdevice);
	CUresult (*DeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);

	CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
	CUresult (*DevicePrimaryCtxRelease)(CUdevice);
	CUresult (*CtxSetCurrent)(CUcontext);
	CUresult (*CtxSynchronize)(void);

	CUresult (*MemAlloc)(CUdeviceptr *, size_t);
	CUresult (*MemFree)(CUdeviceptr);
	CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
	CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
	CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
	CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
	CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
	CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
	CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
	CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);

	CUresult (*MemHostAlloc)(void **, size_t, unsigned int);
	CUresult (*MemFreeHost)(void *);
	CUresult (*MemHostRegister)(void *, size_t, unsigned int);
	CUresult (*MemHostUnregister)(void *);
	CUresult (*MemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned int);

	CUresult (*IpcGetMemHandle)(CUipcMemHandle *, CUdeviceptr);
	CUresult (*IpcOpenMemHandle)(CUdeviceptr *, CUipcMemHandle, unsigned int);
	CUresult (*IpcCloseMemHandle)(CUdeviceptr);

	CUresult (*DeviceCanAccessPeer)(int *, CUdevice, CUdevice);
	CUresult (*CtxEnablePeerAccess)(CUcontext, unsigned int);

	CUresult (*StreamCreate)(CUstream *, unsigned int);
	CUresult (*StreamDestroy)(CUstream);
	CUresult (*StreamSynchronize)(CUstream);
	CUresult (*StreamQuery)(CUstream);
	CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned int);
	CUresult (*StreamWaitValue32)(CUstream, CUdeviceptr, uint32_t, unsigned int);
	CUresult (*StreamWaitValue64)(CUstream, CUdeviceptr, uint64_t, unsigned int);
	CUresult (*StreamWriteValue32)(CUstream, CUdeviceptr, uint32_t, unsigned int);
	CUresult (*StreamWriteValue64)(CUstream, CUdeviceptr, uint64_t, unsigned int);

	CUresult (*EventCreate)(CUevent *, unsigned int);
	CUresult (*EventDestroy)(CUevent);
	CUresult (*EventRecord)(CUevent, CUstream);
	CUresult (*EventSynchronize)(CUevent);
	CUresult (*EventQuery)(CUevent);
	CUresult (*EventElapsedTime)(float *, CUevent, CUevent);

	CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned int, CUjit_option *, void **);
	CUresult (*ModuleUnload)(CUmodule);
	CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*ModuleGetGlobal)(CUdeviceptr *, size_t *, CUmodule, const char *);
	CUresult (*FuncGetAttribute)(int *, CUfunction_attribute, CUfunction);
	CUresult (*LaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int,
	                         unsigned int, unsigned int, unsigned int, unsigned int,
	                         CUstream, void **, void **);

	// Optional entry points (NULL when the driver lacks them; see
	// gshm_cuda_opt_syms): function enumeration and explicit loading,
	// CUDA 12.3/12.4 and later.
	CUresult (*ModuleGetFunctionCount)(unsigned int *, CUmodule);
	CUresult (*ModuleEnumerateFunctions)(CUfunction *, unsigned int, CUmodule);
	CUresult (*FuncGetName)(const char **, CUfunction);
	CUresult (*FuncLoad)(CUfunction);
} gshm_cuda;

// One row per entry point: the preferred exported name, a fallback name (or
// NULL) for drivers that lack the preferred one, and where it goes.
typedef struct {
	const char *name;
	const char *alt;
	size_t off;
} gshm_cuda_sym;

#define GSHM_SYM(field, name, alt) {name, alt, offsetof(gshm_cuda, field)}

static const gshm_cuda_sym gshm_cuda_syms[] = {
	GSHM_SYM(Init, "cuInit", NULL),
	GSHM_SYM(DriverGetVersion, "cuDriverGetVersion", NULL),
	GSHM_SYM(GetErrorName, "cuGetErrorName", NULL),
	GSHM_SYM(GetErrorString, "cuGetErrorString", NULL),
	GSHM_SYM(DeviceGetCount, "cuDeviceGetCount", NULL),
	GSHM_SYM(DeviceGet, "cuDeviceGet", NULL),
	GSHM_SYM(DeviceGetName, "cuDeviceGetName", NULL),
	GSHM_SYM(DeviceTotalMem, "cuDeviceTotalMem_v2", NULL),
	GSHM_SYM(DeviceGetPCIBusId, "cuDeviceGetPCIBusId", NULL),
	GSHM_SYM(DeviceGetUuid, "cuDeviceGetUuid_v2", "cuDeviceGetUuid"),
	GSHM_SYM(DeviceGetAttribute, "cuDeviceGetAttribute", NULL),
	GSHM_SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", NULL),
	GSHM_SYM(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", NULL),
	GSHM_SYM(CtxSetCurrent, "cuCtxSetCurrent", NULL),
	GSHM_SYM(CtxSynchronize, "cuCtxSynchronize", NULL),
	GSHM_SYM(MemAlloc, "cuMemAlloc_v2", NULL),
	GSHM_SYM(MemFree, "cuMemFree_v2", NULL),
	GSHM_SYM(MemcpyHtoD, "cuMemcpyHtoD_v2", NULL),
	GSHM_SYM(MemcpyDtoH, "cuMemcpyDtoH_v2", NULL),
	GSHM_SYM(MemcpyDtoD, "cuMemcpyDtoD_v2", NULL),
	GSHM_SYM(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", NULL),
	GSHM_SYM(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", NULL),
	GSHM_SYM(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", NULL),
	GSHM_SYM(MemsetD8, "cuMemsetD8_v2", NULL),
	GSHM_SYM(MemsetD8Async, "cuMemsetD8Async", NULL),
	GSHM_SYM(MemHostAlloc, "cuMemHostAlloc", NULL),
	GSHM_SYM(MemFreeHost, "cuMemFreeHost", NULL),
	GSHM_SYM(MemHostRegister, "cuMemHostRegister_v2", NULL),
	GSHM_SYM(MemHostUnregister, "cuMemHostUnregister", NULL),
	GSHM_SYM(MemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2", NULL),
	GSHM_SYM(IpcGetMemHandle, "cuIpcGetMemHandle", NULL),
	GSHM_SYM(IpcOpenMemHandle, "cuIpcOpenMemHandle_v2", NULL),
	GSHM_SYM(IpcCloseMemHandle, "cuIpcCloseMemHandle", NULL),
	GSHM_SYM(DeviceCanAccessPeer, "cuDeviceCanAccessPeer", NULL),
	GSHM_SYM(CtxEnablePeerAccess, "cuCtxEnablePeerAccess", NULL),
	GSHM_SYM(StreamCreate, "cuStreamCreate", NULL),
	GSHM_SYM(StreamDestroy, "cuStreamDestroy_v2", NULL),
	GSHM_SYM(StreamSynchronize, "cuStreamSynchronize", NULL),
	GSHM_SYM(StreamQuery, "cuStreamQuery", NULL),
	GSHM_SYM(StreamWaitEvent, "cuStreamWaitEvent", NULL),
	// The four stream memory operations must come from the same API
	// version (see gshm_cuda_load); they stay together, in this order.
	GSHM_SYM(StreamWaitValue32, "cuStreamWaitValue32_v2", "cuStreamWaitValue32"),
	GSHM_SYM(StreamWaitValue64, "cuStreamWaitValue64_v2", "cuStreamWaitValue64"),
	GSHM_SYM(StreamWriteValue32, "cuStreamWriteValue32_v2", "cuStreamWriteValue32"),
	GSHM_SYM(StreamWriteValue64, "cuStreamWriteValue64_v2", "cuStreamWriteValue64"),
	GSHM_SYM(EventCreate, "cuEventCreate", NULL),
	GSHM_SYM(EventDestroy, "cuEventDestroy_v2", NULL),
	GSHM_SYM(EventRecord, "cuEventRecord", NULL),
	GSHM_SYM(EventSynchronize, "cuEventSynchronize", NULL),
	GSHM_SYM(EventQuery, "cuEventQuery", NULL),
	GSHM_SYM(EventElapsedTime, "cuEventElapsedTime", NULL),
	GSHM_SYM(ModuleLoadDataEx, "cuModuleLoadDataEx", NULL),
	GSHM_SYM(ModuleUnload, "cuModuleUnload", NULL),
	GSHM_SYM(ModuleGetFunction, "cuModuleGetFunction", NULL),
	GSHM_SYM(ModuleGetGlobal, "cuModuleGetGlobal_v2", NULL),
	GSHM_SYM(FuncGetAttribute, "cuFuncGetAttribute", NULL),
	GSHM_SYM(LaunchKernel, "cuLaunchKernel", NULL),
};

#define GSHM_CUDA_NSYMS ((int)(sizeof gshm_cuda_syms / sizeof gshm_cuda_syms[0]))

// Entry points a driver may lack without failing the load: each is resolved
// when present and stays NULL otherwise, and the call that needs it returns
// GSHM_MISSING instead of jumping through NULL.
static const gshm_cuda_sym gshm_cuda_opt_syms[] = {
	GSHM_SYM(ModuleGetFunctionCount, "cuModuleGetFunctionCount", NULL),
	GSHM_SYM(ModuleEnumerateFunctions, "cuModuleEnumerateFunctions", NULL),
	GSHM_SYM(FuncGetName, "cuFuncGetName", NULL),
	GSHM_SYM(FuncLoad, "cuFuncLoad", NULL),
};

#define GSHM_CUDA_NOPT ((int)(sizeof gshm_cuda_opt_syms / sizeof gshm_cuda_opt_syms[0]))

// GSHM_MISSING is returned by a call whose optional entry point the driver
// lacks (not a CUresult any driver returns).
#define GSHM_MISSING 0x20000000

static inline const char *gshm_cuda_opt_name(int i) { return gshm_cuda_opt_syms[i].name; }

static inline const char *gshm_cuda_sym_name(int i) { return gshm_cuda_syms[i].name; }
static inline const char *gshm_cuda_sym_alt(int i) { return gshm_cuda_syms[i].alt; }

enum {
	GSHM_LOAD_OK = 0,
	GSHM_LOAD_DLOPEN = 1,  // msg holds dlerror()
	GSHM_LOAD_MISSING = 2, // msg holds the missing names
	GSHM_LOAD_NOMEM = 3,
};

// gshm_cuda_load opens path and resolves every entry point. On success *out
// owns the handle; on failure nothing stays open and msg explains.
static int gshm_cuda_load(const char *path, gshm_cuda **out, char *msg, size_t msglen) {
	*out = NULL;
	msg[0] = 0;
	dlerror();
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		const char *e = dlerror();
		snprintf(msg, msglen, "%s", e ? e : "dlopen failed");
		return GSHM_LOAD_DLOPEN;
	}
	gshm_cuda *d = calloc(1, sizeof *d);
	if (d == NULL) {
		dlclose(dl);
		return GSHM_LOAD_NOMEM;
	}
	d->dl = dl;
	int missing = 0, v2 = 0, v1 = 0;
	size_t used = 0;
	for (int i = 0; i < GSHM_CUDA_NSYMS; i++) {
		const gshm_cuda_sym *s = &gshm_cuda_syms[i];
		void *p = dlsym(dl, s->name);
		int primary = p != NULL;
		if (p == NULL && s->alt != NULL) {
			p = dlsym(dl, s->alt);
		}
		if (s->off >= offsetof(gshm_cuda, StreamWaitValue32) &&
		    s->off <= offsetof(gshm_cuda, StreamWriteValue64) && p != NULL) {
			if (primary) v2++; else v1++;
		}
		if (p == NULL) {
			missing++;
			int n = s->alt != NULL
				? snprintf(msg + used, msglen - used, "%s%s (or %s)", used ? ", " : "", s->name, s->alt)
				: snprintf(msg + used, msglen - used, "%s%s", used ? ", " : "", s->name);
			if (n > 0 && (size_t)n < msglen - used) used += (size_t)n;
			continue;
		}
		memcpy((char *)d + s->off, &p, sizeof p);
	}
	if (!missing && v2 != 0 && v1 != 0) {
		// Never mix the v1 and v2 memory-operation entry points: resolve
		// all four under their unsuffixed names instead.
		const char *names[4] = {"cuStreamWaitValue32", "cuStreamWaitValue64",
		                        "cuStreamWriteValue32", "cuStreamWriteValue64"};
		void *ps[4];
		for (int i = 0; i < 4; i++) {
			ps[i] = dlsym(dl, names[i]);
			if (ps[i] == NULL) {
				missing++;
				int n = snprintf(msg + used, msglen - used, "%s%s", used ? ", " : "", names[i]);
				if (n > 0 && (size_t)n < msglen - used) used += (size_t)n;
			}
		}
		if (!missing) {
			memcpy(&d->StreamWaitValue32, &ps[0], sizeof ps[0]);
			memcpy(&d->StreamWaitValue64, &ps[1], sizeof ps[1]);
			memcpy(&d->StreamWriteValue32, &ps[2], sizeof ps[2]);
			memcpy(&d->StreamWriteValue64, &ps[3], sizeof ps[3]);
			v2 = 0;
		}
	}
	if (missing) {
		free(d);
		dlclose(dl);
		return GSHM_LOAD_MISSING;
	}
	d->memops_v2 = v2 == 4;
	for (int i = 0; i < GSHM_CUDA_NOPT; i++) {
		void *p = dlsym(dl, gshm_cuda_opt_syms[i].name);
		memcpy((char *)d + gshm_cuda_opt_syms[i].off, &p, sizeof p);
	}
	*out = d;
	return GSHM_LOAD_OK;
}

#define GSHM_CTX(d, ctx)                                                   \
	do {                                                               \
		CUresult r_ = (d)->CtxSetCurrent((CUcontext)(ctx));        \
		if (r_ != 0) return r_ | GSHM_CTX_ERR;                     \
	} while (0)

// ---- driver-wide calls (no context) ----

static inline CUresult gshm_init(gshm_cuda *d) { return d->Init(0); }
static inline CUresult gshm_version(gshm_cuda *d, int *v) { return d->DriverGetVersion(v); }
static inline CUresult gshm_device_count(gshm_cuda *d, int *n) { return d->DeviceGetCount(n); }
static inline CUresult gshm_device_get(gshm_cuda *d, CUdevice *dev, int ordinal) {
	return d->DeviceGet(dev, ordinal);
}

// gshm_error_text fills the driver's name and description of r (empty when
// the driver does not know r).
static inline void gshm_error_text(gshm_cuda *d, CUresult r, const char **name, const char **str) {
	*name = NULL;
	*str = NULL;
	if (d->GetErrorName(r, name) != 0) *name = NULL;
	if (d->GetErrorString(r, str) != 0) *str = NULL;
}

typedef struct {
	char name[256];
	char pci[64];
	char uuid[16];
	size_t total;
} gshm_devinfo;

static inline CUresult gshm_device_info(gshm_cuda *d, CUdevice dev, gshm_devinfo *o, int *step) {
	CUresult r;
	*step = 0;
	memset(o, 0, sizeof *o);
	if ((r = d->DeviceGetName(o->name, (int)sizeof o->name - 1, dev)) != 0) return r;
	*step = 1;
	if ((r = d->DeviceTotalMem(&o->total, dev)) != 0) return r;
	*step = 2;
	if ((r = d->DeviceGetPCIBusId(o->pci, (int)sizeof o->pci - 1, dev)) != 0) return r;
	*step = 3;
	CUuuid u;
	if ((r = d->DeviceGetUuid(&u, dev)) != 0) return r;
	memcpy(o->uuid, u.bytes, 16);
	return 0;
}

static inline CUresult gshm_device_attr(gshm_cuda *d, CUdevice dev, int attr, int *v) {
	*v = 0;
	return d->DeviceGetAttribute(v, attr, dev);
}

static inline CUresult gshm_primary_retain(gshm_cuda *d, CUdevice dev, uintptr_t *ctx) {
	CUcontext c = NULL;
	CUresult r = d->DevicePrimaryCtxRetain(&c, dev);
	*ctx = (uintptr_t)c;
	return r;
}

static inline CUresult gshm_primary_release(gshm_cuda *d, CUdevice dev) {
	return d->DevicePrimaryCtxRelease(dev);
}

static inline CUresult gshm_set_current(gshm_cuda *d, uintptr_t ctx) {
	return d->CtxSetCurrent((CUcontext)ctx);
}

// ---- context calls ----

static inline CUresult gshm_ctx_sync(gshm_cuda *d, uintptr_t ctx) {
	GSHM_CTX(d, ctx);
	return d->CtxSynchronize();
}

static inline CUresult gshm_mem_alloc(gshm_cuda *d, uintptr_t ctx, CUdeviceptr *p, size_t n) {
	GSHM_CTX(d, ctx);
	return d->MemAlloc(p, n);
}

static inline CUresult gshm_mem_free(gshm_cuda *d, uintptr_t ctx, CUdeviceptr p) {
	GSHM_CTX(d, ctx);
	return d->MemFree(p);
}

static inline CUresult gshm_memset8(gshm_cuda *d, uintptr_t ctx, CUdeviceptr p, unsigned char v,
                                    size_t n, uintptr_t s, int async) {
	GSHM_CTX(d, ctx);
	if (async) return d->MemsetD8Async(p, v, n, (CUstream)s);
	return d->MemsetD8(p, v, n);
}

static inline CUresult gshm_htod(gshm_cuda *d, uintptr_t ctx, CUdeviceptr dst, const void *src,
                                 size_t n, uintptr_t s, int async) {
	GSHM_CTX(d, ctx);
	if (async) return d->MemcpyHtoDAsync(dst, src, n, (CUstream)s);
	return d->MemcpyHtoD(dst, src, n);
}

static inline CUresult gshm_dtoh(gshm_cuda *d, uintptr_t ctx, void *dst, CUdeviceptr src,
                                 size_t n, uintptr_t s, int async) {
	GSHM_CTX(d, ctx);
	if (async) return d->MemcpyDtoHAsync(dst, src, n, (CUstream)s);
	return d->MemcpyDtoH(dst, src, n);
}

static inline CUresult gshm_dtod(gshm_cuda *d, uintptr_t ctx, CUdeviceptr dst, CUdeviceptr src,
                                 size_t n, uintptr_t s, int async) {
	GSHM_CTX(d, ctx);
	if (async) return d->MemcpyDtoDAsync(dst, src, n, (CUstream)s);
	return d->MemcpyDtoD(dst, src, n);
}

static inline CUresult gshm_host_alloc(gshm_cuda *d, uintptr_t ctx, size_t n, unsigned int flags,
                                       void **p) {
	*p = NULL;
	GSHM_CTX(d, ctx);
	return d->MemHostAlloc(p, n, flags);
}

static inline CUresult gshm_host_free(gshm_cuda *d, uintptr_t ctx, void *p) {
	GSHM_CTX(d, ctx);
	return d->MemFreeHost(p);
}

static inline CUresult gshm_host_register(gshm_cuda *d, uintptr_t ctx, void *p, size_t n,
                                          unsigned int flags) {
	GSHM_CTX(d, ctx);
	return d->MemHostRegister(p, n, flags);
}

static inline CUresult gshm_host_unregister(gshm_cuda *d, uintptr_t ctx, void *p) {
	GSHM_CTX(d, ctx);
	return d->MemHostUnregister(p);
}

static inline CUresult gshm_host_devptr(gshm_cuda *d, uintptr_t ctx, void *p, CUdeviceptr *out) {
	*out = 0;
	GSHM_CTX(d, ctx);
	return d->MemHostGetDevicePointer(out, p, 0);
}

static inline CUresult gshm_ipc_get(gshm_cuda *d, uintptr_t ctx, CUdeviceptr p, void *h64) {
	CUipcMemHandle h;
	memset(&h, 0, sizeof h);
	GSHM_CTX(d, ctx);
	CUresult r = d->IpcGetMemHandle(&h, p);
	memcpy(h64, &h, sizeof h);
	return r;
}

static inline CUresult gshm_ipc_open(gshm_cuda *d, uintptr_t ctx, const void *h64, CUdeviceptr *out) {
	CUipcMemHandle h;
	memcpy(&h, h64, sizeof h);
	*out = 0;
	GSHM_CTX(d, ctx);
	return d->IpcOpenMemHandle(out, h, GSHM_CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
}

static inline CUresult gshm_ipc_close(gshm_cuda *d, uintptr_t ctx, CUdeviceptr p) {
	GSHM_CTX(d, ctx);
	return d->IpcCloseMemHandle(p);
}

// ---- peer access between devices of one process ----

static inline CUresult gshm_can_access_peer(gshm_cuda *d, int *can, CUdevice dev, CUdevice peer) {
	return d->DeviceCanAccessPeer(can, dev, peer);
}

static inline CUresult gshm_enable_peer(gshm_cuda *d, uintptr_t ctx, uintptr_t peer) {
	GSHM_CTX(d, ctx);
	return d->CtxEnablePeerAccess((CUcontext)peer, 0);
}

// ---- streams and events ----

static inline CUresult gshm_stream_create(gshm_cuda *d, uintptr_t ctx, unsigned int flags,
                                          uintptr_t *s) {
	CUstream h = NULL;
	*s = 0;
	GSHM_CTX(d, ctx);
	CUresult r = d->StreamCreate(&h, flags);
	*s = (uintptr_t)h;
	return r;
}

static inline CUresult gshm_stream_destroy(gshm_cuda *d, uintptr_t ctx, uintptr_t s) {
	GSHM_CTX(d, ctx);
	return d->StreamDestroy((CUstream)s);
}

static inline CUresult gshm_stream_sync(gshm_cuda *d, uintptr_t ctx, uintptr_t s) {
	GSHM_CTX(d, ctx);
	return d->StreamSynchronize((CUstream)s);
}

static inline CUresult gshm_stream_query(gshm_cuda *d, uintptr_t ctx, uintptr_t s) {
	GSHM_CTX(d, ctx);
	return d->StreamQuery((CUstream)s);
}

static inline CUresult gshm_stream_wait_event(gshm_cuda *d, uintptr_t ctx, uintptr_t s, uintptr_t e) {
	GSHM_CTX(d, ctx);
	return d->StreamWaitEvent((CUstream)s, (CUevent)e, 0);
}

// op: 0 wait32, 1 wait64, 2 write32, 3 write64.
static inline CUresult gshm_stream_memop(gshm_cuda *d, uintptr_t ctx, uintptr_t s, int op,
                                         CUdeviceptr addr, uint64_t v, unsigned int flags) {
	GSHM_CTX(d, ctx);
	switch (op) {
	case 0: return d->StreamWaitValue32((CUstream)s, addr, (uint32_t)v, flags);
	case 1: return d->StreamWaitValue64((CUstream)s, addr, v, flags);
	case 2: return d->StreamWriteValue32((CUstream)s, addr, (uint32_t)v, flags);
	default: return d->StreamWriteValue64((CUstream)s, addr, v, flags);
	}
}

static inline CUresult gshm_event_create(gshm_cuda *d, uintptr_t ctx, unsigned int flags,
                                         uintptr_t *e) {
	CUevent h = NULL;
	*e = 0;
	GSHM_CTX(d, ctx);
	CUresult r = d->EventCreate(&h, flags);
	*e = (uintptr_t)h;
	return r;
}

static inline CUresult gshm_event_destroy(gshm_cuda *d, uintptr_t ctx, uintptr_t e) {
	GSHM_CTX(d, ctx);
	return d->EventDestroy((CUevent)e);
}

static inline CUresult gshm_event_record(gshm_cuda *d, uintptr_t ctx, uintptr_t e, uintptr_t s) {
	GSHM_CTX(d, ctx);
	return d->EventRecord((CUevent)e, (CUstream)s);
}

static inline CUresult gshm_event_sync(gshm_cuda *d, uintptr_t ctx, uintptr_t e) {
	GSHM_CTX(d, ctx);
	return d->EventSynchronize((CUevent)e);
}

static inline CUresult gshm_event_query(gshm_cuda *d, uintptr_t ctx, uintptr_t e) {
	GSHM_CTX(d, ctx);
	return d->EventQuery((CUevent)e);
}

static inline CUresult gshm_event_elapsed(gshm_cuda *d, uintptr_t ctx, uintptr_t a, uintptr_t b,
                                          float *ms) {
	*ms = 0;
	GSHM_CTX(d, ctx);
	return d->EventElapsedTime(ms, (CUevent)a, (CUevent)b);
}

// ---- modules and kernels ----

// gshm_module_load loads image (NUL-terminated for PTX), collecting the JIT's
// error log in log[0:loglen].
static inline CUresult gshm_module_load(gshm_cuda *d, uintptr_t ctx, const void *image,
                                        char *log, unsigned int loglen, uintptr_t *mod) {
	CUjit_option opts[2] = {GSHM_CU_JIT_ERROR_LOG_BUFFER, GSHM_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[2] = {log, (void *)(uintptr_t)loglen};
	CUmodule m = NULL;
	*mod = 0;
	if (loglen > 0) log[0] = 0;
	GSHM_CTX(d, ctx);
	CUresult r = d->ModuleLoadDataEx(&m, image, 2, opts, vals);
	*mod = (uintptr_t)m;
	return r;
}

static inline CUresult gshm_module_unload(gshm_cuda *d, uintptr_t ctx, uintptr_t m) {
	GSHM_CTX(d, ctx);
	return d->ModuleUnload((CUmodule)m);
}

static inline CUresult gshm_module_function(gshm_cuda *d, uintptr_t ctx, uintptr_t m,
                                            const char *name, uintptr_t *f) {
	CUfunction h = NULL;
	*f = 0;
	GSHM_CTX(d, ctx);
	CUresult r = d->ModuleGetFunction(&h, (CUmodule)m, name);
	*f = (uintptr_t)h;
	return r;
}

static inline CUresult gshm_module_global(gshm_cuda *d, uintptr_t ctx, uintptr_t m,
                                          const char *name, CUdeviceptr *p, size_t *n) {
	*p = 0;
	*n = 0;
	GSHM_CTX(d, ctx);
	return d->ModuleGetGlobal(p, n, (CUmodule)m, name);
}

// gshm_module_function_count returns the number of kernels in m
// (cuModuleGetFunctionCount), or GSHM_MISSING.
static inline CUresult gshm_module_function_count(gshm_cuda *d, uintptr_t ctx, uintptr_t m,
                                                  unsigned int *n) {
	*n = 0;
	if (d->ModuleGetFunctionCount == NULL) return GSHM_MISSING;
	GSHM_CTX(d, ctx);
	return d->ModuleGetFunctionCount(n, (CUmodule)m);
}

// gshm_module_functions fills fns[0:n] with m's kernels and names[0:n] with
// their names (cuModuleEnumerateFunctions, cuFuncGetName), or returns
// GSHM_MISSING. The names are the driver's strings, valid while m is
// loaded.
static inline CUresult gshm_module_functions(gshm_cuda *d, uintptr_t ctx, uintptr_t m,
                                             uintptr_t *fns, const char **names, unsigned int n) {
	if (d->ModuleEnumerateFunctions == NULL || d->FuncGetName == NULL) return GSHM_MISSING;
	GSHM_CTX(d, ctx);
	CUfunction *hs = calloc(n ? n : 1, sizeof *hs);
	if (hs == NULL) return 2; // CUDA_ERROR_OUT_OF_MEMORY
	CUresult r = d->ModuleEnumerateFunctions(hs, n, (CUmodule)m);
	for (unsigned int i = 0; r == 0 && i < n; i++) {
		fns[i] = (uintptr_t)hs[i];
		names[i] = NULL;
		r = d->FuncGetName(&names[i], hs[i]);
	}
	free(hs);
	return r;
}

// gshm_func_load loads f completely (cuFuncLoad), or returns GSHM_MISSING.
static inline CUresult gshm_func_load(gshm_cuda *d, uintptr_t ctx, uintptr_t f) {
	if (d->FuncLoad == NULL) return GSHM_MISSING;
	GSHM_CTX(d, ctx);
	return d->FuncLoad((CUfunction)f);
}

static inline CUresult gshm_func_attr(gshm_cuda *d, uintptr_t ctx, uintptr_t f, int attr, int *v) {
	*v = 0;
	GSHM_CTX(d, ctx);
	return d->FuncGetAttribute(v, attr, (CUfunction)f);
}

#define GSHM_MAX_ARGS 128

// gshm_launch launches f with nargs parameters, each held in one 8-byte slot
// of args (little-endian: a 4-byte parameter sits in the slot's low bytes).
// The slots are copied onto the C stack and the parameter pointer array is
// built there; cuLaunchKernel copies the parameters before it returns.
static inline CUresult gshm_launch(gshm_cuda *d, uintptr_t ctx, uintptr_t f,
                                   unsigned int gx, unsigned int gy, unsigned int gz,
                                   unsigned int bx, unsigned int by, unsigned int bz,
                                   unsigned int shmem, uintptr_t s,
                                   const uint64_t *args, int nargs) {
	uint64_t slots[GSHM_MAX_ARGS];
	void *params[GSHM_MAX_ARGS];
	if (nargs < 0 || nargs > GSHM_MAX_ARGS) return 1; // CUDA_ERROR_INVALID_VALUE
	for (int i = 0; i < nargs; i++) {
		slots[i] = args[i];
		params[i] = &slots[i];
	}
	GSHM_CTX(d, ctx);
	return d->LaunchKernel((CUfunction)f, gx, gy, gz, bx, by, bz, shmem, (CUstream)s,
	                       nargs > 0 ? params : NULL, NULL);
}

#endif
