package array_test

import (
	"context"
	"testing"

	"github.com/gshmem/gshmem"
	"github.com/gshmem/gshmem/am"
	"github.com/gshmem/gshmem/array"
)

// work is a function of element i that costs cost(i) rounds of a hash.
func work(i, rounds int) float64 {
	x := uint64(i) + 1
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return float64(x >> 11)
}

// BenchmarkForEachSchedules times one distributed ForEach over an unsafe
// array of 1<<14 elements on 2 in-process PEs, under each schedule, for a
// uniform cost per element and one that grows with the index (where
// Static's last share is the heaviest). One op is one collective
// ForEach, barrier included.
func BenchmarkForEachSchedules(b *testing.B) {
	const n = 1 << 14
	costs := []struct {
		name string
		cost func(i int) int
	}{
		{"uniform", func(int) int { return 64 }},
		{"skewed", func(i int) int { return i * 128 / n }},
	}
	scheds := []array.Schedule{array.Static(), array.Dynamic(), array.Chunk(256), array.Guided(), array.WorkStealing()}
	for _, c := range costs {
		for _, s := range scheds {
			b.Run(c.name+"/"+s.String(), func(b *testing.B) {
				err := gshmem.RunWith(context.Background(), gshmem.Config{NPEs: 2, HeapSize: 8 << 20}, func(ctx context.Context, pe *gshmem.PE) error {
					w, err := am.New(ctx, pe, reg, am.Options{})
					if err != nil {
						return err
					}
					defer w.Close(ctx)
					a, err := array.NewUnsafeArray[float64](ctx, w, n, array.Block)
					if err != nil {
						return err
					}
					it := a.DistIterMut().Schedule(s)
					f := func(x array.Indexed[*float64]) error {
						*x.Value = work(x.Index, c.cost(x.Index))
						return nil
					}
					if err := w.Barrier(ctx); err != nil {
						return err
					}
					if pe.MyPE() == 0 {
						b.ResetTimer()
					}
					for range b.N {
						if err := it.ForEach(ctx, f); err != nil {
							return err
						}
					}
					if pe.MyPE() == 0 {
						b.StopTimer()
					}
					return a.Close(ctx)
				})
				if err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
