package streams_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/internal/petest"
	"github.com/gshmem/gshmem/streams"
)

// TestGPUMemoryOnCPUStream: a CPU stream moves data in and out of device
// heaps the host cannot load (staging through host buffers), waits on a
// signal there, and refuses at once a collective on such memory, which
// needs the device engine.
func TestGPUMemoryOnCPUStream(t *testing.T) {
	const n, dev = 2, 1 << 20
	model := petest.NewDeviceModel(t, n, dev)
	petest.RunPEs(t, n, shmem.Config{DeviceHeap: dev, DeviceExternal: true}, func(pe *shmem.PE) error {
		return gpuCase(pe, model.For(pe.MyPE()))
	})
}

func gpuCase(pe *shmem.PE, model shmem.DeviceMemory) (err error) {
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
		if cerr := s.Close(ctx); err == nil {
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
