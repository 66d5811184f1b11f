// Command index_gather is bale's index gather with a distributed array:
// a table of Len elements spread over every PE, element i holding i*i,
// written by each PE into its own part (an UnsafeArray's LocalData) and
// then made read-only (IntoReadOnly, collective); every PE then reads
// Requests random elements with one BatchLoad (plain loads from the PEs
// it maps, one active message per other PE), checks each value it got
// and PE 0 prints one line.
//
//	go run ./examples/index_gather                      # 4 PEs as goroutines
//	go run ./cmd/gpurun -n 2 ./examples/index_gather    # 2 processes over shm
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

// Len is the table's length; Requests the reads each PE makes.
const (
	Len      = 100_000
	Requests = 50_000
)

var reg = am.NewRegistry()

func main() {
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return gather(ctx, pe, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "index_gather:", err)
		os.Exit(1)
	}
}

// gather builds the table, reads from it and, on PE 0, prints
// "index_gather: N requests from P PEs into a table of L: ok" to out.
func gather(ctx context.Context, pe *gshmem.PE, out io.Writer) error {
	w, err := am.New(ctx, pe, reg, am.Options{})
	if err != nil {
		return err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	u, err := array.NewUnsafeArray[int64](ctx, w, Len, array.Cyclic)
	if err != nil {
		return err
	}
	// This PE's elements, in index order: with Cyclic, the k-th is index
	// first + k*NPEs.
	first, _ := u.FirstGlobalIndexForPE(pe.MyPE())
	for k := range u.LocalData() {
		i := int64(first + k*w.NPEs())
		u.LocalData()[k] = i * i
	}
	// Collective: after it, every PE's stores are seen by every load.
	table, err := u.IntoReadOnly(ctx)
	if err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(uint64(pe.MyPE()), 2))
	idx := make([]int, Requests)
	for k := range idx {
		idx[k] = rng.IntN(Len)
	}
	got, err := table.BatchLoad(idx).Wait(ctx) // the values, in the order of idx
	if err != nil {
		return err
	}
	for k, i := range idx {
		if got[k] != int64(i)*int64(i) {
			return fmt.Errorf("index_gather: PE %d, request %d: element %d holds %d, want %d", pe.MyPE(), k, i, got[k], int64(i)*int64(i))
		}
	}
	if err := w.Barrier(ctx); err != nil { // every PE checked its requests
		return err
	}
	if pe.MyPE() == 0 {
		fmt.Fprintf(out, "index_gather: %d requests from %d PEs into a table of %d: ok\n", Requests*w.NPEs(), w.NPEs(), Len)
	}
	if err := table.Close(ctx); err != nil {
		return err
	}
	return w.Close(ctx)
}
