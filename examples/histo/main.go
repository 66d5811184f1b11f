// Command histo is bale's histogram with a distributed array: every PE
// draws Updates random bins of an AtomicArray of Bins counters spread
// over every PE, and adds 1 to each with one BatchAdd (the adds to bins
// of PEs this one maps are CPU atomics; the rest go as one active
// message per PE). After a barrier PE 0 reads every bin with one
// BatchLoad, checks them against the histogram it computes from every
// PE's draws (each PE seeds its generator with its number) and prints one
// line.
//
//	go run ./examples/histo                      # 4 PEs as goroutines
//	go run ./cmd/gpurun -n 2 ./examples/histo    # 2 processes over shm
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
)

// Bins is the histogram's length; Updates the adds each PE makes.
const (
	Bins    = 1000
	Updates = 100_000
)

var reg = am.NewRegistry()

func main() {
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return histo(ctx, pe, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "histo:", err)
		os.Exit(1)
	}
}

// histo fills the histogram and, on PE 0, prints "histo: N updates from P
// PEs into B bins: ok" to out.
func histo(ctx context.Context, pe *gshmem.PE, out io.Writer) error {
	w, err := am.New(ctx, pe, reg, am.Options{})
	if err != nil {
		return err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	counts, err := array.NewAtomicArray[int64](ctx, w, Bins, array.Block)
	if err != nil {
		return err
	}
	// One value, 1, goes to every index of the batch.
	if _, err := counts.BatchAdd(draws(pe.MyPE()), []int64{1}).Wait(ctx); err != nil {
		return err
	}
	if err := w.Barrier(ctx); err != nil { // every PE's adds are done
		return err
	}

	if pe.MyPE() == 0 {
		all := make([]int, Bins)
		for b := range all {
			all[b] = b
		}
		got, err := counts.BatchLoad(all).Wait(ctx)
		if err != nil {
			return err
		}
		want := make([]int64, Bins)
		for p := range w.NPEs() {
			for _, b := range draws(p) {
				want[b]++
			}
		}
		total := int64(0)
		for b := range got {
			if got[b] != want[b] {
				return fmt.Errorf("histo: bin %d holds %d, want %d", b, got[b], want[b])
			}
			total += got[b]
		}
		fmt.Fprintf(out, "histo: %d updates from %d PEs into %d bins: ok\n", total, w.NPEs(), Bins)
	}
	if err := counts.Close(ctx); err != nil {
		return err
	}
	return w.Close(ctx)
}

// draws is PE pe's Updates random bins.
func draws(pe int) []int {
	rng := rand.New(rand.NewPCG(uint64(pe), 1))
	bins := make([]int, Updates)
	for k := range bins {
		bins[k] = rng.IntN(Bins)
	}
	return bins
}
