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

// ExampleAtomicArray_DistIter fills an array on 2 PEs with a distributed
// iterator (each PE stores into the elements it holds, with a pool of
// goroutines), then keeps the even elements past the first 2 with
// adaptors, sums them and collects them into a new array: every PE takes
// part, and every PE gets the same results.
func ExampleAtomicArray_DistIter() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 4 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		a, err := array.NewAtomicArray[int64](ctx, w, 10, array.Cyclic)
		if err != nil {
			return err
		}
		// Element i becomes i*i, on the PE that holds it.
		err = a.DistIter().Schedule(array.Dynamic()).ForEach(ctx, func(e array.Elem[int64]) error {
			return e.Store(int64(e.Index() * e.Index()))
		})
		if err != nil {
			return err
		}
		// Skip acts on the whole array's indices: 2, 4, 6, 8 are left.
		even := array.Map(a.DistIter().Skip(2).Filter(func(e array.Elem[int64]) bool { return e.Index()%2 == 0 }),
			func(e array.Elem[int64]) int64 {
				v, _ := e.Load()
				return v
			})
		sum, err := array.Sum(ctx, even)
		if err != nil {
			return err
		}
		squares, err := array.Collect(ctx, even, array.Block)
		if err != nil {
			return err
		}
		all, err := squares.AllGather(ctx)
		if err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			fmt.Println(sum, all)
		}
		if err := squares.Close(ctx); err != nil {
			return err
		}
		return a.Close(ctx)
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: 120 [4 16 36 64]
}
