// Command array_hello is hello world with a distributed array: an
// AtomicArray of 1000 elements spread by Block over every PE; each PE
// writes its PE number into the elements it holds through the
// distributed iterator, and PE 0 prints the whole array through a
// one-sided iterator, one line per run of equal values.
//
//	go run ./examples/array_hello                      # 4 PEs as goroutines
//	go run ./cmd/gpurun -n 2 ./examples/array_hello    # 2 processes over shm
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
)

// Len is the array's length.
const Len = 1000

var reg = am.NewRegistry()

func main() {
	if err := gshmem.Run(func(ctx context.Context, pe *gshmem.PE) error { return hello(ctx, pe, os.Stdout) }); err != nil {
		fmt.Fprintln(os.Stderr, "array_hello:", err)
		os.Exit(1)
	}
}

// hello builds the array, fills it and, on PE 0, prints it to out as runs:
// "elements 0-249: PE 0".
func hello(ctx context.Context, pe *gshmem.PE, out io.Writer) error {
	w, err := am.New(ctx, pe, reg, am.Options{})
	if err != nil {
		return err
	}
	defer w.Abort() // on an error path; after Close it does nothing
	a, err := array.NewAtomicArray[uint32](ctx, w, Len, array.Block)
	if err != nil {
		return err
	}
	me := uint32(pe.MyPE())
	if err := a.ForEach(ctx, func(e array.Elem[uint32]) error { return e.Store(me) }); err != nil {
		return err
	}
	if me == 0 {
		seq, done := a.OneSided(ctx, 0)
		start, cur := 0, uint32(0)
		for i, v := range seq {
			if i > 0 && v != cur {
				fmt.Fprintf(out, "elements %d-%d: PE %d\n", start, i-1, cur)
				start = i
			}
			cur = v
		}
		if err := done(); err != nil {
			return err
		}
		fmt.Fprintf(out, "elements %d-%d: PE %d\n", start, Len-1, cur)
	}
	if err := a.Close(ctx); err != nil {
		return err
	}
	return w.Close(ctx)
}
