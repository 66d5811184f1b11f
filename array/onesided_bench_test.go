package array_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
	shmem "github.com/gshmem/gshmem/hostshmem"
)

// BenchmarkOneSided walks a whole AtomicArray[uint64] from PE 0 of 2
// in-process PEs with the one-sided iterator (DefaultBuffer elements a
// window, a Get per owning PE each), beside the transport's bound: one
// Get of the same bytes from PE 1, and the floor of any element
// iterator, slices.All over local memory. Lamellar's issue tracker reports 27 s
// for a one-sided walk of 5000 elements over shared memory; n=5000 is
// here for that comparison. Bytes are the whole array's (8 per element).
func BenchmarkOneSided(b *testing.B) {
	for _, n := range []int{5000, 1 << 20} {
		for _, d := range []array.Distribution{array.Block, array.Cyclic} {
			b.Run(fmt.Sprintf("iter/%v/n=%d", d, n), func(b *testing.B) { benchOneSided(b, n, d, false) })
		}
		b.Run(fmt.Sprintf("get/n=%d", n), func(b *testing.B) { benchOneSided(b, n, array.Block, true) })
		b.Run(fmt.Sprintf("slice-seq/n=%d", n), func(b *testing.B) {
			// The floor of any element iterator: slices.All over local
			// memory, one yield per element.
			b.SetBytes(int64(8 * n))
			xs := make([]uint64, n)
			var sum uint64
			for range b.N {
				for _, v := range slices.All(xs) {
					sum += v
				}
			}
			if sum != 0 {
				b.Fatal(sum)
			}
		})
	}
}

func benchOneSided(b *testing.B, n int, d array.Distribution, raw bool) {
	b.SetBytes(int64(8 * n))
	err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 64 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
		w, err := am.New(ctx, pe, reg, am.Options{})
		if err != nil {
			return err
		}
		defer w.Close(ctx)
		a, err := array.NewAtomicArray[uint64](ctx, w, n, d)
		if err != nil {
			return err
		}
		src, err := shmem.Calloc[uint64](ctx, pe, n)
		if err != nil {
			return err
		}
		if pe.MyPE() == 0 {
			dst := make([]uint64, n)
			var sum uint64
			b.ResetTimer()
			for range b.N {
				if raw {
					if err := shmem.Get(pe, dst, src, 1); err != nil {
						return err
					}
					continue
				}
				seq, done := a.OneSided(ctx, 0)
				for _, v := range seq {
					sum += v
				}
				if err := done(); err != nil {
					return err
				}
			}
			b.StopTimer()
			if sum != 0 {
				return fmt.Errorf("sum %d of a zeroed array", sum)
			}
		}
		if err := pe.BarrierAll(ctx); err != nil {
			return err
		}
		if err := shmem.Free(ctx, pe, src); err != nil {
			return err
		}
		return a.Close(ctx)
	})
	if err != nil {
		b.Fatal(err)
	}
}
