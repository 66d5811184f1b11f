// Command device_put runs a CUDA kernel (put.cu, beside this file) that
// puts a block of floats into the next PE's device buffer with gshmem's
// device API and waits for the previous PE's. Without a GPU it runs the
// same ring as a Go function on a stream (the CPU fallback's kernel).
//
//	go run ./examples/device_put
//	go run ./cmd/gpurun -n 2 ./examples/device_put
//
// put.ptx is put.cu compiled by kernels/gen.sh (nvcc -ptx -arch=compute_70).
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	"github.com/gshmem/gshmem/device/cuda"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

//go:embed put.ptx
var putPTX []byte

const n = 1024

func main() {
	if err := gshmem.Run(run); err != nil {
		fmt.Fprintln(os.Stderr, "device_put:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pe *gshmem.PE) error {
	me, np := pe.MyPE(), pe.NPEs()
	prev := (me + np - 1) % np
	dst, err := shmem.CallocOn[float32](ctx, pe, shmem.Device, n)
	if err != nil {
		return err
	}
	src, err := shmem.MallocOn[float32](ctx, pe, shmem.Device, n)
	if err != nil {
		return err
	}
	sig, err := shmem.CallocOn[uint64](ctx, pe, shmem.Device, 1)
	if err != nil {
		return err
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(me*n + i)
	}
	if err := shmem.Put(pe, src, v, me); err != nil {
		return err
	}
	// Every PE's dst and sig are zero before anyone puts.
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	s, err := streams.New(pe)
	if err != nil {
		return err
	}
	defer s.Close(ctx)
	how := "CUDA kernel put_next"
	if err := launch(ctx, pe, s, dst, src, sig); errors.Is(err, device.ErrNoGPU) {
		how = "Go function on the CPU fallback"
		err = s.Go(func(ctx context.Context) error {
			next := (me + 1) % np
			if err := shmem.PutSignal(pe, dst, shmem.Local(pe, src), sig, 1, shmem.SignalAdd, next); err != nil {
				return err
			}
			_, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpGE, 1)
			return err
		})
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := s.Synchronize(ctx); err != nil {
		return err
	}
	got := make([]float32, n)
	if err := shmem.Get(pe, got, dst, me); err != nil {
		return err
	}
	for i, x := range got {
		if x != float32(prev*n+i) {
			return fmt.Errorf("PE %d: element %d is %v, want %v from PE %d", me, i, x, float32(prev*n+i), prev)
		}
	}
	fmt.Printf("PE %d: got %d floats from PE %d (%s)\n", me, n, prev, how)
	return nil
}

// launch loads put.ptx on pe's GPU and enqueues put_next on s; it returns
// device.ErrNoGPU on the CPU fallback. Loading is collective: every PE
// loads before any PE's kernel starts waiting for its neighbour.
func launch(ctx context.Context, pe *gshmem.PE, s *streams.Stream, dst, src shmem.Sym[float32], sig shmem.Sym[uint64]) error {
	mod, err := device.LoadModule(ctx, pe, putPTX, "put_next")
	if err != nil {
		return err
	}
	fn, err := mod.Function("put_next")
	if err != nil {
		return err
	}
	me := pe.MyPE()
	var ptrs [3]uintptr
	for i, p := range []func() (uintptr, error){
		func() (uintptr, error) { return device.Ptr(pe, dst, me) },
		func() (uintptr, error) { return device.Ptr(pe, src, me) },
		func() (uintptr, error) { return device.Ptr(pe, sig, me) },
	} {
		if ptrs[i], err = p(); err != nil {
			return err
		}
	}
	one := cuda.Dim3{X: 1, Y: 1, Z: 1}
	return s.Launch(fn, one, cuda.Dim3{X: 256, Y: 1, Z: 1}, 0,
		cuda.DevicePtr(ptrs[0]), cuda.DevicePtr(ptrs[1]), uint64(n), cuda.DevicePtr(ptrs[2]))
}
