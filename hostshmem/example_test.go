package hostshmem_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gshmem/gshmem"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// Each PE sends a vector to the next PE with PutSignal; the receiver waits
// for the signal, after which the whole vector is guaranteed to be there.
func ExamplePutSignal() {
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 3, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		me, n := pe.MyPE(), pe.NPEs()
		data, err := shmem.Malloc[float32](ctx, pe, 4)
		if err != nil {
			return err
		}
		sig, err := shmem.Calloc[uint64](ctx, pe, 1)
		if err != nil {
			return err
		}
		v := []float32{float32(me), float32(me) + 0.5, 0, 1}
		if err := shmem.PutSignal(pe, data, v, sig, 1, shmem.SignalSet, (me+1)%n); err != nil {
			return err
		}
		if _, err := shmem.SignalWaitUntil(ctx, pe, sig, shmem.CmpEQ, 1); err != nil {
			return err
		}
		got := shmem.Local(pe, data)
		if err := pe.BarrierAll(ctx); err != nil { // print in PE order
			return err
		}
		for i := 0; i < n; i++ {
			if i == me {
				fmt.Printf("PE %d got %v\n", me, got)
			}
			if err := pe.BarrierAll(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// PE 0 got [2 2.5 0 1]
	// PE 1 got [0 0.5 0 1]
	// PE 2 got [1 1.5 0 1]
}

// Errors name what was wrong and the values involved, and match sentinels.
func ExamplePut_errors() {
	_ = gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 1 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		x, err := shmem.Malloc[int32](ctx, pe, 4)
		if err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			fmt.Println(shmem.Put(pe, x, []int32{1, 2, 3}, 7))
			fmt.Println(shmem.Put(pe, x, make([]int32, 5), 1))
			fmt.Println(shmem.P(pe, x.At(4), 1, 1))
		}
		return nil
	})
	// Output:
	// gshmem: put: PE out of range: PE 7 not in [0, 2)
	// gshmem: put: out of range: 5 elements do not fit in Sym[int32]{off=2097152 len=4}
	// gshmem: p: Sym.At(4): out of range: object has 4 elements
}
