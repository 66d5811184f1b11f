package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeDriverC is a tiny stand-in for libcuda, compiled by the tests with gcc:
// device memory is malloc'd host memory, "kernels" are emulated on the CPU,
// and every call that needs a context checks that one is current on the
// calling thread (so a call made without cuCtxSetCurrent first fails with
// CUDA_ERROR_INVALID_CONTEXT). cuInit returns INIT_RESULT.
const fakeDriverC = `
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef INIT_RESULT
#define INIT_RESULT 0
#endif

typedef unsigned long long CUdeviceptr;
typedef struct { char reserved[64]; } CUipcMemHandle;
typedef struct { int pending; } fake_stream;
typedef struct { unsigned flags; int recorded; } fake_event;

static __thread void *current;
static int ctx_storage;
static int retained;
static unsigned long long global_counter;

#define NEED_CTX() do { if (current != &ctx_storage) return 201; } while (0)

int cuInit(unsigned flags) { return flags == 0 ? INIT_RESULT : 1; }
int cuDriverGetVersion(int *v) { *v = 12040; return 0; }

static const char *names[][3] = {
	{"1", "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
	{"2", "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
	{"100", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
	{"201", "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
	{"218", "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
	{"400", "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
	{"500", "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
	{"600", "CUDA_ERROR_NOT_READY", "device not ready"},
};
static int lookup(int r, int col, const char **s) {
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (atoi(names[i][0]) == r) { *s = names[i][col]; return 0; }
	}
	*s = NULL;
	return 1;
}
int cuGetErrorName(int r, const char **s) { return lookup(r, 1, s); }
int cuGetErrorString(int r, const char **s) { return lookup(r, 2, s); }

int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *s, int len, int d) { strncpy(s, "Fake GPU", len); return 0; }
int cuDeviceTotalMem_v2(size_t *b, int d) { *b = (size_t)1 << 30; return 0; }
int cuDeviceGetPCIBusId(char *s, int len, int d) { strncpy(s, "0000:01:00.0", len); return 0; }
int cuDeviceGetUuid_v2(unsigned char *u, int d) { for (int i = 0; i < 16; i++) u[i] = i; return 0; }
int cuDeviceGetUuid(unsigned char *u, int d) { memset(u, 0xff, 16); return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) {
	switch (a) {
	case 16: *v = 132; break;
	case 36: *v = 2619000; break;
	case 37: *v = 5120; break;
	case 41: *v = 1; break;
	case 75: *v = 9; break;
	case 76: *v = 0; break;
	case 92: case 93: *v = 1; break;
	case 122: *v = 1; break;
	default: return 1;
	}
	return 0;
}

int cuDevicePrimaryCtxRetain(void **c, int d) { *c = &ctx_storage; retained++; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { if (retained == 0) return 201; retained--; return 0; }
int cuCtxSetCurrent(void *c) { if (c != &ctx_storage && c != NULL) return 201; current = c; return 0; }
int cuCtxSynchronize(void) { NEED_CTX(); return 0; }

int cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	NEED_CTX();
	if (n == 0) return 1;
	if (n > ((size_t)1 << 30)) return 2;
	*p = (CUdeviceptr)(uintptr_t)calloc(1, n);
	return 0;
}
int cuMemFree_v2(CUdeviceptr p) { NEED_CTX(); free((void *)(uintptr_t)p); return 0; }
int cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { NEED_CTX(); memcpy((void *)(uintptr_t)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { NEED_CTX(); memcpy(d, (void *)(uintptr_t)s, n); return 0; }
int cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { NEED_CTX(); memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
int cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { return cuMemcpyHtoD_v2(d, s, n); }
int cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) { return cuMemcpyDtoH_v2(d, s, n); }
int cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { return cuMemcpyDtoD_v2(d, s, n); }
int cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { NEED_CTX(); memset((void *)(uintptr_t)p, v, n); return 0; }
int cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, void *st) { return cuMemsetD8_v2(p, v, n); }

int cuMemHostAlloc(void **p, size_t n, unsigned flags) { NEED_CTX(); if (flags != 3) return 1; *p = calloc(1, n); return 0; }
int cuMemFreeHost(void *p) { NEED_CTX(); free(p); return 0; }
int cuMemHostRegister_v2(void *p, size_t n, unsigned flags) { NEED_CTX(); return 0; }
int cuMemHostUnregister(void *p) { NEED_CTX(); return 0; }
int cuMemHostGetDevicePointer_v2(CUdeviceptr *d, void *p, unsigned flags) {
	NEED_CTX();
	if (flags != 0) return 1;
	*d = (CUdeviceptr)(uintptr_t)p;
	return 0;
}

int cuIpcGetMemHandle(CUipcMemHandle *h, CUdeviceptr p) {
	NEED_CTX();
	memset(h, 0x5a, sizeof *h);
	memcpy(h->reserved, &p, sizeof p);
	return 0;
}
int cuIpcOpenMemHandle_v2(CUdeviceptr *p, CUipcMemHandle h, unsigned flags) {
	NEED_CTX();
	if (flags != 1 || (unsigned char)h.reserved[63] != 0x5a) return 1;
	memcpy(p, h.reserved, sizeof *p);
	return 0;
}
int cuIpcCloseMemHandle(CUdeviceptr p) { NEED_CTX(); return 0; }
int cuDeviceCanAccessPeer(int *can, int dev, int peer) { *can = dev != peer; return 0; }
int cuCtxEnablePeerAccess(void *peer, unsigned int flags) { NEED_CTX(); return 0; }

int cuStreamCreate(void **s, unsigned flags) { NEED_CTX(); if (flags > 1) return 1; *s = calloc(1, sizeof(fake_stream)); return 0; }
int cuStreamDestroy_v2(void *s) { NEED_CTX(); free(s); return 0; }
int cuStreamSynchronize(void *s) { NEED_CTX(); if (s) ((fake_stream *)s)->pending = 0; return 0; }
int cuStreamQuery(void *s) {
	NEED_CTX();
	fake_stream *f = s;
	if (f && f->pending > 0) { f->pending--; return 600; }
	return 0;
}
int cuStreamWaitEvent(void *s, void *e, unsigned flags) { NEED_CTX(); return flags == 0 ? 0 : 1; }
// Waits do not block here (nothing else runs on a fake stream).
int cuStreamWaitValue32_v2(void *s, CUdeviceptr a, uint32_t v, unsigned f) { NEED_CTX(); return f > 3 && f != (1u << 30) ? 1 : 0; }
int cuStreamWaitValue64_v2(void *s, CUdeviceptr a, uint64_t v, unsigned f) { NEED_CTX(); return f > 3 && f != (1u << 30) ? 1 : 0; }
int cuStreamWriteValue32_v2(void *s, CUdeviceptr a, uint32_t v, unsigned f) { NEED_CTX(); *(uint32_t *)(uintptr_t)a = v; return 0; }
int cuStreamWriteValue64_v2(void *s, CUdeviceptr a, uint64_t v, unsigned f) { NEED_CTX(); *(uint64_t *)(uintptr_t)a = v; return 0; }
// The v1 entry points write v+1, so that a test can tell which were used.
int cuStreamWaitValue32(void *s, CUdeviceptr a, uint32_t v, unsigned f) { return cuStreamWaitValue32_v2(s, a, v, f); }
int cuStreamWaitValue64(void *s, CUdeviceptr a, uint64_t v, unsigned f) { return cuStreamWaitValue64_v2(s, a, v, f); }
int cuStreamWriteValue32(void *s, CUdeviceptr a, uint32_t v, unsigned f) { return cuStreamWriteValue32_v2(s, a, v + 1, f); }
int cuStreamWriteValue64(void *s, CUdeviceptr a, uint64_t v, unsigned f) { return cuStreamWriteValue64_v2(s, a, v + 1, f); }

int cuEventCreate(void **e, unsigned flags) { NEED_CTX(); fake_event *f = calloc(1, sizeof *f); f->flags = flags; *e = f; return 0; }
int cuEventDestroy_v2(void *e) { NEED_CTX(); free(e); return 0; }
int cuEventRecord(void *e, void *s) { NEED_CTX(); ((fake_event *)e)->recorded = 1; return 0; }
int cuEventSynchronize(void *e) { NEED_CTX(); return 0; }
int cuEventQuery(void *e) { NEED_CTX(); return 0; }
int cuEventElapsedTime(float *ms, void *a, void *b) {
	fake_event *x = a, *y = b;
	if ((x->flags & 2) || (y->flags & 2) || !x->recorded || !y->recorded) return 400;
	*ms = 1.5f;
	return 0;
}

int cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *opts, void **vals) {
	NEED_CTX();
	char *log = NULL;
	size_t loglen = 0;
	for (unsigned i = 0; i < n; i++) {
		if (opts[i] == 5) log = vals[i];
		if (opts[i] == 6) loglen = (size_t)(uintptr_t)vals[i];
	}
	if (strstr((const char *)image, ".entry add_one") == NULL) {
		if (log && loglen) strncpy(log, "ptxas fatal   : fake parse error near 'garbage'", loglen - 1);
		return 218;
	}
	*m = &ctx_storage;
	return 0;
}
int cuModuleUnload(void *m) { NEED_CTX(); return 0; }
int cuModuleGetFunction(void **f, void *m, const char *name) {
	NEED_CTX();
	if (strcmp(name, "add_one") != 0) return 500;
	*f = &global_counter;
	return 0;
}
int cuModuleGetGlobal_v2(CUdeviceptr *p, size_t *n, void *m, const char *name) {
	NEED_CTX();
	if (strcmp(name, "counter") != 0) return 500;
	*p = (CUdeviceptr)(uintptr_t)&global_counter;
	*n = sizeof global_counter;
	return 0;
}
int cuModuleGetFunctionCount(unsigned *n, void *m) { NEED_CTX(); *n = 1; return 0; }
int cuModuleEnumerateFunctions(void **fs, unsigned n, void *m) {
	NEED_CTX();
	if (n != 1) return 1;
	fs[0] = &global_counter;
	return 0;
}
int cuFuncGetName(const char **name, void *f) {
	if (f != &global_counter) return 400;
	*name = "add_one";
	return 0;
}
static int funcs_loaded;
int cuFuncLoad(void *f) { NEED_CTX(); if (f != &global_counter) return 400; funcs_loaded++; return 0; }
int fake_funcs_loaded(void) { return funcs_loaded; }
int cuFuncGetAttribute(int *v, int a, void *f) { NEED_CTX(); if (a != 0) return 1; *v = 1024; return 0; }

// add_one(int *a, unsigned n): a[i] += 1 for i < min(n, threads).
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shmem, void *s, void **params, void **extra) {
	NEED_CTX();
	if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || extra != NULL) return 1;
	int *a = (int *)(uintptr_t)*(CUdeviceptr *)params[0];
	unsigned n = *(unsigned *)params[1];
	unsigned long long threads = (unsigned long long)gx * gy * gz * bx * by * bz;
	for (unsigned i = 0; i < n && i < threads; i++) a[i] += 1;
	if (s) ((fake_stream *)s)->pending = 1;
	return 0;
}
`

// buildFake compiles fakeDriverC into a shared library in a temporary
// directory. initResult is what cuInit returns; hide names exported
// symbols to leave out (through a linker version script).
func buildFake(t *testing.T, initResult int, hide ...string) string {
	t.Helper()
	if !haveCgo {
		t.Skip("built without cgo: Load cannot open any library")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build a fake driver library")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	require.NoError(t, os.WriteFile(src, []byte(fakeDriverC), 0o600))
	script := "{ global: *;"
	if len(hide) > 0 {
		script += " local: " + strings.Join(hide, "; ") + ";"
	}
	script += " };\n"
	vs := filepath.Join(dir, "fake.map")
	require.NoError(t, os.WriteFile(vs, []byte(script), 0o600))
	lib := filepath.Join(dir, "libfakecuda.so")
	cmd := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-o", lib, src,
		"-DINIT_RESULT="+strconv.Itoa(initResult), "-Wl,--version-script="+vs)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "gcc: %s", out)
	return lib
}
