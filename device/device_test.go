package device_test

import (
	"context"
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/internal/testseam"
	"github.com/gshmem/gshmem/kernels"
	"github.com/gshmem/gshmem/streams"
)

var scenarios = petest.Scenarios{"heap": scenarioHeap}

func TestMain(m *testing.M) { petest.Main(m, scenarios) }

// TestHeap runs on whatever device the machine has: the CPU fallback here,
// and on a GPU machine GPU heaps mapped over CUDA IPC between 2-4
// processes on one GPU (shm) or shared in one process (inproc).
// (petest allows the processes to share a GPU without MPS).
func TestHeap(t *testing.T) { petest.Both(t, scenarios, "heap", 2, 3, 4) }

func scenarioHeap(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next, prev := (me+1)%n, (me+n-1)%n
	kind := device.Of(pe).Kind()
	require.NotEqual(t, device.None, kind)
	x, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 8)
	require.NoError(t, err)
	require.NoError(t, pe.BarrierAll(ctx))
	require.NoError(t, shmem.Put(pe, x, []int64{int64(me + 1), 2, 3}, next))
	_, err = shmem.AtomicFetchAdd(pe, x.At(5), int64(10+me), next)
	require.NoError(t, err)
	old, err := shmem.AtomicCompareSwap(pe, x.At(6), 0, int64(me+100), next)
	require.NoError(t, err)
	assert.Zero(t, old)
	require.NoError(t, pe.BarrierAll(ctx))
	got := make([]int64, 8)
	require.NoError(t, shmem.Get(pe, got, x, me))
	assert.Equal(t, []int64{int64(prev + 1), 2, 3, 0, 0, int64(10 + prev), int64(prev + 100), 0}, got, "on %v", kind)
	v, err := shmem.G(pe, x.At(5), next)
	require.NoError(t, err)
	assert.Equal(t, int64(10+me), v)
	// On a GPU every peer's heap is mapped: over CUDA IPC between
	// processes, by pointer within one.
	if kind == device.GPU {
		for peer := range n {
			_, err := device.Ptr(pe, x, peer)
			assert.NoError(t, err, "Ptr(PE %d)", peer)
		}
	}
	require.NoError(t, shmem.Free(ctx, pe, x))
}

// haveGPU reports whether this machine has a usable GPU.
func haveGPU() bool {
	d, err := cuda.Load("")
	if err != nil {
		return false
	}
	d.Close()
	return true
}

func TestReservedAreaAgrees(t *testing.T) {
	assert.Equal(t, kernels.DeviceReservedBytes, shmem.DeviceReservedBytes, "hostshmem and the device header reserve the same bytes")
}

func TestChoose(t *testing.T) {
	p, err := device.Choose(gshmem.DeviceCPU)
	require.NoError(t, err)
	assert.False(t, p.GPU())
	assert.Equal(t, "GSHMEM_DEVICE=cpu", p.Reason())
	assert.Contains(t, p.Describe(), "CPU fallback")

	p, err = device.Choose("")
	require.NoError(t, err)
	if haveGPU() {
		assert.True(t, p.GPU())
		assert.Empty(t, p.Reason())
		assert.Contains(t, p.Describe(), "GPU")
		_, err = device.Choose("4096")
		require.Error(t, err, "an ordinal that does not exist")
		return
	}
	assert.False(t, p.GPU())
	assert.True(t, p.Reason() != "", "the fallback says why")
	_, err = device.Choose("0")
	require.Error(t, err, "asking for GPU 0 without one is an error, not a silent fallback")
	assert.Contains(t, err.Error(), "GSHMEM_DEVICE=0")
}

func run(t *testing.T, n int, dev string, fn func(ctx context.Context, pe *gshmem.PE) error) {
	t.Helper()
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: n, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Device: dev}, fn)
	require.NoError(t, err)
}

// On the CPU fallback the device heap is host memory every PE of the
// process maps: Ptr gives host addresses, and modules cannot load.
func TestFallback(t *testing.T) {
	run(t, 3, gshmem.DeviceCPU, func(ctx context.Context, pe *gshmem.PE) error {
		d := device.Of(pe)
		assert.Equal(t, device.CPU, d.Kind())
		assert.Equal(t, "CPU fallback", d.String())
		assert.Nil(t, d.Heap())
		x, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 4)
		require.NoError(t, err)
		me := pe.MyPE()
		for peer := range pe.NPEs() {
			p, err := device.Ptr(pe, x.At(2), peer)
			require.NoError(t, err)
			assert.Equal(t, uintptr(unsafe.Pointer(&shmem.Peer(pe, x, peer)[2])), p)
		}
		own, err := device.Ptr(pe, x, me)
		require.NoError(t, err)
		assert.Equal(t, uintptr(unsafe.Pointer(&shmem.Local(pe, x)[0])), own)
		_, err = device.Ptr(pe, x, 7)
		require.ErrorIs(t, err, shmem.ErrInvalidPE)
		_, err = device.Ptr(pe, x.At(9), 0)
		require.ErrorIs(t, err, shmem.ErrOutOfRange)
		_, err = device.Ptr(pe, shmem.Sym[int64]{}, 0)
		require.ErrorIs(t, err, shmem.ErrInvalidArg)
		_, err = device.LoadModule(ctx, pe, []byte(kernels.PTX()))
		require.ErrorIs(t, err, device.ErrNoGPU)
		return nil
	})
}

// RMA-only PEs do not map each other: Ptr says so instead of guessing.
func TestPtrUnmapped(t *testing.T) {
	ctx := testseam.WithRMAOnly(context.Background())
	err := gshmem.RunWith(ctx, gshmem.Config{NPEs: 2, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20, Device: gshmem.DeviceCPU}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 1)
		if err != nil {
			return err
		}
		_, err = device.Ptr(pe, x, 1-pe.MyPE())
		if err == nil {
			return errors.New("Ptr to an unmapped peer succeeded")
		}
		assert.Contains(t, err.Error(), "not mapped")
		return nil
	})
	require.NoError(t, err)
}

// With a GPU: every in-process PE gets a GPU heap; host RMA and atomics on
// device objects go through the copy engine and the runtime's kernels.
func TestGPUHeap(t *testing.T) {
	if !haveGPU() {
		t.Skip("no GPU")
	}
	run(t, 2, "", func(ctx context.Context, pe *gshmem.PE) error {
		d := device.Of(pe)
		require.Equal(t, device.GPU, d.Kind(), "%v", d)
		me, next := pe.MyPE(), (pe.MyPE()+1)%pe.NPEs()
		x, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 8)
		require.NoError(t, err)
		assert.Nil(t, shmem.Local(pe, x))
		require.NoError(t, shmem.Put(pe, x, []int64{int64(me + 1), 2, 3}, next))
		_, err = shmem.AtomicFetchAdd(pe, x.At(5), int64(10+me), next)
		require.NoError(t, err)
		require.NoError(t, pe.BarrierAll(ctx))
		got := make([]int64, 8)
		require.NoError(t, shmem.Get(pe, got, x, me))
		prev := (me + pe.NPEs() - 1) % pe.NPEs()
		assert.Equal(t, []int64{int64(prev + 1), 2, 3, 0, 0, int64(10 + prev), 0, 0}, got)
		p, err := device.Ptr(pe, x, next)
		require.NoError(t, err)
		assert.NotZero(t, p)
		m, err := device.LoadModule(ctx, pe, []byte(kernels.PTX()))
		require.NoError(t, err)
		_, err = m.Function(kernels.KernelBarrier)
		require.NoError(t, err)
		return m.Close(context.Background())
	})
}

// With a GPU: Attach resolved every runtime kernel inside its load window,
// so the engine's lookups make no driver call (under the default lazy
// loading of CUDA 12.2+, a lookup or first launch that loads code waits
// for a peer's spinning barrier kernel for ever).
func TestGPUKernelsResolvedAtAttach(t *testing.T) {
	if !haveGPU() {
		t.Skip("no GPU")
	}
	run(t, 3, "", func(ctx context.Context, pe *gshmem.PE) error {
		h := device.Of(pe).Heap()
		require.NotNil(t, h)
		for _, name := range kernels.Kernels() {
			f, err := h.Kernel(name)
			require.NoError(t, err, name)
			require.Equal(t, name, f.Name())
			g, err := h.Kernels().Function(name)
			require.NoError(t, err, name)
			require.Same(t, f, g, "Kernels().Function returns the resolved one")
		}
		_, err := h.Kernel("no_such_kernel")
		require.ErrorIs(t, err, shmem.ErrInvalidArg)
		return nil
	})
}

// With a GPU: a peer's puts, from the host and from a stream, into an
// object that CallocOn just returned survive: the zeroing was complete on
// the GPU before the allocation's closing step (an asynchronous
// cuMemsetD8 that landed later lost 3 of 3 such puts on an H200).
func TestGPUCallocThenPut(t *testing.T) {
	if !haveGPU() {
		t.Skip("no GPU")
	}
	const elems = 4 << 20 / 8 // a memset long enough to be caught late
	run3 := func(ctx context.Context, pe *gshmem.PE) error {
		me, n := pe.MyPE(), pe.NPEs()
		next, prev := (me+1)%n, (me+n-1)%n
		s, err := streams.New(pe)
		require.NoError(t, err)
		defer s.Close(ctx)
		src, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 1)
		require.NoError(t, err)
		require.NoError(t, shmem.Put(pe, src, []int64{int64(1000 + me)}, me))
		for round := range 10 {
			x, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, elems)
			require.NoError(t, err)
			require.NoError(t, shmem.Put(pe, x.At(elems-1), []int64{int64(me + 1)}, next))
			require.NoError(t, streams.Put(s, x.At(elems-2), src, next))
			require.NoError(t, s.Synchronize(ctx))
			require.NoError(t, pe.BarrierAll(ctx))
			got := make([]int64, 2)
			require.NoError(t, shmem.Get(pe, got, x.Slice(elems-2, elems), me))
			require.Equal(t, []int64{int64(1000 + prev), int64(prev + 1)}, got, "round %d: PE %d's puts", round, prev)
			require.NoError(t, shmem.Free(ctx, pe, x))
		}
		return nil
	}
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 1 << 20, DeviceHeapSize: 16 << 20}, run3)
	require.NoError(t, err)
}

// With a GPU: three in-process PEs with staggered device barriers in
// flight call LoadModule; the load window waits for their streams (the
// engine's QuiesceFunc) instead of loading against a spinning barrier
// kernel, which hung for ever. Needs package streams to register its
// streams with Heap.OnQuiesce.
func TestGPULoadModuleWhileBarriersRun(t *testing.T) {
	if !haveGPU() {
		t.Skip("no GPU")
	}
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 1 << 20, DeviceHeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		s, err := streams.New(pe)
		require.NoError(t, err)
		defer s.Close(ctx)
		time.Sleep(time.Duration(pe.MyPE()) * 50 * time.Millisecond)
		require.NoError(t, s.Barrier(pe.TeamWorld()))
		lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		m, err := device.LoadModule(lctx, pe, []byte(kernels.PTX()))
		require.NoError(t, err)
		require.NoError(t, s.Barrier(pe.TeamWorld()))
		require.NoError(t, s.Synchronize(ctx))
		return m.Close(ctx)
	})
	require.NoError(t, err)
}

// With a GPU: PEs of several processes on one GPU are refused unless MPS
// serves them or every process allows it (TestHeap's processes allow it).
// The verdict itself is TestCheckSharing's; this one checks that Attach
// reaches it from real records, in one process: allowed.
func TestGPUSharedInProcess(t *testing.T) {
	if !haveGPU() {
		t.Skip("no GPU")
	}
	run(t, 4, "0", func(ctx context.Context, pe *gshmem.PE) error {
		require.Equal(t, device.GPU, device.Of(pe).Kind(), "PEs of one process share a GPU")
		return nil
	})
}
