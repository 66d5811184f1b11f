// Command allreduce sums a float32 vector the shape of a gradient across
// all PEs and reports the algorithm gshmem chose and the bandwidth.
//
//	go run ./examples/allreduce -elems 4194304
//	go run ./cmd/gpurun -n 2 ./examples/allreduce
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

func main() {
	elems := flag.Int("elems", 1<<22, "float32 elements per PE (the gradient)")
	iters := flag.Int("iters", 10, "timed allreduces")
	flag.Parse()
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return run(ctx, pe, *elems, *iters) }); err != nil {
		fmt.Fprintln(os.Stderr, "allreduce:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pe *gshmem.PE, n, iters int) error {
	me, np := pe.MyPE(), pe.NPEs()
	team := pe.TeamWorld()
	grad, err := shmem.Malloc[float32](ctx, pe, n)
	if err != nil {
		return err
	}
	sum, err := shmem.Malloc[float32](ctx, pe, n)
	if err != nil {
		return err
	}
	g := shmem.Local(pe, grad)
	for i := range g {
		g[i] = float32(me+1) + float32(i%7)
	}
	if err := shmem.AllReduce(ctx, team, shmem.OpSum, sum, grad, n); err != nil { // warm-up
		return err
	}
	if err := pe.BarrierAll(ctx); err != nil {
		return err
	}
	start := time.Now()
	for range iters {
		if err := shmem.AllReduce(ctx, team, shmem.OpSum, sum, grad, n); err != nil {
			return err
		}
	}
	el := time.Since(start) / time.Duration(max(iters, 1))
	// Check: element i is the sum over PEs of (pe+1) + i%7.
	s := shmem.Local(pe, sum)
	for i := range s {
		want := float32(np*(np+1)/2) + float32(np*(i%7))
		if s[i] != want {
			return fmt.Errorf("element %d: got %v, want %v", i, s[i], want)
		}
	}
	if me == 0 {
		bytes := float64(4 * n)
		algbw := bytes / el.Seconds() / 1e9
		fmt.Printf("allreduce: %d PEs (%s), %d float32 (%.1f MiB) per PE\n", np, pe.Transport(), n, bytes/(1<<20))
		fmt.Printf("algorithm: %s\n", team.Algorithm(4*n))
		fmt.Printf("time: %v per allreduce; bandwidth: %.2f GB/s algorithm, %.2f GB/s bus\n",
			el.Round(time.Microsecond), algbw, algbw*2*float64(np-1)/float64(max(np, 1)))
	}
	return nil
}
