package streams_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gshmem/gshmem/fabric"
	"github.com/gshmem/gshmem/fabric/inproc"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

// gpuModel is device memory the host cannot load from: every PE's device
// heap in an anonymous mapping of its own, reached only through the
// hostshmem.DeviceMemory calls. It models hostshmem's routing of device
// offsets, not a GPU.
type gpuModel struct{ heaps [][]byte }

func (g gpuModel) span(pe int, off uintptr, n int) ([]byte, error) {
	if pe < 0 || pe >= len(g.heaps) || off+uintptr(n) > uintptr(len(g.heaps[pe])) {
		return nil, errors.New("gpuModel: out of range")
	}
	return g.heaps[pe][off : off+uintptr(n)], nil
}

func (g gpuModel) Put(pe int, off uintptr, src []byte) error {
	b, err := g.span(pe, off, len(src))
	copy(b, src)
	return err
}

func (g gpuModel) Get(pe int, off uintptr, dst []byte) error {
	b, err := g.span(pe, off, len(dst))
	copy(dst, b)
	return err
}

func (g gpuModel) AMO64(pe int, off uintptr, op fabric.AMOOp, operand, cmp uint64) (uint64, error) {
	b, err := g.span(pe, off, 8)
	if err != nil {
		return 0, err
	}
	return fabric.AMO64((*uint64)(unsafe.Pointer(&b[0])), op, operand, cmp), nil
}

func (g gpuModel) AMO32(int, uintptr, fabric.AMOOp, uint32, uint32) (uint32, error) {
	return 0, errors.New("gpuModel: no 32-bit atomics")
}

func (g gpuModel) Zero(off, n uintptr) error {
	for i := range g.heaps {
		if b, err := g.span(i, off, int(n)); err == nil {
			clear(b)
		}
	}
	return nil
}

func (g gpuModel) Close() error { return nil }

// TestGPUMemoryOnCPUStream: a CPU stream moves data in and out of device
// heaps the host cannot load (staging through host buffers), waits on a
// signal there, and refuses at once a collective on such memory, which
// needs the device engine.
func TestGPUMemoryOnCPUStream(t *testing.T) {
	const n, dev = 2, 1 << 20
	model := gpuModel{heaps: make([][]byte, n)}
	for i := range model.heaps {
		b, err := syscall.Mmap(-1, 0, dev, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		require.NoError(t, err)
		defer syscall.Munmap(b)
		model.heaps[i] = b
	}
	job, err := inproc.New(n, shmem.RegionSize(1<<20))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pe, err := shmem.New(job.Fabric(i), shmem.Config{DeviceHeap: dev, DeviceExternal: true})
			if !assert.NoError(t, err) {
				job.Fabric(i).Close(false)
				return
			}
			if err := gpuCase(pe, model); err != nil {
				t.Errorf("PE %d: %v", i, err)
				job.Fail(i, err.Error())
				pe.Abort()
				return
			}
			assert.NoError(t, pe.Finalize(context.Background()))
		}()
	}
	wg.Wait()
}

func gpuCase(pe *shmem.PE, model gpuModel) (err error) {
	ctx := context.Background()
	me, other := pe.MyPE(), 1-pe.MyPE()
	if err := pe.AttachDevice(model); err != nil {
		return err
	}
	src, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
	if err != nil {
		return err
	}
	dst, err := shmem.CallocOn[int64](ctx, pe, shmem.Device, 4)
	if err != nil {
		return err
	}
	back, err := shmem.Calloc[int64](ctx, pe, 4) // host heap
	if err != nil {
		return err
	}
	sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
	if err != nil {
		return err
	}
	if shmem.Local(pe, src) != nil {
		return errors.New("device memory has a host slice: the model is not exercised")
	}
	if err := shmem.Put(pe, src, []int64{int64(me), 1, 2, 3}, me); err != nil {
		return err
	}
	s, err := streams.New(pe)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	if err := streams.PutSignal(s, dst, src, sig, 1, shmem.SignalSet, other); err != nil {
		return err
	}
	if err := streams.SignalWait(s, sig, shmem.CmpEQ, 1); err != nil {
		return err
	}
	if err := s.Barrier(pe.TeamWorld()); err != nil {
		return err
	}
	if err := streams.Get(s, back, dst, other); err != nil { // device on the peer to host here
		return err
	}
	if err := streams.Get(s, src, dst, me); err != nil { // device to device, on this PE
		return err
	}
	if err := s.Synchronize(ctx); err != nil {
		return err
	}
	if got, want := fmt.Sprint(shmem.Local(pe, back)), fmt.Sprint([]int64{int64(me), 1, 2, 3}); got != want {
		return fmt.Errorf("got back %s, want %s", got, want)
	}
	got := make([]int64, 4)
	if err := shmem.Get(pe, got, src, me); err != nil {
		return err
	}
	if want := []int64{int64(other), 1, 2, 3}; fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("device src after the get: %v, want %v", got, want)
	}
	err = streams.AllReduce(s, pe.TeamWorld(), shmem.OpSum, dst, dst, 4)
	if !errors.Is(err, shmem.ErrInvalidArg) {
		return fmt.Errorf("allreduce on GPU memory on a CPU stream: %v, want ErrInvalidArg at once", err)
	}
	return pe.BarrierAll(ctx)
}
