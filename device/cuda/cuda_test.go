package cuda

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/errdefs"
)

// addOnePTX is add_one(int *a, unsigned n): a[i] += 1 for every thread i < n,
// plus a 64-bit global "counter".
const addOnePTX = `
.version 7.0
.target sm_70
.address_size 64

.visible .global .align 8 .u64 counter;

.visible .entry add_one(
	.param .u64 add_one_param_0,
	.param .u32 add_one_param_1
)
{
	.reg .pred %p<2>;
	.reg .b32 %r<8>;
	.reg .b64 %rd<5>;

	ld.param.u64 %rd1, [add_one_param_0];
	ld.param.u32 %r2, [add_one_param_1];
	mov.u32 %r3, %ctaid.x;
	mov.u32 %r4, %ntid.x;
	mov.u32 %r5, %tid.x;
	mad.lo.s32 %r1, %r3, %r4, %r5;
	setp.ge.u32 %p1, %r1, %r2;
	@%p1 bra DONE;
	cvta.to.global.u64 %rd2, %rd1;
	mul.wide.u32 %rd3, %r1, 4;
	add.s64 %rd4, %rd2, %rd3;
	ld.global.u32 %r6, [%rd4];
	add.s32 %r7, %r6, 1;
	st.global.u32 [%rd4], %r7;
DONE:
	ret;
}
`

const badPTX = `
.version 7.0
.target sm_70
.address_size 64
.visible .entry broken() { garbage; }
`

// gpuDriver loads the system driver or skips the test when there is no GPU.
func gpuDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := Load("")
	if errors.Is(err, ErrNoDriver) || errors.Is(err, ErrNoDevice) {
		t.Skipf("no GPU: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestLoadSystemDriver(t *testing.T) {
	d, err := Load("")
	if err == nil {
		t.Logf("GPU driver %d at %s", d.Version(), d.Path())
		require.NoError(t, d.Close())
		require.ErrorIs(t, d.Close(), ErrClosed)
		return
	}
	t.Logf("Load(\"\"): %v", err)
	require.True(t, errors.Is(err, ErrNoDriver) || errors.Is(err, ErrNoDevice), "unexpected error %v", err)
	if haveCgo && errors.Is(err, ErrNoDriver) {
		require.Contains(t, err.Error(), "libcuda.so.1")
	}
}

func TestLoadBadPath(t *testing.T) {
	_, err := Load("/nonexistent/libcuda.so.1")
	require.ErrorIs(t, err, ErrNoDriver)
	require.ErrorIs(t, err, errdefs.ErrUnavailable)
	require.Contains(t, err.Error(), "/nonexistent/libcuda.so.1")
	if haveCgo {
		require.Contains(t, err.Error(), "No such file") // dlerror's text
	}
}

func TestSymbolTable(t *testing.T) {
	if !haveCgo {
		t.Skip("built without cgo")
	}
	names, alts := symbolNames()
	want := []string{"cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2",
		"cuMemcpyDtoD_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
		"cuMemsetD8_v2", "cuMemsetD8Async", "cuDeviceTotalMem_v2", "cuIpcOpenMemHandle_v2",
		"cuDevicePrimaryCtxRelease_v2", "cuModuleGetGlobal_v2", "cuMemHostRegister_v2",
		"cuMemHostGetDevicePointer_v2", "cuStreamDestroy_v2", "cuEventDestroy_v2",
		"cuStreamWaitValue64_v2", "cuStreamWriteValue64_v2", "cuStreamWaitValue32_v2",
		"cuStreamWriteValue32_v2", "cuDeviceGetUuid_v2", "cuLaunchKernel", "cuModuleLoadDataEx"}
	for _, w := range want {
		require.Contains(t, names, w)
	}
	seen := map[string]bool{}
	for i, n := range names {
		require.False(t, seen[n], "%s twice", n)
		seen[n] = true
		if strings.HasPrefix(n, "cuStreamWaitValue") || strings.HasPrefix(n, "cuStreamWriteValue") {
			require.Equal(t, strings.TrimSuffix(n, "_v2"), alts[i])
		}
	}
}

func TestLoadFakeNoDevice(t *testing.T) {
	lib := buildFake(t, 100)
	_, err := Load(lib)
	require.ErrorIs(t, err, ErrNoDevice)
	require.NotErrorIs(t, err, ErrNoDriver)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "cuInit", e.Op)
	require.Equal(t, 100, e.Code)
	require.ErrorIs(t, err, errdefs.ErrUnavailable)
	require.ErrorIs(t, e, errdefs.ErrUnavailable, "the driver's own error, unwrapped")
	require.Contains(t, err.Error(), "cuda: cuInit: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected")
}

func TestLoadFakeStubLibrary(t *testing.T) {
	lib := buildFake(t, 34)
	_, err := Load(lib)
	require.ErrorIs(t, err, ErrNoDriver)
	require.ErrorIs(t, err, errdefs.ErrUnavailable)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.ErrorIs(t, e, errdefs.ErrUnavailable, "the driver's own error, unwrapped")
}

func TestLoadFakeMissingSymbol(t *testing.T) {
	for _, tc := range []struct {
		hide []string
		want string
	}{
		{[]string{"cuMemAlloc_v2"}, "cuMemAlloc_v2"},
		{[]string{"cuLaunchKernel"}, "cuLaunchKernel"},
		{[]string{"cuDeviceGetUuid_v2", "cuDeviceGetUuid"}, "cuDeviceGetUuid_v2 (or cuDeviceGetUuid)"},
		{[]string{"cuStreamWriteValue32_v2", "cuStreamWriteValue32"}, "cuStreamWriteValue32_v2"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			lib := buildFake(t, 0, tc.hide...)
			_, err := Load(lib)
			require.ErrorIs(t, err, ErrMissingSymbol)
			require.NotErrorIs(t, err, errdefs.ErrUnavailable, "a driver too old is no reason to fall back")
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), lib)
		})
	}
}

func TestLoadFakeTwice(t *testing.T) {
	lib := buildFake(t, 0)
	d1, err := Load(lib)
	require.NoError(t, err)
	d2, err := Load(lib)
	require.NoError(t, err)
	require.Equal(t, 12040, d1.Version())
	require.True(t, d1.MemOpsV2())
	require.NoError(t, d1.Close())
	_, err = d1.DeviceCount()
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, errdefs.ErrClosed)
	require.EqualError(t, err, "cuda: closed")
	n, err := d2.DeviceCount()
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// The v1 stream memory operations are used when a _v2 one is missing, all
// four together (the fake's v1 writes store v+1).
func TestLoadFakeMemOpsV1(t *testing.T) {
	for _, hide := range [][]string{
		{"cuStreamWaitValue32_v2", "cuStreamWaitValue64_v2", "cuStreamWriteValue32_v2", "cuStreamWriteValue64_v2"},
		{"cuStreamWaitValue64_v2"},
	} {
		d, err := Load(buildFake(t, 0, hide...))
		require.NoError(t, err)
		require.False(t, d.MemOpsV2())
		c, err := d.Primary(0)
		require.NoError(t, err)
		h, err := c.HostAlloc(8)
		require.NoError(t, err)
		hp, err := c.HostDevicePtr(h)
		require.NoError(t, err)
		s, err := c.NewStream(false)
		require.NoError(t, err)
		require.NoError(t, s.WriteValue64(hp, 41, WriteDefault))
		require.NoError(t, s.Synchronize())
		require.Equal(t, uint64(42), binary.LittleEndian.Uint64(h))
		info, err := d.DeviceInfo(0)
		require.NoError(t, err)
		require.True(t, info.CanUseStreamMemOps)
		require.NoError(t, s.Destroy())
		require.NoError(t, c.HostFree(h))
		require.NoError(t, c.Close())
	}
}

// The optional entry points may be missing: Load succeeds, and the calls
// that need them say so with errors.ErrUnsupported.
func TestLoadFakeOptionalSymbols(t *testing.T) {
	if !haveCgo {
		t.Skip("built without cgo")
	}
	opt := optionalNames()
	require.Subset(t, opt, []string{"cuModuleGetFunctionCount", "cuModuleEnumerateFunctions", "cuFuncGetName", "cuFuncLoad"})
	names, _ := symbolNames()
	for _, n := range opt {
		require.NotContains(t, names, n, "%s is optional, not required", n)
	}
	d, err := Load(buildFake(t, 0, opt...))
	require.NoError(t, err)
	c, err := d.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	m, err := c.LoadModule([]byte(addOnePTX))
	require.NoError(t, err)
	_, err = m.Functions()
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, "cuModuleGetFunctionCount")
	f, err := m.Function("add_one")
	require.NoError(t, err)
	err = f.Load()
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, "cuFuncLoad")
	require.NoError(t, m.Unload())
}

// TestFakeDriver runs the whole scenario against the fake library: every
// Go-side path down to the C entry points, on any machine with gcc.
func TestFakeDriver(t *testing.T) {
	d, err := Load(buildFake(t, 0))
	require.NoError(t, err)
	scenario(t, d, false)

	c, err := d.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	info, err := d.DeviceInfo(0)
	require.NoError(t, err)
	require.Equal(t, Info{Name: "Fake GPU", TotalMem: 1 << 30, PCIBusID: "0000:01:00.0",
		UUID: [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, ComputeCapability: [2]int{9, 0},
		MemoryClockKHz: 2619000, MemoryBusWidthBits: 5120, MultiProcessors: 132,
		CanUseStreamMemOps: true, UnifiedAddressing: true}, info)
	_, err = d.DeviceInfo(1)
	require.Error(t, err)

	// The fake lets a process open its own handle (a real driver does not).
	p, err := c.MemAlloc(64)
	require.NoError(t, err)
	h, err := c.IpcGetMemHandle(p)
	require.NoError(t, err)
	q, err := c.IpcOpenMemHandle(h)
	require.NoError(t, err)
	require.Equal(t, p, q)
	require.NoError(t, c.IpcCloseMemHandle(q))

	// A stream with a kernel in flight reports "not ready" without error.
	s, err := c.NewStream(true)
	require.NoError(t, err)
	m, err := c.LoadModule([]byte(addOnePTX))
	require.NoError(t, err)
	f, err := m.Function("add_one")
	require.NoError(t, err)
	require.NoError(t, Launch(f, Dim3{X: 1}, Dim3{X: 16}, 0, s, p, uint32(16)))
	done, err := s.Query()
	require.NoError(t, err)
	require.False(t, done)
	done, err = s.Query()
	require.NoError(t, err)
	require.True(t, done)
	require.NoError(t, m.Unload())
	require.ErrorIs(t, m.Unload(), ErrClosed)
	require.NoError(t, s.Destroy())
	require.ErrorIs(t, s.Destroy(), ErrClosed)
	require.NoError(t, c.MemFree(p))

	// The calls made per message on a hot path do not allocate.
	word, err := c.HostAlloc(64)
	require.NoError(t, err)
	wp, err := c.HostDevicePtr(word)
	require.NoError(t, err)
	s3, err := c.NewStream(true)
	require.NoError(t, err)
	ev3, err := c.NewEvent(false)
	require.NoError(t, err)
	dp, err := c.MemAlloc(64)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		_ = s3.WriteValue64(wp, 1, WriteDefault)
		_ = s3.WaitValue64(wp, 1, WaitGEQ)
		_ = c.CopyHtoDAsync(dp, word, s3)
		_ = ev3.Record(s3)
		_, _ = ev3.Query()
		_, _ = s3.Query()
	})
	require.Zero(t, allocs)
	require.NoError(t, c.MemFree(dp))
	require.NoError(t, ev3.Destroy())
	require.NoError(t, s3.Destroy())
	require.NoError(t, c.HostFree(word))

	// Out of memory is an Error the predicate recognizes.
	_, err = c.MemAlloc(2 << 30)
	require.True(t, IsOutOfMemory(err), "%v", err)
	require.Contains(t, err.Error(), "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")

	// Do runs with the context current and passes fn's error through.
	sentinel := errors.New("from fn")
	require.ErrorIs(t, c.Do(func() error { return c.Synchronize() }), nil)
	require.ErrorIs(t, c.Do(func() error { return sentinel }), sentinel)
}

// scenario exercises a driver with one device; real is true on a GPU.
func scenario(t *testing.T, d *Driver, real bool) {
	n, err := d.DeviceCount()
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	info, err := d.DeviceInfo(0)
	require.NoError(t, err)
	t.Logf("device 0: %+v (driver %d, memops v2 %v)", info, d.Version(), d.MemOpsV2())
	require.NotEmpty(t, info.Name)
	require.NotZero(t, info.TotalMem)
	require.Positive(t, info.ComputeCapability[0])
	require.Positive(t, info.MultiProcessors)
	require.NotEmpty(t, info.PCIBusID)

	c, err := d.Primary(0)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.Equal(t, 0, c.Ordinal())

	// Round trip through device memory.
	const size = 1 << 16
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(rand.Uint32())
	}
	p, err := c.MemAlloc(size)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.MemFree(p)) }()
	q, err := c.MemAlloc(size)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.MemFree(q)) }()
	require.NoError(t, c.CopyHtoD(p, src))
	require.NoError(t, c.CopyDtoD(q, p, size))
	dst := make([]byte, size)
	require.NoError(t, c.CopyDtoH(dst, q))
	require.True(t, bytes.Equal(src, dst), "round trip differs")

	require.NoError(t, c.MemsetD8(q+8, 0xab, 100))
	require.NoError(t, c.CopyDtoH(dst[:200], q))
	require.Equal(t, src[:8], dst[:8])
	require.Equal(t, bytes.Repeat([]byte{0xab}, 100), dst[8:108])
	require.Equal(t, src[108:200], dst[108:200])
	require.NoError(t, c.CopyHtoD(p, nil)) // empty copies are no-ops

	// Ordering across streams: s2 waits for an event recorded on s1.
	s1, err := c.NewStream(true)
	require.NoError(t, err)
	defer func() { require.NoError(t, s1.Destroy()) }()
	s2, err := c.NewStream(true)
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Destroy()) }()
	ev, err := c.NewEvent(false)
	require.NoError(t, err)
	defer func() { require.NoError(t, ev.Destroy()) }()
	require.NoError(t, c.MemsetD8Async(p, 1, size, s1))
	require.NoError(t, ev.Record(s1))
	require.NoError(t, s2.WaitEvent(ev))
	require.NoError(t, c.MemsetD8Async(p, 2, size/2, s2))
	require.NoError(t, s2.Synchronize())
	done, err := ev.Query()
	require.NoError(t, err)
	require.True(t, done, "s2 finished, so the event it waited on has completed")
	require.NoError(t, ev.Synchronize())
	require.NoError(t, c.CopyDtoH(dst, p))
	require.Equal(t, bytes.Repeat([]byte{2}, size/2), dst[:size/2])
	require.Equal(t, bytes.Repeat([]byte{1}, size/2), dst[size/2:])
	done, err = s1.Query()
	require.NoError(t, err)
	require.True(t, done)

	// Page-locked, device-mapped host memory and async copies.
	h, err := c.HostAlloc(4096)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.HostFree(h)) }()
	require.Len(t, h, 4096)
	copy(h, src[:4096])
	require.NoError(t, c.CopyHtoDAsync(q, h, s1))
	require.NoError(t, c.CopyDtoDAsync(p, q, 4096, s1))
	clear(h)
	require.NoError(t, s1.Synchronize())
	require.NoError(t, c.CopyDtoHAsync(h, p, s1))
	require.NoError(t, s1.Synchronize())
	require.Equal(t, src[:4096], h)
	hp, err := c.HostDevicePtr(h)
	require.NoError(t, err)
	require.NotZero(t, hp)

	// Stream memory operations: s2 waits on a device word that s1 writes;
	// then s1 writes a host-mapped word the host reads.
	if info.CanUseStreamMemOps {
		word, err := c.MemAlloc(8)
		require.NoError(t, err)
		defer func() { require.NoError(t, c.MemFree(word)) }()
		require.NoError(t, c.MemsetD8(word, 0, 8))
		require.NoError(t, c.Synchronize())
		require.NoError(t, s2.WaitValue64(word, 42, WaitGEQ))
		require.NoError(t, c.MemsetD8Async(p, 7, 64, s2))
		require.NoError(t, s1.WriteValue64(word, 42, WriteDefault))
		require.NoError(t, s2.Synchronize())
		require.NoError(t, s1.Synchronize())
		require.NoError(t, c.CopyDtoH(dst[:64], p))
		require.Equal(t, bytes.Repeat([]byte{7}, 64), dst[:64])
		require.NoError(t, c.CopyDtoH(dst[:8], word))
		require.Equal(t, uint64(42), binary.LittleEndian.Uint64(dst))

		require.NoError(t, s1.WriteValue64(hp+8, 0x1122334455667788, WriteDefault))
		require.NoError(t, s1.WriteValue32(hp+16, 0xdeadbeef, WriteDefault))
		require.NoError(t, s1.WaitValue32(hp+16, 0xdeadbeef, WaitEQ))
		require.NoError(t, s1.Synchronize())
		require.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(h[8:]))
		require.Equal(t, uint32(0xdeadbeef), binary.LittleEndian.Uint32(h[16:]))
	} else {
		t.Log("stream memory operations not available: skipped")
	}

	// A kernel from hand-written PTX, timed with events.
	m, err := c.LoadModule([]byte(addOnePTX))
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Unload()) }()
	f, err := m.Function("add_one")
	require.NoError(t, err)
	require.Equal(t, "add_one", f.Name())
	maxThreads, err := f.MaxThreadsPerBlock()
	require.NoError(t, err)
	require.GreaterOrEqual(t, maxThreads, 256)
	_, err = m.Function("no_such_kernel")
	require.True(t, IsNotFound(err), "%v", err)
	// Enumeration and explicit loading exist from CUDA 12.4 drivers on.
	if fs, err := m.Functions(); errors.Is(err, errors.ErrUnsupported) {
		t.Logf("no function enumeration: %v", err)
	} else {
		require.NoError(t, err)
		require.Len(t, fs, 1)
		require.Equal(t, "add_one", fs[0].Name())
		require.NoError(t, fs[0].Load())
	}
	if err := f.Load(); !errors.Is(err, errors.ErrUnsupported) {
		require.NoError(t, err)
	}
	g, gn, err := m.Global("counter")
	require.NoError(t, err)
	require.NotZero(t, g)
	require.Equal(t, uintptr(8), gn)

	const elems = 1000
	ints := make([]byte, 4*elems)
	for i := 0; i < elems; i++ {
		binary.LittleEndian.PutUint32(ints[4*i:], uint32(i*3))
	}
	require.NoError(t, c.CopyHtoD(p, ints))
	t0, err := c.NewEvent(true)
	require.NoError(t, err)
	defer func() { require.NoError(t, t0.Destroy()) }()
	t1, err := c.NewEvent(true)
	require.NoError(t, err)
	defer func() { require.NoError(t, t1.Destroy()) }()
	require.NoError(t, t0.Record(s1))
	require.NoError(t, Launch(f, Dim3{X: (elems + 255) / 256}, Dim3{X: 256}, 0, s1, p, uint32(elems)))
	require.NoError(t, t1.Record(s1))
	require.NoError(t, t1.Synchronize())
	el, err := Elapsed(t0, t1)
	require.NoError(t, err)
	require.GreaterOrEqual(t, int64(el), int64(0))
	_, err = Elapsed(ev, t1)
	require.Error(t, err)
	require.NoError(t, c.CopyDtoH(ints, p))
	for i := 0; i < elems; i++ {
		require.Equal(t, uint32(i*3+1), binary.LittleEndian.Uint32(ints[4*i:]), "element %d", i)
	}
	require.ErrorContains(t, Launch(f, Dim3{X: 1}, Dim3{X: 1}, 0, s1, p, elems), "argument 1 has type int")

	// A bad PTX: the JIT's log comes back in the error.
	_, err = c.LoadModule([]byte(badPTX))
	require.Error(t, err)
	var e *Error
	require.ErrorAs(t, err, &e)
	t.Logf("bad PTX: %v", err)
	require.NotEmpty(t, e.Log)
	require.Contains(t, err.Error(), e.Log)
	require.Equal(t, "cuModuleLoadDataEx", e.Op)

	// An IPC handle for an allocation (opening it needs another process).
	ih, err := c.IpcGetMemHandle(p)
	require.NoError(t, err)
	require.NotEqual(t, IpcMemHandle{}, ih)

	require.NoError(t, c.Synchronize())
	if real {
		require.NoError(t, c.Do(func() error { return s1.Synchronize() }))
	}
}

func TestGPU(t *testing.T) {
	d := gpuDriver(t)
	scenario(t, d, true)
}

const ipcEnv = "GSHMEM_CUDA_TEST_IPC_HANDLE"

// TestGPUIPC hands an allocation to a child process (this test binary run
// again), which opens it and writes a value into it.
func TestGPUIPC(t *testing.T) {
	d := gpuDriver(t)
	c, err := d.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.MemAlloc(4096)
	require.NoError(t, err)
	defer c.MemFree(p)
	require.NoError(t, c.MemsetD8(p, 0, 4096))
	require.NoError(t, c.Synchronize())
	h, err := c.IpcGetMemHandle(p)
	require.NoError(t, err)
	if q, err := c.IpcOpenMemHandle(h); err == nil {
		t.Log("this driver let the process open its own IPC handle")
		require.NoError(t, c.IpcCloseMemHandle(q))
	} else {
		t.Logf("opening our own handle: %v", err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestGPUIPCChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), ipcEnv+"="+hex.EncodeToString(h[:]))
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: TestGPUIPCChild")

	got := make([]byte, 16)
	require.NoError(t, c.CopyDtoH(got, p))
	require.Equal(t, uint64(0x0123456789abcdef), binary.LittleEndian.Uint64(got[8:]))
	require.Equal(t, make([]byte, 8), got[:8])
}

// TestGPUIPCChild is the child half of TestGPUIPC; it skips unless run by it.
func TestGPUIPCChild(t *testing.T) {
	hs := os.Getenv(ipcEnv)
	if hs == "" {
		t.Skip("run by TestGPUIPC only")
	}
	raw, err := hex.DecodeString(hs)
	require.NoError(t, err)
	var h IpcMemHandle
	require.Len(t, raw, len(h))
	copy(h[:], raw)
	d, err := Load("")
	require.NoError(t, err)
	c, err := d.Primary(0)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.IpcOpenMemHandle(h)
	require.NoError(t, err)
	v := make([]byte, 8)
	binary.LittleEndian.PutUint64(v, 0x0123456789abcdef)
	require.NoError(t, c.CopyHtoD(p+8, v))
	require.NoError(t, c.Synchronize())
	require.NoError(t, c.IpcCloseMemHandle(p))
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Op: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Msg: "out of memory"}
	assert.Equal(t, "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory", e.Error())
	assert.True(t, IsOutOfMemory(e))
	assert.False(t, IsNotReady(e))
	assert.Equal(t, "cuda: cuFoo: CUresult (12345)", (&Error{Op: "cuFoo", Code: 12345}).Error())
	assert.ErrorIs(t, &Error{Code: 100}, ErrNoDevice)
	assert.ErrorIs(t, &Error{Code: 34}, ErrNoDriver)
	assert.NotErrorIs(t, &Error{Code: 2}, ErrNoDevice)
	wrapped := errors.Join(errors.New("x"), &Error{Code: 801})
	assert.True(t, IsNotSupported(wrapped))
	assert.True(t, IsNotReady(&Error{Code: 600}))
}

func TestPackArgs(t *testing.T) {
	slots, err := packArgs([]any{DevicePtr(0x1000), uintptr(7), int32(-1), uint32(5), int64(-2),
		uint64(1 << 40), float32(1.5), float64(-0.25)})
	require.NoError(t, err)
	require.Equal(t, []uint64{0x1000, 7, 0xffffffff, 5, 0xfffffffffffffffe, 1 << 40,
		0x3fc00000, 0xbfd0000000000000}, slots)

	_, err = packArgs([]any{DevicePtr(1), 3})
	require.ErrorContains(t, err, "argument 1 has type int")
	_, err = packArgs([]any{uint(3)})
	require.ErrorContains(t, err, "argument 0 has type uint")
	_, err = packArgs([]any{int32(1), int32(2), "x"})
	require.ErrorContains(t, err, "argument 2 has unsupported type string")
	_, err = packArgs(make([]any, maxArgs+1))
	require.ErrorContains(t, err, "kernel arguments")
	slots, err = packArgs(nil)
	require.NoError(t, err)
	require.Empty(t, slots)
}

func TestDim3(t *testing.T) {
	require.Equal(t, Dim3{4, 1, 1}, Dim3{X: 4}.norm())
	require.Equal(t, Dim3{1, 1, 1}, Dim3{}.norm())
	require.Equal(t, Dim3{2, 3, 4}, Dim3{2, 3, 4}.norm())
}
