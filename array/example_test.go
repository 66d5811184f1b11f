package array_test

import (
	"context"
	"fmt"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
)

var reg = am.NewRegistry()

// ExampleNewAtomicArray counts, on 2 PEs, how often each value of a batch
// comes up, in a table spread over both: a histogram with one batch add
// per PE.
func ExampleNewAtomicArray() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 4 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		hist, err := array.NewAtomicArray[int64](ctx, w, 6, array.Cyclic)
		if err != nil {
			return err
		}
		values := []int{1, 4, 4, 5, 1, 4}
		if _, err := hist.BatchAdd(values, []int64{1}).Wait(ctx); err != nil {
			return err
		}
		if err := w.Barrier(ctx); err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			counts, err := hist.BatchLoad([]int{0, 1, 2, 3, 4, 5}).Wait(ctx)
			if err != nil {
				return err
			}
			fmt.Println(counts)
		}
		return hist.Close(ctx)
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: [0 4 0 0 6 2]
}
