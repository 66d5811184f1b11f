package hostshmem_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	inprocfab "github.com/gshmem/gshmem/fabric/inproc"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
)

func init() { scenarios["device"] = scenarioDevice }

func TestDeviceHeap(t *testing.T) { petest.Both(t, scenarios, "device", 2, 3) }

// scenarioDevice uses the device heap of the CPU fallback (inside the
// symmetric region) through the same calls as the host heap.
func scenarioDevice(t *petest.T, pe *shmem.PE) {
	ctx := t.Context()
	me, n := pe.MyPE(), pe.NPEs()
	next := (me + 1) % n
	if pe.DeviceMemory() != nil {
		return // a GPU heap: package device's tests cover it
	}
	require.Equal(t, uintptr(petest.DeviceHeapSize-shmem.DeviceReservedBytes), pe.DeviceHeapSize())
	require.Equal(t, uintptr(petest.HeapSize), pe.HeapSize(), "the device heap does not eat into the host heap")

	h, err := shmem.Malloc[int64](ctx, pe, 8)
	require.NoError(t, err)
	d, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 8)
	require.NoError(t, err)
	assert.Equal(t, shmem.Host, h.Space())
	assert.Equal(t, shmem.Device, d.Space())
	assert.Equal(t, shmem.Device, d.Slice(2, 4).Space(), "slices keep the space")
	assert.Equal(t, shmem.Device, d.At(1).Space())
	assert.GreaterOrEqual(t, d.Offset(), pe.DeviceOffset()+shmem.DeviceReservedBytes)
	assert.Less(t, h.Offset()+h.Size(), pe.DeviceOffset(), "host objects end before the device heap")
	assert.Contains(t, d.String(), "device")
	assert.Equal(t, make([]int64, 8), shmem.Local(pe, d), "calloc zeroes device objects")
	require.NoError(t, pe.BarrierAll(ctx)) // everyone looked before anyone puts

	// put / get / p / g / atomics / put-signal / wait on device objects.
	src := []int64{int64(me), int64(me) * 10, 7}
	require.NoError(t, shmem.Put(pe, d, src, next))
	require.NoError(t, shmem.AtomicAdd(pe, d.At(7), int64(me+1), next))
	require.NoError(t, pe.BarrierAll(ctx))
	prev := (me + n - 1) % n
	got := make([]int64, 3)
	require.NoError(t, shmem.Get(pe, got, d, me))
	assert.Equal(t, []int64{int64(prev), int64(prev) * 10, 7}, got)
	v, err := shmem.G(pe, d.At(7), me)
	require.NoError(t, err)
	assert.Equal(t, int64(prev+1), v)

	sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
	require.NoError(t, err)
	require.NoError(t, shmem.PutSignal(pe, d.Slice(3, 5), []int64{41, 42}, sig, 9, shmem.SignalSet, next))
	s, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpEQ, 9)
	require.NoError(t, err)
	assert.Equal(t, uint64(9), s)
	assert.Equal(t, []int64{41, 42}, shmem.Local(pe, d)[3:5])

	// Collectives on device objects (the fallback runs the host ones).
	red, err := shmem.MallocOn[float32](ctx, pe, shmem.Device, 4)
	require.NoError(t, err)
	copy(shmem.Local(pe, red), []float32{1, float32(me), 2, 3})
	require.NoError(t, shmem.AllReduce(ctx, pe.TeamWorld(), shmem.OpSum, red, red, 4))
	assert.Equal(t, []float32{float32(n), float32(n * (n - 1) / 2), float32(2 * n), float32(3 * n)}, shmem.Local(pe, red))

	// Realloc keeps the contents and the space; Free releases it.
	d2, err := shmem.Realloc(ctx, pe, d, 4096)
	require.NoError(t, err)
	assert.Equal(t, shmem.Device, d2.Space())
	assert.Equal(t, []int64{41, 42}, shmem.Local(pe, d2)[3:5])
	require.NoError(t, shmem.Free(ctx, pe, d2))
	require.NoError(t, shmem.Free(ctx, pe, red))
	require.NoError(t, shmem.Free(ctx, pe, sig))

	// A full device heap names the heap and the sizes.
	_, err = shmem.MallocOn[byte](ctx, pe, shmem.Device, int(pe.DeviceHeapSize())+1)
	require.ErrorIs(t, err, shmem.ErrHeapFull)
	assert.Contains(t, err.Error(), "device heap")
	// A space no PE agrees on is a mismatch on every PE.
	space := shmem.Host
	if me == n-1 {
		space = shmem.Device
	}
	_, err = shmem.MallocOn[byte](ctx, pe, space, 64)
	require.ErrorIs(t, err, shmem.ErrMismatch)
	assert.Contains(t, err.Error(), "on the device heap")
	_, err = shmem.MallocOn[byte](ctx, pe, shmem.Space(7), 64)
	require.ErrorIs(t, err, shmem.ErrInvalidArg)
}

func TestNoDeviceHeap(t *testing.T) {
	petest.RunPEs(t, 1, shmem.Config{}, func(pe *shmem.PE) error {
		_, err := shmem.MallocOn[float32](context.Background(), pe, shmem.Device, 4)
		require.ErrorIs(t, err, shmem.ErrNoDevice)
		assert.Contains(t, err.Error(), "GSHMEM_DEVICE_SYMMETRIC_SIZE")
		assert.Zero(t, pe.DeviceHeapSize())
		return nil
	})
}

// A PE whose device heap is external memory routes every device access
// through DeviceMemory: loads and stores never touch the region there.
func TestDeviceExternalRouting(t *testing.T) {
	const dev = 1 << 20
	model := petest.NewDeviceModel(t, 2, dev)
	petest.RunPEs(t, 2, shmem.Config{DeviceHeap: dev, DeviceExternal: true}, func(pe *shmem.PE) error {
		ctx := context.Background()
		me := pe.MyPE()
		_, err := shmem.MallocOn[int64](ctx, pe, shmem.Device, 1)
		require.ErrorIs(t, err, shmem.ErrNoDevice, "device allocation before AttachDevice")
		m := model.For(me)
		require.NoError(t, pe.AttachDevice(m))
		require.ErrorIs(t, pe.AttachDevice(m), shmem.ErrInvalidArg, "attached twice")
		require.Equal(t, uintptr(dev-shmem.DeviceReservedBytes), pe.DeviceHeapSize())

		d, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
		require.NoError(t, err)
		base := d.Offset() - pe.DeviceOffset()
		assert.Nil(t, shmem.Local(pe, d), "GPU memory has no host slice")
		require.NoError(t, shmem.Put(pe, d, []int64{int64(me + 5)}, 1-me))
		_, err = shmem.AtomicFetchAdd(pe, d.At(1), int64(10), 1-me)
		require.NoError(t, err)
		require.NoError(t, pe.BarrierAll(ctx))
		got := make([]int64, 2)
		require.NoError(t, shmem.Get(pe, got, d, me))
		assert.Equal(t, []int64{int64(1 - me + 5), 10}, got)
		assert.Equal(t, byte(1-me+5), model.Heap(me)[base], "the bytes are in the external heap")

		sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
		require.NoError(t, err)
		require.NoError(t, pe.BarrierAll(ctx))
		require.NoError(t, shmem.PutSignal(pe, d.Slice(2, 3), []int64{77}, sig, 1, shmem.SignalAdd, 1-me))
		_, err = shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpGE, 1)
		require.NoError(t, err, "a host wait polls GPU memory")
		v, err := shmem.G(pe, d.At(2), me)
		require.NoError(t, err)
		assert.Equal(t, int64(77), v)
		ok, err := shmem.Test(pe, sig, shmem.CmpEQ, 1)
		require.NoError(t, err)
		assert.True(t, ok)

		err = shmem.AllReduce(ctx, pe.TeamWorld(), shmem.OpSum, d, d, 4)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "streams", "host collectives point at streams for GPU memory")
		_, err = shmem.Realloc(ctx, pe, d, 64)
		require.NoError(t, err)
		return nil
	})
	assert.Equal(t, 2, model.Closed(), "every PE closes its device memory at Finalize")
}

// The PE drains the resources it owns, last made first, before its
// closing barrier (when collective calls still work), then closes them,
// last made first, after it (when its operations fail); a resource its
// user closed (Disown) is left alone, and Own refuses new ones once
// Finalize began.
func TestOwn(t *testing.T) {
	var mu sync.Mutex
	var order []string
	petest.RunPEs(t, 1, shmem.Config{}, func(pe *shmem.PE) error {
		mk := func(name string) *shmem.Ownership {
			o, err := pe.Own(resource{
				drain: func(ctx context.Context) error {
					mu.Lock()
					defer mu.Unlock()
					order = append(order, "drain "+name)
					assert.NoError(t, pe.BarrierAll(ctx), "a collective call while the PE drains its resources")
					_, err := pe.Own(resource{})
					assert.ErrorIs(t, err, shmem.ErrFinalized, "Own while the PE drains its resources")
					return nil
				},
				close: func(ctx context.Context) error {
					mu.Lock()
					defer mu.Unlock()
					order = append(order, "close "+name)
					assert.ErrorIs(t, pe.Quiet(), shmem.ErrFinalized, "past the closing barrier")
					return nil
				},
			})
			require.NoError(t, err)
			return o
		}
		mk("first")
		second := mk("second")
		mk("third")
		assert.Equal(t, 3, pe.Owned())
		second.Disown() // its user closed it
		second.Disown()
		assert.Equal(t, 2, pe.Owned())
		assert.Empty(t, order)
		return nil
	})
	assert.Equal(t, []string{"drain third", "drain first", "close third", "close first"}, order)
}

// On Abort the PE closes what it owns with a context that is already
// done, naming the cause, and drains nothing.
func TestOwnAbort(t *testing.T) {
	job, err := inprocfab.New(1, shmem.RegionSize(1<<20))
	require.NoError(t, err)
	pe, err := shmem.New(job.Fabric(0), shmem.Config{})
	require.NoError(t, err)
	var cause error
	_, err = pe.Own(resource{
		drain: func(context.Context) error { t.Error("drained on Abort"); return nil },
		close: func(ctx context.Context) error {
			<-ctx.Done()
			cause = context.Cause(ctx)
			return nil
		},
	})
	require.NoError(t, err)
	pe.Abort()
	require.ErrorIs(t, cause, shmem.ErrFinalized)
	assert.Contains(t, cause.Error(), "PE 0 is aborting")
	assert.Zero(t, pe.Owned())
}

// resource is a Resource made of two functions (nil: do nothing).
type resource struct {
	drain, close func(ctx context.Context) error
}

func (r resource) Drain(ctx context.Context) error {
	if r.drain == nil {
		return nil
	}
	return r.drain(ctx)
}

func (r resource) Close(ctx context.Context) error {
	if r.close == nil {
		return nil
	}
	return r.close(ctx)
}

// slowZero is device memory whose Zero takes a while to land, as a GPU's
// memset does after the driver call returns.
type slowZero struct {
	shmem.DeviceMemory
	delay time.Duration
}

func (s slowZero) Zero(off, n uintptr) error {
	time.Sleep(s.delay)
	return s.DeviceMemory.Zero(off, n)
}

// CallocOn on device memory zeroes before its closing step: a peer may put
// into the new object as soon as its own CallocOn returns, and a zero that
// landed later would wipe the put (seen on a GPU: an asynchronous
// cuMemsetD8 after the barrier lost 3 of 3 puts). DeviceMemory.Zero is
// complete when it returns, and CallocOn's closing step waits for every
// PE's Zero: with a slow Zero the puts still survive.
func TestCallocOnZeroesBeforeClosing(t *testing.T) {
	const n, dev = 3, 1 << 20
	model := petest.NewDeviceModel(t, n, dev)
	petest.RunPEs(t, n, shmem.Config{DeviceHeap: dev, DeviceExternal: true}, func(pe *shmem.PE) error {
		ctx := context.Background()
		me := pe.MyPE()
		require.NoError(t, pe.AttachDevice(slowZero{model.For(me), time.Duration(me) * 20 * time.Millisecond}))
		for round := range 3 {
			x, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
			require.NoError(t, err)
			// No barrier: the allocation's own closing step is the promise.
			require.NoError(t, shmem.Put(pe, x.Slice(1, 2), []int64{int64(100*round + me + 1)}, (me+1)%n))
			require.NoError(t, pe.BarrierAll(ctx))
			got := make([]int64, 4)
			require.NoError(t, shmem.Get(pe, got, x, me))
			prev := (me + n - 1) % n
			assert.Equal(t, []int64{0, int64(100*round + prev + 1), 0, 0}, got, "round %d: PE %d's put into a fresh object", round, prev)
		}
		return nil
	})
}
