// Command stream_allreduce sums a float32 vector in every PE's device heap
// on a stream: a CUDA stream on the PE's GPU when there is one, else the
// CPU fallback. It prints which, the algorithm and the bandwidth.
//
//	go run ./examples/stream_allreduce -elems 4194304
//	go run ./cmd/gpurun -n 2 ./examples/stream_allreduce
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/device"
	shmem "github.com/gshmem/gshmem/hostshmem"
	"github.com/gshmem/gshmem/streams"
)

func main() {
	elems := flag.Int("elems", 1<<22, "float32 elements per PE (the gradient)")
	iters := flag.Int("iters", 10, "timed allreduces")
	flag.Parse()
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return run(ctx, pe, *elems, *iters) }); err != nil {
		fmt.Fprintln(os.Stderr, "stream_allreduce:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pe *gshmem.PE, n, iters int) error {
	me, np := pe.MyPE(), pe.NPEs()
	team := pe.TeamWorld()
	grad, err := shmem.MallocOn[float32](ctx, pe, shmem.Device, n)
	if err != nil {
		return err
	}
	sum, err := shmem.MallocOn[float32](ctx, pe, shmem.Device, n)
	if err != nil {
		return err
	}
	// Fill this PE's gradient from the host (a copy-engine put on a GPU).
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(me+1) + float32(i%7)
	}
	if err := shmem.Put(pe, grad, g, me); err != nil {
		return err
	}
	s, err := streams.New(pe)
	if err != nil {
		return err
	}
	defer s.Close(ctx)
	if err := streams.AllReduce(s, team, shmem.OpSum, sum, grad, n); err != nil { // warm-up
		return err
	}
	if err := s.Synchronize(ctx); err != nil {
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	start := time.Now()
	for range iters {
		if err := streams.AllReduce(s, team, shmem.OpSum, sum, grad, n); err != nil {
			return err
		}
	}
	if err := s.Synchronize(ctx); err != nil {
		return err
	}
	el := time.Since(start) / time.Duration(max(iters, 1))
	// Check: element i is the sum over PEs of (pe+1) + i%7.
	out := make([]float32, n)
	if err := shmem.Get(pe, out, sum, me); err != nil {
		return err
	}
	for i := range out {
		if want := float32(np*(np+1)/2) + float32(np*(i%7)); out[i] != want {
			return fmt.Errorf("element %d: got %v, want %v", i, out[i], want)
		}
	}
	if me == 0 {
		bytes := float64(4 * n)
		algbw := bytes / el.Seconds() / 1e9
		fmt.Printf("stream allreduce: %d PEs (%s), %d float32 (%.1f MiB) per PE\n", np, pe.Transport(), n, bytes/(1<<20))
		fmt.Printf("device: %v; stream engine: %s\n", device.Of(pe), s.Engine())
		fmt.Printf("algorithm: %s\n", s.AllReduceAlgorithm(team, 4*n, false))
		fmt.Printf("time: %v per allreduce; bandwidth: %.2f GB/s algorithm, %.2f GB/s bus\n",
			el.Round(time.Microsecond), algbw, algbw*2*float64(np-1)/float64(max(np, 1)))
	}
	return nil
}
